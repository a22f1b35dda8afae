//! End to end on `--target`, `--exclude` and `--replace`, against the emulator: which AWS
//! objects a limited apply or destroy touches, checked with the aws CLI.

mod common;

use common::census::census;
use common::*;
use serde_json::Value as J;
use std::collections::BTreeSet;

fn cli_json(args: &[&str]) -> J {
    serde_json::from_str(&aws_cli(args)).expect("aws json")
}

/// The ids of the stack's objects one EC2 describe call lists (`list` is its answer's
/// array, `id` each item's id field).
fn live_ids(s: &Stack, describe: &str, list: &str, id: &str) -> BTreeSet<String> {
    let filter = format!("Name=tag:hactl:stack,Values={}", s.name);
    let flag = if describe == "describe-nat-gateways" { "--filter" } else { "--filters" };
    cli_json(&["ec2", describe, flag, &filter])[list]
        .as_array()
        .expect("list")
        .iter()
        .filter(|o| !matches!(o["State"].as_str(), Some("deleted" | "deleting")))
        .filter_map(|o| o[id].as_str().map(String::from))
        .collect()
}

/// The value of tag `key` on each of the stack's objects of one describe call.
fn tag_values(s: &Stack, describe: &str, list: &str, key: &str) -> BTreeSet<String> {
    let filter = format!("Name=tag:hactl:stack,Values={}", s.name);
    let flag = if describe == "describe-nat-gateways" { "--filter" } else { "--filters" };
    cli_json(&["ec2", describe, flag, &filter])[list]
        .as_array()
        .expect("list")
        .iter()
        .filter(|o| !matches!(o["State"].as_str(), Some("deleted" | "deleting")))
        .filter_map(|o| {
            o["Tags"]
                .as_array()?
                .iter()
                .find(|t| t["Key"] == key)
                .and_then(|t| t["Value"].as_str().map(String::from))
        })
        .collect()
}

/// The next plan is empty; destroy leaves nothing of the stack.
async fn plan_is_clean_then_destroy(s: &Stack) {
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["destroy", "--auto-approve"], 0);
    assert!(census(&s.name).await.values().all(|n| *n == 0));
}

fn addresses(s: &Stack) -> BTreeSet<String> {
    s.state()["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test]
async fn target_applies_a_resource_and_what_it_depends_on_only() {
    let s = Stack::new("tgt");
    let r = s.ok(&["plan", "--target", "sg.ap"], 1);
    assert!(r.stderr.contains("did you mean `sg.app`"), "{}", r.stderr);
    let r = s.ok(&["apply", "--auto-approve", "--target", "sg.app"], 0);
    assert!(r.stdout.contains("Targeted: this plan is limited by --target sg.app"), "{}", r.stdout);
    assert_eq!(addresses(&s), ["sg.app", "vpc.main"].iter().map(|a| a.to_string()).collect());
    assert_eq!(live_ids(&s, "describe-vpcs", "Vpcs", "VpcId").len(), 1);
    let groups = live_ids(&s, "describe-security-groups", "SecurityGroups", "GroupId");
    assert_eq!(groups, [state_id(&s, "sg.app")].into_iter().collect(), "the app group alone");
    assert!(live_ids(&s, "describe-subnets", "Subnets", "SubnetId").is_empty(), "no subnet");
    // A glob: every subnet, with the VPC they need (made already) and nothing else.
    s.ok(&["apply", "--auto-approve", "--target", "subnet.*"], 0);
    assert_eq!(live_ids(&s, "describe-subnets", "Subnets", "SubnetId").len(), 6);
    assert!(
        live_ids(&s, "describe-nat-gateways", "NatGateways", "NatGatewayId").is_empty(),
        "no NAT gateway"
    );
    s.ok(&["apply", "--auto-approve"], 0);
    plan_is_clean_then_destroy(&s).await;
}

#[tokio::test]
async fn exclude_leaves_a_resource_and_what_depends_on_it_untouched() {
    let s = Stack::new("exc");
    s.ok(&["apply", "--auto-approve"], 0);
    s.edit(|t| t.replacen("Environment = \"dev\"", "Environment = \"staging\"", 1));
    let r = s.ok(&["apply", "--auto-approve", "--exclude", "subnet.public.*"], 0);
    assert!(r.stdout.contains("--exclude subnet.public.*"), "{}", r.stdout);
    let env = |describe: &str, list: &str| tag_values(&s, describe, list, "Environment");
    assert_eq!(env("describe-vpcs", "Vpcs"), ["staging".to_string()].into());
    assert_eq!(env("describe-security-groups", "SecurityGroups"), ["staging".to_string()].into());
    // The public subnets kept the old tag, and so did what depends on them (the NAT
    // gateways in them); the other subnets took the new one.
    let public: BTreeSet<String> =
        ["subnet.public.us-east-1a", "subnet.public.us-east-1b"].iter().map(|a| state_id(&s, a)).collect();
    for subnet in cli_json(&[
        "ec2",
        "describe-subnets",
        "--filters",
        &format!("Name=tag:hactl:stack,Values={}", s.name),
    ])["Subnets"]
        .as_array()
        .expect("subnets")
    {
        let id = subnet["SubnetId"].as_str().unwrap_or("");
        let value = subnet["Tags"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["Key"] == "Environment"))
            .map(|t| t["Value"].clone());
        let want = if public.contains(id) { "dev" } else { "staging" };
        assert_eq!(value, Some(J::from(want)), "subnet {id}");
    }
    assert_eq!(env("describe-nat-gateways", "NatGateways"), ["dev".to_string()].into());
    // The rest is applied by a full apply.
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(env("describe-nat-gateways", "NatGateways"), ["staging".to_string()].into());
    plan_is_clean_then_destroy(&s).await;
}

#[tokio::test]
async fn replace_makes_a_new_object_of_an_unchanged_resource() {
    let s = Stack::new("rep");
    s.ok(&["apply", "--auto-approve"], 0);
    let (old_db, old_app, vpc) = (state_id(&s, "sg.db"), state_id(&s, "sg.app"), state_id(&s, "vpc.main"));
    let r = s.ok(&["plan", "--replace", "sg.db", "--detailed-exitcode"], 2);
    assert!(r.stdout.contains("replacement requested (--replace)"), "{}", r.stdout);
    s.ok(&["apply", "--auto-approve", "--replace", "sg.db"], 0);
    let new_db = state_id(&s, "sg.db");
    assert_ne!(new_db, old_db);
    let gone = cli_json(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=group-id,Values={old_db}"),
    ]);
    assert_eq!(gone["SecurityGroups"].as_array().map(Vec::len), Some(0), "the old group is deleted");
    let name = cli_json(&["ec2", "describe-security-groups", "--group-ids", &new_db])["SecurityGroups"][0]
        ["GroupName"]
        .clone();
    assert_eq!(name, J::from(format!("{}-db", s.name)));
    assert_eq!(
        (state_id(&s, "sg.app"), state_id(&s, "vpc.main")),
        (old_app, vpc),
        "the others are the same objects"
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // destroy --target: the group and what depends on it (its rules); the rest stays.
    s.ok(&["destroy", "--auto-approve", "--target", "sg.db"], 0);
    let left = addresses(&s);
    assert!(!left.contains("sg.db") && !left.contains("sg_rules.db"), "{left:?}");
    assert!(left.contains("sg.app") && left.contains("vpc.main"), "{left:?}");
    let gone = cli_json(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=group-id,Values={new_db}"),
    ]);
    assert_eq!(gone["SecurityGroups"].as_array().map(Vec::len), Some(0));
    assert_eq!(live_ids(&s, "describe-vpcs", "Vpcs", "VpcId").len(), 1, "the VPC stays");
    // destroy --exclude: the VPC and what it needs stay, the rest goes.
    s.ok(&["destroy", "--auto-approve", "--exclude", "vpc.main"], 0);
    assert_eq!(addresses(&s), ["vpc.main".to_string()].into());
    assert_eq!(live_ids(&s, "describe-vpcs", "Vpcs", "VpcId").len(), 1);
    assert!(live_ids(&s, "describe-subnets", "Subnets", "SubnetId").is_empty());
    s.ok(&["destroy", "--auto-approve"], 0);
    assert!(census(&s.name).await.values().all(|n| *n == 0));
}
