//! `rds.subnet_group`: the DB subnet group `<stack>-db` over the data subnets. id = name.
//!
//! Read: DescribeDBSubnetGroups (paginated) + ListTagsForResource per group named
//! `<stack>-...` or recorded (documented exception: the describe answer carries no
//! tags). Create looks the name up first: CreateDBSubnetGroup on the emulator silently
//! replaces a group of the same name (AWS answers DBSubnetGroupAlreadyExists); a group
//! with this stack's and address's tags is adopted and converged, any other is refused.

use super::{
    converge_tags, desired_str, is_candidate, is_recorded, like_desired, list_tags, retry_codes, sync_tags,
    tags_of, target_for,
};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::util::{ensure_ours, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_rds::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

type Group = aws_sdk_rds::types::DbSubnetGroup;

pub struct SubnetGroup(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "rds.subnet_group",
    props: &[
        PropSchema::replace("name"),
        PropSchema::in_place("description"),
        PropSchema::in_place("subnet_ids").as_set(),
        PropSchema::in_place("tags"),
    ],
};

/// The "in use" answer of a delete while an instance still uses the group.
const IN_USE: &[&str] = &["InvalidDBSubnetGroupStateFault", "InvalidDBSubnetGroupState"];

fn outputs(g: &Group) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_string(), Value::str(g.db_subnet_group_name().unwrap_or_default())),
        ("arn".to_string(), Value::str(g.db_subnet_group_arn().unwrap_or_default())),
    ])
}

fn subnet_ids(g: &Group) -> BTreeSet<String> {
    g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect()
}

impl SubnetGroup {
    async fn describe_all(&self) -> Result<Vec<Group>, ProviderError> {
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
    async fn describe(&self, name: &str) -> Result<Option<Group>, ProviderError> {
        let out = self.0.describe_db_subnet_groups().db_subnet_group_name(name).send().await;
        match out.map_err(|e| aws_error("DescribeDBSubnetGroups", e)) {
            Ok(o) => Ok(o.db_subnet_groups().first().cloned()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The group of this name; a group not visible yet is worth retrying.
    async fn describe_existing(&self, name: &str) -> Result<Group, ProviderError> {
        self.describe(name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DB subnet group {name} not found"))
                .with_code("DBSubnetGroupNotFoundFault")
        })
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
            if !is_candidate(&ctx.stack, name, targets) {
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
            let target = target_for(targets, name, address.as_ref());
            let props = Props::from([
                ("name".to_string(), like_desired(name, desired_str(target, "name"))),
                ("description".to_string(), Value::str(g.db_subnet_group_description().unwrap_or_default())),
                ("subnet_ids".to_string(), Value::from_strings(subnet_ids(&g))),
                ("tags".to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&g), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, "name")?;
        let group = match self.describe(name).await? {
            Some(existing) => {
                // A create retried after a crash: adopt our own group and converge it.
                let arn = existing.db_subnet_group_arn().unwrap_or_default();
                let tags = list_tags(&self.0, arn).await?;
                ensure_ours(
                    ctx,
                    address,
                    &tags,
                    &format!("DB subnet group `{name}`"),
                    "DBSubnetGroupAlreadyExists",
                )?;
                ctx.progress(format!("adopting existing DB subnet group {name}"));
                let want: BTreeSet<String> = str_list(props, "subnet_ids").into_iter().collect();
                if existing.db_subnet_group_description() != Some(req_str(props, "description")?)
                    || subnet_ids(&existing) != want
                {
                    self.modify(name, props).await?;
                }
                converge_tags(&self.0, arn, &tags, props).await?;
                self.describe_existing(name).await?
            }
            None => {
                let out = self
                    .0
                    .create_db_subnet_group()
                    .db_subnet_group_name(name)
                    .db_subnet_group_description(req_str(props, "description")?)
                    .set_subnet_ids(Some(str_list(props, "subnet_ids")))
                    .set_tags(Some(tags_of(props)))
                    .send()
                    .await
                    .map_err(|e| {
                        // Another create of the same name won the race: the retry adopts it.
                        retry_codes(
                            retry_not_found(aws_error("CreateDBSubnetGroup", e)),
                            &["DBSubnetGroupAlreadyExists"],
                        )
                    })?;
                out.db_subnet_group()
                    .cloned()
                    .ok_or_else(|| ProviderError::fatal("CreateDBSubnetGroup returned no subnet group"))?
            }
        };
        let id = group.db_subnet_group_name().unwrap_or(name).to_string();
        Ok(Applied { id, outputs: outputs(&group) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut modify = false;
        for c in req.changes {
            match c.name.as_str() {
                "description" | "subnet_ids" => modify = true,
                "tags" => {
                    let g = self.describe_existing(req.id).await?;
                    let arn = g.db_subnet_group_arn().unwrap_or_default();
                    sync_tags(&self.0, arn, c.before.as_ref(), c.after.as_ref()).await?;
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "rds.subnet_group cannot update `{other}` in place"
                    )))
                }
            }
        }
        if modify {
            self.modify(req.id, req.desired).await?;
        }
        let g = self.describe_existing(req.id).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&g) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Synchronous; an instance still leaving keeps the group in use for a while.
        ignore_not_found(
            self.0
                .delete_db_subnet_group()
                .db_subnet_group_name(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| retry_codes(aws_error("DeleteDBSubnetGroup", e), IN_USE)),
        )
    }
}
