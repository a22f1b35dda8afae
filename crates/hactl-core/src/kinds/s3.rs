//! `s3.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `s3.bucket` (provider: `hactl-aws/src/s3/bucket.rs`): a private, encrypted bucket
    /// whose objects expire, with its bucket policy. id = its name.
    Bucket = "s3.bucket" {
        reads: [],
        reads_account_wide: [],
        name / NAME: replace,
        encryption / ENCRYPTION: in_place,
        public_access_block / PUBLIC_ACCESS_BLOCK: in_place,
        expiration_days / EXPIRATION_DAYS: in_place,
        policy / POLICY: in_place,
        tags / TAGS: in_place,
    }
}
