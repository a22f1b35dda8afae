//! `[log_analytics]`: the OpenSearch domain the services' logs go to. A child module of
//! `validate`.

use crate::error::Collector;
use crate::model::{LogAnalyticsConfig, LOG_ANALYTICS_ENGINE, LOG_ANALYTICS_INSTANCE};
use crate::raw::{RawConfig, RawLogAnalytics};

/// Data nodes a domain may have without a quota increase (OpenSearch Service quotas).
const MAX_NODES: i64 = 80;
/// gp3 volumes: OpenSearch's smallest; EBS's largest (the instance type may allow less:
/// AWS refuses those at CreateDomain).
const MIN_VOLUME_GB: i64 = 10;
const MAX_VOLUME_GB: i64 = 16_384;
/// Days a failed batch is kept: S3 expires objects after a positive number of days;
/// hactl's bound is ten years.
const MAX_FAILED_DAYS: i64 = 3650;

/// `OpenSearch_<major>.<minor>`: fine-grained access control needs OpenSearch (or
/// Elasticsearch 6.7 and later, which hactl does not offer).
fn is_engine_version(s: &str) -> bool {
    let Some(v) = s.strip_prefix("OpenSearch_") else { return false };
    let mut parts = v.split('.');
    let num = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    num(parts.next()) && num(parts.next()) && parts.next().is_none()
}

/// `<family>.<size>.search`, lowercase letters and digits.
fn is_instance_type(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    matches!(parts.as_slice(), [family, size, "search"]
        if [family, size].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())))
}

/// An OpenSearch master user name: 1 to 64 characters, no whitespace or control
/// characters, not a name OpenSearch reserves.
fn user_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() || s.chars().count() > 64 {
        return Some("a master user name has 1 to 64 characters");
    }
    if s.chars().any(|ch| ch.is_whitespace() || ch.is_control() || ch == ':') {
        return Some("it holds whitespace, a control character or ':'");
    }
    None
}

pub(super) fn log_analytics(
    raw: &RawConfig,
    r: &RawLogAnalytics,
    c: &mut Collector<'_>,
) -> Option<LogAnalyticsConfig> {
    let errors_before = c.errors.len();
    let engine_version = match &r.engine_version {
        None => LOG_ANALYTICS_ENGINE.to_string(),
        Some(v) => {
            if !is_engine_version(v.get_ref()) {
                let msg = format!("\"{}\" is not an OpenSearch engine version", v.get_ref());
                let hint = format!(
                    "write \"OpenSearch_<major>.<minor>\", e.g. \"{LOG_ANALYTICS_ENGINE}\" (the default); \
                     fine-grained access control needs OpenSearch"
                );
                c.push(v.span(), "log_analytics.engine_version", msg, hint);
            }
            v.get_ref().clone()
        }
    };
    let instance_type = match &r.instance_type {
        None => LOG_ANALYTICS_INSTANCE.to_string(),
        Some(v) => {
            let t = v.get_ref();
            if !is_instance_type(t) {
                let msg = format!("\"{t}\" is not an OpenSearch instance type");
                let hint = format!(
                    "write \"<family>.<size>.search\", e.g. \"{LOG_ANALYTICS_INSTANCE}\" (the default)"
                );
                c.push(v.span(), "log_analytics.instance_type", msg, hint);
            } else if t.starts_with("t2.") {
                let msg = format!("{t} supports neither encryption at rest nor fine-grained access control");
                let hint = "use a current instance type, e.g. \"t3.medium.search\" or \"m6g.large.search\"";
                c.push(v.span(), "log_analytics.instance_type", msg, hint);
            }
            t.clone()
        }
    };
    let count = c.opt_int(
        &r.instance_count,
        "log_analytics.instance_count",
        (2, MAX_NODES),
        2,
        "data nodes, half in each of two zones",
    );
    if let (Some(n), Some(v)) = (count, &r.instance_count) {
        if n % 2 != 0 {
            let msg = format!("instance_count {n} is odd: the domain spreads its nodes over two zones");
            c.push(
                v.span(),
                "log_analytics.instance_count",
                msg,
                "use an even number of data nodes, e.g. 2 or 4",
            );
        }
    }
    let volume = c.opt_int(
        &r.volume_size_gb,
        "log_analytics.volume_size_gb",
        (MIN_VOLUME_GB, MAX_VOLUME_GB),
        20,
        "GiB of gp3 storage per node (the instance type sets its own maximum)",
    );
    let master_user = match &r.master_user {
        None => "hactladmin".to_string(),
        Some(v) => {
            if let Some(problem) = user_problem(v.get_ref()) {
                let msg = format!("invalid master user name \"{}\": {problem}", v.get_ref());
                c.push(v.span(), "log_analytics.master_user", msg, "e.g. \"hactladmin\" (the default)");
            }
            v.get_ref().clone()
        }
    };
    let failed_days = c.opt_int(
        &r.failed_batches_days,
        "log_analytics.failed_batches_days",
        (1, MAX_FAILED_DAYS),
        30,
        "days a batch the domain refused is kept in the failed-batches bucket",
    );
    if let Some(v) = &r.kms_key_id {
        c.token(
            v,
            "log_analytics.kms_key_id",
            "\"alias/hactl\" or a key ARN; leave it out for the AWS-managed key",
        );
    }
    if raw.services.is_empty() {
        let msg = "[log_analytics] ships the services' logs, and the stack has no services";
        let hint = "add [[services]], or remove [log_analytics]";
        let span = r.engine_version.as_ref().map(|v| v.span()).unwrap_or(raw.stack.name.span());
        c.push(span, "log_analytics", msg, hint);
    }
    if raw.dr.is_some() {
        let msg =
            "[log_analytics] is not offered with [dr] yet: the domain would live in the primary region only";
        let hint = "remove [log_analytics] or [dr]";
        let span = r.engine_version.as_ref().map(|v| v.span()).unwrap_or(raw.stack.name.span());
        c.push(span, "log_analytics", msg, hint);
    }
    if c.errors.len() != errors_before {
        return None;
    }
    Some(LogAnalyticsConfig {
        engine_version,
        instance_type,
        instance_count: u32::try_from(count?).ok()?,
        volume_size_gb: u32::try_from(volume?).ok()?,
        master_user,
        kms_key_id: r.kms_key_id.as_ref().map(|v| v.get_ref().clone()),
        failed_batches_days: u32::try_from(failed_days?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_types_and_users_as_opensearch_takes_them() {
        assert!(is_engine_version("OpenSearch_2.19") && is_engine_version("OpenSearch_1.3"));
        for bad in
            ["OpenSearch_2", "Elasticsearch_7.10", "opensearch_2.19", "OpenSearch_2.x", "OpenSearch_2.19.1"]
        {
            assert!(!is_engine_version(bad), "{bad}");
        }
        assert!(is_instance_type("m6g.large.search") && is_instance_type("t3.medium.search"));
        for bad in ["m6g.large", "M6G.large.search", "m6g..search", "large.search"] {
            assert!(!is_instance_type(bad), "{bad}");
        }
        assert_eq!(user_problem("hactladmin"), None);
        assert!(
            user_problem("").is_some()
                && user_problem("a b").is_some()
                && user_problem(&"a".repeat(65)).is_some()
        );
    }
}
