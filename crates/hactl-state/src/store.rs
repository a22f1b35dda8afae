use crate::lock::{acquire_local, force_unlock_local, LockGuard, LockInfo, TakeOver};
use crate::s3::S3Store;
use crate::{State, StateError};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where one stack's state lives and how it is locked: a local directory (`state/` by
/// default) or an S3 object. Clones share the S3 backend's record of the last ETag seen,
/// so a clone's writes stay conditional on what the others read and wrote.
#[derive(Clone, Debug)]
pub struct StateStore {
    stack: String,
    backend: Backend,
}

/// A state document ready to write ([`StateStore::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    serial: u64,
    lineage: String,
    body: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Backend {
    Local { dir: PathBuf },
    S3(S3Store),
}

impl StateStore {
    /// `<dir>/<stack>.json`, locked through `<dir>/<stack>.lock`.
    pub fn local(dir: impl Into<PathBuf>, stack: &str) -> Self {
        StateStore { stack: stack.to_string(), backend: Backend::Local { dir: dir.into() } }
    }

    /// `s3://<bucket>/<key>`, locked through `s3://<bucket>/<key>.lock`. Build `client`
    /// with [`crate::s3_config`] (path-style addressing for custom endpoints).
    pub fn s3(client: aws_sdk_s3::Client, bucket: &str, key: &str, stack: &str) -> Self {
        StateStore { stack: stack.to_string(), backend: Backend::S3(S3Store::new(client, bucket, key)) }
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Where the state lives: `state/ha-demo.json` or `s3://bucket/key`.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local { .. } => self.state_file().display().to_string(),
            Backend::S3(s) => s.location(),
        }
    }

    /// The state file, for the local backend.
    pub fn local_path(&self) -> Option<PathBuf> {
        matches!(self.backend, Backend::Local { .. }).then(|| self.state_file())
    }

    /// The lock file, for the local backend.
    pub fn local_lock_path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local { dir } => Some(dir.join(format!("{}.lock", self.stack))),
            Backend::S3(_) => None,
        }
    }

    fn state_file(&self) -> PathBuf {
        match &self.backend {
            Backend::Local { dir } => dir.join(format!("{}.json", self.stack)),
            Backend::S3(_) => PathBuf::new(),
        }
    }

    /// Loads the state, or a new empty one when there is none yet. Refuses a document of
    /// another format version or of another stack.
    pub async fn load(&self) -> Result<State, StateError> {
        match &self.backend {
            Backend::Local { .. } => {
                let path = self.state_file();
                let bytes = match fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new(&self.stack)),
                    Err(source) => return Err(StateError::Read { path, source }),
                };
                State::decode(&bytes, &path.display().to_string(), &self.stack)
            }
            Backend::S3(s) => s.load(&self.stack).await,
        }
    }

    /// Bumps the serial (and gives the state a lineage on its first write), then writes
    /// it. When the write fails, `state` keeps its old serial and lineage.
    ///
    /// Local: atomically (a temp file in the same directory, fsync, rename over the old
    /// file, fsync of the directory), mode 0600, on tokio's blocking pool. S3: a
    /// conditional PutObject (see [`crate`]): a write that lost a race is
    /// [`StateError::Conflict`].
    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let next = self.prepare(state)?;
        let (serial, lineage) = self.write(next).await?;
        state.serial = serial;
        state.lineage = lineage;
        Ok(())
    }

    /// The next save of `state` (serial bumped, a lineage given on the first write),
    /// encoded, with `state` itself unchanged: a caller holding `state` under a lock
    /// encodes it there and writes it after releasing the lock, without copying it.
    ///
    /// The caller serializes prepare + [`StateStore::write`] + taking the returned serial
    /// into `state` (one save at a time, like [`StateStore::save`]): two prepared saves of
    /// one state carry the same serial, and writing an older one after a newer one would
    /// move the stored serial back.
    pub fn prepare(&self, state: &mut State) -> Result<Prepared, StateError> {
        let (serial, lineage) = (state.serial, state.lineage.clone());
        if state.lineage.is_empty() {
            state.lineage = uuid::Uuid::new_v4().to_string();
        }
        state.serial += 1;
        let body = state.encode();
        let next = (state.serial, std::mem::replace(&mut state.lineage, lineage));
        state.serial = serial;
        let body = body.map_err(|e| match &self.backend {
            Backend::Local { .. } => {
                StateError::Write { path: self.state_file(), source: std::io::Error::other(e) }
            }
            Backend::S3(s) => StateError::Parse { location: s.location(), source: e },
        })?;
        Ok(Prepared { serial: next.0, lineage: next.1, body })
    }

    /// Writes a prepared save; returns the serial and lineage it holds (the state's new
    /// ones).
    pub async fn write(&self, next: Prepared) -> Result<(u64, String), StateError> {
        let Prepared { serial, lineage, body } = next;
        match &self.backend {
            Backend::Local { dir } => {
                let path = self.state_file();
                let werr = |source| StateError::Write { path: path.clone(), source };
                let (dir, stack, target) = (dir.clone(), self.stack.clone(), path.clone());
                tokio::task::spawn_blocking(move || write_local(&dir, &stack, &target, &body))
                    .await
                    .map_err(|e| werr(std::io::Error::other(e)))?
                    .map_err(werr)?;
            }
            Backend::S3(s) => s.save(body).await?,
        }
        Ok((serial, lineage))
    }

    /// Takes the stack's lock for `operation`; any held lock is an error naming its
    /// holder. Taken over (reported in the answer), atomically: a drift lock past its
    /// lease ([`crate::DRIFT_LOCK_LEASE_SECS`]), and, local only, a lock left by a dead
    /// process of this host. Any other S3 lock is never taken over automatically: whether
    /// its holder still runs cannot be told from another machine (its pid means nothing
    /// here, and two containers can share a host name); a lock left by a crash is removed
    /// with `force_unlock`.
    pub async fn lock(&self, operation: &str) -> Result<(LockGuard, Option<TakeOver>), StateError> {
        match &self.backend {
            Backend::Local { dir } => {
                fs::create_dir_all(dir).map_err(|source| StateError::Write { path: dir.clone(), source })?;
                let path = dir.join(format!("{}.lock", self.stack));
                acquire_local(path, &self.stack, operation)
            }
            Backend::S3(s) => s.lock(&self.stack, operation).await,
        }
    }

    /// Removes the lock whatever holds it (`id` must match when given); returns who held it.
    pub async fn force_unlock(&self, id: Option<&str>) -> Result<LockInfo, StateError> {
        match &self.backend {
            Backend::Local { dir } => {
                force_unlock_local(&dir.join(format!("{}.lock", self.stack)), &self.stack, id)
            }
            Backend::S3(s) => s.force_unlock(&self.stack, id).await,
        }
    }
}

impl fmt::Display for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location())
    }
}

/// Writes `body` over `path` atomically: a temp file in `dir`, fsync, rename, fsync of `dir`.
fn write_local(dir: &Path, stack: &str, path: &Path, body: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    // A name no other writer uses (two stores of one process included), created new.
    let tmp = dir.join(format!(".{stack}.json.tmp.{}.{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    let mut f = open_private(&tmp)?;
    let written = f.write_all(body).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|_| fs::rename(&tmp, path)) {
        // Ours (created new above): nothing else can be behind this name.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir);
    Ok(())
}

/// Creates `path` for writing, mode 0600. Create-new (O_CREAT|O_EXCL): it fails if
/// anything is already there, a symlink included, so a temp file is never one someone
/// else placed (or another writer's).
pub(crate) fn open_private(path: &Path) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable on filesystems that need it.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResourceState;
    use hactl_core::{Address, Value};

    #[tokio::test]
    async fn round_trip_keeps_everything_and_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        assert_eq!(store.location(), dir.path().join("demo.json").display().to_string());
        let mut s = store.load().await.unwrap();
        assert_eq!(s.serial, 0);
        assert!(s.resources.is_empty());
        let addr = Address::parse("subnet.app.us-east-1a").unwrap();
        s.resources.insert(
            addr.clone(),
            ResourceState {
                kind: "ec2.subnet".into(),
                location: Some(hactl_core::Location::region("us-east-1")),
                id: "subnet-1".into(),
                props: [("cidr_block".to_string(), Value::str("10.0.1.0/24"))].into(),
                outputs: [("arn".to_string(), Value::str("arn:x"))].into(),
                depends_on: vec![Address::parse("vpc.main").unwrap()],
            },
        );
        store.save(&mut s).await.unwrap();
        store.save(&mut s).await.unwrap();
        let back = store.load().await.unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 2);
        assert!(!back.lineage.is_empty());
        assert_eq!(back.output(&addr, "id"), Some(Value::str("subnet-1")));
        assert_eq!(back.output(&addr, "arn"), Some(Value::str("arn:x")));
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn temp_files_are_created_new_never_reused_or_followed() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("existing");
        fs::write(&existing, "theirs").unwrap();
        assert_eq!(open_private(&existing).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        let link = dir.path().join("link");
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(open_private(&link).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        assert!(!target.exists(), "the symlink was not followed");
        assert_eq!(fs::read_to_string(&existing).unwrap(), "theirs");
    }

    #[tokio::test]
    async fn a_failed_save_keeps_the_serial_and_lineage() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the state directory should be: the write fails.
        let blocker = dir.path().join("state");
        fs::write(&blocker, "").unwrap();
        let store = StateStore::local(&blocker, "demo");
        let mut s = State::new("demo");
        assert!(matches!(store.save(&mut s).await, Err(StateError::Write { .. })));
        assert_eq!((s.serial, s.lineage.as_str()), (0, ""));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn state_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        let mut s = store.load().await.unwrap();
        store.save(&mut s).await.unwrap();
        let mode = fs::metadata(store.local_path().unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn rejects_other_versions_and_other_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        let path = store.local_path().unwrap();
        let mut s = store.load().await.unwrap();
        store.save(&mut s).await.unwrap();
        let other = StateStore::local(dir.path(), "other");
        fs::copy(&path, other.local_path().unwrap()).unwrap();
        assert!(matches!(other.load().await, Err(StateError::WrongStack { .. })));
        let text =
            fs::read_to_string(&path).unwrap().replace("\"format_version\": 2", "\"format_version\": 99");
        fs::write(&path, text).unwrap();
        assert!(matches!(store.load().await, Err(StateError::Version { found: 99, .. })));
        fs::write(&path, "{ not json").unwrap();
        let err = store.load().await.unwrap_err();
        assert!(matches!(err, StateError::Parse { .. }));
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    /// A state file written before locations (hactl at 295e847: format 1) is read: its
    /// records have no location, and the next write is format 2.
    #[tokio::test]
    async fn reads_format_1_and_writes_format_2() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/state-v1-two-region.json");
        let text = fs::read_to_string(fixture).unwrap();
        assert!(text.contains("\"format_version\": 1"));
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "two-region");
        fs::write(store.local_path().unwrap(), &text).unwrap();
        let mut s = store.load().await.unwrap();
        assert_eq!(s.format_version, crate::STATE_FORMAT_VERSION);
        assert_eq!(s.resources.len(), 42);
        assert!(s.resources.values().all(|r| r.location.is_none()));
        assert_eq!(s.serial, 42);
        store.save(&mut s).await.unwrap();
        let written = fs::read_to_string(store.local_path().unwrap()).unwrap();
        assert!(written.contains("\"format_version\": 2"), "{written}");
        let again = store.load().await.unwrap();
        assert_eq!(again.resources, s.resources);
    }
}
