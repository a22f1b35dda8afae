//! CloudWatch Logs providers.

pub mod log_group;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let logs = crate::client!(aws_sdk_cloudwatchlogs, config, counter);
    r.register(Arc::new(log_group::LogGroup(logs, crate::tagging::Tagging::new(config, counter))));
}
