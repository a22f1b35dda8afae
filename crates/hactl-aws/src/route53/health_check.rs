//! `route53.health_check`: an HTTP or HTTPS health check of a domain name (the load
//! balancer's DNS name), port and path. id = the health check id.
//!
//! Read: ListHealthChecks (paginated, once) → candidates: the checks state records and the
//! checks hactl created (caller reference `hactl-…`; checks other tools made are never
//! read) → ListTagsForResources (`healthcheck`) for the candidates, 10 per call. A check
//! is the stack's by its `hactl:stack` tag, by state, or by the caller reference of a
//! target's create (cut short before its tags were set).

use super::{
    caller_reference, classify, dns_name, ownership, tags_of, tags_value, target_reference, Tagging,
    CALLER_PREFIX,
};
use crate::error::{aws_error, ignore_not_found, retry_codes, retry_not_found};
use crate::util::tags::{TagChanges, Tagger};
use crate::util::{int_prop, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, ResettableElementName, TagResourceType};
use aws_sdk_route53::Client;
use hactl_core::kinds::route53::HealthCheck as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct HealthCheck(pub Client);

/// The request interval and failure threshold Route 53 takes when none is given.
const DEFAULT_INTERVAL: i64 = 30;
const DEFAULT_THRESHOLD: i64 = 3;

/// The check type, which must be HTTP or HTTPS.
fn check_type(props: &Props) -> Result<HealthCheckType, ProviderError> {
    match req_str(props, Kind::CHECK_TYPE)? {
        t @ ("HTTP" | "HTTPS") => Ok(HealthCheckType::from(t)),
        other => Err(ProviderError::fatal(format!(
            "route53.health_check: `{}` must be HTTP or HTTPS, not {other}",
            Kind::CHECK_TYPE
        ))),
    }
}

/// The port Route 53 takes when none is given: 80 for HTTP, 443 for HTTPS.
fn default_port(check_type: Option<&str>) -> Option<i64> {
    match check_type {
        Some("HTTP") => Some(80),
        Some("HTTPS") => Some(443),
        _ => None,
    }
}

/// A live check as properties, as Route 53 answers them.
fn check_props(c: &aws_sdk_route53::types::HealthCheck, tags: &BTreeMap<String, String>) -> Props {
    let cfg = c.health_check_config();
    let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    let i = |v: Option<i32>| v.map(|n| Value::Int(i64::from(n))).unwrap_or(Value::Null);
    Props::from([
        (Kind::CHECK_TYPE.to_string(), s(cfg.map(|c| c.r#type().as_str()))),
        (Kind::FQDN.to_string(), s(cfg.and_then(|c| c.fully_qualified_domain_name()))),
        (Kind::PORT.to_string(), i(cfg.and_then(|c| c.port()))),
        (Kind::RESOURCE_PATH.to_string(), s(cfg.and_then(|c| c.resource_path()))),
        (Kind::REQUEST_INTERVAL.to_string(), i(cfg.and_then(|c| c.request_interval()))),
        (Kind::FAILURE_THRESHOLD.to_string(), i(cfg.and_then(|c| c.failure_threshold()))),
        (Kind::TAGS.to_string(), tags_value(tags)),
    ])
}

/// The health check configuration of `props`.
fn config_of(props: &Props) -> Result<HealthCheckConfig, ProviderError> {
    HealthCheckConfig::builder()
        .r#type(check_type(props)?)
        .fully_qualified_domain_name(req_str(props, Kind::FQDN)?)
        .set_port(int_prop(props, Kind::PORT)?)
        .set_resource_path(opt_str(props, Kind::RESOURCE_PATH).map(str::to_string))
        .set_request_interval(int_prop(props, Kind::REQUEST_INTERVAL)?)
        .set_failure_threshold(int_prop(props, Kind::FAILURE_THRESHOLD)?)
        .build()
        .map_err(|e| ProviderError::fatal(format!("health check configuration: {e}")))
}

/// `live[name]` becomes the desired value when the two mean the same: `same(desired, live)`.
fn take_if(desired: &Props, live: &mut Props, name: &str, same: impl Fn(&Value, &Value) -> bool) {
    if let (Some(want), Some(have)) = (desired.get(name), live.get(name)) {
        if !want.has_unknown() && want != have && same(want, have) {
            live.insert(name.to_string(), want.clone());
        }
    }
}

impl HealthCheck {
    fn tagging(&self) -> Tagging<'_> {
        Tagging { client: &self.0, kind: TagResourceType::Healthcheck }
    }

    /// The current HealthCheckVersion (GetHealthCheck), which UpdateHealthCheck must name.
    async fn version(&self, id: &str) -> Result<i64, ProviderError> {
        let out = self.0.get_health_check().health_check_id(id).send().await;
        let out = out.map_err(|e| retry_not_found(classify(aws_error("GetHealthCheck", e))))?;
        let check =
            out.health_check().ok_or_else(|| ProviderError::fatal("GetHealthCheck returned no check"))?;
        Ok(check.health_check_version())
    }

    /// Makes the configuration changes of an update in one UpdateHealthCheck, at the
    /// version read just before (another change meanwhile: HealthCheckVersionMismatch,
    /// retried with the new version).
    async fn update_config(&self, req: &UpdateRequest<'_>) -> Result<(), ProviderError> {
        let (mut fqdn, mut port, mut path, mut reset, mut threshold) = (None, None, None, None, None);
        for c in req.changes.iter().filter(|c| c.name != Kind::TAGS) {
            match c.name.as_str() {
                Kind::FQDN => fqdn = Some(req_str(req.desired, Kind::FQDN)?.to_string()),
                Kind::PORT => port = int_prop(req.desired, Kind::PORT)?,
                Kind::RESOURCE_PATH => match opt_str(req.desired, Kind::RESOURCE_PATH) {
                    Some(p) => path = Some(p.to_string()),
                    None => reset = Some(vec![ResettableElementName::ResourcePath]),
                },
                Kind::FAILURE_THRESHOLD => threshold = int_prop(req.desired, Kind::FAILURE_THRESHOLD)?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "route53.health_check cannot update `{other}` in place"
                    )))
                }
            }
        }
        let version = self.version(req.id).await?;
        self.0
            .update_health_check()
            .health_check_id(req.id)
            .health_check_version(version)
            .set_fully_qualified_domain_name(fqdn)
            .set_port(port)
            .set_resource_path(path)
            .set_reset_elements(reset)
            .set_failure_threshold(threshold)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                retry_codes(
                    retry_not_found(classify(aws_error("UpdateHealthCheck", e))),
                    &["HealthCheckVersionMismatch"],
                )
            })
    }
}

#[async_trait]
impl Provider for HealthCheck {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// The domain name compared without case and trailing dot; an unset port, request
    /// interval, failure threshold or path for Route 53's default (80/443 by type, 30, 3,
    /// no path or `/`).
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let dns = |a: &Value, b: &Value| match (a, b) {
            (Value::Str(a), Value::Str(b)) => dns_name(a) == dns_name(b),
            _ => false,
        };
        take_if(desired, live, Kind::FQDN, dns);
        let check_type = opt_str(desired, Kind::CHECK_TYPE).map(str::to_string);
        let defaults = [
            (Kind::PORT, default_port(check_type.as_deref())),
            (Kind::REQUEST_INTERVAL, Some(DEFAULT_INTERVAL)),
            (Kind::FAILURE_THRESHOLD, Some(DEFAULT_THRESHOLD)),
        ];
        for (name, default) in defaults {
            take_if(desired, live, name, |want, have| *want == Value::Null && have.as_int() == default);
        }
        take_if(desired, live, Kind::RESOURCE_PATH, |want, have| {
            *want == Value::Null && matches!(have, Value::Str(p) if p == "/")
        });
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let refs: Vec<(&ReadTarget, String)> =
            targets.iter().map(|t| (t, target_reference(ctx, t))).collect();
        let checks: Vec<_> = self
            .0
            .list_health_checks()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(aws_error("ListHealthChecks", e)))?;
        let candidates: Vec<_> = checks
            .into_iter()
            .filter(|c| {
                c.caller_reference().starts_with(CALLER_PREFIX)
                    || targets.iter().any(|t| t.id.as_deref() == Some(c.id()))
            })
            .collect();
        let ids: Vec<String> = candidates.iter().map(|c| c.id().to_string()).collect();
        let tags = tags_of(&self.0, TagResourceType::Healthcheck, &ids).await?;
        let mut out = Vec::new();
        for c in &candidates {
            let ctags = tags.get(c.id()).cloned().unwrap_or_default();
            let Some((owned, address)) =
                ownership(&ctx.stack, &ctags, c.id(), c.caller_reference(), &refs, None)
            else {
                continue;
            };
            let props = check_props(c, &ctags);
            out.push(LiveObject { id: c.id().to_string(), address, props, outputs: BTreeMap::new(), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        // The same caller reference and configuration answer the check an earlier attempt
        // of this create made.
        let created = self
            .0
            .create_health_check()
            .caller_reference(caller_reference(ctx, address, props))
            .health_check_config(config_of(props)?)
            .send()
            .await
            .map_err(|e| classify(aws_error("CreateHealthCheck", e)))?;
        let id = created.health_check().map(|c| c.id().to_string());
        let id = id.ok_or_else(|| ProviderError::fatal("CreateHealthCheck returned no health check"))?;
        self.tagging().apply_tags(&id, TagChanges::to_desired(&BTreeMap::new(), props)).await?;
        Ok(Applied { id, outputs: BTreeMap::new() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        if req.changes.iter().any(|c| c.name != Kind::TAGS) {
            self.update_config(&req).await?;
        }
        if let Some(c) = req.changes.iter().find(|c| c.name == Kind::TAGS) {
            self.tagging().sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: BTreeMap::new() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let out = self.0.delete_health_check().health_check_id(id).send().await;
        // In use: a record naming it is being deleted (records go first).
        ignore_not_found(
            out.map(drop)
                .map_err(|e| retry_codes(classify(aws_error("DeleteHealthCheck", e)), &["HealthCheckInUse"])),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, Value)]) -> Props {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn unset_settings_are_route53s_defaults_and_the_domain_name_folds() {
        let p = HealthCheck(Client::from_conf(
            aws_sdk_route53::Config::builder().behavior_version_latest().build(),
        ));
        let desired = props(&[
            (Kind::CHECK_TYPE, Value::str("HTTPS")),
            (Kind::FQDN, Value::str("My-Alb.example.com")),
            (Kind::PORT, Value::Null),
            (Kind::RESOURCE_PATH, Value::Null),
            (Kind::REQUEST_INTERVAL, Value::Null),
            (Kind::FAILURE_THRESHOLD, Value::Null),
        ]);
        let live = props(&[
            (Kind::CHECK_TYPE, Value::str("HTTPS")),
            (Kind::FQDN, Value::str("my-alb.example.com.")),
            (Kind::PORT, Value::Int(443)),
            (Kind::RESOURCE_PATH, Value::str("/")),
            (Kind::REQUEST_INTERVAL, Value::Int(30)),
            (Kind::FAILURE_THRESHOLD, Value::Int(3)),
        ]);
        assert_eq!(p.diff(&desired, &live), vec![]);
        // Another value than the default is a change.
        let mut other = live.clone();
        other.insert(Kind::PORT.to_string(), Value::Int(8443));
        other.insert(Kind::FQDN.to_string(), Value::str("other.example.com"));
        let names: Vec<String> = p.diff(&desired, &other).into_iter().map(|c| c.name).collect();
        assert_eq!(names, [Kind::FQDN, Kind::PORT]);
        // HTTP's default port is 80.
        let mut http = desired.clone();
        http.insert(Kind::CHECK_TYPE.to_string(), Value::str("HTTP"));
        let mut live80 = live.clone();
        live80.insert(Kind::CHECK_TYPE.to_string(), Value::str("HTTP"));
        live80.insert(Kind::PORT.to_string(), Value::Int(80));
        assert_eq!(p.diff(&http, &live80), vec![]);
    }

    #[test]
    fn only_http_and_https_checks() {
        let p = props(&[(Kind::CHECK_TYPE, Value::str("TCP")), (Kind::FQDN, Value::str("a.example.com"))]);
        assert!(config_of(&p).unwrap_err().message().contains("HTTP or HTTPS"));
    }
}
