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
    /// The lock object and the ETag of the lock this run wrote (its release is
    /// conditional on it).
    S3(LockObject, Option<String>),
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
            Target::S3(obj, etag) => obj.release(&self.info, etag.as_deref()).await,
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
            Target::S3(..) => {
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

/// The local lock, and why it is atomic.
///
/// A lock is created by writing it whole to a private temp file (create-new, so nothing
/// else can be behind that name) and hard-linking that to `<stack>.lock`: link(2) fails
/// with EEXIST when a lock exists, so of two runs only one creates it, and nobody ever
/// reads a half-written lock.
///
/// Taking over a stale lock, releasing and force-unlocking change a lock that exists,
/// and that is only safe if it is still the lock that was checked. A check followed by
/// unlink(2) is two steps another run can come between: both see the same stale lock,
/// one replaces it, and the other then deletes the replacement and takes the lock as
/// well. rename(2) replaces atomically but unconditionally, so it cannot say "only if it
/// is still that lock" either. So each of these runs under an exclusive flock(2) on a
/// guard file beside the lock (`<stack>.lock.guard`) and reads the lock again under it.
/// Linux grants that flock to one open file description at a time (across processes,
/// and across separate opens in one process) and drops it when its holder exits, so a
/// crash never leaves it held. A lock file appears only through link(2) (which never
/// replaces one) and is replaced or removed only under the guard, so what was read
/// under the guard is still there when it is replaced (rename(2) of our temp file: there
/// is never a moment without a lock) or removed. The guard file stays: removing it
/// while another run has it open would let two runs lock two different files.
pub(crate) fn acquire_local(
    path: PathBuf,
    stack: &str,
    operation: &str,
) -> Result<(LockGuard, Option<TakeOver>), StateError> {
    let info = LockInfo::new(operation);
    let body = serde_json::to_vec_pretty(&info)
        .map_err(|source| StateError::Parse { location: path.display().to_string(), source })?;
    let tmp = path.with_extension(format!("lock.{}.tmp", info.id));
    let werr = |source| StateError::Write { path: tmp.clone(), source };
    {
        let mut f = open_private(&tmp).map_err(werr)?;
        f.write_all(&body).and_then(|_| f.sync_all()).map_err(werr)?;
    }
    let outcome = take_local(&path, &tmp, &info, stack);
    // Linked or renamed into place, or not needed: the temp name goes either way.
    let _ = fs::remove_file(&tmp);
    let took_over = outcome?;
    Ok((LockGuard::new(info, Target::Local(path)), took_over))
}

/// Puts the lock written to `tmp` in place at `path`: created when there is none, or
/// replacing a stale one (see [`acquire_local`]).
fn take_local(path: &Path, tmp: &Path, info: &LockInfo, stack: &str) -> Result<Option<TakeOver>, StateError> {
    let werr = |source| StateError::Write { path: path.to_path_buf(), source };
    // A lock released, or replaced by another run's take-over, between two steps: look
    // again, a few times.
    for _ in 0..3 {
        match fs::hard_link(tmp, path) {
            Ok(()) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(werr(source)),
        }
        let holder = match read_lock(path) {
            Ok(h) => h,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        // Its process is gone (a crash or kill -9), or it is a drift lock past its lease.
        let stale =
            (holder.host == info.host && !process_alive(holder.pid)) || holder.is_expired_drift_lock();
        if !stale {
            let id = holder.id.clone();
            return Err(StateError::Locked { stack: stack.to_string(), holder: Box::new(holder), id });
        }
        race::before_take_over(&path.display().to_string());
        let _guard = guard_local(path)?;
        match read_lock(path) {
            Ok(now) if now.id == holder.id => {}
            // Taken over or released meanwhile: look again.
            Ok(_) => continue,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        }
        fs::rename(tmp, path).map_err(werr)?;
        sync_parent(path);
        return Ok(Some(TakeOver(holder)));
    }
    let holder = read_lock(path)?;
    let id = holder.id.clone();
    Err(StateError::Locked { stack: stack.to_string(), holder: Box::new(holder), id })
}

/// The exclusive flock on `<stack>.lock.guard` (see [`acquire_local`]); released when the
/// returned file is dropped.
fn guard_local(lock: &Path) -> Result<fs::File, StateError> {
    let path = lock.with_extension("lock.guard");
    let werr = |source| StateError::Write { path: path.clone(), source };
    let mut opts = fs::OpenOptions::new();
    opts.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(&path).map_err(werr)?;
    file.lock().map_err(werr)?;
    Ok(file)
}

fn is_not_found(e: &StateError) -> bool {
    matches!(e, StateError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

fn sync_parent(path: &Path) {
    // Best effort: makes the rename durable on filesystems that need it.
    if let Some(d) = path.parent().and_then(|d| fs::File::open(d).ok()) {
        let _ = d.sync_all();
    }
}

/// Removes the lock file if it still holds lock `id`; under the guard, so a lock another
/// run took meanwhile is never removed.
fn release_local(path: &Path, id: &str) -> Result<(), StateError> {
    if !path.exists() {
        return Ok(());
    }
    let _guard = guard_local(path)?;
    match read_lock(path) {
        Ok(l) if l.id == id => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write { path: path.to_path_buf(), source }),
        },
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn read_lock(path: &Path) -> Result<LockInfo, StateError> {
    let text =
        fs::read_to_string(path).map_err(|source| StateError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text)
        .map_err(|source| StateError::Parse { location: path.display().to_string(), source })
}

/// Removes the lock whatever holds it (`id` must match when given); under the guard, so
/// what is removed is the lock that was checked.
pub(crate) fn force_unlock_local(path: &Path, stack: &str, id: Option<&str>) -> Result<LockInfo, StateError> {
    if !path.exists() {
        return Err(StateError::NotLocked(stack.to_string()));
    }
    let _guard = guard_local(path)?;
    let holder = match read_lock(path) {
        Ok(h) => h,
        Err(e) if is_not_found(&e) => return Err(StateError::NotLocked(stack.to_string())),
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

/// A pause between judging a lock stale and taking it over. Tests set one for a lock
/// location so that two runs both see the stale lock before either takes it; outside
/// tests it does nothing.
#[cfg(not(test))]
pub(crate) mod race {
    #[inline]
    pub(crate) fn before_take_over(_location: &str) {}
}

#[cfg(test)]
pub(crate) mod race {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::{Arc, Condvar, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    type Pause = Arc<dyn Fn() + Send + Sync>;

    fn pauses() -> &'static Mutex<HashMap<String, Pause>> {
        static PAUSES: OnceLock<Mutex<HashMap<String, Pause>>> = OnceLock::new();
        PAUSES.get_or_init(Default::default)
    }

    /// Calls `pause` whenever a run is about to take over the stale lock at `location`.
    pub(crate) fn set(location: &str, pause: impl Fn() + Send + Sync + 'static) {
        pauses().lock().unwrap().insert(location.to_string(), Arc::new(pause));
    }

    pub(crate) fn clear(location: &str) {
        pauses().lock().unwrap().remove(location);
    }

    pub(crate) fn before_take_over(location: &str) {
        let pause = pauses().lock().unwrap().get(location).cloned();
        if let Some(pause) = pause {
            pause();
        }
    }

    /// How long a rendezvous waits for the other party before giving up (the round then
    /// fails as "not a real race").
    const PATIENCE: Duration = Duration::from_secs(10);

    /// `n` threads of this process meet: each `wait` returns once all `n` have called it
    /// (true), or after [`PATIENCE`] (false).
    pub(crate) struct Rendezvous {
        n: usize,
        state: Mutex<(usize, u64)>,
        met: Condvar,
        arrivals: std::sync::atomic::AtomicUsize,
    }

    impl Rendezvous {
        pub(crate) fn new(n: usize) -> Rendezvous {
            Rendezvous { n, state: Mutex::new((0, 0)), met: Condvar::new(), arrivals: Default::default() }
        }

        pub(crate) fn wait(&self) -> bool {
            self.arrivals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut st = self.state.lock().unwrap();
            let generation = st.1;
            st.0 += 1;
            if st.0 == self.n {
                *st = (0, generation + 1);
                self.met.notify_all();
                return true;
            }
            let (mut st, timeout) = self.met.wait_timeout_while(st, PATIENCE, |s| s.1 == generation).unwrap();
            if timeout.timed_out() {
                st.0 -= 1;
                return false;
            }
            true
        }

        /// How many waits were made since the last call.
        pub(crate) fn take_arrivals(&self) -> usize {
            self.arrivals.swap(0, std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// `n` processes meet in directory `dir`: each leaves a file named after its pid and
    /// waits until `n` files are there (or [`PATIENCE`] passed).
    pub(crate) fn meet_in_dir(dir: &Path, n: usize) -> bool {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(std::process::id().to_string()), "").unwrap();
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if std::fs::read_dir(dir).unwrap().count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        false
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
    use super::{race, LockInfo};
    use crate::{StateError, StateStore};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::path::Path;
    use std::process::{Command, Stdio};

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

    #[tokio::test]
    async fn a_late_release_of_a_taken_over_drift_lock_leaves_the_new_lock_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path(), "demo");
        let (drift, _) = store.lock("drift").await.unwrap();
        // The drift run is still alive but past its lease (its lock made older).
        let mut old = drift.info().clone();
        old.created -= super::DRIFT_LOCK_LEASE_SECS + 60;
        std::fs::write(lock_path(&store), serde_json::to_vec(&old).unwrap()).unwrap();
        let (apply, took) = StateStore::local(dir.path(), "demo").lock("apply").await.unwrap();
        assert_eq!(took.expect("take-over reported").0.id, old.id);
        // The drift run finishes and releases: the apply's lock stays.
        drift.release().await.unwrap();
        let held: LockInfo = serde_json::from_slice(&std::fs::read(lock_path(&store)).unwrap()).unwrap();
        assert_eq!(held.id, apply.info().id);
        apply.release().await.unwrap();
        assert!(!lock_path(&store).exists());
        // No temp file is left: the lock's guard file stays (see `acquire_local`).
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["demo.lock.guard"]);
    }

    /// Set in the child processes of the race test: the state directory to race in.
    const RACE_CHILD: &str = "HACTL_LOCK_RACE_CHILD";
    /// Set for one child in odd rounds: it goes on this many ms after the other.
    const RACE_DELAY: &str = "HACTL_LOCK_RACE_DELAY_MS";
    const RACE_TEST: &str = "lock::tests::two_processes_racing_for_a_dead_holders_lock_never_both_win";
    const ROUNDS: usize = 50;

    /// 50 rounds: a lock left by a dead process, and two processes of this test binary
    /// (each with its own store) that both read it and judge it stale before either takes
    /// it over (they meet between the two steps; in odd rounds one goes on 20 ms after the
    /// other, in even rounds both at once). Exactly one may hold the lock, reporting the
    /// take-over; the other is refused, naming the winner.
    #[test]
    fn two_processes_racing_for_a_dead_holders_lock_never_both_win() {
        if let Some(dir) = std::env::var_os(RACE_CHILD) {
            return race_child(Path::new(&dir));
        }
        let exe = std::env::current_exe().unwrap();
        let mut failures = Vec::new();
        for round in 0..ROUNDS {
            let dir = tempfile::tempdir().unwrap();
            let store = StateStore::local(dir.path(), "demo");
            let mut gone = Command::new("true").spawn().unwrap();
            let dead_pid = gone.id();
            gone.wait().unwrap();
            let mut stale = LockInfo::new("apply");
            stale.id = format!("stale-{round}");
            stale.pid = dead_pid;
            std::fs::write(lock_path(&store), serde_json::to_vec(&stale).unwrap()).unwrap();

            let mut kids: Vec<_> = (0..2)
                .map(|kid| {
                    let delay = if kid == 1 && round % 2 == 1 { "20" } else { "0" };
                    Command::new(&exe)
                        .args(["--exact", RACE_TEST, "--nocapture", "--test-threads=1"])
                        .env(RACE_CHILD, dir.path())
                        .env(RACE_DELAY, delay)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            // Each child answers one line, then holds what it got until its stdin closes.
            let outcomes: Vec<String> = kids
                .iter_mut()
                .map(|k| {
                    BufReader::new(k.stdout.as_mut().unwrap())
                        .lines()
                        .map(|l| l.unwrap())
                        // The harness may have printed the test's name on the same line.
                        .find_map(|l| l.split_once("RACE ").map(|(_, o)| o.to_string()))
                        .unwrap_or_else(|| "no answer".to_string())
                })
                .collect();
            let held = std::fs::read(lock_path(&store))
                .ok()
                .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok())
                .map(|l| l.id);
            let met = std::fs::read_dir(dir.path().join("rendezvous")).map(|d| d.count()).unwrap_or(0);
            for k in &mut kids {
                drop(k.stdin.take());
            }
            for k in &mut kids {
                k.wait().unwrap();
            }
            assert_eq!(
                met, 2,
                "round {round}: both processes must see the stale lock before either takes it"
            );
            let winners: Vec<&str> = outcomes.iter().filter_map(|o| o.strip_prefix("won ")).collect();
            let ok = match winners.as_slice() {
                [w] => {
                    let (id, took) = w.split_once(' ').unwrap();
                    let loser = outcomes.iter().find(|o| !o.starts_with("won ")).unwrap();
                    took == stale.id && held.as_deref() == Some(id) && loser == &format!("locked {id}")
                }
                _ => false,
            };
            if !ok {
                failures.push(format!("round {round}: {outcomes:?}, lock file holds {held:?}"));
            } else if lock_path(&store).exists() {
                failures.push(format!("round {round}: the winner did not release its lock"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {ROUNDS} rounds did not end with exactly one holder:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// One racer: meets the other racer right before taking over, reports, then holds the
    /// lock until the parent closes stdin.
    fn race_child(dir: &Path) {
        let store = StateStore::local(dir, "demo");
        let meet = dir.join("rendezvous");
        let delay: u64 = std::env::var(RACE_DELAY).ok().and_then(|d| d.parse().ok()).unwrap_or(0);
        race::set(&lock_path(&store).display().to_string(), move || {
            race::meet_in_dir(&meet, 2);
            std::thread::sleep(std::time::Duration::from_millis(delay));
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = rt.block_on(store.lock("apply"));
        let line = match &outcome {
            Ok((g, took)) => {
                format!("won {} {}", g.info().id, took.as_ref().map(|t| t.0.id.as_str()).unwrap_or("-"))
            }
            Err(StateError::Locked { id, .. }) => format!("locked {id}"),
            Err(e) => format!("error {e}"),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "RACE {line}").unwrap();
        out.flush().unwrap();
        drop(out);
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        if let Ok((g, _)) = outcome {
            rt.block_on(g.release()).unwrap();
        }
    }
}
