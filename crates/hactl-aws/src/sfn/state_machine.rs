//! `sfn.state_machine`: a Step Functions state machine `<stack>-...`. id = its ARN.
//!
//! Read: ListStateMachines (paginated) → the machines a target names or state records →
//! their tags from the stack's tag index ([`crate::tagging`]; ListTagsForResource only
//! where [`crate::tagging::TagIndex::lookup`] asks) → DescribeStateMachine for each of this
//! stack's (documented exception: the list carries no definition; a stack has one). A
//! machine being deleted is gone.
//!
//! The definition is compared as a JSON document, never as text.

use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_sfn::types::{StateMachineStatus, StateMachineType};
use aws_sdk_sfn::Client;
use hactl_core::kinds::sfn::StateMachine as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct StateMachine(pub Client, pub crate::tagging::Tagging);

/// The definition and role of a live machine.
struct Described {
    machine_type: String,
    definition: Value,
    role_arn: String,
}

fn outputs(arn: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

fn definition_json(props: &Props) -> Result<String, ProviderError> {
    props
        .get(Kind::DEFINITION)
        .filter(|d| d.as_map().is_some())
        .map(|d| d.to_json().to_string())
        .ok_or_else(|| ProviderError::fatal("property `definition` is missing or not a map"))
}

/// Right after its creation IAM may not let Step Functions assume the role yet
/// (AccessDeniedException "... is not authorized to assume the provided role"): retryable,
/// the engine backs off until IAM has propagated.
fn iam_propagation(mut e: ProviderError) -> ProviderError {
    if e.code() == Some("AccessDeniedException") && e.message().to_ascii_lowercase().contains("assume") {
        e.make_retryable();
    }
    e
}

impl StateMachine {
    /// Every state machine of the account and region: (ARN, name).
    async fn list(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let items: Vec<_> = self
            .0
            .list_state_machines()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListStateMachines", e))?;
        Ok(items.into_iter().map(|m| (m.state_machine_arn().to_string(), m.name().to_string())).collect())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.0.list_tags_for_resource().resource_arn(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTagsForResource", e)))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect())
    }

    /// None when it does not exist or is being deleted.
    async fn describe(&self, arn: &str) -> Result<Option<Described>, ProviderError> {
        let out = self.0.describe_state_machine().state_machine_arn(arn).send().await;
        let Some(out) = found(out.map_err(|e| aws_error("DescribeStateMachine", e)))? else {
            return Ok(None);
        };
        if out.status() == Some(&StateMachineStatus::Deleting) {
            return Ok(None);
        }
        let json: serde_json::Value = serde_json::from_str(out.definition()).map_err(|e| {
            ProviderError::fatal(format!("state machine {arn} has a definition that is not JSON: {e}"))
        })?;
        Ok(Some(Described {
            machine_type: out.r#type().as_str().to_string(),
            definition: Value::from_json(&json),
            role_arn: out.role_arn().to_string(),
        }))
    }

    async fn update_definition(&self, arn: &str, props: &Props) -> Result<(), ProviderError> {
        let out = self
            .0
            .update_state_machine()
            .state_machine_arn(arn)
            .definition(definition_json(props)?)
            .role_arn(req_str(props, Kind::ROLE_ARN)?)
            .send()
            .await;
        out.map(drop).map_err(|e| iam_propagation(aws_error("UpdateStateMachine", e)))
    }
}

#[async_trait]
impl Provider for StateMachine {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let (machines, index) = futures::try_join!(self.list(), self.1.index(ctx))?;
        let mut out = Vec::new();
        for (arn, name) in machines {
            let record = targets.iter().find(|t| t.id.as_deref() == Some(arn.as_str()));
            if !name.starts_with(&prefix) && record.is_none() {
                continue;
            }
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(&name));
            let ask = || async { found(self.tags(&arn).await) };
            let Some(tags) = index.tags(&arn, Known::of(record, named.is_some()), ask).await? else {
                continue;
            };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            if !owned && address.is_none() && record.is_none() {
                continue;
            }
            let Some(d) = self.describe(&arn).await? else { continue };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(&name)),
                (Kind::MACHINE_TYPE.to_string(), Value::str(d.machine_type)),
                (Kind::DEFINITION.to_string(), d.definition),
                (Kind::ROLE_ARN.to_string(), Value::str(d.role_arn)),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { outputs: outputs(&arn, &name), id: arn, address, props, owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // A machine of this name (a create retried after a crash) is converged only when
        // its tags say it is this stack's, at this address.
        if let Some((arn, _)) = self.list().await?.into_iter().find(|(_, n)| n == name) {
            let tags = self.tags(&arn).await?;
            ensure_ours(
                ctx,
                address,
                &tags,
                &format!("state machine `{name}`"),
                "StateMachineAlreadyExists",
            )?;
            self.update_definition(&arn, props).await?;
            self.0.converge_tags(&arn, &tags, props).await?;
            return Ok(Applied { outputs: outputs(&arn, name), id: arn });
        }
        let machine_type = opt_str(props, Kind::MACHINE_TYPE).unwrap_or("STANDARD");
        let created = self
            .0
            .create_state_machine()
            .name(name)
            .r#type(StateMachineType::from(machine_type))
            .definition(definition_json(props)?)
            .role_arn(req_str(props, Kind::ROLE_ARN)?)
            .set_tags(Some(super::tag_list(tag_map(props))))
            .send()
            .await
            .map_err(|e| iam_propagation(aws_error("CreateStateMachine", e)))?;
        let arn = created.state_machine_arn().to_string();
        Ok(Applied { outputs: outputs(&arn, name), id: arn })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req_str(req.desired, Kind::NAME)?;
        if req.changes.iter().any(|c| c.name == Kind::DEFINITION || c.name == Kind::ROLE_ARN) {
            self.update_definition(req.id, req.desired).await?;
        }
        for c in req.changes {
            match c.name.as_str() {
                n if n == Kind::TAGS => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                n if n == Kind::DEFINITION || n == Kind::ROLE_ARN => {}
                other => {
                    return Err(ProviderError::fatal(format!(
                        "sfn.state_machine cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, name) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let out = self.0.delete_state_machine().state_machine_arn(id).send().await;
        ignore_not_found(out.map(drop).map_err(|e| aws_error("DeleteStateMachine", e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_not_yet_assumable_is_retryable_other_denials_are_not() {
        let e = ProviderError::fatal(
            "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role.",
        )
        .with_code("AccessDeniedException");
        assert!(iam_propagation(e).is_retryable());
        let e = ProviderError::fatal("User is not authorized to perform states:CreateStateMachine")
            .with_code("AccessDeniedException");
        assert!(!iam_propagation(e).is_retryable());
    }
}
