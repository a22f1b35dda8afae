//! Moving the writer of a DocumentDB global cluster to another region (`hactl failover
//! --to-region`).
//!
//! [`promote_secondary`] makes the member cluster `target_cluster_arn` the writer:
//! SwitchoverGlobalCluster when both regions are healthy (planned: no data lost), or
//! FailoverGlobalCluster with AllowDataLoss when the primary region is down (the
//! secondary takes over with what it has replicated). Every call goes to the target's own
//! region (its ARN says which), the one that answers when the primary region does not.
//! Then it polls DescribeGlobalClusters until the target is the writer and the global
//! cluster available again (at least the database wait, as [`crate::failover`] does).
//! A target that already is the writer is answered at once, with no change.

use super::global_cluster::{describe, member_arns, region_of, regional_client, writer_arn};
use crate::error::aws_error;
use crate::ApiCounter;
use hactl_engine::{Ctx, ProviderError};

/// Where the writer is after [`promote_secondary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchoverOutcome {
    /// The writer now: the target cluster.
    pub writer_arn: String,
    /// The writer before; equal to `writer_arn` when the target already was the writer
    /// (nothing changed).
    pub previous_writer_arn: String,
}

/// Makes `target_cluster_arn` (a member cluster's ARN) the writer of the DocumentDB global
/// cluster `global_cluster_id`: a planned switchover, or with `allow_data_loss` a failover
/// that does not wait for the old primary (its region is down).
pub async fn promote_secondary(
    config: &aws_config::SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    global_cluster_id: &str,
    target_cluster_arn: &str,
    allow_data_loss: bool,
) -> Result<SwitchoverOutcome, ProviderError> {
    let region = region_of(target_cluster_arn).filter(|_| target_cluster_arn.starts_with("arn:"));
    let Some(region) = region else {
        return Err(ProviderError::fatal(format!(
            "`{target_cluster_arn}` is not a DocumentDB cluster ARN (arn:aws:rds:<region>:<account>:cluster:<id>)"
        )));
    };
    let client = regional_client(config, counter, region);
    let what = format!("DocumentDB global cluster {global_cluster_id}");
    let gc = describe(&client, global_cluster_id).await?.ok_or_else(|| {
        ProviderError::fatal(format!("{what} not found")).with_code("GlobalClusterNotFoundFault")
    })?;
    let members = member_arns(&gc);
    if !members.iter().any(|m| m == target_cluster_arn) {
        return Err(ProviderError::fatal(format!(
            "{target_cluster_arn} is not a member of {what} (its members: {})",
            if members.is_empty() { "none".to_string() } else { members.join(", ") }
        )));
    }
    let previous = writer_arn(&gc).unwrap_or_default().to_string();
    if previous == target_cluster_arn {
        return Ok(SwitchoverOutcome { writer_arn: previous.clone(), previous_writer_arn: previous });
    }
    let from = if previous.is_empty() { "no writer" } else { previous.as_str() };
    if allow_data_loss {
        ctx.progress(format!("failing {what} over from {from} to {target_cluster_arn} (data loss allowed)"));
        client
            .failover_global_cluster()
            .global_cluster_identifier(global_cluster_id)
            .target_db_cluster_identifier(target_cluster_arn)
            .allow_data_loss(true)
            .send()
            .await
            .map_err(|e| aws_error("FailoverGlobalCluster", e))?;
    } else {
        ctx.progress(format!("switching {what} over from {from} to {target_cluster_arn}"));
        client
            .switchover_global_cluster()
            .global_cluster_identifier(global_cluster_id)
            .target_db_cluster_identifier(target_cluster_arn)
            .send()
            .await
            .map_err(|e| aws_error("SwitchoverGlobalCluster", e))?;
    }
    crate::util::db_wait(ctx)
        .wait_for(&format!("{what} to have {target_cluster_arn} as its writer"), || async {
            let gc = describe(&client, global_cluster_id)
                .await?
                .ok_or_else(|| ProviderError::fatal(format!("{what} disappeared during the switchover")))?;
            let done = gc.status() == Some("available") && writer_arn(&gc) == Some(target_cluster_arn);
            Ok(done.then_some(()))
        })
        .await?;
    Ok(SwitchoverOutcome { writer_arn: target_cluster_arn.to_string(), previous_writer_arn: previous })
}
