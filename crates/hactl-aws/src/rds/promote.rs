//! Promotion of an RDS PostgreSQL read replica (the DR region's cross-region replica) to a
//! standalone instance: PromoteReadReplica in the configuration's region, then a wait
//! until the instance is available with no ReadReplicaSourceDBInstanceIdentifier. An
//! instance that is no replica (already promoted) is left alone: idempotent.

use crate::error::aws_error;
use crate::ApiCounter;
use aws_sdk_rds::types::DbInstance;
use hactl_engine::{Ctx, ProviderError};

/// The instance `instance_id`; a missing one is [`ProviderError::NotFound`].
async fn instance(client: &aws_sdk_rds::Client, instance_id: &str) -> Result<DbInstance, ProviderError> {
    let out = client
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeDBInstances", e))?;
    out.db_instances().first().cloned().ok_or_else(|| {
        ProviderError::not_found(format!("RDS instance {instance_id} not found"))
            .with_code("DBInstanceNotFound")
    })
}

/// Promotes the read replica `instance_id` (in `config`'s region) and waits until it is a
/// standalone instance, available. `backups`: the retention days and window it keeps
/// (PromoteReadReplica would set 1 day otherwise). Answers false, after one describe and
/// nothing else, when the instance is not a replica. A missing instance is
/// [`ProviderError::NotFound`].
pub async fn promote_replica(
    config: &aws_config::SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    instance_id: &str,
    backups: (Option<i64>, Option<String>),
) -> Result<bool, ProviderError> {
    let client = crate::client!(aws_sdk_rds, config, counter);
    let db = instance(&client, instance_id).await?;
    let Some(source) = db.read_replica_source_db_instance_identifier() else {
        return Ok(false);
    };
    ctx.progress(format!("promoting RDS instance {instance_id}, read replica of {source}"));
    client
        .promote_read_replica()
        .db_instance_identifier(instance_id)
        .set_backup_retention_period(backups.0.and_then(|d| i32::try_from(d).ok()))
        .set_preferred_backup_window(backups.1)
        .send()
        .await
        .map_err(|e| aws_error("PromoteReadReplica", e))?;
    crate::util::db_wait(ctx)
        .wait_for(&format!("RDS instance {instance_id} to be a standalone instance, available"), || async {
            let db = instance(&client, instance_id).await?;
            let done = db.db_instance_status() == Some("available")
                && db.read_replica_source_db_instance_identifier().is_none();
            Ok(done.then_some(()))
        })
        .await?;
    Ok(true)
}

/// The source of `instance_id` (in `config`'s region) when it is a read replica: the
/// check before a failover to it (a standalone instance that is not the writer cannot
/// take over without losing the writer's data).
pub async fn replica_source(
    config: &aws_config::SdkConfig,
    counter: &ApiCounter,
    instance_id: &str,
) -> Result<Option<String>, ProviderError> {
    let client = crate::client!(aws_sdk_rds, config, counter);
    Ok(instance(&client, instance_id).await?.read_replica_source_db_instance_identifier().map(String::from))
}
