//! The crash and failure tests' fault hooks (`HACTL_FAULT`), handed to the engine's
//! apply. Debug builds only: see [`fault_spec`].

use anyhow::{bail, Context, Result};
use hactl_core::Address;
use std::sync::Arc;
use std::time::Duration;

/// `HACTL_FAULT` (crash and failure tests only):
/// - `delay-ms:N` sleeps N ms after each action's AWS calls, before it is journaled;
/// - `crash-before-journal:ADDRESS` aborts the process there for ADDRESS, like a kill -9
///   between create and journal;
/// - `fail:ADDRESS` fails ADDRESS's action before any AWS call, as an AWS error would.
///
/// Debug builds only (the tests' binary): a release build ignores the variable, so it is
/// no part of what hactl offers its users.
fn fault_spec() -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var("HACTL_FAULT").ok()
    } else {
        None
    }
}

/// `fail:ADDRESS`: the hook that fails ADDRESS's action before any AWS call.
pub fn fault_before_call() -> Result<Option<hactl_engine::BeforeCall>> {
    let Some(target) = fault_spec().and_then(|s| s.strip_prefix("fail:").map(str::to_string)) else {
        return Ok(None);
    };
    let target = Address::parse(&target)?;
    Ok(Some(Arc::new(
        move |a: &Address, _| {
            if *a == target {
                Err(format!("HACTL_FAULT fails {a}"))
            } else {
                Ok(())
            }
        },
    )))
}

/// `delay-ms:N` or `crash-before-journal:ADDRESS`: the hook run before each journal
/// entry; another value is an error.
pub fn fault_before_journal() -> Result<Option<hactl_engine::BeforeJournal>> {
    let Some(spec) = fault_spec() else { return Ok(None) };
    if spec.starts_with("fail:") {
        return Ok(None);
    }
    if let Some(ms) = spec.strip_prefix("delay-ms:") {
        let ms: u64 = ms.parse().with_context(|| format!("HACTL_FAULT={spec}: delay must be a number"))?;
        // block_in_place: the sleeping step hands its worker's other duties (the signal
        // and I/O drivers) to another thread, as an AWS call would leave them free; a plain
        // sleep there kept a second Ctrl-C from being seen until the step ended.
        return Ok(Some(Arc::new(move |_: &Address, _| {
            tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(ms)))
        })));
    }
    if let Some(target) = spec.strip_prefix("crash-before-journal:") {
        let target = Address::parse(target)?;
        return Ok(Some(Arc::new(move |a: &Address, _| {
            if *a == target {
                errln!("HACTL_FAULT: aborting before journaling {a}");
                std::process::abort();
            }
        })));
    }
    bail!("HACTL_FAULT={spec}: expected delay-ms:N, crash-before-journal:ADDRESS or fail:ADDRESS")
}
