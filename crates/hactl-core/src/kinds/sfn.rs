//! `sfn.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `sfn.state_machine` (provider: `hactl-aws/src/sfn/state_machine.rs`): a Step
    /// Functions state machine. id = its ARN.
    StateMachine = "sfn.state_machine" {
        reads: ["states:ListStateMachines", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        machine_type / MACHINE_TYPE: replace,
        definition / DEFINITION: in_place,
        role_arn / ROLE_ARN: in_place,
        tags / TAGS: in_place,
    }
}
