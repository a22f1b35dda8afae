//! `ec2.vpc_endpoint`: a gateway endpoint (S3, on route tables) or an interface endpoint
//! (in subnets, with security groups). Create uses a client token and waits until the
//! endpoint is available; delete waits until it is gone.

use super::{describe_all, ownership, tag_spec, tagged_or_ids, tags_value, target_ids};
use crate::error::{aws_error, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{client_token, opt_bool, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, State, VpcEndpointType};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::VpcEndpoint as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeSet;

pub struct VpcEndpoint(pub Client);

/// The endpoint state, lower-cased: AWS (and moto) answer "available", which the SDK's
/// enum (capitalised variants) only knows as an unknown value.
fn state_name(s: Option<&State>) -> String {
    s.map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default()
}

fn gone(s: Option<&State>) -> bool {
    matches!(state_name(s).as_str(), "deleted" | "deleting" | "rejected" | "failed" | "expired")
}

fn diff(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    (a.difference(&b).map(|s| s.to_string()).collect(), b.difference(&a).map(|s| s.to_string()).collect())
}

impl VpcEndpoint {
    async fn state(&self, id: &str) -> Result<Option<State>, ProviderError> {
        match self.0.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
            Ok(o) => Ok(o.vpc_endpoints().first().and_then(|e| e.state().cloned())),
            Err(e) => {
                let err = aws_error("DescribeVpcEndpoints", e);
                if err.code().is_some_and(|c| c.contains("NotFound")) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[async_trait]
impl Provider for VpcEndpoint {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let c = &self.0;
        let eps = tagged_or_ids(
            ctx,
            "ec2:DescribeVpcEndpoints",
            "vpc-endpoint-id",
            &target_ids(targets),
            |e: &aws_sdk_ec2::types::VpcEndpoint| e.vpc_endpoint_id(),
            |f| async move { describe_all!(c, describe_vpc_endpoints, filters, f, "DescribeVpcEndpoints") },
        )
        .await?;
        Ok(eps
            .iter()
            .filter(|e| !gone(e.state()))
            .filter_map(|e| {
                let (owned, address) = ownership(&ctx.stack, e.tags());
                let kind =
                    e.vpc_endpoint_type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "Gateway".into());
                let mut props = Props::from([
                    (Kind::VPC_ID.to_string(), Value::str(e.vpc_id().unwrap_or_default())),
                    (Kind::SERVICE_NAME.to_string(), Value::str(e.service_name().unwrap_or_default())),
                    (Kind::VPC_ENDPOINT_TYPE.to_string(), Value::str(&kind)),
                    (Kind::TAGS.to_string(), tags_value(e.tags())),
                ]);
                if kind == "Gateway" {
                    props.insert(
                        Kind::ROUTE_TABLE_IDS.into(),
                        Value::from_strings(e.route_table_ids().iter().cloned()),
                    );
                } else {
                    props
                        .insert(Kind::SUBNET_IDS.into(), Value::from_strings(e.subnet_ids().iter().cloned()));
                    props.insert(
                        Kind::SECURITY_GROUP_IDS.into(),
                        Value::from_strings(
                            e.groups().iter().filter_map(|g| g.group_id().map(str::to_string)),
                        ),
                    );
                    props.insert(
                        Kind::PRIVATE_DNS_ENABLED.into(),
                        Value::Bool(e.private_dns_enabled().unwrap_or(false)),
                    );
                }
                Some(super::object(e.vpc_endpoint_id()?, address, props, owned))
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let kind = req_str(props, Kind::VPC_ENDPOINT_TYPE)?;
        let mut req = self
            .0
            .create_vpc_endpoint()
            .vpc_id(req_str(props, Kind::VPC_ID)?)
            .service_name(req_str(props, Kind::SERVICE_NAME)?)
            .vpc_endpoint_type(VpcEndpointType::from(kind))
            .client_token(client_token(ctx, address, props))
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, props));
        if kind == "Gateway" {
            req = req.set_route_table_ids(Some(str_list(props, Kind::ROUTE_TABLE_IDS)));
        } else {
            req = req
                .set_subnet_ids(Some(str_list(props, Kind::SUBNET_IDS)))
                .set_security_group_ids(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
                .set_private_dns_enabled(opt_bool(props, Kind::PRIVATE_DNS_ENABLED));
        }
        let out = req.send().await.map_err(|e| retry_not_found(aws_error("CreateVpcEndpoint", e)))?;
        let id = out
            .vpc_endpoint()
            .and_then(|e: &aws_sdk_ec2::types::VpcEndpoint| e.vpc_endpoint_id())
            .ok_or_else(|| ProviderError::fatal("CreateVpcEndpoint returned no id"))?
            .to_string();
        ctx.wait_for(&format!("VPC endpoint {id} to become available"), || async {
            let s = self.state(&id).await?;
            match state_name(s.as_ref()).as_str() {
                "available" => Ok(Some(())),
                name if gone(s.as_ref()) => {
                    Err(ProviderError::fatal(format!("VPC endpoint {id} went to state {name}")))
                }
                _ => Ok(None),
            }
        })
        .await?;
        Ok(Applied { id, outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut m = self.0.modify_vpc_endpoint().vpc_endpoint_id(req.id);
        let mut any = false;
        for c in req.changes {
            let before = c.before.as_ref().map(Value::string_list).unwrap_or_default();
            let after = c.after.as_ref().map(Value::string_list).unwrap_or_default();
            let (add, remove) = diff(&before, &after);
            match c.name.as_str() {
                Kind::ROUTE_TABLE_IDS => {
                    m = m.set_add_route_table_ids(Some(add)).set_remove_route_table_ids(Some(remove))
                }
                Kind::SUBNET_IDS => m = m.set_add_subnet_ids(Some(add)).set_remove_subnet_ids(Some(remove)),
                Kind::SECURITY_GROUP_IDS => {
                    m = m.set_add_security_group_ids(Some(add)).set_remove_security_group_ids(Some(remove))
                }
                Kind::PRIVATE_DNS_ENABLED => {
                    m = m.set_private_dns_enabled(opt_bool(req.desired, Kind::PRIVATE_DNS_ENABLED))
                }
                Kind::TAGS => {
                    self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?;
                    continue;
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "ec2.vpc_endpoint cannot update `{other}` in place"
                    )))
                }
            }
            any = true;
        }
        if any {
            m.send().await.map_err(|e| retry_not_found(aws_error("ModifyVpcEndpoint", e)))?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: Default::default() })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.0.delete_vpc_endpoints().vpc_endpoint_ids(id).send().await {
            // Failures come back inside a successful answer.
            Ok(out) => {
                if let Some(item) = out.unsuccessful().first() {
                    let err = item.error();
                    let code = err.and_then(|e| e.code()).unwrap_or("Unknown");
                    if !code.contains("NotFound") {
                        let msg = err.and_then(|e| e.message()).unwrap_or("no message");
                        return Err(ProviderError::fatal(format!("DeleteVpcEndpoints: {code}: {msg}"))
                            .with_code(code));
                    }
                }
            }
            Err(e) => {
                let err = aws_error("DeleteVpcEndpoints", e);
                if !err.code().is_some_and(|c| c.contains("NotFound")) {
                    return Err(err);
                }
            }
        }
        ctx.wait_for(&format!("VPC endpoint {id} to be deleted"), || async {
            let s = self.state(id).await?;
            Ok((s.is_none() || (gone(s.as_ref()) && state_name(s.as_ref()) != "deleting")).then_some(()))
        })
        .await
    }
}
