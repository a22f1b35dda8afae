//! `sns.subscription`: an (email) subscription to a topic. id = subscription ARN, or
//! `pending:<topic_arn>:<endpoint>` while the subscription awaits confirmation (lists show
//! its ARN as `PendingConfirmation`). No tags: found by topic, protocol and endpoint.
//!
//! Read: ListSubscriptionsByTopic per topic ARN named by a target (documented exception:
//! one call per topic; a stack has one).

use crate::error::{aws_error, found, ignore_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use hactl_core::kinds::sns::Subscription as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Subscription(pub Client);

/// What lists show instead of the ARN of a subscription awaiting confirmation.
const PENDING: &str = "PendingConfirmation";

fn str_prop<'a>(props: &'a Props, name: &str) -> Option<&'a str> {
    props.get(name).and_then(Value::as_str)
}

#[async_trait]
impl Provider for Subscription {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let topics: BTreeSet<&str> =
            targets.iter().filter_map(|t| str_prop(&t.props, Kind::TOPIC_ARN)).collect();
        let mut out = Vec::new();
        for topic in topics {
            let listed = self
                .0
                .list_subscriptions_by_topic()
                .topic_arn(topic)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("ListSubscriptionsByTopic", e));
            // The topic is gone, and its subscriptions with it.
            let Some(subs) = found(listed)? else { continue };
            for s in subs {
                let (Some(protocol), Some(endpoint), Some(arn)) =
                    (s.protocol(), s.endpoint(), s.subscription_arn())
                else {
                    continue;
                };
                let Some(t) = targets.iter().find(|t| {
                    str_prop(&t.props, Kind::TOPIC_ARN) == Some(topic)
                        && str_prop(&t.props, Kind::PROTOCOL) == Some(protocol)
                        && str_prop(&t.props, Kind::ENDPOINT) == Some(endpoint)
                }) else {
                    continue;
                };
                let id = if arn == PENDING { format!("pending:{topic}:{endpoint}") } else { arn.to_string() };
                out.push(LiveObject {
                    id,
                    address: Some(t.address.clone()),
                    props: Props::from([
                        (Kind::TOPIC_ARN.to_string(), Value::str(topic)),
                        (Kind::PROTOCOL.to_string(), Value::str(protocol)),
                        (Kind::ENDPOINT.to_string(), Value::str(endpoint)),
                    ]),
                    outputs: BTreeMap::new(),
                    owned: true,
                });
            }
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let out = self
            .0
            .subscribe()
            .topic_arn(req_str(props, Kind::TOPIC_ARN)?)
            .protocol(req_str(props, Kind::PROTOCOL)?)
            .endpoint(req_str(props, Kind::ENDPOINT)?)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| aws_error("Subscribe", e))?;
        let arn = out.subscription_arn().ok_or_else(|| ProviderError::fatal("Subscribe returned no ARN"))?;
        Ok(Applied { id: arn.to_string(), outputs: BTreeMap::new() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        match req.changes.first() {
            None => Ok(Applied { id: req.id.to_string(), outputs: BTreeMap::new() }),
            Some(c) => {
                Err(ProviderError::fatal(format!("sns.subscription cannot update `{}` in place", c.name)))
            }
        }
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // A subscription awaiting confirmation cannot be unsubscribed; AWS expires it after
        // three days.
        if id.starts_with("pending:") || id == PENDING {
            return Ok(());
        }
        ignore_not_found(
            self.0
                .unsubscribe()
                .subscription_arn(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("Unsubscribe", e)),
        )
    }
}
