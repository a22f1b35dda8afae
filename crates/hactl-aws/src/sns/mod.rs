//! sns providers (see crates/hactl-aws/KINDS-observability.md).

pub mod subscription;
pub mod topic;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let sns = crate::client!(aws_sdk_sns, config, counter);
    r.register(Arc::new(topic::Topic(sns.clone(), crate::tagging::Tagging::new(config, counter))));
    r.register(Arc::new(subscription::Subscription(sns)));
}
