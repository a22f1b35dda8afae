//! `iam.policy`: a customer managed policy under the stack's IAM path (permissions larger
//! than a role's inline quota of 10,240 characters: 6,144 a managed policy, 10 attached to
//! a role). id = policy ARN.
//!
//! Read: ListPolicies(Scope=Local, PathPrefix = the targets' paths, paginated; filtered
//! here too), plus the recorded ARNs; then per policy, concurrently, GetPolicy (description,
//! tags, default version: ListPolicies carries neither tags nor description on AWS) and
//! GetPolicyVersion of the default version for the document (URL-encoded JSON on AWS,
//! parsed). `normalize` takes the desired document for one that means the same.
//!
//! The document changes with CreatePolicyVersion(SetAsDefault); IAM keeps at most 5
//! versions, so with 5 the oldest non-default one is deleted first. Delete: the
//! non-default versions, then DeletePolicy. An attachment hactl did not make is never
//! removed: DeleteConflict names the roles, users and groups still attached (fatal); with
//! none listed (IAM's eventual consistency right after the stack's role let go) it is
//! retried.

use super::{
    iam_tags, ownership, parse_policy, paths_to_list, policy_text, same_policy, tag_list, tag_pairs,
    tags_value,
};
use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_iam::types::{Policy as Managed, PolicyScopeType, PolicyVersion};
use aws_sdk_iam::Client;
use hactl_core::kinds::iam::Policy as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Policy(pub Client);

/// IAM keeps at most this many versions of a managed policy.
const MAX_VERSIONS: usize = 5;

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

/// A document as IAM answers it as a property value: the parsed document, or the text
/// when it is not JSON (as `iam.role` reads its documents).
fn document_value(text: &str) -> Value {
    parse_policy(text).map(|j| Value::from_json(&j)).unwrap_or_else(|| Value::str(text))
}

/// The `N` of a version id `vN` (IAM numbers a policy's versions upwards).
fn version_number(id: &str) -> Option<u64> {
    id.strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// The oldest version that is not the default (the one to give up for a new version).
fn oldest_non_default(versions: &[PolicyVersion]) -> Option<&str> {
    versions
        .iter()
        .filter(|v| !v.is_default_version())
        .filter_map(|v| v.version_id().map(|id| (v.create_date().map(|d| (d.secs(), d.subsec_nanos())), id)))
        .min_by_key(|(created, id)| (*created, version_number(id).unwrap_or(u64::MAX)))
        .map(|(_, id)| id)
}

/// A policy as a read found it.
struct Seen {
    policy: Managed,
    /// The default version's document, as IAM answers it.
    document: Option<String>,
}

impl Seen {
    fn live(self, ctx: &Ctx, targets: &[ReadTarget]) -> Option<LiveObject> {
        let Seen { policy, document } = self;
        let (arn, name) = (policy.arn()?.to_string(), policy.policy_name()?.to_string());
        let tags = tag_pairs(policy.tags());
        let (owned, address) = ownership(&ctx.stack, &tags, &name, targets, Kind::NAME);
        let description = policy.description().filter(|d| !d.is_empty());
        let props = Props::from([
            (Kind::NAME.to_string(), Value::str(&name)),
            (Kind::PATH.to_string(), policy.path().map(Value::str).unwrap_or(Value::Null)),
            (Kind::DESCRIPTION.to_string(), description.map(Value::str).unwrap_or(Value::Null)),
            (Kind::DOCUMENT.to_string(), document.as_deref().map(document_value).unwrap_or(Value::Null)),
            (Kind::TAGS.to_string(), tags_value(policy.tags())),
        ]);
        Some(LiveObject { outputs: outputs(&name, &arn), id: arn, address, props, owned })
    }
}

impl Policy {
    /// The stack's customer managed policies under `path` (ListPolicies, paginated).
    async fn listed(&self, path: &str) -> Result<Vec<Managed>, ProviderError> {
        let policies: Vec<Managed> = self
            .0
            .list_policies()
            .scope(PolicyScopeType::Local)
            .path_prefix(path)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListPolicies", e))?;
        // Filtered here too (an emulator may ignore PathPrefix): the same stack in another
        // region lives under another path and is never read from this one.
        Ok(policies.into_iter().filter(|p| p.path().is_some_and(|p| p.starts_with(path))).collect())
    }

    async fn get(&self, arn: &str) -> Result<Option<Managed>, ProviderError> {
        let out = self.0.get_policy().policy_arn(arn).send().await;
        Ok(found(out.map_err(|e| aws_error("GetPolicy", e)))?.and_then(|o| o.policy))
    }

    /// The document of one version; `None` when the version (or the policy) is gone.
    async fn document(&self, arn: &str, version: &str) -> Result<Option<String>, ProviderError> {
        let out = self.0.get_policy_version().policy_arn(arn).version_id(version).send().await;
        let version = found(out.map_err(|e| aws_error("GetPolicyVersion", e)))?;
        Ok(version.and_then(|o| o.policy_version).and_then(|v| v.document))
    }

    /// One policy with its default version's document; `None` when it is gone.
    async fn seen(&self, arn: &str) -> Result<Option<Seen>, ProviderError> {
        let Some(policy) = self.get(arn).await? else { return Ok(None) };
        let document = match policy.default_version_id() {
            Some(v) => self.document(arn, v).await?,
            None => None,
        };
        Ok(Some(Seen { policy, document }))
    }

    async fn versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, ProviderError> {
        let r: Result<Vec<PolicyVersion>, _> =
            self.0.list_policy_versions().policy_arn(arn).into_paginator().items().send().try_collect().await;
        r.map_err(|e| aws_error("ListPolicyVersions", e))
    }

    async fn delete_version(&self, arn: &str, version: &str) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_error("DeletePolicyVersion", e)),
        )
    }

    /// Makes `doc` the default version: a new version (the oldest non-default one deleted
    /// first when IAM's 5 are there).
    async fn set_document(&self, arn: &str, doc: &str) -> Result<(), ProviderError> {
        let versions = self.versions(arn).await.map_err(retry_not_found)?;
        if versions.len() >= MAX_VERSIONS {
            if let Some(oldest) = oldest_non_default(&versions) {
                self.delete_version(arn, oldest).await?;
            }
        }
        // LimitExceeded about versions: one added meanwhile; the retry lists them again.
        // LimitExceeded about the document's size is final.
        self.0
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(doc)
            .set_as_default(true)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let mut err = retry_not_found(aws_error("CreatePolicyVersion", e));
                if err.code() == Some("LimitExceeded")
                    && err.message().to_ascii_lowercase().contains("version")
                {
                    err.make_retryable();
                }
                err
            })
    }

    /// A create that found the name taken (a create retried after a crash): adopt the
    /// policy under `path` if it carries this stack's and address's tags, and converge its
    /// document and tags. Returns its ARN.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
        doc: &str,
    ) -> Result<String, ProviderError> {
        let (name, path) = (req_str(props, Kind::NAME)?, req_str(props, Kind::PATH)?);
        let arn = self
            .listed(path)
            .await?
            .into_iter()
            .find(|p| p.policy_name() == Some(name) && p.path() == Some(path))
            .and_then(|p| p.arn().map(str::to_string));
        let Some(arn) = arn else {
            return Err(ProviderError::fatal(format!(
                "IAM policy `{name}` already exists, not under {path} (policy names are unique in an \
                 account); delete or rename it"
            ))
            .with_code("EntityAlreadyExists"));
        };
        let live = self.get(&arn).await?.ok_or_else(|| {
            ProviderError::retryable(format!("IAM policy `{name}` exists but cannot be read yet"))
        })?;
        let tags = tag_pairs(live.tags());
        crate::util::ensure_ours(
            ctx,
            address,
            &tags,
            &format!("IAM policy `{name}`"),
            "EntityAlreadyExists",
        )?;
        let current = match live.default_version_id() {
            Some(v) => self.document(&arn, v).await?,
            None => None,
        };
        let same = match (props.get(Kind::DOCUMENT), current.as_deref()) {
            (Some(want), Some(have)) => same_policy(want, &document_value(have)),
            _ => false,
        };
        if !same {
            self.set_document(&arn, doc).await?;
        }
        self.converge_tags(&arn, &tags, props).await?;
        Ok(arn)
    }

    /// The refused DeletePolicy (`err`, DeleteConflict): the entities still attached, none
    /// of which hactl detaches (a role of the stack has let go before this delete runs), as
    /// a fatal error naming them; with none listed, `err` retried (IAM's eventual
    /// consistency, or a version added meanwhile). `Ok`: the policy is gone.
    async fn still_attached(
        &self,
        arn: &str,
        stack: &str,
        mut err: ProviderError,
    ) -> Result<(), ProviderError> {
        match self.attached(arn, stack).await? {
            None => Ok(()),
            Some(a) if a.foreign.is_empty() => {
                err.make_retryable();
                Err(err)
            }
            Some(a) => Err(a.refusal(arn)),
        }
    }

    /// The entities the policy is attached to (`None`: the policy is gone), those under
    /// the stack's IAM path apart: the stack's own roles, which let go of it in this run
    /// (a role updated or deleted before the policy goes).
    async fn attached(&self, arn: &str, stack: &str) -> Result<Option<Attached>, ProviderError> {
        let mut sets = Vec::new();
        for prefix in [None, Some(super::stack_path(stack))] {
            let pages: Result<Vec<_>, _> = self
                .0
                .list_entities_for_policy()
                .policy_arn(arn)
                .set_path_prefix(prefix)
                .into_paginator()
                .send()
                .try_collect()
                .await;
            let pages = match pages.map_err(|e| aws_error("ListEntitiesForPolicy", e)) {
                Err(e) if is_not_found(&e) => return Ok(None),
                other => other?,
            };
            let mut entities = BTreeSet::new();
            for p in &pages {
                entities.extend(
                    p.policy_roles().iter().filter_map(|r| r.role_name()).map(|n| format!("role `{n}`")),
                );
                entities.extend(
                    p.policy_users().iter().filter_map(|u| u.user_name()).map(|n| format!("user `{n}`")),
                );
                entities.extend(
                    p.policy_groups().iter().filter_map(|g| g.group_name()).map(|n| format!("group `{n}`")),
                );
            }
            sets.push(entities);
        }
        let ours = sets.pop().unwrap_or_default();
        let all = sets.pop().unwrap_or_default();
        Ok(Some(Attached { foreign: all.difference(&ours).cloned().collect(), ours }))
    }
}

/// Where a policy is attached: the stack's own roles (under its IAM path) and the rest.
struct Attached {
    ours: BTreeSet<String>,
    foreign: BTreeSet<String>,
}

impl Attached {
    /// The fatal error of a delete refused by foreign attachments, naming them.
    fn refusal(&self, arn: &str) -> ProviderError {
        ProviderError::fatal(format!(
            "DeletePolicy: IAM policy {arn} is still attached to {} (not attached by this stack: hactl \
             does not detach it); detach them, then run destroy again",
            self.foreign.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
        .with_code("DeleteConflict")
    }
}

/// A policy's tag calls (by ARN): TagPolicy, UntagPolicy.
#[async_trait]
impl Tagger for Policy {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.0.tag_policy().policy_arn(arn).set_tags(Some(tag_list(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagPolicy", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.0.untag_policy().policy_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagPolicy", e)))
    }
}

#[async_trait]
impl Provider for Policy {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// A live document that means the same as the desired one (order, bare or listed
    /// values, URL encoding: `same_policy`) is the desired document.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        if let (Some(want), Some(have)) = (desired.get(Kind::DOCUMENT), live.get_mut(Kind::DOCUMENT)) {
            if !want.has_unknown() && same_policy(want, have) {
                *have = want.clone();
            }
        }
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut arns = BTreeSet::new();
        for path in paths_to_list(&ctx.stack, targets, Kind::PATH) {
            arns.extend(self.listed(&path).await?.iter().filter_map(|p| p.arn().map(str::to_string)));
        }
        // A recorded policy outside the listed paths (rare) is read by its ARN too.
        arns.extend(targets.iter().filter_map(|t| t.id.clone()));
        let seen = futures::future::try_join_all(arns.iter().map(|arn| self.seen(arn))).await?;
        Ok(seen.into_iter().flatten().filter_map(|s| s.live(ctx, targets)).collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let doc = policy_text(props.get(Kind::DOCUMENT), Kind::DOCUMENT)?;
        let description = opt_str(props, Kind::DESCRIPTION).filter(|d| !d.is_empty());
        let created = self
            .0
            .create_policy()
            .policy_name(name)
            .path(req_str(props, Kind::PATH)?)
            .policy_document(&doc)
            .set_description(description.map(str::to_string))
            .set_tags(Some(iam_tags(props)?))
            .send()
            .await;
        let arn =
            match created {
                Ok(o) => o.policy().and_then(|p| p.arn()).map(str::to_string).ok_or_else(|| {
                    ProviderError::fatal(format!("CreatePolicy of `{name}` answered no ARN"))
                })?,
                Err(e) => {
                    let err = aws_error("CreatePolicy", e);
                    if err.code() != Some("EntityAlreadyExists") {
                        return Err(err);
                    }
                    self.adopt(ctx, address, props, &doc).await?
                }
            };
        Ok(Applied { outputs: outputs(name, &arn), id: arn })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let arn = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::DOCUMENT => {
                    self.set_document(arn, &policy_text(req.desired.get(Kind::DOCUMENT), Kind::DOCUMENT)?)
                        .await?
                }
                Kind::TAGS => self.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!("iam.policy cannot update `{other}` in place")))
                }
            }
        }
        let mut outputs = BTreeMap::from([("arn".to_string(), Value::str(arn))]);
        if let Some(name) = opt_str(req.desired, Kind::NAME) {
            outputs.insert("name".to_string(), Value::str(name));
        }
        Ok(Applied { id: arn.to_string(), outputs })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Attached elsewhere: refused before anything changes (its versions stay). Still
        // attached to the stack's own role: that role lets go in this run; retried.
        match self.attached(id, &ctx.stack).await? {
            None => return Ok(()),
            Some(a) if !a.foreign.is_empty() => return Err(a.refusal(id)),
            Some(a) if !a.ours.is_empty() => {
                let names = a.ours.iter().cloned().collect::<Vec<_>>().join(", ");
                return Err(ProviderError::retryable(format!(
                    "DeletePolicy: IAM policy {id} is still attached to the stack's {names}, which lets go of it in this run"
                ))
                .with_code("DeleteConflict"));
            }
            Some(_) => {}
        }
        // DeletePolicy takes the default version with it; the others must go first.
        let Some(versions) = found(self.versions(id).await)? else { return Ok(()) };
        for v in versions.iter().filter(|v| !v.is_default_version()) {
            if let Some(version) = v.version_id() {
                self.delete_version(id, version).await?;
            }
        }
        let deleted = self.0.delete_policy().policy_arn(id).send().await;
        match deleted.map(drop).map_err(|e| aws_error("DeletePolicy", e)) {
            Err(e) if e.code() == Some("DeleteConflict") => self.still_attached(id, &ctx.stack, e).await,
            other => ignore_not_found(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    fn version(id: &str, default: bool, secs: i64) -> PolicyVersion {
        PolicyVersion::builder()
            .version_id(id)
            .is_default_version(default)
            .create_date(DateTime::from_secs(secs))
            .build()
    }

    #[test]
    fn the_oldest_non_default_version_goes_first() {
        let versions = [
            version("v7", false, 300),
            version("v3", true, 100),
            version("v5", false, 200),
            version("v4", false, 150),
            version("v6", false, 200),
        ];
        assert_eq!(oldest_non_default(&versions), Some("v4"));
        // Versions of the same second: the lower number is the older.
        let same_second = [version("v10", false, 100), version("v9", false, 100), version("v11", true, 90)];
        assert_eq!(oldest_non_default(&same_second), Some("v9"));
        assert_eq!(oldest_non_default(&[version("v1", true, 1)]), None);
        assert_eq!(version_number("v12"), Some(12));
        assert_eq!(version_number("v2.draft"), Some(2));
        assert_eq!(version_number("x"), None);
    }

    #[test]
    fn a_document_that_means_the_same_reads_as_desired() {
        let p = Policy(Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
                .build(),
        ));
        let want = Value::from_json(&serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]}));
        let same = "%7B%22Statement%22%3A%7B%22Action%22%3A%5B%22s3%3APutObject%22%2C%22s3%3AGetObject%22%5D%2C\
                    %22Effect%22%3A%22Allow%22%2C%22Resource%22%3A%22%2A%22%7D%2C%22Version%22%3A%222012-10-17%22%7D";
        let desired = Props::from([(Kind::DOCUMENT.to_string(), want.clone())]);
        let mut live = Props::from([(Kind::DOCUMENT.to_string(), document_value(same))]);
        assert_ne!(live[Kind::DOCUMENT], want);
        p.normalize(&desired, &mut live);
        assert_eq!(live[Kind::DOCUMENT], want);
        let other = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "*"}]}"#;
        let mut live = Props::from([(Kind::DOCUMENT.to_string(), document_value(other))]);
        p.normalize(&desired, &mut live);
        assert_ne!(live[Kind::DOCUMENT], want, "a document that differs stays as AWS says");
    }
}
