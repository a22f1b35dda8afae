//! Crashes, interrupts and locks: no orphan and no duplicate after a kill -9, a clean
//! stop on Ctrl-C, one writer at a time.

mod common;

use common::{counts, ec2, full_counts, Stack};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn kill_9_during_apply_then_apply_converges_without_duplicates() {
    let s = Stack::new("kill9");
    let c = ec2().await;
    // Slow every action down so the kill lands mid-apply, between AWS calls and journal.
    let mut child = s
        .command(&["apply", "--auto-approve", "--parallelism", "4"])
        .env("HACTL_FAULT", "delay-ms:150")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("a few journaled actions", Duration::from_secs(60), || s.state_serial() >= 6);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let journaled = s.state()["resources"].as_object().unwrap().len();
    assert!(journaled < 26, "the kill must land mid-apply (journaled {journaled})");

    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await, full_counts(), "no duplicate, nothing missing");
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn a_crash_between_create_and_journal_is_adopted_not_duplicated() {
    let s = Stack::new("adopt");
    let c = ec2().await;
    let r = s
        .command(&["apply", "--auto-approve"])
        .env("HACTL_FAULT", "crash-before-journal:nat.us-east-1a")
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0), "the process aborts");
    let state = s.state();
    assert!(state["resources"].get("nat.us-east-1a").is_none(), "created but never journaled");
    // The NAT gateway exists in AWS all the same.
    assert!(counts(&c, &s).await.nats >= 1);

    // The next plan finds it by its tags and adopts it.
    let p = s.ok(&["plan", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let nat = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == "nat.us-east-1a")
        .expect("nat in plan");
    assert_eq!(nat["action"], "adopt", "{nat}");
    assert_eq!(nat["adopted"], true);
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Destroy after a crash also takes the orphans: crash again, then destroy at once.
    s.ok(&["destroy", "--auto-approve"], 0);
    let _ = s
        .command(&["apply", "--auto-approve"])
        .env("HACTL_FAULT", "crash-before-journal:vpce.s3")
        .output()
        .unwrap();
    assert_eq!(counts(&c, &s).await.endpoints, 1);
    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default(), "the orphaned endpoint went too");
}

#[tokio::test]
async fn ctrl_c_starts_nothing_new_and_saves_state() {
    let s = Stack::new("sigint");
    let c = ec2().await;
    let child = s
        .command(&["apply", "--auto-approve", "--parallelism", "2"])
        .env("HACTL_FAULT", "delay-ms:200")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first journaled actions", Duration::from_secs(60), || s.state_serial() >= 2);
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("not started"), "{stderr}");
    // Everything in flight finished and was journaled; the lock is released.
    let journaled = s.state()["resources"].as_object().unwrap().len();
    assert!(journaled > 0 && journaled < 26, "journaled {journaled}");
    assert!(!s.state_dir.join(format!("{}.lock", s.name)).exists());
    // Objects in AWS = objects in state (nothing half-done is left unrecorded).
    let n = counts(&c, &s).await;
    let tagged =
        n.vpcs + n.subnets + n.igws + n.eips + n.nats + n.route_tables + n.security_groups + n.endpoints;
    let state = s.state();
    let taggable = state["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| {
            !matches!(
                r["kind"].as_str(),
                Some("ec2.route" | "ec2.security_group_rules" | "ec2.internet_gateway_attachment")
            )
        })
        .count();
    assert_eq!(tagged, taggable);

    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["destroy", "--auto-approve"], 0);
}

#[tokio::test]
async fn a_second_writer_is_refused_with_the_holder_named_and_force_unlock_releases() {
    let s = Stack::new("lock");
    let mut child = s
        .command(&["apply", "--auto-approve", "--parallelism", "2"])
        .env("HACTL_FAULT", "delay-ms:100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = s.state_dir.join(format!("{}.lock", s.name));
    wait_until("the lock", Duration::from_secs(30), || lock.exists());
    let r = s.ok(&["plan"], 1);
    assert!(r.stderr.contains("is locked by `apply`"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("(pid {})", child.id())), "{}", r.stderr);
    assert!(r.stderr.contains("hactl force-unlock"), "{}", r.stderr);
    assert!(child.wait().unwrap().success());

    // A lock held by a live process elsewhere (forged: pid 1 on another host) blocks
    // until force-unlock with its id.
    std::fs::write(
        &lock,
        r#"{"id":"abc-123","operation":"apply","owner":"ci","host":"elsewhere","pid":1,"created":1}"#,
    )
    .unwrap();
    let r = s.ok(&["destroy", "--auto-approve"], 1);
    assert!(r.stderr.contains("ci@elsewhere") && r.stderr.contains("abc-123"), "{}", r.stderr);
    let r = s.ok(&["force-unlock", "wrong-id"], 1);
    assert!(r.stderr.contains("mismatch"), "{}", r.stderr);
    s.ok(&["force-unlock", "abc-123"], 0);
    assert!(!lock.exists());

    // A drift run's lock is waited for (drift runs are short), not an error...
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let drift_lock = |created: u64| {
        format!(
            r#"{{"id":"drift-1","operation":"drift","owner":"job","host":"task","pid":1,"created":{created}}}"#
        )
    };
    std::fs::write(&lock, drift_lock(now)).unwrap();
    let waiting = s.command(&["plan"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    std::fs::remove_file(&lock).unwrap();
    let out = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("waiting for the drift run"), "{stderr}");
    // ...and one past its lease (a killed drift task) is taken over with a warning.
    std::fs::write(&lock, drift_lock(now - 31 * 60)).unwrap();
    let r = s.ok(&["plan"], 0);
    assert!(
        r.stderr.contains("took over a stale lock")
            && r.stderr.contains("drift run's lock older than 30 min"),
        "{}",
        r.stderr
    );
    assert!(!lock.exists(), "plan released the lock it took over");
    s.ok(&["destroy", "--auto-approve"], 0);
}

#[tokio::test]
async fn a_failed_action_skips_its_dependents_while_independent_branches_finish() {
    let s = Stack::new("fail");
    let c = ec2().await;
    // The AZ-a private route table fails: its subnets, its route and the S3 endpoint
    // (which names every table) cannot run; AZ b, the groups and the NATs can.
    let r = s
        .command(&["apply", "--auto-approve"])
        .env("HACTL_FAULT", "fail:route_table.private.us-east-1a")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Apply failed"), "{stderr}");
    assert!(stderr.contains("failed route_table.private.us-east-1a: injected fault"), "{stderr}");
    let skipped_line =
        stderr.lines().find(|l| l.trim_start().starts_with("skipped")).expect("a skipped line");
    for dep in
        ["subnet.app.us-east-1a", "subnet.data.us-east-1a", "route.private.us-east-1a.default", "vpce.s3"]
    {
        assert!(skipped_line.contains(dep), "{dep} not skipped: {skipped_line}");
    }
    assert!(!skipped_line.contains("us-east-1b"), "AZ b is independent: {skipped_line}");

    // State holds every success, and only successes.
    let state = s.state();
    let res = state["resources"].as_object().unwrap();
    for done in ["subnet.app.us-east-1b", "route.private.us-east-1b.default", "sg_rules.db", "nat.us-east-1a"]
    {
        assert!(res.contains_key(done), "{done} missing from state");
    }
    for not in ["route_table.private.us-east-1a", "subnet.app.us-east-1a", "vpce.s3"] {
        assert!(!res.contains_key(not), "{not} in state");
    }
    let n = counts(&c, &s).await;
    assert_eq!((n.subnets, n.route_tables, n.endpoints), (4, 2, 0), "{n:?}");

    // Without the fault the next apply finishes the rest.
    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(r.stderr.contains("Apply complete: 5 created"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["destroy", "--auto-approve"], 0);
}
