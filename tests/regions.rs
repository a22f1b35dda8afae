//! One stack over two regions (config/two-region.toml: a small stack in us-east-1 and its
//! warm standby in us-west-2), and a state written before
//! resources had a location (format 1) read and upgraded in place. Effects are verified
//! with the aws CLI and the SDK in each region, never by asking hactl.

mod common;

use common::{aws_cli_in, counts, sdk_in, Counts, Stack};
use serde_json::Value as J;
use std::collections::BTreeMap;

/// What the network tier of config/two-region.toml gives in each region: one NAT gateway
/// ("single"), three route tables, three security groups, the S3 gateway endpoint.
fn network_counts() -> Counts {
    Counts {
        vpcs: 1,
        subnets: 6,
        igws: 1,
        eips: 1,
        nats: 1,
        route_tables: 3,
        security_groups: 3,
        endpoints: 1,
        network_acls: 3,
    }
}

async fn region_counts(region: &str, s: &Stack) -> Counts {
    counts(&aws_sdk_ec2::Client::new(&sdk_in(region).await), s).await
}

/// The VPC CIDR blocks carrying the stack's tag in `region`, by the aws CLI.
fn vpc_blocks(region: &str, s: &Stack) -> Vec<String> {
    let filter = format!("Name=tag:hactl:stack,Values={}", s.name);
    let out: J = serde_json::from_str(&aws_cli_in(region, &["ec2", "describe-vpcs", "--filters", &filter]))
        .expect("describe-vpcs json");
    let mut blocks: Vec<String> = out["Vpcs"]
        .as_array()
        .expect("Vpcs")
        .iter()
        .map(|v| v["CidrBlock"].as_str().expect("CidrBlock").to_string())
        .collect();
    blocks.sort();
    blocks
}

/// The names of the stack's IAM roles (IAM is global: any region answers the same).
fn role_names(region: &str, s: &Stack) -> Vec<String> {
    let prefix = format!("/hactl/{}/", s.name);
    let out: J = serde_json::from_str(&aws_cli_in(region, &["iam", "list-roles", "--path-prefix", &prefix]))
        .expect("list-roles json");
    let mut names: Vec<String> = out["Roles"]
        .as_array()
        .expect("Roles")
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// How many resources state records at each location.
fn state_locations(s: &Stack) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in s.state()["resources"].as_object().expect("resources").values() {
        let at = r["location"].as_str().unwrap_or("(none)").to_string();
        *out.entry(at).or_insert(0) += 1;
    }
    out
}

#[tokio::test]
async fn one_stack_over_two_regions_plans_applies_drifts_and_destroys() {
    let s = Stack::from_file("dr", "config/two-region.toml");
    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(r.stderr.contains("Apply complete: 89 created"), "{}", r.stderr);

    // Each region has its own network, seen by that region's clients only.
    assert_eq!(region_counts("us-east-1", &s).await, network_counts());
    assert_eq!(region_counts("us-west-2", &s).await, network_counts());
    assert_eq!(vpc_blocks("us-east-1", &s), ["10.0.0.0/16"]);
    assert_eq!(vpc_blocks("us-west-2", &s), ["10.1.0.0/16"]);
    let filter = "Name=tag:hactl:address,Values=dr.subnet.app.us-west-2a";
    let subnets: J =
        serde_json::from_str(&aws_cli_in("us-west-2", &["ec2", "describe-subnets", "--filters", filter]))
            .expect("describe-subnets json");
    assert_eq!(subnets["Subnets"][0]["AvailabilityZone"], "us-west-2a");
    assert_eq!(subnets["Subnets"][0]["CidrBlock"], "10.1.10.0/24");

    // The service runs in both regions: two tasks in the primary, one standing by.
    for (region, want) in [("us-east-1", 2), ("us-west-2", 1)] {
        let out: J = serde_json::from_str(&aws_cli_in(
            region,
            &["ecs", "describe-services", "--cluster", &s.name, "--services", "web"],
        ))
        .expect("describe-services json");
        assert_eq!(out["services"][0]["desiredCount"], want, "{region}: {out}");
        assert_eq!(out["services"][0]["status"], "ACTIVE", "{region}");
        let lbs: J = serde_json::from_str(&aws_cli_in(
            region,
            &["elbv2", "describe-load-balancers", "--names", &format!("{}-public", s.name)],
        ))
        .expect("describe-load-balancers json");
        assert_eq!(lbs["LoadBalancers"][0]["Scheme"], "internet-facing", "{region}");
    }

    // IAM objects are global: the same roles whichever region is asked (each region's
    // execution and task roles), recorded at `global`.
    let roles = role_names("us-east-1", &s);
    assert_eq!(roles.len(), 4, "{roles:?}");
    assert!(roles.iter().any(|r| r.contains("-us-west-2-")), "{roles:?}");
    assert_eq!(role_names("us-west-2", &s), roles);
    let st = s.state();
    assert_eq!(st["format_version"], 2);
    for (address, r) in st["resources"].as_object().unwrap() {
        let want = if r["kind"].as_str().is_some_and(|k| k.starts_with("iam.") || k == "cloudwatch.dashboard")
        {
            "global"
        } else if address.starts_with("dr.") {
            "us-west-2"
        } else {
            "us-east-1"
        };
        assert_eq!(r["location"], want, "{address}");
    }
    assert_eq!(state_locations(&s).get("us-west-2"), Some(&42));

    // Nothing to do, no drift.
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // A change outside hactl in the DR region is drift of that region's resource, and
    // the next apply puts it back there.
    let vpc = common::state_id(&s, "dr.vpc.main");
    aws_cli_in("us-west-2", &["ec2", "create-tags", "--resources", &vpc, "--tags", "Key=Name,Value=changed"]);
    let d = s.ok(&["drift"], 2);
    assert!(d.stdout.contains("dr.vpc.main"), "{}", d.stdout);
    assert!(!d.stdout.contains("~ vpc.main"), "{}", d.stdout);
    s.ok(&["apply", "--auto-approve"], 0);
    let tags: J = serde_json::from_str(&aws_cli_in(
        "us-west-2",
        &[
            "ec2",
            "describe-tags",
            "--filters",
            &format!("Name=resource-id,Values={vpc}"),
            "Name=key,Values=Name",
        ],
    ))
    .expect("describe-tags json");
    assert_eq!(tags["Tags"][0]["Value"], format!("{}-dr-vpc", s.name));
    s.ok(&["drift"], 0);

    // Destroy empties both regions and the global objects.
    s.ok(&["destroy", "--auto-approve", "--force-delete-secrets"], 0);
    assert_eq!(region_counts("us-east-1", &s).await, Counts::default());
    assert_eq!(region_counts("us-west-2", &s).await, Counts::default());
    assert!(role_names("us-east-1", &s).is_empty());
    assert!(s.state()["resources"].as_object().unwrap().is_empty());
}

/// The keys of each resource record of a state document.
fn record_keys(state: &J) -> Vec<Vec<String>> {
    let mut keys: Vec<Vec<String>> = state["resources"]
        .as_object()
        .expect("resources")
        .values()
        .map(|r| {
            let mut k: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[tokio::test]
async fn a_state_written_before_locations_upgrades_in_place_without_a_plan_change() {
    // What hactl wrote before locations (main at 295e847, config/two-region.toml without
    // [dr]): format 1, no location on any record.
    let fixture: J = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("tests/fixtures/state-v1-two-region.json"))
            .expect("fixture"),
    )
    .expect("fixture json");
    assert_eq!(fixture["format_version"], 1);
    assert!(record_keys(&fixture).iter().all(|k| !k.contains(&"location".to_string())));

    // The same stack applied today, its state then written back in format 1 exactly as
    // that hactl wrote it (the same keys on every record as the fixture).
    let text = std::fs::read_to_string(common::repo_root().join("config/two-region.toml")).expect("config");
    let single = &text[..text.find("# The disaster-recovery region").expect("[dr] marker")];
    let s = Stack::from_text("v1", single);
    s.ok(&["apply", "--auto-approve"], 0);
    let path = s.state_dir.join(format!("{}.json", s.name));
    let mut st = s.state();
    st["format_version"] = J::from(1);
    for r in st["resources"].as_object_mut().unwrap().values_mut() {
        r.as_object_mut().unwrap().remove("location");
    }
    assert_eq!(record_keys(&st), record_keys(&fixture), "the rewritten state has the shape of format 1");
    std::fs::write(&path, serde_json::to_string_pretty(&st).unwrap()).unwrap();
    let serial = s.state_serial();

    // Read without a plan change; the plan records every location and writes format 2
    // (one note line), changing nothing in AWS; apply then has nothing to do.
    let p = s.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(
        p.stderr.contains("state upgraded to format 2: recorded the location of 45 resources"),
        "{}",
        p.stderr
    );
    let up = s.state();
    assert_eq!(up["format_version"], 2);
    assert_eq!(s.state_serial(), serial + 1);
    let at = state_locations(&s);
    assert_eq!(at.get("(none)"), None, "{at:?}");
    assert_eq!(at.get("global"), Some(&3), "two roles and the dashboard: {at:?}");
    assert_eq!(at.get("us-east-1"), Some(&42), "{at:?}");
    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(!r.stderr.contains("created") && !r.stderr.contains("updated"), "{}", r.stderr);
    assert!(!r.stderr.contains("upgraded"), "{}", r.stderr);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["destroy", "--auto-approve", "--force-delete-secrets"], 0);
}
