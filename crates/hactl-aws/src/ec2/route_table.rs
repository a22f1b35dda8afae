//! `ec2.route_table`: a route table (routes and associations are their own kinds).

use super::{ownership, route_tables, tag_spec, tags_value, target_ids, update_tags_only};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::RouteTable as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct RouteTable(pub Client);

#[async_trait]
impl Provider for RouteTable {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let tables = route_tables(ctx, &self.0, &target_ids(targets)).await?;
        Ok(tables
            .iter()
            .filter_map(|t| {
                let (owned, address) = ownership(&ctx.stack, t.tags());
                Some(super::object(
                    t.route_table_id()?,
                    address,
                    Props::from([
                        (Kind::VPC_ID.to_string(), Value::str(t.vpc_id().unwrap_or_default())),
                        (Kind::TAGS.to_string(), tags_value(t.tags())),
                    ]),
                    owned,
                ))
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_route_table()
            .vpc_id(req_str(props, Kind::VPC_ID)?)
            .tag_specifications(tag_spec(ResourceType::RouteTable, props))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateRouteTable", e)))?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| ProviderError::fatal("CreateRouteTable returned no id"))?;
        Ok(Applied { id: id.to_string(), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        update_tags_only(&self.0, &req).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteRouteTable", e)),
        )
    }
}
