//! What an estimate says: its lines, what could not be priced and why, the assumptions and
//! the price tables it used.

use crate::prices::{Assumptions, Sources};
use hactl_core::Address;
use serde::Serialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// What a line pays for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// NAT gateways, public IPv4 addresses, interface endpoints.
    Network,
    LoadBalancing,
    /// Fargate tasks, EC2 instances and their volumes.
    Compute,
    /// Database instances, their storage and I/O, RDS Proxy.
    Database,
    Secrets,
    /// Alarms, dashboards, logs.
    Monitoring,
    Dns,
    Registry,
    Search,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Network => "network",
            Category::LoadBalancing => "load_balancing",
            Category::Compute => "compute",
            Category::Database => "database",
            Category::Secrets => "secrets",
            Category::Monitoring => "monitoring",
            Category::Dns => "dns",
            Category::Registry => "registry",
            Category::Search => "search",
        }
    }
}

/// Where a global kind's lines are (they are priced from the home region's table).
pub const GLOBAL: &str = "global";

/// One priced part of one resource (a resource may have several: an RDS instance's hours,
/// its storage and the secret of its managed password).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub address: Address,
    pub kind: String,
    /// The region billed, or [`GLOBAL`].
    pub region: String,
    pub category: Category,
    pub monthly_usd: f64,
    /// How the figure is made, e.g. `730 h × $0.045/h`.
    pub detail: String,
}

/// A resource, or a part of one, the tables cannot price: never counted as zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Unpriced {
    pub address: Address,
    pub kind: String,
    pub reason: String,
}

/// The price table a region's lines came from.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub region: String,
    /// The month its figures are from.
    pub taken: String,
    pub checked: String,
    pub pages: Sources,
}

/// The monthly cost of a set of resources.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// The sum of the lines (what is unpriced is not in it).
    pub monthly_usd: f64,
    /// The stack's home region: global kinds are priced from its table.
    pub home_region: String,
    pub lines: Vec<Line>,
    pub unpriced: Vec<Unpriced>,
    pub assumptions: Assumptions,
    /// The tables used, by region.
    pub sources: Vec<Source>,
}

/// Dollars rounded to cents, for display.
pub(crate) fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

impl Estimate {
    /// The monthly total of each region ([`GLOBAL`] for global kinds).
    pub fn by_region(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for l in &self.lines {
            *out.entry(l.region.clone()).or_insert(0.0) += l.monthly_usd;
        }
        out
    }

    /// The monthly total of each category.
    pub fn by_category(&self) -> BTreeMap<Category, f64> {
        let mut out = BTreeMap::new();
        for l in &self.lines {
            *out.entry(l.category).or_insert(0.0) += l.monthly_usd;
        }
        out
    }

    /// The estimate as JSON, amounts rounded to cents.
    pub fn to_json(&self) -> Json {
        let lines: Vec<Json> = self
            .lines
            .iter()
            .map(|l| {
                json!({
                    "address": l.address.as_str(),
                    "kind": l.kind,
                    "region": l.region,
                    "category": l.category.name(),
                    "monthly_usd": cents(l.monthly_usd),
                    "detail": l.detail,
                })
            })
            .collect();
        let unpriced: Vec<Json> = self
            .unpriced
            .iter()
            .map(|u| json!({ "address": u.address.as_str(), "kind": u.kind, "reason": u.reason }))
            .collect();
        let by_region: serde_json::Map<String, Json> =
            self.by_region().into_iter().map(|(r, usd)| (r, json!(cents(usd)))).collect();
        let by_category: serde_json::Map<String, Json> = self
            .by_category()
            .into_iter()
            .map(|(c, usd)| (c.name().to_string(), json!(cents(usd))))
            .collect();
        json!({
            "monthly_usd": cents(self.monthly_usd),
            "currency": "USD",
            "home_region": self.home_region,
            "by_region": by_region,
            "by_category": by_category,
            "lines": lines,
            "unpriced": unpriced,
            "assumptions": self.assumptions,
            "sources": self.sources,
        })
    }
}

/// What `after` costs a month more than `before` (negative: less).
pub fn delta(before: &Estimate, after: &Estimate) -> f64 {
    after.monthly_usd - before.monthly_usd
}
