//! `ecs.cluster`: the ECS cluster, with Container Insights on or off. id = cluster name.
//! Read from DescribeClusters by name (tags and settings included; the answer is shared
//! with `ecs.cluster_capacity_providers`); an INACTIVE cluster is gone.

use super::{clusters, describe_clusters, ecs_error, tag_map_of, tags_of, tags_value};
use crate::error::{ignore_not_found, retry_not_found};
use crate::util::ensure_ours;
use crate::util::tags::Tagger;
use crate::util::{owner_of, req_str};
use async_trait::async_trait;
use aws_sdk_ecs::types::{ClusterSetting, ClusterSettingName};
use aws_sdk_ecs::Client;
use hactl_core::kinds::ecs::Cluster as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Cluster(pub Client);

fn insights_setting(value: &str) -> ClusterSetting {
    ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build()
}

/// The cluster's Container Insights setting; unset reads as `disabled` (the default).
fn insights_of(c: &aws_sdk_ecs::types::Cluster) -> String {
    c.settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        .unwrap_or("disabled")
        .to_string()
}

fn outputs(arn: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("name".to_string(), Value::str(name)),
        (
            "container_instances_arn".to_string(),
            Value::str(format!("{}/*", arn.replacen(":cluster/", ":container-instance/", 1))),
        ),
    ])
}

fn is_active(c: &aws_sdk_ecs::types::Cluster) -> bool {
    c.status() != Some("INACTIVE")
}

impl Cluster {
    async fn set_insights(&self, name: &str, value: &str) -> Result<(), ProviderError> {
        // UpdateCluster carries the settings too (and the emulator knows only it).
        self.0
            .update_cluster()
            .cluster(name)
            .settings(insights_setting(value))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(ecs_error("UpdateCluster", e)))
    }

    async fn live(&self, name: &str) -> Result<Option<aws_sdk_ecs::types::Cluster>, ProviderError> {
        let found = describe_clusters(&self.0, &BTreeSet::from([name.to_string()])).await?;
        Ok(found.into_iter().find(|c| c.cluster_name() == Some(name) && is_active(c)))
    }
}

#[async_trait]
impl Provider for Cluster {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let names = super::target_names(targets, Kind::NAME);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let found = clusters(ctx, &self.0, &names).await?;
        Ok(found
            .iter()
            .filter(|c| is_active(c))
            .filter_map(|c| {
                let name = c.cluster_name()?;
                let tags = tag_map_of(c.tags());
                let (owned, address) = owner_of(&ctx.stack, &tags);
                let props = Props::from([
                    (Kind::NAME.to_string(), Value::str(name)),
                    (Kind::CONTAINER_INSIGHTS.to_string(), Value::Str(insights_of(c))),
                    (Kind::TAGS.to_string(), tags_value(c.tags())),
                ]);
                Some(LiveObject {
                    id: name.to_string(),
                    address,
                    props,
                    outputs: outputs(c.cluster_arn().unwrap_or_default(), name),
                    owned,
                })
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let insights = req_str(props, Kind::CONTAINER_INSIGHTS).unwrap_or("disabled");
        // A cluster of that name already active: this address's own (a create retried
        // after a crash) is converged; anything else is refused, never taken over.
        if let Some(c) = self.live(name).await? {
            ensure_ours(
                ctx,
                address,
                &tag_map_of(c.tags()),
                &format!("ECS cluster `{name}`"),
                "AlreadyExists",
            )?;
            let arn = c.cluster_arn().unwrap_or_default().to_string();
            if insights_of(&c) != insights {
                self.set_insights(name, insights).await?;
            }
            self.0.sync_tags(&arn, Some(&tags_value(c.tags())), props.get(Kind::TAGS)).await?;
            return Ok(Applied { id: name.to_string(), outputs: outputs(&arn, name) });
        }
        let out = self
            .0
            .create_cluster()
            .cluster_name(name)
            .settings(insights_setting(insights))
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            .map_err(|e| ecs_error("CreateCluster", e))?;
        let arn = out
            .cluster()
            .and_then(|c| c.cluster_arn())
            .ok_or_else(|| ProviderError::fatal("CreateCluster returned no cluster ARN"))?;
        Ok(Applied { id: name.to_string(), outputs: outputs(arn, name) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let live = self
            .live(req.id)
            .await?
            .ok_or_else(|| ProviderError::retryable(format!("ECS cluster `{}` not found", req.id)))?;
        let arn = live.cluster_arn().unwrap_or_default().to_string();
        for c in req.changes {
            match c.name.as_str() {
                Kind::CONTAINER_INSIGHTS => {
                    self.set_insights(req.id, c.after.as_ref().and_then(Value::as_str).unwrap_or("disabled"))
                        .await?
                }
                Kind::TAGS => self.0.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => return Err(ProviderError::fatal(format!("`{other}` cannot be updated in place"))),
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&arn, req.id) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let r = self.0.delete_cluster().cluster(id).send().await.map(|_| ()).map_err(|e| {
            let mut err = ecs_error("DeleteCluster", e);
            // Services, tasks, container instances or capacity providers still being
            // removed: the cluster can go once they are.
            if err.code().is_some_and(|c| c.starts_with("ClusterContains")) {
                err.make_retryable();
            }
            err
        });
        ignore_not_found(r)?;
        ctx.wait_for(&format!("ECS cluster {id} to be inactive"), || async {
            Ok(self.live(id).await?.is_none().then_some(()))
        })
        .await
    }
}
