//! `elbv2.listener`: a listener of a load balancer with one default action (forward to a
//! target group, redirect, or a fixed response), and for HTTPS its certificate and TLS
//! policy.
//!
//! `default_action` is a map in one of these shapes (wire type `fixed-response` is
//! written `fixed_response`):
//! `{"type":"forward","target_group_arn":ARN}`,
//! `{"type":"redirect","protocol":"HTTPS","port":"443","status_code":"HTTP_301"}` (plus
//! `host`, `path`, `query` when they are not AWS's pass-through defaults),
//! `{"type":"fixed_response","status_code":"404","content_type":"text/plain","message_body":"not found"}`.
//! Any other live action (several actions, authentication) reads as a map that differs,
//! so it shows as drift and the update puts the desired action back.
//!
//! Read: DescribeListeners per load balancer (those of the targets and of the recorded
//! listener ARNs) + DescribeTags. Create looks for a listener on the same port first (the
//! emulator makes a second one; AWS fails when a setting differs): ours is adopted and
//! converged, another one is an error. Update sends the whole desired listener in one
//! ModifyListener.

use super::{describe_tags, tags_of, target_ids};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_i32, opt_str, owner_of, req_str, tags_prop};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

type Lsn = aws_sdk_elasticloadbalancingv2::types::Listener;

pub struct Listener(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "elbv2.listener",
    props: &[
        PropSchema::replace("load_balancer_arn"),
        PropSchema::in_place("port"),
        PropSchema::in_place("protocol"),
        PropSchema::in_place("certificate_arn"),
        PropSchema::in_place("ssl_policy"),
        PropSchema::in_place("default_action"),
        PropSchema::in_place("tags"),
    ],
};

/// Redirect fields whose value AWS fills in when they are not given (keep the request's).
const REDIRECT_DEFAULTS: [(&str, &str); 3] =
    [("host", "#{host}"), ("path", "/#{path}"), ("query", "#{query}")];

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn))])
}

/// The load balancer ARN a listener ARN belongs to:
/// `...:listener/app/<name>/<lb-id>/<id>` → `...:loadbalancer/app/<name>/<lb-id>`.
fn load_balancer_of(listener_arn: &str) -> Option<String> {
    let (lb, _) = listener_arn.rsplit_once('/')?;
    lb.contains(":listener/").then(|| lb.replacen(":listener/", ":loadbalancer/", 1))
}

/// The desired `default_action` map as an SDK action.
fn action_of(v: Option<&Value>) -> Result<Action, ProviderError> {
    let m = v
        .and_then(Value::as_map)
        .ok_or_else(|| ProviderError::fatal("property `default_action` is missing or not a map"))?;
    let s = |k: &str| match m.get(k) {
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Int(i)) => Some(i.to_string()),
        _ => None,
    };
    let need = |k: &str| s(k).ok_or_else(|| ProviderError::fatal(format!("`default_action` needs `{k}`")));
    let kind = need("type")?;
    let action = match kind.as_str() {
        "forward" => {
            Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(need("target_group_arn")?)
        }
        "redirect" => Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(
            RedirectActionConfig::builder()
                .set_protocol(s("protocol"))
                .set_port(s("port"))
                .set_host(s("host"))
                .set_path(s("path"))
                .set_query(s("query"))
                .status_code(RedirectActionStatusCodeEnum::from(
                    s("status_code").as_deref().unwrap_or("HTTP_301"),
                ))
                .build(),
        ),
        "fixed_response" => Action::builder().r#type(ActionTypeEnum::FixedResponse).fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code(need("status_code")?)
                .set_content_type(s("content_type"))
                .set_message_body(s("message_body"))
                .build(),
        ),
        other => {
            return Err(ProviderError::fatal(format!(
                "`default_action` type `{other}` is not supported (forward, redirect, fixed_response)"
            )))
        }
    };
    Ok(action.build())
}

/// The live default actions in the shape of the desired `default_action` map.
fn action_value(actions: &[Action]) -> Value {
    let type_name = |a: &Action| a.r#type().map(|t| t.as_str().replace('-', "_")).unwrap_or_default();
    let [a] = actions else {
        // None, or several (e.g. authenticate + forward): nothing hactl writes.
        let types: Vec<String> = actions.iter().map(type_name).collect();
        return Value::Map(BTreeMap::from([("type".to_string(), Value::str(types.join("+")))]));
    };
    let mut m = BTreeMap::from([("type".to_string(), Value::str(type_name(a)))]);
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.to_string(), Value::str(v));
        }
    };
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => {
            let groups: Vec<&str> = match a.forward_config() {
                Some(f) if !f.target_groups().is_empty() => {
                    f.target_groups().iter().filter_map(|g| g.target_group_arn()).collect()
                }
                _ => a.target_group_arn().into_iter().collect(),
            };
            match groups.as_slice() {
                [one] => put("target_group_arn", Some(one)),
                several => {
                    m.insert("target_groups".to_string(), Value::from_strings(several.iter().copied()));
                }
            }
        }
        Some(ActionTypeEnum::Redirect) => {
            if let Some(r) = a.redirect_config() {
                put("protocol", r.protocol());
                put("port", r.port());
                put("status_code", r.status_code().map(|c| c.as_str()));
                for (k, v) in [("host", r.host()), ("path", r.path()), ("query", r.query())] {
                    let default = REDIRECT_DEFAULTS.iter().find(|(d, _)| *d == k).map(|(_, v)| *v);
                    if v.is_some() && v != default {
                        put(k, v);
                    }
                }
            }
        }
        Some(ActionTypeEnum::FixedResponse) => {
            if let Some(f) = a.fixed_response_config() {
                put("status_code", f.status_code());
                put("content_type", f.content_type());
                put("message_body", f.message_body());
            }
        }
        _ => {}
    }
    Value::Map(m)
}

fn is_https(props: &Props) -> bool {
    opt_str(props, "protocol") == Some("HTTPS")
}

/// The certificate, for HTTPS only.
fn certificate(props: &Props) -> Option<Certificate> {
    is_https(props)
        .then(|| opt_str(props, "certificate_arn"))
        .flatten()
        .map(|c| Certificate::builder().certificate_arn(c).build())
}

/// The TLS policy, for HTTPS only.
fn ssl_policy(props: &Props) -> Option<String> {
    is_https(props).then(|| opt_str(props, "ssl_policy").map(str::to_string)).flatten()
}

impl Listener {
    /// Every listener of the load balancer; none when the load balancer is gone.
    async fn of_load_balancer(&self, lb: &str) -> Result<Vec<Lsn>, ProviderError> {
        let r = self
            .0
            .describe_listeners()
            .load_balancer_arn(lb)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeListeners", e));
        match r {
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    /// Makes the live listener exactly the desired one (one ModifyListener).
    async fn modify(&self, arn: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .modify_listener()
            .listener_arn(arn)
            .set_port(opt_i32(props, "port"))
            .protocol(ProtocolEnum::from(req_str(props, "protocol")?))
            .set_certificates(certificate(props).map(|c| vec![c]))
            .set_ssl_policy(ssl_policy(props))
            .default_actions(action_of(props.get("default_action"))?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyListener", e)))
    }
}

#[async_trait]
impl Provider for Listener {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let wanted = target_ids(targets);
        let lbs: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| opt_str(&t.props, "load_balancer_arn").map(str::to_string))
            .chain(wanted.iter().filter_map(|id| load_balancer_of(id)))
            .collect();
        let mut listeners = Vec::new();
        for lb in &lbs {
            listeners.extend(self.of_load_balancer(lb).await?);
        }
        let arns: Vec<String> =
            listeners.iter().filter_map(|l| l.listener_arn().map(str::to_string)).collect();
        let tags = describe_tags(&self.0, &arns).await?;
        // A target that wants no TLS policy (AWS's default) does not compare it.
        let target_of = |arn: &str, address: Option<&Address>| {
            targets.iter().find(|t| t.id.as_deref() == Some(arn) || Some(&t.address) == address)
        };
        let mut out = Vec::new();
        for l in &listeners {
            let Some(arn) = l.listener_arn() else { continue };
            let l_tags = tags.get(arn).cloned().unwrap_or_default();
            let (owned, address) = owner_of(&ctx.stack, &l_tags);
            if !owned && !wanted.contains(arn) {
                continue;
            }
            let protocol = l.protocol().map(|p| p.as_str()).unwrap_or_default();
            let https = protocol == "HTTPS";
            let policy_wanted = target_of(arn, address.as_ref())
                .is_none_or(|t| !matches!(t.props.get("ssl_policy"), None | Some(Value::Null)));
            let certificate = l
                .certificates()
                .iter()
                .find(|c| c.is_default() == Some(true))
                .or_else(|| l.certificates().first())
                .and_then(|c| c.certificate_arn());
            let opt = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
            let props = Props::from([
                ("load_balancer_arn".to_string(), Value::str(l.load_balancer_arn().unwrap_or_default())),
                ("port".to_string(), l.port().map(Value::from).unwrap_or(Value::Null)),
                ("protocol".to_string(), Value::str(protocol)),
                ("certificate_arn".to_string(), if https { opt(certificate) } else { Value::Null }),
                (
                    "ssl_policy".to_string(),
                    if https && policy_wanted { opt(l.ssl_policy()) } else { Value::Null },
                ),
                ("default_action".to_string(), action_value(l.default_actions())),
                ("tags".to_string(), tags_prop(l_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: arn.to_string(), address, props, outputs: outputs(arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let lb = req_str(props, "load_balancer_arn")?;
        let port = opt_i32(props, "port");
        // A listener already on that port: ours (a create retried after a crash) is
        // converged, another one is an error.
        let existing = self.of_load_balancer(lb).await?;
        if let Some(l) = existing.iter().find(|l| l.port() == port) {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let tags = describe_tags(&self.0, std::slice::from_ref(&arn)).await?;
            let (owned, tagged) = owner_of(&ctx.stack, &tags.get(&arn).cloned().unwrap_or_default());
            if !(owned && tagged.as_ref() == Some(address)) {
                return Err(ProviderError::fatal(format!(
                    "port {} of load balancer {lb} already has a listener ({arn}) that is not {address} of stack `{}`",
                    port.unwrap_or_default(),
                    ctx.stack
                )));
            }
            ctx.progress(format!("adopting existing listener {arn}"));
            self.modify(&arn, props).await?;
            self.0.sync_tags(&arn, None, props.get("tags")).await?;
            return Ok(Applied { outputs: outputs(&arn), id: arn });
        }
        let out = self
            .0
            .create_listener()
            .load_balancer_arn(lb)
            .set_port(port)
            .protocol(ProtocolEnum::from(req_str(props, "protocol")?))
            .set_certificates(certificate(props).map(|c| vec![c]))
            .set_ssl_policy(ssl_policy(props))
            .default_actions(action_of(props.get("default_action"))?)
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateListener", e)))?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| ProviderError::fatal("CreateListener returned no listener"))?
            .to_string();
        Ok(Applied { outputs: outputs(&arn), id: arn })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut modify = false;
        for c in req.changes {
            match c.name.as_str() {
                "port" | "protocol" | "certificate_arn" | "ssl_policy" | "default_action" => modify = true,
                "tags" => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "elbv2.listener cannot update `{other}` in place"
                    )))
                }
            }
        }
        if modify {
            self.modify(req.id, req.desired).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // A listener of a deleted load balancer is gone with it (LoadBalancerNotFound).
        ignore_not_found(
            self.0
                .delete_listener()
                .listener_arn(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteListener", e)),
        )
    }
}
