//! The estimator on hand-made resources: every change moves the estimate by exactly the
//! table's amount; what cannot be priced is said, never zero.

use crate::prices::{self, PriceTable};
use crate::{delta, estimate, Category, Estimate, Item, GLOBAL};
use hactl_core::{Address, Props, Value};

/// An owned resource the tests build; [`est`] lends it as an [`Item`].
#[derive(Clone)]
struct R {
    address: Address,
    kind: String,
    region: Option<String>,
    props: Props,
    deps: Vec<Address>,
}

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn r(address: &str, kind: &str) -> R {
    R {
        address: a(address),
        kind: kind.into(),
        region: Some("us-east-1".into()),
        props: Props::new(),
        deps: Vec::new(),
    }
}

impl R {
    fn p(mut self, name: &str, v: impl Into<Value>) -> R {
        self.props.insert(name.into(), v.into());
        self
    }
    fn dep(mut self, on: &str) -> R {
        self.deps.push(a(on));
        self
    }
    fn at(mut self, region: Option<&str>) -> R {
        self.region = region.map(str::to_string);
        self
    }
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn est(home: &str, rs: &[R]) -> Estimate {
    let items: Vec<Item<'_>> = rs
        .iter()
        .map(|r| Item {
            address: &r.address,
            kind: &r.kind,
            region: r.region.as_deref(),
            props: &r.props,
            deps: &r.deps,
        })
        .collect();
    estimate(home, &items).unwrap()
}

fn table(region: &str) -> PriceTable {
    prices::table(region).unwrap().unwrap()
}

fn hours() -> f64 {
    prices::assumptions().unwrap().hours_per_month
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

/// A Fargate service of `count` tasks of 512 CPU units and 1024 MiB, with its task
/// definition.
fn fargate_service(count: i64) -> Vec<R> {
    vec![
        r("task_definition.api", "ecs.task_definition").p("cpu", "512").p("memory", "1024"),
        r("ecs_service.api", "ecs.service")
            .p("desired_count", count)
            .p("launch_type", "FARGATE")
            .dep("task_definition.api"),
    ]
}

#[test]
fn a_task_more_adds_its_vcpu_and_memory_hours() {
    let f = table("us-east-1").fargate;
    let per_task = hours() * (0.5 * f.vcpu_hour + 1.0 * f.gb_hour);
    let two = est("us-east-1", &fargate_service(2));
    let three = est("us-east-1", &fargate_service(3));
    close(delta(&two, &three), per_task);
    close(two.monthly_usd, 2.0 * per_task);
    assert!(two.unpriced.is_empty(), "{:?}", two.unpriced);
    assert_eq!(
        two.lines[0].detail,
        "2 tasks on FARGATE × 730 h × (0.5 vCPU × $0.04048/vCPU-h + 1 GB × $0.004445/GB-h)"
    );
}

#[test]
fn the_fargate_spot_share_is_priced_at_the_discount() {
    let f = table("us-east-1").fargate;
    let per_task = hours() * (0.5 * f.vcpu_hour + f.gb_hour);
    let strategy = |spot_weight: i64| {
        Value::List(vec![
            map(&[("capacity_provider", "FARGATE".into()), ("weight", 0.into()), ("base", 1.into())]),
            map(&[
                ("capacity_provider", "FARGATE_SPOT".into()),
                ("weight", spot_weight.into()),
                ("base", 0.into()),
            ]),
        ])
    };
    let spot = |count: i64, spot_weight: i64| {
        let mut rs = fargate_service(count);
        rs[1] = rs[1]
            .clone()
            .p("launch_type", Value::Null)
            .p("capacity_provider_strategy", strategy(spot_weight));
        est("us-east-1", &rs)
    };
    // The base task on FARGATE, the other one on FARGATE_SPOT.
    close(delta(&est("us-east-1", &fargate_service(2)), &spot(2, 1)), -per_task * f.spot_discount);
    // A third task goes to Spot too.
    close(delta(&spot(2, 1), &spot(3, 1)), per_task * (1.0 - f.spot_discount));
    let three = spot(3, 1);
    let lines: Vec<&str> = three.lines.iter().map(|l| l.detail.as_str()).collect();
    assert!(lines[0].starts_with("1 task on FARGATE ×"), "{lines:?}");
    assert!(
        lines[1].starts_with("2 tasks on FARGATE_SPOT ×") && lines[1].ends_with("× (1 − 70 %)"),
        "{lines:?}"
    );
}

#[test]
fn a_service_on_the_groups_capacity_provider_is_priced_with_the_group() {
    let mut rs = fargate_service(2);
    let provider = Value::Ref(hactl_core::Ref::new(&a("capacity_provider.asg"), "name"));
    let strategy = Value::List(vec![map(&[("capacity_provider", provider), ("weight", 1.into())])]);
    rs[1] = rs[1].clone().p("launch_type", Value::Null).p("capacity_provider_strategy", strategy);
    let e = est("us-east-1", &rs);
    assert!(e.lines.is_empty() && e.unpriced.is_empty(), "{:?} {:?}", e.lines, e.unpriced);
}

fn group(desired: i64, itype: &str, mixed: Value) -> Vec<R> {
    let volume = map(&[("volume_size", 30.into()), ("volume_type", "gp3".into())]);
    vec![
        r("launch_template.ecs", "ec2.launch_template").p("instance_type", itype).p("root_volume", volume),
        r("asg.ecs", "autoscaling.group")
            .p("desired_capacity", desired)
            .p("mixed_instances", mixed)
            .dep("launch_template.ecs"),
    ]
}

#[test]
fn an_instance_more_in_the_group_adds_its_hours_and_volume() {
    let e = table("us-east-1").ec2;
    let per_instance = hours() * e.instance_hour["t3.medium"] + 30.0 * e.gp3_gb_month;
    let two = est("us-east-1", &group(2, "t3.medium", Value::Null));
    close(delta(&two, &est("us-east-1", &group(3, "t3.medium", Value::Null))), per_instance);
    let bigger = est("us-east-1", &group(2, "t3.large", Value::Null));
    close(delta(&two, &bigger), 2.0 * hours() * (e.instance_hour["t3.large"] - e.instance_hour["t3.medium"]));
    // A mixed-instances policy: one on-demand, the other on Spot.
    let mixed = map(&[
        ("instance_types", Value::from_strings(["t3.medium", "t3a.medium"])),
        ("on_demand_base", 1.into()),
        ("on_demand_percent_above_base", 0.into()),
    ]);
    let spot = est("us-east-1", &group(2, "t3.medium", mixed));
    close(delta(&two, &spot), -hours() * e.instance_hour["t3.medium"] * e.spot_discount);
}

fn postgres(class: &str, multi_az: bool) -> R {
    r("db_instance.main", "rds.instance")
        .p("engine", "postgres")
        .p("instance_class", class)
        .p("multi_az", multi_az)
        .p("allocated_storage", 20)
        .p("storage_type", "gp3")
        .p("manage_master_password", true)
}

#[test]
fn an_rds_class_change_costs_the_class_difference_and_multi_az_doubles() {
    let p = table("us-east-1").rds;
    let hour = |c: &str| p.postgres_hour[c];
    let medium = est("us-east-1", &[postgres("db.t3.medium", true)]);
    let large = est("us-east-1", &[postgres("db.t3.large", true)]);
    close(delta(&medium, &large), (hour("db.t3.large") - hour("db.t3.medium")) * hours() * 2.0);
    let single = est("us-east-1", &[postgres("db.t3.medium", false)]);
    close(delta(&single, &medium), hour("db.t3.medium") * hours() + 20.0 * p.gp3_gb_month);
    // The managed password's secret is counted once, Multi-AZ or not.
    let secrets: Vec<_> = medium.lines.iter().filter(|l| l.category == Category::Secrets).collect();
    assert_eq!(secrets.len(), 1);
    close(secrets[0].monthly_usd, table("us-east-1").secrets_manager.secret_month);
}

#[test]
fn the_proxy_bills_its_instances_vcpus_at_least_two() {
    let proxy = r("db_proxy.main", "rds.db_proxy").dep("db_instance.main").dep("sg_rules.db_proxy");
    let p = table("us-east-1").rds_proxy;
    let base = est("us-east-1", &[postgres("db.m5.xlarge", true)]);
    let with = est("us-east-1", &[postgres("db.m5.xlarge", true), proxy.clone()]);
    close(delta(&base, &with), 4.0 * hours() * p.vcpu_hour);
    let small = est("us-east-1", &[postgres("db.t3.micro", true), proxy.clone()]);
    close(
        small.lines.iter().filter(|l| l.kind == "rds.db_proxy").map(|l| l.monthly_usd).sum(),
        2.0 * hours() * p.vcpu_hour,
    );
    // Without its instance among the items, the proxy is unpriced, not free.
    let alone = est("us-east-1", &[proxy]);
    assert_eq!(alone.unpriced[0].reason, "no rds.instance among its dependencies");
}

fn docdb(instances: usize) -> Vec<R> {
    let cluster = r("db_cluster.main", "docdb.cluster").p("manage_master_password", false);
    let mut rs = vec![cluster];
    for n in 1..=instances {
        rs.push(
            r(&format!("db_instance.{n}"), "docdb.instance")
                .p("instance_class", "db.r5.large")
                .p("cluster_identifier", Value::Ref(hactl_core::Ref::new(&a("db_cluster.main"), "id")))
                .dep("db_cluster.main"),
        );
    }
    rs
}

#[test]
fn a_documentdb_instance_more_adds_its_class_hours() {
    let d = table("us-east-1").docdb;
    close(
        delta(&est("us-east-1", &docdb(2)), &est("us-east-1", &docdb(3))),
        hours() * d.instance_hour["db.r5.large"],
    );
    let a = prices::assumptions().unwrap();
    let cluster: f64 = est("us-east-1", &docdb(0)).monthly_usd;
    close(cluster, a.db_storage_gb * d.storage_gb_month + a.docdb_io_millions * d.io_million);
}

#[test]
fn unknown_regions_classes_and_values_are_unpriced_never_zero() {
    let e = est(
        "us-east-1",
        &[postgres("db.x2g.large", true), r("nat.a", "ec2.nat_gateway").at(Some("ap-south-2"))],
    );
    let reasons: Vec<&str> = e.unpriced.iter().map(|u| u.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "instance class db.x2g.large is not in the price table of us-east-1",
            "no price table for region ap-south-2"
        ]
    );
    assert!(e.lines.iter().all(|l| l.kind != "ec2.nat_gateway" && l.category != Category::Database));
    let unknown = est(
        "us-east-1",
        &[fargate_service(2)[0].clone(), fargate_service(2)[1].clone().p("desired_count", Value::Unknown)],
    );
    assert_eq!(unknown.unpriced[0].reason, "desired_count of ecs_service.api is not known yet");
    assert!(unknown.lines.is_empty());
    let strange = est("us-east-1", &[r("thing.main", "ec2.transit_gateway")]);
    assert_eq!(strange.unpriced[0].reason, "kind ec2.transit_gateway has no pricing rule");
}

#[test]
fn a_global_kind_is_priced_from_the_home_regions_table() {
    let dashboard = r("dashboard.main", "cloudwatch.dashboard").at(None);
    let zone = r("dns_zone.main", "route53.hosted_zone").at(Some("us-west-2"));
    let e = est("eu-central-1", &[dashboard.clone(), zone]);
    assert!(e.lines.iter().all(|l| l.region == GLOBAL), "{:?}", e.lines);
    let t = table("eu-central-1");
    close(e.monthly_usd, t.cloudwatch.dashboard_month + t.route53.hosted_zone_month);
    assert_eq!(e.sources.iter().map(|s| s.region.as_str()).collect::<Vec<_>>(), ["eu-central-1"]);
    let nowhere = est("ap-south-2", &[dashboard]);
    assert_eq!(
        nowhere.unpriced[0].reason,
        "no price table for region ap-south-2 (the home region's: it prices global kinds)"
    );
}

#[test]
fn a_secrets_replica_is_billed_in_its_region() {
    let secret =
        r("secret.db", "secretsmanager.secret").p("replica_regions", Value::from_strings(["us-west-2"]));
    let e = est("us-east-1", std::slice::from_ref(&secret));
    let by_region = e.by_region();
    assert_eq!(by_region.keys().collect::<Vec<_>>(), ["us-east-1", "us-west-2"]);
    close(by_region["us-west-2"], table("us-west-2").secrets_manager.secret_month);
    let far = est("us-east-1", &[secret.p("replica_regions", Value::from_strings(["ap-south-2"]))]);
    assert_eq!(far.lines.len(), 1);
    assert_eq!(far.unpriced[0].reason, "its replica in ap-south-2: no price table for region ap-south-2");
}

#[test]
fn load_balancers_and_endpoints_pay_per_zone() {
    let t = table("eu-west-1");
    let asm = prices::assumptions().unwrap();
    let subnets = Value::from_strings(["subnet-a", "subnet-b", "subnet-c"]);
    let lb = |scheme: &str| {
        r("alb.x", "elbv2.load_balancer")
            .at(Some("eu-west-1"))
            .p("scheme", scheme)
            .p("subnet_ids", subnets.clone())
    };
    let internal = est("us-east-1", &[lb("internal")]);
    close(internal.monthly_usd, hours() * (t.load_balancer.hour + asm.alb_lcus * t.load_balancer.lcu_hour));
    close(delta(&internal, &est("us-east-1", &[lb("internet-facing")])), 3.0 * hours() * t.public_ipv4.hour);
    let endpoint = |kind: &str| {
        r("vpce.ecr-api", "ec2.vpc_endpoint")
            .at(Some("eu-west-1"))
            .p("vpc_endpoint_type", kind)
            .p("subnet_ids", subnets.clone())
    };
    assert!(est("us-east-1", &[endpoint("Gateway")]).lines.is_empty());
    let v = &t.vpc_endpoint;
    let want = 3.0 * hours() * v.interface_hour_per_az + asm.endpoint_gb_per_endpoint * v.gb_processed;
    close(est("us-east-1", &[endpoint("Interface")]).monthly_usd, want);
}

#[test]
fn the_json_echoes_totals_lines_assumptions_and_sources() {
    let e = est("us-east-1", &fargate_service(2));
    let j = e.to_json();
    assert_eq!(j["monthly_usd"], serde_json::json!((e.monthly_usd * 100.0).round() / 100.0));
    assert_eq!(j["assumptions"]["hours_per_month"], serde_json::json!(730.0));
    assert_eq!(j["lines"][0]["address"], "ecs_service.api");
    assert_eq!(j["lines"][0]["category"], "compute");
    assert_eq!(j["by_region"]["us-east-1"], j["monthly_usd"]);
    assert_eq!(j["sources"][0]["pages"]["fargate"], "https://aws.amazon.com/fargate/pricing/");
    assert_eq!(j["sources"][0]["taken"], "2025-01");
    assert_eq!(e.by_category().keys().copied().collect::<Vec<_>>(), [Category::Compute]);
}

#[test]
fn every_kind_hactl_knows_is_priced_or_declared_free() {
    let mut unruled = Vec::new();
    for k in hactl_core::kinds::all() {
        if crate::rules::rule(k.schema.kind).is_none() {
            unruled.push(k.schema.kind);
        }
    }
    assert!(unruled.is_empty(), "no pricing rule for {unruled:?}");
    for k in crate::FREE_KINDS.iter().chain(crate::USAGE_KINDS) {
        assert!(hactl_core::kinds::info(k).is_some(), "{k} is not a kind of hactl's");
        assert!(!(crate::FREE_KINDS.contains(k) && crate::USAGE_KINDS.contains(k)), "{k} is listed twice");
    }
}
