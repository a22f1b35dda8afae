//! The S3 backend. The state is one object; the lock is a second object beside it
//! (`<key>.lock`) created with `If-None-Match: *`, so of two runs only one creates it.
//! Every state write is conditional on the ETag this store last read or wrote
//! (`If-Match`), or on there being no object yet (`If-None-Match: *`): a write that did
//! not see the latest state fails with [`StateError::Conflict`] instead of losing it.
//! Objects are written with SSE-S3 (AES256) encryption.

use crate::lock::{check_id, LockGuard, LockInfo, TakeOver, Target};
use crate::{State, StateError};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
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

    /// Writes `state` (its serial already bumped) if the object is still what this store
    /// last saw.
    pub(crate) async fn save(&self, state: &State) -> Result<(), StateError> {
        let location = self.location();
        let body =
            state.encode().map_err(|source| StateError::Parse { location: location.clone(), source })?;
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
    pub(crate) async fn lock(
        &self,
        stack: &str,
        operation: &str,
    ) -> Result<(LockGuard, Option<TakeOver>), StateError> {
        let obj = self.lock_object();
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|source| StateError::Parse { location: obj.location(), source })?;
        let mut took_over = None;
        // A lock released between our failed create and our read of it: try again.
        for _ in 0..3 {
            let created = obj
                .client
                .put_object()
                .bucket(&obj.bucket)
                .key(&obj.key)
                .content_type("application/json")
                .server_side_encryption(ServerSideEncryption::Aes256)
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match created {
                Ok(_) => return Ok((LockGuard::new(info, Target::S3(obj)), took_over)),
                Err(e) if lost_race(&e) => {
                    if let Some(holder) = obj.read().await? {
                        if holder.id == info.id {
                            // Our own lock: the SDK retried a create whose answer was lost.
                            return Ok((LockGuard::new(info, Target::S3(obj)), took_over));
                        }
                        if holder.is_expired_drift_lock() {
                            obj.release(&holder.id).await?;
                            took_over = Some(TakeOver(holder));
                            continue;
                        }
                        let id = holder.id.clone();
                        return Err(StateError::Locked {
                            stack: stack.to_string(),
                            holder: Box::new(holder),
                            id,
                        });
                    }
                }
                Err(e) => return Err(classify(e, "locking", &obj.location(), &obj.bucket)),
            }
        }
        match obj.read().await? {
            Some(holder) => {
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

    pub(crate) async fn force_unlock(&self, stack: &str, id: Option<&str>) -> Result<LockInfo, StateError> {
        let obj = self.lock_object();
        let holder = obj.read().await?.ok_or_else(|| StateError::NotLocked(stack.to_string()))?;
        check_id(&holder, id)?;
        obj.delete().await?;
        Ok(holder)
    }
}

/// The lock object of an S3 state.
#[derive(Clone, Debug)]
pub(crate) struct LockObject {
    client: Client,
    bucket: String,
    key: String,
}

impl LockObject {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The lock's holder, `None` when there is no lock.
    async fn read(&self) -> Result<Option<LockInfo>, StateError> {
        let Some((bytes, _)) = get(&self.client, &self.bucket, &self.key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StateError::Parse { location: self.location(), source })
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

    /// Deletes the lock if it is still lock `id`. Read, compare, delete: a conditional
    /// delete (`If-Match`) would close the gap between the read and the delete, but S3
    /// emulators refuse it on general-purpose buckets; the gap only matters when someone
    /// force-unlocks and another run locks within it.
    pub(crate) async fn release(&self, id: &str) -> Result<(), StateError> {
        match self.read().await? {
            Some(holder) if holder.id == id => self.delete().await,
            _ => Ok(()),
        }
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

/// A missing bucket and refused access get errors that say what to do.
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
    match e.code() {
        Some("NoSuchBucket") => {
            StateError::NoSuchBucket { location: location.to_string(), bucket: bucket.to_string() }
        }
        code if code == Some("AccessDenied") || status == Some(403) => StateError::AccessDenied {
            location: location.to_string(),
            message: match (code, e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => DisplayErrorContext(&e).to_string(),
            },
        },
        _ => StateError::S3 {
            operation,
            location: location.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        },
    }
}
