//! `docdb.cluster_parameter_group`: the cluster parameter group `<stack>-docdb` (family
//! `docdb5.0`) with the parameters hactl sets (`{"tls": "enabled"}`). id = name.
//!
//! Read: DescribeDBClusterParameterGroups (paginated), ListTagsForResource per candidate
//! and DescribeDBClusterParameters (Source = user, paginated) per group of the stack:
//! every user-set parameter is reported, so one added out of band shows as drift.
//!
//! Parameters are set with ModifyDBClusterParameterGroup (ApplyMethod `immediate` for
//! dynamic parameters, `pending-reboot` for static or unknown ones) and removed with
//! ResetDBClusterParameterGroup. Create and delete look the group up first (the emulator
//! replaces a group on a repeated create and fails with an internal error when deleting a
//! missing one).

use super::{is_candidate, is_recorded, list_tags, retry_codes, sync_tags, tags_of, tags_value};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::{ensure_ours, owner_of, req_str};
use async_trait::async_trait;
use aws_sdk_docdb::types::{ApplyMethod, DbClusterParameterGroup, Parameter};
use aws_sdk_docdb::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct ClusterParameterGroup(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "docdb.cluster_parameter_group",
    props: &[
        PropSchema::replace("name"),
        PropSchema::replace("family"),
        PropSchema::replace("description"),
        PropSchema::in_place("parameters"),
        PropSchema::in_place("tags"),
    ],
};

const ALREADY_EXISTS: &str = "DBParameterGroupAlreadyExists";
/// ModifyDBClusterParameterGroup / ResetDBClusterParameterGroup take at most this many
/// parameters per call.
const PARAMETER_BATCH: usize = 20;

fn outputs(g: &DbClusterParameterGroup) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_string(), Value::str(g.db_cluster_parameter_group_name().unwrap_or_default())),
        ("arn".to_string(), Value::str(g.db_cluster_parameter_group_arn().unwrap_or_default())),
    ])
}

/// The `parameters` property (or a live parameter map) as plain strings.
fn parameter_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = match v {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((k.clone(), s))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl ClusterParameterGroup {
    async fn describe_all(&self) -> Result<Vec<DbClusterParameterGroup>, ProviderError> {
        self.0
            .describe_db_cluster_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBClusterParameterGroups", e))
    }

    async fn describe(&self, name: &str) -> Result<Option<DbClusterParameterGroup>, ProviderError> {
        let out =
            self.0.describe_db_cluster_parameter_groups().db_cluster_parameter_group_name(name).send().await;
        match out.map_err(|e| aws_error("DescribeDBClusterParameterGroups", e)) {
            Ok(o) => Ok(o.db_cluster_parameter_groups().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The group's parameters; `user_only` asks for the user-set ones (Source = user).
    async fn parameters(&self, name: &str, user_only: bool) -> Result<Vec<Parameter>, ProviderError> {
        let mut req = self.0.describe_db_cluster_parameters().db_cluster_parameter_group_name(name);
        if user_only {
            req = req.source("user");
        }
        req.into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| retry_not_found(aws_error("DescribeDBClusterParameters", e)))
    }

    /// The user-set parameters, name → value (a parameter without a value is not set).
    async fn user_parameters(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self
            .parameters(name, true)
            .await?
            .iter()
            // The emulator ignores the Source filter and leaves Source out.
            .filter(|p| p.source().is_none_or(|s| s == "user"))
            .filter_map(|p| Some((p.parameter_name()?.to_string(), p.parameter_value()?.to_string())))
            .collect())
    }

    /// Brings the group's user-set parameters from `before` to `after`.
    async fn converge(
        &self,
        name: &str,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let set: Vec<(&String, &String)> = after.iter().filter(|(k, v)| before.get(*k) != Some(*v)).collect();
        let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        if !set.is_empty() {
            // Static parameters only take `pending-reboot`; dynamic ones apply at once.
            let dynamic: Vec<String> = self
                .parameters(name, false)
                .await?
                .iter()
                .filter(|p| p.apply_type() == Some("dynamic"))
                .filter_map(|p| p.parameter_name().map(str::to_string))
                .collect();
            for chunk in set.chunks(PARAMETER_BATCH) {
                let params = chunk
                    .iter()
                    .map(|(k, v)| {
                        let method = if dynamic.contains(k) {
                            ApplyMethod::Immediate
                        } else {
                            ApplyMethod::PendingReboot
                        };
                        Parameter::builder()
                            .parameter_name(*k)
                            .parameter_value(*v)
                            .apply_method(method)
                            .build()
                    })
                    .collect();
                self.0
                    .modify_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .set_parameters(Some(params))
                    .send()
                    .await
                    .map_err(|e| retry_not_found(aws_error("ModifyDBClusterParameterGroup", e)))?;
            }
        }
        for chunk in removed.chunks(PARAMETER_BATCH) {
            let params = chunk
                .iter()
                .map(|k| {
                    Parameter::builder().parameter_name(*k).apply_method(ApplyMethod::PendingReboot).build()
                })
                .collect();
            self.0
                .reset_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(name)
                .set_parameters(Some(params))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("ResetDBClusterParameterGroup", e)))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for ClusterParameterGroup {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for g in self.describe_all().await? {
            let (Some(name), Some(arn)) =
                (g.db_cluster_parameter_group_name(), g.db_cluster_parameter_group_arn())
            else {
                continue;
            };
            if !is_candidate(&ctx.stack, targets, "name", name) {
                continue;
            }
            let Some(tags) = list_tags(&self.0, arn).await? else { continue };
            let (owned, address) = owner_of(&ctx.stack, &tags);
            if !owned && !is_recorded(targets, name) {
                continue;
            }
            let parameters = match self.user_parameters(name).await {
                Ok(p) => p,
                // Deleted since the describe.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            let props = Props::from([
                ("name".to_string(), Value::str(name)),
                ("family".to_string(), Value::str(g.db_parameter_group_family().unwrap_or_default())),
                ("description".to_string(), Value::str(g.description().unwrap_or_default())),
                ("parameters".to_string(), Value::from_string_map(parameters)),
                ("tags".to_string(), tags_value(&tags)),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&g), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, "name")?;
        let want = parameter_map(props.get("parameters"));
        if let Some(existing) = self.describe(name).await? {
            // A create retried after a crash: ours is converged, anything else refused.
            let arn = existing.db_cluster_parameter_group_arn().unwrap_or_default().to_string();
            let tags = list_tags(&self.0, &arn).await?.unwrap_or_default();
            ensure_ours(
                ctx,
                address,
                &tags,
                &format!("DB cluster parameter group `{name}`"),
                ALREADY_EXISTS,
            )?;
            ctx.progress(format!("adopting existing DB cluster parameter group {name}"));
            let live = self.user_parameters(name).await?;
            self.converge(name, &live, &want).await?;
            sync_tags(&self.0, &arn, Some(&tags_value(&tags)), props.get("tags")).await?;
            return Ok(Applied { id: name.to_string(), outputs: outputs(&existing) });
        }
        let out = self
            .0
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(req_str(props, "family")?)
            .description(req_str(props, "description")?)
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            // Another create of the same name won the race: the retry adopts it.
            .map_err(|e| retry_codes(aws_error("CreateDBClusterParameterGroup", e), &[ALREADY_EXISTS]))?;
        let group = out
            .db_cluster_parameter_group()
            .ok_or_else(|| ProviderError::fatal("CreateDBClusterParameterGroup returned no group"))?;
        self.converge(name, &BTreeMap::new(), &want).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(group) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let group = self.describe(req.id).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DB cluster parameter group {} not found", req.id))
                .with_code("DBParameterGroupNotFound")
        })?;
        for c in req.changes {
            match c.name.as_str() {
                "parameters" => {
                    self.converge(req.id, &parameter_map(c.before.as_ref()), &parameter_map(c.after.as_ref()))
                        .await?
                }
                "tags" => {
                    let arn = group.db_cluster_parameter_group_arn().unwrap_or_default();
                    sync_tags(&self.0, arn, c.before.as_ref(), c.after.as_ref()).await?
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "docdb.cluster_parameter_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&group) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        if self.describe(id).await?.is_none() {
            return Ok(());
        }
        ignore_not_found(
            self.0
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(id)
                .send()
                .await
                .map(|_| ())
                // Still used by a cluster that is being deleted.
                .map_err(|e| {
                    retry_codes(
                        aws_error("DeleteDBClusterParameterGroup", e),
                        &["InvalidDBParameterGroupState"],
                    )
                }),
        )
    }
}
