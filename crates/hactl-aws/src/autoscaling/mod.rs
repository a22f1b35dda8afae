//! autoscaling providers.

pub mod group;
pub mod scheduled_action;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let client = crate::client!(aws_sdk_autoscaling, config, counter);
    r.register(Arc::new(group::Group(client.clone())));
    r.register(Arc::new(scheduled_action::ScheduledAction(client)));
}
