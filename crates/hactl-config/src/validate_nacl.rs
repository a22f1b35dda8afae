//! `[network_acls]`: whether each subnet tier gets its own network ACL, and the entries a
//! user adds to them. A child module of `validate` (its checks are shared).

use super::{rule_ports, RulePorts, PROTOCOLS};
use crate::error::Collector;
use crate::model::{AclRule, NetworkAclConfig, SubnetTier};
use crate::raw::{RawAclRule, RawNetworkAcls, S};
use std::collections::BTreeMap;

/// The rule numbers hactl gives its own entries (in steps of 10 from the first).
pub(crate) const OWN_RULE_NUMBERS: std::ops::RangeInclusive<i64> = 100..=999;
/// The highest number an entry may have (32767 is AWS's `*` entry).
const MAX_RULE_NUMBER: i64 = 32766;
const SUBNET_TIERS: &[&str] = &["public", "app", "data"];
const DIRECTIONS: &[&str] = &["ingress", "egress"];
const ACTIONS: &[&str] = &["allow", "deny"];

pub(crate) fn network_acls(r: Option<&RawNetworkAcls>, c: &mut Collector<'_>) -> Option<NetworkAclConfig> {
    let errors_before = c.errors.len();
    let enabled = r.and_then(|r| r.enabled.as_ref()).is_none_or(|v| *v.get_ref());
    let mut extra_rules = Vec::new();
    // Where each (tier, direction, number) was first used, for duplicates.
    let mut seen: BTreeMap<(SubnetTier, bool, i64), String> = BTreeMap::new();
    for (i, rule) in r.map(|r| r.extra_rules.as_slice()).unwrap_or_default().iter().enumerate() {
        let prefix = format!("network_acls.extra_rules[{i}]");
        if !enabled {
            let msg = "an extra network ACL rule while network ACLs are off";
            let hint = "remove the rule, or set network_acls.enabled = true";
            c.push(rule.tier.span(), format!("{prefix}.tier"), msg, hint);
            continue;
        }
        if let Some(r) = acl_rule(rule, &prefix, c) {
            let key = (r.tier, r.egress, i64::from(r.rule_number));
            if let Some(first) = seen.get(&key) {
                let msg = format!(
                    "rule number {} is used twice in the {} {} rules (first at {first})",
                    r.rule_number,
                    r.tier.name(),
                    if r.egress { "egress" } else { "ingress" }
                );
                let hint = "AWS keys a network ACL's entries by number and direction: give each rule its own";
                c.push(rule.rule_number.span(), format!("{prefix}.rule_number"), msg, hint);
                continue;
            }
            seen.insert(key, prefix.clone());
            extra_rules.push(r);
        }
    }
    (c.errors.len() == errors_before).then_some(NetworkAclConfig { enabled, extra_rules })
}

fn acl_rule(r: &RawAclRule, prefix: &str, c: &mut Collector<'_>) -> Option<AclRule> {
    let errors_before = c.errors.len();
    let tier =
        c.choice(&r.tier, &format!("{prefix}.tier"), SUBNET_TIERS, "subnet tier").map(|i| SubnetTier::ALL[i]);
    let egress = match &r.direction {
        None => Some(false),
        Some(d) => c.choice(d, &format!("{prefix}.direction"), DIRECTIONS, "direction").map(|i| i == 1),
    };
    let rule_number = rule_number(&r.rule_number, &format!("{prefix}.rule_number"), c);
    let protocol = match &r.protocol {
        None => Some("tcp"),
        Some(p) => c.choice(p, &format!("{prefix}.protocol"), PROTOCOLS, "protocol").map(|i| PROTOCOLS[i]),
    };
    let rule_span = r.protocol.as_ref().map_or_else(|| r.tier.span(), S::span);
    let keys = RulePorts { port: &r.port, from_port: &r.from_port, to_port: &r.to_port };
    let ports = protocol.and_then(|p| rule_ports(keys, prefix, p, &rule_span, c));
    let cidr = c.cidr(&r.cidr, &format!("{prefix}.cidr"));
    let allow = match &r.action {
        None => Some(true),
        Some(a) => c.choice(a, &format!("{prefix}.action"), ACTIONS, "action").map(|i| i == 0),
    };
    if c.errors.len() != errors_before {
        return None;
    }
    let (from_port, to_port) = ports?;
    Some(AclRule {
        tier: tier?,
        egress: egress?,
        rule_number: i32::try_from(rule_number?).ok()?,
        protocol: protocol?.to_string(),
        from_port: i32::try_from(from_port).ok()?,
        to_port: i32::try_from(to_port).ok()?,
        cidr: cidr?,
        allow: allow?,
    })
}

/// A rule number outside hactl's own range.
fn rule_number(v: &S<i64>, field: &str, c: &mut Collector<'_>) -> Option<i64> {
    let hint = "AWS evaluates a network ACL's entries in rule-number order; 1-99 come before hactl's \
                own entries, 1000-32766 after them";
    let n = c.int(v, field, 1, MAX_RULE_NUMBER, hint)?;
    if OWN_RULE_NUMBERS.contains(&n) {
        let msg = format!(
            "rule number {n} is one hactl uses ({}-{})",
            OWN_RULE_NUMBERS.start(),
            OWN_RULE_NUMBERS.end()
        );
        c.push(v.span(), field, msg, "use 1-99 (evaluated before hactl's entries) or 1000-32766 (after)");
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    const BASE: &str = "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n[network]\nvpc_cidr = \"10.0.0.0/16\"\navailability_zones = [\"us-east-1a\", \"us-east-1b\"]\npublic_subnets = [\"10.0.0.0/24\", \"10.0.1.0/24\"]\napp_subnets = [\"10.0.10.0/24\", \"10.0.11.0/24\"]\ndata_subnets = [\"10.0.20.0/24\", \"10.0.21.0/24\"]\n";

    /// (line, field, message) of each error of BASE + `extra`.
    fn errors(extra: &str) -> Vec<(usize, String, String)> {
        match crate::parse("t.toml", &format!("{BASE}{extra}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| (e.line, e.field.clone(), e.message.clone())).collect(),
        }
    }

    fn rule(tier: &str, direction: &str, n: i64) -> String {
        format!("\n[[network_acls.extra_rules]]\ntier = \"{tier}\"\ndirection = \"{direction}\"\nrule_number = {n}\nport = 22\ncidr = \"10.0.0.0/8\"\n")
    }

    #[test]
    fn numbers_are_unique_per_tier_and_direction_outside_hactls_range() {
        // The same number in another tier or direction is fine.
        let ok = rule("app", "ingress", 50) + &rule("app", "egress", 50) + &rule("data", "ingress", 50);
        assert_eq!(errors(&ok), []);
        let twice = rule("app", "ingress", 50) + &rule("app", "ingress", 50);
        let e = errors(&twice);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].1, "network_acls.extra_rules[1].rule_number");
        assert!(e[0].2.contains("first at network_acls.extra_rules[0]"), "{e:?}");
        for (n, what) in
            [(100, "one hactl uses"), (999, "one hactl uses"), (0, "out of range"), (32767, "out of range")]
        {
            let e = errors(&rule("public", "ingress", n));
            assert!(e.len() == 1 && e[0].2.contains(what), "{n}: {e:?}");
        }
        assert_eq!(errors(&rule("public", "ingress", 1000)), []);
    }

    #[test]
    fn bad_values_name_their_key_and_extra_rules_need_acls_on() {
        let e = errors("\n[[network_acls.extra_rules]]\ntier = \"web\"\nrule_number = 5\ndirection = \"in\"\ncidr = \"10.0.0.0/33\"\naction = \"drop\"\nport = 1\n");
        let fields: Vec<&str> = e.iter().map(|e| e.1.as_str()).collect();
        for f in ["tier", "direction", "cidr", "action"] {
            assert!(fields.contains(&format!("network_acls.extra_rules[0].{f}").as_str()), "{f}: {e:?}");
        }
        let off = format!("\n[network_acls]\nenabled = false\n{}", rule("app", "ingress", 50));
        let e = errors(&off);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].2.contains("while network ACLs are off"), "{e:?}");
    }
}
