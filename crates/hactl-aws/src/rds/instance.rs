//! `rds.instance`: the PostgreSQL DB instance `<stack>-pg` (Multi-AZ: one instance, RDS
//! keeps the standby), encrypted, in the stack's DB subnet group and parameter group,
//! reachable only through the database security group. id = instance identifier.
//!
//! Read: DescribeDBInstances (paginated; its TagList gives the tags), keeping engine
//! `postgres` instances of this stack or recorded. Pending modified values count as live
//! (a change made with apply_immediately = false is not drift); the instance's AZ is not a
//! property (a Multi-AZ failover moves it).
//!
//! Create reads the master password from the credentials secret
//! (`crate::secretsmanager::master_password`) and hands it to CreateDBInstance only: it
//! never reaches props, outputs, errors, logs or progress messages.
//!
//! With `source_instance_arn` set, the instance is a read replica of that instance
//! (cross-region: the DR region's replica of the primary region's instance): create is
//! CreateDBInstanceReadReplica in this provider's region with the source's ARN and no
//! master user, password, database name, storage size or engine version (the replica
//! inherits them); an encrypted cross-region replica gets a KMS key of its own region (the
//! desired `kms_key_id`, else the region's AWS managed key `alias/aws/rds`). Backup
//! retention and window, which that call cannot take, follow through ModifyDBInstance.
//! aws-sdk-rust has no `SourceRegion` member and generates no PreSignedUrl; AWS needs one
//! only between GovCloud (US) or China regions and ignores it elsewhere, so none is sent.
//! `hactl` promotes a replica with [`super::promote::promote_replica`].
//!
//! Delete is a destroy trap: with deletion protection on it fails unless
//! `ctx.delete_options.allow_delete_protected` (then protection is turned off first); it
//! takes a final snapshot `<identifier>-final-<YYYYMMDDHHMMSS>` (UTC) unless
//! `skip_final_snapshot`.

use super::family::{aws_choice, final_snapshot, protection_to_lift, wait_deleted, Names};
use super::{opt_i32, tag_list_map, tags_of};
use crate::error::{aws_error, found, is_not_found, retry_codes, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, opt_bool, opt_str, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_rds::Client;
use hactl_core::kinds::rds::Instance as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

type Db = aws_sdk_rds::types::DbInstance;

pub struct Instance {
    pub rds: Client,
    /// For the master password at create.
    pub sm: aws_sdk_secretsmanager::Client,
}

/// RDS stores instance identifiers in lower case.
const NAMES: Names = Names::CaseInsensitive;

/// The engine this kind manages (DescribeDBInstances answers every engine's instances).
const ENGINE: &str = "postgres";

/// Statuses an instance does not leave by waiting.
const FAILED: &[&str] = &[
    "failed",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "restore-error",
    "storage-full",
];

/// Statuses in which the instance is usable and takes no further change for a while: a
/// storage change leaves it in storage-optimization for hours.
const SETTLED: &[&str] = &["available", "storage-optimization"];

/// Busy answers of a modify or delete (backing up, being modified): worth retrying.
const BUSY: &[&str] = &["InvalidDBInstanceState", "InvalidDBInstanceStateFault"];

fn live_port(db: &Db) -> Option<i32> {
    db.endpoint().and_then(|e| e.port()).or(db.db_instance_port())
}

/// The instance's outputs. `master_user_secret_arn` only while the instance manages its
/// password: a reference to it stays unknown (not null) in a plan that turns that on.
fn outputs(db: &Db) -> BTreeMap<String, Value> {
    let mut o = BTreeMap::from([
        ("replica_source".to_string(), opt_string(db.read_replica_source_db_instance_identifier())),
        ("identifier".to_string(), Value::str(db.db_instance_identifier().unwrap_or_default())),
        ("arn".to_string(), Value::str(db.db_instance_arn().unwrap_or_default())),
        ("endpoint".to_string(), Value::str(db.endpoint().and_then(|e| e.address()).unwrap_or_default())),
        ("port".to_string(), live_port(db).map(|p| Value::Int(i64::from(p))).unwrap_or(Value::Null)),
        ("resource_id".to_string(), Value::str(db.dbi_resource_id().unwrap_or_default())),
    ]);
    if let Some(arn) = db.master_user_secret().and_then(|s| s.secret_arn()) {
        o.insert(crate::docdb::cluster::MASTER_USER_SECRET_ARN.to_string(), Value::str(arn));
    }
    o
}

fn opt_string(v: Option<&str>) -> Value {
    v.map(Value::str).unwrap_or(Value::Null)
}

fn opt_int(v: Option<i32>) -> Value {
    v.map(|i| Value::Int(i64::from(i))).unwrap_or(Value::Null)
}

/// Diff suppression of `rds.instance`: names in the desired spelling when they match it
/// case-insensitively (RDS stores them in lower case); the KMS key and backup window Null
/// when the desired value is Null (AWS's choice); the master secret the desired one when
/// the read reports none. A read replica (desired `source_instance_arn` set; also once
/// promoted, the desired props unchanged) inherits what its create cannot send: master
/// user, master secret, database name and engine version read as desired, and so does the
/// storage size when the live one is at least the desired one (a smaller one is a change).
fn normalize_instance(desired: &Props, live: &mut Props) {
    for key in [Kind::IDENTIFIER, Kind::SUBNET_GROUP_NAME, Kind::PARAMETER_GROUP_NAME] {
        NAMES.normalize(desired, live, key);
    }
    for key in [Kind::KMS_KEY_ID, Kind::PREFERRED_BACKUP_WINDOW] {
        aws_choice(desired, live, key);
    }
    // Known or not yet known (Unknown): a replica either way.
    if desired.get(Kind::SOURCE_INSTANCE_ARN).is_some_and(|v| *v != Value::Null) {
        for key in [Kind::MASTER_USERNAME, Kind::MASTER_SECRET_ARN, Kind::DB_NAME, Kind::ENGINE_VERSION] {
            if let Some(want) = desired.get(key) {
                live.insert(key.to_string(), want.clone());
            }
        }
        let storage = |p: &Props| p.get(Kind::ALLOCATED_STORAGE).and_then(Value::as_int);
        if let (Some(want), Some(have)) = (storage(desired), storage(live)) {
            if have >= want {
                live.insert(Kind::ALLOCATED_STORAGE.to_string(), Value::Int(want));
            }
        }
    }
    crate::secretsmanager::managed_master_secret(
        desired,
        live,
        Kind::MANAGE_MASTER_PASSWORD,
        Kind::MASTER_SECRET_ARN,
    );
    crate::secretsmanager::unrecorded_master_secret(desired, live, Kind::MASTER_SECRET_ARN);
}

/// The region of an ARN (`arn:aws:rds:us-east-1:123456789012:db:name`).
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The KMS key a replica's create sends: only for encrypted storage; the desired key, else,
/// for a replica in another region than its source, that region's AWS managed key (AWS
/// requires a key of the replica's region); in the source's region none (the source's key).
fn replica_kms_key(props: &Props, source_arn: &str, region: Option<&str>) -> Option<String> {
    if opt_bool(props, Kind::STORAGE_ENCRYPTED) != Some(true) {
        return None;
    }
    if let Some(key) = opt_str(props, Kind::KMS_KEY_ID) {
        return Some(key.to_string());
    }
    let cross_region = arn_region(source_arn).is_some_and(|r| Some(r) != region);
    cross_region.then(|| "alias/aws/rds".to_string())
}

/// The live instance as DescribeDBInstances answers it (pending values count as live); no
/// master secret (AWS cannot say).
fn live_props(db: &Db) -> Props {
    let pending = db.pending_modified_values();
    let security_groups = db
        .vpc_security_groups()
        .iter()
        .filter(|g| g.status() != Some("removing"))
        .filter_map(|g| g.vpc_security_group_id());
    Props::from([
        (Kind::IDENTIFIER.to_string(), opt_string(db.db_instance_identifier())),
        (Kind::ENGINE.to_string(), opt_string(db.engine())),
        (
            Kind::ENGINE_VERSION.to_string(),
            opt_string(pending.and_then(|p| p.engine_version()).or(db.engine_version())),
        ),
        (
            Kind::INSTANCE_CLASS.to_string(),
            opt_string(pending.and_then(|p| p.db_instance_class()).or(db.db_instance_class())),
        ),
        (
            Kind::ALLOCATED_STORAGE.to_string(),
            opt_int(pending.and_then(|p| p.allocated_storage()).or(db.allocated_storage())),
        ),
        (
            Kind::STORAGE_TYPE.to_string(),
            opt_string(pending.and_then(|p| p.storage_type()).or(db.storage_type())),
        ),
        (
            Kind::MULTI_AZ.to_string(),
            Value::Bool(pending.and_then(|p| p.multi_az()).or(db.multi_az()).unwrap_or(false)),
        ),
        (Kind::STORAGE_ENCRYPTED.to_string(), Value::Bool(db.storage_encrypted().unwrap_or(false))),
        (Kind::KMS_KEY_ID.to_string(), opt_string(db.kms_key_id())),
        (Kind::MASTER_USERNAME.to_string(), opt_string(db.master_username())),
        (Kind::MANAGE_MASTER_PASSWORD.to_string(), Value::Bool(db.master_user_secret().is_some())),
        (Kind::DB_NAME.to_string(), opt_string(db.db_name())),
        (Kind::PORT.to_string(), opt_int(pending.and_then(|p| p.port()).or(live_port(db)))),
        (
            Kind::SUBNET_GROUP_NAME.to_string(),
            opt_string(db.db_subnet_group().and_then(|g| g.db_subnet_group_name())),
        ),
        (
            Kind::PARAMETER_GROUP_NAME.to_string(),
            opt_string(db.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name())),
        ),
        (Kind::VPC_SECURITY_GROUP_IDS.to_string(), Value::from_strings(security_groups)),
        (Kind::PUBLICLY_ACCESSIBLE.to_string(), Value::Bool(db.publicly_accessible().unwrap_or(false))),
        (
            Kind::BACKUP_RETENTION_PERIOD.to_string(),
            opt_int(pending.and_then(|p| p.backup_retention_period()).or(db.backup_retention_period())),
        ),
        (Kind::PREFERRED_BACKUP_WINDOW.to_string(), opt_string(db.preferred_backup_window())),
        (Kind::DELETION_PROTECTION.to_string(), Value::Bool(db.deletion_protection().unwrap_or(false))),
        (
            Kind::TAGS.to_string(),
            tags_prop(tag_list_map(db.tag_list()).iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ),
    ])
}

/// Whether a change made with ApplyImmediately is still to be applied.
fn has_pending(db: &Db) -> bool {
    let pending = db.pending_modified_values().is_some_and(|p| {
        p.db_instance_class().is_some()
            || p.allocated_storage().is_some()
            || p.storage_type().is_some()
            || p.multi_az().is_some()
            || p.port().is_some()
            || p.backup_retention_period().is_some()
    });
    pending || db.db_parameter_groups().iter().any(|g| g.parameter_apply_status() == Some("applying"))
}

/// What a wait waits for.
#[derive(Clone, Copy, PartialEq)]
enum Settle {
    /// Status available (or storage-optimization).
    Available,
    /// Also no modification applied immediately still pending.
    Applied,
}

impl Instance {
    async fn describe_all(&self) -> Result<Vec<Db>, ProviderError> {
        self.rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBInstances", e))
    }

    /// The instance with this identifier, or None.
    async fn describe(&self, id: &str) -> Result<Option<Db>, ProviderError> {
        let out = self.rds.describe_db_instances().db_instance_identifier(id).send().await;
        let out = found(out.map_err(|e| aws_error("DescribeDBInstances", e)))?;
        Ok(out.and_then(|o| o.db_instances().first().cloned()))
    }

    async fn describe_existing(&self, id: &str) -> Result<Db, ProviderError> {
        self.describe(id).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DB instance {id} not found")).with_code("DBInstanceNotFound")
        })
    }

    async fn wait(&self, ctx: &Ctx, id: &str, settle: Settle) -> Result<Db, ProviderError> {
        crate::util::db_wait(ctx)
            .wait_for(&format!("DB instance {id} to become available"), || async {
                let Some(db) = self.describe(id).await? else {
                    return Err(ProviderError::fatal(format!(
                        "DB instance {id} disappeared while waiting for it"
                    )));
                };
                let status = db.db_instance_status().unwrap_or_default();
                if FAILED.contains(&status) {
                    return Err(ProviderError::fatal(format!("DB instance {id} is {status}")));
                }
                let done = SETTLED.contains(&status) && (settle == Settle::Available || !has_pending(&db));
                Ok(done.then_some(db))
            })
            .await
    }

    /// One ModifyDBInstance with the desired values of `names` (tags excluded). Answers
    /// whether a modification was sent.
    async fn modify(&self, id: &str, desired: &Props, names: &[&str]) -> Result<bool, ProviderError> {
        let apply_now = opt_bool(desired, Kind::APPLY_IMMEDIATELY).unwrap_or(false);
        let mut m = self.rds.modify_db_instance().db_instance_identifier(id).apply_immediately(apply_now);
        let mut any = false;
        for name in names {
            m = match *name {
                // RDS keeps the password in a secret of its own (and rotates it), or stops
                // and takes the one from `master_secret_arn` (AWS requires it).
                Kind::MANAGE_MASTER_PASSWORD if opt_bool(desired, name) == Some(true) => {
                    m.manage_master_user_password(true).set_master_user_secret_kms_key_id(
                        opt_str(desired, Kind::KMS_KEY_ID).map(str::to_string),
                    )
                }
                Kind::MANAGE_MASTER_PASSWORD => m.manage_master_user_password(false).master_user_password(
                    crate::secretsmanager::master_password(
                        &self.sm,
                        req_str(desired, Kind::MASTER_SECRET_ARN)?,
                    )
                    .await
                    .map_err(retry_not_found)?,
                ),
                // A new secret (re-created, so a new password): the instance takes it. None
                // (a managed password): nothing to set.
                Kind::MASTER_SECRET_ARN => match opt_str(desired, name) {
                    Some(secret) if opt_bool(desired, Kind::MANAGE_MASTER_PASSWORD) != Some(true) => m
                        .master_user_password(
                            crate::secretsmanager::master_password(&self.sm, secret)
                                .await
                                .map_err(retry_not_found)?,
                        ),
                    _ => continue,
                },
                Kind::INSTANCE_CLASS => m.db_instance_class(req_str(desired, name)?),
                Kind::ALLOCATED_STORAGE => m.set_allocated_storage(opt_i32(desired, name)?),
                Kind::STORAGE_TYPE => m.storage_type(req_str(desired, name)?),
                Kind::MULTI_AZ => m.set_multi_az(opt_bool(desired, name)),
                Kind::PORT => m.set_db_port_number(opt_i32(desired, name)?),
                Kind::PARAMETER_GROUP_NAME => m.db_parameter_group_name(req_str(desired, name)?),
                Kind::VPC_SECURITY_GROUP_IDS => m.set_vpc_security_group_ids(Some(str_list(desired, name))),
                Kind::PUBLICLY_ACCESSIBLE => m.set_publicly_accessible(opt_bool(desired, name)),
                Kind::BACKUP_RETENTION_PERIOD => m.set_backup_retention_period(opt_i32(desired, name)?),
                // Null = AWS's choice: nothing to set.
                Kind::PREFERRED_BACKUP_WINDOW => match opt_str(desired, name) {
                    Some(w) => m.preferred_backup_window(w),
                    None => continue,
                },
                Kind::DELETION_PROTECTION => m.set_deletion_protection(opt_bool(desired, name)),
                other => {
                    return Err(ProviderError::fatal(format!(
                        "rds.instance cannot update `{other}` in place"
                    )))
                }
            };
            any = true;
        }
        if any {
            m.send()
                .await
                .map_err(|e| retry_codes(retry_not_found(aws_error("ModifyDBInstance", e)), BUSY))?;
        }
        Ok(any)
    }

    async fn set_protection(&self, id: &str, on: bool) -> Result<(), ProviderError> {
        self.rds
            .modify_db_instance()
            .db_instance_identifier(id)
            .deletion_protection(on)
            // Protection changes at once either way; ApplyImmediately would also apply
            // every pending modification (a class change parked for the maintenance
            // window) and put the instance into `modifying` right before its delete.
            .apply_immediately(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_codes(aws_error("ModifyDBInstance", e), BUSY))
    }

    /// A create that found the identifier taken: adopt our own instance (a create retried
    /// after a crash) and converge what can change in place.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        id: &str,
        props: &Props,
    ) -> Result<Db, ProviderError> {
        let db = self.describe_existing(id).await?;
        let tags = tag_list_map(db.tag_list());
        ensure_ours(ctx, address, &tags, &format!("DB instance `{id}`"), "DBInstanceAlreadyExists")?;
        if db.engine() != Some(ENGINE) {
            return Err(ProviderError::fatal(format!(
                "DB instance `{id}` exists with engine {} instead of {ENGINE}; delete it",
                db.engine().unwrap_or("(none)")
            ))
            .with_code("DBInstanceAlreadyExists"));
        }
        ctx.progress(format!("adopting existing DB instance {id}"));
        // Which secret its password came from is not known: set it from the desired one.
        let mut live = live_props(&db);
        live.insert(Kind::MASTER_SECRET_ARN.to_string(), Value::Null);
        let changes = self.diff(props, &live);
        let fixed: Vec<&str> =
            changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.as_str()).collect();
        if !fixed.is_empty() {
            return Err(ProviderError::fatal(format!(
                "DB instance `{id}` exists with other {} than desired, which cannot change in place; \
                 delete it or change the configuration",
                fixed.join(", ")
            ))
            .with_code("DBInstanceAlreadyExists"));
        }
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).filter(|n| *n != Kind::TAGS).collect();
        self.modify(id, props, &names).await?;
        self.rds.converge_tags(db.db_instance_arn().unwrap_or_default(), &tags, props).await?;
        Ok(db)
    }

    /// Create of a read replica of `source` (an instance ARN, of another region for the DR
    /// replica): CreateDBInstanceReadReplica with what a replica takes, then backup
    /// retention and window through ModifyDBInstance (the create cannot take them).
    async fn create_replica(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
        source: &str,
    ) -> Result<Applied, ProviderError> {
        let id = req_str(props, Kind::IDENTIFIER)?;
        let region = self.rds.config().region().map(|r| r.as_ref().to_string());
        let created = self
            .rds
            .create_db_instance_read_replica()
            .db_instance_identifier(id)
            .source_db_instance_identifier(source)
            .db_instance_class(req_str(props, Kind::INSTANCE_CLASS)?)
            .set_db_subnet_group_name(opt_str(props, Kind::SUBNET_GROUP_NAME).map(str::to_string))
            .set_vpc_security_group_ids(Some(str_list(props, Kind::VPC_SECURITY_GROUP_IDS)))
            .set_db_parameter_group_name(opt_str(props, Kind::PARAMETER_GROUP_NAME).map(str::to_string))
            .set_multi_az(opt_bool(props, Kind::MULTI_AZ))
            .set_storage_type(opt_str(props, Kind::STORAGE_TYPE).map(str::to_string))
            .set_publicly_accessible(opt_bool(props, Kind::PUBLICLY_ACCESSIBLE))
            .set_deletion_protection(opt_bool(props, Kind::DELETION_PROTECTION))
            .set_kms_key_id(replica_kms_key(props, source, region.as_deref()))
            .set_tags(Some(tags_of(props)))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.db_instance().and_then(|d| d.db_instance_identifier()).unwrap_or(id).to_string(),
            Err(e) => {
                let err = aws_error("CreateDBInstanceReadReplica", e);
                if err.code() != Some("DBInstanceAlreadyExists") {
                    // The source, subnet or parameter group may not be visible yet.
                    return Err(retry_not_found(err));
                }
                let db = self.adopt(ctx, address, id, props).await?;
                db.db_instance_identifier().unwrap_or(id).to_string()
            }
        };
        ctx.progress(format!("DB instance {id} (read replica of {source}) is being created"));
        self.wait(ctx, &id, Settle::Available).await?;
        let backups = [Kind::BACKUP_RETENTION_PERIOD, Kind::PREFERRED_BACKUP_WINDOW];
        let modified = self.modify(&id, props, &backups).await?;
        let apply_now = opt_bool(props, Kind::APPLY_IMMEDIATELY).unwrap_or(false);
        let settle = if modified && apply_now { Settle::Applied } else { Settle::Available };
        let db = self.wait(ctx, &id, settle).await?;
        Ok(Applied { id, outputs: outputs(&db) })
    }
}

#[async_trait]
impl Provider for Instance {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_instance(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for db in self.describe_all().await? {
            let Some(id) = db.db_instance_identifier() else { continue };
            let recorded = NAMES.is_recorded(targets, id);
            // Other engines' instances (DocumentDB's too) and cluster members belong to
            // other kinds.
            if !recorded && (db.engine() != Some(ENGINE) || db.db_cluster_identifier().is_some()) {
                continue;
            }
            let tags = tag_list_map(db.tag_list());
            let (owned, address) = owner_of(&ctx.stack, &tags);
            if !owned && !recorded {
                continue;
            }
            let target = NAMES.target_for(targets, id, address.as_ref());
            let mut props = live_props(&db);
            if let Some(secret) =
                crate::secretsmanager::recorded_master_secret(target, Kind::MASTER_SECRET_ARN)
            {
                props.insert(Kind::MASTER_SECRET_ARN.into(), secret);
            }
            out.push(LiveObject { id: id.to_string(), address, props, outputs: outputs(&db), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        if let Some(source) = opt_str(props, Kind::SOURCE_INSTANCE_ARN) {
            return self.create_replica(ctx, address, props, source).await;
        }
        let id = req_str(props, Kind::IDENTIFIER)?;
        // RDS generates a managed password into a secret of its own (never through hactl,
        // encrypted with the storage key); else it comes from `master_secret_arn`.
        let managed = opt_bool(props, Kind::MANAGE_MASTER_PASSWORD) == Some(true);
        let password = match managed {
            true => None,
            false => Some(
                crate::secretsmanager::master_password(&self.sm, req_str(props, Kind::MASTER_SECRET_ARN)?)
                    .await
                    .map_err(retry_not_found)?,
            ),
        };
        let created = self
            .rds
            .create_db_instance()
            .db_instance_identifier(id)
            .engine(req_str(props, Kind::ENGINE)?)
            .set_engine_version(opt_str(props, Kind::ENGINE_VERSION).map(str::to_string))
            .db_instance_class(req_str(props, Kind::INSTANCE_CLASS)?)
            .set_allocated_storage(opt_i32(props, Kind::ALLOCATED_STORAGE)?)
            .set_storage_type(opt_str(props, Kind::STORAGE_TYPE).map(str::to_string))
            .set_multi_az(opt_bool(props, Kind::MULTI_AZ))
            .set_storage_encrypted(opt_bool(props, Kind::STORAGE_ENCRYPTED))
            .set_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string))
            .master_username(req_str(props, Kind::MASTER_USERNAME)?)
            .set_master_user_password(password)
            .set_manage_master_user_password(managed.then_some(true))
            .set_master_user_secret_kms_key_id(
                opt_str(props, Kind::KMS_KEY_ID).filter(|_| managed).map(str::to_string),
            )
            .set_db_name(opt_str(props, Kind::DB_NAME).map(str::to_string))
            .set_port(opt_i32(props, Kind::PORT)?)
            .set_db_subnet_group_name(opt_str(props, Kind::SUBNET_GROUP_NAME).map(str::to_string))
            .set_db_parameter_group_name(opt_str(props, Kind::PARAMETER_GROUP_NAME).map(str::to_string))
            .set_vpc_security_group_ids(Some(str_list(props, Kind::VPC_SECURITY_GROUP_IDS)))
            .set_publicly_accessible(opt_bool(props, Kind::PUBLICLY_ACCESSIBLE))
            .set_backup_retention_period(opt_i32(props, Kind::BACKUP_RETENTION_PERIOD)?)
            .set_preferred_backup_window(opt_str(props, Kind::PREFERRED_BACKUP_WINDOW).map(str::to_string))
            .set_deletion_protection(opt_bool(props, Kind::DELETION_PROTECTION))
            .set_tags(Some(tags_of(props)))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.db_instance().and_then(|d| d.db_instance_identifier()).unwrap_or(id).to_string(),
            Err(e) => {
                let err = aws_error("CreateDBInstance", e);
                if err.code() != Some("DBInstanceAlreadyExists") {
                    // The subnet or parameter group made moments ago may not be visible yet.
                    return Err(retry_not_found(err));
                }
                let db = self.adopt(ctx, address, id, props).await?;
                db.db_instance_identifier().unwrap_or(id).to_string()
            }
        };
        ctx.progress(format!("DB instance {id} is being created"));
        let db = self.wait(ctx, &id, Settle::Applied).await?;
        Ok(Applied { id, outputs: outputs(&db) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let names: Vec<&str> =
            req.changes.iter().map(|c| c.name.as_str()).filter(|n| *n != Kind::TAGS).collect();
        let modified = self.modify(req.id, req.desired, &names).await?;
        if let Some(c) = req.changes.iter().find(|c| c.name == Kind::TAGS) {
            let db = self.describe_existing(req.id).await?;
            let arn = db.db_instance_arn().unwrap_or_default();
            self.rds.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?;
        }
        let apply_now = opt_bool(req.desired, Kind::APPLY_IMMEDIATELY).unwrap_or(false);
        let settle = if modified && apply_now { Settle::Applied } else { Settle::Available };
        let db = self.wait(ctx, req.id, settle).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&db) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(db) = self.describe(id).await? else { return Ok(()) };
        if db.db_instance_status() != Some("deleting") {
            let refusal = || {
                ProviderError::fatal(format!(
                    "DB instance {id} has deletion protection on; pass --allow-delete-protected to \
                     turn it off and delete the instance"
                ))
            };
            if protection_to_lift(ctx, db.deletion_protection() == Some(true), refusal)? {
                ctx.progress(format!("turning deletion protection of DB instance {id} off"));
                self.set_protection(id, false).await?;
            }
            let snapshot = final_snapshot(ctx, id);
            if let Some(s) = &snapshot {
                ctx.progress(format!("DB instance {id}: final snapshot {s}"));
            }
            let d = self
                .rds
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(snapshot.is_none())
                .set_final_db_snapshot_identifier(snapshot);
            match d.send().await.map_err(|e| retry_codes(aws_error("DeleteDBInstance", e), BUSY)) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        wait_deleted(ctx, &format!("DB instance {id}"), || async { Ok(self.describe(id).await?.is_some()) })
            .await
    }

    fn deletion_protected(&self, live: &Props) -> bool {
        opt_bool(live, Kind::DELETION_PROTECTION) == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_desired_unset_settings_as_aws_s_choice_and_an_unrecorded_secret_as_desired() {
        let p = |pairs: &[(&str, Value)]| -> Props {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        let desired = p(&[
            (Kind::IDENTIFIER, Value::str("Demo-pg")),
            (Kind::PARAMETER_GROUP_NAME, Value::Unknown),
            (Kind::PREFERRED_BACKUP_WINDOW, Value::Null),
            (Kind::KMS_KEY_ID, Value::str("alias/db")),
            (Kind::MASTER_SECRET_ARN, Value::str("arn:secret:new")),
        ]);
        let mut live = p(&[
            (Kind::IDENTIFIER, Value::str("demo-pg")),
            (Kind::PARAMETER_GROUP_NAME, Value::str("demo-params")),
            (Kind::PREFERRED_BACKUP_WINDOW, Value::str("03:00-03:30")),
            (Kind::KMS_KEY_ID, Value::str("arn:aws:kms:eu-west-1:1:key/k")),
        ]);
        normalize_instance(&desired, &mut live);
        assert_eq!(
            live,
            p(&[
                (Kind::IDENTIFIER, Value::str("Demo-pg")),
                (Kind::PARAMETER_GROUP_NAME, Value::str("demo-params")),
                (Kind::PREFERRED_BACKUP_WINDOW, Value::Null),
                (Kind::KMS_KEY_ID, Value::str("arn:aws:kms:eu-west-1:1:key/k")),
                (Kind::MASTER_SECRET_ARN, Value::str("arn:secret:new")),
            ])
        );
        // A recorded secret (what the read reports) is kept: a new desired one is a change.
        let mut live = p(&[(Kind::MASTER_SECRET_ARN, Value::str("arn:secret:old"))]);
        normalize_instance(&desired, &mut live);
        assert_eq!(live[Kind::MASTER_SECRET_ARN], Value::str("arn:secret:old"));
    }

    #[test]
    fn a_replica_reads_what_it_inherits_as_desired_and_gets_a_key_of_its_region() {
        let p = |pairs: &[(&str, Value)]| -> Props {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        let source = "arn:aws:rds:us-east-1:000000000000:db:demo-pg";
        let desired = p(&[
            (Kind::SOURCE_INSTANCE_ARN, Value::str(source)),
            (Kind::MASTER_USERNAME, Value::str("hactladmin")),
            (Kind::MASTER_SECRET_ARN, Value::str("arn:secret:dr")),
            (Kind::DB_NAME, Value::str("app")),
            (Kind::ALLOCATED_STORAGE, Value::Int(20)),
            (Kind::STORAGE_ENCRYPTED, Value::Bool(true)),
            (Kind::KMS_KEY_ID, Value::Null),
        ]);
        let mut live = p(&[
            (Kind::MASTER_USERNAME, Value::str("postgres")),
            (Kind::MASTER_SECRET_ARN, Value::str("arn:secret:recorded")),
            (Kind::DB_NAME, Value::Null),
            (Kind::ALLOCATED_STORAGE, Value::Int(50)),
        ]);
        normalize_instance(&desired, &mut live);
        for key in [Kind::MASTER_USERNAME, Kind::MASTER_SECRET_ARN, Kind::DB_NAME, Kind::ALLOCATED_STORAGE] {
            assert_eq!(live.get(key), desired.get(key), "{key}");
        }
        // Less storage than desired is a change.
        let mut live = p(&[(Kind::ALLOCATED_STORAGE, Value::Int(10))]);
        normalize_instance(&desired, &mut live);
        assert_eq!(live[Kind::ALLOCATED_STORAGE], Value::Int(10));
        // Not a replica: nothing inherited.
        let mut primary = desired.clone();
        primary.insert(Kind::SOURCE_INSTANCE_ARN.to_string(), Value::Null);
        let mut live = p(&[(Kind::DB_NAME, Value::Null)]);
        normalize_instance(&primary, &mut live);
        assert_eq!(live[Kind::DB_NAME], Value::Null);

        assert_eq!(replica_kms_key(&desired, source, Some("us-west-2")).as_deref(), Some("alias/aws/rds"));
        assert_eq!(
            replica_kms_key(&desired, source, Some("us-east-1")),
            None,
            "same region: the source's key"
        );
        let keyed =
            p(&[(Kind::STORAGE_ENCRYPTED, Value::Bool(true)), (Kind::KMS_KEY_ID, Value::str("alias/dr"))]);
        assert_eq!(replica_kms_key(&keyed, source, Some("us-west-2")).as_deref(), Some("alias/dr"));
        let plain = p(&[(Kind::STORAGE_ENCRYPTED, Value::Bool(false))]);
        assert_eq!(replica_kms_key(&plain, source, Some("us-west-2")), None);
    }
}
