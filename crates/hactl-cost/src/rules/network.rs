//! NAT gateways, public IPv4 addresses, load balancers, VPC endpoints.

use super::{count, need_text, qty, Charge, Ctx};
use crate::estimate::Category;
use crate::Item;

/// Its hours, and the assumed data it processes. Its public address is its Elastic IP's.
pub(crate) fn nat_gateway(c: &Ctx<'_, '_>, _: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.nat_gateway;
    let h = c.a.hours_per_month;
    c.charge(out, Category::Network, h * p.hour, format!("{} × ${}/h", c.hours(), p.hour));
    let gb = c.a.nat_gb_per_gateway;
    let detail = format!("{} GB processed (assumed) × ${}/GB", qty(gb), p.gb_processed);
    c.charge(out, Category::Network, gb * p.gb_processed, detail);
    Ok(())
}

/// One public IPv4 address.
pub(crate) fn eip(c: &Ctx<'_, '_>, _: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let hour = c.t.public_ipv4.hour;
    let detail = format!("1 public IPv4 address × {} × ${hour}/h", c.hours());
    c.charge(out, Category::Network, c.a.hours_per_month * hour, detail);
    Ok(())
}

/// An Application Load Balancer: its hours, the assumed LCUs, and when internet-facing a
/// public IPv4 address in each of its zones (one per subnet).
pub(crate) fn load_balancer(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.load_balancer;
    let h = c.a.hours_per_month;
    c.charge(out, Category::LoadBalancing, h * p.hour, format!("{} × ${}/h", c.hours(), p.hour));
    let lcus = c.a.alb_lcus;
    let detail = format!("{} LCU (assumed) × {} × ${}/LCU-h", qty(lcus), c.hours(), p.lcu_hour);
    c.charge(out, Category::LoadBalancing, lcus * h * p.lcu_hour, detail);
    if need_text(item, "scheme")? == "internet-facing" {
        let zones = count(item, "subnet_ids")?;
        let hour = c.t.public_ipv4.hour;
        let detail = format!("{zones} public IPv4 addresses (one per zone) × {} × ${hour}/h", c.hours());
        c.charge(out, Category::Network, zones as f64 * h * hour, detail);
    }
    Ok(())
}

/// An interface endpoint: its hours in each zone (one per subnet) and the assumed data it
/// processes. A gateway endpoint is free.
pub(crate) fn vpc_endpoint(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    match need_text(item, "vpc_endpoint_type")? {
        "Gateway" => Ok(()),
        "Interface" => {
            let p = &c.t.vpc_endpoint;
            let zones = count(item, "subnet_ids")?;
            let h = c.a.hours_per_month;
            let detail = format!("{zones} zones × {} × ${}/h", c.hours(), p.interface_hour_per_az);
            c.charge(out, Category::Network, zones as f64 * h * p.interface_hour_per_az, detail);
            let gb = c.a.endpoint_gb_per_endpoint;
            let detail = format!("{} GB processed (assumed) × ${}/GB", qty(gb), p.gb_processed);
            c.charge(out, Category::Network, gb * p.gb_processed, detail);
            Ok(())
        }
        other => Err(format!("endpoint type {other} is not priced (Interface and Gateway are)")),
    }
}
