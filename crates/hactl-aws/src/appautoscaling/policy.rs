//! `appautoscaling.policy`: a target-tracking scaling policy of an ECS service (CPU,
//! memory or ALB requests per target). id = policy ARN. Untagged: found by name and
//! resource id among the targets. PutScalingPolicy is an upsert, so create and update are
//! the same call (the emulator gives an updated policy a new ARN: the id follows it).

use super::is_gone;
use crate::error::{aws_error, retry_not_found};
use crate::util::{int_prop, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalingPolicy,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling::Client;
use hactl_core::kinds::appautoscaling::Policy as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Policy(pub Client);

/// DescribeScalingPolicies takes at most 50 policy names per call.
const NAMES_PER_CALL: usize = 50;
const DEFAULT_NAMESPACE: &str = "ecs";
const DEFAULT_DIMENSION: &str = "ecs:service:DesiredCount";

fn arn_output(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn))])
}

/// (namespace, resource id, policy name) from a policy ARN
/// (`arn:aws:autoscaling:R:A:scalingPolicy:ID:resource/ecs/service/C/S:policyName/NAME`).
fn parse_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let (_, rest) = arn.split_once(":resource/")?;
    let (resource, name) = rest.rsplit_once(":policyName/")?;
    let (ns, rid) = resource.split_once('/')?;
    Some((ns, rid, name))
}

fn live_props(p: &ScalingPolicy) -> Props {
    let ttc = p.target_tracking_scaling_policy_configuration();
    let spec = ttc.and_then(|c| c.predefined_metric_specification());
    let int = |v: Option<i32>| v.map(|i| Value::Int(i.into())).unwrap_or(Value::Null);
    Props::from([
        (Kind::NAME.to_string(), Value::str(p.policy_name())),
        (Kind::SERVICE_NAMESPACE.to_string(), Value::str(p.service_namespace().as_str())),
        (Kind::RESOURCE_ID.to_string(), Value::str(p.resource_id())),
        (Kind::SCALABLE_DIMENSION.to_string(), Value::str(p.scalable_dimension().as_str())),
        (
            Kind::PREDEFINED_METRIC.to_string(),
            spec.map(|s| Value::str(s.predefined_metric_type().as_str())).unwrap_or(Value::Null),
        ),
        (Kind::TARGET_VALUE.to_string(), ttc.map(|c| Value::Float(c.target_value())).unwrap_or(Value::Null)),
        (Kind::SCALE_IN_COOLDOWN.to_string(), int(ttc.and_then(|c| c.scale_in_cooldown()))),
        (Kind::SCALE_OUT_COOLDOWN.to_string(), int(ttc.and_then(|c| c.scale_out_cooldown()))),
        (
            Kind::RESOURCE_LABEL.to_string(),
            spec.and_then(|s| s.resource_label())
                .filter(|l| !l.is_empty())
                .map(Value::str)
                .unwrap_or(Value::Null),
        ),
    ])
}

impl Policy {
    async fn put(&self, props: &Props) -> Result<String, ProviderError> {
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::from(req_str(props, Kind::PREDEFINED_METRIC)?))
            .set_resource_label(opt_str(props, Kind::RESOURCE_LABEL).map(str::to_string))
            .build()
            .map_err(|e| ProviderError::fatal(format!("predefined metric: {e}")))?;
        let target_value = props
            .get(Kind::TARGET_VALUE)
            .and_then(Value::as_f64)
            .ok_or_else(|| ProviderError::fatal("property `target_value` is missing or not a number"))?;
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(target_value)
            .predefined_metric_specification(metric)
            .set_scale_in_cooldown(int_prop(props, Kind::SCALE_IN_COOLDOWN)?)
            .set_scale_out_cooldown(int_prop(props, Kind::SCALE_OUT_COOLDOWN)?)
            .build()
            .map_err(|e| ProviderError::fatal(format!("target tracking configuration: {e}")))?;
        let out = self
            .0
            .put_scaling_policy()
            .policy_name(req_str(props, Kind::NAME)?)
            .service_namespace(ServiceNamespace::from(req_str(props, Kind::SERVICE_NAMESPACE)?))
            .resource_id(req_str(props, Kind::RESOURCE_ID)?)
            .scalable_dimension(ScalableDimension::from(req_str(props, Kind::SCALABLE_DIMENSION)?))
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            // The scalable target was just registered and is not visible yet.
            .map_err(|e| retry_not_found(aws_error("PutScalingPolicy", e)))?;
        Ok(out.policy_arn().to_string())
    }
}

#[async_trait]
impl Provider for Policy {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // Policy names to look up, per namespace.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in targets {
            let arn_parts = t.id.as_deref().and_then(parse_arn);
            let ns = opt_str(&t.props, Kind::SERVICE_NAMESPACE)
                .or(arn_parts.map(|(ns, _, _)| ns))
                .unwrap_or(DEFAULT_NAMESPACE);
            let names = wanted.entry(ns.to_string()).or_default();
            names.extend(opt_str(&t.props, Kind::NAME).map(str::to_string));
            names.extend(arn_parts.map(|(_, _, n)| n.to_string()));
        }
        let mut live: Vec<ScalingPolicy> = Vec::new();
        for (ns, names) in &wanted {
            let names: Vec<String> = names.iter().cloned().collect();
            for chunk in names.chunks(NAMES_PER_CALL) {
                let found: Vec<ScalingPolicy> = self
                    .0
                    .describe_scaling_policies()
                    .service_namespace(ServiceNamespace::from(ns.as_str()))
                    .set_policy_names(Some(chunk.to_vec()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| aws_error("DescribeScalingPolicies", e))?;
                live.extend(found);
            }
        }
        // Keep the policies of the targets (the emulator ignores PolicyNames and answers
        // every policy of the namespace).
        Ok(live
            .iter()
            .filter_map(|p| {
                let target =
                    targets.iter().find(|t| t.id.as_deref() == Some(p.policy_arn())).or_else(|| {
                        targets.iter().find(|t| {
                            opt_str(&t.props, Kind::NAME) == Some(p.policy_name())
                                && opt_str(&t.props, Kind::RESOURCE_ID) == Some(p.resource_id())
                        })
                    })?;
                Some(LiveObject {
                    id: p.policy_arn().to_string(),
                    address: Some(target.address.clone()),
                    props: live_props(p),
                    outputs: arn_output(p.policy_arn()),
                    // Untagged: it belongs to the stack through the target it matches.
                    owned: true,
                })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        // An upsert by name: a retried create converges the same policy.
        let arn = self.put(props).await?;
        Ok(Applied { outputs: arn_output(&arn), id: arn })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            if !matches!(
                c.name.as_str(),
                Kind::PREDEFINED_METRIC
                    | Kind::TARGET_VALUE
                    | Kind::SCALE_IN_COOLDOWN
                    | Kind::SCALE_OUT_COOLDOWN
                    | Kind::RESOURCE_LABEL
            ) {
                return Err(ProviderError::fatal(format!(
                    "appautoscaling.policy cannot update `{}` in place",
                    c.name
                )));
            }
        }
        let arn = self.put(req.desired).await?;
        Ok(Applied { outputs: arn_output(&arn), id: arn })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        // The ARN names the policy; recorded properties are the fallback.
        let (ns, rid, name) = match parse_arn(id) {
            Some(parts) => parts,
            None => (
                opt_str(recorded, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE),
                req_str(recorded, Kind::RESOURCE_ID)?,
                req_str(recorded, Kind::NAME)?,
            ),
        };
        let r = self
            .0
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::from(ns))
            .resource_id(rid)
            .scalable_dimension(ScalableDimension::from(
                opt_str(recorded, Kind::SCALABLE_DIMENSION).unwrap_or(DEFAULT_DIMENSION),
            ))
            .send()
            .await
            .map_err(|e| aws_error("DeleteScalingPolicy", e));
        match r {
            // Already gone, or gone with its scalable target.
            Err(e) if is_gone(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_arn;

    #[test]
    fn policy_arn_parts() {
        let arn = "arn:aws:autoscaling:us-east-1:123:scalingPolicy:ab-cd:resource/ecs/service/c1/web:policyName/s-web-cpu";
        assert_eq!(parse_arn(arn), Some(("ecs", "service/c1/web", "s-web-cpu")));
        assert_eq!(parse_arn("arn:aws:iam::1:role/x"), None);
    }
}
