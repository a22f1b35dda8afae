//! `ec2.vpc`: the VPC, with DNS support and DNS hostnames.

use super::{describe_all, ownership, tag_spec, tagged_or_ids, tags_value, target_ids};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_bool, req_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::Vpc as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct Vpc(pub Client);

impl Vpc {
    async fn attribute(&self, id: &str, attr: VpcAttributeName) -> Result<Option<bool>, ProviderError> {
        let out = self
            .0
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(attr.clone())
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcAttribute", e))?;
        Ok(match attr {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support().and_then(|v| v.value()),
            _ => out.enable_dns_hostnames().and_then(|v| v.value()),
        })
    }

    async fn set_dns(
        &self,
        id: &str,
        support: Option<bool>,
        hostnames: Option<bool>,
    ) -> Result<(), ProviderError> {
        // One attribute per call (an API rule). Hostnames need support: support goes on
        // first, hostnames go off first.
        if hostnames == Some(false) {
            self.set_attr(id, VpcAttributeName::EnableDnsHostnames, false).await?;
        }
        if let Some(v) = support {
            self.set_attr(id, VpcAttributeName::EnableDnsSupport, v).await?;
        }
        if hostnames == Some(true) {
            self.set_attr(id, VpcAttributeName::EnableDnsHostnames, true).await?;
        }
        Ok(())
    }

    async fn set_attr(&self, id: &str, attr: VpcAttributeName, v: bool) -> Result<(), ProviderError> {
        let value = AttributeBooleanValue::builder().value(v).build();
        let req = self.0.modify_vpc_attribute().vpc_id(id);
        let req = match attr {
            VpcAttributeName::EnableDnsSupport => req.enable_dns_support(value),
            _ => req.enable_dns_hostnames(value),
        };
        req.send().await.map(|_| ()).map_err(|e| retry_not_found(aws_error("ModifyVpcAttribute", e)))
    }
}

#[async_trait]
impl Provider for Vpc {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let c = &self.0;
        let vpcs = tagged_or_ids(
            ctx,
            "ec2:DescribeVpcs",
            "vpc-id",
            &target_ids(targets),
            |v: &aws_sdk_ec2::types::Vpc| v.vpc_id(),
            |f| async move { describe_all!(c, describe_vpcs, filters, f, "DescribeVpcs") },
        )
        .await?;
        let mut out = Vec::new();
        for v in vpcs {
            let Some(id) = v.vpc_id() else { continue };
            let (owned, address) = ownership(&ctx.stack, v.tags());
            let (support, hostnames) = tokio::try_join!(
                self.attribute(id, VpcAttributeName::EnableDnsSupport),
                self.attribute(id, VpcAttributeName::EnableDnsHostnames)
            )?;
            let mut props = Props::new();
            props.insert(Kind::CIDR_BLOCK.into(), Value::str(v.cidr_block().unwrap_or_default()));
            props.insert(Kind::ENABLE_DNS_SUPPORT.into(), Value::Bool(support.unwrap_or(false)));
            props.insert(Kind::ENABLE_DNS_HOSTNAMES.into(), Value::Bool(hostnames.unwrap_or(false)));
            props.insert(Kind::TAGS.into(), tags_value(v.tags()));
            out.push(LiveObject { id: id.to_string(), address, props, outputs: Default::default(), owned });
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .create_vpc()
            .cidr_block(req_str(props, Kind::CIDR_BLOCK)?)
            .tag_specifications(tag_spec(ResourceType::Vpc, props))
            .send()
            .await
            .map_err(|e| aws_error("CreateVpc", e))?;
        let id = out
            .vpc()
            .and_then(|v: &aws_sdk_ec2::types::Vpc| v.vpc_id())
            .ok_or_else(|| ProviderError::fatal("CreateVpc returned no id"))?
            .to_string();
        self.set_dns(
            &id,
            opt_bool(props, Kind::ENABLE_DNS_SUPPORT),
            opt_bool(props, Kind::ENABLE_DNS_HOSTNAMES),
        )
        .await?;
        Ok(Applied { id, outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let changed = |n: &str| req.changes.iter().any(|c| c.name == n);
        if changed(Kind::ENABLE_DNS_SUPPORT) || changed(Kind::ENABLE_DNS_HOSTNAMES) {
            self.set_dns(
                req.id,
                changed(Kind::ENABLE_DNS_SUPPORT)
                    .then(|| opt_bool(req.desired, Kind::ENABLE_DNS_SUPPORT))
                    .flatten(),
                changed(Kind::ENABLE_DNS_HOSTNAMES)
                    .then(|| opt_bool(req.desired, Kind::ENABLE_DNS_HOSTNAMES))
                    .flatten(),
            )
            .await?;
        }
        if let Some(c) = req.changes.iter().find(|c| c.name == Kind::TAGS) {
            self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0.delete_vpc().vpc_id(id).send().await.map(|_| ()).map_err(|e| aws_error("DeleteVpc", e)),
        )
    }
}
