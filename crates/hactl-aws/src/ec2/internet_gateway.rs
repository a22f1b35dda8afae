//! `ec2.internet_gateway`: the internet gateway (attached by `ec2.internet_gateway_attachment`).

use super::{internet_gateways, ownership, tag_spec, tags_value, target_ids, update_tags_only};
use crate::error::{aws_error, ignore_not_found};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::InternetGateway as Kind;
use hactl_core::{Address, KindSchema, Props};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct InternetGateway(pub Client);

#[async_trait]
impl Provider for InternetGateway {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let igws = internet_gateways(ctx, &self.0, &target_ids(targets)).await?;
        Ok(igws
            .iter()
            .filter_map(|g| {
                let (owned, address) = ownership(&ctx.stack, g.tags());
                Some(super::object(
                    g.internet_gateway_id()?,
                    address,
                    Props::from([(Kind::TAGS.to_string(), tags_value(g.tags()))]),
                    owned,
                ))
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, props))
            .send()
            .await
            .map_err(|e| aws_error("CreateInternetGateway", e))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::fatal("CreateInternetGateway returned no id"))?;
        Ok(Applied { id: id.to_string(), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        update_tags_only(&self.0, &req).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteInternetGateway", e)),
        )
    }
}
