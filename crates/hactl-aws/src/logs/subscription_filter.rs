//! `logs.subscription_filter`: a subscription filter of one of the stack's log groups,
//! sending its events to a destination (the log shipper function). CloudWatch Logs takes
//! no tags on a filter: it is the stack's when state records it, or when it sends to one
//! of the stack's functions (`<stack>-...`; a create cut short before state recorded it).
//! id = `<log group>:<filter name>` (a log group name holds no `:`).
//!
//! Read: DescribeSubscriptionFilters of the log group (at most two filters) per target; a
//! group holding two other filters already fails the read (CloudWatch Logs takes no
//! third), so the plan says it before any change.
//! Create and update: PutSubscriptionFilter, an upsert (retried while the destination's
//! permission has not yet propagated). Delete: DeleteSubscriptionFilter; a filter gone,
//! or gone with its log group, is deleted.

use crate::error::{aws_error, found, ignore_not_found};
use crate::util::{opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use hactl_core::kinds::logs::SubscriptionFilter as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct SubscriptionFilter(pub Client);

/// Subscription filters a log group may have (CloudWatch Logs quota, not adjustable).
const MAX_FILTERS: usize = 2;

fn id_of(group: &str, filter: &str) -> String {
    format!("{group}:{filter}")
}

/// (log group, filter name) of an id, or of the properties.
fn key_of<'a>(id: Option<&'a str>, props: &'a Props) -> Option<(&'a str, &'a str)> {
    id.and_then(|i| i.split_once(':'))
        .or_else(|| Some((opt_str(props, Kind::LOG_GROUP_NAME)?, opt_str(props, Kind::FILTER_NAME)?)))
}

fn outputs(group: &str, filter: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("name".to_string(), Value::str(filter)), ("log_group".to_string(), Value::str(group))])
}

impl SubscriptionFilter {
    async fn put(&self, props: &Props) -> Result<(String, String), ProviderError> {
        let group = req_str(props, Kind::LOG_GROUP_NAME)?;
        let filter = req_str(props, Kind::FILTER_NAME)?;
        let out = self
            .0
            .put_subscription_filter()
            .log_group_name(group)
            .filter_name(filter)
            .filter_pattern(opt_str(props, Kind::FILTER_PATTERN).unwrap_or_default())
            .destination_arn(req_str(props, Kind::DESTINATION_ARN)?)
            .send()
            .await;
        out.map_err(|e| {
            let mut e = aws_error("PutSubscriptionFilter", e);
            // The log group was just created, or the destination's resource policy (its
            // permission for CloudWatch Logs) is not visible yet.
            // ("Could not execute the lambda function. Make sure you have given CloudWatch
            // Logs permission to execute your function.")
            let text = e.message().to_ascii_lowercase();
            if crate::error::is_not_found(&e)
                || (e.code() == Some("InvalidParameterException")
                    && text.contains("could not execute the lambda function"))
            {
                e.make_retryable();
            }
            e
        })?;
        Ok((group.to_string(), filter.to_string()))
    }
}

#[async_trait]
impl Provider for SubscriptionFilter {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::LOG_GROUP_NAME, Kind::FILTER_NAME])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for t in targets {
            let Some((group, filter)) = key_of(t.id.as_deref(), &t.props) else { continue };
            let answer = self.0.describe_subscription_filters().log_group_name(group).send().await;
            let Some(answer) = found(answer.map_err(|e| aws_error("DescribeSubscriptionFilters", e)))? else {
                continue;
            };
            let filters = answer.subscription_filters();
            let Some(f) = filters.iter().find(|f| f.filter_name() == Some(filter)) else {
                // CloudWatch Logs takes two filters a log group: with two others there,
                // the create would fail halfway through an apply; say so at the plan.
                if filters.len() >= MAX_FILTERS {
                    let names: Vec<&str> = filters.iter().filter_map(|f| f.filter_name()).collect();
                    return Err(ProviderError::fatal(format!(
                        "log group {group} already has {} subscription filters ({}), the most CloudWatch \
                         Logs allows; remove one so that {} can ship its logs",
                        filters.len(),
                        names.join(", "),
                        t.address
                    ))
                    .with_code("LimitExceededException"));
                }
                continue;
            };
            let destination = f.destination_arn().unwrap_or_default();
            // Untagged: the stack's when state records it, or when it sends to one of the
            // stack's functions (`<stack>-...`: a create cut short before state took it).
            let owned = t.id.is_some() || destination.contains(&format!(":function:{}-", ctx.stack));
            let props = Props::from([
                (Kind::LOG_GROUP_NAME.to_string(), Value::str(group)),
                (Kind::FILTER_NAME.to_string(), Value::str(filter)),
                (Kind::FILTER_PATTERN.to_string(), Value::str(f.filter_pattern().unwrap_or_default())),
                (Kind::DESTINATION_ARN.to_string(), Value::str(destination)),
            ]);
            out.push(LiveObject {
                id: id_of(group, filter),
                address: Some(t.address.clone()),
                props,
                outputs: outputs(group, filter),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        // An upsert by log group and name: a retried create converges the same filter.
        let (group, filter) = self.put(props).await?;
        Ok(Applied { outputs: outputs(&group, &filter), id: id_of(&group, &filter) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            if !matches!(c.name.as_str(), Kind::FILTER_PATTERN | Kind::DESTINATION_ARN) {
                return Err(ProviderError::fatal(format!(
                    "logs.subscription_filter cannot update `{}` in place",
                    c.name
                )));
            }
        }
        let (group, filter) = self.put(req.desired).await?;
        Ok(Applied { outputs: outputs(&group, &filter), id: id_of(&group, &filter) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let (group, filter) = key_of(Some(id), recorded).ok_or_else(|| {
            ProviderError::fatal(format!("subscription filter id `{id}` names no log group"))
        })?;
        let out = self.0.delete_subscription_filter().log_group_name(group).filter_name(filter).send().await;
        ignore_not_found(out.map(drop).map_err(|e| aws_error("DeleteSubscriptionFilter", e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_names_the_log_group_and_the_filter() {
        let id = id_of("/hactl/demo/web", "demo-log-analytics");
        assert_eq!(key_of(Some(&id), &Props::new()), Some(("/hactl/demo/web", "demo-log-analytics")));
        let props = Props::from([
            (Kind::LOG_GROUP_NAME.to_string(), Value::str("/hactl/demo/api")),
            (Kind::FILTER_NAME.to_string(), Value::str("f")),
        ]);
        assert_eq!(key_of(None, &props), Some(("/hactl/demo/api", "f")));
    }
}
