//! `appautoscaling.target`: the scalable target of an ECS service's desired count
//! (min/max tasks). id = resource id (`service/<cluster>/<service>`). Untagged: found by
//! resource id and dimension among the targets. Min and max set by the service's
//! scheduled actions read as configured (see [`unscheduled`]).

use super::is_gone;
use crate::error::aws_error;
use crate::util::{opt_str, req_str, size_pair, unscheduled};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};
use aws_sdk_applicationautoscaling::Client;
use hactl_core::kinds::appautoscaling::Target as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Target(pub Client);

/// DescribeScalableTargets takes at most 50 resource ids per call.
const IDS_PER_CALL: usize = 50;
const DEFAULT_NAMESPACE: &str = "ecs";
const DEFAULT_DIMENSION: &str = "ecs:service:DesiredCount";

fn req_i32(props: &Props, name: &str) -> Result<i32, ProviderError> {
    props
        .get(name)
        .and_then(Value::as_int)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not an integer")))
}

fn outputs(arn: Option<&str>) -> BTreeMap<String, Value> {
    arn.map(|a| BTreeMap::from([("arn".to_string(), Value::str(a))])).unwrap_or_default()
}

impl Target {
    /// The {min, max} pairs of the stack's scheduled actions (named `<stack>-...`), by
    /// resource id: one paginated DescribeScheduledActions per namespace.
    async fn scheduled(
        &self,
        stack: &str,
        wanted: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<BTreeMap<String, Value>, ProviderError> {
        let prefix = format!("{stack}-");
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (ns, ids) in wanted {
            let actions: Vec<aws_sdk_applicationautoscaling::types::ScheduledAction> = self
                .0
                .describe_scheduled_actions()
                .service_namespace(ServiceNamespace::from(ns.as_str()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("DescribeScheduledActions", e))?;
            for a in actions
                .iter()
                .filter(|a| ids.contains(a.resource_id()) && a.scheduled_action_name().starts_with(&prefix))
            {
                let t = a.scalable_target_action();
                let pair = size_pair(t.and_then(|t| t.min_capacity()), t.and_then(|t| t.max_capacity()));
                out.entry(a.resource_id().to_string()).or_default().push(pair);
            }
        }
        Ok(out.into_iter().map(|(k, v)| (k, Value::List(v))).collect())
    }

    /// RegisterScalableTarget with the min and/or max of `props` (a size left out keeps
    /// its value: an update of one never undoes the other a schedule set).
    async fn register(&self, props: &Props, min: bool, max: bool) -> Result<Option<String>, ProviderError> {
        let out = self
            .0
            .register_scalable_target()
            .service_namespace(ServiceNamespace::from(req_str(props, Kind::SERVICE_NAMESPACE)?))
            .resource_id(req_str(props, Kind::RESOURCE_ID)?)
            .scalable_dimension(ScalableDimension::from(req_str(props, Kind::SCALABLE_DIMENSION)?))
            .set_min_capacity(if min { Some(req_i32(props, Kind::MIN_CAPACITY)?) } else { None })
            .set_max_capacity(if max { Some(req_i32(props, Kind::MAX_CAPACITY)?) } else { None })
            .send()
            .await
            .map_err(|e| {
                let mut err = aws_error("RegisterScalableTarget", e);
                // The service was just created and is not visible to the scaler yet.
                if err.message().contains("doesn't exist") || err.message().contains("does not exist") {
                    err.make_retryable();
                }
                err
            })?;
        Ok(out.scalable_target_arn().map(str::to_string))
    }
}

#[async_trait]
impl Provider for Target {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// Min and max set by the stack's scheduled actions on the target read as configured.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let (min, max) = unscheduled(
            (
                live.get(Kind::MIN_CAPACITY).cloned().unwrap_or(Value::Null),
                live.get(Kind::MAX_CAPACITY).cloned().unwrap_or(Value::Null),
            ),
            (desired.get(Kind::MIN_CAPACITY), desired.get(Kind::MAX_CAPACITY)),
            live.get(Kind::SCHEDULED_CAPACITIES),
        );
        live.insert(Kind::MIN_CAPACITY.to_string(), min);
        live.insert(Kind::MAX_CAPACITY.to_string(), max);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // Resource ids to look up, per namespace: the desired ones and the recorded ids.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in targets {
            let ns = opt_str(&t.props, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE).to_string();
            let ids = wanted.entry(ns).or_default();
            ids.extend(opt_str(&t.props, Kind::RESOURCE_ID).map(str::to_string));
            ids.extend(t.id.clone());
        }
        let mut live: Vec<ScalableTarget> = Vec::new();
        for (ns, ids) in &wanted {
            let ids: Vec<String> = ids.iter().cloned().collect();
            for chunk in ids.chunks(IDS_PER_CALL) {
                let found: Vec<ScalableTarget> = self
                    .0
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::from(ns.as_str()))
                    .set_resource_ids(Some(chunk.to_vec()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| aws_error("DescribeScalableTargets", e))?;
                live.extend(found);
            }
        }
        let scheduled =
            if live.is_empty() { BTreeMap::new() } else { self.scheduled(&ctx.stack, &wanted).await? };
        Ok(live
            .iter()
            .filter_map(|s| {
                let rid = s.resource_id();
                let dim = s.scalable_dimension().as_str();
                let target = targets.iter().find(|t| t.id.as_deref() == Some(rid)).or_else(|| {
                    targets.iter().find(|t| {
                        opt_str(&t.props, Kind::RESOURCE_ID) == Some(rid)
                            && opt_str(&t.props, Kind::SCALABLE_DIMENSION).unwrap_or(DEFAULT_DIMENSION) == dim
                    })
                })?;
                let props = Props::from([
                    (Kind::SERVICE_NAMESPACE.to_string(), Value::str(s.service_namespace().as_str())),
                    (Kind::RESOURCE_ID.to_string(), Value::str(rid)),
                    (Kind::SCALABLE_DIMENSION.to_string(), Value::str(dim)),
                    (Kind::MIN_CAPACITY.to_string(), Value::Int(s.min_capacity().into())),
                    (Kind::MAX_CAPACITY.to_string(), Value::Int(s.max_capacity().into())),
                    (
                        Kind::SCHEDULED_CAPACITIES.to_string(),
                        scheduled.get(rid).cloned().unwrap_or(Value::Null),
                    ),
                ]);
                Some(LiveObject {
                    id: rid.to_string(),
                    address: Some(target.address.clone()),
                    props,
                    outputs: outputs(s.scalable_target_arn()),
                    // Untagged: it belongs to the stack through the target it matches.
                    owned: true,
                })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        // Registering is an upsert: a retried create converges the same target.
        let arn = self.register(props, true, true).await?;
        Ok(Applied { id: req_str(props, Kind::RESOURCE_ID)?.to_string(), outputs: outputs(arn.as_deref()) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            // The scheduled capacities are the actions' (their own resources): nothing to call.
            if !matches!(
                c.name.as_str(),
                Kind::MIN_CAPACITY | Kind::MAX_CAPACITY | Kind::SCHEDULED_CAPACITIES
            ) {
                return Err(ProviderError::fatal(format!(
                    "appautoscaling.target cannot update `{}` in place",
                    c.name
                )));
            }
        }
        let changed = |k: &str| req.changes.iter().any(|c| c.name == k);
        let (min, max) = (changed(Kind::MIN_CAPACITY), changed(Kind::MAX_CAPACITY));
        let arn = if min || max { self.register(req.desired, min, max).await? } else { None };
        Ok(Applied { id: req.id.to_string(), outputs: outputs(arn.as_deref()) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        // AWS also deletes the target's scaling policies.
        let r = self
            .0
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::from(
                opt_str(recorded, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE),
            ))
            .resource_id(id)
            .scalable_dimension(ScalableDimension::from(
                opt_str(recorded, Kind::SCALABLE_DIMENSION).unwrap_or(DEFAULT_DIMENSION),
            ))
            .send()
            .await
            .map_err(|e| aws_error("DeregisterScalableTarget", e));
        match r {
            Err(e) if is_gone(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
