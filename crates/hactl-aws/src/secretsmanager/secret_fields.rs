//! `secretsmanager.secret_fields`: the non-secret keys of a JSON secret that depend on
//! other resources (a database endpoint exists only after the database). id = the secret
//! ARN.
//!
//! Read: GetSecretValue per target (documented exception: one per resource; a stack has
//! one), reporting every key of the JSON object but `password` (never read into props);
//! `normalize` keeps the keys the desired `fields` names (missing → Null). A secret that is
//! gone or scheduled for deletion is absent. Create/update merge `fields`
//! into the JSON object (other keys, i.e. the password, untouched); delete removes them.

use super::{get_json, put_json, SecretValue, PASSWORD_KEY};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use hactl_core::kinds::secretsmanager::SecretFields as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct SecretFields(pub Client);

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("secret_arn".to_string(), Value::str(arn))])
}

/// The `fields` map; `password` is refused (it belongs to `secretsmanager.secret`).
fn fields(props: &Props) -> Result<BTreeMap<String, Value>, ProviderError> {
    let m = props.get(Kind::FIELDS).and_then(Value::as_map).cloned().unwrap_or_default();
    if m.contains_key(PASSWORD_KEY) {
        return Err(ProviderError::fatal(
            "secretsmanager.secret_fields: `fields` must not name `password` (the secret's generated \
             password is never written from properties)",
        ));
    }
    Ok(m)
}

/// Diff suppression of `secretsmanager.secret_fields`: `fields` is the keys the desired
/// map names (a key the secret lacks is Null); the secret's other keys are not this
/// resource's.
fn project_fields(desired: &Props, live: &mut Props) {
    let Some(want) = desired.get(Kind::FIELDS).and_then(Value::as_map) else { return };
    let Some(Value::Map(have)) = live.get_mut(Kind::FIELDS) else { return };
    *have = want.keys().map(|k| (k.clone(), have.remove(k).unwrap_or(Value::Null))).collect();
}

impl SecretFields {
    /// GetSecretValue → `change` on the JSON object → PutSecretValue when it changed.
    /// Answers the secret's ARN, or None when the secret is gone or scheduled for
    /// deletion (`absent_ok`; else an error).
    async fn rewrite(
        &self,
        id: &str,
        absent_ok: bool,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Result<Option<String>, ProviderError> {
        match get_json(&self.0, id).await? {
            SecretValue::Object { arn, mut map } => {
                let before = map.clone();
                change(&mut map);
                if map != before {
                    put_json(&self.0, &arn, map).await?;
                }
                Ok(Some(arn))
            }
            SecretValue::Missing if absent_ok => Ok(None),
            SecretValue::Scheduled if absent_ok => Ok(None),
            // A secret created moments ago may not be visible yet: the engine retries.
            SecretValue::Missing => Err(ProviderError::retryable(format!("secret {id} not found"))
                .with_code("ResourceNotFoundException")),
            SecretValue::Scheduled => Err(ProviderError::fatal(format!(
                "secret {id} is scheduled for deletion; restore it (apply its secretsmanager.secret) first"
            ))),
            SecretValue::NotJson { .. } if absent_ok => Ok(None),
            SecretValue::NotJson { .. } => {
                Err(ProviderError::fatal(format!("secret {id} does not hold a JSON object")))
            }
        }
    }

    async fn merge(&self, id: &str, props: &Props) -> Result<Applied, ProviderError> {
        let want = fields(props)?;
        let arn = self
            .rewrite(id, false, |map| {
                for (k, v) in &want {
                    map.insert(k.clone(), v.to_json());
                }
            })
            .await?
            .unwrap_or_else(|| id.to_string());
        Ok(Applied { id: arn.clone(), outputs: outputs(&arn) })
    }
}

#[async_trait]
impl Provider for SecretFields {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        project_fields(desired, live);
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for t in targets {
            let Some(id) = t.id.as_deref().or_else(|| t.props.get(Kind::SECRET_ID).and_then(Value::as_str))
            else {
                continue; // the secret does not exist yet
            };
            let (arn, live) = match get_json(&self.0, id).await? {
                SecretValue::Missing | SecretValue::Scheduled => continue,
                SecretValue::Object { arn, map } => (arn, Some(map)),
                SecretValue::NotJson { arn } => (arn, None),
            };
            // Every key but the password, which is never read into props.
            let fields: BTreeMap<String, Value> = live
                .iter()
                .flatten()
                .filter(|(k, _)| *k != PASSWORD_KEY)
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect();
            let props = Props::from([
                (Kind::SECRET_ID.to_string(), Value::str(&arn)),
                (Kind::FIELDS.to_string(), Value::Map(fields)),
            ]);
            out.push(super::target_object(t, &arn, props));
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        self.merge(req_str(props, Kind::SECRET_ID)?, props).await
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        super::only_in_place(Kind::KIND, req.changes, Kind::FIELDS)?;
        self.merge(req.id, req.desired).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let keys: Vec<String> = recorded
            .get(Kind::FIELDS)
            .and_then(Value::as_map)
            .map(|m| m.keys().filter(|k| *k != PASSWORD_KEY).cloned().collect())
            .unwrap_or_default();
        if keys.is_empty() {
            return Ok(());
        }
        match self
            .rewrite(id, true, |map| {
                for k in &keys {
                    map.remove(k);
                }
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::error::is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_desired_keys_are_compared_a_missing_one_is_null() {
        let desired = Props::from([(
            Kind::FIELDS.to_string(),
            Value::Map(BTreeMap::from([("host".into(), Value::Unknown), ("port".into(), Value::Int(5432))])),
        )]);
        let mut live = Props::from([(
            Kind::FIELDS.to_string(),
            Value::from_string_map([("host", "db.example"), ("username", "app")]),
        )]);
        project_fields(&desired, &mut live);
        let want = BTreeMap::from([
            ("host".to_string(), Value::str("db.example")),
            ("port".to_string(), Value::Null),
        ]);
        assert_eq!(live[Kind::FIELDS], Value::Map(want));
    }
}
