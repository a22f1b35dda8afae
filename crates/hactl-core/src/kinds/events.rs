//! `events.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `events.rule` (provider: `hactl-aws/src/events/rule.rs`): a rule of the default
    /// event bus with its targets. id = the rule's name.
    Rule = "events.rule" {
        reads: ["events:ListRules", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        event_pattern / EVENT_PATTERN: in_place,
        state / STATE: in_place,
        targets / TARGETS: in_place,
        tags / TAGS: in_place,
    }
}
