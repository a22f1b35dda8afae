//! Planning: diff the desired graph against the live view. Pure: no AWS calls.

use crate::provider::Registry;
use crate::refresh::LiveView;
use crate::EngineError;
use hactl_core::plan::{PlanMode, PLAN_FORMAT_VERSION};
use hactl_core::{diff_props, ActionType, Address, DesiredGraph, Plan, PlannedAction, Props, Ref, Value};
use hactl_state::State;
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, BTreeSet};

pub fn make_plan(
    registry: &Registry,
    desired: &DesiredGraph,
    state: &State,
    live: &LiveView,
    mode: PlanMode,
) -> Result<Plan, EngineError> {
    let mut actions = Vec::new();
    // Addresses whose id will change (created or replaced): references to them are
    // unknown until apply.
    let mut changing: BTreeSet<Address> = BTreeSet::new();

    if mode == PlanMode::Apply {
        for spec in desired.specs() {
            let schema = registry.get(&spec.kind)?.schema();
            let lookup = |r: &Ref| {
                if changing.contains(&r.address) {
                    None
                } else {
                    live.output(r)
                }
            };
            let resolved: Props = spec.props.iter().map(|(k, v)| (k.clone(), v.resolve(&lookup))).collect();
            let in_state = state.resources.get(&spec.address).filter(|r| r.kind == spec.kind);
            // The address held another kind: that object is replaced (deleted through its
            // own kind's provider, then the new kind created).
            let kind_changed = state.resources.get(&spec.address).filter(|r| r.kind != spec.kind);
            let prior_obj = kind_changed.and_then(|_| live.prior.get(&spec.address));
            let prior_depends_on = state
                .resources
                .get(&spec.address)
                .map(|r| r.depends_on.clone())
                .unwrap_or_else(|| desired.dependencies(&spec.address));
            let base = PlannedAction {
                address: spec.address.clone(),
                kind: spec.kind.clone(),
                action: ActionType::Create,
                id: None,
                reason: None,
                changes: Vec::new(),
                desired: Some(spec.clone()),
                prior_depends_on,
                adopted: false,
                live_outputs: BTreeMap::new(),
            };
            // `found` holds objects of the desired kind only (refresh puts the others in
            // `prior`).
            let obj = live.found.get(&spec.address);
            let Some(obj) = obj else {
                changing.insert(spec.address.clone());
                push_prior_delete(&mut actions, &base, prior_obj, kind_changed, &spec.kind);
                let reason = in_state.map(|r| format!("{} was deleted outside hactl", r.id));
                actions.push(PlannedAction {
                    changes: resolved
                        .iter()
                        .map(|(k, v)| hactl_core::PropChange {
                            name: k.clone(),
                            before: None,
                            after: Some(v.clone()),
                            forces_replacement: false,
                            sensitive: schema.prop(k).is_some_and(|p| p.sensitive),
                        })
                        .collect(),
                    reason,
                    ..base
                });
                continue;
            };
            push_prior_delete(&mut actions, &base, prior_obj, kind_changed, &spec.kind);
            let changes = diff_props(schema, &resolved, &obj.props);
            let adopted = live.adopted.contains(&spec.address);
            let forcing: Vec<&str> =
                changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.as_str()).collect();
            let action = if !forcing.is_empty() {
                changing.insert(spec.address.clone());
                ActionType::Replace
            } else if !changes.is_empty() {
                ActionType::Update
            } else if adopted {
                ActionType::Adopt
            } else {
                continue;
            };
            let reason = match action {
                ActionType::Replace => Some(format!("{} forces replacement", forcing.join(", "))),
                _ if adopted => Some(format!("found by its ownership tags ({}), not in state", obj.id)),
                _ => None,
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
        }
    }

    // Deletions: what state (or a crash orphan) has that is not desired, or everything
    // on destroy. Ordered dependents first.
    let mut to_delete: BTreeMap<Address, PlannedAction> = BTreeMap::new();
    for (addr, rs) in &state.resources {
        // On apply, a desired address is handled above (a kind change is a replacement).
        if mode == PlanMode::Apply && desired.contains(addr) {
            continue;
        }
        let found = if desired.get(addr).is_some_and(|s| s.kind != rs.kind) {
            live.prior.get(addr)
        } else {
            live.found.get(addr).filter(|o| o.id == rs.id || live.adopted.contains(addr))
        };
        let action = if found.is_some() { ActionType::Delete } else { ActionType::Forget };
        to_delete.insert(
            addr.clone(),
            PlannedAction {
                address: addr.clone(),
                kind: rs.kind.clone(),
                action,
                id: Some(found.map(|o| o.id.clone()).unwrap_or_else(|| rs.id.clone())),
                reason: match (action, mode) {
                    (ActionType::Forget, _) => Some("already gone from AWS".into()),
                    (_, PlanMode::Destroy) => None,
                    _ => Some("no longer in the configuration".into()),
                },
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
    actions.extend(reverse_order(to_delete));

    let protected = protected_deletions(registry, desired, &actions, live)?;
    Ok(Plan {
        protected,
        format_version: PLAN_FORMAT_VERSION,
        stack: state.stack.clone(),
        region: state.region.clone(),
        mode,
        state_lineage: state.lineage.clone(),
        state_serial: state.serial,
        actions,
        unmanaged: live.unmanaged.clone(),
        conflicts: live.conflicts.clone(),
    })
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
        let Some(rs) = state.resources.get(&spec.address).filter(|r| r.kind == spec.kind) else { continue };
        let Some(obj) = live.found.get(&spec.address).filter(|o| o.id == rs.id) else { continue };
        let schema = registry.get(&spec.kind)?.schema();
        let resolved: Props =
            spec.props.iter().map(|(k, v)| (k.clone(), v.resolve(&|r: &Ref| live.output(r)))).collect();
        if resolved.values().any(Value::has_unknown) || !diff_props(schema, &resolved, &obj.props).is_empty()
        {
            continue;
        }
        if diff_props(schema, &rs.props, &obj.props).is_empty() {
            continue;
        }
        let mut outputs = rs.outputs.clone();
        outputs.extend(obj.outputs.clone());
        state.resources.insert(
            spec.address.clone(),
            hactl_state::ResourceState {
                kind: spec.kind.clone(),
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
        // As refresh files them: an object of a kind other than the address's desired kind
        // is in `prior` (the delete of an address that changes kind), others in `found`.
        let other_kind = desired.get(&a.address).is_some_and(|s| s.kind != a.kind);
        let obj = if other_kind { live.prior.get(&a.address) } else { live.found.get(&a.address) };
        let Some(obj) = obj else { continue };
        if registry.get(&a.kind)?.deletion_protected(&obj.props) {
            out.insert(a.address.clone());
        }
    }
    Ok(out.into_iter().collect())
}

/// When the address held another kind, deletes that object (through its own kind's
/// provider) before the address gets its new object: the execution graph orders a
/// delete of an address before its create, update or adopt.
fn push_prior_delete(
    actions: &mut Vec<PlannedAction>,
    base: &PlannedAction,
    prior: Option<&crate::provider::LiveObject>,
    recorded: Option<&hactl_state::ResourceState>,
    new_kind: &str,
) {
    if let (Some(p), Some(r)) = (prior, recorded) {
        actions.push(PlannedAction {
            kind: r.kind.clone(),
            action: ActionType::Delete,
            id: Some(p.id.clone()),
            reason: Some(format!("the address changes kind from {} to {new_kind}", r.kind)),
            desired: None,
            prior_depends_on: r.depends_on.clone(),
            ..base.clone()
        });
    }
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
