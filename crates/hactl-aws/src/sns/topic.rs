//! `sns.topic`: the stack's alarm topic `<stack>-alarms`. id = topic ARN.
//!
//! Read: ListTopics (paginated) → topics named `<stack>-...` or recorded → their tags from
//! the stack's tag index ([`crate::tagging`], one GetResources per refresh and region,
//! shared by every kind); ListTagsForResource only for a candidate the index does not hold
//! that state records or a target names (it may have lost its tags, or carry another
//! stack's), or one it holds that state does not record (to be adopted: its own tags
//! decide) or records with other tags ([`crate::tagging::TagIndex::lookup`]). Another stack's topic sharing the prefix costs no call and is not read.

use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;
use hactl_core::kinds::sns::Topic as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Topic(pub Client, pub crate::tagging::Tagging);

/// The topic name: the last `:` segment of its ARN.
fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name_of(arn)))])
}

fn sns_tags(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::fatal(format!("SNS tag: {e}")))
        })
        .collect()
}

impl Topic {
    /// Every topic ARN of the account and region (ListTopics, paginated).
    async fn list(&self) -> Result<Vec<String>, ProviderError> {
        let topics: Vec<_> = self
            .0
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListTopics", e))?;
        Ok(topics.into_iter().filter_map(|t| t.topic_arn).collect())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.0.list_tags_for_resource().resource_arn(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTagsForResource", e)))?;
        Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }
}

/// SNS's tag calls (topics, by ARN): TagResource, UntagResource.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(sns_tags(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}

#[async_trait]
impl Provider for Topic {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let recorded: Vec<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let (topics, index) = futures::try_join!(self.list(), self.1.index(ctx))?;
        let mut out = Vec::new();
        for arn in topics {
            let name = name_of(&arn);
            let is_recorded = recorded.contains(&arn.as_str());
            if !name.starts_with(&prefix) && !is_recorded {
                continue;
            }
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            let record = targets.iter().find(|t| t.id.as_deref() == Some(arn.as_str()));
            let ask = || async { self.tags(&arn).await.map(Some) };
            let Some(tags) = index.tags(&arn, Known::of(record, named.is_some()), ask).await? else {
                continue;
            };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            // `<stack>-` is also the prefix of a stack named `<stack>-x`: its topics are not ours.
            if !owned && address.is_none() && !is_recorded {
                continue;
            }
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(name)),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: arn.clone(), address, props, outputs: outputs(&arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let want = tag_map(props);
        // CreateTopic answers an existing topic of the same name and tags: look first, so an
        // existing topic is adopted only when its tags say it is ours.
        if let Some(arn) = self.list().await?.into_iter().find(|a| name_of(a) == name) {
            let tags = self.tags(&arn).await?;
            ensure_ours(ctx, address, &tags, &format!("SNS topic `{name}`"), "TopicAlreadyExists")?;
            self.0.converge_tags(&arn, &tags, props).await?;
            return Ok(Applied { outputs: outputs(&arn), id: arn });
        }
        let created = self
            .0
            .create_topic()
            .name(name)
            .set_tags(Some(sns_tags(want)?))
            .send()
            .await
            .map_err(|e| aws_error("CreateTopic", e))?;
        let arn = created.topic_arn().ok_or_else(|| ProviderError::fatal("CreateTopic returned no ARN"))?;
        Ok(Applied { id: arn.to_string(), outputs: outputs(arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let refuse =
            |other: &str| ProviderError::fatal(format!("sns.topic cannot update `{other}` in place"));
        self.0.update_tags_only(req.id, req.changes, refuse).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_topic()
                .topic_arn(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteTopic", e)),
        )
    }
}
