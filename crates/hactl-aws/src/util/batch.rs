//! Coalesced polling: waiters on objects of one group (the ECS services of one cluster)
//! share the describe calls of one poller per group instead of each polling for its own
//! object.
//!
//! A waiter asks [`Batcher::get`] for its object's state as it is now; the answer comes
//! from a round of the group's poller that started after the question. A round takes every
//! object asked for since the previous one, de-duplicated, and describes them `batch` at a
//! time (AWS's limit per call, 10 for DescribeServices), the calls of one round running
//! concurrently; each waiter receives its own object's state (`None`: not in the answer)
//! or, when the call that covered it failed, that call's error. Rounds of one group start
//! at least `gap` apart, so questions asked meanwhile wait for the next round and share
//! its calls: N waiters polling every P seconds cost at most one round per `gap`, about
//! max(1/gap, N/(batch·P)) calls a second instead of N/P.
//!
//! The waiters keep their own loop, timeout and backoff (`Ctx::wait_for`): the batcher
//! only answers their checks. The poller is a task spawned on the first question of an
//! idle group; it ends once a round's `gap` has passed without a new question.
//!
//! A check never hangs: should the poller stop without answering (its describe call
//! panicked, or its runtime shut down), a guard it holds removes its group and drops the
//! waiters' senders, so they get a retryable "poller stopped" error and the next question
//! starts a new poller; and a waiter gives up after [`ANSWER_WITHIN`] plus the gap with a
//! retryable error, so its own timeout, checked
//! between checks, still applies.

use futures::future::BoxFuture;
use hactl_engine::ProviderError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a waiter waits for its answer beyond one `gap` by default: one round, whose
/// calls end within the SDK's deadline ([`crate::DEFAULT_RETRY_DEADLINE`], retries
/// included), with a minute to spare.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(crate::DEFAULT_RETRY_DEADLINE.as_secs() + 60);

/// One describe call: (group, keys, at most `batch` of them) → the state of each key found.
pub(crate) type Fetch<V> = dyn Fn(String, Vec<String>) -> BoxFuture<'static, Result<BTreeMap<String, V>, ProviderError>>
    + Send
    + Sync;

type Answer<V> = Result<Option<V>, ProviderError>;

/// The waiters of one group and whether its poller runs.
struct Group<V> {
    waiting: Vec<(String, oneshot::Sender<Answer<V>>)>,
    polling: bool,
}

impl<V> Default for Group<V> {
    fn default() -> Self {
        Group { waiting: Vec::new(), polling: false }
    }
}

struct Inner<V> {
    batch: usize,
    gap: Duration,
    fetch: Box<Fetch<V>>,
    groups: Mutex<HashMap<String, Group<V>>>,
}

impl<V> Inner<V> {
    fn groups(&self) -> MutexGuard<'_, HashMap<String, Group<V>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Pollers by group sharing describe calls (see the module doc).
pub(crate) struct Batcher<V> {
    inner: Arc<Inner<V>>,
    /// How long a waiter waits for its answer.
    answer_within: Duration,
}

impl<V: Clone + Send + 'static> Batcher<V> {
    /// `batch`: keys per call (at least 1); `gap`: the least time between two rounds of
    /// one group; `fetch`: the describe call.
    pub(crate) fn new(batch: usize, gap: Duration, fetch: Box<Fetch<V>>) -> Self {
        let inner = Inner { batch: batch.max(1), gap, fetch, groups: Mutex::default() };
        Batcher { inner: Arc::new(inner), answer_within: gap + ANSWER_WITHIN }
    }

    /// The same batcher whose waiters give up after `limit` without an answer (default:
    /// the gap plus [`ANSWER_WITHIN`]).
    #[cfg(test)]
    fn answer_within(self, limit: Duration) -> Self {
        Batcher { answer_within: limit, ..self }
    }

    /// The state of `key` in `group` from a round started after this call.
    pub(crate) async fn get(&self, group: &str, key: &str) -> Result<Option<V>, ProviderError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut groups = self.inner.groups();
            let g = groups.entry(group.to_string()).or_default();
            g.waiting.push((key.to_string(), tx));
            !std::mem::replace(&mut g.polling, true)
        };
        if start {
            tokio::spawn(poll(self.inner.clone(), group.to_string()));
        }
        match tokio::time::timeout(self.answer_within, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => {
                Err(ProviderError::retryable(format!("the poller of {group} stopped before answering")))
            }
            Err(_) => Err(ProviderError::retryable(format!(
                "the poller of {group} did not answer within {:?}",
                self.answer_within
            ))),
        }
    }
}

/// Held by a running poller: when the poller stops other than by finding its group idle (a
/// panic in a describe call, its runtime shutting down: its future dropped), removes the
/// group, so that its waiters' senders are dropped (they get "poller stopped") and the
/// next question starts a new poller instead of queueing behind a dead one.
struct Running<V> {
    inner: Arc<Inner<V>>,
    group: String,
    /// The poller removed its idle group itself: nothing to do (a new poller of the
    /// same group may already run).
    ended: bool,
}

impl<V> Drop for Running<V> {
    fn drop(&mut self) {
        if !self.ended {
            // The senders are dropped outside the lock.
            let stopped = self.inner.groups().remove(&self.group);
            drop(stopped);
        }
    }
}

/// The poller of one group: rounds while anyone waits, `gap` apart.
async fn poll<V: Clone + Send + 'static>(inner: Arc<Inner<V>>, group: String) {
    let mut running = Running { inner: inner.clone(), group: group.clone(), ended: false };
    loop {
        let waiting = {
            let mut groups = inner.groups();
            let Some(g) = groups.get_mut(&group) else {
                running.ended = true;
                return;
            };
            if g.waiting.is_empty() {
                groups.remove(&group);
                running.ended = true;
                return;
            }
            std::mem::take(&mut g.waiting)
        };
        let started = Instant::now();
        round(&inner, &group, waiting).await;
        tokio::time::sleep_until(started + inner.gap).await;
    }
}

/// One round: every key asked for, `batch` per call, the calls concurrently.
async fn round<V: Clone>(inner: &Inner<V>, group: &str, waiting: Vec<(String, oneshot::Sender<Answer<V>>)>) {
    let mut by_key: BTreeMap<String, Vec<oneshot::Sender<Answer<V>>>> = BTreeMap::new();
    for (key, tx) in waiting {
        by_key.entry(key).or_default().push(tx);
    }
    let keys: Vec<String> = by_key.keys().cloned().collect();
    let calls = keys.chunks(inner.batch).map(|chunk| (inner.fetch)(group.to_string(), chunk.to_vec()));
    let answers = futures::future::join_all(calls).await;
    for (chunk, answer) in keys.chunks(inner.batch).zip(answers) {
        for key in chunk {
            let state = match &answer {
                Ok(found) => Ok(found.get(key).cloned()),
                Err(e) => Err(e.clone()),
            };
            for tx in by_key.remove(key).unwrap_or_default() {
                // A waiter that stopped waiting dropped its receiver: nothing to tell.
                let _ = tx.send(state.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Every fetch call: its group and keys.
    type Calls = Arc<Mutex<Vec<(String, Vec<String>)>>>;

    /// A batcher whose fetch answers `key` → `group/key` (except keys starting with
    /// `missing`), fails for group `bad`, and records every call's group and keys.
    fn recording(gap: Duration) -> (Batcher<String>, Calls) {
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let fetch = Box::new(move |group: String, keys: Vec<String>| {
            seen.lock().unwrap().push((group.clone(), keys.clone()));
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if group == "bad" {
                    return Err(ProviderError::fatal("DescribeServices: AccessDenied"));
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| !k.starts_with("missing"))
                    .map(|k| (k.clone(), format!("{group}/{k}")))
                    .collect())
            }) as BoxFuture<'static, _>
        });
        (Batcher::new(10, gap, fetch), calls)
    }

    #[tokio::test]
    async fn concurrent_waiters_share_calls_of_at_most_ten_and_get_their_own_state() {
        let (b, calls) = recording(Duration::from_millis(200));
        let b = &b;
        let asks = (0..25)
            .map(|i| ("c1".to_string(), format!("s{i}")))
            .chain((0..3).map(|i| ("c2".to_string(), format!("s{i}"))))
            .chain([("c1".to_string(), "s0".to_string()), ("c1".to_string(), "missing".to_string())]);
        let answers = futures::future::join_all(
            asks.map(|(g, k)| async move { (g.clone(), k.clone(), b.get(&g, &k).await) }),
        )
        .await;
        for (g, k, got) in answers {
            let want = (!k.starts_with("missing")).then(|| format!("{g}/{k}"));
            assert_eq!(got.unwrap(), want, "{g} {k}");
        }
        let calls = calls.lock().unwrap().clone();
        assert!(calls.iter().all(|(_, keys)| keys.len() <= 10), "{calls:?}");
        // 26 distinct services of c1 (one asked twice): 3 calls; c2: 1 call. The first
        // question of each group may have started a round alone.
        let of = |g: &str| calls.iter().filter(|(group, _)| group == g).count();
        assert!(of("c1") <= 4, "{calls:?}");
        assert!(of("c2") <= 2, "{calls:?}");
        let asked: usize = calls.iter().map(|(_, keys)| keys.len()).sum();
        assert!(asked <= 26 + 3 + 2, "each key once per round: {calls:?}");
    }

    #[tokio::test]
    async fn waiters_polling_on_their_own_schedule_share_rounds_gap_apart() {
        let (b, calls) = recording(Duration::from_millis(150));
        let b = &b;
        let done = AtomicUsize::new(0);
        let done = &done;
        // 30 waiters each polling 8 times every 50..80 ms: 240 checks.
        let waiters = (0..30).map(|i| async move {
            for _ in 0..8 {
                let got = b.get("c", &format!("s{i}")).await.unwrap();
                assert_eq!(got, Some(format!("c/s{i}")));
                tokio::time::sleep(Duration::from_millis(50 + (i % 4) * 10)).await;
            }
            done.fetch_add(1, Ordering::Relaxed);
        });
        futures::future::join_all(waiters).await;
        assert_eq!(done.load(Ordering::Relaxed), 30);
        let calls = calls.lock().unwrap().len();
        assert!(calls <= 240 / 4, "{calls} calls for 240 checks");
    }

    #[tokio::test]
    async fn a_failed_call_fails_its_waiters_only_and_the_poller_ends_when_idle() {
        let (b, calls) = recording(Duration::from_millis(30));
        let (bad, good) = tokio::join!(b.get("bad", "s1"), b.get("ok", "s1"));
        assert_eq!(bad.unwrap_err().message(), "DescribeServices: AccessDenied");
        assert_eq!(good.unwrap(), Some("ok/s1".to_string()));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(b.inner.groups().is_empty(), "idle pollers ended");
        // A later question starts a new poller.
        assert_eq!(b.get("ok", "s2").await.unwrap(), Some("ok/s2".to_string()));
        assert_eq!(calls.lock().unwrap().len(), 3);
    }

    /// A batcher whose fetch panics on its first call (after `delay`), then answers
    /// `key` → `group/key`.
    fn panicking_once(delay: Duration) -> (Batcher<String>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let fetch = Box::new(move |group: String, keys: Vec<String>| {
            let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if first {
                    panic!("test: the describe call panics");
                }
                Ok(keys.into_iter().map(|k| (k.clone(), format!("{group}/{k}"))).collect())
            }) as BoxFuture<'static, _>
        });
        (Batcher::new(10, Duration::from_millis(10), fetch), calls)
    }

    /// Fails the test instead of hanging it.
    async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), f).await.expect("a waiter hung")
    }

    #[tokio::test]
    async fn a_panicking_poller_fails_its_waiters_and_the_next_question_starts_a_new_one() {
        let (b, calls) = panicking_once(Duration::from_millis(100));
        let b = &b;
        // `first` starts the round that panics; `queued` asks during it and would be
        // answered by the poller's next round, which never comes.
        let first = async { b.get("c", "s1").await };
        let queued = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            b.get("c", "s2").await
        };
        let (first, queued) = bounded(async { tokio::join!(first, queued) }).await;
        assert!(first.unwrap_err().is_retryable());
        let queued = queued.unwrap_err();
        assert!(queued.is_retryable(), "{queued}");
        assert!(queued.message().contains("stopped"), "{queued}");
        assert!(b.inner.groups().is_empty(), "the dead poller's group is gone");
        // A later question is answered by a new poller.
        assert_eq!(bounded(b.get("c", "s1")).await.unwrap(), Some("c/s1".to_string()));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_waiter_gives_up_on_a_poller_that_never_answers() {
        let fetch = Box::new(|_: String, _: Vec<String>| {
            Box::pin(futures::future::pending()) as BoxFuture<'static, _>
        });
        let b: Batcher<String> =
            Batcher::new(10, Duration::from_millis(10), fetch).answer_within(Duration::from_millis(200));
        let err = bounded(b.get("c", "s1")).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(err.message().contains("did not answer"), "{err}");
    }
}
