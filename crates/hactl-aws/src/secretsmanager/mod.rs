//! secretsmanager providers (see crates/hactl-aws/KINDS-data.md): `secretsmanager.secret`
//! (a JSON secret holding a generated password) and `secretsmanager.secret_fields` (its
//! non-secret keys that depend on other resources), `secretsmanager.rotation` (the schedule
//! of a master password a database manages; [`rotation::rotate_now`] rotates it now);
//! [`promote::promote_replica`] turns a
//! replica into a standalone secret (a failover to the disaster-recovery region).
//!
//! The secret string never leaves this module except through [`master_password`]: it is
//! not put into props, outputs, errors, logs or progress messages (the SDK's Debug impls
//! redact it; nothing here formats a request, a response or the string itself).

pub mod promote;
pub mod rotation;
pub mod secret;
pub mod secret_fields;

use crate::error::{aws_error, is_not_found, retry_not_found};
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::Client;
use hactl_engine::{ProviderError, Registry};
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let sm = crate::client!(aws_sdk_secretsmanager, config, counter);
    r.register(Arc::new(secret::Secret(sm.clone())));
    r.register(Arc::new(secret_fields::SecretFields(sm.clone())));
    r.register(Arc::new(rotation::Rotation(sm)));
}

/// The `password` key of a JSON secret, for a database create. The value never leaves
/// the caller: it is not logged, and errors never include the secret string.
pub(crate) async fn master_password(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, hactl_engine::ProviderError> {
    use hactl_engine::ProviderError;
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| crate::error::aws_error("GetSecretValue", e))?;
    let Some(s) = out.secret_string() else {
        return Err(ProviderError::fatal(format!("secret {secret_id} has no string value")));
    };
    let parsed: serde_json::Value = serde_json::from_str(s)
        .map_err(|_| ProviderError::fatal(format!("secret {secret_id} does not hold a JSON object")))?;
    match parsed.get("password").and_then(serde_json::Value::as_str) {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ProviderError::fatal(format!("secret {secret_id} has no `password` key"))),
    }
}

/// The live object of a kind that has no tags of its own and belongs to the target it is
/// read for (state makes it the stack's): `secretsmanager.secret_fields` and
/// `secretsmanager.rotation`, both named by the secret's ARN.
pub(crate) fn target_object(
    t: &hactl_engine::ReadTarget,
    arn: &str,
    props: hactl_core::Props,
) -> hactl_engine::LiveObject {
    hactl_engine::LiveObject {
        id: arn.to_string(),
        address: Some(t.address.clone()),
        props,
        outputs: std::collections::BTreeMap::from([("secret_arn".to_string(), hactl_core::Value::str(arn))]),
        owned: true,
    }
}

/// Refuses an update that changes anything but `only` (`kind` names the kind).
pub(crate) fn only_in_place(
    kind: &str,
    changes: &[hactl_core::diff::PropChange],
    only: &str,
) -> Result<(), ProviderError> {
    match changes.iter().find(|c| c.name != only) {
        Some(c) => Err(ProviderError::fatal(format!("{kind} cannot update `{}` in place", c.name))),
        None => Ok(()),
    }
}

/// The key of a JSON secret that holds the generated password.
pub(crate) const PASSWORD_KEY: &str = "password";

/// A secret as DescribeSecret answers it; `None` when it does not exist (a secret
/// scheduled for deletion exists, with `deleted_date` set).
pub(crate) async fn describe(
    client: &Client,
    id: &str,
) -> Result<Option<DescribeSecretOutput>, ProviderError> {
    match client.describe_secret().secret_id(id).send().await {
        Ok(out) => Ok(Some(out)),
        Err(e) => {
            let err = aws_error("DescribeSecret", e);
            if is_not_found(&err) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The current value of a secret, as the kinds here see it.
pub(crate) enum SecretValue {
    /// No such secret (or it has no value).
    Missing,
    /// The secret is scheduled for deletion: its value cannot be read.
    Scheduled,
    /// The value is not a JSON object (or is binary).
    NotJson { arn: String },
    /// A JSON object. Holds the password: never format it.
    Object { arn: String, map: serde_json::Map<String, serde_json::Value> },
}

/// GetSecretValue, parsed. An InvalidRequestException is checked with DescribeSecret:
/// a secret scheduled for deletion answers that.
pub(crate) async fn get_json(client: &Client, id: &str) -> Result<SecretValue, ProviderError> {
    match client.get_secret_value().secret_id(id).send().await {
        Ok(out) => {
            let arn = out.arn().unwrap_or(id).to_string();
            // Parse errors are dropped unread: their text may quote the value.
            match out.secret_string().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) {
                Some(serde_json::Value::Object(map)) => Ok(SecretValue::Object { arn, map }),
                _ => Ok(SecretValue::NotJson { arn }),
            }
        }
        Err(e) => {
            let err = aws_error("GetSecretValue", e);
            if is_not_found(&err) {
                return Ok(SecretValue::Missing);
            }
            if err.code() == Some("InvalidRequestException") {
                match describe(client, id).await? {
                    None => return Ok(SecretValue::Missing),
                    Some(d) if d.deleted_date().is_some() => return Ok(SecretValue::Scheduled),
                    Some(_) => {}
                }
            }
            Err(err)
        }
    }
}

/// Writes a JSON object as the secret's new current value (PutSecretValue; the SDK fills
/// in the ClientRequestToken, so an SDK retry does not make a second version).
pub(crate) async fn put_json(
    client: &Client,
    id: &str,
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<(), ProviderError> {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(serde_json::Value::Object(map).to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| retry_not_found(aws_error("PutSecretValue", e)))
}

/// Symbols a generated password with `symbols` leaves out: quotes, backslash, slash, `@`,
/// backtick and the shell's `$` and `!`, which a user pasting it or a client building a
/// URL or JSON would have to escape.
const EXCLUDED_SYMBOLS: &str = "\"'\\/@`$!";

/// A generated password: GetRandomPassword, letters and digits (and symbols but
/// [`EXCLUDED_SYMBOLS`] with `symbols`), at least one of each type, no spaces.
pub(crate) async fn random_password(
    client: &Client,
    length: i64,
    symbols: bool,
) -> Result<String, ProviderError> {
    let out = client
        .get_random_password()
        .password_length(length)
        .exclude_punctuation(!symbols)
        .set_exclude_characters(symbols.then(|| EXCLUDED_SYMBOLS.to_string()))
        .include_space(false)
        .require_each_included_type(true)
        .send()
        .await
        .map_err(|e| aws_error("GetRandomPassword", e))?;
    match out.random_password() {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ProviderError::fatal("GetRandomPassword returned no password")),
    }
}

/// The master secret property `key` a database read reports: the secret the database was
/// last given (recorded in state), if any. The live database cannot tell which secret its
/// password came from; when the desired secret differs from the recorded one (the secret
/// was re-created, so its password is new), the plan shows an in-place update that sets
/// the database's password from the new secret.
pub(crate) fn recorded_master_secret(
    target: Option<&hactl_engine::ReadTarget>,
    key: &str,
) -> Option<hactl_core::Value> {
    target.and_then(|t| t.recorded.as_ref()?.get(key)).cloned()
}

/// Normalizes the master secret property `key` of a database whose read reports none
/// (nothing recorded: AWS cannot say): it is the desired one.
pub(crate) fn unrecorded_master_secret(desired: &hactl_core::Props, live: &mut hactl_core::Props, key: &str) {
    if let Some(want) = desired.get(key).filter(|_| !live.contains_key(key)) {
        live.insert(key.to_string(), want.clone());
    }
}

/// Normalizes the master secret property `key` of a database whose password its engine
/// manages (desired `manage` true): no secret of hactl's sets the password then, so the
/// secret last recorded (before management was turned on) is no difference to report.
pub(crate) fn managed_master_secret(
    desired: &hactl_core::Props,
    live: &mut hactl_core::Props,
    manage: &str,
    key: &str,
) {
    if desired.get(manage) == Some(&hactl_core::Value::Bool(true)) {
        live.insert(key.to_string(), desired.get(key).cloned().unwrap_or(hactl_core::Value::Null));
    }
}
