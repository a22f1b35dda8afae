//! Promotion of a secret's replica to a standalone secret, for a disaster in which the
//! primary's region is gone (`hactl failover --to-region`): StopReplicationToReplica,
//! called in the replica's region. The promoted secret keeps its ARN, value, tags,
//! description and key; the primary (if it still answers) no longer lists that region.

use crate::error::{aws_error, is_not_found};
use crate::ApiCounter;
use hactl_engine::{Ctx, ProviderError};

/// Turns the replica of `secret_name` in the region of `config` into a standalone secret
/// there. A secret that is already standalone in that region (a promotion done before)
/// is left as it is; no such secret there is [`ProviderError::NotFound`].
pub async fn promote_replica(
    config: &aws_config::SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    secret_name: &str,
) -> Result<(), ProviderError> {
    let client = crate::client!(aws_sdk_secretsmanager, config, counter);
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    ctx.progress(format!(
        "promoting the replica of secret `{secret_name}` in {region} to a standalone secret"
    ));
    let err = match client.stop_replication_to_replica().secret_id(secret_name).send().await {
        Ok(_) => return Ok(()),
        Err(e) => aws_error("StopReplicationToReplica", e),
    };
    // aws_error answers ResourceNotFoundException as NotFound, its code and call kept.
    if err.is_not_found() {
        return Err(err);
    }
    if is_not_found(&err) {
        return Err(not_found(secret_name, &region, &err));
    }
    // Not a replica (InvalidParameterException): already standalone is done.
    if err.code() == Some("InvalidParameterException") {
        match super::describe(&client, secret_name).await? {
            None => return Err(not_found(secret_name, &region, &err)),
            Some(d) if d.primary_region().is_none_or(|p| p == region) && d.deleted_date().is_none() => {
                tracing::debug!(secret = secret_name, region = %region, "already a standalone secret");
                return Ok(());
            }
            Some(_) => {}
        }
    }
    Err(err)
}

/// NotFound with AWS's code and message kept.
fn not_found(secret_name: &str, region: &str, err: &ProviderError) -> ProviderError {
    let e = ProviderError::not_found(format!("no replica of secret `{secret_name}` in {region}: {err}"));
    match err.code() {
        Some(code) => e.with_code(code),
        None => e,
    }
}
