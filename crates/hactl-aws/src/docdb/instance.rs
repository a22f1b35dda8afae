//! `docdb.instance`: one instance of the DocumentDB cluster, `<stack>-docdb-<n>` in the
//! n-th zone (n = 1 has promotion tier 0 and becomes the first writer). id = instance
//! identifier.
//!
//! Read: DescribeDBInstances (engine `docdb`, paginated), the candidates' tags from the
//! stack's tag index (ListTagsForResource only where the index cannot be trusted alone, as
//! [`crate::tagging::TagIndex::lookup`] decides: e.g. a candidate the index does not hold that
//! state records or a target names: [`Reading::owner`]). `instance_class` is the pending class while a change waits for the
//! maintenance window (apply_immediately false). Which instance is the writer is not a
//! property. Create adopts on DBInstanceAlreadyExists (a create retried after a crash)
//! when the tags say this stack and address.

use super::{engine_filter, tags_of, tags_value, wait_available, ENGINE, NAMES};
use crate::error::{aws_error, found, is_not_found, retry_codes, retry_not_found};
use crate::rds::family::{wait_deleted, Api, Owner, Reading};
use crate::util::tags::Tagger;
use crate::util::{describe_all, ensure_ours, opt_bool, opt_i32, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_docdb::types::DbInstance;
use aws_sdk_docdb::Client;
use hactl_core::kinds::docdb::Instance as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Instance(pub Client, pub crate::tagging::Tagging);

const ALREADY_EXISTS: &str = "DBInstanceAlreadyExists";
/// The cluster is still being created or modified, or the instance is busy.
const BUSY: &[&str] = &["InvalidDBClusterStateFault", "InvalidDBInstanceState"];

fn outputs(i: &DbInstance) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("identifier".to_string(), Value::str(i.db_instance_identifier().unwrap_or_default())),
        ("arn".to_string(), Value::str(i.db_instance_arn().unwrap_or_default())),
        ("endpoint".to_string(), Value::str(i.endpoint().and_then(|e| e.address()).unwrap_or_default())),
        ("availability_zone".to_string(), Value::str(i.availability_zone().unwrap_or_default())),
    ])
}

/// The class the instance has, or will have once a pending change is applied.
fn instance_class(i: &DbInstance) -> &str {
    i.pending_modified_values()
        .and_then(|p| p.db_instance_class())
        .or(i.db_instance_class())
        .unwrap_or_default()
}

fn props_of(i: &DbInstance, tags: &BTreeMap<String, String>) -> Props {
    Props::from([
        (Kind::IDENTIFIER.to_string(), Value::str(i.db_instance_identifier().unwrap_or_default())),
        (Kind::CLUSTER_IDENTIFIER.to_string(), Value::str(i.db_cluster_identifier().unwrap_or_default())),
        (Kind::ENGINE.to_string(), Value::str(i.engine().unwrap_or_default())),
        (Kind::INSTANCE_CLASS.to_string(), Value::str(instance_class(i))),
        (Kind::AVAILABILITY_ZONE.to_string(), Value::str(i.availability_zone().unwrap_or_default())),
        (
            Kind::PROMOTION_TIER.to_string(),
            i.promotion_tier().map(|t| Value::Int(i64::from(t))).unwrap_or(Value::Null),
        ),
        (Kind::TAGS.to_string(), tags_value(tags)),
    ])
}

impl Instance {
    async fn describe_all(&self) -> Result<Vec<DbInstance>, ProviderError> {
        let all: Vec<DbInstance> =
            describe_all!(self.0, describe_db_instances, filters, engine_filter(), "DescribeDBInstances")?;
        Ok(all.into_iter().filter(|i| i.engine() == Some(ENGINE)).collect())
    }

    async fn describe(&self, id: &str) -> Result<Option<DbInstance>, ProviderError> {
        let out = self.0.describe_db_instances().db_instance_identifier(id).send().await;
        let out = found(out.map_err(|e| aws_error("DescribeDBInstances", e)))?;
        Ok(out.and_then(|o| o.db_instances().first().cloned()))
    }

    async fn wait_available(&self, ctx: &Ctx, id: &str) -> Result<DbInstance, ProviderError> {
        let what = format!("DocumentDB instance {id}");
        wait_available(ctx, &what, "DBInstanceNotFound", || self.describe(id), DbInstance::db_instance_status)
            .await
    }

    /// ModifyDBInstance with the class and/or promotion tier of `props`.
    async fn modify(&self, id: &str, props: &Props, class: bool, tier: bool) -> Result<(), ProviderError> {
        if !class && !tier {
            return Ok(());
        }
        let mut req = self
            .0
            .modify_db_instance()
            .db_instance_identifier(id)
            .apply_immediately(opt_bool(props, Kind::APPLY_IMMEDIATELY).unwrap_or(false));
        if class {
            req = req.db_instance_class(req_str(props, Kind::INSTANCE_CLASS)?);
        }
        if tier {
            req = req.set_promotion_tier(opt_i32(props, Kind::PROMOTION_TIER));
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| retry_codes(retry_not_found(aws_error("ModifyDBInstance", e)), BUSY))
    }

    /// An instance found at create: ours (this stack and address) is converged to
    /// `props`, anything else refused.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
        id: &str,
    ) -> Result<(), ProviderError> {
        let i = self.describe(id).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DocumentDB instance {id} exists but is not visible yet"))
        })?;
        let arn = i.db_instance_arn().unwrap_or_default();
        let tags = found(self.0.list_tags(arn).await)?.unwrap_or_default();
        ensure_ours(ctx, address, &tags, &format!("DocumentDB instance `{id}`"), ALREADY_EXISTS)?;
        ctx.progress(format!("adopting existing DocumentDB instance {id}"));
        let i = self.wait_available(ctx, id).await?;
        let class = Some(instance_class(&i)) != opt_str(props, Kind::INSTANCE_CLASS);
        let tier = i.promotion_tier() != opt_i32(props, Kind::PROMOTION_TIER);
        self.modify(id, props, class, tier).await?;
        self.0.sync_tags(arn, Some(&tags_value(&tags)), props.get(Kind::TAGS)).await
    }
}

#[async_trait]
impl Provider for Instance {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let (instances, reading) = futures::try_join!(
            self.describe_all(),
            Reading::new(ctx, &self.1, NAMES, targets, Kind::IDENTIFIER)
        )?;
        let mut out = Vec::new();
        for i in instances {
            let (Some(id), Some(arn)) = (i.db_instance_identifier(), i.db_instance_arn()) else { continue };
            if !reading.is_candidate(id) {
                continue;
            }
            let Some(Owner { tags, owned, address }) = reading.owner(&self.0, id, arn).await? else {
                continue;
            };
            out.push(LiveObject {
                id: id.to_string(),
                address,
                props: props_of(&i, &tags),
                outputs: outputs(&i),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = req_str(props, Kind::IDENTIFIER)?;
        let created = self
            .0
            .create_db_instance()
            .db_instance_identifier(id)
            .db_cluster_identifier(req_str(props, Kind::CLUSTER_IDENTIFIER)?)
            .engine(req_str(props, Kind::ENGINE)?)
            .db_instance_class(req_str(props, Kind::INSTANCE_CLASS)?)
            .availability_zone(req_str(props, Kind::AVAILABILITY_ZONE)?)
            .set_promotion_tier(opt_i32(props, Kind::PROMOTION_TIER))
            .set_tags(Some(tags_of(props)))
            .send()
            .await;
        if let Err(e) = created {
            let e = aws_error("CreateDBInstance", e);
            if e.code() != Some(ALREADY_EXISTS) {
                // The cluster just created may not be visible or ready yet.
                return Err(retry_codes(retry_not_found(e), BUSY));
            }
            // A create retried after a crash.
            self.adopt(ctx, address, props, id).await?;
        }
        ctx.progress(format!("DocumentDB instance {id} is being created"));
        let i = self.wait_available(ctx, id).await?;
        Ok(Applied { id: id.to_string(), outputs: outputs(&i) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let (mut class, mut tier, mut tags) = (false, false, None);
        for c in req.changes {
            match c.name.as_str() {
                Kind::INSTANCE_CLASS => class = true,
                Kind::PROMOTION_TIER => tier = true,
                Kind::TAGS => tags = Some(c),
                other => {
                    return Err(ProviderError::fatal(format!(
                        "docdb.instance cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.modify(req.id, req.desired, class, tier).await?;
        let i = if opt_bool(req.desired, Kind::APPLY_IMMEDIATELY) == Some(true) {
            self.wait_available(ctx, req.id).await?
        } else {
            self.describe(req.id).await?.ok_or_else(|| {
                ProviderError::retryable(format!("DocumentDB instance {} not found", req.id))
                    .with_code("DBInstanceNotFound")
            })?
        };
        if let Some(t) = tags {
            self.0
                .sync_tags(i.db_instance_arn().unwrap_or_default(), t.before.as_ref(), t.after.as_ref())
                .await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&i) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let r = self.0.delete_db_instance().db_instance_identifier(id).send().await;
        match r.map_err(|e| aws_error("DeleteDBInstance", e)) {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            // Already being deleted: wait for it below.
            Err(e) if e.code() == Some("InvalidDBInstanceState") => {
                if self.describe(id).await?.is_some_and(|i| i.db_instance_status() != Some("deleting")) {
                    return Err(retry_codes(e, BUSY));
                }
            }
            Err(e) => return Err(e),
        }
        wait_deleted(ctx, &format!("DocumentDB instance {id}"), || async {
            Ok(self.describe(id).await?.is_some())
        })
        .await
    }
}
