//! Secrets, alarms, dashboards, log groups, Route 53, ECR repositories, OpenSearch.

use super::{entry_number, need_number, price, prop, qty, Charge, Ctx};
use crate::estimate::Category;
use crate::Item;
use hactl_core::Value;

/// A secret, and each of its replicas in another region (billed there, at that region's
/// price).
pub(crate) fn secret(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = c.t.secrets_manager.secret_month;
    c.charge(out, Category::Secrets, p, format!("1 secret × ${p}/month"));
    let replicas = prop(item, "replica_regions").map(Value::string_list).unwrap_or_default();
    for region in replicas {
        let Some(t) = c.tables.get(&region) else {
            return Err(format!("its replica in {region}: no price table for region {region}"));
        };
        let p = t.secrets_manager.secret_month;
        let detail = format!("its replica × ${p}/month");
        out.push(Charge { category: Category::Secrets, usd: p, detail, region: Some(region) });
    }
    Ok(())
}

/// An alarm: standard, or high-resolution when its period is under 60 seconds.
pub(crate) fn alarm(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.cloudwatch;
    let period = prop(item, "period").and_then(super::number).unwrap_or(60.0);
    let (usd, what) = if period < 60.0 {
        (p.alarm_high_resolution_month, "high-resolution")
    } else {
        (p.alarm_month, "standard")
    };
    c.charge(out, Category::Monitoring, usd, format!("1 {what} alarm × ${usd}/month"));
    Ok(())
}

/// A dashboard (every one counted: see the table's note on the free tier).
pub(crate) fn dashboard(c: &Ctx<'_, '_>, _: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = c.t.cloudwatch.dashboard_month;
    c.charge(out, Category::Monitoring, p, format!("1 dashboard × ${p}/month"));
    Ok(())
}

/// A log group: the assumed ingestion, and what its retention keeps of it.
pub(crate) fn log_group(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.cloudwatch;
    let gb = c.a.log_gb_per_group;
    let detail = format!("{} GB ingested (assumed) × ${}/GB", qty(gb), p.log_ingest_gb);
    c.charge(out, Category::Monitoring, gb * p.log_ingest_gb, detail);
    let days_per_month = c.a.hours_per_month / 24.0;
    let (months, kept) = match prop(item, "retention_days") {
        Some(_) => {
            let days = need_number(item, "retention_days")?;
            (days / days_per_month, format!("{} days", qty(days)))
        }
        None => (c.a.log_months_without_retention, "no expiry (assumed months)".to_string()),
    };
    let stored = gb * months;
    let detail = format!("{} GB stored ({kept}) × ${}/GB-month", qty(stored), p.log_storage_gb_month);
    c.charge(out, Category::Monitoring, stored * p.log_storage_gb_month, detail);
    Ok(())
}

/// A hosted zone, public or private.
pub(crate) fn hosted_zone(c: &Ctx<'_, '_>, _: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = c.t.route53.hosted_zone_month;
    c.charge(out, Category::Dns, p, format!("1 hosted zone × ${p}/month"));
    Ok(())
}

/// A health check of an AWS endpoint, with HTTPS and the fast interval as optional
/// features billed on top.
pub(crate) fn health_check(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.route53;
    let mut features = Vec::new();
    if prop(item, "check_type").and_then(Value::as_str).is_some_and(|t| t.starts_with("HTTPS")) {
        features.push("HTTPS");
    }
    if prop(item, "request_interval").and_then(super::number) == Some(10.0) {
        features.push("10 s interval");
    }
    let usd = p.health_check_month + features.len() as f64 * p.health_check_feature_month;
    let detail = if features.is_empty() {
        format!("1 health check × ${}/month", p.health_check_month)
    } else {
        format!(
            "1 health check × ${}/month + {} × ${}/month",
            p.health_check_month,
            features.join(", "),
            p.health_check_feature_month
        )
    };
    c.charge(out, Category::Dns, usd, detail);
    Ok(())
}

/// A repository's assumed images.
pub(crate) fn ecr_repository(c: &Ctx<'_, '_>, _: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = c.t.ecr.storage_gb_month;
    let gb = c.a.ecr_gb_per_repository;
    c.charge(out, Category::Registry, gb * p, format!("{} GB stored (assumed) × ${p}/GB-month", qty(gb)));
    Ok(())
}

/// A domain's data nodes and their gp3 volumes.
pub(crate) fn opensearch_domain(
    c: &Ctx<'_, '_>,
    item: &Item<'_>,
    out: &mut Vec<Charge>,
) -> Result<(), String> {
    let p = &c.t.opensearch;
    let cluster = prop(item, "cluster_config").and_then(Value::as_map);
    let Some(cluster) = cluster else { return Err(format!("{} has no cluster_config", item.address)) };
    let Some(itype) = cluster.get("instance_type").and_then(Value::as_str) else {
        return Err(format!("the cluster_config of {} has no instance_type", item.address));
    };
    let nodes = entry_number(cluster, "instance_count").unwrap_or(1.0);
    let hour = price(&p.instance_hour, itype, "OpenSearch instance type", c.region)?;
    let detail = format!("{} × {itype} × {} × ${hour}/h", qty(nodes), c.hours());
    c.charge(out, Category::Search, nodes * c.a.hours_per_month * hour, detail);
    let Some(ebs) = prop(item, "ebs").and_then(Value::as_map) else {
        return Err(format!("{} has no ebs", item.address));
    };
    let kind = ebs.get("volume_type").and_then(Value::as_str).unwrap_or("gp3");
    if kind != "gp3" {
        return Err(format!("OpenSearch volume type {kind} is not in the price table (gp3 is)"));
    }
    let Some(size) = entry_number(ebs, "volume_size") else {
        return Err(format!("the ebs of {} has no volume_size", item.address));
    };
    let detail = format!("{} × {} GB gp3 × ${}/GB-month", qty(nodes), qty(size), p.gp3_gb_month);
    c.charge(out, Category::Search, nodes * size * p.gp3_gb_month, detail);
    Ok(())
}
