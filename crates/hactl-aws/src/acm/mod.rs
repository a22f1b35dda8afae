//! ACM providers.

pub mod certificate;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let acm = crate::client!(aws_sdk_acm, config, counter);
    r.register(Arc::new(certificate::Certificate(acm, crate::tagging::Tagging::new(config, counter))));
}
