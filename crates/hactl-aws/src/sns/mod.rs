//! sns providers (see crates/hactl-aws/KINDS-observability.md).

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;

/// Registers this service's providers.
pub(crate) fn register(_r: &mut Registry, _config: &SdkConfig, _counter: &ApiCounter) {}
