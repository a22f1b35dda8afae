//! `ecr.repository`: a private ECR repository. id = its ARN
//! (`arn:aws:ecr:<region>:<registry id>:repository/<name>`).
//!
//! Read: DescribeRepositories (paginated, once per refresh) → each repository's tags from the
//! stack's tag index ([`crate::tagging`], one GetResources per refresh and region, shared by
//! every kind: the listing carries no tags, and a repository's name says nothing of its
//! stack); ListTagsForResource (8 at a time) only for a repository the index does not hold
//! whose ARN state records or whose name a target names, or one it holds whose ARN state
//! does not record (to be adopted: its own tags decide) or records with other tags
//! ([`crate::tagging::TagIndex::lookup`]); any other repository of the region costs no call → the stack's ones (its `hactl:stack` tag, or its ARN recorded in state)
//! and untagged ones a target names (a conflict for the planner) → GetLifecyclePolicy each
//! of those.
//!
//! Delete: DeleteRepository, with `force` only when the recorded `force_delete` is true. A
//! repository that still holds images is refused with a Conflict naming the repository
//! and its image count (one ListImages listing).

use crate::error::{aws_error, found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_bool, opt_str, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository as Repo, Tag,
};
use aws_sdk_ecr::Client;
use futures::{StreamExt, TryStreamExt};
use hactl_core::kinds::ecr::Repository as Kind;
use hactl_core::{Address, KindSchema, PropChange, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Repository(pub Client, pub crate::tagging::Tagging);

/// AWS's choices for what the config leaves unset (Null).
const DEFAULT_MUTABILITY: &str = "MUTABLE";
const DEFAULT_ENCRYPTION: &str = "AES256";
const KMS: &str = "KMS";
const EXISTS: &str = "RepositoryAlreadyExistsException";
const NOT_EMPTY: &str = "RepositoryNotEmptyException";
/// Per-repository calls of a read run this many at a time.
const CONCURRENCY: usize = 8;

/// A repository as DescribeRepositories answers it, with its tags.
struct Seen {
    arn: String,
    name: String,
    registry_id: String,
    uri: String,
    mutability: String,
    scan_on_push: bool,
    encryption_type: String,
    kms_key: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Seen {
    fn new(r: &Repo, tags: BTreeMap<String, String>) -> Seen {
        let enc = r.encryption_configuration();
        Seen {
            arn: r.repository_arn().unwrap_or_default().to_string(),
            name: r.repository_name().unwrap_or_default().to_string(),
            registry_id: r.registry_id().unwrap_or_default().to_string(),
            uri: r.repository_uri().unwrap_or_default().to_string(),
            mutability: r.image_tag_mutability().map_or(DEFAULT_MUTABILITY, |m| m.as_str()).to_string(),
            scan_on_push: r.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
            encryption_type: enc.map_or(DEFAULT_ENCRYPTION, |e| e.encryption_type().as_str()).to_string(),
            kms_key: enc.and_then(|e| e.kms_key()).map(str::to_string),
            tags,
        }
    }

    fn outputs(&self) -> BTreeMap<String, Value> {
        let mut out = outputs(&self.arn);
        out.insert("repository_uri".to_string(), Value::str(&self.uri));
        out
    }

    /// The properties AWS reports (no `force_delete`: AWS has no such setting).
    fn props(&self, lifecycle_policy: Option<String>) -> Props {
        Props::from([
            (Kind::NAME.to_string(), Value::str(&self.name)),
            (Kind::IMAGE_TAG_MUTABILITY.to_string(), Value::str(&self.mutability)),
            (Kind::SCAN_ON_PUSH.to_string(), Value::Bool(self.scan_on_push)),
            (Kind::ENCRYPTION_TYPE.to_string(), Value::str(&self.encryption_type)),
            (Kind::KMS_KEY.to_string(), self.kms_key.as_deref().map_or(Value::Null, Value::str)),
            (Kind::LIFECYCLE_POLICY.to_string(), lifecycle_policy.map_or(Value::Null, Value::str)),
            (Kind::TAGS.to_string(), tags_prop(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
        ])
    }
}

/// The registry id and repository name of an ARN id; a bare name has no registry id
/// (the caller's registry).
fn parse_id(id: &str) -> (Option<String>, &str) {
    match id.split_once(":repository/") {
        Some((head, name)) => (head.rsplit(':').next().map(str::to_string), name),
        None => (None, id),
    }
}

/// `arn`, `name` and `registry_id` (an update's answer; the read and create add
/// `repository_uri`, which the engine keeps from them).
fn outputs(arn: &str) -> BTreeMap<String, Value> {
    let (registry, name) = parse_id(arn);
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("name".to_string(), Value::str(name)),
        ("registry_id".to_string(), Value::str(registry.unwrap_or_default())),
    ])
}

fn ecr_tags(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::fatal(format!("ECR tag: {e}")))
        })
        .collect()
}

fn is_alias(key: &str) -> bool {
    key.starts_with("alias/") || key.contains(":alias/")
}

/// Whether the live key (as DescribeRepositories answers it: a key ARN) is the desired
/// reference: the same text, `<key id>` ≡ `arn:...:key/<key id>`, `alias/x` ≡
/// `arn:...:alias/x`; a desired alias against a live key ARN cannot be told apart without
/// KMS, and the key cannot change in place anyway: the same.
fn kms_same(have: &str, want: &str) -> bool {
    let suffix = |long: &str, short: &str| {
        long.ends_with(&format!(":{short}")) || long.ends_with(&format!("/{short}"))
    };
    have == want || suffix(have, want) || suffix(want, have) || (is_alias(want) && !is_alias(have))
}

/// Two lifecycle policy documents mean the same: both parse as JSON and are equal.
fn same_json(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Diff suppression of `ecr.repository` (KINDS-ecr.md): AWS's defaults read as an unset
/// (Null) desired value; `kms_key` Null desired is AWS's choice (any live key), else the
/// desired reference when the live key is the same one; a lifecycle policy that parses
/// to the same JSON is the desired text; `force_delete` (no AWS setting) is the desired
/// value when state recorded none.
fn normalize_repository(desired: &Props, live: &mut Props) {
    let defaults = [
        (Kind::IMAGE_TAG_MUTABILITY, Value::str(DEFAULT_MUTABILITY)),
        (Kind::SCAN_ON_PUSH, Value::Bool(false)),
        (Kind::ENCRYPTION_TYPE, Value::str(DEFAULT_ENCRYPTION)),
    ];
    for (key, default) in defaults {
        if desired.get(key) == Some(&Value::Null) && live.get(key) == Some(&default) {
            live.insert(key.to_string(), Value::Null);
        }
    }
    let have = live.get(Kind::KMS_KEY).and_then(Value::as_str);
    match desired.get(Kind::KMS_KEY) {
        Some(Value::Null) => {
            live.insert(Kind::KMS_KEY.to_string(), Value::Null);
        }
        Some(Value::Str(want)) if have.is_some_and(|have| kms_same(have, want)) => {
            live.insert(Kind::KMS_KEY.to_string(), Value::str(want));
        }
        _ => {}
    }
    if let Some(want) = desired.get(Kind::LIFECYCLE_POLICY).filter(|w| !w.has_unknown()) {
        let have = live.get(Kind::LIFECYCLE_POLICY).and_then(Value::as_str);
        let same = match (want, have) {
            (Value::Str(w), Some(h)) => same_json(w, h),
            (Value::Map(_), Some(h)) => {
                serde_json::from_str::<serde_json::Value>(h).is_ok_and(|j| j == want.to_json())
            }
            _ => false,
        };
        if same {
            live.insert(Kind::LIFECYCLE_POLICY.to_string(), want.clone());
        }
    }
    if let Some(want) = desired.get(Kind::FORCE_DELETE).filter(|_| !live.contains_key(Kind::FORCE_DELETE)) {
        live.insert(Kind::FORCE_DELETE.to_string(), want.clone());
    }
}

/// The desired lifecycle policy text (a JSON string, or a map written as JSON); `None`
/// for none.
fn lifecycle_text(props: &Props) -> Result<Option<String>, ProviderError> {
    match props.get(Kind::LIFECYCLE_POLICY) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(v @ Value::Map(_)) => Ok(Some(v.to_json().to_string())),
        Some(other) => Err(ProviderError::fatal(format!(
            "ecr.repository: `lifecycle_policy` must be a JSON string, not {other:?}"
        ))),
    }
}

fn mutability(props: &Props) -> ImageTagMutability {
    ImageTagMutability::from(opt_str(props, Kind::IMAGE_TAG_MUTABILITY).unwrap_or(DEFAULT_MUTABILITY))
}

fn scanning(props: &Props) -> ImageScanningConfiguration {
    ImageScanningConfiguration::builder()
        .scan_on_push(opt_bool(props, Kind::SCAN_ON_PUSH).unwrap_or(false))
        .build()
}

/// The desired encryption type and key; a key without the KMS type is refused.
fn encryption(props: &Props) -> Result<(String, Option<String>), ProviderError> {
    let kind = opt_str(props, Kind::ENCRYPTION_TYPE).unwrap_or(DEFAULT_ENCRYPTION).to_string();
    let key = opt_str(props, Kind::KMS_KEY).map(str::to_string);
    if key.is_some() && kind != KMS {
        return Err(ProviderError::fatal(format!(
            "ecr.repository: `kms_key` needs `encryption_type = \"{KMS}\"` (it is {kind})"
        )));
    }
    Ok((kind, key))
}

/// ECR's tag calls (repositories, by ARN): TagResource, UntagResource.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(ecr_tags(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}

impl Repository {
    /// Every repository of the registry and region (DescribeRepositories, paginated).
    async fn list(&self) -> Result<Vec<Repo>, ProviderError> {
        let pages = self.0.describe_repositories().into_paginator().items().send().try_collect().await;
        pages.map_err(|e| aws_error("DescribeRepositories", e))
    }

    /// One repository by name; `None` when it does not exist.
    async fn describe(&self, name: &str) -> Result<Option<Repo>, ProviderError> {
        let out = self.0.describe_repositories().repository_names(name).send().await;
        let out = found(out.map_err(|e| aws_error("DescribeRepositories", e)))?;
        Ok(out.and_then(|o| o.repositories().first().cloned()))
    }

    /// A repository's tags; `None` when it is gone.
    async fn tags(&self, arn: &str) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        let out = self.0.list_tags_for_resource().resource_arn(arn).send().await;
        let out = found(out.map_err(|e| aws_error("ListTagsForResource", e)))?;
        Ok(out.map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()))
    }

    /// The lifecycle policy text; `None` when there is none
    /// (LifecyclePolicyNotFoundException) or the repository is gone.
    async fn lifecycle(&self, name: &str, registry: Option<String>) -> Result<Option<String>, ProviderError> {
        let out = self.0.get_lifecycle_policy().repository_name(name).set_registry_id(registry).send().await;
        let out = found(out.map_err(|e| aws_error("GetLifecyclePolicy", e)))?;
        Ok(out.and_then(|o| o.lifecycle_policy_text().map(str::to_string)))
    }

    /// Sets (or, `None`, removes) the lifecycle policy.
    async fn put_lifecycle(
        &self,
        name: &str,
        registry: Option<String>,
        text: Option<String>,
    ) -> Result<(), ProviderError> {
        let Some(text) = text else {
            let out =
                self.0.delete_lifecycle_policy().repository_name(name).set_registry_id(registry).send().await;
            // No policy to delete: done.
            return found(out.map_err(|e| aws_error("DeleteLifecyclePolicy", e))).map(drop);
        };
        let out = self
            .0
            .put_lifecycle_policy()
            .repository_name(name)
            .set_registry_id(registry)
            .lifecycle_policy_text(text)
            .send()
            .await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("PutLifecyclePolicy", e)))
    }

    /// Makes the in-place `changes` on the repository `arn`.
    async fn apply_changes(
        &self,
        arn: &str,
        desired: &Props,
        changes: &[PropChange],
    ) -> Result<(), ProviderError> {
        let (registry, name) = parse_id(arn);
        for c in changes {
            match c.name.as_str() {
                Kind::IMAGE_TAG_MUTABILITY => {
                    let out = self
                        .0
                        .put_image_tag_mutability()
                        .repository_name(name)
                        .set_registry_id(registry.clone())
                        .image_tag_mutability(mutability(desired))
                        .send()
                        .await;
                    out.map_err(|e| retry_not_found(aws_error("PutImageTagMutability", e)))?;
                }
                Kind::SCAN_ON_PUSH => {
                    let out = self
                        .0
                        .put_image_scanning_configuration()
                        .repository_name(name)
                        .set_registry_id(registry.clone())
                        .image_scanning_configuration(scanning(desired))
                        .send()
                        .await;
                    out.map_err(|e| retry_not_found(aws_error("PutImageScanningConfiguration", e)))?;
                }
                Kind::LIFECYCLE_POLICY => {
                    self.put_lifecycle(name, registry.clone(), lifecycle_text(desired)?).await?;
                }
                Kind::TAGS => self.0.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?,
                // No AWS setting: the engine records it in state for the delete.
                Kind::FORCE_DELETE => {}
                other => {
                    return Err(ProviderError::fatal(format!(
                        "ecr.repository cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(())
    }

    /// The name is taken: our own repository (a create retried after a crash) is
    /// converged to the desired settings; anything else is refused, naming its owner.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        name: &str,
        props: &Props,
    ) -> Result<Applied, ProviderError> {
        let gone = || ProviderError::retryable(format!("ECR repository `{name}` exists but is not found"));
        let repo = self.describe(name).await?.ok_or_else(gone)?;
        let arn = repo.repository_arn().unwrap_or_default().to_string();
        let tags = self.tags(&arn).await?.ok_or_else(gone)?;
        ensure_ours(ctx, address, &tags, &format!("ECR repository `{name}`"), EXISTS)?;
        let seen = Seen::new(&repo, tags);
        ctx.progress(format!("adopting existing ECR repository `{name}`"));
        let live = seen.props(self.lifecycle(name, Some(seen.registry_id.clone())).await?);
        let changes = self.diff(props, &live);
        let fixed: Vec<&str> =
            changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.as_str()).collect();
        if !fixed.is_empty() {
            return Err(ProviderError::fatal(format!(
                "ECR repository `{name}` exists with other {} than desired, which cannot change in place; \
                 delete it or change the configuration",
                fixed.join(", ")
            ))
            .with_code(EXISTS));
        }
        self.apply_changes(&seen.arn, props, &changes).await?;
        Ok(Applied { id: seen.arn.clone(), outputs: seen.outputs() })
    }

    /// How many images (distinct digests) a repository holds (ListImages, paginated).
    async fn image_count(&self, name: &str, registry: Option<String>) -> Result<usize, ProviderError> {
        let ids: Vec<_> = self
            .0
            .list_images()
            .repository_name(name)
            .set_registry_id(registry)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListImages", e))?;
        Ok(ids.iter().filter_map(|i| i.image_digest()).collect::<BTreeSet<_>>().len())
    }

    /// The read's per-repository part: the kept repositories of `repos` (the stack's, the
    /// recorded ones, untagged ones a target names), each with its owner and address.
    async fn kept(
        &self,
        ctx: &Ctx,
        targets: &[ReadTarget],
        repos: Vec<Repo>,
    ) -> Result<Vec<(Seen, bool, Option<Address>)>, ProviderError> {
        let index = self.1.index(ctx).await?;
        let index = &index;
        let tagged: Vec<Option<(Repo, BTreeMap<String, String>)>> = futures::stream::iter(repos)
            .map(|r| async move {
                let arn = r.repository_arn().unwrap_or_default();
                let name = r.repository_name().unwrap_or_default();
                let record = targets.iter().find(|t| t.id.as_deref() == Some(arn));
                let named = targets.iter().any(|t| opt_str(&t.props, Kind::NAME) == Some(name));
                let tags = index.tags(arn, Known::of(record, named), || self.tags(arn)).await?;
                Ok::<_, ProviderError>(tags.map(|t| (r, t)))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut kept = Vec::new();
        for (repo, tags) in tagged.into_iter().flatten() {
            let seen = Seen::new(&repo, tags);
            let recorded = targets.iter().find(|t| t.id.as_deref() == Some(seen.arn.as_str()));
            let (owned, mut address) = owner_of(&ctx.stack, &seen.tags);
            if address.is_none() && !seen.tags.contains_key(TAG_STACK) {
                address = recorded
                    .map(|t| &t.address)
                    .or_else(|| match_target(targets, |p| opt_str(p, Kind::NAME) == Some(seen.name.as_str())))
                    .cloned();
            }
            if owned || address.is_some() || recorded.is_some() {
                kept.push((seen, owned, address));
            }
        }
        Ok(kept)
    }
}

#[async_trait]
impl Provider for Repository {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_repository(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // The index read beside the listing (`kept` takes it from the refresh's cache).
        let (repos, _) = futures::try_join!(self.list(), self.1.index(ctx))?;
        let kept = self.kept(ctx, targets, repos).await?;
        futures::stream::iter(kept)
            .map(|(seen, owned, address)| async move {
                let mut props = seen.props(self.lifecycle(&seen.name, Some(seen.registry_id.clone())).await?);
                // `force_delete` is no AWS setting: what state recorded for it.
                let recorded = targets
                    .iter()
                    .find(|t| t.id.as_deref() == Some(seen.arn.as_str()))
                    .and_then(|t| t.recorded.as_ref()?.get(Kind::FORCE_DELETE));
                if let Some(force) = recorded {
                    props.insert(Kind::FORCE_DELETE.to_string(), force.clone());
                }
                Ok(LiveObject { id: seen.arn.clone(), address, props, outputs: seen.outputs(), owned })
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let (kind, key) = encryption(props)?;
        let enc = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(kind.as_str()))
            .set_kms_key(key)
            .build()
            .map_err(|e| ProviderError::fatal(format!("ECR encryption configuration: {e}")))?;
        let lifecycle = lifecycle_text(props)?;
        let created = self
            .0
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(mutability(props))
            .image_scanning_configuration(scanning(props))
            .encryption_configuration(enc)
            .set_tags(Some(ecr_tags(tag_map(props))?))
            .send()
            .await;
        let out = match created {
            Ok(out) => out,
            Err(e) => {
                let err = aws_error("CreateRepository", e);
                return if err.code() == Some(EXISTS) {
                    self.adopt(ctx, address, name, props).await
                } else {
                    Err(err)
                };
            }
        };
        let repo = out
            .repository()
            .ok_or_else(|| ProviderError::fatal("CreateRepository returned no repository"))?;
        let seen = Seen::new(repo, BTreeMap::new());
        if lifecycle.is_some() {
            // A failure here leaves the tagged repository: the engine's retry adopts it.
            self.put_lifecycle(&seen.name, Some(seen.registry_id.clone()), lifecycle).await?;
        }
        Ok(Applied { id: seen.arn.clone(), outputs: seen.outputs() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        self.apply_changes(req.id, req.desired, req.changes).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let (registry, name) = parse_id(id);
        let force = recorded.get(Kind::FORCE_DELETE).and_then(Value::as_bool).unwrap_or(false);
        let out = self
            .0
            .delete_repository()
            .repository_name(name)
            .set_registry_id(registry.clone())
            .force(force)
            .send()
            .await;
        let Err(e) = out else { return Ok(()) };
        let err = aws_error("DeleteRepository", e);
        if is_not_found(&err) {
            return Ok(());
        }
        if err.code() != Some(NOT_EMPTY) {
            return Err(err);
        }
        let count = match self.image_count(name, registry).await {
            Ok(n) => n.to_string(),
            Err(_) => "some".to_string(),
        };
        let mut detail = err.detail().clone();
        detail.message = format!(
            "ECR repository `{name}` still holds {count} image(s) and its force_delete is false: set \
             `force_delete = true` on it and apply before destroying, or delete its images first ({})",
            detail.message
        );
        Err(ProviderError::Conflict(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, Value)]) -> Props {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn ids_are_arns_and_bare_names_have_no_registry() {
        let arn = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
        assert_eq!(parse_id(arn), (Some("111122223333".to_string()), "team/app"));
        assert_eq!(parse_id("app"), (None, "app"));
        assert_eq!(outputs(arn)["name"], Value::str("team/app"));
        assert_eq!(outputs(arn)["registry_id"], Value::str("111122223333"));
    }

    #[test]
    fn defaults_keys_and_reformatted_policies_read_as_desired() {
        let policy = r#"{"rules":[{"rulePriority":1,"action":{"type":"expire"}}]}"#;
        let reformatted =
            "{\n  \"rules\" : [ { \"action\" : { \"type\" : \"expire\" }, \"rulePriority\" : 1 } ]\n}";
        let desired = props(&[
            (Kind::IMAGE_TAG_MUTABILITY, Value::Null),
            (Kind::SCAN_ON_PUSH, Value::Null),
            (Kind::ENCRYPTION_TYPE, Value::str(KMS)),
            (Kind::KMS_KEY, Value::Null),
            (Kind::LIFECYCLE_POLICY, Value::str(policy)),
            (Kind::FORCE_DELETE, Value::Bool(true)),
        ]);
        let mut live = props(&[
            (Kind::IMAGE_TAG_MUTABILITY, Value::str("MUTABLE")),
            (Kind::SCAN_ON_PUSH, Value::Bool(false)),
            (Kind::ENCRYPTION_TYPE, Value::str(KMS)),
            (Kind::KMS_KEY, Value::str("arn:aws:kms:us-east-1:111122223333:key/abc")),
            (Kind::LIFECYCLE_POLICY, Value::str(reformatted)),
        ]);
        normalize_repository(&desired, &mut live);
        assert_eq!(live, desired);
        // Another policy, or IMMUTABLE, stays a difference.
        let mut live = props(&[
            (Kind::IMAGE_TAG_MUTABILITY, Value::str("IMMUTABLE")),
            (Kind::LIFECYCLE_POLICY, Value::str(r#"{"rules":[]}"#)),
        ]);
        normalize_repository(&desired, &mut live);
        assert_eq!(live[Kind::IMAGE_TAG_MUTABILITY], Value::str("IMMUTABLE"));
        assert_eq!(live[Kind::LIFECYCLE_POLICY], Value::str(r#"{"rules":[]}"#));
        // A recorded force_delete is kept.
        let mut live = props(&[(Kind::FORCE_DELETE, Value::Bool(false))]);
        normalize_repository(&desired, &mut live);
        assert_eq!(live[Kind::FORCE_DELETE], Value::Bool(false));
    }

    #[test]
    fn the_same_key_reads_as_desired() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234";
        assert!(kms_same(arn, "1234"));
        assert!(kms_same(arn, arn));
        assert!(kms_same(arn, "alias/app"), "an alias cannot be told from its key without KMS");
        assert!(!kms_same(arn, "5678"));
        assert!(!kms_same("arn:aws:kms:us-east-1:111122223333:alias/other", "alias/app"));
    }

    #[test]
    fn a_key_needs_the_kms_type() {
        let p = props(&[(Kind::KMS_KEY, Value::str("alias/app"))]);
        assert!(encryption(&p).unwrap_err().message().contains("encryption_type"));
        let p = props(&[(Kind::KMS_KEY, Value::str("alias/app")), (Kind::ENCRYPTION_TYPE, Value::str(KMS))]);
        assert_eq!(encryption(&p).unwrap(), (KMS.to_string(), Some("alias/app".to_string())));
        assert_eq!(encryption(&Props::new()).unwrap(), (DEFAULT_ENCRYPTION.to_string(), None));
    }
}
