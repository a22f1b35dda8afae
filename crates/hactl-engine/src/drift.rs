//! Drift: live objects compared with what hactl last applied (state). Pure.

use crate::provider::Registry;
use crate::refresh::LiveView;
use hactl_core::plan::Unmanaged;
use hactl_core::{Address, Location, Value};
use hactl_state::State;
use serde::{Deserialize, Serialize};

/// One property that differs from what hactl applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftChange {
    pub property: String,
    /// What hactl applied.
    pub expected: Option<Value>,
    /// What AWS has now.
    pub actual: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftedResource {
    pub address: Address,
    pub kind: String,
    /// Where the object lives (a region, or `global`).
    pub location: Location,
    pub id: String,
    pub changes: Vec<DriftChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoneResource {
    pub address: Address,
    pub kind: String,
    /// Where the object lived (a region, or `global`).
    pub location: Location,
    pub id: String,
}

/// The drift report (`hactl drift --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub stack: String,
    /// Resources whose live properties differ from what hactl applied.
    pub changed: Vec<DriftedResource>,
    /// Resources in state that no longer exist.
    pub deleted: Vec<GoneResource>,
    /// Objects that carry the stack's tag but are not in state.
    pub unmanaged: Vec<Unmanaged>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !(self.changed.is_empty() && self.deleted.is_empty() && self.unmanaged.is_empty())
    }

    /// Resources changed, deleted or unmanaged: the number a drift metric reports.
    pub fn drifted_count(&self) -> usize {
        self.changed.len() + self.deleted.len() + self.unmanaged.len()
    }
}

pub fn drift_report(registry: &Registry, state: &State, live: &LiveView) -> DriftReport {
    let mut changed = Vec::new();
    let mut deleted = Vec::new();
    for (addr, rs) in &state.resources {
        // An address whose desired kind changed keeps its recorded object in `prior`.
        let obj =
            live.found.get(addr).filter(|_| !live.prior.contains_key(addr)).or_else(|| live.prior.get(addr));
        let location = registry.place(&rs.kind, rs.location.as_ref());
        match obj {
            None => deleted.push(GoneResource {
                address: addr.clone(),
                kind: rs.kind.clone(),
                location,
                id: rs.id.clone(),
            }),
            Some(obj) => {
                let Ok(provider) = registry.get(&rs.kind) else { continue };
                let changes: Vec<DriftChange> = provider
                    .diff(&rs.props, &obj.props)
                    .into_iter()
                    .map(|c| {
                        let sensitive = c.sensitive;
                        let hide = |v: Option<Value>| {
                            if sensitive {
                                v.map(|_| Value::str("(sensitive)"))
                            } else {
                                v
                            }
                        };
                        DriftChange { property: c.name, expected: hide(c.after), actual: hide(c.before) }
                    })
                    .collect();
                if !changes.is_empty() {
                    changed.push(DriftedResource {
                        address: addr.clone(),
                        kind: rs.kind.clone(),
                        location,
                        id: obj.id.clone(),
                        changes,
                    });
                }
            }
        }
    }
    DriftReport {
        format_version: 1,
        stack: state.stack.clone(),
        changed,
        deleted,
        unmanaged: live.unmanaged.clone(),
    }
}
