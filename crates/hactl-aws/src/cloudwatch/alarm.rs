//! `cloudwatch.alarm`: a metric alarm `<stack>-...` notifying SNS topics. id = alarm name.
//!
//! Read: DescribeAlarms(AlarmNamePrefix=`<stack>-`, MetricAlarm, paginated) + recorded names
//! outside the prefix (DescribeAlarms AlarmNames, ≤ 100 a call), tags from the stack's tag
//! index ([`crate::tagging`], one GetResources per refresh and region, shared by every
//! kind); ListTagsForResource only for an alarm the index does not hold that state records
//! or a target names (it may have lost its tags, or carry another stack's), or one it holds
//! that state does not record (to be adopted: its own tags decide) or records with other
//! tags (the index may lag an apply; [`crate::tagging::TagIndex::lookup`]). Alarms of
//! another stack whose name shares the prefix (`<stack>-b-...`) are not in the index:
//! never asked for, never read, unless recorded.
//!
//! PutMetricAlarm is an upsert that replaces the whole alarm, so create and update send
//! every property. Tags are set with TagResource/UntagResource right after it, never with
//! PutMetricAlarm's `Tags`: AWS ignores those when the alarm exists, and the emulator
//! (LocalStack 4.14, CBOR protocol) stores them in the alarm so that every later
//! DescribeAlarms answering it fails with InternalError ("unknown error occurred when
//! trying to serialize the response"), for every stack.
//!
//! Create, without polling: whether the name is taken comes from one DescribeAlarms of the
//! stack's prefix per region, shared by the creates of an apply (kept [`SNAPSHOT_TTL`]); a
//! taken name costs a ListTagsForResource and is converged only when [`ensure_ours`] says it
//! is this address's (a create retried after a crash), else refused. PutMetricAlarm, then
//! TagResource on the alarm's ARN, which is computed (`arn:<partition>:cloudwatch:<region>:
//! <account>:alarm:<name>`, the prefix learnt from any DescribeAlarms answer of this region,
//! or from one describe of the first alarm created). An apply creating the demo's 14 alarms
//! makes, beside the refresh's DescribeAlarms, 1 more (2 when no alarm of the region was
//! described yet: the ARN prefix), 14 PutMetricAlarm and 14 TagResource (was 28
//! DescribeAlarms and 14 ListTagsForResource).

use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::tagging::{Known, Tagging};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic};
use aws_sdk_cloudwatch::Client;
use hactl_core::kinds::cloudwatch::Alarm as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Alarm {
    cw: Client,
    tagging: Tagging,
    /// `arn:<partition>:cloudwatch:<region>:<account>:alarm:`, once an answer showed it.
    arn_prefix: tokio::sync::OnceCell<String>,
}

/// How long the creates of an apply trust one DescribeAlarms of the stack's prefix to say
/// which names are taken (alarms are created together, at the end of an apply).
pub(crate) const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// The names (→ ARN) under the stack's prefix, as last described, and when.
type Snapshot = tokio::sync::Mutex<Option<(Instant, Arc<BTreeMap<String, String>>)>>;

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
    pub(crate) fn new(cw: Client, tagging: Tagging) -> Self {
        Alarm { cw, tagging, arn_prefix: tokio::sync::OnceCell::new() }
    }

    /// Learns the region's alarm ARN prefix from a described alarm.
    fn learn_arn_prefix(&self, a: &MetricAlarm) {
        if self.arn_prefix.initialized() {
            return;
        }
        let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else { return };
        if let Some(prefix) = arn.strip_suffix(name).filter(|p| p.ends_with(":alarm:")) {
            // Another answer may have set it meanwhile: the same prefix.
            let _ = self.arn_prefix.set(prefix.to_string());
        }
    }

    /// DescribeAlarms (metric alarms, paginated) of a name prefix or of names (≤ 100).
    async fn describe_alarms(
        &self,
        prefix: Option<&str>,
        names: Option<&[String]>,
    ) -> Result<Vec<MetricAlarm>, ProviderError> {
        let pages: Vec<_> = self
            .cw
            .describe_alarms()
            .set_alarm_name_prefix(prefix.map(str::to_string))
            .set_alarm_names(names.map(<[String]>::to_vec))
            .alarm_types(AlarmType::MetricAlarm)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        let alarms: Vec<MetricAlarm> =
            pages.into_iter().flat_map(|p| p.metric_alarms.unwrap_or_default()).collect();
        if let Some(a) = alarms.first() {
            self.learn_arn_prefix(a);
        }
        Ok(alarms)
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
        self.cw
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

    /// The alarm's ARN: computed from the region's ARN prefix; the first time, described (a
    /// new alarm may take a moment to be listed: retried).
    async fn arn(&self, name: &str) -> Result<String, ProviderError> {
        let prefix = self
            .arn_prefix
            .get_or_try_init(|| async {
                let a = self.describe(name).await?.ok_or_else(|| {
                    ProviderError::retryable(format!("alarm {name} is not visible yet"))
                        .with_code("ResourceNotFound")
                })?;
                let arn =
                    a.alarm_arn().ok_or_else(|| ProviderError::fatal("DescribeAlarms returned no ARN"))?;
                let prefix = arn.strip_suffix(name).filter(|p| p.ends_with(":alarm:"));
                prefix.map(str::to_string).ok_or_else(|| {
                    ProviderError::fatal(format!("alarm ARN `{arn}` does not end in :alarm:{name}"))
                })
            })
            .await?;
        Ok(format!("{prefix}{name}"))
    }

    /// The ARN of the alarm `name` if it exists, before a create: for a name under the
    /// stack's prefix from one DescribeAlarms of the prefix shared by the creates of the
    /// apply at this location (`ctx.cache`, refreshed after [`SNAPSHOT_TTL`]); else
    /// described by name.
    async fn existing(&self, ctx: &Ctx, name: &str) -> Result<Option<String>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        if !name.starts_with(&prefix) {
            return Ok(self.describe(name).await?.and_then(|a| a.alarm_arn().map(str::to_string)));
        }
        let key = format!("cloudwatch:alarm-names:{prefix}");
        let cell: Arc<Snapshot> =
            ctx.cache.get_or_try_init(&key, || async { Ok(Snapshot::default()) }).await?;
        let mut slot = cell.lock().await;
        let names = match slot.as_ref().filter(|(at, _)| at.elapsed() < SNAPSHOT_TTL) {
            Some((_, names)) => names.clone(),
            None => {
                let alarms = self.describe_prefix(&prefix).await?;
                let names: Arc<BTreeMap<String, String>> = Arc::new(
                    alarms
                        .iter()
                        .filter_map(|a| Some((a.alarm_name()?.to_string(), a.alarm_arn()?.to_string())))
                        .collect(),
                );
                *slot = Some((Instant::now(), names.clone()));
                names
            }
        };
        Ok(names.get(name).cloned())
    }
}

#[async_trait]
impl Provider for Alarm {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// Read keys: alarms are found by name (and tags): the load balancers and target groups of their dimensions are not waited for.
    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::NAME])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let (mut alarms, index) = futures::try_join!(self.describe_prefix(&prefix), self.tagging.index(ctx))?;
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
            let is_recorded = recorded.contains(name);
            let named = || match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            // Not in the index and neither recorded nor named: not ours, no call. Gone
            // since the describe: not read.
            let record = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let known = Known::of(record, named().is_some());
            let ask = || async { found(super::tags(&self.cw, arn).await) };
            let Some(tags) = index.tags(arn, known, ask).await? else { continue };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if !owned {
                match tags.get(TAG_STACK) {
                    // Another stack's alarm sharing the name prefix: not ours to read.
                    Some(_) if !is_recorded => continue,
                    Some(_) => {}
                    None => {
                        address = named().cloned();
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
        // A taken name (gone since it was listed: free).
        let live = match self.existing(ctx, name).await? {
            Some(arn) => found(super::tags(&self.cw, &arn).await)?,
            None => None,
        };
        if let Some(tags) = &live {
            // A create retried after a crash: only our own alarm is converged.
            ensure_ours(ctx, address, tags, &format!("alarm `{name}`"), EXISTS)?;
            ctx.progress(format!("adopting existing alarm {name}"));
        }
        self.put(props).await?;
        let arn = self.arn(name).await?;
        // Tag it: a new alarm has none; an adopted one is converged.
        self.cw.converge_tags(&arn, &live.unwrap_or_default(), props).await?;
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
            self.cw.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?;
        }
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.cw
                .delete_alarms()
                .alarm_names(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteAlarms", e)),
        )
    }
}
