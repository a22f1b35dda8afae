use crate::lock::{LockGuard, LockInfo, TakeOver};
use crate::{State, StateError, STATE_FORMAT_VERSION};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state of one stack in a directory (`state/` by default).
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
    stack: String,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>, stack: &str) -> Self {
        StateStore { dir: dir.into(), stack: stack.to_string() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Loads the state, or a new empty one when the file does not exist yet.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new(&self.stack)),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        #[derive(serde::Deserialize)]
        struct Header {
            format_version: u32,
        }
        let header: Header =
            serde_json::from_str(&text).map_err(|source| StateError::Parse { path: path.clone(), source })?;
        if header.format_version != STATE_FORMAT_VERSION {
            return Err(StateError::Version {
                path,
                found: header.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        let state: State =
            serde_json::from_str(&text).map_err(|source| StateError::Parse { path: path.clone(), source })?;
        if state.stack != self.stack {
            return Err(StateError::WrongStack { path, found: state.stack, expected: self.stack.clone() });
        }
        Ok(state)
    }

    /// Bumps the serial and writes the state atomically: a temp file in the same
    /// directory, fsync, rename over the old file, fsync of the directory. Mode 0600.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        if state.lineage.is_empty() {
            state.lineage = uuid::Uuid::new_v4().to_string();
        }
        state.serial += 1;
        let path = self.path();
        let werr = |source| StateError::Write { path: path.clone(), source };
        fs::create_dir_all(&self.dir).map_err(werr)?;
        let mut body = serde_json::to_vec_pretty(state).map_err(|e| werr(std::io::Error::other(e)))?;
        body.push(b'\n');
        let tmp = self.dir.join(format!(".{}.json.tmp.{}", self.stack, std::process::id()));
        {
            let mut f = open_private(&tmp).map_err(werr)?;
            f.write_all(&body).map_err(werr)?;
            f.sync_all().map_err(werr)?;
        }
        fs::rename(&tmp, &path).map_err(werr)?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Takes the stack's lock for `operation`. A lock left by a dead process on this host
    /// is taken over (reported in the guard); any other held lock is an error naming its
    /// holder.
    pub fn lock(&self, operation: &str) -> Result<(LockGuard, Option<TakeOver>), StateError> {
        fs::create_dir_all(&self.dir)
            .map_err(|source| StateError::Write { path: self.dir.clone(), source })?;
        LockGuard::acquire(self.lock_path(), &self.stack, operation)
    }

    /// Removes the lock whatever holds it (`id` must match when given).
    pub fn force_unlock(&self, id: Option<&str>) -> Result<LockInfo, StateError> {
        crate::lock::force_unlock(&self.lock_path(), &self.stack, id)
    }
}

pub(crate) fn open_private(path: &Path) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
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

    #[test]
    fn round_trip_keeps_everything_and_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "demo");
        let mut s = store.load().unwrap();
        assert_eq!(s.serial, 0);
        assert!(s.resources.is_empty());
        let addr = Address::parse("subnet.app.us-east-1a").unwrap();
        s.resources.insert(
            addr.clone(),
            ResourceState {
                kind: "ec2.subnet".into(),
                id: "subnet-1".into(),
                props: [("cidr_block".to_string(), Value::str("10.0.1.0/24"))].into(),
                outputs: [("arn".to_string(), Value::str("arn:x"))].into(),
                depends_on: vec![Address::parse("vpc.main").unwrap()],
            },
        );
        store.save(&mut s).unwrap();
        store.save(&mut s).unwrap();
        let back = store.load().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 2);
        assert_eq!(back.output(&addr, "id"), Some(Value::str("subnet-1")));
        assert_eq!(back.output(&addr, "arn"), Some(Value::str("arn:x")));
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn state_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "demo");
        let mut s = store.load().unwrap();
        store.save(&mut s).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn rejects_other_versions_and_other_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "demo");
        let mut s = store.load().unwrap();
        store.save(&mut s).unwrap();
        let other = StateStore::new(dir.path(), "other");
        fs::copy(store.path(), other.path()).unwrap();
        assert!(matches!(other.load(), Err(StateError::WrongStack { .. })));
        let text = fs::read_to_string(store.path())
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 99");
        fs::write(store.path(), text).unwrap();
        assert!(matches!(store.load(), Err(StateError::Version { found: 99, .. })));
        fs::write(store.path(), "{ not json").unwrap();
        assert!(matches!(store.load(), Err(StateError::Parse { .. })));
    }
}
