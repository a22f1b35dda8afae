//! The S3 backend. The state is one object; the lock is a second object beside it
//! (`<key>.lock`) created with `If-None-Match: *`, so of two runs only one creates it;
//! taking it over, releasing it and force-unlocking it are conditional on its ETag.
//! Every state write is conditional on the ETag this store last read or wrote
//! (`If-Match`), or on there being no object yet (`If-None-Match: *`): a write that did
//! not see the latest state fails with [`StateError::Conflict`] instead of losing it.
//! Objects are written with SSE-S3 (AES256) encryption.

use crate::lock::{check_id, race, LockGuard, LockInfo, TakeOver, Target};
use crate::S3Failure;
use crate::{State, StateError};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use hactl_awserror::Failure;
use std::sync::Arc;

/// The S3 client configuration for state: `sdk` (credentials, endpoint, timeouts), the
/// bucket's region when given, and path-style addressing when a custom endpoint is set
/// (an emulator at `http://127.0.0.1:4566` has no `<bucket>.` host names).
pub fn s3_config(sdk: &aws_types::SdkConfig, region: Option<&str>) -> aws_sdk_s3::config::Builder {
    let mut b = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(r) = region {
        b = b.region(aws_sdk_s3::config::Region::new(r.to_string()));
    }
    if sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        b = b.force_path_style(true);
    }
    b
}

/// What this store last saw of the state object: the condition of its next write.
#[derive(Clone, Debug)]
enum Seen {
    /// Not read yet: the next write only creates (`If-None-Match: *`), so a store that
    /// never loaded cannot overwrite anything.
    Unknown,
    Absent,
    ETag(String),
}

#[derive(Clone, Debug)]
pub(crate) struct S3Store {
    client: Client,
    bucket: String,
    key: String,
    /// Held across a write, so the writes of one store (and its clones) go one at a time.
    seen: Arc<tokio::sync::Mutex<Seen>>,
}

impl S3Store {
    pub(crate) fn new(client: Client, bucket: &str, key: &str) -> S3Store {
        S3Store {
            client,
            bucket: bucket.to_string(),
            key: key.to_string(),
            seen: Arc::new(tokio::sync::Mutex::new(Seen::Unknown)),
        }
    }

    pub(crate) fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn lock_object(&self) -> LockObject {
        LockObject {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: format!("{}.lock", self.key),
        }
    }

    pub(crate) async fn load(&self, stack: &str) -> Result<State, StateError> {
        let location = self.location();
        let mut seen = self.seen.lock().await;
        let Some((bytes, etag)) = get(&self.client, &self.bucket, &self.key).await? else {
            *seen = Seen::Absent;
            return Ok(State::new(stack));
        };
        let state = State::decode(&bytes, &location, stack)?;
        *seen = etag.map(Seen::ETag).unwrap_or(Seen::Unknown);
        Ok(state)
    }

    /// Writes `body` (a state document, its serial already bumped) if the object is still
    /// what this store last saw.
    pub(crate) async fn save(&self, body: Vec<u8>) -> Result<(), StateError> {
        let location = self.location();
        let mut seen = self.seen.lock().await;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body.clone()));
        let req = match &*seen {
            Seen::ETag(etag) => req.if_match(etag),
            Seen::Absent | Seen::Unknown => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => {
                *seen = out.e_tag().map(|e| Seen::ETag(e.to_string())).unwrap_or(Seen::Unknown);
                Ok(())
            }
            // 412: the object changed (or appeared); NoSuchKey under If-Match: it was
            // deleted; 409: another conditional write to it is in progress. Unless it holds
            // exactly this document: the SDK retried a write whose answer was lost.
            Err(e) if lost_race(&e) || e.code() == Some("NoSuchKey") => {
                match get(&self.client, &self.bucket, &self.key).await {
                    Ok(Some((stored, Some(etag)))) if stored == body => {
                        *seen = Seen::ETag(etag);
                        Ok(())
                    }
                    _ => Err(StateError::Conflict { location }),
                }
            }
            Err(e) => Err(classify(e, "writing", &location, &self.bucket)),
        }
    }

    /// Takes the lock. A held lock is an error naming its holder, except an expired
    /// drift lock ([`LockInfo::is_expired_drift_lock`]), which is taken over and returned.
    ///
    /// Every change is one conditional PutObject, so of two runs exactly one wins: the
    /// lock is created with `If-None-Match: *`, and an expired lock is replaced with
    /// `If-Match` on the ETag it was read with; a run that read the same expired lock and
    /// comes second gets 412 (or 409 while the other write is in flight), reads the
    /// winner's lock and is refused.
    pub(crate) async fn lock(
        &self,
        stack: &str,
        operation: &str,
    ) -> Result<(LockGuard, Option<TakeOver>), StateError> {
        let obj = self.lock_object();
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|source| StateError::Parse { location: obj.location(), source })?;
        // The expired lock this run tried to replace: if the answer to that write was lost,
        // our lock is found in place later and the take-over is still reported.
        let mut replacing: Option<LockInfo> = None;
        for _ in 0..LOCK_ATTEMPTS {
            match obj.put(&body, None, "locking").await {
                Ok(etag) => return Ok((LockGuard::new(info, Target::S3(obj, etag)), None)),
                Err(e) if e.lost_race() => {}
                Err(e) => return Err(e.error),
            }
            // A lock released between our failed create and this read: try again.
            let Some((holder, etag)) = obj.read().await? else { continue };
            if holder.id == info.id {
                // Our own lock: the SDK retried a write whose answer was lost.
                return Ok((LockGuard::new(info, Target::S3(obj, etag)), replacing.map(TakeOver)));
            }
            if holder.operation == RELEASING {
                // Gone in a moment (see `LockObject::remove`).
                tokio::time::sleep(RELEASING_WAIT).await;
                continue;
            }
            let etag = match etag {
                Some(etag) if holder.is_expired_drift_lock() => etag,
                _ => {
                    let id = holder.id.clone();
                    return Err(StateError::Locked {
                        stack: stack.to_string(),
                        holder: Box::new(holder),
                        id,
                    });
                }
            };
            race::before_take_over(&obj.location());
            replacing = Some(holder.clone());
            match obj.put(&body, Some(&etag), "locking").await {
                Ok(etag) => return Ok((LockGuard::new(info, Target::S3(obj, etag)), Some(TakeOver(holder)))),
                // Replaced or removed since we read it: look again.
                Err(e) if e.lost_race() || e.no_such_key() => {}
                Err(e) => return Err(e.error),
            }
        }
        match obj.read().await? {
            Some((holder, _)) => {
                let id = holder.id.clone();
                Err(StateError::Locked { stack: stack.to_string(), holder: Box::new(holder), id })
            }
            None => Err(StateError::S3 {
                operation: "locking",
                location: obj.location(),
                message: "the lock object kept changing; try again".to_string(),
            }),
        }
    }

    /// Removes the lock whatever holds it (`id` must match when given), conditionally on
    /// the lock that was read, so a lock that changed in between is looked at again
    /// instead of removed unseen.
    pub(crate) async fn force_unlock(&self, stack: &str, id: Option<&str>) -> Result<LockInfo, StateError> {
        let obj = self.lock_object();
        for attempt in 0..LOCK_ATTEMPTS {
            let (holder, etag) = obj.read().await?.ok_or_else(|| StateError::NotLocked(stack.to_string()))?;
            if holder.operation == RELEASING && attempt + 1 < LOCK_ATTEMPTS {
                // Its run is removing it right now; a marker that stays (that run died
                // between its two calls) is removed on the last attempt.
                tokio::time::sleep(RELEASING_WAIT).await;
                continue;
            }
            check_id(&holder, id)?;
            let Some(etag) = etag else {
                // A store that gives no ETags: nothing to make the delete conditional on.
                obj.delete().await?;
                return Ok(holder);
            };
            if obj.remove(&holder, &etag).await? {
                return Ok(holder);
            }
        }
        Err(StateError::S3 {
            operation: "unlocking",
            location: obj.location(),
            message: "the lock object kept changing; try again".to_string(),
        })
    }
}

/// How many times `lock` and `force_unlock` look at the lock object before giving up.
const LOCK_ATTEMPTS: usize = 40;
/// The pause before looking again at a lock being released.
const RELEASING_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// The operation of the marker a release writes over its lock on a store without
/// conditional deletes (see [`LockObject::remove`]).
const RELEASING: &str = "releasing";

/// The lock object of an S3 state.
#[derive(Clone, Debug)]
pub(crate) struct LockObject {
    client: Client,
    bucket: String,
    key: String,
}

/// A failed call on the lock object.
struct CallError {
    code: Option<String>,
    status: Option<u16>,
    error: StateError,
}

impl CallError {
    fn new<E>(e: SdkError<E, HttpResponse>, operation: &'static str, obj: &LockObject) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        CallError {
            code: e.code().map(str::to_string),
            status: e.raw_response().map(|r| r.status().as_u16()),
            error: classify(e, operation, &obj.location(), &obj.bucket),
        }
    }

    /// 412: the condition did not hold (the object changed, or appeared).
    fn precondition_failed(&self) -> bool {
        self.code.as_deref() == Some("PreconditionFailed") || self.status == Some(412)
    }

    /// 409: another conditional write to the object is in flight.
    fn in_flight(&self) -> bool {
        self.code.as_deref() == Some("ConditionalRequestConflict") || self.status == Some(409)
    }

    fn lost_race(&self) -> bool {
        self.precondition_failed() || self.in_flight()
    }

    fn no_such_key(&self) -> bool {
        match self.code.as_deref() {
            Some(code) => code == "NoSuchKey",
            None => self.status == Some(404),
        }
    }

    /// The store does not know the request (a conditional delete, on LocalStack 4.14
    /// and older S3-compatible stores).
    fn not_implemented(&self) -> bool {
        self.code.as_deref() == Some("NotImplemented") || self.status == Some(501)
    }
}

impl LockObject {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The lock's holder and ETag, `None` when there is no lock.
    async fn read(&self) -> Result<Option<(LockInfo, Option<String>)>, StateError> {
        let Some((bytes, etag)) = get(&self.client, &self.bucket, &self.key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(|holder| Some((holder, etag)))
            .map_err(|source| StateError::Parse { location: self.location(), source })
    }

    /// Writes `body` as the lock: only if there is none (`replacing` None: `If-None-Match:
    /// *`), or only if it still is the lock with ETag `replacing` (`If-Match`). Returns
    /// the new lock's ETag.
    async fn put(
        &self,
        body: &[u8],
        replacing: Option<&str>,
        operation: &'static str,
    ) -> Result<Option<String>, CallError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body.to_vec()));
        let req = match replacing {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => Ok(out.e_tag().map(str::to_string)),
            Err(e) => Err(CallError::new(e, operation, self)),
        }
    }

    async fn delete(&self) -> Result<(), StateError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, "unlocking", &self.location(), &self.bucket))
    }

    /// Removes the lock if it still is `holder`'s lock with ETag `etag`; false when it
    /// changed or is gone (then it is left alone: it may be another run's now).
    ///
    /// A DeleteObject with `If-Match: <etag>` does that in one step (S3 general-purpose
    /// buckets since September 2025). A store that does not implement conditional deletes
    /// (LocalStack 4.14 answers 501 NotImplemented) gets two steps that are just as safe:
    /// first the lock is overwritten, with `If-Match` on its ETag, by a marker (the same
    /// lock with operation `releasing`), which fails if anyone replaced the lock; then the
    /// marker is deleted. Nobody writes over a marker: `lock` waits for it to go, and
    /// `force_unlock` removes one only after waiting for it too (its run died between the
    /// two steps).
    async fn remove(&self, holder: &LockInfo, etag: &str) -> Result<bool, StateError> {
        let mut conditional_delete = true;
        for _ in 0..LOCK_ATTEMPTS {
            let outcome = if conditional_delete {
                let sent = self
                    .client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .if_match(etag)
                    .send()
                    .await;
                match sent {
                    Ok(_) => return Ok(true),
                    Err(e) => CallError::new(e, "unlocking", self),
                }
            } else {
                let marker = LockInfo { operation: RELEASING.to_string(), ..holder.clone() };
                let body = serde_json::to_vec_pretty(&marker)
                    .map_err(|source| StateError::Parse { location: self.location(), source })?;
                match self.put(&body, Some(etag), "unlocking").await {
                    Ok(_) => {
                        self.delete().await?;
                        return Ok(true);
                    }
                    Err(e) => e,
                }
            };
            if conditional_delete && outcome.not_implemented() {
                conditional_delete = false;
            } else if outcome.in_flight() {
                // Another conditional write is in flight: its outcome decides.
                tokio::time::sleep(RELEASING_WAIT).await;
            } else if outcome.precondition_failed() || outcome.no_such_key() {
                return Ok(false);
            } else {
                return Err(outcome.error);
            }
        }
        Ok(false)
    }

    /// Removes this run's lock `info` (ETag `etag`, when the write returned one) if it is
    /// still there; a lock that is gone, or that is now another run's (force-unlock freed
    /// it and someone locked again, or it was taken over), is left alone.
    pub(crate) async fn release(&self, info: &LockInfo, etag: Option<&str>) -> Result<(), StateError> {
        let etag = match etag {
            Some(etag) => etag.to_string(),
            None => match self.read().await? {
                Some((holder, Some(etag))) if holder.id == info.id => etag,
                _ => return Ok(()),
            },
        };
        self.remove(info, &etag).await.map(|_| ())
    }
}

/// An object's body and ETag; `None` when there is no such object.
async fn get(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
    let location = format!("s3://{bucket}/{key}");
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
        Err(e) => return Err(classify(e, "reading", &location, bucket)),
    };
    let etag = out.e_tag().map(str::to_string);
    let bytes = out.body.collect().await.map_err(|e| StateError::S3 {
        operation: "reading",
        location,
        message: e.to_string(),
    })?;
    Ok(Some((bytes.into_bytes().to_vec(), etag)))
}

/// A conditional write that lost: 412 Precondition Failed, or 409 when another
/// conditional write to the object is in progress.
fn lost_race<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e.code(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
        || matches!(e.raw_response().map(|r| r.status().as_u16()), Some(412 | 409))
}

/// A missing bucket and refused access get errors that say what to do; any other failure
/// is one line (AWS's code and message, or what else went wrong), the SDK error its source.
fn classify<E>(
    e: SdkError<E, HttpResponse>,
    operation: &'static str,
    location: &str,
    bucket: &str,
) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let d = hactl_awserror::describe(e);
    match d.code.as_deref() {
        Some("NoSuchBucket") => {
            StateError::NoSuchBucket { location: location.to_string(), bucket: bucket.to_string() }
        }
        code if code == Some("AccessDenied") || (status == Some(403) && d.failure == Failure::Answer) => {
            StateError::AccessDenied { location: location.to_string(), message: d.message }
        }
        _ => StateError::Aws(Box::new(S3Failure {
            operation,
            location: location.to_string(),
            message: d.message,
            code: d.code,
            failure: d.failure,
            source: d.source,
        })),
    }
}

#[cfg(test)]
mod tests {
    //! Needs the emulator (127.0.0.1:4566, or AWS_ENDPOINT_URL), like tests/s3.rs.
    use crate::lock::race::{self, Rendezvous};
    use crate::{s3_config, LockGuard, StateError, StateStore, TakeOver, DRIFT_LOCK_LEASE_SECS};
    use aws_sdk_s3::config::Credentials;
    use aws_sdk_s3::Client;
    use std::sync::Arc;

    const KEY: &str = "race/state.json";
    const LOCK_KEY: &str = "race/state.json.lock";
    const ROUNDS: usize = 50;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    async fn sdk() -> aws_types::SdkConfig {
        let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string());
        let hostport = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        assert!(
            std::net::TcpStream::connect_timeout(
                &hostport.parse().expect("AWS_ENDPOINT_URL must be http://IP:PORT"),
                std::time::Duration::from_secs(2)
            )
            .is_ok(),
            "the emulator is not reachable at {url}: start it with `bash scripts/emulator.sh start`"
        );
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await
    }

    /// The lock object's `id`, read with the checking client.
    async fn held_id(s3: &Client, bucket: &str) -> Option<String> {
        let got = s3.get_object().bucket(bucket).key(LOCK_KEY).send().await.ok()?;
        let body = got.body.collect().await.unwrap().into_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["id"].as_str().map(str::to_string)
    }

    /// 50 rounds: a drift lock past its lease, and two runs (each its own thread, Tokio
    /// runtime, S3 client and store) that both read it and judge it expired before either
    /// takes it over (they meet between the two steps; in odd rounds one goes on 20 ms after
    /// the other, in even rounds both at once). Exactly one may hold the lock, reporting the
    /// take-over; the other is refused, naming the winner. Effects are checked with a
    /// separate client.
    #[test]
    fn two_runs_racing_for_an_expired_drift_lock_never_both_win() {
        let rt = runtime();
        let sdk = rt.block_on(sdk());
        let s3 = Client::from_conf(s3_config(&sdk, None).build());
        let bucket = format!("hactl-state-race-{}", std::process::id());
        rt.block_on(s3.create_bucket().bucket(&bucket).send()).expect("create bucket");
        let meet = Arc::new(Rendezvous::new(2));
        let location = format!("s3://{bucket}/{LOCK_KEY}");
        thread_local! {
            static DELAY_MS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        let m = meet.clone();
        race::set(&location, move || {
            m.wait();
            std::thread::sleep(std::time::Duration::from_millis(DELAY_MS.get()));
        });

        let mut failures = Vec::new();
        for round in 0..ROUNDS {
            let stale_id = format!("drift-{round}");
            let created = crate::lock::now() - DRIFT_LOCK_LEASE_SECS - 60;
            let stale = format!(
                r#"{{"id":"{stale_id}","operation":"drift","owner":"job","host":"task","pid":1,"created":{created}}}"#
            );
            rt.block_on(s3.put_object().bucket(&bucket).key(LOCK_KEY).body(stale.into_bytes().into()).send())
                .unwrap();

            let outcomes: Vec<Result<(LockGuard, Option<TakeOver>), StateError>> = std::thread::scope(|sc| {
                let racers: Vec<_> = (0..2)
                    .map(|racer| {
                        let (sdk, bucket) = (&sdk, &bucket);
                        sc.spawn(move || {
                            DELAY_MS.set(if racer == 1 && round % 2 == 1 { 20 } else { 0 });
                            let client = Client::from_conf(s3_config(sdk, None).build());
                            let store = StateStore::s3(client, bucket, KEY, "race");
                            runtime().block_on(store.lock("apply"))
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(
                meet.take_arrivals(),
                2,
                "round {round}: both runs must see the expired lock before either takes it"
            );
            let held = rt.block_on(held_id(&s3, &bucket));
            let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
            let ok = match winners.as_slice() {
                [(g, took)] => {
                    let id = &g.info().id;
                    let loser_named_winner = outcomes
                        .iter()
                        .any(|o| matches!(o, Err(StateError::Locked { id: held, .. }) if held == id));
                    took.as_ref().is_some_and(|t| t.0.id == stale_id)
                        && held.as_ref() == Some(id)
                        && loser_named_winner
                }
                _ => false,
            };
            if !ok {
                let seen: Vec<String> = outcomes
                    .iter()
                    .map(|o| match o {
                        Ok((g, _)) => format!("won {}", g.info().id),
                        Err(e) => format!("{e}"),
                    })
                    .collect();
                failures.push(format!("round {round}: {seen:?}, lock object holds {held:?}"));
            }
            for (g, _) in outcomes.into_iter().flatten() {
                rt.block_on(g.release()).unwrap();
            }
            if ok && rt.block_on(held_id(&s3, &bucket)).is_some() {
                failures.push(format!("round {round}: the winner's release left a lock object"));
            }
            // Whatever a failed round left behind.
            rt.block_on(s3.delete_object().bucket(&bucket).key(LOCK_KEY).send()).unwrap();
        }
        race::clear(&location);
        rt.block_on(s3.delete_bucket().bucket(&bucket).send()).unwrap();
        assert!(
            failures.is_empty(),
            "{} of {ROUNDS} rounds did not end with exactly one holder:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
