//! The network ACL of each subnet tier (`[network_acls]`): a second, stateless layer under
//! the security groups, with the same model. Each tier is reachable only from the tier
//! above, and answers go back:
//!
//! - public (load balancer, NAT gateways): the load balancer's ports from its CIDRs, all
//!   traffic from the app subnets (targets' answers, traffic out through the NAT
//!   gateways), and TCP 1024-65535 from anywhere (answers to the NAT gateways and the
//!   load balancer, which pick from that range); out: all.
//! - app: the public service's port from the public subnets, all traffic from the app
//!   subnets (the internal load balancer, interface endpoints, tasks), then TCP
//!   32768-65535 from anywhere (answers to the tasks and instances, Linux's local port
//!   range: from the internet through NAT, AWS APIs, the database); a service port in
//!   that range is denied to everyone else first. Out: all.
//! - data: the database port from the app subnets only; out: TCP 1024-65535 to the app
//!   subnets (answers). The database calls nothing, as its security group says. With RDS
//!   Proxy, also the database port and its answers between the data subnets (the proxy
//!   reaches the database across zones).
//! - `security.extra_ingress` rules pass the ACL of their group's tier too (a rule from a
//!   group: from that group's subnets), and the data tier answers them.
//!
//! hactl's entries are numbered by role, so that adding a zone or a CIDR block renumbers
//! only its own role's entries: the load balancer's or service's ports from 100, the
//! subnets from 300, extra ingress from 500, closed ports from 800, answers from 900. The
//! user's extra rules keep their numbers (1-99 before hactl's, 1000-32766 after). UDP and
//! ICMP answers are not admitted (security groups would pass them; nothing of the stack
//! calls out over UDP but DNS, which the VPC resolver answers outside network ACLs). The
//! VPC's default ACL is left alone: subnets go back to it when the stack's ACLs go.

use crate::expand::{id, ExpandError, Expander, NetworkRefs, Site};
use crate::model::{AclRule, RuleSource, SubnetTier, Tier};
use hactl_core::kinds::ec2;
use hactl_core::Value;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;

/// The ports answers come back to (AWS's guidance for network ACLs: NAT gateways, load
/// balancers and other clients pick from 1024-65535).
const EPHEMERAL: (i64, i64) = (1024, 65535);
/// The ports answers to the tasks and instances come back to: Linux's local port range
/// (32768-60999), to 65535. A service port below it is never opened by it.
const TASK_ANSWERS: (i64, i64) = (32768, 65535);

/// One entry before it is numbered.
struct Entry {
    protocol: &'static str,
    ports: (i64, i64),
    cidr: String,
    allow: bool,
}

fn tcp(ports: (i64, i64), cidr: impl ToString) -> Entry {
    Entry { protocol: "tcp", ports, cidr: cidr.to_string(), allow: true }
}

fn all(cidr: impl ToString) -> Entry {
    Entry { protocol: "-1", ports: (-1, -1), cidr: cidr.to_string(), allow: true }
}

fn entry_value(n: i64, protocol: &str, (from, to): (i64, i64), cidr: &str, allow: bool) -> Value {
    Value::Map(BTreeMap::from([
        ("rule_number".to_string(), Value::Int(n)),
        ("protocol".to_string(), Value::str(protocol)),
        ("from_port".to_string(), Value::Int(from)),
        ("to_port".to_string(), Value::Int(to)),
        ("cidr".to_string(), Value::str(cidr)),
        ("action".to_string(), Value::str(if allow { "allow" } else { "deny" })),
    ]))
}

/// hactl's entries, each block numbered from its first number in steps of one, then
/// the user's of this tier and direction.
fn entries(own: Blocks, extra: &[&AclRule]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for (first, block) in own.0 {
        out.extend(
            block.iter().zip(first..).map(|(e, n)| entry_value(n, e.protocol, e.ports, &e.cidr, e.allow)),
        );
    }
    out.extend(extra.iter().map(|r| {
        let ports = (i64::from(r.from_port), i64::from(r.to_port));
        entry_value(i64::from(r.rule_number), &r.protocol, ports, &r.cidr.to_string(), r.allow)
    }));
    Value::List(out)
}

/// The subnet tier of a security group tier (the load balancer lives in the public
/// subnets, the database in the data subnets).
fn subnet_tier(t: Tier) -> SubnetTier {
    match t {
        Tier::Alb => SubnetTier::Public,
        Tier::App => SubnetTier::App,
        Tier::Db => SubnetTier::Data,
    }
}

/// hactl's entries of one ACL and direction, by block: each block's entries are numbered
/// from its first number, so adding a zone or a CIDR block renumbers nothing outside its
/// block.
#[derive(Default)]
struct Blocks(BTreeMap<i64, Vec<Entry>>);

impl Blocks {
    fn add(&mut self, block: i64, e: Entry) {
        self.0.entry(block).or_default().push(e);
    }
}

/// Where each role's entries start.
const LB_PORTS: i64 = 100;
const SUBNETS: i64 = 300;
const EXTRA_INGRESS: i64 = 500;
const CLOSED_PORTS: i64 = 800;
const ANSWERS: i64 = 900;

impl Expander<'_> {
    /// The three network ACLs of `site`, each associated with its tier's subnets.
    pub(crate) fn network_acls(&mut self, site: &Site<'_>, refs: &NetworkRefs) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        if !cfg.network_acls.enabled {
            return Ok(());
        }
        let zones = &site.network.zones;
        let cidrs_of = |t: SubnetTier| -> Vec<Ipv4Net> {
            zones
                .iter()
                .map(|z| match t {
                    SubnetTier::Public => z.public,
                    SubnetTier::App => z.app,
                    SubnetTier::Data => z.data,
                })
                .collect()
        };
        let public = cidrs_of(SubnetTier::Public);
        let app = cidrs_of(SubnetTier::App);
        let anywhere = Ipv4Net::default();
        let mut ingress: BTreeMap<SubnetTier, Blocks> = BTreeMap::new();
        let mut egress: BTreeMap<SubnetTier, Blocks> = BTreeMap::new();

        // Public: the load balancer's ports from its CIDRs, everything from the app tier
        // (targets' answers, traffic out through NAT), answers from anywhere (NAT and the
        // load balancer use 1024-65535); out: everything.
        let lb = ingress.entry(SubnetTier::Public).or_default();
        for port in &cfg.security.alb_ports {
            let p = i64::from(*port);
            for c in &cfg.security.alb_ingress_cidrs {
                lb.add(LB_PORTS, tcp((p, p), c));
            }
        }
        for c in &app {
            lb.add(SUBNETS, all(c));
        }
        lb.add(ANSWERS, tcp(EPHEMERAL, anywhere));
        egress.entry(SubnetTier::Public).or_default().add(ANSWERS, all(anywhere));

        // App: the public service's port from the public subnets, everything from the app
        // subnets, answers to the tasks (Linux: 32768-60999) from anywhere; a service port
        // inside that range is closed to everyone else first. Out: everything.
        let tasks = ingress.entry(SubnetTier::App).or_default();
        for port in cfg.app_ports() {
            let p = i64::from(port);
            for c in &public {
                tasks.add(LB_PORTS, tcp((p, p), c));
            }
        }
        for c in &app {
            tasks.add(SUBNETS, all(c));
        }
        let mut service_ports = cfg.app_ports();
        service_ports.extend(cfg.internal_ports());
        service_ports.sort_unstable();
        service_ports.dedup();
        for p in service_ports.into_iter().map(i64::from).filter(|p| *p >= TASK_ANSWERS.0) {
            tasks.add(CLOSED_PORTS, Entry { allow: false, ..tcp((p, p), anywhere) });
        }
        tasks.add(ANSWERS, tcp(TASK_ANSWERS, anywhere));
        egress.entry(SubnetTier::App).or_default().add(ANSWERS, all(anywhere));

        let data = cidrs_of(SubnetTier::Data);
        data_tier_entries(cfg, site, (&app, &data), &mut ingress, &mut egress);

        // The security groups' extra ingress rules pass the ACL of their tier too (from a
        // group: from that tier's subnets); the data tier answers them.
        for r in &cfg.security.extra_ingress {
            let tier = subnet_tier(r.group);
            let sources: Vec<Ipv4Net> = match &r.source {
                RuleSource::Cidr(c) => vec![*c],
                RuleSource::Group(g) => cidrs_of(subnet_tier(*g)),
            };
            let protocol = protocol_of(&r.protocol);
            for c in &sources {
                let ports = (i64::from(r.from_port), i64::from(r.to_port));
                let e = Entry { protocol, ports, cidr: c.to_string(), allow: true };
                ingress.entry(tier).or_default().add(EXTRA_INGRESS, e);
                if tier == SubnetTier::Data {
                    let answer = match protocol {
                        "tcp" | "udp" => EPHEMERAL,
                        _ => (-1, -1),
                    };
                    let e = Entry { protocol, ports: answer, cidr: c.to_string(), allow: true };
                    egress.entry(tier).or_default().add(EXTRA_INGRESS, e);
                }
            }
        }

        for tier in SubnetTier::ALL {
            let extra = |egress: bool| -> Vec<&AclRule> {
                cfg.network_acls.extra_rules.iter().filter(|r| r.tier == tier && r.egress == egress).collect()
            };
            let subnets: Vec<Value> =
                zones.iter().map(|z| id(&refs.subnets[&(tier.name(), z.az.clone())])).collect();
            let spec = self
                .site_tagged(site, ec2::NetworkAcl::new(site.addr(&["nacl", tier.name()])?), &[tier.name()])
                .vpc_id(id(&refs.vpc))
                .subnet_ids(Value::List(subnets))
                .ingress(entries(ingress.remove(&tier).unwrap_or_default(), &extra(false)))
                .egress(entries(egress.remove(&tier).unwrap_or_default(), &extra(true)));
            self.push(spec);
        }
        Ok(())
    }
}

/// A security group rule's protocol as a `&'static str` (validation allows these four).
fn protocol_of(p: &str) -> &'static str {
    match p {
        "udp" => "udp",
        "icmp" => "icmp",
        "-1" => "-1",
        _ => "tcp",
    }
}

/// Data: the database port from the app subnets only (and HTTPS with `[log_analytics]`);
/// out: answers to them. With RDS Proxy (`[database.proxy]`) in the data subnets, which
/// reaches the database in the other zone's: the database port and its answers between
/// the data subnets.
fn data_tier_entries(
    cfg: &crate::model::StackConfig,
    site: &Site<'_>,
    (app, data): (&[Ipv4Net], &[Ipv4Net]),
    ingress: &mut BTreeMap<SubnetTier, Blocks>,
    egress: &mut BTreeMap<SubnetTier, Blocks>,
) {
    let db = i64::from(cfg.db_port());
    let proxy = cfg.database.as_ref().is_some_and(|d| d.proxy.is_some()) && !site.dr;
    let data_in = ingress.entry(SubnetTier::Data).or_default();
    for c in app {
        data_in.add(SUBNETS, tcp((db, db), c));
    }
    // The log analytics domain (`[log_analytics]`, home region only).
    if cfg.log_analytics.is_some() && !site.dr {
        let https = crate::expand_log_analytics::HTTPS;
        for c in app {
            data_in.add(SUBNETS, tcp((https, https), c));
        }
    }
    if proxy {
        for c in data {
            data_in.add(SUBNETS, tcp((db, db), c));
            data_in.add(SUBNETS, tcp(EPHEMERAL, c));
        }
    }
    let data_out = egress.entry(SubnetTier::Data).or_default();
    for c in app {
        data_out.add(SUBNETS, tcp(EPHEMERAL, c));
    }
    if proxy {
        for c in data {
            data_out.add(SUBNETS, tcp((db, db), c));
            data_out.add(SUBNETS, tcp(EPHEMERAL, c));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expand::{expand, test_env};
    use hactl_core::kinds::ec2::NetworkAcl;
    use hactl_core::{Address, DesiredGraph};

    fn graph(path: &str, edit: impl Fn(String) -> String) -> DesiredGraph {
        let file = format!("{}/../../config/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = edit(std::fs::read_to_string(&file).unwrap());
        expand(&crate::parse(path, &text).unwrap(), &test_env()).unwrap()
    }

    /// (number, protocol, from, to, CIDR, allow) of one direction of `address`.
    fn entries(
        g: &DesiredGraph,
        address: &str,
        direction: &str,
    ) -> Vec<(i64, String, i64, i64, String, bool)> {
        let spec = g.get(&Address::parse(address).unwrap()).unwrap_or_else(|| panic!("{address}"));
        let list = spec.props[direction].as_list().unwrap();
        list.iter()
            .map(|e| {
                let m = e.as_map().unwrap();
                let s = |k: &str| m[k].as_str().unwrap().to_string();
                let i = |k: &str| m[k].as_int().unwrap();
                (
                    i("rule_number"),
                    s("protocol"),
                    i("from_port"),
                    i("to_port"),
                    s("cidr"),
                    s("action") == "allow",
                )
            })
            .collect()
    }

    #[test]
    fn each_tier_admits_the_tier_above_and_answers() {
        let g = graph("ha-stack.toml", |t| t);
        let any = "0.0.0.0/0".to_string();
        let (a, b) = ("10.0.10.0/24".to_string(), "10.0.11.0/24".to_string());
        let tcp = |n, from, to, cidr: &String| (n, "tcp".to_string(), from, to, cidr.clone(), true);
        let all = |n, cidr: &String| (n, "-1".to_string(), -1, -1, cidr.clone(), true);
        // Numbered by role: the load balancer's ports, the app subnets, the answers.
        assert_eq!(
            entries(&g, "nacl.public", "ingress"),
            [
                tcp(100, 80, 80, &any),
                tcp(101, 443, 443, &any),
                all(300, &a),
                all(301, &b),
                tcp(900, 1024, 65535, &any)
            ]
        );
        assert_eq!(entries(&g, "nacl.public", "egress"), [all(900, &any)]);
        // The public service's port from the public subnets only; answers to the tasks
        // on Linux's local ports, which no service port of the demo is in.
        let (pa, pb) = ("10.0.0.0/24".to_string(), "10.0.1.0/24".to_string());
        assert_eq!(
            entries(&g, "nacl.app", "ingress"),
            [
                tcp(100, 80, 80, &pa),
                tcp(101, 80, 80, &pb),
                all(300, &a),
                all(301, &b),
                tcp(900, 32768, 65535, &any)
            ]
        );
        // The database port from exactly the two app subnets, answers to exactly them.
        assert_eq!(
            entries(&g, "nacl.data", "ingress"),
            [tcp(300, 27017, 27017, &a), tcp(301, 27017, 27017, &b)]
        );
        assert_eq!(
            entries(&g, "nacl.data", "egress"),
            [tcp(300, 1024, 65535, &a), tcp(301, 1024, 65535, &b)]
        );
        // Each ACL names exactly its tier's subnets.
        let subnets = &g.get(&Address::parse("nacl.data").unwrap()).unwrap().props[NetworkAcl::SUBNET_IDS];
        let named: Vec<String> = subnets.as_list().unwrap().iter().map(|v| v.to_string()).collect();
        assert_eq!(named.len(), 2);
        assert!(named.iter().all(|s| s.contains("subnet.data.")), "{named:?}");
    }

    #[test]
    fn a_service_port_among_the_answers_is_closed_and_extra_ingress_passes_its_tier() {
        let g = graph("ha-stack.toml", |t| {
            t.replacen("\nport = 80\n", "\nport = 50051\n", 1)
                + "\n[[security.extra_ingress]]\ngroup = \"db\"\nport = 27017\ncidr = \"192.168.0.0/16\"\n"
        });
        let app = entries(&g, "nacl.app", "ingress");
        let deny = (800, "tcp".to_string(), 50051, 50051, "0.0.0.0/0".to_string(), false);
        assert!(app.contains(&deny), "{app:?}");
        assert!(
            app.iter().all(|e| e.0 < 800 || e.0 >= 900 || e == &deny),
            "one deny, before the answers: {app:?}"
        );
        let vpn = "192.168.0.0/16".to_string();
        assert!(entries(&g, "nacl.data", "ingress").contains(&(
            500,
            "tcp".into(),
            27017,
            27017,
            vpn.clone(),
            true
        )));
        assert!(entries(&g, "nacl.data", "egress").contains(&(500, "tcp".into(), 1024, 65535, vpn, true)));
    }

    #[test]
    fn extra_rules_keep_their_numbers_and_nacls_can_be_off() {
        let g = graph("ha-stack.toml", |t| {
            t + "\n[[network_acls.extra_rules]]\ntier = \"public\"\nrule_number = 10\ncidr = \"198.51.100.0/24\"\nprotocol = \"-1\"\naction = \"deny\"\n\n[[network_acls.extra_rules]]\ntier = \"app\"\ndirection = \"egress\"\nrule_number = 2000\nprotocol = \"icmp\"\nport = 8\ncidr = \"10.0.0.0/16\"\n"
        });
        let public = entries(&g, "nacl.public", "ingress");
        assert!(public.contains(&(10, "-1".into(), -1, -1, "198.51.100.0/24".into(), false)), "{public:?}");
        let out = entries(&g, "nacl.app", "egress");
        assert!(out.contains(&(2000, "icmp".into(), 8, -1, "10.0.0.0/16".into(), true)), "{out:?}");
        let on = "network ACL (default true).\nenabled = true";
        let off = graph("ha-stack.toml", |t| {
            assert!(t.contains(on), "config/ha-stack.toml changed: update this test");
            t.replace(on, "network ACL (default true).\nenabled = false")
        });
        assert!(off.specs().all(|s| s.kind != NetworkAcl::KIND));
        // The DR region gets its own three.
        let dr = graph("two-region.toml", |t| t);
        let acls: Vec<&str> =
            dr.specs().filter(|s| s.kind == NetworkAcl::KIND).map(|s| s.address.as_str()).collect();
        assert_eq!(
            acls,
            ["dr.nacl.app", "dr.nacl.data", "dr.nacl.public", "nacl.app", "nacl.data", "nacl.public"]
        );
    }
}
