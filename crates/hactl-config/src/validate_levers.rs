//! Cost and deployment levers: scheduled scaling (`[[services.autoscaling.schedule]]`,
//! `[[compute.schedule]]`), Spot capacity (`[services.spot]`, `[compute.spot]`) and the
//! connection pool (`[database.proxy]`). A child module of `validate`.

use super::{check_unique, is_lower_name, name_hint, MAX_TASKS, TASKS_HINT};
use crate::error::Collector;
use crate::model::{
    BlueGreen, DbEngine, Ec2Spot, FargateSpot, LaunchType, ProxyConfig, ScheduledCapacity, WEEK_DAYS,
};
use crate::raw::{RawConfig, RawEc2Spot, RawProxy, RawScheduleRef, RawService, RawServiceSpot, S};
use std::ops::Range;

/// The IANA time zone names scheduled actions accept (a generated list; see its header).
const TIME_ZONES: &str = include_str!("time_zones.txt");
/// Scheduled actions per scalable target (Application Auto Scaling quota, default).
const ACTIONS_PER_TARGET: usize = 200;
/// Scheduled actions per Auto Scaling group (EC2 Auto Scaling quota, default).
const ACTIONS_PER_GROUP: usize = 125;
/// Instance types in one mixed-instances policy (EC2 Auto Scaling).
const MAX_INSTANCE_TYPES: usize = 40;
/// Longest schedule name: the AWS name is `<stack>-<service>-<name>`, at most 256.
const MAX_NAME: usize = 64;

pub(super) fn is_time_zone(s: &str) -> bool {
    TIME_ZONES.lines().filter(|l| !l.starts_with('#')).any(|l| l == s)
}

/// `H:MM` or `HH:MM`, 24-hour.
fn parse_at(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Where a schedule list lives: a service's scalable target or the Auto Scaling group.
pub(super) struct ScheduleOf<'p> {
    /// `services[0].autoscaling.schedule` or `compute.schedule`.
    pub prefix: &'p str,
    /// Auto Scaling group: `desired` allowed; instance counts instead of task counts.
    pub group: bool,
    /// Where to point when the list itself is over its quota.
    pub at: Range<usize>,
}

/// Every entry of a schedule list; `None` when one is bad.
pub(super) fn schedules(
    list: &[RawScheduleRef<'_>],
    of: &ScheduleOf<'_>,
    c: &mut Collector<'_>,
) -> Option<Vec<ScheduledCapacity>> {
    let errors_before = c.errors.len();
    let (limit, what) = if of.group {
        (ACTIONS_PER_GROUP, "an Auto Scaling group")
    } else {
        (ACTIONS_PER_TARGET, "a service's scalable target")
    };
    if list.len() > limit {
        let at = list.get(limit).map_or(of.at.clone(), |r| r.name.span());
        let msg = format!("{} scheduled actions: {what} takes at most {limit}", list.len());
        let hint = "AWS's default quota; merge schedules or ask AWS for more";
        c.push(at, format!("{}[{limit}].name", of.prefix), msg, hint);
    }
    let names = list.iter().enumerate().map(|(i, r)| (format!("{}[{i}].name", of.prefix), r.name));
    check_unique(c, names, "schedule name", "each schedule of a list needs its own name");
    let out: Vec<Option<ScheduledCapacity>> = list
        .iter()
        .enumerate()
        .map(|(i, r)| schedule(r, &format!("{}[{i}]", of.prefix), of.group, c))
        .collect();
    if c.errors.len() != errors_before {
        return None;
    }
    out.into_iter().collect()
}

fn schedule(
    r: &RawScheduleRef<'_>,
    prefix: &str,
    group: bool,
    c: &mut Collector<'_>,
) -> Option<ScheduledCapacity> {
    let errors_before = c.errors.len();
    let f = |key: &str| format!("{prefix}.{key}");
    let name = r.name.get_ref();
    if !is_lower_name(name, MAX_NAME) {
        c.push(
            r.name.span(),
            f("name"),
            format!("invalid schedule name \"{name}\""),
            name_hint(name, MAX_NAME),
        );
    }
    let at = parse_at(r.at.get_ref());
    if at.is_none() {
        let msg = format!("\"{}\" is not a time of day", r.at.get_ref());
        c.push(r.at.span(), f("at"), msg, "write HH:MM on a 24-hour clock, e.g. \"20:00\" or \"07:30\"");
    }
    let days = schedule_days(r, prefix, c);
    let time_zone = r.time_zone.map_or_else(|| "UTC".to_string(), |v| v.get_ref().clone());
    if let Some(v) = r.time_zone.filter(|v| !is_time_zone(v.get_ref())) {
        let msg = format!("unknown time zone \"{}\"", v.get_ref());
        let zones: Vec<&str> = TIME_ZONES.lines().filter(|l| !l.starts_with('#')).collect();
        let hint = format!(
            "{}use an IANA time zone name such as \"UTC\", \"Europe/Paris\" or \"America/New_York\"",
            crate::suggest::did_you_mean(v.get_ref(), &zones)
        );
        c.push(v.span(), f("time_zone"), msg, hint);
    }
    let (hi, hint) = if group {
        (i64::from(i32::MAX), "a number of container instances")
    } else {
        (MAX_TASKS, TASKS_HINT)
    };
    let count = |c: &mut Collector<'_>, v: Option<&S<i64>>, key: &str| match v {
        None => Some(None),
        Some(v) => c.int(v, &f(key), 0, hi, hint).map(|n| u32::try_from(n).ok()),
    };
    let min = count(c, r.min, "min");
    let max = count(c, r.max, "max");
    let desired = count(c, r.desired, "desired");
    if r.min.is_none() && r.max.is_none() && r.desired.is_none() {
        let keys = if group { "min, max or desired" } else { "min or max" };
        let msg = format!("schedule \"{name}\" changes nothing");
        c.push(r.name.span(), f("name"), msg, format!("set {keys}"));
    }
    let order = [("min", r.min), ("desired", r.desired), ("max", r.max)];
    let set: Vec<(&str, &S<i64>)> = order.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    for pair in set.windows(2) {
        let ((k1, v1), (k2, v2)) = (pair[0], pair[1]);
        if v1.get_ref() > v2.get_ref() {
            let msg = format!("{k1} ({}) is greater than {k2} ({})", v1.get_ref(), v2.get_ref());
            c.push(v1.span(), f(k1), msg, "min <= desired <= max must hold");
        }
    }
    if c.errors.len() != errors_before {
        return None;
    }
    let (hour, minute) = at?;
    Some(ScheduledCapacity {
        name: name.clone(),
        hour,
        minute,
        days: days?,
        time_zone,
        min: min?,
        max: max?,
        desired: desired?,
    })
}

/// The days, in week order (Monday first); empty = every day.
fn schedule_days(r: &RawScheduleRef<'_>, prefix: &str, c: &mut Collector<'_>) -> Option<Vec<String>> {
    let Some(list) = r.days else { return Some(Vec::new()) };
    let field = format!("{prefix}.days");
    if list.get_ref().is_empty() {
        let hint = "list days such as [\"MON\", \"TUE\"], or leave days out for every day";
        c.push(list.span(), field, "days must not be empty", hint);
        return None;
    }
    let mut ok = true;
    for (i, d) in list.get_ref().iter().enumerate() {
        if !WEEK_DAYS.contains(&d.get_ref().as_str()) {
            let msg = format!("unknown day \"{}\"", d.get_ref());
            c.push(d.span(), format!("{field}[{i}]"), msg, "days are MON, TUE, WED, THU, FRI, SAT, SUN");
            ok = false;
        }
    }
    check_unique(c, super::indexed(&field, list.get_ref()), "day", "list each day once");
    // Monday first, as people write weeks (cron counts from Sunday: only the order differs).
    let week = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let days: Vec<String> = week
        .iter()
        .filter(|w| list.get_ref().iter().any(|d| d.get_ref() == *w))
        .map(|w| w.to_string())
        .collect();
    (ok && days.len() == list.get_ref().len()).then_some(days)
}

/// `[services.spot]`: Fargate only (on EC2, Spot is the Auto Scaling group's:
/// `[compute.spot]`).
pub(super) fn service_spot(
    r: &RawServiceSpot,
    prefix: &str,
    name: &S<String>,
    launch_type: Option<LaunchType>,
    c: &mut Collector<'_>,
) -> Option<FargateSpot> {
    let f = |key: &str| format!("{prefix}.spot.{key}");
    if launch_type == Some(LaunchType::Ec2) {
        let at =
            [&r.on_demand_base, &r.spot_percent].into_iter().flatten().next().map_or(name.span(), S::span);
        let msg = "services.spot needs launch_type = \"fargate\": on EC2 the tasks run on the Auto Scaling group's instances";
        let hint = "put Spot instances in the group with [compute.spot], or set launch_type = \"fargate\"";
        c.push(at, format!("{prefix}.spot"), msg, hint);
        return None;
    }
    let base = c.opt_int(
        &r.on_demand_base,
        &f("on_demand_base"),
        (0, MAX_TASKS),
        1,
        "tasks that always run on FARGATE (On-Demand)",
    );
    let percent = c.opt_int(
        &r.spot_percent,
        &f("spot_percent"),
        (1, 100),
        100,
        "percent of the tasks above the base that run on FARGATE_SPOT",
    );
    Some(FargateSpot {
        on_demand_base: u32::try_from(base?).ok()?,
        spot_percent: u32::try_from(percent?).ok()?,
    })
}

/// `[compute.spot]`: EC2 only; the instance types default to `compute.instance_type`.
pub(super) fn compute_spot(
    r: &RawEc2Spot,
    instance_type: &str,
    launch_type: Option<LaunchType>,
    c: &mut Collector<'_>,
) -> Option<Ec2Spot> {
    let errors_before = c.errors.len();
    if launch_type == Some(LaunchType::Fargate) {
        let spans = [r.on_demand_base.as_ref().map(S::span), r.spot_percent.as_ref().map(S::span)];
        let at = spans.into_iter().flatten().next().or_else(|| r.instance_types.as_ref().map(S::span));
        let msg = "compute.spot is set but launch_type is \"fargate\": it puts Spot instances in the EC2 Auto Scaling group";
        let hint = "on Fargate, mark each non-critical service with [services.spot]";
        c.push(at.unwrap_or(0..0), "compute.spot", msg, hint);
        return None;
    }
    let mut types = vec![instance_type.to_string()];
    if let Some(list) = &r.instance_types {
        let field = "compute.spot.instance_types";
        if list.get_ref().is_empty() || list.get_ref().len() > MAX_INSTANCE_TYPES {
            let msg = format!("{} instance types: use 1 to {MAX_INSTANCE_TYPES}", list.get_ref().len());
            let hint = "Spot capacity is easier to find with several types of the same size, e.g. [\"m6i.large\", \"m5.large\", \"m6a.large\"]";
            c.push(list.span(), field, msg, hint);
        }
        for (i, v) in list.get_ref().iter().enumerate() {
            if !super::is_instance_type(v.get_ref()) {
                let msg = format!("invalid instance type \"{}\"", v.get_ref());
                c.push(
                    v.span(),
                    format!("{field}[{i}]"),
                    msg,
                    "instance types are written FAMILY.SIZE, e.g. \"m6i.large\"",
                );
            }
        }
        check_unique(c, super::indexed(field, list.get_ref()), "instance type", "list each type once");
        types = list.get_ref().iter().map(|v| v.get_ref().clone()).collect();
    }
    let base = c.opt_int(
        &r.on_demand_base,
        "compute.spot.on_demand_base",
        (0, i64::from(i32::MAX)),
        1,
        "instances that are always On-Demand",
    );
    let percent = c.opt_int(
        &r.spot_percent,
        "compute.spot.spot_percent",
        (1, 100),
        50,
        "percent of the instances above the base that are Spot",
    );
    if c.errors.len() != errors_before {
        return None;
    }
    Some(Ec2Spot {
        instance_types: types,
        on_demand_base: u32::try_from(base?).ok()?,
        spot_percent: u32::try_from(percent?).ok()?,
        capacity_rebalance: r.capacity_rebalance.as_ref().is_none_or(|v| *v.get_ref()),
    })
}

/// `[database.proxy]`: PostgreSQL only (RDS Proxy has no DocumentDB engine family).
pub(super) fn proxy(
    r: &RawProxy,
    raw_engine: &S<String>,
    engine: Option<DbEngine>,
    c: &mut Collector<'_>,
) -> Option<ProxyConfig> {
    let errors_before = c.errors.len();
    if engine == Some(DbEngine::Docdb) {
        let msg = "database.proxy needs engine = \"postgres\": RDS Proxy does not serve DocumentDB";
        let hint = "remove [database.proxy], or use engine = \"postgres\"";
        c.push(raw_engine.span(), "database.proxy", msg, hint);
        return None;
    }
    let f = |key: &str| format!("database.proxy.{key}");
    let idle = c.opt_int(
        &r.idle_client_timeout,
        &f("idle_client_timeout"),
        (1, 28_800),
        1800,
        "seconds an idle client connection stays open",
    );
    let max = c.opt_int(
        &r.max_connections_percent,
        &f("max_connections_percent"),
        (1, 100),
        100,
        "percent of the database's max_connections the pool may use",
    );
    // AWS's default: half the pool's size.
    let idle_default = max.map_or(50, |m| m / 2);
    let max_idle = c.opt_int(
        &r.max_idle_connections_percent,
        &f("max_idle_connections_percent"),
        (0, 100),
        idle_default,
        "percent of the database's max_connections kept open while idle",
    );
    let borrow = c.opt_int(
        &r.connection_borrow_timeout,
        &f("connection_borrow_timeout"),
        (0, 3600),
        120,
        "seconds a client waits for a pooled connection",
    );
    if let (Some(m), Some(i), Some(v)) = (max, max_idle, r.max_idle_connections_percent.as_ref()) {
        if i > m {
            let msg =
                format!("max_idle_connections_percent ({i}) is greater than max_connections_percent ({m})");
            c.push(
                v.span(),
                f("max_idle_connections_percent"),
                msg,
                "RDS keeps at most the pool's size open while idle",
            );
        }
    }
    if c.errors.len() != errors_before {
        return None;
    }
    Some(ProxyConfig {
        iam_auth: r.iam_auth.as_ref().is_some_and(|v| *v.get_ref()),
        idle_client_timeout: u32::try_from(idle?).ok()?,
        max_connections_percent: u32::try_from(max?).ok()?,
        max_idle_connections_percent: u32::try_from(max_idle?).ok()?,
        connection_borrow_timeout: u32::try_from(borrow?).ok()?,
    })
}

/// A proxy in front of a cross-region read replica cannot serve the DR region: RDS Proxy
/// targets a primary instance or an Aurora cluster only.
pub(super) fn check_proxy_without_dr(raw: &RawConfig, c: &mut Collector<'_>) {
    let Some(p) = raw.database.as_ref().and_then(|d| d.proxy.as_ref()) else { return };
    let Some(dr) = &raw.dr else { return };
    let spans = [p.iam_auth.as_ref().map(S::span), p.idle_client_timeout.as_ref().map(S::span)];
    let at = spans.into_iter().flatten().next().unwrap_or_else(|| dr.region.span());
    let msg = "database.proxy with [dr] is not supported: the DR region's database is a read replica, which RDS Proxy cannot target";
    let hint = "remove [database.proxy], or the [dr] section";
    c.push(at, "database.proxy", msg, hint);
}

/// `deployment` ("rolling", the default, or "blue_green") and `bake_time` (minutes, blue/green
/// only: 0 to 1440, ECS's range, default 5). `Some(None)` = rolling; `None` = an error.
pub(super) fn deployment(r: &RawService, prefix: &str, c: &mut Collector<'_>) -> Option<Option<BlueGreen>> {
    let blue_green = match &r.deployment {
        None => false,
        Some(v) => {
            c.choice(v, &format!("{prefix}.deployment"), &["rolling", "blue_green"], "deployment strategy")?
                == 1
        }
    };
    if !blue_green {
        if let Some(v) = &r.bake_time {
            let msg = "bake_time is set but the deployment is rolling: it only applies to deployment = \"blue_green\"";
            let hint = "remove bake_time, or set deployment = \"blue_green\"";
            c.push(v.span(), format!("{prefix}.bake_time"), msg, hint);
            return None;
        }
        return Some(None);
    }
    let bake = c.opt_int(
        &r.bake_time,
        &format!("{prefix}.bake_time"),
        (0, 1440),
        5,
        "minutes both revisions run after the traffic shift",
    )?;
    Some(Some(BlueGreen { bake_time: u32::try_from(bake).ok()? }))
}

/// Seconds a blue/green deployment needs on top of its bake time: the green tasks start,
/// pass their health checks and take the test and then the production traffic.
const BLUE_GREEN_MARGIN: i64 = 300;

/// What blue/green needs of the rest of the config: apply waits for the whole deployment,
/// bake time included, within `compute.service_stable_timeout`; and a request-count
/// scaling policy names one target group, which serves only until the next shift.
pub(super) fn check_blue_green(raw: &RawConfig, stable_timeout: Option<u32>, c: &mut Collector<'_>) {
    for (i, r) in raw.services.iter().enumerate() {
        if r.deployment.as_ref().map(|d| d.get_ref().as_str()) != Some("blue_green") {
            continue;
        }
        let at = r.bake_time.as_ref().map_or_else(|| r.deployment.as_ref().map(S::span), |b| Some(b.span()));
        let bake = r.bake_time.as_ref().map_or(5, |b| *b.get_ref());
        if let (Some(timeout), Some(at)) = (stable_timeout, at.clone()) {
            if bake * 60 + BLUE_GREEN_MARGIN > i64::from(timeout) {
                let msg = format!(
                    "a bake time of {bake} min does not fit compute.service_stable_timeout ({timeout} s): apply waits for the whole deployment"
                );
                let hint = format!(
                    "raise compute.service_stable_timeout to at least {} s, or shorten bake_time",
                    bake * 60 + BLUE_GREEN_MARGIN
                );
                c.push(at, format!("services[{i}].bake_time"), msg, hint);
            }
        }
        if let Some(v) = r.autoscaling.as_ref().and_then(|a| a.requests_per_target.as_ref()) {
            let msg = "requests_per_target counts one target group's requests; a blue/green service moves between two";
            let hint = "scale a blue/green service on cpu_target / memory_target, or deploy it rolling";
            c.push(v.span(), format!("services[{i}].autoscaling.requests_per_target"), msg, hint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        assert_eq!(parse_at("20:00"), Some((20, 0)));
        assert_eq!(parse_at("7:05"), Some((7, 5)));
        assert_eq!(parse_at("23:59"), Some((23, 59)));
        for bad in ["24:00", "12:60", "12", "12:5", "a:00", "012:00", ":00", "12:00:00"] {
            assert_eq!(parse_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_zones_are_the_iana_names() {
        for ok in ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Etc/UTC"] {
            assert!(is_time_zone(ok), "{ok}");
        }
        // Links (not canonical: AWS asks for canonical names) and abbreviations are not.
        for bad in ["Europe/Pari", "utc", "", "# IANA time zone names", "CEST", "US/Eastern", "Asia/Calcutta"]
        {
            assert!(!is_time_zone(bad), "{bad}");
        }
    }
}
