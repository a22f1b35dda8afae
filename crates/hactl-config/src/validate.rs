//! Semantic validation of the raw config into the model. Every check records its error
//! and carries on, so that one run reports every problem of the file.

use crate::error::Collector;
use crate::model::*;
use crate::net::{self, CidrError};
use crate::raw::*;
use crate::suggest::{did_you_mean, list_quoted};
use hactl_core::graph::find_cycles;
use ipnet::Ipv4Net;
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

#[path = "validate_ci.rs"]
mod validate_ci;
#[path = "validate_dr.rs"]
mod validate_dr;
#[path = "validate_levers.rs"]
mod validate_levers;
#[path = "validate_lint.rs"]
mod validate_lint;
#[path = "validate_log_analytics.rs"]
mod validate_log_analytics;
#[path = "validate_nacl.rs"]
mod validate_nacl;
#[path = "validate_network.rs"]
mod validate_network;
#[path = "validate_regional.rs"]
mod validate_regional;
use validate_network::{network, Section};

const NAT_MODES: &[&str] = &["per-az", "single", "none"];
const LAUNCH_TYPES: &[&str] = &["ec2", "fargate"];
const ENGINES: &[&str] = &["docdb", "postgres"];
const TIERS: &[&str] = &["alb", "app", "db"];
const PROTOCOLS: &[&str] = &["tcp", "udp", "icmp", "-1"];
const FARGATE_CPU: &[i64] = &[256, 512, 1024, 2048, 4096];
const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const RESERVED_ENV: &[&str] = &["DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DB_VIA_PROXY"];
const RESERVED_USERNAMES: &[&str] = &["admin", "root", "postgres"];
/// Days between two rotations of the master password when the config leaves it out.
pub const DEFAULT_PASSWORD_ROTATION_DAYS: u32 = 30;
/// The Application Load Balancer security policies that accept TLS 1.2 and later only
/// (the TLS13-1-0 / TLS13-1-1 families, FS-1-1, FS-2018-06, TLS-1-1, TLS-1-0, 2016-08 and
/// 2015-05 also accept TLS 1.0 or 1.1).
pub(crate) const TLS12_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
];
/// Policies that also accept TLS 1.0 (and 1.1), and those that accept TLS 1.1 but not 1.0.
const TLS10_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-2015-05",
    "ELBSecurityPolicy-2016-08",
    "ELBSecurityPolicy-TLS-1-0-2015-04",
    "ELBSecurityPolicy-FS-2018-06",
    "ELBSecurityPolicy-TLS13-1-0-2021-06",
    "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09",
];
const TLS11_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-TLS-1-1-2017-01",
    "ELBSecurityPolicy-FS-1-1-2019-08",
    "ELBSecurityPolicy-TLS13-1-1-2021-06",
    "ELBSecurityPolicy-TLS13-1-1-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-1-FIPS-PQ-2025-09",
];
/// Characters besides ASCII letters and digits allowed in a health check path: RFC 3986
/// path characters without the ones a shell gives a meaning to (the default container
/// health check runs `wget ... http://localhost:PORT<path>` through `sh -c`).
const PATH_CHARS: &str = "/-._~%:@+,=";
/// The longest health check path an ALB target group takes.
const MAX_PATH: usize = 1024;
/// Characters a state key may not hold: it goes into the drift job's IAM policy
/// resources, where `*` and `?` are wildcards and `${...}` a policy variable.
const STATE_KEY_FORBIDDEN: &str = "*?${}";
/// Tasks per ECS service (ECS quota, not adjustable).
pub(super) const MAX_TASKS: i64 = 5000;
pub(super) const TASKS_HINT: &str =
    "a task count; ECS runs at most 5000 tasks per service (a quota AWS does not raise)";
const PORT_HINT: &str = "a TCP or UDP port number, e.g. 8080";
/// Interface VPC endpoints per VPC (VPC quota, default).
const MAX_INTERFACE_ENDPOINTS: usize = 50;
/// Characters of a security group rule description (EC2).
const RULE_DESCRIPTION_CHARS: &str = "._-:/()#,@[]+=;{}!$* ";
/// Characters, besides letters and digits, that every tagged service accepts in tag keys
/// and values (EC2 accepts more; IAM, ELB, ECS and the others do not).
const TAG_CHARS: &str = " _.:/=+-@";

pub(crate) fn validate(raw: &RawConfig, c: &mut Collector<'_>) -> Option<StackConfig> {
    let stack = stack(&raw.stack, c);
    let region = stack.as_ref().map(|s| s.region.clone()).or_else(|| {
        let r = raw.stack.region.get_ref();
        is_region(r).then(|| r.clone())
    });
    let at = Section { prefix: "network", region: region.as_deref(), region_key: "stack.region" };
    let network = network(&raw.network, &at, c);
    let dr = raw.dr.as_ref().and_then(|d| validate_dr::dr(raw, d, region.as_deref(), c));
    let security = security(raw.security.as_ref(), c);
    let network_acls = validate_nacl::network_acls(raw.network_acls.as_ref(), c);
    let compute = compute(raw.compute.as_ref(), c);
    let launch_type = compute.as_ref().map(|c| c.launch_type);
    let services = services(&raw.services, raw.stack.name.get_ref(), launch_type, c);
    let load_balancer = load_balancer(raw.load_balancer.as_ref(), raw.stack.name.get_ref(), c);
    let database = raw.database.as_ref().map(|d| database(d, c));
    let alarms = alarms(raw.alarms.as_ref(), c);
    let state = state(raw.state.as_ref(), raw.stack.name.get_ref(), region.as_deref(), c);
    let drift = drift(raw.drift.as_ref(), !raw.services.is_empty(), state.as_ref(), c);
    let ecr = validate_regional::ecr(raw.ecr.as_ref(), c);
    let public_path =
        services.as_ref().and_then(|s| s.iter().find(|s| s.public)).map(|s| s.health_check_path.as_str());
    let dns = raw.dns.as_ref().map(|d| validate_regional::dns(raw, d, public_path, c));
    let ci = raw.ci.as_ref().map(|r| validate_ci::ci(r, state.as_ref(), c));
    let log_analytics = raw.log_analytics.as_ref().map(|r| validate_log_analytics::log_analytics(raw, r, c));
    let lint = validate_lint::lint(raw.lint.as_ref(), c);
    validate_levers::check_proxy_without_dr(raw, c);
    validate_levers::check_blue_green(raw, compute.as_ref().map(|c| c.service_stable_timeout), c);
    let mut resource_tags = BTreeMap::new();
    for (addr, tags) in raw.resource_tags.iter().flatten() {
        let field = format!("resource_tags.{}", crate::locate::render_key(addr.get_ref()));
        if hactl_core::Address::parse(addr.get_ref()).is_err() {
            let hint = "keys are resource addresses such as \"vpc.main\" or \"subnet.app.us-east-1a\" \
                        (`hactl graph` lists them)";
            c.push(addr.span(), field, format!("\"{}\" is not a resource address", addr.get_ref()), hint);
            continue;
        }
        if let Some(t) = tag_map(tags, &field, c) {
            resource_tags.insert(addr.get_ref().clone(), t);
        }
    }
    if !raw.services.is_empty() {
        // Tasks and instances in the private app subnets need a way out to pull images
        // and reach ECS and CloudWatch Logs.
        if let Some(v) = raw.network.nat.as_ref().filter(|v| v.get_ref() == "none") {
            let msg = "services need a NAT gateway: with nat = \"none\" their tasks cannot pull images or reach ECS and CloudWatch Logs";
            let hint =
                "use nat = \"per-az\" (zone-redundant) or \"single\" (cheaper), or remove the services";
            c.push(v.span(), "network.nat", msg, hint);
        }
        // AWS reserves load balancer names starting with "internal-".
        let name = raw.stack.name.get_ref();
        if name.starts_with("internal-") || name == "internal" {
            let msg =
                format!("stack name \"{name}\" would make load balancer names starting with \"internal-\"");
            let hint = "AWS reserves that prefix for load balancer names; choose another stack name";
            c.push(raw.stack.name.span(), "stack.name", msg, hint);
        }
    }
    if !c.errors.is_empty() {
        return None;
    }
    Some(StackConfig {
        stack: stack?,
        network: network?,
        security: security?,
        network_acls: network_acls?,
        compute: compute?,
        load_balancer: load_balancer?,
        services: services?,
        database: match database {
            Some(d) => Some(d?),
            None => None,
        },
        alarms: alarms?,
        drift: drift?,
        state: state?,
        resource_tags,
        dr,
        ecr: ecr?,
        dns: match dns {
            Some(d) => Some(d?),
            None => None,
        },
        ci: match ci {
            Some(d) => Some(d?),
            None => None,
        },
        log_analytics: match log_analytics {
            Some(d) => Some(d?),
            None => None,
        },
        lint: lint?,
    })
}

// ---------------------------------------------------------------------------------------
// Generic checks

impl Collector<'_> {
    /// An integer from `lo` to `hi`. Every range message has this one form:
    /// "KEY N is out of range: use a whole number from LO to HI" (numbers: "use a number
    /// from LO to HI" or "greater than LO and at most HI"); the hint says what the value
    /// means, not the range again.
    fn int(&mut self, v: &S<i64>, field: &str, lo: i64, hi: i64, hint: &str) -> Option<i64> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            return Some(n);
        }
        let key = last_key(field);
        self.push(
            v.span(),
            field,
            format!("{key} {n} is out of range: use a whole number from {lo} to {hi}"),
            hint,
        );
        None
    }

    /// An optional integer from `lo` to `hi`, `default` when absent; `meaning` says what it
    /// counts ("seconds between health checks").
    fn opt_int(
        &mut self,
        v: &Option<S<i64>>,
        field: &str,
        (lo, hi): (i64, i64),
        default: i64,
        meaning: &str,
    ) -> Option<i64> {
        match v {
            None => Some(default),
            Some(v) => self.int(v, field, lo, hi, &format!("{meaning} (default {default})")),
        }
    }

    /// A port number, from 1 to 65535.
    fn port(&mut self, v: &S<i64>, field: &str) -> Option<u16> {
        self.int(v, field, 1, 65535, PORT_HINT).and_then(|p| u16::try_from(p).ok())
    }

    /// A number from `lo` to `hi` (greater than `lo` when `lo_open`), `default` when absent.
    fn opt_float(
        &mut self,
        v: &Option<S<f64>>,
        field: &str,
        (lo, lo_open): (f64, bool),
        hi: f64,
        default: f64,
        meaning: &str,
    ) -> Option<f64> {
        let Some(v) = v else { return Some(default) };
        let n = *v.get_ref();
        let above = if lo_open { n > lo } else { n >= lo };
        if above && n <= hi {
            return Some(n);
        }
        let range = if lo_open {
            format!("use a number greater than {lo} and at most {hi}")
        } else {
            format!("use a number from {lo} to {hi}")
        };
        let key = last_key(field);
        let hint = format!("{meaning} (default {default:?})");
        self.push(v.span(), field, format!("{key} {n} is out of range: {range}"), hint);
        None
    }

    /// One of `allowed`; returns its index.
    fn choice(&mut self, v: &S<String>, field: &str, allowed: &[&str], what: &str) -> Option<usize> {
        let s = v.get_ref();
        if let Some(i) = allowed.iter().position(|a| a == s) {
            return Some(i);
        }
        let hint = format!("{}allowed values: {}", did_you_mean(s, allowed), list_quoted(allowed));
        self.push(v.span(), field, format!("unknown {what} \"{s}\""), hint);
        None
    }

    /// An IPv4 CIDR block written as its network address.
    fn cidr(&mut self, v: &S<String>, field: &str) -> Option<Ipv4Net> {
        let s = v.get_ref();
        match net::parse_network(s) {
            Ok(n) => Some(n),
            Err(CidrError::Malformed) => {
                let hint =
                    "write an IPv4 block as ADDRESS/PREFIX with a prefix of 0 to 32, e.g. \"10.0.0.0/16\"";
                self.push(v.span(), field, format!("\"{s}\" is not a valid IPv4 CIDR block"), hint);
                None
            }
            Err(CidrError::NotNetworkAddress(canonical)) => {
                let hint = format!(
                    "the address must be the first of the block (host bits zero): write \"{canonical}\""
                );
                self.push(v.span(), field, format!("\"{s}\" is not a network address"), hint);
                None
            }
        }
    }

    /// A non-empty string without whitespace.
    fn token(&mut self, v: &S<String>, field: &str, example: &str) -> bool {
        let s = v.get_ref();
        if s.is_empty() {
            self.push(v.span(), field, "must not be empty", format!("e.g. {example}"));
            false
        } else if s.chars().any(char::is_whitespace) {
            let msg = format!("\"{s}\" must not contain whitespace");
            self.push(v.span(), field, msg, format!("e.g. {example}"));
            false
        } else {
            true
        }
    }
}

/// Days a CloudWatch Logs group keeps its events: one of the values CloudWatch accepts
/// (default 30).
fn log_retention(c: &mut Collector<'_>, v: &Option<S<i64>>, field: &str) -> Option<i64> {
    match v {
        None => Some(30),
        Some(v) if LOG_RETENTION_DAYS.contains(v.get_ref()) => Some(*v.get_ref()),
        Some(v) => {
            let nearest = LOG_RETENTION_DAYS.iter().min_by_key(|d| (*d - v.get_ref()).abs()).copied();
            let all: Vec<String> = LOG_RETENTION_DAYS.iter().map(i64::to_string).collect();
            let msg = format!("log retention of {} days is not supported by CloudWatch Logs", v.get_ref());
            let hint = format!(
                "{}allowed values: {}",
                nearest.map(|n| format!("the nearest is {n}; ")).unwrap_or_default(),
                all.join(", ")
            );
            c.push(v.span(), field, msg, hint);
            None
        }
    }
}

/// `services[1].autoscaling.min` → `min`.
fn last_key(field: &str) -> &str {
    let key = field.rsplit('.').next().unwrap_or(field);
    key.split('[').next().unwrap_or(key)
}

/// One bound or value of a `lo <= mid <= hi` relation, with where it was written (if it was).
struct Bound<'a> {
    name: &'a str,
    field: String,
    value: i64,
    at: Option<Range<usize>>,
}

impl Bound<'_> {
    fn new<'a>(name: &'a str, field: String, v: &Option<S<i64>>, default: i64) -> Bound<'a> {
        Bound {
            name,
            field,
            value: v.as_ref().map_or(default, |v| *v.get_ref()),
            at: v.as_ref().map(S::span),
        }
    }

    fn label(&self) -> String {
        match self.at {
            Some(_) => format!("{} ({})", self.name, self.value),
            None => format!("{} ({}, the default)", self.name, self.value),
        }
    }
}

/// Checks `lo <= hi` and `lo <= mid <= hi`; errors point at the first written value among
/// those involved (at `fallback` when all are defaults).
fn check_order(
    c: &mut Collector<'_>,
    fallback: Range<usize>,
    lo: &Bound<'_>,
    mid: Option<&Bound<'_>>,
    hi: &Bound<'_>,
) -> bool {
    let hint = match mid {
        Some(m) => format!("{} <= {} <= {} must hold", lo.name, m.name, hi.name),
        None => format!("{} <= {} must hold", lo.name, hi.name),
    };
    let mut report = |first: &Bound<'_>, second: &Bound<'_>, message: String| {
        let (span, field) = match (&first.at, &second.at) {
            (Some(s), _) => (s.clone(), first.field.clone()),
            (None, Some(s)) => (s.clone(), second.field.clone()),
            (None, None) => (fallback.clone(), first.field.clone()),
        };
        c.push(span, field, message, hint.clone());
    };
    if lo.value > hi.value {
        report(lo, hi, format!("{} is greater than {}", lo.label(), hi.label()));
        return false;
    }
    if let Some(m) = mid {
        if m.value < lo.value {
            report(m, lo, format!("{} is below {}", m.label(), lo.label()));
            return false;
        }
        if m.value > hi.value {
            report(m, hi, format!("{} is above {}", m.label(), hi.label()));
            return false;
        }
    }
    true
}

fn is_lower_name(s: &str, max_len: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= max_len
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `^[a-z]{2}(-gov)?-[a-z]+-\d$`
pub(crate) fn is_region(s: &str) -> bool {
    let lower = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let parts: Vec<&str> = s.split('-').collect();
    let (cc, dir, n) = match parts.as_slice() {
        [cc, "gov", dir, n] | [cc, dir, n] => (*cc, *dir, *n),
        _ => return false,
    };
    cc.len() == 2 && lower(cc) && lower(dir) && n.len() == 1 && n.chars().all(|c| c.is_ascii_digit())
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
fn is_env_key(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `^[a-zA-Z][a-zA-Z0-9_]{0,62}$`
fn is_db_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A valid name close to `s` (lowercased, invalid characters replaced by `-`).
fn name_suggestion(s: &str, max_len: usize) -> Option<String> {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    out = out.trim_matches('-').to_string();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.truncate(max_len);
    let out = out.trim_end_matches('-').to_string();
    is_lower_name(&out, max_len).then_some(out)
}

fn name_hint(s: &str, max_len: usize) -> String {
    let rule = format!(
        "names start with a lowercase letter and contain only a-z, 0-9 and '-', at most {max_len} characters"
    );
    match name_suggestion(s, max_len) {
        Some(n) => format!("{rule}; e.g. \"{n}\""),
        None => rule,
    }
}

/// Duplicate detection over a list: reports each repeat, naming the first occurrence.
fn check_unique<'v, T: PartialEq + std::fmt::Display + 'v>(
    c: &mut Collector<'_>,
    items: impl IntoIterator<Item = (String, &'v S<T>)>,
    what: &str,
    hint: &str,
) {
    let mut seen: Vec<(String, &S<T>)> = Vec::new();
    for (field, v) in items {
        if let Some((first, _)) = seen.iter().find(|(_, s)| s.get_ref() == v.get_ref()) {
            let msg = format!("duplicate {what} \"{}\" (also {first})", v.get_ref());
            c.push(v.span(), field, msg, hint);
        } else {
            seen.push((field, v));
        }
    }
}

fn indexed<'v, T>(prefix: &str, list: &'v [S<T>]) -> impl Iterator<Item = (String, &'v S<T>)> + 'v {
    let prefix = prefix.to_string();
    list.iter().enumerate().map(move |(i, v)| (format!("{prefix}[{i}]"), v))
}

// ---------------------------------------------------------------------------------------
// [stack]

fn stack(r: &RawStack, c: &mut Collector<'_>) -> Option<StackSection> {
    let mut ok = true;
    let name = r.name.get_ref();
    if !is_lower_name(name, 28) {
        let msg = format!("invalid stack name \"{name}\"");
        c.push(r.name.span(), "stack.name", msg, name_hint(name, 28));
        ok = false;
    } else if name.ends_with('-') || name.contains("--") {
        // Database identifiers (`<stack>-docdb`, `<stack>-pg`) may not hold "--" and
        // load balancer and target group names may not end with '-'.
        let msg = format!("invalid stack name \"{name}\": it ends with '-' or holds \"--\"");
        let hint = format!(
            "AWS refuses database identifiers with two hyphens in a row and load balancer names ending \
             with one; e.g. \"{}\"",
            name_suggestion(name, 28).unwrap_or_else(|| "ha-demo".into())
        );
        c.push(r.name.span(), "stack.name", msg, hint);
        ok = false;
    }
    let region = r.region.get_ref();
    if !is_region(region) {
        let lower = region.to_ascii_lowercase();
        let example = if is_region(&lower) { lower } else { "us-east-1".to_string() };
        let hint =
            format!("regions look like us-east-1, eu-west-2 or us-gov-west-1; e.g. region = \"{example}\"");
        c.push(r.region.span(), "stack.region", format!("invalid region \"{region}\""), hint);
        ok = false;
    }
    let tags = match &r.tags {
        Some(t) => tag_map(t, "stack.tags", c),
        None => Some(BTreeMap::new()),
    };
    let (mut ok, tags) = match tags {
        Some(t) => (ok, t),
        None => (false, BTreeMap::new()),
    };
    let mut allowed_account_ids = Vec::new();
    if let Some(list) = &r.allowed_account_ids {
        if list.get_ref().is_empty() {
            let hint = "list the 12-digit ids of the accounts this stack may touch, or leave the key out to allow any";
            c.push(list.span(), "stack.allowed_account_ids", "the list of allowed accounts is empty", hint);
            ok = false;
        }
        for (i, id) in list.get_ref().iter().enumerate() {
            let field = format!("stack.allowed_account_ids[{i}]");
            let v = id.get_ref();
            if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                let msg = format!("\"{v}\" is not an AWS account id");
                let hint = "account ids are 12 digits, e.g. \"123456789012\" (quoted: leading zeros count)";
                c.push(id.span(), &field, msg, hint);
                ok = false;
            } else if allowed_account_ids.contains(v) {
                c.push(
                    id.span(),
                    &field,
                    format!("account \"{v}\" is listed twice"),
                    "list each account once",
                );
                ok = false;
            } else {
                allowed_account_ids.push(v.clone());
            }
        }
    }
    ok.then(|| StackSection { name: name.clone(), region: region.clone(), tags, allowed_account_ids })
}

// ---------------------------------------------------------------------------------------
// [network]

// ---------------------------------------------------------------------------------------
// [security]

fn security(r: Option<&RawSecurity>, c: &mut Collector<'_>) -> Option<SecurityConfig> {
    let errors_before = c.errors.len();
    let mut alb_ports = Vec::new();
    match r.and_then(|r| r.alb_ports.as_ref()) {
        None => alb_ports.extend([80, 443]),
        Some(list) => {
            for (field, v) in indexed("security.alb_ports", list.get_ref()) {
                alb_ports.extend(c.port(v, &field));
            }
            let hint = "list each port once";
            check_unique(c, indexed("security.alb_ports", list.get_ref()), "port", hint);
        }
    }
    let mut alb_ingress_cidrs = Vec::new();
    match r.and_then(|r| r.alb_ingress_cidrs.as_ref()) {
        None => alb_ingress_cidrs.push(Ipv4Net::default()),
        Some(list) => {
            for (field, v) in indexed("security.alb_ingress_cidrs", list.get_ref()) {
                alb_ingress_cidrs.extend(c.cidr(v, &field));
            }
        }
    }
    let mut extra_ingress = Vec::new();
    for (i, rule) in r.map(|r| r.extra_ingress.as_slice()).unwrap_or_default().iter().enumerate() {
        extra_ingress.extend(extra_rule(rule, &format!("security.extra_ingress[{i}]"), c));
    }
    (c.errors.len() == errors_before).then_some(SecurityConfig {
        alb_ports,
        alb_ingress_cidrs,
        extra_ingress,
    })
}

fn tier(i: usize) -> Option<Tier> {
    [Tier::Alb, Tier::App, Tier::Db].get(i).copied()
}

fn extra_rule(r: &RawRule, prefix: &str, c: &mut Collector<'_>) -> Option<ExtraRule> {
    let errors_before = c.errors.len();
    // Where to report what the rule lacks: its protocol, else its (required) group.
    let rule_span = r.protocol.as_ref().map_or_else(|| r.group.span(), S::span);
    let group = c.choice(&r.group, &format!("{prefix}.group"), TIERS, "security group").and_then(tier);
    let protocol = match &r.protocol {
        None => Some("tcp"),
        Some(p) => c.choice(p, &format!("{prefix}.protocol"), PROTOCOLS, "protocol").map(|i| PROTOCOLS[i]),
    };
    let keys = RulePorts { port: &r.port, from_port: &r.from_port, to_port: &r.to_port };
    let ports = protocol.and_then(|protocol| rule_ports(keys, prefix, protocol, &rule_span, c));
    let source = rule_source(r, prefix, &rule_span, c);
    let description = r.description.as_ref().map(|d| d.get_ref().clone());
    if let Some(d) = &r.description {
        check_rule_description(d, prefix, c);
    }

    if c.errors.len() != errors_before {
        return None;
    }
    let (from_port, to_port) = ports?;
    Some(ExtraRule {
        group: group?,
        protocol: protocol?.to_string(),
        from_port: i32::try_from(from_port).ok()?,
        to_port: i32::try_from(to_port).ok()?,
        source: source?,
        description,
    })
}

/// The port keys of a rule as written.
#[derive(Clone, Copy)]
pub(crate) struct RulePorts<'a> {
    pub port: &'a Option<S<i64>>,
    pub from_port: &'a Option<S<i64>>,
    pub to_port: &'a Option<S<i64>>,
}

/// The rule's (from, to) ports for `protocol`: `port = N`, or `from_port` and `to_port`
/// (for icmp the type and the code, -1 meaning any; -1 and -1 for all traffic).
/// Shared by security group rules and network ACL entries.
fn rule_ports(
    r: RulePorts<'_>,
    prefix: &str,
    protocol: &str,
    rule_span: &Range<usize>,
    c: &mut Collector<'_>,
) -> Option<(i64, i64)> {
    let keys = [("port", r.port), ("from_port", r.from_port), ("to_port", r.to_port)];
    let (lo, hi) = if protocol == "icmp" { (-1, 255) } else { (1, 65535) };
    let range_hint = if protocol == "icmp" {
        "for icmp, `port` is the ICMP type (any code); from_port / to_port are the type and the code \
         (-1: any)"
    } else {
        PORT_HINT
    };
    let mut int = |v: &S<i64>, key: &str| c.int(v, &format!("{prefix}.{key}"), lo, hi, range_hint);
    match (protocol, r.port, r.from_port, r.to_port) {
        ("-1", ..) => match keys.iter().find_map(|(k, v)| v.as_ref().map(|v| (k, v))) {
            Some((k, v)) => {
                let msg = format!("protocol \"-1\" (all traffic) takes no `{k}`");
                let hint = "remove port / from_port / to_port, or use protocol \"tcp\" or \"udp\"";
                c.push(v.span(), format!("{prefix}.{k}"), msg, hint);
                None
            }
            None => Some((-1, -1)),
        },
        (_, Some(_), Some(v), _) | (_, Some(_), None, Some(v)) => {
            let k = if r.from_port.is_some() { "from_port" } else { "to_port" };
            let msg = format!("`port` and `{k}` are both set");
            let hint = "give either `port = N` or `from_port` and `to_port` for a range, not both";
            c.push(v.span(), format!("{prefix}.{k}"), msg, hint);
            None
        }
        // For icmp, `port = N` is the ICMP type N with any code (EC2's FromPort is the
        // type, ToPort the code).
        ("icmp", Some(p), None, None) => int(p, "port").map(|p| (p, -1)),
        (_, Some(p), None, None) => int(p, "port").map(|p| (p, p)),
        (_, None, Some(from), Some(to)) => {
            let (f, t) = (int(from, "from_port"), int(to, "to_port"));
            match (f, t) {
                (Some(f), Some(t)) if f > t => {
                    let msg = format!("from_port ({f}) is greater than to_port ({t})");
                    let hint = "a port range is written from_port <= to_port; swap the two values";
                    c.push(from.span(), format!("{prefix}.from_port"), msg, hint);
                    None
                }
                (Some(f), Some(t)) => Some((f, t)),
                _ => None,
            }
        }
        (_, None, Some(v), None) | (_, None, None, Some(v)) => {
            let (k, missing) =
                if r.from_port.is_some() { ("from_port", "to_port") } else { ("to_port", "from_port") };
            let msg = format!("`{k}` without `{missing}`");
            let hint = format!("set both from_port and to_port, or a single `port = N`; add `{missing}`");
            c.push(v.span(), format!("{prefix}.{k}"), msg, hint);
            None
        }
        ("icmp", None, None, None) => Some((-1, -1)),
        (p, None, None, None) => {
            let msg = format!("a {p} rule needs a port");
            let hint = "add `port = N`, or `from_port` and `to_port` for a range";
            c.push(rule_span.clone(), format!("{prefix}.port"), msg, hint);
            None
        }
    }
}

/// The rule's one source: a CIDR block or a tier's security group.
fn rule_source(
    r: &RawRule,
    prefix: &str,
    rule_span: &Range<usize>,
    c: &mut Collector<'_>,
) -> Option<RuleSource> {
    match (&r.cidr, &r.source_group) {
        (Some(_), Some(g)) => {
            let msg = "both `cidr` and `source_group` are set";
            let hint = "a rule has exactly one source: remove `cidr` or `source_group` (add a second rule \
                        for the other)";
            c.push(g.span(), format!("{prefix}.source_group"), msg, hint);
            None
        }
        (Some(cidr), None) => c.cidr(cidr, &format!("{prefix}.cidr")).map(RuleSource::Cidr),
        (None, Some(g)) => c
            .choice(g, &format!("{prefix}.source_group"), TIERS, "security group")
            .and_then(tier)
            .map(RuleSource::Group),
        (None, None) => {
            let msg = "the rule has no source";
            let hint = "add `cidr = \"10.0.0.0/16\"` or `source_group = \"app\"` (alb, app or db)";
            c.push(rule_span.clone(), format!("{prefix}.cidr"), msg, hint);
            None
        }
    }
}

/// A rule description EC2 accepts: at most 255 characters of its set.
fn check_rule_description(d: &S<String>, prefix: &str, c: &mut Collector<'_>) {
    if d.get_ref().chars().count() > 255 {
        let msg = format!("description is {} characters long; at most 255", d.get_ref().chars().count());
        c.push(d.span(), format!("{prefix}.description"), msg, "shorten the description");
    } else if let Some(bad) =
        bad_char(d.get_ref(), |ch| ch.is_ascii_alphanumeric() || RULE_DESCRIPTION_CHARS.contains(ch))
    {
        let msg = format!("description has {bad}, which EC2 does not accept in a rule description");
        let hint = format!(
            "rule descriptions take a-z, A-Z, 0-9, spaces and \"{}\"",
            RULE_DESCRIPTION_CHARS.trim_end()
        );
        c.push(d.span(), format!("{prefix}.description"), msg, hint);
    }
}

// ---------------------------------------------------------------------------------------
// [compute]

fn compute(s: Option<&RawCompute>, c: &mut Collector<'_>) -> Option<ComputeConfig> {
    let errors_before = c.errors.len();
    let empty = RawCompute {
        launch_type: None,
        instance_type: None,
        ami: None,
        min_size: None,
        max_size: None,
        desired_capacity: None,
        container_insights: None,
        service_stable_timeout: None,
        root_volume_size: None,
        root_device_name: None,
        schedule: Vec::new(),
        spot: None,
    };
    let r = s.unwrap_or(&empty);
    let launch_type = match &r.launch_type {
        None => Some(LaunchType::Ec2),
        Some(v) => c
            .choice(v, "compute.launch_type", LAUNCH_TYPES, "launch type")
            .and_then(|i| [LaunchType::Ec2, LaunchType::Fargate].get(i).copied()),
    };
    if launch_type == Some(LaunchType::Fargate) {
        check_no_ec2_keys(r, c);
    }
    let instance_type = compute_instance_type(r, c);
    let ami = r.ami.as_ref().map(|v| v.get_ref().clone());
    if let Some(v) = &r.ami {
        check_ami(v, c);
    }
    let (min_size, max_size, desired) = instance_counts(r, c);
    let stable_timeout = c.opt_int(
        &r.service_stable_timeout,
        "compute.service_stable_timeout",
        (30, 7200),
        900,
        "seconds `apply` waits for each ECS service to become stable",
    );
    // The ECS-optimised AMIs' snapshots are 30 GiB; gp3 volumes go up to 16 TiB.
    let root_size = c.opt_int(
        &r.root_volume_size,
        "compute.root_volume_size",
        (30, 16_384),
        30,
        "the root volume's size in GiB: at least the AMI's snapshot (30 GiB for the ECS-optimised AMIs)",
    );
    let root_device_name = compute_root_device_name(r, c);
    let schedule = if r.schedule.is_empty() { Some(Vec::new()) } else { compute_schedule(r, launch_type, c) };
    let spot = r.spot.as_ref().map(|s| validate_levers::compute_spot(s, &instance_type, launch_type, c));
    if c.errors.len() != errors_before {
        return None;
    }
    Some(ComputeConfig {
        schedule: schedule?,
        spot: match spot {
            Some(s) => Some(s?),
            None => None,
        },
        container_insights: r.container_insights.as_ref().is_none_or(|v| *v.get_ref()),
        service_stable_timeout: u32::try_from(stable_timeout?).ok()?,
        root_volume_size: u32::try_from(root_size?).ok()?,
        root_device_name,
        launch_type: launch_type?,
        instance_type,
        ami,
        min_size: u32::try_from(min_size?).ok()?,
        max_size: u32::try_from(max_size?).ok()?,
        desired_capacity: u32::try_from(desired?).ok()?,
    })
}

/// `[[compute.schedule]]`: the Auto Scaling group's, so EC2 only.
fn compute_schedule(
    r: &RawCompute,
    launch_type: Option<LaunchType>,
    c: &mut Collector<'_>,
) -> Option<Vec<ScheduledCapacity>> {
    let first = r.schedule.first()?;
    if launch_type == Some(LaunchType::Fargate) {
        let msg =
            "compute.schedule is set but launch_type is \"fargate\": it schedules the EC2 Auto Scaling group";
        let hint = "on Fargate, schedule each service's task counts with [[services.autoscaling.schedule]]";
        c.push(first.name.span(), "compute.schedule[0].name", msg, hint);
        return None;
    }
    let of = validate_levers::ScheduleOf { prefix: "compute.schedule", group: true, at: first.name.span() };
    let entries: Vec<RawScheduleRef<'_>> = r.schedule.iter().map(RawSchedule::entry).collect();
    validate_levers::schedules(&entries, &of, c)
}

/// Fargate has no container instances: their settings would silently do nothing.
fn check_no_ec2_keys(r: &RawCompute, c: &mut Collector<'_>) {
    let ec2_only = [
        r.instance_type.as_ref().map(|v| (v.span(), "instance_type")),
        r.ami.as_ref().map(|v| (v.span(), "ami")),
        r.min_size.as_ref().map(|v| (v.span(), "min_size")),
        r.max_size.as_ref().map(|v| (v.span(), "max_size")),
        r.desired_capacity.as_ref().map(|v| (v.span(), "desired_capacity")),
        r.root_volume_size.as_ref().map(|v| (v.span(), "root_volume_size")),
        r.root_device_name.as_ref().map(|v| (v.span(), "root_device_name")),
    ];
    for (span, key) in ec2_only.into_iter().flatten() {
        let msg = format!(
            "compute.{key} is set but launch_type is \"fargate\": it only applies to launch_type = \"ec2\""
        );
        let hint = format!(
            "{key} configures the EC2 container instances, which Fargate does not use; remove it, \
             or set launch_type = \"ec2\""
        );
        c.push(span, format!("compute.{key}"), msg, hint);
    }
}

/// The instance type, `FAMILY.SIZE` (default t3.medium).
fn compute_instance_type(r: &RawCompute, c: &mut Collector<'_>) -> String {
    let mut instance_type = "t3.medium".to_string();
    if let Some(v) = &r.instance_type {
        let s = v.get_ref();
        if is_instance_type(s) {
            instance_type = s.clone();
        } else {
            let msg = format!("invalid instance type \"{s}\"");
            let hint = "instance types are written FAMILY.SIZE, e.g. \"t3.medium\" or \"m6i.large\"";
            c.push(v.span(), "compute.instance_type", msg, hint);
        }
    }
    instance_type
}

/// `FAMILY.SIZE`: letters, digits and `-` on each side of the dot.
fn is_instance_type(s: &str) -> bool {
    s.split_once('.').is_some_and(|(family, size)| {
        let part = |p: &str| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
        part(family) && part(size)
    })
}

/// An AMI id: `ami-` and hex digits.
fn check_ami(v: &S<String>, c: &mut Collector<'_>) {
    let s = v.get_ref();
    let hex = s.strip_prefix("ami-").filter(|h| !h.is_empty() && h.chars().all(|ch| ch.is_ascii_hexdigit()));
    if hex.is_none() {
        let hint = "AMI ids look like \"ami-0123456789abcdef0\"; leave `ami` out to use the \
                    ECS-optimised AMI";
        c.push(v.span(), "compute.ami", format!("invalid AMI id \"{s}\""), hint);
    }
}

/// The container instances: min_size <= desired_capacity <= max_size.
fn instance_counts(r: &RawCompute, c: &mut Collector<'_>) -> (Option<i64>, Option<i64>, Option<i64>) {
    let max = i64::from(u32::MAX);
    let instances = "a number of container instances";
    let min_size = c.opt_int(&r.min_size, "compute.min_size", (0, max), 2, instances);
    let max_size = c.opt_int(&r.max_size, "compute.max_size", (0, max), 4, instances);
    let desired = c.opt_int(&r.desired_capacity, "compute.desired_capacity", (0, max), 2, instances);
    if min_size.is_some() && max_size.is_some() && desired.is_some() {
        let lo = Bound::new("min_size", "compute.min_size".into(), &r.min_size, 2);
        let hi = Bound::new("max_size", "compute.max_size".into(), &r.max_size, 4);
        let mid = Bound::new("desired_capacity", "compute.desired_capacity".into(), &r.desired_capacity, 2);
        // All three defaulted never conflict, so some value is always written to point at.
        check_order(c, 0..0, &lo, Some(&mid), &hi);
    }
    (min_size, max_size, desired)
}

/// The AMI's root device name (default /dev/xvda).
fn compute_root_device_name(r: &RawCompute, c: &mut Collector<'_>) -> String {
    let mut root_device_name = "/dev/xvda".to_string();
    if let Some(v) = &r.root_device_name {
        let s = v.get_ref();
        if is_root_device_name(s) {
            root_device_name = s.clone();
        } else {
            let msg = format!("invalid root device name \"{s}\"");
            let hint =
                "write the AMI's root device, e.g. \"/dev/xvda\" (the ECS-optimised AMIs) or \"/dev/sda1\"";
            c.push(v.span(), "compute.root_device_name", msg, hint);
        }
    }
    root_device_name
}

/// A root device name as EC2 writes them: `/dev/sda1`, `/dev/xvda`, `/dev/xvdba`.
fn is_root_device_name(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("/dev/") else { return false };
    let lower = |p: &str| !p.is_empty() && p.len() <= 2 && p.chars().all(|ch| ch.is_ascii_lowercase());
    if let Some(d) = rest.strip_prefix("xvd") {
        return lower(d);
    }
    rest.strip_prefix("sd").is_some_and(|d| {
        let letters = d.trim_end_matches(|ch: char| ch.is_ascii_digit());
        letters.len() == 1 && lower(letters) && d.len() <= 2
    })
}

// ---------------------------------------------------------------------------------------
// [[services]]

fn services(
    list: &[RawService],
    stack: &str,
    launch_type: Option<LaunchType>,
    c: &mut Collector<'_>,
) -> Option<Vec<ServiceConfig>> {
    let errors_before = c.errors.len();
    // Names first: dependencies are checked against every valid, unique name.
    let index = service_names(list, c);
    let known: Vec<&str> = list.iter().map(|s| s.name.get_ref().as_str()).collect();

    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        out.push(service(s, &format!("services[{i}]"), stack, launch_type, &index, &known, c));
    }
    check_dependency_cycles(list, &index, c);
    check_routing(list, &index, c);

    if c.errors.len() != errors_before {
        return None;
    }
    out.into_iter().collect()
}

/// The valid, unique service names, with their index in the list.
fn service_names<'l>(list: &'l [RawService], c: &mut Collector<'_>) -> HashMap<&'l str, usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in list.iter().enumerate() {
        let name = &s.name;
        let field = format!("services[{i}].name");
        if !is_lower_name(name.get_ref(), SERVICE_NAME_MAX) {
            let msg = format!("invalid service name \"{}\"", name.get_ref());
            c.push(name.span(), field, msg, name_hint(name.get_ref(), SERVICE_NAME_MAX));
        } else if name.get_ref().ends_with('-') {
            let msg = format!("invalid service name \"{}\": it ends with '-'", name.get_ref());
            let hint = format!(
                "the service's target group is named <stack>-<service>, and AWS refuses target group names \
                 ending with '-'; e.g. \"{}\"",
                name.get_ref().trim_end_matches('-')
            );
            c.push(name.span(), field, msg, hint);
        } else if let Some(first) = index.get(name.get_ref().as_str()) {
            let msg = format!("duplicate service name \"{}\" (also services[{first}])", name.get_ref());
            let hint = "service names must be unique; rename one of them";
            c.push(name.span(), field, msg, hint);
        } else {
            index.insert(name.get_ref(), i);
        }
    }
    index
}

/// Dependency cycles among the services.
fn check_dependency_cycles(list: &[RawService], index: &HashMap<&str, usize>, c: &mut Collector<'_>) {
    let mut graph: DiGraph<String, ()> = DiGraph::new();
    let nodes: HashMap<&str, _> =
        index.keys().map(|name| (*name, graph.add_node((*name).to_string()))).collect();
    let mut edges: Vec<(&str, &str)> = Vec::new();
    for (name, &i) in index {
        for dep in list[i].depends_on.iter().flat_map(|d| d.get_ref()) {
            let dep = dep.get_ref().as_str();
            if let (Some(&to), true) = (nodes.get(dep), dep != *name) {
                if !edges.contains(&(name, dep)) {
                    graph.add_edge(nodes[name], to, ());
                    edges.push((name, dep));
                }
            }
        }
    }
    for cycle in find_cycles(&graph) {
        let Some(first) = cycle.first() else { continue };
        let i = index[first.as_str()];
        let Some(deps) = &list[i].depends_on else { continue };
        let members: Vec<String> = cycle.iter().map(|m| format!("services.{m}")).collect();
        let mut inside: Vec<String> = edges
            .iter()
            .filter(|(a, b)| cycle.iter().any(|m| m == a) && cycle.iter().any(|m| m == b))
            .map(|(a, b)| format!("{a} depends on {b}"))
            .collect();
        inside.sort();
        let hint = format!(
            "services are started in dependency order, so these can never start: {}; remove one of \
             these depends_on entries",
            inside.join(", ")
        );
        let msg = format!("dependency cycle: {}", members.join(" -> "));
        c.push(deps.span(), format!("services[{i}].depends_on"), msg, hint);
    }
}

/// Routing: the public load balancer forwards to one service; internal services share the
/// internal load balancer's listener, each through a host-header rule (any ports).
/// (Services with an invalid or duplicate name are already reported; they are left out.)
fn check_routing(list: &[RawService], index: &HashMap<&str, usize>, c: &mut Collector<'_>) {
    let unique = |i: usize| index.get(list[i].name.get_ref().as_str()) == Some(&i);
    let public: Vec<usize> = (0..list.len())
        .filter(|&i| unique(i) && list[i].public.as_ref().is_none_or(|v| *v.get_ref()))
        .collect();
    if let Some(&second) = public.get(1) {
        let first = list[public[0]].name.get_ref();
        let msg = format!(
            "a second public service (\"{}\"; \"{first}\" is public already)",
            list[second].name.get_ref()
        );
        let hint = format!(
            "the public load balancer forwards to one service; put the others behind the internal one \
             with `public = false` (the public service reaches them through <NAME>_URL), e.g. services[{second}].public = false"
        );
        c.push(list[second].name.span(), format!("services[{second}].public"), msg, hint);
    }
}

/// A health check path: what is wrong with it, naming the character and its position.
fn check_health_check_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err("must start with \"/\"".into());
    }
    if s.chars().count() > MAX_PATH {
        return Err(format!("is {} characters long; at most {MAX_PATH}", s.chars().count()));
    }
    if let Some(bad) = bad_char(s, |ch| ch.is_ascii_alphanumeric() || PATH_CHARS.contains(ch)) {
        return Err(format!("has {bad}, which is not a URL path character hactl allows"));
    }
    // Every '%' starts an escape of two hex digits.
    let chars: Vec<char> = s.chars().collect();
    for (i, ch) in chars.iter().enumerate() {
        if *ch == '%' && !(chars.get(i + 1..i + 3).is_some_and(|h| h.iter().all(char::is_ascii_hexdigit))) {
            return Err(format!("has '%' at position {} without two hex digits after it", i + 1));
        }
    }
    Ok(())
}

/// A non-empty list of tokens of a task role statement.
fn statement_list(
    c: &mut Collector<'_>,
    l: &List<String>,
    sp: &str,
    key: &str,
    example: &str,
) -> Vec<String> {
    if l.get_ref().is_empty() {
        c.push(
            l.span(),
            format!("{sp}.{key}"),
            format!("{key} must not be empty"),
            format!("e.g. [{example}]"),
        );
    }
    let mut out = Vec::new();
    for (k, v) in l.get_ref().iter().enumerate() {
        if c.token(v, &format!("{sp}.{key}[{k}]"), example) {
            out.push(v.get_ref().clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// [load_balancer]

fn load_balancer(
    r: Option<&RawLoadBalancer>,
    stack: &str,
    c: &mut Collector<'_>,
) -> Option<LoadBalancerConfig> {
    let errors_before = c.errors.len();
    let empty = RawLoadBalancer {
        https: None,
        certificate_arn: None,
        domain: None,
        internal_domain: None,
        deletion_protection: None,
        idle_timeout: None,
        ssl_policy: None,
    };
    let r = r.unwrap_or(&empty);
    let https = r.https.as_ref().is_none_or(|v| *v.get_ref());
    let certificate_arn = r.certificate_arn.as_ref().and_then(|v| lb_certificate_arn(v, https, c));
    let domain = match &r.domain {
        None => format!("{stack}.example.com"),
        Some(v) => lb_domain(v, https && r.certificate_arn.is_none(), c),
    };
    let internal_domain = match &r.internal_domain {
        None => format!("{stack}.internal"),
        Some(v) => lb_internal_domain(v, c),
    };
    let idle = c.opt_int(
        &r.idle_timeout,
        "load_balancer.idle_timeout",
        (1, 4000),
        60,
        "seconds an idle connection stays open",
    );
    let ssl_policy = match &r.ssl_policy {
        None => "ELBSecurityPolicy-TLS13-1-2-2021-06".to_string(),
        Some(v) => lb_ssl_policy(v, c),
    };
    if c.errors.len() != errors_before {
        return None;
    }
    Some(LoadBalancerConfig {
        https,
        certificate_arn,
        domain,
        internal_domain,
        deletion_protection: r.deletion_protection.as_ref().is_some_and(|v| *v.get_ref()),
        idle_timeout: u32::try_from(idle?).ok()?,
        ssl_policy,
    })
}

/// An ACM certificate ARN, only with HTTPS.
fn lb_certificate_arn(v: &S<String>, https: bool, c: &mut Collector<'_>) -> Option<String> {
    let s = v.get_ref();
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "acm" || !parts[5].starts_with("certificate/") {
        let msg = format!("\"{s}\" is not an ACM certificate ARN");
        let hint =
            "e.g. \"arn:aws:acm:us-east-1:123456789012:certificate/0e1f...\"; leave it out to import a \
                    self-signed certificate for `domain`";
        c.push(v.span(), "load_balancer.certificate_arn", msg, hint);
        None
    } else if !https {
        let hint = "remove certificate_arn, or set https = true";
        c.push(
            v.span(),
            "load_balancer.certificate_arn",
            "a certificate is only used with https = true",
            hint,
        );
        None
    } else {
        Some(s.clone())
    }
}

/// The domain name (lowercased), at most 64 characters when it goes into the
/// `self_signed` certificate's common name; empty when it is not a domain name.
fn lb_domain(v: &S<String>, self_signed: bool, c: &mut Collector<'_>) -> String {
    let s = v.get_ref();
    if is_domain_name(s) {
        if self_signed && s.len() > 64 {
            let msg = format!(
                "domain is {} characters long; the self-signed certificate's common name takes at most 64",
                s.len()
            );
            let hint = "X.509 (RFC 5280) limits a common name to 64 characters: use a shorter \
                        domain, or bring your own ACM certificate with certificate_arn";
            c.push(v.span(), "load_balancer.domain", msg, hint);
        }
        s.to_ascii_lowercase()
    } else {
        let msg = format!("\"{s}\" is not a domain name");
        c.push(v.span(), "load_balancer.domain", msg, "e.g. \"app.example.com\"");
        String::new()
    }
}

/// The longest service name.
const SERVICE_NAME_MAX: usize = 32;

/// The longest host name a listener rule's host-header condition takes (ELBv2).
const HOST_HEADER_MAX: usize = 128;

/// The private zone of the internal services (lowercased): a domain name short enough that
/// `<service>.<internal_domain>` (a service name has at most 32 characters) fits a
/// host-header condition; empty when it is not a domain name.
fn lb_internal_domain(v: &S<String>, c: &mut Collector<'_>) -> String {
    let s = v.get_ref();
    let field = "load_balancer.internal_domain";
    if !is_domain_name(s) {
        c.push(v.span(), field, format!("\"{s}\" is not a domain name"), "e.g. \"shop.internal\"");
        return String::new();
    }
    let longest = SERVICE_NAME_MAX + 1 + s.len();
    if longest > HOST_HEADER_MAX {
        let msg = format!(
            "internal_domain is {} characters long; <service>.{s} can reach {longest}, a listener rule's host takes at most {HOST_HEADER_MAX}",
            s.len()
        );
        let hint = format!("use a domain of at most {} characters", HOST_HEADER_MAX - SERVICE_NAME_MAX - 1);
        c.push(v.span(), field, msg, hint);
    }
    s.to_ascii_lowercase()
}

/// A domain name: dot-separated labels of letters, digits and '-' (not at a label's ends),
/// each 1 to 63 characters, at most 253 in all.
fn is_domain_name(s: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    s.len() <= 253 && s.contains('.') && s.split('.').all(label_ok)
}

/// A security policy that accepts TLS 1.2 and later only.
fn lb_ssl_policy(v: &S<String>, c: &mut Collector<'_>) -> String {
    let s = v.get_ref().as_str();
    let old = if TLS10_POLICIES.contains(&s) {
        Some("TLS 1.0 and 1.1")
    } else if TLS11_POLICIES.contains(&s) {
        Some("TLS 1.1")
    } else {
        None
    };
    let hint = "use a TLS 1.2+ policy: \"ELBSecurityPolicy-TLS13-1-2-2021-06\" (the default), \
                \"ELBSecurityPolicy-TLS13-1-2-Res-2021-06\" or \"ELBSecurityPolicy-TLS13-1-3-2021-06\" \
                (TLS 1.3 only); the FIPS, PQ and Ext variants of TLS13-1-2 and TLS13-1-3 are accepted too";
    if let Some(old) = old {
        let msg = format!("security policy \"{s}\" also accepts {old}");
        c.push(v.span(), "load_balancer.ssl_policy", msg, hint);
    } else if !TLS12_POLICIES.contains(&s) {
        let msg = format!("\"{s}\" is not an Application Load Balancer security policy hactl knows");
        let hint = format!("{}{hint}", did_you_mean(s, TLS12_POLICIES));
        c.push(v.span(), "load_balancer.ssl_policy", msg, hint);
    }
    v.get_ref().clone()
}

fn service(
    r: &RawService,
    prefix: &str,
    stack: &str,
    launch_type: Option<LaunchType>,
    index: &HashMap<&str, usize>,
    known: &[&str],
    c: &mut Collector<'_>,
) -> Option<ServiceConfig> {
    let errors_before = c.errors.len();
    let f = |key: &str| format!("{prefix}.{key}");
    let name = r.name.get_ref();

    let size = service_size(r, prefix, launch_type, c);
    let health_check_path = service_health_check_path(r, prefix, c);
    let environment = service_environment(r, prefix, c);
    let depends_on = service_depends_on(r, prefix, index, known, c);
    let log_retention_days = log_retention(c, &r.log_retention_days, &f("log_retention_days"));

    // A bad autoscaling table does not stop the checks of the service's other keys.
    let autoscaling =
        r.autoscaling.as_ref().map(|a| autoscaling(a, prefix, &r.desired_count, size.desired_count, c));

    if let (Some(false), Some(v)) = (
        r.public.as_ref().map(|p| *p.get_ref()),
        r.autoscaling.as_ref().and_then(|a| a.requests_per_target.as_ref()),
    ) {
        let msg =
            "requests_per_target needs the public load balancer's request count; this service is internal";
        let hint = "scale internal services on cpu_target / memory_target, or remove requests_per_target";
        c.push(v.span(), f("autoscaling.requests_per_target"), msg, hint);
    }
    let timing = service_timing(r, prefix, c);
    let ecr_image = validate_regional::ecr_image(&r.image, &format!("{prefix}.image"), stack, c);
    let container_health_check = service_container_health_check(r, prefix, c);
    let task_role_statements = service_task_role_statements(r, prefix, c);
    let spot = r.spot.as_ref().map(|s| validate_levers::service_spot(s, prefix, &r.name, launch_type, c));
    let blue_green = validate_levers::deployment(r, prefix, c);

    if c.errors.len() != errors_before {
        return None;
    }
    let timing = timing?;
    Some(ServiceConfig {
        name: name.clone(),
        image: r.image.get_ref().clone(),
        ecr: ecr_image,
        port: size.port?,
        cpu: u32::try_from(size.cpu?).ok()?,
        memory: u32::try_from(size.memory?).ok()?,
        desired_count: u32::try_from(size.desired_count?).ok()?,
        public: r.public.as_ref().is_none_or(|v| *v.get_ref()),
        health_check_path,
        environment,
        depends_on,
        autoscaling: match autoscaling {
            Some(a) => Some(a?),
            None => None,
        },
        log_retention_days: u32::try_from(log_retention_days?).ok()?,
        health_check: timing.health_check,
        health_check_grace_period: timing.grace_period,
        deregistration_delay: timing.deregistration_delay,
        container_health_check,
        task_role_statements,
        spot: match spot {
            Some(s) => Some(s?),
            None => None,
        },
        blue_green: blue_green?,
    })
}

/// A service's image, port and task size; `None` where a value is bad.
struct ServiceSize {
    port: Option<u16>,
    cpu: Option<i64>,
    memory: Option<i64>,
    desired_count: Option<i64>,
}

/// The image, port, CPU and memory (on Fargate one of its task sizes) and task count.
fn service_size(
    r: &RawService,
    prefix: &str,
    launch_type: Option<LaunchType>,
    c: &mut Collector<'_>,
) -> ServiceSize {
    let f = |key: &str| format!("{prefix}.{key}");
    c.token(&r.image, &f("image"), "\"public.ecr.aws/nginx/nginx:1.27\"");
    let port = match &r.port {
        None => Some(3000),
        Some(p) => c.port(p, &f("port")),
    };
    let cpu = match (&r.cpu, launch_type) {
        (Some(v), Some(LaunchType::Fargate)) if !FARGATE_CPU.contains(v.get_ref()) => {
            let msg = format!("cpu {} is not a Fargate CPU size", v.get_ref());
            let hint = "with compute.launch_type = \"fargate\", cpu is one of 256, 512, 1024, 2048 or 4096 \
                        (1024 = 1 vCPU)";
            c.push(v.span(), f("cpu"), msg, hint);
            None
        }
        (Some(v), _) => c.int(v, &f("cpu"), 128, 196_608, "CPU units, 1024 = 1 vCPU (default 256)"),
        (None, _) => Some(256),
    };
    let memory = match &r.memory {
        None => Some(512),
        Some(v) => c.int(v, &f("memory"), 128, i64::from(u32::MAX), "memory in MiB (default 512)"),
    };
    // Fargate runs fixed task sizes: the memory must be one of the cpu's.
    if let (Some(LaunchType::Fargate), Some(cpu), Some(mem)) = (launch_type, cpu, memory) {
        let allowed = fargate_memory(cpu);
        if !allowed.contains(&mem) {
            let shown: Vec<String> = allowed.iter().map(i64::to_string).collect();
            let (at, key) = match (&r.memory, &r.cpu) {
                (Some(m), _) => (m.span(), "memory"),
                (None, Some(v)) => (v.span(), "cpu"),
                (None, None) => (r.name.span(), "memory"),
            };
            let msg = format!("memory {mem} MiB does not fit Fargate cpu {cpu}");
            let hint = format!("Fargate task sizes with cpu {cpu}: memory {} MiB", shown.join(", "));
            c.push(at, f(key), msg, hint);
        }
    }
    let desired_count = match &r.desired_count {
        None => Some(2),
        Some(v) => c.int(v, &f("desired_count"), 0, MAX_TASKS, TASKS_HINT),
    };
    ServiceSize { port, cpu, memory, desired_count }
}

/// The target group's health check path (default /api/health).
fn service_health_check_path(r: &RawService, prefix: &str, c: &mut Collector<'_>) -> String {
    let mut health_check_path = "/api/health".to_string();
    if let Some(v) = &r.health_check_path {
        match check_health_check_path(v.get_ref()) {
            Ok(()) => health_check_path = v.get_ref().clone(),
            Err(problem) => {
                let msg = format!("health check path \"{}\" {problem}", v.get_ref().escape_debug());
                let hint = format!(
                    "a URL path: \"/\" then letters, digits and \"{}\" (%XX for anything else; no query \
                     string), at most {MAX_PATH} characters, e.g. \"/api/health\" (the default)",
                    &PATH_CHARS[1..]
                );
                c.push(v.span(), format!("{prefix}.health_check_path"), msg, hint);
            }
        }
    }
    health_check_path
}

/// The container's environment: valid names, none of the database variables.
fn service_environment(r: &RawService, prefix: &str, c: &mut Collector<'_>) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for (k, v) in r.environment.iter().flatten() {
        let key = k.get_ref();
        let field = format!("{prefix}.environment.{}", crate::locate::render_key(key));
        if RESERVED_ENV.contains(&key.as_str()) {
            let msg = format!("environment variable {key} is reserved");
            let hint = "DB_HOST, DB_PORT, DB_USER, DB_PASSWORD and DB_NAME are injected from the database \
                        secret (and DB_VIA_PROXY with [database.proxy]); remove it (or use another name)";
            c.push(k.span(), field, msg, hint);
        } else if !is_env_key(key) {
            let msg = format!("invalid environment variable name \"{key}\"");
            let hint = "names start with a letter or '_' and contain only letters, digits and '_', \
                        e.g. NODE_ENV";
            c.push(k.span(), field, msg, hint);
        } else {
            environment.insert(key.clone(), v.get_ref().clone());
        }
    }
    environment
}

/// The services this one depends on: other services, each once.
fn service_depends_on(
    r: &RawService,
    prefix: &str,
    index: &HashMap<&str, usize>,
    known: &[&str],
    c: &mut Collector<'_>,
) -> Vec<String> {
    let name = r.name.get_ref();
    let mut depends_on = Vec::new();
    if let Some(list) = &r.depends_on {
        for (j, d) in list.get_ref().iter().enumerate() {
            let dep = d.get_ref();
            let field = format!("{prefix}.depends_on[{j}]");
            if dep == name {
                let msg = format!("service \"{name}\" depends on itself");
                c.push(d.span(), field, msg, "remove it from its own depends_on");
            } else if !index.contains_key(dep.as_str()) && !known.contains(&dep.as_str()) {
                let others: Vec<&str> = known.iter().copied().filter(|k| *k != name).collect();
                let listing = if others.is_empty() {
                    "there are no other services".to_string()
                } else {
                    format!("defined services: {}", others.join(", "))
                };
                let msg = format!("depends on unknown service \"{dep}\"");
                c.push(d.span(), field, msg, format!("{}{listing}", did_you_mean(dep, &others)));
            } else {
                depends_on.push(dep.clone());
            }
        }
        let hint = "list each dependency once";
        check_unique(c, indexed(&format!("{prefix}.depends_on"), list.get_ref()), "dependency", hint);
    }
    depends_on
}

/// A service's target group health check and draining.
struct ServiceTiming {
    health_check: HealthCheckConfig,
    grace_period: u32,
    deregistration_delay: u32,
}

/// The health check timing (the timeout shorter than the interval), the grace period and
/// the deregistration delay; `None` when any is bad.
fn service_timing(r: &RawService, prefix: &str, c: &mut Collector<'_>) -> Option<ServiceTiming> {
    let f = |key: &str| format!("{prefix}.{key}");
    let interval = c.opt_int(
        &r.health_check_interval,
        &f("health_check_interval"),
        (5, 300),
        30,
        "seconds between health checks",
    );
    let timeout = c.opt_int(
        &r.health_check_timeout,
        &f("health_check_timeout"),
        (2, 120),
        5,
        "seconds a target has to answer a health check",
    );
    let timing_at = r.health_check_timeout.as_ref().or(r.health_check_interval.as_ref());
    let timing_field =
        if r.health_check_timeout.is_some() { "health_check_timeout" } else { "health_check_interval" };
    if let (Some(i), Some(t), Some(v)) = (interval, timeout, timing_at) {
        if t >= i {
            let msg = format!("health_check_timeout {t} must be less than health_check_interval {i}");
            let hint =
                "the load balancer must get an answer before the next check starts (timeout default 5)";
            c.push(v.span(), f(timing_field), msg, hint);
        }
    }
    let checks = "consecutive health checks";
    let healthy = c.opt_int(&r.healthy_threshold, &f("healthy_threshold"), (2, 10), 3, checks);
    let unhealthy = c.opt_int(&r.unhealthy_threshold, &f("unhealthy_threshold"), (2, 10), 3, checks);
    let grace = c.opt_int(
        &r.health_check_grace_period,
        &f("health_check_grace_period"),
        (0, 2_147_483_647),
        60,
        "seconds ECS ignores failing load balancer checks of a new task",
    );
    let dereg = c.opt_int(
        &r.deregistration_delay,
        &f("deregistration_delay"),
        (0, 3600),
        30,
        "seconds the target group drains a stopping task",
    );
    Some(ServiceTiming {
        health_check: HealthCheckConfig {
            interval: u32::try_from(interval?).ok()?,
            timeout: u32::try_from(timeout?).ok()?,
            healthy_threshold: u32::try_from(healthy?).ok()?,
            unhealthy_threshold: u32::try_from(unhealthy?).ok()?,
        },
        grace_period: u32::try_from(grace?).ok()?,
        deregistration_delay: u32::try_from(dereg?).ok()?,
    })
}

/// The container health check command: `CMD` or `CMD-SHELL` and a command.
fn service_container_health_check(
    r: &RawService,
    prefix: &str,
    c: &mut Collector<'_>,
) -> Option<Vec<String>> {
    let cmd = r.container_health_check.as_ref()?;
    let items: Vec<String> = cmd.get_ref().iter().map(|v| v.get_ref().clone()).collect();
    if !matches!(items.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) || items.len() < 2 {
        let msg = "container_health_check must start with \"CMD\" or \"CMD-SHELL\" and have a command";
        let hint = "e.g. [\"CMD-SHELL\", \"curl -f http://localhost:3000/api/health || exit 1\"]";
        c.push(cmd.span(), format!("{prefix}.container_health_check"), msg, hint);
        None
    } else {
        Some(items)
    }
}

/// The extra statements of the service's task role.
fn service_task_role_statements(r: &RawService, prefix: &str, c: &mut Collector<'_>) -> Vec<PolicyStatement> {
    let mut task_role_statements = Vec::new();
    for (j, st) in r.task_role_statements.iter().enumerate() {
        let sp = format!("{prefix}.task_role_statements[{j}]");
        task_role_statements.extend(task_role_statement(st, &sp, c));
    }
    task_role_statements
}

/// One statement: its effect, IAM actions (`SERVICE:Operation` or `*`) and resources
/// (ARNs or `*`); `None` when the effect is bad.
fn task_role_statement(st: &RawStatement, sp: &str, c: &mut Collector<'_>) -> Option<PolicyStatement> {
    let effect = match &st.effect {
        None => Some("Allow".to_string()),
        Some(v) => c
            .choice(v, &format!("{sp}.effect"), &["Allow", "Deny"], "policy effect")
            .map(|i| ["Allow", "Deny"][i].to_string()),
    };
    let actions = statement_list(c, &st.actions, sp, "actions", "\"s3:GetObject\"");
    for (k, a) in st.actions.get_ref().iter().enumerate() {
        let ok = a.get_ref() == "*"
            || a.get_ref().split_once(':').is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty());
        if !ok && !a.get_ref().is_empty() {
            let msg = format!("\"{}\" is not an IAM action", a.get_ref());
            c.push(
                a.span(),
                format!("{sp}.actions[{k}]"),
                msg,
                "actions are SERVICE:Operation, e.g. \"s3:GetObject\"",
            );
        }
    }
    let resources = statement_list(c, &st.resources, sp, "resources", "\"arn:aws:s3:::my-bucket/*\"");
    for (k, v) in st.resources.get_ref().iter().enumerate() {
        if v.get_ref() != "*" && !v.get_ref().starts_with("arn:") && !v.get_ref().is_empty() {
            let msg = format!("\"{}\" is not an ARN", v.get_ref());
            c.push(
                v.span(),
                format!("{sp}.resources[{k}]"),
                msg,
                "resources are ARNs (\"arn:aws:...\") or \"*\"",
            );
        }
    }
    Some(PolicyStatement { effect: effect?, actions, resources })
}

fn autoscaling(
    a: &RawAutoscaling,
    prefix: &str,
    raw_desired: &Option<S<i64>>,
    desired_count: Option<i64>,
    c: &mut Collector<'_>,
) -> Option<AutoscalingConfig> {
    let errors_before = c.errors.len();
    let f = |key: &str| format!("{prefix}.autoscaling.{key}");
    let max = i64::from(u32::MAX);
    let max = max.min(i64::from(i32::MAX));
    let min_v = c.int(&a.min, &f("min"), 0, MAX_TASKS, TASKS_HINT);
    let max_v = c.int(&a.max, &f("max"), 1, MAX_TASKS, TASKS_HINT);
    let cpu_target = c.opt_float(&a.cpu_target, &f("cpu_target"), (1.0, false), 100.0, 70.0, "average CPU %");
    let memory_target =
        c.opt_float(&a.memory_target, &f("memory_target"), (1.0, false), 100.0, 80.0, "average memory %");
    let requests = match &a.requests_per_target {
        None => None,
        Some(v) => {
            let hint = "ALB requests per task per minute";
            Some(c.int(v, &f("requests_per_target"), 1, max, hint))
        }
    };
    if let (Some(_), Some(_), Some(_)) = (min_v, max_v, desired_count) {
        let bound = |name, key: &str, v: &S<i64>| Bound {
            name,
            field: f(key),
            value: *v.get_ref(),
            at: Some(v.span()),
        };
        let lo = bound("autoscaling.min", "min", &a.min);
        let hi = bound("autoscaling.max", "max", &a.max);
        let mid = Bound::new("desired_count", format!("{prefix}.desired_count"), raw_desired, 2);
        check_order(c, a.min.span(), &lo, Some(&mid), &hi);
    }
    let schedule_prefix = f("schedule");
    let of = validate_levers::ScheduleOf { prefix: &schedule_prefix, group: false, at: a.min.span() };
    let entries: Vec<RawScheduleRef<'_>> = a.schedule.iter().map(RawServiceSchedule::entry).collect();
    let schedule = validate_levers::schedules(&entries, &of, c);
    if c.errors.len() != errors_before {
        return None;
    }
    Some(AutoscalingConfig {
        schedule: schedule?,
        min: u32::try_from(min_v?).ok()?,
        max: u32::try_from(max_v?).ok()?,
        cpu_target: cpu_target?,
        memory_target: memory_target?,
        requests_per_target: match requests {
            Some(v) => Some(u32::try_from(v?).ok()?),
            None => None,
        },
    })
}

// ---------------------------------------------------------------------------------------
// [database]

fn database(r: &RawDatabase, c: &mut Collector<'_>) -> Option<DatabaseConfig> {
    let errors_before = c.errors.len();
    let engine = c
        .choice(&r.engine, "database.engine", ENGINES, "database engine")
        .and_then(|i| [DbEngine::Docdb, DbEngine::Postgres].get(i).copied());
    let instance_class = db_instance_class(r, engine, c);
    let instances = db_instances(r, engine, c);
    let port = match &r.port {
        None => engine.map(DbEngine::default_port),
        Some(v) => c.port(v, "database.port"),
    };
    let username = db_username(r, engine, c);
    let db_name = db_database_name(r, c);
    let backup_retention_days = c.opt_int(
        &r.backup_retention_days,
        "database.backup_retention_days",
        (1, 35),
        7,
        "days of automated backups",
    );
    if let Some(v) = &r.preferred_backup_window {
        if !is_time_window(v.get_ref()) {
            let msg = format!("invalid backup window \"{}\"", v.get_ref());
            let hint = "write HH:MM-HH:MM in UTC, e.g. \"03:00-04:00\"";
            c.push(v.span(), "database.preferred_backup_window", msg, hint);
        }
    }
    if let Some(v) = &r.kms_key_id {
        c.token(
            v,
            "database.kms_key_id",
            "\"alias/hactl\" or a key ARN; leave it out for the AWS-managed key",
        );
    }
    let secret_recovery_window_days = c.opt_int(
        &r.secret_recovery_window_days,
        "database.secret_recovery_window_days",
        (7, 30),
        7,
        "days a deleted credentials secret can be recovered",
    );
    // Secrets Manager's RotationRules.AutomaticallyAfterDays.
    let password_rotation_days = c.opt_int(
        &r.password_rotation_days,
        "database.password_rotation_days",
        (1, 1000),
        i64::from(DEFAULT_PASSWORD_ROTATION_DAYS),
        "days between two rotations of the master password (Secrets Manager's limit)",
    );
    let proxy = r.proxy.as_ref().map(|p| validate_levers::proxy(p, &r.engine, engine, c));

    if c.errors.len() != errors_before {
        return None;
    }
    Some(DatabaseConfig {
        engine: engine?,
        instance_class,
        instances: u32::try_from(instances?).ok()?,
        port: port?,
        username,
        db_name,
        backup_retention_days: u32::try_from(backup_retention_days?).ok()?,
        preferred_backup_window: r.preferred_backup_window.as_ref().map(|v| v.get_ref().clone()),
        deletion_protection: r.deletion_protection.as_ref().is_none_or(|v| *v.get_ref()),
        apply_immediately: r.apply_immediately.as_ref().is_some_and(|v| *v.get_ref()),
        kms_key_id: r.kms_key_id.as_ref().map(|v| v.get_ref().clone()),
        secret_recovery_window_days: u32::try_from(secret_recovery_window_days?).ok()?,
        password_rotation_days: u32::try_from(password_rotation_days?).ok()?,
        password_rotation_set: r.password_rotation_days.is_some(),
        proxy: match proxy {
            Some(p) => Some(p?),
            None => None,
        },
    })
}

/// The instance class, `db.` and a size (the engine's default when absent).
fn db_instance_class(r: &RawDatabase, engine: Option<DbEngine>, c: &mut Collector<'_>) -> String {
    let default_class = match engine {
        Some(DbEngine::Postgres) => "db.t3.medium",
        _ => "db.r5.large",
    };
    let mut instance_class = default_class.to_string();
    if let Some(v) = &r.instance_class {
        let s = v.get_ref();
        if s.starts_with("db.") && s.len() > 3 && !s.chars().any(char::is_whitespace) {
            instance_class = s.clone();
        } else {
            let msg = format!("invalid instance class \"{s}\"");
            let hint = format!("database instance classes start with \"db.\", e.g. \"{default_class}\"");
            c.push(v.span(), "database.instance_class", msg, hint);
        }
    }
    instance_class
}

/// The number of instances: 1 to 16 for DocumentDB (default 2), exactly 1 for postgres.
fn db_instances(r: &RawDatabase, engine: Option<DbEngine>, c: &mut Collector<'_>) -> Option<i64> {
    match (engine, &r.instances) {
        (Some(DbEngine::Postgres), Some(v)) if *v.get_ref() != 1 => {
            let msg = format!("postgres takes exactly 1 instance, not {}", v.get_ref());
            let hint = "postgres runs as one Multi-AZ instance (RDS keeps the standby in another AZ); \
                        remove `instances` or set it to 1";
            c.push(v.span(), "database.instances", msg, hint);
            None
        }
        (Some(DbEngine::Postgres), _) => Some(1),
        (_, Some(v)) => c.int(
            v,
            "database.instances",
            1,
            16,
            "DocumentDB instances (default 2); 2 or more spread the cluster over the zones",
        ),
        (_, None) => Some(2),
    }
}

/// The master username: not reserved, a database identifier (without '_' on DocumentDB).
fn db_username(r: &RawDatabase, engine: Option<DbEngine>, c: &mut Collector<'_>) -> String {
    let mut username = "hactladmin".to_string();
    if let Some(v) = &r.username {
        let s = v.get_ref();
        if RESERVED_USERNAMES.iter().any(|u| u.eq_ignore_ascii_case(s)) {
            let msg = format!("username \"{s}\" is reserved");
            let hint = "admin, root and postgres are reserved by the engines; e.g. \"hactladmin\"";
            c.push(v.span(), "database.username", msg, hint);
        } else if engine == Some(DbEngine::Docdb) && is_db_identifier(s) && s.contains('_') {
            let msg = format!("invalid DocumentDB username \"{s}\"");
            let hint = "DocumentDB master usernames are letters and digits only, starting with a letter \
                        (at most 63), e.g. \"hactladmin\"";
            c.push(v.span(), "database.username", msg, hint);
        } else if !is_db_identifier(s) {
            let msg = format!("invalid username \"{s}\"");
            let hint = "start with a letter; then letters, digits and '_' (at most 63 characters), \
                        e.g. \"hactladmin\"";
            c.push(v.span(), "database.username", msg, hint);
        } else {
            username = s.clone();
        }
    }
    username
}

/// The database name (default app).
fn db_database_name(r: &RawDatabase, c: &mut Collector<'_>) -> String {
    let mut db_name = "app".to_string();
    if let Some(v) = &r.db_name {
        if is_db_identifier(v.get_ref()) {
            db_name = v.get_ref().clone();
        } else {
            let msg = format!("invalid database name \"{}\"", v.get_ref());
            let hint =
                "start with a letter; then letters, digits and '_' (at most 63 characters), e.g. \"app\"";
            c.push(v.span(), "database.db_name", msg, hint);
        }
    }
    db_name
}

/// `HH:MM-HH:MM` with valid times.
fn is_time_window(s: &str) -> bool {
    let time = |t: &str| {
        let b = t.as_bytes();
        b.len() == 5
            && b[2] == b':'
            && t[..2].parse::<u8>().is_ok_and(|h| h < 24 && b[0].is_ascii_digit() && b[1].is_ascii_digit())
            && t[3..].parse::<u8>().is_ok_and(|m| m < 60 && b[3].is_ascii_digit() && b[4].is_ascii_digit())
    };
    s.split_once('-').is_some_and(|(a, b)| time(a) && time(b))
}

// ---------------------------------------------------------------------------------------
// [alarms] and [drift]

fn alarms(r: Option<&RawAlarms>, c: &mut Collector<'_>) -> Option<AlarmsConfig> {
    let errors_before = c.errors.len();
    let email = r.and_then(|r| r.email.as_ref());
    if let Some(v) = email {
        let s = v.get_ref();
        let valid = s
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
            && !s.chars().any(char::is_whitespace);
        if !valid {
            let msg = format!("\"{s}\" is not an email address");
            let hint = "write one address like \"ops@example.com\" (leave `email` out for no subscription)";
            c.push(v.span(), "alarms.email", msg, hint);
        }
    }
    let period = c.opt_int(
        r.map_or(&None, |r| &r.period),
        "alarms.period",
        (60, 86_400),
        300,
        "seconds over which each alarm's statistic is taken",
    );
    if let (Some(p), Some(v)) = (period, r.and_then(|r| r.period.as_ref())) {
        if p % 60 != 0 {
            let hint = "CloudWatch periods of a minute or more are multiples of 60 seconds, e.g. 300";
            c.push(v.span(), "alarms.period", format!("period {p} is not a multiple of 60"), hint);
        }
    }
    let evaluation_periods = c.opt_int(
        r.map_or(&None, |r| &r.evaluation_periods),
        "alarms.evaluation_periods",
        (1, 100),
        2,
        "consecutive periods over the threshold before an alarm fires",
    );
    // Every threshold is greater than 0: (value, key, highest, default, meaning).
    let mut float = |v: Option<&Option<S<f64>>>, key: &str, hi: f64, default: f64, meaning: &str| {
        c.opt_float(v.unwrap_or(&None), &format!("alarms.{key}"), (0.0, true), hi, default, meaning)
    };
    let cpu = float(r.map(|r| &r.cpu_threshold), "cpu_threshold", 100.0, 80.0, "average CPU %");
    let memory = float(r.map(|r| &r.memory_threshold), "memory_threshold", 100.0, 80.0, "average memory %");
    let http_5xx = float(
        r.map(|r| &r.http_5xx_threshold),
        "http_5xx_threshold",
        1e9,
        10.0,
        "5xx answers of a load balancer per period",
    );
    let response_time = float(
        r.map(|r| &r.response_time_threshold),
        "response_time_threshold",
        3600.0,
        1.0,
        "a service's average response time in seconds",
    );
    let connections = float(
        r.map(|r| &r.db_connections_threshold),
        "db_connections_threshold",
        1e6,
        500.0,
        "open database connections",
    );
    let lag = float(
        r.map(|r| &r.replica_lag_threshold),
        "replica_lag_threshold",
        3.6e6,
        1000.0,
        "DocumentDB replica lag in milliseconds",
    );
    let storage = float(
        r.map(|r| &r.free_storage_threshold),
        "free_storage_threshold",
        65536.0,
        2.0,
        "free PostgreSQL storage in GiB (the alarm fires below it)",
    );
    if c.errors.len() != errors_before {
        return None;
    }
    Some(AlarmsConfig {
        email: email.map(|v| v.get_ref().clone()),
        cpu_threshold: cpu?,
        memory_threshold: memory?,
        period: u32::try_from(period?).ok()?,
        evaluation_periods: u32::try_from(evaluation_periods?).ok()?,
        http_5xx_threshold: http_5xx?,
        response_time_threshold: response_time?,
        db_connections_threshold: connections?,
        replica_lag_threshold: lag?,
        free_storage_threshold: storage?,
    })
}

fn drift(
    r: Option<&RawDrift>,
    has_services: bool,
    state: Option<&StateConfig>,
    c: &mut Collector<'_>,
) -> Option<DriftConfig> {
    let errors_before = c.errors.len();
    let alarm = r.and_then(|r| r.alarm.as_ref()).is_some_and(|v| *v.get_ref());
    let Some(r) = r else { return Some(DriftConfig { alarm, schedule: None }) };
    let Some(v) = r.schedule.as_ref() else {
        check_no_drift_job_keys(r, c);
        return (c.errors.len() == errors_before).then_some(DriftConfig { alarm, schedule: None });
    };
    check_drift_schedule(v, has_services, state, c);
    let image = match r.image.as_ref() {
        Some(i) => c
            .token(i, "drift.image", "\"123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1\"")
            .then(|| i.get_ref().clone()),
        None => {
            let msg = "drift.schedule needs drift.image: the hactl image the ECS task runs";
            let hint = "build it with the repo's Dockerfile, push it (e.g. to ECR) and set image = \"<repository>:<tag>\"";
            c.push(v.span(), "drift.schedule", msg, hint);
            None
        }
    };
    let config_path = drift_config_path(r, c);
    let (cpu, memory) = drift_task_size(r, c);
    let log_retention_days = log_retention(c, &r.log_retention_days, "drift.log_retention_days");
    if c.errors.len() != errors_before {
        return None;
    }
    Some(DriftConfig {
        alarm,
        schedule: Some(DriftSchedule {
            expression: v.get_ref().clone(),
            image: image?,
            config_path: config_path?,
            cpu: u32::try_from(cpu?).ok()?,
            memory: u32::try_from(memory?).ok()?,
            log_retention_days: log_retention_days?,
        }),
    })
}

/// The job's settings without a schedule would silently do nothing.
fn check_no_drift_job_keys(r: &RawDrift, c: &mut Collector<'_>) {
    let unused = [
        r.image.as_ref().map(|v| (v.span(), "image")),
        r.config_path.as_ref().map(|v| (v.span(), "config_path")),
        r.cpu.as_ref().map(|v| (v.span(), "cpu")),
        r.memory.as_ref().map(|v| (v.span(), "memory")),
        r.log_retention_days.as_ref().map(|v| (v.span(), "log_retention_days")),
    ];
    for (span, key) in unused.into_iter().flatten() {
        let msg = format!("drift.{key} is set but drift.schedule is not");
        let hint = "these settings configure the in-AWS drift job; add schedule = \"rate(15 minutes)\" or remove them";
        c.push(span, format!("drift.{key}"), msg, hint);
    }
}

/// The schedule expression, and what the job needs to run: a cluster and S3 state.
fn check_drift_schedule(
    v: &S<String>,
    has_services: bool,
    state: Option<&StateConfig>,
    c: &mut Collector<'_>,
) {
    if let Err(problem) = check_schedule(v.get_ref()) {
        let msg = format!("invalid schedule \"{}\": {problem}", v.get_ref());
        let hint = "write \"rate(N unit)\" with unit minute(s), hour(s) or day(s) (singular for 1), \
                    e.g. \"rate(15 minutes)\", or a 6-field EventBridge \"cron(0 * * * ? *)\"";
        c.push(v.span(), "drift.schedule", msg, hint);
    }
    if !has_services {
        let msg = "the scheduled drift job runs as an ECS task in the stack's cluster, and this stack has no [[services]] (no cluster)";
        let hint = "add services, or run `hactl drift --watch` / the systemd timer in scheduling/ instead";
        c.push(v.span(), "drift.schedule", msg, hint);
    }
    if matches!(state.map(|s| &s.backend), Some(StateBackend::Local)) {
        let msg = "the scheduled drift job runs in AWS and cannot read local state files";
        let hint = "keep the state in S3: add [state] with backend = \"s3\" and bucket = \"<your bucket>\"";
        c.push(v.span(), "drift.schedule", msg, hint);
    }
}

/// The config file inside the image (default `config/<this file's name>`).
fn drift_config_path(r: &RawDrift, c: &mut Collector<'_>) -> Option<String> {
    match r.config_path.as_ref() {
        Some(p) => {
            let s = p.get_ref();
            if s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                let hint = "a path inside the image, relative to /hactl, e.g. \"config/ha-stack.toml\"";
                c.push(p.span(), "drift.config_path", format!("invalid path \"{s}\""), hint);
                None
            } else {
                Some(s.clone())
            }
        }
        None => {
            let name = std::path::Path::new(c.file).file_name().map(|n| n.to_string_lossy().into_owned());
            Some(format!("config/{}", name.unwrap_or_else(|| "stack.toml".into())))
        }
    }
}

/// The job's Fargate task size: (cpu, memory).
fn drift_task_size(r: &RawDrift, c: &mut Collector<'_>) -> (Option<i64>, Option<i64>) {
    let cpu = match r.cpu.as_ref() {
        None => Some(256),
        Some(v) if FARGATE_CPU.contains(v.get_ref()) => Some(*v.get_ref()),
        Some(v) => {
            let hint = format!(
                "Fargate task sizes: {} (default 256)",
                FARGATE_CPU.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            );
            c.push(v.span(), "drift.cpu", format!("cpu {} is not a Fargate task size", v.get_ref()), hint);
            None
        }
    };
    let memory = match (r.memory.as_ref(), cpu) {
        (None, _) => Some(512),
        (Some(v), Some(cpu)) => {
            let allowed = fargate_memory(cpu);
            if allowed.contains(v.get_ref()) {
                Some(*v.get_ref())
            } else {
                let shown: Vec<String> = allowed.iter().map(i64::to_string).collect();
                let msg = format!("memory {} MiB does not fit Fargate cpu {cpu}", v.get_ref());
                c.push(v.span(), "drift.memory", msg, format!("with cpu {cpu}: {}", shown.join(", ")));
                None
            }
        }
        (Some(_), None) => None,
    };
    (cpu, memory)
}

/// The memory sizes (MiB) Fargate allows with `cpu` units.
fn fargate_memory(cpu: i64) -> Vec<i64> {
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => (1..=4).map(|g| g * 1024).collect(),
        1024 => (2..=8).map(|g| g * 1024).collect(),
        2048 => (4..=16).map(|g| g * 1024).collect(),
        _ => (8..=30).map(|g| g * 1024).collect(),
    }
}

/// `[state]`: local files (default) or one S3 object.
fn state(
    r: Option<&RawState>,
    stack: &str,
    region: Option<&str>,
    c: &mut Collector<'_>,
) -> Option<StateConfig> {
    let errors_before = c.errors.len();
    let Some(r) = r else { return Some(StateConfig { backend: StateBackend::Local }) };
    let backend = match r.backend.as_ref() {
        None => Some(0),
        Some(v) => c.choice(v, "state.backend", &["local", "s3"], "state backend"),
    };
    let s3_keys = [
        r.bucket.as_ref().map(|v| (v.span(), "bucket")),
        r.key.as_ref().map(|v| (v.span(), "key")),
        r.region.as_ref().map(|v| (v.span(), "region")),
    ];
    if backend == Some(0) {
        for (span, key) in s3_keys.into_iter().flatten() {
            let msg = format!("state.{key} is an S3 setting but the backend is local");
            let hint = "add backend = \"s3\" to keep state in S3, or remove it";
            c.push(span, format!("state.{key}"), msg, hint);
        }
        return (c.errors.len() == errors_before).then_some(StateConfig { backend: StateBackend::Local });
    }
    let bucket = match r.bucket.as_ref() {
        Some(b) if is_bucket_name(b.get_ref()) => Some(b.get_ref().clone()),
        Some(b) => {
            let hint = "S3 bucket names are 3 to 63 characters: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
            c.push(b.span(), "state.bucket", format!("invalid bucket name \"{}\"", b.get_ref()), hint);
            None
        }
        None => {
            let span = r.backend.as_ref().map(|v| v.span()).unwrap_or_default();
            let hint = "name an existing bucket (hactl does not create it), e.g. bucket = \"acme-hactl-state\"; turn on its versioning to keep old states";
            c.push(span, "state.bucket", "backend = \"s3\" needs a bucket", hint);
            None
        }
    };
    let key = match r.key.as_ref() {
        Some(k) => {
            let s = k.get_ref();
            if s.is_empty()
                || s.starts_with('/')
                || s.ends_with('/')
                || s.len() > 1000
                || s.chars().any(char::is_control)
            {
                let hint = "an object key such as \"hactl/ha-demo/us-east-1/state.json\" (no leading or trailing '/')";
                c.push(k.span(), "state.key", format!("invalid object key \"{s}\""), hint);
                None
            } else if let Some(bad) = bad_char(s, |ch| !STATE_KEY_FORBIDDEN.contains(ch)) {
                let msg = format!("state key \"{s}\" has {bad}");
                let hint = "the key goes into the drift job's IAM policy, where * and ? are wildcards and \
                            ${...} a policy variable: leave out * ? $ { }";
                c.push(k.span(), "state.key", msg, hint);
                None
            } else {
                Some(s.clone())
            }
        }
        None => region.map(|reg| format!("hactl/{stack}/{reg}/state.json")),
    };
    let bucket_region = match r.region.as_ref() {
        Some(v) if is_region(v.get_ref()) => Some(Some(v.get_ref().clone())),
        Some(v) => {
            let hint = "regions look like us-east-1 or eu-west-2 (leave it out for the stack's region)";
            c.push(v.span(), "state.region", format!("invalid region \"{}\"", v.get_ref()), hint);
            None
        }
        None => Some(None),
    };
    if c.errors.len() != errors_before {
        return None;
    }
    Some(StateConfig { backend: StateBackend::S3 { bucket: bucket?, key: key?, region: bucket_region? } })
}

/// An S3 bucket name (general purpose buckets).
fn is_bucket_name(s: &str) -> bool {
    let edge = |ch: Option<char>| ch.is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
    (3..=63).contains(&s.len())
        && s.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.')
        && edge(s.chars().next())
        && edge(s.chars().last())
        && !s.contains("..")
        && s.parse::<std::net::Ipv4Addr>().is_err()
}

/// An EventBridge schedule expression: `rate(N unit)` or `cron(6 fields)`.
fn check_schedule(s: &str) -> Result<(), String> {
    if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let (n, unit) = inner.trim().split_once(' ').ok_or("expected a number and a unit")?;
        let n: u32 = n.parse().map_err(|_| format!("\"{n}\" is not a positive whole number"))?;
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        return match (n, unit.trim()) {
            (0, _) => Err("the rate must be at least 1".into()),
            (1, u) if singular.contains(&u) => Ok(()),
            (1, u) if plural.contains(&u) => {
                Err(format!("use the singular unit for 1: \"{}\"", &u[..u.len() - 1]))
            }
            (_, u) if plural.contains(&u) => Ok(()),
            (_, u) if singular.contains(&u) => Err(format!("use the plural unit for {n}: \"{u}s\"")),
            (_, u) => Err(format!("unknown unit \"{u}\"")),
        };
    }
    if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields = inner.split_whitespace().count();
        return if fields == 6 {
            Ok(())
        } else {
            Err(format!("a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {fields}"))
        };
    }
    Err("expected rate(...) or cron(...)".into())
}

fn is_tag_char(ch: char) -> bool {
    ch.is_alphanumeric() || TAG_CHARS.contains(ch)
}

/// The first character of `s` that `ok` refuses, described with its 1-based position:
/// `'#' at position 4`, `a space at position 7`, `U+0009 (a control character) at ...`.
pub(crate) fn bad_char(s: &str, ok: impl Fn(char) -> bool) -> Option<String> {
    let (i, ch) = s.chars().enumerate().find(|(_, ch)| !ok(*ch))?;
    let what = match ch {
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("U+{:04X} (a control character)", u32::from(c)),
        c if c.is_whitespace() => format!("U+{:04X} (a white space)", u32::from(c)),
        c => format!("'{c}'"),
    };
    Some(format!("{what} at position {}", i + 1))
}

/// Checks a map of tags (reserved prefixes, lengths, characters); `None` when any is
/// bad. How many tags a resource ends up with is checked on the expanded graph.
pub(crate) fn tag_map(
    t: &crate::raw::Map,
    prefix: &str,
    c: &mut Collector<'_>,
) -> Option<BTreeMap<String, String>> {
    let mut ok = true;
    let mut tags = BTreeMap::new();
    for (k, v) in t {
        let key = k.get_ref();
        let field = format!("{prefix}.{}", crate::locate::render_key(key));
        let lower = key.to_ascii_lowercase();
        if lower.starts_with("aws:") || lower.starts_with("hactl:") {
            let msg = format!("tag key \"{key}\" uses a reserved prefix");
            let hint = "keys starting with \"aws:\" are reserved by AWS and \"hactl:\" by hactl \
                        (hactl:stack, hactl:address); rename the tag";
            c.push(k.span(), field, msg, hint);
            ok = false;
        } else if key.is_empty() || key.chars().count() > 128 {
            let hint = "tag keys are 1 to 128 characters";
            c.push(k.span(), field, "tag key must be 1 to 128 characters long", hint);
            ok = false;
        } else if v.get_ref().chars().count() > 256 {
            let hint = "tag values are at most 256 characters";
            c.push(v.span(), field, "tag value is longer than 256 characters", hint);
            ok = false;
        } else if let Some((what, at, bad)) = [("key", key, k.span()), ("value", v.get_ref(), v.span())]
            .into_iter()
            .find_map(|(what, s, at)| bad_char(s, is_tag_char).map(|bad| (what, at, bad)))
        {
            let hint = format!(
                "IAM, ELB, ECS and the other tagged services accept letters, digits, spaces and \
                 \"{}\" only",
                TAG_CHARS.trim_start()
            );
            c.push(at, field, format!("tag {what} has {bad}"), hint);
            ok = false;
        } else {
            tags.insert(key.clone(), v.get_ref().clone());
        }
    }
    ok.then_some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_device_names() {
        for ok in ["/dev/xvda", "/dev/sda1", "/dev/xvdba", "/dev/sdb"] {
            assert!(is_root_device_name(ok), "{ok}");
        }
        for bad in ["xvda", "/dev/xvd", "/dev/xvdabc", "/dev/sda12", "/dev/nvme0n1", "/dev/XVDA", "/dev/sd1"]
        {
            assert!(!is_root_device_name(bad), "{bad}");
        }
    }

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-west-2", "us-gov-west-1", "ap-southeast-2"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["US-EAST-1", "us-east", "us-east-12", "use-east-1", "us--1", "", "us-east-1a"] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_lower_name("ha-demo", 28));
        assert!(!is_lower_name("Ha-demo", 28));
        assert!(!is_lower_name("1ha", 28));
        assert!(!is_lower_name(&"a".repeat(29), 28));
        assert_eq!(name_suggestion("HA_Demo!", 28).as_deref(), Some("ha-demo"));
    }

    #[test]
    fn health_check_paths_name_the_bad_character() {
        for ok in ["/", "/api/health", "/health-check_v2.json", "/a%20b", "/~user/x:y@z+1,2=3"] {
            assert_eq!(check_health_check_path(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("healthz", "must start with \"/\""),
            ("/a b", "has a space at position 3"),
            ("/h;reboot", "has ';' at position 3"),
            ("/$(id)", "has '$' at position 2"),
            ("/x`id`", "has '`' at position 3"),
            ("/a'b", "has ''' at position 3"),
            ("/a|b", "has '|' at position 3"),
            ("/a&b", "has '&' at position 3"),
            ("/a?b=1", "has '?' at position 3"),
            ("/é", "has 'é' at position 2"),
            ("/a\tb", "has U+0009 (a control character) at position 3"),
            ("/a%2", "has '%' at position 3 without two hex digits"),
            ("/a%zz", "has '%' at position 3 without two hex digits"),
        ];
        for (path, want) in cases {
            let got = check_health_check_path(path).expect_err(path);
            assert!(got.starts_with(want), "{path}: {got}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH));
        assert!(check_health_check_path(&long).is_err_and(|e| e.contains("at most 1024")));
    }

    #[test]
    fn ssl_policies_are_sorted_by_the_oldest_tls_they_accept() {
        for p in TLS12_POLICIES {
            assert!(p.starts_with("ELBSecurityPolicy-"), "{p}");
            assert!(!TLS10_POLICIES.contains(p) && !TLS11_POLICIES.contains(p), "{p}");
            assert!(!p.contains("-1-0-") && !p.contains("-1-1-") && !p.contains("2016-08"), "{p}");
        }
        for p in TLS10_POLICIES.iter().chain(TLS11_POLICIES) {
            assert!(!TLS12_POLICIES.contains(p), "{p}");
        }
        assert!(TLS12_POLICIES.contains(&"ELBSecurityPolicy-TLS13-1-2-2021-06"), "the default");
    }

    #[test]
    fn state_keys_refuse_policy_wildcards_and_variables() {
        let text = |key: &str| {
            format!(
                "[stack]\nname = \"k\"\nregion = \"us-east-1\"\n[network]\nvpc_cidr = \"10.0.0.0/16\"\n\
                 availability_zones = [\"us-east-1a\", \"us-east-1b\"]\npublic_subnets = [\"10.0.0.0/24\", \"10.0.1.0/24\"]\n\
                 app_subnets = [\"10.0.10.0/24\", \"10.0.11.0/24\"]\ndata_subnets = [\"10.0.20.0/24\", \"10.0.21.0/24\"]\n\
                 [state]\nbackend = \"s3\"\nbucket = \"acme-state\"\nkey = \"{key}\"\n"
            )
        };
        assert!(crate::parse("k.toml", &text("hactl/k/us-east-1/state.json")).is_ok());
        for (key, bad) in [
            ("a/*", "'*' at position 3"),
            ("a?b", "'?' at position 2"),
            ("a/${aws:username}", "'$' at position 3"),
            ("a{b}", "'{' at position 2"),
            ("a}b", "'}' at position 2"),
        ] {
            let errors = crate::parse("k.toml", &text(key)).expect_err(key);
            assert_eq!(errors.0[0].field, "state.key");
            assert!(errors.0[0].message.contains(bad), "{key}: {}", errors.0[0].message);
        }
    }

    #[test]
    fn schedules_and_windows() {
        assert!(check_schedule("rate(15 minutes)").is_ok());
        assert!(check_schedule("rate(1 hour)").is_ok());
        assert!(check_schedule("rate(1 hours)").is_err());
        assert!(check_schedule("rate(2 day)").is_err());
        assert!(check_schedule("rate(0 minutes)").is_err());
        assert!(check_schedule("cron(0 12 * * ? *)").is_ok());
        assert!(check_schedule("cron(0 12 * * ?)").is_err());
        assert!(check_schedule("every hour").is_err());
        assert!(is_time_window("03:00-04:00"));
        assert!(!is_time_window("3:00-04:00"));
        assert!(!is_time_window("24:00-01:00"));
        assert!(!is_time_window("+3:00-04:00"));
    }
}
