//! ecr providers (see crates/hactl-aws/KINDS-ecr.md): `ecr.repository` (a private
//! repository) and `ecr.replication` (this stack's rule in the registry's replication
//! configuration).

pub mod replication;
pub mod repository;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let ecr = crate::client!(aws_sdk_ecr, config, counter);
    r.register(Arc::new(repository::Repository(ecr.clone(), crate::tagging::Tagging::new(config, counter))));
    r.register(Arc::new(replication::Replication(ecr)));
}
