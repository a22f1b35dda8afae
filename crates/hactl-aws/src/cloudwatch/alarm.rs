//! `cloudwatch.alarm`: a metric alarm `<stack>-...` notifying SNS topics. id = alarm name.
//!
//! Read: DescribeAlarms(AlarmNamePrefix=`<stack>-`, MetricAlarm, paginated) + recorded names
//! outside the prefix (DescribeAlarms AlarmNames, ≤ 100 a call) + ListTagsForResource per
//! alarm found (documented exception: DescribeAlarms carries no tags). Alarms of another
//! stack whose name shares the prefix (`<stack>-b-...`) are left out unless recorded.
//!
//! PutMetricAlarm is an upsert that replaces the whole alarm, so create and update send
//! every property. Tags are set with TagResource/UntagResource right after it, never with
//! PutMetricAlarm's `Tags`: AWS ignores those when the alarm exists, and the emulator
//! (LocalStack 4.14, CBOR protocol) stores them in the alarm so that every later
//! DescribeAlarms answering it fails with InternalError ("unknown error occurred when
//! trying to serialize the response"), for every stack.

use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic};
use aws_sdk_cloudwatch::Client;
use hactl_core::kinds::cloudwatch::Alarm as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Alarm(pub Client);

/// The "already exists" code of [`ensure_ours`] (CloudWatch has none: PutMetricAlarm
/// overwrites).
const EXISTS: &str = "ResourceAlreadyExists";

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

fn int_prop(props: &Props, name: &str) -> Result<i32, ProviderError> {
    let v = props
        .get(name)
        .and_then(Value::as_int)
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not an integer")))?;
    i32::try_from(v).map_err(|_| ProviderError::fatal(format!("property `{name}` = {v} is out of range")))
}

/// The alarm's properties in the desired shape.
fn props_of(a: &MetricAlarm, tags: &BTreeMap<String, String>) -> Props {
    let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    let i = |v: Option<i32>| v.map(|n| Value::Int(i64::from(n))).unwrap_or(Value::Null);
    Props::from([
        (Kind::NAME.to_string(), s(a.alarm_name())),
        (Kind::DESCRIPTION.to_string(), s(a.alarm_description())),
        (Kind::NAMESPACE.to_string(), s(a.namespace())),
        (Kind::METRIC_NAME.to_string(), s(a.metric_name())),
        (
            Kind::DIMENSIONS.to_string(),
            Value::from_string_map(
                a.dimensions().iter().filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string()))),
            ),
        ),
        (Kind::STATISTIC.to_string(), s(a.statistic().map(Statistic::as_str))),
        (Kind::PERIOD.to_string(), i(a.period())),
        (Kind::EVALUATION_PERIODS.to_string(), i(a.evaluation_periods())),
        (Kind::THRESHOLD.to_string(), a.threshold().map(Value::Float).unwrap_or(Value::Null)),
        (Kind::COMPARISON_OPERATOR.to_string(), s(a.comparison_operator().map(ComparisonOperator::as_str))),
        // Unset means `missing` (AWS leaves it out of the answer then).
        (Kind::TREAT_MISSING_DATA.to_string(), Value::str(a.treat_missing_data().unwrap_or("missing"))),
        (Kind::ALARM_ACTIONS.to_string(), Value::from_strings(a.alarm_actions().iter().cloned())),
        (Kind::OK_ACTIONS.to_string(), Value::from_strings(a.ok_actions().iter().cloned())),
        (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
    ])
}

impl Alarm {
    /// DescribeAlarms (metric alarms, paginated) of a name prefix or of names (≤ 100).
    async fn describe_alarms(
        &self,
        prefix: Option<&str>,
        names: Option<&[String]>,
    ) -> Result<Vec<MetricAlarm>, ProviderError> {
        let pages: Vec<_> = self
            .0
            .describe_alarms()
            .set_alarm_name_prefix(prefix.map(str::to_string))
            .set_alarm_names(names.map(<[String]>::to_vec))
            .alarm_types(AlarmType::MetricAlarm)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        Ok(pages.into_iter().flat_map(|p| p.metric_alarms.unwrap_or_default()).collect())
    }

    async fn describe_prefix(&self, prefix: &str) -> Result<Vec<MetricAlarm>, ProviderError> {
        self.describe_alarms(Some(prefix), None).await
    }

    /// The alarms of exactly these names (≤ 100 a call).
    async fn describe_names(&self, names: &[String]) -> Result<Vec<MetricAlarm>, ProviderError> {
        let mut out = Vec::new();
        for chunk in names.chunks(100) {
            let alarms = self.describe_alarms(None, Some(chunk)).await?;
            out.extend(
                alarms.into_iter().filter(|a| a.alarm_name().is_some_and(|n| chunk.iter().any(|c| c == n))),
            );
        }
        Ok(out)
    }

    async fn describe(&self, name: &str) -> Result<Option<MetricAlarm>, ProviderError> {
        Ok(self.describe_names(&[name.to_string()]).await?.into_iter().next())
    }

    /// PutMetricAlarm with every property but the tags (see the module doc).
    async fn put(&self, props: &Props) -> Result<(), ProviderError> {
        let threshold = props
            .get(Kind::THRESHOLD)
            .and_then(Value::as_f64)
            .ok_or_else(|| ProviderError::fatal("property `threshold` is missing or not a number"))?;
        let dimensions = props
            .get(Kind::DIMENSIONS)
            .map(Value::string_map)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        self.0
            .put_metric_alarm()
            .alarm_name(req_str(props, Kind::NAME)?)
            .set_alarm_description(opt_str(props, Kind::DESCRIPTION).map(str::to_string))
            .namespace(req_str(props, Kind::NAMESPACE)?)
            .metric_name(req_str(props, Kind::METRIC_NAME)?)
            .set_dimensions(Some(dimensions))
            .statistic(Statistic::from(req_str(props, Kind::STATISTIC)?))
            .period(int_prop(props, Kind::PERIOD)?)
            .evaluation_periods(int_prop(props, Kind::EVALUATION_PERIODS)?)
            .threshold(threshold)
            .comparison_operator(ComparisonOperator::from(req_str(props, Kind::COMPARISON_OPERATOR)?))
            .set_treat_missing_data(opt_str(props, Kind::TREAT_MISSING_DATA).map(str::to_string))
            .set_alarm_actions(Some(str_list(props, Kind::ALARM_ACTIONS)))
            .set_ok_actions(Some(str_list(props, Kind::OK_ACTIONS)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("PutMetricAlarm", e))
    }

    /// The alarm's ARN, described (a new alarm may take a moment to be listed: retried).
    async fn arn(&self, name: &str) -> Result<String, ProviderError> {
        self.describe(name).await?.and_then(|a| a.alarm_arn().map(str::to_string)).ok_or_else(|| {
            ProviderError::retryable(format!("alarm {name} is not visible yet")).with_code("ResourceNotFound")
        })
    }
}

#[async_trait]
impl Provider for Alarm {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let mut alarms = self.describe_prefix(&prefix).await?;
        let recorded: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let outside: Vec<String> = recorded
            .iter()
            .filter(|id| !id.starts_with(&prefix) && !alarms.iter().any(|a| a.alarm_name() == Some(**id)))
            .map(|id| id.to_string())
            .collect();
        if !outside.is_empty() {
            alarms.extend(self.describe_names(&outside).await?);
        }
        let mut out = Vec::new();
        for a in alarms {
            let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else { continue };
            // Deleted since the describe.
            let Some(tags) = found(super::tags(&self.0, arn).await)? else { continue };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            let is_recorded = recorded.contains(name);
            if !owned {
                match tags.get(TAG_STACK) {
                    // Another stack's alarm sharing the name prefix: not ours to read.
                    Some(_) if !is_recorded => continue,
                    Some(_) => {}
                    None => {
                        address = match_target(targets, |p| {
                            p.get(Kind::NAME).and_then(Value::as_str) == Some(name)
                        })
                        .cloned();
                        if address.is_none() && !is_recorded {
                            continue;
                        }
                    }
                }
            }
            out.push(LiveObject {
                id: name.to_string(),
                address,
                props: props_of(&a, &tags),
                outputs: outputs(name, arn),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let existing = self.describe(name).await?;
        if let Some(arn) = existing.as_ref().and_then(|a| a.alarm_arn()) {
            // A create retried after a crash: only our own alarm is converged.
            let tags = super::tags(&self.0, arn).await?;
            ensure_ours(ctx, address, &tags, &format!("alarm `{name}`"), EXISTS)?;
            ctx.progress(format!("adopting existing alarm {name}"));
        }
        self.put(props).await?;
        let arn = self.arn(name).await?;
        // Tag it, converging the tags of an adopted alarm (and, on the emulator, tags
        // left behind by a deleted alarm of the same name: DeleteAlarms keeps them).
        let live = super::tags(&self.0, &arn).await?;
        self.0.converge_tags(&arn, &live, props).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        for c in req.changes {
            if !Kind::SCHEMA.prop(&c.name).is_some_and(|p| p.update == hactl_core::UpdateMode::InPlace) {
                return Err(ProviderError::fatal(format!(
                    "cloudwatch.alarm cannot update `{}` in place",
                    c.name
                )));
            }
        }
        if req.changes.iter().any(|c| c.name != Kind::TAGS) {
            // PutMetricAlarm replaces the whole definition: every property goes.
            let mut desired = req.desired.clone();
            desired.insert(Kind::NAME.to_string(), Value::str(name));
            self.put(&desired).await.map_err(retry_not_found)?;
        }
        let arn = self.arn(name).await?;
        if let Some(c) = req.changes.iter().find(|c| c.name == Kind::TAGS) {
            self.0.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?;
        }
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_alarms()
                .alarm_names(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteAlarms", e)),
        )
    }
}
