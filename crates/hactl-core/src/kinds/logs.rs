//! `logs.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `logs.log_group` (provider: `hactl-aws/src/logs/log_group.rs`).
    LogGroup = "logs.log_group" {
        reads: ["logs:DescribeLogGroups", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        retention_days / RETENTION_DAYS: in_place,
        tags / TAGS: in_place,
    }
}
