//! Lambda providers (see crates/hactl-aws/KINDS-observability.md): the log shipper of
//! `[log_analytics]`.

pub mod function;
pub(crate) mod package;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    r.register(Arc::new(function::Function {
        client: crate::client!(aws_sdk_lambda, config, counter),
        ec2: crate::client!(aws_sdk_ec2, config, counter),
    }));
}
