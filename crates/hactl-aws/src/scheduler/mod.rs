//! EventBridge Scheduler providers (see crates/hactl-aws/KINDS-observability.md): the drift
//! job's schedule group and schedule.
//!
//! Schedules carry no tags on AWS: a schedule belongs to the stack whose tags its group
//! carries. Both providers read the stack's groups through [`stack_groups`], shared for one
//! refresh through `ctx.cache`.

pub mod schedule;
pub mod schedule_group;

use crate::error::{aws_error, found, is_not_found, retry_not_found};
use crate::tagging::{Known, TagIndex, Tagging};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_scheduler::types::{ScheduleGroupState, Tag};
use aws_sdk_scheduler::Client;
use hactl_engine::{Ctx, ProviderError, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let scheduler = crate::client!(aws_sdk_scheduler, config, counter);
    let tagging = Tagging::new(config, counter);
    r.register(Arc::new(schedule_group::ScheduleGroup(scheduler.clone(), tagging.clone())));
    r.register(Arc::new(schedule::Schedule(scheduler, tagging)));
}

/// The name prefix of the stack's schedule groups: `hactl-<stack>`.
pub(crate) fn group_prefix(stack: &str) -> String {
    format!("hactl-{stack}")
}

/// A live schedule group with its tags.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub name: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// The groups named `hactl-<stack>...` (the `default` group and groups being deleted left
/// out): ListScheduleGroups(NamePrefix, paginated), with the stack's tag index
/// ([`crate::tagging`]; the list carries no tags). Shared by both providers for one
/// refresh; each reads a group's tags with [`StackGroups::group`], telling what its own
/// targets know of the group.
pub(crate) struct StackGroups {
    /// Every listed group: (name, ARN).
    pub listed: Vec<(String, String)>,
    /// The stack's tag index of the location.
    pub index: Arc<TagIndex>,
}

impl StackGroups {
    /// Whether the listing answered this group name.
    pub(crate) fn listed(&self, name: &str) -> bool {
        self.listed.iter().any(|(n, _)| n == name)
    }

    /// The listed group `name` (ARN `arn`) with its tags, as [`TagIndex::lookup`] decides
    /// from what the read `known`s of it: from the index, or from ListTagsForResource, made
    /// once per refresh and group whichever provider asks. `None`: not the stack's (not in
    /// the index, not known), or deleted since the list.
    pub(crate) async fn group(
        &self,
        client: &Client,
        ctx: &Ctx,
        (name, arn): (&str, &str),
        known: Known<'_>,
    ) -> Result<Option<Group>, ProviderError> {
        let ask = || async {
            let key = format!("scheduler:ListTagsForResource:{arn}");
            let tags =
                ctx.cache.get_or_try_init(&key, || async { found(group_tags(client, arn).await) }).await?;
            Ok(Option::clone(&tags))
        };
        let tags = self.index.tags(arn, known, ask).await?;
        Ok(tags.map(|tags| Group { name: name.to_string(), arn: arn.to_string(), tags }))
    }
}

pub(crate) async fn stack_groups(
    client: &Client,
    tagging: &Tagging,
    ctx: &Ctx,
) -> Result<Arc<StackGroups>, ProviderError> {
    let prefix = group_prefix(&ctx.stack);
    let key = format!("scheduler:ListScheduleGroups:{prefix}");
    ctx.cache
        .get_or_try_init(&key, || async {
            let list = client
                .list_schedule_groups()
                .name_prefix(&prefix)
                .into_paginator()
                .items()
                .send()
                .try_collect();
            let (summaries, index) = futures::try_join!(
                async { list.await.map_err(|e| aws_error("ListScheduleGroups", e)) },
                tagging.index(ctx)
            )?;
            let listed = summaries
                .iter()
                .filter(|g| g.state() != Some(&ScheduleGroupState::Deleting))
                .filter_map(|g| Some((g.name()?.to_string(), g.arn()?.to_string())))
                .filter(|(name, _)| name != "default" && name.starts_with(&prefix))
                .collect();
            Ok(StackGroups { listed, index })
        })
        .await
}

/// One group by name with its tags; None when it does not exist or is being deleted.
pub(crate) async fn get_group(client: &Client, name: &str) -> Result<Option<Group>, ProviderError> {
    if name == "default" {
        return Ok(None);
    }
    let out = match client.get_schedule_group().name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = aws_error("GetScheduleGroup", e);
            return if is_not_found(&e) { Ok(None) } else { Err(e) };
        }
    };
    if out.state() == Some(&ScheduleGroupState::Deleting) {
        return Ok(None);
    }
    let Some(arn) = out.arn() else { return Ok(None) };
    let tags = match group_tags(client, arn).await {
        Ok(t) => t,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(Group { name: name.to_string(), arn: arn.to_string(), tags }))
}

pub(crate) async fn group_tags(
    client: &Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client.list_tags_for_resource().resource_arn(arn).send().await;
    let out = out.map_err(|e| aws_error("ListTagsForResource", e))?;
    Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
}

pub(crate) fn tag_list(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::fatal(format!("Scheduler tag: {e}")))
        })
        .collect()
}

/// Scheduler's tag calls (schedule groups, by ARN): TagResource, UntagResource.
#[async_trait::async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(tag_list(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}
