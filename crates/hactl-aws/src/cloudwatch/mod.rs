//! cloudwatch providers (see crates/hactl-aws/KINDS-observability.md).

pub mod alarm;
pub mod dashboard;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let cw = crate::client!(aws_sdk_cloudwatch, config, counter);
    r.register(Arc::new(alarm::Alarm(cw.clone())));
    r.register(Arc::new(dashboard::Dashboard(cw)));
}
