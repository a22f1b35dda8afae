//! `hactl rotate-credentials`: the database's master password rotated now, then a new
//! deployment of every service (in each region), so their tasks read the new password.

use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::{session, Session};
use anyhow::{bail, Context, Result};
use hactl_core::{Address, Value};
use hactl_state::State;
use std::time::{Duration, Instant};

/// The stack's database (the home region's) and the secret it manages its password in.
fn managed_secret(s: &Session, state: &State) -> Result<(Address, String)> {
    let db = ["db_cluster.main", "db_instance.main"]
        .iter()
        .filter_map(|a| Address::parse(a).ok())
        .find(|a| state.resources.contains_key(a));
    let Some(db) = db else {
        bail!(
            "stack `{}` has no database in its state ({}); apply a config with a [database] section first",
            state.stack,
            s.store
        );
    };
    match state.output(&db, "master_user_secret_arn") {
        Some(Value::Str(arn)) if !arn.is_empty() => Ok((db, arn.clone())),
        _ if s.config().dr.is_some() => bail!(
            "{db} keeps its master password in hactl's secret hactl/{}/db-credentials, replicated to the \
             [dr] region (AWS manages no password for a global cluster or a cross-region replica); \
             `hactl rotate-credentials` rotates only a password the database manages",
            state.stack
        ),
        _ => bail!(
            "{db} does not manage its master password yet; run `hactl apply` (it turns management on) first"
        ),
    }
}

/// The services in state, by region: (region, cluster, service names).
fn services(state: &State, home: &str) -> Vec<(String, String, Vec<String>)> {
    let mut by_region: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for r in state.resources.values().filter(|r| r.kind == "ecs.service") {
        let region = r.location.as_ref().and_then(|l| l.region_name()).unwrap_or(home).to_string();
        let cluster = r.props.get("cluster").and_then(Value::as_str).unwrap_or(&state.stack).to_string();
        let name = r.props.get("name").and_then(Value::as_str).unwrap_or(&r.id).to_string();
        by_region.entry((region, cluster)).or_default().push(name);
    }
    by_region.into_iter().map(|((region, cluster), names)| (region, cluster, names)).collect()
}

pub async fn rotate_credentials(rc: &RunContext, redeploy: bool) -> Result<ExitStatus> {
    let s = session(rc).await?;
    s.locked("rotate-credentials", async {
        let state = s.load_state().await?;
        let (db, secret) = managed_secret(&s, &state)?;
        let started = Instant::now();
        errln!("Rotating the master password of {db} ...");
        let ctx = s.ctx.for_address(&db);
        let rotated = hactl_aws::credentials::rotate_managed(&s.sdk, &rc.counter, &ctx, &secret)
            .await
            .with_context(|| format!("rotating the master password of {db}"))?;
        let name = secret.rsplit(':').next().unwrap_or(&secret);
        errln!(
            "{} secret {name} holds a new password (version {}), after {:.1}s.",
            s.sink.style.green("Rotated:"),
            rotated.current_version,
            started.elapsed().as_secs_f64()
        );
        if !redeploy {
            errln!("Services not redeployed (--no-redeploy): their tasks read the new password when next started.");
            return Ok(ExitStatus::Success);
        }
        let home = s.config().stack.region.clone();
        let timeout = Duration::from_secs(u64::from(s.config().compute.service_stable_timeout));
        for (region, cluster, names) in services(&state, &home) {
            let started = Instant::now();
            errln!("Redeploying {} service(s) in {region} ...", names.len());
            let sdk = hactl_aws::in_region(&s.sdk, &region);
            let done = hactl_aws::credentials::redeploy(&sdk, &rc.counter, &s.ctx, &cluster, &names, timeout)
                .await
                .with_context(|| format!("redeploying the services of cluster {cluster} in {region}"))?;
            for d in &done {
                errln!("  {} new deployment {}", d.service, d.deployment);
            }
            errln!(
                "{} {} service(s) in {region} stable on the new password, after {:.1}s.",
                s.sink.style.green("Redeployed:"),
                done.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(ExitStatus::Success)
    })
    .await
}
