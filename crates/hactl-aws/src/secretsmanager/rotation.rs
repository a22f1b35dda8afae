//! `secretsmanager.rotation`: the rotation schedule of a secret whose rotation its owning
//! service runs: the master password RDS or DocumentDB manages
//! (`manage_master_password`), in a secret named `rds!...` that the database owns. id =
//! the secret ARN; no tags (the secret is the database's: hactl never tags it), so state
//! alone makes the schedule the stack's.
//!
//! Read: DescribeSecret per target (a stack has one): `automatically_after_days` from
//! RotationRules while RotationEnabled (else Null). A secret that is gone or scheduled for
//! deletion is absent.
//! Create/update: RotateSecret with RotationRules and RotateImmediately = false (a new
//! schedule, no rotation now). Only a secret with an OwningService is taken: a secret that
//! needs a Lambda function of its own to rotate is refused. Right after the database
//! creates its secret, a rotation of its own may still run: InvalidRequestException is
//! retried.
//! Delete: the database's schedule goes back to AWS's default (7 days) when the secret is
//! still there; nothing when it is gone with its database.
//!
//! [`rotate_now`] is `hactl rotate-credentials` for such a secret: one rotation now, waited
//! for by its version stages, never by reading the value.

use super::describe;
use crate::error::{aws_error, is_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use futures::TryFutureExt;
use hactl_core::kinds::secretsmanager::Rotation as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Rotation(pub Client);

/// The schedule RDS and DocumentDB give a managed master password.
pub const AWS_DEFAULT_DAYS: i64 = 7;

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("secret_arn".to_string(), Value::str(arn))])
}

/// The schedule a secret shows: its days while rotation is on, else Null.
fn days_of(d: &DescribeSecretOutput) -> Value {
    match (d.rotation_enabled(), d.rotation_rules().and_then(RotationRulesType::automatically_after_days)) {
        (Some(true), Some(days)) => Value::Int(days),
        _ => Value::Null,
    }
}

/// The version that holds AWSCURRENT, and the other one that holds AWSPENDING (a rotation
/// under way), if any.
pub(crate) fn stage_versions(d: &DescribeSecretOutput) -> (Option<String>, Option<String>) {
    let mut current = None;
    let mut pending = None;
    for (version, stages) in d.version_ids_to_stages().into_iter().flatten() {
        let has = |s: &str| stages.iter().any(|x| x == s);
        if has("AWSCURRENT") {
            current = Some(version.clone());
        }
        if has("AWSPENDING") && !has("AWSCURRENT") {
            pending = Some(version.clone());
        }
    }
    (current, pending)
}

/// The version that holds AWSCURRENT, and whether another one holds AWSPENDING.
fn stages(d: &DescribeSecretOutput) -> (Option<String>, bool) {
    let (current, pending) = stage_versions(d);
    (current, pending.is_some())
}

/// RotateSecret's refusal while a rotation runs (InvalidRequestException): worth retrying.
fn retry_busy(mut e: ProviderError) -> ProviderError {
    if e.code() == Some("InvalidRequestException") && e.message().contains("rotation") {
        e.make_retryable();
    }
    e
}

impl Rotation {
    /// The secret, which its owning service must rotate; a missing one may be one the
    /// database has only just created (retried).
    async fn managed(&self, id: &str) -> Result<DescribeSecretOutput, ProviderError> {
        let Some(d) = describe(&self.0, id).await?.filter(|d| d.deleted_date().is_none()) else {
            return Err(ProviderError::retryable(format!("secret {id} not found"))
                .with_code("ResourceNotFoundException"));
        };
        if d.owning_service().is_none() {
            return Err(ProviderError::fatal(format!(
                "secret {id} is not managed by a service (no OwningService): secretsmanager.rotation \
                 schedules only the rotation a database runs for its own master password"
            )));
        }
        Ok(d)
    }

    /// RotateSecret with the schedule, and a rotation now only if `now`. Answers the secret
    /// ARN.
    async fn schedule(&self, id: &str, days: i64, now: bool) -> Result<String, ProviderError> {
        let d = self.managed(id).await?;
        let arn = d.arn().unwrap_or(id).to_string();
        self.0
            .rotate_secret()
            .secret_id(&arn)
            .rotation_rules(RotationRulesType::builder().automatically_after_days(days).build())
            .rotate_immediately(now)
            .send()
            .await
            .map_err(|e| retry_busy(aws_error("RotateSecret", e)))?;
        Ok(arn)
    }

    async fn apply(&self, id: &str, props: &Props) -> Result<Applied, ProviderError> {
        let days = props.get(Kind::AUTOMATICALLY_AFTER_DAYS).and_then(Value::as_int).ok_or_else(|| {
            ProviderError::fatal("secretsmanager.rotation needs `automatically_after_days`")
        })?;
        let arn = self.schedule(id, days, false).await?;
        Ok(Applied { id: arn.clone(), outputs: outputs(&arn) })
    }
}

#[async_trait]
impl Provider for Rotation {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for t in targets {
            let Some(id) = t.id.as_deref().or_else(|| t.props.get(Kind::SECRET_ID).and_then(Value::as_str))
            else {
                continue; // the database (and its secret) does not exist yet
            };
            let Some(d) = describe(&self.0, id).await?.filter(|d| d.deleted_date().is_none()) else {
                continue;
            };
            let arn = d.arn().unwrap_or(id).to_string();
            let props = Props::from([
                (Kind::SECRET_ID.to_string(), Value::str(&arn)),
                (Kind::AUTOMATICALLY_AFTER_DAYS.to_string(), days_of(&d)),
            ]);
            out.push(super::target_object(t, &arn, props));
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        self.apply(req_str(props, Kind::SECRET_ID)?, props).await
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        super::only_in_place(Kind::KIND, req.changes, Kind::AUTOMATICALLY_AFTER_DAYS)?;
        self.apply(req.id, req.desired).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match describe(&self.0, id).await? {
            Some(d) if d.deleted_date().is_none() && d.owning_service().is_some() => {
                match self.schedule(id, AWS_DEFAULT_DAYS, false).await {
                    Err(e) if is_not_found(&e) => Ok(()),
                    other => other.map(drop),
                }
            }
            _ => Ok(()),
        }
    }
}

/// A rotation done by [`rotate_now`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    pub secret_arn: String,
    /// The version that held AWSCURRENT before, and the one that holds it now.
    pub previous_version: Option<String>,
    pub current_version: String,
}

/// Rotates a managed secret now (RotateSecret, keeping its schedule), then waits until the
/// rotation is done: a new version holds AWSCURRENT and none is left pending. The value is
/// never read.
pub async fn rotate_now(client: &Client, ctx: &Ctx, secret_id: &str) -> Result<Rotated, ProviderError> {
    let p = Rotation(client.clone());
    let before = p.managed(secret_id).await?;
    let (previous, pending) = stages(&before);
    if pending {
        return Err(ProviderError::fatal(format!(
            "secret {secret_id} has a version staged AWSPENDING: a rotation is under way or failed (DescribeSecret \
             shows when it last rotated; the database's events say why one failed); rotate again once it is done"
        ))
        .with_code("InvalidRequestException"));
    }
    let arn = before.arn().unwrap_or(secret_id).to_string();
    crate::util::retrying(ctx, &format!("secret {arn} to accept a rotation"), || {
        client
            .rotate_secret()
            .secret_id(&arn)
            .rotate_immediately(true)
            .send()
            .map_err(|e| retry_busy(aws_error("RotateSecret", e)))
    })
    .await?;
    let previous_ref = &previous;
    let arn_ref = &arn;
    let current = ctx
        .wait_for(&format!("the rotation of secret {arn}"), || async move {
            let Some(d) = describe(client, arn_ref).await? else {
                return Err(ProviderError::fatal(format!(
                    "secret {arn_ref} disappeared during its rotation"
                )));
            };
            match stages(&d) {
                (Some(now), false) if Some(&now) != previous_ref.as_ref() => Ok(Some(now)),
                _ => Ok(None),
            }
        })
        .await?;
    Ok(Rotated { secret_arn: arn, previous_version: previous, current_version: current })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn secret(stages: &[(&str, &[&str])], rotation: Option<(bool, i64)>) -> DescribeSecretOutput {
        let map: HashMap<String, Vec<String>> =
            stages.iter().map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect())).collect();
        let mut b = DescribeSecretOutput::builder().arn("arn:s").set_version_ids_to_stages(Some(map));
        if let Some((on, days)) = rotation {
            b = b
                .rotation_enabled(on)
                .rotation_rules(RotationRulesType::builder().automatically_after_days(days).build());
        }
        b.build()
    }

    #[test]
    fn a_rotation_is_done_when_a_new_version_is_current_and_none_pending() {
        let under_way = secret(&[("a", &["AWSCURRENT"]), ("b", &["AWSPENDING"])], None);
        assert_eq!(stages(&under_way), (Some("a".into()), true));
        let done = secret(&[("a", &["AWSPREVIOUS"]), ("b", &["AWSCURRENT"])], None);
        assert_eq!(stages(&done), (Some("b".into()), false));
        // Pending on the current version is no rotation under way (AWS's finished state).
        let same = secret(&[("b", &["AWSCURRENT", "AWSPENDING"])], None);
        assert_eq!(stages(&same), (Some("b".into()), false));
    }

    #[test]
    fn the_schedule_is_the_days_while_rotation_is_on() {
        assert_eq!(days_of(&secret(&[], Some((true, 30)))), Value::Int(30));
        assert_eq!(days_of(&secret(&[], Some((false, 30)))), Value::Null);
        assert_eq!(days_of(&secret(&[], None)), Value::Null);
    }
}
