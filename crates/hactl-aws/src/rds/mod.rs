//! RDS PostgreSQL providers (see crates/hactl-aws/KINDS-data.md, section "rds"): the DB
//! subnet group, the DB parameter group, the Multi-AZ DB instance and its RDS Proxy. What they share with
//! DocumentDB (tags, groups, names, snapshots, deletion protection) is the RDS family
//! ([`family`]); RDS stores identifiers in lower case ([`family::Names::CaseInsensitive`]).

pub(crate) mod family;
pub mod instance;
pub mod parameter_group;
pub mod promote;
pub mod proxy;
pub mod subnet_group;

use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_rds::types::Tag;
use hactl_core::{Props, Value};
use hactl_engine::{ProviderError, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers. The instance also gets a Secrets Manager client:
/// its create reads the master password from the credentials secret.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let rds = crate::client!(aws_sdk_rds, config, counter);
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    let tagging = crate::tagging::Tagging::new(config, counter);
    r.register(Arc::new(subnet_group::SubnetGroup(rds.clone(), tagging.clone())));
    r.register(Arc::new(parameter_group::ParameterGroup(rds.clone(), tagging)));
    r.register(Arc::new(proxy::DbProxy(rds.clone())));
    r.register(Arc::new(instance::Instance { rds, sm }));
}

/// The `tags` property as RDS tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    crate::util::tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// RDS tags as a plain map.
pub(crate) fn tag_list_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// An Int property as i32 (RDS integers), None when absent or Null.
pub(crate) fn opt_i32(props: &Props, name: &str) -> Result<Option<i32>, ProviderError> {
    match props.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_int()
            .and_then(|i| i32::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is not a 32-bit integer"))),
    }
}
