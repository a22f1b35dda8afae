//! `[network]` and `[dr.network]`: the VPC block, the zones and their subnets, NAT and
//! endpoints of one region. A child module of `validate` (its checks are shared).

use super::{check_unique, indexed, is_region, MAX_INTERFACE_ENDPOINTS, NAT_MODES};
use crate::error::Collector;
use crate::model::{AzSubnets, NatMode, NetworkConfig};
use crate::net;
use crate::raw::{List, RawEndpoints, RawNetwork, S};
use ipnet::Ipv4Net;
use std::ops::Range;

/// Where a network section sits: its key prefix (`network`, `dr.network`), the region it
/// is in (when known) and the key that names that region (`stack.region`, `dr.region`).
pub(crate) struct Section<'a> {
    pub prefix: &'a str,
    pub region: Option<&'a str>,
    pub region_key: &'a str,
}

impl Section<'_> {
    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }
}

pub(crate) fn network(r: &RawNetwork, at: &Section<'_>, c: &mut Collector<'_>) -> Option<NetworkConfig> {
    let errors_before = c.errors.len();
    let vpc = vpc_cidr(&r.vpc_cidr, at, c);
    zones(&r.availability_zones, at, c);
    let parsed = subnets(r, vpc, at, c);
    let nat = match &r.nat {
        None => Some(NatMode::PerAz),
        Some(v) => c
            .choice(v, &at.field("nat"), NAT_MODES, "NAT mode")
            .and_then(|i| [NatMode::PerAz, NatMode::Single, NatMode::None].get(i).copied()),
    };
    let (s3_gateway_endpoint, interface_endpoints) = endpoints(r.endpoints.as_ref(), at, c);
    if c.errors.len() != errors_before {
        return None;
    }
    let nets = |t: usize| parsed[t].iter().copied().collect::<Option<Vec<Ipv4Net>>>();
    let (public, app, data) = (nets(0)?, nets(1)?, nets(2)?);
    let mut zones: Vec<AzSubnets> = r
        .availability_zones
        .get_ref()
        .iter()
        .zip(public)
        .zip(app)
        .zip(data)
        .map(|(((az, public), app), data)| AzSubnets { az: az.get_ref().clone(), public, app, data })
        .collect();
    // Sorted by zone name: the order the zones are listed in is cosmetic, so nothing
    // expanded from them (subnet lists, the single NAT gateway's zone, database instance
    // placement) may depend on it.
    zones.sort_by(|a, b| a.az.cmp(&b.az));
    Some(NetworkConfig { vpc_cidr: vpc?, zones, nat: nat?, s3_gateway_endpoint, interface_endpoints })
}

fn vpc_cidr(v: &S<String>, at: &Section<'_>, c: &mut Collector<'_>) -> Option<Ipv4Net> {
    let field = at.field("vpc_cidr");
    let vpc = c.cidr(v, &field)?;
    if !(16..=28).contains(&vpc.prefix_len()) {
        let msg = format!(
            "VPC CIDR prefix /{} is out of range: use a prefix length from /16 to /28",
            vpc.prefix_len()
        );
        let hint = "a /16 holds 65,536 addresses and a /28 16, e.g. \"10.0.0.0/16\"";
        c.push(v.span(), field, msg, hint);
        return None;
    }
    Some(vpc)
}

fn zones(list: &List<String>, at: &Section<'_>, c: &mut Collector<'_>) {
    let region = at.region;
    let region_name = region.unwrap_or("us-east-1");
    let example_azs = format!("[\"{region_name}a\", \"{region_name}b\"]");
    let azs = list.get_ref();
    let key = at.field("availability_zones");
    if azs.len() < 2 {
        let msg = match azs.len() {
            0 => "no availability zones; a highly available stack needs at least 2".to_string(),
            _ => "only 1 availability zone; a highly available stack needs at least 2".to_string(),
        };
        let hint = format!("list two or more zones, e.g. availability_zones = {example_azs}");
        c.push(list.span(), &key, msg, hint);
    }
    for (i, az) in azs.iter().enumerate() {
        let field = format!("{key}[{i}]");
        let name = az.get_ref();
        match region {
            Some(region) if !name.starts_with(region) => {
                let msg = format!("availability zone \"{name}\" is not in region {region}");
                let hint = format!(
                    "zones of {region} are named {region}a, {region}b, ...; fix the zone or {}",
                    at.region_key
                );
                c.push(az.span(), field, msg, hint);
            }
            _ => {
                let suffix = region.map_or_else(
                    || name.trim_end_matches(|ch: char| ch.is_ascii_lowercase()).len(),
                    |r| r.len(),
                );
                let rest = name.get(suffix..).unwrap_or_default();
                let valid_region = region.is_some() || is_region(name.get(..suffix).unwrap_or_default());
                if !(valid_region && rest.len() == 1 && rest.chars().all(|ch| ch.is_ascii_lowercase())) {
                    let msg = format!("\"{name}\" is not an availability zone name");
                    let hint = format!(
                        "an availability zone is the region followed by one letter, e.g. \"{region_name}a\""
                    );
                    c.push(az.span(), field, msg, hint);
                }
            }
        }
    }
    let hint = format!("list each zone once, e.g. availability_zones = {example_azs}");
    check_unique(c, indexed(&key, azs), "availability zone", &hint);
}

/// An accepted subnet: its field, block and span.
type Accepted = (String, Ipv4Net, Range<usize>);

/// Subnets: one per AZ per tier, inside the VPC, no two overlapping. Returns the parsed
/// blocks per tier (public, app, data), `None` where one was refused.
fn subnets(
    r: &RawNetwork,
    vpc: Option<Ipv4Net>,
    at: &Section<'_>,
    c: &mut Collector<'_>,
) -> [Vec<Option<Ipv4Net>>; 3] {
    let zones = r.availability_zones.get_ref().len();
    let tiers: [(&str, &str, &List<String>); 3] = [
        ("public_subnets", "public", &r.public_subnets),
        ("app_subnets", "app", &r.app_subnets),
        ("data_subnets", "data", &r.data_subnets),
    ];
    let mut subnets: Vec<Accepted> = Vec::new();
    let mut parsed: [Vec<Option<Ipv4Net>>; 3] = Default::default();
    for (t, (key, tier, list)) in tiers.iter().enumerate() {
        let field = at.field(key);
        if list.get_ref().len() != zones {
            let msg = format!(
                "{} {tier} subnet{} for {} availability zone{}",
                list.get_ref().len(),
                if list.get_ref().len() == 1 { "" } else { "s" },
                zones,
                if zones == 1 { "" } else { "s" },
            );
            let hint = format!(
                "give exactly one {tier} subnet per availability zone ({zones}), in the order of \
                 {}",
                at.field("availability_zones")
            );
            c.push(list.span(), &field, msg, hint);
        }
        for (i, s) in list.get_ref().iter().enumerate() {
            let block = subnet(s, &format!("{field}[{i}]"), vpc, &mut subnets, &parsed, c);
            parsed[t].push(block);
        }
    }
    overlaps(&subnets, vpc, c);
    parsed
}

/// One subnet block: a valid prefix inside the VPC (accepted into `subnets`), or `None`.
fn subnet(
    s: &S<String>,
    field: &str,
    vpc: Option<Ipv4Net>,
    subnets: &mut Vec<Accepted>,
    parsed: &[Vec<Option<Ipv4Net>>; 3],
    c: &mut Collector<'_>,
) -> Option<Ipv4Net> {
    let sn = c.cidr(s, field)?;
    if !(16..=28).contains(&sn.prefix_len()) {
        let msg = format!(
            "subnet prefix /{} is out of range: use a prefix length from /16 to /28",
            sn.prefix_len()
        );
        let hint = "a /24 gives 251 usable addresses, e.g. \"10.0.10.0/24\"";
        c.push(s.span(), field, msg, hint);
        return None;
    }
    if let Some(v) = vpc.filter(|v| !v.contains(&sn)) {
        let msg = format!("subnet {sn} is outside the VPC CIDR {v}");
        let hint = format!(
            "subnets must lie within {v} ({} - {}){}",
            v.network(),
            v.broadcast(),
            net::free_block(&v, sn.prefix_len(), &subnets_and(subnets, parsed))
                .map(|b| format!("; e.g. \"{b}\" is free"))
                .unwrap_or_default()
        );
        c.push(s.span(), field, msg, hint);
        return None;
    }
    subnets.push((field.to_string(), sn, s.span()));
    Some(sn)
}

fn overlaps(subnets: &[Accepted], vpc: Option<Ipv4Net>, c: &mut Collector<'_>) {
    let all: Vec<Ipv4Net> = subnets.iter().map(|(_, n, _)| *n).collect();
    for (j, (field, block, span)) in subnets.iter().enumerate() {
        for (other_field, other, _) in &subnets[..j] {
            if net::overlaps(block, other) {
                let msg = format!("{block} overlaps {other_field} ({other})");
                let hint = match vpc.and_then(|v| net::free_block(&v, block.prefix_len(), &all)) {
                    Some(free) => format!("subnets must not share addresses; e.g. \"{free}\" is free"),
                    None => "subnets must not share addresses; pick a disjoint block".to_string(),
                };
                c.push(span.clone(), field.clone(), msg, hint);
            }
        }
    }
}

/// All subnets accepted so far plus the parsed ones not yet accepted (for free-block hints).
fn subnets_and(accepted: &[Accepted], parsed: &[Vec<Option<Ipv4Net>>]) -> Vec<Ipv4Net> {
    accepted.iter().map(|(_, n, _)| *n).chain(parsed.iter().flatten().flatten().copied()).collect()
}

/// The S3 gateway endpoint switch and the interface endpoints' service names.
fn endpoints(e: Option<&RawEndpoints>, at: &Section<'_>, c: &mut Collector<'_>) -> (bool, Vec<String>) {
    let Some(e) = e else { return (true, Vec::new()) };
    let s3_gateway_endpoint = e.s3_gateway.as_ref().is_none_or(|v| *v.get_ref());
    let mut interface_endpoints = Vec::new();
    let Some(list) = &e.interface else { return (s3_gateway_endpoint, interface_endpoints) };
    let key = at.field("endpoints.interface");
    for (i, v) in list.get_ref().iter().enumerate() {
        let s = v.get_ref();
        let valid = !s.is_empty()
            && s.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '.' || ch == '-');
        if valid {
            interface_endpoints.push(s.clone());
        } else {
            let msg = format!("invalid interface endpoint service name \"{s}\"");
            let hint = "use the service's short name (a-z, 0-9, '.', '-'), e.g. \"secretsmanager\", \
                        \"logs\" or \"ecr.api\"";
            c.push(v.span(), format!("{key}[{i}]"), msg, hint);
        }
    }
    let hint = "each interface endpoint may be listed once";
    check_unique(c, indexed(&key, list.get_ref()), "endpoint", hint);
    if let Some(v) = list.get_ref().get(MAX_INTERFACE_ENDPOINTS) {
        let msg = format!(
            "{} interface endpoints; AWS allows {MAX_INTERFACE_ENDPOINTS} per VPC",
            list.get_ref().len()
        );
        let hint = "list only the services the tasks call (a default VPC quota; the S3 gateway \
                    endpoint does not count)";
        c.push(v.span(), format!("{key}[{MAX_INTERFACE_ENDPOINTS}]"), msg, hint);
    }
    (s3_gateway_endpoint, interface_endpoints)
}
