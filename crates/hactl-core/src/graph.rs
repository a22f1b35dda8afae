//! The desired resource graph: one node per resource, an edge from each dependency to its
//! dependent. Built from resource specs; references inside properties are edges too.

use crate::address::Address;
use crate::location::Location;
use crate::value::{Props, Ref, Value};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One desired resource: its address, kind and desired properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    pub address: Address,
    pub kind: String,
    /// Where it lives when that is not the stack's home region (`[stack] region`): a
    /// resource of a disaster-recovery region. The registry places global kinds (IAM,
    /// dashboards) as `global` whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub props: Props,
    /// Ordering dependencies that no property reference expresses (e.g. a NAT gateway
    /// needs the internet gateway attached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
}

impl ResourceSpec {
    pub fn new(address: Address, kind: &str) -> Self {
        ResourceSpec {
            address,
            kind: kind.to_string(),
            location: None,
            props: Props::new(),
            depends_on: Vec::new(),
        }
    }

    pub fn prop(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.props.insert(name.to_string(), value.into());
        self
    }

    /// Places the resource in `location` (`None`: the home region).
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn after(mut self, dep: &Address) -> Self {
        if !self.depends_on.contains(dep) {
            self.depends_on.push(dep.clone());
        }
        self
    }

    /// Every address this resource depends on: references plus explicit dependencies.
    pub fn dependencies(&self) -> BTreeSet<Address> {
        let mut refs = BTreeSet::<Ref>::new();
        for v in self.props.values() {
            v.refs(&mut refs);
        }
        refs.into_iter().map(|r| r.address).chain(self.depends_on.iter().cloned()).collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("two resources share the address `{0}`")]
    Duplicate(Address),
    #[error("`{from}` refers to `{to}`, which is not a resource of this stack")]
    UnknownReference { from: Address, to: Address },
    #[error("dependency cycle: {}", fmt_cycles(.0))]
    Cycles(Vec<Vec<Address>>),
}

fn fmt_cycles(cycles: &[Vec<Address>]) -> String {
    cycles
        .iter()
        .map(|c| c.iter().map(Address::to_string).collect::<Vec<_>>().join(" -> "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every cycle (strongly connected component with more than one node, or a self loop) of
/// a graph, each listed with all of its members in a stable order.
pub fn find_cycles<N: Clone + Ord, E>(g: &DiGraph<N, E>) -> Vec<Vec<N>> {
    let mut cycles: Vec<Vec<N>> = tarjan_scc(g)
        .into_iter()
        .filter(|scc| scc.len() > 1 || g.find_edge(scc[0], scc[0]).is_some())
        .map(|scc| {
            let mut members: Vec<N> = scc.iter().map(|i| g[*i].clone()).collect();
            members.sort();
            members
        })
        .collect();
    cycles.sort();
    cycles
}

#[derive(Clone, Debug, Default)]
pub struct DesiredGraph {
    specs: BTreeMap<Address, ResourceSpec>,
    graph: DiGraph<Address, ()>,
    index: BTreeMap<Address, NodeIndex>,
    order: Vec<Address>,
}

impl DesiredGraph {
    /// Builds the graph and checks it: no duplicate address, every reference resolves to
    /// a resource of the stack, and no cycle (every cycle is reported with all members).
    pub fn build(specs: Vec<ResourceSpec>) -> Result<Self, GraphError> {
        let mut g = DesiredGraph::default();
        for spec in specs {
            if g.specs.contains_key(&spec.address) {
                return Err(GraphError::Duplicate(spec.address));
            }
            let idx = g.graph.add_node(spec.address.clone());
            g.index.insert(spec.address.clone(), idx);
            g.specs.insert(spec.address.clone(), spec);
        }
        for spec in g.specs.values() {
            let to = g.index[&spec.address];
            for dep in spec.dependencies() {
                let Some(&from) = g.index.get(&dep) else {
                    return Err(GraphError::UnknownReference { from: spec.address.clone(), to: dep });
                };
                g.graph.add_edge(from, to, ());
            }
        }
        let cycles = find_cycles(&g.graph);
        if !cycles.is_empty() {
            return Err(GraphError::Cycles(cycles));
        }
        // Acyclic now; a stable topological order: sort by address among ready nodes.
        g.order = stable_topo(&g.graph);
        debug_assert!(toposort(&g.graph, None).is_ok());
        Ok(g)
    }

    pub fn get(&self, a: &Address) -> Option<&ResourceSpec> {
        self.specs.get(a)
    }

    pub fn contains(&self, a: &Address) -> bool {
        self.specs.contains_key(a)
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Addresses in dependency order (dependencies first), ties broken by address.
    pub fn topo_order(&self) -> &[Address] {
        &self.order
    }

    pub fn specs(&self) -> impl Iterator<Item = &ResourceSpec> {
        self.order.iter().map(|a| &self.specs[a])
    }

    /// Direct dependencies of `a`.
    pub fn dependencies(&self, a: &Address) -> Vec<Address> {
        self.specs.get(a).map(|s| s.dependencies().into_iter().collect()).unwrap_or_default()
    }

    /// Graphviz DOT rendering, edges pointing from a resource to what it depends on.
    /// The graph as Graphviz DOT, clustered by tier and zone (see [`crate::dot`]).
    pub fn to_dot(&self) -> String {
        crate::dot::dot(self, None)
    }
}

/// Kahn's algorithm with a sorted ready set, so the order is deterministic.
fn stable_topo(g: &DiGraph<Address, ()>) -> Vec<Address> {
    let mut indeg: BTreeMap<NodeIndex, usize> =
        g.node_indices().map(|n| (n, g.neighbors_directed(n, petgraph::Incoming).count())).collect();
    let mut ready: BTreeSet<(Address, NodeIndex)> =
        indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| (g[*n].clone(), *n)).collect();
    let mut out = Vec::with_capacity(g.node_count());
    while let Some(first) = ready.iter().next().cloned() {
        ready.remove(&first);
        out.push(first.0);
        for m in g.neighbors_directed(first.1, petgraph::Outgoing) {
            if let Some(d) = indeg.get_mut(&m) {
                *d -= 1;
                if *d == 0 {
                    ready.insert((g[m].clone(), m));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn spec(addr: &str, deps: &[&str]) -> ResourceSpec {
        let mut s = ResourceSpec::new(a(addr), "test.thing");
        for (i, d) in deps.iter().enumerate() {
            s = s.prop(&format!("ref{i}"), Ref::new(&a(d), "id"));
        }
        s
    }

    #[test]
    fn topo_order_puts_dependencies_first() {
        let g = DesiredGraph::build(vec![
            spec("route.public.default", &["route_table.public", "igw.main"]),
            spec("subnet.public.a", &["vpc.main"]),
            spec("igw.main", &[]),
            spec("route_table.public", &["vpc.main"]),
            spec("vpc.main", &[]),
        ])
        .unwrap();
        let order: Vec<&str> = g.topo_order().iter().map(Address::as_str).collect();
        let pos = |x: &str| order.iter().position(|o| *o == x).unwrap();
        assert!(pos("vpc.main") < pos("subnet.public.a"));
        assert!(pos("vpc.main") < pos("route_table.public"));
        assert!(pos("route_table.public") < pos("route.public.default"));
        assert!(pos("igw.main") < pos("route.public.default"));
        assert_eq!(order.len(), 5);
        // Deterministic: ties are broken by address.
        assert_eq!(order[0], "igw.main");
    }

    #[test]
    fn every_cycle_is_reported_with_all_members() {
        let err = DesiredGraph::build(vec![
            spec("x.a", &["x.b"]),
            spec("x.b", &["x.c"]),
            spec("x.c", &["x.a"]),
            spec("y.a", &["y.b"]),
            spec("y.b", &["y.a"]),
            spec("z.self", &["z.self"]),
            spec("ok.one", &[]),
        ])
        .unwrap_err();
        let GraphError::Cycles(cycles) = err else { panic!("expected cycles, got {err:?}") };
        assert_eq!(
            cycles,
            vec![vec![a("x.a"), a("x.b"), a("x.c")], vec![a("y.a"), a("y.b")], vec![a("z.self")],]
        );
    }

    #[test]
    fn unknown_references_and_duplicates_are_errors() {
        let err = DesiredGraph::build(vec![spec("x.a", &["x.missing"])]).unwrap_err();
        assert_eq!(err, GraphError::UnknownReference { from: a("x.a"), to: a("x.missing") });
        let err = DesiredGraph::build(vec![spec("x.a", &[]), spec("x.a", &[])]).unwrap_err();
        assert_eq!(err, GraphError::Duplicate(a("x.a")));
    }

    #[test]
    fn explicit_dependencies_count() {
        let g = DesiredGraph::build(vec![
            ResourceSpec::new(a("nat.a"), "t").after(&a("igw_attachment.main")),
            ResourceSpec::new(a("igw_attachment.main"), "t"),
        ])
        .unwrap();
        assert_eq!(g.topo_order()[0], a("igw_attachment.main"));
        assert!(g.to_dot().contains("\"nat.a\" -> \"igw_attachment.main\""));
    }
}
