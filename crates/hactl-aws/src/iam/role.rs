//! `iam.role`: a role under the stack's IAM path, with its trust policy, inline policies
//! and attached managed policies. id = role name.
//!
//! Read: ListRoles(PathPrefix = the targets' paths, paginated) for the roles (and their
//! descriptions), then their policies and tags one of two ways:
//! - up to [`role_bulk::BULK_ABOVE`] roles (or after GetAccountAuthorizationDetails was
//!   refused), per role, concurrently: GetRole (trust policy, description, tags: ListRoles
//!   carries no tags on AWS), ListRolePolicies + GetRolePolicy per inline policy, and
//!   ListAttachedRolePolicies: 4+ calls per role, each scoped to the stack's roles (what
//!   the drift job's role may do);
//! - above it, in bulk ([`role_bulk`]): GetAccountAuthorizationDetails(Filter=Role), one
//!   call per 1,000 roles of the account, its roles kept when ListRoles found them under
//!   the paths; description from the ListRoles answer. A listed role the answer does not
//!   show under the paths (IAM is eventually consistent: created a moment ago, or moved)
//!   gets the per-role reads, never reads as gone. AccessDenied falls back to the per-role
//!   reads (once per process). Both reads give the same live objects.
//!
//! A recorded role outside the listed paths (rare) gets the per-role reads. Policy
//! documents read as IAM answers them (parsed); `normalize` takes the desired document for
//! one that means the same.

use super::role_bulk;
use super::{
    iam_tags, ownership, parse_policy, paths_to_list, policy_text, same_policy, tag_list, tag_pairs,
    tags_value,
};
use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_str, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_iam::Client;
use hactl_core::kinds::iam::Role as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// The provider. `bulk_refused`: GetAccountAuthorizationDetails answered AccessDenied
/// once; the reads of this process stay per role.
pub struct Role {
    client: Client,
    bulk_above: usize,
    bulk_refused: AtomicBool,
}

/// A policy document as IAM answers it (URL-encoded JSON) as a property value: the parsed
/// document, or the text when it is not JSON.
fn policy_value(text: &str) -> Value {
    parse_policy(text).map(|j| Value::from_json(&j)).unwrap_or_else(|| Value::str(text))
}

/// `have` becomes `want` when the two documents mean the same (`want` known).
fn take_if_same(want: &Value, have: &mut Value) {
    if !want.has_unknown() && same_policy(want, have) {
        *have = want.clone();
    }
}

/// A policy document (the trust policy, each inline policy) that means the same as the
/// desired one (order, bare or listed values, URL encoding) is the desired document.
fn same_documents_as_desired(desired: &Props, live: &mut Props) {
    if let (Some(want), Some(have)) =
        (desired.get(Kind::ASSUME_ROLE_POLICY), live.get_mut(Kind::ASSUME_ROLE_POLICY))
    {
        take_if_same(want, have);
    }
    let Some(Value::Map(have)) = live.get_mut(Kind::INLINE_POLICIES) else { return };
    for (pname, want) in desired.get(Kind::INLINE_POLICIES).and_then(Value::as_map).into_iter().flatten() {
        if let Some(doc) = have.get_mut(pname) {
            take_if_same(want, doc);
        }
    }
}

/// A role and its policies, as a read found them (per role or in bulk).
pub(crate) struct Seen {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) arn: String,
    pub(crate) description: Option<String>,
    /// The trust policy, as IAM answers it.
    pub(crate) trust: Option<String>,
    /// Inline policy name → document text (as IAM answers it).
    pub(crate) inline: Vec<(String, String)>,
    pub(crate) managed: Vec<String>,
    pub(crate) tags: Vec<aws_sdk_iam::types::Tag>,
}

impl Seen {
    /// A role as GetRole answered it, with its policies.
    fn of_role(r: aws_sdk_iam::types::Role, inline: Vec<(String, String)>, managed: Vec<String>) -> Seen {
        Seen {
            name: r.role_name().to_string(),
            path: r.path().to_string(),
            arn: r.arn().to_string(),
            description: r.description().map(str::to_string),
            trust: r.assume_role_policy_document().map(str::to_string),
            inline,
            managed,
            tags: r.tags().to_vec(),
        }
    }

    /// The role as a live object of this stack's read.
    fn live(self, ctx: &Ctx, targets: &[ReadTarget]) -> LiveObject {
        let Seen { name, path, arn, description, trust, inline, mut managed, tags } = self;
        let pairs = tag_pairs(&tags);
        let (owned, address) = ownership(&ctx.stack, &pairs, &name, targets, Kind::NAME);
        let inline: BTreeMap<String, Value> =
            inline.iter().map(|(pname, text)| (pname.clone(), policy_value(text))).collect();
        managed.sort_unstable();
        let props = Props::from([
            (Kind::NAME.to_string(), Value::str(&name)),
            (Kind::PATH.to_string(), Value::str(&path)),
            (Kind::DESCRIPTION.to_string(), description.map(Value::str).unwrap_or(Value::Null)),
            (Kind::ASSUME_ROLE_POLICY.to_string(), trust.as_deref().map(policy_value).unwrap_or(Value::Null)),
            (Kind::INLINE_POLICIES.to_string(), Value::Map(inline)),
            (Kind::MANAGED_POLICY_ARNS.to_string(), Value::from_strings(managed)),
            (Kind::TAGS.to_string(), tags_value(&tags)),
        ]);
        LiveObject { outputs: outputs(&name, &arn), id: name, address, props, owned }
    }
}

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

/// The `inline_policies` property: policy name → document.
fn inline_of(props: &Props) -> BTreeMap<String, Value> {
    props.get(Kind::INLINE_POLICIES).and_then(Value::as_map).cloned().unwrap_or_default()
}

impl Role {
    pub fn new(client: Client) -> Role {
        Role { client, bulk_above: role_bulk::BULK_ABOVE, bulk_refused: AtomicBool::new(false) }
    }

    /// The same provider reading in bulk above `n` listed roles instead of
    /// [`role_bulk::BULK_ABOVE`] (`usize::MAX`: never), for comparing both reads.
    pub fn bulk_above(mut self, n: usize) -> Role {
        self.bulk_above = n;
        self
    }

    /// The roles under `paths` by name, as ListRoles answers them (paginated).
    async fn listed_under(
        &self,
        paths: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, aws_sdk_iam::types::Role>, ProviderError> {
        let mut out = BTreeMap::new();
        for p in paths {
            let roles: Vec<_> = self
                .client
                .list_roles()
                .path_prefix(p)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("ListRoles", e))?;
            // Filtered here too (an emulator may ignore PathPrefix): the same stack in
            // another region lives under another path and is never read from this one.
            out.extend(
                roles
                    .into_iter()
                    .filter(|r| r.path().starts_with(p.as_str()))
                    .map(|r| (r.role_name().to_string(), r)),
            );
        }
        Ok(out)
    }

    /// The listed roles with their policies: in bulk above the threshold (see
    /// [`role_bulk`]; a listed role the bulk answer does not show is read per role), else
    /// (or when the bulk call is refused) per role.
    async fn read_listed(
        &self,
        listed: &BTreeMap<String, aws_sdk_iam::types::Role>,
        paths: &BTreeSet<String>,
    ) -> Result<Vec<Seen>, ProviderError> {
        let refused = self.bulk_refused.load(Ordering::Relaxed);
        if role_bulk::mode(listed.len(), self.bulk_above, refused) == role_bulk::Mode::Bulk {
            match role_bulk::role_details(&self.client).await {
                Ok(details) => {
                    let selected = role_bulk::select(details, listed, paths);
                    let mut seen = selected.seen;
                    seen.extend(self.per_role(selected.per_role.iter()).await?);
                    return Ok(seen);
                }
                Err(e) if role_bulk::is_access_denied(&e) => {
                    tracing::debug!("iam.role: {e}; reading per role");
                    self.bulk_refused.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        self.per_role(listed.keys()).await
    }

    /// Each role with its policies, by the per-role calls, concurrently; gone ones absent.
    async fn per_role(&self, names: impl Iterator<Item = &String>) -> Result<Vec<Seen>, ProviderError> {
        let seen = futures::future::try_join_all(names.map(|n| self.seen(n))).await?;
        Ok(seen.into_iter().flatten().collect())
    }

    /// The inline policies of a role with their documents.
    async fn inline_documents(&self, name: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let names = self.policy_names(name).await?;
        let docs = names.into_iter().map(|policy| async move {
            let out = self
                .client
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(|e| aws_error("GetRolePolicy", e))?;
            Ok::<_, ProviderError>((policy, out.policy_document().to_string()))
        });
        futures::future::try_join_all(docs).await
    }

    /// One role with its policies; `None` when it is gone.
    async fn seen(&self, name: &str) -> Result<Option<Seen>, ProviderError> {
        let (role, inline, managed) =
            tokio::join!(self.get_role(name), self.inline_documents(name), self.attached_arns(name));
        let (Some(role), Some(inline), Some(managed)) = (role?, found(inline)?, found(managed)?) else {
            return Ok(None);
        };
        Ok(Some(Seen::of_role(role, inline, managed.into_iter().collect())))
    }

    async fn get_role(&self, name: &str) -> Result<Option<aws_sdk_iam::types::Role>, ProviderError> {
        let out = self.client.get_role().role_name(name).send().await;
        Ok(found(out.map_err(|e| aws_error("GetRole", e)))?.and_then(|o| o.role))
    }

    async fn set_trust(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let doc = policy_text(props.get(Kind::ASSUME_ROLE_POLICY), Kind::ASSUME_ROLE_POLICY)?;
        self.client
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(doc)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("UpdateAssumeRolePolicy", e)))
    }

    async fn set_description(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        // An empty description clears it (UpdateRole without one leaves it unchanged).
        self.client
            .update_role()
            .role_name(name)
            .description(opt_str(props, Kind::DESCRIPTION).unwrap_or_default())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| retry_not_found(aws_error("UpdateRole", e)))
    }

    /// Brings the inline policies from `live` to `desired`: puts new and changed
    /// documents, deletes the ones no longer wanted.
    async fn sync_inline(
        &self,
        name: &str,
        live: &BTreeMap<String, Value>,
        desired: &BTreeMap<String, Value>,
    ) -> Result<(), ProviderError> {
        for (policy, doc) in desired {
            if live.get(policy).is_some_and(|l| same_policy(l, doc)) {
                continue;
            }
            self.client
                .put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(policy_text(Some(doc), &format!("inline_policies.{policy}"))?)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("PutRolePolicy", e)))?;
        }
        for policy in live.keys().filter(|p| !desired.contains_key(*p)) {
            ignore_not_found(
                self.client
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("DeleteRolePolicy", e)),
            )?;
        }
        Ok(())
    }

    /// Attaches the wanted managed policies that are not attached, detaches the others.
    async fn sync_managed(
        &self,
        name: &str,
        live: &BTreeSet<String>,
        desired: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        for arn in desired.difference(live) {
            self.client
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("AttachRolePolicy", e)))?;
        }
        for arn in live.difference(desired) {
            ignore_not_found(
                self.client
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("DetachRolePolicy", e)),
            )?;
        }
        Ok(())
    }

    /// The names of the role's inline policies (ListRolePolicies, paginated).
    async fn policy_names(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let r: Result<Vec<String>, _> = self
            .client
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        r.map_err(|e| aws_error("ListRolePolicies", e))
    }

    /// The names of the role's inline policies; `None` when the role is gone.
    async fn inline_names(&self, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
        found(self.policy_names(name).await)
    }

    async fn attached_arns(&self, name: &str) -> Result<BTreeSet<String>, ProviderError> {
        let attached: Vec<_> = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListAttachedRolePolicies", e))?;
        Ok(attached.iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect())
    }

    /// A create that found the role already there (a create retried after a crash):
    /// adopt it if it carries this stack's and address's tags, and bring it to `props`.
    async fn adopt(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<String, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let live = self.get_role(name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("role `{name}` exists but cannot be read yet"))
        })?;
        let tags = tag_pairs(live.tags());
        crate::util::ensure_ours(ctx, address, &tags, &format!("IAM role `{name}`"), "EntityAlreadyExists")?;
        let path = req_str(props, Kind::PATH)?;
        if live.path() != path {
            return Err(ProviderError::fatal(format!(
                "role `{name}` exists with path {} instead of {path}",
                live.path()
            )));
        }
        self.set_trust(name, props).await?;
        if live.description().unwrap_or_default() != opt_str(props, Kind::DESCRIPTION).unwrap_or_default() {
            self.set_description(name, props).await?;
        }
        self.converge_tags(name, &tags, props).await?;
        Ok(live.arn().to_string())
    }
}

/// A role's tag calls (by role name): TagRole, UntagRole.
#[async_trait]
impl Tagger for Role {
    async fn set_tag_values(&self, name: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.client.tag_role().role_name(name).set_tags(Some(tag_list(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagRole", e)))
    }

    async fn remove_tag_keys(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.client.untag_role().role_name(name).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagRole", e)))
    }
}

#[async_trait]
impl Provider for Role {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        same_documents_as_desired(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let paths = paths_to_list(&ctx.stack, targets, Kind::PATH);
        let listed = self.listed_under(&paths).await?;
        let mut seen = self.read_listed(&listed, &paths).await?;
        // Recorded roles outside the listed paths (rare) get the per-role reads.
        let recorded: BTreeSet<String> =
            targets.iter().filter_map(|t| t.id.clone()).filter(|id| !listed.contains_key(id)).collect();
        seen.extend(self.per_role(recorded.iter()).await?);
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(seen.into_iter().map(|s| s.live(ctx, targets)).collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let trust = policy_text(props.get(Kind::ASSUME_ROLE_POLICY), Kind::ASSUME_ROLE_POLICY)?;
        let created = self
            .client
            .create_role()
            .role_name(name)
            .path(req_str(props, Kind::PATH)?)
            .assume_role_policy_document(trust)
            .set_description(opt_str(props, Kind::DESCRIPTION).map(str::to_string))
            .set_tags(Some(iam_tags(props)?))
            .send()
            .await;
        let desired_inline = inline_of(props);
        let desired_managed: BTreeSet<String> =
            str_list(props, Kind::MANAGED_POLICY_ARNS).into_iter().collect();
        let arn = match created {
            Ok(o) => {
                let arn = o.role().map(|r| r.arn().to_string()).unwrap_or_default();
                self.sync_inline(name, &BTreeMap::new(), &desired_inline).await?;
                self.sync_managed(name, &BTreeSet::new(), &desired_managed).await?;
                arn
            }
            Err(e) => {
                let err = aws_error("CreateRole", e);
                if err.code() != Some("EntityAlreadyExists") {
                    return Err(err);
                }
                let arn = self.adopt(ctx, address, props).await?;
                // The live inline policies' documents are not known here: put every
                // desired one, delete the others.
                let live_inline: BTreeMap<String, Value> = self
                    .inline_names(name)
                    .await?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| (n, Value::Null))
                    .collect();
                self.sync_inline(name, &live_inline, &desired_inline).await?;
                let live_managed = self.attached_arns(name).await?;
                self.sync_managed(name, &live_managed, &desired_managed).await?;
                arn
            }
        };
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::ASSUME_ROLE_POLICY => self.set_trust(name, req.desired).await?,
                Kind::DESCRIPTION => self.set_description(name, req.desired).await?,
                Kind::INLINE_POLICIES => {
                    let live = c.before.as_ref().and_then(Value::as_map).cloned().unwrap_or_default();
                    self.sync_inline(name, &live, &inline_of(req.desired)).await?
                }
                Kind::MANAGED_POLICY_ARNS => {
                    let live = c.before.as_ref().map(Value::string_list).unwrap_or_default();
                    let want = str_list(req.desired, Kind::MANAGED_POLICY_ARNS);
                    self.sync_managed(name, &live.into_iter().collect(), &want.into_iter().collect()).await?
                }
                Kind::TAGS => self.sync_tags(name, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!("iam.role cannot update `{other}` in place")))
                }
            }
        }
        Ok(Applied {
            id: name.to_string(),
            outputs: BTreeMap::from([("name".to_string(), Value::str(name))]),
        })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        // A role recorded without policies is deleted with one call; DeleteConflict (a
        // policy or instance profile added outside hactl) falls back to emptying it first.
        let empty = |k: &str| match recorded.get(k) {
            None | Some(Value::Null) => true,
            Some(Value::Map(m)) => m.is_empty(),
            Some(Value::List(l)) => l.is_empty(),
            Some(_) => false,
        };
        if empty(Kind::INLINE_POLICIES) && empty(Kind::MANAGED_POLICY_ARNS) {
            match self.client.delete_role().role_name(id).send().await.map_err(|e| aws_error("DeleteRole", e))
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) if e.code() == Some("DeleteConflict") => {}
                Err(e) => return Err(e),
            }
        }
        let Some(inline) = self.inline_names(id).await? else { return Ok(()) };
        let live_inline = inline.into_iter().map(|n| (n, Value::Null)).collect();
        self.sync_inline(id, &live_inline, &BTreeMap::new()).await?;
        let attached = match self.attached_arns(id).await {
            Err(e) if is_not_found(&e) => return Ok(()),
            other => other?,
        };
        self.sync_managed(id, &attached, &BTreeSet::new()).await?;
        let profiles: Result<Vec<_>, _> = self
            .client
            .list_instance_profiles_for_role()
            .role_name(id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let profiles = match profiles.map_err(|e| aws_error("ListInstanceProfilesForRole", e)) {
            Err(e) if is_not_found(&e) => return Ok(()),
            other => other?,
        };
        for p in profiles {
            ignore_not_found(
                self.client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p.instance_profile_name())
                    .role_name(id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("RemoveRoleFromInstanceProfile", e)),
            )?;
        }
        ignore_not_found(self.client.delete_role().role_name(id).send().await.map(|_| ()).map_err(|e| {
            let mut err = aws_error("DeleteRole", e);
            // Something attached meanwhile (a policy or profile being changed): try again.
            if err.code() == Some("DeleteConflict") {
                err.make_retryable();
            }
            err
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_that_mean_the_same_read_as_desired_others_as_aws_says() {
        let want = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "*"}]}"#;
        let same = "%7B%22Statement%22%3A%7B%22Action%22%3A%5B%22s3%3AGetObject%22%5D%2C%22Effect%22%3A%22Allow%22%2C%22\
                    Resource%22%3A%5B%22%2A%22%5D%7D%2C%22Version%22%3A%222012-10-17%22%7D";
        let other =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}"#;
        let desired = Props::from([
            (Kind::ASSUME_ROLE_POLICY.to_string(), Value::str(want)),
            (
                Kind::INLINE_POLICIES.to_string(),
                Value::Map(BTreeMap::from([
                    ("a".to_string(), Value::str(want)),
                    ("b".to_string(), Value::str(want)),
                    ("c".to_string(), Value::Unknown),
                ])),
            ),
        ]);
        let mut live = Props::from([
            (Kind::ASSUME_ROLE_POLICY.to_string(), policy_value(same)),
            (
                Kind::INLINE_POLICIES.to_string(),
                Value::Map(BTreeMap::from([
                    ("a".to_string(), policy_value(same)),
                    ("b".to_string(), policy_value(other)),
                    ("c".to_string(), policy_value(same)),
                    ("d".to_string(), policy_value(same)),
                ])),
            ),
        ]);
        same_documents_as_desired(&desired, &mut live);
        assert_eq!(live[Kind::ASSUME_ROLE_POLICY], Value::str(want));
        let inline = live[Kind::INLINE_POLICIES].as_map().expect("map");
        assert_eq!(inline["a"], Value::str(want));
        assert_eq!(inline["b"], policy_value(other));
        assert_eq!(inline["c"], policy_value(same), "an unknown desired document is left alone");
        assert_eq!(inline["d"], policy_value(same), "a policy not desired is left alone");
    }
}
