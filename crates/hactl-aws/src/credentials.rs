//! `hactl rotate-credentials`: the database's master password rotated now, then a new
//! deployment of every service, so their tasks read the new password.
//!
//! A password the database manages (`manage_master_password`) is rotated by its owning
//! service ([`crate::secretsmanager::rotation::rotate_now`]): the password never passes
//! through hactl.

use crate::secretsmanager::rotation::{rotate_now, Rotated};
use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::{Ctx, ProviderError};
use std::time::Duration;

/// A service given a new deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeployed {
    pub service: String,
    /// The id of its new (PRIMARY) deployment.
    pub deployment: String,
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
        Ok::<_, ProviderError>(Redeployed { service: service.clone(), deployment })
    });
    futures::future::try_join_all(runs).await
}
