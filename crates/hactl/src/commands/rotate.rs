//! `hactl rotate-credentials`: the database's master password rotated now, then a new
//! deployment of every service (in each region), so their tasks read the new password.

use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::{session, Session};
use anyhow::{bail, Context, Result};
use hactl_aws::credentials::OwnDatabase;
use hactl_core::{Address, Value};
use hactl_state::State;
use std::time::{Duration, Instant};

/// What holds the master password, and so how it is rotated.
enum Password {
    /// The secret the database manages (stacks without `[dr]`).
    Managed { db: Address, secret: String },
    /// hactl's own credentials secret, replicated (`[dr]` stacks), and the database that
    /// writes (the active region's) with its region.
    Own { db: Address, secret: String, length: i64, database: OwnDatabase, region: String },
}

/// Where the stack's master password is, from state.
fn password_of(s: &Session, state: &State) -> Result<Password> {
    // The database that writes: the DR region's after `failover --to-region` there.
    let active = state.active_region.clone().unwrap_or_else(|| s.config().stack.region.clone());
    let prefix = if active == s.config().stack.region { "" } else { "dr." };
    let db = ["db_cluster.main", "db_instance.main"]
        .iter()
        .filter_map(|a| Address::parse(&format!("{prefix}{a}")).ok())
        .find(|a| state.resources.contains_key(a));
    let Some(db) = db else {
        bail!(
            "stack `{}` has no database in its state ({}); run `hactl apply` first (the config needs a [database] section)",
            state.stack,
            s.store
        );
    };
    if let Some(Value::Str(arn)) = state.output(&db, "master_user_secret_arn") {
        if !arn.is_empty() {
            return Ok(Password::Managed { db, secret: arn.clone() });
        }
    }
    let secret = Address::parse("secret.db")?;
    let own = state.resources.get(&secret).filter(|_| s.config().dr.is_some());
    let (Some(r), Some(record)) = (own, state.resources.get(&db)) else {
        bail!(
            "{db} does not manage its master password yet; run `hactl apply` (it turns management on) first"
        );
    };
    let length = r.props.get("password_length").and_then(Value::as_int).unwrap_or(32);
    let database = match record.kind.as_str() {
        "docdb.cluster" => OwnDatabase::Docdb { cluster_id: record.id.clone() },
        _ => OwnDatabase::Postgres { instance_id: record.id.clone() },
    };
    let region = record.location.as_ref().and_then(|l| l.region_name()).unwrap_or(&active).to_string();
    Ok(Password::Own { db, secret: r.id.clone(), length, database, region })
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

/// How long a service may take to show the new deployment the stack's rule starts after
/// a rotation (EventBridge, then Step Functions) before hactl forces one itself.
const RULE_GRACE: Duration = Duration::from_secs(60);

/// The services of one cluster: (region, cluster, names).
type Cluster = (String, String, Vec<String>);

/// The rule that redeploys the services after a rotation of the managed password: its
/// name, when the stack has one in state.
fn redeploy_rule(state: &State, password: &Password) -> Option<String> {
    let Password::Managed { .. } = password else { return None };
    let rule = Address::parse("event_rule.password_rotated").ok()?;
    state.resources.get(&rule).map(|r| r.id.clone())
}

async fn rotate(
    s: &Session,
    rc: &RunContext,
    password: &Password,
) -> Result<hactl_aws::secretsmanager::rotation::Rotated> {
    let (db, rotated) = match password {
        Password::Managed { db, secret } => {
            errln!("Rotating the master password of {db} (the secret the database manages) ...");
            let ctx = s.ctx.for_address(db);
            (db, hactl_aws::credentials::rotate_managed(&s.sdk, &rc.counter, &ctx, secret).await)
        }
        Password::Own { db, secret, length, database, region } => {
            errln!("Rotating the master password of {db} (hactl's secret, replicated) ...");
            let ctx = s.ctx.for_address(db);
            let secret_sdk = hactl_aws::in_region(
                &s.sdk,
                hactl_aws::secretsmanager::secret::arn_region(secret).unwrap_or(region),
            );
            let db_sdk = hactl_aws::in_region(&s.sdk, region);
            let r = hactl_aws::credentials::rotate_own(
                &secret_sdk,
                &db_sdk,
                &rc.counter,
                &ctx,
                secret,
                *length,
                database,
            )
            .await;
            (db, r)
        }
    };
    rotated.with_context(|| format!("rotating the master password of {db}"))
}

/// Each cluster's services given (or followed to) a new deployment, region by region.
async fn redeploy_all(
    s: &Session,
    rc: &RunContext,
    clusters: &[Cluster],
    rule: Option<&str>,
    before: &[Vec<Option<String>>],
) -> Result<()> {
    let timeout = Duration::from_secs(u64::from(s.config().compute.service_stable_timeout));
    for (i, (region, cluster, names)) in clusters.iter().enumerate() {
        let started = Instant::now();
        let sdk = hactl_aws::in_region(&s.sdk, region);
        let done = match (rule, before.get(i)) {
            (Some(rule), Some(before)) => {
                errln!(
                    "Following the redeployment of {} service(s) in {region} that rule {rule} starts ...",
                    names.len()
                );
                hactl_aws::credentials::follow_or_redeploy(
                    &sdk,
                    &rc.counter,
                    &s.ctx,
                    cluster,
                    names,
                    before,
                    (RULE_GRACE, timeout),
                )
                .await
            }
            _ => {
                errln!("Redeploying {} service(s) in {region} ...", names.len());
                hactl_aws::credentials::redeploy(&sdk, &rc.counter, &s.ctx, cluster, names, timeout).await
            }
        };
        let done =
            done.with_context(|| format!("redeploying the services of cluster {cluster} in {region}"))?;
        for d in &done {
            let by = match (d.by_rule, rule) {
                (true, Some(rule)) => format!(" (started by rule {rule})"),
                (false, Some(_)) => {
                    format!(" (started by hactl: the rule started none within {}s)", RULE_GRACE.as_secs())
                }
                _ => String::new(),
            };
            errln!("  {} new deployment {}{by}", d.service, d.deployment);
        }
        errln!(
            "{} {} service(s) in {region} stable on the new password, after {:.1}s.",
            s.sink.style.green("Redeployed:"),
            done.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub async fn rotate_credentials(rc: &RunContext, redeploy: bool) -> Result<ExitStatus> {
    let s = session(rc).await?;
    s.locked("rotate-credentials", async {
        let state = s.load_state().await?;
        let password = password_of(&s, &state)?;
        let rule = redeploy_rule(&state, &password);
        let clusters = services(&state, &s.config().stack.region);
        // The deployments before the rotation: the rule's new ones are those after.
        let mut before = Vec::new();
        if let (Some(_), true) = (&rule, redeploy) {
            for (region, cluster, names) in &clusters {
                let sdk = hactl_aws::in_region(&s.sdk, region);
                let ids = hactl_aws::credentials::primary_deployments(&sdk, &rc.counter, cluster, names).await;
                before.push(ids.with_context(|| format!("reading the services of cluster {cluster} in {region}"))?);
            }
        }
        let started = Instant::now();
        let rotated = rotate(&s, rc, &password).await?;
        let secret = rotated.secret_arn.clone();
        let name = secret.rsplit(':').next().unwrap_or(&secret);
        errln!(
            "{} secret {name} holds a new password (version {}), after {:.1}s.",
            s.sink.style.green("Rotated:"),
            rotated.current_version,
            started.elapsed().as_secs_f64()
        );
        if !redeploy {
            match &rule {
                Some(rule) => errln!(
                    "Services not redeployed by hactl (--no-redeploy): rule {rule} starts their new deployments when Secrets Manager reports the rotation."
                ),
                None => errln!("Services not redeployed (--no-redeploy): their tasks read the new password when next started."),
            }
            return Ok(ExitStatus::Success);
        }
        redeploy_all(&s, rc, &clusters, rule.as_deref(), &before).await?;
        Ok(ExitStatus::Success)
    })
    .await
}
