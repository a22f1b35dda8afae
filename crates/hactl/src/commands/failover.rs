//! `hactl failover [--target ID]`: promote the stack's database replica.

use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::session;
use anyhow::{bail, Context, Result};
use hactl_aws::failover::FailoverTarget;
use std::time::Instant;

/// DocumentDB fails over to a reader in another zone (or `target`), RDS Multi-AZ reboots
/// with failover; waits until the database is available again.
pub async fn failover(rc: &RunContext, target: Option<String>) -> Result<ExitStatus> {
    let counter = &rc.counter;
    let s = session(rc).await?;
    s.locked("failover", async {
        let state = s.load_state().await?;
        let find = |kind: &str| state.resources.iter().find(|(_, r)| r.kind == kind);
        let (address, target) = if let Some((a, r)) = find("docdb.cluster") {
            (a.clone(), FailoverTarget::Docdb { cluster_id: r.id.clone(), target_instance: target })
        } else if let Some((a, r)) = find("rds.instance") {
            if target.is_some() {
                bail!("--target names a DocumentDB instance; an RDS Multi-AZ instance fails over to its standby");
            }
            (a.clone(), FailoverTarget::Postgres { instance_id: r.id.clone() })
        } else {
            bail!(
                "stack `{}` has no database in its state ({}); apply a config with a [database] section first",
                state.stack,
                s.store
            );
        };
        let started = Instant::now();
        errln!("Failing over {address} ...");
        let ctx = s.ctx.for_address(&address);
        let outcome = hactl_aws::failover::failover(&s.sdk, counter, &ctx, target)
            .await
            .with_context(|| format!("failing over {address}"))?;
        let az = outcome.writer_az.map(|z| format!(" in {z}")).unwrap_or_default();
        let was = outcome.previous_writer.map(|w| format!(" (was {w})")).unwrap_or_default();
        errln!(
            "{} the writer is now {}{az}{was}, after {:.1}s.",
            s.sink.style.green("Failover complete:"),
            outcome.writer,
            started.elapsed().as_secs_f64()
        );
        Ok(ExitStatus::Success)
    })
    .await
}
