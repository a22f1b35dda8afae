//! `logs.log_group`: a log group `/hactl/<stack>/<service>` with a retention period.
//! id = log group name.
//!
//! Read: DescribeLogGroups(logGroupNamePrefix=`/hactl/<stack>/`, paginated), tags from the
//! stack's tag index ([`crate::tagging`], one GetResources per refresh and region, shared
//! by every kind); ListTagsForResource only for a group the index does not hold that state
//! records or a target names (it may have lost its tags, or carry another stack's), or one
//! it holds that state does not record (to be adopted: its own tags decide) or records with
//! other tags (the index may lag an apply; [`crate::tagging::TagIndex::lookup`]). Any
//! other group under the prefix (made by hand, say) costs no call and is not read.

use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::ensure_ours;
use crate::util::tags::Tagger;
use crate::util::{match_target, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup as Group;
use aws_sdk_cloudwatchlogs::Client;
use hactl_core::kinds::logs::LogGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct LogGroup(pub Client, pub crate::tagging::Tagging);

/// The group's ARN without the trailing `:*` (the form tagging calls and IAM policies
/// for the group itself take).
fn arn_of(g: &Group) -> Option<String> {
    g.log_group_arn().map(str::to_string).or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
}

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

impl LogGroup {
    async fn describe_prefix(&self, prefix: &str) -> Result<Vec<Group>, ProviderError> {
        self.0
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeLogGroups", e))
    }

    /// The group of exactly this name, if it exists.
    async fn describe(&self, name: &str) -> Result<Option<Group>, ProviderError> {
        Ok(self.describe_prefix(name).await?.into_iter().find(|g| g.log_group_name() == Some(name)))
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.0.list_tags_for_resource().resource_arn(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTagsForResource", e)))?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    /// Sets the retention (`Int` days) or removes it (never expire).
    async fn set_retention(&self, name: &str, days: Option<i64>) -> Result<(), ProviderError> {
        match days {
            Some(d) => {
                let d = i32::try_from(d)
                    .map_err(|_| ProviderError::fatal(format!("retention_days {d} is out of range")))?;
                self.0
                    .put_retention_policy()
                    .log_group_name(name)
                    .retention_in_days(d)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| retry_not_found(aws_error("PutRetentionPolicy", e)))
            }
            None => self
                .0
                .delete_retention_policy()
                .log_group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_not_found(aws_error("DeleteRetentionPolicy", e))),
        }
    }

    /// The group's ARN, described (it appears right after a create; else retried).
    async fn arn(&self, name: &str) -> Result<(Group, String), ProviderError> {
        let g = self.describe(name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("log group {name} is not visible yet"))
                .with_code("ResourceNotFoundException")
        })?;
        let arn = arn_of(&g).ok_or_else(|| ProviderError::fatal("DescribeLogGroups returned no ARN"))?;
        Ok((g, arn))
    }
}

/// CloudWatch Logs' tag calls (log groups, by ARN): TagResource, UntagResource.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out =
            self.tag_resource().resource_arn(arn).set_tags(Some(tags.into_iter().collect())).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}

fn retention(props: &Props) -> Option<i64> {
    props.get(Kind::RETENTION_DAYS).and_then(Value::as_int)
}

#[async_trait]
impl Provider for LogGroup {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("/hactl/{}/", ctx.stack);
        let (mut groups, index) = futures::try_join!(self.describe_prefix(&prefix), self.1.index(ctx))?;
        // A recorded group outside the prefix (rare): described by its own name.
        for id in targets.iter().filter_map(|t| t.id.as_deref()) {
            if !id.starts_with(&prefix) && !groups.iter().any(|g| g.log_group_name() == Some(id)) {
                groups.extend(self.describe(id).await?);
            }
        }
        let mut out = Vec::new();
        for g in groups {
            let (Some(name), Some(arn)) = (g.log_group_name(), arn_of(&g)) else { continue };
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            let record = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let ask = || async { self.tags(&arn).await.map(Some) };
            let Some(tags) = index.tags(&arn, Known::of(record, named.is_some()), ask).await? else {
                continue;
            };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(name)),
                (
                    Kind::RETENTION_DAYS.to_string(),
                    g.retention_in_days().map(|d| Value::Int(i64::from(d))).unwrap_or(Value::Null),
                ),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject {
                id: name.to_string(),
                address,
                props,
                outputs: outputs(name, &arn),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let created = self
            .0
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tag_map(props).into_iter().collect()))
            .send()
            .await;
        let adopted = match created {
            Ok(_) => false,
            Err(e) => {
                let err = aws_error("CreateLogGroup", e);
                if err.code() != Some("ResourceAlreadyExistsException") {
                    return Err(err);
                }
                true
            }
        };
        let (group, arn) = self.arn(name).await?;
        if adopted {
            // A create retried after a crash: adopt our own group, converge its tags.
            let tags = self.tags(&arn).await?;
            ensure_ours(
                ctx,
                address,
                &tags,
                &format!("log group `{name}`"),
                "ResourceAlreadyExistsException",
            )?;
            self.0.converge_tags(&arn, &tags, props).await?;
        }
        let live = group.retention_in_days().map(i64::from);
        if live != retention(props) {
            self.set_retention(name, retention(props)).await?;
        }
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        let mut outputs = BTreeMap::from([("name".to_string(), Value::str(name))]);
        for c in req.changes {
            match c.name.as_str() {
                Kind::RETENTION_DAYS => self.set_retention(name, retention(req.desired)).await?,
                Kind::TAGS => {
                    let (_, arn) = self.arn(name).await?;
                    self.0.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?;
                    outputs.insert("arn".to_string(), Value::str(arn));
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "logs.log_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: name.to_string(), outputs })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_log_group()
                .log_group_name(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteLogGroup", e)),
        )
    }
}
