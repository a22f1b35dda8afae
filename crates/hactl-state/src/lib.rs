//! State: a JSON document per stack with a format version, a serial that grows on every
//! write and a lineage id, plus one writer at a time through a lock. Two backends:
//!
//! - local files (the default): `state/<stack>.json`, written atomically (temp file,
//!   fsync, rename) with mode 0600, locked through `state/<stack>.lock` (every change to
//!   an existing lock under a flock on `state/<stack>.lock.guard`);
//! - S3: the state object at `s3://bucket/key`, locked through `key.lock`; every write is
//!   conditional (`If-Match` on the ETag last read or written, `If-None-Match: *` for the
//!   first), so a write that did not see the latest state fails instead of losing it.
//!   The lock's changes are conditional on its ETag too.
//!
//! Taking over a stale lock is atomic on both: of two runs that find the same stale lock,
//! exactly one takes it; and releasing never removes a lock another run now holds.
//!
//! State records ids, outputs and the properties hactl applied. It never holds secret
//! values: providers put ARNs in outputs, never passwords.

mod lock;
mod s3;
mod store;

pub use lock::{LockGuard, LockInfo, LockRelease, TakeOver, DRIFT_LOCK_LEASE_SECS};
pub use s3::s3_config;
pub use store::{Prepared, StateStore};

/// The S3 SDK this crate uses, for callers that build the client themselves (to add an
/// interceptor, say): `StateStore::s3(aws_sdk_s3::Client::from_conf(s3_config(..).build()), ..)`.
pub use aws_sdk_s3;

use hactl_core::{Address, Location, Props, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The state format this hactl writes. 2: every resource records its location (a region
/// or `global`). Format 1 (hactl before locations) is read and upgraded in place: its
/// resources have no location, which means the home region (or `global` for a global
/// kind: see `hactl_engine::place_state`); the next write is format 2.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The older formats this hactl reads and upgrades.
pub const STATE_FORMATS_READ: &[u32] = &[1, 2];

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{location} is not a valid hactl state or lock document: {source}")]
    Parse { location: String, source: serde_json::Error },
    #[error("{location} has state format {found}; this hactl reads format {supported}. Use a newer hactl.")]
    Version { location: String, found: u32, supported: u32 },
    #[error("{location} belongs to stack `{found}`, not `{expected}`")]
    WrongStack { location: String, found: String, expected: String },
    #[error(
        "stack `{stack}` is locked by {holder}\n  If that run is gone, release it with `hactl force-unlock {id}`."
    )]
    Locked { stack: String, holder: Box<LockInfo>, id: String },
    #[error("no lock is held on stack `{0}`")]
    NotLocked(String),
    #[error("lock id mismatch: the lock is `{held}`, not `{given}`")]
    LockMismatch { held: String, given: String },
    #[error(
        "{location}: the bucket `{bucket}` does not exist. Create it first (hactl never creates \
         it; turn on its versioning to keep every state write), or point [state] bucket at an \
         existing one"
    )]
    NoSuchBucket { location: String, bucket: String },
    #[error(
        "{location}: access denied ({message}). The credentials need s3:GetObject, s3:PutObject and \
         s3:DeleteObject on the state object and its .lock object, and s3:ListBucket on the bucket"
    )]
    AccessDenied { location: String, message: String },
    #[error(
        "{location} was written by someone else after this run read it; nothing was overwritten. \
         Another run (or a person) changed the state without holding the lock: check what it did, \
         then run the command again"
    )]
    Conflict { location: String },
    #[error("{operation} {location}: {message}")]
    S3 { operation: &'static str, location: String, message: String },
    /// An S3 call failed (boxed: errors stay small).
    #[error(transparent)]
    Aws(Box<S3Failure>),
}

/// A failed S3 call of the state backend: `message` is one line (AWS's code and message,
/// or what else went wrong: see [`hactl_awserror::describe`]); the SDK error is the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {location}: {message}")]
pub struct S3Failure {
    pub operation: &'static str,
    pub location: String,
    pub message: String,
    pub code: Option<String>,
    pub failure: hactl_awserror::Failure,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One managed resource as last applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: String,
    /// Where the object lives. `None` only in a format 1 document not yet placed: the
    /// stack's home region, or `global` for a global kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
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
    /// The AWS account the stack lives in (STS GetCallerIdentity of the run that first
    /// wrote it); a run with credentials of another account is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The endpoint URL the stack was applied through (an emulator), when one was set;
    /// none for AWS itself. A run through another endpoint, or none, is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Random id given when the state is first written (empty before that); a saved
    /// plan made against another lineage is refused.
    pub lineage: String,
    /// Grows by one on every write.
    pub serial: u64,
    /// The region serving traffic when the stack has a disaster-recovery region and
    /// `hactl failover --to-region` moved it there; none: the stack's own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_region: Option<String>,
    pub resources: BTreeMap<Address, ResourceState>,
}

impl State {
    pub fn new(stack: &str) -> Self {
        State {
            format_version: STATE_FORMAT_VERSION,
            stack: stack.to_string(),
            region: String::new(),
            account_id: None,
            endpoint: None,
            lineage: String::new(),
            serial: 0,
            active_region: None,
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

    /// Parses a state document read from `location`, checking its format version and
    /// that it belongs to `stack`.
    pub(crate) fn decode(bytes: &[u8], location: &str, stack: &str) -> Result<State, StateError> {
        #[derive(serde::Deserialize)]
        struct Header {
            format_version: u32,
        }
        let parse = |source| StateError::Parse { location: location.to_string(), source };
        let header: Header = serde_json::from_slice(bytes).map_err(parse)?;
        if !STATE_FORMATS_READ.contains(&header.format_version) {
            return Err(StateError::Version {
                location: location.to_string(),
                found: header.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        let mut state: State = serde_json::from_slice(bytes).map_err(parse)?;
        // Upgraded in place: the next write is the current format.
        state.format_version = STATE_FORMAT_VERSION;
        if state.stack != stack {
            return Err(StateError::WrongStack {
                location: location.to_string(),
                found: state.stack,
                expected: stack.to_string(),
            });
        }
        Ok(state)
    }

    /// The document as written: pretty JSON and a final newline.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut body = serde_json::to_vec_pretty(self)?;
        body.push(b'\n');
        Ok(body)
    }
}
