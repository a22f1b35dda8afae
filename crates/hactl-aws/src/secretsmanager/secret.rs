//! `secretsmanager.secret`: a JSON secret (`hactl/<stack>/db-credentials`) holding the
//! non-secret `initial_fields` and a generated `password`, or, with `password_length`
//! Null, the `initial_fields` only (`hactl/<stack>/db-connection`). id = secret ARN.
//!
//! Read: ListSecrets (paginated, IncludePlannedDeletion) filtered by the tag key
//! `hactl:stack` and tag value `<stack>` (each matched on its own and by prefix, so the
//! pair is checked client-side); a recorded id not listed (its tags removed) gets one
//! DescribeSecret. A secret scheduled for deletion is absent.
//!
//! Replicas (`replica_regions`) are read from DescribeSecret's ReplicationStatus, one call
//! per live secret of the stack, made only when a target names `replica_regions`
//! (ListSecrets does not carry it); a replica whose status is Failed reads as absent. A
//! replica of another region's secret (PrimaryRegion set and not this client's region) is
//! never this region's object: reads skip it, a create refuses to adopt it.
//!
//! Create: GetRandomPassword → CreateSecret (AddReplicaRegions). A name taken by our own
//! secret (a retried create), even one scheduled for deletion (RestoreSecret), is adopted
//! with its value: that value holds the password a database made from it uses.
//!
//! Delete: RemoveRegionsFromReplication of every replica first (AWS refuses to delete a
//! primary that has replicas), then DeleteSecret.

use super::{describe, get_json, put_json, random_password, SecretValue, PASSWORD_KEY};
use crate::error::retry_codes;
use crate::error::{aws_error, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, str_list, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType, ReplicaRegionType, ReplicationStatusType, SecretListEntry, StatusType, Tag,
};
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
const INVALID_PARAMETER: &str = "InvalidParameterException";

/// A replica region as DescribeSecret's ReplicationStatus lists it.
struct Replica {
    region: String,
    /// Status Failed: it reads as absent, and an update removes and adds it again.
    failed: bool,
    /// AWS's StatusMessage (why it failed); for the debug log only.
    message: Option<String>,
}

impl From<&ReplicationStatusType> for Replica {
    fn from(s: &ReplicationStatusType) -> Self {
        Replica {
            region: s.region().unwrap_or_default().to_string(),
            failed: s.status() == Some(&StatusType::Failed),
            message: s.status_message().map(str::to_string),
        }
    }
}

/// What a ListSecrets entry and a DescribeSecret answer both say.
struct Seen {
    arn: String,
    name: String,
    description: Option<String>,
    kms_key_id: Option<String>,
    deleted: bool,
    tags: BTreeMap<String, String>,
    /// The primary's region, when this secret is a replica (AWS may also name a primary's
    /// own region here).
    primary_region: Option<String>,
    /// Its replicas: DescribeSecret only (`None` from ListSecrets, which lacks them).
    replicas: Option<Vec<Replica>>,
}

impl Seen {
    /// The primary's region when this is a replica of a secret of another region:
    /// PrimaryRegion set and not `here` (the client's region; the secret's own ARN region
    /// when the client has none).
    fn replica_of(&self, here: Option<&str>) -> Option<&str> {
        let here = here.or_else(|| arn_region(&self.arn));
        self.primary_region.as_deref().filter(|p| Some(*p) != here)
    }

    /// The replica regions that are not Failed (described secrets only).
    fn live_regions(&self) -> Option<BTreeSet<String>> {
        let replicas = self.replicas.as_ref()?;
        Some(
            replicas.iter().filter(|r| !r.failed && !r.region.is_empty()).map(|r| r.region.clone()).collect(),
        )
    }
}

/// The region of an ARN (`arn:aws:secretsmanager:<region>:...`).
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The ARN of the replica in `region` of the secret `arn`: AWS keeps the name and suffix,
/// only the region differs.
pub fn arn_in(arn: &str, region: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    match parts.as_slice() {
        [arn, partition, service, _, rest] => Some(format!("{arn}:{partition}:{service}:{region}:{rest}")),
        _ => None,
    }
}

fn no_replicas(_: &SecretListEntry) -> Option<Vec<Replica>> {
    None
}

fn replicas_of(d: &DescribeSecretOutput) -> Option<Vec<Replica>> {
    Some(d.replication_status().iter().map(Replica::from).collect())
}

fn tag_pairs(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// `Seen` from a ListSecrets entry and from a DescribeSecret answer (the same accessors).
macro_rules! seen_from {
    ($($answer:ty => $replicas:path),*) => {$(
        impl From<&$answer> for Seen {
            fn from(s: &$answer) -> Self {
                Seen {
                    arn: s.arn().unwrap_or_default().to_string(),
                    name: s.name().unwrap_or_default().to_string(),
                    description: s.description().map(str::to_string),
                    kms_key_id: s.kms_key_id().map(str::to_string),
                    deleted: s.deleted_date().is_some(),
                    tags: tag_pairs(s.tags()),
                    primary_region: s.primary_region().map(str::to_string),
                    replicas: $replicas(s),
                }
            }
        }
    )*};
}

seen_from!(SecretListEntry => no_replicas, DescribeSecretOutput => replicas_of);

/// `arn`, `name`, and `arn_in_<region>` (the replica's ARN) for each replica region.
fn outputs<'a>(
    arn: &str,
    name: &str,
    regions: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, Value> {
    let mut out =
        BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))]);
    for region in regions {
        if let Some(replica) = arn_in(arn, region) {
            out.insert(Kind::arn_in(region), Value::str(replica));
        }
    }
    out
}

/// The desired replica regions; `None` when `replica_regions` is not set (not managed:
/// a create makes none, an adoption leaves them as they are).
fn replica_regions(props: &Props) -> Option<BTreeSet<String>> {
    props
        .contains_key(Kind::REPLICA_REGIONS)
        .then(|| str_list(props, Kind::REPLICA_REGIONS).into_iter().collect())
}

fn replica_types<'a>(regions: impl IntoIterator<Item = &'a String>) -> Option<Vec<ReplicaRegionType>> {
    let types: Vec<_> = regions.into_iter().map(|r| ReplicaRegionType::builder().region(r).build()).collect();
    (!types.is_empty()).then_some(types)
}

/// Logs the replica regions AWS answers as Failed (a create's or an update's answer).
fn log_failed(name: &str, statuses: &[ReplicationStatusType]) {
    for r in statuses.iter().map(Replica::from).filter(|r| r.failed) {
        tracing::warn!(
            secret = name,
            region = %r.region,
            status_message = r.message.as_deref().unwrap_or_default(),
            "replication of the secret failed"
        );
    }
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
/// Null for the AWS-managed key; an unset description (Null) is the desired `""`;
/// `replica_regions` unset or empty live is the desired Null or `[]` (no replicas).
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
    let none =
        |v: Option<&Value>| v.is_none_or(|v| *v == Value::Null || v.as_list().is_some_and(<[_]>::is_empty));
    if let Some(want) = desired.get(Kind::REPLICA_REGIONS) {
        if none(Some(want)) && none(live.get(Kind::REPLICA_REGIONS)) {
            live.insert(Kind::REPLICA_REGIONS.to_string(), want.clone());
        }
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

/// Whether the generated password holds symbols too (`password_symbols`; a service that
/// requires one, such as OpenSearch's master user).
fn symbols(props: &Props) -> bool {
    props.get(Kind::PASSWORD_SYMBOLS).and_then(Value::as_bool) == Some(true)
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
    /// The region this provider's client works in.
    fn here(&self) -> Option<&str> {
        self.0.config().region().map(|r| r.as_ref())
    }

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

    /// The secrets of `seen` that are not yet described, described (concurrently, one
    /// DescribeSecret each) for their replicas; those gone or scheduled since are dropped.
    async fn described(&self, seen: Vec<Seen>) -> Result<Vec<Seen>, ProviderError> {
        let all = futures::future::try_join_all(seen.into_iter().map(|s| async move {
            if s.replicas.is_some() {
                return Ok(Some(s));
            }
            Ok::<_, ProviderError>(describe(&self.0, &s.arn).await?.map(|d| Seen::from(&d)))
        }))
        .await?;
        Ok(all.into_iter().flatten().filter(|s| !s.deleted).collect())
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

    /// Makes the replicas of `arn` the regions of `want`, from `live` (as DescribeSecret
    /// answered): RemoveRegionsFromReplication of the regions not wanted and of the Failed
    /// ones (so that they are tried again), then ReplicateSecretToRegions of the wanted
    /// regions without a replica. Replicas use their region's AWS-managed key.
    async fn sync_replicas(
        &self,
        ctx: &Ctx,
        arn: &str,
        live: &[Replica],
        want: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        let remove: Vec<String> =
            live.iter().filter(|r| r.failed || !want.contains(&r.region)).map(|r| r.region.clone()).collect();
        let present: BTreeSet<&str> = live.iter().filter(|r| !r.failed).map(|r| r.region.as_str()).collect();
        let add: Vec<&String> = want.iter().filter(|r| !present.contains(r.as_str())).collect();
        if !remove.is_empty() {
            ctx.progress(format!("removing the replicas of the secret in {}", remove.join(", ")));
            self.0
                .remove_regions_from_replication()
                .secret_id(arn)
                .set_remove_replica_regions(Some(remove))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("RemoveRegionsFromReplication", e)))?;
        }
        if let Some(regions) = replica_types(add.iter().copied()) {
            let names: Vec<&str> = add.iter().map(|r| r.as_str()).collect();
            ctx.progress(format!("replicating the secret to {}", names.join(", ")));
            let out = self
                .0
                .replicate_secret_to_regions()
                .secret_id(arn)
                .set_add_replica_regions(Some(regions))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("ReplicateSecretToRegions", e)))?;
            log_failed(arn, out.replication_status());
        }
        Ok(())
    }

    /// Converges an adopted secret: description, key, tags, replicas (when desired names
    /// them); a value without a password gets one. The value itself is kept.
    async fn converge(&self, ctx: &Ctx, seen: &Seen, props: &Props) -> Result<(), ProviderError> {
        let want_desc = opt_str(props, Kind::DESCRIPTION).unwrap_or_default();
        let description =
            (seen.description.as_deref().unwrap_or_default() != want_desc).then(|| want_desc.to_string());
        let want_kms = opt_str(props, Kind::KMS_KEY_ID);
        let kms = (!kms_same(seen.kms_key_id.as_deref(), want_kms))
            .then(|| want_kms.unwrap_or(DEFAULT_KMS).to_string());
        self.update_secret(&seen.arn, description, kms).await?;
        self.0.converge_tags(&seen.arn, &seen.tags, props).await?;
        if let Some(want) = replica_regions(props) {
            let live = seen.replicas.as_deref().unwrap_or_default();
            self.sync_replicas(ctx, &seen.arn, live, &want).await?;
        }
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
        let password = random_password(&self.0, length, symbols(props)).await?;
        map.insert(PASSWORD_KEY.to_string(), serde_json::Value::String(password));
        put_json(&self.0, arn, map).await
    }

    /// The name is taken (`err` from CreateSecret): adopt our own secret, restoring it
    /// when it is scheduled for deletion; refuse anything else, a replica of another
    /// region's secret included.
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
        if let Some(primary) = seen.replica_of(self.here()) {
            return Err(ProviderError::fatal(format!(
                "secret `{name}` already exists here as a replica of the secret in {primary}; a replica \
                 is not this region's secret (remove this region from the primary's replica regions, \
                 or promote the replica)"
            ))
            .with_code(EXISTS));
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
        self.converge(ctx, &seen, props).await?;
        let regions = replica_regions(props).or_else(|| seen.live_regions()).unwrap_or_default();
        Ok(Applied { id: seen.arn.clone(), outputs: outputs(&seen.arn, &seen.name, &regions) })
    }

    /// DeleteSecret, as the delete options say; gone or scheduled for deletion = done.
    async fn delete_secret(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
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

    /// Removes every replica of `id` (DescribeSecret, then RemoveRegionsFromReplication of
    /// all its regions, Failed ones included); whether there was any.
    async fn unreplicate(&self, ctx: &Ctx, id: &str) -> Result<bool, ProviderError> {
        let Some(d) = describe(&self.0, id).await? else { return Ok(false) };
        let live = replicas_of(&d).unwrap_or_default();
        if live.is_empty() {
            return Ok(false);
        }
        self.sync_replicas(ctx, id, &live, &BTreeSet::new()).await?;
        Ok(true)
    }
}

/// The props a read reports for `s` (`replica_regions` only when it was described).
fn live_props(s: &Seen) -> Props {
    let mut props = Props::from([
        (Kind::NAME.to_string(), Value::str(&s.name)),
        (Kind::DESCRIPTION.to_string(), opt_value(s.description.as_deref().filter(|d| !d.is_empty()))),
        (Kind::KMS_KEY_ID.to_string(), opt_value(s.kms_key_id.as_deref())),
        (Kind::TAGS.to_string(), tags_prop(s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
    ]);
    if let Some(regions) = s.live_regions() {
        props.insert(Kind::REPLICA_REGIONS.to_string(), Value::from_strings(regions));
    }
    for r in s.replicas.iter().flatten().filter(|r| r.failed) {
        tracing::debug!(
            secret = %s.name,
            region = %r.region,
            status_message = r.message.as_deref().unwrap_or_default(),
            "the secret's replica failed: it reads as absent"
        );
    }
    props
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
        // Replicas of another region's secret carry its tags: never this region's objects.
        seen.retain(|s| match s.replica_of(self.here()) {
            Some(primary) => {
                tracing::debug!(secret = %s.name, primary_region = primary, "skipping a replica secret");
                false
            }
            None => !s.deleted && !s.arn.is_empty(),
        });
        // ListSecrets does not say which replicas a secret has: DescribeSecret says, when
        // some target manages them.
        if targets.iter().any(|t| t.props.contains_key(Kind::REPLICA_REGIONS)) {
            seen = self.described(seen).await?;
        }
        let mut out = Vec::new();
        for s in seen {
            let (owned, mut address) = owner_of(&ctx.stack, &s.tags);
            if address.is_none() && !s.tags.contains_key(TAG_STACK) {
                address = targets
                    .iter()
                    .find(|t| t.id.as_deref() == Some(s.arn.as_str()))
                    .map(|t| &t.address)
                    .or_else(|| match_target(targets, |p| opt_str(p, Kind::NAME) == Some(s.name.as_str())))
                    .cloned();
            }
            let regions = s.live_regions().unwrap_or_default();
            out.push(LiveObject {
                id: s.arn.clone(),
                address,
                props: live_props(&s),
                outputs: outputs(&s.arn, &s.name, &regions),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let regions = replica_regions(props).unwrap_or_default();
        if let Some(here) = self.here().filter(|h| regions.contains(*h)) {
            return Err(ProviderError::fatal(format!(
                "secretsmanager.secret `{name}`: `replica_regions` names {here}, the secret's own region"
            )));
        }
        let mut value = initial_fields(props)?;
        if let Some(length) = password_length(props) {
            let password = random_password(&self.0, length, symbols(props)).await?;
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
            .set_add_replica_regions(replica_types(&regions))
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out.arn().ok_or_else(|| ProviderError::fatal("CreateSecret returned no ARN"))?;
                log_failed(name, out.replication_status());
                Ok(Applied {
                    id: arn.to_string(),
                    outputs: outputs(arn, out.name().unwrap_or(name), &regions),
                })
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

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let (mut description, mut kms, mut replicas) = (None, None, false);
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
                Kind::REPLICA_REGIONS => replicas = true,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "secretsmanager.secret cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.update_secret(req.id, description, kms).await?;
        let want = replica_regions(req.desired);
        if let Some(want) = want.as_ref().filter(|_| replicas) {
            // The live replicas, Failed ones included (the read reports those as absent).
            let live = describe(&self.0, req.id)
                .await?
                .ok_or_else(|| ProviderError::retryable(format!("secret {} not found", req.id)))?;
            let live = replicas_of(&live).unwrap_or_default();
            self.sync_replicas(ctx, req.id, &live, want).await?;
        }
        let name = opt_str(req.desired, Kind::NAME).unwrap_or_default();
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, name, want.iter().flatten()) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        // AWS refuses to delete a primary that has replicas: remove them first (those
        // recorded, and those added since, found when DeleteSecret refuses).
        if !str_list(recorded, Kind::REPLICA_REGIONS).is_empty() {
            self.unreplicate(ctx, id).await?;
        }
        match self.delete_secret(ctx, id, recorded).await {
            Err(e) if e.code() == Some(INVALID_PARAMETER) => {
                if !self.unreplicate(ctx, id).await? {
                    return Err(e);
                }
                // The removal may take a moment to settle.
                let again = self.delete_secret(ctx, id, recorded).await;
                again.map_err(|e| retry_codes(e, &[INVALID_PARAMETER]))
            }
            done => done,
        }
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
    fn the_replica_arn_is_the_primary_arn_in_its_region() {
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:hactl/s/db-credentials-AbCdEf";
        assert_eq!(
            arn_in(arn, "us-west-2").as_deref(),
            Some("arn:aws:secretsmanager:us-west-2:111122223333:secret:hactl/s/db-credentials-AbCdEf")
        );
        assert_eq!(arn_in("not-an-arn", "us-west-2"), None);
        let out = outputs(arn, "hactl/s/db-credentials", &BTreeSet::from(["us-west-2".to_string()]));
        assert_eq!(out.keys().map(String::as_str).collect::<Vec<_>>(), ["arn", "arn_in_us-west-2", "name"]);
        assert_eq!(Kind::arn_in("us-west-2"), "arn_in_us-west-2");
    }

    #[test]
    fn a_secret_whose_primary_is_elsewhere_is_a_replica() {
        let seen = |arn: &str, primary: Option<&str>| Seen {
            arn: arn.to_string(),
            name: "n".to_string(),
            description: None,
            kms_key_id: None,
            deleted: false,
            tags: BTreeMap::new(),
            primary_region: primary.map(str::to_string),
            replicas: None,
        };
        let west = "arn:aws:secretsmanager:us-west-2:1:secret:n-x";
        assert_eq!(seen(west, Some("us-east-1")).replica_of(Some("us-west-2")), Some("us-east-1"));
        assert_eq!(seen(west, Some("us-east-1")).replica_of(None), Some("us-east-1"), "by its ARN");
        assert_eq!(seen(west, Some("us-west-2")).replica_of(Some("us-west-2")), None, "a primary");
        assert_eq!(seen(west, None).replica_of(Some("us-west-2")), None);
    }

    #[test]
    fn failed_replicas_read_as_absent_and_no_replicas_is_the_desired_none() {
        let mut s = Seen::from(
            &DescribeSecretOutput::builder()
                .arn("arn:aws:secretsmanager:us-east-1:1:secret:n-x")
                .name("n")
                .replication_status(
                    ReplicationStatusType::builder().region("us-west-2").status(StatusType::InSync).build(),
                )
                .replication_status(
                    ReplicationStatusType::builder()
                        .region("eu-west-1")
                        .status(StatusType::Failed)
                        .status_message("Replication failed: name taken")
                        .build(),
                )
                .build(),
        );
        assert_eq!(live_props(&s)[Kind::REPLICA_REGIONS], Value::from_strings(["us-west-2"]));
        s.replicas = Some(Vec::new());
        let empty = live_props(&s);
        assert_eq!(empty[Kind::REPLICA_REGIONS], Value::List(vec![]));
        for want in [Value::Null, Value::List(vec![])] {
            let desired = Props::from([(Kind::REPLICA_REGIONS.to_string(), want.clone())]);
            let mut live = empty.clone();
            normalize_secret(&desired, &mut live);
            assert_eq!(live[Kind::REPLICA_REGIONS], want);
        }
        let desired = Props::from([(Kind::REPLICA_REGIONS.to_string(), Value::from_strings(["us-west-2"]))]);
        let mut live = empty.clone();
        normalize_secret(&desired, &mut live);
        assert_eq!(live[Kind::REPLICA_REGIONS], Value::List(vec![]), "a missing replica stays drift");
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
