//! A function's deployment package: a ZIP archive of its one source file, built the same
//! way every time (stored, not compressed; fixed time stamp and permissions) so that the
//! same source always gives the same bytes, and so the same `CodeSha256` Lambda answers:
//! the code is compared by that digest, never downloaded.

use sha2::{Digest, Sha256};

/// The archive's one entry, with this name and content.
pub(crate) fn zip(file_name: &str, content: &[u8]) -> Vec<u8> {
    let name = file_name.as_bytes();
    let crc = crc32(content);
    // 1980-01-01 00:00 (the format's epoch), in MS-DOS date and time form.
    let (time, date): (u16, u16) = (0, (1 << 5) | 1);
    let size = u32::try_from(content.len()).unwrap_or(u32::MAX);
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(content.len() + 2 * name.len() + 128);
    // Local file header.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    for v in [20u16, 0, 0, time, date] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(content);
    // Central directory: made by Unix (3) so that the mode (0644, a regular file) holds.
    let directory = out.len();
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    for v in [(3u16 << 8) | 20, 20, 0, 0, time, date] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name_len, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name);
    let directory_len = out.len() - directory;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [directory_len, directory] {
        out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The digest Lambda answers as `CodeSha256`: base64 of the package's SHA-256.
pub(crate) fn code_sha256(package: &[u8]) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(package))
}

/// CRC-32 (IEEE 802.3, the ZIP format's).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_same_source_gives_the_same_package_and_digest() {
        let a = zip("index.py", b"print('hi')\n");
        let b = zip("index.py", b"print('hi')\n");
        assert_eq!(a, b);
        assert_eq!(code_sha256(&a), code_sha256(&b));
        assert_ne!(code_sha256(&a), code_sha256(&zip("index.py", b"print('ho')\n")));
    }

    #[test]
    fn the_package_is_a_zip_archive_of_the_file() {
        let src = b"def handler(event, context):\n    return 1\n";
        let z = zip("index.py", src);
        assert_eq!(&z[..4], b"PK\x03\x04");
        // The local header (30 bytes) and name, then the content, stored as is.
        assert_eq!(&z[30..38], b"index.py");
        assert_eq!(&z[38..38 + src.len()], src);
        // The end record says one entry, and where the directory starts.
        let end = &z[z.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 1);
        let dir = u32::from_le_bytes([end[16], end[17], end[18], end[19]]) as usize;
        assert_eq!(&z[dir..dir + 4], b"PK\x01\x02");
        assert_eq!(dir, 38 + src.len());
    }
}
