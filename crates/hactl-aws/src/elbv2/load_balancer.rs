//! `elbv2.load_balancer`: an application load balancer in two or more subnets with its
//! security groups, deletion protection, idle timeout and the dropping of invalid HTTP
//! header fields (load balancer attributes).
//!
//! Create looks the name up first (a repeated CreateLoadBalancer makes a duplicate on the
//! emulator and fails on AWS when a setting differs): a load balancer of that name with
//! this stack's and address's tags is adopted and converged. Delete is a destroy trap:
//! deletion protection is turned off first (only there), and after the load balancer is
//! gone the delete waits until its network interfaces (description `ELB app/<name>/<id>`)
//! are released, so its subnets and security groups can go next.

use super::{arn_resource, ensure_own, indexed_tags, known_of, tags_of, target_ids};
use crate::error::{aws_error, found, is_not_found, retry_not_found};
use crate::tagging::Tagging;
use crate::util::tags::Tagger;
use crate::util::{opt_bool, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use hactl_core::kinds::elbv2::LoadBalancer as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

type Lb = aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

pub struct LoadBalancer {
    pub elb: Client,
    /// For the wait on the load balancer's network interfaces at delete.
    pub ec2: aws_sdk_ec2::Client,
    /// The stack's tag index: the load balancers' tags (DescribeTags for those it does not
    /// answer).
    pub tagging: Tagging,
}

const ATTR_PROTECTION: &str = "deletion_protection.enabled";
const ATTR_IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";
/// Header fields that are not valid HTTP are removed before the request reaches a target
/// (a request-smuggling guard; AWS's default is false).
const ATTR_DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";
/// AWS's idle timeout when the attribute was never set (the emulator leaves it out).
const DEFAULT_IDLE_TIMEOUT: i64 = 60;

/// `app/<name>/<id>`: the CloudWatch dimension, and the tail of the description of the
/// load balancer's network interfaces.
fn arn_suffix(arn: &str) -> &str {
    let r = arn_resource(arn);
    r.strip_prefix("loadbalancer/").unwrap_or(r)
}

fn outputs(lb: &Lb) -> BTreeMap<String, Value> {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("arn_suffix".to_string(), Value::str(arn_suffix(arn))),
        ("dns_name".to_string(), Value::str(lb.dns_name().unwrap_or_default())),
        ("zone_id".to_string(), Value::str(lb.canonical_hosted_zone_id().unwrap_or_default())),
    ])
}

fn idle_timeout(props: &Props) -> Option<i64> {
    props.get(Kind::IDLE_TIMEOUT).and_then(Value::as_int)
}

/// The attributes a property change sets: (attribute key, value); None = the property
/// does not map to an attribute. An unset property sets AWS's default.
fn attribute(props: &Props, name: &str) -> Option<(&'static str, String)> {
    Some(match name {
        Kind::DELETION_PROTECTION => (ATTR_PROTECTION, opt_bool(props, name).unwrap_or(false).to_string()),
        Kind::IDLE_TIMEOUT => {
            (ATTR_IDLE_TIMEOUT, idle_timeout(props).unwrap_or(DEFAULT_IDLE_TIMEOUT).to_string())
        }
        Kind::DROP_INVALID_HEADER_FIELDS => {
            (ATTR_DROP_INVALID, opt_bool(props, name).unwrap_or(false).to_string())
        }
        _ => return None,
    })
}

/// The attributes of a new load balancer: those its properties set.
fn create_attributes(props: &Props) -> Vec<(&'static str, String)> {
    [Kind::DELETION_PROTECTION, Kind::IDLE_TIMEOUT, Kind::DROP_INVALID_HEADER_FIELDS]
        .into_iter()
        .filter(|p| props.get(*p).is_some_and(|v| !matches!(v, Value::Null)))
        .filter_map(|p| attribute(props, p))
        .collect()
}

impl LoadBalancer {
    async fn describe_all(&self) -> Result<Vec<Lb>, ProviderError> {
        self.elb
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeLoadBalancers", e))
    }

    /// The load balancer with this ARN, or None when it does not exist.
    async fn describe_arn(&self, arn: &str) -> Result<Option<Lb>, ProviderError> {
        let out = self.elb.describe_load_balancers().load_balancer_arns(arn).send().await;
        match out.map_err(|e| aws_error("DescribeLoadBalancers", e)) {
            Ok(o) => Ok(o.load_balancers().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn describe_name(&self, name: &str) -> Result<Option<Lb>, ProviderError> {
        let out = self.elb.describe_load_balancers().names(name).send().await;
        match out.map_err(|e| aws_error("DescribeLoadBalancers", e)) {
            Ok(o) => Ok(o.load_balancers().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLoadBalancerAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
            .collect())
    }

    async fn set_attributes(&self, arn: &str, set: &[(&str, String)]) -> Result<(), ProviderError> {
        if set.is_empty() {
            return Ok(());
        }
        let attrs =
            set.iter().map(|(k, v)| LoadBalancerAttribute::builder().key(*k).value(v).build()).collect();
        self.elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyLoadBalancerAttributes", e)))
    }

    async fn set_subnets(&self, arn: &str, props: &Props) -> Result<(), ProviderError> {
        self.elb
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(str_list(props, Kind::SUBNET_IDS)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("SetSubnets", e)))
    }

    async fn set_security_groups(&self, arn: &str, props: &Props) -> Result<(), ProviderError> {
        self.elb
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("SetSecurityGroups", e)))
    }

    async fn wait_active(&self, ctx: &Ctx, arn: &str) -> Result<Lb, ProviderError> {
        ctx.wait_for(&format!("load balancer {} to become active", arn_suffix(arn)), || async {
            let Some(lb) = self.describe_arn(arn).await? else { return Ok(None) };
            match lb.state().and_then(|s| s.code()) {
                Some(LoadBalancerStateEnum::Active | LoadBalancerStateEnum::ActiveImpaired) => Ok(Some(lb)),
                Some(LoadBalancerStateEnum::Failed) => Err(ProviderError::fatal(format!(
                    "load balancer {} failed: {}",
                    arn_suffix(arn),
                    lb.state().and_then(|s| s.reason()).unwrap_or("no reason given")
                ))),
                _ => Ok(None),
            }
        })
        .await
    }

    /// A load balancer named like the one to create: ours (this stack and address) to
    /// adopt, or an error.
    async fn adoptable(&self, ctx: &Ctx, address: &Address, lb: &Lb) -> Result<String, ProviderError> {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let what = format!("load balancer `{}` ({arn})", lb.load_balancer_name().unwrap_or_default());
        ensure_own(&self.elb, ctx, address, &arn, &what, "DuplicateLoadBalancerName").await?;
        Ok(arn)
    }
}

#[async_trait]
impl Provider for LoadBalancer {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let (all, index) = futures::try_join!(self.describe_all(), self.tagging.index(ctx))?;
        let candidates = all
            .iter()
            .filter_map(|lb| {
                let arn = lb.load_balancer_arn()?;
                Some((arn.to_string(), known_of(targets, arn, Kind::NAME, lb.load_balancer_name())))
            })
            .collect();
        let tags = indexed_tags(&self.elb, &index, candidates).await?;
        let wanted = target_ids(targets);
        let mut out = Vec::new();
        for lb in &all {
            let Some(arn) = lb.load_balancer_arn() else { continue };
            let lb_tags = tags.get(arn).cloned().unwrap_or_default();
            let (owned, address) = owner_of(&ctx.stack, &lb_tags);
            if !owned && !wanted.contains(arn) {
                continue;
            }
            // Deleted since the describe.
            let Some(attrs) = found(self.attributes(arn).await)? else { continue };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(lb.load_balancer_name().unwrap_or_default())),
                (Kind::SCHEME.to_string(), Value::str(lb.scheme().map(|s| s.as_str()).unwrap_or_default())),
                (
                    Kind::SUBNET_IDS.to_string(),
                    Value::from_strings(lb.availability_zones().iter().filter_map(|z| z.subnet_id())),
                ),
                (
                    Kind::SECURITY_GROUP_IDS.to_string(),
                    Value::from_strings(lb.security_groups().iter().cloned()),
                ),
                (
                    Kind::DELETION_PROTECTION.to_string(),
                    Value::Bool(attrs.get(ATTR_PROTECTION).map(String::as_str) == Some("true")),
                ),
                (
                    Kind::IDLE_TIMEOUT.to_string(),
                    Value::Int(
                        attrs
                            .get(ATTR_IDLE_TIMEOUT)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(DEFAULT_IDLE_TIMEOUT),
                    ),
                ),
                (
                    Kind::DROP_INVALID_HEADER_FIELDS.to_string(),
                    Value::Bool(attrs.get(ATTR_DROP_INVALID).map(String::as_str) == Some("true")),
                ),
                (Kind::TAGS.to_string(), tags_prop(lb_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: arn.to_string(), address, props, outputs: outputs(lb), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let arn = match self.describe_name(name).await? {
            Some(existing) => {
                // A create retried after a crash: converge what may differ.
                let arn = self.adoptable(ctx, address, &existing).await?;
                ctx.progress(format!("adopting existing load balancer {}", arn_suffix(&arn)));
                self.set_subnets(&arn, props).await?;
                self.set_security_groups(&arn, props).await?;
                self.elb.sync_tags(&arn, None, props.get(Kind::TAGS)).await?;
                arn
            }
            None => {
                let out = self
                    .elb
                    .create_load_balancer()
                    .name(name)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .scheme(LoadBalancerSchemeEnum::from(req_str(props, Kind::SCHEME)?))
                    .set_subnets(Some(str_list(props, Kind::SUBNET_IDS)))
                    .set_security_groups(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
                    .set_tags(Some(tags_of(props)))
                    .send()
                    .await
                    .map_err(|e| {
                        let mut e = retry_not_found(aws_error("CreateLoadBalancer", e));
                        // Another create of the same name won the race: the retry adopts it.
                        if e.code() == Some("DuplicateLoadBalancerName") {
                            e.make_retryable();
                        }
                        e
                    })?;
                out.load_balancers()
                    .first()
                    .and_then(|lb| lb.load_balancer_arn())
                    .ok_or_else(|| ProviderError::fatal("CreateLoadBalancer returned no load balancer"))?
                    .to_string()
            }
        };
        ctx.progress(format!("{} provisioning", arn_suffix(&arn)));
        let lb = self.wait_active(ctx, &arn).await?;
        self.set_attributes(&arn, &create_attributes(props)).await?;
        Ok(Applied { id: arn, outputs: outputs(&lb) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut attrs = Vec::new();
        for c in req.changes {
            if let Some(a) = attribute(req.desired, &c.name) {
                attrs.push(a);
                continue;
            }
            match c.name.as_str() {
                Kind::SUBNET_IDS => self.set_subnets(req.id, req.desired).await?,
                Kind::SECURITY_GROUP_IDS => self.set_security_groups(req.id, req.desired).await?,
                Kind::TAGS => self.elb.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "elbv2.load_balancer cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.set_attributes(req.id, &attrs).await?;
        let lb = self
            .describe_arn(req.id)
            .await?
            .ok_or_else(|| ProviderError::retryable(format!("load balancer {} not found", req.id)))?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&lb) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Deletion protection off first: DeleteLoadBalancer fails while it is on.
        let gone = match self.set_attributes(id, &[(ATTR_PROTECTION, "false".to_string())]).await {
            Ok(()) => false,
            Err(e) if is_not_found(&e) => true,
            Err(e) => return Err(e),
        };
        if !gone {
            let r = self.elb.delete_load_balancer().load_balancer_arn(id).send().await;
            match r.map_err(|e| aws_error("DeleteLoadBalancer", e)) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
            ctx.wait_for(&format!("load balancer {} to be deleted", arn_suffix(id)), || async {
                Ok(self.describe_arn(id).await?.is_none().then_some(()))
            })
            .await?;
        }
        // Its network interfaces outlive it for a while; subnets and security groups
        // cannot be deleted until they are released.
        let description = format!("ELB {}", arn_suffix(id));
        let filter = aws_sdk_ec2::types::Filter::builder().name("description").values(&description).build();
        ctx.wait_for(&format!("the network interfaces of {} to be released", arn_suffix(id)), || async {
            let out = self
                .ec2
                .describe_network_interfaces()
                .filters(filter.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
            Ok(out.network_interfaces().is_empty().then_some(()))
        })
        .await
    }
}
