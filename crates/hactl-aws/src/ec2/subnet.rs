//! `ec2.subnet`: a subnet in one availability zone, with its route table association
//! (`route_table_id`: a subnet has exactly one, so it is managed here, in place).

use super::{
    describe_all, output, ownership, route_tables, tag_spec, tagged_or_ids, tags_value, target_ids,
    target_prop_values,
};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_bool, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::Subnet as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct Subnet(pub Client);

impl Subnet {
    async fn set_public_ip(&self, id: &str, v: bool) -> Result<(), ProviderError> {
        self.0
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(v).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifySubnetAttribute", e)))
    }

    /// The subnet's explicit association: (association id, route table id).
    async fn association(&self, id: &str) -> Result<Option<(String, String)>, ProviderError> {
        let out = self
            .0
            .describe_route_tables()
            .filters(super::ids_filter("association.subnet-id", &[id.to_string()]))
            .send()
            .await
            .map_err(|e| aws_error("DescribeRouteTables", e))?;
        Ok(out.route_tables().iter().find_map(|t| {
            t.associations().iter().find(|a| a.subnet_id() == Some(id)).and_then(|a| {
                Some((a.route_table_association_id()?.to_string(), t.route_table_id()?.to_string()))
            })
        }))
    }

    /// Associates the subnet with `table` (or with none, falling back to the main table).
    /// `known_unassociated`: a subnet just created has no association; skip the lookup.
    async fn set_route_table(
        &self,
        id: &str,
        table: Option<&str>,
        known_unassociated: bool,
    ) -> Result<(), ProviderError> {
        let current = if known_unassociated { None } else { self.association(id).await? };
        match (current, table) {
            (Some((_, now)), Some(want)) if now == want => Ok(()),
            (Some((assoc, _)), Some(want)) => self
                .0
                .replace_route_table_association()
                .association_id(assoc)
                .route_table_id(want)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_not_found(aws_error("ReplaceRouteTableAssociation", e))),
            (None, Some(want)) => self
                .0
                .associate_route_table()
                .subnet_id(id)
                .route_table_id(want)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_not_found(aws_error("AssociateRouteTable", e))),
            (Some((assoc, _)), None) => self
                .0
                .disassociate_route_table()
                .association_id(assoc)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DisassociateRouteTable", e)),
            (None, None) => Ok(()),
        }
    }
}

#[async_trait]
impl Provider for Subnet {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let c = &self.0;
        let subnets = tagged_or_ids(
            ctx,
            "ec2:DescribeSubnets",
            "subnet-id",
            &target_ids(targets),
            |s: &aws_sdk_ec2::types::Subnet| s.subnet_id(),
            |f| async move { describe_all!(c, describe_subnets, filters, f, "DescribeSubnets") },
        )
        .await?;
        // Associations come from the route tables (one shared call for the refresh).
        let tables_wanted = target_prop_values(targets, Kind::ROUTE_TABLE_ID);
        let tables = route_tables(ctx, &self.0, &tables_wanted).await?;
        let table_of = |subnet: &str| {
            tables.iter().find_map(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet) && a.main() != Some(true))
                    .then(|| t.route_table_id().map(str::to_string))
                    .flatten()
            })
        };
        Ok(subnets
            .iter()
            .filter_map(|s| {
                let id = s.subnet_id()?;
                let (owned, address) = ownership(&ctx.stack, s.tags());
                let mut props = Props::new();
                props.insert(Kind::VPC_ID.into(), Value::str(s.vpc_id().unwrap_or_default()));
                props.insert(Kind::CIDR_BLOCK.into(), Value::str(s.cidr_block().unwrap_or_default()));
                props.insert(
                    Kind::AVAILABILITY_ZONE.into(),
                    Value::str(s.availability_zone().unwrap_or_default()),
                );
                props.insert(
                    Kind::MAP_PUBLIC_IP_ON_LAUNCH.into(),
                    Value::Bool(s.map_public_ip_on_launch().unwrap_or(false)),
                );
                props
                    .insert(Kind::ROUTE_TABLE_ID.into(), table_of(id).map(Value::Str).unwrap_or(Value::Null));
                props.insert(Kind::TAGS.into(), tags_value(s.tags()));
                let outputs = output("arn", s.subnet_arn().unwrap_or_default());
                Some(LiveObject { id: id.to_string(), address, props, outputs, owned })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_subnet()
            .vpc_id(req_str(props, Kind::VPC_ID)?)
            .cidr_block(req_str(props, Kind::CIDR_BLOCK)?)
            .availability_zone(req_str(props, Kind::AVAILABILITY_ZONE)?)
            .tag_specifications(tag_spec(ResourceType::Subnet, props))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateSubnet", e)))?;
        let s = out.subnet().ok_or_else(|| ProviderError::fatal("CreateSubnet returned no subnet"))?;
        let id =
            s.subnet_id().ok_or_else(|| ProviderError::fatal("CreateSubnet returned no id"))?.to_string();
        if opt_bool(props, Kind::MAP_PUBLIC_IP_ON_LAUNCH) == Some(true) {
            self.set_public_ip(&id, true).await?;
        }
        if let Some(table) = opt_str(props, Kind::ROUTE_TABLE_ID) {
            self.set_route_table(&id, Some(table), true).await?;
        }
        Ok(Applied { id, outputs: output("arn", s.subnet_arn().unwrap_or_default()) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            match c.name.as_str() {
                Kind::MAP_PUBLIC_IP_ON_LAUNCH => {
                    self.set_public_ip(
                        req.id,
                        opt_bool(req.desired, Kind::MAP_PUBLIC_IP_ON_LAUNCH).unwrap_or(false),
                    )
                    .await?
                }
                Kind::ROUTE_TABLE_ID => {
                    self.set_route_table(req.id, opt_str(req.desired, Kind::ROUTE_TABLE_ID), false).await?
                }
                Kind::TAGS => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!("ec2.subnet cannot update `{other}` in place")))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // DependencyViolation (ENIs of a deleted load balancer linger) is retried by the engine.
        ignore_not_found(
            self.0
                .delete_subnet()
                .subnet_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteSubnet", e)),
        )
    }
}
