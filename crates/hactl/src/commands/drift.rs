//! `hactl drift`: what changed outside hactl, once or (`--watch`) once per interval.

use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::failure;
use crate::render;
use crate::session::{session, Session};
use crate::signal::Mode;
use anyhow::{Context, Result};
use hactl_engine::{drift_report, refresh, RefreshScope};
use std::time::{Duration, Instant};

/// `hactl drift [--json] [--publish-metrics] [--watch --interval I]`: exit 2 when drift
/// is found (0 with `--watch`, stopped by a signal).
pub async fn drift(
    rc: &RunContext,
    json: bool,
    publish_metrics: bool,
    watch: bool,
    interval: Duration,
) -> Result<ExitStatus> {
    let s = session(rc).await?;
    if watch {
        return drift_watch(rc, &s, json, publish_metrics, interval).await;
    }
    let report = drift_once(&s, &rc.counter, publish_metrics).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", render::drift_text(&s.stdout_style, &report, &s.region))?;
    }
    Ok(ExitStatus::changes_if(report.has_drift()))
}

/// One drift run: lock, refresh, report, release; the metric put when asked.
async fn drift_once(
    s: &Session,
    counter: &hactl_aws::ApiCounter,
    publish_metrics: bool,
) -> Result<hactl_engine::DriftReport> {
    let report = s
        .locked("drift", async {
            let state = s.load_state().await?;
            let live = refresh(&s.registry, &s.ctx, &*s.desired()?, &state, RefreshScope::StateOnly).await?;
            Ok(drift_report(&s.registry, &state, &live))
        })
        .await?;
    if publish_metrics {
        hactl_aws::metrics::publish_drift_metric(&s.sdk, counter, &report.stack, report.drifted_count())
            .await
            .context("publishing the DriftedResources metric")?;
    }
    Ok(report)
}

/// `hactl drift --watch`: a run per interval (with jitter) until SIGTERM/SIGINT, which
/// stop it between runs (a run in progress finishes first). A failed run is logged and
/// the next one still happens.
async fn drift_watch(
    rc: &RunContext,
    s: &Session,
    json: bool,
    publish_metrics: bool,
    interval: Duration,
) -> Result<ExitStatus> {
    // The process's listener stops the loop (between runs) instead of quitting.
    let interrupt = &rc.interrupt;
    interrupt.listen();
    interrupt.set_mode(Mode::Watch);
    let mut run = 0u64;
    loop {
        run += 1;
        let started = Instant::now();
        let outcome = drift_once(s, &rc.counter, publish_metrics).await;
        let failed =
            outcome.as_ref().err().map(|e| failure::one_line_summary(e, &rc.failure_where("drift".into())));
        let line = render::drift_run_line(
            rc.g.log_format,
            s.store.stack(),
            run,
            outcome.as_ref().map_err(|_| failed.as_deref().unwrap_or_default()),
            started.elapsed(),
            publish_metrics,
        );
        errln!("{line}");
        if let (true, Ok(report)) = (json, &outcome) {
            outln!("{}", serde_json::to_string(report)?)?;
        }
        if interrupt.stop_requested() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(jittered(interval)) => {}
            _ = interrupt.stopped() => break,
        }
    }
    Ok(ExitStatus::Success)
}

/// `interval` ± up to 10%, so many watchers started together do not call AWS in step.
fn jittered(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.9 + 0.2 * (f64::from(nanos % 1_000_000) / 1_000_000.0);
    interval.mul_f64(factor)
}
