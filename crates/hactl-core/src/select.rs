//! Targeting: limiting a plan to some resources (`--target`, `--exclude`) and forcing the
//! replacement of others (`--replace`).
//!
//! A pattern is an address (`ecs_service.web`) or a glob over addresses where `*` stands
//! for any run of characters, dots included (`subnet.app.*`, `*.web`). Which addresses a
//! limited plan may touch follows the dependency graph (desired dependencies, and the
//! recorded ones of what state holds):
//! - apply: `--target` keeps the matched resources and everything they depend on;
//!   `--exclude` leaves out the matched resources and everything that depends on them;
//! - destroy: `--target` deletes the matched resources and everything that depends on
//!   them (which cannot outlive them); `--exclude` keeps the matched resources and
//!   everything they depend on (which they cannot outlive).
//!
//! Both may be given: the targeted set minus the excluded one.

use crate::address::Address;
use crate::plan::PlanMode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a plan was limited to and what it replaces, as given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targeting {
    /// `--target` patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target: Vec<String>,
    /// `--exclude` patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// `--replace` patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
}

/// Dependencies by address: what each address depends on.
pub type Edges = BTreeMap<Address, BTreeSet<Address>>;

/// A pattern that matches no address of the stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {pattern}: no resource of the stack has this address{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
pub struct NoMatch {
    pub flag: &'static str,
    pub pattern: String,
    /// The closest address, when one is close.
    pub hint: Option<String>,
}

impl Targeting {
    /// Nothing given.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty() && self.exclude.is_empty() && self.replace.is_empty()
    }

    /// The plan is limited (`--target` or `--exclude` given).
    pub fn limits(&self) -> bool {
        !self.target.is_empty() || !self.exclude.is_empty()
    }

    /// Whether `address` is to be replaced.
    pub fn replaces(&self, address: &Address) -> bool {
        self.replace.iter().any(|p| pattern_matches(p, address.as_str()))
    }

    /// Checks that every pattern matches an address: `--target` and `--exclude` one of
    /// `known` (desired or recorded), `--replace` one of `replaceable` (desired and live).
    pub fn check<'a>(
        &self,
        known: impl Iterator<Item = &'a Address> + Clone,
        replaceable: impl Iterator<Item = &'a Address> + Clone,
    ) -> Result<(), NoMatch> {
        let groups: [(&'static str, &Vec<String>, bool); 3] = [
            ("--target", &self.target, false),
            ("--exclude", &self.exclude, false),
            ("--replace", &self.replace, true),
        ];
        for (flag, patterns, replace) in groups {
            for p in patterns {
                let matched = if replace {
                    replaceable.clone().any(|a| pattern_matches(p, a.as_str()))
                } else {
                    known.clone().any(|a| pattern_matches(p, a.as_str()))
                };
                if !matched {
                    let names: Vec<&str> = if replace {
                        replaceable.clone().collect::<Vec<_>>()
                    } else {
                        known.clone().collect()
                    }
                    .into_iter()
                    .map(Address::as_str)
                    .collect();
                    return Err(NoMatch { flag, pattern: p.clone(), hint: closest(p, &names) });
                }
            }
        }
        Ok(())
    }

    /// The addresses a plan in `mode` limited by this targeting may act on, among the
    /// addresses of `edges` (each address with what it depends on).
    pub fn selected(&self, mode: PlanMode, edges: &Edges) -> BTreeSet<Address> {
        let dependents = invert(edges);
        let matching = |patterns: &[String]| -> BTreeSet<Address> {
            edges
                .keys()
                .filter(|a| patterns.iter().any(|p| pattern_matches(p, a.as_str())))
                .cloned()
                .collect()
        };
        // Apply: a target needs what it depends on; what depends on an excluded resource
        // is excluded. Destroy: the other way round.
        let (target_along, exclude_along) = match mode {
            PlanMode::Apply => (edges, &dependents),
            PlanMode::Destroy => (&dependents, edges),
        };
        let mut keep: BTreeSet<Address> = if self.target.is_empty() {
            edges.keys().cloned().collect()
        } else {
            closure(matching(&self.target), target_along)
        };
        for a in closure(matching(&self.exclude), exclude_along) {
            keep.remove(&a);
        }
        keep
    }
}

/// Why a limited plan cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error(
        "the plan replaces {replaced}, and {dependent} depends on it but is left out by --exclude: \
         it would be left pointing at the deleted object (apply without that --exclude, or leave {replaced} alone)"
    )]
    ReplacedUnderExcluded { replaced: Address, dependent: Address },
    #[error("--replace {pattern}: {address} is outside the --target/--exclude selection")]
    ReplaceOutside { pattern: String, address: Address },
}

/// What the full plan does that decides a limited plan's extent: the addresses it
/// replaces (or deletes to move), and those it deletes because they left the config.
#[derive(Debug, Default)]
pub struct PlanShape {
    pub replaced: BTreeSet<Address>,
    pub leaving: BTreeSet<Address>,
}

impl Targeting {
    /// The addresses a limited plan in `mode` acts on, given the full plan's `shape`:
    /// [`Targeting::selected`], then, on apply,
    /// - what depends on a selected replacement is selected too (with what it needs): it
    ///   refers to the object the replacement deletes; refused when --exclude leaves it out;
    /// - an address leaving the config is deleted only once nothing left unselected
    ///   depends on it (recorded dependencies): a limited apply never deletes what a
    ///   resource it leaves alone still uses;
    /// - a `--replace` outside the selection is refused.
    pub fn limit(
        &self,
        mode: PlanMode,
        edges: &Edges,
        shape: &PlanShape,
    ) -> Result<BTreeSet<Address>, Conflict> {
        let mut keep = self.selected(mode, edges);
        if mode == PlanMode::Destroy {
            return Ok(keep);
        }
        let dependents = invert(edges);
        loop {
            let start: BTreeSet<Address> =
                keep.iter().filter(|a| shape.replaced.contains(*a)).cloned().collect();
            let grown = closure(closure(start, &dependents), edges);
            let before = keep.len();
            keep.extend(grown);
            if keep.len() == before {
                break;
            }
        }
        let excluded = closure(self.matching(&self.exclude, edges), &dependents);
        for r in keep.iter().filter(|a| shape.replaced.contains(*a)) {
            if let Some(d) =
                closure(BTreeSet::from([r.clone()]), &dependents).into_iter().find(|d| excluded.contains(d))
            {
                return Err(Conflict::ReplacedUnderExcluded { replaced: r.clone(), dependent: d });
            }
        }
        keep.retain(|a| !excluded.contains(a));
        loop {
            let blocked: Vec<Address> = keep
                .iter()
                .filter(|a| shape.leaving.contains(*a))
                .filter(|a| dependents.get(*a).into_iter().flatten().any(|d| !keep.contains(d)))
                .cloned()
                .collect();
            if blocked.is_empty() {
                break;
            }
            for a in blocked {
                keep.remove(&a);
            }
        }
        for p in &self.replace {
            if let Some(a) = edges.keys().find(|a| pattern_matches(p, a.as_str()) && !keep.contains(*a)) {
                return Err(Conflict::ReplaceOutside { pattern: p.clone(), address: a.clone() });
            }
        }
        Ok(keep)
    }

    fn matching(&self, patterns: &[String], edges: &Edges) -> BTreeSet<Address> {
        edges.keys().filter(|a| patterns.iter().any(|p| pattern_matches(p, a.as_str()))).cloned().collect()
    }
}

/// Every address reachable from `start` along `along` (start included).
fn closure(start: BTreeSet<Address>, along: &Edges) -> BTreeSet<Address> {
    let mut seen = start.clone();
    let mut todo: Vec<Address> = start.into_iter().collect();
    while let Some(a) = todo.pop() {
        for next in along.get(&a).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

/// What depends on each address.
fn invert(edges: &Edges) -> Edges {
    let mut out: Edges = edges.keys().map(|a| (a.clone(), BTreeSet::new())).collect();
    for (a, deps) in edges {
        for d in deps {
            out.entry(d.clone()).or_default().insert(a.clone());
        }
    }
    out
}

/// Whether `pattern` (an address, or a glob where `*` is any run of characters) matches
/// `address`.
pub fn pattern_matches(pattern: &str, address: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == address;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !address.starts_with(first) || address.len() < first.len() + last.len() || !address.ends_with(last) {
        return false;
    }
    let mut rest = &address[first.len()..address.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The address closest to `pattern` by edit distance, when it is close enough to be a
/// typo.
fn closest(pattern: &str, names: &[&str]) -> Option<String> {
    names
        .iter()
        .map(|n| (edit_distance(pattern, n), *n))
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .min()
        .map(|(_, n)| n.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    /// vpc <- subnet.a <- svc ; vpc <- sg ; svc also needs sg; log stands alone.
    fn edges() -> Edges {
        let mut e = Edges::new();
        let mut add = |x: &str, deps: &[&str]| {
            e.insert(a(x), deps.iter().map(|d| a(d)).collect());
        };
        add("vpc.main", &[]);
        add("subnet.app.a", &["vpc.main"]);
        add("sg.app", &["vpc.main"]);
        add("ecs_service.web", &["subnet.app.a", "sg.app"]);
        add("log_group.web", &[]);
        e
    }

    fn names(s: &BTreeSet<Address>) -> Vec<&str> {
        s.iter().map(Address::as_str).collect()
    }

    #[test]
    fn globs_match_any_run_of_characters() {
        assert!(pattern_matches("subnet.app.*", "subnet.app.us-east-1a"));
        assert!(pattern_matches("*.web", "ecs_service.web"));
        assert!(pattern_matches("sg.*", "sg.app"));
        assert!(pattern_matches("*", "vpc.main"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxcyyb"));
        assert!(!pattern_matches("sg.app", "sg.apps"));
        assert!(!pattern_matches("subnet.*.b", "subnet.b"));
    }

    #[test]
    fn apply_target_takes_its_dependencies_and_exclude_its_dependents() {
        let t = Targeting { target: vec!["ecs_service.web".into()], ..Default::default() };
        assert_eq!(
            names(&t.selected(PlanMode::Apply, &edges())),
            ["ecs_service.web", "sg.app", "subnet.app.a", "vpc.main"]
        );
        let t = Targeting { target: vec!["sg.app".into()], ..Default::default() };
        assert_eq!(names(&t.selected(PlanMode::Apply, &edges())), ["sg.app", "vpc.main"]);
        let t = Targeting { exclude: vec!["sg.app".into()], ..Default::default() };
        assert_eq!(
            names(&t.selected(PlanMode::Apply, &edges())),
            ["log_group.web", "subnet.app.a", "vpc.main"]
        );
        let t = Targeting {
            target: vec!["ecs_service.web".into()],
            exclude: vec!["subnet.*".into()],
            ..Default::default()
        };
        assert_eq!(names(&t.selected(PlanMode::Apply, &edges())), ["sg.app", "vpc.main"]);
    }

    #[test]
    fn destroy_target_takes_its_dependents_and_exclude_its_dependencies() {
        let t = Targeting { target: vec!["sg.app".into()], ..Default::default() };
        assert_eq!(names(&t.selected(PlanMode::Destroy, &edges())), ["ecs_service.web", "sg.app"]);
        let t = Targeting { exclude: vec!["subnet.app.a".into()], ..Default::default() };
        assert_eq!(
            names(&t.selected(PlanMode::Destroy, &edges())),
            ["ecs_service.web", "log_group.web", "sg.app"]
        );
    }

    #[test]
    fn a_limited_apply_takes_the_dependents_of_a_replacement_and_keeps_what_unselected_resources_use() {
        let e = edges();
        // Replacing the VPC (targeted through the group) drags in what refers to it.
        let shape = PlanShape { replaced: [a("vpc.main")].into(), leaving: BTreeSet::new() };
        let t = Targeting { target: vec!["sg.app".into()], ..Default::default() };
        assert_eq!(
            names(&t.limit(PlanMode::Apply, &e, &shape).unwrap()),
            ["ecs_service.web", "sg.app", "subnet.app.a", "vpc.main"]
        );
        // ... unless it is excluded: refused, naming both.
        let t = Targeting { exclude: vec!["ecs_service.web".into()], ..Default::default() };
        let err = t.limit(PlanMode::Apply, &e, &shape).unwrap_err();
        assert!(
            matches!(&err, Conflict::ReplacedUnderExcluded { replaced, dependent }
            if replaced.as_str() == "vpc.main" && dependent.as_str() == "ecs_service.web"),
            "{err}"
        );
        // The group leaves the config: it is deleted only with what still uses it.
        let shape = PlanShape { replaced: BTreeSet::new(), leaving: [a("sg.app")].into() };
        let t = Targeting { exclude: vec!["ecs_service.web".into()], ..Default::default() };
        assert!(!t.limit(PlanMode::Apply, &e, &shape).unwrap().contains(&a("sg.app")));
        let t = Targeting { target: vec!["sg.app".into(), "ecs_service.web".into()], ..Default::default() };
        assert!(t.limit(PlanMode::Apply, &e, &shape).unwrap().contains(&a("sg.app")));
        let t = Targeting { target: vec!["sg.app".into()], ..Default::default() };
        assert!(!t.limit(PlanMode::Apply, &e, &shape).unwrap().contains(&a("sg.app")), "web still uses it");
        // A replacement asked for outside the selection is refused.
        let t = Targeting {
            target: vec!["sg.app".into()],
            replace: vec!["log_group.web".into()],
            ..Default::default()
        };
        assert!(matches!(
            t.limit(PlanMode::Apply, &e, &PlanShape::default()),
            Err(Conflict::ReplaceOutside { .. })
        ));
    }

    #[test]
    fn a_pattern_matching_nothing_is_refused_with_the_closest_address() {
        let e = edges();
        let t = Targeting { target: vec!["sg.ap".into()], ..Default::default() };
        let err = t.check(e.keys(), e.keys()).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("sg.app"));
        assert!(err.to_string().starts_with("--target sg.ap: no resource"), "{err}");
        let only_vpc = [a("vpc.main")];
        let t = Targeting { replace: vec!["sg.app".into()], ..Default::default() };
        assert_eq!(t.check(e.keys(), only_vpc.iter()).unwrap_err().flag, "--replace");
        let t = Targeting {
            target: vec!["subnet.*".into()],
            replace: vec!["vpc.main".into()],
            ..Default::default()
        };
        assert!(t.check(e.keys(), only_vpc.iter()).is_ok());
        assert!(t.replaces(&a("vpc.main")) && !t.replaces(&a("sg.app")));
    }
}
