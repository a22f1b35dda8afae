//! One function per command, called by `main`'s dispatch (the commands that only read
//! config or state, `validate --json`, `output` and `state`, are in `inspect`).

pub mod apply;
pub mod drift;
pub mod failover;
pub mod import;
pub mod offline;
pub mod plan;
pub mod rotate;
pub mod unlock;

use anyhow::{Context, Result};
use hactl_core::plan::PlanMode;
use hactl_core::Plan;
use std::path::Path;

/// A plan saved by `plan --out`.
fn read_plan_file(path: &Path) -> Result<Plan> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // Another format (a plan made by another hactl) is named as such, not as garbage.
    let found = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|doc| doc.get("format_version").and_then(serde_json::Value::as_u64))
        .and_then(|v| u32::try_from(v).ok());
    let supported = hactl_core::plan::PLAN_FORMAT_VERSION;
    if let Some(found) = found.filter(|f| *f != supported) {
        return Err(anyhow::Error::new(hactl_engine::EngineError::PlanVersion(found, supported))
            .context(format!("reading {}", path.display())));
    }
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a hactl plan (made by `hactl plan --out`)", path.display()))
}

/// A plan that would create over an object that is not the stack's (same name, no
/// ownership tags, not in state) stops before anything runs; destroy leaves such objects
/// in place.
fn refuse_conflicts(plan: &Plan) -> Result<()> {
    if plan.mode == PlanMode::Destroy || plan.conflicts.is_empty() {
        return Ok(());
    }
    Err(hactl_engine::EngineError::Conflicts(plan.conflicts.clone()).into())
}
