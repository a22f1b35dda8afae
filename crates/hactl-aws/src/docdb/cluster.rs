//! `docdb.cluster`: the encrypted DocumentDB cluster `<stack>-docdb` (its instances are
//! `docdb.instance`). id = cluster identifier.
//!
//! Read: DescribeDBClusters (engine `docdb`, paginated), the candidates' tags from the
//! stack's tag index (ListTagsForResource only where the index cannot be trusted alone, as
//! [`crate::tagging::TagIndex::lookup`] decides: e.g. a candidate the index does not hold that
//! state records or a target names: [`Reading::owner`]). Which instance is the writer is not a property: a failover is not drift.
//! Neither is which member of a global cluster writes: see `global_master_user`.
//!
//! With `global_cluster_identifier` the cluster is created as a secondary of that
//! `docdb.global_cluster` (in another region): no master user and no password (AWS refuses
//! them for a secondary; the master user is the global cluster's).
//!
//! Create looks the identifier up first (the emulator silently replaces a cluster on a
//! repeated CreateDBCluster; AWS answers DBClusterAlreadyExistsFault, also handled): a
//! cluster with this stack's and address's tags is adopted and converged, any other is a
//! fatal error. With `manage_master_password` DocumentDB generates the master password
//! into a secret of its own (ManageMasterUserPassword, encrypted with `kms_key_id`) and
//! rotates it there: hactl never sees it, and the output `master_user_secret_arn` names
//! the secret. Without it the password is read from the secret (`master_secret_arn`) right
//! before CreateDBCluster and goes nowhere else: not into props, outputs, errors, logs or
//! progress messages (the DocumentDB model does not mark it sensitive, so no request is
//! ever formatted). Turning management off takes the password from `master_secret_arn`
//! (AWS requires one; DocumentDB then deletes its secret).
//!
//! Delete is a destroy trap: with deletion protection on it fails unless
//! `allow_delete_protected` (then protection is turned off first); a final snapshot
//! `<identifier>-final-<YYYYMMDDHHMMSS>` (UTC) is taken unless `skip_final_snapshot`. A
//! member of a global cluster is removed from it first (AWS refuses to delete a member).

use super::global_cluster;
use super::{engine_filter, req_i32, tags_of, tags_value, wait_available, ENGINE, NAMES};
use crate::error::{aws_error, found, is_not_found, retry_codes, retry_not_found};
use crate::rds::family::{aws_choice, final_snapshot, protection_to_lift, wait_deleted, Api, Owner, Reading};
use crate::util::tags::Tagger;
use crate::util::{describe_all, ensure_ours, opt_bool, opt_i32, opt_str, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_docdb::types::DbCluster;
use aws_sdk_docdb::Client;
use hactl_core::kinds::docdb::Cluster as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Cluster {
    pub docdb: Client,
    /// Reads the master password at create.
    pub sm: aws_sdk_secretsmanager::Client,
    /// The stack's tag index of the region (the read's tags).
    pub tagging: crate::tagging::Tagging,
}

const ALREADY_EXISTS: &str = "DBClusterAlreadyExistsFault";
/// The output naming the secret DocumentDB keeps the master password in
/// (`manage_master_password`): Null when the cluster does not manage it.
pub const MASTER_USER_SECRET_ARN: &str = "master_user_secret_arn";
/// A cluster busy with something else (modifying, instances still leaving at delete).
const BUSY: &[&str] = &["InvalidDBClusterStateFault"];
/// The properties ModifyDBCluster changes.
const MODIFIABLE: &[&str] = &[
    Kind::MANAGE_MASTER_PASSWORD,
    Kind::MASTER_SECRET_ARN,
    Kind::PORT,
    Kind::PARAMETER_GROUP_NAME,
    Kind::VPC_SECURITY_GROUP_IDS,
    Kind::BACKUP_RETENTION_PERIOD,
    Kind::PREFERRED_BACKUP_WINDOW,
    Kind::DELETION_PROTECTION,
];

/// The cluster's outputs. `master_user_secret_arn` only while the cluster manages its
/// password: a reference to it stays unknown (not null) in a plan that turns that on.
fn outputs(c: &DbCluster) -> BTreeMap<String, Value> {
    let mut o = BTreeMap::from([
        ("identifier".to_string(), Value::str(c.db_cluster_identifier().unwrap_or_default())),
        ("arn".to_string(), Value::str(c.db_cluster_arn().unwrap_or_default())),
        ("endpoint".to_string(), Value::str(c.endpoint().unwrap_or_default())),
        ("reader_endpoint".to_string(), Value::str(c.reader_endpoint().unwrap_or_default())),
        ("port".to_string(), c.port().map(|p| Value::Int(i64::from(p))).unwrap_or(Value::Null)),
        ("resource_id".to_string(), Value::str(c.db_cluster_resource_id().unwrap_or_default())),
    ]);
    if let Some(arn) = c.master_user_secret().and_then(|s| s.secret_arn()) {
        o.insert(MASTER_USER_SECRET_ARN.to_string(), Value::str(arn));
    }
    o
}

fn int(v: Option<i32>) -> Value {
    v.map(|i| Value::Int(i64::from(i))).unwrap_or(Value::Null)
}

/// The security groups of the cluster (those on their way out left aside).
fn security_groups(c: &DbCluster) -> Value {
    Value::from_strings(
        c.vpc_security_groups()
            .iter()
            .filter(|g| g.status() != Some("removing"))
            .filter_map(|g| g.vpc_security_group_id()),
    )
}

/// Diff suppression of `docdb.cluster`: the backup window Null when the desired one is Null
/// (AWS's choice); the master secret the desired one when the read reports none or the
/// password is managed (no secret of hactl's then sets it); and the
/// master user of a global cluster's members ([`global_master_user`]).
fn normalize_cluster(desired: &Props, live: &mut Props) {
    aws_choice(desired, live, Kind::PREFERRED_BACKUP_WINDOW);
    crate::secretsmanager::managed_master_secret(
        desired,
        live,
        Kind::MANAGE_MASTER_PASSWORD,
        Kind::MASTER_SECRET_ARN,
    );
    crate::secretsmanager::unrecorded_master_secret(desired, live, Kind::MASTER_SECRET_ARN);
    global_master_user(desired, live);
}

/// The master user of a global cluster's members, whichever is the writer (a switchover or
/// failover is not drift):
/// - a secondary (desired `global_cluster_identifier` set, no master user: AWS refuses one)
///   takes the global cluster's master user, which AWS may report, mostly once the
///   secondary has become the writer: Null, as desired;
/// - a cluster created with a master user that AWS reports without one (empty or absent:
///   a member that is a secondary now, e.g. the original primary after a switchover) still
///   has it: the desired one. A master user never changes in place, so an empty answer is
///   no change to report.
fn global_master_user(desired: &Props, live: &mut Props) {
    let key = Kind::MASTER_USERNAME;
    let secondary = matches!(desired.get(Kind::GLOBAL_CLUSTER_IDENTIFIER), Some(Value::Str(_)));
    let unreported = match live.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Str(s)) => s.is_empty(),
        Some(_) => false,
    };
    match desired.get(key) {
        None | Some(Value::Null) if secondary => {
            live.insert(key.to_string(), Value::Null);
        }
        Some(want @ Value::Str(_)) if unreported => {
            live.insert(key.to_string(), want.clone());
        }
        _ => {}
    }
}

/// The cluster's properties as DescribeDBClusters answers them; no master secret (AWS
/// cannot say).
fn props_of(c: &DbCluster, tags: &BTreeMap<String, String>) -> Props {
    let mut p = Props::from([
        (Kind::IDENTIFIER.to_string(), Value::str(c.db_cluster_identifier().unwrap_or_default())),
        (Kind::ENGINE.to_string(), Value::str(c.engine().unwrap_or_default())),
        (Kind::MASTER_USERNAME.to_string(), Value::str(c.master_username().unwrap_or_default())),
        (Kind::MANAGE_MASTER_PASSWORD.to_string(), Value::Bool(c.master_user_secret().is_some())),
        (Kind::PORT.to_string(), int(c.port())),
        (Kind::SUBNET_GROUP_NAME.to_string(), Value::str(c.db_subnet_group().unwrap_or_default())),
        (
            Kind::PARAMETER_GROUP_NAME.to_string(),
            Value::str(c.db_cluster_parameter_group().unwrap_or_default()),
        ),
        (Kind::VPC_SECURITY_GROUP_IDS.to_string(), security_groups(c)),
        (Kind::STORAGE_ENCRYPTED.to_string(), Value::Bool(c.storage_encrypted().unwrap_or(false))),
        (Kind::BACKUP_RETENTION_PERIOD.to_string(), int(c.backup_retention_period())),
        (Kind::DELETION_PROTECTION.to_string(), Value::Bool(c.deletion_protection().unwrap_or(false))),
        (Kind::TAGS.to_string(), tags_value(tags)),
    ]);
    if let Some(w) = c.preferred_backup_window() {
        p.insert(Kind::PREFERRED_BACKUP_WINDOW.to_string(), Value::str(w));
    }
    p
}

/// The modifiable properties in which the live cluster differs from `props`.
fn differences(c: &DbCluster, props: &Props) -> Vec<&'static str> {
    let live = props_of(c, &BTreeMap::new());
    MODIFIABLE
        .iter()
        .copied()
        .filter(|name| {
            let want = props.get(*name).cloned().unwrap_or_default();
            let have = live.get(*name).cloned().unwrap_or_default();
            match *name {
                // Null = AWS's choice: nothing to change.
                Kind::PREFERRED_BACKUP_WINDOW => want != Value::Null && want != have,
                Kind::VPC_SECURITY_GROUP_IDS => want.normalized_set() != have.normalized_set(),
                _ => want != have,
            }
        })
        .collect()
}

impl Cluster {
    async fn describe_all(&self) -> Result<Vec<DbCluster>, ProviderError> {
        let all: Vec<DbCluster> =
            describe_all!(self.docdb, describe_db_clusters, filters, engine_filter(), "DescribeDBClusters")?;
        Ok(all.into_iter().filter(|c| c.engine() == Some(ENGINE)).collect())
    }

    /// The cluster with this identifier, or None.
    async fn describe(&self, id: &str) -> Result<Option<DbCluster>, ProviderError> {
        let out = self.docdb.describe_db_clusters().db_cluster_identifier(id).send().await;
        let out = found(out.map_err(|e| aws_error("DescribeDBClusters", e)))?;
        Ok(out.and_then(|o| o.db_clusters().first().cloned()))
    }

    async fn wait_available(&self, ctx: &Ctx, id: &str) -> Result<DbCluster, ProviderError> {
        let what = format!("DocumentDB cluster {id}");
        wait_available(ctx, &what, "DBClusterNotFoundFault", || self.describe(id), DbCluster::status).await
    }

    /// ModifyDBCluster with the named properties taken from `props`.
    async fn modify(&self, id: &str, props: &Props, fields: &[&str]) -> Result<(), ProviderError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut req = self
            .docdb
            .modify_db_cluster()
            .db_cluster_identifier(id)
            .apply_immediately(opt_bool(props, Kind::APPLY_IMMEDIATELY).unwrap_or(false));
        for f in fields {
            req = match *f {
                // DocumentDB keeps the password in a secret of its own (and rotates it), or
                // stops and takes the one from `master_secret_arn` (AWS requires it).
                Kind::MANAGE_MASTER_PASSWORD if opt_bool(props, f) == Some(true) => req
                    .manage_master_user_password(true)
                    .set_master_user_secret_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string)),
                Kind::MANAGE_MASTER_PASSWORD => req.manage_master_user_password(false).master_user_password(
                    crate::secretsmanager::master_password(
                        &self.sm,
                        req_str(props, Kind::MASTER_SECRET_ARN)?,
                    )
                    .await
                    .map_err(retry_not_found)?,
                ),
                // A new secret (re-created, so a new password): the cluster takes it. None
                // (a managed password): nothing to set.
                Kind::MASTER_SECRET_ARN => match opt_str(props, f) {
                    Some(secret) if opt_bool(props, Kind::MANAGE_MASTER_PASSWORD) != Some(true) => req
                        .master_user_password(
                            crate::secretsmanager::master_password(&self.sm, secret)
                                .await
                                .map_err(retry_not_found)?,
                        ),
                    _ => req,
                },
                Kind::PORT => req.port(req_i32(props, Kind::PORT)?),
                Kind::PARAMETER_GROUP_NAME => {
                    req.db_cluster_parameter_group_name(req_str(props, Kind::PARAMETER_GROUP_NAME)?)
                }
                Kind::VPC_SECURITY_GROUP_IDS => req.set_vpc_security_group_ids(Some(str_list(props, f))),
                Kind::BACKUP_RETENTION_PERIOD => req.backup_retention_period(req_i32(props, f)?),
                Kind::PREFERRED_BACKUP_WINDOW => match opt_str(props, f) {
                    Some(w) => req.preferred_backup_window(w),
                    // Null = AWS's choice: the current window stays.
                    None => req,
                },
                Kind::DELETION_PROTECTION => req.deletion_protection(opt_bool(props, f).unwrap_or(false)),
                other => {
                    return Err(ProviderError::fatal(format!(
                        "docdb.cluster cannot update `{other}` in place"
                    )))
                }
            };
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| retry_codes(retry_not_found(aws_error("ModifyDBCluster", e)), BUSY))
    }

    /// CreateDBCluster as `props` say. A primary takes its master user and the password
    /// read from the secret; a secondary (`global_cluster_identifier` set) joins that
    /// global cluster and takes neither (AWS refuses them: the master user is the global
    /// cluster's).
    async fn create_cluster(&self, props: &Props) -> Result<(), ProviderError> {
        let mut req = self
            .docdb
            .create_db_cluster()
            .db_cluster_identifier(req_str(props, Kind::IDENTIFIER)?)
            .engine(req_str(props, Kind::ENGINE)?)
            .set_engine_version(opt_str(props, Kind::ENGINE_VERSION).map(str::to_string))
            .set_port(opt_i32(props, Kind::PORT))
            .db_subnet_group_name(req_str(props, Kind::SUBNET_GROUP_NAME)?)
            .set_db_cluster_parameter_group_name(
                opt_str(props, Kind::PARAMETER_GROUP_NAME).map(str::to_string),
            )
            .set_vpc_security_group_ids(Some(str_list(props, Kind::VPC_SECURITY_GROUP_IDS)))
            .storage_encrypted(opt_bool(props, Kind::STORAGE_ENCRYPTED).unwrap_or(true))
            .set_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string))
            .set_backup_retention_period(opt_i32(props, Kind::BACKUP_RETENTION_PERIOD))
            .set_preferred_backup_window(opt_str(props, Kind::PREFERRED_BACKUP_WINDOW).map(str::to_string))
            .deletion_protection(opt_bool(props, Kind::DELETION_PROTECTION).unwrap_or(false))
            .set_tags(Some(tags_of(props)));
        if let Some(global) = opt_str(props, Kind::GLOBAL_CLUSTER_IDENTIFIER) {
            req = req.global_cluster_identifier(global);
        } else if opt_bool(props, Kind::MANAGE_MASTER_PASSWORD) == Some(true) {
            // DocumentDB generates the password into a secret of its own: it never passes
            // through hactl. The secret takes the storage key.
            req = req
                .master_username(req_str(props, Kind::MASTER_USERNAME)?)
                .manage_master_user_password(true)
                .set_master_user_secret_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string));
        } else {
            let secret = req_str(props, Kind::MASTER_SECRET_ARN)?;
            let password =
                crate::secretsmanager::master_password(&self.sm, secret).await.map_err(retry_not_found)?;
            req = req.master_username(req_str(props, Kind::MASTER_USERNAME)?).master_user_password(password);
        }
        req.send().await.map(drop).map_err(|e| aws_error("CreateDBCluster", e))
    }

    /// A member of a global cluster cannot be deleted (InvalidDBClusterStateFault "This
    /// cluster is a part of a global cluster, please remove it from globalcluster first"):
    /// the cluster is removed from it first. Looked up (DescribeGlobalClusters) only for a
    /// cluster that may be a member: created as a secondary, or showing a cross-region
    /// source or replicas (a primary that a switchover made a secondary). A writer with
    /// other members is removed too (the emulator allows it); AWS's refusal
    /// (InvalidGlobalClusterStateFault) is then a fatal error, not retried.
    async fn leave_global_cluster(
        &self,
        ctx: &Ctx,
        c: &DbCluster,
        recorded: &Props,
    ) -> Result<(), ProviderError> {
        let maybe_member = opt_str(recorded, Kind::GLOBAL_CLUSTER_IDENTIFIER).is_some()
            || c.replication_source_identifier().is_some()
            || !c.read_replica_identifiers().is_empty();
        let Some(arn) = c.db_cluster_arn().filter(|_| maybe_member) else { return Ok(()) };
        let Some(gc) = global_cluster::global_cluster_of(&self.docdb, arn).await? else { return Ok(()) };
        let global_id = gc.global_cluster_identifier().unwrap_or_default();
        // The writer while other members remain (a destroy after a switchover): AWS may
        // refuse to detach it; that refusal is final here, not a state to wait out.
        let writer_of_others =
            global_cluster::writer_arn(&gc) == Some(arn) && global_cluster::member_arns(&gc).len() > 1;
        match global_cluster::remove_member(ctx, &self.docdb, global_id, arn).await {
            Err(e) if writer_of_others && e.code() == Some("InvalidGlobalClusterStateFault") => {
                return Err(ProviderError::fatal(format!(
                    "{e} (this cluster is the writer of DocumentDB global cluster {global_id}: make \
                     another member the writer first, e.g. `hactl failover --to-region`)"
                ))
                .with_code("InvalidGlobalClusterStateFault"));
            }
            other => other?,
        }
        self.wait_available(ctx, c.db_cluster_identifier().unwrap_or_default()).await.map(drop)
    }

    /// A cluster found at create: ours (this stack and address) is converged to `props`,
    /// anything else refused.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
        c: &DbCluster,
    ) -> Result<(), ProviderError> {
        let id = c.db_cluster_identifier().unwrap_or_default();
        let arn = c.db_cluster_arn().unwrap_or_default();
        let tags = found(self.docdb.list_tags(arn).await)?.unwrap_or_default();
        ensure_ours(ctx, address, &tags, &format!("DocumentDB cluster `{id}`"), ALREADY_EXISTS)?;
        ctx.progress(format!("adopting existing DocumentDB cluster {id}"));
        self.wait_available(ctx, id).await?;
        self.modify(id, props, &differences(c, props)).await?;
        self.docdb.sync_tags(arn, Some(&tags_value(&tags)), props.get(Kind::TAGS)).await
    }
}

#[async_trait]
impl Provider for Cluster {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_cluster(desired, live);
    }

    fn deletion_protected(&self, live: &Props) -> bool {
        opt_bool(live, Kind::DELETION_PROTECTION) == Some(true)
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let (clusters, reading) = futures::try_join!(
            self.describe_all(),
            Reading::new(ctx, &self.tagging, NAMES, targets, Kind::IDENTIFIER)
        )?;
        let mut out = Vec::new();
        for c in clusters {
            let (Some(id), Some(arn)) = (c.db_cluster_identifier(), c.db_cluster_arn()) else { continue };
            if !reading.is_candidate(id) {
                continue;
            }
            let Some(Owner { tags, owned, address }) = reading.owner(&self.docdb, id, arn).await? else {
                continue;
            };
            let target = NAMES.target_for(targets, id, address.as_ref());
            let mut props = props_of(&c, &tags);
            if let Some(secret) =
                crate::secretsmanager::recorded_master_secret(target, Kind::MASTER_SECRET_ARN)
            {
                props.insert(Kind::MASTER_SECRET_ARN.into(), secret);
            }
            out.push(LiveObject { id: id.to_string(), address, props, outputs: outputs(&c), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = req_str(props, Kind::IDENTIFIER)?;
        if let Some(existing) = self.describe(id).await? {
            self.adopt(ctx, address, props, &existing).await?;
        } else {
            if let Err(e) = self.create_cluster(props).await {
                if e.code() != Some(ALREADY_EXISTS) {
                    // The subnet or parameter group (or the global cluster) just created may
                    // not be visible yet.
                    return Err(retry_not_found(e));
                }
                // Created by a racing create since the describe.
                let existing = self.describe(id).await?.ok_or_else(|| {
                    ProviderError::retryable(format!("DocumentDB cluster {id} exists but is not visible yet"))
                })?;
                self.adopt(ctx, address, props, &existing).await?;
            }
        }
        ctx.progress(format!("DocumentDB cluster {id} is being created"));
        let c = self.wait_available(ctx, id).await?;
        Ok(Applied { id: id.to_string(), outputs: outputs(&c) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut fields = Vec::new();
        let mut tags = None;
        for c in req.changes {
            match c.name.as_str() {
                name if MODIFIABLE.contains(&name) => fields.push(name),
                Kind::TAGS => tags = Some(c),
                other => {
                    return Err(ProviderError::fatal(format!(
                        "docdb.cluster cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.modify(req.id, req.desired, &fields).await?;
        let c = self.wait_available(ctx, req.id).await?;
        if let Some(t) = tags {
            self.docdb
                .sync_tags(c.db_cluster_arn().unwrap_or_default(), t.before.as_ref(), t.after.as_ref())
                .await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&c) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let Some(c) = self.describe(id).await? else { return Ok(()) };
        if c.status() != Some("deleting") {
            self.leave_global_cluster(ctx, &c, recorded).await?;
            let refusal = || {
                ProviderError::fatal(format!(
                    "DocumentDB cluster `{id}` has deletion protection on; pass --allow-delete-protected \
                     to turn it off and delete it"
                ))
                .with_code("DeletionProtectionEnabled")
            };
            if protection_to_lift(ctx, c.deletion_protection() == Some(true), refusal)? {
                ctx.progress(format!("turning deletion protection of {id} off"));
                self.docdb
                    .modify_db_cluster()
                    .db_cluster_identifier(id)
                    .deletion_protection(false)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| retry_codes(aws_error("ModifyDBCluster", e), BUSY))?;
                self.wait_available(ctx, id).await?;
            }
            let snapshot = final_snapshot(ctx, id);
            if let Some(s) = &snapshot {
                ctx.progress(format!("deleting {id} with final snapshot {s}"));
            }
            let req = self
                .docdb
                .delete_db_cluster()
                .db_cluster_identifier(id)
                .skip_final_snapshot(snapshot.is_none())
                .set_final_db_snapshot_identifier(snapshot);
            match req.send().await.map_err(|e| aws_error("DeleteDBCluster", e)) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                // Its instances are still being deleted.
                Err(e) => return Err(retry_codes(e, BUSY)),
            }
        }
        wait_deleted(ctx, &format!("DocumentDB cluster {id}"), || async {
            Ok(self.describe(id).await?.is_some())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_window_is_aws_s_choice_and_an_unrecorded_secret_the_desired_one() {
        let window = |v: Value| Props::from([(Kind::PREFERRED_BACKUP_WINDOW.to_string(), v)]);
        let mut live = window(Value::str("03:00-03:30"));
        let mut desired = window(Value::Null);
        desired.insert(Kind::MASTER_SECRET_ARN.to_string(), Value::str("arn:secret"));
        normalize_cluster(&desired, &mut live);
        let mut want = window(Value::Null);
        want.insert(Kind::MASTER_SECRET_ARN.to_string(), Value::str("arn:secret"));
        assert_eq!(live, want);
        let mut live = window(Value::str("03:00-03:30"));
        normalize_cluster(&window(Value::str("05:00-05:30")), &mut live);
        assert_eq!(live, window(Value::str("03:00-03:30")));
    }

    #[test]
    fn the_master_user_of_a_global_cluster_member_is_no_diff_whichever_is_the_writer() {
        let user = |v: Value| Props::from([(Kind::MASTER_USERNAME.to_string(), v)]);
        let primary = user(Value::str("hactladmin"));
        let mut secondary = user(Value::Null);
        secondary.insert(Kind::GLOBAL_CLUSTER_IDENTIFIER.to_string(), Value::str("s-global"));
        // The original secondary, reported with no master user or, as the writer, with the
        // global cluster's: as desired (none).
        for reported in [Value::str(""), Value::str("hactladmin"), Value::Null] {
            let mut live = user(reported);
            normalize_cluster(&secondary, &mut live);
            assert_eq!(live.get(Kind::MASTER_USERNAME), Some(&Value::Null));
        }
        // The original primary, a secondary now, reported without its master user.
        for reported in [Value::str(""), Value::Null] {
            let mut live = user(reported);
            normalize_cluster(&primary, &mut live);
            assert_eq!(live.get(Kind::MASTER_USERNAME), Some(&Value::str("hactladmin")));
        }
        let mut live = Props::new();
        normalize_cluster(&primary, &mut live);
        assert_eq!(live.get(Kind::MASTER_USERNAME), Some(&Value::str("hactladmin")));
        // Another master user is still reported as it is (a replacement).
        let mut live = user(Value::str("someone"));
        normalize_cluster(&primary, &mut live);
        assert_eq!(live.get(Kind::MASTER_USERNAME), Some(&Value::str("someone")));
        // A standalone cluster's master user is never Null'ed.
        let mut live = user(Value::str("hactladmin"));
        normalize_cluster(&user(Value::Null), &mut live);
        assert_eq!(live.get(Kind::MASTER_USERNAME), Some(&Value::str("hactladmin")));
    }
}
