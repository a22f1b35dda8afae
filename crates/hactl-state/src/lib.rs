//! State: `state/<stack>.json` with a format version, a serial that grows on every write
//! and a lineage id; written atomically (temp file, fsync, rename) with mode 0600; one
//! writer at a time through `state/<stack>.lock`.
//!
//! State records ids, outputs and the properties hactl applied. It never holds secret
//! values: providers put ARNs in outputs, never passwords.

mod lock;
mod store;

pub use lock::{LockGuard, LockInfo, TakeOver};
pub use store::StateStore;

use hactl_core::{Address, Props, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const STATE_FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid hactl state file: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{path} has state format {found}; this hactl reads format {supported}. Use a newer hactl.")]
    Version { path: PathBuf, found: u32, supported: u32 },
    #[error("{path} belongs to stack `{found}`, not `{expected}`")]
    WrongStack { path: PathBuf, found: String, expected: String },
    #[error(
        "stack `{stack}` is locked by {holder}\n  If that run is gone, release it with `hactl force-unlock {id}`."
    )]
    Locked { stack: String, holder: Box<LockInfo>, id: String },
    #[error("no lock is held on stack `{0}`")]
    NotLocked(String),
    #[error("lock id mismatch: the lock is `{held}`, not `{given}`")]
    LockMismatch { held: String, given: String },
}

/// One managed resource as last applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: String,
    pub id: String,
    /// The properties hactl applied (references resolved). Drift compares live objects
    /// with these.
    pub props: Props,
    /// What other resources read from this one (id, arn, ...).
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// What it depended on when it was applied: deletions follow this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub stack: String,
    /// The region the stack lives in; a run against another region is refused.
    #[serde(default)]
    pub region: String,
    /// Random id given when the state is first written (empty before that); a saved
    /// plan made against another lineage is refused.
    pub lineage: String,
    /// Grows by one on every write.
    pub serial: u64,
    pub resources: BTreeMap<Address, ResourceState>,
}

impl State {
    pub fn new(stack: &str) -> Self {
        State {
            format_version: STATE_FORMAT_VERSION,
            stack: stack.to_string(),
            region: String::new(),
            lineage: String::new(),
            serial: 0,
            resources: BTreeMap::new(),
        }
    }

    /// The output `name` of the resource at `address` (`id` is always available).
    pub fn output(&self, address: &Address, name: &str) -> Option<Value> {
        let r = self.resources.get(address)?;
        if name == "id" {
            return Some(Value::Str(r.id.clone()));
        }
        r.outputs.get(name).cloned()
    }
}
