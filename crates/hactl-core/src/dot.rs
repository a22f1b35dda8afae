//! The resource graph as Graphviz DOT (`hactl graph`): one cluster per tier (network,
//! public, app, data, observability, identity), inside it one per availability zone,
//! edges from a resource to what it depends on, and, given a plan, nodes coloured by
//! what the plan does to them (resources it deletes that the config no longer has are
//! drawn too, dashed).

use crate::graph::DesiredGraph;
use crate::plan::{ActionType, Plan};
use crate::Address;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The tiers, in drawing order, with their labels.
const TIERS: [(&str, &str); 7] = [
    ("network", "network (VPC, gateways, routes)"),
    ("public", "public tier (load balancer, NAT)"),
    ("app", "app tier (ECS, Auto Scaling)"),
    ("data", "data tier (database, secrets)"),
    ("observability", "observability (logs, alarms, dashboard, drift job)"),
    ("identity", "identity (IAM, certificates)"),
    ("other", "other"),
];

/// `us-east-1a`, `eu-central-1b`: a segment naming an availability zone.
fn is_zone(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(a), Some(b), Some(c), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = c.trim_end_matches(|ch: char| ch.is_ascii_lowercase());
    a.len() == 2
        && a.chars().all(|ch| ch.is_ascii_lowercase())
        && !b.is_empty()
        && b.chars().all(|ch| ch.is_ascii_lowercase())
        && !digits.is_empty()
        && digits.chars().all(|ch| ch.is_ascii_digit())
        && c.len() == digits.len() + 1
}

/// The tier and zone a resource is drawn in.
pub fn placement(address: &Address, kind: &str) -> (&'static str, Option<String>) {
    let segs: Vec<&str> = address.as_str().split('.').collect();
    let zone = segs.iter().find(|s| is_zone(s)).map(|s| s.to_string());
    let has = |w: &str| segs.iter().skip(1).any(|s| *s == w);
    let tier = match kind.split('.').next().unwrap_or_default() {
        // Per-tier network objects by the tier their address names.
        "ec2" if kind == "ec2.launch_template" => "app",
        "ec2" if has("public") || has("alb") || kind == "ec2.nat_gateway" || kind == "ec2.eip" => "public",
        "ec2" if has("app") || has("private") || has("alb_internal") || has("endpoints") => "app",
        "ec2" if has("data") || has("db") => "data",
        "ec2" if has("drift_job") => "observability",
        "ec2" => "network",
        "elbv2" if has("internal") || kind == "elbv2.target_group" || kind == "elbv2.listener_rule" => "app",
        // The internal services' private zone and its record.
        "route53" if has("internal") => "app",
        "elbv2" => "public",
        "ecs" | "autoscaling" | "appautoscaling" if has("drift_job") => "observability",
        "ecs" | "autoscaling" | "appautoscaling" => "app",
        "docdb" | "rds" | "secretsmanager" => "data",
        "logs" | "cloudwatch" | "sns" | "scheduler" => "observability",
        "iam" | "acm" => "identity",
        _ => "other",
    };
    (tier, zone)
}

/// Where a node is drawn: (index in [`TIERS`], zone).
type Cluster = (usize, Option<String>);
/// A node: its address, kind, and whether the config has it (a plan may delete others).
type Node<'a> = (&'a Address, &'a str, bool);

fn colour(action: ActionType) -> (&'static str, &'static str) {
    // (fill, label)
    match action {
        ActionType::Create => ("palegreen", "create"),
        ActionType::Update => ("khaki", "update"),
        ActionType::Replace => ("orange", "replace"),
        ActionType::Delete => ("lightcoral", "delete"),
        ActionType::Adopt => ("lightblue", "adopt"),
        ActionType::Forget => ("lightgrey", "forget"),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The DOT text of `graph`, coloured by `plan` when given.
pub fn dot(graph: &DesiredGraph, plan: Option<&Plan>) -> String {
    let actions: BTreeMap<&Address, (&str, ActionType)> = plan
        .map(|p| p.actions.iter().map(|a| (&a.address, (a.kind.as_str(), a.action))).collect())
        .unwrap_or_default();
    let mut nodes: BTreeMap<Cluster, Vec<Node<'_>>> = BTreeMap::new();
    let tier_index = |t: &str| TIERS.iter().position(|(n, _)| *n == t).unwrap_or(TIERS.len() - 1);
    for spec in graph.specs() {
        let (tier, zone) = placement(&spec.address, &spec.kind);
        nodes.entry((tier_index(tier), zone)).or_default().push((&spec.address, &spec.kind, true));
    }
    for (address, (kind, _)) in &actions {
        if graph.get(address).is_none() {
            let (tier, zone) = placement(address, kind);
            nodes.entry((tier_index(tier), zone)).or_default().push((address, kind, false));
        }
    }
    let mut out = String::new();
    out.push_str("digraph hactl {\n");
    let _ = writeln!(out, "  // hactl resource graph. An edge A -> B means A depends on B:");
    let _ = writeln!(out, "  // apply creates B before A, destroy deletes A before B.");
    out.push_str("  rankdir=LR;\n  compound=true;\n");
    out.push_str("  node [shape=box, fontname=\"monospace\", style=\"rounded,filled\", fillcolor=white];\n");
    let legend = match plan {
        Some(p) => format!(
            "stack {} ({}): plan colours: create green, update yellow, replace orange, delete red, adopt blue; \
             edge A -> B: A depends on B",
            p.stack, p.region
        ),
        None => "edge A -> B: A depends on B (B is created first, deleted last)".to_string(),
    };
    let _ = writeln!(out, "  label={};\n  labelloc=t;", quote(&legend));
    let mut current_tier: Option<usize> = None;
    for ((tier, zone), members) in &nodes {
        if current_tier != Some(*tier) {
            if current_tier.is_some() {
                out.push_str("  }\n");
            }
            let (name, label) = TIERS[*tier];
            let _ = writeln!(
                out,
                "  subgraph \"cluster_{name}\" {{\n    label={};\n    style=rounded;",
                quote(label)
            );
            current_tier = Some(*tier);
        }
        let indent = if zone.is_some() { "      " } else { "    " };
        if let Some(z) = zone {
            let _ = writeln!(
                out,
                "    subgraph \"cluster_{}_{z}\" {{\n      label={};\n      style=dashed;",
                TIERS[*tier].0,
                quote(z)
            );
        }
        for (address, kind, in_config) in members {
            // Addresses and kinds are [a-z0-9_.-]: nothing to escape; `\n` is DOT's line break.
            let mut attrs = vec![format!("label=\"{address}\\n{kind}\"")];
            if let Some((_, action)) = actions.get(address) {
                let (fill, what) = colour(*action);
                attrs.push(format!("fillcolor={fill}"));
                attrs.push(format!("tooltip={}", quote(what)));
            }
            if !in_config {
                attrs.push("style=\"rounded,filled,dashed\"".to_string());
            }
            let _ = writeln!(out, "{indent}{} [{}];", quote(address.as_str()), attrs.join(", "));
        }
        if zone.is_some() {
            out.push_str("    }\n");
        }
    }
    if current_tier.is_some() {
        out.push_str("  }\n");
    }
    for spec in graph.specs() {
        for dep in spec.dependencies() {
            let _ = writeln!(out, "  {} -> {};", quote(spec.address.as_str()), quote(dep.as_str()));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn zones_are_recognised() {
        for z in ["us-east-1a", "eu-central-1b", "ap-southeast-2c", "us-gov-west-1a"] {
            // us-gov-west-1a has four dashes: drawn without a zone cluster, never misread.
            assert_eq!(is_zone(z), z != "us-gov-west-1a", "{z}");
        }
        for not in ["main", "public", "us-east-1", "1a", "alb-internal"] {
            assert!(!is_zone(not), "{not}");
        }
    }

    #[test]
    fn resources_are_placed_by_tier_and_zone() {
        let cases = [
            ("subnet.public.us-east-1a", "ec2.subnet", "public", Some("us-east-1a")),
            ("subnet.data.us-east-1b", "ec2.subnet", "data", Some("us-east-1b")),
            ("route_table.private.us-east-1a", "ec2.route_table", "app", Some("us-east-1a")),
            ("nat.us-east-1a", "ec2.nat_gateway", "public", Some("us-east-1a")),
            ("vpc.main", "ec2.vpc", "network", None),
            ("sg.db", "ec2.security_group", "data", None),
            ("sg_rules.alb", "ec2.security_group_rules", "public", None),
            ("alb.internal", "elbv2.load_balancer", "app", None),
            ("listener.public.https", "elbv2.listener", "public", None),
            ("target_group.frontend", "elbv2.target_group", "app", None),
            ("listener_rule.backend", "elbv2.listener_rule", "app", None),
            ("dns_zone.internal", "route53.hosted_zone", "app", None),
            ("ecs_service.frontend", "ecs.service", "app", None),
            ("db_instance.us-east-1b", "docdb.instance", "data", Some("us-east-1b")),
            ("secret.db", "secretsmanager.secret", "data", None),
            ("alarm.ecs_cpu.frontend", "cloudwatch.alarm", "observability", None),
            ("iam_role.execution", "iam.role", "identity", None),
        ];
        for (address, kind, tier, zone) in cases {
            assert_eq!(placement(&a(address), kind), (tier, zone.map(str::to_string)), "{address}");
        }
    }
}
