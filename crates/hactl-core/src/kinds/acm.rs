//! `acm.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `acm.certificate` (provider: `hactl-aws/src/acm/certificate.rs`).
    Certificate = "acm.certificate" {
        reads: ["acm:ListCertificates", "tag:GetResources"],
        reads_account_wide: [],
        domain_name / DOMAIN_NAME: replace,
        self_signed / SELF_SIGNED: replace,
        tags / TAGS: in_place,
    }
}
