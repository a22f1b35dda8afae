//! `ec2.internet_gateway`: the internet gateway (attached by `ec2.internet_gateway_attachment`).

use super::{internet_gateways, ownership, sync_tags, tag_spec, tags_value, target_ids};
use crate::error::{aws_error, ignore_not_found};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct InternetGateway(pub Client);

static SCHEMA: KindSchema =
    KindSchema { kind: "ec2.internet_gateway", props: &[PropSchema::in_place("tags")] };

#[async_trait]
impl Provider for InternetGateway {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let igws = internet_gateways(ctx, &self.0, &target_ids(targets)).await?;
        Ok(igws
            .iter()
            .filter_map(|g| {
                let (owned, address) = ownership(&ctx.stack, g.tags());
                Some(LiveObject {
                    id: g.internet_gateway_id()?.to_string(),
                    address,
                    props: Props::from([("tags".to_string(), tags_value(g.tags()))]),
                    outputs: Default::default(),
                    owned,
                })
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
        if let Some(c) = req.changes.iter().find(|c| c.name == "tags") {
            sync_tags(&self.0, req.id, c.before.as_ref(), c.after.as_ref()).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
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
