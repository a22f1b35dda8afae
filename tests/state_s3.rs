//! State in S3 end to end: the network tier applied, planned, locked by someone else,
//! force-unlocked and destroyed with `[state] backend = "s3"`; the state and lock objects
//! checked with the S3 SDK, never through hactl.

mod common;

use common::proxy::{Outcome, Proxy};
use common::{assert_not_found, counts, delete_bucket, ec2, s3, s3_json, unique_token, Counts, Stack};

#[tokio::test]
async fn s3_state_apply_plan_lock_force_unlock_destroy() {
    let s = Stack::new("s3state");
    let c = s3().await;
    let bucket = format!("hactl-e2e-state-{}", unique_token());
    c.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s.edit(|t| format!("{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n"));
    // The key's default.
    let key = format!("hactl/{}/us-east-1/state.json", s.name);
    let lock_key = format!("{key}.lock");
    let local_state = s.state_dir.join(format!("{}.json", s.name));

    // Apply: the state lands in S3, encrypted, and nothing is written locally.
    let r = s.ok(&["apply", "--auto-approve"], 0);
    let created: usize = r
        .stderr
        .split("Apply complete: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `Apply complete: N created` in\n{}", r.stderr));
    let doc = s3_json(&c, &bucket, &key).await.expect("state object in S3");
    assert_eq!(doc["stack"], s.name.as_str());
    assert_eq!(doc["region"], "us-east-1");
    let serial = doc["serial"].as_u64().expect("serial");
    assert!(serial > 0, "{doc}");
    assert!(!doc["lineage"].as_str().unwrap_or("").is_empty());
    let resources = doc["resources"].as_object().expect("resources");
    assert_eq!(resources.len(), created, "one entry per created resource");
    assert!(resources.contains_key("vpc.main"), "{:?}", resources.keys().collect::<Vec<_>>());
    let vpc_id = resources["vpc.main"]["id"].as_str().expect("vpc id").to_string();
    let live = ec2().await.describe_vpcs().vpc_ids(&vpc_id).send().await.expect("the recorded VPC exists");
    assert_eq!(live.vpcs().len(), 1);
    let head = c.head_object().bucket(&bucket).key(&key).send().await.unwrap();
    assert_eq!(head.server_side_encryption().map(|e| e.as_str()), Some("AES256"));
    assert!(!local_state.exists() && !s.state_dir.exists(), "no local state is written");
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "apply released its lock");

    // Plan from the S3 state: nothing to do.
    s.ok(&["plan", "--detailed-exitcode"], 0);
    // state list / show read S3 too.
    let listed = s.ok(&["state", "list"], 0);
    let addrs: Vec<&str> = listed.stdout.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(addrs, resources.keys().map(String::as_str).collect::<Vec<_>>());
    let shown = s.ok(&["state", "show", "vpc.main"], 0);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("state show json");
    assert_eq!(shown["resource"]["id"], vpc_id.as_str());

    // A failing command inside the lock still releases it.
    let r = s.ok(&["apply", "/nonexistent/plan.json"], 1);
    assert!(r.stderr.contains("reading /nonexistent/plan.json"), "{}", r.stderr);
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "the lock is released on errors too");

    // Someone else holds the lock: apply refuses, naming them, and changes nothing.
    let holder_id = format!("e2e-holder-{}", std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let lock = serde_json::json!({
        "id": holder_id, "operation": "apply", "owner": "alice", "host": "ci-runner-7",
        "pid": 4242, "created": now - 30,
    });
    c.put_object()
        .bucket(&bucket)
        .key(&lock_key)
        .body(serde_json::to_vec(&lock).unwrap().into())
        .send()
        .await
        .expect("put the other holder's lock");
    let r = s.ok(&["apply", "--auto-approve"], 1);
    assert!(
        r.stderr.contains("is locked by `apply` by alice@ci-runner-7 (pid 4242)")
            && r.stderr.contains(&format!("lock id {holder_id}"))
            && r.stderr.contains(&format!("hactl force-unlock {holder_id}")),
        "{}",
        r.stderr
    );
    assert_eq!(s3_json(&c, &bucket, &lock_key).await, Some(lock.clone()), "their lock is untouched");
    assert_eq!(s3_json(&c, &bucket, &key).await.unwrap()["serial"], serial, "state unchanged");

    // force-unlock: a wrong id frees nothing; the right one frees it.
    let r = s.ok(&["force-unlock", "not-the-id"], 1);
    assert!(r.stderr.contains("lock id mismatch"), "{}", r.stderr);
    assert_eq!(s3_json(&c, &bucket, &lock_key).await, Some(lock));
    let r = s.ok(&["force-unlock", &holder_id], 0);
    assert!(r.stderr.contains("alice@ci-runner-7"), "{}", r.stderr);
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "force-unlock deleted the lock object");

    // Drift reads the S3 state (no drift) and releases the lock.
    s.ok(&["drift"], 0);
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none());

    // Destroy: the state object stays, with no resources, and no lock is left.
    s.ok(&["destroy", "--auto-approve"], 0);
    let doc = s3_json(&c, &bucket, &key).await.expect("state object after destroy");
    assert_eq!(doc["resources"].as_object().map(|m| m.len()), Some(0), "{doc}");
    assert!(doc["serial"].as_u64().unwrap() > serial);
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "no lock object left");
    assert_eq!(counts(&ec2().await, &s).await, Counts::default());
    assert!(!local_state.exists());
    delete_bucket(&c, &bucket).await;
}

#[tokio::test]
async fn s3_state_in_a_missing_bucket_is_a_clear_error() {
    let s = Stack::new("s3nobucket");
    let bucket = format!("hactl-e2e-missing-{}", unique_token());
    s.edit(|t| format!("{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\nkey = \"team/state.json\"\n"));
    for args in [&["plan"][..], &["state", "list"][..], &["force-unlock"][..]] {
        let r = s.ok(args, 1);
        assert!(
            r.stderr.contains(&format!("s3://{bucket}/team/state.json"))
                && r.stderr.contains(&format!("the bucket `{bucket}` does not exist")),
            "{args:?}: {}",
            r.stderr
        );
    }
    // hactl does not create the bucket.
    assert_not_found(s3().await.head_bucket().bucket(&bucket).send().await, &["NotFound"], "the bucket");
}

#[tokio::test]
async fn a_second_ctrl_c_releases_the_s3_lock_before_quitting() {
    let s = Stack::new("s3sigint");
    let c = s3().await;
    let bucket = format!("hactl-e2e-sigint-{}", unique_token());
    c.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s.edit(|t| format!("{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n"));
    let key = format!("hactl/{}/us-east-1/state.json", s.name);
    let lock_key = format!("{key}.lock");

    // Ctrl-C at the confirmation prompt (the lock is held, nothing is applying): the
    // lock is released and the process exits 130.
    let mut prompt = s
        .command(&["apply"])
        .env("HACTL_ASSUME_TTY", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = prompt.stdin.take();
    let started = std::time::Instant::now();
    while s3_json(&c, &bucket, &lock_key).await.is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "apply never took the lock");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Past the refresh: give the plan time to print and the prompt to wait.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let pid = prompt.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = prompt.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Apply these changes?"), "it was at the prompt: {stderr}");
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "the lock was released before the exit");
    assert!(s3_json(&c, &bucket, &key).await.is_none(), "nothing was applied");

    // One slow action at a time, so the run is still going when both signals land.
    let child = s
        .command(&["apply", "--auto-approve", "--parallelism", "1"])
        .env("HACTL_FAULT", "delay-ms:1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let serial = s3_json(&c, &bucket, &key).await.and_then(|d| d["serial"].as_u64()).unwrap_or(0);
        if serial >= 1 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "nothing journaled in 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(s3_json(&c, &bucket, &lock_key).await.is_some(), "the run holds the lock");
    let pid = child.id().to_string();
    for _ in 0..2 {
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted again: quitting now"), "{stderr}");
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none(), "the lock was released before the exit");

    // The next runs need no force-unlock: apply finishes the stack, destroy removes it.
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&ec2().await, &s).await, Counts::default());
    assert!(s3_json(&c, &bucket, &lock_key).await.is_none());
    delete_bucket(&c, &bucket).await;
}

/// A plan by a caller that may read the state but not write it (CI's plan role): a
/// correction the plan would record (here: a state written in format 1, which the plan
/// upgrades) stays in memory with a note, the plan still answers, and the object is left
/// as it was; the next caller who may write records it.
#[tokio::test]
async fn a_plan_that_may_not_write_the_state_plans_from_memory_and_leaves_it() {
    let mut s = Stack::new("s3readonly");
    // Every run goes through the proxy (state records the endpoint it was made through).
    let proxy = Proxy::start(0.0, 7);
    s.endpoint = proxy.endpoint.clone();
    let c = s3().await;
    let bucket = format!("hactl-e2e-state-{}", unique_token());
    c.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s.edit(|t| format!("{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n"));
    let key = format!("hactl/{}/us-east-1/state.json", s.name);
    s.ok(&["apply", "--auto-approve"], 0);

    // The state as format 1 wrote it: no locations.
    let mut doc = s3_json(&c, &bucket, &key).await.expect("state object");
    doc["format_version"] = serde_json::json!(1);
    for r in doc["resources"].as_object_mut().expect("resources").values_mut() {
        r.as_object_mut().expect("record").remove("location");
    }
    let body = serde_json::to_vec_pretty(&doc).expect("json");
    c.put_object().bucket(&bucket).key(&key).body(body.into()).send().await.expect("put format 1");
    let serial = doc["serial"].as_u64().expect("serial");

    let put = format!("PUT /{bucket}/{key}");
    proxy.take_log();
    proxy.deny(&put);
    let out = s.command(&["plan", "--detailed-exitcode"]).output().expect("plan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("state not updated: this caller may not write it"), "{stderr}");
    let log = proxy.take_log();
    assert!(
        log.iter().any(|l| l.operation == put && l.outcome == Outcome::Denied),
        "the plan did not try to write the state: {:?}",
        log.iter().map(|l| &l.operation).collect::<Vec<_>>()
    );
    let after = s3_json(&c, &bucket, &key).await.expect("state object");
    assert_eq!(after["format_version"], 1, "the object was changed");
    assert_eq!(after["serial"].as_u64(), Some(serial));
    assert!(s3_json(&c, &bucket, &format!("{key}.lock")).await.is_none(), "the plan released its lock");

    // A caller who may write: the upgrade is recorded.
    proxy.allow(&put);
    let r = s.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(r.stderr.contains("state upgraded to format 2"), "{}", r.stderr);
    let after = s3_json(&c, &bucket, &key).await.expect("state object");
    assert_eq!(after["format_version"], 2);
    s.ok(&["destroy", "--auto-approve"], 0);
    delete_bucket(&c, &bucket).await;
}
