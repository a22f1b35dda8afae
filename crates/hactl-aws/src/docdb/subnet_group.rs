//! `docdb.subnet_group`: the DB subnet group `<stack>-db` over the data subnets. id = name.
//!
//! Read: DescribeDBSubnetGroups (paginated) + ListTagsForResource per candidate.
//! Create looks the name up first (the emulator silently replaces a group on a repeated
//! CreateDBSubnetGroup; AWS answers DBSubnetGroupAlreadyExists): a group with this
//! stack's and address's tags is adopted and converged, any other is a fatal error.

use super::{is_candidate, is_recorded, list_tags, retry_codes, sync_tags, tags_of, tags_value};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::{ensure_ours, owner_of, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_docdb::types::DbSubnetGroup;
use aws_sdk_docdb::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct SubnetGroup(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "docdb.subnet_group",
    props: &[
        PropSchema::replace("name"),
        PropSchema::in_place("description"),
        PropSchema::in_place("subnet_ids").as_set(),
        PropSchema::in_place("tags"),
    ],
};

const ALREADY_EXISTS: &str = "DBSubnetGroupAlreadyExists";

fn outputs(g: &DbSubnetGroup) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_string(), Value::str(g.db_subnet_group_name().unwrap_or_default())),
        ("arn".to_string(), Value::str(g.db_subnet_group_arn().unwrap_or_default())),
    ])
}

fn subnet_ids(g: &DbSubnetGroup) -> Value {
    Value::from_strings(g.subnets().iter().filter_map(|s| s.subnet_identifier()))
}

impl SubnetGroup {
    async fn describe_all(&self) -> Result<Vec<DbSubnetGroup>, ProviderError> {
        self.0
            .describe_db_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBSubnetGroups", e))
    }

    /// The group of this name, or None.
    async fn describe(&self, name: &str) -> Result<Option<DbSubnetGroup>, ProviderError> {
        let out = self.0.describe_db_subnet_groups().db_subnet_group_name(name).send().await;
        match out.map_err(|e| aws_error("DescribeDBSubnetGroups", e)) {
            Ok(o) => Ok(o.db_subnet_groups().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn modify(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .modify_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(req_str(props, "description")?)
            .set_subnet_ids(Some(str_list(props, "subnet_ids")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("ModifyDBSubnetGroup", e)))
    }
}

#[async_trait]
impl Provider for SubnetGroup {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for g in self.describe_all().await? {
            let (Some(name), Some(arn)) = (g.db_subnet_group_name(), g.db_subnet_group_arn()) else {
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
            let props = Props::from([
                ("name".to_string(), Value::str(name)),
                ("description".to_string(), Value::str(g.db_subnet_group_description().unwrap_or_default())),
                ("subnet_ids".to_string(), subnet_ids(&g)),
                ("tags".to_string(), tags_value(&tags)),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&g), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, "name")?;
        if let Some(existing) = self.describe(name).await? {
            // A create retried after a crash: ours is converged, anything else refused.
            let arn = existing.db_subnet_group_arn().unwrap_or_default().to_string();
            let tags = list_tags(&self.0, &arn).await?.unwrap_or_default();
            ensure_ours(ctx, address, &tags, &format!("DB subnet group `{name}`"), ALREADY_EXISTS)?;
            ctx.progress(format!("adopting existing DB subnet group {name}"));
            let differs = existing.db_subnet_group_description()
                != crate::util::opt_str(props, "description")
                || subnet_ids(&existing).normalized_set()
                    != props.get("subnet_ids").cloned().unwrap_or_default().normalized_set();
            if differs {
                self.modify(name, props).await?;
            }
            sync_tags(&self.0, &arn, Some(&tags_value(&tags)), props.get("tags")).await?;
            return Ok(Applied { id: name.to_string(), outputs: outputs(&existing) });
        }
        let out = self
            .0
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(req_str(props, "description")?)
            .set_subnet_ids(Some(str_list(props, "subnet_ids")))
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            // Another create of the same name won the race: the retry adopts it.
            .map_err(|e| {
                retry_codes(retry_not_found(aws_error("CreateDBSubnetGroup", e)), &[ALREADY_EXISTS])
            })?;
        let group = out
            .db_subnet_group()
            .ok_or_else(|| ProviderError::fatal("CreateDBSubnetGroup returned no group"))?;
        Ok(Applied { id: name.to_string(), outputs: outputs(group) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let group = self.describe(req.id).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DB subnet group {} not found", req.id))
                .with_code("DBSubnetGroupNotFoundFault")
        })?;
        let arn = group.db_subnet_group_arn().unwrap_or_default();
        let mut modify = false;
        for c in req.changes {
            match c.name.as_str() {
                "description" | "subnet_ids" => modify = true,
                "tags" => sync_tags(&self.0, arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "docdb.subnet_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        if modify {
            self.modify(req.id, req.desired).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&group) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_db_subnet_group()
                .db_subnet_group_name(id)
                .send()
                .await
                .map(|_| ())
                // Still used by a cluster that is being deleted.
                .map_err(|e| {
                    retry_codes(aws_error("DeleteDBSubnetGroup", e), &["InvalidDBSubnetGroupStateFault"])
                }),
        )
    }
}
