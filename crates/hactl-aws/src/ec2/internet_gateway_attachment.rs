//! `ec2.internet_gateway_attachment`: the internet gateway attached to the VPC. Its id
//! is `igw-…|vpc-…`. Detaching fails while public addresses are mapped in the VPC (NAT
//! gateways, EIPs, load balancers); that error is retried with bounded backoff.

use super::{internet_gateways, target_prop_values};
use crate::error::{aws_error, retry_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_ec2::types::AttachmentStatus;
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::InternetGatewayAttachment as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct InternetGatewayAttachment(pub Client);

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('|')
        .ok_or_else(|| ProviderError::fatal(format!("bad attachment id `{id}` (want igw-…|vpc-…)")))
}

#[async_trait]
impl Provider for InternetGatewayAttachment {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut wanted = target_prop_values(targets, Kind::INTERNET_GATEWAY_ID);
        wanted.extend(
            targets
                .iter()
                .filter_map(|t| t.id.as_deref().and_then(|i| split(i).ok()).map(|(g, _)| g.to_string())),
        );
        let igws = internet_gateways(ctx, &self.0, &wanted).await?;
        let mut out = Vec::new();
        for g in &igws {
            let Some(igw) = g.internet_gateway_id() else { continue };
            let owned = super::owned_by(&ctx.stack, g.tags());
            for a in g.attachments() {
                let Some(vpc) = a.vpc_id() else { continue };
                // AWS answers "available" for an attached gateway (not in the enum).
                if matches!(a.state(), Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)) {
                    continue;
                }
                let address = crate::util::match_target(targets, |p| {
                    p.get(Kind::INTERNET_GATEWAY_ID).and_then(Value::as_str) == Some(igw)
                        && p.get(Kind::VPC_ID).and_then(Value::as_str) == Some(vpc)
                })
                .cloned();
                let props = Props::from([
                    (Kind::INTERNET_GATEWAY_ID.to_string(), Value::str(igw)),
                    (Kind::VPC_ID.to_string(), Value::str(vpc)),
                ]);
                out.push(super::object(format!("{igw}|{vpc}"), address, props, owned));
            }
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let igw = req_str(props, Kind::INTERNET_GATEWAY_ID)?;
        let vpc = req_str(props, Kind::VPC_ID)?;
        if let Err(e) = self.0.attach_internet_gateway().internet_gateway_id(igw).vpc_id(vpc).send().await {
            let err = retry_not_found(aws_error("AttachInternetGateway", e));
            if err.code() != Some("Resource.AlreadyAssociated") {
                return Err(err);
            }
            // Already attached: fine if to this VPC (a create retried after a crash).
            let out = self
                .0
                .describe_internet_gateways()
                .internet_gateway_ids(igw)
                .send()
                .await
                .map_err(|e| aws_error("DescribeInternetGateways", e))?;
            let attached_here =
                out.internet_gateways().iter().flat_map(|g| g.attachments()).any(|a| a.vpc_id() == Some(vpc));
            if !attached_here {
                return Err(err);
            }
        }
        Ok(Applied { id: format!("{igw}|{vpc}"), outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        Err(ProviderError::fatal(format!(
            "an internet gateway attachment has nothing to update in place ({})",
            req.id
        )))
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let (igw, vpc) = split(id)?;
        match self.0.detach_internet_gateway().internet_gateway_id(igw).vpc_id(vpc).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = aws_error("DetachInternetGateway", e);
                match err.code() {
                    Some("Gateway.NotAttached") => Ok(()),
                    Some(c) if c.ends_with(".NotFound") => Ok(()),
                    _ => {
                        if err.message().contains("mapped public address") {
                            ctx.progress("public addresses still mapped in the VPC; waiting");
                            return Err(err.into_retryable());
                        }
                        Err(err)
                    }
                }
            }
        }
    }
}
