//! The monthly cost of a stack's resources, from price tables kept in the repo, per
//! region. Pure: no I/O, no AWS call, nothing printed.
//!
//! # Input
//!
//! [`Item`]s: a resource's address, kind, region, properties and dependencies, from the
//! desired graph ([`estimate_graph`]; properties may hold references and unknown values)
//! or from recorded state (properties resolved to ids and ARNs, dependencies the recorded
//! `depends_on`). What a resource needs of another is found through its dependencies'
//! addresses and kinds, never by reading ARNs: an ECS service's task definition (its CPU
//! and memory), an Auto Scaling group's launch template (its instance type and root
//! volume), an RDS proxy's instance (its class, hence its vCPUs).
//!
//! # Prices
//!
//! `prices/<region>.toml`, one a region (us-east-1, us-west-2, eu-west-1, eu-central-1):
//! on-demand, Linux, USD, each section with the AWS pricing page it comes from, each file
//! with the month its figures are from and how far they were checked. A resource of a
//! region without a table is [unpriced](Unpriced), as is an instance class or type its
//! region's table lacks: never a silent zero. **Global kinds** (Route 53, CloudWatch
//! dashboards, IAM) are priced from the home region's table, their lines under
//! [`GLOBAL`]; a regional kind given no region is the home region's.
//!
//! # Assumptions
//!
//! `prices/assumptions.toml`, echoed in every estimate: a month of 730 hours; per use,
//! the LCUs of each load balancer, the GB each NAT gateway and interface endpoint
//! processes, the GB of logs each log group ingests, the GB a DocumentDB cluster stores
//! and its I/O, the GB each ECR repository holds.
//!
//! # What is counted
//!
//! - NAT gateways (hours, assumed data), Elastic IPs and an internet-facing load
//!   balancer's public IPv4 addresses (one per zone: its subnets), load balancers (hours,
//!   assumed LCUs), interface endpoints (hours per zone, assumed data);
//! - ECS services on Fargate: count × (vCPU, GB) of the task definition, the
//!   FARGATE_SPOT share of a capacity provider strategy (each provider's base first, the
//!   rest by weight) at the table's Spot discount; the Auto Scaling group's instances of
//!   its launch template's type and their gp3 root volumes, the Spot share of a
//!   mixed-instances policy likewise (priced as its first instance type);
//! - RDS PostgreSQL instances (class hours, allocated storage; Multi-AZ doubles both),
//!   RDS Proxy (the instance's vCPUs, at least 2), DocumentDB instances (class hours) and
//!   clusters (assumed storage and I/O), the secret a database makes for a managed
//!   master password;
//! - secrets and their replicas (billed in the replica's region), alarms (high-resolution
//!   under a 60 s period), dashboards, log groups (assumed ingestion, storage for their
//!   retention), hosted zones, health checks (HTTPS and the 10 s interval as optional
//!   features), ECR repositories (assumed storage), OpenSearch domains (data nodes, gp3).
//!
//! # What is not
//!
//! Data transfer (between zones, between regions, to the internet, ECR and DocumentDB
//! replication), DNS queries, API requests, backups and snapshots beyond the free
//! allowance, Container Insights, the free tiers (every alarm and dashboard is counted:
//! the allowance is the account's), scheduled scaling (counts are the configured ones
//! all month), and the kinds billed only per use ([`USAGE_KINDS`]: Lambda, Step
//! Functions, EventBridge, SNS, S3, scheduled tasks). [`FREE_KINDS`] have no charge of
//! their own. The stack creates no KMS key (its `kms_key_id` options name existing ones),
//! so none is priced. Spot prices move with demand; the tables take a stated discount.

mod estimate;
pub mod prices;
mod rules;

pub use estimate::{delta, Category, Estimate, Line, Source, Unpriced, GLOBAL};
pub use prices::{Assumptions, CostError, PriceTable};
pub use rules::{FREE_KINDS, USAGE_KINDS};

use hactl_core::{Address, DesiredGraph, Props};
use std::collections::{BTreeMap, BTreeSet};

/// One resource to price.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub address: &'a Address,
    pub kind: &'a str,
    /// Where it is billed; `None` for a global kind (priced from the home region's table).
    pub region: Option<&'a str>,
    pub props: &'a Props,
    /// The addresses it depends on (references and ordering dependencies).
    pub deps: &'a [Address],
}

/// The monthly cost of `items`, global kinds priced from `home_region`'s table. An error
/// only when a price file compiled into the crate does not read (its tests check them).
pub fn estimate(home_region: &str, items: &[Item<'_>]) -> Result<Estimate, CostError> {
    let assumptions = prices::assumptions()?;
    let vcpus = prices::db_vcpus()?;
    let mut tables = BTreeMap::new();
    for r in prices::regions() {
        if let Some(t) = prices::table(r)? {
            tables.insert(r.to_string(), t);
        }
    }
    let by_address: BTreeMap<&Address, &Item<'_>> = items.iter().map(|i| (i.address, i)).collect();
    let mut lines = Vec::new();
    let mut unpriced = Vec::new();
    for item in items {
        let mut missing = |reason: String| {
            unpriced.push(Unpriced { address: item.address.clone(), kind: item.kind.to_string(), reason })
        };
        let f = match rules::rule(item.kind) {
            Some(rules::Rule::Price(f)) => f,
            Some(rules::Rule::Free) => continue,
            None => {
                missing(format!("kind {} has no pricing rule", item.kind));
                continue;
            }
        };
        let global = hactl_core::kinds::info(item.kind).is_some_and(|k| k.global);
        let region = if global { home_region } else { item.region.unwrap_or(home_region) };
        let Some(t) = tables.get(region) else {
            let whose = if global { " (the home region's: it prices global kinds)" } else { "" };
            missing(format!("no price table for region {region}{whose}"));
            continue;
        };
        let ctx =
            rules::Ctx { items: &by_address, region, t, tables: &tables, a: &assumptions, vcpus: &vcpus };
        let mut charges = Vec::new();
        let result = f(&ctx, item, &mut charges);
        for ch in charges {
            let billed = ch.region.unwrap_or_else(|| if global { GLOBAL } else { region }.to_string());
            lines.push(Line {
                address: item.address.clone(),
                kind: item.kind.to_string(),
                region: billed,
                category: ch.category,
                monthly_usd: ch.usd,
                detail: ch.detail,
            });
        }
        if let Err(reason) = result {
            missing(reason);
        }
    }
    let used: BTreeSet<&str> =
        lines.iter().map(|l| if l.region == GLOBAL { home_region } else { l.region.as_str() }).collect();
    let sources = used
        .into_iter()
        .filter_map(|r| tables.get(r))
        .map(|t| Source {
            region: t.region.clone(),
            taken: t.taken.clone(),
            checked: t.checked.clone(),
            pages: t.sources.clone(),
        })
        .collect();
    Ok(Estimate {
        monthly_usd: lines.iter().map(|l| l.monthly_usd).sum(),
        home_region: home_region.to_string(),
        lines,
        unpriced,
        assumptions,
        sources,
    })
}

/// The monthly cost of a desired graph: each resource in its placed region (unplaced:
/// `home_region`), global kinds priced from `home_region`'s table.
pub fn estimate_graph(graph: &DesiredGraph, home_region: &str) -> Result<Estimate, CostError> {
    let specs: Vec<_> = graph.specs().collect();
    let deps: Vec<Vec<Address>> = specs.iter().map(|s| s.dependencies().into_iter().collect()).collect();
    let items: Vec<Item<'_>> = specs
        .iter()
        .zip(&deps)
        .map(|(s, d)| {
            let global = hactl_core::kinds::info(&s.kind).is_some_and(|k| k.global);
            let region = match &s.location {
                _ if global => None,
                Some(l) => l.region_name().or(Some(home_region)),
                None => Some(home_region),
            };
            Item { address: &s.address, kind: &s.kind, region, props: &s.props, deps: d }
        })
        .collect();
    estimate(home_region, &items)
}

#[cfg(test)]
mod tests;
