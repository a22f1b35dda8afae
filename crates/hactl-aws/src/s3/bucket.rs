//! `s3.bucket`: a bucket of the stack, private (every public access blocked, objects owned
//! by the bucket owner, no ACLs), encrypted by default, its objects expiring after
//! `expiration_days` (incomplete uploads after a day), with its bucket policy. id = its
//! name (S3 names are global: the expansion puts the account and region in it).
//!
//! Read, per target (the stack has one bucket; S3 has no listing by name): HeadBucket
//! (404: gone; 403: the name is another account's, never this stack's) → GetBucketTagging (the
//! ownership rule) → for this stack's: GetBucketEncryption, GetPublicAccessBlock,
//! GetBucketLifecycleConfiguration, GetBucketPolicy.
//!
//! Delete empties the bucket first (every object version and delete marker,
//! ListObjectVersions + DeleteObjects, 1,000 a call), so a destroy never stops at
//! BucketNotEmpty; the bucket is the stack's and so is what it holds.

use crate::error::{aws_error, is_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectIdentifier, ObjectOwnership, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use aws_sdk_s3::Client;
use hactl_core::kinds::s3::Bucket as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Bucket {
    pub client: Client,
    /// The region the bucket is created in (the client's).
    pub region: String,
}

/// Where a bucket name is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    /// By this account.
    Here,
    /// By no one.
    None,
    /// By another account.
    Elsewhere,
}

/// The id of the lifecycle rule hactl writes.
const EXPIRE_RULE: &str = "hactl-expire";
/// DeleteObjects takes at most this many keys a call.
const DELETE_BATCH: usize = 1000;

/// The codes S3 answers for "this setting is not there" (none set yet).
const ABSENT: &[&str] = &[
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchLifecycleConfiguration",
    "NoSuchBucketPolicy",
];

fn gone(e: &ProviderError) -> bool {
    is_not_found(e) || e.code() == Some("NoSuchBucket")
}

/// A read's answer, `None` when the setting is not there; the bucket gone is an error
/// the caller sees as gone.
fn setting<T>(r: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| ABSENT.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn build_err(what: &str) -> impl Fn(aws_sdk_s3::error::BuildError) -> ProviderError + '_ {
    move |e| ProviderError::fatal(format!("{what}: {e}"))
}

fn outputs(region: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        (
            "arn".to_string(),
            Value::str(format!("arn:{}:s3:::{name}", hactl_core::location::partition(region))),
        ),
        ("name".to_string(), Value::str(name)),
    ])
}

fn map_of(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

impl Bucket {
    async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.client.get_bucket_tagging().bucket(name).send().await;
        let out = setting(out.map_err(|e| aws_error("GetBucketTagging", e)))?;
        Ok(out
            .map(|o| o.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
            .unwrap_or_default())
    }

    async fn put_tags(&self, name: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        if tags.is_empty() {
            let out = self.client.delete_bucket_tagging().bucket(name).send().await;
            return out.map(drop).map_err(|e| aws_error("DeleteBucketTagging", e));
        }
        let set = tags
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_err("tag")))
            .collect::<Result<Vec<_>, _>>()?;
        let tagging = Tagging::builder().set_tag_set(Some(set)).build().map_err(build_err("tagging"))?;
        let out = self.client.put_bucket_tagging().bucket(name).tagging(tagging).send().await;
        out.map(drop).map_err(|e| aws_error("PutBucketTagging", e))
    }

    /// Whether the bucket exists in this account, in none, or in another account. S3
    /// answers HeadBucket without a body, so the status decides: 404 none; 403 (a caller
    /// outside the owning account) and 301 (a bucket of another region: S3 names are
    /// global, and the stack's is in its own region) someone else's.
    async fn presence(&self, name: &str) -> Result<Presence, ProviderError> {
        let err = match self.client.head_bucket().bucket(name).send().await {
            Ok(_) => return Ok(Presence::Here),
            Err(e) => e,
        };
        let status = err.raw_response().map(|r| r.status().as_u16());
        if matches!(status, Some(403 | 301)) {
            return Ok(Presence::Elsewhere);
        }
        match aws_error("HeadBucket", err) {
            e if gone(&e) || status == Some(404) => Ok(Presence::None),
            e => Err(e),
        }
    }

    async fn encryption(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self.client.get_bucket_encryption().bucket(name).send().await;
        let Some(out) = setting(out.map_err(|e| aws_error("GetBucketEncryption", e)))? else {
            return Ok(Value::Null);
        };
        let default = out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(ServerSideEncryptionRule::apply_server_side_encryption_by_default);
        Ok(default.map_or(Value::Null, |d| {
            map_of(vec![
                ("algorithm", Value::str(d.sse_algorithm().as_str())),
                ("kms_key_id", d.kms_master_key_id().map_or(Value::Null, Value::str)),
            ])
        }))
    }

    async fn public_access_blocked(&self, name: &str) -> Result<bool, ProviderError> {
        let out = self.client.get_public_access_block().bucket(name).send().await;
        let out = setting(out.map_err(|e| aws_error("GetPublicAccessBlock", e)))?;
        Ok(out.and_then(|o| o.public_access_block_configuration().cloned()).is_some_and(|c| {
            [
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets(),
            ]
            .iter()
            .all(|b| *b == Some(true))
        }))
    }

    async fn expiration_days(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self.client.get_bucket_lifecycle_configuration().bucket(name).send().await;
        let out = setting(out.map_err(|e| aws_error("GetBucketLifecycleConfiguration", e)))?;
        let rule = out.as_ref().and_then(|o| {
            o.rules().iter().find(|r| r.id() == Some(EXPIRE_RULE) && r.status() == &ExpirationStatus::Enabled)
        });
        Ok(rule
            .and_then(LifecycleRule::expiration)
            .and_then(LifecycleExpiration::days)
            .map_or(Value::Null, |d| Value::Int(d.into())))
    }

    async fn policy(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self.client.get_bucket_policy().bucket(name).send().await;
        let Some(out) = setting(out.map_err(|e| aws_error("GetBucketPolicy", e)))? else {
            return Ok(Value::Null);
        };
        let json: serde_json::Value = serde_json::from_str(out.policy().unwrap_or("{}"))
            .map_err(|e| ProviderError::fatal(format!("bucket {name} has a policy that is not JSON: {e}")))?;
        Ok(Value::from_json(&json))
    }

    async fn put_public_access_block(&self, name: &str, blocked: bool) -> Result<(), ProviderError> {
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(blocked)
            .ignore_public_acls(blocked)
            .block_public_policy(blocked)
            .restrict_public_buckets(blocked)
            .build();
        let out = self
            .client
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(config)
            .send()
            .await;
        out.map(drop).map_err(|e| aws_error("PutPublicAccessBlock", e))
    }

    async fn put_encryption(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let e = props.get(Kind::ENCRYPTION).and_then(Value::as_map);
        let algorithm = e.and_then(|m| m.get("algorithm")).and_then(Value::as_str).unwrap_or("AES256");
        let key = e.and_then(|m| m.get("kms_key_id")).and_then(Value::as_str);
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm))
            .set_kms_master_key_id(key.map(str::to_string))
            .build()
            .map_err(build_err("encryption"))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .bucket_key_enabled(key.is_some())
            .build();
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(build_err("encryption"))?;
        let out = self
            .client
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(config)
            .send()
            .await;
        out.map(drop).map_err(|e| aws_error("PutBucketEncryption", e))
    }

    async fn put_lifecycle(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let Some(days) = props.get(Kind::EXPIRATION_DAYS).and_then(Value::as_int) else {
            let out = self.client.delete_bucket_lifecycle().bucket(name).send().await;
            return out.map(drop).map_err(|e| aws_error("DeleteBucketLifecycle", e));
        };
        let days = i32::try_from(days)
            .map_err(|_| ProviderError::fatal(format!("expiration_days {days} is out of range")))?;
        let rule = LifecycleRule::builder()
            .id(EXPIRE_RULE)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(LifecycleExpiration::builder().days(days).build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()
            .map_err(build_err("lifecycle rule"))?;
        let config =
            BucketLifecycleConfiguration::builder().rules(rule).build().map_err(build_err("lifecycle"))?;
        let out = self
            .client
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(config)
            .send()
            .await;
        out.map(drop).map_err(|e| aws_error("PutBucketLifecycleConfiguration", e))
    }

    async fn put_policy(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        match props.get(Kind::POLICY).filter(|p| p.as_map().is_some()) {
            Some(p) => {
                let out =
                    self.client.put_bucket_policy().bucket(name).policy(p.to_json().to_string()).send().await;
                out.map(drop).map_err(|e| aws_error("PutBucketPolicy", e))
            }
            None => {
                let out = self.client.delete_bucket_policy().bucket(name).send().await;
                out.map(drop).map_err(|e| aws_error("DeleteBucketPolicy", e))
            }
        }
    }

    /// Deletes every object version and delete marker of the bucket.
    async fn empty(&self, name: &str) -> Result<(), ProviderError> {
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(|e| aws_error("ListObjectVersions", e))?;
            let mut ids = Vec::new();
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            for (key, version) in versions.chain(markers) {
                let Some(key) = key else { continue };
                let id = ObjectIdentifier::builder()
                    .key(key)
                    // As listed, "null" included (an object written while versioning was off):
                    // without a version id a versioned bucket only gains a delete marker.
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .map_err(build_err("object"))?;
                ids.push(id);
            }
            for chunk in ids.chunks(DELETE_BATCH) {
                let delete = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(build_err("delete"))?;
                let out = self.client.delete_objects().bucket(name).delete(delete).send().await;
                let out = out.map_err(|e| aws_error("DeleteObjects", e))?;
                if let Some(err) = out.errors().first() {
                    return Err(ProviderError::retryable(format!(
                        "could not delete {} objects of bucket {name}, the first {}: {}",
                        out.errors().len(),
                        err.key().unwrap_or_default(),
                        err.message().unwrap_or_default()
                    ))
                    .with_code(err.code().unwrap_or("DeleteObjectsFailed")));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    /// Every setting of the bucket from the properties.
    async fn configure(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let blocked = props.get(Kind::PUBLIC_ACCESS_BLOCK).and_then(Value::as_bool).unwrap_or(true);
        self.put_public_access_block(name, blocked).await?;
        self.put_encryption(name, props).await?;
        self.put_lifecycle(name, props).await?;
        self.put_policy(name, props).await
    }
}

/// S3's tag calls (buckets, by name): the tag set is replaced as a whole, so each call
/// reads it first (GetBucketTagging) and writes the merged set (PutBucketTagging).
#[async_trait]
impl Tagger for Bucket {
    async fn set_tag_values(&self, name: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let mut all = self.tags(name).await?;
        all.extend(tags);
        self.put_tags(name, all).await
    }

    async fn remove_tag_keys(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let mut all = self.tags(name).await?;
        all.retain(|k, _| !keys.contains(k));
        self.put_tags(name, all).await
    }
}

#[async_trait]
impl Provider for Bucket {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::NAME])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for t in targets {
            let Some(name) = t.id.as_deref().or_else(|| t.props.get(Kind::NAME).and_then(Value::as_str))
            else {
                continue;
            };
            if out.iter().any(|o: &LiveObject| o.id == name) || self.presence(name).await? != Presence::Here {
                continue;
            }
            let tags = match self.tags(name).await {
                Err(e) if gone(&e) => continue,
                other => other?,
            };
            // An untagged bucket of this name is reported at the target's address, not
            // owned: the plan refuses to take it over.
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = Some(t.address.clone());
            }
            if !owned && address.is_none() && t.id.is_none() {
                continue;
            }
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(name)),
                (Kind::ENCRYPTION.to_string(), self.encryption(name).await?),
                (Kind::PUBLIC_ACCESS_BLOCK.to_string(), Value::Bool(self.public_access_blocked(name).await?)),
                (Kind::EXPIRATION_DAYS.to_string(), self.expiration_days(name).await?),
                (Kind::POLICY.to_string(), self.policy(name).await?),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject {
                id: name.to_string(),
                address,
                props,
                outputs: outputs(&self.region, name),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // A bucket of this name that this account holds (a create retried after a crash)
        // is ours only by its tags, then converged. Checked before CreateBucket: in
        // us-east-1 S3 answers a create of one's own bucket with success, not
        // BucketAlreadyOwnedByYou.
        let presence = self.presence(name).await?;
        if presence == Presence::Elsewhere {
            return Err(ProviderError::fatal(format!(
                "S3 bucket name `{name}` belongs to another AWS account (bucket names are global); \
                 it cannot be this stack's"
            ))
            .with_code("BucketAlreadyExists"));
        }
        if presence == Presence::Here {
            let tags = self.tags(name).await?;
            ensure_ours(ctx, address, &tags, &format!("S3 bucket `{name}`"), "BucketAlreadyOwnedByYou")?;
            self.converge_tags(name, &tags, props).await?;
            self.configure(name, props).await?;
            return Ok(Applied { outputs: outputs(&self.region, name), id: name.to_string() });
        }
        // The tags go with the create, so no crash can leave the bucket without them.
        let tags = tag_map(props)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_err("tag")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = CreateBucketConfiguration::builder().set_tags(Some(tags));
        if self.region != "us-east-1" {
            config = config.location_constraint(BucketLocationConstraint::from(self.region.as_str()));
        }
        let create = self
            .client
            .create_bucket()
            .bucket(name)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .create_bucket_configuration(config.build());
        match create.send().await.map_err(|e| aws_error("CreateBucket", e)) {
            Ok(_) => {}
            // A retried create whose first attempt went through: ours only by its tags.
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {
                let tags = self.tags(name).await?;
                ensure_ours(ctx, address, &tags, &format!("S3 bucket `{name}`"), "BucketAlreadyOwnedByYou")?;
            }
            Err(e) if e.code() == Some("BucketAlreadyExists") => {
                return Err(ProviderError::fatal(format!(
                    "S3 bucket name `{name}` was taken by another AWS account a moment ago (bucket \
                     names are global); it cannot be this stack's"
                ))
                .with_code("BucketAlreadyExists"))
            }
            Err(e) => return Err(e),
        }
        self.configure(name, props).await?;
        Ok(Applied { outputs: outputs(&self.region, name), id: name.to_string() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::ENCRYPTION => self.put_encryption(name, req.desired).await?,
                Kind::PUBLIC_ACCESS_BLOCK => {
                    let blocked =
                        req.desired.get(Kind::PUBLIC_ACCESS_BLOCK).and_then(Value::as_bool).unwrap_or(true);
                    self.put_public_access_block(name, blocked).await?;
                }
                Kind::EXPIRATION_DAYS => self.put_lifecycle(name, req.desired).await?,
                Kind::POLICY => self.put_policy(name, req.desired).await?,
                Kind::TAGS => self.sync_tags(name, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!("s3.bucket cannot update `{other}` in place")))
                }
            }
        }
        Ok(Applied { outputs: outputs(&self.region, name), id: name.to_string() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.empty(id).await {
            Err(e) if gone(&e) => return Ok(()),
            other => other?,
        }
        match self.client.delete_bucket().bucket(id).send().await.map_err(|e| aws_error("DeleteBucket", e)) {
            Err(e) if gone(&e) => Ok(()),
            // An object written while it was emptied (the last failed batch): again.
            Err(mut e) if e.code() == Some("BucketNotEmpty") => {
                e.make_retryable();
                Err(e)
            }
            other => other.map(drop),
        }
    }
}
