//! DocumentDB providers (the data tier, see crates/hactl-aws/KINDS-data.md): subnet group,
//! cluster parameter group, cluster and its instances, and the global cluster that joins a
//! primary cluster to secondaries in other regions ([`switchover`] moves its writer). What
//! they share with RDS (tags, groups, the candidate rule of every read, snapshots, deletion
//! protection) is the RDS family ([`crate::rds::family`]), with names as written ([`Names::Exact`]).
//!
//! The DocumentDB API is the RDS query API: its describes answer every RDS-family object
//! (clusters and instances are filtered by engine `docdb`), and none of its describe
//! answers carries tags, so each read takes the tags of its candidates (name starting with
//! `<stack>-`, a recorded id, or a target's name) from the stack's tag index
//! ([`crate::tagging`], one GetResources per refresh and region, shared by every kind), and
//! asks ListTagsForResource only where the index cannot be trusted alone, as
//! [`crate::tagging::TagIndex::lookup`] decides: e.g. a candidate the index does not hold that state records
//! or a target names ([`crate::rds::family::Reading::owner`]).

pub mod cluster;
pub mod cluster_parameter_group;
pub mod global_cluster;
pub mod instance;
pub mod subnet_group;
pub mod switchover;

use crate::rds::family::Names;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_docdb::types::{Filter, Tag};
use hactl_core::{Props, Value};
use hactl_engine::{Ctx, ProviderError, Registry};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// The engine name of DocumentDB clusters and instances.
pub(crate) const ENGINE: &str = "docdb";

/// DocumentDB names are matched as written.
pub(crate) const NAMES: Names = Names::Exact;

/// The describe filter of DocumentDB clusters and instances: engine `docdb`.
pub(crate) fn engine_filter() -> Filter {
    Filter::builder().name("engine").values(ENGINE).build()
}

/// Registers this service's providers. The cluster also gets a Secrets Manager client:
/// its create reads the master password from the secret. The global cluster keeps the
/// configuration to reach its members in their own regions.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let docdb = crate::client!(aws_sdk_docdb, config, counter);
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    let tagging = crate::tagging::Tagging::new(config, counter);
    r.register(Arc::new(subnet_group::SubnetGroup(docdb.clone(), tagging.clone())));
    r.register(Arc::new(cluster_parameter_group::ClusterParameterGroup(docdb.clone(), tagging.clone())));
    r.register(Arc::new(cluster::Cluster { docdb: docdb.clone(), sm, tagging: tagging.clone() }));
    r.register(Arc::new(global_cluster::GlobalCluster {
        docdb: docdb.clone(),
        config: config.clone(),
        counter: counter.clone(),
    }));
    r.register(Arc::new(instance::Instance(docdb, tagging)));
}

/// The `tags` property as DocumentDB tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    crate::util::tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Live tags as the `tags` property.
pub(crate) fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    crate::util::tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A required Int property as i32.
pub(crate) fn req_i32(props: &Props, name: &str) -> Result<i32, ProviderError> {
    crate::util::opt_i32(props, name)
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not a 32-bit integer")))
}

/// Whether a cluster or instance status means "ready" (`available`); a status it cannot
/// leave on its own is a fatal error.
pub(crate) fn is_available(what: &str, status: Option<&str>) -> Result<bool, ProviderError> {
    match status {
        Some("available") => Ok(true),
        Some(s) if s == "failed" || s.starts_with("incompatible-") || s.starts_with("inaccessible-") => Err(
            ProviderError::fatal(format!("{what} is in state `{s}`; it needs attention in the AWS console")),
        ),
        _ => Ok(false),
    }
}

/// Waits until the cluster or instance `what` is available: `describe` reads it (None:
/// not visible, worth retrying as `not_found_code`), `status` is its status.
pub(crate) async fn wait_available<T, F, Fut>(
    ctx: &Ctx,
    what: &str,
    not_found_code: &str,
    describe: F,
    status: fn(&T) -> Option<&str>,
) -> Result<T, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    crate::util::db_wait(ctx)
        .wait_for(&format!("{what} to become available"), || async {
            let found = describe().await?.ok_or_else(|| {
                ProviderError::retryable(format!("{what} not found")).with_code(not_found_code)
            })?;
            Ok(is_available(what, status(&found))?.then_some(found))
        })
        .await
}
