//! A session with AWS for the commands that need one (plan, apply, destroy, drift,
//! failover): config, account, state store and providers; the stack lock around a
//! command; loading state; planning; running a plan.

use crate::cli::RunFlags;
use crate::context::RunContext;
use crate::fault::{fault_before_call, fault_before_journal};
use crate::render::{self, StderrSink, Style};
use crate::signal::{Interrupt, Mode};
use anyhow::{bail, Context, Result};
use hactl_config::StateBackend;
use hactl_core::plan::PlanMode;
use hactl_core::{Address, DesiredGraph, Plan, Targeting};
use hactl_engine::{apply, make_plan_with, refresh, ApplyOptions, ApplyReport, Ctx, RefreshScope, Registry};
use hactl_state::{LockGuard, State, StateStore};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The desired graph of a session and the region it was expanded for.
struct Desired {
    graph: Option<Arc<DesiredGraph>>,
    active: Option<String>,
}

/// Everything a command that talks to AWS needs.
pub struct Session {
    pub region: String,
    /// The account of this run's credentials (STS GetCallerIdentity).
    pub account_id: String,
    /// The endpoint URL this run talks to (--endpoint-url or AWS_ENDPOINT_URL); none for AWS.
    pub endpoint: Option<String>,
    pub retry_timeout: Duration,
    pub sdk: hactl_aws::SdkConfig,
    /// The desired graph for the active region state records (see [`Session::load_state`]),
    /// with that region; the graph is none once forgotten ([`Session::forget_desired`]).
    desired: std::sync::Mutex<Desired>,
    cfg: hactl_config::StackConfig,
    account: hactl_config::expand::AccountId,
    pub store: StateStore,
    pub registry: Registry,
    pub ctx: Ctx,
    pub sink: Arc<StderrSink>,
    pub stdout_style: Style,
    /// The run's signal token: the held lock and the apply phase are recorded on it.
    interrupt: Interrupt,
}

/// Opens a session: the config, the account (refused when not allowed), the state store.
pub async fn session(rc: &RunContext) -> Result<Session> {
    let (g, counter) = (&rc.g, &rc.counter);
    let (cfg, _) = rc.load_config()?;
    let region = rc.target_region(&cfg)?;
    let conn = hactl_aws::Connection {
        region: Some(region.clone()),
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        retry_deadline: Duration::from_secs(g.retry_timeout),
    };
    let sdk = hactl_aws::sdk_config(&conn).await;
    // The account (trust policy conditions, scoped ARNs): one STS call per run.
    let account = hactl_aws::sts::account_id(&sdk, counter).await.context("reading the AWS account")?;
    let allowed = &cfg.stack.allowed_account_ids;
    if !allowed.is_empty() && !allowed.contains(&account) {
        bail!(
            "refusing to run: these credentials belong to account {account}, which is not in \
             stack.allowed_account_ids of {} ({}); nothing was changed\n\
             hint: use credentials (or --profile) of an allowed account, or add {account} to the list",
            g.config.display(),
            allowed.join(", ")
        );
    }
    let account_id = account.clone();
    let account = hactl_config::expand::AccountId::parse(&account)
        .with_context(|| format!("`{account}` is not an AWS account id"))?;
    let desired =
        expand_env(&cfg, &account, None).with_context(|| format!("expanding {}", g.config.display()))?;
    let registry = hactl_aws::providers(&sdk, counter);
    let store = state_store(&cfg, rc, &sdk);
    let err_style = Style::detect(g.no_color, render::is_stderr_terminal());
    let sink = Arc::new(StderrSink::new(err_style, !g.no_progress, g.verbose > 0));
    let ctx = Ctx::new(&cfg.stack.name, sink.clone());
    Ok(Session {
        region,
        account_id,
        endpoint: sdk.endpoint_url().map(|e| e.trim_end_matches('/').to_string()),
        retry_timeout: Duration::from_secs(g.retry_timeout),
        sdk,
        desired: std::sync::Mutex::new(Desired { graph: Some(Arc::new(desired)), active: None }),
        cfg,
        account,
        store,
        registry,
        ctx,
        sink,
        stdout_style: Style::detect(g.no_color, render::is_stdout_terminal()),
        interrupt: rc.interrupt.clone(),
    })
}

/// The desired graph of `cfg` for `account`, `active` serving traffic (none: the stack's
/// region).
fn expand_env(
    cfg: &hactl_config::StackConfig,
    account: &hactl_config::expand::AccountId,
    active: Option<&str>,
) -> Result<DesiredGraph> {
    let env = hactl_config::expand::ExpandEnv::account(account.clone())
        .with_active_region(active.map(String::from));
    Ok(hactl_config::expand::expand(cfg, &env)?)
}

/// The state store of `cfg`: files under --state-dir, or the S3 object of `[state]`
/// (its client from `sdk`, so --endpoint-url, --profile and AWS_ENDPOINT_URL apply; in
/// the bucket's region: `[state] region`, else the config's stack region).
fn state_store(cfg: &hactl_config::StackConfig, rc: &RunContext, sdk: &hactl_aws::SdkConfig) -> StateStore {
    match &cfg.state.backend {
        StateBackend::Local => StateStore::local(&rc.g.state_dir, &cfg.stack.name),
        StateBackend::S3 { bucket, key, region } => {
            let region = region.as_deref().unwrap_or(&cfg.stack.region);
            let conf = hactl_state::s3_config(sdk, Some(region))
                .interceptor(rc.counter.clone())
                .retry_partition(hactl_aws::retry_partition("aws_sdk_s3"))
                .retry_classifier(hactl_aws::RefusedIsFinal)
                .build();
            StateStore::s3(hactl_state::aws_sdk_s3::Client::from_conf(conf), bucket, key, &cfg.stack.name)
        }
    }
}

/// The state store for commands that only touch state (`state`, `force-unlock`): the SDK
/// configuration is loaded only when state lives in S3.
pub async fn open_store(cfg: &hactl_config::StackConfig, rc: &RunContext) -> Result<StateStore> {
    let g = &rc.g;
    let region = rc.target_region(cfg)?;
    if matches!(cfg.state.backend, StateBackend::Local) {
        return Ok(StateStore::local(&g.state_dir, &cfg.stack.name));
    }
    let conn = hactl_aws::Connection {
        region: Some(region),
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        retry_deadline: Duration::from_secs(g.retry_timeout),
    };
    let sdk = hactl_aws::sdk_config(&conn).await;
    Ok(state_store(cfg, rc, &sdk))
}

/// How long a command waits for a drift run's lock before failing.
const DRIFT_WAIT: Duration = Duration::from_secs(120);

impl Session {
    /// Takes the stack's lock. A lock held by a drift run or a plan (seconds long; the
    /// scheduled drift job runs every few minutes, a CI pipeline plans every pull request)
    /// is waited for, up to [`DRIFT_WAIT`], instead of failing an apply that happens to
    /// overlap it.
    async fn lock(&self, op: &str) -> Result<LockGuard> {
        let started = Instant::now();
        let mut said = false;
        let (guard, took_over) = loop {
            match self.store.lock(op).await {
                Err(hactl_state::StateError::Locked { holder, .. })
                    if matches!(holder.operation.as_str(), "drift" | "plan")
                        && started.elapsed() < DRIFT_WAIT =>
                {
                    if !said {
                        errln!(
                            "waiting for the {} run that holds the lock of stack `{}` ({holder})",
                            holder.operation,
                            self.store.stack()
                        );
                        said = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                other => break other?,
            }
        };
        if let Some(t) = took_over {
            let why = if t.0.is_expired_drift_lock() {
                format!("a drift run's lock older than {} min", hactl_state::DRIFT_LOCK_LEASE_SECS / 60)
            } else {
                "its process is gone".to_string()
            };
            errln!(
                "{} took over a stale lock of stack `{}` left by {} ({why})",
                self.sink.style.yellow("warning:"),
                self.store.stack(),
                t.0
            );
        }
        Ok(guard)
    }

    /// Runs `body` with the stack locked for `op`; the lock is released whatever `body`
    /// returns, and by an interrupt (see [`crate::signal`]).
    pub async fn locked<T>(&self, op: &str, body: impl Future<Output = Result<T>>) -> Result<T> {
        self.interrupt.listen();
        let guard = self.lock(op).await?;
        self.interrupt.hold(Some(guard.handle()));
        let result = body.await;
        self.interrupt.hold(None);
        let released = guard.release().await;
        match (result, released) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!(
                "releasing the lock of stack `{}` ({})",
                self.store.stack(),
                self.store
            ))),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(re)) => {
                errln!(
                    "{} could not release the lock of stack `{}`: {re}",
                    self.sink.style.yellow("warning:"),
                    self.store.stack()
                );
                Err(e)
            }
        }
    }

    /// Loads state, refusing one written for another region (a `--region` typo would
    /// otherwise see every resource as deleted, or destroy nothing and forget it all).
    pub async fn load_state(&self) -> Result<State> {
        let mut state = self.store.load().await?;
        if state.region.is_empty() {
            state.region = self.region.clone();
        } else if state.region != self.region {
            bail!(
                "the state of stack `{}` belongs to region {}, but this run targets {} \
                 (the config's stack.region)",
                state.stack,
                state.region,
                self.region
            );
        }
        // The account and endpoint are recorded together (state written before they were
        // recorded gets both now, saved with its next write).
        match &state.account_id {
            None => {
                state.account_id = Some(self.account_id.clone());
                state.endpoint = self.endpoint.clone();
            }
            Some(recorded) if *recorded != self.account_id => bail!(
                "refusing to run: the state of stack `{}` belongs to AWS account {recorded}, but these \
                 credentials are for account {}; nothing was changed\n\
                 hint: use the credentials (or --profile) of account {recorded}",
                state.stack,
                self.account_id
            ),
            Some(_) if state.endpoint != self.endpoint => {
                let show =
                    |e: &Option<String>| e.clone().unwrap_or_else(|| "AWS itself (no endpoint URL)".into());
                bail!(
                    "refusing to run: the state of stack `{}` was made through {}, but this run talks to {}; \
                     nothing was changed\n\
                     hint: set the same --endpoint-url / AWS_ENDPOINT_URL (an emulator's state never applies to AWS)",
                    state.stack,
                    show(&state.endpoint),
                    show(&self.endpoint)
                )
            }
            Some(_) => {}
        }
        if let Some(active) = &state.active_region {
            let dr = self.cfg.dr.as_ref().map(|d| d.region.as_str());
            if dr != Some(active.as_str()) && *active != self.cfg.stack.region {
                bail!(
                    "the state of stack `{}` says region {active} serves traffic (after `hactl failover`), \
                     but the config has no [dr] region {active}\n\
                     hint: restore the [dr] section (then `hactl failover --to-region {}` before removing it)",
                    state.stack,
                    self.cfg.stack.region
                );
            }
        }
        self.set_active(state.active_region.as_deref())?;
        Ok(state)
    }

    /// The stack config of this run.
    pub fn config(&self) -> &hactl_config::StackConfig {
        &self.cfg
    }

    /// The desired graph: the config expanded for the active region of the loaded state
    /// (expanded again when it was forgotten).
    pub fn desired(&self) -> Result<Arc<DesiredGraph>> {
        let mut d = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = &d.graph {
            return Ok(g.clone());
        }
        let graph = Arc::new(expand_env(&self.cfg, &self.account, d.active.as_deref())?);
        d.graph = Some(graph.clone());
        Ok(graph)
    }

    /// Lets the desired graph go until [`Session::desired`] is called again: for apply
    /// and destroy once they hold their plan, whose actions carry their own specs, so a
    /// large stack's graph is not kept twice through the apply.
    pub fn forget_desired(&self) {
        self.desired.lock().unwrap_or_else(|p| p.into_inner()).graph = None;
    }

    /// Saves what a plan learned about state (a format upgrade, values AWS already has).
    /// A caller that may not write the state object (a read-only role, such as `[ci]`'s
    /// plan role) plans from the corrected copy in memory instead: `false`, one note line;
    /// the next apply records it.
    async fn save_if_allowed(&self, state: &mut State) -> Result<bool> {
        match self.store.save(state).await {
            Ok(()) => Ok(true),
            Err(hactl_state::StateError::AccessDenied { message, .. }) => {
                errln!(
                    "{} state not updated: this caller may not write it ({message}); the plan uses the corrected copy, and the next apply records it",
                    self.sink.style.yellow("Note:")
                );
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Expands the config again with `active` serving traffic (none: the stack's region).
    pub fn set_active(&self, active: Option<&str>) -> Result<()> {
        let graph = expand_env(&self.cfg, &self.account, active)?;
        let active = active.map(str::to_string);
        *self.desired.lock().unwrap_or_else(|p| p.into_inner()) =
            Desired { graph: Some(Arc::new(graph)), active };
        Ok(())
    }

    /// Refreshes and plans. Planning an apply first records in state what AWS already
    /// has as configured while state holds older values (a change whose journal entry was
    /// lost): no AWS call, state saved, one note line on stderr.
    pub async fn plan(&self, state: &mut State, mode: PlanMode) -> Result<Plan> {
        self.plan_targeted(state, mode, &Targeting::default()).await
    }

    /// [`Session::plan`] limited by `--target` / `--exclude` and replacing `--replace`'s
    /// addresses. A pattern that matches no address of the config or of state is refused
    /// before AWS is read.
    pub async fn plan_targeted(
        &self,
        state: &mut State,
        mode: PlanMode,
        targeting: &Targeting,
    ) -> Result<Plan> {
        let desired = self.desired()?;
        targeting
            .check(desired.topo_order().iter().chain(state.resources.keys()), desired.topo_order().iter())?;
        // A state written before locations (format 1) records them now: nothing moves,
        // the objects are where they always were.
        let placed = hactl_engine::place_state(&self.registry, state);
        if placed > 0 && self.save_if_allowed(state).await? {
            errln!(
                "{} state upgraded to format {}: recorded the location of {placed} resource{} (nothing changes in AWS)",
                self.sink.style.yellow("Note:"),
                hactl_state::STATE_FORMAT_VERSION,
                if placed == 1 { "" } else { "s" }
            );
        }
        let live = refresh(&self.registry, &self.ctx, &desired, state, RefreshScope::DesiredAndState).await?;
        if mode == PlanMode::Apply {
            let recorded = hactl_engine::catch_up(&self.registry, &desired, state, &live)?;
            if !recorded.is_empty() && self.save_if_allowed(state).await? {
                let names: Vec<&str> = recorded.iter().map(Address::as_str).collect();
                errln!(
                    "{} recorded in state: {} (AWS already matched the configuration; state had older values)",
                    self.sink.style.yellow("Note:"),
                    names.join(", ")
                );
            }
        }
        let mut plan = make_plan_with(&self.registry, &desired, state, &live, mode, targeting)?;
        match crate::cost::plan_cost(&plan, &desired, state, &self.region) {
            Ok(cost) => plan.cost = Some(cost),
            Err(e) => errln!("{} no cost estimate: {e}", self.sink.style.yellow("warning:")),
        }
        Ok(plan)
    }

    /// Runs `plan` (apply or destroy); the first signal meanwhile cancels it.
    pub async fn execute(&self, plan: &Plan, state: State, run: &RunFlags) -> Result<ApplyReport> {
        let mut ctx = self.ctx.clone();
        ctx.delete_options = run.delete_options();
        let opts = ApplyOptions {
            parallelism: run.parallelism,
            retry_timeout: self.retry_timeout,
            cancel: self.interrupt.cancel_flag(),
            before_journal: fault_before_journal()?,
            before_call: fault_before_call()?,
        };
        self.interrupt.listen();
        self.interrupt.set_mode(Mode::Cancel);
        let report = apply(&self.registry, &ctx, plan, &self.store, state, &opts).await;
        self.interrupt.set_mode(Mode::Quit);
        Ok(report?)
    }
}
