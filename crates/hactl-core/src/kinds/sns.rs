//! `sns.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `sns.subscription` (provider: `hactl-aws/src/sns/subscription.rs`).
    Subscription = "sns.subscription" {
        reads: [],
        reads_account_wide: [],
        topic_arn / TOPIC_ARN: replace,
        protocol / PROTOCOL: replace,
        endpoint / ENDPOINT: replace,
    }
    /// `sns.topic` (provider: `hactl-aws/src/sns/topic.rs`).
    Topic = "sns.topic" {
        reads: ["sns:ListTopics", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        tags / TAGS: in_place,
    }
}
