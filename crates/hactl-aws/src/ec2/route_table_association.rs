//! `ec2.route_table_association`: a subnet associated with a route table. It has no tags;
//! found by its natural key (route table + subnet).

use super::{route_tables, target_prop_values};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::{match_target, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct RouteTableAssociation(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "ec2.route_table_association",
    props: &[PropSchema::replace("route_table_id"), PropSchema::replace("subnet_id")],
};

#[async_trait]
impl Provider for RouteTableAssociation {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let wanted = target_prop_values(targets, "route_table_id");
        let tables = route_tables(ctx, &self.0, &wanted).await?;
        let mut out = Vec::new();
        for t in &tables {
            let Some(rtb) = t.route_table_id() else { continue };
            let owned = t.tags().iter().any(|x| x.key() == Some(hactl_core::TAG_STACK) && x.value() == Some(ctx.stack.as_str()));
            for a in t.associations() {
                let (Some(id), Some(subnet)) = (a.route_table_association_id(), a.subnet_id()) else { continue };
                if a.main() == Some(true) {
                    continue;
                }
                let address = match_target(targets, |p| {
                    p.get("route_table_id").and_then(Value::as_str) == Some(rtb)
                        && p.get("subnet_id").and_then(Value::as_str) == Some(subnet)
                })
                .cloned();
                let props = Props::from([
                    ("route_table_id".to_string(), Value::str(rtb)),
                    ("subnet_id".to_string(), Value::str(subnet)),
                ]);
                out.push(LiveObject { id: id.to_string(), address, props, outputs: Default::default(), owned });
            }
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .associate_route_table()
            .route_table_id(req_str(props, "route_table_id")?)
            .subnet_id(req_str(props, "subnet_id")?)
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("AssociateRouteTable", e)))?;
        let id = out.association_id().ok_or_else(|| ProviderError::fatal("AssociateRouteTable returned no id"))?;
        Ok(Applied { id: id.to_string(), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        Err(ProviderError::fatal(format!("a route table association has nothing to update in place ({})", req.id)))
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .disassociate_route_table()
                .association_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DisassociateRouteTable", e)),
        )
    }
}
