//! `ec2.security_group_rules`: the complete ingress and egress rule sets of one security
//! group. Its id is the group id. Create and update make the live rules exactly the
//! desired ones (authorize what is missing, revoke what is extra, the default egress
//! rule included); delete revokes them all, so groups that refer to each other can go.
//!
//! A rule is a map: `protocol` (`tcp`, `udp`, `icmp`, `-1`), `from_port`, `to_port`
//! (-1 for all protocols), one source (`cidr`, `cidr_ipv6`, `prefix_list_id` or
//! `source_group_id`), and `description` (or null). hactl's config only writes `cidr`
//! and `source_group_id`; the others appear when rules are added outside hactl, and are
//! revoked exactly as they were written.

use super::security_groups;
use crate::error::{aws_error, retry_not_found};
use crate::util::{match_target, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::SecurityGroupRules as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct SecurityGroupRules(pub Client);

/// One flattened rule: a permission with exactly one source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from_port: i32,
    to_port: i32,
    cidr: Option<String>,
    cidr_ipv6: Option<String>,
    prefix_list_id: Option<String>,
    source_group_id: Option<String>,
    description: Option<String>,
}

/// Which field of a rule holds its source.
const SOURCE_KEYS: [&str; 4] = ["cidr", "cidr_ipv6", "prefix_list_id", "source_group_id"];

impl Rule {
    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("protocol".to_string(), Value::str(&self.protocol));
        m.insert("from_port".to_string(), Value::Int(i64::from(self.from_port)));
        m.insert("to_port".to_string(), Value::Int(i64::from(self.to_port)));
        for (key, v) in SOURCE_KEYS.iter().zip(self.sources()) {
            if let Some(v) = v {
                m.insert(key.to_string(), Value::str(v));
            }
        }
        m.insert("description".to_string(), self.description.clone().map(Value::Str).unwrap_or(Value::Null));
        Value::Map(m)
    }

    fn from_value(v: &Value) -> Result<Rule, ProviderError> {
        let m = v
            .as_map()
            .ok_or_else(|| ProviderError::fatal(format!("a security group rule must be a map, got {v}")))?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let i = |k: &str| m.get(k).and_then(Value::as_int).and_then(|x| i32::try_from(x).ok());
        let protocol = s("protocol").ok_or_else(|| ProviderError::fatal("rule without protocol"))?;
        let all = protocol == "-1";
        Ok(Rule {
            from_port: if all { -1 } else { i("from_port").unwrap_or(-1) },
            to_port: if all { -1 } else { i("to_port").unwrap_or(-1) },
            protocol,
            cidr: s("cidr"),
            cidr_ipv6: s("cidr_ipv6"),
            prefix_list_id: s("prefix_list_id"),
            source_group_id: s("source_group_id"),
            description: s("description").filter(|d| !d.is_empty()),
        })
    }

    fn sources(&self) -> [&Option<String>; 4] {
        [&self.cidr, &self.cidr_ipv6, &self.prefix_list_id, &self.source_group_id]
    }

    fn to_permission(&self) -> IpPermission {
        let mut p = IpPermission::builder().ip_protocol(&self.protocol);
        if self.protocol != "-1" {
            p = p.from_port(self.from_port).to_port(self.to_port);
        }
        let desc = self.description.clone();
        if let Some(c) = &self.cidr {
            p = p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(desc.clone()).build());
        }
        if let Some(c) = &self.cidr_ipv6 {
            p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(desc.clone()).build());
        }
        if let Some(pl) = &self.prefix_list_id {
            p = p.prefix_list_ids(
                PrefixListId::builder().prefix_list_id(pl).set_description(desc.clone()).build(),
            );
        }
        if let Some(g) = &self.source_group_id {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder().group_id(g).set_description(self.description.clone()).build(),
            );
        }
        p.build()
    }
}

fn flatten(perms: &[IpPermission]) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let all = protocol == "-1";
        let (from_port, to_port) =
            if all { (-1, -1) } else { (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1)) };
        // One rule per source; `slot` says which source field it is (see SOURCE_KEYS).
        let base = |slot: usize, source: Option<&str>, desc: Option<&str>| {
            let mut sources: [Option<String>; 4] = Default::default();
            sources[slot] = source.map(str::to_string);
            let [cidr, cidr_ipv6, prefix_list_id, source_group_id] = sources;
            Rule {
                protocol: protocol.clone(),
                from_port,
                to_port,
                cidr,
                cidr_ipv6,
                prefix_list_id,
                source_group_id,
                description: desc.filter(|d| !d.is_empty()).map(str::to_string),
            }
        };
        for r in p.ip_ranges() {
            out.insert(base(0, r.cidr_ip(), r.description()));
        }
        for r in p.ipv6_ranges() {
            out.insert(base(1, r.cidr_ipv6(), r.description()));
        }
        for pl in p.prefix_list_ids() {
            out.insert(base(2, pl.prefix_list_id(), pl.description()));
        }
        for g in p.user_id_group_pairs() {
            out.insert(base(3, g.group_id(), g.description()));
        }
    }
    out
}

fn rules_value(rules: &BTreeSet<Rule>) -> Value {
    Value::List(rules.iter().map(Rule::to_value).collect())
}

fn desired_rules(props: &Props, name: &str) -> Result<BTreeSet<Rule>, ProviderError> {
    props.get(name).and_then(Value::as_list).unwrap_or_default().iter().map(Rule::from_value).collect()
}

impl SecurityGroupRules {
    async fn live(&self, group_id: &str) -> Result<Option<(BTreeSet<Rule>, BTreeSet<Rule>)>, ProviderError> {
        let out = self.0.describe_security_groups().group_ids(group_id).send().await;
        match out {
            Ok(o) => Ok(o
                .security_groups()
                .first()
                .map(|g| (flatten(g.ip_permissions()), flatten(g.ip_permissions_egress())))),
            Err(e) => {
                let err = aws_error("DescribeSecurityGroups", e);
                if err.code() == Some("InvalidGroup.NotFound") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Makes the group's live rules exactly `ingress` / `egress`.
    async fn converge(
        &self,
        group_id: &str,
        ingress: &BTreeSet<Rule>,
        egress: &BTreeSet<Rule>,
    ) -> Result<(), ProviderError> {
        let (live_in, live_out) = self
            .live(group_id)
            .await?
            .ok_or_else(|| ProviderError::retryable(format!("security group {group_id} not found")))?;
        let c = &self.0;
        let perms = |rules: Vec<&Rule>| Some(rules.into_iter().map(Rule::to_permission).collect::<Vec<_>>());
        // Revoke first: a rule whose description changed is revoked and authorized again.
        let revoke_in: Vec<&Rule> = live_in.difference(ingress).collect();
        if !revoke_in.is_empty() {
            c.revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(perms(revoke_in))
                .send()
                .await
                .map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?;
        }
        let revoke_out: Vec<&Rule> = live_out.difference(egress).collect();
        if !revoke_out.is_empty() {
            c.revoke_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(perms(revoke_out))
                .send()
                .await
                .map_err(|e| aws_error("RevokeSecurityGroupEgress", e))?;
        }
        let add_in: Vec<&Rule> = ingress.difference(&live_in).collect();
        if !add_in.is_empty() {
            c.authorize_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(perms(add_in))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("AuthorizeSecurityGroupIngress", e)))?;
        }
        let add_out: Vec<&Rule> = egress.difference(&live_out).collect();
        if !add_out.is_empty() {
            c.authorize_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(perms(add_out))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("AuthorizeSecurityGroupEgress", e)))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for SecurityGroupRules {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut wanted: BTreeSet<String> = super::target_prop_values(targets, Kind::GROUP_ID);
        wanted.extend(super::target_ids(targets));
        let groups = security_groups(ctx, &self.0, &wanted).await?;
        Ok(groups
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .filter_map(|g| {
                let id = g.group_id()?;
                // Only groups someone asked about: the rules of an unmanaged group are
                // reported with the group, not on their own.
                let address =
                    match_target(targets, |p| p.get(Kind::GROUP_ID).and_then(Value::as_str) == Some(id))
                        .or_else(|| targets.iter().find(|t| t.id.as_deref() == Some(id)).map(|t| &t.address))
                        .cloned();
                let props = Props::from([
                    (Kind::GROUP_ID.to_string(), Value::str(id)),
                    (Kind::INGRESS.to_string(), rules_value(&flatten(g.ip_permissions()))),
                    (Kind::EGRESS.to_string(), rules_value(&flatten(g.ip_permissions_egress()))),
                ]);
                // The rule set of a target's group is the stack's when its group is (a
                // rule set matched by its group's id but whose group lacks the tags is a
                // conflict). A rule set no target names is never owned on its own: the
                // rules of an unmanaged group are reported with the group.
                let owned = address.is_some() && super::owned_by(&ctx.stack, g.tags());
                Some(LiveObject { id: id.to_string(), address, props, outputs: Default::default(), owned })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let group_id = req_str(props, Kind::GROUP_ID)?;
        self.converge(group_id, &desired_rules(props, Kind::INGRESS)?, &desired_rules(props, Kind::EGRESS)?)
            .await?;
        Ok(Applied { id: group_id.to_string(), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        self.converge(
            req.id,
            &desired_rules(req.desired, Kind::INGRESS)?,
            &desired_rules(req.desired, Kind::EGRESS)?,
        )
        .await?;
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        if self.live(id).await?.is_none() {
            return Ok(());
        }
        self.converge(id, &BTreeSet::new(), &BTreeSet::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_value_round_trip() {
        let r = Rule {
            protocol: "tcp".into(),
            from_port: 443,
            to_port: 443,
            cidr: Some("0.0.0.0/0".into()),
            cidr_ipv6: None,
            prefix_list_id: None,
            source_group_id: None,
            description: Some("https".into()),
        };
        assert_eq!(Rule::from_value(&r.to_value()).unwrap(), r);
        let all = Rule {
            protocol: "-1".into(),
            from_port: 0,
            to_port: 65535,
            cidr: Some("0.0.0.0/0".into()),
            cidr_ipv6: None,
            prefix_list_id: None,
            source_group_id: None,
            description: None,
        };
        let back = Rule::from_value(&all.to_value()).unwrap();
        assert_eq!((back.from_port, back.to_port), (-1, -1));
    }

    #[test]
    fn ipv6_and_prefix_list_sources_round_trip_to_their_own_fields() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-123").build())
            .build();
        let rules = flatten(&[p]);
        assert_eq!(rules.len(), 2);
        for r in &rules {
            let back = Rule::from_value(&r.to_value()).unwrap();
            assert_eq!(&back, r);
            let perm = back.to_permission();
            assert!(perm.ip_ranges().is_empty(), "never sent back as IPv4: {perm:?}");
            assert_eq!(perm.ipv6_ranges().len() + perm.prefix_list_ids().len(), 1);
        }
    }

    #[test]
    fn permissions_flatten_to_one_rule_per_source() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").description("alb").build())
            .build();
        let rules = flatten(&[p]);
        assert_eq!(rules.len(), 3);
        assert!(rules.iter().all(|r| r.description.as_deref() != Some("")));
        assert_eq!(rules.iter().filter(|r| r.source_group_id.is_some()).count(), 1);
    }
}
