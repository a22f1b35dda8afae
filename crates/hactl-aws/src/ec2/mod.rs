//! EC2 providers (the network tier) and what they share: tags, filters and the batched
//! describe calls several kinds read from.

pub mod eip;
pub mod internet_gateway;
pub mod internet_gateway_attachment;
pub mod launch_template;
pub mod nat_gateway;
pub mod network_acl;
pub mod route;
pub mod route_table;
pub mod security_group;
pub mod security_group_rules;
pub mod subnet;
pub mod vpc;
pub mod vpc_endpoint;

use crate::error::aws_error;

pub(crate) use crate::util::describe_all;
use crate::util::tags::Tagger;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, ProviderError, ReadTarget};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

pub(crate) fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name(format!("tag:{TAG_STACK}")).values(stack).build()
}

pub(crate) fn ids_filter(name: &str, ids: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(ids.to_vec())).build()
}

/// The `tags` property every tagged EC2 kind declares alike.
const TAGS: &str = hactl_core::kinds::ec2::Vpc::TAGS;

/// The `tags` property as EC2 tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    props
        .get(TAGS)
        .map(Value::string_map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn tag_spec(rt: ResourceType, props: &Props) -> TagSpecification {
    TagSpecification::builder().resource_type(rt).set_tags(Some(tags_of(props))).build()
}

/// Live tags as the `tags` property (AWS-reserved `aws:` tags left out).
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    Value::from_string_map(
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// A live object without outputs (other resources refer to the id of most network kinds).
pub(crate) fn object(
    id: impl Into<String>,
    address: Option<Address>,
    props: Props,
    owned: bool,
) -> LiveObject {
    LiveObject { id: id.into(), address, props, outputs: Default::default(), owned }
}

/// Ownership read from tags: (carries this stack's tag, its address tag).
pub(crate) fn ownership(stack: &str, tags: &[Tag]) -> (bool, Option<Address>) {
    let get = |k: &str| tags.iter().find(|t| t.key() == Some(k)).and_then(|t| t.value());
    let owned = owned_by(stack, tags);
    let address = if owned { get(TAG_ADDRESS).and_then(|a| Address::parse(a).ok()) } else { None };
    (owned, address)
}

/// Whether the tags carry this stack's `hactl:stack` tag.
pub(crate) fn owned_by(stack: &str, tags: &[Tag]) -> bool {
    tags.iter().any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(stack))
}

/// EC2's tag calls: CreateTags for new or changed values, DeleteTags for removed keys.
#[async_trait::async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, id: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self.create_tags().resources(id).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| crate::error::retry_not_found(aws_error("CreateTags", e)))
    }

    async fn remove_tag_keys(&self, id: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let tags = keys.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        let out = self.delete_tags().resources(id).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| crate::error::retry_not_found(aws_error("DeleteTags", e)))
    }
}

/// `update` of a kind whose only in-place property is `tags` (the others force a
/// replacement, so the planner never asks to update them).
pub(crate) async fn update_tags_only(
    client: &Client,
    req: &hactl_engine::UpdateRequest<'_>,
) -> Result<hactl_engine::Applied, ProviderError> {
    let refuse = |other: &str| ProviderError::fatal(format!("`{other}` cannot be updated in place"));
    client.update_tags_only(req.id, req.changes, refuse).await?;
    Ok(hactl_engine::Applied { id: req.id.to_string(), outputs: Default::default() })
}

/// Objects of one describe call: those with the stack's tag (one call, shared through
/// the refresh cache under `key`), plus the `wanted` ids that lost the tag (a second,
/// uncached call, only when some are missing).
pub(crate) async fn tagged_or_ids<T, F, Fut>(
    ctx: &Ctx,
    key: &str,
    id_filter: &str,
    wanted: &BTreeSet<String>,
    id_of: fn(&T) -> Option<&str>,
    list: F,
) -> Result<Vec<T>, ProviderError>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Filter) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let stack = ctx.stack.clone();
    let tagged: Arc<Vec<T>> = ctx.cache.get_or_try_init(key, || list(stack_filter(&stack))).await?;
    let have: BTreeSet<&str> = tagged.iter().filter_map(id_of).collect();
    let missing: Vec<String> = wanted.iter().filter(|id| !have.contains(id.as_str())).cloned().collect();
    let mut out: Vec<T> = tagged.as_ref().clone();
    if !missing.is_empty() {
        out.extend(list(ids_filter(id_filter, &missing)).await?);
    }
    Ok(out)
}

/// The ids recorded in state for the targets.
pub(crate) fn target_ids(targets: &[ReadTarget]) -> BTreeSet<String> {
    targets.iter().filter_map(|t| t.id.clone()).collect()
}

/// The values of a string property across targets (e.g. the route tables routes live in).
pub(crate) fn target_prop_values(targets: &[ReadTarget], name: &str) -> BTreeSet<String> {
    targets.iter().filter_map(|t| t.props.get(name).and_then(Value::as_str).map(str::to_string)).collect()
}

// Shared describe calls (several kinds read the same answer).

pub(crate) async fn route_tables(
    ctx: &Ctx,
    client: &Client,
    wanted: &BTreeSet<String>,
) -> Result<Vec<aws_sdk_ec2::types::RouteTable>, ProviderError> {
    tagged_or_ids(
        ctx,
        "ec2:DescribeRouteTables",
        "route-table-id",
        wanted,
        |t: &aws_sdk_ec2::types::RouteTable| t.route_table_id(),
        |f| async move { describe_all!(client, describe_route_tables, filters, f, "DescribeRouteTables") },
    )
    .await
}

pub(crate) async fn security_groups(
    ctx: &Ctx,
    client: &Client,
    wanted: &BTreeSet<String>,
) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    tagged_or_ids(
        ctx,
        "ec2:DescribeSecurityGroups",
        "group-id",
        wanted,
        |g: &aws_sdk_ec2::types::SecurityGroup| g.group_id(),
        |f| async move { describe_all!(client, describe_security_groups, filters, f, "DescribeSecurityGroups") },
    )
    .await
}

pub(crate) async fn internet_gateways(
    ctx: &Ctx,
    client: &Client,
    wanted: &BTreeSet<String>,
) -> Result<Vec<aws_sdk_ec2::types::InternetGateway>, ProviderError> {
    tagged_or_ids(
        ctx,
        "ec2:DescribeInternetGateways",
        "internet-gateway-id",
        wanted,
        |g: &aws_sdk_ec2::types::InternetGateway| g.internet_gateway_id(),
        |f| async move {
            describe_all!(client, describe_internet_gateways, filters, f, "DescribeInternetGateways")
        },
    )
    .await
}

/// Outputs map with one entry.
pub(crate) fn output(name: &str, v: impl Into<Value>) -> BTreeMap<String, Value> {
    BTreeMap::from([(name.to_string(), v.into())])
}
