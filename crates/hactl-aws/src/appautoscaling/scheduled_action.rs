//! `appautoscaling.scheduled_action`: a recurring change of an ECS service's min and max
//! task counts (its scalable target), at a time of day in a time zone. id =
//! `<resource id>|<name>` (names cannot hold `|`). Untagged: found by name and resource id
//! among the targets. PutScheduledAction is an upsert, so create and update are one call.

use super::is_gone;
use crate::error::{aws_error, retry_not_found};
use crate::util::{int_prop, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ScalableTargetAction, ScheduledAction as Action, ServiceNamespace,
};
use aws_sdk_applicationautoscaling::Client;
use hactl_core::kinds::appautoscaling::ScheduledAction as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct ScheduledAction(pub Client);

/// DescribeScheduledActions takes at most 50 action names per call.
const NAMES_PER_CALL: usize = 50;
const DEFAULT_NAMESPACE: &str = "ecs";
const DEFAULT_DIMENSION: &str = "ecs:service:DesiredCount";

fn action_id(resource_id: &str, name: &str) -> String {
    format!("{resource_id}|{name}")
}

/// (resource id, name) of an id.
fn parse_id(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once('|')
}

fn outputs(a: &Action) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(a.scheduled_action_arn()))])
}

fn live_props(a: &Action) -> Props {
    let act = a.scalable_target_action();
    let int = |v: Option<i32>| v.map(|i| Value::Int(i.into())).unwrap_or(Value::Null);
    Props::from([
        (Kind::NAME.to_string(), Value::str(a.scheduled_action_name())),
        (Kind::SERVICE_NAMESPACE.to_string(), Value::str(a.service_namespace().as_str())),
        (Kind::RESOURCE_ID.to_string(), Value::str(a.resource_id())),
        (
            Kind::SCALABLE_DIMENSION.to_string(),
            a.scalable_dimension().map_or(Value::Null, |d| Value::str(d.as_str())),
        ),
        (Kind::SCHEDULE.to_string(), Value::str(a.schedule())),
        // AWS reports no time zone for an action scheduled in UTC.
        (Kind::TIMEZONE.to_string(), Value::str(a.timezone().unwrap_or("UTC"))),
        (Kind::MIN_CAPACITY.to_string(), int(act.and_then(|t| t.min_capacity()))),
        (Kind::MAX_CAPACITY.to_string(), int(act.and_then(|t| t.max_capacity()))),
    ])
}

impl ScheduledAction {
    async fn put(&self, props: &Props) -> Result<(), ProviderError> {
        let action = ScalableTargetAction::builder()
            .set_min_capacity(int_prop(props, Kind::MIN_CAPACITY)?)
            .set_max_capacity(int_prop(props, Kind::MAX_CAPACITY)?)
            .build();
        self.0
            .put_scheduled_action()
            .scheduled_action_name(req_str(props, Kind::NAME)?)
            .service_namespace(ServiceNamespace::from(req_str(props, Kind::SERVICE_NAMESPACE)?))
            .resource_id(req_str(props, Kind::RESOURCE_ID)?)
            .scalable_dimension(ScalableDimension::from(req_str(props, Kind::SCALABLE_DIMENSION)?))
            .schedule(req_str(props, Kind::SCHEDULE)?)
            .timezone(opt_str(props, Kind::TIMEZONE).unwrap_or("UTC"))
            .scalable_target_action(action)
            .send()
            .await
            .map(drop)
            // The scalable target was just registered and is not visible yet.
            .map_err(|e| retry_not_found(aws_error("PutScheduledAction", e)))
    }

    /// The action now live under `props`' name and resource id.
    async fn find(&self, props: &Props) -> Result<Option<Action>, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let rid = req_str(props, Kind::RESOURCE_ID)?;
        let ns = opt_str(props, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE);
        let found = self.describe(ns, &[name.to_string()]).await?;
        Ok(found.into_iter().find(|a| a.scheduled_action_name() == name && a.resource_id() == rid))
    }

    async fn describe(&self, ns: &str, names: &[String]) -> Result<Vec<Action>, ProviderError> {
        let mut live = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let found: Vec<Action> = self
                .0
                .describe_scheduled_actions()
                .service_namespace(ServiceNamespace::from(ns))
                .set_scheduled_action_names(Some(chunk.to_vec()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("DescribeScheduledActions", e))?;
            live.extend(found);
        }
        Ok(live)
    }

    async fn put_and_read(&self, props: &Props) -> Result<Applied, ProviderError> {
        self.put(props).await?;
        let a = self
            .find(props)
            .await?
            .ok_or_else(|| ProviderError::retryable("the scheduled action just put is not visible yet"))?;
        Ok(Applied { id: action_id(a.resource_id(), a.scheduled_action_name()), outputs: outputs(&a) })
    }
}

#[async_trait]
impl Provider for ScheduledAction {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // Action names to look up, per namespace (one name may serve several services).
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in targets {
            let ns = opt_str(&t.props, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE);
            let names = wanted.entry(ns.to_string()).or_default();
            names.extend(opt_str(&t.props, Kind::NAME).map(str::to_string));
            names.extend(t.id.as_deref().and_then(parse_id).map(|(_, n)| n.to_string()));
        }
        let mut live: Vec<Action> = Vec::new();
        for (ns, names) in &wanted {
            let names: Vec<String> = names.iter().cloned().collect();
            live.extend(self.describe(ns, &names).await?);
        }
        let mut seen = BTreeSet::new();
        Ok(live
            .iter()
            .filter_map(|a| {
                let id = action_id(a.resource_id(), a.scheduled_action_name());
                // The emulator may answer one action twice (the same name in two calls).
                if !seen.insert(id.clone()) {
                    return None;
                }
                let dim = a.scalable_dimension().map_or(DEFAULT_DIMENSION, |d| d.as_str());
                let target = targets.iter().find(|t| t.id.as_deref() == Some(id.as_str())).or_else(|| {
                    targets.iter().find(|t| {
                        opt_str(&t.props, Kind::NAME) == Some(a.scheduled_action_name())
                            && opt_str(&t.props, Kind::RESOURCE_ID) == Some(a.resource_id())
                            && opt_str(&t.props, Kind::SCALABLE_DIMENSION).unwrap_or(DEFAULT_DIMENSION) == dim
                    })
                })?;
                Some(LiveObject {
                    id,
                    address: Some(target.address.clone()),
                    props: live_props(a),
                    outputs: outputs(a),
                    // Untagged: it belongs to the stack through the name and target it matches.
                    owned: true,
                })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        self.put_and_read(props).await
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            if !matches!(
                c.name.as_str(),
                Kind::SCHEDULE | Kind::TIMEZONE | Kind::MIN_CAPACITY | Kind::MAX_CAPACITY
            ) {
                return Err(ProviderError::fatal(format!(
                    "appautoscaling.scheduled_action cannot update `{}` in place",
                    c.name
                )));
            }
        }
        // PutScheduledAction keeps a size it is not given: one the config no longer sets
        // goes with the action, which is put again without it.
        if req.changes.iter().any(|c| c.after == Some(Value::Null) && c.before != Some(Value::Null)) {
            self.delete(ctx, req.id, req.desired).await?;
        }
        self.put_and_read(req.desired).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let Some((rid, name)) = parse_id(id) else {
            return Err(ProviderError::fatal(format!("`{id}` is not a scheduled action id (RESOURCE|NAME)")));
        };
        let r = self
            .0
            .delete_scheduled_action()
            .service_namespace(ServiceNamespace::from(
                opt_str(recorded, Kind::SERVICE_NAMESPACE).unwrap_or(DEFAULT_NAMESPACE),
            ))
            .scheduled_action_name(name)
            .resource_id(rid)
            .scalable_dimension(ScalableDimension::from(
                opt_str(recorded, Kind::SCALABLE_DIMENSION).unwrap_or(DEFAULT_DIMENSION),
            ))
            .send()
            .await
            .map_err(|e| aws_error("DeleteScheduledAction", e));
        match r {
            Err(e) if is_gone(&e) => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_last_bar() {
        let id = action_id("service/shop/web", "shop-web-night");
        assert_eq!(id, "service/shop/web|shop-web-night");
        assert_eq!(parse_id(&id), Some(("service/shop/web", "shop-web-night")));
        assert_eq!(parse_id("no-bar"), None);
    }
}
