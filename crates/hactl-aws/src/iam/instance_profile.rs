//! `iam.instance_profile`: an instance profile under the stack's IAM path holding one
//! role. id = profile name.
//!
//! Read: ListInstanceProfiles(PathPrefix) (paginated; it also finds profiles that have
//! no role, which GetAccountAuthorizationDetails does not show) + ListInstanceProfileTags
//! per profile (documented exception: list answers carry no tags on AWS).

use super::{iam_tags, ownership, paths_to_list, tag_list, tag_pairs};
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_iam::types::InstanceProfile as Profile;
use aws_sdk_iam::Client;
use hactl_core::kinds::iam::InstanceProfile as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct InstanceProfile(pub Client);

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

impl InstanceProfile {
    async fn get(&self, name: &str) -> Result<Option<Profile>, ProviderError> {
        let out = self.0.get_instance_profile().instance_profile_name(name).send().await;
        Ok(found(out.map_err(|e| aws_error("GetInstanceProfile", e)))?.and_then(|o| o.instance_profile))
    }

    async fn tags(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        let r: Result<Vec<_>, _> = self
            .0
            .list_instance_profile_tags()
            .instance_profile_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        Ok(found(r.map_err(|e| aws_error("ListInstanceProfileTags", e)))?.map(|tags| tag_pairs(&tags)))
    }

    /// Makes `role` the profile's only role (None: no role). `current`: its roles now.
    async fn set_role(
        &self,
        name: &str,
        current: &[String],
        role: Option<&str>,
    ) -> Result<(), ProviderError> {
        for r in current.iter().filter(|r| Some(r.as_str()) != role) {
            ignore_not_found(
                self.0
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(r)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("RemoveRoleFromInstanceProfile", e)),
            )?;
        }
        if let Some(role) = role.filter(|r| !current.iter().any(|c| c == r)) {
            // A role created moments ago may not be visible yet: NotFound is retried.
            self.0
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("AddRoleToInstanceProfile", e)))?;
        }
        Ok(())
    }
}

/// An instance profile's tag calls (by profile name): TagInstanceProfile,
/// UntagInstanceProfile.
#[async_trait]
impl Tagger for InstanceProfile {
    async fn set_tag_values(&self, name: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tag_list(tags)?;
        let out = self.0.tag_instance_profile().instance_profile_name(name).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagInstanceProfile", e)))
    }

    async fn remove_tag_keys(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let req = self.0.untag_instance_profile().instance_profile_name(name).set_tag_keys(Some(keys));
        req.send().await.map(drop).map_err(|e| retry_not_found(aws_error("UntagInstanceProfile", e)))
    }
}

fn role_names(p: &Profile) -> Vec<String> {
    p.roles().iter().map(|r| r.role_name().to_string()).collect()
}

#[async_trait]
impl Provider for InstanceProfile {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
        for path in paths_to_list(&ctx.stack, targets, Kind::PATH) {
            let listed: Vec<Profile> = self
                .0
                .list_instance_profiles()
                .path_prefix(&path)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("ListInstanceProfiles", e))?;
            // The emulator ignores PathPrefix: filter here too, so the same stack's
            // profiles in another region (another path) are never read from this one.
            profiles.extend(
                listed
                    .into_iter()
                    .filter(|p| p.path().starts_with(path.as_str()))
                    .map(|p| (p.instance_profile_name().to_string(), p)),
            );
        }
        // A recorded profile outside the listed paths (rare): one Get each.
        for id in targets.iter().filter_map(|t| t.id.as_deref()) {
            if !profiles.contains_key(id) {
                if let Some(p) = self.get(id).await? {
                    profiles.insert(id.to_string(), p);
                }
            }
        }
        let mut out = Vec::new();
        for (name, p) in profiles {
            let Some(tags) = self.tags(&name).await? else { continue };
            let (owned, address) = ownership(&ctx.stack, &tags, &name, targets, Kind::NAME);
            let roles = role_names(&p);
            let role = match roles.as_slice() {
                [] => Value::Null,
                [one] => Value::str(one),
                many => Value::from_strings(many.to_vec()),
            };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(&name)),
                (Kind::PATH.to_string(), Value::str(p.path())),
                (Kind::ROLE_NAME.to_string(), role),
                (
                    Kind::TAGS.to_string(),
                    Value::from_string_map(tags.iter().filter(|(k, _)| !k.starts_with("aws:"))),
                ),
            ]);
            out.push(LiveObject { outputs: outputs(&name, p.arn()), id: name, address, props, owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let path = req_str(props, Kind::PATH)?;
        let created = self
            .0
            .create_instance_profile()
            .instance_profile_name(name)
            .path(path)
            .set_tags(Some(iam_tags(props)?))
            .send()
            .await;
        let (arn, current) = match created {
            Ok(o) => (o.instance_profile().map(|p| p.arn().to_string()).unwrap_or_default(), Vec::new()),
            Err(e) => {
                let err = aws_error("CreateInstanceProfile", e);
                if err.code() != Some("EntityAlreadyExists") {
                    return Err(err);
                }
                // A create retried after a crash: adopt our own profile, converge it.
                let live = self.get(name).await?.ok_or_else(|| {
                    ProviderError::retryable(format!(
                        "instance profile `{name}` exists but cannot be read yet"
                    ))
                })?;
                let tags = self.tags(name).await?.unwrap_or_default();
                let what = format!("IAM instance profile `{name}`");
                crate::util::ensure_ours(ctx, address, &tags, &what, "EntityAlreadyExists")?;
                if live.path() != path {
                    return Err(ProviderError::fatal(format!(
                        "instance profile `{name}` exists with path {} instead of {path}",
                        live.path()
                    )));
                }
                self.converge_tags(name, &tags, props).await?;
                (live.arn().to_string(), role_names(&live))
            }
        };
        self.set_role(name, &current, opt_str(props, Kind::ROLE_NAME)).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::ROLE_NAME => {
                    let current = c.before.as_ref().map(|v| match v {
                        Value::Str(s) => vec![s.clone()],
                        other => other.string_list(),
                    });
                    self.set_role(name, &current.unwrap_or_default(), opt_str(req.desired, Kind::ROLE_NAME))
                        .await?
                }
                Kind::TAGS => self.sync_tags(name, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "iam.instance_profile cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied {
            id: name.to_string(),
            outputs: BTreeMap::from([("name".to_string(), Value::str(name))]),
        })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(live) = self.get(id).await? else { return Ok(()) };
        self.set_role(id, &role_names(&live), None).await?;
        ignore_not_found(
            self.0.delete_instance_profile().instance_profile_name(id).send().await.map(|_| ()).map_err(
                |e| {
                    let mut err = aws_error("DeleteInstanceProfile", e);
                    if err.code() == Some("DeleteConflict") {
                        err.make_retryable();
                    }
                    err
                },
            ),
        )
    }
}
