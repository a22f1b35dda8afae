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

    /// `logs.subscription_filter` (provider: `hactl-aws/src/logs/subscription_filter.rs`):
    /// a subscription filter of one of the stack's log groups. Untagged (CloudWatch Logs
    /// takes no tags on it): found by log group and filter name among the targets.
    /// id = `<log group>:<filter name>`.
    SubscriptionFilter = "logs.subscription_filter" {
        reads: [],
        reads_account_wide: [],
        log_group_name / LOG_GROUP_NAME: replace,
        filter_name / FILTER_NAME: replace,
        filter_pattern / FILTER_PATTERN: in_place,
        destination_arn / DESTINATION_ARN: in_place,
    }
}
