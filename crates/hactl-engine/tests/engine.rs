//! Engine tests against an in-memory fake cloud.
//!
//! The fake provider implements the provider contract for three kinds:
//!
//! - `test.net`: `cidr` (replace), `tags` (in place); output `arn`.
//! - `test.sub`: `net_id` (a reference, replace), `cidr` (replace), `tags` (in place). A sub
//!   needs an existing net, and a net that still has subs cannot be deleted
//!   (`DependencyViolation`), like a VPC with subnets.
//! - `test.link`: `net_id` (a reference, in place), `note` (in place). It needs an existing
//!   net to be created or re-pointed, but does not block the deletion of its net (like a
//!   route whose target goes away: it becomes a blackhole).
//!
//! The fake records every mutating call (in order, with its outcome), can fail a given
//! address's call fatally or with a retryable error N times, can delay a call, and can
//! trip a [`CancelFlag`] when a given address has been created.

use async_trait::async_trait;
use hactl_core::exec::Phase;
use hactl_core::plan::{PlanMode, Unmanaged};
use hactl_core::{
    ActionType, Address, DesiredGraph, KindSchema, Plan, PlannedAction, PropSchema, Props, Ref, ResourceSpec,
    UpdateMode, Value,
};
use hactl_engine::{
    apply, catch_up, check_plan, drift_report, make_plan, refresh, Applied, ApplyOptions, ApplyReport,
    BeforeJournal, CancelFlag, Ctx, DriftChange, EngineError, Event, EventSink, LiveObject, LiveView,
    Provider, ProviderError, ReadTarget, RefreshScope, Registry, UpdateRequest,
};
use hactl_state::{State, StateStore};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------

const STACK: &str = "demo";
const NET: &str = "test.net";
const SUB: &str = "test.sub";
const LINK: &str = "test.link";

static NET_SCHEMA: KindSchema =
    KindSchema { kind: NET, props: &[PropSchema::replace("cidr"), PropSchema::in_place("tags")] };
static SUB_SCHEMA: KindSchema = KindSchema {
    kind: SUB,
    props: &[PropSchema::replace("net_id"), PropSchema::replace("cidr"), PropSchema::in_place("tags")],
};
static LINK_SCHEMA: KindSchema =
    KindSchema { kind: LINK, props: &[PropSchema::in_place("net_id"), PropSchema::in_place("note")] };

// ---------------------------------------------------------------------------------------
// The fake cloud
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Create,
    Update,
    Delete,
}

/// One mutating provider call, in the order the fake saw them finish.
#[derive(Clone, Debug)]
struct Call {
    op: Op,
    address: Address,
    ok: bool,
}

enum Fault {
    Fatal,
    /// Fails with a retryable error `remaining` more times (`None`: forever).
    Retryable {
        remaining: Option<u32>,
    },
}

#[derive(Clone, Debug)]
struct Obj {
    kind: &'static str,
    /// The `hactl:stack` tag.
    stack: Option<String>,
    /// The `hactl:address` tag.
    address: Option<Address>,
    props: Props,
    /// Outputs changed out of band (over the computed ones).
    extra_outputs: BTreeMap<String, Value>,
}

#[derive(Default)]
struct CloudInner {
    objects: BTreeMap<String, Obj>,
    next_id: u64,
    calls: Vec<Call>,
    /// Read calls per kind.
    reads: BTreeMap<&'static str, usize>,
    faults: BTreeMap<(Op, Address), Fault>,
    delays: BTreeMap<(Op, Address), Duration>,
    cancel_on_create: BTreeMap<Address, CancelFlag>,
    in_flight: usize,
    max_in_flight: usize,
    /// Reads answer every object twice (an API that ignores a filter, overlapping pages).
    read_twice: bool,
}

impl CloudInner {
    fn insert(
        &mut self,
        kind: &'static str,
        stack: Option<&str>,
        address: Option<Address>,
        props: Props,
    ) -> String {
        self.next_id += 1;
        let prefix = kind.trim_start_matches("test.");
        let id = format!("{prefix}-{:04}", self.next_id);
        let obj =
            Obj { kind, stack: stack.map(str::to_string), address, props, extra_outputs: BTreeMap::new() };
        self.objects.insert(id.clone(), obj);
        id
    }

    fn net_exists(&self, v: Option<&Value>) -> Result<(), ProviderError> {
        let id = v.and_then(Value::as_str).unwrap_or_default();
        match self.objects.get(id) {
            Some(o) if o.kind == NET => Ok(()),
            _ => Err(ProviderError::fatal(format!("InvalidNetID.NotFound: net `{id}` does not exist"))
                .with_code("InvalidNetID.NotFound")),
        }
    }
}

fn outputs_of(kind: &str, id: &str) -> BTreeMap<String, Value> {
    match kind {
        NET => [("arn".to_string(), Value::str(format!("arn:test:net/{id}")))].into(),
        _ => BTreeMap::new(),
    }
}

fn is_resolved(v: &Value) -> bool {
    let mut refs = BTreeSet::new();
    v.refs(&mut refs);
    refs.is_empty() && !v.has_unknown()
}

/// The fake cloud, shared by the providers of every test kind.
#[derive(Clone, Default)]
struct Cloud(Arc<Mutex<CloudInner>>);

impl Cloud {
    fn lock(&self) -> MutexGuard<'_, CloudInner> {
        self.0.lock().unwrap()
    }

    /// The id of the object of this stack tagged with `address`.
    fn id_of(&self, address: &str) -> String {
        self.try_id_of(address).unwrap_or_else(|| panic!("no object tagged {address}"))
    }

    fn try_id_of(&self, address: &str) -> Option<String> {
        let c = self.lock();
        c.objects
            .iter()
            .find(|(_, o)| {
                o.stack.as_deref() == Some(STACK) && o.address.as_ref().map(Address::as_str) == Some(address)
            })
            .map(|(id, _)| id.clone())
    }

    fn props_of(&self, address: &str) -> Props {
        let id = self.id_of(address);
        self.lock().objects[&id].props.clone()
    }

    /// Changes a property out of band.
    fn set_prop(&self, address: &str, name: &str, value: impl Into<Value>) {
        let id = self.id_of(address);
        self.lock().objects.get_mut(&id).unwrap().props.insert(name.to_string(), value.into());
    }

    /// Changes an output out of band.
    fn set_output(&self, address: &str, name: &str, value: impl Into<Value>) {
        let id = self.id_of(address);
        self.lock().objects.get_mut(&id).unwrap().extra_outputs.insert(name.to_string(), value.into());
    }

    /// Deletes an object out of band.
    fn remove(&self, address: &str) {
        let id = self.id_of(address);
        self.lock().objects.remove(&id);
    }

    /// Creates an object out of band (`stack` tag and `address` tag as given).
    fn seed(&self, kind: &'static str, stack: Option<&str>, address: Option<&str>, props: Props) -> String {
        self.lock().insert(kind, stack, address.map(addr), props)
    }

    fn object_count(&self) -> usize {
        self.lock().objects.len()
    }

    fn exists(&self, id: &str) -> bool {
        self.lock().objects.contains_key(id)
    }

    /// Ids of this stack's objects of `kind` tagged with `address`.
    fn tagged(&self, kind: &str, address: &str) -> Vec<String> {
        let c = self.lock();
        c.objects
            .iter()
            .filter(|(_, o)| {
                o.kind == kind
                    && o.stack.as_deref() == Some(STACK)
                    && o.address.as_ref().map(Address::as_str) == Some(address)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn fail(&self, op: Op, address: &str, fault: Fault) {
        self.lock().faults.insert((op, addr(address)), fault);
    }

    fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    fn delay(&self, op: Op, address: &str, d: Duration) {
        self.lock().delays.insert((op, addr(address)), d);
    }

    fn cancel_after_create(&self, address: &str, flag: &CancelFlag) {
        self.lock().cancel_on_create.insert(addr(address), flag.clone());
    }

    fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Addresses of the successful calls of `op`, in order.
    fn ok_calls(&self, op: Op) -> Vec<Address> {
        self.calls().into_iter().filter(|c| c.ok && c.op == op).map(|c| c.address).collect()
    }

    /// Successful mutating calls as (op, address), in order.
    fn ok_sequence(&self) -> Vec<(Op, Address)> {
        self.calls().into_iter().filter(|c| c.ok).map(|c| (c.op, c.address)).collect()
    }

    fn attempts(&self, op: Op, address: &str) -> usize {
        self.calls().iter().filter(|c| c.op == op && c.address.as_str() == address).count()
    }

    fn reads(&self) -> BTreeMap<&'static str, usize> {
        self.lock().reads.clone()
    }

    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }
}

struct FakeProvider {
    schema: &'static KindSchema,
    cloud: Cloud,
}

impl FakeProvider {
    /// Runs one mutating call: counts it in flight, waits its delay, applies the injected
    /// fault (if any) or `f`, and records the outcome.
    async fn mutate<T>(
        &self,
        op: Op,
        address: &Address,
        f: impl FnOnce(&mut CloudInner) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let delay = {
            let mut c = self.cloud.lock();
            c.in_flight += 1;
            c.max_in_flight = c.max_in_flight.max(c.in_flight);
            c.delays.get(&(op, address.clone())).copied()
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let mut c = self.cloud.lock();
        c.in_flight -= 1;
        let result = match c.faults.get_mut(&(op, address.clone())) {
            Some(Fault::Fatal) => {
                Err(ProviderError::fatal(format!("injected fatal failure of {op:?} {address}")))
            }
            Some(Fault::Retryable { remaining }) if remaining.is_none_or(|n| n > 0) => {
                if let Some(n) = remaining {
                    *n -= 1;
                }
                Err(ProviderError::retryable(format!("injected retryable failure of {op:?} {address}"))
                    .with_code("RequestLimitExceeded"))
            }
            _ => f(&mut c),
        };
        c.calls.push(Call { op, address: address.clone(), ok: result.is_ok() });
        if result.is_ok() && op == Op::Create {
            if let Some(flag) = c.cancel_on_create.get(address) {
                flag.cancel();
            }
        }
        result
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn schema(&self) -> &'static KindSchema {
        self.schema
    }

    fn deletion_protected(&self, live: &Props) -> bool {
        live.get("protected") == Some(&Value::Bool(true))
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let kind = self.schema.kind;
        let ids: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let mut c = self.cloud.lock();
        *c.reads.entry(kind).or_default() += 1;
        Ok(c.objects
            .iter()
            .filter(|(id, o)| {
                o.kind == kind
                    && (o.stack.as_deref() == Some(ctx.stack.as_str()) || ids.contains(id.as_str()))
            })
            .map(|(id, o)| {
                let owned = o.stack.as_deref() == Some(ctx.stack.as_str());
                LiveObject {
                    id: id.clone(),
                    address: if owned { o.address.clone() } else { None },
                    props: o.props.clone(),
                    outputs: outputs_of(kind, id).into_iter().chain(o.extra_outputs.clone()).collect(),
                    owned,
                }
            })
            .flat_map(|o| {
                let times = if c.read_twice { 2 } else { 1 };
                std::iter::repeat_n(o, times)
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let kind = self.schema.kind;
        self.mutate(Op::Create, address, |c| {
            if let Some((k, _)) = props.iter().find(|(_, v)| !is_resolved(v)) {
                return Err(ProviderError::fatal(format!("create got an unresolved `{k}`")));
            }
            if kind != NET {
                c.net_exists(props.get("net_id"))?;
            }
            let id = c.insert(kind, Some(&ctx.stack), Some(address.clone()), props.clone());
            Ok(Applied { outputs: outputs_of(kind, &id), id })
        })
        .await
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let schema = self.schema;
        self.mutate(Op::Update, req.address, |c| {
            if !c.objects.contains_key(req.id) {
                return Err(ProviderError::fatal(format!("{} not found", req.id)));
            }
            if req.changes.is_empty() {
                return Err(ProviderError::fatal("update called without changes"));
            }
            for ch in req.changes {
                if schema.prop(&ch.name).is_none_or(|p| p.update == UpdateMode::Replace) {
                    return Err(ProviderError::fatal(format!("`{}` cannot be changed in place", ch.name)));
                }
                if !ch.after.as_ref().is_none_or(is_resolved) {
                    return Err(ProviderError::fatal(format!("update got an unresolved `{}`", ch.name)));
                }
                if ch.name == "net_id" {
                    c.net_exists(ch.after.as_ref())?;
                }
            }
            let obj = c.objects.get_mut(req.id).unwrap();
            for ch in req.changes {
                match &ch.after {
                    Some(v) => obj.props.insert(ch.name.clone(), v.clone()),
                    None => obj.props.remove(&ch.name),
                };
            }
            // The changes must bring the object to the desired properties.
            if let Some((k, v)) = req.desired.iter().find(|(k, v)| obj.props.get(*k) != Some(*v)) {
                return Err(ProviderError::fatal(format!(
                    "after the update `{k}` is {:?}, not {v}",
                    obj.props.get(k)
                )));
            }
            Ok(Applied { id: req.id.to_string(), outputs: BTreeMap::new() })
        })
        .await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let kind = self.schema.kind;
        let address = ctx.address.clone().expect("the engine passes the address of a delete");
        self.mutate(Op::Delete, &address, |c| {
            let Some(obj) = c.objects.get(id) else { return Ok(()) };
            if obj.kind != kind {
                return Err(ProviderError::fatal(format!(
                    "Invalid{kind}ID.Malformed: {id} is a {}",
                    obj.kind
                )));
            }
            let net_id = Value::str(id);
            if obj.kind == NET
                && c.objects.values().any(|o| o.kind == SUB && o.props.get("net_id") == Some(&net_id))
            {
                return Err(ProviderError::fatal(format!("DependencyViolation: net {id} has subs"))
                    .with_code("DependencyViolation"));
            }
            c.objects.remove(id);
            Ok(())
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// What the local state file holds (an empty state when there is none yet).
fn disk_state(store: &StateStore) -> State {
    match std::fs::read(store.local_path().unwrap()) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::new(STACK),
        Err(e) => panic!("reading state: {e}"),
    }
}

struct Harness {
    cloud: Cloud,
    registry: Registry,
    store: StateStore,
    events: Arc<Recorder>,
    ctx: Ctx,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cloud = Cloud::default();
        let mut registry = Registry::new();
        for schema in [&NET_SCHEMA, &SUB_SCHEMA, &LINK_SCHEMA] {
            registry.register(Arc::new(FakeProvider { schema, cloud: cloud.clone() }));
        }
        let events = Arc::new(Recorder::default());
        let sink: Arc<dyn EventSink> = events.clone();
        Harness {
            cloud,
            registry,
            store: StateStore::local(dir.path(), STACK),
            events,
            ctx: Ctx::new(STACK, sink),
            _dir: dir,
        }
    }

    /// The state on disk (read from the file, without the store).
    fn state(&self) -> State {
        disk_state(&self.store)
    }

    async fn refresh(&self, desired: &DesiredGraph, state: &State, scope: RefreshScope) -> LiveView {
        refresh(&self.registry, &self.ctx, desired, state, scope).await.unwrap()
    }

    /// Refresh + plan against the state on disk; returns the plan and that state.
    async fn plan(&self, desired: &DesiredGraph, mode: PlanMode) -> (Plan, State) {
        let state = self.state();
        let live = self.refresh(desired, &state, RefreshScope::DesiredAndState).await;
        let plan = make_plan(&self.registry, desired, &state, &live, mode).unwrap();
        (plan, state)
    }

    async fn apply(&self, plan: &Plan, state: State, opts: &ApplyOptions) -> ApplyReport {
        apply(&self.registry, &self.ctx, plan, &self.store, state, opts).await.unwrap()
    }

    /// Plans and applies `mode`; the apply must succeed.
    async fn converge_mode(&self, desired: &DesiredGraph, mode: PlanMode) -> (Plan, ApplyReport) {
        let (plan, state) = self.plan(desired, mode).await;
        let report = self.apply(&plan, state, &opts(4)).await;
        assert!(report.ok(), "apply failed: {:?}", report.failed);
        (plan, report)
    }

    async fn converge(&self, desired: &DesiredGraph) -> (Plan, ApplyReport) {
        self.converge_mode(desired, PlanMode::Apply).await
    }

    /// A fresh refresh + plan has nothing to do.
    async fn assert_converged(&self, desired: &DesiredGraph) {
        let (plan, _) = self.plan(desired, PlanMode::Apply).await;
        assert!(!plan.has_changes(), "expected an empty plan, got {:#?}", plan.actions);
    }

    fn retry_events(&self) -> Vec<(Address, u32, Duration)> {
        self.events
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Retrying { address, attempt, wait, .. } => Some((address, attempt, wait)),
                _ => None,
            })
            .collect()
    }
}

fn opts(parallelism: usize) -> ApplyOptions {
    ApplyOptions { parallelism, ..ApplyOptions::default() }
}

// ---------------------------------------------------------------------------------------
// Desired graphs
// ---------------------------------------------------------------------------------------

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn addrs(list: &[&str]) -> BTreeSet<Address> {
    list.iter().map(|s| addr(s)).collect()
}

fn desired_addresses(specs: &[ResourceSpec]) -> BTreeSet<Address> {
    specs.iter().map(|s| s.address.clone()).collect()
}

fn name_tags(name: &str) -> Value {
    Value::from_string_map([("Name", name)])
}

fn net(name: &str, cidr: &str) -> ResourceSpec {
    ResourceSpec::new(addr(&format!("net.{name}")), NET).prop("cidr", cidr).prop("tags", name_tags(name))
}

fn sub(name: &str, net: &str, cidr: &str) -> ResourceSpec {
    ResourceSpec::new(addr(&format!("sub.{name}")), SUB)
        .prop("net_id", Ref::new(&addr(&format!("net.{net}")), "id"))
        .prop("cidr", cidr)
        .prop("tags", name_tags(name))
}

fn link(name: &str, net: &str) -> ResourceSpec {
    ResourceSpec::new(addr(&format!("link.{name}")), LINK)
        .prop("net_id", Ref::new(&addr(&format!("net.{net}")), "id"))
        .prop("note", "hello")
}

/// Two branches: net.a with sub.a1, sub.a2 and link.x; net.b with sub.b1. link.x also
/// waits for sub.b1 (an explicit dependency, no reference).
fn standard() -> Vec<ResourceSpec> {
    vec![
        net("a", "10.0.0.0/16"),
        net("b", "10.1.0.0/16"),
        sub("a1", "a", "10.0.1.0/24"),
        sub("a2", "a", "10.0.2.0/24"),
        sub("b1", "b", "10.1.1.0/24"),
        link("x", "a").after(&addr("sub.b1")),
    ]
}

fn graph(specs: Vec<ResourceSpec>) -> DesiredGraph {
    DesiredGraph::build(specs).unwrap()
}

fn without(specs: Vec<ResourceSpec>, drop: &[&str]) -> Vec<ResourceSpec> {
    specs.into_iter().filter(|s| !drop.contains(&s.address.as_str())).collect()
}

fn edit(specs: Vec<ResourceSpec>, at: &str, f: impl Fn(ResourceSpec) -> ResourceSpec) -> Vec<ResourceSpec> {
    specs.into_iter().map(|s| if s.address.as_str() == at { f(s) } else { s }).collect()
}

/// Address → action of a plan (each address appears once in these tests).
fn actions(plan: &Plan) -> BTreeMap<String, ActionType> {
    let mut out = BTreeMap::new();
    for a in &plan.actions {
        assert!(out.insert(a.address.to_string(), a.action).is_none(), "{} planned twice", a.address);
    }
    out
}

fn action<'a>(plan: &'a Plan, address: &str) -> &'a PlannedAction {
    plan.actions
        .iter()
        .find(|a| a.address.as_str() == address)
        .unwrap_or_else(|| panic!("no action for {address}"))
}

fn expect_actions(plan: &Plan, expected: &[(&str, ActionType)]) {
    let want: BTreeMap<String, ActionType> = expected.iter().map(|(a, t)| (a.to_string(), *t)).collect();
    assert_eq!(actions(plan), want);
}

/// Position of (op, address) in a call sequence.
fn pos(seq: &[(Op, Address)], op: Op, address: &str) -> usize {
    seq.iter()
        .position(|(o, a)| *o == op && a.as_str() == address)
        .unwrap_or_else(|| panic!("no {op:?} of {address} in {seq:?}"))
}

fn succeeded_set(report: &ApplyReport) -> BTreeSet<(Address, Phase)> {
    report.succeeded.iter().cloned().collect()
}

fn steps(list: &[(&str, Phase)]) -> BTreeSet<(Address, Phase)> {
    list.iter().map(|(a, p)| (addr(a), *p)).collect()
}

// ---------------------------------------------------------------------------------------
// 1. Fresh apply
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fresh_apply_creates_everything_in_dependency_order() {
    let h = Harness::new();
    let desired = graph(standard());

    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    assert_eq!(plan.actions.len(), 6);
    assert!(plan.actions.iter().all(|a| a.action == ActionType::Create && a.reason.is_none()));
    assert_eq!((plan.state_serial, plan.state_lineage.as_str()), (0, ""));
    // One batched read per kind.
    assert_eq!(h.cloud.reads(), BTreeMap::from([(LINK, 1), (NET, 1), (SUB, 1)]));

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(report.succeeded.len(), 6);
    assert!(report.succeeded.iter().all(|(_, p)| *p == Phase::Create));

    // Every dependency was created before its dependent; nothing but creates happened.
    let seq = h.cloud.ok_sequence();
    assert_eq!(seq.len(), 6, "{seq:?}");
    for spec in desired.specs() {
        for dep in spec.dependencies() {
            assert!(
                pos(&seq, Op::Create, dep.as_str()) < pos(&seq, Op::Create, spec.address.as_str()),
                "{dep} must be created before {}: {seq:?}",
                spec.address
            );
        }
    }
    assert!(h.cloud.calls().iter().all(|c| c.ok && c.op == Op::Create));

    // State: every resource, with ids, resolved props, outputs and dependencies.
    let st = h.state();
    assert_eq!(st, report.state);
    assert!(!st.lineage.is_empty());
    // At most one save per step (steps finishing together share one), one at a time, in
    // serial order (4 steps may run at once).
    assert!((1..=6).contains(&st.serial), "serial {}", st.serial);
    let saved: Vec<u64> = h
        .events
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::StateSaved { serial } => Some(*serial),
            _ => None,
        })
        .collect();
    assert_eq!(saved, (1..=st.serial).collect::<Vec<u64>>());
    assert_eq!(st.resources.len(), 6);
    for spec in desired.specs() {
        let rs = &st.resources[&spec.address];
        assert_eq!(rs.kind, spec.kind);
        assert_eq!(rs.id, h.cloud.id_of(spec.address.as_str()));
        assert_eq!(rs.depends_on, spec.dependencies().into_iter().collect::<Vec<_>>());
        assert_eq!(rs.props, h.cloud.props_of(spec.address.as_str()));
    }
    let net_a = h.cloud.id_of("net.a");
    assert_eq!(st.resources[&addr("sub.a1")].props["net_id"], Value::str(&net_a));
    assert_eq!(st.resources[&addr("link.x")].depends_on, vec![addr("net.a"), addr("sub.b1")]);
    assert_eq!(st.output(&addr("net.a"), "arn"), Some(Value::str(format!("arn:test:net/{net_a}"))));

    h.assert_converged(&desired).await;
    assert_eq!(h.cloud.reads(), BTreeMap::from([(LINK, 2), (NET, 2), (SUB, 2)]));
}

/// Checks, as each step finishes, that the state file already holds its object.
struct DurableCheck {
    store: StateStore,
    finished: Mutex<Vec<(Address, bool)>>,
    saves: Mutex<u64>,
}

impl EventSink for DurableCheck {
    fn emit(&self, event: Event) {
        match event {
            Event::StepFinished { address, .. } => {
                let on_disk = disk_state(&self.store).resources.contains_key(&address);
                self.finished.lock().unwrap().push((address, on_disk));
            }
            Event::StateSaved { .. } => *self.saves.lock().unwrap() += 1,
            _ => {}
        }
    }
}

#[tokio::test]
async fn steps_finishing_together_share_a_save_and_none_returns_before_its_save() {
    let mut h = Harness::new();
    let check = Arc::new(DurableCheck {
        store: h.store.clone(),
        finished: Mutex::new(Vec::new()),
        saves: Mutex::new(0),
    });
    let sink: Arc<dyn EventSink> = check.clone();
    h.ctx = Ctx::new(STACK, sink);
    // Twelve independent creates that all finish after the same delay.
    let specs: Vec<ResourceSpec> =
        (0..12).map(|i| net(&format!("n{i}"), &format!("10.{i}.0.0/16"))).collect();
    for s in &specs {
        h.cloud.delay(Op::Create, s.address.as_str(), Duration::from_millis(40));
    }
    let (plan, state) = h.plan(&graph(specs), PlanMode::Apply).await;
    let report = h.apply(&plan, state, &opts(12)).await;
    assert!(report.ok(), "{:?}", report.failed);

    let finished = check.finished.lock().unwrap().clone();
    assert_eq!(finished.len(), 12);
    let not_saved: Vec<_> = finished.iter().filter(|(_, on_disk)| !on_disk).collect();
    assert!(not_saved.is_empty(), "steps reported finished before their save: {not_saved:?}");
    let saves = *check.saves.lock().unwrap();
    // While the first save is written (on the blocking pool), the other eleven journal
    // their objects; one more save holds them all.
    assert!(saves < 12, "{saves} saves for 12 steps that finished together");
    let st = h.state();
    assert_eq!(st.resources.len(), 12);
    assert_eq!(st.serial, saves);
}

#[tokio::test]
async fn parallelism_bounds_the_calls_in_flight() {
    for parallelism in [1, 3] {
        let h = Harness::new();
        let specs: Vec<ResourceSpec> =
            (0..6).map(|i| net(&format!("n{i}"), &format!("10.{i}.0.0/16"))).collect();
        for s in &specs {
            h.cloud.delay(Op::Create, s.address.as_str(), Duration::from_millis(30));
        }
        let (plan, state) = h.plan(&graph(specs), PlanMode::Apply).await;
        let report = h.apply(&plan, state, &opts(parallelism)).await;
        assert!(report.ok());
        assert_eq!(h.cloud.max_in_flight(), parallelism, "parallelism {parallelism}");
    }
}

// ---------------------------------------------------------------------------------------
// 2. Update vs replace
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn in_place_change_is_one_update() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let id = h.cloud.id_of("net.a");
    h.cloud.clear_calls();

    let new_tags = Value::from_string_map([("Name", "a"), ("env", "prod")]);
    let desired = graph(edit(standard(), "net.a", |s| s.prop("tags", new_tags.clone())));
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(&plan, &[("net.a", ActionType::Update)]);
    let a = action(&plan, "net.a");
    assert_eq!(a.id.as_deref(), Some(id.as_str()));
    assert_eq!(a.changes.len(), 1);
    assert_eq!(a.changes[0].name, "tags");
    assert_eq!(a.changes[0].before, Some(name_tags("a")));
    assert_eq!(a.changes[0].after, Some(new_tags.clone()));
    assert!(!a.changes[0].forces_replacement);

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok());
    assert_eq!(h.cloud.ok_sequence(), vec![(Op::Update, addr("net.a"))]);
    assert_eq!(h.cloud.id_of("net.a"), id);
    assert_eq!(h.cloud.props_of("net.a")["tags"], new_tags);
    let rs = &h.state().resources[&addr("net.a")];
    assert_eq!(rs.id, id);
    assert_eq!(rs.props["tags"], new_tags);
    assert_eq!(rs.outputs["arn"], Value::str(format!("arn:test:net/{id}")), "outputs survive an update");
    h.assert_converged(&desired).await;
}

#[tokio::test]
async fn replacing_a_parent_replaces_dependents_with_replace_only_refs() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let old = |a: &str| h.cloud.id_of(a);
    let (old_net, old_a1, old_link) = (old("net.a"), old("sub.a1"), old("link.x"));
    h.cloud.clear_calls();

    let desired = graph(edit(standard(), "net.a", |s| s.prop("cidr", "10.9.0.0/16")));
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(
        &plan,
        &[
            ("net.a", ActionType::Replace),
            ("sub.a1", ActionType::Replace),
            ("sub.a2", ActionType::Replace),
            ("link.x", ActionType::Update),
        ],
    );
    let reason = action(&plan, "net.a").reason.clone().unwrap();
    assert!(reason.contains("cidr"), "{reason}");
    for s in ["sub.a1", "sub.a2"] {
        let a = action(&plan, s);
        assert!(a.reason.as_deref().unwrap().contains("net_id"), "{:?}", a.reason);
        let ch = a.changes.iter().find(|c| c.name == "net_id").unwrap();
        assert_eq!(ch.after, Some(Value::Unknown));
        assert!(ch.forces_replacement);
    }
    let link_change = &action(&plan, "link.x").changes;
    assert_eq!(link_change.len(), 1);
    assert_eq!(link_change[0].after, Some(Value::Unknown));
    assert!(!link_change[0].forces_replacement);

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    let seq = h.cloud.ok_sequence();
    assert_eq!(seq.len(), 7, "{seq:?}");
    for s in ["sub.a1", "sub.a2"] {
        assert!(pos(&seq, Op::Delete, s) < pos(&seq, Op::Delete, "net.a"), "{seq:?}");
        assert!(pos(&seq, Op::Create, "net.a") < pos(&seq, Op::Create, s), "{seq:?}");
    }
    assert!(pos(&seq, Op::Delete, "net.a") < pos(&seq, Op::Create, "net.a"), "{seq:?}");
    assert!(pos(&seq, Op::Create, "net.a") < pos(&seq, Op::Update, "link.x"), "{seq:?}");

    let new_net = h.cloud.id_of("net.a");
    assert_ne!(new_net, old_net);
    assert_ne!(h.cloud.id_of("sub.a1"), old_a1);
    assert_eq!(h.cloud.id_of("link.x"), old_link, "an in-place reference is updated, not replaced");
    let st = h.state();
    for a in ["sub.a1", "sub.a2", "link.x"] {
        assert_eq!(h.cloud.props_of(a)["net_id"], Value::str(&new_net), "{a}");
        assert_eq!(st.resources[&addr(a)].props["net_id"], Value::str(&new_net), "{a}");
    }
    assert_eq!(st.resources[&addr("net.a")].id, new_net);
    assert_eq!(st.output(&addr("net.a"), "arn"), Some(Value::str(format!("arn:test:net/{new_net}"))));
    assert_eq!(h.cloud.object_count(), 6);
    h.assert_converged(&desired).await;
}

#[tokio::test]
async fn pure_delete_waits_for_a_dependent_updated_away() {
    let h = Harness::new();
    h.converge(&graph(vec![net("a", "10.0.0.0/16"), net("b", "10.1.0.0/16"), link("x", "a")])).await;
    h.cloud.clear_calls();

    // net.a goes away; link.x moves to net.b in place.
    let desired = graph(vec![net("b", "10.1.0.0/16"), link("x", "b")]);
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(&plan, &[("link.x", ActionType::Update), ("net.a", ActionType::Delete)]);
    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok());
    let seq = h.cloud.ok_sequence();
    assert!(pos(&seq, Op::Update, "link.x") < pos(&seq, Op::Delete, "net.a"), "{seq:?}");
    assert_eq!(h.state().resources[&addr("link.x")].depends_on, vec![addr("net.b")]);
    h.assert_converged(&desired).await;
}

// ---------------------------------------------------------------------------------------
// 3. Delete, forget, recreate
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn removed_vanished_and_out_of_band_deleted_resources() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let old_b1 = h.cloud.id_of("sub.b1");
    let old_link = h.cloud.id_of("link.x");
    // link.x: deleted out of band and no longer desired. sub.b1: deleted out of band, still
    // desired. sub.a2: no longer desired.
    h.cloud.remove("link.x");
    h.cloud.remove("sub.b1");
    h.cloud.clear_calls();
    let desired = graph(without(standard(), &["sub.a2", "link.x"]));

    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(
        &plan,
        &[("sub.a2", ActionType::Delete), ("link.x", ActionType::Forget), ("sub.b1", ActionType::Create)],
    );
    assert_eq!(action(&plan, "sub.a2").reason.as_deref(), Some("no longer in the configuration"));
    assert_eq!(action(&plan, "link.x").reason.as_deref(), Some("already gone from AWS"));
    assert_eq!(action(&plan, "link.x").id.as_deref(), Some(old_link.as_str()));
    let reason = action(&plan, "sub.b1").reason.clone().unwrap();
    assert!(reason.contains("deleted outside hactl") && reason.contains(&old_b1), "{reason}");

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(
        succeeded_set(&report),
        steps(&[("sub.a2", Phase::Delete), ("link.x", Phase::Record), ("sub.b1", Phase::Create)])
    );
    let mut seq = h.cloud.ok_sequence();
    seq.sort();
    assert_eq!(seq, vec![(Op::Create, addr("sub.b1")), (Op::Delete, addr("sub.a2"))], "forget calls nothing");
    assert!(h.cloud.try_id_of("sub.a2").is_none());

    let st = h.state();
    let have: BTreeSet<Address> = st.resources.keys().cloned().collect();
    assert_eq!(have, addrs(&["net.a", "net.b", "sub.a1", "sub.b1"]));
    assert_ne!(st.resources[&addr("sub.b1")].id, old_b1);
    assert_eq!(st.resources[&addr("sub.b1")].id, h.cloud.id_of("sub.b1"));
    h.assert_converged(&desired).await;
}

// ---------------------------------------------------------------------------------------
// 4. Adoption, unmanaged objects, crash orphans
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tagged_objects_missing_from_state_are_adopted_not_created() {
    let h = Harness::new();
    let desired =
        graph(vec![net("a", "10.0.0.0/16"), net("b", "10.1.0.0/16"), sub("a1", "a", "10.0.1.0/24")]);
    // net.a: exactly as desired; net.b: tags differ.
    let props = |s: &ResourceSpec| s.props.clone();
    let net_a = h.cloud.seed(NET, Some(STACK), Some("net.a"), props(desired.get(&addr("net.a")).unwrap()));
    let mut b = props(desired.get(&addr("net.b")).unwrap());
    b.insert("tags".into(), name_tags("old"));
    let net_b = h.cloud.seed(NET, Some(STACK), Some("net.b"), b);

    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(
        &plan,
        &[("net.a", ActionType::Adopt), ("net.b", ActionType::Update), ("sub.a1", ActionType::Create)],
    );
    let adopt = action(&plan, "net.a");
    assert!(adopt.adopted);
    assert_eq!(adopt.id.as_deref(), Some(net_a.as_str()));
    assert!(adopt.reason.as_deref().unwrap().contains("ownership tags"), "{:?}", adopt.reason);
    assert!(action(&plan, "net.b").adopted);
    assert!(!action(&plan, "sub.a1").adopted);
    assert_eq!(
        action(&plan, "sub.a1").changes.iter().find(|c| c.name == "net_id").unwrap().after,
        Some(Value::str(&net_a))
    );

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(
        succeeded_set(&report),
        steps(&[("net.a", Phase::Record), ("net.b", Phase::Update), ("sub.a1", Phase::Create)])
    );
    assert_eq!(h.cloud.ok_calls(Op::Create), vec![addr("sub.a1")], "adoption creates nothing");
    assert_eq!(h.cloud.object_count(), 3);
    let st = h.state();
    assert_eq!(st.resources[&addr("net.a")].id, net_a);
    assert_eq!(st.resources[&addr("net.b")].id, net_b);
    assert_eq!(st.output(&addr("net.a"), "arn"), Some(Value::str(format!("arn:test:net/{net_a}"))));
    assert_eq!(st.output(&addr("net.b"), "arn"), Some(Value::str(format!("arn:test:net/{net_b}"))));
    assert_eq!(st.resources[&addr("sub.a1")].props["net_id"], Value::str(&net_a));
    h.assert_converged(&desired).await;
}

#[tokio::test]
async fn unmanaged_tagged_objects_are_listed_and_never_deleted() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let stray = h.cloud.seed(
        NET,
        Some(STACK),
        Some("net.old"),
        [("cidr".to_string(), Value::str("10.7.0.0/16"))].into(),
    );
    // Another stack's object and an untagged one are none of our business.
    h.cloud.seed(NET, Some("other"), Some("net.a"), Props::new());
    h.cloud.seed(NET, None, None, Props::new());
    h.cloud.clear_calls();

    let desired = graph(edit(standard(), "net.b", |s| s.prop("tags", name_tags("bee"))));
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(&plan, &[("net.b", ActionType::Update)]);
    assert!(plan.unmanaged[0].location.is_some(), "where it was found");
    assert_eq!(
        plan.unmanaged,
        vec![Unmanaged {
            kind: NET.into(),
            id: stray.clone(),
            address_tag: Some("net.old".into()),
            location: plan.unmanaged[0].location.clone(),
        }]
    );
    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok());
    assert!(h.cloud.ok_calls(Op::Delete).is_empty());
    assert_eq!(h.cloud.try_id_of("net.old"), Some(stray));
    assert!(!h.state().resources.contains_key(&addr("net.old")));
    assert_eq!(h.cloud.object_count(), 9);
}

#[tokio::test]
async fn crash_before_journal_leaves_an_orphan_that_destroy_deletes() {
    let h = Harness::new();
    let desired = graph(standard());
    // A crash between sub.a2's create and its journal entry (the hook panics there).
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    let crash: BeforeJournal = Arc::new(|a: &Address, p: Phase| {
        if a.as_str() == "sub.a2" && p == Phase::Create {
            panic!("simulated crash before journaling {a}");
        }
    });
    let report = h.apply(&plan, state, &ApplyOptions { before_journal: Some(crash), ..opts(4) }).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].address, addr("sub.a2"));
    assert!(report.failed[0].error.contains("panicked"), "{}", report.failed[0].error);
    let orphan = h.cloud.id_of("sub.a2");
    assert!(!h.state().resources.contains_key(&addr("sub.a2")));
    // And an unmanaged object of the stack.
    let stray = h.cloud.seed(NET, Some(STACK), Some("net.old"), Props::new());

    // A normal plan adopts the orphan.
    let (plan, _) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(&plan, &[("sub.a2", ActionType::Adopt)]);

    // Destroy deletes it (it sits on net.a, so before net.a) but not the unmanaged one.
    h.cloud.clear_calls();
    let (plan, state) = h.plan(&desired, PlanMode::Destroy).await;
    assert_eq!(plan.mode, PlanMode::Destroy);
    let orphan_action = action(&plan, "sub.a2");
    assert_eq!((orphan_action.action, orphan_action.adopted), (ActionType::Delete, true));
    assert_eq!(orphan_action.id.as_deref(), Some(orphan.as_str()));
    assert_eq!(plan.actions.len(), 6);
    assert!(plan.actions.iter().all(|a| a.action == ActionType::Delete));
    assert_eq!(plan.unmanaged.len(), 1);
    assert_eq!(plan.unmanaged[0].id, stray);

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    let seq = h.cloud.ok_sequence();
    assert!(pos(&seq, Op::Delete, "sub.a2") < pos(&seq, Op::Delete, "net.a"), "{seq:?}");
    assert!(h.cloud.try_id_of("sub.a2").is_none());
    assert_eq!(h.cloud.try_id_of("net.old"), Some(stray));
    assert_eq!(h.cloud.object_count(), 1);
    assert!(h.state().resources.is_empty());
}

// ---------------------------------------------------------------------------------------
// 5. Failures
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fatal_failure_skips_dependents_and_the_independent_branch_completes() {
    let h = Harness::new();
    let desired = graph(standard());
    h.cloud.fail(Op::Create, "net.a", Fault::Fatal);
    // Keep net.a's failure in flight while net.b's branch runs.
    h.cloud.delay(Op::Create, "net.a", Duration::from_millis(50));

    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(!report.ok());
    assert!(!report.cancelled);
    assert_eq!(report.failed.len(), 1);
    let f = &report.failed[0];
    assert_eq!((f.address.as_str(), f.phase), ("net.a", Phase::Create));
    assert!(f.error.contains("injected fatal failure"), "{}", f.error);
    assert_eq!(h.cloud.attempts(Op::Create, "net.a"), 1, "fatal errors are not retried");
    let skipped: BTreeSet<Address> = report.skipped.iter().cloned().collect();
    assert_eq!(skipped, addrs(&["sub.a1", "sub.a2", "link.x"]));
    assert_eq!(report.skipped.len(), 3, "each skipped once: {:?}", report.skipped);
    assert_eq!(succeeded_set(&report), steps(&[("net.b", Phase::Create), ("sub.b1", Phase::Create)]));
    assert!(h.cloud.max_in_flight() >= 2, "the branches ran concurrently");
    for s in ["sub.a1", "sub.a2", "link.x"] {
        assert_eq!(h.cloud.attempts(Op::Create, s), 0, "{s} was never tried");
    }
    let skip_events: Vec<(Address, Address)> = h
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StepSkipped { address, because } => Some((address, because)),
            _ => None,
        })
        .collect();
    assert_eq!(skip_events.len(), 3);
    assert!(skip_events.iter().all(|(_, because)| because.as_str() == "net.a"));

    // Every success is on disk.
    let st = h.state();
    assert_eq!(st, report.state);
    assert_eq!(st.resources.keys().cloned().collect::<BTreeSet<_>>(), addrs(&["net.b", "sub.b1"]));
    assert_eq!(st.serial, 2);

    // Once the cause is gone, the next run does the rest.
    h.cloud.clear_faults();
    h.cloud.clear_calls();
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(
        &plan,
        &[
            ("net.a", ActionType::Create),
            ("sub.a1", ActionType::Create),
            ("sub.a2", ActionType::Create),
            ("link.x", ActionType::Create),
        ],
    );
    assert!(h.apply(&plan, state, &opts(4)).await.ok());
    h.assert_converged(&desired).await;
}

// ---------------------------------------------------------------------------------------
// 6. Retries
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn retryable_errors_are_retried_until_they_clear() {
    let h = Harness::new();
    let desired = graph(vec![net("a", "10.0.0.0/16"), sub("a1", "a", "10.0.1.0/24")]);
    h.cloud.fail(Op::Create, "net.a", Fault::Retryable { remaining: Some(2) });
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    // Backoff 1 s then 2 s: the second retry is decided at ~1 s, 1 + 2 < 3.5.
    let opts = ApplyOptions { retry_timeout: Duration::from_millis(3500), ..opts(4) };
    let report = h.apply(&plan, state, &opts).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(h.cloud.attempts(Op::Create, "net.a"), 3);
    assert_eq!(
        h.retry_events(),
        vec![(addr("net.a"), 1, Duration::from_secs(1)), (addr("net.a"), 2, Duration::from_secs(2))]
    );
    assert!(report.elapsed >= Duration::from_secs(3));
    assert_eq!(h.state().resources.len(), 2);
    assert_eq!(h.state().serial, 2, "failed attempts journal nothing");
}

#[tokio::test]
async fn retryable_errors_that_persist_fail_the_step_within_retry_timeout() {
    let h = Harness::new();
    let desired =
        graph(vec![net("a", "10.0.0.0/16"), sub("a1", "a", "10.0.1.0/24"), net("b", "10.1.0.0/16")]);
    h.cloud.fail(Op::Create, "net.a", Fault::Retryable { remaining: None });
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    let retry_timeout = Duration::from_millis(2500);
    let report = h.apply(&plan, state, &ApplyOptions { retry_timeout, ..opts(4) }).await;
    assert!(!report.ok());
    assert!(report.elapsed < retry_timeout, "gave up after {:?}", report.elapsed);
    // Tried at 0 s and 1 s; the next wait (2 s) would end past the timeout.
    assert_eq!(h.cloud.attempts(Op::Create, "net.a"), 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].address, addr("net.a"));
    assert!(report.failed[0].error.contains("RequestLimitExceeded"), "{}", report.failed[0].error);
    assert_eq!(report.skipped, vec![addr("sub.a1")]);
    assert_eq!(succeeded_set(&report), steps(&[("net.b", Phase::Create)]));
    assert_eq!(h.state().resources.keys().cloned().collect::<BTreeSet<_>>(), addrs(&["net.b"]));
}

#[tokio::test]
async fn a_failed_state_save_fails_its_step_and_skips_the_dependents() {
    let h = Harness::new();
    let (plan, state) = h.plan(&graph(standard()), PlanMode::Apply).await;
    // The state directory is a file: every save fails.
    let blocker = h._dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let broken = StateStore::local(&blocker, STACK);
    let report = apply(&h.registry, &h.ctx, &plan, &broken, state, &opts(1)).await.unwrap();
    assert!(!report.ok());
    assert!(report.succeeded.is_empty(), "{:?}", report.succeeded);
    assert!(!report.failed.is_empty());
    assert!(report.failed.iter().all(|f| f.error.contains("saving state")), "{:?}", report.failed);
    assert_eq!(report.failed.len() + report.skipped.len() + report.not_started.len(), 6, "{report:?}");
    // Nothing new starts after a failed save (one at a time here: the first root fails,
    // its dependents are skipped, the other branch is not started), and it is not
    // reported as a user cancel.
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.not_started.len(), 2, "{report:?}");
    assert_eq!(h.cloud.calls().len(), 1, "one create reached the provider: {:?}", h.cloud.calls());
    assert!(!report.cancelled);
    assert!(!h.events.events().iter().any(|e| matches!(e, Event::StateSaved { .. })));
}

// ---------------------------------------------------------------------------------------
// 7. Cancel
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cancel_before_apply_starts_nothing() {
    let h = Harness::new();
    let (plan, state) = h.plan(&graph(standard()), PlanMode::Apply).await;
    let cancel = CancelFlag::default();
    cancel.cancel();
    let report = h.apply(&plan, state, &ApplyOptions { cancel, ..opts(4) }).await;
    assert!(report.cancelled);
    assert!(!report.ok());
    assert!(report.succeeded.is_empty() && report.failed.is_empty() && report.skipped.is_empty());
    let not_started: BTreeSet<Address> = report.not_started.iter().cloned().collect();
    assert_eq!(not_started, desired_addresses(&standard()));
    assert_eq!(report.not_started.len(), 6);
    assert!(h.cloud.calls().is_empty());
    assert!(!h.store.local_path().unwrap().exists(), "nothing journaled");
    assert!(h.events.events().iter().any(|e| matches!(e, Event::Interrupted { in_flight: 0 })));
}

#[tokio::test]
async fn cancel_midway_lets_in_flight_steps_finish_and_starts_nothing_new() {
    let h = Harness::new();
    let cancel = CancelFlag::default();
    // net.a and net.b start together; net.a's create trips the flag while net.b is
    // still in flight.
    h.cloud.cancel_after_create("net.a", &cancel);
    h.cloud.delay(Op::Create, "net.b", Duration::from_millis(100));
    let (plan, state) = h.plan(&graph(standard()), PlanMode::Apply).await;
    let report = h.apply(&plan, state, &ApplyOptions { cancel, ..opts(4) }).await;

    assert!(report.cancelled && !report.ok());
    assert_eq!(succeeded_set(&report), steps(&[("net.a", Phase::Create), ("net.b", Phase::Create)]));
    let not_started: BTreeSet<Address> = report.not_started.iter().cloned().collect();
    assert_eq!(not_started, addrs(&["sub.a1", "sub.a2", "sub.b1", "link.x"]));
    assert!(report.failed.is_empty() && report.skipped.is_empty());
    let mut created = h.cloud.ok_calls(Op::Create);
    created.sort();
    assert_eq!(created, vec![addr("net.a"), addr("net.b")]);
    assert_eq!(h.cloud.calls().len(), 2);
    let st = h.state();
    assert_eq!(st.resources.keys().cloned().collect::<BTreeSet<_>>(), addrs(&["net.a", "net.b"]));
    assert_eq!(st.serial, 2);
    assert!(h.events.events().iter().any(|e| matches!(e, Event::Interrupted { in_flight: 1 })));
}

#[tokio::test]
async fn cancel_with_parallelism_one_stops_after_the_current_step() {
    let h = Harness::new();
    let cancel = CancelFlag::default();
    h.cloud.cancel_after_create("net.a", &cancel);
    let (plan, state) = h.plan(&graph(standard()), PlanMode::Apply).await;
    let report = h.apply(&plan, state, &ApplyOptions { cancel, ..opts(1) }).await;
    assert!(report.cancelled);
    assert_eq!(succeeded_set(&report), steps(&[("net.a", Phase::Create)]));
    assert_eq!(report.not_started.len(), 5);
    assert_eq!(h.cloud.ok_calls(Op::Create), vec![addr("net.a")]);
    assert_eq!(h.state().resources.keys().cloned().collect::<Vec<_>>(), vec![addr("net.a")]);
}

// ---------------------------------------------------------------------------------------
// 8. Saved plans
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn check_plan_refuses_stale_and_foreign_plans() {
    let h = Harness::new();
    let desired = graph(standard());

    // A brand-new state: no lineage yet, serial 0.
    let (first, fresh) = h.plan(&desired, PlanMode::Apply).await;
    assert_eq!((fresh.lineage.as_str(), fresh.serial), ("", 0));
    check_plan(&first, &fresh).unwrap();
    // A saved plan survives its JSON form.
    let saved: Plan = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
    assert_eq!(saved, first);
    check_plan(&saved, &fresh).unwrap();

    h.converge(&desired).await;
    let now = h.state();
    assert!(now.serial >= 1);

    // The old plan is stale: the serial moved (and the lineage was set).
    match check_plan(&first, &now) {
        Err(EngineError::StalePlan { plan_serial: 0, state_serial, .. }) if state_serial == now.serial => {}
        other => panic!("expected a stale plan, got {other:?}"),
    }
    // apply refuses it too, before any call.
    h.cloud.clear_calls();
    let err = apply(&h.registry, &h.ctx, &first, &h.store, now.clone(), &opts(4)).await.unwrap_err();
    assert!(matches!(err, EngineError::StalePlan { .. }), "{err}");
    assert!(h.cloud.calls().is_empty());
    assert_eq!(h.state().serial, now.serial);

    // A plan made against the current state fits it.
    let changed = graph(edit(standard(), "net.a", |s| s.prop("tags", name_tags("x"))));
    let (current, state) = h.plan(&changed, PlanMode::Apply).await;
    assert_eq!((current.state_serial, current.state_lineage.as_str()), (now.serial, now.lineage.as_str()));
    check_plan(&current, &state).unwrap();

    // Same serial, another lineage (e.g. the state file was recreated).
    let mut other_lineage = state.clone();
    other_lineage.lineage = "another-lineage".into();
    assert!(matches!(check_plan(&current, &other_lineage), Err(EngineError::StalePlan { .. })));
    // Same lineage, another serial.
    let mut moved = state.clone();
    moved.serial += 1;
    assert!(matches!(check_plan(&current, &moved), Err(EngineError::StalePlan { .. })));
    // Another stack.
    let mut foreign = current.clone();
    foreign.stack = "other".into();
    match check_plan(&foreign, &state) {
        Err(EngineError::WrongStack { plan, config }) => {
            assert_eq!((plan.as_str(), config.as_str()), ("other", STACK))
        }
        other => panic!("expected a wrong-stack error, got {other:?}"),
    }
    // Another plan format.
    let mut future = current.clone();
    future.format_version += 1;
    let v = hactl_core::plan::PLAN_FORMAT_VERSION;
    assert!(
        matches!(check_plan(&future, &state), Err(EngineError::PlanVersion(f, s)) if f == v + 1 && s == v)
    );
}

// ---------------------------------------------------------------------------------------
// 9. Drift
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn drift_reports_changed_and_deleted_objects() {
    let h = Harness::new();
    let desired = graph(standard());
    h.converge(&desired).await;
    let drift = || async {
        let state = h.state();
        let live = h.refresh(&desired, &state, RefreshScope::StateOnly).await;
        drift_report(&h.registry, &state, &live)
    };

    let clean = drift().await;
    assert!(!clean.has_drift(), "{clean:?}");
    assert!(clean.changed.is_empty() && clean.deleted.is_empty() && clean.unmanaged.is_empty());
    assert_eq!(clean.stack, STACK);

    let link_id = h.cloud.id_of("link.x");
    h.cloud.set_prop("net.a", "tags", name_tags("hacked"));
    h.cloud.set_prop("sub.b1", "cidr", "10.1.9.0/24");
    h.cloud.set_prop("sub.b1", "computed", "ignored: not a property hactl applied");
    h.cloud.remove("link.x");
    let serial = h.state().serial;

    let report = drift().await;
    assert!(report.has_drift());
    assert_eq!(report.drifted_count(), 3);
    let changed: BTreeMap<String, Vec<DriftChange>> =
        report.changed.iter().map(|r| (r.address.to_string(), r.changes.clone())).collect();
    let change = |property: &str, expected: Value, actual: Value| DriftChange {
        property: property.into(),
        expected: Some(expected),
        actual: Some(actual),
    };
    assert_eq!(
        changed,
        BTreeMap::from([
            ("net.a".to_string(), vec![change("tags", name_tags("a"), name_tags("hacked"))]),
            ("sub.b1".to_string(), vec![change("cidr", "10.1.1.0/24".into(), "10.1.9.0/24".into())]),
        ])
    );
    let net_a = report.changed.iter().find(|r| r.address.as_str() == "net.a").unwrap();
    assert_eq!((net_a.kind.as_str(), net_a.id.clone()), (NET, h.cloud.id_of("net.a")));
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(
        (report.deleted[0].address.as_str(), report.deleted[0].kind.as_str(), report.deleted[0].id.as_str()),
        ("link.x", LINK, link_id.as_str())
    );
    assert_eq!(h.state().serial, serial, "drift writes nothing");
}

// ---------------------------------------------------------------------------------------
// 10. The before-journal hook
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn before_journal_hook_runs_once_per_step_before_the_write() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let base = h.state().serial;
    // net.a replaced (its subs too, link.x updated), net.b updated, sub.b1 gone out of
    // band and no longer desired (forget).
    h.cloud.remove("sub.b1");
    let specs = edit(standard(), "net.a", |s| s.prop("cidr", "10.9.0.0/16"));
    let specs = edit(specs, "net.b", |s| s.prop("tags", name_tags("bee")));
    let specs = edit(without(specs, &["sub.b1"]), "link.x", |_| link("x", "a"));
    let desired = graph(specs);
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;

    type Seen = Vec<(Address, Phase, bool, u64)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let hook: BeforeJournal = {
        let (seen, store) = (seen.clone(), h.store.clone());
        Arc::new(move |a: &Address, p: Phase| {
            // What the disk holds when the hook runs: the step is not journaled yet.
            let st = disk_state(&store);
            seen.lock().unwrap().push((a.clone(), p, st.resources.contains_key(a), st.serial));
        })
    };
    // One step at a time, so the serial on disk at each call is predictable.
    let report = h.apply(&plan, state, &ApplyOptions { before_journal: Some(hook), ..opts(1) }).await;
    assert!(report.ok(), "{:?}", report.failed);

    let seen = seen.lock().unwrap().clone();
    let expected = steps(&[
        ("sub.a1", Phase::Delete),
        ("sub.a2", Phase::Delete),
        ("net.a", Phase::Delete),
        ("net.a", Phase::Create),
        ("sub.a1", Phase::Create),
        ("sub.a2", Phase::Create),
        ("link.x", Phase::Update),
        ("net.b", Phase::Update),
        ("sub.b1", Phase::Record),
    ]);
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    assert_eq!(seen.iter().map(|(a, p, ..)| (a.clone(), *p)).collect::<BTreeSet<_>>(), expected);
    assert_eq!(succeeded_set(&report), expected);
    // Same order as the steps finished.
    let order: Vec<(Address, Phase)> = seen.iter().map(|(a, p, ..)| (a.clone(), *p)).collect();
    assert_eq!(order, report.succeeded);
    for (i, (a, p, in_state, serial)) in seen.iter().enumerate() {
        assert_eq!(*serial, base + i as u64, "{a} {p:?}: the previous steps are on disk, this one is not");
        // A delete/forget still finds the entry; a create does not yet (the replaced
        // entry was removed by its delete); an update finds the old entry.
        let want = match p {
            Phase::Delete | Phase::Record | Phase::Update => true,
            Phase::Create => false,
        };
        assert_eq!(*in_state, want, "{a} {p:?}");
    }
    assert_eq!(h.state().serial, base + 9);
    h.assert_converged(&desired).await;
}

// ---------------------------------------------------------------------------------------
// 11. Destroy
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn destroy_deletes_everything_in_reverse_dependency_order() {
    let h = Harness::new();
    let desired = graph(standard());
    h.converge(&desired).await;
    let before = h.state();
    h.cloud.clear_calls();

    let (plan, report) = h.converge_mode(&desired, PlanMode::Destroy).await;
    assert_eq!(plan.actions.len(), 6);
    assert!(plan.actions.iter().all(|a| a.action == ActionType::Delete && a.reason.is_none() && !a.adopted));
    assert!(report.succeeded.iter().all(|(_, p)| *p == Phase::Delete));

    let seq = h.cloud.ok_sequence();
    assert_eq!(seq.len(), 6);
    assert!(seq.iter().all(|(op, _)| *op == Op::Delete));
    for (a, rs) in &before.resources {
        for dep in &rs.depends_on {
            assert!(
                pos(&seq, Op::Delete, a.as_str()) < pos(&seq, Op::Delete, dep.as_str()),
                "{a} must be deleted before {dep}: {seq:?}"
            );
        }
    }
    assert_eq!(h.cloud.object_count(), 0);
    let st = h.state();
    assert!(st.resources.is_empty());
    // At most one save per delete (deletes finishing together share one).
    assert!(
        (before.serial + 1..=before.serial + 6).contains(&st.serial),
        "{} -> {}",
        before.serial,
        st.serial
    );
    assert_eq!(st.lineage, before.lineage);

    let (again, _) = h.plan(&desired, PlanMode::Destroy).await;
    assert!(!again.has_changes());
}

// ---------------------------------------------------------------------------------------
// Regressions: engine bugs found while writing these tests (kind changes, update outputs)
// ---------------------------------------------------------------------------------------

fn node_as_net() -> ResourceSpec {
    ResourceSpec::new(addr("node.x"), NET).prop("cidr", "10.5.0.0/16")
}

fn node_as_link() -> ResourceSpec {
    ResourceSpec::new(addr("node.x"), LINK).prop("net_id", Ref::new(&addr("net.a"), "id")).prop("note", "hi")
}

#[tokio::test]
async fn an_address_that_changes_kind_deletes_its_old_object() {
    let h = Harness::new();
    h.converge(&graph(vec![net("a", "10.0.0.0/16"), node_as_net()])).await;
    let old = h.cloud.id_of("node.x");
    // Should the delete of the old object and the create of the new one be unordered, a
    // slow delete journals its removal last and erases the new entry.
    h.cloud.delay(Op::Delete, "node.x", Duration::from_millis(50));

    let desired = graph(vec![net("a", "10.0.0.0/16"), node_as_link()]);
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    let old_action = plan.actions.iter().find(|a| a.address.as_str() == "node.x" && a.kind == NET).unwrap();
    assert_eq!(
        (old_action.action, old_action.id.as_deref()),
        (ActionType::Delete, Some(old.as_str())),
        "the old object exists: {:?}",
        old_action.reason
    );
    assert!(plan.unmanaged.is_empty(), "{:?}", plan.unmanaged);

    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert!(!h.cloud.exists(&old), "the old object is deleted");
    let st = h.state();
    let rs = &st.resources[&addr("node.x")];
    assert_eq!((rs.kind.as_str(), vec![rs.id.clone()]), (LINK, h.cloud.tagged(LINK, "node.x")));
    h.assert_converged(&desired).await;
}

#[tokio::test]
async fn an_address_that_changes_kind_with_an_orphan_of_the_new_kind() {
    let h = Harness::new();
    h.converge(&graph(vec![net("a", "10.0.0.0/16"), node_as_net()])).await;
    let old = h.cloud.id_of("node.x");
    // The new link was created, then the run crashed before journaling it.
    let mut props = node_as_link().props;
    props.insert("net_id".into(), Value::str(h.cloud.id_of("net.a")));
    let orphan = h.cloud.seed(LINK, Some(STACK), Some("node.x"), props);

    let desired = graph(vec![net("a", "10.0.0.0/16"), node_as_link()]);
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    for a in plan.actions.iter().filter(|a| a.id.as_deref() == Some(orphan.as_str())) {
        assert_eq!(a.kind, LINK, "{} {} of {orphan} under the wrong kind", a.action, a.address);
    }
    let report = h.apply(&plan, state, &opts(4)).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert!(!h.cloud.exists(&old), "the old object is deleted");
    let links = h.cloud.tagged(LINK, "node.x");
    assert_eq!(links.len(), 1, "one link at node.x: {links:?}");
    let st = h.state();
    let rs = &st.resources[&addr("node.x")];
    assert_eq!((rs.kind.as_str(), &rs.id), (LINK, &links[0]));
    h.assert_converged(&desired).await;
}

#[tokio::test]

async fn an_update_records_the_live_outputs() {
    let h = Harness::new();
    h.converge(&graph(vec![net("a", "10.0.0.0/16")])).await;
    h.cloud.set_output("net.a", "arn", "arn:test:net/moved");
    let desired = graph(vec![net("a", "10.0.0.0/16").prop("tags", name_tags("z"))]);
    let (plan, state) = h.plan(&desired, PlanMode::Apply).await;
    expect_actions(&plan, &[("net.a", ActionType::Update)]);
    assert_eq!(action(&plan, "net.a").live_outputs["arn"], Value::str("arn:test:net/moved"));
    assert!(h.apply(&plan, state, &opts(4)).await.ok());
    assert_eq!(h.state().output(&addr("net.a"), "arn"), Some(Value::str("arn:test:net/moved")));
}

// ---------------------------------------------------------------------------------------
// Deletion protection
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_plan_deleting_a_protected_object_is_refused_unless_allowed() {
    let h = Harness::new();
    let desired = graph(standard());
    h.converge(&desired).await;
    // The object's live state says it is protected (what a database's read reports).
    h.cloud.set_prop("net.a", "protected", true);
    h.cloud.clear_calls();

    let (plan, state) = h.plan(&desired, PlanMode::Destroy).await;
    assert_eq!(plan.protected, vec![addr("net.a")]);
    let err = apply(&h.registry, &h.ctx, &plan, &h.store, state, &opts(4)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Protected(ref a) if a == &vec![addr("net.a")]), "{msg}");
    assert!(
        msg.contains("net.a")
            && msg.contains("--allow-delete-protected")
            && msg.contains("nothing was changed"),
        "{msg}"
    );
    assert!(h.cloud.calls().is_empty(), "nothing may be called: {:?}", h.cloud.calls());
    assert_eq!(h.cloud.object_count(), 6);

    // An apply plan that leaves it alone is not refused; one that removes it is.
    let (plan, _) = h.plan(&desired, PlanMode::Apply).await;
    assert!(plan.protected.is_empty());
    let (plan, _) =
        h.plan(&graph(without(standard(), &["net.a", "sub.a1", "sub.a2", "link.x"])), PlanMode::Apply).await;
    assert_eq!(plan.protected, vec![addr("net.a")]);
    // A replacement deletes the live object too.
    let replaced = graph(edit(standard(), "net.a", |n| n.prop("cidr", "10.9.0.0/16")));
    let (plan, _) = h.plan(&replaced, PlanMode::Apply).await;
    assert_eq!(action(&plan, "net.a").action, ActionType::Replace);
    assert_eq!(plan.protected, vec![addr("net.a")]);

    let mut ctx = h.ctx.clone();
    ctx.delete_options.allow_delete_protected = true;
    let (plan, state) = h.plan(&desired, PlanMode::Destroy).await;
    let report = apply(&h.registry, &ctx, &plan, &h.store, state, &opts(4)).await.unwrap();
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(h.cloud.object_count(), 0);
}

/// An update reached the cloud but its journal entry was lost: drift (state against live)
/// reports it, the plan (desired against live) has nothing to do. catch_up records the
/// live object, with no provider call, and drift is clean again.
#[tokio::test]
async fn a_lost_journal_entry_is_caught_up_without_a_call() {
    let h = Harness::new();
    h.converge(&graph(standard())).await;
    let desired = graph(edit(standard(), "net.b", |s| s.prop("tags", name_tags("bee"))));
    // What the update did in the cloud, without its journal entry.
    h.cloud.set_prop("net.b", "tags", name_tags("bee"));
    h.cloud.clear_calls();

    let mut state = h.state();
    let live = h.refresh(&desired, &state, RefreshScope::DesiredAndState).await;
    assert_eq!(drift_report(&h.registry, &state, &live).drifted_count(), 1);
    assert!(!make_plan(&h.registry, &desired, &state, &live, PlanMode::Apply).unwrap().has_changes());

    let recorded = catch_up(&h.registry, &desired, &mut state, &live).unwrap();
    assert_eq!(recorded, vec![addr("net.b")]);
    assert_eq!(state.resources[&addr("net.b")].props["tags"], name_tags("bee"));
    assert!(h.cloud.calls().is_empty(), "no provider call: {:?}", h.cloud.calls());
    assert_eq!(drift_report(&h.registry, &state, &live).drifted_count(), 0);
    // Nothing else to catch up: a second pass records nothing.
    assert!(catch_up(&h.registry, &desired, &mut state, &live).unwrap().is_empty());

    // An out-of-band change the config does not ask for is drift, not caught up.
    h.cloud.set_prop("net.a", "tags", name_tags("changed"));
    let live = h.refresh(&desired, &state, RefreshScope::DesiredAndState).await;
    assert!(catch_up(&h.registry, &desired, &mut state, &live).unwrap().is_empty());
    assert_eq!(drift_report(&h.registry, &state, &live).drifted_count(), 1);
}

/// An apply plan that names a conflict (an object with the stack's name that is not the
/// stack's) is refused before any provider call; destroy goes on and leaves it.
#[tokio::test]
async fn a_plan_with_conflicts_is_refused_before_any_call() {
    let h = Harness::new();
    let desired = graph(standard());
    let (mut plan, state) = h.plan(&desired, PlanMode::Apply).await;
    assert!(plan.has_changes());
    let conflict =
        hactl_core::plan::Conflict { address: addr("net.a"), kind: NET.into(), id: "foreign-1".into() };
    plan.conflicts = vec![conflict.clone()];
    let err = apply(&h.registry, &h.ctx, &plan, &h.store, state, &opts(4)).await.expect_err("refused");
    match &err {
        EngineError::Conflicts(c) => assert_eq!(c, &vec![conflict]),
        other => panic!("expected Conflicts, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("foreign-1")
            && text.contains("Import it (`hactl import ADDRESS ID`), rename the stack, or delete it"),
        "{text}"
    );
    assert!(h.cloud.calls().is_empty(), "no provider call: {:?}", h.cloud.calls());
    assert_eq!(h.cloud.object_count(), 0);
}

#[tokio::test]
async fn an_object_answered_twice_is_one_object_never_an_unmanaged_one() {
    let h = Harness::new();
    let desired = graph(standard());
    h.converge(&desired).await;
    h.cloud.lock().read_twice = true;
    // The plan: no change, nothing unmanaged.
    let (plan, _) = h.plan(&desired, PlanMode::Apply).await;
    assert!(!plan.has_changes(), "{:#?}", plan.actions);
    assert!(plan.unmanaged.is_empty(), "{:?}", plan.unmanaged);
    // Drift: clean.
    let state = h.state();
    let live = h.refresh(&desired, &state, RefreshScope::StateOnly).await;
    let report = drift_report(&h.registry, &state, &live);
    assert!(!report.has_drift(), "{report:?}");
    // The provider does answer every object twice: the checks above cannot pass by
    // accident.
    let provider = h.registry.get(NET).unwrap().clone();
    let answered = provider.read(&h.ctx, &[]).await.unwrap();
    let nets = h.cloud.lock().objects.values().filter(|o| o.kind == NET).count();
    assert_eq!(answered.len(), 2 * nets, "{answered:?}");
}
