//! `ec2.security_group`: the group itself; its rules are `ec2.security_group_rules`, so
//! groups that refer to each other never form a cycle. Deleting while network interfaces
//! of a deleted load balancer linger answers DependencyViolation, retried by the engine.

use super::{ownership, security_groups, tag_spec, tags_value, target_ids, update_tags_only};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::SecurityGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct SecurityGroup(pub Client);

#[async_trait]
impl Provider for SecurityGroup {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let groups = security_groups(ctx, &self.0, &target_ids(targets)).await?;
        Ok(groups
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .filter_map(|g| {
                let (owned, address) = ownership(&ctx.stack, g.tags());
                Some(LiveObject {
                    id: g.group_id()?.to_string(),
                    address,
                    props: Props::from([
                        (Kind::VPC_ID.to_string(), Value::str(g.vpc_id().unwrap_or_default())),
                        (Kind::GROUP_NAME.to_string(), Value::str(g.group_name().unwrap_or_default())),
                        (Kind::DESCRIPTION.to_string(), Value::str(g.description().unwrap_or_default())),
                        (Kind::TAGS.to_string(), tags_value(g.tags())),
                    ]),
                    outputs: super::output("arn", g.security_group_arn().unwrap_or_default()),
                    owned,
                })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_security_group()
            .vpc_id(req_str(props, Kind::VPC_ID)?)
            .group_name(req_str(props, Kind::GROUP_NAME)?)
            .description(req_str(props, Kind::DESCRIPTION)?)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, props))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateSecurityGroup", e)))?;
        let id = out.group_id().ok_or_else(|| ProviderError::fatal("CreateSecurityGroup returned no id"))?;
        Ok(Applied {
            id: id.to_string(),
            outputs: super::output("arn", out.security_group_arn().unwrap_or_default()),
        })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        update_tags_only(&self.0, &req).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteSecurityGroup", e)),
        )
    }
}
