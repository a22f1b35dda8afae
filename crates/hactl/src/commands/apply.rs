//! `hactl apply` and `hactl destroy`: a plan shown, confirmed and run under the stack
//! lock, then a summary of what happened.

use super::{read_plan_file, refuse_conflicts};
use crate::cli::RunFlags;
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::render::{self, Style};
use crate::session::{session, Session};
use anyhow::{bail, Context, Result};
use hactl_core::plan::PlanMode;
use hactl_core::{Address, Plan, Targeting};
use hactl_engine::{check_plan, ApplyReport};
use hactl_state::State;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// `hactl apply [PLANFILE]`: a saved plan exactly (without asking), or a fresh plan once
/// confirmed.
pub async fn apply(
    rc: &RunContext,
    planfile: Option<PathBuf>,
    run: RunFlags,
    targeting: Targeting,
) -> Result<ExitStatus> {
    // A saved plan passed the checks when `plan` made it; it applies exactly that.
    if planfile.is_none() {
        rc.lint_gate()?;
    }
    let s = session(rc).await?;
    s.locked("apply", async {
        let mut state = s.load_state().await?;
        let plan = match &planfile {
            Some(path) => saved_plan(&s, &state, path)?,
            None => s.plan_targeted(&mut state, PlanMode::Apply, &targeting).await?,
        };
        s.forget_desired();
        out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
        refuse_conflicts(&plan)?;
        if !plan.has_changes() {
            return Ok(ExitStatus::Success);
        }
        refuse_protected(&plan, &run)?;
        if planfile.is_none() && !run.auto_approve && !confirm("Apply these changes?")? {
            errln!("Apply cancelled; nothing was changed.");
            return Ok(ExitStatus::Failure);
        }
        let report = s.execute(&plan, state, &run).await?;
        Ok(summarize(&s.sink.style, &report, "Apply"))
    })
    .await
}

/// A plan saved by `plan --out`, refused when state changed since it was made or it was
/// made for another region.
fn saved_plan(s: &Session, state: &State, path: &Path) -> Result<Plan> {
    let plan = read_plan_file(path)?;
    check_plan(&plan, state).with_context(|| format!("refusing to apply {}", path.display()))?;
    if !plan.region.is_empty() && plan.region != s.region {
        bail!(
            "refusing to apply {}: it was made for region {}, this run targets {}",
            path.display(),
            plan.region,
            s.region
        );
    }
    Ok(plan)
}

/// `hactl destroy`: every resource of the stack, once confirmed.
pub async fn destroy(rc: &RunContext, run: RunFlags, targeting: Targeting) -> Result<ExitStatus> {
    let s = session(rc).await?;
    s.locked("destroy", async {
        let mut state = s.load_state().await?;
        let plan = s.plan_targeted(&mut state, PlanMode::Destroy, &targeting).await?;
        s.forget_desired();
        out!("{}", render::plan_text(&s.stdout_style, &plan, &s.region))?;
        if !plan.has_changes() {
            return Ok(ExitStatus::Success);
        }
        refuse_protected(&plan, &run)?;
        let question = match plan.targeting.as_ref().is_some_and(Targeting::limits) {
            true => format!("Destroy these {} resources of stack `{}`?", plan.actions.len(), plan.stack),
            false => format!("Destroy every resource of stack `{}`?", plan.stack),
        };
        if !run.auto_approve && !confirm(&question)? {
            errln!("Destroy cancelled; nothing was changed.");
            return Ok(ExitStatus::Failure);
        }
        let mut report = s.execute(&plan, state, &run).await?;
        // Nothing left: a failover's active region ends with the stack (an apply
        // from scratch starts in the stack's region).
        if report.ok() && report.state.resources.is_empty() && report.state.active_region.is_some() {
            report.state.active_region = None;
            s.store.save(&mut report.state).await?;
        }
        Ok(summarize(&s.sink.style, &report, "Destroy"))
    })
    .await
}

/// A plan that deletes objects with deletion protection on is refused before anything
/// runs, unless the run allows it.
fn refuse_protected(plan: &Plan, run: &RunFlags) -> Result<()> {
    if plan.protected.is_empty() || run.allow_delete_protected {
        return Ok(());
    }
    Err(hactl_engine::EngineError::Protected(plan.protected.clone()).into())
}

pub(crate) fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() && std::env::var_os("HACTL_ASSUME_TTY").is_none() {
        bail!("confirmation needed, but standard input is not a terminal; pass --auto-approve to proceed without it");
    }
    err!("{question} [y/N] ");
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

pub(crate) fn summarize(st: &Style, report: &ApplyReport, verb: &str) -> ExitStatus {
    use hactl_core::exec::Phase;
    let count = |p: Phase| report.succeeded.iter().filter(|(_, ph)| *ph == p).count();
    // Only what happened; "recorded" = adopted into or forgotten from state, no AWS call.
    let parts: Vec<String> = [
        (Phase::Create, "created"),
        (Phase::Update, "updated"),
        (Phase::Delete, "deleted"),
        (Phase::Record, "recorded in state"),
    ]
    .iter()
    .filter(|(p, _)| count(*p) > 0)
    .map(|(p, w)| format!("{} {w}", count(*p)))
    .collect();
    let done = if parts.is_empty() { "nothing done".to_string() } else { parts.join(", ") };
    let secs = report.elapsed.as_secs_f64();
    if report.ok() {
        errln!(
            "{} {done} in {secs:.1}s. State serial {}.",
            st.green(&format!("{verb} complete:")),
            report.state.serial
        );
        return ExitStatus::Success;
    }
    if report.cancelled {
        errln!(
            "{} {done} in {secs:.1}s; {} action(s) not started. State saved (serial {}); run the command again to finish.",
            st.yellow(&format!("{verb} interrupted:")),
            report.not_started.len(),
            report.state.serial
        );
    } else {
        errln!(
            "{} {done} in {secs:.1}s; state saved (serial {}).",
            st.red(&format!("{verb} failed:")),
            report.state.serial
        );
    }
    for f in &report.failed {
        errln!("  {} {}: {}", st.red("failed"), f.address, f.error);
    }
    if !report.skipped.is_empty() {
        let names: Vec<String> = report.skipped.iter().map(Address::to_string).collect();
        errln!("  {} {} (they depend on a failed action)", st.yellow("skipped"), names.join(", "));
    }
    if !report.cancelled && !report.not_started.is_empty() {
        let names: Vec<String> = report.not_started.iter().map(Address::to_string).collect();
        errln!("  {} {} (state could not be saved)", st.yellow("not started"), names.join(", "));
    }
    ExitStatus::Failure
}
