//! Plans: the ordered actions that take live AWS to the desired graph.
//!
//! The JSON form of [`Plan`] is the documented plan document (`hactl plan --json`, and
//! the file `hactl plan --out` writes). Its `format_version` grows on any incompatible
//! change.

use crate::address::Address;
use crate::diff::PropChange;
use crate::graph::ResourceSpec;
use crate::location::Location;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// 2: every action records the location of its resource.
pub const PLAN_FORMAT_VERSION: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Create a new object.
    Create,
    /// Change the live object in place.
    Update,
    /// Delete the live object, then create it again.
    Replace,
    /// Delete the live object.
    Delete,
    /// Record in state an object found by its ownership tags (a create whose journal
    /// entry was lost in a crash); nothing changes in AWS.
    Adopt,
    /// Drop from state an object that is already gone from AWS and no longer desired.
    Forget,
}

impl ActionType {
    pub fn symbol(self) -> &'static str {
        match self {
            ActionType::Create => "+",
            ActionType::Update => "~",
            ActionType::Replace => "-/+",
            ActionType::Delete => "-",
            ActionType::Adopt => "<=",
            ActionType::Forget => "x",
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ActionType::Create => "create",
            ActionType::Update => "update",
            ActionType::Replace => "replace",
            ActionType::Delete => "delete",
            ActionType::Adopt => "adopt",
            ActionType::Forget => "forget",
        };
        f.write_str(s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub address: Address,
    pub kind: String,
    /// Where the resource lives (a region, or `global`): the provider of that location
    /// carries the action out.
    pub location: Location,
    pub action: ActionType,
    /// The live object's id, when one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why: the properties that force a replacement, or "deleted outside hactl", ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Property changes, before → after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<PropChange>,
    /// The desired resource (properties with references unresolved) for create, update,
    /// replace and adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<ResourceSpec>,
    /// What the existing object depended on (from state), to order deletions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_depends_on: Vec<Address>,
    /// The object was found by its ownership tags, not in state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Live outputs at plan time (ids, ARNs), recorded into state on adopt.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live_outputs: BTreeMap<String, Value>,
}

/// The kinds whose objects hold a database's data.
pub const DATA_KINDS: &[&str] = &["docdb.cluster", "docdb.instance", "rds.instance"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    Apply,
    Destroy,
}

/// An object that carries the stack's tag but is neither in state nor desired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unmanaged {
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_tag: Option<String>,
    /// Where it was found (a region, or `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// An object that has the name (or natural key) one of the stack's addresses would get,
/// but neither carries the stack's ownership tags nor is recorded in state: it is not
/// the stack's, so it is never adopted, re-tagged or deleted. A plan that would create
/// the address stops instead (import it, rename the stack, or delete it by hand).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub address: Address,
    pub kind: String,
    /// The foreign object's id (name, ARN, ...).
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    /// The region the plan was made against.
    #[serde(default)]
    pub region: String,
    pub mode: PlanMode,
    /// The state the plan was made against; a saved plan is refused once it changed.
    pub state_lineage: String,
    pub state_serial: u64,
    pub actions: Vec<PlannedAction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// Objects the plan deletes (delete or replace) whose live object has deletion
    /// protection on: apply refuses to start unless deleting protected objects is allowed
    /// (`--allow-delete-protected`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<Address>,
    /// Objects with one of the stack's names that are not the stack's: an apply plan with
    /// conflicts is refused before any call; destroy leaves them in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// What the plan was limited to (`--target`, `--exclude`) and what it replaces
    /// (`--replace`); absent for a full plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<crate::select::Targeting>,
    /// The estimated monthly cost of the stack before and after the plan (`hactl plan`
    /// fills it in from the price table; absent when not estimated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub adopt: usize,
    pub forget: usize,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete + self.adopt + self.forget
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for a in &self.actions {
            match a.action {
                ActionType::Create => s.create += 1,
                ActionType::Update => s.update += 1,
                ActionType::Replace => s.replace += 1,
                ActionType::Delete => s.delete += 1,
                ActionType::Adopt => s.adopt += 1,
                ActionType::Forget => s.forget += 1,
            }
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The delete and replace actions that remove a live database (its data goes with
    /// it, or with a final snapshot): shown apart in the plan's summary line.
    pub fn data_removals(&self) -> Vec<&PlannedAction> {
        self.actions
            .iter()
            .filter(|a| matches!(a.action, ActionType::Delete | ActionType::Replace))
            .filter(|a| DATA_KINDS.contains(&a.kind.as_str()))
            .collect()
    }
}
