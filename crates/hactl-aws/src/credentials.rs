//! `hactl rotate-credentials`: the database's master password rotated now, then a new
//! deployment of every service, so their tasks read the new password.
//!
//! A password the database manages (`manage_master_password`) is rotated by its owning
//! service ([`crate::secretsmanager::rotation::rotate_now`]): the password never passes
//! through hactl. A `[dr]` stack's password is hactl's own replicated secret, rotated by
//! [`rotate_own`] in Secrets Manager's steps (pending version, database, current).
//!
//! A stack whose rule redeploys the services after a rotation of the managed password
//! (`event_rule.password_rotated`) gets its new deployments from that rule: hactl notes
//! each service's deployment before the rotation, then follows the new one the rule
//! starts ([`follow_or_redeploy`]), and forces one itself only where none started in
//! time, so a service is not deployed twice.

use crate::error::{aws_error, retry_codes};
use crate::secretsmanager::rotation::{rotate_now, Rotated};
use crate::ApiCounter;
use aws_config::SdkConfig;
use futures::TryFutureExt;
use hactl_engine::{Ctx, ProviderError};
use std::time::Duration;

/// A service given a new deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeployed {
    pub service: String,
    /// The id of its new (PRIMARY) deployment.
    pub deployment: String,
    /// Started by the stack's rule after the rotation (else forced by hactl).
    pub by_rule: bool,
}

/// The PRIMARY deployment of each of `services` in `cluster` now (None: gone).
pub async fn primary_deployments(
    config: &SdkConfig,
    counter: &ApiCounter,
    cluster: &str,
    services: &[String],
) -> Result<Vec<Option<String>>, ProviderError> {
    let ecs = crate::ecs::service::Service::new(crate::client!(aws_sdk_ecs, config, counter));
    let ecs = &ecs;
    futures::future::try_join_all(services.iter().map(|s| ecs.primary_deployment(cluster, s))).await
}

/// Each of `services` (whose deployments were `before` the rotation, in the same order)
/// followed to the new deployment the stack's rule started, waiting up to `grace` for it;
/// a service that got none by then is given one by hactl. Each waited for until stable,
/// for at most `timeout`.
pub async fn follow_or_redeploy(
    config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    cluster: &str,
    services: &[String],
    before: &[Option<String>],
    (grace, timeout): (Duration, Duration),
) -> Result<Vec<Redeployed>, ProviderError> {
    let ecs = crate::ecs::service::Service::new(crate::client!(aws_sdk_ecs, config, counter));
    let ecs = &ecs;
    let runs = services.iter().zip(before).map(|(service, before)| async move {
        let followed =
            ecs.follow_new_deployment(ctx, cluster, service, before.as_deref(), grace, timeout).await?;
        let (deployment, by_rule) = match followed {
            Some(id) => (id, true),
            None => (ecs.redeploy(ctx, cluster, service, timeout).await?, false),
        };
        Ok::<_, ProviderError>(Redeployed { service: service.clone(), deployment, by_rule })
    });
    futures::future::try_join_all(runs).await
}

/// Rotates the managed secret `secret_arn` now and waits for the rotation to finish.
pub async fn rotate_managed(
    config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    secret_arn: &str,
) -> Result<Rotated, ProviderError> {
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    rotate_now(&sm, ctx, secret_arn).await
}

/// A new deployment of each of `services` in `cluster` (concurrently), each waited for
/// until stable for at most `timeout`.
pub async fn redeploy(
    config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    cluster: &str,
    services: &[String],
    timeout: Duration,
) -> Result<Vec<Redeployed>, ProviderError> {
    let ecs = crate::ecs::service::Service::new(crate::client!(aws_sdk_ecs, config, counter));
    let ecs = &ecs;
    let runs = services.iter().map(|service| async move {
        let deployment = ecs.redeploy(ctx, cluster, service, timeout).await?;
        Ok::<_, ProviderError>(Redeployed { service: service.clone(), deployment, by_rule: false })
    });
    futures::future::try_join_all(runs).await
}

/// The database whose master password hactl's own secret holds (a `[dr]` stack: AWS
/// manages no password for a global cluster's members or a cross-region replica's
/// source), in the region that writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnDatabase {
    /// The DocumentDB cluster that writes (the global cluster's primary).
    Docdb { cluster_id: String },
    /// The PostgreSQL instance that writes (its replicas take the password from it).
    Postgres { instance_id: String },
}

/// Rotates hactl's own credentials secret `secret_arn` (in the region of `secret_config`)
/// and the password of `db` (in the region of `db_config`), in the order Secrets
/// Manager's rotation steps follow, so that the secret never names a password the
/// database does not have (running tasks hold the old one until they are redeployed):
/// 1. a new password (GetRandomPassword) into a new version staged AWSPENDING (the
///    current version keeps the old one);
/// 2. the database takes it (ModifyDBCluster / ModifyDBInstance MasterUserPassword),
///    waited for until available;
/// 3. AWSCURRENT moves to the new version, AWSPENDING is removed;
/// 4. each replica region shows the new version as current.
///
/// A run stopped after step 1 or 2 leaves the version pending; the next run takes that
/// version up again (the database may already have it: setting it again is harmless).
/// The password is held in memory between the calls only: never logged or returned.
pub async fn rotate_own(
    secret_config: &SdkConfig,
    db_config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    secret_arn: &str,
    password_length: i64,
    db: &OwnDatabase,
) -> Result<Rotated, ProviderError> {
    use crate::secretsmanager::rotation::stage_versions;
    let sm = crate::client!(aws_sdk_secretsmanager, secret_config, counter);
    let d = crate::secretsmanager::describe(&sm, secret_arn)
        .await?
        .filter(|d| d.deleted_date().is_none())
        .ok_or_else(|| {
            ProviderError::fatal(format!("secret {secret_arn} not found (or scheduled for deletion)"))
        })?;
    let arn = d.arn().unwrap_or(secret_arn).to_string();
    let (current, pending) = stage_versions(&d);
    let pending = match pending {
        Some(v) => {
            ctx.progress(format!("taking up the rotation left pending in version {v}"));
            v
        }
        None => stage_new_password(&sm, &arn, password_length).await?,
    };
    let password = pending_password(&sm, &arn).await?;
    set_database_password(db_config, counter, ctx, db, password).await?;
    let mut promote = sm
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&pending);
    if let Some(c) = &current {
        promote = promote.remove_from_version_id(c);
    }
    promote.send().await.map_err(|e| aws_error("UpdateSecretVersionStage", e))?;
    sm.update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&pending)
        .send()
        .await
        .map_err(|e| aws_error("UpdateSecretVersionStage", e))?;
    wait_replicas(secret_config, counter, ctx, &d, &arn, &pending).await?;
    Ok(Rotated { secret_arn: arn, previous_version: current, current_version: pending })
}

/// Step 1: the current JSON value with a new password, as a new version staged
/// AWSPENDING. Answers the version id.
async fn stage_new_password(
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
    length: i64,
) -> Result<String, ProviderError> {
    use crate::secretsmanager::{get_json, random_password, SecretValue, PASSWORD_KEY};
    let SecretValue::Object { mut map, .. } = get_json(sm, arn).await? else {
        return Err(ProviderError::fatal(format!(
            "secret {arn} does not hold a JSON object with the credentials"
        )));
    };
    let password = random_password(sm, length, false).await?;
    map.insert(PASSWORD_KEY.to_string(), serde_json::Value::String(password));
    let out = sm
        .put_secret_value()
        .secret_id(arn)
        .secret_string(serde_json::Value::Object(map).to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .map_err(|e| aws_error("PutSecretValue", e))?;
    out.version_id()
        .map(str::to_string)
        .ok_or_else(|| ProviderError::fatal("PutSecretValue returned no version id"))
}

/// The password of the version staged AWSPENDING.
async fn pending_password(sm: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, ProviderError> {
    let out = sm
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSPENDING")
        .send()
        .await
        .map_err(|e| aws_error("GetSecretValue", e))?;
    // Parse errors are dropped unread: their text may quote the value.
    let parsed = out.secret_string().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    match parsed.as_ref().and_then(|v| v.get(crate::secretsmanager::PASSWORD_KEY)).and_then(|p| p.as_str()) {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ProviderError::fatal(format!("the pending version of secret {arn} has no `password` key"))),
    }
}

/// How long a DocumentDB cluster that answers `available` right after the password change
/// is watched for the change to start.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Step 2: the database's master password, waited for until the database is available
/// with no password change pending.
async fn set_database_password(
    config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    db: &OwnDatabase,
    password: String,
) -> Result<(), ProviderError> {
    let wait = crate::util::db_wait(ctx);
    match db {
        OwnDatabase::Docdb { cluster_id } => {
            let docdb = crate::client!(aws_sdk_docdb, config, counter);
            let what = format!("DocumentDB cluster {cluster_id} to accept the new password");
            let modified = crate::util::retrying(&wait, &what, || {
                docdb
                    .modify_db_cluster()
                    .db_cluster_identifier(cluster_id)
                    .master_user_password(password.clone())
                    .apply_immediately(true)
                    .send()
                    .map_err(|e| {
                        retry_codes(aws_error("ModifyDBCluster", e), &["InvalidDBClusterStateFault"])
                    })
            })
            .await?;
            let docdb = &docdb;
            let status = || async move {
                let out = docdb.describe_db_clusters().db_cluster_identifier(cluster_id).send().await;
                let out = out.map_err(|e| aws_error("DescribeDBClusters", e))?;
                Ok::<_, ProviderError>(out.db_clusters().first().and_then(|c| c.status()).map(str::to_string))
            };
            // DocumentDB shows no pending password: the cluster leaves `available`
            // (resetting-master-credentials) and comes back. Answered `available`, it is
            // watched a few seconds for the change to start before it counts as applied.
            let answered = modified.db_cluster().and_then(|c| c.status()).unwrap_or("available");
            if answered == "available" {
                let start = std::time::Instant::now();
                while start.elapsed() < SETTLE && status().await?.as_deref() == Some("available") {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            let what = format!("DocumentDB cluster {cluster_id} to take the new password");
            wait.wait_for(&what, || async move {
                Ok((status().await?.as_deref() == Some("available")).then_some(()))
            })
            .await
        }
        OwnDatabase::Postgres { instance_id } => {
            let rds = crate::client!(aws_sdk_rds, config, counter);
            let what = format!("DB instance {instance_id} to accept the new password");
            crate::util::retrying(&wait, &what, || {
                rds.modify_db_instance()
                    .db_instance_identifier(instance_id)
                    .master_user_password(password.clone())
                    .apply_immediately(true)
                    .send()
                    .map_err(|e| retry_codes(aws_error("ModifyDBInstance", e), &["InvalidDBInstanceState"]))
            })
            .await?;
            let rds = &rds;
            wait.wait_for(&format!("DB instance {instance_id} to take the new password"), || async move {
                let out = rds.describe_db_instances().db_instance_identifier(instance_id).send().await;
                let out = out.map_err(|e| aws_error("DescribeDBInstances", e))?;
                let ready = out.db_instances().first().is_some_and(|i| {
                    i.db_instance_status() == Some("available")
                        && i.pending_modified_values().and_then(|p| p.master_user_password()).is_none()
                });
                Ok(ready.then_some(()))
            })
            .await
        }
    }
}

/// Step 4: every replica region of the secret shows `version` as AWSCURRENT.
async fn wait_replicas(
    config: &SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    d: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
    arn: &str,
    version: &str,
) -> Result<(), ProviderError> {
    use crate::secretsmanager::rotation::stage_versions;
    use aws_sdk_secretsmanager::types::StatusType;
    let replicas = d.replication_status().iter().filter(|r| r.status() != Some(&StatusType::Failed));
    for region in replicas.filter_map(|r| r.region()) {
        let sm = crate::client!(aws_sdk_secretsmanager, &crate::in_region(config, region), counter);
        let sm = &sm;
        // The replica's ARN: the primary's with its region (AWS keeps name and suffix).
        let replica = crate::secretsmanager::secret::arn_in(arn, region).unwrap_or_else(|| arn.to_string());
        let replica = &replica;
        let what = format!("the replica of secret {arn} in {region} to take the new version");
        ctx.wait_for(&what, || async move {
            let Some(d) = crate::secretsmanager::describe(sm, replica).await? else { return Ok(None) };
            Ok((stage_versions(&d).0.as_deref() == Some(version)).then_some(()))
        })
        .await?;
    }
    Ok(())
}
