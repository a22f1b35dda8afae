//! AWS's published default quotas that a config can exceed, checked on the expanded graph
//! before any AWS call: every count is exactly what apply would create (the rules of each
//! security group, the listeners of each load balancer, the tags of each resource, each
//! alarm's evaluation window). Each error points at the config entry that takes the count
//! over the quota (in file order), or at the setting that decides it.
//!
//! Quotas checked where the value is written (validate.rs): tasks per service (5,000),
//! interface endpoints per VPC (50), DocumentDB instances per cluster (16), Fargate task
//! sizes, tag key / value lengths and characters, security group rule descriptions. Quotas
//! no config can reach are listed in DESIGN.md ("AWS quotas"), with the test that shows it
//! (`the_largest_valid_stack_stays_within_every_quota` below).

use crate::error::Collector;
use crate::model::StackConfig;
use crate::raw::{RawConfig, RawRule, S};
use hactl_core::{Address, DesiredGraph, Value};
use std::collections::BTreeMap;
use std::ops::Range;

/// Inbound, and separately outbound, rules per security group (VPC quota, default).
pub(crate) const RULES_PER_GROUP: usize = 60;
/// Listeners per Application Load Balancer (ELB quota, default).
pub(crate) const LISTENERS_PER_ALB: usize = 50;
/// Rules per Application Load Balancer, default rules not counted (ELB quota, default).
/// Target groups per Application Load Balancer are 100 too: one per rule here.
pub(crate) const RULES_PER_ALB: usize = 100;
/// Inbound, and separately outbound, entries per network ACL that a stack can use: the
/// VPC quota (default 20) counts the `*` entry AWS puts in every ACL.
pub(crate) const ENTRIES_PER_ACL: usize = 19;
/// User tags per resource (every service hactl tags: EC2, ELB, ECS, IAM, RDS, ...).
pub(crate) const TAGS_PER_RESOURCE: usize = 50;
/// An alarm's period × evaluation periods, for periods under an hour / from an hour on.
const ALARM_WINDOW_SHORT: i64 = 86_400;
const ALARM_WINDOW_LONG: i64 = 604_800;

/// One config entry that adds `weight` to a count.
struct Contributor {
    at: Range<usize>,
    field: String,
    weight: usize,
}

fn contributor<T>(v: &S<T>, field: String, weight: usize) -> Contributor {
    Contributor { at: v.span(), field, weight }
}

/// The contributor that takes `total` over `limit`: contributions are added in file
/// order on top of what no entry accounts for (`total` minus their sum: defaults and
/// fixed rules); `None` when the fixed part alone is over.
fn culprit(mut list: Vec<Contributor>, total: usize, limit: usize) -> Option<Contributor> {
    list.sort_by_key(|c| c.at.start);
    let listed: usize = list.iter().map(|c| c.weight).sum();
    let mut sum = total.saturating_sub(listed);
    if sum > limit {
        return None;
    }
    list.into_iter().find(|c| {
        sum += c.weight;
        sum > limit
    })
}

fn ref_address(v: Option<&Value>) -> Option<&Address> {
    match v {
        Some(Value::Ref(r)) => Some(&r.address),
        _ => None,
    }
}

/// The home region's resources. The [dr] region's (`dr.*`) are built from the same
/// settings: one report, for the home ones.
fn home_specs(graph: &DesiredGraph) -> impl Iterator<Item = &hactl_core::ResourceSpec> {
    graph.specs().filter(|s| !s.address.as_str().starts_with("dr."))
}

fn list_len(v: Option<&Value>) -> usize {
    match v {
        Some(Value::List(l)) => l.len(),
        _ => 0,
    }
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(n)) => *n,
        _ => 0,
    }
}

pub(crate) fn check(cfg: &StackConfig, raw: &RawConfig, graph: &DesiredGraph, c: &mut Collector<'_>) {
    // Too many internal services: the listener rules are the binding quota (one per
    // service); the security group rules of the app tier are reported only once they fit.
    let services_over = listeners(raw, graph, c);
    security_group_rules(cfg, raw, graph, services_over, c);
    network_acl_entries(cfg, raw, graph, c);
    tags(cfg, raw, graph, c);
    alarm_windows(raw, graph, c);
}

fn is_public(s: &crate::raw::RawService) -> bool {
    s.public.as_ref().is_none_or(|v| *v.get_ref())
}

/// Services in file order, each once per distinct port (first use), public or internal.
fn port_contributors(raw: &RawConfig, public: bool) -> Vec<Contributor> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (i, s) in raw.services.iter().enumerate() {
        if is_public(s) != public {
            continue;
        }
        let port = s.port.as_ref().map_or(3000, |p| *p.get_ref());
        if seen.contains(&port) {
            continue;
        }
        seen.push(port);
        out.push(match &s.port {
            Some(p) => contributor(p, format!("services[{i}].port"), 1),
            None => contributor(&s.name, format!("services[{i}].name"), 1),
        });
    }
    out
}

fn extra_rules<'r>(raw: &'r RawConfig, group: &'r str) -> impl Iterator<Item = (usize, &'r RawRule)> + 'r {
    raw.security
        .iter()
        .flat_map(|s| s.extra_ingress.iter().enumerate())
        .filter(move |(_, r)| r.group.get_ref() == group)
}

fn security_group_rules(
    cfg: &StackConfig,
    raw: &RawConfig,
    graph: &DesiredGraph,
    services_over: bool,
    c: &mut Collector<'_>,
) {
    for spec in home_specs(graph).filter(|s| s.kind == "ec2.security_group_rules") {
        let group = ref_address(spec.props.get("group_id")).map_or_else(String::new, |a| a.to_string());
        let tier = spec.address.as_str().trim_start_matches("sg_rules.").to_string();
        if services_over && (tier == "app" || tier == "alb_internal") {
            continue;
        }
        for direction in ["ingress", "egress"] {
            let total = list_len(spec.props.get(direction));
            if total <= RULES_PER_GROUP {
                continue;
            }
            let mut list = Vec::new();
            let mut what = Vec::new();
            if direction == "ingress" {
                let sec = raw.security.as_ref();
                match tier.as_str() {
                    "alb" => {
                        let ports = cfg.security.alb_ports.len();
                        let cidrs = cfg.security.alb_ingress_cidrs.len();
                        what.push(format!(
                            "{} = {ports} alb_ports × {cidrs} alb_ingress_cidrs",
                            ports * cidrs
                        ));
                        match (
                            sec.and_then(|s| s.alb_ingress_cidrs.as_ref()),
                            sec.and_then(|s| s.alb_ports.as_ref()),
                        ) {
                            (Some(cidr_list), _) => {
                                list.extend(cidr_list.get_ref().iter().enumerate().map(|(j, v)| {
                                    contributor(v, format!("security.alb_ingress_cidrs[{j}]"), ports)
                                }))
                            }
                            (None, Some(port_list)) => {
                                list.extend(
                                    port_list.get_ref().iter().enumerate().map(|(j, v)| {
                                        contributor(v, format!("security.alb_ports[{j}]"), cidrs)
                                    }),
                                )
                            }
                            (None, None) => {}
                        }
                    }
                    "app" => {
                        list.extend(port_contributors(raw, true));
                        what.push(format!("{} for public service ports", cfg.app_ports().len()));
                        if cfg.internal_port_range().is_some() {
                            what.push("1 for the internal services' port range".to_string());
                        }
                    }
                    _ => {}
                }
                let extras: Vec<Contributor> = extra_rules(raw, &tier)
                    .map(|(i, r)| contributor(&r.group, format!("security.extra_ingress[{i}]"), 1))
                    .collect();
                if !extras.is_empty() {
                    what.push(format!("{} extra_ingress", extras.len()));
                }
                list.extend(extras);
            }
            let (span, field) = match culprit(list, total, RULES_PER_GROUP) {
                Some(k) => (k.at, k.field),
                None => (raw.stack.name.span(), "stack.name".to_string()),
            };
            let dir = if direction == "ingress" { "inbound" } else { "outbound" };
            let msg = format!(
                "security group `{group}` would have {total} {dir} rules; AWS allows {RULES_PER_GROUP} per group"
            );
            let breakdown = if what.is_empty() { String::new() } else { format!(" ({})", what.join(", ")) };
            let hint = format!(
                "each port × source is one rule{breakdown}; merge CIDR blocks, drop extra rules or \
                 services, or ask AWS to raise the quota and split the stack until then"
            );
            c.push(span, field, msg, hint);
        }
    }
}

/// The entries of each network ACL, each direction (the DR region's too: its zones may
/// be more). Contributors: the extra rules of that tier and direction, and for the public
/// tier's ingress the load balancer's CIDR blocks (one entry per port each).
fn network_acl_entries(cfg: &StackConfig, raw: &RawConfig, graph: &DesiredGraph, c: &mut Collector<'_>) {
    let extras: Vec<(usize, &crate::raw::RawAclRule)> =
        raw.network_acls.iter().flat_map(|n| n.extra_rules.iter().enumerate()).collect();
    // The DR region's ACL over for the same entry as the home region's is not reported twice.
    let mut reported: std::collections::BTreeSet<(String, &str)> = Default::default();
    for spec in graph.specs().filter(|s| s.kind == "ec2.network_acl") {
        let tier = spec.address.as_str().rsplit('.').next().unwrap_or_default();
        for direction in ["ingress", "egress"] {
            let total = list_len(spec.props.get(direction));
            if total <= ENTRIES_PER_ACL {
                continue;
            }
            let mut list: Vec<Contributor> = extras
                .iter()
                .filter(|(_, r)| {
                    r.tier.get_ref() == tier
                        && r.direction.as_ref().map_or("ingress", |d| d.get_ref().as_str()) == direction
                })
                .map(|(i, r)| contributor(&r.rule_number, format!("network_acls.extra_rules[{i}]"), 1))
                .collect();
            // The security groups' extra ingress rules of this tier (the data tier
            // answers them too): one entry per source CIDR, a group's being its subnets.
            let group = match tier {
                "public" => "alb",
                "data" => "db",
                other => other,
            };
            if direction == "ingress" || tier == "data" {
                let zones = cfg.network.zones.len();
                list.extend(extra_rules(raw, group).map(|(i, r)| {
                    let weight = if r.cidr.is_some() { 1 } else { zones };
                    contributor(&r.group, format!("security.extra_ingress[{i}]"), weight)
                }));
            }
            if tier == "public" && direction == "ingress" {
                let sec = raw.security.as_ref();
                let ports = cfg.security.alb_ports.len();
                let cidrs = cfg.security.alb_ingress_cidrs.len();
                match (sec.and_then(|s| s.alb_ingress_cidrs.as_ref()), sec.and_then(|s| s.alb_ports.as_ref()))
                {
                    (Some(list_of), _) => {
                        list.extend(
                            list_of.get_ref().iter().enumerate().map(|(j, v)| {
                                contributor(v, format!("security.alb_ingress_cidrs[{j}]"), ports)
                            }),
                        )
                    }
                    (None, Some(list_of)) => list.extend(
                        list_of
                            .get_ref()
                            .iter()
                            .enumerate()
                            .map(|(j, v)| contributor(v, format!("security.alb_ports[{j}]"), cidrs)),
                    ),
                    (None, None) => {}
                }
            }
            let (span, field) = match culprit(list, total, ENTRIES_PER_ACL) {
                Some(k) => (k.at, k.field),
                None => (raw.stack.name.span(), "stack.name".to_string()),
            };
            if !reported.insert((field.clone(), direction)) {
                continue;
            }
            let dir = if direction == "ingress" { "inbound" } else { "outbound" };
            let msg = format!(
                "network ACL `{}` would have {total} {dir} entries; AWS allows {ENTRIES_PER_ACL} per ACL (20 with its `*` entry)",
                spec.address
            );
            let hint = "hactl's entries grow with the zones, the load balancer's ports × CIDR blocks and \
                        the extra rules; merge CIDR blocks or drop extra rules, or set \
                        network_acls.enabled = false (security groups still apply) or ask AWS to raise \
                        the quota";
            c.push(span, field, msg, hint);
        }
    }
}

/// Whether a load balancer has too many listeners or listener rules (each reported).
fn listeners(raw: &RawConfig, graph: &DesiredGraph, c: &mut Collector<'_>) -> bool {
    let mut listeners: BTreeMap<Address, usize> = BTreeMap::new();
    let mut lb_of: BTreeMap<&Address, &Address> = BTreeMap::new();
    for spec in home_specs(graph).filter(|s| s.kind == "elbv2.listener") {
        if let Some(lb) = ref_address(spec.props.get("load_balancer_arn")) {
            *listeners.entry(lb.clone()).or_default() += 1;
            lb_of.insert(&spec.address, lb);
        }
    }
    let mut rules: BTreeMap<Address, usize> = BTreeMap::new();
    for spec in home_specs(graph).filter(|s| s.kind == "elbv2.listener_rule") {
        if let Some(lb) = ref_address(spec.props.get("listener_arn")).and_then(|l| lb_of.get(l)) {
            *rules.entry((*lb).clone()).or_default() += 1;
        }
    }
    let mut over = false;
    for (what, counts, limit) in
        [("listeners", listeners, LISTENERS_PER_ALB), ("listener rules", rules, RULES_PER_ALB)]
    {
        for (lb, total) in counts {
            if total <= limit {
                continue;
            }
            // The internal load balancer has a rule per internal service; the public one
            // a fixed listener or two.
            let list = if lb.as_str() == "alb.internal" {
                raw.services
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !is_public(s))
                    .map(|(i, s)| contributor(&s.name, format!("services[{i}]"), 1))
                    .collect()
            } else {
                Vec::new()
            };
            let (span, field) = match culprit(list, total, limit) {
                Some(k) => (k.at, k.field),
                None => (raw.stack.name.span(), "stack.name".to_string()),
            };
            let msg = format!(
                "load balancer `{lb}` would have {total} {what}; AWS allows {limit} per load balancer"
            );
            let hint =
                "each internal service is a host-header rule of the internal load balancer's listener; \
                        merge services, split the stack, or ask AWS to raise the quota";
            c.push(span, field, msg, hint);
            over = true;
        }
    }
    over
}

fn tags(cfg: &StackConfig, raw: &RawConfig, graph: &DesiredGraph, c: &mut Collector<'_>) {
    let first_key = |m: &crate::raw::Map| m.keys().map(S::span).min_by_key(|s| s.start);
    let mut worst_stack: Option<(usize, Address)> = None;
    let mut per_address: Vec<(Address, usize)> = Vec::new();
    // Every region's: `[resource_tags."dr.…"]` tags one DR resource.
    for spec in graph.specs() {
        let Some(Value::Map(t)) = spec.props.get("tags") else { continue };
        if t.len() <= TAGS_PER_RESOURCE {
            continue;
        }
        let extra = cfg.resource_tags.get(spec.address.as_str());
        // Without this resource's own extra tags: the stack's tags and hactl's.
        let added = extra.map_or(0, |e| {
            e.keys().filter(|k| !cfg.stack.tags.contains_key(*k) && k.as_str() != "Name").count()
        });
        let base = t.len() - added;
        if base > TAGS_PER_RESOURCE {
            if worst_stack.as_ref().is_none_or(|(n, _)| base > *n) {
                worst_stack = Some((base, spec.address.clone()));
            }
        } else {
            per_address.push((spec.address.clone(), t.len()));
        }
    }
    let own =
        "hactl adds Name, hactl:stack and hactl:address (and AmazonECSManaged on the Auto Scaling group)";
    if let Some((n, a)) = worst_stack {
        let span = raw.stack.tags.as_ref().and_then(first_key).unwrap_or_else(|| raw.stack.name.span());
        let msg = format!(
            "{} stack tags give `{a}` {n} tags; AWS allows {TAGS_PER_RESOURCE} per resource",
            cfg.stack.tags.len()
        );
        c.push(span, "stack.tags", msg, format!("{own}; drop or merge stack tags"));
    }
    for (a, n) in per_address {
        let Some((key, map)) = raw.resource_tags.iter().flatten().find(|(k, _)| k.get_ref() == a.as_str())
        else {
            continue;
        };
        let span = first_key(map).unwrap_or_else(|| key.span());
        let field = format!("resource_tags.{}", crate::locate::render_key(key.get_ref()));
        let msg = format!("`{a}` would carry {n} tags; AWS allows {TAGS_PER_RESOURCE} per resource");
        c.push(span, field, msg, format!("{own}, on top of the stack's tags; drop some of these"));
    }
}

fn alarm_windows(raw: &RawConfig, graph: &DesiredGraph, c: &mut Collector<'_>) {
    let worst = graph
        .specs()
        .filter(|s| s.kind == "cloudwatch.alarm")
        .map(|s| (s, int(s.props.get("period")), int(s.props.get("evaluation_periods"))))
        .filter(|(_, p, n)| p * n > if *p < 3600 { ALARM_WINDOW_SHORT } else { ALARM_WINDOW_LONG })
        .max_by_key(|(_, p, n)| p * n);
    let Some((spec, period, n)) = worst else { return };
    let alarms = raw.alarms.as_ref();
    let (span, field) =
        match (alarms.and_then(|a| a.evaluation_periods.as_ref()), alarms.and_then(|a| a.period.as_ref())) {
            (Some(v), _) => (v.span(), "alarms.evaluation_periods"),
            (None, Some(v)) => (v.span(), "alarms.period"),
            (None, None) => (raw.stack.name.span(), "alarms.evaluation_periods"),
        };
    let msg = format!(
        "alarm `{}` would evaluate {n} periods of {period} s = {} s; CloudWatch allows {} s with a period {}",
        spec.address,
        period * n,
        if period < 3600 { ALARM_WINDOW_SHORT } else { ALARM_WINDOW_LONG },
        if period < 3600 { "under an hour (one day)" } else { "of an hour or more (seven days)" },
    );
    let hint = "period × evaluation_periods is the alarm's window (the drift alarm's period is 900 s); \
                lower evaluation_periods or the period";
    c.push(span, field, msg, hint);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::expand;

    /// The largest stack validation lets through: the longest stack and service names, one
    /// public and 100 internal services (the listener rule quota), 16 DocumentDB instances, the
    /// drift job, interface endpoints, every alarm.
    fn largest(engine: &str) -> String {
        let stack = "abcdefghij-abcdefghij-abcdef";
        assert_eq!(stack.len(), 28);
        let mut t = format!(
            "[stack]\nname = \"{stack}\"\nregion = \"ap-southeast-2\"\n\n[network]\nvpc_cidr = \"10.0.0.0/16\"\n\
             availability_zones = [\"ap-southeast-2a\", \"ap-southeast-2b\", \"ap-southeast-2c\"]\n\
             public_subnets = [\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.2.0/24\"]\n\
             app_subnets = [\"10.0.10.0/24\", \"10.0.11.0/24\", \"10.0.12.0/24\"]\n\
             data_subnets = [\"10.0.20.0/24\", \"10.0.21.0/24\", \"10.0.22.0/24\"]\n\n\
             [network.endpoints]\ninterface = [\"secretsmanager\", \"logs\", \"ecr.api\", \"ecr.dkr\"]\n\n\
             [alarms]\nemail = \"ops@example.com\"\n\n\
             [drift]\nalarm = true\nschedule = \"rate(15 minutes)\"\nimage = \"123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/hactl:0.1\"\n\n\
             [state]\nbackend = \"s3\"\nbucket = \"acme-hactl-state\"\n\n\
             [ci]\ngithub_repository = \"{owner}/{repo}\"\ndeploy_branch = \"{branch}\"\n\n",
            owner = "o".repeat(39),
            repo = "r".repeat(100),
            branch = "b".repeat(255),
        );
        for i in 0..=100 {
            let name = format!("s{i:03}-{}", "x".repeat(27));
            assert_eq!(name.len(), 32);
            t.push_str(&format!(
                "[[services]]\nname = \"{name}\"\nimage = \"public.ecr.aws/nginx/nginx:1.27\"\nport = {}\npublic = {}\n\n\
                 [services.autoscaling]\nmin = 2\nmax = 5000\n{}\n",
                4000 + i,
                i == 0,
                if i == 0 { "requests_per_target = 100\n" } else { "" }
            ));
        }
        let instances = if engine == "docdb" { "instances = 16\n" } else { "" };
        t.push_str(&format!("[database]\nengine = \"{engine}\"\n{instances}"));
        t
    }

    fn s(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or_default()
    }

    /// IAM policy sizes (whitespace not counted): a role's inline policies 10,240
    /// characters in all, its trust policy 2,048, a managed policy 6,144.
    fn assert_iam_policy_sizes(g: &hactl_core::DesiredGraph) {
        let size = |v: Option<&Value>| v.map_or(0, |v| v.to_json().to_string().len());
        for spec in g.specs() {
            if spec.kind == "iam.role" {
                let inline: usize = spec
                    .props
                    .get("inline_policies")
                    .and_then(Value::as_map)
                    .into_iter()
                    .flatten()
                    .map(|(_, doc)| size(Some(doc)))
                    .sum();
                assert!(inline <= 10_240, "{}: inline policies of {inline} characters", spec.address);
                assert!(size(spec.props.get("assume_role_policy")) <= 2_048, "{}", spec.address);
            }
            if spec.kind == "iam.policy" {
                let n = size(spec.props.get("document"));
                assert!(n <= 6_144, "{}: {n} characters", spec.address);
            }
        }
    }

    #[test]
    fn the_largest_valid_stack_stays_within_every_quota() {
        // (kind, property, the longest name AWS takes)
        let names: &[(&str, &str, usize)] = &[
            ("elbv2.load_balancer", "name", 32),
            ("elbv2.target_group", "name", 32),
            ("iam.role", "name", 64),
            ("iam.role", "path", 512),
            ("iam.instance_profile", "name", 128),
            ("iam.policy", "name", 128),
            ("iam.policy", "path", 512),
            ("docdb.cluster", "identifier", 63),
            ("docdb.instance", "identifier", 63),
            ("docdb.subnet_group", "name", 255),
            ("docdb.cluster_parameter_group", "name", 255),
            ("rds.instance", "identifier", 63),
            ("rds.subnet_group", "name", 255),
            ("rds.parameter_group", "name", 255),
            ("logs.log_group", "name", 512),
            ("cloudwatch.alarm", "name", 255),
            ("cloudwatch.dashboard", "name", 255),
            ("sns.topic", "name", 256),
            ("ecs.cluster", "name", 255),
            ("ecs.service", "name", 255),
            ("ecs.task_definition", "family", 255),
            ("ecs.capacity_provider", "name", 255),
            ("ec2.launch_template", "name", 128),
            ("autoscaling.group", "name", 255),
            ("ec2.security_group", "group_name", 255),
            ("secretsmanager.secret", "name", 512),
            ("scheduler.schedule_group", "name", 64),
            ("scheduler.schedule", "name", 64),
            ("appautoscaling.policy", "name", 256),
        ];
        for engine in ["docdb", "postgres"] {
            let text = largest(engine);
            let cfg = crate::parse("largest.toml", &text).unwrap_or_else(|e| panic!("{engine}:\n{e}"));
            assert_eq!(cfg.services.len(), 101);
            let env = crate::expand::ExpandEnv::account(
                crate::expand::AccountId::parse("123456789012").expect("id"),
            );
            let g = expand(&cfg, &env).unwrap_or_else(|e| panic!("{e}"));
            let mut checked = 0;
            for spec in g.specs() {
                for (kind, prop, max) in names {
                    if spec.kind != *kind {
                        continue;
                    }
                    let v = s(spec.props.get(*prop));
                    assert!(!v.is_empty(), "{} has no {prop}", spec.address);
                    assert!(v.len() <= *max, "{} {prop} {v:?}: {} > {max}", spec.address, v.len());
                    checked += 1;
                }
                // Names AWS refuses with a hyphen at the end, or two in a row (databases).
                if spec.kind.starts_with("elbv2.")
                    || spec.kind.starts_with("docdb.")
                    || spec.kind.starts_with("rds.")
                {
                    for p in ["name", "identifier"] {
                        let v = s(spec.props.get(p));
                        assert!(!v.ends_with('-') && !v.starts_with('-'), "{} {p} {v:?}", spec.address);
                        if !spec.kind.starts_with("elbv2.") {
                            assert!(!v.contains("--"), "{} {p} {v:?}", spec.address);
                        }
                    }
                }
                if let Some(Value::Map(t)) = spec.props.get("tags") {
                    assert!(t.len() <= TAGS_PER_RESOURCE, "{}", spec.address);
                    for (k, v) in t {
                        assert!(
                            k.chars().count() <= 128 && s(Some(v)).chars().count() <= 256,
                            "{}",
                            spec.address
                        );
                    }
                }
                // Security groups per network interface: 5.
                for p in ["security_group_ids", "vpc_security_group_ids"] {
                    assert!(list_len(spec.props.get(p)) <= 5, "{} {p}", spec.address);
                }
                if let Some(Value::Map(n)) = spec.props.get("network") {
                    assert!(list_len(n.get("security_groups")) <= 5, "{}", spec.address);
                }
                for d in ["ingress", "egress"] {
                    assert!(list_len(spec.props.get(d)) <= RULES_PER_GROUP, "{} {d}", spec.address);
                }
            }
            assert!(checked > 200, "{engine}: only {checked} names checked");
            assert_iam_policy_sizes(&g);
            assert!(g.specs().any(|s| s.kind == "iam.policy"), "{engine}: [ci] expanded no policy");
            // The dashboard: 500 widgets, 500 metrics per graph widget.
            let dash = g.specs().find(|s| s.kind == "cloudwatch.dashboard").expect("a dashboard");
            let Some(Value::Map(body)) = dash.props.get("body") else { panic!("no body") };
            let Some(Value::List(widgets)) = body.get("widgets") else { panic!("no widgets") };
            assert!(widgets.len() > 200 && widgets.len() <= 500, "{} widgets", widgets.len());
            for w in widgets {
                let Value::Map(w) = w else { panic!("widget") };
                let Some(Value::Map(p)) = w.get("properties") else { panic!("properties") };
                assert!(list_len(p.get("metrics")) <= 500);
            }
            let listeners = g.specs().filter(|s| s.kind == "elbv2.listener").count();
            assert_eq!(listeners, 1 + 2, "the internal :80 + the public :80 and :443");
            let rules = g.specs().filter(|s| s.kind == "elbv2.listener_rule").count();
            assert_eq!(rules, RULES_PER_ALB, "one rule per internal service");
        }
    }

    #[test]
    fn one_more_internal_service_is_refused() {
        let text = largest("docdb").replace(
            "[database]",
            "[[services]]\nname = \"one-more\"\nimage = \"nginx\"\nport = 9999\npublic = false\n\n[database]",
        );
        let Err(errors) = crate::parse("largest.toml", &text) else { panic!("101 internal services pass") };
        assert_eq!(errors.len(), 1, "{errors}");
        assert_eq!(errors.0[0].field, "services[101]");
        assert!(errors.0[0].message.contains("101 listener rules; AWS allows 100"), "{errors}");
    }

    #[test]
    fn a_dr_region_does_not_report_its_copy_of_the_rule_sets_again() {
        let dr = "\n[dr]\nregion = \"us-west-2\"\n\n[dr.network]\nvpc_cidr = \"10.1.0.0/16\"\n\
                  availability_zones = [\"us-west-2a\", \"us-west-2b\"]\n\
                  public_subnets = [\"10.1.0.0/24\", \"10.1.1.0/24\"]\n\
                  app_subnets = [\"10.1.10.0/24\", \"10.1.11.0/24\"]\n\
                  data_subnets = [\"10.1.20.0/24\", \"10.1.21.0/24\"]\n";
        let text = largest("docdb").replace(
            "[database]",
            "[[services]]\nname = \"one-more\"\nimage = \"nginx\"\nport = 9999\npublic = false\n\n[database]",
        ) + dr;
        let Err(errors) = crate::parse("largest.toml", &text) else { panic!("101 internal services pass") };
        assert_eq!(errors.len(), 1, "{errors}");
        assert_eq!(errors.0[0].field, "services[101]");
    }

    #[test]
    fn the_culprit_is_the_entry_that_crosses_the_quota() {
        let c = |start: usize, weight: usize| Contributor {
            at: start..start + 1,
            field: start.to_string(),
            weight,
        };
        // 3 fixed + 2 + 2: the quota of 6 is crossed by the entry at 20.
        let got = culprit(vec![c(20, 2), c(10, 2)], 7, 6).map(|k| k.field);
        assert_eq!(got.as_deref(), Some("20"));
        assert_eq!(culprit(vec![c(10, 1)], 8, 6).map(|k| k.field), None, "the fixed part alone is over");
    }
}
