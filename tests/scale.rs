//! Scale (issue 14): a stack of more than 300 resources (the demo plus generated internal
//! services, tests/common/stackgen.rs) applies, every object is there (counted kind by kind
//! straight from AWS, tests/common/census.rs, and the generated services by name with the
//! aws CLI), a no-change plan and drift find nothing, and destroy leaves nothing behind.
//! The timings of each step go to stderr (`--nocapture`); benches/plan.rs measures them.

mod common;

use common::census::{census, plan_kinds, KINDS};
use common::stackgen::{
    self, resources_for, service_name, services_for, DEMO_RESOURCES, RESOURCES_PER_SERVICE,
};
use common::{aws_cli, unique_token, Stack, DESTROY_ALL};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The size the stack aims at, in resources.
const TARGET: usize = 330;

/// The resources `hactl validate --json` counts for the stack's config.
fn validated_resources(s: &Stack) -> usize {
    let r = s.ok(&["validate", "--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("validate json");
    v["resources"].as_u64().expect("resources in validate --json") as usize
}

fn empty() -> BTreeMap<&'static str, usize> {
    KINDS.iter().map(|k| (*k, 0)).collect()
}

/// A generated stack named for this run.
fn generated(test: &str, services: usize) -> Stack {
    let name = format!("t{}-{test}", unique_token());
    Stack::named(&name, &stackgen::generate(&name, services))
}

/// The constants the benchmark sizes its stacks by, against what hactl plans (no AWS call).
#[test]
fn each_generated_service_adds_the_documented_number_of_resources() {
    let mut counts = Vec::new();
    for n in [0, 1, 25] {
        let s = generated("gen", n);
        let text = std::fs::read_to_string(&s.config).expect("config");
        assert_eq!(text.matches("\n[[services]]\n").count(), n + 2, "the demo's 2 services and {n} more");
        for i in 1..=n {
            assert!(text.contains(&format!("name = \"{}\"\nimage", service_name(i))), "service {i}");
            assert!(text.contains(&format!("port = {}\n", 8000 + i)), "service {i} has a port of its own");
        }
        assert!(
            text.contains(&format!("domain = \"{}.example.com\"", s.name)),
            "the domain follows the name"
        );
        counts.push((n, validated_resources(&s)));
    }
    let demo = counts[0].1;
    for (n, count) in counts {
        assert_eq!(
            count - demo,
            n * RESOURCES_PER_SERVICE,
            "{n} generated services: update RESOURCES_PER_SERVICE in tests/common/stackgen.rs"
        );
    }
    assert!(
        demo.abs_diff(DEMO_RESOURCES) <= RESOURCES_PER_SERVICE / 2,
        "the demo has {demo} resources: update DEMO_RESOURCES in tests/common/stackgen.rs"
    );
    let n = services_for(TARGET);
    assert!(resources_for(n).abs_diff(TARGET) <= RESOURCES_PER_SERVICE / 2, "{n} services for {TARGET}");
    assert_eq!(services_for(10), 0, "below the demo: no service");
}

/// The names of the live ECS services of cluster `cluster` (the aws CLI pages through them).
fn live_services(cluster: &str) -> BTreeSet<String> {
    let out = aws_cli(&["ecs", "list-services", "--cluster", cluster]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("list-services json");
    let arns = v["serviceArns"].as_array().expect("serviceArns");
    let mut names = BTreeSet::new();
    for chunk in arns.chunks(10) {
        let mut args = vec!["ecs", "describe-services", "--cluster", cluster, "--services"];
        args.extend(chunk.iter().map(|a| a.as_str().expect("arn")));
        let d: serde_json::Value = serde_json::from_str(&aws_cli(&args)).expect("describe-services json");
        for svc in d["services"].as_array().expect("services") {
            if svc["status"] == "ACTIVE" {
                names.insert(svc["serviceName"].as_str().expect("serviceName").to_string());
            }
        }
    }
    names
}

/// The names of the log groups under `/hactl/<stack>/`.
fn log_groups(stack: &str) -> BTreeSet<String> {
    let prefix = format!("/hactl/{stack}/");
    let out = aws_cli(&["logs", "describe-log-groups", "--log-group-name-prefix", &prefix]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("describe-log-groups json");
    v["logGroups"]
        .as_array()
        .expect("logGroups")
        .iter()
        .map(|g| g["logGroupName"].as_str().expect("logGroupName").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_of_over_300_resources_applies_plans_clean_and_destroys_without_a_trace() {
    let n = services_for(TARGET);
    let s = generated("scale", n);
    assert_eq!(census(&s.name).await, empty(), "a fresh stack name");

    // The plan: every address a create; the census must be able to count every kind.
    let r = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    let actions = plan["actions"].as_array().expect("actions");
    assert!(actions.len() >= 300, "a stack of {} resources, not 300+", actions.len());
    assert!(actions.iter().all(|a| a["action"] == "create"), "a new stack is all creates");
    let mut want: BTreeMap<String, usize> = plan_kinds(&plan);
    for k in want.keys() {
        assert!(KINDS.contains(&k.as_str()), "the census cannot count {k}: add it to tests/common/census.rs");
    }
    for k in KINDS {
        want.entry(k.to_string()).or_insert(0);
    }

    let t0 = Instant::now();
    s.ok(&["apply", "--auto-approve"], 0);
    let apply = t0.elapsed();
    let recorded = s.state()["resources"].as_object().map_or(0, |m| m.len());
    assert_eq!(recorded, actions.len(), "state records every planned resource");

    // Every object, kind by kind, from AWS; then the generated services by name.
    let live = census(&s.name).await;
    let live_by_kind: BTreeMap<String, usize> = live.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(live_by_kind, want, "each kind has as many live objects as the plan has addresses");
    let services = n + 2; // the demo's frontend and backend, and the generated ones
    assert_eq!(live["ecs.service"], services, "ECS services in the cluster");
    assert_eq!(live["ecs.task_definition"], services, "a task definition per service");
    assert_eq!(live["elbv2.target_group"], services, "a target group per service");
    assert!(live["cloudwatch.alarm"] >= 4 * services, "four alarms per service at least");
    let names = live_services(&s.name);
    let groups = log_groups(&s.name);
    for i in 1..=n {
        let svc = service_name(i);
        assert!(names.iter().any(|x| x.ends_with(&svc)), "ECS service {svc} missing: {names:?}");
        assert!(groups.iter().any(|g| g.ends_with(&svc)), "log group of {svc} missing: {groups:?}");
    }
    assert_eq!(names.len(), services, "the cluster runs the stack's services and no other: {names:?}");

    let t1 = Instant::now();
    s.ok(&["plan", "--detailed-exitcode"], 0);
    let plan_time = t1.elapsed();
    let t2 = Instant::now();
    s.ok(&["drift"], 0);
    let drift = t2.elapsed();

    let t3 = Instant::now();
    s.ok(&DESTROY_ALL, 0);
    let destroy = t3.elapsed();
    assert_eq!(census(&s.name).await, empty(), "destroy leaves nothing of the stack");
    assert!(log_groups(&s.name).is_empty(), "no log group left");
    eprintln!(
        "scale: {recorded} resources ({n} generated services): apply {apply:.1?}, no-change plan {plan_time:.1?}, \
         drift {drift:.1?}, destroy {destroy:.1?}"
    );
}
