//! `elbv2.target_group`: a target group (IP targets for ECS tasks) with its health check
//! and deregistration delay (a target group attribute).
//!
//! Create looks the name up first: a target group of that name with this stack's and
//! address's tags (a create retried after a crash) is adopted and converged; another one
//! is an error. Delete while a listener still forwards to the group answers
//! ResourceInUse, which is retried (the listener is being deleted).

use super::{arn_resource, ensure_own, indexed_tags, known_of, retry_in_use, tags_of, target_ids};
use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Tagging;
use crate::util::tags::Tagger;
use crate::util::{opt_i32, owner_of, req_str, tags_prop};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};
use aws_sdk_elasticloadbalancingv2::Client;
use futures::{StreamExt, TryStreamExt};
use hactl_core::kinds::elbv2::TargetGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

/// Target group attribute reads in flight at once.
const ATTRIBUTE_READS: usize = 16;

type Tg = aws_sdk_elasticloadbalancingv2::types::TargetGroup;

/// The provider: the ELBv2 client, and the Tagging API for the stack's tag index (the
/// target groups' tags; DescribeTags for those it does not answer).
pub struct TargetGroup(pub Client, pub Tagging);

const ATTR_DEREGISTRATION: &str = "deregistration_delay.timeout_seconds";
/// AWS's default deregistration delay.
const DEFAULT_DEREGISTRATION: i64 = 300;

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("arn_suffix".to_string(), Value::str(arn_resource(arn))),
    ])
}

/// The desired `health_check` map.
struct HealthCheck {
    path: Option<String>,
    port: Option<String>,
    protocol: Option<String>,
    interval: Option<i32>,
    timeout: Option<i32>,
    healthy: Option<i32>,
    unhealthy: Option<i32>,
    matcher: Option<String>,
}

/// The health check settings on a request: CreateTargetGroup and ModifyTargetGroup take
/// the same ones.
trait WithHealthCheck {
    fn health_check(self, hc: HealthCheck) -> Self;
}

macro_rules! with_health_check {
    ($($builder:ty),*) => {$(
        impl WithHealthCheck for $builder {
            fn health_check(self, hc: HealthCheck) -> Self {
                self.set_health_check_path(hc.path)
                    .set_health_check_port(hc.port)
                    .set_health_check_protocol(hc.protocol.as_deref().map(ProtocolEnum::from))
                    .set_health_check_interval_seconds(hc.interval)
                    .set_health_check_timeout_seconds(hc.timeout)
                    .set_healthy_threshold_count(hc.healthy)
                    .set_unhealthy_threshold_count(hc.unhealthy)
                    .set_matcher(hc.matcher.map(|m| Matcher::builder().http_code(m).build()))
            }
        }
    )*};
}

with_health_check!(
    aws_sdk_elasticloadbalancingv2::operation::create_target_group::builders::CreateTargetGroupFluentBuilder,
    aws_sdk_elasticloadbalancingv2::operation::modify_target_group::builders::ModifyTargetGroupFluentBuilder
);

impl HealthCheck {
    fn from_props(props: &Props) -> Result<HealthCheck, ProviderError> {
        let m = match props.get(Kind::HEALTH_CHECK) {
            None | Some(Value::Null) => Props::new(),
            Some(Value::Map(m)) => m.clone(),
            Some(other) => {
                return Err(ProviderError::fatal(format!("`health_check` must be a map, got {other}")))
            }
        };
        // `port` may be written as a number.
        let s = |k: &str| match m.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        Ok(HealthCheck {
            path: s("path"),
            port: s("port"),
            protocol: s("protocol"),
            interval: opt_i32(&m, "interval_seconds"),
            timeout: opt_i32(&m, "timeout_seconds"),
            healthy: opt_i32(&m, "healthy_threshold"),
            unhealthy: opt_i32(&m, "unhealthy_threshold"),
            matcher: s("matcher"),
        })
    }

    /// The live health check in the shape of the desired map.
    fn value_of(tg: &Tg) -> Value {
        let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
        let i = |v: Option<i32>| v.map(Value::from).unwrap_or(Value::Null);
        Value::Map(BTreeMap::from([
            ("path".to_string(), s(tg.health_check_path())),
            ("port".to_string(), s(tg.health_check_port())),
            ("protocol".to_string(), s(tg.health_check_protocol().map(|p| p.as_str()))),
            ("interval_seconds".to_string(), i(tg.health_check_interval_seconds())),
            ("timeout_seconds".to_string(), i(tg.health_check_timeout_seconds())),
            ("healthy_threshold".to_string(), i(tg.healthy_threshold_count())),
            ("unhealthy_threshold".to_string(), i(tg.unhealthy_threshold_count())),
            ("matcher".to_string(), s(tg.matcher().and_then(|m| m.http_code()))),
        ]))
    }
}

impl TargetGroup {
    async fn describe_all(&self) -> Result<Vec<Tg>, ProviderError> {
        self.0
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeTargetGroups", e))
    }

    async fn describe_name(&self, name: &str) -> Result<Option<Tg>, ProviderError> {
        let out = self.0.describe_target_groups().names(name).send().await;
        match out.map_err(|e| aws_error("DescribeTargetGroups", e)) {
            Ok(o) => Ok(o.target_groups().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn deregistration_delay(&self, arn: &str) -> Result<i64, ProviderError> {
        let out = self
            .0
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTargetGroupAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(ATTR_DEREGISTRATION))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_DEREGISTRATION))
    }

    async fn set_deregistration_delay(&self, arn: &str, seconds: i64) -> Result<(), ProviderError> {
        self.0
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder().key(ATTR_DEREGISTRATION).value(seconds.to_string()).build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyTargetGroupAttributes", e)))
    }

    async fn set_health_check(&self, arn: &str, props: &Props) -> Result<(), ProviderError> {
        let hc = HealthCheck::from_props(props)?;
        self.0
            .modify_target_group()
            .target_group_arn(arn)
            .health_check(hc)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyTargetGroup", e)))
    }

    /// A target group named like the one to create: ours (this stack and address) to
    /// adopt, or an error.
    async fn adoptable(&self, ctx: &Ctx, address: &Address, tg: &Tg) -> Result<String, ProviderError> {
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let what = format!("target group `{}` ({arn})", tg.target_group_name().unwrap_or_default());
        ensure_own(&self.0, ctx, address, &arn, &what, "DuplicateTargetGroupName").await?;
        Ok(arn)
    }
}

#[async_trait]
impl Provider for TargetGroup {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let (all, index) = futures::try_join!(self.describe_all(), self.1.index(ctx))?;
        let candidates = all
            .iter()
            .filter_map(|tg| {
                let arn = tg.target_group_arn()?;
                Some((arn.to_string(), known_of(targets, arn, Kind::NAME, tg.target_group_name())))
            })
            .collect();
        let tags = indexed_tags(&self.0, &index, candidates).await?;
        let wanted = target_ids(targets);
        let mine: Vec<_> = all
            .iter()
            .filter_map(|tg| {
                let arn = tg.target_group_arn()?;
                let tg_tags = tags.get(arn).cloned().unwrap_or_default();
                let (owned, address) = owner_of(&ctx.stack, &tg_tags);
                (owned || wanted.contains(arn)).then_some((tg, arn, tg_tags, owned, address))
            })
            .collect();
        // The attributes: one call per target group (the API takes one ARN), concurrent.
        let arns: Vec<String> = mine.iter().map(|m| m.1.to_string()).collect();
        let delays: Vec<Option<i64>> = futures::stream::iter(arns)
            .map(|arn| async move { found(self.deregistration_delay(&arn).await) })
            .buffered(ATTRIBUTE_READS)
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for ((tg, arn, tg_tags, owned, address), delay) in mine.into_iter().zip(delays) {
            let Some(delay) = delay else { continue };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(tg.target_group_name().unwrap_or_default())),
                (Kind::PORT.to_string(), tg.port().map(Value::from).unwrap_or(Value::Null)),
                (
                    Kind::PROTOCOL.to_string(),
                    Value::str(tg.protocol().map(|p| p.as_str()).unwrap_or_default()),
                ),
                (Kind::VPC_ID.to_string(), Value::str(tg.vpc_id().unwrap_or_default())),
                (
                    Kind::TARGET_TYPE.to_string(),
                    Value::str(tg.target_type().map(|t| t.as_str()).unwrap_or_default()),
                ),
                (Kind::HEALTH_CHECK.to_string(), HealthCheck::value_of(tg)),
                (Kind::DEREGISTRATION_DELAY.to_string(), Value::Int(delay)),
                (Kind::TAGS.to_string(), tags_prop(tg_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: arn.to_string(), address, props, outputs: outputs(arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let arn = match self.describe_name(name).await? {
            Some(existing) => {
                // A create retried after a crash: converge what may differ.
                let arn = self.adoptable(ctx, address, &existing).await?;
                ctx.progress(format!("adopting existing target group {}", arn_resource(&arn)));
                self.set_health_check(&arn, props).await?;
                self.0.sync_tags(&arn, None, props.get(Kind::TAGS)).await?;
                arn
            }
            None => {
                let hc = HealthCheck::from_props(props)?;
                let out = self
                    .0
                    .create_target_group()
                    .name(name)
                    .protocol(ProtocolEnum::from(req_str(props, Kind::PROTOCOL)?))
                    .set_port(opt_i32(props, Kind::PORT))
                    .vpc_id(req_str(props, Kind::VPC_ID)?)
                    .target_type(TargetTypeEnum::from(req_str(props, Kind::TARGET_TYPE)?))
                    .health_check(hc)
                    .set_tags(Some(tags_of(props)))
                    .send()
                    .await
                    .map_err(|e| {
                        let mut e = retry_not_found(aws_error("CreateTargetGroup", e));
                        // Another create of the same name won the race: the retry adopts it.
                        if e.code() == Some("DuplicateTargetGroupName") {
                            e.make_retryable();
                        }
                        e
                    })?;
                out.target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                    .ok_or_else(|| ProviderError::fatal("CreateTargetGroup returned no target group"))?
                    .to_string()
            }
        };
        if let Some(d) = props.get(Kind::DEREGISTRATION_DELAY).and_then(Value::as_int) {
            self.set_deregistration_delay(&arn, d).await?;
        }
        let outputs = outputs(&arn);
        Ok(Applied { id: arn, outputs })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            match c.name.as_str() {
                Kind::HEALTH_CHECK => self.set_health_check(req.id, req.desired).await?,
                Kind::DEREGISTRATION_DELAY => {
                    let d = req
                        .desired
                        .get(Kind::DEREGISTRATION_DELAY)
                        .and_then(Value::as_int)
                        .unwrap_or(DEFAULT_DEREGISTRATION);
                    self.set_deregistration_delay(req.id, d).await?
                }
                Kind::TAGS => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "elbv2.target_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // ResourceInUse: a listener (being deleted) still forwards to it; retried.
        ignore_not_found(
            self.0
                .delete_target_group()
                .target_group_arn(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_in_use(aws_error("DeleteTargetGroup", e))),
        )
    }
}
