//! OpenSearch Service providers (see crates/hactl-aws/KINDS-data.md): the log analytics
//! domain of `[log_analytics]`.

pub mod domain;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    r.register(Arc::new(domain::Domain {
        client: crate::client!(aws_sdk_opensearch, config, counter),
        sm: crate::client!(aws_sdk_secretsmanager, config, counter),
        tagging: crate::tagging::Tagging::new(config, counter),
    }));
}
