//! CloudWatch Logs providers: log groups and their subscription filters.

pub mod log_group;
pub mod subscription_filter;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let logs = crate::client!(aws_sdk_cloudwatchlogs, config, counter);
    r.register(Arc::new(log_group::LogGroup(logs.clone(), crate::tagging::Tagging::new(config, counter))));
    r.register(Arc::new(subscription_filter::SubscriptionFilter(logs)));
}
