//! `hactl failover [--target ID]`: promote the stack's database replica;
//! `hactl failover --to-region REGION`: move the traffic of a [dr] stack to a region.

use super::apply::summarize;
use crate::cli::RunFlags;
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::{session, Session};
use anyhow::{bail, Context, Result};
use hactl_aws::failover::FailoverTarget;
use hactl_core::plan::{ActionType, PlanMode, PlannedAction};
use hactl_core::{Address, Location, Plan};
use hactl_state::State;
use std::time::Instant;

/// DocumentDB fails over to a reader in another zone (or `target`), RDS Multi-AZ reboots
/// with failover; waits until the database is available again.
pub async fn failover(rc: &RunContext, target: Option<String>) -> Result<ExitStatus> {
    let counter = &rc.counter;
    let s = session(rc).await?;
    s.locked("failover", async {
        let state = s.load_state().await?;
        // The database of the region serving traffic (after `failover --to-region`, the
        // DR region's: the `dr.` addresses).
        let active_dr = state.active_region.is_some();
        let find = |kind: &str| {
            state.resources.iter().find(|(a, r)| r.kind == kind && a.as_str().starts_with("dr.") == active_dr)
        };
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

/// One step of a failover between regions: what the plan's actions it carries have in
/// common.
struct RegionStep {
    title: String,
    /// A step whose failure does not stop the failover (the region given up may be
    /// down: its services stand down with the next apply).
    best_effort: bool,
    takes: Box<dyn Fn(&PlannedAction) -> bool>,
}

fn services_at(region: &str) -> Box<dyn Fn(&PlannedAction) -> bool> {
    let region = Location::region(region);
    // Updates only (counts, capacities): anything else pending (a create, a replacement)
    // is no part of a failover and is left for `hactl plan` to show.
    Box::new(move |a: &PlannedAction| {
        a.location == region
            && a.action == ActionType::Update
            && matches!(a.kind.as_str(), "ecs.service" | "appautoscaling.target")
    })
}

/// The database's writer moves to `to`: the DocumentDB global cluster switches over (or
/// with `allow_data_loss` fails over), the PostgreSQL replica in `to` is promoted. The
/// step's title, or `None` when the stack has no database in two regions.
async fn promote_database(
    rc: &RunContext,
    s: &Session,
    state: &State,
    to: &str,
    allow_data_loss: bool,
) -> Result<Option<String>> {
    let home = to == s.config().stack.region;
    let at = |a: &str| Address::parse(&if home { a.to_string() } else { format!("dr.{a}") });
    let sdk = hactl_aws::in_region(&s.sdk, to);
    if let Some(g) = state.resources.get(&Address::parse("db_global_cluster.main")?) {
        let cluster = at("db_cluster.main")?;
        let Some(arn) = state.output(&cluster, "arn").and_then(|v| v.as_str().map(String::from)) else {
            bail!(
                "stack `{}` records no DocumentDB cluster `{cluster}` in {to}; run `hactl apply` first",
                state.stack
            );
        };
        let ctx = s.ctx.for_address(&cluster);
        let outcome = hactl_aws::docdb::switchover::promote_secondary(
            &sdk,
            &rc.counter,
            &ctx,
            &g.id,
            &arn,
            allow_data_loss,
        )
        .await
        .with_context(|| format!("making {cluster} the writer of global cluster {}", g.id))?;
        let how = match (outcome.writer_arn == outcome.previous_writer_arn, allow_data_loss) {
            (true, _) => "already the writer",
            (false, true) => "failed over",
            (false, false) => "switched over",
        };
        return Ok(Some(format!("make the DocumentDB cluster in {to} the writer ({how})")));
    }
    let instance = at("db_instance.main")?;
    let replica = Address::parse("dr.db_instance.main")?;
    let Some(r) = state.resources.get(&instance).filter(|_| state.resources.contains_key(&replica)) else {
        return Ok(None);
    };
    let ctx = s.ctx.for_address(&instance);
    let backups = (
        r.props.get("backup_retention_period").and_then(hactl_core::Value::as_int),
        r.props.get("preferred_backup_window").and_then(hactl_core::Value::as_str).map(String::from),
    );
    let promoted = hactl_aws::rds::promote::promote_replica(&sdk, &rc.counter, &ctx, &r.id, backups)
        .await
        .with_context(|| format!("promoting {instance}"))?;
    let how = if promoted { "promoted" } else { "already standalone" };
    Ok(Some(format!("make the PostgreSQL instance in {to} the writer ({how})")))
}

/// Before anything changes: a PostgreSQL instance can take over only while it is a read
/// replica of the writer. After a failover the old primary is standalone (its data stops
/// where the replica was promoted), so failing back to it would lose what was written
/// since; it must be made a replica of the new writer first.
async fn check_database(rc: &RunContext, s: &Session, state: &State, to: &str, was: &str) -> Result<()> {
    let home = to == s.config().stack.region;
    let target = if home { "db_instance.main" } else { "dr.db_instance.main" };
    let both = ["db_instance.main", "dr.db_instance.main"]
        .iter()
        .all(|a| Address::parse(a).is_ok_and(|a| state.resources.contains_key(&a)));
    if to == was || !both || state.resources.keys().any(|a| a.as_str() == "db_global_cluster.main") {
        return Ok(());
    }
    let id = &state.resources[&Address::parse(target)?].id;
    let sdk = hactl_aws::in_region(&s.sdk, to);
    if hactl_aws::rds::promote::replica_source(&sdk, &rc.counter, id).await?.is_none() {
        bail!(
            "refusing to fail over to {to}: its PostgreSQL instance `{id}` is no longer a read replica (it was the \
             writer before the failover to {was}), so it lacks what was written in {was} since; nothing was changed\n\
             hint: delete it in {to} (turn its deletion protection off first); `hactl apply` then re-creates it as a \
             replica of {was}'s instance; fail over once it has caught up"
        );
    }
    Ok(())
}

/// `hactl failover --to-region REGION`: the stack's traffic moves to `to` (its [dr]
/// region, or back to its own). State records the active region first (a failover cut
/// short converges when run again, or with the next apply); then the new region's
/// services scale to their full counts, its DNS record becomes the primary one, and the
/// region given up stands by. Each step is printed with its time; they add up to the total.
pub async fn to_region(
    rc: &RunContext,
    to: &str,
    parallelism: usize,
    allow_data_loss: bool,
) -> Result<ExitStatus> {
    let s = session(rc).await?;
    let cfg = s.config();
    let home = cfg.stack.region.clone();
    let Some(dr) = cfg.dr.as_ref().map(|d| d.region.clone()) else {
        bail!(
            "stack `{}` has one region ({home}): failing over between regions needs a [dr] section\n\
             hint: add [dr] with its region and [dr.network] (see config/multi-region.toml)",
            cfg.stack.name
        );
    };
    if to != home && to != dr {
        bail!(
            "`{to}` is not a region of stack `{}`\nhint: use --to-region {dr} or --to-region {home}",
            cfg.stack.name
        );
    }
    let from = if to == home { dr.clone() } else { home.clone() };
    let run = RunFlags {
        auto_approve: true,
        parallelism,
        allow_delete_protected: false,
        skip_final_snapshot: false,
        force_delete_secrets: false,
    };
    s.locked("failover", async {
        let mut state = s.load_state().await?;
        if state.resources.is_empty() {
            bail!(
                "stack `{}` has nothing applied ({}): there is no traffic to move\nhint: run `hactl apply` first",
                cfg.stack.name,
                s.store
            );
        }
        let was = state.active_region.clone().unwrap_or_else(|| home.clone());
        check_database(rc, &s, &state, to, &was).await?;
        outln!("Failover of stack `{}` to {to} (traffic was served from {was}):", cfg.stack.name)?;
        let mut clock = StepClock::default();

        // The database first: the active region is recorded only once its database
        // writes (a failover cut short before leaves the stack as it was; after, running
        // it again finishes it: each step is a no-op once done).
        let t = Instant::now();
        if let Some(title) = promote_database(rc, &s, &state, to, allow_data_loss).await? {
            clock.done(&title, t)?;
        }

        let t = Instant::now();
        record_active(&s, &mut state, to).await?;
        clock.done(&format!("record {to} as the active region (state serial {})", state.serial), t)?;

        let t = Instant::now();
        let plan = s.plan(&mut state, PlanMode::Apply).await?;
        clock.done(&format!("read both regions ({} changes to make)", plan.actions.len()), t)?;

        let steps = [
            RegionStep {
                title: format!("scale the services in {to} up"),
                best_effort: false,
                takes: services_at(to),
            },
            RegionStep {
                title: format!("point the PRIMARY DNS record at {to}"),
                best_effort: false,
                takes: Box::new(|a: &PlannedAction| {
                    a.kind == "route53.record" && a.action == ActionType::Update
                }),
            },
            RegionStep { title: format!("stand {from} by"), best_effort: true, takes: services_at(&from) },
        ];
        let mut left: Vec<PlannedAction> = plan.actions.clone();
        for st in steps {
            let t = Instant::now();
            let (mine, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|a| (st.takes)(a));
            left = rest;
            let n = mine.len();
            if n > 0 {
                let sub = Plan { actions: mine, state_serial: state.serial, ..plan.clone() };
                state = run_step(&s, &sub, state, &run, &st, to).await?;
            }
            clock.done(&format!("{} ({n} change{})", st.title, if n == 1 { "" } else { "s" }), t)?;
        }
        let total = clock.total;
        outln!(
            "{} {to} serves traffic, after {}.{:03}s (the steps above).",
            s.sink.style.green("Failover complete:"),
            total / 1000,
            total % 1000
        )?;
        notes(&s, &left);
        Ok(ExitStatus::Success)
    })
    .await
}

/// The steps' times, in whole milliseconds printed as they are summed: the steps add up
/// to the total.
#[derive(Default)]
struct StepClock {
    steps: usize,
    total: u128,
}

impl StepClock {
    fn done(&mut self, title: &str, started: Instant) -> Result<()> {
        let ms = started.elapsed().as_millis();
        self.steps += 1;
        self.total += ms;
        outln!("  {}. {title:<68} {:>5}.{:03}s", self.steps, ms / 1000, ms % 1000)
    }
}

/// `to` becomes the active region in state, and the recorded order between the regions'
/// databases follows the new roles (the standby region's cluster after the writer's
/// instances), so a destroy from here on removes the standby first.
async fn record_active(s: &Session, state: &mut State, to: &str) -> Result<()> {
    state.active_region = (to != s.config().stack.region).then(|| to.to_string());
    s.set_active(Some(to))?;
    let desired = s.desired()?;
    for (address, r) in state.resources.iter_mut() {
        if desired.get(address).is_some() {
            r.depends_on = desired.dependencies(address);
        }
    }
    Ok(s.store.save(state).await?)
}

/// Runs one step's actions; a failed step stops the failover unless it is best effort
/// (the region given up may be down).
async fn run_step(
    s: &Session,
    sub: &Plan,
    state: State,
    run: &RunFlags,
    st: &RegionStep,
    to: &str,
) -> Result<State> {
    let report = s.execute(sub, state, run).await?;
    if !report.ok() {
        summarize(&s.sink.style, &report, &st.title);
        if !st.best_effort {
            bail!("failover to {to} stopped at: {}; run the command again to finish", st.title);
        }
        errln!(
            "{} the region given up did not stand by; the next apply finishes it",
            s.sink.style.yellow("Note:")
        );
    }
    Ok(report.state)
}

/// What the failover left as it was.
fn notes(s: &Session, left: &[PlannedAction]) {
    if !left.is_empty() {
        let names: Vec<&str> = left.iter().map(|a| a.address.as_str()).collect();
        errln!(
            "{} {} other change(s) are pending and were not made: {}\nhint: review them with `hactl plan`",
            s.sink.style.yellow("Note:"),
            left.len(),
            names.join(", ")
        );
    }
}
