//! IPv4 CIDR helpers for validation.

use ipnet::Ipv4Net;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CidrError {
    /// Not `a.b.c.d/n` at all.
    Malformed,
    /// A valid block, but with host bits set; carries the network it denotes.
    NotNetworkAddress(Ipv4Net),
}

/// Parses `a.b.c.d/n` and requires the address to be the network address of the block.
pub(crate) fn parse_network(s: &str) -> Result<Ipv4Net, CidrError> {
    let net: Ipv4Net = s.trim().parse().map_err(|_| CidrError::Malformed)?;
    if !s.contains('/') || s.trim() != s {
        return Err(CidrError::Malformed);
    }
    if net.addr() != net.network() {
        return Err(CidrError::NotNetworkAddress(net.trunc()));
    }
    Ok(net)
}

/// Whether two blocks share at least one address. For CIDR blocks that is the case
/// exactly when one contains the other.
pub(crate) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(b) || b.contains(a)
}

/// The first block of `prefix_len` inside `within` that overlaps none of `taken`.
pub(crate) fn free_block(within: &Ipv4Net, prefix_len: u8, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    within.subnets(prefix_len).ok()?.find(|candidate| taken.iter().all(|t| !overlaps(candidate, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid cidr")
    }

    #[test]
    fn parses_network_addresses_only() {
        assert_eq!(parse_network("10.0.0.0/16"), Ok(net("10.0.0.0/16")));
        assert_eq!(parse_network("0.0.0.0/0"), Ok(net("0.0.0.0/0")));
        assert_eq!(parse_network("10.0.0.1/16"), Err(CidrError::NotNetworkAddress(net("10.0.0.0/16"))));
        assert_eq!(parse_network("10.0.3.0/22"), Err(CidrError::NotNetworkAddress(net("10.0.0.0/22"))));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/16", "10.0.0.256/24", "ten/8", "", " 10.0.0.0/16"] {
            assert_eq!(parse_network(bad), Err(CidrError::Malformed), "{bad}");
        }
    }

    #[test]
    fn overlap_is_containment_either_way() {
        assert!(overlaps(&net("10.0.0.0/24"), &net("10.0.0.0/24")));
        assert!(overlaps(&net("10.0.0.0/16"), &net("10.0.5.0/24")));
        assert!(overlaps(&net("10.0.5.128/25"), &net("10.0.5.0/24")));
        assert!(overlaps(&net("10.0.0.0/22"), &net("10.0.3.0/24")));
        assert!(!overlaps(&net("10.0.0.0/24"), &net("10.0.1.0/24")));
        assert!(!overlaps(&net("10.0.0.0/22"), &net("10.0.4.0/24")));
        assert!(!overlaps(&net("10.0.0.0/25"), &net("10.0.0.128/25")));
        assert!(overlaps(&net("0.0.0.0/0"), &net("192.168.1.0/24")));
    }

    #[test]
    fn finds_a_free_block() {
        let taken = [net("10.0.0.0/24"), net("10.0.1.0/24"), net("10.0.2.0/23")];
        assert_eq!(free_block(&net("10.0.0.0/16"), 24, &taken), Some(net("10.0.4.0/24")));
        assert_eq!(free_block(&net("10.0.0.0/23"), 24, &taken), None);
    }
}
