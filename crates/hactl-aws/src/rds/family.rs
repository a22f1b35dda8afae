//! The RDS family: what the DocumentDB and RDS providers share. DocumentDB's API is the
//! RDS query API in a separate SDK crate with the same shapes, so [`Api`] (tags, DB subnet
//! groups) is written once by `rds_family_api!` for both clients, and the providers built
//! on it are written once too, parameterised by engine:
//! - [`subnet_group`]: `docdb.subnet_group` and `rds.subnet_group`;
//! - [`parameter_group`]: `docdb.cluster_parameter_group` and `rds.parameter_group` (two
//!   APIs, each supplying its calls through [`parameter_group::ParameterApi`]);
//! - for the clusters and instances: the naming rules ([`Names`]), the final snapshot's
//!   name, deletion protection at delete and the wait for a deletion.
//!
//! Where the engines' providers behave differently, the difference is a documented field
//! of the kind's rules ([`subnet_group::SubnetGroupKind`],
//! [`parameter_group::ParameterGroupKind`]), never a copy.

pub(crate) mod parameter_group;
pub(crate) mod subnet_group;

use crate::error::{aws_error, found, retry_not_found};
use crate::tagging::{Known, TagIndex, Tagging};
use crate::util::tags::Tagger;
use crate::util::{req_str, str_list, tag_map};
use async_trait::async_trait;
use hactl_core::kinds::rds::SubnetGroup as SubnetGroupKind;
use hactl_core::{Address, Props, Value};
use hactl_engine::{Ctx, ProviderError, ReadTarget};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// How an engine spells and matches the names (identifiers) of its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Names {
    /// DocumentDB: names as written. An object is a candidate of a read when it is named
    /// `<stack>-...`, recorded, or named as a target's name property says.
    Exact,
    /// RDS: names are stored in lower case, so they match case-insensitively and read back
    /// in the desired spelling; ids are AWS's spelling. An object is a candidate when it is
    /// named `<stack>-...` or recorded.
    CaseInsensitive,
}

impl Names {
    fn same(self, a: &str, b: &str) -> bool {
        match self {
            Names::Exact => a == b,
            Names::CaseInsensitive => a.eq_ignore_ascii_case(b),
        }
    }

    /// Whether a listed object is worth reading: named `<stack>-...`, recorded, or (DocumentDB)
    /// the name a target wants in its property `key`.
    pub(crate) fn is_candidate(self, stack: &str, targets: &[ReadTarget], key: &str, name: &str) -> bool {
        let prefix = format!("{stack}-");
        match self {
            Names::Exact => {
                name.starts_with(&prefix)
                    || targets.iter().any(|t| {
                        t.id.as_deref() == Some(name)
                            || t.props.get(key).and_then(Value::as_str) == Some(name)
                    })
            }
            Names::CaseInsensitive => {
                name.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
                    || self.is_recorded(targets, name)
            }
        }
    }

    /// Whether a target recorded this id or names it in its property `key`: an object whose
    /// tags are read even when the tag index does not hold it.
    pub(crate) fn is_wanted(self, targets: &[ReadTarget], key: &str, name: &str) -> bool {
        targets.iter().any(|t| {
            t.id.as_deref().is_some_and(|id| self.same(id, name))
                || t.props.get(key).and_then(Value::as_str).is_some_and(|n| self.same(n, name))
        })
    }

    /// Whether a target recorded this id.
    pub(crate) fn is_recorded(self, targets: &[ReadTarget], id: &str) -> bool {
        targets.iter().any(|t| t.id.as_deref().is_some_and(|t| self.same(t, id)))
    }

    /// The read target an object answers: the one whose recorded id is `id`, else the one
    /// at `address`.
    pub(crate) fn target_for<'a>(
        self,
        targets: &'a [ReadTarget],
        id: &str,
        address: Option<&Address>,
    ) -> Option<&'a ReadTarget> {
        targets
            .iter()
            .find(|t| t.id.as_deref().is_some_and(|t| self.same(t, id)))
            .or_else(|| address.and_then(|a| targets.iter().find(|t| &t.address == a)))
    }

    /// Normalizes the name property `key`: RDS answers a desired `Demo-pg` as `demo-pg`, so
    /// a live name that matches the desired one case-insensitively is the desired spelling.
    pub(crate) fn normalize(self, desired: &Props, live: &mut Props, key: &str) {
        let (Some(Value::Str(want)), Some(Value::Str(have))) = (desired.get(key), live.get_mut(key)) else {
            return;
        };
        if self == Names::CaseInsensitive && want.eq_ignore_ascii_case(have) {
            have.clone_from(want);
        }
    }

    /// The id of a created or adopted object: the desired name (DocumentDB) or AWS's
    /// spelling of it (RDS).
    pub(crate) fn id(self, desired: &str, live: Option<&str>) -> String {
        match self {
            Names::Exact => desired.to_string(),
            Names::CaseInsensitive => live.unwrap_or(desired).to_string(),
        }
    }
}

/// A listed object a read reports: its tags and the ownership they say.
pub(crate) struct Owner {
    pub tags: BTreeMap<String, String>,
    /// Carries this stack's `hactl:stack` tag.
    pub owned: bool,
    /// The address of its `hactl:address` tag.
    pub address: Option<Address>,
}

/// One read of a family kind: which listed objects are candidates and whose tags they
/// carry (from the stack's tag index, [`crate::tagging`]).
pub(crate) struct Reading<'a> {
    pub names: Names,
    pub stack: &'a str,
    pub targets: &'a [ReadTarget],
    /// The property a target names its object with.
    pub key: &'a str,
    pub index: Arc<TagIndex>,
}

impl<'a> Reading<'a> {
    /// A read of `ctx`'s stack: the tag index of `ctx`'s location.
    pub(crate) async fn new(
        ctx: &'a Ctx,
        tagging: &Tagging,
        names: Names,
        targets: &'a [ReadTarget],
        key: &'a str,
    ) -> Result<Reading<'a>, ProviderError> {
        let index = tagging.index(ctx).await?;
        Ok(Reading { names, stack: &ctx.stack, targets, key, index })
    }

    /// Whether a listed object is worth reading ([`Names::is_candidate`]).
    pub(crate) fn is_candidate(&self, name: &str) -> bool {
        self.names.is_candidate(self.stack, self.targets, self.key, name)
    }

    /// The tags of the candidate `name` (ARN `arn`), when it is the stack's or recorded:
    /// from the index; ListTagsForResource only where the index does not decide
    /// ([`crate::tagging::TagIndex::lookup`]: the index does not hold it and state records
    /// it or a target names it; or it holds it and state does not record it, or records
    /// other tags). None for any other object (no call), and for an object deleted since it
    /// was listed.
    pub(crate) async fn owner<A: Api>(
        &self,
        api: &A,
        name: &str,
        arn: &str,
    ) -> Result<Option<Owner>, ProviderError> {
        let record = self.names.target_for(self.targets, name, None);
        let known = Known::of(record, self.names.is_wanted(self.targets, self.key, name));
        let ask = || async { found(api.list_tags(arn).await) };
        let Some(tags) = self.index.tags(arn, known, ask).await? else { return Ok(None) };
        let (owned, address) = crate::util::owner_of(self.stack, &tags);
        Ok((owned || self.names.is_recorded(self.targets, name)).then_some(Owner { tags, owned, address }))
    }
}

/// Normalizes a setting AWS chooses when the config leaves it unset ("unset means AWS's
/// choice": the backup window, the KMS key): Null when the desired value is Null or absent.
pub(crate) fn aws_choice(desired: &Props, live: &mut Props, key: &str) {
    if matches!(desired.get(key), None | Some(Value::Null)) && live.contains_key(key) {
        live.insert(key.to_string(), Value::Null);
    }
}

/// A DB subnet group as both engines describe it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubnetGroupInfo {
    pub name: Option<String>,
    pub arn: Option<String>,
    pub description: Option<String>,
    /// In AWS's order.
    pub subnet_ids: Vec<String>,
}

/// The calls both engines make the same way (the same operations of the RDS query API):
/// tags, through [`Tagger`] and [`Api::list_tags`], and DB subnet groups.
#[async_trait]
pub(crate) trait Api: Tagger + Send + Sync {
    /// ListTagsForResource (the describe answers of groups carry no tags); a resource that
    /// no longer exists is a NotFound error.
    async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError>;

    /// DescribeDBSubnetGroups, every page.
    async fn subnet_groups(&self) -> Result<Vec<SubnetGroupInfo>, ProviderError>;

    /// DescribeDBSubnetGroups of one name; None when there is none.
    async fn subnet_group(&self, name: &str) -> Result<Option<SubnetGroupInfo>, ProviderError>;

    /// CreateDBSubnetGroup `name` as `props` say (a NotFound, or an AlreadyExists of a
    /// racing create, retried).
    async fn create_subnet_group(&self, name: &str, props: &Props) -> Result<SubnetGroupInfo, ProviderError>;

    /// ModifyDBSubnetGroup `name` to the description and subnets of `props` (a NotFound
    /// retried).
    async fn modify_subnet_group(&self, name: &str, props: &Props) -> Result<(), ProviderError>;

    /// DeleteDBSubnetGroup, its error as AWS answers it.
    async fn delete_subnet_group(&self, name: &str) -> Result<(), ProviderError>;
}

/// [`Api`] (and [`Tagger`]: AddTagsToResource, RemoveTagsFromResource) for the client of
/// one SDK crate of the family.
macro_rules! rds_family_api {
    ($sdk:ident) => {
        impl From<&$sdk::types::DbSubnetGroup> for SubnetGroupInfo {
            fn from(g: &$sdk::types::DbSubnetGroup) -> Self {
                SubnetGroupInfo {
                    name: g.db_subnet_group_name().map(str::to_string),
                    arn: g.db_subnet_group_arn().map(str::to_string),
                    description: g.db_subnet_group_description().map(str::to_string),
                    subnet_ids: g
                        .subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier())
                        .map(str::to_string)
                        .collect(),
                }
            }
        }

        #[async_trait]
        impl Tagger for $sdk::Client {
            async fn set_tag_values(
                &self,
                arn: &str,
                tags: BTreeMap<String, String>,
            ) -> Result<(), ProviderError> {
                let tags = tags.into_iter().map(|(k, v)| $sdk::types::Tag::builder().key(k).value(v).build());
                let req = self.add_tags_to_resource().resource_name(arn).set_tags(Some(tags.collect()));
                req.send().await.map(drop).map_err(|e| retry_not_found(aws_error("AddTagsToResource", e)))
            }

            async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
                let req = self.remove_tags_from_resource().resource_name(arn).set_tag_keys(Some(keys));
                req.send()
                    .await
                    .map(drop)
                    .map_err(|e| retry_not_found(aws_error("RemoveTagsFromResource", e)))
            }
        }

        #[async_trait]
        impl Api for $sdk::Client {
            async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
                let out = self.list_tags_for_resource().resource_name(arn).send().await;
                let out = out.map_err(|e| aws_error("ListTagsForResource", e))?;
                Ok(out
                    .tag_list()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                    .collect())
            }

            async fn subnet_groups(&self) -> Result<Vec<SubnetGroupInfo>, ProviderError> {
                let groups: Vec<$sdk::types::DbSubnetGroup> = self
                    .describe_db_subnet_groups()
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| aws_error("DescribeDBSubnetGroups", e))?;
                Ok(groups.iter().map(SubnetGroupInfo::from).collect())
            }

            async fn subnet_group(&self, name: &str) -> Result<Option<SubnetGroupInfo>, ProviderError> {
                let out = self.describe_db_subnet_groups().db_subnet_group_name(name).send().await;
                let out = found(out.map_err(|e| aws_error("DescribeDBSubnetGroups", e)))?;
                Ok(out.and_then(|o| o.db_subnet_groups().first().map(SubnetGroupInfo::from)))
            }

            async fn create_subnet_group(
                &self,
                name: &str,
                props: &Props,
            ) -> Result<SubnetGroupInfo, ProviderError> {
                let tags = tag_map(props)
                    .into_iter()
                    .map(|(k, v)| $sdk::types::Tag::builder().key(k).value(v).build());
                let out = self
                    .create_db_subnet_group()
                    .db_subnet_group_name(name)
                    .db_subnet_group_description(req_str(props, SubnetGroupKind::DESCRIPTION)?)
                    .set_subnet_ids(Some(str_list(props, SubnetGroupKind::SUBNET_IDS)))
                    .set_tags(Some(tags.collect()))
                    .send()
                    .await
                    // Another create of the same name won the race: the retry adopts it.
                    .map_err(|e| {
                        crate::error::retry_codes(
                            retry_not_found(aws_error("CreateDBSubnetGroup", e)),
                            &["DBSubnetGroupAlreadyExists"],
                        )
                    })?;
                out.db_subnet_group()
                    .map(SubnetGroupInfo::from)
                    .ok_or_else(|| ProviderError::fatal("CreateDBSubnetGroup returned no subnet group"))
            }

            async fn modify_subnet_group(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
                self.modify_db_subnet_group()
                    .db_subnet_group_name(name)
                    .db_subnet_group_description(req_str(props, SubnetGroupKind::DESCRIPTION)?)
                    .set_subnet_ids(Some(str_list(props, SubnetGroupKind::SUBNET_IDS)))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| retry_not_found(aws_error("ModifyDBSubnetGroup", e)))
            }

            async fn delete_subnet_group(&self, name: &str) -> Result<(), ProviderError> {
                let out = self.delete_db_subnet_group().db_subnet_group_name(name).send().await;
                out.map(drop).map_err(|e| aws_error("DeleteDBSubnetGroup", e))
            }
        }
    };
}

rds_family_api!(aws_sdk_docdb);
rds_family_api!(aws_sdk_rds);

/// `impl Provider for $ty` (a tuple struct holding the engine's client and the region's
/// [`Tagging`]) as the generic provider `$generic` (in scope) with the kind's rules `$kind`
/// (a static): every call is handed on.
macro_rules! family_provider {
    ($ty:ident, $generic:ident, $kind:ident) => {
        #[async_trait::async_trait]
        impl hactl_engine::Provider for $ty {
            fn schema(&self) -> &'static hactl_core::KindSchema {
                &$kind.schema
            }

            async fn read(
                &self,
                ctx: &hactl_engine::Ctx,
                targets: &[hactl_engine::ReadTarget],
            ) -> Result<Vec<hactl_engine::LiveObject>, hactl_engine::ProviderError> {
                hactl_engine::Provider::read(&$generic::new(&self.0, &self.1, &$kind), ctx, targets).await
            }

            async fn create(
                &self,
                ctx: &hactl_engine::Ctx,
                address: &hactl_core::Address,
                props: &hactl_core::Props,
            ) -> Result<hactl_engine::Applied, hactl_engine::ProviderError> {
                hactl_engine::Provider::create(&$generic::new(&self.0, &self.1, &$kind), ctx, address, props)
                    .await
            }

            async fn update(
                &self,
                ctx: &hactl_engine::Ctx,
                req: hactl_engine::UpdateRequest<'_>,
            ) -> Result<hactl_engine::Applied, hactl_engine::ProviderError> {
                hactl_engine::Provider::update(&$generic::new(&self.0, &self.1, &$kind), ctx, req).await
            }

            async fn delete(
                &self,
                ctx: &hactl_engine::Ctx,
                id: &str,
                recorded: &hactl_core::Props,
            ) -> Result<(), hactl_engine::ProviderError> {
                hactl_engine::Provider::delete(&$generic::new(&self.0, &self.1, &$kind), ctx, id, recorded)
                    .await
            }

            fn normalize(&self, desired: &hactl_core::Props, live: &mut hactl_core::Props) {
                hactl_engine::Provider::normalize(&$generic::new(&self.0, &self.1, &$kind), desired, live)
            }
        }
    };
}
pub(crate) use family_provider;

/// `<identifier>-final-<YYYYMMDDHHMMSS>` (UTC): the final snapshot of a deleted database.
pub(crate) fn final_snapshot_id(identifier: &str) -> String {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let stamp: String = aws_smithy_types::DateTime::from_secs(now.secs())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("{identifier}-final-{stamp}")
}

/// The final snapshot a delete of `identifier` takes: None with `skip_final_snapshot`.
pub(crate) fn final_snapshot(ctx: &Ctx, identifier: &str) -> Option<String> {
    (!ctx.delete_options.skip_final_snapshot).then(|| final_snapshot_id(identifier))
}

/// Deletion protection at delete (a destroy trap): whether it is on and has to be turned
/// off first. It is on only with `--allow-delete-protected`; without, the delete is
/// refused with `refusal`.
pub(crate) fn protection_to_lift(
    ctx: &Ctx,
    protected: bool,
    refusal: impl FnOnce() -> ProviderError,
) -> Result<bool, ProviderError> {
    if protected && !ctx.delete_options.allow_delete_protected {
        return Err(refusal());
    }
    Ok(protected)
}

/// Waits (at least the database wait) until `exists` says the deleted `what` is gone.
pub(crate) async fn wait_deleted<F, Fut>(ctx: &Ctx, what: &str, exists: F) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, ProviderError>>,
{
    crate::util::db_wait(ctx)
        .wait_for(&format!("{what} to be deleted"), || async { Ok((!exists().await?).then_some(())) })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: Option<&str>, name: &str) -> ReadTarget {
        ReadTarget {
            address: Address::parse("db_subnet_group.main").expect("address"),
            id: id.map(str::to_string),
            props: hactl_core::Props::from([("name".to_string(), Value::str(name))]),
            recorded: None,
        }
    }

    #[test]
    fn both_engines_groups_have_the_same_property_names() {
        // The generic providers name properties through the RDS kinds' constants.
        use hactl_core::kinds::{docdb, rds};
        let names = |s: &hactl_core::KindSchema| s.props.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(names(&docdb::SubnetGroup::SCHEMA), names(&rds::SubnetGroup::SCHEMA));
        assert_eq!(names(&docdb::ClusterParameterGroup::SCHEMA), names(&rds::ParameterGroup::SCHEMA));
    }

    #[test]
    fn unset_settings_are_aws_s_choice() {
        let live = || Props::from([("window".to_string(), Value::str("03:00-04:00"))]);
        for (desired, after) in [
            (Props::new(), Value::Null),
            (Props::from([("window".to_string(), Value::Null)]), Value::Null),
            (Props::from([("window".to_string(), Value::str("05:00-06:00"))]), Value::str("03:00-04:00")),
            (Props::from([("window".to_string(), Value::Unknown)]), Value::str("03:00-04:00")),
        ] {
            let mut l = live();
            aws_choice(&desired, &mut l, "window");
            assert_eq!(l["window"], after, "{desired:?}");
        }
    }

    #[test]
    fn final_snapshot_ids_carry_a_utc_timestamp() {
        let s = final_snapshot_id("demo-pg");
        let stamp = s.strip_prefix("demo-pg-final-").expect("prefix");
        assert_eq!(stamp.len(), 14, "{s}");
        assert!(stamp.chars().all(|c| c.is_ascii_digit()), "{s}");
        assert!(stamp.starts_with("20"), "{s}");
    }

    #[test]
    fn rds_names_match_case_insensitively_and_docdb_names_exactly() {
        let targets = [target(Some("Demo-PG"), "Other")];
        assert!(Names::CaseInsensitive.is_recorded(&targets, "demo-pg"));
        assert!(!Names::Exact.is_recorded(&targets, "demo-pg"));
        assert!(Names::CaseInsensitive.is_candidate("Demo", &[], "name", "demo-db"));
        assert!(!Names::Exact.is_candidate("Demo", &[], "name", "demo-db"));
        // DocumentDB also reads the object a target names.
        assert!(Names::Exact.is_candidate("x", &targets, "name", "Other"));
        assert!(!Names::CaseInsensitive.is_candidate("x", &targets, "name", "Other"));
        let desired = Props::from([("name".to_string(), Value::str("Demo-pg"))]);
        let read = |names: Names, live: &str| {
            let mut p = Props::from([("name".to_string(), Value::str(live))]);
            names.normalize(&desired, &mut p, "name");
            p["name"].clone()
        };
        assert_eq!(read(Names::CaseInsensitive, "demo-pg"), Value::str("Demo-pg"));
        assert_eq!(read(Names::CaseInsensitive, "demo-pg2"), Value::str("demo-pg2"));
        assert_eq!(read(Names::Exact, "demo-pg"), Value::str("demo-pg"));
        assert_eq!(Names::CaseInsensitive.id("Demo-pg", Some("demo-pg")), "demo-pg");
        assert_eq!(Names::Exact.id("Demo-pg", Some("demo-pg")), "Demo-pg");
    }

    #[test]
    fn a_recorded_or_named_object_is_wanted_whatever_its_name() {
        // Wanted: its tags are read even when the stack's tag index does not hold it.
        let targets = [target(Some("Demo-PG"), "Other-Name")];
        for names in [Names::Exact, Names::CaseInsensitive] {
            assert!(names.is_wanted(&targets, "name", "Other-Name"), "{names:?}");
            assert!(!names.is_wanted(&targets, "name", "demo-pg-2"), "{names:?}");
            // A name that only shares the stack's prefix is a candidate, not wanted.
            assert!(!names.is_wanted(&targets, "name", "x-db"), "{names:?}");
        }
        assert!(Names::CaseInsensitive.is_wanted(&targets, "name", "demo-pg"));
        assert!(!Names::Exact.is_wanted(&targets, "name", "demo-pg"));
        assert!(Names::CaseInsensitive.is_wanted(&targets, "name", "other-name"));
    }
}
