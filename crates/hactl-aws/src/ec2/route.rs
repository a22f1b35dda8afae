//! `ec2.route`: one route of a route table, to an internet gateway or a NAT gateway.
//! Its id is `rtb-…|DESTINATION`; it has no tags, so it is found by that natural key.

use super::{route_tables, target_prop_values};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::{match_target, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::RouteOrigin;
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::Route as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct Route(pub Client);

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('|').ok_or_else(|| ProviderError::fatal(format!("bad route id `{id}` (want rtb-…|CIDR)")))
}

#[async_trait]
impl Provider for Route {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut wanted = target_prop_values(targets, Kind::ROUTE_TABLE_ID);
        wanted.extend(
            targets
                .iter()
                .filter_map(|t| t.id.as_deref().and_then(|i| split(i).ok()).map(|(r, _)| r.to_string())),
        );
        let tables = route_tables(ctx, &self.0, &wanted).await?;
        let mut out = Vec::new();
        for t in &tables {
            let Some(rtb) = t.route_table_id() else { continue };
            let owned = super::owned_by(&ctx.stack, t.tags());
            for r in t.routes() {
                // The local route and routes AWS manages (endpoints, propagation) are not ours.
                let Some(dest) = r.destination_cidr_block() else { continue };
                if r.gateway_id() == Some("local") || r.origin() == Some(&RouteOrigin::CreateRouteTable) {
                    continue;
                }
                if r.origin() == Some(&RouteOrigin::EnableVgwRoutePropagation) {
                    continue;
                }
                let mut props = Props::from([
                    (Kind::ROUTE_TABLE_ID.to_string(), Value::str(rtb)),
                    (Kind::DESTINATION_CIDR_BLOCK.to_string(), Value::str(dest)),
                ]);
                if let Some(g) = r.gateway_id() {
                    props.insert(Kind::GATEWAY_ID.into(), Value::str(g));
                }
                if let Some(n) = r.nat_gateway_id() {
                    props.insert(Kind::NAT_GATEWAY_ID.into(), Value::str(n));
                }
                let address = match_target(targets, |p| {
                    p.get(Kind::ROUTE_TABLE_ID).and_then(Value::as_str) == Some(rtb)
                        && p.get(Kind::DESTINATION_CIDR_BLOCK).and_then(Value::as_str) == Some(dest)
                })
                .cloned();
                out.push(super::object(format!("{rtb}|{dest}"), address, props, owned));
            }
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let rtb = req_str(props, Kind::ROUTE_TABLE_ID)?;
        let dest = req_str(props, Kind::DESTINATION_CIDR_BLOCK)?;
        let r = self
            .0
            .create_route()
            .route_table_id(rtb)
            .destination_cidr_block(dest)
            .set_gateway_id(opt_str(props, Kind::GATEWAY_ID).map(str::to_string))
            .set_nat_gateway_id(opt_str(props, Kind::NAT_GATEWAY_ID).map(str::to_string))
            .send()
            .await;
        match r {
            Ok(_) => {}
            Err(e) => {
                let err = retry_not_found(aws_error("CreateRoute", e));
                // A create retried after a crash finds its route: make it point right.
                if err.code() == Some("RouteAlreadyExists") {
                    self.replace(rtb, dest, props).await?;
                } else {
                    return Err(err);
                }
            }
        }
        Ok(Applied { id: format!("{rtb}|{dest}"), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let (rtb, dest) = split(req.id)?;
        self.replace(rtb, dest, req.desired).await?;
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let (rtb, dest) = split(id)?;
        ignore_not_found(
            self.0
                .delete_route()
                .route_table_id(rtb)
                .destination_cidr_block(dest)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteRoute", e)),
        )
    }
}

impl Route {
    async fn replace(&self, rtb: &str, dest: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .replace_route()
            .route_table_id(rtb)
            .destination_cidr_block(dest)
            .set_gateway_id(opt_str(props, Kind::GATEWAY_ID).map(str::to_string))
            .set_nat_gateway_id(opt_str(props, Kind::NAT_GATEWAY_ID).map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ReplaceRoute", e)))
    }
}
