//! `secretsmanager.secret`: a JSON secret (`hactl/<stack>/db-credentials`) holding the
//! non-secret `initial_fields` and a generated `password`, or, with `password_length`
//! Null, the `initial_fields` only (`hactl/<stack>/db-connection`). id = secret ARN.
//!
//! Read: ListSecrets (paginated, IncludePlannedDeletion) filtered by the tag key
//! `hactl:stack` and tag value `<stack>` (each matched on its own and by prefix, so the
//! pair is checked client-side); a recorded id not listed (its tags removed) gets one
//! DescribeSecret. A secret scheduled for deletion is absent.
//!
//! Create: GetRandomPassword → CreateSecret. A name taken by our own secret (a retried
//! create), even one scheduled for deletion (RestoreSecret), is adopted with its value:
//! that value holds the password a database made from it uses.

use super::{describe, get_json, put_json, random_password, SecretValue, PASSWORD_KEY};
use crate::error::{aws_error, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};
use aws_sdk_secretsmanager::Client;
use hactl_core::kinds::secretsmanager::Secret as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Secret(pub Client);

/// The AWS-managed key Secrets Manager uses when none is given (`kms_key_id` Null).
const DEFAULT_KMS: &str = "alias/aws/secretsmanager";
const DEFAULT_PASSWORD_LENGTH: i64 = 32;
const DEFAULT_RECOVERY_WINDOW: i64 = 7;
const EXISTS: &str = "ResourceExistsException";

/// What a ListSecrets entry and a DescribeSecret answer both say.
struct Seen {
    arn: String,
    name: String,
    description: Option<String>,
    kms_key_id: Option<String>,
    deleted: bool,
    tags: BTreeMap<String, String>,
}

fn tag_pairs(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// `Seen` from a ListSecrets entry and from a DescribeSecret answer (the same accessors).
macro_rules! seen_from {
    ($($answer:ty),*) => {$(
        impl From<&$answer> for Seen {
            fn from(s: &$answer) -> Self {
                Seen {
                    arn: s.arn().unwrap_or_default().to_string(),
                    name: s.name().unwrap_or_default().to_string(),
                    description: s.description().map(str::to_string),
                    kms_key_id: s.kms_key_id().map(str::to_string),
                    deleted: s.deleted_date().is_some(),
                    tags: tag_pairs(s.tags()),
                }
            }
        }
    )*};
}

seen_from!(SecretListEntry, DescribeSecretOutput);

fn outputs(arn: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

fn is_default_kms(k: &str) -> bool {
    k.is_empty() || k == DEFAULT_KMS || k.ends_with(&format!(":{DEFAULT_KMS}"))
}

/// Whether two KMS key references name the same key: the AWS-managed key whether
/// written or left out, and `alias/x` ≡ `arn:...:alias/x`, `<key id>` ≡
/// `arn:...:key/<key id>` (suffix match either way).
fn kms_same(live: Option<&str>, desired: Option<&str>) -> bool {
    let norm = |k: Option<&str>| k.filter(|k| !is_default_kms(k)).map(str::to_string);
    match (norm(live), norm(desired)) {
        (None, None) => true,
        (Some(l), Some(d)) => {
            let suffix = |long: &str, short: &str| {
                long.ends_with(&format!(":{short}")) || long.ends_with(&format!("/{short}"))
            };
            l == d || suffix(&l, &d) || suffix(&d, &l)
        }
        _ => false,
    }
}

/// Diff suppression of `secretsmanager.secret`: `kms_key_id` is the desired reference when
/// the live one names the same key (the AWS-managed key, written or not, included), else
/// Null for the AWS-managed key; an unset description (Null) is the desired `""`.
fn normalize_secret(desired: &Props, live: &mut Props) {
    let want = desired.get(Kind::KMS_KEY_ID);
    if !want.is_some_and(Value::has_unknown) {
        let have = live.get(Kind::KMS_KEY_ID).and_then(Value::as_str);
        let kms = if kms_same(have, want.and_then(Value::as_str)) {
            want.cloned().unwrap_or(Value::Null)
        } else {
            have.filter(|k| !is_default_kms(k)).map(Value::str).unwrap_or(Value::Null)
        };
        live.insert(Kind::KMS_KEY_ID.to_string(), kms);
    }
    if desired.get(Kind::DESCRIPTION) == Some(&Value::str(""))
        && live.get(Kind::DESCRIPTION) == Some(&Value::Null)
    {
        live.insert(Kind::DESCRIPTION.to_string(), Value::str(""));
    }
}

fn opt_value(v: Option<&str>) -> Value {
    v.map(Value::str).unwrap_or(Value::Null)
}

fn tags_of(props: &Props) -> Vec<Tag> {
    tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// `initial_fields` as a JSON object; `password` is refused (the provider generates it).
fn initial_fields(props: &Props) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    let Some(m) = props.get(Kind::INITIAL_FIELDS).and_then(Value::as_map) else {
        return Ok(Default::default());
    };
    if m.contains_key(PASSWORD_KEY) {
        return Err(ProviderError::fatal(
            "secretsmanager.secret: `initial_fields` must not name `password` (it is generated)",
        ));
    }
    Ok(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// The length of the generated password; `None` when `password_length` is Null: a
/// secret that holds no password (the database connection fields).
fn password_length(props: &Props) -> Option<i64> {
    match props.get(Kind::PASSWORD_LENGTH) {
        Some(Value::Null) => None,
        Some(v) => Some(v.as_int().unwrap_or(DEFAULT_PASSWORD_LENGTH)),
        None => Some(DEFAULT_PASSWORD_LENGTH),
    }
}

/// Secrets Manager's tag calls (by secret ARN): TagResource, UntagResource.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self.tag_resource().secret_id(arn).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().secret_id(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}

impl Secret {
    /// The stack's secrets by tag (scheduled ones included, to be recognised as such).
    async fn list(&self, stack: &str) -> Result<Vec<Seen>, ProviderError> {
        let pages: Vec<_> = self
            .0
            .list_secrets()
            .include_planned_deletion(true)
            .filters(Filter::builder().key(FilterNameStringType::TagKey).values(TAG_STACK).build())
            .filters(Filter::builder().key(FilterNameStringType::TagValue).values(stack).build())
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListSecrets", e))?;
        Ok(pages.iter().flat_map(|p| p.secret_list()).map(Seen::from).collect())
    }

    /// UpdateSecret of the description and/or the key (Null = the AWS-managed key).
    async fn update_secret(
        &self,
        arn: &str,
        description: Option<String>,
        kms_key_id: Option<String>,
    ) -> Result<(), ProviderError> {
        if description.is_none() && kms_key_id.is_none() {
            return Ok(());
        }
        self.0
            .update_secret()
            .secret_id(arn)
            .set_description(description)
            .set_kms_key_id(kms_key_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("UpdateSecret", e)))
    }

    /// Converges an adopted secret: description, key, tags; a value without a password
    /// gets one. The value itself is kept.
    async fn converge(&self, seen: &Seen, props: &Props) -> Result<(), ProviderError> {
        let want_desc = opt_str(props, Kind::DESCRIPTION).unwrap_or_default();
        let description =
            (seen.description.as_deref().unwrap_or_default() != want_desc).then(|| want_desc.to_string());
        let want_kms = opt_str(props, Kind::KMS_KEY_ID);
        let kms = (!kms_same(seen.kms_key_id.as_deref(), want_kms))
            .then(|| want_kms.unwrap_or(DEFAULT_KMS).to_string());
        self.update_secret(&seen.arn, description, kms).await?;
        self.0.converge_tags(&seen.arn, &seen.tags, props).await?;
        self.ensure_password(&seen.arn, &seen.name, props).await
    }

    /// A kept value that lacks a password (or has no value at all) gets a fresh one
    /// merged in; other keys stay as they are. A secret without a password
    /// (`password_length` Null) only gets its `initial_fields` when it has no value.
    async fn ensure_password(&self, arn: &str, name: &str, props: &Props) -> Result<(), ProviderError> {
        let length = password_length(props);
        let mut map = match get_json(&self.0, arn).await? {
            SecretValue::Missing if length.is_none() => {
                return put_json(&self.0, arn, initial_fields(props)?).await
            }
            SecretValue::Object { .. } if length.is_none() => return Ok(()),
            SecretValue::Object { map, .. } => map,
            SecretValue::Missing => initial_fields(props)?,
            SecretValue::Scheduled => {
                return Err(ProviderError::retryable(format!(
                    "secret `{name}` still reads as scheduled for deletion after RestoreSecret"
                )))
            }
            SecretValue::NotJson { .. } => {
                return Err(ProviderError::fatal(format!(
                    "secret `{name}` exists and its value is not a JSON object; delete it or fix its value"
                )))
            }
        };
        if map.get(PASSWORD_KEY).and_then(serde_json::Value::as_str).is_some_and(|p| !p.is_empty()) {
            return Ok(());
        }
        let Some(length) = length else { return Ok(()) };
        let password = random_password(&self.0, length).await?;
        map.insert(PASSWORD_KEY.to_string(), serde_json::Value::String(password));
        put_json(&self.0, arn, map).await
    }

    /// The name is taken (`err` from CreateSecret): adopt our own secret, restoring it
    /// when it is scheduled for deletion; refuse anything else.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        name: &str,
        props: &Props,
        err: ProviderError,
    ) -> Result<Applied, ProviderError> {
        let Some(existing) = describe(&self.0, name).await? else {
            // "Exists" but gone since (deleted in between): the engine's retry creates it.
            // Any other create failure stands as it is.
            return Err(if err.code() == Some(EXISTS) { err.into_retryable() } else { err.into_fatal() });
        };
        let mut seen = Seen::from(&existing);
        if err.code() != Some(EXISTS) && !seen.deleted {
            return Err(err);
        }
        ensure_ours(ctx, address, &seen.tags, &format!("secret `{name}`"), EXISTS)?;
        if seen.deleted {
            ctx.progress(format!("restoring secret `{name}` (it was scheduled for deletion)"));
            self.0
                .restore_secret()
                .secret_id(&seen.arn)
                .send()
                .await
                .map_err(|e| aws_error("RestoreSecret", e))?;
            seen.deleted = false;
        } else {
            ctx.progress(format!("adopting existing secret `{name}`"));
        }
        self.converge(&seen, props).await?;
        Ok(Applied { id: seen.arn.clone(), outputs: outputs(&seen.arn, &seen.name) })
    }
}

#[async_trait]
impl Provider for Secret {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_secret(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let recorded: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let mut seen: Vec<Seen> = self
            .list(&ctx.stack)
            .await?
            .into_iter()
            .filter(|s| {
                s.tags.get(TAG_STACK).map(String::as_str) == Some(ctx.stack.as_str())
                    || recorded.contains(s.arn.as_str())
            })
            .collect();
        // Recorded secrets that lost their tags: one DescribeSecret each.
        for id in &recorded {
            if !seen.iter().any(|s| s.arn == *id || s.name == *id) {
                if let Some(d) = describe(&self.0, id).await? {
                    seen.push(Seen::from(&d));
                }
            }
        }
        let mut out = Vec::new();
        for s in seen {
            if s.deleted || s.arn.is_empty() {
                continue;
            }
            let (owned, mut address) = owner_of(&ctx.stack, &s.tags);
            if address.is_none() && !s.tags.contains_key(TAG_STACK) {
                address = targets
                    .iter()
                    .find(|t| t.id.as_deref() == Some(s.arn.as_str()))
                    .map(|t| &t.address)
                    .or_else(|| match_target(targets, |p| opt_str(p, Kind::NAME) == Some(s.name.as_str())))
                    .cloned();
            }
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(&s.name)),
                (
                    Kind::DESCRIPTION.to_string(),
                    opt_value(s.description.as_deref().filter(|d| !d.is_empty())),
                ),
                (Kind::KMS_KEY_ID.to_string(), opt_value(s.kms_key_id.as_deref())),
                (Kind::TAGS.to_string(), tags_prop(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject {
                id: s.arn.clone(),
                address,
                props,
                outputs: outputs(&s.arn, &s.name),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let mut value = initial_fields(props)?;
        if let Some(length) = password_length(props) {
            let password = random_password(&self.0, length).await?;
            value.insert(PASSWORD_KEY.to_string(), serde_json::Value::String(password));
        }
        let created = self
            .0
            .create_secret()
            .name(name)
            .set_description(opt_str(props, Kind::DESCRIPTION).map(str::to_string))
            .set_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string))
            .secret_string(serde_json::Value::Object(value).to_string())
            .set_tags(Some(tags_of(props)))
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out.arn().ok_or_else(|| ProviderError::fatal("CreateSecret returned no ARN"))?;
                Ok(Applied { id: arn.to_string(), outputs: outputs(arn, out.name().unwrap_or(name)) })
            }
            Err(e) => {
                let err = aws_error("CreateSecret", e);
                // Taken, or (InvalidRequestException) scheduled for deletion.
                if matches!(err.code(), Some(EXISTS | "InvalidRequestException")) {
                    self.adopt(ctx, address, name, props, err).await
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let (mut description, mut kms) = (None, None);
        for c in req.changes {
            match c.name.as_str() {
                Kind::DESCRIPTION => {
                    description =
                        Some(opt_str(req.desired, Kind::DESCRIPTION).unwrap_or_default().to_string())
                }
                Kind::KMS_KEY_ID => {
                    kms = Some(opt_str(req.desired, Kind::KMS_KEY_ID).unwrap_or(DEFAULT_KMS).to_string())
                }
                Kind::TAGS => {
                    self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?;
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "secretsmanager.secret cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.update_secret(req.id, description, kms).await?;
        let name = opt_str(req.desired, Kind::NAME).unwrap_or_default();
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, name) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let force = ctx.delete_options.force_delete_secrets;
        let mut call = self.0.delete_secret().secret_id(id);
        call = if force {
            call.force_delete_without_recovery(true)
        } else {
            call.recovery_window_in_days(
                recorded
                    .get(Kind::RECOVERY_WINDOW_DAYS)
                    .and_then(Value::as_int)
                    .unwrap_or(DEFAULT_RECOVERY_WINDOW),
            )
        };
        if let Err(e) = call.send().await {
            let err = aws_error("DeleteSecret", e);
            if is_not_found(&err) {
                return Ok(());
            }
            // Already scheduled for deletion: that counts as gone.
            if err.code() == Some("InvalidRequestException") {
                match describe(&self.0, id).await? {
                    None => return Ok(()),
                    Some(d) if d.deleted_date().is_some() && !force => return Ok(()),
                    Some(_) => {}
                }
            }
            return Err(err);
        }
        if force {
            // Deletion without recovery is asynchronous on AWS: wait until the name is free.
            ctx.wait_for(&format!("secret {id} to be deleted"), || async {
                Ok(describe(&self.0, id).await?.is_none().then_some(()))
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(description: Value, kms: Value) -> Props {
        Props::from([(Kind::DESCRIPTION.to_string(), description), (Kind::KMS_KEY_ID.to_string(), kms)])
    }

    #[test]
    fn the_same_key_reads_as_desired_and_the_aws_managed_key_as_null() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:alias/app";
        let cases = [
            // (desired, live as AWS says, after normalize)
            (Value::str("alias/app"), Value::str(arn), Value::str("alias/app")),
            (Value::Null, Value::Null, Value::Null),
            (Value::Null, Value::str("alias/aws/secretsmanager"), Value::Null),
            (Value::str("alias/aws/secretsmanager"), Value::Null, Value::str("alias/aws/secretsmanager")),
            (Value::Null, Value::str(arn), Value::str(arn)),
            (Value::str("alias/other"), Value::str("alias/aws/secretsmanager"), Value::Null),
            (Value::Unknown, Value::str(arn), Value::str(arn)),
        ];
        for (want, have, after) in cases {
            let mut live = props(Value::Null, have);
            normalize_secret(&props(Value::Null, want.clone()), &mut live);
            assert_eq!(live[Kind::KMS_KEY_ID], after, "desired {want:?}");
        }
    }

    #[test]
    fn an_unset_description_is_the_desired_empty_one() {
        let mut live = props(Value::Null, Value::Null);
        normalize_secret(&props(Value::str(""), Value::Null), &mut live);
        assert_eq!(live[Kind::DESCRIPTION], Value::str(""));
        let mut live = props(Value::Null, Value::Null);
        normalize_secret(&props(Value::Null, Value::Null), &mut live);
        assert_eq!(live[Kind::DESCRIPTION], Value::Null);
        let mut live = props(Value::str("x"), Value::Null);
        normalize_secret(&props(Value::str(""), Value::Null), &mut live);
        assert_eq!(live[Kind::DESCRIPTION], Value::str("x"));
    }
}
