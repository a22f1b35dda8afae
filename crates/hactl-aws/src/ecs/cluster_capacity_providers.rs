//! `ecs.cluster_capacity_providers`: the capacity providers associated with a cluster and
//! its default strategy. id = cluster name. A setting of the cluster, without tags of its
//! own: read from the (shared) DescribeClusters answer and matched by `cluster`; a
//! cluster with no capacity provider and no default strategy has none. Delete detaches
//! everything (PutClusterCapacityProviders with empty lists), so the capacity providers
//! can be deleted after it.

use super::{clusters, ecs_error, strategy_items, strategy_value, tag_map_of};
use crate::error::retry_not_found;
use crate::util::{match_target, owner_of, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_ecs::types::CapacityProviderStrategyItem;
use aws_sdk_ecs::Client;
use hactl_core::kinds::ecs::ClusterCapacityProviders as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};

pub struct ClusterCapacityProviders(pub Client);

impl ClusterCapacityProviders {
    async fn put(
        &self,
        cluster: &str,
        providers: Vec<String>,
        strategy: Vec<CapacityProviderStrategyItem>,
    ) -> Result<(), ProviderError> {
        self.0
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(providers))
            .set_default_capacity_provider_strategy(Some(strategy))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let mut err = retry_not_found(ecs_error("PutClusterCapacityProviders", e));
                // A provider being removed is still used by a service that is going away.
                if err.code() == Some("ResourceInUseException") {
                    err.make_retryable();
                }
                err
            })
    }

    async fn apply(&self, props: &Props) -> Result<String, ProviderError> {
        let cluster = req_str(props, Kind::CLUSTER)?;
        self.put(
            cluster,
            str_list(props, Kind::CAPACITY_PROVIDERS),
            strategy_items(props.get(Kind::DEFAULT_STRATEGY))?,
        )
        .await?;
        Ok(cluster.to_string())
    }
}

#[async_trait]
impl Provider for ClusterCapacityProviders {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let names = super::target_names(targets, Kind::CLUSTER);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let found = clusters(ctx, &self.0, &names).await?;
        Ok(found
            .iter()
            .filter(|c| c.status() != Some("INACTIVE"))
            .filter(|c| {
                !c.capacity_providers().is_empty() || !c.default_capacity_provider_strategy().is_empty()
            })
            .filter_map(|c| {
                let name = c.cluster_name()?;
                let (owned, _) = owner_of(&ctx.stack, &tag_map_of(c.tags()));
                let address =
                    match_target(targets, |p| p.get(Kind::CLUSTER).and_then(Value::as_str) == Some(name))
                        .or_else(|| {
                            targets.iter().find(|t| t.id.as_deref() == Some(name)).map(|t| &t.address)
                        })
                        .cloned();
                let props = Props::from([
                    (Kind::CLUSTER.to_string(), Value::str(name)),
                    (
                        Kind::CAPACITY_PROVIDERS.to_string(),
                        Value::from_strings(c.capacity_providers().iter().cloned()),
                    ),
                    (
                        Kind::DEFAULT_STRATEGY.to_string(),
                        strategy_value(c.default_capacity_provider_strategy()),
                    ),
                ]);
                Some(LiveObject { id: name.to_string(), address, props, outputs: Default::default(), owned })
            })
            .collect())
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        Ok(Applied { id: self.apply(props).await?, outputs: Default::default() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        // Both lists are always sent whole: the call replaces the cluster's setting.
        Ok(Applied { id: self.apply(req.desired).await?, outputs: Default::default() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.put(id, Vec::new(), Vec::new()).await {
            Ok(()) => Ok(()),
            // The cluster is gone (or deleted: INACTIVE), and its setting with it.
            Err(e)
                if crate::error::is_not_found(&e)
                    || e.message().to_ascii_lowercase().contains("inactive") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
