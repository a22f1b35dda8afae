//! `hactl`: provisions and reconciles a high-availability AWS stack from a config file.

#[macro_use]
mod output;
mod cli;
mod commands;
mod context;
mod cost;
mod exit;
mod failure;
mod fault;
mod inspect;
mod logging;
mod outputs;
mod render;
mod session;
mod signal;

use anyhow::Result;
use cli::Command;
use commands::{apply, drift, failover, import, offline, plan, rotate, unlock};
use context::RunContext;
use exit::ExitStatus;
use render::Style;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let (cli, config_from_env) = match cli::parse() {
        Ok(parsed) => parsed,
        Err(e) => return cli::usage_error(&e).into(),
    };
    let log_colour = Style::detect(cli.global.no_color, render::is_stderr_terminal()).color;
    logging::init(cli.global.verbose, cli.global.log_format, log_colour);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Failure.into();
        }
    };
    let started = Instant::now();
    let command = cli.command.name();
    let rc = RunContext::new(cli.global, config_from_env);
    let result = runtime.block_on(run(cli.command, &rc));
    if rc.g.stats {
        errln!("{}", render::stats_line(&rc.counter.snapshot(), started.elapsed().as_millis()));
    }
    match result {
        Ok(status) => status,
        Err(e) => rc.report_failure(&e, command),
    }
    .into()
}

/// Runs one command.
async fn run(cmd: Command, rc: &RunContext) -> Result<ExitStatus> {
    match cmd {
        Command::Validate { json: true } => inspect::validate_json(rc),
        Command::Validate { json: false } => offline::validate(rc),
        Command::Graph { plan } => offline::graph(rc, plan.as_deref()),
        Command::Version => offline::version(),
        Command::Completions { shell } => offline::completions(shell),
        Command::Man => offline::man(),
        Command::Show { planfile, json } => offline::show(rc, &planfile, json),
        Command::Output { name, json } => inspect::output(rc, name.as_deref(), json).await,
        Command::State { command } => inspect::state(rc, command).await,
        Command::ForceUnlock { lock_id } => unlock::force_unlock(rc, lock_id.as_deref()).await,
        Command::Lint { format } => offline::lint(rc, format),
        Command::Plan { json, detailed_exitcode, refresh_only: true, .. } => {
            plan::refresh_only(rc, json, detailed_exitcode).await
        }
        Command::Plan { out, json, detailed_exitcode, destroy, refresh_only: false, scope, replace } => {
            plan::plan(rc, out, json, detailed_exitcode, destroy, scope.targeting(replace)).await
        }
        Command::Apply { planfile, run, scope, replace } => {
            apply::apply(rc, planfile, run, scope.targeting(replace)).await
        }
        Command::Import { address, id, discover, auto_approve } => match (address, id) {
            (Some(address), Some(id)) if !discover => import::import(rc, &address, &id).await,
            _ => import::discover(rc, auto_approve).await,
        },
        Command::Destroy { run, scope } => apply::destroy(rc, run, scope.targeting(Vec::new())).await,
        Command::Failover { target, to_region: None, .. } => failover::failover(rc, target).await,
        Command::Failover { to_region: Some(region), parallelism, allow_data_loss, .. } => {
            failover::to_region(rc, &region, parallelism, allow_data_loss).await
        }
        Command::RotateCredentials { no_redeploy } => rotate::rotate_credentials(rc, !no_redeploy).await,
        Command::Drift { json, publish_metrics, watch, interval } => {
            drift::drift(rc, json, publish_metrics, watch, interval).await
        }
    }
}
