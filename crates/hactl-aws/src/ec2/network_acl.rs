//! `ec2.network_acl`: a network ACL, its numbered entries and the subnets associated
//! with it. Create and update make the live entries exactly the desired ones (by rule
//! number: create what is missing, replace what differs, delete what is extra) and move
//! the desired subnets to this ACL; delete gives its subnets back to the VPC's default ACL
//! and deletes it. The VPC's default ACL itself is never changed.
//!
//! An entry is a map: `rule_number` (1 to 32766), `protocol` (`tcp`, `udp`, `icmp`, `-1`
//! for all, or another IP protocol number), `from_port` and `to_port` (for icmp the type
//! and the code, -1 = any; -1 and -1 when the protocol has no ports), one source or
//! destination (`cidr`, or `cidr_ipv6` for entries added outside hactl) and `action`
//! (`allow` or `deny`). The `*` entries (rules 32767 and, with IPv6, 32768; deny) that AWS
//! puts in every ACL and lets nobody change are left out of reads.

use super::{ids_filter, ownership, tag_spec, tagged_or_ids, tags_value, target_ids};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::{client_token, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IcmpTypeCode, NetworkAclEntry, PortRange, ResourceType, RuleAction};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::NetworkAcl as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct NetworkAcl(pub Client);

/// The entries AWS adds to every ACL (both directions) and that cannot be changed: 32767
/// (IPv4), 32768 (IPv6, in a VPC with an IPv6 block).
const DEFAULT_RULE: i32 = 32767;

/// One entry of one direction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    rule_number: i32,
    protocol: String,
    from_port: i32,
    to_port: i32,
    cidr: Option<String>,
    cidr_ipv6: Option<String>,
    allow: bool,
}

/// The protocol as written in config (`tcp`) from AWS's number (`6`).
fn protocol_name(number: &str) -> &str {
    match number {
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        other => other,
    }
}

/// AWS's protocol number of a protocol name.
fn protocol_number(name: &str) -> &str {
    match name {
        "tcp" => "6",
        "udp" => "17",
        "icmp" => "1",
        other => other,
    }
}

impl Entry {
    fn has_ports(&self) -> bool {
        matches!(self.protocol.as_str(), "tcp" | "udp")
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("rule_number".to_string(), Value::Int(i64::from(self.rule_number)));
        m.insert("protocol".to_string(), Value::str(&self.protocol));
        m.insert("from_port".to_string(), Value::Int(i64::from(self.from_port)));
        m.insert("to_port".to_string(), Value::Int(i64::from(self.to_port)));
        if let Some(c) = &self.cidr {
            m.insert("cidr".to_string(), Value::str(c));
        }
        if let Some(c) = &self.cidr_ipv6 {
            m.insert("cidr_ipv6".to_string(), Value::str(c));
        }
        m.insert("action".to_string(), Value::str(if self.allow { "allow" } else { "deny" }));
        Value::Map(m)
    }

    fn from_value(v: &Value) -> Result<Entry, ProviderError> {
        let m = v
            .as_map()
            .ok_or_else(|| ProviderError::fatal(format!("a network ACL entry must be a map, got {v}")))?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let i = |k: &str| m.get(k).and_then(Value::as_int).and_then(|x| i32::try_from(x).ok());
        let rule_number =
            i("rule_number").ok_or_else(|| ProviderError::fatal("entry without rule_number"))?;
        let protocol = s("protocol").ok_or_else(|| ProviderError::fatal("entry without protocol"))?;
        let mut e = Entry {
            rule_number,
            protocol,
            from_port: i("from_port").unwrap_or(-1),
            to_port: i("to_port").unwrap_or(-1),
            cidr: s("cidr"),
            cidr_ipv6: s("cidr_ipv6"),
            allow: s("action").as_deref() != Some("deny"),
        };
        if !e.has_ports() && e.protocol != "icmp" {
            (e.from_port, e.to_port) = (-1, -1);
        }
        Ok(e)
    }

    fn from_live(e: &NetworkAclEntry) -> Option<(bool, Entry)> {
        let rule_number = e.rule_number()?;
        let protocol = protocol_name(e.protocol().unwrap_or("-1")).to_string();
        let (from_port, to_port) = match protocol.as_str() {
            "tcp" | "udp" => {
                let r = e.port_range();
                (r.and_then(PortRange::from).unwrap_or(-1), r.and_then(PortRange::to).unwrap_or(-1))
            }
            "icmp" => {
                let t = e.icmp_type_code();
                (t.and_then(IcmpTypeCode::r#type).unwrap_or(-1), t.and_then(IcmpTypeCode::code).unwrap_or(-1))
            }
            _ => (-1, -1),
        };
        let entry = Entry {
            rule_number,
            protocol,
            from_port,
            to_port,
            cidr: e.cidr_block().map(str::to_string),
            cidr_ipv6: e.ipv6_cidr_block().map(str::to_string),
            allow: e.rule_action() != Some(&RuleAction::Deny),
        };
        Some((e.egress().unwrap_or(false), entry))
    }
}

/// The live entries of an ACL, by direction (egress?) and rule number, without the `*` rule.
fn live_entries(acl: &aws_sdk_ec2::types::NetworkAcl) -> [BTreeMap<i32, Entry>; 2] {
    let mut out: [BTreeMap<i32, Entry>; 2] = Default::default();
    for (egress, e) in acl.entries().iter().filter_map(Entry::from_live) {
        if e.rule_number < DEFAULT_RULE {
            out[usize::from(egress)].insert(e.rule_number, e);
        }
    }
    out
}

fn entries_value(entries: &BTreeMap<i32, Entry>) -> Value {
    Value::List(entries.values().map(Entry::to_value).collect())
}

fn desired_entries(props: &Props, name: &str) -> Result<BTreeMap<i32, Entry>, ProviderError> {
    let mut out = BTreeMap::new();
    for v in props.get(name).and_then(Value::as_list).unwrap_or_default() {
        let e = Entry::from_value(v)?;
        if out.insert(e.rule_number, e).is_some() {
            return Err(ProviderError::fatal(format!("{name}: two entries with one rule number")));
        }
    }
    Ok(out)
}

fn desired_subnets(props: &Props) -> BTreeSet<String> {
    props
        .get(Kind::SUBNET_IDS)
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn acl_subnets(acl: &aws_sdk_ec2::types::NetworkAcl) -> BTreeSet<String> {
    acl.associations().iter().filter_map(|a| a.subnet_id()).map(str::to_string).collect()
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().collect())).build()
}

impl NetworkAcl {
    async fn describe(&self, f: Filter) -> Result<Vec<aws_sdk_ec2::types::NetworkAcl>, ProviderError> {
        super::describe_all!(self.0, describe_network_acls, filters, f, "DescribeNetworkAcls")
    }

    async fn get(&self, id: &str) -> Result<Option<aws_sdk_ec2::types::NetworkAcl>, ProviderError> {
        match self.describe(ids_filter("network-acl-id", &[id.to_string()])).await {
            Ok(acls) => Ok(acls.into_iter().find(|a| a.network_acl_id() == Some(id))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The VPC's default ACL (where subnets go back to).
    async fn default_acl(&self, vpc_id: &str) -> Result<String, ProviderError> {
        let acls = self
            .describe(filter("vpc-id", [vpc_id.to_string()]))
            .await?
            .into_iter()
            .filter(|a| a.is_default() == Some(true));
        acls.filter_map(|a| a.network_acl_id().map(str::to_string))
            .next()
            .ok_or_else(|| ProviderError::fatal(format!("VPC {vpc_id} has no default network ACL")))
    }

    /// Moves `subnets` to `acl_id` (ReplaceNetworkAclAssociation of each subnet's current
    /// association; one describe for all of them).
    async fn associate(&self, acl_id: &str, subnets: &BTreeSet<String>) -> Result<(), ProviderError> {
        if subnets.is_empty() {
            return Ok(());
        }
        let acls = self.describe(filter("association.subnet-id", subnets.iter().cloned())).await?;
        let mut current: BTreeMap<&str, &str> = BTreeMap::new();
        for a in acls.iter().flat_map(|a| a.associations()) {
            if let (Some(s), Some(id)) = (a.subnet_id(), a.network_acl_association_id()) {
                current.insert(s, id);
            }
        }
        for subnet in subnets {
            let association = current.get(subnet.as_str()).ok_or_else(|| {
                // A subnet just created may not be listed yet.
                ProviderError::retryable(format!("subnet {subnet} has no network ACL association yet"))
            })?;
            self.0
                .replace_network_acl_association()
                .association_id(*association)
                .network_acl_id(acl_id)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("ReplaceNetworkAclAssociation", e)))?;
        }
        Ok(())
    }

    /// CreateNetworkAclEntry (`replace` false) or ReplaceNetworkAclEntry of `e`. The two
    /// chains are written out: tests/operator_policy.rs finds each call by its chain.
    async fn put_entry(
        &self,
        acl_id: &str,
        egress: bool,
        e: &Entry,
        replace: bool,
    ) -> Result<(), ProviderError> {
        let action = if e.allow { RuleAction::Allow } else { RuleAction::Deny };
        let ports = e.has_ports().then(|| PortRange::builder().from(e.from_port).to(e.to_port).build());
        let icmp = (e.protocol == "icmp")
            .then(|| IcmpTypeCode::builder().r#type(e.from_port).code(e.to_port).build());
        let protocol = protocol_number(&e.protocol);
        if replace {
            self.0
                .replace_network_acl_entry()
                .network_acl_id(acl_id)
                .egress(egress)
                .rule_number(e.rule_number)
                .protocol(protocol)
                .rule_action(action)
                .set_cidr_block(e.cidr.clone())
                .set_ipv6_cidr_block(e.cidr_ipv6.clone())
                .set_port_range(ports)
                .set_icmp_type_code(icmp)
                .send()
                .await
                .map(drop)
                .map_err(|err| retry_not_found(aws_error("ReplaceNetworkAclEntry", err)))
        } else {
            self.0
                .create_network_acl_entry()
                .network_acl_id(acl_id)
                .egress(egress)
                .rule_number(e.rule_number)
                .protocol(protocol)
                .rule_action(action)
                .set_cidr_block(e.cidr.clone())
                .set_ipv6_cidr_block(e.cidr_ipv6.clone())
                .set_port_range(ports)
                .set_icmp_type_code(icmp)
                .send()
                .await
                .map(drop)
                .map_err(|err| retry_not_found(aws_error("CreateNetworkAclEntry", err)))
        }
    }

    /// Makes the ACL's live entries and subnets exactly the desired ones.
    async fn converge(&self, acl_id: &str, props: &Props) -> Result<(), ProviderError> {
        let acl = self
            .get(acl_id)
            .await?
            .ok_or_else(|| ProviderError::retryable(format!("network ACL {acl_id} not found")))?;
        let live = live_entries(&acl);
        let desired = [desired_entries(props, Kind::INGRESS)?, desired_entries(props, Kind::EGRESS)?];
        for (i, (live, desired)) in live.iter().zip(&desired).enumerate() {
            let egress = i == 1;
            for (n, _) in live.iter().filter(|(n, _)| !desired.contains_key(n)) {
                let out = self
                    .0
                    .delete_network_acl_entry()
                    .network_acl_id(acl_id)
                    .egress(egress)
                    .rule_number(*n)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| aws_error("DeleteNetworkAclEntry", e));
                ignore_not_found(out)?;
            }
            for (n, e) in desired {
                match live.get(n) {
                    Some(l) if l == e => {}
                    Some(_) => self.put_entry(acl_id, egress, e, true).await?,
                    None => self.put_entry(acl_id, egress, e, false).await?,
                }
            }
        }
        let live_subnets = acl_subnets(&acl);
        let wanted = desired_subnets(props);
        let add: BTreeSet<String> = wanted.difference(&live_subnets).cloned().collect();
        self.associate(acl_id, &add).await?;
        let release: BTreeSet<String> = live_subnets.difference(&wanted).cloned().collect();
        if !release.is_empty() {
            let vpc = acl.vpc_id().unwrap_or_default();
            let default = self.default_acl(vpc).await?;
            self.associate(&default, &release).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for NetworkAcl {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let client = &self.0;
        let acls = tagged_or_ids(
            ctx,
            "ec2:DescribeNetworkAcls",
            "network-acl-id",
            &target_ids(targets),
            |a: &aws_sdk_ec2::types::NetworkAcl| a.network_acl_id(),
            |f| async move {
                super::describe_all!(client, describe_network_acls, filters, f, "DescribeNetworkAcls")
            },
        )
        .await?;
        Ok(acls
            .iter()
            .filter(|a| a.is_default() != Some(true))
            .filter_map(|a| {
                let (owned, address) = ownership(&ctx.stack, a.tags());
                let [ingress, egress] = live_entries(a);
                Some(super::object(
                    a.network_acl_id()?,
                    address,
                    Props::from([
                        (Kind::VPC_ID.to_string(), Value::str(a.vpc_id().unwrap_or_default())),
                        (Kind::SUBNET_IDS.to_string(), Value::from_strings(acl_subnets(a))),
                        (Kind::INGRESS.to_string(), entries_value(&ingress)),
                        (Kind::EGRESS.to_string(), entries_value(&egress)),
                        (Kind::TAGS.to_string(), tags_value(a.tags())),
                    ]),
                    owned,
                ))
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_network_acl()
            .vpc_id(req_str(props, Kind::VPC_ID)?)
            .tag_specifications(tag_spec(ResourceType::NetworkAcl, props))
            .client_token(client_token(ctx, address, props))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateNetworkAcl", e)))?;
        let id = out
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .ok_or_else(|| ProviderError::fatal("CreateNetworkAcl returned no id"))?
            .to_string();
        self.converge(&id, props).await?;
        Ok(Applied { id, outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        use crate::util::tags::Tagger;
        let mut converge = false;
        for c in req.changes {
            if c.name == Kind::TAGS {
                self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?;
            } else {
                converge = true;
            }
        }
        if converge {
            self.converge(req.id, req.desired).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(acl) = self.get(id).await? else { return Ok(()) };
        let subnets = acl_subnets(&acl);
        if !subnets.is_empty() {
            let default = self.default_acl(acl.vpc_id().unwrap_or_default()).await?;
            self.associate(&default, &subnets).await?;
        }
        ignore_not_found(
            self.0
                .delete_network_acl()
                .network_acl_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_error("DeleteNetworkAcl", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i32, protocol: &str, from: i32, to: i32) -> Entry {
        Entry {
            rule_number: n,
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr: Some("10.0.0.0/16".into()),
            cidr_ipv6: None,
            allow: true,
        }
    }

    #[test]
    fn entries_round_trip_through_values() {
        for e in [entry(100, "tcp", 80, 80), entry(110, "icmp", 8, -1), entry(120, "-1", -1, -1)] {
            assert_eq!(Entry::from_value(&e.to_value()).unwrap(), e);
        }
        let mut deny = entry(130, "udp", 53, 53);
        deny.allow = false;
        assert_eq!(Entry::from_value(&deny.to_value()).unwrap(), deny);
    }

    #[test]
    fn live_entries_name_protocols_and_drop_the_default_rule() {
        let acl = aws_sdk_ec2::types::NetworkAcl::builder()
            .entries(
                NetworkAclEntry::builder()
                    .rule_number(100)
                    .protocol("6")
                    .port_range(PortRange::builder().from(443).to(443).build())
                    .cidr_block("0.0.0.0/0")
                    .egress(false)
                    .rule_action(RuleAction::Allow)
                    .build(),
            )
            .entries(
                NetworkAclEntry::builder()
                    .rule_number(DEFAULT_RULE)
                    .protocol("-1")
                    .cidr_block("0.0.0.0/0")
                    .egress(false)
                    .rule_action(RuleAction::Deny)
                    .build(),
            )
            .entries(
                NetworkAclEntry::builder()
                    .rule_number(100)
                    .protocol("-1")
                    .cidr_block("0.0.0.0/0")
                    .egress(true)
                    .rule_action(RuleAction::Allow)
                    .build(),
            )
            .build();
        let [ingress, egress] = live_entries(&acl);
        assert_eq!(ingress.len(), 1);
        let e = &ingress[&100];
        assert_eq!((e.protocol.as_str(), e.from_port, e.to_port, e.allow), ("tcp", 443, 443, true));
        assert_eq!(egress[&100].protocol, "-1");
        assert_eq!(protocol_number("tcp"), "6");
        assert_eq!(protocol_number("50"), "50");
    }

    #[test]
    fn two_entries_with_one_number_are_refused() {
        let props = Props::from([(
            Kind::INGRESS.to_string(),
            Value::List(vec![entry(100, "tcp", 80, 80).to_value(), entry(100, "tcp", 443, 443).to_value()]),
        )]);
        assert!(desired_entries(&props, Kind::INGRESS).is_err());
    }
}
