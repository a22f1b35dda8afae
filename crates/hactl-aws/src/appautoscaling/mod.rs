//! appautoscaling providers: scalable targets, target-tracking policies and scheduled
//! actions of ECS services. None carries tags: each is found by its natural key (resource
//! id, policy or action name).

pub mod policy;
pub mod scheduled_action;
pub mod target;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::{ProviderError, Registry};
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let client = crate::client!(aws_sdk_applicationautoscaling, config, counter);
    r.register(Arc::new(target::Target(client.clone())));
    r.register(Arc::new(policy::Policy(client.clone())));
    r.register(Arc::new(scheduled_action::ScheduledAction(client)));
}

/// "Nothing to delete": AWS answers ObjectNotFoundException, the emulator a
/// ValidationException "No scalable target found ..." / "No scaling policy found ...".
pub(crate) fn is_gone(e: &ProviderError) -> bool {
    crate::error::is_not_found(e)
        || (e.code() == Some("ValidationException") && e.message().contains("No scal"))
}
