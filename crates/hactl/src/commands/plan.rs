//! `hactl plan`: what apply (or, with `--destroy`, destroy) would change, or with
//! `--refresh-only` what changed in AWS since state was written.

use super::refuse_conflicts;
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::render;
use crate::session::session;
use anyhow::{Context, Result};
use hactl_core::plan::PlanMode;
use hactl_core::Targeting;
use hactl_engine::{drift_report, refresh, RefreshScope};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `hactl plan [--out FILE] [--json] [--detailed-exitcode] [--destroy] [--target A]
/// [--exclude A] [--replace A]`.
pub async fn plan(
    rc: &RunContext,
    out: Option<PathBuf>,
    json: bool,
    detailed_exitcode: bool,
    destroy: bool,
    targeting: Targeting,
) -> Result<ExitStatus> {
    // Policy checks guard what a plan would build; destroying needs none.
    if !destroy {
        rc.lint_gate()?;
    }
    let s = session(rc).await?;
    let plan = s
        .locked("plan", async {
            let mut state = s.load_state().await?;
            let mode = if destroy { PlanMode::Destroy } else { PlanMode::Apply };
            s.plan_targeted(&mut state, mode, &targeting).await
        })
        .await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
    }
    refuse_conflicts(&plan)?;
    if let Some(path) = out {
        write_private(&path, &serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("writing {}", path.display()))?;
        errln!("Saved the plan to {}. Apply it exactly with: hactl apply {}", path.display(), path.display());
    }
    Ok(ExitStatus::changes_if(detailed_exitcode && plan.has_changes()))
}

/// `hactl plan --refresh-only [--json] [--detailed-exitcode]`.
pub async fn refresh_only(rc: &RunContext, json: bool, detailed_exitcode: bool) -> Result<ExitStatus> {
    let s = session(rc).await?;
    let report = s
        .locked("plan", async {
            let state = s.load_state().await?;
            let live = refresh(&s.registry, &s.ctx, &*s.desired()?, &state, RefreshScope::StateOnly).await?;
            Ok(drift_report(&s.registry, &state, &live))
        })
        .await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", render::refresh_text(&s.stdout_style, &report, &s.region))?;
    }
    Ok(ExitStatus::changes_if(detailed_exitcode && report.has_drift()))
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(body)
}
