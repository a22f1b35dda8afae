//! `ec2.eip`: an Elastic IP in the VPC domain (for a NAT gateway).

use super::{
    ids_filter, output, ownership, stack_filter, tag_spec, tags_value, target_ids, update_tags_only,
};
use crate::error::{aws_error, ignore_not_found};
use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::Eip as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeSet;

pub struct ElasticIp(pub Client);

impl ElasticIp {
    async fn list(
        &self,
        f: aws_sdk_ec2::types::Filter,
    ) -> Result<Vec<aws_sdk_ec2::types::Address>, ProviderError> {
        // DescribeAddresses is not paginated: one call returns all.
        let out = self
            .0
            .describe_addresses()
            .filters(f)
            .send()
            .await
            .map_err(|e| aws_error("DescribeAddresses", e))?;
        Ok(out.addresses().to_vec())
    }
}

#[async_trait]
impl Provider for ElasticIp {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut addrs = self.list(stack_filter(&ctx.stack)).await?;
        let have: BTreeSet<String> =
            addrs.iter().filter_map(|a| a.allocation_id().map(str::to_string)).collect();
        let missing: Vec<String> = target_ids(targets).into_iter().filter(|i| !have.contains(i)).collect();
        if !missing.is_empty() {
            addrs.extend(self.list(ids_filter("allocation-id", &missing)).await?);
        }
        Ok(addrs
            .iter()
            .filter_map(|a| {
                let (owned, address) = ownership(&ctx.stack, a.tags());
                let domain = a.domain().map(|d| d.as_str().to_string()).unwrap_or_else(|| "vpc".into());
                Some(LiveObject {
                    id: a.allocation_id()?.to_string(),
                    address,
                    props: Props::from([
                        (Kind::DOMAIN.to_string(), Value::str(domain)),
                        (Kind::TAGS.to_string(), tags_value(a.tags())),
                    ]),
                    outputs: output("public_ip", a.public_ip().unwrap_or_default()),
                    owned,
                })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, props))
            .send()
            .await
            .map_err(|e| aws_error("AllocateAddress", e))?;
        let id = out
            .allocation_id()
            .ok_or_else(|| ProviderError::fatal("AllocateAddress returned no allocation id"))?;
        Ok(Applied { id: id.to_string(), outputs: output("public_ip", out.public_ip().unwrap_or_default()) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        update_tags_only(&self.0, &req).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Still associated (a NAT gateway being deleted): AuthFailure / InvalidIPAddress.InUse → retry.
        match self.0.release_address().allocation_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = aws_error("ReleaseAddress", e);
                if err.code() == Some("InvalidIPAddress.InUse") {
                    return Err(err.into_retryable());
                }
                ignore_not_found(Err(err))
            }
        }
    }
}
