//! End to end on the cost in the plan, against the emulator: every demo config's plan
//! carries a monthly estimate with nothing unpriced, and a change of a service's task
//! count and of the database's class moves it by exactly the price table's amounts.

mod common;

use common::census::{census, KINDS};
use common::*;
use serde_json::Value as J;

/// A price of the repo's us-east-1 table: `section` (dotted) and `key`.
fn price(section: &str, key: &str) -> f64 {
    let path = repo_root().join("crates/hactl-cost/prices/us-east-1.toml");
    let table: toml::Value =
        toml::from_str(&std::fs::read_to_string(path).expect("price table")).expect("toml");
    let mut v = &table;
    for s in section.split('.') {
        v = &v[s];
    }
    v[key].as_float().unwrap_or_else(|| panic!("{section}.{key} is not a price"))
}

fn plan_json(s: &Stack) -> J {
    let r = s.run(&["plan", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("plan json")
}

fn usd(v: &J) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn close(a: f64, b: f64) -> bool {
    // Both sides are rounded to cents.
    (a - b).abs() < 0.011
}

#[test]
fn every_demo_config_plan_carries_a_monthly_total() {
    for config in [
        "config/ha-stack.toml",
        "config/fargate-postgres.toml",
        "config/two-region.toml",
        "config/multi-region.toml",
    ] {
        let s = Stack::from_file("cost", config);
        let cost = &plan_json(&s)["cost"];
        let total = usd(&cost["monthly_usd"]);
        assert!(total > 50.0, "{config}: {total}");
        assert_eq!(cost["unpriced"], J::Array(vec![]), "{config}: everything is priced");
        assert!(close(usd(&cost["delta_usd"]), total), "{config}: from nothing to the whole stack");
        let by_region: f64 = cost["by_region"].as_object().expect("by_region").values().map(usd).sum();
        assert!(close(by_region, total), "{config}: the regions add up");
        let lines: f64 =
            cost["lines"].as_array().expect("lines").iter().map(|l| usd(&l["monthly_usd"])).sum();
        assert!((lines - total).abs() < 0.5, "{config}: the lines add up ({lines} vs {total})");
        assert_eq!(cost["assumptions"]["hours_per_month"], J::from(730.0));
        let r = s.ok(&["plan"], 0);
        assert!(r.stdout.contains("Cost: about $"), "{config}: {}", r.stdout);
    }
}

#[tokio::test]
async fn a_plan_that_adds_a_task_and_grows_the_database_costs_the_tables_difference() {
    let s = Stack::from_file("costd", "config/fargate-postgres.toml");
    // Without auto scaling the service's task count is the config's.
    s.edit(|t| {
        let start = t.find("[services.autoscaling]").expect("autoscaling section");
        let end = t[start..].find("\n\n").map(|e| start + e).expect("end of section");
        format!("{}{}", &t[..start], &t[end..])
    });
    s.ok(&["apply", "--auto-approve"], 0);
    let before = usd(&plan_json(&s)["cost"]["monthly_usd"]);
    s.edit(|t| {
        t.replacen("desired_count = 2", "desired_count = 3", 1).replacen(
            "instance_class = \"db.t3.medium\"",
            "instance_class = \"db.t3.large\"",
            1,
        )
    });
    let plan = plan_json(&s);
    let cost = &plan["cost"];
    let hours = 730.0;
    // One more task of 0.5 vCPU and 1 GB.
    let task = hours * (0.5 * price("fargate", "vcpu_hour") + 1.0 * price("fargate", "gb_hour"));
    // db.t3.medium to db.t3.large, Multi-AZ (twice the instance hours).
    let class = hours
        * price("rds", "multi_az_factor")
        * (price("rds.postgres_hour", "db.t3.large") - price("rds.postgres_hour", "db.t3.medium"));
    let changes: Vec<(String, f64)> = cost["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (c["address"].as_str().unwrap_or("").to_string(), usd(&c["after_usd"]) - usd(&c["before_usd"]))
        })
        .collect();
    let delta_of = |a: &str| changes.iter().find(|(x, _)| x == a).map(|(_, d)| *d);
    assert!(delta_of("ecs_service.api").is_some_and(|d| close(d, task)), "{changes:?} vs {task}");
    let db = changes
        .iter()
        .find(|(a, _)| a.starts_with("db_instance") || a.starts_with("rds"))
        .expect("the database changes");
    assert!(close(db.1, class), "{changes:?} vs {class}");
    assert_eq!(changes.len(), 2, "nothing else changes cost: {changes:?}");
    assert!(close(usd(&cost["before_monthly_usd"]), before));
    assert!(close(usd(&cost["delta_usd"]), task + class), "{} vs {}", cost["delta_usd"], task + class);
    let r = s.ok(&["plan"], 0);
    assert!(r.stdout.contains("this plan: +$"), "{}", r.stdout);
    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}
