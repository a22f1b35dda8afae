//! The network tier end to end: apply, verify with the SDK, plan, edit, drift, destroy.

mod common;

use aws_sdk_ec2::types::Filter;
use common::{counts, ec2, full_counts, Stack};
use std::collections::{BTreeMap, BTreeSet};

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], k: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(k)).and_then(|t| t.value())
}

/// (protocol, from, to, source) of each ingress rule of a group, sources by group *name*.
async fn ingress(c: &aws_sdk_ec2::Client, s: &Stack, tier: &str) -> BTreeSet<(String, i32, i32, String)> {
    let groups = c.describe_security_groups().filters(s.tag_filter()).send().await.unwrap();
    let names: BTreeMap<String, String> = groups
        .security_groups()
        .iter()
        .map(|g| (g.group_id().unwrap().to_string(), g.group_name().unwrap().to_string()))
        .collect();
    let g = groups
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some(&format!("{}-{tier}", s.name)))
        .unwrap_or_else(|| panic!("group {tier}"));
    let mut out = BTreeSet::new();
    for p in g.ip_permissions() {
        let key = |src: String| {
            (
                p.ip_protocol().unwrap().to_string(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1),
                src,
            )
        };
        for r in p.ip_ranges() {
            out.insert(key(r.cidr_ip().unwrap().to_string()));
        }
        for u in p.user_id_group_pairs() {
            out.insert(key(format!("sg:{}", names[u.group_id().unwrap()])));
        }
    }
    out
}

/// One network ACL entry: (egress, rule number, protocol, from, to, CIDR, allow).
type AclEntry = (bool, i32, String, i32, i32, String, bool);

/// The stack's network ACLs by address: the CIDR blocks of their subnets, and their
/// entries (protocols by name, AWS's `*` entry left out).
async fn nacls(
    c: &aws_sdk_ec2::Client,
    s: &Stack,
) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<AclEntry>)> {
    let subnets = c.describe_subnets().filters(s.tag_filter()).send().await.unwrap();
    let cidr: BTreeMap<&str, &str> =
        subnets.subnets().iter().map(|x| (x.subnet_id().unwrap(), x.cidr_block().unwrap())).collect();
    let acls = c.describe_network_acls().filters(s.tag_filter()).send().await.unwrap();
    let mut out = BTreeMap::new();
    for a in acls.network_acls() {
        assert_eq!(a.is_default(), Some(false), "the stack never tags the default ACL");
        let subnets = a.associations().iter().map(|x| cidr[x.subnet_id().unwrap()].to_string()).collect();
        let entries = a
            .entries()
            .iter()
            .filter(|e| e.rule_number() != Some(32767))
            .map(|e| {
                let protocol = match e.protocol().unwrap() {
                    "6" => "tcp",
                    "17" => "udp",
                    other => other,
                };
                let (from, to) = e.port_range().map_or((-1, -1), |r| (r.from().unwrap(), r.to().unwrap()));
                let allow = e.rule_action() == Some(&aws_sdk_ec2::types::RuleAction::Allow);
                let cidr = e.cidr_block().unwrap().to_string();
                (e.egress().unwrap(), e.rule_number().unwrap(), protocol.to_string(), from, to, cidr, allow)
            })
            .collect();
        out.insert(tag(a.tags(), "hactl:address").unwrap().to_string(), (subnets, entries));
    }
    out
}

/// The subnets (by id) associated with the stack VPC's default network ACL, and its entries.
async fn default_acl(c: &aws_sdk_ec2::Client, s: &Stack) -> (BTreeSet<String>, Vec<String>) {
    let vpcs = c.describe_vpcs().filters(s.tag_filter()).send().await.unwrap();
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap();
    let acls = c
        .describe_network_acls()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(Filter::builder().name("default").values("true").build())
        .send()
        .await
        .unwrap();
    let acl = &acls.network_acls()[0];
    let subnets = acl.associations().iter().map(|a| a.subnet_id().unwrap().to_string()).collect();
    (subnets, acl.entries().iter().map(|e| format!("{e:?}")).collect())
}

fn entries(v: &[(bool, i32, &str, i32, i32, &str, bool)]) -> BTreeSet<AclEntry> {
    v.iter().map(|(e, n, p, f, t, c, a)| (*e, *n, p.to_string(), *f, *t, c.to_string(), *a)).collect()
}

fn cidrs(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|c| c.to_string()).collect()
}

fn rules(v: &[(&str, i32, i32, &str)]) -> BTreeSet<(String, i32, i32, String)> {
    v.iter().map(|(p, f, t, s)| (p.to_string(), *f, *t, s.to_string())).collect()
}

#[tokio::test]
async fn apply_creates_the_network_tier_plan_is_empty_and_destroy_leaves_nothing() {
    let s = Stack::new("net");
    let c = ec2().await;
    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(r.stderr.contains("Apply complete: 29 created"), "{}", r.stderr);

    assert_eq!(counts(&c, &s).await, full_counts());

    // The VPC, DNS on.
    let vpcs = c.describe_vpcs().filters(s.tag_filter()).send().await.unwrap();
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    for attr in [
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport,
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = c.describe_vpc_attribute().vpc_id(vpc_id).attribute(attr.clone()).send().await.unwrap();
        let on = a.enable_dns_support().or(a.enable_dns_hostnames()).and_then(|v| v.value());
        assert_eq!(on, Some(true), "{attr:?}");
    }

    // Six subnets over two AZs with the configured CIDRs; public ones map public IPs.
    let subnets = c.describe_subnets().filters(s.tag_filter()).send().await.unwrap();
    let got: BTreeSet<(String, String, bool)> = subnets
        .subnets()
        .iter()
        .map(|x| {
            (
                x.availability_zone().unwrap().to_string(),
                x.cidr_block().unwrap().to_string(),
                x.map_public_ip_on_launch().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, bool)> = [
        ("us-east-1a", "10.0.0.0/24", true),
        ("us-east-1b", "10.0.1.0/24", true),
        ("us-east-1a", "10.0.10.0/24", false),
        ("us-east-1b", "10.0.11.0/24", false),
        ("us-east-1a", "10.0.20.0/24", false),
        ("us-east-1b", "10.0.21.0/24", false),
    ]
    .iter()
    .map(|(a, b, p)| (a.to_string(), b.to_string(), *p))
    .collect();
    assert_eq!(got, want);
    let subnet_az: BTreeMap<String, (String, String)> = subnets
        .subnets()
        .iter()
        .map(|x| {
            (
                x.subnet_id().unwrap().to_string(),
                (x.availability_zone().unwrap().to_string(), x.cidr_block().unwrap().to_string()),
            )
        })
        .collect();

    // One IGW attached to the VPC.
    let igws = c.describe_internet_gateways().filters(s.tag_filter()).send().await.unwrap();
    let igw = &igws.internet_gateways()[0];
    assert_eq!(igw.attachments().len(), 1);
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id));

    // Two NAT gateways, each with one of the stack's EIPs, each in its AZ's public subnet.
    let eips = c.describe_addresses().filters(s.tag_filter()).send().await.unwrap();
    let eip_ids: BTreeSet<&str> = eips.addresses().iter().filter_map(|a| a.allocation_id()).collect();
    let nats = c.describe_nat_gateways().filter(s.tag_filter()).send().await.unwrap();
    let mut nat_by_az = BTreeMap::new();
    for n in nats.nat_gateways() {
        let alloc = n.nat_gateway_addresses()[0].allocation_id().unwrap();
        assert!(eip_ids.contains(alloc), "NAT {:?} uses a foreign EIP", n.nat_gateway_id());
        let (az, cidr) = &subnet_az[n.subnet_id().unwrap()];
        assert!(cidr == "10.0.0.0/24" || cidr == "10.0.1.0/24", "NAT in a non-public subnet {cidr}");
        assert!(tag(n.tags(), "Name").unwrap().ends_with(az.as_str()));
        nat_by_az.insert(az.clone(), n.nat_gateway_id().unwrap().to_string());
    }
    assert_eq!(nat_by_az.len(), 2, "one NAT per AZ");

    // Routes: public → IGW; each private table → its own AZ's NAT; subnets associated.
    let rts = c.describe_route_tables().filters(s.tag_filter()).send().await.unwrap();
    for t in rts.route_tables() {
        let default = t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("default route");
        let assoc_azs: BTreeSet<String> =
            t.associations().iter().filter_map(|a| a.subnet_id()).map(|id| subnet_az[id].0.clone()).collect();
        if tag(t.tags(), "hactl:address") == Some("route_table.public") {
            assert_eq!(default.gateway_id(), igw.internet_gateway_id());
            assert_eq!(t.associations().len(), 2, "both public subnets");
        } else {
            assert_eq!(assoc_azs.len(), 1, "a private table serves one AZ");
            let az = assoc_azs.iter().next().unwrap();
            assert_eq!(default.nat_gateway_id(), Some(nat_by_az[az].as_str()), "private table of {az}");
            assert_eq!(t.associations().len(), 2, "app + data subnets of {az}");
        }
    }

    // Security groups with exactly the specified rules.
    assert_eq!(
        ingress(&c, &s, "alb").await,
        rules(&[("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0")])
    );
    let alb = format!("sg:{}-alb", s.name);
    let app = format!("sg:{}-app", s.name);
    assert_eq!(ingress(&c, &s, "app").await, rules(&[("tcp", 3000, 3000, &alb)]));
    assert_eq!(ingress(&c, &s, "db").await, rules(&[("tcp", 27017, 27017, &app)]));

    // A network ACL per tier, associated with exactly that tier's subnets: each tier
    // reachable only from the one above, answers back, the services' port closed to the rest.
    let (any, eph) = ("0.0.0.0/0", 1024);
    let (app_a, app_b) = ("10.0.10.0/24", "10.0.11.0/24");
    let want = BTreeMap::from([
        (
            "nacl.public".to_string(),
            (
                cidrs(&["10.0.0.0/24", "10.0.1.0/24"]),
                entries(&[
                    (false, 100, "tcp", 80, 80, any, true),
                    (false, 101, "tcp", 443, 443, any, true),
                    (false, 300, "-1", -1, -1, app_a, true),
                    (false, 301, "-1", -1, -1, app_b, true),
                    (false, 900, "tcp", eph, 65535, any, true),
                    (true, 900, "-1", -1, -1, any, true),
                ]),
            ),
        ),
        (
            "nacl.app".to_string(),
            (
                cidrs(&[app_a, app_b]),
                entries(&[
                    (false, 100, "tcp", 3000, 3000, "10.0.0.0/24", true),
                    (false, 101, "tcp", 3000, 3000, "10.0.1.0/24", true),
                    (false, 300, "-1", -1, -1, app_a, true),
                    (false, 301, "-1", -1, -1, app_b, true),
                    (false, 900, "tcp", 32768, 65535, any, true),
                    (true, 900, "-1", -1, -1, any, true),
                ]),
            ),
        ),
        (
            "nacl.data".to_string(),
            (
                cidrs(&["10.0.20.0/24", "10.0.21.0/24"]),
                entries(&[
                    (false, 300, "tcp", 27017, 27017, app_a, true),
                    (false, 301, "tcp", 27017, 27017, app_b, true),
                    (true, 300, "tcp", eph, 65535, app_a, true),
                    (true, 301, "tcp", eph, 65535, app_b, true),
                ]),
            ),
        ),
    ]);
    assert_eq!(nacls(&c, &s).await, want);

    // Everything tagged with the stack, its address and the config's tags.
    let mut all_tags: Vec<Vec<aws_sdk_ec2::types::Tag>> = Vec::new();
    all_tags.push(vpc.tags().to_vec());
    all_tags.extend(subnets.subnets().iter().map(|x| x.tags().to_vec()));
    all_tags.extend(igws.internet_gateways().iter().map(|x| x.tags().to_vec()));
    all_tags.extend(eips.addresses().iter().map(|x| x.tags().to_vec()));
    all_tags.extend(nats.nat_gateways().iter().map(|x| x.tags().to_vec()));
    all_tags.extend(rts.route_tables().iter().map(|x| x.tags().to_vec()));
    for t in &all_tags {
        assert_eq!(tag(t, "hactl:stack"), Some(s.name.as_str()));
        assert!(tag(t, "hactl:address").is_some());
        assert_eq!(tag(t, "Project"), Some("hactl-demo"));
        assert!(tag(t, "Name").is_some());
    }

    // A plan right after apply: no changes, exit 0.
    let p = s.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(p.stdout.contains("No changes"), "{}", p.stdout);
    let list = s.ok(&["state", "list"], 0);
    assert_eq!(list.stdout.lines().count(), 29);
    let show = s.ok(&["state", "show", "vpc.main"], 0);
    assert!(show.stdout.contains(vpc_id));
    let dot = s.ok(&["graph"], 0);
    assert!(
        dot.stdout.starts_with("digraph")
            && dot.stdout.contains("\"nat.us-east-1a\" -> \"eip.nat.us-east-1a\"")
    );

    // Destroy: nothing with the stack's tag is left, and the state is empty.
    let d = s.ok(&["destroy", "--auto-approve"], 0);
    assert!(d.stderr.contains("Destroy complete"), "{}", d.stderr);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
    assert_eq!(s.state()["resources"].as_object().unwrap().len(), 0);
    // And a second destroy has nothing to do.
    s.ok(&["destroy", "--auto-approve"], 0);
}

#[tokio::test]
async fn config_edits_give_exactly_the_expected_plan_and_converge() {
    let s = Stack::new("edit");
    let c = ec2().await;
    s.ok(&["apply", "--auto-approve"], 0);
    s.edit(|t| {
        let t = t.replace("data_subnets = [\"10.0.20.0/24\", \"10.0.21.0/24\"]", "data_subnets = [\"10.0.20.0/24\", \"10.0.31.0/24\"]");
        format!(
            "{t}\n[[security.extra_ingress]]\ngroup = \"app\"\nprotocol = \"tcp\"\nport = 22\ncidr = \"10.0.0.0/16\"\ndescription = \"ssh from the VPC\"\n\n[resource_tags.\"vpc.main\"]\nCostCenter = \"4242\"\n"
        )
    });
    let p = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let mut got: Vec<(String, String)> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["address"].as_str().unwrap().to_string(), a["action"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("nacl.app".to_string(), "update".to_string()),
            ("nacl.data".to_string(), "update".to_string()),
            ("sg_rules.app".to_string(), "update".to_string()),
            ("subnet.data.us-east-1b".to_string(), "replace".to_string()),
            ("vpc.main".to_string(), "update".to_string()),
        ],
        "{}",
        p.stdout
    );
    let replace = plan["actions"].as_array().unwrap().iter().find(|a| a["action"] == "replace").unwrap();
    assert_eq!(replace["reason"], "cidr_block forces replacement");

    // The human plan shows the symbols and before → after.
    let h = s.ok(&["plan"], 0);
    assert!(h.stdout.contains("-/+ subnet.data.us-east-1b"), "{}", h.stdout);
    assert!(
        h.stdout.contains("~ cidr_block: \"10.0.21.0/24\" → \"10.0.31.0/24\" (forces replacement)"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("Plan: 0 to create, 4 to update, 1 to replace, 0 to delete."), "{}", h.stdout);

    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Verified in EC2.
    let sub = c
        .describe_subnets()
        .filters(s.tag_filter())
        .filters(Filter::builder().name("tag:hactl:address").values("subnet.data.us-east-1b").build())
        .send()
        .await
        .unwrap();
    assert_eq!(sub.subnets().len(), 1);
    assert_eq!(sub.subnets()[0].cidr_block(), Some("10.0.31.0/24"));
    let vpc = c.describe_vpcs().filters(s.tag_filter()).send().await.unwrap();
    assert_eq!(tag(vpc.vpcs()[0].tags(), "CostCenter"), Some("4242"));
    let alb = format!("sg:{}-alb", s.name);
    assert_eq!(
        ingress(&c, &s, "app").await,
        rules(&[("tcp", 3000, 3000, &alb), ("tcp", 22, 22, "10.0.0.0/16")])
    );
    // The new subnet is associated with its AZ's private table.
    let rts = c
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .values(sub.subnets()[0].subnet_id().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tag(rts.route_tables()[0].tags(), "hactl:address"), Some("route_table.private.us-east-1b"));
    // And with the data tier's network ACL; the ssh rule passes the app tier's ACL too.
    let acls = nacls(&c, &s).await;
    assert_eq!(acls["nacl.data"].0, cidrs(&["10.0.20.0/24", "10.0.31.0/24"]));
    assert!(acls["nacl.app"].1.contains(&(false, 500, "tcp".into(), 22, 22, "10.0.0.0/16".into(), true)));
    assert_eq!(counts(&c, &s).await, full_counts());

    // Network ACLs turned off: the subnets go back to the VPC's default ACL, which
    // was never changed, and the stack's ACLs are gone.
    let default_before = default_acl(&c, &s).await;
    let on = "network ACL (default true).\nenabled = true";
    s.edit(|t| {
        assert!(t.contains(on), "the fixture lost its [network_acls] section");
        t.replace(on, "network ACL (default true).\nenabled = false")
    });
    let r = s.ok(&["apply", "--auto-approve"], 0);
    assert!(r.stderr.contains("3 deleted"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await.network_acls, 0);
    let default_after = default_acl(&c, &s).await;
    assert_eq!(default_after.0.len(), 6, "all six subnets back on the default ACL");
    assert_eq!(default_after.1, default_before.1, "the default ACL's entries are untouched");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn out_of_band_changes_are_reported_by_drift_and_repaired_by_apply() {
    let s = Stack::new("drift");
    let c = ec2().await;
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["drift"], 0);
    let state = s.state();
    let id =
        |a: &str| state["resources"][a]["id"].as_str().unwrap_or_else(|| panic!("{a} in state")).to_string();

    // 1. a rule added to the db group
    c.authorize_security_group_ingress()
        .group_id(id("sg.db"))
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 2. a tag changed on an app subnet
    c.create_tags()
        .resources(id("subnet.app.us-east-1a"))
        .tags(aws_sdk_ec2::types::Tag::builder().key("Environment").value("prod").build())
        .send()
        .await
        .unwrap();
    // 3. a route deleted
    c.delete_route()
        .route_table_id(id("route_table.private.us-east-1b"))
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    // 4. a subnet deleted
    c.delete_subnet().subnet_id(id("subnet.data.us-east-1a")).send().await.unwrap();
    // 5. an entry added to the app tier's network ACL
    c.create_network_acl_entry()
        .network_acl_id(id("nacl.app"))
        .rule_number(50)
        .protocol("6")
        .port_range(aws_sdk_ec2::types::PortRange::builder().from(22).to(22).build())
        .cidr_block("0.0.0.0/0")
        .rule_action(aws_sdk_ec2::types::RuleAction::Allow)
        .egress(false)
        .send()
        .await
        .unwrap();

    let d = s.ok(&["drift", "--json"], 2);
    let report: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    let changed = |addr: &str| {
        report["changed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == addr)
            .cloned()
            .unwrap_or_else(|| panic!("{addr} not reported: {}", d.stdout))
    };
    let rules = changed("sg_rules.db");
    let ch = &rules["changes"][0];
    assert_eq!(ch["property"], "ingress");
    assert_eq!(ch["expected"].as_array().unwrap().len(), 1);
    assert_eq!(ch["actual"].as_array().unwrap().len(), 2);
    assert!(ch["actual"].to_string().contains("\"from_port\":5432"), "{ch}");
    let tags = changed("subnet.app.us-east-1a");
    assert_eq!(tags["changes"][0]["property"], "tags");
    assert_eq!(tags["changes"][0]["expected"]["Environment"], "dev");
    assert_eq!(tags["changes"][0]["actual"]["Environment"], "prod");
    let deleted: BTreeSet<&str> =
        report["deleted"].as_array().unwrap().iter().map(|d| d["address"].as_str().unwrap()).collect();
    assert_eq!(
        deleted,
        BTreeSet::from(["route.private.us-east-1b.default", "subnet.data.us-east-1a"]),
        "{}",
        d.stdout
    );
    let acl = changed("nacl.app");
    assert_eq!(acl["changes"][0]["property"], "ingress");
    assert!(acl["changes"][0]["actual"].to_string().contains("\"rule_number\":50"), "{acl}");
    assert!(!acl["changes"][0]["expected"].to_string().contains("\"rule_number\":50"), "{acl}");
    // The deleted subnet left the data tier's ACL too.
    assert_eq!(changed("nacl.data")["changes"][0]["property"], "subnet_ids");
    assert_eq!(report["changed"].as_array().unwrap().len(), 4, "{}", d.stdout);

    // The human report names each one.
    let h = s.ok(&["drift"], 2);
    assert!(
        h.stdout.contains("Drift on stack") && h.stdout.contains("- route.private.us-east-1b.default"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("Environment: \"dev\" → \"prod\""), "{}", h.stdout);

    // Apply repairs all five; drift is clean again.
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["drift"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    let db = format!("sg:{}-app", s.name);
    assert_eq!(ingress(&c, &s, "db").await, BTreeSet::from([("tcp".to_string(), 27017, 27017, db)]));
    let rt =
        c.describe_route_tables().route_table_ids(id("route_table.private.us-east-1b")).send().await.unwrap();
    assert!(rt.route_tables()[0]
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.nat_gateway_id().is_some()));
    let sub = c.describe_subnets().filters(s.tag_filter()).send().await.unwrap();
    assert!(sub.subnets().iter().all(|x| tag(x.tags(), "Environment") == Some("dev")));
    let acls = nacls(&c, &s).await;
    assert!(acls["nacl.app"].1.iter().all(|e| e.1 != 50), "the out-of-band entry is gone");
    assert_eq!(acls["nacl.data"].0, cidrs(&["10.0.20.0/24", "10.0.21.0/24"]), "the new subnet is associated");
    assert_eq!(counts(&c, &s).await, full_counts());

    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn nat_modes_and_interface_endpoints() {
    let s = Stack::new("modes");
    let c = ec2().await;
    s.edit(|t| {
        t.replace("nat = \"per-az\"", "nat = \"single\"")
            .replace("interface = []", "interface = [\"secretsmanager\"]")
    });
    s.ok(&["apply", "--auto-approve"], 0);
    let n = counts(&c, &s).await;
    assert_eq!((n.nats, n.eips, n.security_groups, n.endpoints), (1, 1, 4, 2), "{n:?}");
    let nats = c.describe_nat_gateways().filter(s.tag_filter()).send().await.unwrap();
    let nat = nats.nat_gateways()[0].nat_gateway_id().unwrap();
    let rts = c.describe_route_tables().filters(s.tag_filter()).send().await.unwrap();
    let private_defaults: Vec<Option<&str>> = rts
        .route_tables()
        .iter()
        .filter(|t| tag(t.tags(), "hactl:address").is_some_and(|a| a.starts_with("route_table.private")))
        .map(|t| {
            t.routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .and_then(|r| r.nat_gateway_id())
        })
        .collect();
    assert_eq!(private_defaults, vec![Some(nat), Some(nat)]);
    let eps = c
        .describe_vpc_endpoints()
        .filters(s.tag_filter())
        .filters(Filter::builder().name("vpc-endpoint-type").values("Interface").build())
        .send()
        .await
        .unwrap();
    let ep = &eps.vpc_endpoints()[0];
    assert_eq!(ep.service_name(), Some("com.amazonaws.us-east-1.secretsmanager"));
    assert_eq!(ep.subnet_ids().len(), 2);
    // The endpoint's group admits HTTPS and lets nothing out (an endpoint only answers).
    let group = ep.groups().first().and_then(|g| g.group_id()).expect("endpoint group").to_string();
    let rules = c
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(&group).build())
        .send()
        .await
        .unwrap();
    let (egress, ingress): (Vec<_>, Vec<_>) = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.group_id() == Some(group.as_str()))
        .partition(|r| r.is_egress() == Some(true));
    assert!(egress.is_empty(), "the endpoint group allows egress: {egress:?}");
    assert!(!ingress.is_empty() && ingress.iter().all(|r| r.from_port() == Some(443)), "{ingress:?}");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // per-az again: one more NAT, the b table moves to it.
    s.edit(|t| t.replace("nat = \"single\"", "nat = \"per-az\""));
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(counts(&c, &s).await.nats, 2);
    // and back to single: the b NAT and its EIP go after the b route moved.
    s.edit(|t| t.replace("nat = \"per-az\"", "nat = \"single\""));
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    let n = counts(&c, &s).await;
    assert_eq!((n.nats, n.eips), (1, 1));

    s.ok(&["destroy", "--auto-approve"], 0);
    assert_eq!(counts(&c, &s).await, common::Counts::default());
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_and_refused_once_state_moved() {
    let s = Stack::new("saved");
    let c = ec2().await;
    let plan_file = s.dir.path().join("plan.json");
    let p = plan_file.to_str().unwrap();
    s.ok(&["plan", "--out", p], 0);
    let stale = s.dir.path().join("stale.json");
    std::fs::copy(&plan_file, &stale).unwrap();
    let r = s.ok(&["apply", p], 0);
    assert!(r.stderr.contains("Apply complete: 29 created"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await, full_counts());
    let r = s.ok(&["apply", stale.to_str().unwrap()], 1);
    assert!(r.stderr.contains("make a new plan"), "{}", r.stderr);
    assert_eq!(counts(&c, &s).await, full_counts(), "nothing applied twice");
    s.ok(&["destroy", "--auto-approve"], 0);
}
