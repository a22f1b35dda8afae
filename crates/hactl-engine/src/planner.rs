//! Planning: diff the desired graph against the live view. Pure: no AWS calls.

use crate::provider::Registry;
use crate::refresh::LiveView;
use crate::EngineError;
use hactl_core::plan::{PlanMode, PLAN_FORMAT_VERSION};
use hactl_core::select::{Edges, PlanShape};
use hactl_core::{
    ActionType, Address, DesiredGraph, Location, Plan, PlannedAction, Props, Ref, ResourceSpec, Targeting,
    Value,
};
use hactl_state::{ResourceState, State};
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, BTreeSet};

pub fn make_plan(
    registry: &Registry,
    desired: &DesiredGraph,
    state: &State,
    live: &LiveView,
    mode: PlanMode,
) -> Result<Plan, EngineError> {
    make_plan_with(registry, desired, state, live, mode, &Targeting::default())
}

/// [`make_plan`] limited by `targeting` (`--target`, `--exclude`: see
/// [`hactl_core::select`]) and replacing what it names (`--replace`: an object found live
/// is replaced even when nothing else would change it).
pub fn make_plan_with(
    registry: &Registry,
    desired: &DesiredGraph,
    state: &State,
    live: &LiveView,
    mode: PlanMode,
    targeting: &Targeting,
) -> Result<Plan, EngineError> {
    let mut actions = Vec::new();
    if mode == PlanMode::Apply {
        // Addresses whose id will change (created or replaced): references to them are
        // unknown until apply.
        let mut changing: BTreeSet<Address> = BTreeSet::new();
        for spec in desired.specs() {
            let replace = targeting.replaces(&spec.address);
            plan_desired(registry, spec, (desired, state, live), replace, &mut changing, &mut actions)?;
        }
    }
    actions.extend(reverse_order(deletions(registry, desired, state, live, mode)));
    let mut conflicts = live.conflicts.clone();
    if targeting.limits() || !targeting.replace.is_empty() {
        let shape = PlanShape {
            replaced: actions
                .iter()
                .filter(|a| {
                    a.action == ActionType::Replace
                        || (a.action == ActionType::Delete && desired.contains(&a.address))
                })
                .map(|a| a.address.clone())
                .collect(),
            leaving: actions
                .iter()
                .filter(|a| !desired.contains(&a.address))
                .map(|a| a.address.clone())
                .collect(),
        };
        let selected = targeting.limit(mode, &edges(desired, state), &shape)?;
        actions.retain(|a| selected.contains(&a.address));
        conflicts.retain(|c| selected.contains(&c.address));
    }
    let protected = protected_deletions(registry, desired, &actions, live)?;
    Ok(Plan {
        targeting: (!targeting.is_empty()).then(|| targeting.clone()),
        cost: None,
        protected,
        format_version: PLAN_FORMAT_VERSION,
        stack: state.stack.clone(),
        region: state.region.clone(),
        mode,
        state_lineage: state.lineage.clone(),
        state_serial: state.serial,
        actions,
        unmanaged: live.unmanaged.clone(),
        conflicts,
    })
}

/// The stack's dependency edges: each desired address with its desired dependencies,
/// each recorded one with its recorded dependencies (both, for an address in both).
pub fn edges(desired: &DesiredGraph, state: &State) -> Edges {
    let mut out = Edges::new();
    for spec in desired.specs() {
        out.entry(spec.address.clone()).or_default().extend(spec.dependencies());
    }
    for (addr, rs) in &state.resources {
        out.entry(addr.clone()).or_default().extend(rs.depends_on.iter().cloned());
    }
    out
}

/// Where a recorded resource lives (a format 1 record has no location: the home region,
/// or `global` for a global kind).
fn recorded_at(registry: &Registry, rs: &ResourceState) -> Location {
    registry.place(&rs.kind, rs.location.as_ref())
}

/// Whether the address's desired kind or location differs from (kind, location): the
/// object there is replaced, refresh filed it under `prior`.
fn moves(registry: &Registry, desired: &DesiredGraph, address: &Address, kind: &str, at: &Location) -> bool {
    desired
        .get(address)
        .is_some_and(|s| s.kind != kind || &registry.place(&s.kind, s.location.as_ref()) != at)
}

/// The action (if any) that takes one desired resource from live to desired.
fn plan_desired(
    registry: &Registry,
    spec: &ResourceSpec,
    (desired, state, live): (&DesiredGraph, &State, &LiveView),
    replace: bool,
    changing: &mut BTreeSet<Address>,
    actions: &mut Vec<PlannedAction>,
) -> Result<(), EngineError> {
    let provider = registry.get(&spec.kind)?;
    let schema = provider.schema();
    let location = registry.place(&spec.kind, spec.location.as_ref());
    let lookup = |r: &Ref| if changing.contains(&r.address) { None } else { live.output(r) };
    let resolved: Props = spec.props.iter().map(|(k, v)| (k.clone(), v.resolve(&lookup))).collect();
    let recorded = state.resources.get(&spec.address);
    let in_state = recorded.filter(|r| r.kind == spec.kind && recorded_at(registry, r) == location);
    // The address held another kind, or lived elsewhere: that object is replaced (deleted
    // through its own kind's provider at its own location, then the new one created).
    let moved = recorded.filter(|r| r.kind != spec.kind || recorded_at(registry, r) != location);
    let prior_obj = moved.and_then(|_| live.prior.get(&spec.address));
    let prior_depends_on =
        recorded.map(|r| r.depends_on.clone()).unwrap_or_else(|| desired.dependencies(&spec.address));
    let base = PlannedAction {
        address: spec.address.clone(),
        kind: spec.kind.clone(),
        location,
        action: ActionType::Create,
        id: None,
        reason: None,
        changes: Vec::new(),
        desired: Some(spec.clone()),
        prior_depends_on,
        adopted: false,
        live_outputs: BTreeMap::new(),
    };
    push_prior_delete(registry, actions, &base, prior_obj, moved);
    // `found` holds objects of the desired kind and location only (refresh puts the
    // others in `prior`).
    let Some(obj) = live.found.get(&spec.address) else {
        changing.insert(spec.address.clone());
        let reason = in_state.map(|r| format!("{} was deleted outside hactl", r.id));
        let changes = resolved
            .iter()
            .map(|(k, v)| hactl_core::PropChange {
                name: k.clone(),
                before: None,
                after: Some(v.clone()),
                forces_replacement: false,
                sensitive: schema.prop(k).is_some_and(|p| p.sensitive),
            })
            .collect();
        actions.push(PlannedAction { changes, reason, ..base });
        return Ok(());
    };
    let changes = provider.diff(&resolved, &obj.props);
    let adopted = live.adopted.contains(&spec.address);
    let forcing: Vec<&str> =
        changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.as_str()).collect();
    let action = if !forcing.is_empty() || replace {
        changing.insert(spec.address.clone());
        ActionType::Replace
    } else if !changes.is_empty() {
        ActionType::Update
    } else if adopted {
        ActionType::Adopt
    } else {
        return Ok(());
    };
    let reason = match action {
        ActionType::Replace if forcing.is_empty() => Some("replacement requested (--replace)".to_string()),
        ActionType::Replace => Some(format!("{} forces replacement", forcing.join(", "))),
        _ if adopted => Some(format!("found by its ownership tags ({}), not in state", obj.id)),
        _ => provider.update_note(&resolved, &changes),
    };
    actions.push(PlannedAction {
        action,
        id: Some(obj.id.clone()),
        reason,
        changes,
        adopted,
        live_outputs: obj.outputs.clone(),
        ..base
    });
    Ok(())
}

/// Deletions: what state (or a crash orphan) has that is not desired, or everything on
/// destroy.
fn deletions(
    registry: &Registry,
    desired: &DesiredGraph,
    state: &State,
    live: &LiveView,
    mode: PlanMode,
) -> BTreeMap<Address, PlannedAction> {
    let mut to_delete: BTreeMap<Address, PlannedAction> = BTreeMap::new();
    for (addr, rs) in &state.resources {
        // On apply, a desired address is handled by `plan_desired` (a kind or location
        // change is a replacement).
        if mode == PlanMode::Apply && desired.contains(addr) {
            continue;
        }
        let location = recorded_at(registry, rs);
        let found = if moves(registry, desired, addr, &rs.kind, &location) {
            live.prior.get(addr)
        } else {
            live.found.get(addr).filter(|o| o.id == rs.id || live.adopted.contains(addr))
        };
        let action = if found.is_some() { ActionType::Delete } else { ActionType::Forget };
        let reason = match (action, mode) {
            (ActionType::Forget, _) => Some("already gone from AWS".into()),
            (_, PlanMode::Destroy) => None,
            _ => Some("no longer in the configuration".into()),
        };
        to_delete.insert(
            addr.clone(),
            PlannedAction {
                address: addr.clone(),
                kind: rs.kind.clone(),
                location,
                action,
                id: Some(found.map(|o| o.id.clone()).unwrap_or_else(|| rs.id.clone())),
                reason,
                changes: Vec::new(),
                desired: None,
                prior_depends_on: rs.depends_on.clone(),
                adopted: false,
                live_outputs: BTreeMap::new(),
            },
        );
    }
    if mode == PlanMode::Destroy {
        // Crash orphans: objects tagged with one of the stack's addresses, not in state.
        for addr in &live.adopted {
            if state.resources.contains_key(addr) {
                continue;
            }
            let (Some(obj), Some(spec)) = (live.found.get(addr), desired.get(addr)) else { continue };
            to_delete.insert(
                addr.clone(),
                PlannedAction {
                    address: addr.clone(),
                    kind: spec.kind.clone(),
                    location: registry.place(&spec.kind, spec.location.as_ref()),
                    action: ActionType::Delete,
                    id: Some(obj.id.clone()),
                    reason: Some("found by its ownership tags, not in state".into()),
                    changes: Vec::new(),
                    desired: None,
                    prior_depends_on: desired.dependencies(addr),
                    adopted: true,
                    live_outputs: BTreeMap::new(),
                },
            );
        }
    }
    to_delete
}

/// Gives every recorded resource without a location (a format 1 state) its location:
/// the home region, or `global` for a global kind. Nothing moves: this is where those
/// objects have always been. Returns how many records were placed; the caller saves.
pub fn place_state(registry: &Registry, state: &mut State) -> usize {
    let mut placed = 0;
    for rs in state.resources.values_mut() {
        if rs.location.is_none() {
            rs.location = Some(registry.place(&rs.kind, None));
            placed += 1;
        }
    }
    placed
}

/// Brings state up to date where AWS already matches the configuration but state holds
/// older values: an update (or a create adopted since) that reached AWS while its journal
/// entry was lost to a crash or a failed save. Drift compares state with live, so without
/// this it would report such a resource until the next change to it. No AWS call: the
/// record becomes the desired properties (equal to live by the kind's diff), the live id
/// and outputs. Only objects the stack owns by state (found through their recorded id)
/// are touched. Returns the addresses recorded; the caller saves state.
pub fn catch_up(
    registry: &Registry,
    desired: &DesiredGraph,
    state: &mut State,
    live: &LiveView,
) -> Result<Vec<Address>, EngineError> {
    let mut recorded = Vec::new();
    for spec in desired.specs() {
        let location = registry.place(&spec.kind, spec.location.as_ref());
        let Some(rs) = state
            .resources
            .get(&spec.address)
            .filter(|r| r.kind == spec.kind && recorded_at(registry, r) == location)
        else {
            continue;
        };
        let Some(obj) = live.found.get(&spec.address).filter(|o| o.id == rs.id) else { continue };
        let provider = registry.get(&spec.kind)?;
        let resolved: Props =
            spec.props.iter().map(|(k, v)| (k.clone(), v.resolve(&|r: &Ref| live.output(r)))).collect();
        if resolved.values().any(Value::has_unknown) || !provider.diff(&resolved, &obj.props).is_empty() {
            continue;
        }
        if provider.diff(&rs.props, &obj.props).is_empty() {
            continue;
        }
        let mut outputs = rs.outputs.clone();
        outputs.extend(obj.outputs.clone());
        state.resources.insert(
            spec.address.clone(),
            ResourceState {
                kind: spec.kind.clone(),
                location: Some(location),
                id: obj.id.clone(),
                props: resolved,
                outputs,
                depends_on: spec.dependencies().into_iter().collect(),
            },
        );
        recorded.push(spec.address.clone());
    }
    Ok(recorded)
}

/// The addresses whose delete or replace would remove a live object that has deletion
/// protection on (the provider says so from the object's read properties).
fn protected_deletions(
    registry: &Registry,
    desired: &DesiredGraph,
    actions: &[PlannedAction],
    live: &LiveView,
) -> Result<Vec<Address>, EngineError> {
    let mut out = BTreeSet::new();
    for a in actions {
        if !matches!(a.action, ActionType::Delete | ActionType::Replace) {
            continue;
        }
        // As refresh files them: an object of a kind or location other than the address's
        // desired ones is in `prior` (the delete of an address that changes kind or
        // location), others in `found`.
        let moved = moves(registry, desired, &a.address, &a.kind, &a.location);
        let obj = if moved { live.prior.get(&a.address) } else { live.found.get(&a.address) };
        let Some(obj) = obj else { continue };
        if registry.get(&a.kind)?.deletion_protected(&obj.props) {
            out.insert(a.address.clone());
        }
    }
    Ok(out.into_iter().collect())
}

/// When the address held another kind or lived at another location, deletes that
/// object (through its own kind's provider, at its own location) before the address gets
/// its new object: the execution graph orders a delete of an address before its create,
/// update or adopt.
fn push_prior_delete(
    registry: &Registry,
    actions: &mut Vec<PlannedAction>,
    base: &PlannedAction,
    prior: Option<&crate::provider::LiveObject>,
    recorded: Option<&ResourceState>,
) {
    let (Some(p), Some(r)) = (prior, recorded) else { return };
    let location = recorded_at(registry, r);
    let reason = if r.kind != base.kind {
        format!("the address changes kind from {} to {}", r.kind, base.kind)
    } else {
        format!("the address moves from {location} to {}", base.location)
    };
    actions.push(PlannedAction {
        kind: r.kind.clone(),
        location,
        action: ActionType::Delete,
        id: Some(p.id.clone()),
        reason: Some(reason),
        desired: None,
        prior_depends_on: r.depends_on.clone(),
        ..base.clone()
    });
}

/// Deletions with dependents first, ties by address.
fn reverse_order(mut dels: BTreeMap<Address, PlannedAction>) -> Vec<PlannedAction> {
    let mut g: DiGraph<Address, ()> = DiGraph::new();
    let idx: BTreeMap<Address, _> = dels.keys().map(|a| (a.clone(), g.add_node(a.clone()))).collect();
    for a in dels.values() {
        for d in &a.prior_depends_on {
            if let Some(&dep) = idx.get(d) {
                g.add_edge(idx[&a.address], dep, ());
            }
        }
    }
    let order = petgraph::algo::toposort(&g, None)
        .map(|v| v.into_iter().map(|n| g[n].clone()).collect::<Vec<_>>())
        .unwrap_or_else(|_| dels.keys().cloned().collect());
    order.into_iter().filter_map(|a| dels.remove(&a)).collect()
}
