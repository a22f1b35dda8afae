//! The network ACL of each subnet tier (`[network_acls]`): a second, stateless layer under
//! the security groups, with the same model. Each tier is reachable only from the tier
//! above, and answers go back:
//!
//! - public (load balancer, NAT gateways): the load balancer's ports from its CIDRs, all
//!   traffic from the app subnets (targets' answers, traffic out through the NAT
//!   gateways), and TCP 1024-65535 from anywhere (answers to the NAT gateways); out: all.
//! - app: the public services' port range from the public subnets, all traffic from the
//!   app subnets (the internal load balancer, interface endpoints, tasks), the services'
//!   ports denied from anywhere else, then TCP 1024-65535 from anywhere (answers from the
//!   internet through NAT, from AWS APIs and the database); out: all.
//! - data: the database port from the app subnets only; out: TCP 1024-65535 to the app
//!   subnets (answers). The database calls nothing, as its security group says.
//!
//! hactl's entries are numbered 100, 110, ... in that order; the user's extra rules keep
//! their numbers (1-99 before hactl's, 1000-32766 after). The VPC's default ACL is left
//! alone: subnets go back to it when the stack's ACLs are destroyed.

use crate::expand::{id, ExpandError, Expander, NetworkRefs, Site};
use crate::model::{AclRule, SubnetTier};
use hactl_core::kinds::ec2;
use hactl_core::Value;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;

/// The first number of hactl's entries, and the step between them.
const FIRST_RULE: i64 = 100;
const RULE_STEP: i64 = 10;
/// The ports answers come back to (AWS's guidance for network ACLs: clients pick from
/// 1024-65535).
const EPHEMERAL: (i64, i64) = (1024, 65535);

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

/// hactl's entries numbered from [`FIRST_RULE`], then the user's of this tier and
/// direction.
fn entries(own: Vec<Entry>, extra: &[&AclRule]) -> Value {
    let mut out: Vec<Value> = own
        .iter()
        .zip((0..).map(|i| FIRST_RULE + i * RULE_STEP))
        .map(|(e, n)| entry_value(n, e.protocol, e.ports, &e.cidr, e.allow))
        .collect();
    out.extend(extra.iter().map(|r| {
        let ports = (i64::from(r.from_port), i64::from(r.to_port));
        entry_value(i64::from(r.rule_number), &r.protocol, ports, &r.cidr.to_string(), r.allow)
    }));
    Value::List(out)
}

impl Expander<'_> {
    /// The three network ACLs of `site`, each associated with its tier's subnets.
    pub(crate) fn network_acls(&mut self, site: &Site<'_>, refs: &NetworkRefs) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        if !cfg.network_acls.enabled {
            return Ok(());
        }
        let zones = &site.network.zones;
        let public: Vec<Ipv4Net> = zones.iter().map(|z| z.public).collect();
        let app: Vec<Ipv4Net> = zones.iter().map(|z| z.app).collect();
        let anywhere = Ipv4Net::default();
        let mut ingress: BTreeMap<SubnetTier, Vec<Entry>> = BTreeMap::new();
        let mut egress: BTreeMap<SubnetTier, Vec<Entry>> = BTreeMap::new();

        let lb = ingress.entry(SubnetTier::Public).or_default();
        for port in &cfg.security.alb_ports {
            let p = i64::from(*port);
            lb.extend(cfg.security.alb_ingress_cidrs.iter().map(|c| tcp((p, p), c)));
        }
        lb.extend(app.iter().map(all));
        // Ports of the load balancer in the answer range stay closed to all but its CIDRs.
        for port in cfg.security.alb_ports.iter().map(|p| i64::from(*p)).filter(|p| *p >= EPHEMERAL.0) {
            lb.push(Entry { allow: false, ..tcp((port, port), anywhere) });
        }
        lb.push(tcp(EPHEMERAL, anywhere));
        egress.insert(SubnetTier::Public, vec![all(anywhere)]);

        let tasks = ingress.entry(SubnetTier::App).or_default();
        let public_ports = cfg.app_ports();
        if let (Some(lo), Some(hi)) = (public_ports.first(), public_ports.last()) {
            tasks.extend(public.iter().map(|c| tcp((i64::from(*lo), i64::from(*hi)), c)));
        }
        tasks.extend(app.iter().map(all));
        let internal_ports = cfg.internal_ports();
        let every_port = public_ports.iter().chain(&internal_ports).copied();
        if let (Some(lo), Some(hi)) = (every_port.clone().min(), every_port.max()) {
            tasks.push(Entry { allow: false, ..tcp((i64::from(lo), i64::from(hi)), anywhere) });
        }
        tasks.push(tcp(EPHEMERAL, anywhere));
        egress.insert(SubnetTier::App, vec![all(anywhere)]);

        let db = i64::from(cfg.db_port());
        ingress.insert(SubnetTier::Data, app.iter().map(|c| tcp((db, db), c)).collect());
        egress.insert(SubnetTier::Data, app.iter().map(|c| tcp(EPHEMERAL, c)).collect());

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
        let public = entries(&g, "nacl.public", "ingress");
        // The load balancer's ports, the two app subnets, answers: 100, 110, ... in order.
        assert_eq!(public.iter().map(|e| e.0).collect::<Vec<_>>(), [100, 110, 120, 130, 140]);
        assert_eq!(public[0], (100, "tcp".into(), 80, 80, "0.0.0.0/0".into(), true));
        assert_eq!(public[4], (140, "tcp".into(), 1024, 65535, "0.0.0.0/0".into(), true));
        let app = entries(&g, "nacl.app", "ingress");
        // The services' ports are closed to all but the public and app subnets, before
        // the answers' range opens.
        let deny = app.iter().find(|e| !e.5).expect("a deny entry");
        let answers = app.iter().find(|e| e.2 == 1024).expect("answers");
        assert!(deny.0 < answers.0 && deny.4 == "0.0.0.0/0", "{app:?}");
        let data = entries(&g, "nacl.data", "ingress");
        assert!(data.iter().all(|e| e.1 == "tcp" && e.2 == 27017 && e.4.starts_with("10.0.1")), "{data:?}");
        let out = entries(&g, "nacl.data", "egress");
        assert!(out.iter().all(|e| e.2 == 1024 && e.3 == 65535 && e.4.starts_with("10.0.1")), "{out:?}");
        // Each ACL names exactly its tier's subnets.
        let subnets = &g.get(&Address::parse("nacl.data").unwrap()).unwrap().props[NetworkAcl::SUBNET_IDS];
        let named: Vec<String> = subnets.as_list().unwrap().iter().map(|v| v.to_string()).collect();
        assert_eq!(named.len(), 2);
        assert!(named.iter().all(|s| s.contains("subnet.data.")), "{named:?}");
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
