//! `rds.parameter_group`: the DB parameter group `<stack>-pg` (family `postgres16`) with
//! the parameters the stack sets (`{"rds.force_ssl": "1"}`). id = name.
//!
//! Read: DescribeDBParameterGroups (paginated; postgres families) + ListTagsForResource
//! and DescribeDBParameters(Source=user) per group named `<stack>-...` or recorded
//! (documented exception: one call per group for its tags and its parameters).
//! `parameters` reads as every user-set parameter, so an out-of-band addition is drift.
//! Changes go through ModifyDBParameterGroup (ApplyMethod `immediate` for parameters
//! whose ApplyType is dynamic, else `pending-reboot`); a key removed from the desired map
//! is reset with ResetDBParameterGroup.

use super::{
    converge_tags, desired_str, is_candidate, is_recorded, like_desired, list_tags, retry_codes, sync_tags,
    tags_of, target_for,
};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::{ensure_ours, owner_of, req_str, tags_prop};
use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use aws_sdk_rds::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

type Group = aws_sdk_rds::types::DbParameterGroup;

pub struct ParameterGroup(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "rds.parameter_group",
    props: &[
        PropSchema::replace("name"),
        PropSchema::replace("family"),
        PropSchema::replace("description"),
        PropSchema::in_place("parameters"),
        PropSchema::in_place("tags"),
    ],
};

/// ModifyDBParameterGroup / ResetDBParameterGroup take at most this many parameters.
const PARAM_BATCH: usize = 20;
/// The "in use" answer of a delete while an instance still uses the group.
const IN_USE: &[&str] = &["InvalidDBParameterGroupState", "InvalidDBParameterGroupStateFault"];

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("name".to_string(), Value::str(name)), ("arn".to_string(), Value::str(arn))])
}

/// The `parameters` property as a plain map.
fn param_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.map(Value::string_map).unwrap_or_default()
}

/// A postgres parameter group (DescribeDBParameterGroups also answers other engines').
fn is_postgres(g: &Group) -> bool {
    g.db_parameter_group_family().is_some_and(|f| f.to_ascii_lowercase().starts_with("postgres"))
}

impl ParameterGroup {
    async fn describe_all(&self) -> Result<Vec<Group>, ProviderError> {
        self.0
            .describe_db_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBParameterGroups", e))
    }

    /// The group of this name; one not visible yet is worth retrying.
    async fn describe(&self, name: &str) -> Result<Group, ProviderError> {
        let out = self
            .0
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("DescribeDBParameterGroups", e)))?;
        out.db_parameter_groups().first().cloned().ok_or_else(|| {
            ProviderError::retryable(format!("DB parameter group {name} not found"))
                .with_code("DBParameterGroupNotFound")
        })
    }

    /// The user-set parameters of a group (DescribeDBParameters, Source=user).
    async fn user_parameters(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let params: Vec<Parameter> = self
            .0
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBParameters", e))?;
        Ok(params
            .iter()
            // The emulator ignores the Source filter and answers only the parameters that
            // were set, without a Source.
            .filter(|p| p.source().is_none_or(|s| s == "user"))
            .filter_map(|p| Some((p.parameter_name()?.to_string(), p.parameter_value()?.to_string())))
            .collect())
    }

    /// How to apply each of `names`: `immediate` for dynamic parameters, `pending-reboot`
    /// for static ones and for those whose ApplyType is not known.
    async fn apply_methods(
        &self,
        group: &str,
        names: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, ApplyMethod>, ProviderError> {
        let mut methods = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut pages =
            self.0.describe_db_parameters().db_parameter_group_name(group).into_paginator().items().send();
        while let Some(p) = pages.next().await {
            let p = p.map_err(|e| retry_not_found(aws_error("DescribeDBParameters", e)))?;
            let Some(n) = p.parameter_name().filter(|n| names.contains(n)) else { continue };
            if p.apply_type() == Some("dynamic") {
                methods.insert(n.to_string(), ApplyMethod::Immediate);
            }
            seen.insert(n.to_string());
            // Every parameter of interest found: the remaining pages are not needed.
            if seen.len() == names.len() {
                break;
            }
        }
        Ok(methods)
    }

    /// Sets `set` and resets `reset` in the group.
    async fn apply(
        &self,
        group: &str,
        set: &BTreeMap<String, String>,
        reset: &[String],
    ) -> Result<(), ProviderError> {
        if set.is_empty() && reset.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<&str> =
            set.keys().map(String::as_str).chain(reset.iter().map(String::as_str)).collect();
        let methods = self.apply_methods(group, &names).await?;
        let method = |n: &str| methods.get(n).cloned().unwrap_or(ApplyMethod::PendingReboot);
        let set: Vec<(&String, &String)> = set.iter().collect();
        for chunk in set.chunks(PARAM_BATCH) {
            let params = chunk
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_name(*k)
                        .parameter_value(*v)
                        .apply_method(method(k))
                        .build()
                })
                .collect();
            self.0
                .modify_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(params))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("ModifyDBParameterGroup", e)))?;
        }
        for chunk in reset.chunks(PARAM_BATCH) {
            let params = chunk
                .iter()
                .map(|k| Parameter::builder().parameter_name(k).apply_method(method(k)).build())
                .collect();
            self.0
                .reset_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(params))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("ResetDBParameterGroup", e)))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for ParameterGroup {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for g in self.describe_all().await? {
            let (Some(name), Some(arn)) = (g.db_parameter_group_name(), g.db_parameter_group_arn()) else {
                continue;
            };
            if !is_candidate(&ctx.stack, name, targets) || !(is_postgres(&g) || is_recorded(targets, name)) {
                continue;
            }
            let tags = match list_tags(&self.0, arn).await {
                Ok(t) => t,
                // Deleted since the describe.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            let (owned, address) = owner_of(&ctx.stack, &tags);
            if !owned && !is_recorded(targets, name) {
                continue;
            }
            let parameters = match self.user_parameters(name).await {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            let target = target_for(targets, name, address.as_ref());
            let props = Props::from([
                ("name".to_string(), like_desired(name, desired_str(target, "name"))),
                ("family".to_string(), Value::str(g.db_parameter_group_family().unwrap_or_default())),
                ("description".to_string(), Value::str(g.description().unwrap_or_default())),
                ("parameters".to_string(), Value::from_string_map(parameters)),
                ("tags".to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(name, arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, "name")?;
        let created = self
            .0
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(req_str(props, "family")?)
            .description(req_str(props, "description")?)
            .set_tags(Some(tags_of(props)))
            .send()
            .await;
        let want = param_map(props.get("parameters"));
        let (group, live) = match created {
            Ok(out) => {
                let g = out.db_parameter_group().cloned().ok_or_else(|| {
                    ProviderError::fatal("CreateDBParameterGroup returned no parameter group")
                })?;
                (g, BTreeMap::new())
            }
            Err(e) => {
                let err = aws_error("CreateDBParameterGroup", e);
                if err.code.as_deref() != Some("DBParameterGroupAlreadyExists") {
                    return Err(err);
                }
                // A create retried after a crash: adopt our own group and converge it.
                let g = self.describe(name).await?;
                let arn = g.db_parameter_group_arn().unwrap_or_default();
                let tags = list_tags(&self.0, arn).await?;
                ensure_ours(
                    ctx,
                    address,
                    &tags,
                    &format!("DB parameter group `{name}`"),
                    "DBParameterGroupAlreadyExists",
                )?;
                if g.db_parameter_group_family() != Some(req_str(props, "family")?) {
                    return Err(ProviderError::fatal(format!(
                        "DB parameter group `{name}` exists with family {} instead of {}; delete it",
                        g.db_parameter_group_family().unwrap_or("(none)"),
                        req_str(props, "family")?
                    ))
                    .with_code("DBParameterGroupAlreadyExists"));
                }
                ctx.progress(format!("adopting existing DB parameter group {name}"));
                converge_tags(&self.0, arn, &tags, props).await?;
                let live = self.user_parameters(name).await?;
                (g, live)
            }
        };
        let set: BTreeMap<String, String> = want
            .iter()
            .filter(|(k, v)| live.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reset: Vec<String> = live.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
        self.apply(name, &set, &reset).await?;
        let id = group.db_parameter_group_name().unwrap_or(name).to_string();
        Ok(Applied { outputs: outputs(&id, group.db_parameter_group_arn().unwrap_or_default()), id })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let g = self.describe(req.id).await?;
        let arn = g.db_parameter_group_arn().unwrap_or_default();
        for c in req.changes {
            match c.name.as_str() {
                "parameters" => {
                    let before = param_map(c.before.as_ref());
                    let after = param_map(c.after.as_ref());
                    let set: BTreeMap<String, String> = after
                        .iter()
                        .filter(|(k, v)| before.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let reset: Vec<String> =
                        before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
                    self.apply(req.id, &set, &reset).await?;
                }
                "tags" => sync_tags(&self.0, arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "rds.parameter_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_db_parameter_group()
                .db_parameter_group_name(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_codes(aws_error("DeleteDBParameterGroup", e), IN_USE)),
        )
    }
}
