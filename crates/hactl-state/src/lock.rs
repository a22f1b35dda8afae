use crate::s3::LockObject;
use crate::store::open_private;
use crate::StateError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Who holds a stack's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub operation: String,
    pub owner: String,
    pub host: String,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

impl LockInfo {
    /// A new lock for `operation` by this process.
    pub fn new(operation: &str) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            owner: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            created: now(),
        }
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let age = now().saturating_sub(self.created);
        write!(
            f,
            "`{}` by {}@{} (pid {}), {} s ago, lock id {}",
            self.operation, self.owner, self.host, self.pid, age, self.id
        )
    }
}

/// A stale lock (its process is gone) that was taken over.
#[derive(Clone, Debug)]
pub struct TakeOver(pub LockInfo);

/// Where a held lock lives.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Local(PathBuf),
    S3(LockObject),
}

/// Releases a held lock; cloneable, so that a signal handler can release the lock before
/// the process quits while the guard is owned elsewhere.
#[derive(Clone, Debug)]
pub struct LockRelease {
    info: LockInfo,
    target: Target,
}

impl LockRelease {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Removes the lock if it is still this one. A lock that is gone, or that is now
    /// another run's (force-unlock freed it and someone locked again), is left alone.
    pub async fn release(&self) -> Result<(), StateError> {
        match &self.target {
            Target::Local(path) => release_local(path, &self.info.id),
            Target::S3(obj) => obj.release(&self.info.id).await,
        }
    }
}

/// Holds the stack's lock. Release it with [`LockGuard::release`], which reports a
/// failure; dropping the guard instead is a best-effort fallback: a local lock file is
/// removed at once, an S3 lock's delete is only scheduled on the current Tokio runtime
/// (it is lost if the process exits first).
#[derive(Debug)]
pub struct LockGuard {
    release: LockRelease,
    released: bool,
}

impl LockGuard {
    pub(crate) fn new(info: LockInfo, target: Target) -> LockGuard {
        LockGuard { release: LockRelease { info, target }, released: false }
    }

    pub fn info(&self) -> &LockInfo {
        &self.release.info
    }

    /// A handle that can release this lock from elsewhere (e.g. a signal handler).
    pub fn handle(&self) -> LockRelease {
        self.release.clone()
    }

    /// Releases the lock (if it is still this one).
    pub async fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        self.release.release().await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        match &self.release.target {
            Target::Local(path) => {
                let _ = release_local(path, &self.release.info.id);
            }
            Target::S3(_) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let release = self.release.clone();
                    rt.spawn(async move {
                        let _ = release.release().await;
                    });
                }
            }
        }
    }
}

/// Takes the local lock file `path` for `operation`; a lock left by a dead process of
/// this host is taken over.
pub(crate) fn acquire_local(
    path: PathBuf,
    stack: &str,
    operation: &str,
) -> Result<(LockGuard, Option<TakeOver>), StateError> {
    let info = LockInfo::new(operation);
    let mut took_over = None;
    for _ in 0..2 {
        // Written whole to a private temp file, then linked into place: the link
        // fails when a lock exists, and a reader never sees a half-written lock.
        let tmp = path.with_extension(format!("lock.{}.tmp", info.id));
        let werr = |source| StateError::Write { path: tmp.clone(), source };
        {
            let mut f = open_private(&tmp).map_err(werr)?;
            let body = serde_json::to_vec_pretty(&info).map_err(|e| werr(std::io::Error::other(e)))?;
            f.write_all(&body).and_then(|_| f.sync_all()).map_err(werr)?;
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok((LockGuard::new(info, Target::Local(path)), took_over)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = read_lock(&path)?;
                if (holder.host == info.host && !process_alive(holder.pid)) || holder.is_expired_drift_lock()
                {
                    // Its process is gone (a crash or kill -9), or it is a drift lock past
                    // its lease: safe to take over, unless another run took it over
                    // meanwhile.
                    if read_lock(&path).map(|h| h.id != holder.id).unwrap_or(true) {
                        continue;
                    }
                    fs::remove_file(&path)
                        .map_err(|source| StateError::Write { path: path.clone(), source })?;
                    took_over = Some(TakeOver(holder));
                    continue;
                }
                let id = holder.id.clone();
                return Err(StateError::Locked { stack: stack.to_string(), holder: Box::new(holder), id });
            }
            Err(source) => return Err(StateError::Write { path, source }),
        }
    }
    let holder = read_lock(&path)?;
    let id = holder.id.clone();
    Err(StateError::Locked { stack: stack.to_string(), holder: Box::new(holder), id })
}

/// Removes the lock file if it still holds lock `id`.
fn release_local(path: &Path, id: &str) -> Result<(), StateError> {
    match read_lock(path) {
        Ok(l) if l.id == id => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write { path: path.to_path_buf(), source }),
        },
        Ok(_) => Ok(()),
        Err(StateError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn read_lock(path: &Path) -> Result<LockInfo, StateError> {
    let text =
        fs::read_to_string(path).map_err(|source| StateError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text)
        .map_err(|source| StateError::Parse { location: path.display().to_string(), source })
}

pub(crate) fn force_unlock_local(path: &Path, stack: &str, id: Option<&str>) -> Result<LockInfo, StateError> {
    let holder = match read_lock(path) {
        Ok(h) => h,
        Err(StateError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NotLocked(stack.to_string()))
        }
        Err(e) => return Err(e),
    };
    check_id(&holder, id)?;
    fs::remove_file(path).map_err(|source| StateError::Write { path: path.to_path_buf(), source })?;
    Ok(holder)
}

/// Refuses to force-unlock when the given id is not the held lock's.
pub(crate) fn check_id(holder: &LockInfo, id: Option<&str>) -> Result<(), StateError> {
    match id {
        Some(given) if given != holder.id => {
            Err(StateError::LockMismatch { held: holder.id.clone(), given: given.to_string() })
        }
        _ => Ok(()),
    }
}

/// A `drift` lock older than this is taken over: a drift run takes seconds to minutes, and
/// a scheduled drift task that was killed (out of memory, stopped) must not block every
/// later apply and drift run until someone force-unlocks. Locks of other operations are
/// never taken over this way.
pub const DRIFT_LOCK_LEASE_SECS: u64 = 30 * 60;

impl LockInfo {
    /// Seconds since the lock was taken.
    pub fn age_secs(&self) -> u64 {
        now().saturating_sub(self.created)
    }

    /// A drift run's lock held for longer than any drift run takes.
    pub fn is_expired_drift_lock(&self) -> bool {
        self.operation == "drift" && self.age_secs() > DRIFT_LOCK_LEASE_SECS
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether a process is alive on this host. Where this cannot be told (no /proc), the
/// answer is "alive", so a lock is never broken on a guess.
fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    match fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) {
        // A zombie has exited; its lock is stale.
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::{StateError, StateStore};

    fn lock_path(store: &StateStore) -> std::path::PathBuf {
        store.local_lock_path().unwrap()
    }

    #[tokio::test]
    async fn second_lock_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        let (g, took) = store.lock("apply").await.unwrap();
        assert!(took.is_none());
        let err = store.lock("apply").await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StateError::Locked { .. }));
        assert!(
            msg.contains("`apply`") && msg.contains(&g.info().id) && msg.contains("force-unlock"),
            "{msg}"
        );
        g.release().await.unwrap();
        assert!(!lock_path(&store).exists());
        let (g2, _) = store.lock("plan").await.unwrap();
        // Dropping without release still frees a local lock at once.
        drop(g2);
        assert!(!lock_path(&store).exists());
    }

    #[tokio::test]
    async fn stale_lock_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        // Spawn a short-lived process, wait for it, and forge a lock in its name.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let (g, _) = store.lock("apply").await.unwrap();
        let mut info = g.info().clone();
        std::mem::forget(g);
        info.pid = dead_pid;
        std::fs::write(lock_path(&store), serde_json::to_string(&info).unwrap()).unwrap();
        let (_g, took) = store.lock("apply").await.unwrap();
        assert_eq!(took.unwrap().0.pid, dead_pid);
    }

    #[tokio::test]
    async fn force_unlock_checks_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        assert!(matches!(store.force_unlock(None).await, Err(StateError::NotLocked(_))));
        let (g, _) = store.lock("apply").await.unwrap();
        let id = g.info().id.clone();
        assert!(matches!(store.force_unlock(Some("wrong")).await, Err(StateError::LockMismatch { .. })));
        assert_eq!(store.force_unlock(Some(&id)).await.unwrap().id, id);
        assert!(!lock_path(&store).exists());
        // The old guard must not delete a lock that is no longer its own.
        let (g2, _) = store.lock("apply").await.unwrap();
        g.release().await.unwrap();
        assert!(lock_path(&store).exists());
        // A release handle frees the lock too; the guard's own release is then a no-op.
        g2.handle().release().await.unwrap();
        assert!(!lock_path(&store).exists());
        g2.release().await.unwrap();
    }
}
