//! `scheduler.schedule_group`: the stack's schedule group `hactl-<stack>`. id = group name.
//!
//! Read: ListScheduleGroups(NamePrefix=`hactl-<stack>`, paginated), the groups' tags from
//! the stack's tag index ([`crate::tagging`], one GetResources per refresh and region,
//! shared by every kind; the list carries no tags); ListTagsForResource only where the
//! index does not decide ([`crate::tagging::TagIndex::lookup`]: a listed group it does not
//! hold that state records or a target names, one it holds that state does not record or
//! records with other tags), plus GetScheduleGroup for a recorded name outside the listing. The `default` group and groups
//! being deleted are never read. Groups of another stack sharing the prefix
//! (`hactl-<stack>b`) cost no call and are left out unless recorded.
//!
//! Emulator (moto) quirks handled here: CreateScheduleGroup on an existing name replaces
//! the group (its schedules lost) instead of answering ConflictException, so create looks
//! first; DeleteScheduleGroup of a missing group is an InternalError, so delete looks first;
//! the tags of a deleted group stay behind and come back with a new group of the same name,
//! so create converges the tags after creating.

use super::{get_group, group_tags, stack_groups, tag_list, Group};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{client_token, ensure_ours, match_target, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_scheduler::types::ScheduleGroupState;
use aws_sdk_scheduler::Client;
use hactl_core::kinds::scheduler::ScheduleGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct ScheduleGroup(pub Client, pub crate::tagging::Tagging);

/// The "already exists" code of the service.
const EXISTS: &str = "ConflictException";

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

impl ScheduleGroup {
    /// The group's ARN (GetScheduleGroup; a group created moments ago may not be visible
    /// yet: NotFound retried).
    async fn arn(&self, name: &str) -> Result<String, ProviderError> {
        let out = self
            .0
            .get_schedule_group()
            .name(name)
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("GetScheduleGroup", e)))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal(format!("GetScheduleGroup {name} returned no ARN")))
    }

    /// A create that found the name taken: only our own group is converged.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        g: Group,
        props: &Props,
    ) -> Result<Applied, ProviderError> {
        ensure_ours(ctx, address, &g.tags, &format!("schedule group `{}`", g.name), EXISTS)?;
        ctx.progress(format!("adopting existing schedule group {}", g.name));
        self.0.converge_tags(&g.arn, &g.tags, props).await?;
        Ok(Applied { id: g.name.clone(), outputs: outputs(&g.name, &g.arn) })
    }
}

#[async_trait]
impl Provider for ScheduleGroup {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let listed = stack_groups(&self.0, &self.1, ctx).await?;
        let recorded: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let named =
            |name: &str| match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
        let mut groups: Vec<Group> = Vec::new();
        for (name, arn) in &listed.listed {
            // Not in the index and neither recorded nor named: not ours, no call. Gone
            // since the list: not read.
            let record = targets.iter().find(|t| t.id.as_deref() == Some(name.as_str()));
            let known = Known::of(record, named(name).is_some());
            groups.extend(listed.group(&self.0, ctx, (name, arn), known).await?);
        }
        for id in &recorded {
            if !listed.listed(id) {
                if let Some(g) = get_group(&self.0, id).await? {
                    groups.push(g);
                }
            }
        }
        let mut out = Vec::new();
        for g in groups {
            let (owned, mut address) = owner_of(&ctx.stack, &g.tags);
            let is_recorded = recorded.contains(g.name.as_str());
            if !owned {
                match g.tags.get(TAG_STACK) {
                    // Another stack's group sharing the name prefix: not ours to read.
                    Some(_) if !is_recorded => continue,
                    Some(_) => {}
                    None => {
                        address = named(&g.name).cloned();
                        if address.is_none() && !is_recorded {
                            continue;
                        }
                    }
                }
            }
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(&g.name)),
                (Kind::TAGS.to_string(), tags_prop(g.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject {
                id: g.name.clone(),
                address,
                props,
                outputs: outputs(&g.name, &g.arn),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // Look first: the emulator's CreateScheduleGroup silently replaces an existing group.
        if let Some(g) = get_group(&self.0, name).await? {
            return self.adopt(ctx, address, g, props).await;
        }
        let created = self
            .0
            .create_schedule_group()
            .name(name)
            .set_tags(Some(tag_list(tag_map(props))?))
            .client_token(client_token(ctx, address, props))
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.schedule_group_arn().to_string(),
            Err(e) => {
                let e = aws_error("CreateScheduleGroup", e);
                if e.code() != Some(EXISTS) {
                    return Err(e);
                }
                return match get_group(&self.0, name).await? {
                    Some(g) => self.adopt(ctx, address, g, props).await,
                    // Taken by a group still being deleted.
                    None => Err(ProviderError::retryable(format!(
                        "schedule group {name} is still being deleted: {}",
                        e.message()
                    ))
                    .with_code(EXISTS)),
                };
            }
        };
        // The emulator brings back the tags of a deleted group of the same name.
        let live = group_tags(&self.0, &arn).await.map_err(retry_not_found)?;
        self.0.converge_tags(&arn, &live, props).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let arn = self.arn(req.id).await?;
        let refuse = |other: &str| {
            ProviderError::fatal(format!("scheduler.schedule_group cannot update `{other}` in place"))
        };
        self.0.update_tags_only(&arn, req.changes, refuse).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, &arn) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Look first: the emulator answers InternalError (retryable) for a missing group.
        let state = match self.0.get_schedule_group().name(id).send().await {
            Ok(out) => out.state().cloned(),
            Err(e) => {
                let e = aws_error("GetScheduleGroup", e);
                return if is_not_found(&e) { Ok(()) } else { Err(e) };
            }
        };
        if state != Some(ScheduleGroupState::Deleting) {
            // Deletes the group's schedules too.
            ignore_not_found(
                self.0
                    .delete_schedule_group()
                    .name(id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("DeleteScheduleGroup", e)),
            )?;
        }
        // AWS deletes asynchronously (state DELETING).
        ctx.wait_for(&format!("schedule group {id} to be deleted"), || async {
            match self.0.get_schedule_group().name(id).send().await {
                Ok(_) => Ok(None),
                Err(e) => {
                    let e = aws_error("GetScheduleGroup", e);
                    if is_not_found(&e) {
                        Ok(Some(()))
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }
}
