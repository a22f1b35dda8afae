//! `[dr]`: a disaster-recovery region of the same stack and account. A child module of
//! `validate`.

use super::is_region;
use super::validate_network::{network, Section};
use super::{MAX_TASKS, TASKS_HINT};
use crate::error::Collector;
use crate::expand::partition;
use crate::model::DrConfig;
use crate::net::overlaps;
use crate::raw::{RawConfig, RawDr};
use crate::suggest::{did_you_mean, list_quoted};
use std::collections::BTreeMap;

/// `home`: the stack's region when it is valid.
pub(super) fn dr(raw: &RawConfig, r: &RawDr, home: Option<&str>, c: &mut Collector<'_>) -> Option<DrConfig> {
    let region = dr_region(r, home, c);
    let at = Section { prefix: "dr.network", region, region_key: "dr.region" };
    let net = network(&r.network, &at, c);
    if let (Some(n), Ok(home_vpc)) = (&net, raw.network.vpc_cidr.get_ref().parse::<ipnet::Ipv4Net>()) {
        if overlaps(&n.vpc_cidr, &home_vpc) {
            let msg = format!(
                "the DR VPC {} overlaps the primary VPC {home_vpc}: the two regions' networks must not overlap",
                n.vpc_cidr
            );
            let hint =
                "give the DR region its own block, e.g. \"10.1.0.0/16\" beside \"10.0.0.0/16\" (peering, \
                        VPN and failover routing need distinct ranges)";
            c.push(r.network.vpc_cidr.span(), "dr.network.vpc_cidr", msg, hint);
        }
    }
    // ACM certificates are regional: the DR region's HTTPS listener cannot use the
    // primary's (without one, hactl imports a self-signed certificate in each region).
    if let Some(arn) = raw.load_balancer.as_ref().and_then(|l| l.certificate_arn.as_ref()) {
        let msg = "load_balancer.certificate_arn names one region's certificate, and [dr] needs one in its region too";
        let hint =
            "leave certificate_arn out with [dr] (hactl imports a self-signed certificate in each region), \
                    or remove [dr]; a per-region certificate setting is not there yet";
        c.push(arn.span(), "load_balancer.certificate_arn", msg, hint);
    }
    // AWS manages no master password for a global cluster's members or a cross-region
    // replica's source: with [dr] the password is hactl's replicated secret, which a
    // schedule rotates only by running `hactl rotate-credentials` in AWS, as the drift
    // job runs `hactl drift` (the same image, config and state).
    if let Some(days) = raw.database.as_ref().and_then(|d| d.password_rotation_days.as_ref()) {
        let scheduled = raw.drift.as_ref().is_some_and(|d| d.schedule.is_some() && d.image.is_some());
        if !scheduled {
            let msg = "with [dr] the password is hactl's secret (AWS manages none for a global cluster or a \
                       cross-region replica), and a schedule rotates it by running hactl in AWS";
            let hint =
                "set [drift] schedule and image (the hactl image that runs `hactl rotate-credentials` \
                        on this schedule too, with S3 state), or leave password_rotation_days out and rotate \
                        with `hactl rotate-credentials`";
            c.push(days.span(), "database.password_rotation_days", msg, hint);
        }
    }
    let desired_counts = desired_counts(raw, r, c);
    Some(DrConfig { region: region?.to_string(), network: net?, desired_counts: desired_counts? })
}

fn dr_region<'r>(r: &'r RawDr, home: Option<&str>, c: &mut Collector<'_>) -> Option<&'r str> {
    let name = r.region.get_ref();
    if !is_region(name) {
        let msg = format!("\"{name}\" is not a region name");
        let hint = "a region such as \"us-west-2\" or \"eu-central-1\", other than stack.region";
        c.push(r.region.span(), "dr.region", msg, hint);
        return None;
    }
    if home == Some(name.as_str()) {
        let msg = format!("the disaster-recovery region is the stack's own region ({name})");
        let hint = "name another region of the same partition, e.g. \"us-west-2\" for \"us-east-1\"";
        c.push(r.region.span(), "dr.region", msg, hint);
        return None;
    }
    if let Some(h) = home.filter(|h| partition(h) != partition(name)) {
        let msg = format!(
            "{name} is in partition {}, the stack's region {h} in {}: one stack lives in one account",
            partition(name),
            partition(h)
        );
        let hint = "pick a disaster-recovery region of the stack region's partition";
        c.push(r.region.span(), "dr.region", msg, hint);
        return None;
    }
    Some(name.as_str())
}

/// `[dr.desired_counts]`: service name = task count while standing by.
fn desired_counts(raw: &RawConfig, r: &RawDr, c: &mut Collector<'_>) -> Option<BTreeMap<String, u32>> {
    let errors_before = c.errors.len();
    let names: Vec<&str> = raw.services.iter().map(|s| s.name.get_ref().as_str()).collect();
    let mut counts = BTreeMap::new();
    for (service, count) in r.desired_counts.iter().flatten() {
        let field = format!("dr.desired_counts.{}", crate::locate::render_key(service.get_ref()));
        if !names.contains(&service.get_ref().as_str()) {
            let msg = format!("\"{}\" is not a service of this stack", service.get_ref());
            let hint = if names.is_empty() {
                "the stack has no [[services]]: remove [dr.desired_counts]".to_string()
            } else {
                format!("{}services: {}", did_you_mean(service.get_ref(), &names), list_quoted(&names))
            };
            c.push(service.span(), field, msg, hint);
            continue;
        }
        if let Some(n) = c.int(count, &field, 0, MAX_TASKS, TASKS_HINT) {
            counts.insert(service.get_ref().clone(), u32::try_from(n).ok()?);
        }
    }
    (c.errors.len() == errors_before).then_some(counts)
}
