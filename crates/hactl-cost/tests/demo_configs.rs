//! The demo configs, expanded as `hactl` expands them, are priced whole.

use hactl_config::expand::{expand, ExpandEnv};
use hactl_core::DesiredGraph;
use hactl_cost::{delta, estimate_graph, prices, Estimate};

fn text(name: &str) -> String {
    let path = format!("{}/../../config/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn graph_of(name: &str, text: &str) -> (DesiredGraph, String) {
    let cfg = hactl_config::parse(name, text).unwrap();
    (expand(&cfg, &ExpandEnv::offline()).unwrap(), cfg.stack.region.clone())
}

fn estimate_text(name: &str, text: &str) -> Estimate {
    let (graph, home) = graph_of(name, text);
    estimate_graph(&graph, &home).unwrap()
}

fn load(name: &str) -> Estimate {
    let path = format!("{}/../../config/{name}", env!("CARGO_MANIFEST_DIR"));
    let cfg = hactl_config::load(std::path::Path::new(&path)).unwrap();
    let graph = expand(&cfg, &ExpandEnv::offline()).unwrap();
    estimate_graph(&graph, &cfg.stack.region).unwrap()
}

#[test]
fn every_demo_config_is_priced_whole() {
    for name in ["ha-stack.toml", "fargate-postgres.toml", "two-region.toml", "multi-region.toml"] {
        let e = load(name);
        assert!(e.monthly_usd > 0.0, "{name}: nothing priced");
        assert!(e.unpriced.is_empty(), "{name}: unpriced {:?}", e.unpriced);
        assert!(e.sources.iter().any(|s| s.region == "us-east-1"), "{name}");
    }
}

#[test]
fn the_dr_configs_are_billed_in_both_regions() {
    for name in ["two-region.toml", "multi-region.toml"] {
        let e = load(name);
        let by_region = e.by_region();
        for region in ["us-east-1", "us-west-2", "global"] {
            assert!(by_region.get(region).is_some_and(|usd| *usd > 0.0), "{name}: nothing in {region}");
        }
        let sources: Vec<&str> = e.sources.iter().map(|s| s.region.as_str()).collect();
        assert_eq!(sources, ["us-east-1", "us-west-2"], "{name}");
    }
}

#[test]
fn a_nat_gateway_per_zone_costs_a_gateway_and_an_address_more_than_one() {
    let per_az = text("fargate-postgres.toml");
    assert!(per_az.contains("nat = \"per-az\""));
    let single = per_az.replace("nat = \"per-az\"", "nat = \"single\"");
    let t = prices::table("us-east-1").unwrap().unwrap();
    let a = prices::assumptions().unwrap();
    let gateway = a.hours_per_month * t.nat_gateway.hour + a.nat_gb_per_gateway * t.nat_gateway.gb_processed;
    let address = a.hours_per_month * t.public_ipv4.hour;
    let d = delta(&estimate_text("f.toml", &single), &estimate_text("f.toml", &per_az));
    assert!((d - (gateway + address)).abs() < 1e-9, "{d} != {}", gateway + address);
}

#[test]
fn the_desired_count_and_instances_of_a_config_move_the_estimate() {
    let base = text("ha-stack.toml");
    let t = prices::table("us-east-1").unwrap().unwrap();
    let a = prices::assumptions().unwrap();
    // A third DocumentDB instance.
    let three = base.replace("instances = 2", "instances = 3");
    let d = delta(&estimate_text("h.toml", &base), &estimate_text("h.toml", &three));
    assert!((d - a.hours_per_month * t.docdb.instance_hour["db.r5.large"]).abs() < 1e-9, "{d}");
    // On EC2 the tasks run on the group's instances: a task more costs nothing more.
    let more_tasks = base.replacen("desired_count = 2", "desired_count = 3", 1);
    assert_ne!(more_tasks, base);
    let d = delta(&estimate_text("h.toml", &base), &estimate_text("h.toml", &more_tasks));
    assert!(d.abs() < 1e-9, "{d}");
}

/// fargate-postgres with `edit` applied, and what it costs more (or less) than without.
fn lever(edit: impl Fn(&str) -> String) -> (Estimate, f64) {
    let base = text("fargate-postgres.toml");
    let changed = edit(&base);
    assert_ne!(changed, base, "the edit changed nothing");
    let after = estimate_text("f.toml", &changed);
    assert!(after.unpriced.is_empty(), "{:?}", after.unpriced);
    let d = delta(&estimate_text("f.toml", &base), &after);
    (after, d)
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[test]
fn the_cost_levers_move_the_estimate_by_the_tables_amounts() {
    let t = prices::table("us-east-1").unwrap().unwrap();
    let a = prices::assumptions().unwrap();
    let h = a.hours_per_month;
    // [services.spot]: the second of the api's two tasks on FARGATE_SPOT.
    let (_, d) = lever(|s| {
        s.replacen(
            "# PostgreSQL on RDS",
            "[services.spot]\non_demand_base = 1\nspot_percent = 100\n\n# PostgreSQL on RDS",
            1,
        )
    });
    let task = h * (0.5 * t.fargate.vcpu_hour + 1.0 * t.fargate.gb_hour);
    assert_close(d, -task * t.fargate.spot_discount);
    // [database.proxy] in front of db.t3.medium (2 vCPUs).
    let (_, d) = lever(|s| format!("{s}\n[database.proxy]\n"));
    assert_close(d, 2.0 * h * t.rds_proxy.vcpu_hour);
    // Two interface endpoints in the two app subnets.
    let (_, d) = lever(|s| {
        s.replacen("s3_gateway = true\n", "s3_gateway = true\ninterface = [\"ecr.api\", \"logs\"]\n", 1)
    });
    let v = &t.vpc_endpoint;
    assert_close(d, 2.0 * (2.0 * h * v.interface_hour_per_az + a.endpoint_gb_per_endpoint * v.gb_processed));
    // [log_analytics]: the OpenSearch domain (2 × m6g.large.search, 20 GB each) and what
    // comes with it (its secret, the shipper's log group; the shipper is billed per use).
    let (after, d) = lever(|s| format!("{s}\n[log_analytics]\n"));
    let o = &t.opensearch;
    let domain = 2.0 * h * o.instance_hour["m6g.large.search"] + 2.0 * 20.0 * o.gp3_gb_month;
    let search: f64 =
        after.lines.iter().filter(|l| l.kind == "opensearch.domain").map(|l| l.monthly_usd).sum();
    assert_close(search, domain);
    assert!(d > domain + t.secrets_manager.secret_month, "{d}");
}

#[test]
fn spot_instances_in_the_group_cost_the_tables_discount_less() {
    let base = text("ha-stack.toml");
    let spot = format!("{base}\n[compute.spot]\non_demand_base = 1\nspot_percent = 100\n");
    let t = prices::table("us-east-1").unwrap().unwrap();
    let a = prices::assumptions().unwrap();
    let after = estimate_text("h.toml", &spot);
    assert!(after.unpriced.is_empty(), "{:?}", after.unpriced);
    let d = delta(&estimate_text("h.toml", &base), &after);
    assert_close(d, -a.hours_per_month * t.ec2.instance_hour["t3.medium"] * t.ec2.spot_discount);
}
