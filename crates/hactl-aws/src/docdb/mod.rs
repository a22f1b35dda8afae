//! DocumentDB providers (the data tier, see crates/hactl-aws/KINDS-data.md): subnet group,
//! cluster parameter group, cluster and its instances, and what they share: tags
//! (ListTagsForResource per candidate, AddTagsToResource / RemoveTagsFromResource) and
//! the candidate rule of every read.
//!
//! The DocumentDB API is the RDS query API: its describes answer every RDS-family object
//! (clusters and instances are filtered by engine `docdb`), and none of its describe
//! answers carries tags, so each read asks ListTagsForResource for the candidates only
//! (name starting with `<stack>-`, a recorded id, or a target's name): the documented
//! exception to "one call per kind".

pub mod cluster;
pub mod cluster_parameter_group;
pub mod instance;
pub mod subnet_group;

use crate::error::{aws_error, is_not_found, retry_not_found};
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_docdb::types::Tag;
use aws_sdk_docdb::Client;
use hactl_core::{Props, Value};
use hactl_engine::{ProviderError, ReadTarget, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The engine name of DocumentDB clusters and instances.
pub(crate) const ENGINE: &str = "docdb";

/// Registers this service's providers. The cluster also gets a Secrets Manager client:
/// its create reads the master password from the secret.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let docdb = crate::client!(aws_sdk_docdb, config, counter);
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    r.register(Arc::new(subnet_group::SubnetGroup(docdb.clone())));
    r.register(Arc::new(cluster_parameter_group::ClusterParameterGroup(docdb.clone())));
    r.register(Arc::new(cluster::Cluster { docdb: docdb.clone(), sm }));
    r.register(Arc::new(instance::Instance(docdb)));
}

/// Whether a listed object is worth a tag call: its name starts with `<stack>-` (every
/// name the expansion gives), is an id recorded in state, or is the name a target wants
/// (`key` = the property holding the name).
pub(crate) fn is_candidate(stack: &str, targets: &[ReadTarget], key: &str, name: &str) -> bool {
    name.starts_with(&format!("{stack}-"))
        || targets
            .iter()
            .any(|t| t.id.as_deref() == Some(name) || t.props.get(key).and_then(Value::as_str) == Some(name))
}

/// Whether `id` is recorded in state for one of the targets.
pub(crate) fn is_recorded(targets: &[ReadTarget], id: &str) -> bool {
    targets.iter().any(|t| t.id.as_deref() == Some(id))
}

/// The target an object belongs to: by recorded id, else by the address of its tag.
pub(crate) fn target_of<'a>(
    targets: &'a [ReadTarget],
    id: &str,
    address: Option<&hactl_core::Address>,
) -> Option<&'a ReadTarget> {
    targets
        .iter()
        .find(|t| t.id.as_deref() == Some(id))
        .or_else(|| address.and_then(|a| targets.iter().find(|t| &t.address == a)))
}

/// The tags of one resource (by ARN), or None when it no longer exists.
pub(crate) async fn list_tags(
    client: &Client,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    let out = client.list_tags_for_resource().resource_name(arn).send().await;
    match out.map_err(|e| aws_error("ListTagsForResource", e)) {
        Ok(o) => Ok(Some(
            o.tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect(),
        )),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The `tags` property as DocumentDB tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    crate::util::tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Live tags as the `tags` property.
pub(crate) fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    crate::util::tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Brings the tags of `arn` from `before` to `after` (both `tags` property values).
pub(crate) async fn sync_tags(
    client: &Client,
    arn: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), ProviderError> {
    let (set, removed) = crate::util::tag_delta(before, after);
    if !set.is_empty() {
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("AddTagsToResource", e)))?;
    }
    if !removed.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("RemoveTagsFromResource", e)))?;
    }
    Ok(())
}

/// An Int property as i32 (None when absent or out of range).
pub(crate) fn opt_i32(props: &Props, name: &str) -> Option<i32> {
    props.get(name).and_then(Value::as_int).and_then(|i| i32::try_from(i).ok())
}

/// A required Int property as i32.
pub(crate) fn req_i32(props: &Props, name: &str) -> Result<i32, ProviderError> {
    opt_i32(props, name)
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not a 32-bit integer")))
}

/// Marks an error retryable when its code is one of `codes` (a dependency still
/// leaving, an object still settling).
pub(crate) fn retry_codes(mut e: ProviderError, codes: &[&str]) -> ProviderError {
    if e.code.as_deref().is_some_and(|c| codes.contains(&c)) {
        e.retryable = true;
    }
    e
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
