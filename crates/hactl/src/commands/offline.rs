//! Commands that make no AWS call and read no state: `validate`, `lint`, `graph`, `show`,
//! `version`, `completions`, `man`.

use super::read_plan_file;
use crate::cli::{Cli, LintFormat, VERSION};
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::render::{self, Style};
use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use std::path::Path;

/// `hactl validate` (without `--json`).
pub fn validate(rc: &RunContext) -> Result<ExitStatus> {
    let (cfg, desired) = rc.load_config()?;
    rc.target_region(&cfg)?;
    let (regions, zones) = match &cfg.dr {
        None => (cfg.stack.region.clone(), cfg.network.zones.len()),
        Some(dr) => (
            format!("{} and {} (disaster recovery)", cfg.stack.region, dr.region),
            cfg.network.zones.len() + dr.network.zones.len(),
        ),
    };
    outln!(
        "{}: valid. Stack `{}` in {regions}: {} resources over {zones} availability zones.",
        rc.g.config.display(),
        cfg.stack.name,
        desired.len(),
    )?;
    Ok(ExitStatus::Success)
}

/// `hactl lint [--format text|json|sarif]`: the report on stdout; exit 1 when a check at
/// level error fails unallowed.
pub fn lint(rc: &RunContext, format: LintFormat) -> Result<ExitStatus> {
    let report = rc.lint()?;
    match format {
        LintFormat::Text => out!("{}", report.to_text())?,
        LintFormat::Json => outln!("{}", serde_json::to_string_pretty(&report.to_json())?)?,
        LintFormat::Sarif => outln!("{}", serde_json::to_string_pretty(&report.to_sarif(VERSION))?)?,
    }
    Ok(if report.errors() > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}

/// `hactl graph [--plan PLANFILE]`.
pub fn graph(rc: &RunContext, plan: Option<&Path>) -> Result<ExitStatus> {
    let (cfg, desired) = rc.load_config()?;
    rc.target_region(&cfg)?;
    let plan = plan.map(read_plan_file).transpose()?;
    if let Some(p) = &plan {
        if p.stack != cfg.stack.name {
            bail!("the plan is for stack `{}`, the config for `{}`", p.stack, cfg.stack.name);
        }
    }
    out!("{}", hactl_core::dot::dot(&desired, plan.as_ref()))?;
    Ok(ExitStatus::Success)
}

/// `hactl version`.
pub fn version() -> Result<ExitStatus> {
    outln!("hactl {VERSION}")?;
    Ok(ExitStatus::Success)
}

/// `hactl completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "hactl", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}

/// `hactl man`.
pub fn man() -> Result<ExitStatus> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page).context("rendering the man page")?;
    out!("{}", String::from_utf8_lossy(&page))?;
    Ok(ExitStatus::Success)
}

/// `hactl show PLANFILE [--json]`.
pub fn show(rc: &RunContext, planfile: &Path, json: bool) -> Result<ExitStatus> {
    let plan = read_plan_file(planfile)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        let st = Style::detect(rc.g.no_color, render::is_stdout_terminal());
        out!("{}", render::plan_text(&st, &plan, &plan.region))?;
    }
    Ok(ExitStatus::Success)
}
