//! The S3 backend against the emulator: every effect is checked with a separate S3
//! client, not through the store.

use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::ServerSideEncryption;
use hactl_core::{Address, Value};
use hactl_state::{s3_config, ResourceState, StateError, StateStore};
use std::sync::atomic::{AtomicU32, Ordering};

const STACK: &str = "demo";
const KEY: &str = "hactl/demo/us-east-1/state.json";
const LOCK_KEY: &str = "hactl/demo/us-east-1/state.json.lock";

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

async fn sdk() -> aws_config::SdkConfig {
    let url = endpoint();
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

/// A bucket of its own for one test, deleted with everything in it by `cleanup`.
struct Bucket {
    name: String,
    sdk: aws_config::SdkConfig,
    /// The checking client, built without the code under test.
    s3: aws_sdk_s3::Client,
}

impl Bucket {
    async fn new() -> Bucket {
        static N: AtomicU32 = AtomicU32::new(0);
        let sdk = sdk().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build(),
        );
        let name = format!("hactl-state-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        s3.create_bucket().bucket(&name).send().await.expect("create bucket");
        Bucket { name, sdk, s3 }
    }

    /// A new store (its own client and its own record of ETags) on this bucket.
    fn store(&self) -> StateStore {
        let client = aws_sdk_s3::Client::from_conf(s3_config(&self.sdk, None).build());
        StateStore::s3(client, &self.name, KEY, STACK)
    }

    async fn object(
        &self,
        key: &str,
    ) -> Option<(serde_json::Value, aws_sdk_s3::operation::head_object::HeadObjectOutput)> {
        let got = match self.s3.get_object().bucket(&self.name).key(key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return None,
            Err(e) => panic!("get {key}: {e:?}"),
        };
        let body = got.body.collect().await.unwrap().into_bytes();
        let head = self.s3.head_object().bucket(&self.name).key(key).send().await.unwrap();
        Some((serde_json::from_slice(&body).expect("json object"), head))
    }

    async fn cleanup(self) {
        let listed = self.s3.list_objects_v2().bucket(&self.name).send().await.unwrap();
        for o in listed.contents() {
            self.s3.delete_object().bucket(&self.name).key(o.key().unwrap()).send().await.unwrap();
        }
        self.s3.delete_bucket().bucket(&self.name).send().await.unwrap();
    }
}

fn subnet() -> (Address, ResourceState) {
    (
        Address::parse("subnet.app.us-east-1a").unwrap(),
        ResourceState {
            kind: "ec2.subnet".into(),
            location: Some(hactl_core::Location::region("us-east-1")),
            id: "subnet-1".into(),
            props: [("cidr_block".to_string(), Value::str("10.0.1.0/24"))].into(),
            outputs: [("arn".to_string(), Value::str("arn:x"))].into(),
            depends_on: vec![Address::parse("vpc.main").unwrap()],
        },
    )
}

#[tokio::test]
async fn round_trip_keeps_serial_and_lineage_and_writes_encrypted_json() {
    let b = Bucket::new().await;
    let store = b.store();
    assert_eq!(store.location(), format!("s3://{}/{KEY}", b.name));
    assert_eq!(store.to_string(), store.location());
    assert!(store.local_path().is_none());

    let mut s = store.load().await.unwrap();
    assert_eq!((s.serial, s.lineage.as_str()), (0, ""));
    assert!(b.object(KEY).await.is_none(), "loading writes nothing");
    let (addr, res) = subnet();
    s.resources.insert(addr.clone(), res.clone());
    store.save(&mut s).await.unwrap();
    let lineage = s.lineage.clone();
    assert!(!lineage.is_empty());
    store.save(&mut s).await.unwrap();
    assert_eq!((s.serial, &s.lineage), (2, &lineage));

    // What S3 holds: the JSON document, SSE-S3, application/json.
    let (doc, head) = b.object(KEY).await.expect("state object");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(doc["stack"], STACK);
    assert_eq!(doc["serial"], 2);
    assert_eq!(doc["lineage"], lineage.as_str());
    assert_eq!(doc["resources"]["subnet.app.us-east-1a"]["id"], "subnet-1");

    // Another store reads back exactly what was saved.
    let back = b.store().load().await.unwrap();
    assert_eq!(back, s);
    assert_eq!(back.output(&addr, "arn"), Some(Value::str("arn:x")));
    b.cleanup().await;
}

#[tokio::test]
async fn load_checks_stack_and_format_version() {
    let b = Bucket::new().await;
    let put =
        |body: &str| b.s3.put_object().bucket(&b.name).key(KEY).body(body.as_bytes().to_vec().into()).send();
    put(r#"{"format_version":1,"stack":"other","lineage":"x","serial":1,"resources":{}}"#).await.unwrap();
    let err = b.store().load().await.unwrap_err();
    assert!(matches!(&err, StateError::WrongStack { found, .. } if found == "other"), "{err}");
    assert!(err.to_string().contains(&format!("s3://{}/{KEY}", b.name)), "{err}");
    put(r#"{"format_version":99}"#).await.unwrap();
    assert!(matches!(b.store().load().await, Err(StateError::Version { found: 99, .. })));
    put("{ not json").await.unwrap();
    assert!(matches!(b.store().load().await, Err(StateError::Parse { .. })));
    b.cleanup().await;
}

#[tokio::test]
async fn a_second_lock_fails_naming_the_holder_until_released() {
    let b = Bucket::new().await;
    let (store, other) = (b.store(), b.store());
    let (guard, took_over) = store.lock("apply").await.unwrap();
    assert!(took_over.is_none());
    let id = guard.info().id.clone();

    // The lock object holds the LockInfo, encrypted.
    let (doc, head) = b.object(LOCK_KEY).await.expect("lock object");
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["operation"], "apply");
    assert_eq!(doc["pid"], std::process::id());
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));

    let err = other.lock("drift").await.unwrap_err();
    let msg = err.to_string();
    match &err {
        StateError::Locked { stack, holder, id: held } => {
            assert_eq!(stack, STACK);
            assert_eq!(held, &id);
            assert_eq!(holder.operation, "apply");
            assert_eq!(holder.pid, std::process::id());
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        msg.contains("`apply`")
            && msg.contains(&format!("pid {}", std::process::id()))
            && msg.contains(&id)
            && msg.contains(&format!("hactl force-unlock {id}")),
        "{msg}"
    );
    // The same store cannot lock twice either.
    assert!(matches!(store.lock("plan").await, Err(StateError::Locked { .. })));

    guard.release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none(), "released lock object deleted");
    let (g2, _) = other.lock("drift").await.unwrap();
    assert_eq!(b.object(LOCK_KEY).await.unwrap().0["operation"], "drift");
    g2.release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none());
    b.cleanup().await;
}

#[tokio::test]
async fn force_unlock_checks_the_id_and_an_old_guard_leaves_a_new_lock_alone() {
    let b = Bucket::new().await;
    let store = b.store();
    assert!(matches!(store.force_unlock(None).await, Err(StateError::NotLocked(s)) if s == STACK));
    let (guard, _) = store.lock("apply").await.unwrap();
    let id = guard.info().id.clone();

    let err = store.force_unlock(Some("wrong")).await.unwrap_err();
    assert!(matches!(&err, StateError::LockMismatch { held, given } if held == &id && given == "wrong"));
    assert!(b.object(LOCK_KEY).await.is_some(), "a wrong id removes nothing");

    let held = b.store().force_unlock(Some(&id)).await.unwrap();
    assert_eq!(held.id, id);
    assert_eq!(held.operation, "apply");
    assert!(b.object(LOCK_KEY).await.is_none());

    // Someone else locks; the force-unlocked guard's release must not free their lock.
    let (theirs, _) = b.store().lock("destroy").await.unwrap();
    guard.release().await.unwrap();
    let (doc, _) = b.object(LOCK_KEY).await.expect("their lock stays");
    assert_eq!(doc["id"], theirs.info().id.as_str());
    // A release handle frees it as the guard would.
    theirs.handle().release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none());
    theirs.release().await.unwrap();
    b.cleanup().await;
}

#[tokio::test]
async fn a_write_by_another_store_in_between_is_detected() {
    let b = Bucket::new().await;
    let (a, other) = (b.store(), b.store());
    // Both see no state; the first creates it, the second's create is refused.
    let mut sa = a.load().await.unwrap();
    let mut so = other.load().await.unwrap();
    a.save(&mut sa).await.unwrap();
    let err = other.save(&mut so).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert_eq!((so.serial, so.lineage.as_str()), (0, ""), "a refused write keeps the old serial");

    // Both read serial 1; the other writes serial 2; a's write (made from serial 1) fails.
    let mut so = other.load().await.unwrap();
    assert_eq!(so.serial, 1);
    let (addr, res) = subnet();
    so.resources.insert(addr.clone(), res);
    other.save(&mut so).await.unwrap();
    sa.resources.clear();
    let err = a.save(&mut sa).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StateError::Conflict { .. }), "{msg}");
    assert!(msg.contains(&format!("s3://{}/{KEY}", b.name)) && msg.contains("someone else"), "{msg}");
    assert_eq!(sa.serial, 1);
    let (doc, _) = b.object(KEY).await.unwrap();
    assert_eq!(doc["serial"], 2, "the other store's write survives");
    assert_eq!(doc["resources"]["subnet.app.us-east-1a"]["id"], "subnet-1");

    // After a reload, a writes on top of it; a clone shares what a has seen.
    let mut sa = a.load().await.unwrap();
    a.clone().save(&mut sa).await.unwrap();
    a.save(&mut sa).await.unwrap();
    assert_eq!(b.object(KEY).await.unwrap().0["serial"], 4);

    // A store that never loaded cannot overwrite an existing state.
    let mut fresh = hactl_state::State::new(STACK);
    assert!(matches!(b.store().save(&mut fresh).await, Err(StateError::Conflict { .. })));
    assert_eq!(b.object(KEY).await.unwrap().0["serial"], 4);
    b.cleanup().await;
}

#[tokio::test]
async fn a_missing_bucket_is_named_with_what_to_do() {
    let b = Bucket::new().await;
    let missing = format!("{}-missing", b.name);
    let client = aws_sdk_s3::Client::from_conf(s3_config(&b.sdk, None).build());
    let store = StateStore::s3(client, &missing, KEY, STACK);
    for err in [
        store.load().await.unwrap_err(),
        store.lock("apply").await.map(|_| ()).unwrap_err(),
        store.save(&mut hactl_state::State::new(STACK)).await.unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(&err, StateError::NoSuchBucket { bucket, .. } if bucket == &missing), "{err:?}");
        assert!(
            msg.contains(&format!("s3://{missing}/{KEY}"))
                && msg.contains("does not exist")
                && msg.contains("Create it"),
            "{msg}"
        );
    }
    let exists = b.s3.head_bucket().bucket(&missing).send().await;
    assert!(exists.is_err(), "nothing created the bucket");
    b.cleanup().await;
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_recognised_as_its_own() {
    // The SDK retries a PutObject whose answer was lost; the retry's condition then fails
    // against the first attempt's object. The store finds its own document there and
    // goes on instead of reporting a conflict.
    let b = Bucket::new().await;
    let store = b.store();
    let mut s = store.load().await.unwrap();
    s.lineage = "lineage-of-the-lost-answer".into();
    let (addr, res) = subnet();
    s.resources.insert(addr, res);
    let mut first_attempt = s.clone();
    first_attempt.serial = 1;
    let mut body = serde_json::to_vec_pretty(&first_attempt).unwrap();
    body.push(b'\n');
    b.s3.put_object().bucket(&b.name).key(KEY).body(body.into()).send().await.unwrap();

    store.save(&mut s).await.unwrap();
    assert_eq!(s, first_attempt);
    // Its ETag was taken: the next conditional write goes through.
    store.save(&mut s).await.unwrap();
    let (doc, _) = b.object(KEY).await.unwrap();
    assert_eq!(doc["serial"], 2);
    assert_eq!(doc["lineage"], "lineage-of-the-lost-answer");
    b.cleanup().await;
}

#[tokio::test]
async fn a_drift_lock_past_its_lease_is_taken_over_a_fresh_one_is_not() {
    let b = Bucket::new().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let forged = |operation: &str, created: u64| {
        format!(
            r#"{{"id":"{operation}-{created}","operation":"{operation}","owner":"job","host":"task","pid":1,"created":{created}}}"#
        )
    };
    let put =
        |body: String| b.s3.put_object().bucket(&b.name).key(LOCK_KEY).body(body.into_bytes().into()).send();

    // A fresh drift lock and an ancient apply lock both block.
    put(forged("drift", now - 60)).await.unwrap();
    assert!(matches!(b.store().lock("apply").await, Err(StateError::Locked { .. })));
    put(forged("apply", 1)).await.unwrap();
    assert!(matches!(b.store().lock("apply").await, Err(StateError::Locked { .. })));

    // A drift lock older than the lease (a killed drift task) is taken over.
    let old = now - hactl_state::DRIFT_LOCK_LEASE_SECS - 60;
    put(forged("drift", old)).await.unwrap();
    let (guard, took_over) = b.store().lock("apply").await.unwrap();
    let took_over = took_over.expect("take-over reported");
    assert_eq!(took_over.0.id, format!("drift-{old}"));
    let (doc, _) = b.object(LOCK_KEY).await.expect("our lock");
    assert_eq!(doc["id"], guard.info().id.as_str());
    assert_eq!(doc["operation"], "apply");
    guard.release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none());
    b.cleanup().await;
}

#[tokio::test]
async fn a_late_release_of_a_taken_over_drift_lock_leaves_the_new_lock_alone() {
    let b = Bucket::new().await;
    let (drift, _) = b.store().lock("drift").await.unwrap();
    // The drift run is still alive but past its lease (its lock made older).
    let mut old = drift.info().clone();
    old.created -= hactl_state::DRIFT_LOCK_LEASE_SECS + 60;
    b.s3.put_object()
        .bucket(&b.name)
        .key(LOCK_KEY)
        .body(serde_json::to_vec(&old).unwrap().into())
        .send()
        .await
        .unwrap();
    let (apply, took) = b.store().lock("apply").await.unwrap();
    assert_eq!(took.expect("take-over reported").0.id, old.id);
    // The drift run finishes and releases: the apply's lock stays.
    drift.release().await.unwrap();
    let (doc, _) = b.object(LOCK_KEY).await.expect("the apply's lock stays");
    assert_eq!(doc["id"], apply.info().id.as_str());
    assert_eq!(doc["operation"], "apply");
    apply.release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none());
    b.cleanup().await;
}

#[tokio::test]
async fn a_releasing_marker_left_by_a_dead_run_blocks_until_force_unlocked() {
    // On a store without conditional deletes, a release first overwrites its lock with a
    // `releasing` marker, then deletes it; a run killed between the two leaves the marker.
    let b = Bucket::new().await;
    let marker =
        r#"{"id":"gone-run","operation":"releasing","owner":"ci","host":"elsewhere","pid":7,"created":1}"#;
    b.s3.put_object()
        .bucket(&b.name)
        .key(LOCK_KEY)
        .body(marker.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let err = b.store().lock("apply").await.map(|_| ()).unwrap_err();
    match &err {
        StateError::Locked { holder, id, .. } => {
            assert_eq!(id, "gone-run");
            assert_eq!(holder.operation, "releasing");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("hactl force-unlock gone-run"), "{err}");
    assert_eq!(b.object(LOCK_KEY).await.expect("marker untouched").0["id"], "gone-run");
    let held = b.store().force_unlock(Some("gone-run")).await.unwrap();
    assert_eq!(held.operation, "releasing");
    assert!(b.object(LOCK_KEY).await.is_none());
    let (g, took) = b.store().lock("apply").await.unwrap();
    assert!(took.is_none());
    g.release().await.unwrap();
    assert!(b.object(LOCK_KEY).await.is_none());
    b.cleanup().await;
}
