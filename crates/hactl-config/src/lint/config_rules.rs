//! The rules a config key can trigger, read from the config as written (its spans give
//! each finding the key's line): HL001, HL002 (extra security group and network ACL
//! rules), HL005, HL006, HL007, HL008 and HL009 (the services' own statements).

use super::{Ctx, HL001, HL002, HL005, HL006, HL007, HL008, HL009};
use crate::model::{AclRule, ExtraRule, RuleSource, StackConfig, SubnetTier, Tier};
use crate::raw::{RawAclRule, RawNetwork, RawRule, RawService};
use ipnet::Ipv4Net;

/// The first port of the tasks' answers (Linux's local port range starts here): a network
/// ACL entry of the app tier admitting the world on these ports only, and on no service
/// port, admits answers, as hactl's own entry does (see `expand_nacl.rs`).
pub(super) const TASK_ANSWERS_FROM: i64 = 32768;
/// Fewer days of automated backups than this is short.
const MIN_BACKUP_DAYS: i64 = 7;

pub(super) fn check(cx: &mut Ctx<'_>) {
    extra_ingress(cx);
    acl_rules(cx);
    nat(cx);
    database(cx);
    for (i, s) in cx.raw.services.iter().enumerate() {
        single_task(cx, i, s);
        wildcard_actions(cx, i, s);
    }
}

/// `tcp 22`, `tcp 1000-2000`, `all traffic`, `icmp`.
pub(super) fn describe_ports(protocol: &str, from: i64, to: i64) -> String {
    match protocol {
        "-1" => "all traffic".to_string(),
        "icmp" => "icmp".to_string(),
        p if from == to => format!("{p} {from}"),
        p => format!("{p} {from}-{to}"),
    }
}

/// Whether a rule of `protocol` on `from..=to` lets TCP `port` through.
pub(super) fn covers(protocol: &str, from: i64, to: i64, port: u16) -> bool {
    let port = i64::from(port);
    protocol == "-1" || (protocol == "tcp" && from <= port && port <= to)
}

/// Whether `cidr` lies inside one of the app tier's subnets (or, with RDS Proxy, the data
/// tier's, where the proxy runs), in either region.
fn inside_database_clients(cfg: &StackConfig, cidr: &Ipv4Net) -> bool {
    let proxy = cfg.database.as_ref().is_some_and(|d| d.proxy.is_some());
    let networks = std::iter::once(&cfg.network).chain(cfg.dr.as_ref().map(|d| &d.network));
    networks
        .flat_map(|n| &n.zones)
        .flat_map(|z| std::iter::once(z.app).chain(proxy.then_some(z.data)))
        .any(|subnet| subnet.contains(cidr))
}

/// Every port a task of the app tier listens on.
fn service_ports(cfg: &StackConfig) -> Vec<u16> {
    let mut ports = cfg.app_ports();
    ports.extend(cfg.internal_ports());
    ports
}

/// Whether an app tier network ACL entry admitting the world only admits the tasks'
/// answers: TCP or UDP, on ports from 32768 up, none of them a service's.
pub(super) fn only_answers(cfg: &StackConfig, protocol: &str, from: i64, to: i64) -> bool {
    matches!(protocol, "tcp" | "udp")
        && from >= TASK_ANSWERS_FROM
        && !service_ports(cfg).iter().any(|p| (from..=to).contains(&i64::from(*p)))
}

/// `security.extra_ingress`: the world into the app or data tier's group (HL001), the
/// database port from outside the app tier (HL002).
fn extra_ingress(cx: &mut Ctx<'_>) {
    let raw: &[RawRule] = cx.raw.security.as_ref().map(|s| s.extra_ingress.as_slice()).unwrap_or_default();
    let db_port = cx.cfg.database.as_ref().map(|d| d.port);
    for (i, (r, m)) in raw.iter().zip(&cx.cfg.security.extra_ingress).enumerate() {
        let prefix = format!("security.extra_ingress[{i}]");
        let ports = describe_ports(&m.protocol, i64::from(m.from_port), i64::from(m.to_port));
        let (span, key, source) = match (&m.source, &r.cidr, &r.source_group) {
            (RuleSource::Cidr(c), Some(v), _) => (v.span(), "cidr", c.to_string()),
            (RuleSource::Group(t), _, Some(v)) => {
                (v.span(), "source_group", format!("the {} group", t.name()))
            }
            _ => continue,
        };
        let world = matches!(&m.source, RuleSource::Cidr(c) if c.prefix_len() == 0);
        if world && matches!(m.group, Tier::App | Tier::Db) {
            let tier = if m.group == Tier::App { "app" } else { "database" };
            let msg = format!("{prefix} admits {source} ({ports}) to the {tier} tier's security group");
            cx.at(&HL001, span.clone(), format!("{prefix}.{key}"), msg);
        }
        if let (Tier::Db, Some(port)) = (m.group, db_port) {
            if reaches_database(cx.cfg, m, port) {
                let msg =
                    format!("{prefix} admits {source} to the database port {port}: it is not the app tier");
                cx.at(&HL002, span, format!("{prefix}.{key}"), msg);
            }
        }
    }
}

/// A rule of the database's group that lets something other than the app tier through
/// on the database port.
fn reaches_database(cfg: &StackConfig, m: &ExtraRule, port: u16) -> bool {
    let outside = match &m.source {
        RuleSource::Cidr(c) => !inside_database_clients(cfg, c),
        RuleSource::Group(t) => *t != Tier::App,
    };
    outside && covers(&m.protocol, i64::from(m.from_port), i64::from(m.to_port), port)
}

/// `network_acls.extra_rules`: inbound entries admitting the world to the app or data
/// subnets (HL001; the tasks' answers excepted), or the database port from outside the
/// app tier (HL002).
fn acl_rules(cx: &mut Ctx<'_>) {
    let raw: &[RawAclRule] =
        cx.raw.network_acls.as_ref().map(|n| n.extra_rules.as_slice()).unwrap_or_default();
    let db_port = cx.cfg.database.as_ref().map(|d| d.port);
    for (i, (r, m)) in raw.iter().zip(&cx.cfg.network_acls.extra_rules).enumerate() {
        if m.egress || !m.allow || m.tier == SubnetTier::Public {
            continue;
        }
        let field = format!("network_acls.extra_rules[{i}].cidr");
        let (from, to) = (i64::from(m.from_port), i64::from(m.to_port));
        let ports = describe_ports(&m.protocol, from, to);
        let what = format!("network_acls.extra_rules[{i}] admits {} ({ports})", m.cidr);
        if world_into_tier(cx.cfg, m) {
            let msg = format!("{what} to the {} subnets", m.tier.name());
            cx.at(&HL001, r.cidr.span(), field.clone(), msg);
        }
        if let (SubnetTier::Data, Some(port)) = (m.tier, db_port) {
            if covers(&m.protocol, from, to, port) && !inside_database_clients(cx.cfg, &m.cidr) {
                let msg = format!("{what} to the database port {port}: it is not the app tier");
                cx.at(&HL002, r.cidr.span(), field, msg);
            }
        }
    }
}

/// An inbound allow entry from 0.0.0.0/0 into the app or data subnets, answers aside.
fn world_into_tier(cfg: &StackConfig, m: &AclRule) -> bool {
    let answers = m.tier == SubnetTier::App
        && only_answers(cfg, &m.protocol, i64::from(m.from_port), i64::from(m.to_port));
    m.cidr.prefix_len() == 0 && !answers
}

/// `nat = "single"`, in either region (HL005).
fn nat(cx: &mut Ctx<'_>) {
    let dr = cx.raw.dr.as_ref().map(|d| (&d.network, "dr.network"));
    let networks: Vec<(&RawNetwork, &str)> =
        std::iter::once((&cx.raw.network, "network")).chain(dr).collect();
    for (n, prefix) in networks {
        let Some(v) = n.nat.as_ref().filter(|v| v.get_ref() == "single") else { continue };
        let zone = n.availability_zones.get_ref().iter().map(|z| z.get_ref().as_str()).min().unwrap_or("?");
        let msg = format!(
            "{prefix}.nat = \"single\": one NAT gateway (in {zone}) carries every zone's outbound traffic"
        );
        cx.at(&HL005, v.span(), format!("{prefix}.nat"), msg);
    }
}

/// `backup_retention_days` below 7 (HL006), `deletion_protection = false` (HL007).
fn database(cx: &mut Ctx<'_>) {
    let Some(db) = cx.raw.database.as_ref() else { return };
    if let Some(v) = db.backup_retention_days.as_ref().filter(|v| *v.get_ref() < MIN_BACKUP_DAYS) {
        let msg = format!(
            "database.backup_retention_days = {}: fewer than {MIN_BACKUP_DAYS} days of automated backups",
            v.get_ref()
        );
        cx.at(&HL006, v.span(), "database.backup_retention_days", msg);
    }
    if let Some(v) = db.deletion_protection.as_ref().filter(|v| !*v.get_ref()) {
        let msg = "database.deletion_protection = false: the database can be deleted without \
                   turning protection off first"
            .to_string();
        cx.at(&HL007, v.span(), "database.deletion_protection", msg);
    }
}

/// A service that can run one task or none (HL008): `desired_count` (without
/// autoscaling) or `autoscaling.min` at most 1, or a schedule that sets min or max to at
/// most 1. The DR region's standby counts (`[dr.desired_counts]`) are not checked: the
/// standby region runs them on purpose, and a failover scales it up.
fn single_task(cx: &mut Ctx<'_>, i: usize, s: &RawService) {
    let name = s.name.get_ref();
    let prefix = format!("services[{i}]");
    match &s.autoscaling {
        Some(a) if *a.min.get_ref() <= 1 => {
            let n = a.min.get_ref();
            let msg = format!("service \"{name}\" can scale in to {n} task(s): autoscaling.min = {n}");
            cx.at(&HL008, a.min.span(), format!("{prefix}.autoscaling.min"), msg);
        }
        Some(_) => {}
        None => {
            if let Some(v) = s.desired_count.as_ref().filter(|v| *v.get_ref() <= 1) {
                let n = v.get_ref();
                let msg = format!("service \"{name}\" runs {n} task(s): desired_count = {n}");
                cx.at(&HL008, v.span(), format!("{prefix}.desired_count"), msg);
            }
        }
    }
    let schedules = s.autoscaling.as_ref().map(|a| a.schedule.as_slice()).unwrap_or_default();
    for (j, sc) in schedules.iter().enumerate() {
        let low = [("min", &sc.min), ("max", &sc.max)]
            .into_iter()
            .find_map(|(k, v)| v.as_ref().filter(|v| *v.get_ref() <= 1).map(|v| (k, v)));
        if let Some((key, v)) = low {
            let msg = format!(
                "schedule \"{}\" of service \"{name}\" sets {key} = {}: the service can run with one task or none",
                sc.name.get_ref(),
                v.get_ref()
            );
            cx.at(&HL008, v.span(), format!("{prefix}.autoscaling.schedule[{j}].{key}"), msg);
        }
    }
}

/// Whether an IAM action names more than one action: `*`, `s3:*`, `s3:Get*`, `s3:?etObject`.
pub(super) fn is_wildcard(action: &str) -> bool {
    action.contains(['*', '?'])
}

/// A wildcard action in an Allow statement of the service's task role (HL009). Deny
/// statements may be as broad as they like.
fn wildcard_actions(cx: &mut Ctx<'_>, i: usize, s: &RawService) {
    for (j, st) in s.task_role_statements.iter().enumerate() {
        if st.effect.as_ref().is_some_and(|e| e.get_ref() != "Allow") {
            continue;
        }
        for (k, a) in st.actions.get_ref().iter().enumerate().filter(|(_, a)| is_wildcard(a.get_ref())) {
            let msg = format!(
                "service \"{}\"'s task role allows \"{}\": name the actions the task needs",
                s.name.get_ref(),
                a.get_ref()
            );
            cx.at(&HL009, a.span(), format!("services[{i}].task_role_statements[{j}].actions[{k}]"), msg);
        }
    }
}
