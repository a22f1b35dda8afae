//! The rules read from the expanded desired graph: what hactl builds whatever the config
//! says, so that a regression of the expansion is caught. HL001 (security group rules and
//! network ACL entries hactl writes itself), HL002 (a public database or data subnet),
//! HL003 (encryption at rest), HL004 (TLS of the listeners, the databases, the proxy and
//! the log analytics domain), HL009 (NotAction, and wildcards the config did not write,
//! in the task roles). What the config wrote is checked where it is written
//! (`config_rules.rs`) and skipped here.

use super::config_rules::{covers, describe_ports, is_wildcard, TASK_ANSWERS_FROM};
use super::{Ctx, HL001, HL002, HL003, HL004, HL009};
use crate::model::{RuleSource, Tier};
use crate::validate::TLS12_POLICIES;
use hactl_core::kinds::{docdb, ec2, ecr, elbv2, iam, opensearch, rds, s3};
use hactl_core::{DesiredGraph, ResourceSpec, Value};
use std::collections::BTreeMap;

/// The OpenSearch TLS policies that accept TLS 1.2 and later only.
const OPENSEARCH_TLS12: &[&str] = &["Policy-Min-TLS-1-2-2019-07", "Policy-Min-TLS-1-2-PFS-2023-10"];
/// The server-side encryption an S3 bucket or ECR repository may use.
const S3_ALGORITHMS: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse"];
const ECR_ENCRYPTION: &[&str] = &["AES256", "KMS", "KMS_DSSE"];
/// hactl's own network ACL entry numbers (the user's are outside them).
const OWN_ACL_NUMBERS: std::ops::RangeInclusive<i64> = 100..=999;

pub(super) fn check(cx: &mut Ctx<'_>, graph: &DesiredGraph) {
    for spec in graph.specs() {
        match spec.kind.as_str() {
            rds::Instance::KIND => rds_instance(cx, graph, spec),
            docdb::Cluster::KIND => docdb_cluster(cx, graph, spec),
            rds::DbProxy::KIND if !is_true(spec, rds::DbProxy::REQUIRE_TLS) => {
                cx.at_table(&HL004, "database.proxy", format!("{} does not require TLS", what(spec)));
            }
            ec2::LaunchTemplate::KIND => {
                let encrypted = prop(spec, ec2::LaunchTemplate::ROOT_VOLUME)
                    .and_then(Value::as_map)
                    .and_then(|m| m.get("encrypted"))
                    .and_then(Value::as_bool);
                if encrypted != Some(true) {
                    cx.at_table(&HL003, "compute", format!("{}'s root volume is not encrypted", what(spec)));
                }
            }
            s3::Bucket::KIND => {
                let algorithm = prop(spec, s3::Bucket::ENCRYPTION)
                    .and_then(Value::as_map)
                    .and_then(|m| m.get("algorithm"))
                    .and_then(Value::as_str);
                if !algorithm.is_some_and(|a| S3_ALGORITHMS.contains(&a)) {
                    let msg = format!("{} has no default encryption", what(spec));
                    cx.at_table(&HL003, "log_analytics", msg);
                }
            }
            ecr::Repository::KIND => {
                let t = prop(spec, ecr::Repository::ENCRYPTION_TYPE).and_then(Value::as_str);
                if !t.is_some_and(|t| ECR_ENCRYPTION.contains(&t)) {
                    cx.at_table(&HL003, "ecr", format!("{} has no encryption type", what(spec)));
                }
            }
            opensearch::Domain::KIND => opensearch_domain(cx, spec),
            elbv2::Listener::KIND => listener(cx, spec),
            ec2::Subnet::KIND => data_subnet(cx, spec),
            ec2::SecurityGroupRules::KIND => security_group_rules(cx, spec),
            ec2::NetworkAcl::KIND => network_acl(cx, spec),
            iam::Role::KIND => task_role(cx, spec),
            _ => {}
        }
    }
}

/// `` `db_instance.main` (rds.instance) ``
fn what(spec: &ResourceSpec) -> String {
    format!("`{}` ({})", spec.address, spec.kind)
}

fn prop<'s>(spec: &'s ResourceSpec, name: &str) -> Option<&'s Value> {
    spec.props.get(name)
}

fn is_true(spec: &ResourceSpec, name: &str) -> bool {
    prop(spec, name).and_then(Value::as_bool) == Some(true)
}

/// The address without the DR region's `dr.` and whether it had it.
fn local(spec: &ResourceSpec) -> (&str, bool) {
    let a = spec.address.as_str();
    a.strip_prefix("dr.").map_or((a, false), |rest| (rest, true))
}

/// The value of parameter `name` in the parameter group the database's `prop` refers to.
fn parameter<'g>(
    graph: &'g DesiredGraph,
    spec: &ResourceSpec,
    prop_name: &str,
    name: &str,
) -> Option<&'g Value> {
    let Some(Value::Ref(r)) = prop(spec, prop_name) else { return None };
    graph.get(&r.address)?.props.get("parameters")?.as_map()?.get(name)
}

/// RDS: encrypted storage (HL003), not publicly accessible (HL002), TLS required by its
/// parameter group (HL004).
fn rds_instance(cx: &mut Ctx<'_>, graph: &DesiredGraph, spec: &ResourceSpec) {
    if !is_true(spec, rds::Instance::STORAGE_ENCRYPTED) {
        cx.at_table(&HL003, "database", format!("{}'s storage is not encrypted", what(spec)));
    }
    if prop(spec, rds::Instance::PUBLICLY_ACCESSIBLE).and_then(Value::as_bool) != Some(false) {
        cx.at_table(&HL002, "database", format!("{} is publicly accessible", what(spec)));
    }
    let force_ssl = parameter(graph, spec, rds::Instance::PARAMETER_GROUP_NAME, "rds.force_ssl");
    if force_ssl.and_then(Value::as_str) != Some("1") {
        let msg =
            format!("{}'s parameter group does not set rds.force_ssl = 1: clients may skip TLS", what(spec));
        cx.at_table(&HL004, "database", msg);
    }
}

/// DocumentDB: encrypted storage (HL003), TLS enabled by its parameter group (HL004).
fn docdb_cluster(cx: &mut Ctx<'_>, graph: &DesiredGraph, spec: &ResourceSpec) {
    if !is_true(spec, docdb::Cluster::STORAGE_ENCRYPTED) {
        cx.at_table(&HL003, "database", format!("{}'s storage is not encrypted", what(spec)));
    }
    let tls = parameter(graph, spec, docdb::Cluster::PARAMETER_GROUP_NAME, "tls");
    if tls.and_then(Value::as_str) != Some("enabled") {
        let msg =
            format!("{}'s parameter group does not set tls = enabled: clients may skip TLS", what(spec));
        cx.at_table(&HL004, "database", msg);
    }
}

/// OpenSearch: encrypted at rest and between nodes (HL003), HTTPS only with a TLS 1.2+
/// policy (HL004).
fn opensearch_domain(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    for p in [opensearch::Domain::ENCRYPTION_AT_REST, opensearch::Domain::NODE_TO_NODE_ENCRYPTION] {
        if !is_true(spec, p) {
            cx.at_table(&HL003, "log_analytics", format!("{} has {p} off", what(spec)));
        }
    }
    let policy = prop(spec, opensearch::Domain::TLS_SECURITY_POLICY).and_then(Value::as_str);
    if !is_true(spec, opensearch::Domain::ENFORCE_HTTPS)
        || !policy.is_some_and(|p| OPENSEARCH_TLS12.contains(&p))
    {
        let msg = format!(
            "{} accepts plain HTTP or TLS below 1.2 (TLS policy {})",
            what(spec),
            policy.unwrap_or("none")
        );
        cx.at_table(&HL004, "log_analytics", msg);
    }
}

/// An HTTPS listener whose security policy is not a TLS 1.2+ one (none: AWS's default,
/// ELBSecurityPolicy-2016-08, accepts TLS 1.0).
fn listener(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    if prop(spec, elbv2::Listener::PROTOCOL).and_then(Value::as_str) != Some("HTTPS") {
        return;
    }
    let policy = prop(spec, elbv2::Listener::SSL_POLICY).and_then(Value::as_str);
    if policy.is_some_and(|p| TLS12_POLICIES.contains(&p)) {
        return;
    }
    let msg = format!(
        "{} uses security policy {}, which accepts TLS below 1.2",
        what(spec),
        policy.unwrap_or("(none: AWS's default ELBSecurityPolicy-2016-08)")
    );
    match cx.raw.load_balancer.as_ref().and_then(|l| l.ssl_policy.as_ref()) {
        Some(v) => cx.at(&HL004, v.span(), "load_balancer.ssl_policy", msg),
        None => cx.at_table(&HL004, "load_balancer", msg),
    }
}

/// A data subnet that gives public addresses or routes to the internet gateway (HL002).
fn data_subnet(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    let (address, dr) = local(spec);
    if !address.starts_with("subnet.data.") {
        return;
    }
    let public_route = matches!(prop(spec, ec2::Subnet::ROUTE_TABLE_ID),
        Some(Value::Ref(r)) if local_str(r.address.as_str()) == "route_table.public");
    if !is_true(spec, ec2::Subnet::MAP_PUBLIC_IP_ON_LAUNCH) && !public_route {
        return;
    }
    let msg =
        format!("{} is public: it gives public addresses or routes to the internet gateway", what(spec));
    let network = if dr { cx.raw.dr.as_ref().map(|d| &d.network) } else { Some(&cx.raw.network) };
    let field = if dr { "dr.network.data_subnets" } else { "network.data_subnets" };
    match network {
        Some(n) => cx.at(&HL002, n.data_subnets.span(), field, msg),
        None => cx.at_table(&HL002, field, msg),
    }
}

fn local_str(a: &str) -> &str {
    a.strip_prefix("dr.").unwrap_or(a)
}

/// Whether an entry's source (`cidr` or `cidr_ipv6`) is the whole internet.
fn from_world(entry: &BTreeMap<String, Value>) -> bool {
    ["cidr", "cidr_ipv6"].iter().any(|k| {
        entry
            .get(*k)
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<ipnet::IpNet>().ok())
            .is_some_and(|n| n.prefix_len() == 0)
    })
}

fn int(entry: &BTreeMap<String, Value>, key: &str) -> i64 {
    entry.get(key).and_then(Value::as_int).unwrap_or(-1)
}

fn text<'e>(entry: &'e BTreeMap<String, Value>, key: &str) -> &'e str {
    entry.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The entries of a list property.
fn entries<'s>(spec: &'s ResourceSpec, name: &str) -> impl Iterator<Item = &'s BTreeMap<String, Value>> {
    prop(spec, name).and_then(Value::as_list).unwrap_or_default().iter().filter_map(Value::as_map)
}

/// Inbound rules from the world into any group but the public load balancer's: every
/// other group of the stack is in the app or data subnets (HL001). The config's
/// `security.extra_ingress` rules are reported where they are written.
fn security_group_rules(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    let (address, _) = local(spec);
    let tier = match address {
        "sg_rules.alb" => return,
        "sg_rules.app" => Some(Tier::App),
        "sg_rules.db" => Some(Tier::Db),
        _ => None,
    };
    for e in entries(spec, ec2::SecurityGroupRules::INGRESS).filter(|e| from_world(e)) {
        let (protocol, from, to) = (text(e, "protocol"), int(e, "from_port"), int(e, "to_port"));
        let written = tier.is_some_and(|t| written_world(cx, t, (protocol, from, to)));
        if !written {
            let msg = format!("{} admits the world ({})", what(spec), describe_ports(protocol, from, to));
            cx.at_table(&HL001, "security", msg);
        }
    }
}

/// Whether `security.extra_ingress` has a rule from the world into `tier`'s group on
/// these ports (it passes the tier's network ACL too; reported where it is written).
fn written_world(cx: &Ctx<'_>, tier: Tier, (protocol, from, to): (&str, i64, i64)) -> bool {
    cx.cfg.security.extra_ingress.iter().any(|m| {
        m.group == tier
            && matches!(m.source, RuleSource::Cidr(c) if c.prefix_len() == 0)
            && m.protocol == protocol
            && (m.protocol == "-1" || (i64::from(m.from_port), i64::from(m.to_port)) == (from, to))
    })
}

/// hactl's own inbound entries of the app and data subnets' network ACLs that admit the
/// world, but for the tasks' answers (HL001): from 32768 up, every service port among them
/// closed by an earlier deny. The user's entries, and those the world rules of
/// `security.extra_ingress` add, are reported where they are written.
fn network_acl(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    let (address, _) = local(spec);
    let (app, tier) = match address {
        "nacl.app" => (true, Tier::App),
        "nacl.data" => (false, Tier::Db),
        _ => return,
    };
    let all: Vec<&BTreeMap<String, Value>> = entries(spec, ec2::NetworkAcl::INGRESS).collect();
    for e in &all {
        let n = int(e, "rule_number");
        if text(e, "action") != "allow" || !from_world(e) || !OWN_ACL_NUMBERS.contains(&n) {
            continue;
        }
        let (protocol, from, to) = (text(e, "protocol"), int(e, "from_port"), int(e, "to_port"));
        let answers = app
            && matches!(protocol, "tcp" | "udp")
            && from >= TASK_ANSWERS_FROM
            && service_ports_closed(cx, &all, n, (from, to));
        if !answers && !written_world(cx, tier, (protocol, from, to)) {
            let msg =
                format!("{} entry {n} admits the world ({})", what(spec), describe_ports(protocol, from, to));
            cx.at_table(&HL001, "network_acls", msg);
        }
    }
}

/// Whether every service port in `from..=to` is denied to the world by an entry numbered
/// below `before`.
fn service_ports_closed(
    cx: &Ctx<'_>,
    all: &[&BTreeMap<String, Value>],
    before: i64,
    (from, to): (i64, i64),
) -> bool {
    let mut ports = cx.cfg.app_ports();
    ports.extend(cx.cfg.internal_ports());
    ports.into_iter().filter(|p| (from..=to).contains(&i64::from(*p))).all(|p| {
        all.iter().any(|d| {
            int(d, "rule_number") < before
                && text(d, "action") == "deny"
                && from_world(d)
                && covers(text(d, "protocol"), int(d, "from_port"), int(d, "to_port"), p)
        })
    })
}

/// A service's task role: Allow statements with NotAction, or with a wildcard action
/// the config does not write (those are reported at their key) (HL009).
fn task_role(cx: &mut Ctx<'_>, spec: &ResourceSpec) {
    let (address, _) = local(spec);
    let Some(service) = address.strip_prefix("iam_role.task.") else { return };
    let index = cx.cfg.services.iter().position(|s| s.name == service);
    let written: Vec<&str> = index
        .and_then(|i| cx.cfg.services.get(i))
        .map(|s| s.task_role_statements.iter().flat_map(|st| st.actions.iter().map(String::as_str)).collect())
        .unwrap_or_default();
    let table = index.map_or_else(|| "services".to_string(), |i| format!("services[{i}]"));
    let policies = prop(spec, iam::Role::INLINE_POLICIES).and_then(Value::as_map);
    for (name, doc) in policies.into_iter().flatten() {
        let statements = doc.as_map().and_then(|d| d.get("Statement"));
        let statements = match statements {
            Some(Value::List(l)) => l.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        for st in statements.into_iter().filter_map(Value::as_map) {
            if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let mut problems: Vec<String> = Vec::new();
            if let Some(not) = st.get("NotAction") {
                problems.push(format!("NotAction {}", strings(not).join(", ")));
            }
            let actions = st.get("Action").map(strings).unwrap_or_default();
            problems.extend(
                actions
                    .iter()
                    .filter(|a| is_wildcard(a) && !written.contains(&a.as_str()))
                    .map(|a| format!("\"{a}\"")),
            );
            for p in problems {
                let msg =
                    format!("{}'s policy \"{name}\" allows {p}: name the actions the task needs", what(spec));
                cx.at_table(&HL009, &table, msg);
            }
        }
    }
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Str(s) => vec![s.clone()],
        other => other.string_list(),
    }
}
