//! Refresh: read the live objects of every kind the stack uses, one batched read per
//! kind, a kind that depends on others read as soon as they are read (so natural keys
//! resolve), independent kinds at once: a slow kind holds up only the kinds after it.

use crate::events::Event;
use crate::provider::{Ctx, LiveObject, ReadTarget, Registry};
use crate::EngineError;
use futures::stream::{FuturesUnordered, StreamExt};
use hactl_core::graph::find_cycles;
use hactl_core::plan::{Conflict, Unmanaged};
use hactl_core::{Address, DesiredGraph, Location, Props, Ref, Value};
use hactl_state::State;
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Which targets to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshScope {
    /// Desired resources and everything in state (plan, apply, destroy).
    DesiredAndState,
    /// Only what state records (drift).
    StateOnly,
}

/// What refresh found.
#[derive(Clone, Debug, Default)]
pub struct LiveView {
    /// Live objects matched to an address (by state id, or by tag / natural key).
    pub found: BTreeMap<Address, LiveObject>,
    /// Addresses matched by tag or natural key while absent from state: crash orphans.
    pub adopted: BTreeSet<Address>,
    /// Objects with the stack's tag that match no target.
    pub unmanaged: Vec<Unmanaged>,
    /// Objects with a target's name or natural key that are not the stack's (no
    /// ownership tags, id not in state): never adopted, re-tagged or deleted.
    pub conflicts: Vec<Conflict>,
    /// Objects recorded in state under an address whose desired kind or location is now
    /// another one: they are replaced (deleted through their old kind's provider, at
    /// their old location).
    pub prior: BTreeMap<Address, LiveObject>,
}

impl LiveView {
    pub fn output(&self, r: &Ref) -> Option<Value> {
        self.found.get(&r.address).and_then(|o| o.output(&r.output))
    }
}

/// A resource to read, borrowing its desired and recorded properties (a 1,000-resource
/// stack's properties are held once, not copied per target).
struct Target<'a> {
    kind: &'a str,
    location: Location,
    address: &'a Address,
    state_id: Option<&'a str>,
    desired: Option<&'a Props>,
    recorded: Option<&'a Props>,
}

/// A target's identity: the same address under another kind or location is another
/// object (the old one is replaced).
type TargetKey = (Address, String, Location);

/// What to read: every desired resource (scope permitting) and every recorded one, each
/// at its location; an address whose kind or location changed is read under both.
fn targets<'a>(
    registry: &Registry,
    desired: &'a DesiredGraph,
    state: &'a State,
    scope: RefreshScope,
) -> BTreeMap<TargetKey, Target<'a>> {
    let mut targets: BTreeMap<TargetKey, Target<'a>> = BTreeMap::new();
    if scope == RefreshScope::DesiredAndState {
        for spec in desired.specs() {
            let location = registry.place(&spec.kind, spec.location.as_ref());
            targets.insert(
                (spec.address.clone(), spec.kind.clone(), location.clone()),
                Target {
                    kind: &spec.kind,
                    location,
                    address: &spec.address,
                    state_id: None,
                    desired: Some(&spec.props),
                    recorded: None,
                },
            );
        }
    }
    for (addr, rs) in &state.resources {
        let location = registry.place(&rs.kind, rs.location.as_ref());
        let key = (addr.clone(), rs.kind.clone(), location.clone());
        let t = targets.entry(key).or_insert_with(|| Target {
            kind: &rs.kind,
            location,
            address: addr,
            state_id: None,
            desired: None,
            recorded: None,
        });
        t.state_id = Some(&rs.id);
        t.recorded = Some(&rs.props);
    }
    targets
}

/// The kinds each kind's read waits for: those whose outputs its desired properties
/// refer to (a target's properties are resolved against what was read before it, so its
/// natural keys resolve). Ordering-only dependencies (`depends_on`: a listener rule before
/// a service) and recorded properties (already resolved) hold no read up: at 1,000
/// resources, waiting for them put the ECS services' read behind the target groups'
/// attribute reads and the listener rules'.
///
/// A kind whose provider names the properties its read uses ([`crate::provider::Provider::read_keys`])
/// waits only for the kinds those properties refer to.
fn kind_dependencies(
    desired: &DesiredGraph,
    kinds: &BTreeSet<String>,
    read_keys: &dyn Fn(&str) -> Option<&'static [&'static str]>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut kind_deps: BTreeSet<(String, String)> = BTreeSet::new();
    for spec in desired.specs() {
        let keys = read_keys(&spec.kind);
        let mut refs = BTreeSet::new();
        for (name, v) in &spec.props {
            if keys.is_none_or(|k| k.contains(&name.as_str())) {
                v.refs(&mut refs);
            }
        }
        for r in refs {
            if let Some(dep) = desired.get(&r.address) {
                kind_deps.insert((dep.kind.clone(), spec.kind.clone()));
            }
        }
    }
    kind_predecessors(kinds, &kind_deps)
}

pub async fn refresh(
    registry: &Registry,
    ctx: &Ctx,
    desired: &DesiredGraph,
    state: &State,
    scope: RefreshScope,
) -> Result<LiveView, EngineError> {
    // A refresh starts from empty cached answers.
    let ctx = &ctx.with_fresh_cache();
    let targets = targets(registry, desired, state, scope);
    // One batched read per (kind, location); the locations of a kind read in parallel.
    let groups: BTreeSet<(String, Location)> =
        targets.values().map(|t| (t.kind.to_string(), t.location.clone())).collect();
    for (kind, location) in &groups {
        registry.at(kind, location)?;
    }
    let kinds: BTreeSet<String> = groups.iter().map(|(k, _)| k.clone()).collect();
    let read_keys = |kind: &str| registry.get(kind).ok().and_then(|p| p.read_keys());
    let waits_for = kind_dependencies(desired, &kinds, &read_keys);
    // Groups not read yet, by kind; a kind is read once none of the kinds it waits for is.
    let mut unread: BTreeMap<&String, usize> = BTreeMap::new();
    for (kind, _) in &groups {
        *unread.entry(kind).or_default() += 1;
    }
    let mut view = LiveView::default();
    let mut started: BTreeSet<&(String, Location)> = BTreeSet::new();
    let mut reading = FuturesUnordered::new();
    loop {
        for group @ (kind, location) in &groups {
            let ready = waits_for.get(kind).is_none_or(|deps| deps.iter().all(|d| !unread.contains_key(d)));
            if !ready || !started.insert(group) {
                continue;
            }
            let kind_targets: Vec<ReadTarget> = targets
                .values()
                .filter(|t| t.kind == kind && &t.location == location)
                .map(|t| ReadTarget {
                    address: t.address.clone(),
                    id: t.state_id.map(str::to_string),
                    props: match t.desired {
                        Some(p) => {
                            p.iter().map(|(k, v)| (k.clone(), v.resolve(&|r: &Ref| view.output(r)))).collect()
                        }
                        None => t.recorded.cloned().unwrap_or_default(),
                    },
                    recorded: t.recorded.cloned(),
                })
                .collect();
            reading.push(read_group(registry, ctx, kind, location, kind_targets));
        }
        let Some(done) = reading.next().await else { break };
        let (kind, location, kind_targets, objs) = done?;
        let is_prior = |a: &Address| {
            desired
                .get(a)
                .is_some_and(|s| s.kind != kind || registry.place(&s.kind, s.location.as_ref()) != location)
        };
        match_objects(&mut view, (&kind, &location), &kind_targets, objs, &is_prior);
        if let Some(n) = unread.get_mut(&kind) {
            *n -= 1;
            if *n == 0 {
                unread.remove(&kind);
            }
        }
    }
    Ok(view)
}

/// How a (kind, location) group is named in events and errors: the kind alone in the
/// home region and for global kinds, `kind (region)` elsewhere.
fn group_name(registry: &Registry, kind: &str, location: &Location) -> String {
    match location.region_name() {
        Some(r) if registry.home().is_some_and(|h| h != r) => format!("{kind} ({r})"),
        _ => kind.to_string(),
    }
}

/// Reads one (kind, location) group through the provider of that location.
async fn read_group(
    registry: &Registry,
    ctx: &Ctx,
    kind: &str,
    location: &Location,
    targets: Vec<ReadTarget>,
) -> Result<(String, Location, Vec<ReadTarget>, Vec<LiveObject>), EngineError> {
    let name = group_name(registry, kind, location);
    let provider = registry.at(kind, location)?;
    let ctx = ctx.at(location);
    ctx.events().emit(Event::ReadStarted { kind: name.clone(), targets: targets.len() });
    let t0 = Instant::now();
    let mut objs = provider
        .read(&ctx, &targets)
        .await
        .map_err(|source| EngineError::Read { kind: name.clone(), source })?;
    // An API that ignores a filter, or pages that overlap, can answer one object twice:
    // the first answer counts, a repeat is never a second (unmanaged) object.
    let mut seen = std::collections::HashSet::new();
    objs.retain(|o| seen.insert(o.id.clone()));
    ctx.events().emit(Event::ReadFinished { kind: name, found: objs.len(), elapsed: t0.elapsed() });
    Ok((kind.to_string(), location.clone(), targets, objs))
}

/// Files the objects of one (kind, location) read: by state id first, then by address
/// (tag or natural key). An object of an address whose desired kind or location is
/// another one (`is_prior`) goes to `prior`, not `found`.
fn match_objects(
    view: &mut LiveView,
    (kind, location): (&str, &Location),
    targets: &[ReadTarget],
    objs: Vec<LiveObject>,
    prior: &dyn Fn(&Address) -> bool,
) {
    // Each object is filed once, moved out of `objs` (None: taken).
    let mut objs: Vec<Option<LiveObject>> = objs.into_iter().map(Some).collect();
    let by_id: std::collections::HashMap<String, usize> =
        objs.iter().enumerate().filter_map(|(i, o)| o.as_ref().map(|o| (o.id.clone(), i))).collect();
    // Where each object taken by id was filed: two addresses recording one id (not
    // expected) both get the object, the second a copy.
    let mut filed: std::collections::HashMap<usize, (bool, Address)> = std::collections::HashMap::new();
    for t in targets {
        let Some(&i) = t.id.as_ref().and_then(|id| by_id.get(id)) else { continue };
        let o = match (objs[i].take(), filed.get(&i)) {
            (Some(o), _) => o,
            (None, Some((true, a))) => view.prior[a].clone(),
            (None, Some((false, a))) => view.found[a].clone(),
            (None, None) => continue,
        };
        let is_prior = prior(&t.address);
        let map = if is_prior { &mut view.prior } else { &mut view.found };
        map.insert(t.address.clone(), o);
        filed.entry(i).or_insert_with(|| (is_prior, t.address.clone()));
    }
    for t in targets {
        if view.found.contains_key(&t.address) || prior(&t.address) {
            continue;
        }
        let at = objs.iter().position(|o| o.as_ref().is_some_and(|o| o.address.as_ref() == Some(&t.address)));
        if let Some(o) = at.and_then(|i| objs[i].take()) {
            // The ownership rule: an object found by address (its name or natural key)
            // rather than by a recorded id is the stack's only when it carries the
            // stack's ownership tags (or belongs to an object that does).
            if o.owned {
                view.found.insert(t.address.clone(), o);
                view.adopted.insert(t.address.clone());
            } else {
                view.conflicts.push(Conflict {
                    address: t.address.clone(),
                    kind: kind.to_string(),
                    id: o.id,
                });
            }
        }
    }
    for o in objs.iter().flatten() {
        if o.owned {
            view.unmanaged.push(Unmanaged {
                kind: kind.to_string(),
                id: o.id.clone(),
                address_tag: o.address.as_ref().map(Address::to_string),
                location: Some(location.clone()),
            });
        }
    }
}

/// The kinds each kind is read after (those it depends on). Kinds in a dependency cycle
/// do not wait for each other (they are read together).
fn kind_predecessors(
    kinds: &BTreeSet<String>,
    deps: &BTreeSet<(String, String)>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: DiGraph<String, ()> = DiGraph::new();
    let idx: BTreeMap<&String, _> = kinds.iter().map(|k| (k, g.add_node(k.clone()))).collect();
    for (from, to) in deps {
        if let (Some(&a), Some(&b)) = (idx.get(from), idx.get(to)) {
            if a != b {
                g.add_edge(a, b, ());
            }
        }
    }
    // Collapse cycles: drop edges inside any cycle.
    for cycle in find_cycles(&g) {
        let members: BTreeSet<_> = cycle.iter().filter_map(|k| idx.get(k).copied()).collect();
        g.retain_edges(|gr, e| match gr.edge_endpoints(e) {
            Some((a, b)) => !(members.contains(&a) && members.contains(&b)),
            None => true,
        });
    }
    g.node_indices()
        .map(|n| (g[n].clone(), g.neighbors_directed(n, petgraph::Incoming).map(|m| g[m].clone()).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hactl_core::ResourceSpec;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_kind_waits_only_for_the_kinds_it_depends_on() {
        let kinds = set(&["vpc", "subnet", "route", "route_table", "igw"]);
        let deps: BTreeSet<(String, String)> =
            [("vpc", "subnet"), ("vpc", "route_table"), ("route_table", "route"), ("igw", "route")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let waits = kind_predecessors(&kinds, &deps);
        assert_eq!(waits["vpc"], set(&[]));
        assert_eq!(waits["igw"], set(&[]));
        assert_eq!(waits["subnet"], set(&["vpc"]));
        assert_eq!(waits["route"], set(&["igw", "route_table"]), "not the subnets: they hold nothing up");
    }

    #[test]
    fn kinds_in_a_cycle_do_not_wait_for_each_other() {
        let kinds = set(&["a", "b", "c"]);
        let deps: BTreeSet<(String, String)> = [("a", "b"), ("b", "a"), ("b", "c")]
            .iter()
            .map(|(x, y)| (x.to_string(), y.to_string()))
            .collect();
        let waits = kind_predecessors(&kinds, &deps);
        assert_eq!(
            (waits["a"].clone(), waits["b"].clone(), waits["c"].clone()),
            (set(&[]), set(&[]), set(&["b"]))
        );
    }

    #[test]
    fn a_kind_waits_for_the_kinds_its_properties_refer_to_not_for_ordering_dependencies() {
        let a = |s: &str| Address::parse(s).unwrap();
        let specs = vec![
            ResourceSpec::new(a("tg.web"), "tg"),
            ResourceSpec::new(a("rule.web"), "rule").prop("tg", Ref::new(&a("tg.web"), "arn")),
            // Refers to the target group, created after the rule: it waits for target
            // groups only.
            ResourceSpec::new(a("svc.web"), "svc")
                .prop("tg", Ref::new(&a("tg.web"), "arn"))
                .after(&a("rule.web")),
        ];
        let desired = DesiredGraph::build(specs).unwrap();
        let kinds = set(&["tg", "rule", "svc"]);
        let waits = kind_dependencies(&desired, &kinds, &|_| None);
        assert_eq!(waits["svc"], set(&["tg"]));
        assert_eq!(waits["rule"], set(&["tg"]));
        assert_eq!(waits["tg"], set(&[]));
        // A service read that finds services by cluster alone waits for nothing here.
        let keys = |k: &str| (k == "svc").then_some(&["cluster"][..]);
        let waits = kind_dependencies(&desired, &kinds, &keys);
        assert_eq!(waits["svc"], set(&[]));
        assert_eq!(waits["rule"], set(&["tg"]));
    }

    fn obj(id: &str, addr: Option<&str>, owned: bool) -> LiveObject {
        LiveObject {
            id: id.into(),
            address: addr.map(|a| Address::parse(a).unwrap()),
            props: Props::new(),
            outputs: Default::default(),
            owned,
        }
    }

    #[test]
    fn objects_match_by_id_then_tag_and_the_rest_are_unmanaged() {
        let t = |a: &str, id: Option<&str>| ReadTarget {
            address: Address::parse(a).unwrap(),
            id: id.map(str::to_string),
            props: Props::new(),
            recorded: None,
        };
        let targets =
            vec![t("subnet.a.x", Some("s-1")), t("subnet.b.x", None), t("subnet.c.x", Some("s-gone"))];
        let objs = vec![
            obj("s-1", Some("subnet.a.x"), true),
            obj("s-2", Some("subnet.b.x"), true),
            obj("s-9", Some("subnet.zzz.x"), true),
            obj("s-10", None, false),
        ];
        let mut view = LiveView::default();
        match_objects(&mut view, ("ec2.subnet", &Location::Global), &targets, objs, &|_| false);
        assert_eq!(view.found.len(), 2);
        assert_eq!(view.found[&Address::parse("subnet.b.x").unwrap()].id, "s-2");
        assert!(view.adopted.contains(&Address::parse("subnet.b.x").unwrap()));
        assert!(!view.adopted.contains(&Address::parse("subnet.a.x").unwrap()));
        assert_eq!(view.unmanaged.len(), 1);
        assert_eq!(view.unmanaged[0].id, "s-9");
        assert!(view.conflicts.is_empty());
    }

    #[test]
    fn an_untagged_object_with_our_name_is_a_conflict_unless_recorded() {
        let t = |a: &str, id: Option<&str>| ReadTarget {
            address: Address::parse(a).unwrap(),
            id: id.map(str::to_string),
            props: Props::new(),
            recorded: None,
        };
        let targets = vec![t("topic.alarms", None), t("log_group.web", Some("/hactl/s/web"))];
        let objs = vec![
            // Same name, no ownership tags, not in state: someone else's.
            obj("arn:topic", Some("topic.alarms"), false),
            // Recorded in state: ours even without tags.
            obj("/hactl/s/web", Some("log_group.web"), false),
        ];
        let mut view = LiveView::default();
        match_objects(&mut view, ("sns.topic", &Location::Global), &targets, objs, &|_| false);
        assert!(!view.found.contains_key(&Address::parse("topic.alarms").unwrap()));
        assert!(view.adopted.is_empty());
        assert_eq!(view.conflicts.len(), 1);
        assert_eq!(view.conflicts[0].id, "arn:topic");
        assert_eq!(view.conflicts[0].address.as_str(), "topic.alarms");
        assert_eq!(view.found[&Address::parse("log_group.web").unwrap()].id, "/hactl/s/web");
    }
}
