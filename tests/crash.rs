//! Crashes, interrupts and locks: no orphan and no duplicate after a kill -9, a clean
//! stop on Ctrl-C, one writer at a time.

mod common;

use aws_sdk_ec2::types::{Filter, NatGatewayState, VpcEndpointType};
use common::{counts, ec2, full_counts, state_id, Stack};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `apply` with the process aborted right after `address`'s AWS calls, before its
/// journal entry; checks that it did abort there.
fn crash_before_journal(s: &Stack, address: &str) -> common::Run {
    let out = s
        .command(&["apply", "--auto-approve"])
        .env("HACTL_FAULT", format!("crash-before-journal:{address}"))
        .output()
        .unwrap();
    let r = common::Run::from(out);
    assert_ne!(r.code, 0, "the process aborts\n{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("aborting before journaling {address}")),
        "aborted at {address}:\n{}",
        r.stderr
    );
    r
}

fn in_state(s: &Stack, address: &str) -> bool {
    s.state()["resources"].get(address).is_some()
}

fn plan_action<'a>(plan: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in the plan: {plan}"))
}

fn one(ids: BTreeSet<String>, what: &str) -> String {
    assert_eq!(ids.len(), 1, "exactly one {what}: {ids:?}");
    ids.into_iter().next().unwrap()
}

/// The stack's and `address`'s tags.
fn address_filters(s: &Stack, address: &str) -> [Filter; 2] {
    [s.tag_filter(), Filter::builder().name("tag:hactl:address").values(address).build()]
}

/// Ids of the route tables or security groups carrying `address`'s tags.
async fn tagged_ids(c: &aws_sdk_ec2::Client, s: &Stack, address: &str) -> BTreeSet<String> {
    let [a, b] = address_filters(s, address);
    let mut ids = BTreeSet::new();
    if address.starts_with("route_table.") {
        let out = c.describe_route_tables().filters(a).filters(b).send().await.expect("DescribeRouteTables");
        ids.extend(out.route_tables().iter().filter_map(|t| t.route_table_id().map(str::to_string)));
    } else {
        let out =
            c.describe_security_groups().filters(a).filters(b).send().await.expect("DescribeSecurityGroups");
        ids.extend(out.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)));
    }
    ids
}

/// The live (not deleted or deleting) NAT gateways with `address`'s tags.
async fn live_nats(c: &aws_sdk_ec2::Client, s: &Stack, address: &str) -> BTreeSet<String> {
    let [a, b] = address_filters(s, address);
    let out = c.describe_nat_gateways().filter(a).filter(b).send().await.expect("DescribeNatGateways");
    out.nat_gateways()
        .iter()
        .filter(|n| !matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting)))
        .filter_map(|n| n.nat_gateway_id().map(str::to_string))
        .collect()
}

/// The live S3 gateway endpoints with `vpce.s3`'s tags.
async fn live_s3_endpoints(c: &aws_sdk_ec2::Client, s: &Stack) -> BTreeSet<String> {
    let [a, b] = address_filters(s, "vpce.s3");
    let out = c.describe_vpc_endpoints().filters(a).filters(b).send().await.expect("DescribeVpcEndpoints");
    out.vpc_endpoints()
        .iter()
        .filter(|e| {
            !e.state()
                .is_some_and(|x| matches!(x.as_str().to_ascii_lowercase().as_str(), "deleted" | "deleting"))
        })
        .filter(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway))
        .filter(|e| e.service_name() == Some("com.amazonaws.us-east-1.s3"))
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect()
}

/// The NAT gateway of each 0.0.0.0/0 route of route table `table`.
async fn default_routes(c: &aws_sdk_ec2::Client, table: &str) -> Vec<Option<String>> {
    let out = c.describe_route_tables().route_table_ids(table).send().await.expect("DescribeRouteTables");
    // One answer per table (the emulator may repeat an object).
    let t = out.route_tables().iter().find(|t| t.route_table_id() == Some(table)).expect("the route table");
    t.routes()
        .iter()
        .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .map(|r| {
            assert!(r.gateway_id().is_none(), "a private table's default route goes to its NAT: {r:?}");
            r.nat_gateway_id().map(str::to_string)
        })
        .collect()
}

enum Peer<'a> {
    Cidr(&'a str),
    Group(&'a str),
}

/// A rule as compared: (egress, protocol, from port, to port, peer, description).
type Rule = (bool, String, i32, i32, String, Option<String>);

fn rule(egress: bool, protocol: &str, port: i32, peer: Peer, description: Option<&str>) -> Rule {
    let peer = match peer {
        Peer::Cidr(c) => format!("cidr {c}"),
        Peer::Group(g) => format!("group {g}"),
    };
    (egress, protocol.to_string(), port, port, peer, description.map(str::to_string))
}

/// Every rule of security group `group` as EC2 describes the group (the emulator's
/// DescribeSecurityGroupRules leaves out the descriptions of group-referenced rules), one
/// entry per peer, sorted. DescribeSecurityGroupRules must count as many distinct rule
/// ids (a duplicate one view would merge shows in the other).
async fn group_rules(c: &aws_sdk_ec2::Client, group: &str) -> Vec<Rule> {
    let out = c.describe_security_groups().group_ids(group).send().await.expect("DescribeSecurityGroups");
    // One answer per group (the emulator may repeat an object).
    let g = out.security_groups().iter().find(|g| g.group_id() == Some(group)).expect("the group");
    let mut rules = Vec::new();
    for (egress, perms) in [(false, g.ip_permissions()), (true, g.ip_permissions_egress())] {
        for p in perms {
            let head = |peer: String, description: Option<&str>| -> Rule {
                (
                    egress,
                    p.ip_protocol().expect("protocol").to_string(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                    peer,
                    description.filter(|d| !d.is_empty()).map(str::to_string),
                )
            };
            for r in p.ip_ranges() {
                rules.push(head(format!("cidr {}", r.cidr_ip().expect("cidr")), r.description()));
            }
            for pair in p.user_id_group_pairs() {
                rules.push(head(format!("group {}", pair.group_id().expect("group id")), pair.description()));
            }
            assert!(p.ipv6_ranges().is_empty() && p.prefix_list_ids().is_empty(), "another peer: {p:?}");
        }
    }
    rules.sort();
    let listed = c
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    let ids: BTreeSet<&str> = listed
        .security_group_rules()
        .iter()
        .filter(|r| r.group_id() == Some(group))
        .filter_map(|r| r.security_group_rule_id())
        .collect();
    assert_eq!(ids.len(), rules.len(), "rule ids of {group}: {ids:?}, rules: {rules:?}");
    rules
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
    let r = crash_before_journal(&s, "nat.us-east-1a");
    assert!(!in_state(&s, "nat.us-east-1a"), "created but never journaled");
    // The NAT gateway exists in AWS all the same: exactly one, live, with the stack's and
    // the address's tags.
    let orphan = live_nats(&c, &s, "nat.us-east-1a").await;
    assert_eq!(orphan.len(), 1, "one orphaned NAT gateway: {orphan:?}\n{}", r.stderr);

    // The next plan finds it by its tags and adopts it.
    let p = s.ok(&["plan", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let nat = plan_action(&plan, "nat.us-east-1a");
    assert_eq!(nat["action"], "adopt", "{nat}");
    assert_eq!(nat["adopted"], true);
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(live_nats(&c, &s, "nat.us-east-1a").await, orphan, "the orphan itself, no second one");
    assert_eq!(BTreeSet::from([state_id(&s, "nat.us-east-1a")]), orphan, "state records the orphan");
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Destroy after a crash also takes the orphans: crash again, then destroy at once.
    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
    crash_before_journal(&s, "vpce.s3");
    assert!(!in_state(&s, "vpce.s3"), "created but never journaled");
    let endpoints = live_s3_endpoints(&c, &s).await;
    assert_eq!(endpoints.len(), 1, "one orphaned S3 gateway endpoint: {endpoints:?}");
    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(live_s3_endpoints(&c, &s).await, BTreeSet::new(), "the orphaned endpoint went too");
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn a_crash_before_a_routes_journal_entry_is_adopted_by_its_natural_key() {
    let s = Stack::new("crash-route");
    let c = ec2().await;
    let address = "route.private.us-east-1a.default";
    crash_before_journal(&s, address);
    assert!(!in_state(&s, address), "created but never journaled");
    // The route is in AWS: the AZ-a private table sends 0.0.0.0/0 to the AZ-a NAT gateway.
    let table = one(tagged_ids(&c, &s, "route_table.private.us-east-1a").await, "route table");
    let nat = one(live_nats(&c, &s, "nat.us-east-1a").await, "AZ-a NAT gateway");
    assert_eq!(default_routes(&c, &table).await, [Some(nat.clone())]);

    // The next plan matches it by route table + destination and adopts it.
    let p = s.ok(&["plan", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let route = plan_action(&plan, address);
    assert_eq!(route["action"], "adopt", "{route}");
    assert_eq!(route["adopted"], true);
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(default_routes(&c, &table).await, [Some(nat.clone())], "one default route, to the same NAT");
    assert_eq!(live_nats(&c, &s, "nat.us-east-1a").await, BTreeSet::from([nat]));
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn a_crash_before_a_rule_sets_journal_entry_is_adopted_through_its_group() {
    let s = Stack::new("crash-rules");
    let c = ec2().await;
    // The db group's set (27017 from the app group in, nothing out: the default egress
    // rule revoked), then, from scratch, the app group's (3000 from the alb group in, all
    // out). One crash per apply from scratch: a set journaled by an earlier run is not
    // applied again, so it could not crash.
    for address in ["sg_rules.db", "sg_rules.app"] {
        crash_before_journal(&s, address);
        assert!(!in_state(&s, address), "applied but never journaled");
        let db = one(tagged_ids(&c, &s, "sg.db").await, "db group");
        let app = one(tagged_ids(&c, &s, "sg.app").await, "app group");
        let alb = one(tagged_ids(&c, &s, "sg.alb").await, "alb group");
        let (group, want) = if address == "sg_rules.db" {
            (
                db,
                vec![rule(
                    false,
                    "tcp",
                    27017,
                    Peer::Group(&app),
                    Some("database port 27017 from the app tier"),
                )],
            )
        } else {
            let mut want = vec![
                rule(false, "tcp", 3000, Peer::Group(&alb), Some("service port 3000 from the alb tier")),
                rule(true, "-1", -1, Peer::Cidr("0.0.0.0/0"), None),
            ];
            want.sort();
            (app, want)
        };
        assert_eq!(group_rules(&c, &group).await, want, "{address} is in AWS");

        // The next plan finds the set through its group and adopts it.
        let p = s.ok(&["plan", "--json"], 0);
        let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
        let rules = plan_action(&plan, address);
        assert_eq!(rules["action"], "adopt", "{rules}");
        assert_eq!(rules["adopted"], true);
        s.ok(&["apply", "--auto-approve"], 0);
        assert_eq!(group_rules(&c, &group).await, want, "{address}: each rule once, none added");
        assert_eq!(counts(&c, &s).await, full_counts());
        s.ok(&["plan", "--detailed-exitcode"], 0);

        s.ok(&["destroy", "--auto-approve"], 0);
        assert_eq!(counts(&c, &s).await, common::Counts::default());
    }
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
    for dep in [
        "subnet.app.us-east-1a",
        "subnet.data.us-east-1a",
        "route.private.us-east-1a.default",
        "vpce.s3",
        // The network ACLs of the tiers whose subnet in AZ a never came.
        "nacl.app",
        "nacl.data",
    ] {
        assert!(skipped_line.contains(dep), "{dep} not skipped: {skipped_line}");
    }
    assert!(!skipped_line.contains("us-east-1b"), "AZ b is independent: {skipped_line}");
    assert!(!skipped_line.contains("nacl.public"), "the public subnets came: {skipped_line}");

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
    assert!(r.stderr.contains("Apply complete: 7 created"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await, full_counts());
    s.ok(&["destroy", "--auto-approve"], 0);
}
