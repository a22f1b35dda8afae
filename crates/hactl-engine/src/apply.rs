//! Apply: walk a plan's execution DAG with bounded parallelism. After every finished
//! step the result is journaled into state: saves one at a time (an atomic file write, or
//! a conditional S3 write), steps finishing together sharing one (group commit, see
//! `Shared::journal`); a step is done once a save holds its result. A failed step skips its dependents;
//! independent branches go on. A cancel (Ctrl-C) starts nothing new and lets in-flight
//! steps finish.

use crate::events::Event;
use crate::provider::{Applied, Ctx, ProviderError, Registry, UpdateRequest};
use crate::EngineError;
use hactl_core::exec::{execution_graph, Phase, Step};
use hactl_core::plan::{PlanMode, PLAN_FORMAT_VERSION};
use hactl_core::{ActionType, Address, Plan, PlannedAction, PropChange, Props, Ref, Value};
use hactl_state::{ResourceState, State, StateStore};
use petgraph::graph::NodeIndex;
use petgraph::visit::Dfs;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Set from a signal handler: stop starting new steps.
#[derive(Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Called after a step's AWS calls finished and before its result is journaled: the
/// window a crash test aims at. Fault injection only; `None` in normal runs.
pub type BeforeJournal = Arc<dyn Fn(&Address, Phase) + Send + Sync>;

/// Called before each attempt of a step's AWS calls; an `Err` fails the step with that
/// message, as a provider error would. Fault injection only; `None` in normal runs.
pub type BeforeCall = Arc<dyn Fn(&Address, Phase) -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    /// How long a step keeps retrying retryable errors (DependencyViolation, ...).
    pub retry_timeout: Duration,
    pub cancel: CancelFlag,
    pub before_journal: Option<BeforeJournal>,
    pub before_call: Option<BeforeCall>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            retry_timeout: Duration::from_secs(300),
            cancel: CancelFlag::default(),
            before_journal: None,
            before_call: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct StepFailure {
    pub address: Address,
    pub phase: Phase,
    pub error: String,
}

#[derive(Debug)]
pub struct ApplyReport {
    pub succeeded: Vec<(Address, Phase)>,
    pub failed: Vec<StepFailure>,
    /// Steps not run because something they depend on failed.
    pub skipped: Vec<Address>,
    /// Steps not started because of a cancel.
    pub not_started: Vec<Address>,
    pub cancelled: bool,
    pub state: State,
    pub elapsed: Duration,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && !self.cancelled && self.skipped.is_empty()
    }
}

/// Refuses a saved plan that does not fit the current state.
pub fn check_plan(plan: &Plan, state: &State) -> Result<(), EngineError> {
    if plan.format_version != PLAN_FORMAT_VERSION {
        return Err(EngineError::PlanVersion(plan.format_version, PLAN_FORMAT_VERSION));
    }
    if plan.stack != state.stack {
        return Err(EngineError::WrongStack { plan: plan.stack.clone(), config: state.stack.clone() });
    }
    if plan.state_serial != state.serial || plan.state_lineage != state.lineage {
        return Err(EngineError::StalePlan {
            plan_serial: plan.state_serial,
            plan_lineage: plan.state_lineage.clone(),
            state_serial: state.serial,
            state_lineage: state.lineage.clone(),
        });
    }
    Ok(())
}

struct Shared {
    state: Mutex<State>,
    /// Changes applied to `state` so far (counted under the `state` lock).
    changes: AtomicU64,
    store: StateStore,
    /// The changes the last successful save covered. Held through a save, so saves go one
    /// at a time and in the order of their serials.
    journal: tokio::sync::Mutex<u64>,
    before_journal: Option<BeforeJournal>,
    /// Set when a save failed: nothing new starts, since its change could not be
    /// recorded either (with S3, a conflicting writer makes every later save fail too).
    halted: AtomicBool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A step that panicked while holding the lock left a consistent state behind
        // (every write is a whole-entry insert or remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lookup(&self, r: &Ref) -> Option<Value> {
        self.state().output(&r.address, &r.output)
    }

    /// Applies `f` to state and returns once a save holding the change has succeeded.
    ///
    /// Group commit: a step whose change was made while another save was being written
    /// waits for that save, then saves every change made meanwhile in one write, so steps
    /// finishing together share a save (a 1,000-resource apply wrote its whole state once
    /// per resource). A step never returns before its change is on disk (or in S3).
    async fn journal(&self, ctx: &Ctx, f: impl FnOnce(&mut State)) -> Result<(), ProviderError> {
        if let (Some(hook), Some(addr)) = (&self.before_journal, &ctx.address) {
            hook(addr, ctx.phase.unwrap_or(Phase::Record));
        }
        let mine = {
            let mut st = self.state();
            f(&mut st);
            self.changes.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut saved = self.journal.lock().await;
        if *saved >= mine {
            // The save written while this step waited held its change.
            return Ok(());
        }
        // Encoded under the state lock (no copy of the state), written after it is
        // released (the store is async); only the holder of `saved` changes serial and
        // lineage.
        let (next, covers) = {
            let mut st = self.state();
            (self.store.prepare(&mut st), self.changes.load(Ordering::SeqCst))
        };
        let written = match next {
            Ok(next) => self.store.write(next).await,
            Err(e) => Err(e),
        };
        let (serial, lineage) = match written {
            Ok(saved) => saved,
            Err(e) => {
                self.halted.store(true, Ordering::SeqCst);
                return Err(ProviderError::fatal(format!("saving state: {e} (nothing new is started)")));
            }
        };
        *saved = covers;
        {
            let mut st = self.state();
            st.serial = serial;
            st.lineage = lineage;
        }
        ctx.events().emit(Event::StateSaved { serial });
        Ok(())
    }
}

pub async fn apply(
    registry: &Registry,
    ctx: &Ctx,
    plan: &Plan,
    store: &StateStore,
    state: State,
    opts: &ApplyOptions,
) -> Result<ApplyReport, EngineError> {
    check_plan(plan, &state)?;
    if !plan.protected.is_empty() && !ctx.delete_options.allow_delete_protected {
        return Err(EngineError::Protected(plan.protected.clone()));
    }
    // Destroy leaves foreign objects in place (they are not in the plan's actions); an
    // apply would create over them, so it does not start.
    if plan.mode == PlanMode::Apply && !plan.conflicts.is_empty() {
        return Err(EngineError::Conflicts(plan.conflicts.clone()));
    }
    for a in &plan.actions {
        registry.at(&a.kind, &registry.place(&a.kind, Some(&a.location)))?;
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        changes: AtomicU64::new(0),
        store: store.clone(),
        journal: tokio::sync::Mutex::new(0),
        before_journal: opts.before_journal.clone(),
        halted: AtomicBool::new(false),
    });
    let mut walk = Walk::new(plan, execution_graph(plan)?);
    let mut interrupted_reported = false;
    loop {
        if opts.cancel.is_cancelled() && !interrupted_reported {
            interrupted_reported = true;
            ctx.events().emit(Event::Interrupted { in_flight: walk.running.len() });
        }
        walk.start_ready(registry, ctx, &shared, opts)?;
        let Some(joined) = walk.running.join_next_with_id().await else { break };
        let (n, result) = match joined {
            Ok((_, v)) => v,
            Err(e) => match walk.task_nodes.get(&e.id()) {
                Some(&n) => (n, Err(ProviderError::fatal(format!("step panicked: {e}")))),
                None => continue,
            },
        };
        match result {
            Ok(()) => walk.succeeded(n),
            Err(e) => walk.failed(ctx, n, &e),
        }
    }
    let halted = shared.halted.load(Ordering::SeqCst);
    let mut report = walk.into_report(opts.cancel.is_cancelled(), halted);
    report.elapsed = started.elapsed();
    report.state = shared.state().clone();
    Ok(report)
}

type StepResult = (NodeIndex, Result<(), ProviderError>);

/// The walk of a plan's execution graph: which steps are ready, running, done or dead
/// (depend on a failed step), and what the report says so far.
struct Walk<'p> {
    plan: &'p Plan,
    g: petgraph::graph::DiGraph<Step, ()>,
    /// Steps each step still waits for.
    indeg: BTreeMap<NodeIndex, usize>,
    /// Ready steps, the next one last (depth first, ties by address).
    ready: Vec<NodeIndex>,
    done: BTreeSet<NodeIndex>,
    dead: BTreeSet<NodeIndex>,
    running: JoinSet<StepResult>,
    task_nodes: std::collections::HashMap<tokio::task::Id, NodeIndex>,
    report: ApplyReport,
}

impl<'p> Walk<'p> {
    fn new(plan: &'p Plan, g: petgraph::graph::DiGraph<Step, ()>) -> Self {
        let indeg: BTreeMap<NodeIndex, usize> =
            g.node_indices().map(|n| (n, g.neighbors_directed(n, petgraph::Incoming).count())).collect();
        let mut ready: Vec<NodeIndex> = indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
        ready.sort_by_key(|n| std::cmp::Reverse(plan.actions[g[*n].action].address.clone()));
        let report = ApplyReport {
            succeeded: vec![],
            failed: vec![],
            skipped: vec![],
            not_started: vec![],
            cancelled: false,
            state: State::new(&plan.stack),
            elapsed: Duration::ZERO,
        };
        Walk {
            plan,
            g,
            indeg,
            ready,
            done: BTreeSet::new(),
            dead: BTreeSet::new(),
            running: JoinSet::new(),
            task_nodes: Default::default(),
            report,
        }
    }

    fn address(&self, n: NodeIndex) -> Address {
        self.plan.actions[self.g[n].action].address.clone()
    }

    /// Starts ready steps up to the parallelism, unless cancelled or halted.
    fn start_ready(
        &mut self,
        registry: &Registry,
        ctx: &Ctx,
        shared: &Arc<Shared>,
        opts: &ApplyOptions,
    ) -> Result<(), EngineError> {
        while !opts.cancel.is_cancelled()
            && !shared.halted.load(Ordering::SeqCst)
            && self.running.len() < opts.parallelism.max(1)
        {
            let Some(n) = self.ready.pop() else { break };
            let step = self.g[n];
            let mut action = self.plan.actions[step.action].clone();
            // A saved plan is a file: a global kind is global whatever it says.
            action.location = registry.place(&action.kind, Some(&action.location));
            let provider = registry.at(&action.kind, &action.location)?;
            let shared = shared.clone();
            let mut sctx = ctx.at(&action.location).for_address(&action.address);
            sctx.phase = Some(step.phase);
            let retry_timeout = opts.retry_timeout;
            let cancel = opts.cancel.clone();
            let before_call = opts.before_call.clone();
            ctx.events().emit(Event::StepStarted { address: action.address.clone(), phase: step.phase });
            let handle = self.running.spawn(async move {
                let r = match before_call.as_ref().map(|hook| hook(&action.address, step.phase)) {
                    Some(Err(msg)) => Err(ProviderError::fatal(format!("injected fault: {msg}"))),
                    _ => {
                        run_step(provider.as_ref(), &sctx, &shared, &action, step, retry_timeout, &cancel)
                            .await
                    }
                };
                (n, r)
            });
            self.task_nodes.insert(handle.id(), n);
        }
        Ok(())
    }

    /// A step finished: the steps waiting only for it become ready (at the front: depth
    /// first).
    fn succeeded(&mut self, n: NodeIndex) {
        self.done.insert(n);
        self.report.succeeded.push((self.address(n), self.g[n].phase));
        let mut next: Vec<NodeIndex> = Vec::new();
        for m in self.g.neighbors_directed(n, petgraph::Outgoing) {
            if let Some(d) = self.indeg.get_mut(&m) {
                *d -= 1;
                if *d == 0 && !self.dead.contains(&m) {
                    next.push(m);
                }
            }
        }
        next.sort_by_key(|m| std::cmp::Reverse(self.address(*m)));
        self.ready.extend(next);
    }

    /// A step failed: everything that depends on it is skipped.
    fn failed(&mut self, ctx: &Ctx, n: NodeIndex, e: &ProviderError) {
        let (address, phase) = (self.address(n), self.g[n].phase);
        ctx.events().emit(Event::StepFailed { address: address.clone(), phase, error: e.to_string() });
        self.report.failed.push(StepFailure { address: address.clone(), phase, error: e.to_string() });
        let mut dfs = Dfs::new(&self.g, n);
        while let Some(m) = dfs.next(&self.g) {
            if m != n && self.dead.insert(m) {
                let skipped = self.address(m);
                ctx.events().emit(Event::StepSkipped { address: skipped.clone(), because: address.clone() });
                self.report.skipped.push(skipped);
            }
        }
        let dead = &self.dead;
        self.ready.retain(|m| !dead.contains(m));
    }

    /// The report once nothing runs any more.
    fn into_report(mut self, cancelled: bool, halted: bool) -> ApplyReport {
        if cancelled || halted {
            let not_started: Vec<Address> = self
                .g
                .node_indices()
                .filter(|n| {
                    !self.done.contains(n)
                        && !self.dead.contains(n)
                        && !self.report.failed.iter().any(|f| f.address == self.address(*n))
                })
                .map(|n| self.address(n))
                .collect();
            self.report.not_started = not_started;
            // A cancel that came after the last step finished changed nothing.
            self.report.cancelled =
                cancelled && (!self.report.not_started.is_empty() || !self.report.failed.is_empty());
        }
        // A replacement whose delete failed skips its own create: report it as failed only.
        let failed = &self.report.failed;
        self.report.skipped.retain(|a| !failed.iter().any(|f| &f.address == a));
        self.report
    }
}

async fn run_step(
    provider: &dyn crate::provider::Provider,
    ctx: &Ctx,
    shared: &Shared,
    action: &PlannedAction,
    step: Step,
    retry_timeout: Duration,
    cancel: &CancelFlag,
) -> Result<(), ProviderError> {
    let t0 = Instant::now();
    let mut attempt = 0u32;
    let mut wait = Duration::from_secs(1);
    let id = loop {
        attempt += 1;
        // A create that failed after its object came into being (a follow-up call
        // failed, or the answer was lost) must not create a second one: look for the
        // object first and converge it instead.
        let result = if step.phase == Phase::Create && attempt > 1 {
            match converge_existing(provider, ctx, shared, action).await {
                Ok(Some(id)) => Ok(Some(id)),
                Ok(None) => run_once(provider, ctx, shared, action, step.phase).await,
                Err(e) => Err(e),
            }
        } else {
            run_once(provider, ctx, shared, action, step.phase).await
        };
        match result {
            Ok(id) => break id,
            Err(e) if e.is_retryable() && cancel.is_cancelled() => {
                return Err(ProviderError::fatal(format!("interrupted while retrying: {e}")));
            }
            Err(e) if e.is_retryable() && t0.elapsed() + wait < retry_timeout => {
                ctx.events().emit(Event::Retrying {
                    address: action.address.clone(),
                    error: e.to_string(),
                    attempt,
                    wait,
                });
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(15));
            }
            Err(e) => return Err(e),
        }
    };
    ctx.events().emit(Event::StepFinished {
        address: action.address.clone(),
        phase: step.phase,
        id,
        elapsed: t0.elapsed(),
    });
    Ok(())
}

/// Before retrying a create: reads the address (by its ownership tags or natural key);
/// when the object exists, updates what differs and journals it. `None` when absent.
async fn converge_existing(
    provider: &dyn crate::provider::Provider,
    ctx: &Ctx,
    shared: &Shared,
    action: &PlannedAction,
) -> Result<Option<String>, ProviderError> {
    let spec =
        action.desired.as_ref().ok_or_else(|| ProviderError::fatal("create without a desired spec"))?;
    let props = resolve(shared, &spec.props)?;
    let target = crate::provider::ReadTarget {
        address: action.address.clone(),
        id: None,
        props: props.clone(),
        recorded: None,
    };
    let found = provider.read(&ctx.with_fresh_cache(), std::slice::from_ref(&target)).await?;
    let Some(obj) = found.into_iter().find(|o| o.address.as_ref() == Some(&action.address)) else {
        return Ok(None);
    };
    // Someone else's object took the name since the plan: never converge it.
    if !obj.owned {
        return Err(ProviderError::fatal(format!(
            "{} exists as {} but does not carry this stack's ownership tags: not adopted; \
             import it, rename the stack, or delete it",
            action.address, obj.id
        )));
    }
    let changes = provider.diff(&props, &obj.props);
    if changes.iter().any(|c| c.forces_replacement) {
        return Err(ProviderError::fatal(format!(
            "{} exists as {} with properties that cannot be changed in place; run plan again",
            action.address, obj.id
        )));
    }
    let mut outputs = obj.outputs.clone();
    if !changes.is_empty() {
        let req = UpdateRequest { address: &action.address, id: &obj.id, desired: &props, changes: &changes };
        outputs.extend(provider.update(ctx, req).await?.outputs);
    }
    record(shared, ctx, action, &obj.id, props, outputs).await?;
    Ok(Some(obj.id))
}

/// Resolves references against state; a reference still unknown is an error.
fn resolve(shared: &Shared, props: &Props) -> Result<Props, ProviderError> {
    let resolved: Props = props.iter().map(|(k, v)| (k.clone(), v.resolve(&|r| shared.lookup(r)))).collect();
    if let Some((k, _)) = resolved.iter().find(|(_, v)| v.has_unknown()) {
        return Err(ProviderError::fatal(format!(
            "property `{k}` refers to a resource that does not exist yet"
        )));
    }
    Ok(resolved)
}

/// Journals the object of `action` into state.
async fn record(
    shared: &Shared,
    ctx: &Ctx,
    action: &PlannedAction,
    id: &str,
    props: Props,
    outputs: BTreeMap<String, Value>,
) -> Result<(), ProviderError> {
    let depends_on =
        action.desired.as_ref().map(|s| s.dependencies().into_iter().collect()).unwrap_or_default();
    shared
        .journal(ctx, |st| {
            st.resources.insert(
                action.address.clone(),
                ResourceState {
                    kind: action.kind.clone(),
                    location: Some(action.location.clone()),
                    id: id.to_string(),
                    props,
                    outputs,
                    depends_on,
                },
            );
        })
        .await
}

/// One attempt of a step; journals its result. Returns the object's id, if any.
async fn run_once(
    provider: &dyn crate::provider::Provider,
    ctx: &Ctx,
    shared: &Shared,
    action: &PlannedAction,
    phase: Phase,
) -> Result<Option<String>, ProviderError> {
    let addr = &action.address;
    let resolve = |props: &Props| resolve(shared, props);
    match phase {
        Phase::Create => {
            let spec = action
                .desired
                .as_ref()
                .ok_or_else(|| ProviderError::fatal("create without a desired spec"))?;
            let props = resolve(&spec.props)?;
            let mut cctx = ctx.clone();
            cctx.generation = shared.state().resources.get(addr).map(|r| r.id.clone());
            let Applied { id, outputs } = provider.create(&cctx, addr, &props).await?;
            record(shared, ctx, action, &id, props, outputs).await?;
            Ok(Some(id))
        }
        Phase::Update => {
            let spec = action
                .desired
                .as_ref()
                .ok_or_else(|| ProviderError::fatal("update without a desired spec"))?;
            let id = action.id.clone().ok_or_else(|| ProviderError::fatal("update without a live id"))?;
            let props = resolve(&spec.props)?;
            let changes: Vec<PropChange> = action
                .changes
                .iter()
                .map(|c| PropChange { after: props.get(&c.name).cloned(), ..c.clone() })
                .filter(|c| c.after != c.before)
                .collect();
            let applied = provider
                .update(ctx, UpdateRequest { address: addr, id: &id, desired: &props, changes: &changes })
                .await?;
            // Freshest last: recorded, then read at plan time, then returned by the update.
            let mut outputs =
                shared.state().resources.get(addr).map(|r| r.outputs.clone()).unwrap_or_default();
            outputs.extend(action.live_outputs.clone());
            outputs.extend(applied.outputs);
            let new_id = if applied.id.is_empty() { id } else { applied.id };
            record(shared, ctx, action, &new_id, props, outputs).await?;
            Ok(Some(new_id))
        }
        Phase::Delete => {
            let id = action.id.clone().ok_or_else(|| ProviderError::fatal("delete without a live id"))?;
            let recorded = shared.state().resources.get(addr).map(|r| r.props.clone()).unwrap_or_default();
            provider.delete(ctx, &id, &recorded).await?;
            shared
                .journal(ctx, |st| {
                    st.resources.remove(addr);
                })
                .await?;
            Ok(Some(id))
        }
        Phase::Record => match action.action {
            ActionType::Adopt => {
                let spec = action
                    .desired
                    .as_ref()
                    .ok_or_else(|| ProviderError::fatal("adopt without a desired spec"))?;
                let id = action.id.clone().ok_or_else(|| ProviderError::fatal("adopt without a live id"))?;
                let props = resolve(&spec.props)?;
                record(shared, ctx, action, &id, props, action.live_outputs.clone()).await?;
                Ok(Some(id))
            }
            _ => {
                shared
                    .journal(ctx, |st| {
                        st.resources.remove(addr);
                    })
                    .await?;
                Ok(None)
            }
        },
    }
}
