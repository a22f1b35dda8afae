//! `cloudwatch.dashboard`: the stack's dashboard `<stack>-<region>` (dashboard names are
//! account-wide, so the region is part of the name). id = dashboard name.
//!
//! Read: ListDashboards (DashboardNamePrefix=`<stack>`, paginated) for the names a target
//! names or state recorded, then GetDashboard (body and ARN) and ListTagsForResource per
//! match (documented exception: a stack has one per region). Dashboards are global: the
//! stack's tag index ([`crate::tagging`]) is regional, so using it here would cost a
//! GetResources of its own instead of saving a call. Ownership is the hactl tags, set with
//! TagResource after PutDashboard (PutDashboard takes no tags): a dashboard with the
//! stack's name but without its tags is a conflict, never overwritten or deleted.

use crate::error::{aws_error, found, ignore_not_found, is_not_found};
use crate::util::tags::{TagChanges, Tagger};
use crate::util::{ensure_ours, owner_of, req_str, tags_prop};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use hactl_core::kinds::cloudwatch::Dashboard as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Dashboard(pub Client);

/// A dashboard as GetDashboard answers it.
struct Live {
    arn: String,
    body: Value,
}

fn outputs(name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("name".to_string(), Value::str(name))])
}

impl Dashboard {
    async fn put(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let body = props
            .get(Kind::BODY)
            .filter(|b| b.as_map().is_some())
            .ok_or_else(|| ProviderError::fatal("property `body` is missing or not a map"))?
            .to_json()
            .to_string();
        let out = self
            .0
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body)
            .send()
            .await
            .map_err(|e| aws_error("PutDashboard", e))?;
        let messages: Vec<String> = out
            .dashboard_validation_messages()
            .iter()
            .map(|m| format!("{}: {}", m.data_path().unwrap_or("/"), m.message().unwrap_or("invalid")))
            .collect();
        if messages.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::fatal(format!("dashboard {name} is invalid: {}", messages.join("; ")))
                .with_code("InvalidParameterInput"))
        }
    }

    /// The dashboard's ARN and body, or None when it does not exist (AWS:
    /// ResourceNotFound; the emulator: InvalidParameterValue "... does not exist").
    async fn get(&self, name: &str) -> Result<Option<Live>, ProviderError> {
        match self.0.get_dashboard().dashboard_name(name).send().await {
            Ok(out) => {
                let raw = out.dashboard_body().unwrap_or("{}");
                let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
                    ProviderError::fatal(format!("dashboard {name} has a body that is not JSON: {e}"))
                })?;
                let arn = out
                    .dashboard_arn()
                    .ok_or_else(|| ProviderError::fatal(format!("GetDashboard {name}: no DashboardArn")))?;
                Ok(Some(Live { arn: arn.to_string(), body: Value::from_json(&json) }))
            }
            Err(e) => {
                let err = aws_error("GetDashboard", e);
                let missing =
                    err.code() == Some("InvalidParameterValue") && err.message().contains("does not exist");
                if is_not_found(&err) || missing {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Puts the body, then brings the tags to the desired ones.
    async fn put_tagged(
        &self,
        name: &str,
        props: &Props,
        live_tags: &BTreeMap<String, String>,
    ) -> Result<String, ProviderError> {
        self.put(name, props).await?;
        let live = self.get(name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("dashboard {name} not found after PutDashboard"))
        })?;
        self.0.converge_tags(&live.arn, live_tags, props).await?;
        Ok(live.arn)
    }
}

#[async_trait]
impl Provider for Dashboard {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let entries: Vec<_> = self
            .0
            .list_dashboards()
            .dashboard_name_prefix(&ctx.stack)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListDashboards", e))?;
        let mut out = Vec::new();
        for e in entries {
            let Some(name) = e.dashboard_name() else { continue };
            let by_name =
                targets.iter().find(|t| t.props.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            let by_id = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let Some(target) = by_id.or(by_name) else { continue };
            let Some(live) = self.get(name).await? else { continue };
            // Deleted since the describe.
            let Some(tags) = found(super::tags(&self.0, &live.arn).await)? else { continue };
            let (owned, tagged) = owner_of(&ctx.stack, &tags);
            // Tagged for another of this stack's addresses: not the target's.
            if owned && tagged.as_ref().is_some_and(|a| a != &target.address) {
                continue;
            }
            out.push(LiveObject {
                id: name.to_string(),
                address: Some(target.address.clone()),
                props: Props::from([
                    (Kind::NAME.to_string(), Value::str(name)),
                    (Kind::BODY.to_string(), live.body),
                    (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
                ]),
                outputs: outputs(name),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // Dashboard names are account-wide and PutDashboard overwrites: look first, and
        // only a dashboard with this stack's and address's tags is converged.
        let live_tags = match self.get(name).await? {
            Some(live) => {
                let tags = super::tags(&self.0, &live.arn).await?;
                ensure_ours(
                    ctx,
                    address,
                    &tags,
                    &format!("CloudWatch dashboard `{name}`"),
                    "ResourceAlreadyExists",
                )?;
                tags
            }
            None => BTreeMap::new(),
        };
        self.put_tagged(name, props, &live_tags).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        if let Some(c) = req.changes.iter().find(|c| c.name != Kind::BODY && c.name != Kind::TAGS) {
            return Err(ProviderError::fatal(format!(
                "cloudwatch.dashboard cannot update `{}` in place",
                c.name
            )));
        }
        if !req.changes.is_empty() {
            let live = self.get(req.id).await?.ok_or_else(|| {
                ProviderError::fatal(format!("dashboard {} does not exist", req.id))
                    .with_code("ResourceNotFound")
            })?;
            let tags = super::tags(&self.0, &live.arn).await?;
            let (owned, _) = owner_of(&ctx.stack, &tags);
            // Recorded in state (that is how the update found it), but another stack's tags
            // now: never overwritten.
            if !owned && tags.contains_key(hactl_core::TAG_STACK) {
                ensure_ours(
                    ctx,
                    req.address,
                    &tags,
                    &format!("CloudWatch dashboard `{}`", req.id),
                    "ResourceAlreadyExists",
                )?;
            }
            self.put_tagged(req.id, req.desired, &tags).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // The id is recorded in state, but dashboard names are account-wide: one that now
        // carries another stack's tags is left alone.
        let Some(live) = self.get(id).await? else { return Ok(()) };
        let tags = super::tags(&self.0, &live.arn).await?;
        if let Some(other) = tags.get(hactl_core::TAG_STACK).filter(|s| **s != ctx.stack) {
            ctx.progress(format!("left in place: dashboard {id} now carries the tags of stack `{other}`"));
            return Ok(());
        }
        // Its tags go first: the emulator keeps a deleted dashboard's tags under its ARN
        // (the same ARN for the next dashboard of that name, someone else's included).
        ignore_not_found(self.0.apply_tags(&live.arn, TagChanges::remove_all(&tags)).await)?;
        ignore_not_found(
            self.0
                .delete_dashboards()
                .dashboard_names(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteDashboards", e)),
        )
    }
}
