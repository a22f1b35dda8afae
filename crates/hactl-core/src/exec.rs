//! The execution order of a plan: a DAG of steps.
//!
//! Creates and updates wait for what they depend on in the desired graph; deletions wait
//! for the objects that depended on them (from state) to be deleted or updated away; a
//! replacement is a delete followed by a create of the same address.

use crate::address::Address;
use crate::graph::find_cycles;
use crate::plan::{ActionType, Plan, PlannedAction};
use crate::value::Value;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Delete,
    Create,
    Update,
    /// State-only bookkeeping (adopt, forget).
    Record,
}

/// One step: a phase of the plan's action at index `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step {
    pub action: usize,
    pub phase: Phase,
}

#[derive(Debug, thiserror::Error)]
#[error("the plan cannot be ordered: cycle through {0:?}")]
pub struct OrderError(pub Vec<Vec<String>>);

pub fn execution_graph(plan: &Plan) -> Result<DiGraph<Step, ()>, OrderError> {
    let mut g: DiGraph<Step, ()> = DiGraph::new();
    let mut deletes: BTreeMap<&Address, NodeIndex> = BTreeMap::new();
    let mut finals: BTreeMap<&Address, NodeIndex> = BTreeMap::new();
    let mut updates: BTreeMap<&Address, NodeIndex> = BTreeMap::new();

    for (i, a) in plan.actions.iter().enumerate() {
        let mut add = |phase| g.add_node(Step { action: i, phase });
        match a.action {
            ActionType::Create => {
                finals.insert(&a.address, add(Phase::Create));
            }
            ActionType::Update => {
                let n = add(Phase::Update);
                finals.insert(&a.address, n);
                updates.insert(&a.address, n);
            }
            ActionType::Replace => {
                let d = add(Phase::Delete);
                let c = add(Phase::Create);
                deletes.insert(&a.address, d);
                finals.insert(&a.address, c);
            }
            ActionType::Delete => {
                deletes.insert(&a.address, add(Phase::Delete));
            }
            ActionType::Adopt => {
                finals.insert(&a.address, add(Phase::Record));
            }
            ActionType::Forget => {
                add(Phase::Record);
            }
        }
    }

    for a in &plan.actions {
        // Forward steps wait for their desired dependencies.
        if let (Some(&me), Some(spec)) = (finals.get(&a.address), a.desired.as_ref()) {
            for dep in spec.dependencies() {
                if let Some(&d) = finals.get(&dep) {
                    g.update_edge(d, me, ());
                }
            }
        }
    }
    // Whatever deletes an address (a replacement, or the old object of an address that
    // changed kind) does so before the address gets its new object.
    for (addr, &del) in &deletes {
        if let Some(&fin) = finals.get(addr) {
            g.update_edge(del, fin, ());
        }
    }

    // Deletions wait for the former dependents: their deletion always; their update only
    // when this is a pure delete (a replaced object's dependents are updated after the
    // new object exists, since they need its new id).
    for a in &plan.actions {
        for dep in &a.prior_depends_on {
            let Some(&del) = deletes.get(dep) else { continue };
            if let Some(&mine) = deletes.get(&a.address) {
                g.update_edge(mine, del, ());
            }
            let pure_delete =
                plan.actions.iter().find(|x| &x.address == dep && x.action == ActionType::Delete);
            // The update takes a reference to the deleted object away (a route off an old
            // NAT gateway) when one of its changes had the object's id as its value; a
            // dependency that only ordered the creates (`after`) holds nothing to wait for.
            if pure_delete.is_some_and(|x| updates_away(a, x)) {
                if let Some(&up) = updates.get(&a.address) {
                    g.update_edge(up, del, ());
                }
            }
        }
    }

    free_slots_first(plan, &deletes, &finals, &mut g);

    let cycles = find_cycles(&g);
    if !cycles.is_empty() {
        let named = cycles
            .into_iter()
            .map(|c| {
                c.into_iter().map(|s| format!("{:?} {}", s.phase, plan.actions[s.action].address)).collect()
            })
            .collect();
        return Err(OrderError(named));
    }
    Ok(g)
}

/// Whether `update`'s changes take a reference to `gone` away: a change whose value before
/// mentions the object's id (an id, or an ARN ending in it). Without a known id (nothing
/// to tell by), it is assumed to.
fn updates_away(update: &PlannedAction, gone: &PlannedAction) -> bool {
    let Some(id) = gone.id.as_deref() else { return true };
    update.changes.iter().any(|c| c.before.as_ref().is_some_and(|v| mentions(v, id)))
}

fn mentions(v: &Value, id: &str) -> bool {
    match v {
        Value::Str(s) => s.contains(id),
        Value::List(l) => l.iter().any(|x| mentions(x, id)),
        Value::Map(m) => m.values().any(|x| mentions(x, id)),
        _ => false,
    }
}

/// Kinds whose objects hold a slot another object of the kind may want: a listener its
/// load balancer's port, a listener rule its listener's priority.
const SLOTTED_KINDS: [&str; 2] = ["elbv2.listener", "elbv2.listener_rule"];

/// An object of a slotted kind going away (its address left the config) is deleted before
/// a new object of that kind is created at the same location, where that orders nothing
/// in a cycle: the old one may hold the port the new one needs, as when a stack's
/// internal listeners per port give way to one shared listener on the same port. Other
/// kinds keep the new object up before the old one goes (a renamed service keeps serving).
fn free_slots_first(
    plan: &Plan,
    deletes: &BTreeMap<&Address, NodeIndex>,
    finals: &BTreeMap<&Address, NodeIndex>,
    g: &mut DiGraph<Step, ()>,
) {
    let gone = plan
        .actions
        .iter()
        .filter(|a| a.action == ActionType::Delete && SLOTTED_KINDS.contains(&a.kind.as_str()));
    for old in gone {
        let Some(&del) = deletes.get(&old.address) else { continue };
        let new = plan.actions.iter().filter(|a| {
            matches!(a.action, ActionType::Create | ActionType::Replace)
                && a.kind == old.kind
                && a.location == old.location
        });
        for a in new {
            let Some(&create) = finals.get(&a.address) else { continue };
            if !petgraph::algo::has_path_connecting(&*g, create, del, None) {
                g.update_edge(del, create, ());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ResourceSpec;
    use crate::plan::{PlanMode, PlannedAction};
    use crate::value::Ref;
    use petgraph::algo::has_path_connecting;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn act(addr: &str, action: ActionType, deps: &[&str], prior: &[&str]) -> PlannedAction {
        let mut spec = ResourceSpec::new(a(addr), "t");
        for (i, d) in deps.iter().enumerate() {
            spec = spec.prop(&format!("r{i}"), Ref::new(&a(d), "id"));
        }
        PlannedAction {
            address: a(addr),
            kind: "t".into(),
            location: crate::Location::region("us-east-1"),
            action,
            id: None,
            reason: None,
            changes: vec![],
            desired: (action != ActionType::Delete).then_some(spec),
            prior_depends_on: prior.iter().map(|p| a(p)).collect(),
            adopted: false,
            live_outputs: Default::default(),
        }
    }

    fn plan(actions: Vec<PlannedAction>) -> Plan {
        Plan {
            protected: Vec::new(),
            format_version: 1,
            stack: "s".into(),
            region: "r".into(),
            mode: PlanMode::Apply,
            state_lineage: "l".into(),
            state_serial: 0,
            actions,
            unmanaged: vec![],
            conflicts: vec![],
            targeting: None,
            cost: None,
        }
    }

    fn node(g: &DiGraph<Step, ()>, p: &Plan, addr: &str, phase: Phase) -> NodeIndex {
        g.node_indices()
            .find(|n| p.actions[g[*n].action].address.as_str() == addr && g[*n].phase == phase)
            .unwrap()
    }

    fn before(g: &DiGraph<Step, ()>, x: NodeIndex, y: NodeIndex) -> bool {
        has_path_connecting(g, x, y, None)
    }

    #[test]
    fn creates_follow_dependencies_and_independent_branches_are_unordered() {
        let p = plan(vec![
            act("vpc.main", ActionType::Create, &[], &[]),
            act("subnet.a.x", ActionType::Create, &["vpc.main"], &[]),
            act("subnet.b.x", ActionType::Create, &["vpc.main"], &[]),
        ]);
        let g = execution_graph(&p).unwrap();
        let vpc = node(&g, &p, "vpc.main", Phase::Create);
        let sa = node(&g, &p, "subnet.a.x", Phase::Create);
        let sb = node(&g, &p, "subnet.b.x", Phase::Create);
        assert!(before(&g, vpc, sa) && before(&g, vpc, sb));
        assert!(!before(&g, sa, sb) && !before(&g, sb, sa));
    }

    #[test]
    fn replacement_deletes_dependents_first_and_recreates_them_after() {
        // subnet replaced; its association is replaced too (its subnet id is unknown).
        let p = plan(vec![
            act("subnet.a.x", ActionType::Replace, &["vpc.main"], &["vpc.main"]),
            act("rta.a.x", ActionType::Replace, &["subnet.a.x"], &["subnet.a.x"]),
        ]);
        let g = execution_graph(&p).unwrap();
        let d_rta = node(&g, &p, "rta.a.x", Phase::Delete);
        let d_sub = node(&g, &p, "subnet.a.x", Phase::Delete);
        let c_sub = node(&g, &p, "subnet.a.x", Phase::Create);
        let c_rta = node(&g, &p, "rta.a.x", Phase::Create);
        assert!(before(&g, d_rta, d_sub));
        assert!(before(&g, d_sub, c_sub));
        assert!(before(&g, c_sub, c_rta));
    }

    #[test]
    fn pure_delete_waits_for_dependents_updated_away() {
        // nat.b goes away (nat mode per-az -> single); the private route of b moves to nat.a.
        let p = plan(vec![
            act("route.private.b", ActionType::Update, &["nat.a"], &["nat.b"]),
            act("nat.b", ActionType::Delete, &[], &["eip.b"]),
            act("eip.b", ActionType::Delete, &[], &[]),
        ]);
        let g = execution_graph(&p).unwrap();
        let up = node(&g, &p, "route.private.b", Phase::Update);
        let d_nat = node(&g, &p, "nat.b", Phase::Delete);
        let d_eip = node(&g, &p, "eip.b", Phase::Delete);
        assert!(before(&g, up, d_nat));
        assert!(before(&g, d_nat, d_eip));
    }

    fn of_kind(mut a: PlannedAction, kind: &str, id: Option<&str>) -> PlannedAction {
        a.kind = kind.into();
        a.id = id.map(str::to_string);
        a
    }

    fn changed(mut a: PlannedAction, before: &str) -> PlannedAction {
        a.changes = vec![crate::PropChange {
            name: "p".into(),
            before: Some(Value::str(before)),
            after: Some(Value::str("new")),
            forces_replacement: false,
            sensitive: false,
        }];
        a
    }

    #[test]
    fn a_listener_going_away_makes_room_for_a_new_one_even_when_its_service_changes() {
        // The old :80 listener (left the config) goes before the new :80 listener is made,
        // although the service that was created after the old one is updated in the same
        // run behind the new one's rule: its update changes a task definition, not a
        // reference to the old listener, so the delete does not wait for it.
        let l = "elbv2.listener";
        let p = plan(vec![
            of_kind(act("listener.old", ActionType::Delete, &[], &[]), l, Some("arn:listener/old")),
            of_kind(act("listener.new", ActionType::Create, &[], &[]), l, None),
            of_kind(act("rule.b", ActionType::Create, &["listener.new"], &[]), "elbv2.listener_rule", None),
            changed(act("svc.b", ActionType::Update, &["rule.b"], &["listener.old"]), "td:1"),
            of_kind(act("svc.renamed", ActionType::Delete, &[], &[]), "ecs.service", Some("svc-old")),
            of_kind(act("svc.new", ActionType::Create, &[], &[]), "ecs.service", None),
        ]);
        let g = execution_graph(&p).unwrap();
        let create = node(&g, &p, "listener.new", Phase::Create);
        assert!(before(&g, node(&g, &p, "listener.old", Phase::Delete), create));
        assert!(before(&g, create, node(&g, &p, "svc.b", Phase::Update)));
        let (gone, new) =
            (node(&g, &p, "svc.renamed", Phase::Delete), node(&g, &p, "svc.new", Phase::Create));
        assert!(!before(&g, gone, new) && !before(&g, new, gone), "a renamed service: both at once");
    }

    #[test]
    fn a_delete_waits_for_the_update_that_takes_its_id_away_only() {
        let p = plan(vec![
            of_kind(act("nat.old", ActionType::Delete, &[], &[]), "ec2.nat_gateway", Some("nat-1")),
            changed(act("route.a", ActionType::Update, &[], &["nat.old"]), "nat-1"),
            changed(act("svc.c", ActionType::Update, &[], &["nat.old"]), "td:2"),
        ]);
        let g = execution_graph(&p).unwrap();
        let del = node(&g, &p, "nat.old", Phase::Delete);
        assert!(before(&g, node(&g, &p, "route.a", Phase::Update), del), "the route leaves the NAT first");
        assert!(!before(&g, node(&g, &p, "svc.c", Phase::Update), del), "an ordering-only dependent");
    }

    #[test]
    fn destroy_runs_in_reverse_dependency_order() {
        let p = plan(vec![
            act("vpc.main", ActionType::Delete, &[], &[]),
            act("subnet.a.x", ActionType::Delete, &[], &["vpc.main"]),
            act("rta.a.x", ActionType::Delete, &[], &["subnet.a.x"]),
        ]);
        let g = execution_graph(&p).unwrap();
        assert!(before(
            &g,
            node(&g, &p, "rta.a.x", Phase::Delete),
            node(&g, &p, "subnet.a.x", Phase::Delete)
        ));
        assert!(before(
            &g,
            node(&g, &p, "subnet.a.x", Phase::Delete),
            node(&g, &p, "vpc.main", Phase::Delete)
        ));
    }
}
