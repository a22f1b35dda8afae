//! The process's exit status: every code hactl ends with, named once (README, "Exit
//! codes"; `hactl --help` lists them too).

use std::process::ExitCode;

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success (no changes with `plan --detailed-exitcode`, no drift with `drift`).
    Success,
    /// 1: an error, a failed action, an apply or destroy cancelled at its prompt or
    /// interrupted once (in-flight actions finished, state saved).
    Failure,
    /// 2: changes present (`plan --detailed-exitcode`) or drift found (`drift`).
    Changes,
    /// 64: a command-line mistake (sysexits' EX_USAGE), never 2.
    Usage,
    /// 130: interrupted by Ctrl-C or SIGTERM outside an apply, or a second time during one.
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Usage => 64,
            ExitStatus::Interrupted => 130,
        }
    }

    /// [`ExitStatus::Changes`] when `changes`, else [`ExitStatus::Success`].
    pub fn changes_if(changes: bool) -> ExitStatus {
        if changes {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            ExitStatus::Success,
            ExitStatus::Failure,
            ExitStatus::Changes,
            ExitStatus::Usage,
            ExitStatus::Interrupted,
        ]
        .iter()
        .map(|s| s.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 64, 130]);
        assert_eq!(ExitStatus::changes_if(true), ExitStatus::Changes);
        assert_eq!(ExitStatus::changes_if(false), ExitStatus::Success);
    }
}
