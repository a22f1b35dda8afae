//! Expansion: the validated stack config becomes the desired resource graph.
//!
//! Addresses are keyed by role and availability zone (`subnet.app.us-east-1a`), never by
//! list index. Every taggable resource gets the stack's tags plus `Name`,
//! `hactl:stack` and `hactl:address`.

use crate::model::{DrConfig, NatMode, NetworkConfig, RuleSource, StackConfig, Tier};
use hactl_core::kinds::{
    acm, autoscaling, cloudwatch, docdb, ec2, ecs, elbv2, iam, logs, rds, scheduler, secretsmanager, sns,
    Typed,
};
use hactl_core::{
    Address, DesiredGraph, GraphError, Location, Ref, ResourceSpec, Value, TAG_ADDRESS, TAG_STACK,
};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error(transparent)]
    Address(#[from] hactl_core::address::AddressError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The config expands to what AWS would refuse (a quota), or an embedded document
    /// does not read.
    #[error("{0}")]
    Invalid(String),
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
    /// The region serving traffic (state's `active_region`); none: the stack's region.
    active_region: Option<String>,
}

/// What offline expansions (`validate`, `graph`) write where the account id goes. Never
/// applied: commands that call AWS expand with [`ExpandEnv::account`].
pub const OFFLINE_ACCOUNT: &str = "ACCOUNT_ID";

impl ExpandEnv {
    /// The stack goes to this account (from STS GetCallerIdentity).
    pub fn account(id: AccountId) -> ExpandEnv {
        ExpandEnv { account: Some(id), active_region: None }
    }

    /// The stack's traffic is served from `region` (after `hactl failover --to-region`):
    /// that region's services run at their full counts and its DNS record is the
    /// primary one; the other region stands by.
    pub fn with_active_region(mut self, region: Option<String>) -> ExpandEnv {
        self.active_region = region;
        self
    }

    /// No AWS call: the account is unknown. The graph has the same resources and
    /// dependencies; account ids in policies read [`OFFLINE_ACCOUNT`].
    pub fn offline() -> ExpandEnv {
        ExpandEnv { account: None, active_region: None }
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
    Ok(DesiredGraph::build(Expander { cfg, env, specs: Vec::new(), dr: None }.run()?)?)
}

pub(crate) struct Expander<'a> {
    pub(crate) cfg: &'a StackConfig,
    pub(crate) env: &'a ExpandEnv,
    pub(crate) specs: Vec<ResourceSpec>,
    /// The DR region while its tiers are expanded: addresses start with `dr.`, names carry
    /// `dr` after the stack name and regional resources are placed there.
    pub(crate) dr: Option<&'a DrConfig>,
}

pub(crate) use hactl_core::location::partition;

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
    /// The subnets of `tier`, in zone order (zones are sorted by name, like the keys).
    pub fn subnet_ids(&self, tier: &'static str) -> Value {
        Value::List(self.subnets.iter().filter(|((t, _), _)| *t == tier).map(|(_, a)| id(a)).collect())
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
    let h = fnv1a(full);
    let keep = max.saturating_sub(7);
    let head = full[..keep].trim_end_matches('-');
    format!("{head}-{:06x}", h & 0x00ff_ffff)
}

/// FNV-1a, 32 bits: stable across builds and platforms.
pub(crate) fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
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

/// A kind with a `tags` property: [`Expander::tagged`] gives it the stack's tags.
pub(crate) trait Tagged: Typed {
    fn with_tags(self, tags: Value) -> Self;
}

/// Implements [`Tagged`] through each kind's own `tags` method (a kind without one does
/// not compile here).
macro_rules! tagged_kinds {
    ($($kind:ty),* $(,)?) => {
        $(
            impl Tagged for $kind {
                fn with_tags(self, tags: Value) -> Self {
                    self.tags(tags)
                }
            }
        )*
    };
}

tagged_kinds!(
    acm::Certificate,
    hactl_core::kinds::ecr::Repository,
    hactl_core::kinds::route53::HealthCheck,
    hactl_core::kinds::route53::HostedZone,
    autoscaling::Group,
    cloudwatch::Alarm,
    cloudwatch::Dashboard,
    docdb::Cluster,
    docdb::ClusterParameterGroup,
    docdb::Instance,
    docdb::SubnetGroup,
    ec2::Eip,
    ec2::InternetGateway,
    ec2::LaunchTemplate,
    ec2::NatGateway,
    ec2::NetworkAcl,
    ec2::RouteTable,
    ec2::SecurityGroup,
    ec2::Subnet,
    ec2::Vpc,
    ec2::VpcEndpoint,
    ecs::CapacityProvider,
    ecs::Cluster,
    ecs::Service,
    ecs::TaskDefinition,
    elbv2::Listener,
    elbv2::ListenerRule,
    elbv2::LoadBalancer,
    elbv2::TargetGroup,
    iam::InstanceProfile,
    iam::OidcProvider,
    iam::Policy,
    iam::Role,
    logs::LogGroup,
    rds::Instance,
    rds::DbProxy,
    rds::ParameterGroup,
    rds::SubnetGroup,
    scheduler::ScheduleGroup,
    secretsmanager::Secret,
    sns::Topic,
    hactl_core::kinds::events::Rule,
    hactl_core::kinds::sfn::StateMachine,
    hactl_core::kinds::opensearch::Domain,
    hactl_core::kinds::lambda::Function,
    hactl_core::kinds::s3::Bucket,
);

/// The region a network tier is expanded into: the home region, or the
/// disaster-recovery region (`[dr]`), whose addresses start with `dr.` and whose names
/// carry `dr` after the stack name.
pub(crate) struct Site<'a> {
    pub region: &'a str,
    pub network: &'a NetworkConfig,
    pub dr: bool,
}

impl Site<'_> {
    pub(crate) fn addr(&self, segments: &[&str]) -> Result<Address, ExpandError> {
        if self.dr {
            addr(&[&["dr"], segments].concat())
        } else {
            addr(segments)
        }
    }

    fn name_parts<'p>(&self, parts: &[&'p str]) -> Vec<&'p str> {
        if self.dr {
            [&["dr"], parts].concat()
        } else {
            parts.to_vec()
        }
    }

    /// Where its resources are placed: `None` (the home region) or the DR region.
    fn location(&self) -> Option<Location> {
        self.dr.then(|| Location::region(self.region))
    }
}

/// The route tables of a site: the public one and the private one of each AZ.
struct RouteTables {
    public: Address,
    private: BTreeMap<String, Address>,
}

/// The port of the internal load balancer's one listener (HTTP): every internal service is
/// reached on it, by host name.
pub(crate) const INTERNAL_LISTENER_PORT: u16 = 80;

/// The one rule between the internal load balancer and the app tier: the range of the
/// internal services' ports. `from`: the app tier admits it from `peer`; else the load
/// balancer's egress to `peer`.
fn internal_range_rule(cfg: &StackConfig, peer: &Address, from: bool) -> Option<Value> {
    let (lo, hi) = cfg.internal_port_range()?;
    let ports = if lo == hi { format!("port {lo}") } else { format!("ports {lo}-{hi}") };
    let description = if from {
        format!("internal service {ports} from the internal load balancer")
    } else {
        format!("internal service {ports} to the app tier")
    };
    Some(rule("tcp", i32::from(lo), i32::from(hi), id(peer), "source_group_id", &description))
}

/// Egress to the app tier on `ports`.
fn to_app(groups: &BTreeMap<Tier, Address>, ports: &[u16], what: &str) -> Value {
    Value::List(
        ports
            .iter()
            .map(|port| {
                let p = i32::from(*port);
                let description = format!("{what} port {port} to the app tier");
                rule("tcp", p, p, id(&groups[&Tier::App]), "source_group_id", &description)
            })
            .collect(),
    )
}

/// The ingress rules of each tier's group (the load balancer from its CIDRs, the app tier
/// from the load balancers, the database from the app tier, and the extra rules), and
/// of the internal load balancer's group.
fn ingress_rules(
    cfg: &StackConfig,
    groups: &BTreeMap<Tier, Address>,
    internal: Option<&Address>,
    proxy: Option<&Address>,
) -> (BTreeMap<Tier, Vec<Value>>, Vec<Value>) {
    let mut ingress: BTreeMap<Tier, Vec<Value>> = BTreeMap::new();
    for port in &cfg.security.alb_ports {
        for cidr in &cfg.security.alb_ingress_cidrs {
            let p = i32::from(*port);
            let description = format!("port {port} from {cidr}");
            ingress.entry(Tier::Alb).or_default().push(rule(
                "tcp",
                p,
                p,
                Value::str(cidr.to_string()),
                "cidr",
                &description,
            ));
        }
    }
    let app = ingress.entry(Tier::App).or_default();
    for port in cfg.app_ports() {
        let p = i32::from(port);
        let description = format!("service port {port} from the alb tier");
        app.push(rule("tcp", p, p, id(&groups[&Tier::Alb]), "source_group_id", &description));
    }
    let mut internal_ingress = Vec::new();
    if let Some(internal) = internal {
        app.extend(internal_range_rule(cfg, internal, true));
        let p = i32::from(INTERNAL_LISTENER_PORT);
        let description = format!("port {p} from the app tier");
        internal_ingress.push(rule("tcp", p, p, id(&groups[&Tier::App]), "source_group_id", &description));
    }
    let db = i32::from(cfg.db_port());
    let description = format!("database port {db} from the app tier");
    let data = ingress.entry(Tier::Db).or_default();
    data.push(rule("tcp", db, db, id(&groups[&Tier::App]), "source_group_id", &description));
    // With RDS Proxy, the proxy too (the services move to it with their next revision,
    // which turning the proxy on starts; the app tier keeps its way in meanwhile).
    if let Some(proxy) = proxy {
        let description = format!("database port {db} from the RDS Proxy");
        data.push(rule("tcp", db, db, id(proxy), "source_group_id", &description));
    }
    for r in &cfg.security.extra_ingress {
        let (source, key) = match &r.source {
            RuleSource::Cidr(c) => (Value::str(c.to_string()), "cidr"),
            RuleSource::Group(t) => (id(&groups[t]), "source_group_id"),
        };
        let description = r.description.as_deref().unwrap_or("");
        ingress.entry(r.group).or_default().push(rule(
            &r.protocol,
            r.from_port,
            r.to_port,
            source,
            key,
            description,
        ));
    }
    (ingress, internal_ingress)
}

impl<'a> Expander<'a> {
    /// `<stack>-<parts>` (`<stack>-dr-<parts>` in the DR region).
    pub(crate) fn name(&self, parts: &[&str]) -> String {
        std::iter::once(self.cfg.stack.name.as_str())
            .chain(self.dr.map(|_| "dr"))
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

    /// The address `segments` in the region being expanded (`dr.` first in the DR region).
    pub(crate) fn addr(&self, segments: &[&str]) -> Result<Address, ExpandError> {
        match self.dr {
            Some(_) => addr(&[&["dr"], segments].concat()),
            None => addr(segments),
        }
    }

    /// The region being expanded.
    pub(crate) fn region(&self) -> &str {
        self.dr.map_or(self.cfg.stack.region.as_str(), |d| d.region.as_str())
    }

    /// The network of the region being expanded.
    pub(crate) fn network(&self) -> &'a NetworkConfig {
        self.dr.map_or(&self.cfg.network, |d| &d.network)
    }

    /// Whether the region being expanded stands by (the other one serves traffic).
    pub(crate) fn standby(&self) -> bool {
        self.cfg.dr.is_some() && self.region() != self.active_region()
    }

    /// The region serving traffic.
    pub(crate) fn active_region(&self) -> &str {
        self.env.active_region.as_deref().unwrap_or(&self.cfg.stack.region)
    }

    /// Adds `spec` to the graph; in the DR region, a regional resource not placed yet is
    /// placed there (global kinds stay global).
    pub(crate) fn push(&mut self, spec: impl Into<ResourceSpec>) -> Address {
        let mut spec: ResourceSpec = spec.into();
        if let Some(dr) = self.dr {
            let global = hactl_core::kinds::info(&spec.kind).is_some_and(|k| k.global);
            if spec.location.is_none() && !global {
                spec.location = Some(Location::region(&dr.region));
            }
        }
        let a = spec.address.clone();
        self.specs.push(spec);
        a
    }

    /// `resource` with the stack's tags and `Name` = `name` (see [`Expander::tags`]).
    pub(crate) fn tagged<K: Tagged>(&self, mut resource: K, name: &str) -> K {
        let tags = self.tags(&resource.spec_mut().address, name);
        resource.with_tags(tags)
    }

    fn run(mut self) -> Result<Vec<ResourceSpec>, ExpandError> {
        let cfg = self.cfg;
        let refs =
            self.network_tier(&Site { region: &cfg.stack.region, network: &cfg.network, dr: false })?;
        let data = self.data_tier(&refs)?;
        self.log_analytics(&refs)?;
        let zone = self.dns_zone()?;
        self.ecr_repositories()?;
        self.compute_tier(&refs, data.as_ref())?;
        self.log_shipping(&refs)?;
        self.rotation_redeploy(data.as_ref())?;
        self.drift_job(&refs, data.as_ref())?;
        self.ci(&refs, data.as_ref())?;
        let mut widgets = Vec::new();
        self.observability_tier(&mut widgets)?;
        self.dns_health_check()?;
        if let Some(dr) = &cfg.dr {
            let refs = self.network_tier(&Site { region: &dr.region, network: &dr.network, dr: true })?;
            self.dr = Some(dr);
            self.ecr_repositories()?;
            let data = self.dr_data_tier(&refs, data.as_ref())?;
            self.compute_tier(&refs, data.as_ref())?;
            self.observability_tier(&mut widgets)?;
            self.dns_health_check()?;
            self.dr = None;
            self.ecr_replication()?;
            if let Some(zone) = &zone {
                self.dns_records(zone)?;
            }
        }
        if !widgets.is_empty() {
            self.dashboard(widgets)?;
        }
        Ok(self.specs)
    }

    /// `resource` of `site` named `parts`, tagged (see [`Expander::tagged`]) and placed.
    pub(crate) fn site_tagged<K: Tagged>(&self, site: &Site<'_>, resource: K, parts: &[&str]) -> K {
        let name = self.name(&site.name_parts(parts));
        self.tagged(resource, &name).at(site.location())
    }

    /// The network tier of one region: VPC, internet gateway, route tables, subnets, NAT
    /// gateways, default routes, security groups and their rules, network ACLs, VPC endpoints.
    fn network_tier(&mut self, site: &Site<'_>) -> Result<NetworkRefs, ExpandError> {
        let vpc = site.addr(&["vpc", "main"])?;
        let spec = self
            .site_tagged(site, ec2::Vpc::new(vpc.clone()), &["vpc"])
            .cidr_block(site.network.vpc_cidr.to_string())
            .enable_dns_support(true)
            .enable_dns_hostnames(true);
        self.push(spec);
        let igw = site.addr(&["igw", "main"])?;
        let spec = self.site_tagged(site, ec2::InternetGateway::new(igw.clone()), &["igw"]);
        self.push(spec);
        let igw_attachment = self.push(
            ec2::InternetGatewayAttachment::new(site.addr(&["igw_attachment", "main"])?)
                .at(site.location())
                .internet_gateway_id(id(&igw))
                .vpc_id(id(&vpc)),
        );
        let tables = self.route_tables(site, &vpc)?;
        let subnets = self.subnets(site, &vpc, &tables)?;
        let private_routes = self.routes(site, &tables, &subnets, &igw, &igw_attachment)?;
        let (groups, internal_alb_group) = self.security_groups(site, &vpc)?;
        let mut refs =
            NetworkRefs { vpc, igw_attachment, subnets, groups, internal_alb_group, private_routes };
        self.security_group_rules(site, &refs)?;
        self.network_acls(site, &refs)?;
        self.endpoints(site, &mut refs, &tables)?;
        Ok(refs)
    }

    /// Route tables: one public, one private per AZ. Each subnet names its table: a
    /// subnet has exactly one association, managed as its `route_table_id`.
    fn route_tables(&mut self, site: &Site<'_>, vpc: &Address) -> Result<RouteTables, ExpandError> {
        let public = site.addr(&["route_table", "public"])?;
        let spec = self.site_tagged(site, ec2::RouteTable::new(public.clone()), &["public"]).vpc_id(id(vpc));
        self.push(spec);
        let mut private: BTreeMap<String, Address> = BTreeMap::new();
        for z in &site.network.zones {
            let rt = site.addr(&["route_table", "private", &z.az])?;
            let spec =
                self.site_tagged(site, ec2::RouteTable::new(rt.clone()), &["private", &z.az]).vpc_id(id(vpc));
            self.push(spec);
            private.insert(z.az.clone(), rt);
        }
        Ok(RouteTables { public, private })
    }

    /// Subnets, per AZ and tier, by (tier, AZ).
    fn subnets(
        &mut self,
        site: &Site<'_>,
        vpc: &Address,
        tables: &RouteTables,
    ) -> Result<BTreeMap<(&'static str, String), Address>, ExpandError> {
        let mut subnets = BTreeMap::new();
        for z in &site.network.zones {
            for (tier, cidr, public) in
                [("public", z.public, true), ("app", z.app, false), ("data", z.data, false)]
            {
                let a = site.addr(&["subnet", tier, &z.az])?;
                let table = if public { &tables.public } else { &tables.private[&z.az] };
                let spec = self
                    .site_tagged(site, ec2::Subnet::new(a.clone()), &[tier, &z.az])
                    .vpc_id(id(vpc))
                    .cidr_block(cidr.to_string())
                    .availability_zone(z.az.as_str())
                    .map_public_ip_on_launch(public)
                    .route_table_id(id(table));
                self.push(spec);
                subnets.insert((tier, z.az.clone()), a);
            }
        }
        Ok(subnets)
    }

    /// NAT gateways with their Elastic IPs, and the default routes: public to the
    /// internet gateway; private to its AZ's NAT gateway (or the single one); none
    /// without NAT. Returns the private default routes.
    fn routes(
        &mut self,
        site: &Site<'_>,
        tables: &RouteTables,
        subnets: &BTreeMap<(&'static str, String), Address>,
        igw: &Address,
        attach: &Address,
    ) -> Result<Vec<Address>, ExpandError> {
        let net = site.network;
        let nat_zones: Vec<&str> = match net.nat {
            NatMode::PerAz => net.zones.iter().map(|z| z.az.as_str()).collect(),
            NatMode::Single => net.zones.first().map(|z| vec![z.az.as_str()]).unwrap_or_default(),
            NatMode::None => Vec::new(),
        };
        let mut nats: BTreeMap<&str, Address> = BTreeMap::new();
        for az in &nat_zones {
            let eip_addr = site.addr(&["eip", "nat", az])?;
            let spec = self
                .site_tagged(site, ec2::Eip::new(eip_addr.clone()), &["nat", az])
                .domain("vpc")
                .after(attach);
            self.push(spec);
            let nat = site.addr(&["nat", az])?;
            let spec = self
                .site_tagged(site, ec2::NatGateway::new(nat.clone()), &["nat", az])
                .subnet_id(id(&subnets[&("public", az.to_string())]))
                .allocation_id(Value::Ref(Ref::new(&eip_addr, "id")))
                .connectivity_type("public")
                .after(attach);
            self.push(spec);
            nats.insert(az, nat);
        }
        self.push(
            ec2::Route::new(site.addr(&["route", "public", "default"])?)
                .at(site.location())
                .route_table_id(id(&tables.public))
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(id(igw))
                .nat_gateway_id(Value::Null)
                .after(attach),
        );
        let mut private_routes = Vec::new();
        for (az, rt) in &tables.private {
            if let Some(nat) = nats.get(az.as_str()).or_else(|| nats.values().next()) {
                let a = site.addr(&["route", "private", az, "default"])?;
                private_routes.push(a.clone());
                self.push(
                    ec2::Route::new(a)
                        .at(site.location())
                        .route_table_id(id(rt))
                        .destination_cidr_block("0.0.0.0/0")
                        .nat_gateway_id(id(nat))
                        .gateway_id(Value::Null),
                );
            }
        }
        Ok(private_routes)
    }

    /// A security group of `site` in `vpc`.
    fn security_group(
        &mut self,
        site: &Site<'_>,
        vpc: &Address,
        segment: &str,
        name: &str,
        what: &str,
    ) -> Result<Address, ExpandError> {
        let a = site.addr(&["sg", segment])?;
        let group_name = self.name(&site.name_parts(&[name]));
        let spec = self
            .site_tagged(site, ec2::SecurityGroup::new(a.clone()), &[name])
            .vpc_id(id(vpc))
            .group_name(group_name.as_str())
            .description(format!("hactl {}: {what}", self.cfg.stack.name));
        self.push(spec);
        Ok(a)
    }

    /// Security groups: each tier reachable only from the tier above; the internal load
    /// balancer's group (reachable only from the app tier) when a service uses one.
    #[allow(clippy::type_complexity)]
    fn security_groups(
        &mut self,
        site: &Site<'_>,
        vpc: &Address,
    ) -> Result<(BTreeMap<Tier, Address>, Option<Address>), ExpandError> {
        let mut groups: BTreeMap<Tier, Address> = BTreeMap::new();
        for (tier, what) in
            [(Tier::Alb, "load balancer"), (Tier::App, "application tasks"), (Tier::Db, "database")]
        {
            let a = self.security_group(site, vpc, tier.name(), tier.name(), what)?;
            groups.insert(tier, a);
        }
        let internal = if self.cfg.internal_ports().is_empty() {
            None
        } else {
            Some(self.security_group(site, vpc, "alb_internal", "alb-internal", "internal load balancer")?)
        };
        Ok((groups, internal))
    }

    /// The rules of every security group. Egress, least privilege: the load balancers
    /// reach only the app tier on the service ports (targets and health checks use the
    /// traffic port); the database answers and never calls out (security groups are
    /// stateful), so it has no egress rule at all; the app tier calls AWS APIs, the image
    /// registry and the database.
    fn security_group_rules(&mut self, site: &Site<'_>, refs: &NetworkRefs) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let groups = &refs.groups;
        let mut egress: BTreeMap<Tier, Value> = BTreeMap::new();
        egress.insert(Tier::Alb, to_app(groups, &cfg.app_ports(), "service"));
        egress.insert(Tier::App, Value::List(vec![rule("-1", -1, -1, Value::str("0.0.0.0/0"), "cidr", "")]));
        egress.insert(Tier::Db, Value::List(Vec::new()));
        // RDS Proxy (`[database.proxy]`, home region only) reaches the database.
        let proxy = match cfg.database.as_ref().and_then(|d| d.proxy.as_ref()) {
            Some(_) if !site.dr => Some(addr(&["sg", "db_proxy"])?),
            _ => None,
        };
        let (mut ingress, internal_ingress) =
            ingress_rules(cfg, groups, refs.internal_alb_group.as_ref(), proxy.as_ref());
        for (tier, group) in groups {
            self.push(
                ec2::SecurityGroupRules::new(site.addr(&["sg_rules", tier.name()])?)
                    .at(site.location())
                    .group_id(id(group))
                    .ingress(Value::List(ingress.remove(tier).unwrap_or_default()))
                    .egress(egress.remove(tier).unwrap_or_else(|| Value::List(Vec::new()))),
            );
        }
        if let Some(internal) = &refs.internal_alb_group {
            self.push(
                ec2::SecurityGroupRules::new(site.addr(&["sg_rules", "alb_internal"])?)
                    .at(site.location())
                    .group_id(id(internal))
                    .ingress(Value::List(internal_ingress))
                    .egress(Value::List(
                        internal_range_rule(cfg, &groups[&Tier::App], false).into_iter().collect(),
                    )),
            );
        }
        Ok(())
    }

    /// VPC endpoints: the S3 gateway endpoint on every route table, and the interface
    /// endpoints in the app subnets behind their own security group.
    fn endpoints(
        &mut self,
        site: &Site<'_>,
        refs: &mut NetworkRefs,
        tables: &RouteTables,
    ) -> Result<(), ExpandError> {
        let net = site.network;
        let vpc = refs.vpc.clone();
        if net.s3_gateway_endpoint {
            let a = site.addr(&["vpce", "s3"])?;
            let mut route_tables: Vec<Value> = tables.private.values().map(id).collect();
            route_tables.push(id(&tables.public));
            let spec = self
                .site_tagged(site, ec2::VpcEndpoint::new(a), &["s3"])
                .vpc_id(id(&vpc))
                .service_name(format!("com.amazonaws.{}.s3", site.region))
                .vpc_endpoint_type("Gateway")
                .route_table_ids(Value::List(route_tables));
            self.push(spec);
        }
        if net.interface_endpoints.is_empty() {
            return Ok(());
        }
        let app = id(&refs.groups[&Tier::App]);
        let mut endpoint_ingress =
            vec![rule("tcp", 443, 443, app, "source_group_id", "HTTPS from the app tier")];
        if !site.dr && self.cfg.drift.schedule.is_some() && !self.cfg.services.is_empty() {
            // The scheduled drift job (expand_drift.rs) calls AWS through them too.
            let job = id(&addr(&["sg", "drift_job"])?);
            endpoint_ingress.push(rule("tcp", 443, 443, job, "source_group_id", "HTTPS from the drift job"));
        }
        if !site.dr && self.cfg.log_analytics.is_some() {
            // The log shipper (expand_log_analytics.rs) reads its secret through them.
            let shipper = id(&addr(&["sg", "log_shipper"])?);
            endpoint_ingress.push(rule(
                "tcp",
                443,
                443,
                shipper,
                "source_group_id",
                "HTTPS from the log shipper",
            ));
        }
        let sg = self.security_group(site, &vpc, "endpoints", "endpoints", "interface endpoints")?;
        self.push(
            ec2::SecurityGroupRules::new(site.addr(&["sg_rules", "endpoints"])?)
                .at(site.location())
                .group_id(id(&sg))
                .ingress(Value::List(endpoint_ingress))
                // An interface endpoint only answers: no egress rule.
                .egress(Value::List(Vec::new())),
        );
        let app_subnets: Vec<Value> =
            net.zones.iter().map(|z| id(&refs.subnets[&("app", z.az.clone())])).collect();
        for svc in &net.interface_endpoints {
            let seg = svc.replace('.', "-");
            let spec = self
                .site_tagged(site, ec2::VpcEndpoint::new(site.addr(&["vpce", &seg])?), &[&seg])
                .vpc_id(id(&vpc))
                .service_name(format!("com.amazonaws.{}.{svc}", site.region))
                .vpc_endpoint_type("Interface")
                .subnet_ids(Value::List(app_subnets.clone()))
                .security_group_ids(Value::List(vec![id(&sg)]))
                .private_dns_enabled(true);
            self.push(spec);
        }
        Ok(())
    }
}
