//! Import: recording in state an object that exists in AWS at an address of the config,
//! so the stack manages it from then on (the next plan converges it, destroy deletes it).
//!
//! An object is imported only at an address the config has, when the address's kind finds
//! it by that id where the address lives (so the id is of the right kind), when no other
//! stack (or another address of this one) claims it by its ownership tags, and when state
//! records neither the address nor the id. No AWS write: the object's tags are converged by
//! the next apply like any other property.
//!
//! [`discover`] finds the objects an import would take: those carrying the stack's
//! ownership tags that state does not record (a lost state file), and those with the name
//! or natural key of an address but no ownership tags (made by hand or by another tool).

use crate::provider::{Ctx, LiveObject, Registry};
use crate::refresh::{refresh, RefreshScope};
use crate::EngineError;
use hactl_core::{Address, DesiredGraph, Props, Ref, Value, TAG_ADDRESS, TAG_STACK};
use hactl_state::{ResourceState, State};
use std::collections::BTreeMap;

/// One object to import: the config's address and the object's id (as `hactl state list`
/// shows ids: `vpc-...`, `sg-...`, an ARN, a name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    pub address: Address,
    pub id: String,
}

/// How an object came to be a candidate of [`discover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// It carries the stack's `hactl:stack` and `hactl:address` tags.
    Tags,
    /// It has the name or natural key of the address, and no ownership tags.
    Name,
}

/// A candidate of [`discover`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub request: ImportRequest,
    pub kind: String,
    pub found_by: FoundBy,
}

/// What checking one request found.
#[derive(Clone, Debug)]
pub enum Checked {
    /// Importable: the record state gets, the properties in which the object differs
    /// from the config (what the next plan changes), and those of them that force a
    /// replacement (the next apply deletes this object and creates another).
    Ready { record: Box<ResourceState>, differences: Vec<String>, replaced_by: Vec<String> },
    /// Not importable, and why.
    Refused(String),
}

/// Checks `requests` against the config, state and AWS (one refresh, which reads each
/// requested id with its address's kind) and answers, per request, the state record it
/// would get or why not. Changes nothing.
pub async fn check_imports(
    registry: &Registry,
    ctx: &Ctx,
    desired: &DesiredGraph,
    state: &State,
    requests: &[ImportRequest],
) -> Result<Vec<Checked>, EngineError> {
    let mut trial = state.clone();
    let mut checked: Vec<Option<Checked>> = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        match precheck(desired, state, requests, i) {
            Some(refused) => checked.push(Some(Checked::Refused(refused))),
            None => {
                let Some(spec) = desired.get(&r.address) else {
                    checked
                        .push(Some(Checked::Refused(format!("the config has no resource at {}", r.address))));
                    continue;
                };
                trial.resources.insert(
                    r.address.clone(),
                    ResourceState {
                        kind: spec.kind.clone(),
                        location: Some(registry.place(&spec.kind, spec.location.as_ref())),
                        id: r.id.clone(),
                        props: Props::new(),
                        outputs: BTreeMap::new(),
                        depends_on: spec.dependencies().into_iter().collect(),
                    },
                );
                checked.push(None);
            }
        }
    }
    let live = refresh(registry, ctx, desired, &trial, RefreshScope::DesiredAndState).await?;
    let mut out = Vec::with_capacity(requests.len());
    for (r, c) in requests.iter().zip(checked) {
        if let Some(c) = c {
            out.push(c);
            continue;
        }
        let Some(spec) = desired.get(&r.address) else {
            out.push(Checked::Refused(format!("the config has no resource at {}", r.address)));
            continue;
        };
        let location = registry.place(&spec.kind, spec.location.as_ref());
        let Some(obj) = live.found.get(&r.address).filter(|o| o.id == r.id) else {
            out.push(Checked::Refused(format!(
                "no {} with id {} in {location} (is the id right, and of kind {}?)",
                spec.kind, r.id, spec.kind
            )));
            continue;
        };
        if let Some(refused) = claimed_elsewhere(&ctx.stack, &r.address, obj) {
            out.push(Checked::Refused(refused));
            continue;
        }
        let provider = registry.at(&spec.kind, &location)?;
        let resolved: Props =
            spec.props.iter().map(|(k, v)| (k.clone(), v.resolve(&|x: &Ref| live.output(x)))).collect();
        let changes = provider.diff(&resolved, &obj.props);
        let forcing: Vec<String> =
            changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.clone()).collect();
        // A kind without tags (a group's rule set, a route, a secret's fields) is the
        // stack's through its parent: one that is not (its parent neither tagged nor
        // recorded by this stack) is taken only where it already belongs to what the
        // config's parent is, i.e. no identifying property differs.
        if !obj.owned && !provider.schema().props.iter().any(|p| p.name == "tags") && !forcing.is_empty() {
            out.push(Checked::Refused(format!(
                "{} is not part of an object of this stack: its {} differ{} from the config (import the object it belongs to first, if it is this stack's)",
                r.id,
                forcing.join(", "),
                if forcing.len() == 1 { "s" } else { "" }
            )));
            continue;
        }
        // An object that already matches the config is recorded as apply would have
        // recorded it; one that differs is recorded as it is, so drift (state against
        // live) stays clean until the next apply converges it.
        let props = if changes.is_empty() && !resolved.values().any(Value::has_unknown) {
            resolved
        } else {
            obj.props.clone()
        };
        let record = ResourceState {
            kind: spec.kind.clone(),
            location: Some(location),
            id: obj.id.clone(),
            props,
            outputs: obj.outputs.clone(),
            depends_on: spec.dependencies().into_iter().collect(),
        };
        out.push(Checked::Ready {
            record: Box::new(record),
            differences: changes.into_iter().map(|c| c.name).collect(),
            replaced_by: forcing,
        });
    }
    Ok(out)
}

/// Why request `i` cannot be imported whatever AWS says, if it cannot.
fn precheck(desired: &DesiredGraph, state: &State, requests: &[ImportRequest], i: usize) -> Option<String> {
    let r = &requests[i];
    if !desired.contains(&r.address) {
        return Some(format!(
            "the config has no resource at {} (`hactl graph` lists every address)",
            r.address
        ));
    }
    if let Some(rs) = state.resources.get(&r.address) {
        return Some(format!(
            "state already records {} as {} (`hactl state rm {}` first to record another object)",
            r.address, rs.id, r.address
        ));
    }
    let kind = desired.get(&r.address).map(|s| s.kind.as_str());
    // One object of a kind at one address (an object and its parts, such as a security
    // group and its rules, share an id under two kinds).
    if let Some((other, _)) =
        state.resources.iter().find(|(_, rs)| rs.id == r.id && Some(rs.kind.as_str()) == kind)
    {
        return Some(format!("state already records {} at {other}", r.id));
    }
    let same_kind = |o: &ImportRequest| desired.get(&o.address).map(|s| s.kind.as_str()) == kind;
    if let Some(other) =
        requests[..i].iter().find(|o| o.address == r.address || (o.id == r.id && same_kind(o)))
    {
        return Some(format!("given twice: {} {} and {} {}", other.address, other.id, r.address, r.id));
    }
    None
}

/// Why `obj` belongs to someone else by its ownership tags (another stack, or another
/// address of this one), if it does.
fn claimed_elsewhere(stack: &str, address: &Address, obj: &LiveObject) -> Option<String> {
    let tags = obj.props.get("tags").map(Value::string_map).unwrap_or_default();
    match (tags.get(TAG_STACK), tags.get(TAG_ADDRESS)) {
        (Some(s), _) if s != stack => Some(format!(
            "{} belongs to stack `{s}` (its hactl:stack tag); hactl never takes another stack's object",
            obj.id
        )),
        (Some(_), Some(a)) if a != address.as_str() => {
            Some(format!("{} is {a} of this stack (its hactl:address tag), not {address}", obj.id))
        }
        _ => None,
    }
}

/// Records the ready ones of `checked` (answers of [`check_imports`] for `requests`) in
/// `state`; the caller saves it. Returns the addresses recorded.
pub fn record_imports(state: &mut State, requests: &[ImportRequest], checked: Vec<Checked>) -> Vec<Address> {
    let mut recorded = Vec::new();
    for (r, c) in requests.iter().zip(checked) {
        if let Checked::Ready { record, .. } = c {
            state.resources.insert(r.address.clone(), *record);
            recorded.push(r.address.clone());
        }
    }
    recorded
}

/// The objects in AWS that match an address of the config that state does not record:
/// found by the stack's ownership tags, or by the address's name or natural key without
/// ownership tags (one refresh). Changes nothing.
pub async fn discover(
    registry: &Registry,
    ctx: &Ctx,
    desired: &DesiredGraph,
    state: &State,
) -> Result<Vec<Candidate>, EngineError> {
    let live = refresh(registry, ctx, desired, state, RefreshScope::DesiredAndState).await?;
    let mut out = Vec::new();
    for spec in desired.specs() {
        if state.resources.contains_key(&spec.address) {
            continue;
        }
        let found = if live.adopted.contains(&spec.address) {
            live.found.get(&spec.address).map(|o| (o.id.clone(), FoundBy::Tags))
        } else {
            live.conflicts.iter().find(|c| c.address == spec.address).map(|c| (c.id.clone(), FoundBy::Name))
        };
        if let Some((id, found_by)) = found {
            out.push(Candidate {
                request: ImportRequest { address: spec.address.clone(), id },
                kind: spec.kind.clone(),
                found_by,
            });
        }
    }
    Ok(out)
}
