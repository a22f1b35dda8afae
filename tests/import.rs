//! End to end on `hactl import`, against the emulator: objects made with the aws CLI are
//! imported at their addresses, converged by apply and deleted by destroy; `--discover`
//! rebuilds a lost state. Effects are checked with the aws CLI.

mod common;

use common::census::{census, KINDS};
use common::*;
use serde_json::Value as J;
use std::collections::BTreeMap;

fn cli_json(args: &[&str]) -> J {
    serde_json::from_str(&aws_cli(args)).expect("aws json")
}

/// A security group made with the aws CLI: its id.
fn create_group(name: &str, description: &str, vpc: &str) -> String {
    let args =
        ["ec2", "create-security-group", "--group-name", name, "--description", description, "--vpc-id", vpc];
    cli_json(&args)["GroupId"].as_str().expect("group id").to_string()
}

/// The tags of an EC2 object, by key, as the aws CLI describes them.
fn ec2_tags(describe: &[&str], list: &str, id_flag: &str, id: &str) -> BTreeMap<String, String> {
    let mut args = describe.to_vec();
    args.extend([id_flag, id]);
    let doc = cli_json(&args);
    doc[list][0]["Tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    (
                        t["Key"].as_str().unwrap_or("").to_string(),
                        t["Value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Address → (action, changed property names) of a `plan --json` answer.
fn plan_changes(s: &Stack) -> BTreeMap<String, (String, Vec<String>)> {
    let r = s.ok(&["plan", "--json"], 0);
    let plan: J = serde_json::from_str(&r.stdout).expect("plan json");
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let names = a["changes"]
                .as_array()
                .map(|c| c.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_default();
            (
                a["address"].as_str().unwrap_or("").to_string(),
                (a["action"].as_str().unwrap_or("").to_string(), names),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_vpc_and_a_security_group_made_by_hand_are_imported_converged_and_destroyed() {
    let s = Stack::new("imp");
    let vpc = cli_json(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .expect("vpc id")
        .to_string();
    let description = format!("hactl {}: application tasks", s.name);
    let sg = create_group(&format!("{}-app", s.name), &description, &vpc);
    // Another stack's VPC is never taken.
    let foreign = cli_json(&[
        "ec2",
        "create-vpc",
        "--cidr-block",
        "10.9.0.0/16",
        "--tag-specifications",
        "ResourceType=vpc,Tags=[{Key=hactl:stack,Value=someone-else},{Key=hactl:address,Value=vpc.main}]",
    ])["Vpc"]["VpcId"]
        .as_str()
        .expect("vpc id")
        .to_string();
    let r = s.ok(&["import", "vpc.main", &foreign], 1);
    assert!(r.stderr.contains("belongs to stack `someone-else`"), "{}", r.stderr);
    // An id of another kind is refused: a security group is no VPC.
    let r = s.ok(&["import", "vpc.main", &sg], 1);
    assert!(r.stderr.contains(&format!("no ec2.vpc with id {sg}")), "{}", r.stderr);
    let r = s.ok(&["import", "vpc.nope", &vpc], 1);
    assert!(r.stderr.contains("the config has no resource at vpc.nope"), "{}", r.stderr);
    assert_eq!(s.state_serial(), 0, "refused imports write no state");

    s.ok(&["import", "vpc.main", &vpc], 0);
    let r = s.ok(&["import", "sg.app", &sg], 0);
    assert!(r.stdout.contains("differs from the configuration in tags"), "{}", r.stdout);
    // The rules of a group that is not the stack's are never taken (a rule set has no
    // tags of its own: it is the stack's through its group).
    let foreign_sg = create_group("someone-elses", "not this stack's", &foreign);
    let r = s.ok(&["import", "sg_rules.app", &foreign_sg], 1);
    assert!(r.stderr.contains("is not part of an object of this stack"), "{}", r.stderr);
    // An object whose differences force a replacement is imported with a warning that
    // the next apply replaces it; `state rm` undoes the import.
    let db_sg = create_group(&format!("{}-db", s.name), "made by hand", &vpc);
    let r = s.ok(&["import", "sg.db", &db_sg], 0);
    assert!(
        r.stderr.contains(&format!("the next apply REPLACES {db_sg}")) && r.stderr.contains("description"),
        "{}",
        r.stderr
    );
    s.ok(&["state", "rm", "sg.db"], 0);
    aws_cli(&["ec2", "delete-security-group", "--group-id", &db_sg]);
    // The group's rules are an object of their own (same id, another kind).
    s.ok(&["import", "sg_rules.app", &sg], 0);
    let r = s.ok(&["import", "sg.app", &sg], 1);
    assert!(r.stderr.contains("state already records sg.app"), "{}", r.stderr);
    assert_eq!(state_id(&s, "vpc.main"), vpc);
    assert_eq!(state_id(&s, "sg.app"), sg);

    // The next plan changes the imported objects in place, only where the config differs.
    let plan = plan_changes(&s);
    assert_eq!(
        plan["vpc.main"],
        ("update".to_string(), vec!["enable_dns_hostnames".to_string(), "tags".to_string()])
    );
    assert_eq!(plan["sg.app"], ("update".to_string(), vec!["tags".to_string()]));
    assert_eq!(plan["sg_rules.app"].0, "update");
    assert!(
        plan.iter().all(|(a, (action, _))| action == "create"
            || ["vpc.main", "sg.app", "sg_rules.app"].contains(&a.as_str())),
        "only the imported objects are updated, nothing is replaced or deleted: {plan:?}"
    );

    s.ok(&["apply", "--auto-approve"], 0);
    let tags = ec2_tags(&["ec2", "describe-vpcs"], "Vpcs", "--vpc-ids", &vpc);
    assert_eq!(tags.get("hactl:stack"), Some(&s.name), "{tags:?}");
    assert_eq!(tags.get("hactl:address").map(String::as_str), Some("vpc.main"));
    let dns =
        cli_json(&["ec2", "describe-vpc-attribute", "--vpc-id", &vpc, "--attribute", "enableDnsHostnames"]);
    assert_eq!(dns["EnableDnsHostnames"]["Value"], J::Bool(true));
    let tags = ec2_tags(&["ec2", "describe-security-groups"], "SecurityGroups", "--group-ids", &sg);
    assert_eq!(tags.get("hactl:address").map(String::as_str), Some("sg.app"));
    let group = cli_json(&["ec2", "describe-security-groups", "--group-ids", &sg]);
    let ports: Vec<i64> = group["SecurityGroups"][0]["IpPermissions"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|p| p["FromPort"].as_i64())
        .collect();
    assert_eq!(ports, [3000], "the app tier admits the service port from the ALB tier only");
    assert_eq!((state_id(&s, "vpc.main"), state_id(&s, "sg.app")), (vpc.clone(), sg.clone()), "same objects");
    s.ok(&["drift"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&["destroy", "--auto-approve"], 0);
    let left = cli_json(&["ec2", "describe-vpcs", "--filters", &format!("Name=vpc-id,Values={vpc}")]);
    assert_eq!(left["Vpcs"].as_array().map(Vec::len), Some(0), "the imported VPC is deleted: {left}");
    let left =
        cli_json(&["ec2", "describe-security-groups", "--filters", &format!("Name=group-id,Values={sg}")]);
    assert_eq!(left["SecurityGroups"].as_array().map(Vec::len), Some(0), "the imported group is deleted");
    let still = cli_json(&["ec2", "describe-vpcs", "--vpc-ids", &foreign]);
    assert_eq!(still["Vpcs"].as_array().map(Vec::len), Some(1), "the other stack's VPC is untouched");
    aws_cli(&["ec2", "delete-security-group", "--group-id", &foreign_sg]);
    aws_cli(&["ec2", "delete-vpc", "--vpc-id", &foreign]);
}

#[tokio::test]
async fn discover_rebuilds_a_lost_state_and_the_next_plan_is_empty() {
    // A whole stack: network, load balancer, Fargate service and task definition, RDS
    // PostgreSQL, secrets, alarms, dashboard.
    let s = Stack::from_file("disc", "config/fargate-postgres.toml");
    s.ok(&["apply", "--auto-approve"], 0);
    let before: BTreeMap<String, String> = s.state()["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .map(|(a, r)| (a.clone(), r["id"].as_str().unwrap_or("").to_string()))
        .collect();
    std::fs::remove_file(s.state_dir.join(format!("{}.json", s.name))).expect("remove state");

    // Without a terminal and without --auto-approve: listed, not imported.
    let r = s.ok(&["import", "--discover"], 1);
    assert!(r.stdout.contains(&format!("Import: {} to import, 0 skipped.", before.len())), "{}", r.stdout);
    assert_eq!(s.state_serial(), 0);
    let r = s.ok(&["import", "--discover", "--auto-approve"], 0);
    for (address, id) in &before {
        assert!(
            r.stdout.contains(&format!("<= {address} ")) && r.stdout.contains(id.as_str()),
            "{address} {id} not listed"
        );
    }
    let after: BTreeMap<String, String> = s.state()["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .map(|(a, r)| (a.clone(), r["id"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(after, before, "every object is found again at its address");
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);
    let r = s.ok(&["import", "--discover"], 0);
    assert!(r.stdout.contains("Nothing to import"), "{}", r.stdout);
    let vpc = &before["vpc.main"];
    s.ok(&DESTROY_ALL, 0);
    let left = cli_json(&["ec2", "describe-vpcs", "--filters", &format!("Name=vpc-id,Values={vpc}")]);
    assert_eq!(left["Vpcs"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        census(&s.name).await,
        KINDS.iter().map(|k| (*k, 0)).collect(),
        "nothing of the stack is left"
    );
}
