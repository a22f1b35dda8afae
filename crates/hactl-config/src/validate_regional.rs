//! `[ecr]`, `ecr:` images and `[dns]`: what the stack keeps in ECR and how DNS fails over
//! between its two regions. A child module of `validate`.

use crate::error::Collector;
use crate::model::{DnsConfig, DnsZone, EcrConfig, EcrImage};
use crate::raw::{RawConfig, RawDns, RawEcr, S};

/// ECR repository names: lowercase path components of letters and digits separated by
/// `.`, `_` or `-` (AWS: `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`).
fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .split(['.', '_', '-'])
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        })
}

/// An image tag: up to 128 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`.
fn is_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `image = "ecr:<name>:<tag>"` or `"ecr:<name>@sha256:<digest>"`: the stack's repository
/// `<stack>/<name>`; `None` (no error) for any other image.
pub(super) fn ecr_image(v: &S<String>, field: &str, stack: &str, c: &mut Collector<'_>) -> Option<EcrImage> {
    let rest = v.get_ref().strip_prefix("ecr:")?;
    let hint = "write image = \"ecr:<repository>:<tag>\" (e.g. \"ecr:web:1.4.2\") or \"ecr:<repository>@sha256:<digest>\"; \
                the repository is <stack>/<repository> in each region";
    let (name, reference) = match (rest.split_once('@'), rest.split_once(':')) {
        (Some((n, d)), _) if is_digest(d) => (n, format!("@{d}")),
        (None, Some((n, t))) if is_tag(t) => (n, format!(":{t}")),
        _ => {
            let msg = format!("\"{}\" names no tag or digest of an ECR image", v.get_ref());
            c.push(v.span(), field, msg, hint);
            return None;
        }
    };
    let full = format!("{stack}/{name}");
    if !is_repository_name(name) || full.len() > 256 {
        let msg = format!("\"{name}\" is not an ECR repository name");
        let hint = "lowercase letters and digits, separated by `.`, `_`, `-` or `/`, at most 256 characters \
                    with the stack name in front";
        c.push(v.span(), field, msg, hint);
        return None;
    }
    Some(EcrImage { repository: name.to_string(), reference })
}

/// `[ecr]`; every key has a default.
pub(super) fn ecr(r: Option<&RawEcr>, c: &mut Collector<'_>) -> Option<EcrConfig> {
    let errors_before = c.errors.len();
    let d = EcrConfig::default();
    let Some(r) = r else { return Some(d) };
    let kms = match &r.encryption {
        None => false,
        Some(v) => c.choice(v, "ecr.encryption", &["AES256", "KMS"], "encryption")? == 1,
    };
    if let (false, Some(k)) = (kms, &r.kms_key) {
        let msg = "kms_key is set but encryption is not \"KMS\"";
        c.push(
            k.span(),
            "ecr.kms_key",
            msg,
            "set encryption = \"KMS\", or remove kms_key (AES256 takes no key)",
        );
    }
    if let Some(k) = &r.kms_key {
        c.token(k, "ecr.kms_key", "\"arn:aws:kms:us-east-1:123456789012:key/…\" or \"alias/ecr\"");
    }
    let tag_mutability = match &r.tag_mutability {
        None => Some(d.tag_mutability.clone()),
        Some(v) => {
            let allowed = ["MUTABLE", "IMMUTABLE"];
            c.choice(v, "ecr.tag_mutability", &allowed, "tag mutability").map(|i| allowed[i].to_string())
        }
    };
    let keep =
        c.opt_int(&r.keep_tagged, "ecr.keep_tagged", (1, 10_000), 30, "tagged images each repository keeps");
    let untagged =
        c.opt_int(&r.untagged_days, "ecr.untagged_days", (1, 3650), 7, "days an untagged image is kept");
    if c.errors.len() != errors_before {
        return None;
    }
    Some(EcrConfig {
        scan_on_push: r.scan_on_push.as_ref().map_or(d.scan_on_push, |v| *v.get_ref()),
        kms: kms.then(|| r.kms_key.as_ref().map(|k| k.get_ref().clone())),
        tag_mutability: tag_mutability?,
        keep_tagged: u32::try_from(keep?).ok()?,
        untagged_days: u32::try_from(untagged?).ok()?,
        force_delete: r.force_delete.as_ref().is_some_and(|v| *v.get_ref()),
    })
}

/// A DNS name of at least two labels, lowercase, without the trailing dot.
fn is_domain(d: &str) -> bool {
    d.len() <= 253
        && d.split('.').count() >= 2
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn domain(v: &S<String>, field: &str, c: &mut Collector<'_>) -> Option<String> {
    let d = v.get_ref().trim_end_matches('.');
    if is_domain(d) {
        return Some(d.to_string());
    }
    let msg = format!("\"{}\" is not a DNS name", v.get_ref());
    c.push(v.span(), field, msg, "lowercase labels of letters, digits and `-`, e.g. \"app.example.com\"");
    None
}

/// `[dns]`: `public_path` is the public service's health check path, if the stack has one.
pub(super) fn dns(
    raw: &RawConfig,
    r: &RawDns,
    public_path: Option<&str>,
    c: &mut Collector<'_>,
) -> Option<DnsConfig> {
    let errors_before = c.errors.len();
    if raw.dr.is_none() {
        let msg = "[dns] fails over between two regions, and the stack has one";
        let hint = "add a [dr] section (the disaster-recovery region), or remove [dns]";
        c.push(r.domain.span(), "dns.domain", msg, hint);
    }
    let has_public = raw.services.iter().any(|s| s.public.as_ref().is_none_or(|v| *v.get_ref()));
    if !has_public {
        let msg = "[dns] points at the public load balancer, and the stack has no public service";
        c.push(r.domain.span(), "dns.domain", msg, "add a service with public = true, or remove [dns]");
    }
    let name = domain(&r.domain, "dns.domain", c);
    let zone = match (&r.zone, &r.zone_id) {
        (Some(z), None) => domain(z, "dns.zone", c).map(|z| {
            let inside = name.as_ref().is_none_or(|n| *n == z || n.ends_with(&format!(".{z}")));
            if !inside {
                let msg = format!("{} is not inside the zone {z}", name.as_deref().unwrap_or_default());
                c.push(
                    r.domain.span(),
                    "dns.domain",
                    msg,
                    format!("use a name ending in .{z}, or another zone"),
                );
            }
            DnsZone::Create(z)
        }),
        (None, Some(id)) => {
            let v = id.get_ref();
            let ok = v.len() <= 32
                && v.starts_with('Z')
                && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !ok {
                let msg = format!("\"{v}\" is not a hosted zone id");
                c.push(id.span(), "dns.zone_id", msg, "a Route 53 zone id such as \"Z0123456789ABCDEFGHIJ\"");
            }
            Some(DnsZone::Existing(v.clone()))
        }
        (Some(_), Some(id)) => {
            let msg = "both `zone` and `zone_id` are set";
            let hint = "`zone` creates a hosted zone, `zone_id` uses an existing one: keep one";
            c.push(id.span(), "dns.zone_id", msg, hint);
            None
        }
        (None, None) => {
            let msg = "[dns] needs a hosted zone";
            let hint = "set zone = \"example.com\" (hactl creates it) or zone_id = \"Z…\" (an existing zone)";
            c.push(r.domain.span(), "dns.domain", msg, hint);
            None
        }
    };
    let health_check_path = match &r.health_check_path {
        Some(v) if !v.get_ref().starts_with('/') || v.get_ref().len() > 255 => {
            let msg = format!("\"{}\" is not a path", v.get_ref());
            c.push(
                v.span(),
                "dns.health_check_path",
                msg,
                "a path of at most 255 characters, e.g. \"/health\"",
            );
            None
        }
        Some(v) => Some(v.get_ref().clone()),
        None => Some(public_path.unwrap_or("/").to_string()),
    };
    let failure_threshold = c.opt_int(
        &r.failure_threshold,
        "dns.failure_threshold",
        (1, 10),
        3,
        "failed checks in a row before Route 53 fails over",
    );
    let request_interval = match &r.request_interval {
        Some(v) if ![10, 30].contains(v.get_ref()) => {
            let msg = format!("request_interval {} is not 10 or 30", v.get_ref());
            c.push(
                v.span(),
                "dns.request_interval",
                msg,
                "Route 53 checks every 10 or 30 seconds (default 30)",
            );
            None
        }
        Some(v) => Some(*v.get_ref()),
        None => Some(30),
    };
    if c.errors.len() != errors_before {
        return None;
    }
    Some(DnsConfig {
        domain: name?,
        zone: zone?,
        health_check_path: health_check_path?,
        failure_threshold: u32::try_from(failure_threshold?).ok()?,
        request_interval: u32::try_from(request_interval?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_tags_and_domains() {
        assert!(is_repository_name("web"));
        assert!(is_repository_name("team/api-v2.1"));
        assert!(!is_repository_name("Web"));
        assert!(!is_repository_name("web//api"));
        assert!(!is_repository_name("web-"));
        assert!(is_tag("1.4.2") && is_tag("latest") && !is_tag("-x") && !is_tag(""));
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest("sha256:abc"));
        assert!(is_domain("app.example.com") && !is_domain("example") && !is_domain("App.example.com"));
        assert!(!is_domain("-a.example.com"));
    }
}
