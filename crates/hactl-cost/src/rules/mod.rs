//! How each kind is priced: a rule per priced kind, the kinds that cost nothing (or only
//! by use the estimate does not model), and the property readers the rules share.

mod compute;
mod data;
mod network;
mod ops;

use crate::estimate::Category;
use crate::prices::{Assumptions, PriceTable};
use crate::Item;
use hactl_core::{Address, Value};
use std::collections::BTreeMap;

/// One priced part of a resource.
pub(crate) struct Charge {
    pub category: Category,
    pub usd: f64,
    pub detail: String,
    /// Billed in another region than the resource's (a secret's replica).
    pub region: Option<String>,
}

/// Prices a resource: pushes its charges; an error is the reason the rest of it stays
/// unpriced (charges pushed before it stand).
pub(crate) type RuleFn = fn(&Ctx<'_, '_>, &Item<'_>, &mut Vec<Charge>) -> Result<(), String>;

pub(crate) enum Rule {
    Price(RuleFn),
    /// No line: the kind costs nothing, or only by use the estimate does not model.
    Free,
}

/// Kinds with no charge of their own: networking objects, IAM, groups and parameters, the
/// ECS cluster and task definitions (their tasks are priced through the services), launch
/// templates (their instances through the Auto Scaling group), listeners and target groups
/// (through the load balancer), alias records (queries to AWS resources are free), a
/// global cluster (through its member clusters).
pub const FREE_KINDS: &[&str] = &[
    "acm.certificate",
    "appautoscaling.policy",
    "appautoscaling.scheduled_action",
    "appautoscaling.target",
    "autoscaling.scheduled_action",
    "docdb.cluster_parameter_group",
    "docdb.global_cluster",
    "docdb.subnet_group",
    "ec2.internet_gateway",
    "ec2.internet_gateway_attachment",
    "ec2.launch_template",
    "ec2.network_acl",
    "ec2.route",
    "ec2.route_table",
    "ec2.security_group",
    "ec2.security_group_rules",
    "ec2.subnet",
    "ec2.vpc",
    "ecr.replication",
    "ecs.capacity_provider",
    "ecs.cluster",
    "ecs.cluster_capacity_providers",
    "ecs.task_definition",
    "elbv2.listener",
    "elbv2.listener_rule",
    "elbv2.target_group",
    "iam.instance_profile",
    "iam.oidc_provider",
    "iam.policy",
    "iam.role",
    "logs.subscription_filter",
    "rds.parameter_group",
    "rds.subnet_group",
    "route53.record",
    "secretsmanager.rotation",
    "secretsmanager.secret_fields",
];

/// Kinds billed only per use (invocations, requests, messages, stored objects), which the
/// estimate does not model: no line.
pub const USAGE_KINDS: &[&str] = &[
    "events.rule",
    "lambda.function",
    "s3.bucket",
    "scheduler.schedule",
    "scheduler.schedule_group",
    "sfn.state_machine",
    "sns.subscription",
    "sns.topic",
];

/// The rule of `kind`; `None` for a kind the estimator does not know.
pub(crate) fn rule(kind: &str) -> Option<Rule> {
    let f: RuleFn = match kind {
        "ec2.nat_gateway" => network::nat_gateway,
        "ec2.eip" => network::eip,
        "elbv2.load_balancer" => network::load_balancer,
        "ec2.vpc_endpoint" => network::vpc_endpoint,
        "ecs.service" => compute::ecs_service,
        "autoscaling.group" => compute::auto_scaling_group,
        "rds.instance" => data::rds_instance,
        "rds.db_proxy" => data::rds_proxy,
        "docdb.instance" => data::docdb_instance,
        "docdb.cluster" => data::docdb_cluster,
        "secretsmanager.secret" => ops::secret,
        "cloudwatch.alarm" => ops::alarm,
        "cloudwatch.dashboard" => ops::dashboard,
        "logs.log_group" => ops::log_group,
        "route53.hosted_zone" => ops::hosted_zone,
        "route53.health_check" => ops::health_check,
        "ecr.repository" => ops::ecr_repository,
        "opensearch.domain" => ops::opensearch_domain,
        _ if FREE_KINDS.contains(&kind) || USAGE_KINDS.contains(&kind) => return Some(Rule::Free),
        _ => return None,
    };
    Some(Rule::Price(f))
}

/// What a rule prices with.
pub(crate) struct Ctx<'c, 'a> {
    /// Every item, by address: relations are found through `deps` and these.
    pub items: &'c BTreeMap<&'a Address, &'c Item<'a>>,
    /// The region the resource is billed in, and its table.
    pub region: &'c str,
    pub t: &'c PriceTable,
    /// Every table, by region (a secret's replicas are billed in theirs).
    pub tables: &'c BTreeMap<String, PriceTable>,
    pub a: &'c Assumptions,
    pub vcpus: &'c BTreeMap<String, u32>,
}

impl Ctx<'_, '_> {
    /// The one dependency of `item` of kind `kind`.
    pub fn dep<'s>(&'s self, item: &Item<'_>, kind: &str) -> Result<&'s Item<'s>, String> {
        let mut found = item.deps.iter().filter_map(|d| self.items.get(d)).filter(|d| d.kind == kind);
        match (found.next(), found.next()) {
            (Some(d), None) => Ok(d),
            (None, _) => Err(format!("no {kind} among its dependencies")),
            (Some(_), Some(_)) => Err(format!("more than one {kind} among its dependencies")),
        }
    }

    pub fn charge(&self, out: &mut Vec<Charge>, category: Category, usd: f64, detail: String) {
        out.push(Charge { category, usd, detail, region: None });
    }

    /// `hours_per_month` as written in details.
    pub fn hours(&self) -> String {
        format!("{} h", qty(self.a.hours_per_month))
    }
}

/// `key`'s price in `table`, or why there is none.
pub(crate) fn price(
    table: &BTreeMap<String, f64>,
    key: &str,
    what: &str,
    region: &str,
) -> Result<f64, String> {
    table.get(key).copied().ok_or_else(|| format!("{what} {key} is not in the price table of {region}"))
}

/// A property, `None` when absent or null.
pub(crate) fn prop<'i>(item: &'i Item<'_>, name: &str) -> Option<&'i Value> {
    item.props.get(name).filter(|v| !matches!(v, Value::Null))
}

/// A number: an integer, a float or a string of one (a task definition's `"512"`).
pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Str(s) => s.trim().parse().ok(),
        other => other.as_f64(),
    }
}

fn not_known(v: &Value) -> bool {
    v.has_unknown() || matches!(v, Value::Ref(_) | Value::Concat(_))
}

/// The number `name` of `item`, or why it cannot be read.
pub(crate) fn need_number(item: &Item<'_>, name: &str) -> Result<f64, String> {
    match prop(item, name) {
        None => Err(format!("{} has no {name}", item.address)),
        Some(v) if not_known(v) => Err(format!("{name} of {} is not known yet", item.address)),
        Some(v) => number(v).ok_or_else(|| format!("{name} of {} is not a number", item.address)),
    }
}

/// The string `name` of `item`, or why it cannot be read.
pub(crate) fn need_text<'i>(item: &'i Item<'_>, name: &str) -> Result<&'i str, String> {
    match prop(item, name) {
        None => Err(format!("{} has no {name}", item.address)),
        Some(v) if not_known(v) => Err(format!("{name} of {} is not known yet", item.address)),
        Some(v) => v.as_str().ok_or_else(|| format!("{name} of {} is not a string", item.address)),
    }
}

/// A number from a map property's entry.
pub(crate) fn entry_number(map: &BTreeMap<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(number)
}

/// How many entries a list property has (a load balancer's or endpoint's subnets: one per
/// zone), references included.
pub(crate) fn count(item: &Item<'_>, name: &str) -> Result<usize, String> {
    match prop(item, name) {
        Some(Value::List(l)) => Ok(l.len()),
        Some(_) => Err(format!("{name} of {} is not a list", item.address)),
        None => Err(format!("{} has no {name}", item.address)),
    }
}

/// A quantity as written in details: `2`, `0.5`, `1.33`.
pub(crate) fn qty(x: f64) -> String {
    let rounded = (x * 100.0).round() / 100.0;
    format!("{rounded}")
}

/// A percentage as written in details: `70 %`.
pub(crate) fn percent(fraction: f64) -> String {
    format!("{} %", qty(fraction * 100.0))
}
