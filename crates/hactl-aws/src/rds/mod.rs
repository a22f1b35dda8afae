//! RDS PostgreSQL providers (see crates/hactl-aws/KINDS-data.md, section "rds"): the DB
//! subnet group, the DB parameter group and the Multi-AZ DB instance, and what they share:
//! tags (ListTagsForResource, AddTagsToResource / RemoveTagsFromResource), names (RDS
//! stores identifiers in lower case) and read filters.

pub mod instance;
pub mod parameter_group;
pub mod subnet_group;

use crate::error::{aws_error, retry_not_found};
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use hactl_core::{Address, Props, Value};
use hactl_engine::{ProviderError, ReadTarget, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers. The instance also gets a Secrets Manager client:
/// its create reads the master password from the credentials secret.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let rds = crate::client!(aws_sdk_rds, config, counter);
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    r.register(Arc::new(subnet_group::SubnetGroup(rds.clone())));
    r.register(Arc::new(parameter_group::ParameterGroup(rds.clone())));
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

/// The tags of one RDS resource (subnet and parameter groups: their describe answers
/// carry no tags).
pub(crate) async fn list_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsForResource", e))?;
    Ok(tag_list_map(out.tag_list()))
}

/// Sets `set` and removes `removed` on the resource `arn`.
pub(crate) async fn set_tags(
    client: &Client,
    arn: &str,
    set: BTreeMap<String, String>,
    removed: Vec<String>,
) -> Result<(), ProviderError> {
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

/// Brings the tags of `arn` from `before` to `after` (an update's `tags` change).
pub(crate) async fn sync_tags(
    client: &Client,
    arn: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), ProviderError> {
    let (set, removed) = crate::util::tag_delta(before, after);
    set_tags(client, arn, set, removed).await
}

/// Brings live tags (`live`) to the desired `tags` property (an adopted object).
pub(crate) async fn converge_tags(
    client: &Client,
    arn: &str,
    live: &BTreeMap<String, String>,
    props: &Props,
) -> Result<(), ProviderError> {
    let want = crate::util::tag_map(props);
    let removed = live.keys().filter(|k| !k.starts_with("aws:") && !want.contains_key(*k)).cloned().collect();
    let set = want.into_iter().filter(|(k, v)| live.get(k) != Some(v)).collect();
    set_tags(client, arn, set, removed).await
}

/// The read target an object answers: the one whose recorded id is `id` (RDS compares
/// names case-insensitively), else the one at `address`.
pub(crate) fn target_for<'a>(
    targets: &'a [ReadTarget],
    id: &str,
    address: Option<&Address>,
) -> Option<&'a ReadTarget> {
    targets
        .iter()
        .find(|t| t.id.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(id)))
        .or_else(|| address.and_then(|a| targets.iter().find(|t| &t.address == a)))
}

/// Whether a target recorded this id.
pub(crate) fn is_recorded(targets: &[ReadTarget], id: &str) -> bool {
    targets.iter().any(|t| t.id.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(id)))
}

/// Whether an object of this name may be the stack's: named `<stack>-...` or recorded.
/// Only these get a ListTagsForResource call.
pub(crate) fn is_candidate(stack: &str, name: &str, targets: &[ReadTarget]) -> bool {
    let prefix = format!("{stack}-");
    name.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix)) || is_recorded(targets, name)
}

/// A live name as the desired side spells it: RDS stores subnet group, parameter group
/// and instance names in lower case, so a desired `Demo-pg` reads back as `demo-pg`.
pub(crate) fn like_desired(live: &str, desired: Option<&str>) -> Value {
    match desired {
        Some(d) if d.eq_ignore_ascii_case(live) => Value::str(d),
        _ => Value::str(live),
    }
}

/// A string property of the target, for [`like_desired`].
pub(crate) fn desired_str<'a>(target: Option<&'a ReadTarget>, name: &str) -> Option<&'a str> {
    target.and_then(|t| t.props.get(name)).and_then(Value::as_str)
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

/// Marks errors with one of `codes` retryable (objects still in use, busy states).
pub(crate) fn retry_codes(mut e: ProviderError, codes: &[&str]) -> ProviderError {
    if e.code.as_deref().is_some_and(|c| codes.contains(&c)) {
        e.retryable = true;
    }
    e
}
