//! `ecs.capacity_provider`: an Auto Scaling group capacity provider with managed scaling
//! and managed termination protection. id = name. Read with one DescribeCapacityProviders
//! call for the names of the targets (tags included); INACTIVE or being deleted = gone.

use super::{ecs_error, tag_map_of, tags_of, tags_value};
use crate::error::retry_not_found;
use crate::util::ensure_ours;
use crate::util::tags::Tagger;
use crate::util::{owner_of, req_str};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, CapacityProviderField, CapacityProviderStatus,
    CapacityProviderUpdateStatus, ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection,
};
use aws_sdk_ecs::Client;
use hactl_core::kinds::ecs::CapacityProvider as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct CapacityProvider(pub Client);

type Live = aws_sdk_ecs::types::CapacityProvider;

/// Gone for every purpose: deregistered, or its deletion is under way or done.
fn is_gone(p: &Live) -> bool {
    p.status() == Some(&CapacityProviderStatus::Inactive)
        || matches!(
            p.update_status(),
            Some(
                CapacityProviderUpdateStatus::DeleteInProgress | CapacityProviderUpdateStatus::DeleteComplete
            )
        )
}

fn managed_scaling(props: &Props) -> Option<ManagedScaling> {
    let m = props.get(Kind::MANAGED_SCALING)?.as_map()?;
    let int = |k: &str| m.get(k).and_then(Value::as_int).map(|i| i as i32);
    Some(
        ManagedScaling::builder()
            .set_status(m.get("status").and_then(Value::as_str).map(ManagedScalingStatus::from))
            .set_target_capacity(int("target_capacity"))
            .set_minimum_scaling_step_size(int("minimum_scaling_step_size"))
            .set_maximum_scaling_step_size(int("maximum_scaling_step_size"))
            .build(),
    )
}

fn termination_protection(props: &Props) -> Option<ManagedTerminationProtection> {
    props
        .get(Kind::MANAGED_TERMINATION_PROTECTION)
        .and_then(Value::as_str)
        .map(ManagedTerminationProtection::from)
}

fn props_of(p: &Live) -> Props {
    let asg = p.auto_scaling_group_provider();
    let scaling = asg.and_then(|a| a.managed_scaling()).map(|s| {
        let int = |v: Option<i32>| v.map(|i| Value::Int(i64::from(i))).unwrap_or(Value::Null);
        Value::Map(BTreeMap::from([
            ("status".to_string(), s.status().map(|v| Value::str(v.as_str())).unwrap_or(Value::Null)),
            ("target_capacity".to_string(), int(s.target_capacity())),
            ("minimum_scaling_step_size".to_string(), int(s.minimum_scaling_step_size())),
            ("maximum_scaling_step_size".to_string(), int(s.maximum_scaling_step_size())),
        ]))
    });
    Props::from([
        (Kind::NAME.to_string(), Value::str(p.name().unwrap_or_default())),
        (
            Kind::AUTO_SCALING_GROUP_ARN.to_string(),
            asg.map(|a| Value::str(a.auto_scaling_group_arn())).unwrap_or(Value::Null),
        ),
        (Kind::MANAGED_SCALING.to_string(), scaling.unwrap_or(Value::Null)),
        (
            Kind::MANAGED_TERMINATION_PROTECTION.to_string(),
            asg.and_then(|a| a.managed_termination_protection())
                .map(|v| Value::str(v.as_str()))
                .unwrap_or(Value::Null),
        ),
        (Kind::TAGS.to_string(), tags_value(p.tags())),
    ])
}

fn outputs(p: &Live) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(p.capacity_provider_arn().unwrap_or_default())),
        ("name".to_string(), Value::str(p.name().unwrap_or_default())),
    ])
}

impl CapacityProvider {
    /// DescribeCapacityProviders for `names` (missing ones are left out).
    async fn describe(&self, names: &BTreeSet<String>) -> Result<Vec<Live>, ProviderError> {
        let names: Vec<String> = names.iter().cloned().collect();
        let mut out = Vec::new();
        // The API takes up to 100 names per call.
        for chunk in names.chunks(100) {
            let resp = self
                .0
                .describe_capacity_providers()
                .set_capacity_providers(Some(chunk.to_vec()))
                .include(CapacityProviderField::Tags)
                .send()
                .await
                .map_err(|e| ecs_error("DescribeCapacityProviders", e))?;
            out.extend(resp.capacity_providers().iter().cloned());
        }
        Ok(out)
    }

    async fn one(&self, name: &str) -> Result<Option<Live>, ProviderError> {
        Ok(self
            .describe(&BTreeSet::from([name.to_string()]))
            .await?
            .into_iter()
            .find(|p| p.name() == Some(name)))
    }

    async fn update_provider(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .update_capacity_provider()
            .name(name)
            .auto_scaling_group_provider(
                AutoScalingGroupProviderUpdate::builder()
                    .set_managed_scaling(managed_scaling(props))
                    .set_managed_termination_protection(termination_protection(props))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(ecs_error("UpdateCapacityProvider", e)))
    }
}

#[async_trait]
impl Provider for CapacityProvider {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let names = super::target_names(targets, Kind::NAME);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .describe(&names)
            .await?
            .iter()
            .filter(|p| !is_gone(p))
            .filter_map(|p| {
                let (owned, address) = owner_of(&ctx.stack, &tag_map_of(p.tags()));
                Some(LiveObject {
                    id: p.name()?.to_string(),
                    address,
                    props: props_of(p),
                    outputs: outputs(p),
                    owned,
                })
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        if let Some(p) = self.one(name).await? {
            if is_gone(&p) {
                // A deleted provider of that name is still going away; its name is free
                // once it is gone.
                ctx.wait_for(&format!("capacity provider {name} to finish deleting"), || async {
                    Ok(self
                        .one(name)
                        .await?
                        .is_none_or(|p| p.status() == Some(&CapacityProviderStatus::Inactive))
                        .then_some(()))
                })
                .await?;
            } else {
                // This address's own (a create retried after a crash) is converged;
                // anything else is refused.
                let what = format!("capacity provider `{name}`");
                ensure_ours(ctx, address, &tag_map_of(p.tags()), &what, "AlreadyExists")?;
                self.update_provider(name, props).await?;
                let arn = p.capacity_provider_arn().unwrap_or_default();
                self.0.sync_tags(arn, Some(&tags_value(p.tags())), props.get(Kind::TAGS)).await?;
                return Ok(Applied { id: name.to_string(), outputs: outputs(&p) });
            }
        }
        let asg = AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(req_str(props, Kind::AUTO_SCALING_GROUP_ARN)?)
            .set_managed_scaling(managed_scaling(props))
            .set_managed_termination_protection(termination_protection(props))
            .build()
            .map_err(|e| ProviderError::fatal(format!("capacity provider {name}: {e}")))?;
        let out = self
            .0
            .create_capacity_provider()
            .name(name)
            .auto_scaling_group_provider(asg)
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            .map_err(|e| retry_not_found(ecs_error("CreateCapacityProvider", e)))?;
        let p = out
            .capacity_provider()
            .ok_or_else(|| ProviderError::fatal("CreateCapacityProvider returned nothing"))?;
        Ok(Applied { id: name.to_string(), outputs: outputs(p) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let changed = |n: &str| req.changes.iter().any(|c| c.name == n);
        if changed(Kind::MANAGED_SCALING) || changed(Kind::MANAGED_TERMINATION_PROTECTION) {
            self.update_provider(req.id, req.desired).await?;
        }
        let live = self
            .one(req.id)
            .await?
            .ok_or_else(|| ProviderError::retryable(format!("capacity provider `{}` not found", req.id)))?;
        for c in req.changes {
            match c.name.as_str() {
                Kind::MANAGED_SCALING | Kind::MANAGED_TERMINATION_PROTECTION => {}
                Kind::TAGS => {
                    let arn = live.capacity_provider_arn().unwrap_or_default();
                    self.0.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?
                }
                other => return Err(ProviderError::fatal(format!("`{other}` cannot be updated in place"))),
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&live) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(p) = self.one(id).await? else { return Ok(()) };
        if p.status() == Some(&CapacityProviderStatus::Inactive) {
            return Ok(());
        }
        if p.update_status() != Some(&CapacityProviderUpdateStatus::DeleteInProgress) {
            self.0.delete_capacity_provider().capacity_provider(id).send().await.map(|_| ()).map_err(
                |e| {
                    let mut err = ecs_error("DeleteCapacityProvider", e);
                    // Still associated with a cluster or used by a service that is going
                    // away: it can go once they are detached.
                    if err.code() == Some("ResourceInUseException") || in_use(err.message()) {
                        err.make_retryable();
                    }
                    err
                },
            )?;
        }
        ctx.wait_for(&format!("capacity provider {id} to be deleted"), || async {
            match self.one(id).await? {
                None => Ok(Some(())),
                Some(p) if p.status() == Some(&CapacityProviderStatus::Inactive) => Ok(Some(())),
                Some(p) if p.update_status() == Some(&CapacityProviderUpdateStatus::DeleteComplete) => {
                    Ok(Some(()))
                }
                Some(p) if p.update_status() == Some(&CapacityProviderUpdateStatus::DeleteFailed) => {
                    Err(ProviderError::retryable(format!(
                        "capacity provider {id} could not be deleted: {}",
                        p.update_status_reason().unwrap_or("no reason given")
                    )))
                }
                Some(_) => Ok(None),
            }
        })
        .await
    }
}

/// ECS answers a delete of a provider still in use with a ClientException whose
/// message says so.
fn in_use(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("in use") || m.contains("is associated") || m.contains("still associated")
}
