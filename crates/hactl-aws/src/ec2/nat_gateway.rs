//! `ec2.nat_gateway`: a public NAT gateway in a public subnet with an Elastic IP. Create
//! uses a client token (stack + address + properties) and waits until `available`;
//! delete waits until `deleted`, so the Elastic IP can be released after it.

use super::{describe_all, ownership, tag_spec, tagged_or_ids, tags_value, target_ids, update_tags_only};
use crate::error::{aws_error, retry_not_found};
use crate::util::{client_token, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ConnectivityType, NatGatewayState, ResourceType};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::NatGateway as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct NatGateway(pub Client);

impl NatGateway {
    async fn state(&self, id: &str) -> Result<Option<(NatGatewayState, Option<String>)>, ProviderError> {
        let out = self
            .0
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("DescribeNatGateways", e)));
        match out {
            Ok(o) => Ok(o
                .nat_gateways()
                .first()
                .and_then(|n| n.state().map(|s| (s.clone(), n.failure_message().map(str::to_string))))),
            Err(e) if e.code() == Some("NatGatewayNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Provider for NatGateway {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let c = &self.0;
        let nats = tagged_or_ids(
            ctx,
            "ec2:DescribeNatGateways",
            "nat-gateway-id",
            &target_ids(targets),
            |n: &aws_sdk_ec2::types::NatGateway| n.nat_gateway_id(),
            |f| async move { describe_all!(c, describe_nat_gateways, filter, f, "DescribeNatGateways") },
        )
        .await?;
        Ok(nats
            .iter()
            // Deleted and failed gateways linger in describe answers for a while; they
            // are gone for every purpose here.
            .filter(|n| matches!(n.state(), Some(NatGatewayState::Available | NatGatewayState::Pending)))
            .filter_map(|n| {
                let (owned, address) = ownership(&ctx.stack, n.tags());
                let allocation =
                    n.nat_gateway_addresses().first().and_then(|a| a.allocation_id()).unwrap_or_default();
                let props = Props::from([
                    (Kind::SUBNET_ID.to_string(), Value::str(n.subnet_id().unwrap_or_default())),
                    (Kind::ALLOCATION_ID.to_string(), Value::str(allocation)),
                    (
                        Kind::CONNECTIVITY_TYPE.to_string(),
                        Value::str(n.connectivity_type().map(|c| c.as_str()).unwrap_or("public")),
                    ),
                    (Kind::TAGS.to_string(), tags_value(n.tags())),
                ]);
                Some(super::object(n.nat_gateway_id()?, address, props, owned))
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_nat_gateway()
            .subnet_id(req_str(props, Kind::SUBNET_ID)?)
            .allocation_id(req_str(props, Kind::ALLOCATION_ID)?)
            .connectivity_type(ConnectivityType::from(
                req_str(props, Kind::CONNECTIVITY_TYPE).unwrap_or("public"),
            ))
            .client_token(client_token(ctx, address, props))
            .tag_specifications(tag_spec(ResourceType::Natgateway, props))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateNatGateway", e)))?;
        let id = out
            .nat_gateway()
            .and_then(|n: &aws_sdk_ec2::types::NatGateway| n.nat_gateway_id())
            .ok_or_else(|| ProviderError::fatal("CreateNatGateway returned no id"))?
            .to_string();
        ctx.progress(format!("{id} pending"));
        ctx.wait_for(&format!("NAT gateway {id} to become available"), || async {
            match self.state(&id).await? {
                Some((NatGatewayState::Available, _)) => Ok(Some(())),
                Some((NatGatewayState::Failed, msg)) => Err(ProviderError::fatal(format!(
                    "NAT gateway {id} failed: {}",
                    msg.unwrap_or_else(|| "no reason given".into())
                ))),
                Some((NatGatewayState::Deleted | NatGatewayState::Deleting, _)) => Err(ProviderError::fatal(
                    format!("NAT gateway {id} is being deleted; it will not become available"),
                )),
                _ => Ok(None),
            }
        })
        .await?;
        Ok(Applied { id, outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        update_tags_only(&self.0, &req).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.0.delete_nat_gateway().nat_gateway_id(id).send().await {
            Ok(_) => {}
            Err(e) => {
                let err = aws_error("DeleteNatGateway", e);
                if !matches!(err.code(), Some("NatGatewayNotFound" | "InvalidNatGatewayID.NotFound")) {
                    return Err(err);
                }
            }
        }
        ctx.wait_for(&format!("NAT gateway {id} to be deleted"), || async {
            Ok(match self.state(id).await? {
                None | Some((NatGatewayState::Deleted | NatGatewayState::Failed, _)) => Some(()),
                _ => None,
            })
        })
        .await
    }
}
