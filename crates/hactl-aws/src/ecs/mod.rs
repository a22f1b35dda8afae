//! ECS providers (the compute tier) and what they share: tags, the cluster describe that
//! the cluster and its capacity provider setting both read, capacity provider strategies.

pub(crate) mod blue_green;
pub mod capacity_provider;
pub mod cluster;
pub mod cluster_capacity_providers;
pub mod service;
pub mod task_definition;

use crate::error::{aws_error, retry_not_found};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_ecs::types::{CapacityProviderStrategyItem, ClusterField, Tag};
use aws_sdk_ecs::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use hactl_core::{Props, Value};
use hactl_engine::{Ctx, ProviderError, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let ecs: Client = crate::client!(aws_sdk_ecs, config, counter);
    r.register(Arc::new(cluster::Cluster(ecs.clone())));
    r.register(Arc::new(capacity_provider::CapacityProvider(ecs.clone())));
    r.register(Arc::new(cluster_capacity_providers::ClusterCapacityProviders(ecs.clone())));
    r.register(Arc::new(task_definition::TaskDefinition(ecs.clone())));
    r.register(Arc::new(service::Service::new(ecs)));
}

/// An ECS error: [`aws_error`], with ECS's own transient codes marked retryable.
pub(crate) fn ecs_error<E>(
    what: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut err = aws_error(what, e);
    // ServerException: an ECS-side failure; UpdateInProgressException: another change of
    // the same cluster or capacity provider is still being applied.
    if matches!(err.code(), Some("ServerException" | "UpdateInProgressException")) {
        err.make_retryable();
    }
    err
}

/// The `tags` property as ECS tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    crate::util::tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Live ECS tags as a plain map.
pub(crate) fn tag_map_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// Live ECS tags as the `tags` property (AWS-reserved `aws:` keys left out).
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    let map = tag_map_of(tags);
    crate::util::tags_prop(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// ECS's tag calls: TagResource for new or changed values, UntagResource for removed keys.
#[async_trait::async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| retry_not_found(ecs_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(ecs_error("UntagResource", e)))
    }
}

/// The clusters answer shared by `ecs.cluster` and `ecs.cluster_capacity_providers`
/// during one refresh: DescribeClusters (tags and settings included) for `names`. The
/// first reader's call is cached; names a later reader needs that the cached answer did
/// not ask for are described in one more call.
pub(crate) async fn clusters(
    ctx: &Ctx,
    client: &Client,
    names: &BTreeSet<String>,
) -> Result<Vec<aws_sdk_ecs::types::Cluster>, ProviderError> {
    type Answer = (BTreeSet<String>, Vec<aws_sdk_ecs::types::Cluster>);
    let cached: Arc<Answer> = ctx
        .cache
        .get_or_try_init("ecs:DescribeClusters", || async {
            Ok((names.clone(), describe_clusters(client, names).await?))
        })
        .await?;
    let missing: BTreeSet<String> = names.difference(&cached.0).cloned().collect();
    let mut out = cached.1.clone();
    if !missing.is_empty() {
        out.extend(describe_clusters(client, &missing).await?);
    }
    Ok(out)
}

/// DescribeClusters (at most 100 names per call); missing clusters are left out.
pub(crate) async fn describe_clusters(
    client: &Client,
    names: &BTreeSet<String>,
) -> Result<Vec<aws_sdk_ecs::types::Cluster>, ProviderError> {
    let names: Vec<String> = names.iter().cloned().collect();
    let mut out = Vec::new();
    for chunk in names.chunks(100) {
        let resp = client
            .describe_clusters()
            .set_clusters(Some(chunk.to_vec()))
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await
            .map_err(|e| ecs_error("DescribeClusters", e))?;
        out.extend(resp.clusters().iter().cloned());
    }
    Ok(out)
}

/// A capacity provider strategy property (List of Map `capacity_provider`, `weight`,
/// `base`) as the API's items; Null or absent is an empty strategy.
pub(crate) fn strategy_items(v: Option<&Value>) -> Result<Vec<CapacityProviderStrategyItem>, ProviderError> {
    let Some(list) = v.and_then(Value::as_list) else { return Ok(Vec::new()) };
    list.iter()
        .map(|item| {
            let m = item.as_map().ok_or_else(|| ProviderError::fatal("strategy item is not a map"))?;
            let int = |k: &str| m.get(k).and_then(Value::as_int).map(|i| i as i32);
            CapacityProviderStrategyItem::builder()
                .capacity_provider(m.get("capacity_provider").and_then(Value::as_str).unwrap_or_default())
                .set_weight(int("weight"))
                .set_base(int("base"))
                .build()
                .map_err(|e| ProviderError::fatal(format!("capacity provider strategy: {e}")))
        })
        .collect()
}

/// Live strategy items as the property (weight and base default to 0, as ECS does).
pub(crate) fn strategy_value(items: &[CapacityProviderStrategyItem]) -> Value {
    Value::List(
        items
            .iter()
            .map(|i| {
                Value::Map(BTreeMap::from([
                    ("capacity_provider".to_string(), Value::str(i.capacity_provider())),
                    ("weight".to_string(), Value::Int(i64::from(i.weight()))),
                    ("base".to_string(), Value::Int(i64::from(i.base()))),
                ]))
            })
            .collect(),
    )
}

/// The names a read asks for: the targets' recorded ids and the names their property
/// `key` holds.
pub(crate) fn target_names(targets: &[hactl_engine::ReadTarget], key: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = targets.iter().filter_map(|t| t.id.clone()).collect();
    names.extend(targets.iter().filter_map(|t| t.props.get(key).and_then(Value::as_str)).map(String::from));
    names
}

/// The last `/`-separated part of an ARN (a cluster or service name), or the input.
pub(crate) fn arn_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
