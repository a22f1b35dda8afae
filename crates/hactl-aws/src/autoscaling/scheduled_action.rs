//! `autoscaling.scheduled_action`: a recurring change of the Auto Scaling group's min, max
//! and desired sizes (Unix cron `recurrence` in `time_zone`). id = `<group>|<name>` (names
//! cannot hold `|`). Untagged: found by name among the stack's group's actions.
//! PutScheduledUpdateGroupAction is an upsert, so create and update are one call.

use crate::error::aws_error;
use crate::util::{int_prop, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::ScheduledUpdateGroupAction as Action;
use aws_sdk_autoscaling::Client;
use hactl_core::kinds::autoscaling::ScheduledAction as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct ScheduledAction(pub Client);

/// DescribeScheduledActions takes at most 50 action names per call.
const NAMES_PER_CALL: usize = 50;

fn action_id(group: &str, name: &str) -> String {
    format!("{group}|{name}")
}

fn parse_id(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once('|')
}

fn outputs(a: &Action) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(a.scheduled_action_arn().unwrap_or_default()))])
}

fn live_props(a: &Action) -> Props {
    let int = |v: Option<i32>| v.map(|i| Value::Int(i.into())).unwrap_or(Value::Null);
    let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    Props::from([
        (Kind::NAME.to_string(), s(a.scheduled_action_name())),
        (Kind::GROUP_NAME.to_string(), s(a.auto_scaling_group_name())),
        (Kind::RECURRENCE.to_string(), s(a.recurrence())),
        // AWS reports no time zone for an action scheduled in UTC.
        (Kind::TIME_ZONE.to_string(), Value::str(a.time_zone().unwrap_or("UTC"))),
        (Kind::MIN_SIZE.to_string(), int(a.min_size())),
        (Kind::MAX_SIZE.to_string(), int(a.max_size())),
        (Kind::DESIRED_CAPACITY.to_string(), int(a.desired_capacity())),
    ])
}

/// Nothing to delete: the action or its group is gone.
fn is_gone(e: &ProviderError) -> bool {
    crate::error::is_not_found(e)
        || (e.code() == Some("ValidationError") && e.message().contains("not found"))
}

impl ScheduledAction {
    async fn describe(&self, group: Option<&str>, names: &[String]) -> Result<Vec<Action>, ProviderError> {
        let mut live = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let found: Vec<Action> = self
                .0
                .describe_scheduled_actions()
                .set_auto_scaling_group_name(group.map(str::to_string))
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
        let group = req_str(props, Kind::GROUP_NAME)?;
        let name = req_str(props, Kind::NAME)?;
        self.0
            .put_scheduled_update_group_action()
            .auto_scaling_group_name(group)
            .scheduled_action_name(name)
            .recurrence(req_str(props, Kind::RECURRENCE)?)
            .time_zone(opt_str(props, Kind::TIME_ZONE).unwrap_or("UTC"))
            .set_min_size(int_prop(props, Kind::MIN_SIZE)?)
            .set_max_size(int_prop(props, Kind::MAX_SIZE)?)
            .set_desired_capacity(int_prop(props, Kind::DESIRED_CAPACITY)?)
            .send()
            .await
            .map_err(|e| aws_error("PutScheduledUpdateGroupAction", e))?;
        let found = self.describe(Some(group), &[name.to_string()]).await?;
        let a = found
            .iter()
            .find(|a| a.scheduled_action_name() == Some(name))
            .ok_or_else(|| ProviderError::retryable("the scheduled action just put is not visible yet"))?;
        Ok(Applied { id: action_id(group, name), outputs: outputs(a) })
    }
}

#[async_trait]
impl Provider for ScheduledAction {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // Names per group: the desired ones and the recorded ids.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in targets {
            if let (Some(g), Some(n)) = (opt_str(&t.props, Kind::GROUP_NAME), opt_str(&t.props, Kind::NAME)) {
                wanted.entry(g.to_string()).or_default().insert(n.to_string());
            }
            if let Some((g, n)) = t.id.as_deref().and_then(parse_id) {
                wanted.entry(g.to_string()).or_default().insert(n.to_string());
            }
        }
        let mut live: Vec<Action> = Vec::new();
        for (group, names) in &wanted {
            let names: Vec<String> = names.iter().cloned().collect();
            match self.describe(Some(group), &names).await {
                Ok(found) => live.extend(found),
                // The group is gone, and its actions with it.
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let mut seen = BTreeSet::new();
        Ok(live
            .iter()
            .filter_map(|a| {
                let (group, name) = (a.auto_scaling_group_name()?, a.scheduled_action_name()?);
                let id = action_id(group, name);
                if !seen.insert(id.clone()) {
                    return None;
                }
                let target = targets.iter().find(|t| t.id.as_deref() == Some(id.as_str())).or_else(|| {
                    targets.iter().find(|t| {
                        opt_str(&t.props, Kind::NAME) == Some(name)
                            && opt_str(&t.props, Kind::GROUP_NAME) == Some(group)
                    })
                })?;
                Some(LiveObject {
                    id,
                    address: Some(target.address.clone()),
                    props: live_props(a),
                    outputs: outputs(a),
                    // Untagged: it belongs to the stack through its name on the stack's group.
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
                Kind::RECURRENCE | Kind::TIME_ZONE | Kind::MIN_SIZE | Kind::MAX_SIZE | Kind::DESIRED_CAPACITY
            ) {
                return Err(ProviderError::fatal(format!(
                    "autoscaling.scheduled_action cannot update `{}` in place",
                    c.name
                )));
            }
        }
        // PutScheduledUpdateGroupAction keeps a size it is not given: one the config no
        // longer sets goes with the action, which is put again without it.
        if req.changes.iter().any(|c| c.after == Some(Value::Null) && c.before != Some(Value::Null)) {
            self.delete(ctx, req.id, req.desired).await?;
        }
        self.put_and_read(req.desired).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some((group, name)) = parse_id(id) else {
            return Err(ProviderError::fatal(format!("`{id}` is not a scheduled action id (GROUP|NAME)")));
        };
        let r = self
            .0
            .delete_scheduled_action()
            .auto_scaling_group_name(group)
            .scheduled_action_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DeleteScheduledAction", e));
        match r {
            Err(e) if is_gone(&e) => Ok(()),
            other => other.map(drop),
        }
    }
}
