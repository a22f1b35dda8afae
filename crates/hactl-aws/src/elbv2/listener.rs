//! `elbv2.listener`: a listener of a load balancer with one default action (forward to a
//! target group, redirect, or a fixed response), and for HTTPS its certificate and TLS
//! policy.
//!
//! `default_action` is a map in one of these shapes (wire type `fixed-response` is
//! written `fixed_response`):
//! `{"type":"forward","target_group_arn":ARN}`,
//! `{"type":"forward","target_groups":[{"arn":ARN,"weight":N},...]}` (weighted; a rule whose
//! weights ECS shifts in a blue/green deployment says `"weights":"ecs"`, not sent),
//! `{"type":"redirect","protocol":"HTTPS","port":"443","status_code":"HTTP_301"}` (plus
//! `host`, `path`, `query`: read reports them as AWS does, and `normalize` hides AWS's
//! pass-through defaults where the desired action leaves them out),
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
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, TargetGroupTuple,
};
use aws_sdk_elasticloadbalancingv2::Client;
use hactl_core::kinds::elbv2::Listener as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

type Lsn = aws_sdk_elasticloadbalancingv2::types::Listener;

pub struct Listener(pub Client);

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
pub(super) fn action_of(v: Option<&Value>) -> Result<Action, ProviderError> {
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
        "forward" => match m.get("target_groups").and_then(Value::as_list) {
            // Weighted: `target_groups` = [{arn, weight}, ...] (`weights` may say who
            // owns the weights; it is not sent).
            Some(groups) => {
                let tuples = groups
                    .iter()
                    .map(|g| {
                        let g = g
                            .as_map()
                            .ok_or_else(|| ProviderError::fatal("a weighted target group is not a map"))?;
                        let arn = g
                            .get("arn")
                            .and_then(Value::as_str)
                            .ok_or_else(|| ProviderError::fatal("a weighted target group needs `arn`"))?;
                        let weight =
                            g.get("weight").and_then(Value::as_int).and_then(|w| i32::try_from(w).ok());
                        Ok(TargetGroupTuple::builder().target_group_arn(arn).set_weight(weight).build())
                    })
                    .collect::<Result<Vec<_>, ProviderError>>()?;
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(ForwardActionConfig::builder().set_target_groups(Some(tuples)).build())
            }
            None => {
                Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(need("target_group_arn")?)
            }
        },
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
pub(super) fn action_value(actions: &[Action]) -> Value {
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
            let weighted: Vec<(&str, Option<i32>)> = match a.forward_config() {
                Some(f) if !f.target_groups().is_empty() => f
                    .target_groups()
                    .iter()
                    .filter_map(|g| Some((g.target_group_arn()?, g.weight())))
                    .collect(),
                _ => a.target_group_arn().into_iter().map(|arn| (arn, None)).collect(),
            };
            match weighted.as_slice() {
                [(one, _)] => put("target_group_arn", Some(one)),
                several => {
                    let groups = several
                        .iter()
                        .map(|(arn, weight)| {
                            Value::Map(BTreeMap::from([
                                ("arn".to_string(), Value::str(*arn)),
                                ("weight".to_string(), weight.map_or(Value::Null, |w| Value::Int(w.into()))),
                            ]))
                        })
                        .collect();
                    m.insert("target_groups".to_string(), Value::List(groups));
                }
            }
        }
        Some(ActionTypeEnum::Redirect) => {
            if let Some(r) = a.redirect_config() {
                put("protocol", r.protocol());
                put("port", r.port());
                put("status_code", r.status_code().map(|c| c.as_str()));
                put("host", r.host());
                put("path", r.path());
                put("query", r.query());
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

/// Removes from a live redirect action the fields that hold AWS's pass-through default
/// and that the desired action (`desired`, its map) does not name.
pub(super) fn hide_redirect_defaults(
    action: &mut BTreeMap<String, Value>,
    desired: Option<&BTreeMap<String, Value>>,
) {
    if action.get("type").and_then(Value::as_str) != Some("redirect") {
        return;
    }
    for (field, default) in REDIRECT_DEFAULTS {
        let named = desired.is_some_and(|d| d.contains_key(field));
        if !named && action.get(field).and_then(Value::as_str) == Some(default) {
            action.remove(field);
        }
    }
}

fn is_https(props: &Props) -> bool {
    opt_str(props, Kind::PROTOCOL) == Some("HTTPS")
}

/// The certificate, for HTTPS only.
fn certificate(props: &Props) -> Option<Certificate> {
    is_https(props)
        .then(|| opt_str(props, Kind::CERTIFICATE_ARN))
        .flatten()
        .map(|c| Certificate::builder().certificate_arn(c).build())
}

/// The TLS policy, for HTTPS only.
fn ssl_policy(props: &Props) -> Option<String> {
    is_https(props).then(|| opt_str(props, Kind::SSL_POLICY).map(str::to_string)).flatten()
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
            .set_port(opt_i32(props, Kind::PORT))
            .protocol(ProtocolEnum::from(req_str(props, Kind::PROTOCOL)?))
            .set_certificates(certificate(props).map(|c| vec![c]))
            .set_ssl_policy(ssl_policy(props))
            .default_actions(action_of(props.get(Kind::DEFAULT_ACTION))?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyListener", e)))
    }
}

#[async_trait]
impl Provider for Listener {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// A TLS policy the desired side leaves Null is AWS's default, whichever policy AWS
    /// chose; redirect fields the desired action leaves out are AWS's pass-through defaults.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        if matches!(desired.get(Kind::SSL_POLICY), None | Some(Value::Null)) {
            live.insert(Kind::SSL_POLICY.to_string(), Value::Null);
        }
        let wanted = desired.get(Kind::DEFAULT_ACTION);
        if wanted.is_some_and(Value::has_unknown) {
            return;
        }
        if let Some(Value::Map(action)) = live.get_mut(Kind::DEFAULT_ACTION) {
            hide_redirect_defaults(action, wanted.and_then(Value::as_map));
        }
    }

    /// Read keys: listeners are found by their load balancer: the target groups of their actions are not waited for.
    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::LOAD_BALANCER_ARN])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let wanted = target_ids(targets);
        let lbs: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| opt_str(&t.props, Kind::LOAD_BALANCER_ARN).map(str::to_string))
            .chain(wanted.iter().filter_map(|id| load_balancer_of(id)))
            .collect();
        let mut listeners = Vec::new();
        for lb in &lbs {
            listeners.extend(self.of_load_balancer(lb).await?);
        }
        let arns: Vec<String> =
            listeners.iter().filter_map(|l| l.listener_arn().map(str::to_string)).collect();
        let tags = describe_tags(&self.0, &arns).await?;
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
            let certificate = l
                .certificates()
                .iter()
                .find(|c| c.is_default() == Some(true))
                .or_else(|| l.certificates().first())
                .and_then(|c| c.certificate_arn());
            let opt = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
            let props = Props::from([
                (Kind::LOAD_BALANCER_ARN.to_string(), Value::str(l.load_balancer_arn().unwrap_or_default())),
                (Kind::PORT.to_string(), l.port().map(Value::from).unwrap_or(Value::Null)),
                (Kind::PROTOCOL.to_string(), Value::str(protocol)),
                (Kind::CERTIFICATE_ARN.to_string(), if https { opt(certificate) } else { Value::Null }),
                (Kind::SSL_POLICY.to_string(), if https { opt(l.ssl_policy()) } else { Value::Null }),
                (Kind::DEFAULT_ACTION.to_string(), action_value(l.default_actions())),
                (Kind::TAGS.to_string(), tags_prop(l_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: arn.to_string(), address, props, outputs: outputs(arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let lb = req_str(props, Kind::LOAD_BALANCER_ARN)?;
        let port = opt_i32(props, Kind::PORT);
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
            self.0.sync_tags(&arn, None, props.get(Kind::TAGS)).await?;
            return Ok(Applied { outputs: outputs(&arn), id: arn });
        }
        let out = self
            .0
            .create_listener()
            .load_balancer_arn(lb)
            .set_port(port)
            .protocol(ProtocolEnum::from(req_str(props, Kind::PROTOCOL)?))
            .set_certificates(certificate(props).map(|c| vec![c]))
            .set_ssl_policy(ssl_policy(props))
            .default_actions(action_of(props.get(Kind::DEFAULT_ACTION))?)
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
                Kind::PORT
                | Kind::PROTOCOL
                | Kind::CERTIFICATE_ARN
                | Kind::SSL_POLICY
                | Kind::DEFAULT_ACTION => modify = true,
                Kind::TAGS => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::config::{BehaviorVersion, Config};

    fn provider() -> Listener {
        Listener(Client::from_conf(Config::builder().behavior_version(BehaviorVersion::latest()).build()))
    }

    fn one(name: &str, v: Value) -> Props {
        Props::from([(name.to_string(), v)])
    }

    /// A redirect to HTTPS with `extra` fields.
    fn redirect(extra: &[(&str, &str)]) -> Value {
        let base =
            [("type", "redirect"), ("protocol", "HTTPS"), ("port", "443"), ("status_code", "HTTP_301")];
        Value::Map(base.iter().chain(extra).map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
    }

    #[test]
    fn a_redirect_reads_every_field_aws_reports() {
        let config = RedirectActionConfig::builder()
            .protocol("HTTPS")
            .port("443")
            .host("#{host}")
            .path("/#{path}")
            .query("#{query}")
            .status_code(RedirectActionStatusCodeEnum::Http301)
            .build();
        let a = Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(config).build();
        assert_eq!(action_value(&[a]), redirect(&REDIRECT_DEFAULTS));
    }

    #[test]
    fn a_null_tls_policy_accepts_the_policy_aws_chose() {
        let p = provider();
        let live = one(Kind::SSL_POLICY, Value::str("ELBSecurityPolicy-2016-08"));
        assert_eq!(p.diff(&one(Kind::SSL_POLICY, Value::Null), &live), vec![]);
        let changes =
            p.diff(&one(Kind::SSL_POLICY, Value::str("ELBSecurityPolicy-TLS13-1-2-2021-06")), &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before, Some(Value::str("ELBSecurityPolicy-2016-08")), "the live policy");
        let mut unknown = live.clone();
        p.normalize(&one(Kind::SSL_POLICY, Value::Unknown), &mut unknown);
        assert_eq!(unknown, live, "a policy known after apply leaves the live one alone");
    }

    #[test]
    fn redirect_defaults_count_as_unset_unless_the_desired_action_names_them() {
        let p = provider();
        let live = one(Kind::DEFAULT_ACTION, redirect(&REDIRECT_DEFAULTS));
        let desired = one(Kind::DEFAULT_ACTION, redirect(&[]));
        assert_eq!(p.diff(&desired, &live), vec![]);
        let explicit = one(Kind::DEFAULT_ACTION, redirect(&REDIRECT_DEFAULTS[..1]));
        assert_eq!(p.diff(&explicit, &live), vec![], "a default named in the config is compared as is");

        // Another host is drift, shown without the defaults around it.
        let moved = redirect(&[("host", "example.com"), ("path", "/#{path}")]);
        let changes = p.diff(&desired, &one(Kind::DEFAULT_ACTION, moved));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before, Some(redirect(&[("host", "example.com")])));

        // Other actions, and an action known after apply, are left alone.
        let fixed = Value::Map(
            [("type", "fixed_response"), ("status_code", "404"), ("host", "#{host}")]
                .iter()
                .map(|(k, v)| (k.to_string(), Value::str(*v)))
                .collect(),
        );
        let mut live_fixed = one(Kind::DEFAULT_ACTION, fixed.clone());
        p.normalize(&desired, &mut live_fixed);
        assert_eq!(live_fixed.get(Kind::DEFAULT_ACTION), Some(&fixed));
        let mut untouched = live.clone();
        p.normalize(&one(Kind::DEFAULT_ACTION, Value::Unknown), &mut untouched);
        assert_eq!(untouched.get(Kind::DEFAULT_ACTION), live.get(Kind::DEFAULT_ACTION));
    }
}
