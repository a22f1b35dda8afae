//! Locations: one registry reaches the providers of every region a stack uses (built on
//! first use by its factory), global kinds live once at `global`, refresh reads each
//! (kind, location) through that location's providers with a read cache of its own, plans
//! and state record where each resource lives, and a resource that moves is deleted where
//! it was and created where it goes.

use async_trait::async_trait;
use hactl_core::plan::PlanMode;
use hactl_core::{
    ActionType, Address, DesiredGraph, KindSchema, Location, PropSchema, Props, ResourceSpec, Value,
};
use hactl_engine::{
    apply, make_plan, place_state, refresh, Applied, ApplyOptions, Ctx, LiveObject, NullSink, Provider,
    ProviderError, ReadTarget, RefreshScope, Registry, UpdateRequest,
};
use hactl_state::StateStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const HOME: &str = "us-east-1";
static NET: KindSchema =
    KindSchema { kind: "test.net", props: &[PropSchema::replace("cidr"), PropSchema::in_place("tags")] };
static ROLE: KindSchema = KindSchema { kind: "test.role", props: &[PropSchema::in_place("tags")] };

/// Objects by region (`global` for the global kind), then id: (address, props).
type Clouds = Arc<Mutex<BTreeMap<String, BTreeMap<String, (Address, Props)>>>>;

struct Fake {
    schema: &'static KindSchema,
    /// The region this provider's "clients" are bound to.
    region: String,
    global: bool,
    clouds: Clouds,
    /// Describe calls made, by region.
    reads: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Fake {
    fn bucket(&self) -> String {
        if self.global {
            "global".into()
        } else {
            self.region.clone()
        }
    }
}

#[async_trait]
impl Provider for Fake {
    fn schema(&self) -> &'static KindSchema {
        self.schema
    }

    fn global(&self) -> bool {
        self.global
    }

    async fn read(&self, ctx: &Ctx, _targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // One describe per location and refresh, shared through the read cache (as EC2's
        // kinds share DescribeRouteTables): another region's answer must never serve here.
        let bucket = self.bucket();
        let all = ctx
            .cache
            .get_or_try_init("objects", || async {
                *self.reads.lock().unwrap().entry(bucket.clone()).or_default() += 1;
                Ok::<_, ProviderError>(self.clouds.lock().unwrap().get(&bucket).cloned().unwrap_or_default())
            })
            .await?;
        Ok(all
            .iter()
            .filter(|(id, _)| id.starts_with(self.schema.kind))
            .map(|(id, (address, props))| LiveObject {
                id: id.clone(),
                address: Some(address.clone()),
                props: props.clone(),
                outputs: BTreeMap::new(),
                owned: true,
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = format!("{}:{}:{address}", self.schema.kind, self.bucket());
        self.clouds
            .lock()
            .unwrap()
            .entry(self.bucket())
            .or_default()
            .insert(id.clone(), (address.clone(), props.clone()));
        Ok(Applied { id, outputs: BTreeMap::new() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut clouds = self.clouds.lock().unwrap();
        let obj = clouds
            .get_mut(&self.bucket())
            .and_then(|c| c.get_mut(req.id))
            .ok_or_else(|| ProviderError::fatal(format!("{} is not in {}", req.id, self.bucket())))?;
        obj.1 = req.desired.clone();
        Ok(Applied { id: req.id.to_string(), outputs: BTreeMap::new() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.clouds.lock().unwrap().get_mut(&self.bucket()).and_then(|c| c.remove(id)) {
            Some(_) => Ok(()),
            None => Err(ProviderError::fatal(format!("{id} is not in {}", self.bucket()))),
        }
    }
}

struct World {
    clouds: Clouds,
    reads: Arc<Mutex<BTreeMap<String, usize>>>,
    built: Arc<Mutex<Vec<String>>>,
    registry: Registry,
    store: StateStore,
    ctx: Ctx,
    _dir: tempfile::TempDir,
}

fn providers(region: &str, clouds: &Clouds, reads: &Arc<Mutex<BTreeMap<String, usize>>>) -> Registry {
    let mut r = Registry::new();
    for (schema, global) in [(&NET, false), (&ROLE, true)] {
        r.register(Arc::new(Fake {
            schema,
            region: region.to_string(),
            global,
            clouds: clouds.clone(),
            reads: reads.clone(),
        }));
    }
    r
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clouds = Clouds::default();
        let reads: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let built: Arc<Mutex<Vec<String>>> = Arc::default();
        let (c, r, b) = (clouds.clone(), reads.clone(), built.clone());
        let factory = move |region: &str| {
            b.lock().unwrap().push(region.to_string());
            providers(region, &c, &r)
        };
        let registry = providers(HOME, &clouds, &reads).with_regions(HOME, Arc::new(factory));
        World {
            clouds,
            reads,
            built,
            registry,
            store: StateStore::local(dir.path(), "demo"),
            ctx: Ctx::new("demo", Arc::new(NullSink)),
            _dir: dir,
        }
    }

    /// Refresh, plan `mode` against the stored state, apply; returns the plan.
    async fn converge(&self, desired: &DesiredGraph, mode: PlanMode) -> hactl_core::Plan {
        let state = self.store.load().await.unwrap();
        let live =
            refresh(&self.registry, &self.ctx, desired, &state, RefreshScope::DesiredAndState).await.unwrap();
        let plan = make_plan(&self.registry, desired, &state, &live, mode).unwrap();
        let report = apply(&self.registry, &self.ctx, &plan, &self.store, state, &ApplyOptions::default())
            .await
            .unwrap();
        assert!(report.ok(), "{:?}", report.failed);
        plan
    }

    /// The addresses of the objects in each region's cloud.
    fn where_(&self) -> BTreeMap<String, Vec<String>> {
        self.clouds
            .lock()
            .unwrap()
            .iter()
            .map(|(region, objs)| (region.clone(), objs.values().map(|(a, _)| a.to_string()).collect()))
            .filter(|(_, v): &(String, Vec<String>)| !v.is_empty())
            .collect()
    }
}

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn net(address: &str, cidr: &str, at: Option<&str>) -> ResourceSpec {
    ResourceSpec::new(a(address), "test.net").prop("cidr", cidr).at(at.map(Location::region))
}

/// A net at home, a net in us-west-2, and a global role declared by the us-west-2 part.
fn desired(dr_region: &str) -> DesiredGraph {
    DesiredGraph::build(vec![
        net("net.main", "10.0.0.0/16", None),
        net("dr.net.main", "10.1.0.0/16", Some(dr_region)),
        ResourceSpec::new(a("dr.role.main"), "test.role")
            .prop("tags", Value::str("x"))
            .at(Some(Location::region(dr_region))),
    ])
    .unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn each_resource_lives_at_its_location_and_moves_by_replacement() {
    let w = World::new();
    let plan = w.converge(&desired("us-west-2"), PlanMode::Apply).await;
    let at: BTreeMap<&str, String> =
        plan.actions.iter().map(|x| (x.address.as_str(), x.location.to_string())).collect();
    assert_eq!(at["net.main"], "us-east-1");
    assert_eq!(at["dr.net.main"], "us-west-2");
    assert_eq!(at["dr.role.main"], "global");
    let mut want = BTreeMap::new();
    want.insert("global".to_string(), strings(&["dr.role.main"]));
    want.insert("us-east-1".to_string(), strings(&["net.main"]));
    want.insert("us-west-2".to_string(), strings(&["dr.net.main"]));
    assert_eq!(w.where_(), want);
    // The other region's providers were built once, on first use.
    assert_eq!(*w.built.lock().unwrap(), ["us-west-2"]);
    let state = w.store.load().await.unwrap();
    assert_eq!(state.resources[&a("dr.net.main")].location, Some(Location::region("us-west-2")));
    assert_eq!(state.resources[&a("dr.role.main")].location, Some(Location::Global));

    // Converged: each location read once per refresh (its own cache), nothing to do.
    w.reads.lock().unwrap().clear();
    let plan = w.converge(&desired("us-west-2"), PlanMode::Apply).await;
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    let reads = w.reads.lock().unwrap().clone();
    assert_eq!(reads.get("us-east-1"), Some(&1));
    assert_eq!(reads.get("us-west-2"), Some(&1));
    assert_eq!(reads.get("global"), Some(&1));

    // The DR part moves to eu-west-1: its net is deleted in us-west-2 and created in
    // eu-west-1; the global role stays where it is.
    let plan = w.converge(&desired("eu-west-1"), PlanMode::Apply).await;
    let moves: Vec<(String, ActionType, String)> =
        plan.actions.iter().map(|x| (x.address.to_string(), x.action, x.location.to_string())).collect();
    assert_eq!(
        moves,
        [
            ("dr.net.main".to_string(), ActionType::Delete, "us-west-2".to_string()),
            ("dr.net.main".to_string(), ActionType::Create, "eu-west-1".to_string()),
        ]
    );
    assert_eq!(plan.actions[0].reason.as_deref(), Some("the address moves from us-west-2 to eu-west-1"));
    assert_eq!(w.where_().get("eu-west-1"), Some(&strings(&["dr.net.main"])));
    assert_eq!(w.where_().get("us-west-2"), None);

    // Destroy deletes each object where it lives.
    w.converge(&desired("eu-west-1"), PlanMode::Destroy).await;
    assert!(w.where_().is_empty(), "{:?}", w.where_());
}

#[tokio::test]
async fn a_state_without_locations_is_placed_at_home_or_global_and_plans_nothing() {
    let w = World::new();
    let graph = DesiredGraph::build(vec![
        net("net.main", "10.0.0.0/16", None),
        ResourceSpec::new(a("role.main"), "test.role").prop("tags", Value::str("x")),
    ])
    .unwrap();
    w.converge(&graph, PlanMode::Apply).await;
    // As a format 1 state records them: no location.
    let mut state = w.store.load().await.unwrap();
    for r in state.resources.values_mut() {
        r.location = None;
    }
    let live = refresh(&w.registry, &w.ctx, &graph, &state, RefreshScope::DesiredAndState).await.unwrap();
    let plan = make_plan(&w.registry, &graph, &state, &live, PlanMode::Apply).unwrap();
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    assert_eq!(place_state(&w.registry, &mut state), 2);
    let at = |s: &str| state.resources[&a(s)].location.clone();
    assert_eq!(at("net.main"), Some(Location::region(HOME)));
    assert_eq!(at("role.main"), Some(Location::Global));
    assert_eq!(place_state(&w.registry, &mut state), 0, "placing twice changes nothing");
}

#[test]
fn a_registry_bound_to_one_region_refuses_another() {
    let clouds = Clouds::default();
    let reads = Arc::default();
    let mut r = providers(HOME, &clouds, &reads);
    assert!(r.at("test.net", &Location::region("us-west-2")).is_ok(), "unbound: every region is home");
    r = r.with_regions(HOME, Arc::new(|_: &str| Registry::new()));
    assert!(
        r.at("test.net", &Location::region("us-west-2")).is_err(),
        "that region has no test.net provider"
    );
    assert!(r.at("test.role", &Location::Global).is_ok());
    assert_eq!(r.place("test.role", Some(&Location::region("us-west-2"))), Location::Global);
    assert_eq!(r.place("test.net", None), Location::region(HOME));
}
