//! Expansion: the validated stack config becomes the desired resource graph.
//!
//! Addresses are keyed by role and availability zone (`subnet.app.us-east-1a`), never by
//! list index. Every taggable resource gets the stack's tags plus `Name`,
//! `hactl:stack` and `hactl:address`.

use crate::model::{NatMode, RuleSource, StackConfig, Tier};
use hactl_core::{Address, DesiredGraph, GraphError, Ref, ResourceSpec, Value, TAG_ADDRESS, TAG_STACK};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error(transparent)]
    Address(#[from] hactl_core::address::AddressError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// An AWS account id: exactly 12 digits (what STS GetCallerIdentity answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountId(String);

impl AccountId {
    /// `None` unless `id` is 12 ASCII digits.
    pub fn parse(id: &str) -> Option<AccountId> {
        (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What expansion needs to know about where the stack goes, beyond the config: the
/// account (trust policy conditions and the ARNs of scoped grants name it).
#[derive(Clone, Debug)]
pub struct ExpandEnv {
    account: Option<AccountId>,
}

/// What offline expansions (`validate`, `graph`) write where the account id goes. Never
/// applied: commands that call AWS expand with [`ExpandEnv::account`].
pub const OFFLINE_ACCOUNT: &str = "ACCOUNT_ID";

impl ExpandEnv {
    /// The stack goes to this account (from STS GetCallerIdentity).
    pub fn account(id: AccountId) -> ExpandEnv {
        ExpandEnv { account: Some(id) }
    }

    /// No AWS call: the account is unknown. The graph has the same resources and
    /// dependencies; account ids in policies read [`OFFLINE_ACCOUNT`].
    pub fn offline() -> ExpandEnv {
        ExpandEnv { account: None }
    }

    pub(crate) fn account_id(&self) -> &str {
        self.account.as_ref().map_or(OFFLINE_ACCOUNT, AccountId::as_str)
    }
}

/// The account tests expand for.
#[cfg(test)]
pub(crate) fn test_env() -> ExpandEnv {
    ExpandEnv::account(AccountId("123456789012".to_string()))
}

/// Builds the desired graph of the stack.
pub fn expand(cfg: &StackConfig, env: &ExpandEnv) -> Result<DesiredGraph, ExpandError> {
    Ok(DesiredGraph::build(Expander { cfg, env, specs: Vec::new() }.run()?)?)
}

pub(crate) struct Expander<'a> {
    pub(crate) cfg: &'a StackConfig,
    pub(crate) env: &'a ExpandEnv,
    pub(crate) specs: Vec<ResourceSpec>,
}

/// The partition of a region's ARNs.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What the compute tier needs from the network tier.
pub(crate) struct NetworkRefs {
    pub vpc: Address,
    pub igw_attachment: Address,
    /// By (tier, AZ), in zone order within a tier.
    pub subnets: BTreeMap<(&'static str, String), Address>,
    pub groups: BTreeMap<Tier, Address>,
    pub internal_alb_group: Option<Address>,
    /// The private default routes (instances and tasks need them to reach ECS and images).
    pub private_routes: Vec<Address>,
}

impl NetworkRefs {
    pub fn subnet_ids(&self, cfg: &StackConfig, tier: &'static str) -> Value {
        Value::List(cfg.network.zones.iter().map(|z| id(&self.subnets[&(tier, z.az.clone())])).collect())
    }
}

pub(crate) fn addr(segments: &[&str]) -> Result<Address, ExpandError> {
    Ok(Address::from_segments(segments)?)
}

pub(crate) fn id(a: &Address) -> Value {
    Value::Ref(Ref::new(a, "id"))
}

pub(crate) fn out(a: &Address, output: &str) -> Value {
    Value::Ref(Ref::new(a, output))
}

/// A name of at most `max` characters: `full` itself, or its start and a short hash of the
/// whole (stable, so the same config gives the same name).
pub(crate) fn short_name(full: &str, max: usize) -> String {
    if full.len() <= max {
        return full.to_string();
    }
    // FNV-1a, 32 bits: stable across builds and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in full.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let keep = max.saturating_sub(7);
    let head = full[..keep].trim_end_matches('-');
    format!("{head}-{:06x}", h & 0x00ff_ffff)
}

fn rule(protocol: &str, from: i32, to: i32, source: Value, source_key: &str, description: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert("protocol".to_string(), Value::str(protocol));
    m.insert("from_port".to_string(), Value::Int(i64::from(if protocol == "-1" { -1 } else { from })));
    m.insert("to_port".to_string(), Value::Int(i64::from(if protocol == "-1" { -1 } else { to })));
    m.insert(source_key.to_string(), source);
    m.insert(
        "description".to_string(),
        if description.is_empty() { Value::Null } else { Value::str(description) },
    );
    Value::Map(m)
}

impl Expander<'_> {
    pub(crate) fn name(&self, parts: &[&str]) -> String {
        std::iter::once(self.cfg.stack.name.as_str())
            .chain(parts.iter().copied())
            .collect::<Vec<_>>()
            .join("-")
    }

    pub(crate) fn tags(&self, address: &Address, name: &str) -> Value {
        let mut t: BTreeMap<String, Value> =
            self.cfg.stack.tags.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect();
        t.insert("Name".into(), Value::str(name));
        if let Some(extra) = self.cfg.resource_tags.get(address.as_str()) {
            t.extend(extra.iter().map(|(k, v)| (k.clone(), Value::str(v))));
        }
        t.insert(TAG_STACK.into(), Value::str(&self.cfg.stack.name));
        t.insert(TAG_ADDRESS.into(), Value::str(address.as_str()));
        Value::Map(t)
    }

    pub(crate) fn push(&mut self, spec: ResourceSpec) -> Address {
        let a = spec.address.clone();
        self.specs.push(spec);
        a
    }

    pub(crate) fn tagged(&mut self, a: Address, kind: &str, name: &str) -> ResourceSpec {
        let tags = self.tags(&a, name);
        ResourceSpec::new(a, kind).prop("tags", tags)
    }

    fn run(mut self) -> Result<Vec<ResourceSpec>, ExpandError> {
        let cfg = self.cfg;
        let net = &cfg.network;

        let vpc = addr(&["vpc", "main"])?;
        let spec = self
            .tagged(vpc.clone(), "ec2.vpc", &self.name(&["vpc"]))
            .prop("cidr_block", net.vpc_cidr.to_string())
            .prop("enable_dns_support", true)
            .prop("enable_dns_hostnames", true);
        self.push(spec);

        let igw = addr(&["igw", "main"])?;
        let spec = self.tagged(igw.clone(), "ec2.internet_gateway", &self.name(&["igw"]));
        self.push(spec);
        let attach = self.push(
            ResourceSpec::new(addr(&["igw_attachment", "main"])?, "ec2.internet_gateway_attachment")
                .prop("internet_gateway_id", id(&igw))
                .prop("vpc_id", id(&vpc)),
        );

        // Route tables: one public, one private per AZ. Each subnet names its table: a
        // subnet has exactly one association, managed as its `route_table_id`.
        let public_rt = addr(&["route_table", "public"])?;
        let spec = self
            .tagged(public_rt.clone(), "ec2.route_table", &self.name(&["public"]))
            .prop("vpc_id", id(&vpc));
        self.push(spec);
        let mut private_rts: BTreeMap<String, Address> = BTreeMap::new();
        for z in &net.zones {
            let rt = addr(&["route_table", "private", &z.az])?;
            let spec = self
                .tagged(rt.clone(), "ec2.route_table", &self.name(&["private", &z.az]))
                .prop("vpc_id", id(&vpc));
            self.push(spec);
            private_rts.insert(z.az.clone(), rt);
        }

        // Subnets, per AZ and tier.
        let mut subnets: BTreeMap<(&'static str, String), Address> = BTreeMap::new();
        for z in &net.zones {
            for (tier, cidr, public) in
                [("public", z.public, true), ("app", z.app, false), ("data", z.data, false)]
            {
                let a = addr(&["subnet", tier, &z.az])?;
                let table = if public { &public_rt } else { &private_rts[&z.az] };
                let spec = self
                    .tagged(a.clone(), "ec2.subnet", &self.name(&[tier, &z.az]))
                    .prop("vpc_id", id(&vpc))
                    .prop("cidr_block", cidr.to_string())
                    .prop("availability_zone", z.az.as_str())
                    .prop("map_public_ip_on_launch", public)
                    .prop("route_table_id", id(table));
                self.push(spec);
                subnets.insert((tier, z.az.clone()), a);
            }
        }

        // NAT gateways with their Elastic IPs.
        let nat_zones: Vec<&str> = match net.nat {
            NatMode::PerAz => net.zones.iter().map(|z| z.az.as_str()).collect(),
            NatMode::Single => net.zones.first().map(|z| vec![z.az.as_str()]).unwrap_or_default(),
            NatMode::None => Vec::new(),
        };
        let mut nats: BTreeMap<&str, Address> = BTreeMap::new();
        for az in &nat_zones {
            let eip_addr = addr(&["eip", "nat", az])?;
            let spec = self
                .tagged(eip_addr.clone(), "ec2.eip", &self.name(&["nat", az]))
                .prop("domain", "vpc")
                .after(&attach);
            self.push(spec);
            let nat = addr(&["nat", az])?;
            let spec = self
                .tagged(nat.clone(), "ec2.nat_gateway", &self.name(&["nat", az]))
                .prop("subnet_id", id(&subnets[&("public", az.to_string())]))
                .prop("allocation_id", Value::Ref(Ref::new(&eip_addr, "id")))
                .prop("connectivity_type", "public")
                .after(&attach);
            self.push(spec);
            nats.insert(az, nat);
        }

        // Default routes: public to the internet gateway; private to its AZ's NAT
        // gateway (or the single one); none without NAT.
        self.push(
            ResourceSpec::new(addr(&["route", "public", "default"])?, "ec2.route")
                .prop("route_table_id", id(&public_rt))
                .prop("destination_cidr_block", "0.0.0.0/0")
                .prop("gateway_id", id(&igw))
                .prop("nat_gateway_id", Value::Null)
                .after(&attach),
        );
        let mut private_routes = Vec::new();
        for (az, rt) in &private_rts {
            if let Some(nat) = nats.get(az.as_str()).or_else(|| nats.values().next()) {
                private_routes.push(addr(&["route", "private", az, "default"])?);
                self.push(
                    ResourceSpec::new(addr(&["route", "private", az, "default"])?, "ec2.route")
                        .prop("route_table_id", id(rt))
                        .prop("destination_cidr_block", "0.0.0.0/0")
                        .prop("nat_gateway_id", id(nat))
                        .prop("gateway_id", Value::Null),
                );
            }
        }

        // Security groups: each tier reachable only from the tier above.
        let mut groups: BTreeMap<Tier, Address> = BTreeMap::new();
        for (tier, what) in
            [(Tier::Alb, "load balancer"), (Tier::App, "application tasks"), (Tier::Db, "database")]
        {
            let a = addr(&["sg", tier.name()])?;
            let group_name = self.name(&[tier.name()]);
            let spec = self
                .tagged(a.clone(), "ec2.security_group", &group_name)
                .prop("vpc_id", id(&vpc))
                .prop("group_name", group_name.as_str())
                .prop("description", format!("hactl {}: {what}", cfg.stack.name));
            self.push(spec);
            groups.insert(tier, a);
        }
        // The internal load balancer's group: reachable only from the app tier.
        let internal_ports = cfg.internal_ports();
        let internal_alb_group = if internal_ports.is_empty() {
            None
        } else {
            let a = addr(&["sg", "alb_internal"])?;
            let group_name = self.name(&["alb-internal"]);
            let spec = self
                .tagged(a.clone(), "ec2.security_group", &group_name)
                .prop("vpc_id", id(&vpc))
                .prop("group_name", group_name.as_str())
                .prop("description", format!("hactl {}: internal load balancer", cfg.stack.name));
            self.push(spec);
            Some(a)
        };
        // Egress, least privilege: the load balancers reach only the app tier on the
        // service ports (targets and health checks use the traffic port); the database
        // answers and never calls out (security groups are stateful), so it has no egress
        // rule at all; the app tier calls AWS APIs, the image registry and the database.
        let all_egress = Value::List(vec![rule("-1", -1, -1, Value::str("0.0.0.0/0"), "cidr", "")]);
        let to_app = |ports: &[u16], what: &str| {
            Value::List(
                ports
                    .iter()
                    .map(|port| {
                        let p = i32::from(*port);
                        rule(
                            "tcp",
                            p,
                            p,
                            id(&groups[&Tier::App]),
                            "source_group_id",
                            &format!("{what} port {port} to the app tier"),
                        )
                    })
                    .collect(),
            )
        };
        let mut egress: BTreeMap<Tier, Value> = BTreeMap::new();
        egress.insert(Tier::Alb, to_app(&cfg.app_ports(), "service"));
        egress.insert(Tier::App, all_egress);
        egress.insert(Tier::Db, Value::List(Vec::new()));
        let mut ingress: BTreeMap<Tier, Vec<Value>> = BTreeMap::new();
        for port in &cfg.security.alb_ports {
            for cidr in &cfg.security.alb_ingress_cidrs {
                let p = i32::from(*port);
                ingress.entry(Tier::Alb).or_default().push(rule(
                    "tcp",
                    p,
                    p,
                    Value::str(cidr.to_string()),
                    "cidr",
                    &format!("port {port} from {cidr}"),
                ));
            }
        }
        for port in cfg.app_ports() {
            let p = i32::from(port);
            ingress.entry(Tier::App).or_default().push(rule(
                "tcp",
                p,
                p,
                id(&groups[&Tier::Alb]),
                "source_group_id",
                &format!("service port {port} from the alb tier"),
            ));
        }
        let mut internal_ingress = Vec::new();
        if let Some(internal) = &internal_alb_group {
            for port in &internal_ports {
                let p = i32::from(*port);
                ingress.entry(Tier::App).or_default().push(rule(
                    "tcp",
                    p,
                    p,
                    id(internal),
                    "source_group_id",
                    &format!("service port {port} from the internal load balancer"),
                ));
                internal_ingress.push(rule(
                    "tcp",
                    p,
                    p,
                    id(&groups[&Tier::App]),
                    "source_group_id",
                    &format!("port {port} from the app tier"),
                ));
            }
        }
        let db = i32::from(cfg.db_port());
        ingress.entry(Tier::Db).or_default().push(rule(
            "tcp",
            db,
            db,
            id(&groups[&Tier::App]),
            "source_group_id",
            &format!("database port {db} from the app tier"),
        ));
        for r in &cfg.security.extra_ingress {
            let (source, key) = match &r.source {
                RuleSource::Cidr(c) => (Value::str(c.to_string()), "cidr"),
                RuleSource::Group(t) => (id(&groups[t]), "source_group_id"),
            };
            ingress.entry(r.group).or_default().push(rule(
                &r.protocol,
                r.from_port,
                r.to_port,
                source,
                key,
                r.description.as_deref().unwrap_or(""),
            ));
        }
        for (tier, group) in &groups {
            self.push(
                ResourceSpec::new(addr(&["sg_rules", tier.name()])?, "ec2.security_group_rules")
                    .prop("group_id", id(group))
                    .prop("ingress", Value::List(ingress.remove(tier).unwrap_or_default()))
                    .prop("egress", egress.remove(tier).unwrap_or_else(|| Value::List(Vec::new()))),
            );
        }

        if let Some(internal) = &internal_alb_group {
            self.push(
                ResourceSpec::new(addr(&["sg_rules", "alb_internal"])?, "ec2.security_group_rules")
                    .prop("group_id", id(internal))
                    .prop("ingress", Value::List(internal_ingress))
                    .prop("egress", to_app(&internal_ports, "internal service")),
            );
        }

        // VPC endpoints.
        if net.s3_gateway_endpoint {
            let a = addr(&["vpce", "s3"])?;
            let mut tables: Vec<Value> = private_rts.values().map(id).collect();
            tables.push(id(&public_rt));
            let spec = self
                .tagged(a, "ec2.vpc_endpoint", &self.name(&["s3"]))
                .prop("vpc_id", id(&vpc))
                .prop("service_name", format!("com.amazonaws.{}.s3", cfg.stack.region))
                .prop("vpc_endpoint_type", "Gateway")
                .prop("route_table_ids", Value::List(tables));
            self.push(spec);
        }
        if !net.interface_endpoints.is_empty() {
            let mut endpoint_ingress = vec![rule(
                "tcp",
                443,
                443,
                id(&groups[&Tier::App]),
                "source_group_id",
                "HTTPS from the app tier",
            )];
            if cfg.drift.schedule.is_some() && !cfg.services.is_empty() {
                // The scheduled drift job (expand_drift.rs) calls AWS through them too.
                endpoint_ingress.push(rule(
                    "tcp",
                    443,
                    443,
                    id(&addr(&["sg", "drift_job"])?),
                    "source_group_id",
                    "HTTPS from the drift job",
                ));
            }
            let sg = addr(&["sg", "endpoints"])?;
            let group_name = self.name(&["endpoints"]);
            let spec = self
                .tagged(sg.clone(), "ec2.security_group", &group_name)
                .prop("vpc_id", id(&vpc))
                .prop("group_name", group_name.as_str())
                .prop("description", format!("hactl {}: interface endpoints", cfg.stack.name));
            self.push(spec);
            self.push(
                ResourceSpec::new(addr(&["sg_rules", "endpoints"])?, "ec2.security_group_rules")
                    .prop("group_id", id(&sg))
                    .prop("ingress", Value::List(endpoint_ingress))
                    // An interface endpoint only answers: no egress rule.
                    .prop("egress", Value::List(Vec::new())),
            );
            let app_subnets: Vec<Value> =
                net.zones.iter().map(|z| id(&subnets[&("app", z.az.clone())])).collect();
            for svc in &net.interface_endpoints {
                let seg = svc.replace('.', "-");
                let spec = self
                    .tagged(addr(&["vpce", &seg])?, "ec2.vpc_endpoint", &self.name(&[&seg]))
                    .prop("vpc_id", id(&vpc))
                    .prop("service_name", format!("com.amazonaws.{}.{svc}", cfg.stack.region))
                    .prop("vpc_endpoint_type", "Interface")
                    .prop("subnet_ids", Value::List(app_subnets.clone()))
                    .prop("security_group_ids", Value::List(vec![id(&sg)]))
                    .prop("private_dns_enabled", true);
                self.push(spec);
            }
        }

        let refs =
            NetworkRefs { vpc, igw_attachment: attach, subnets, groups, internal_alb_group, private_routes };
        let data = self.data_tier(&refs)?;
        self.compute_tier(&refs, data.as_ref())?;
        self.drift_job(&refs, data.as_ref())?;
        self.observability_tier()?;
        Ok(self.specs)
    }
}
