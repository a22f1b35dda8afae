//! The parameter group of either engine: DocumentDB's cluster parameter group
//! (`docdb.cluster_parameter_group`, `<stack>-docdb`, family `docdb5.0`, `{"tls":
//! "enabled"}`) and RDS's DB parameter group (`rds.parameter_group`, `<stack>-pg`, family
//! `postgres16`, `{"rds.force_ssl": "1"}`). id = name. The two are different operations
//! of the API (DescribeDBClusterParameterGroups / DescribeDBParameterGroups, ...): each
//! engine supplies them through [`ParameterApi`].
//!
//! Read: the groups (paginated), tags of the groups named `<stack>-...` or recorded from the
//! stack's tag index ([`crate::tagging`]; ListTagsForResource only where the index does not
//! decide, [`super::Reading::owner`]), and the
//! user-set parameters (Source = user, paginated) per group read (documented exception: one
//! call per group for its parameters). `parameters` reads as
//! every user-set parameter, so one added out of band is drift.
//!
//! Parameters are set 20 a call (ApplyMethod `immediate` for parameters whose ApplyType is
//! dynamic, `pending-reboot` for static or unknown ones) and reset, 20 a call, when a key
//! leaves the desired map.

use super::{Api, Names, Owner, Reading};
use crate::error::{found, ignore_not_found, retry_codes, retry_not_found};
use crate::tagging::Tagging;
use crate::util::{ensure_ours, req_str, tags_prop};
use async_trait::async_trait;
// The property names of both engines' parameter groups (the same names: a test checks).
use hactl_core::kinds::rds::ParameterGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

/// The modify and reset calls take at most this many parameters.
const BATCH: usize = 20;
const ALREADY_EXISTS: &str = "DBParameterGroupAlreadyExists";

/// A parameter group as both APIs describe it.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupInfo {
    pub name: Option<String>,
    pub arn: Option<String>,
    pub family: Option<String>,
    pub description: Option<String>,
}

/// One parameter of a group as described.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParameterInfo {
    pub name: Option<String>,
    pub value: Option<String>,
    pub source: Option<String>,
    /// Its ApplyType is `dynamic`: it takes ApplyMethod `immediate`.
    pub dynamic: bool,
}

/// [`ParameterInfo`] from the parameters of both SDK crates.
macro_rules! parameter_info_from {
    ($($parameter:ty),*) => {$(
        impl From<&$parameter> for ParameterInfo {
            fn from(p: &$parameter) -> Self {
                ParameterInfo {
                    name: p.parameter_name().map(str::to_string),
                    value: p.parameter_value().map(str::to_string),
                    source: p.source().map(str::to_string),
                    dynamic: p.apply_type() == Some("dynamic"),
                }
            }
        }
    )*};
}

parameter_info_from!(aws_sdk_docdb::types::Parameter, aws_sdk_rds::types::Parameter);

/// What a parameter scan hands each parameter to: false stops the scan.
pub(crate) type Visit<'a> = &'a mut (dyn FnMut(ParameterInfo) -> bool + Send);

/// The parameter group calls of one engine; errors as [`crate::error::aws_error`] makes
/// them, unless said otherwise.
#[async_trait]
pub(crate) trait ParameterApi: Api {
    /// Every group (paginated).
    async fn groups(&self) -> Result<Vec<GroupInfo>, ProviderError>;

    /// The group of this name (None: an answer without one; a missing group is a NotFound
    /// error).
    async fn group(&self, name: &str) -> Result<Option<GroupInfo>, ProviderError>;

    /// The group's parameters page after page (`user`: only Source = user), each handed to
    /// `visit` until it answers false: no further page is asked for then.
    async fn scan_parameters(&self, name: &str, user: bool, visit: Visit<'_>) -> Result<(), ProviderError>;

    /// Creates the group `name` with the family, description and tags of `props` (an
    /// answer without the group is a fatal error).
    async fn create_group(&self, name: &str, props: &Props) -> Result<GroupInfo, ProviderError>;

    /// Sets these parameters: (name, value, apply immediately); a NotFound is retried.
    async fn modify_parameters(
        &self,
        name: &str,
        params: Vec<(&str, &str, bool)>,
    ) -> Result<(), ProviderError>;

    /// Resets these parameters: (name, apply immediately); a NotFound is retried.
    async fn reset_parameters(&self, name: &str, params: Vec<(&str, bool)>) -> Result<(), ProviderError>;

    /// Deletes the group.
    async fn delete_group(&self, name: &str) -> Result<(), ProviderError>;
}

/// Which parameters a change looks up the ApplyType of, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApplyMethods {
    /// The ones set, reading every page of the group's parameters; resets are
    /// `pending-reboot` (DocumentDB).
    OfSetOnes,
    /// The ones set and the ones reset, reading pages until all of them are found (RDS).
    OfAll,
}

/// What differs between the engines' parameter group kinds.
pub(crate) struct ParameterGroupKind {
    pub schema: KindSchema,
    /// The object in messages: `DB cluster parameter group`, `DB parameter group`.
    pub what: &'static str,
    pub names: Names,
    /// Only groups of a family starting with this (lower case) are read, recorded ones
    /// aside: DescribeDBParameterGroups answers every engine's groups.
    pub family_prefix: Option<&'static str>,
    /// DocumentDB: create and delete look the name up first (the emulator replaces a
    /// group on a repeated create, and fails with an internal error when deleting a
    /// missing one); an adoption converges the parameters, then the tags; a group not
    /// found reads as absent. RDS: create first, and adopt a group that exists already
    /// (checking its family), converging the tags, then the parameters; a NotFound
    /// answer is an error (worth retrying).
    pub look_first: bool,
    pub apply_methods: ApplyMethods,
    /// The answers of a delete while a cluster or instance still uses the group (retried).
    pub in_use: &'static [&'static str],
}

/// The parameter group provider of one engine: its client and its kind's rules.
pub(crate) struct ParameterGroups<'a, A> {
    api: &'a A,
    tagging: &'a Tagging,
    kind: &'static ParameterGroupKind,
}

/// The `parameters` property (or a live parameter map) as plain strings.
fn parameter_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = match v {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((k.clone(), s))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("name".to_string(), Value::str(name)), ("arn".to_string(), Value::str(arn))])
}

impl<'a, A: ParameterApi> ParameterGroups<'a, A> {
    pub(crate) fn new(api: &'a A, tagging: &'a Tagging, kind: &'static ParameterGroupKind) -> Self {
        ParameterGroups { api, tagging, kind }
    }

    fn applied(&self, name: &str, g: &GroupInfo) -> Applied {
        let outputs = outputs(g.name.as_deref().unwrap_or(name), g.arn.as_deref().unwrap_or_default());
        Applied { id: self.kind.names.id(name, g.name.as_deref()), outputs }
    }

    /// The group of this name; one not visible yet is worth retrying.
    async fn existing(&self, name: &str) -> Result<GroupInfo, ProviderError> {
        let answer = self.api.group(name).await;
        let group =
            if self.kind.look_first { found(answer)?.flatten() } else { answer.map_err(retry_not_found)? };
        group.ok_or_else(|| {
            ProviderError::retryable(format!("{} {name} not found", self.kind.what))
                .with_code("DBParameterGroupNotFound")
        })
    }

    /// The user-set parameters, name → value (a parameter without a value is not set).
    async fn user_parameters(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let mut out = BTreeMap::new();
        let mut visit = |p: ParameterInfo| {
            // The emulator ignores the Source filter and leaves Source out.
            if p.source.as_deref().is_none_or(|s| s == "user") {
                if let (Some(n), Some(v)) = (p.name, p.value) {
                    out.insert(n, v);
                }
            }
            true
        };
        self.api.scan_parameters(name, true, &mut visit).await?;
        Ok(out)
    }

    /// Which of `names` are dynamic (the others are static or unknown).
    async fn dynamic_among(
        &self,
        group: &str,
        names: &BTreeSet<&str>,
    ) -> Result<BTreeSet<String>, ProviderError> {
        let stop_when_found = self.kind.apply_methods == ApplyMethods::OfAll;
        let (mut dynamic, mut seen) = (BTreeSet::new(), BTreeSet::new());
        let mut visit = |p: ParameterInfo| {
            let Some(n) = p.name.filter(|n| names.contains(n.as_str())) else { return true };
            if p.dynamic {
                dynamic.insert(n.clone());
            }
            seen.insert(n);
            // Every parameter of interest found: the remaining pages are not needed.
            !(stop_when_found && seen.len() == names.len())
        };
        self.api.scan_parameters(group, false, &mut visit).await.map_err(retry_not_found)?;
        Ok(dynamic)
    }

    /// Brings the group's user-set parameters from `before` to `after`.
    async fn change_parameters(
        &self,
        group: &str,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let set: Vec<(&str, &str)> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let reset: Vec<&str> =
            before.keys().filter(|k| !after.contains_key(*k)).map(String::as_str).collect();
        let mut names: BTreeSet<&str> = set.iter().map(|(k, _)| *k).collect();
        if self.kind.apply_methods == ApplyMethods::OfAll {
            names.extend(reset.iter().copied());
        }
        let dynamic =
            if names.is_empty() { BTreeSet::new() } else { self.dynamic_among(group, &names).await? };
        let immediate = |k: &str| dynamic.contains(k);
        for chunk in set.chunks(BATCH) {
            let params = chunk.iter().map(|(k, v)| (*k, *v, immediate(k))).collect();
            self.api.modify_parameters(group, params).await?;
        }
        for chunk in reset.chunks(BATCH) {
            self.api.reset_parameters(group, chunk.iter().map(|k| (*k, immediate(k))).collect()).await?;
        }
        Ok(())
    }

    /// A group found by the look before the create: ours is converged, anything else
    /// refused (DocumentDB).
    async fn adopt_found(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
        existing: GroupInfo,
    ) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let what = self.kind.what;
        let arn = existing.arn.as_deref().unwrap_or_default();
        let tags = found(self.api.list_tags(arn).await)?.unwrap_or_default();
        ensure_ours(ctx, address, &tags, &format!("{what} `{name}`"), ALREADY_EXISTS)?;
        ctx.progress(format!("adopting existing {what} {name}"));
        let live = self.user_parameters(name).await.map_err(retry_not_found)?;
        self.change_parameters(name, &live, &parameter_map(props.get(Kind::PARAMETERS))).await?;
        self.api.converge_tags(arn, &tags, props).await?;
        Ok(self.applied(name, &existing))
    }

    /// The create found the name taken: ours (a create retried after a crash) is adopted
    /// with its tags converged; answers it with its user-set parameters (RDS).
    async fn adopt_taken(
        &self,
        ctx: &Ctx,
        address: &Address,
        props: &Props,
    ) -> Result<(GroupInfo, BTreeMap<String, String>), ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let what = self.kind.what;
        let g = self.existing(name).await?;
        let arn = g.arn.as_deref().unwrap_or_default();
        let tags = self.api.list_tags(arn).await?;
        ensure_ours(ctx, address, &tags, &format!("{what} `{name}`"), ALREADY_EXISTS)?;
        let family = req_str(props, Kind::FAMILY)?;
        if g.family.as_deref() != Some(family) {
            return Err(ProviderError::fatal(format!(
                "{what} `{name}` exists with family {} instead of {family}; delete it",
                g.family.as_deref().unwrap_or("(none)"),
            ))
            .with_code(ALREADY_EXISTS));
        }
        ctx.progress(format!("adopting existing {what} {name}"));
        self.api.converge_tags(arn, &tags, props).await?;
        let live = self.user_parameters(name).await?;
        Ok((g, live))
    }
}

#[async_trait]
impl<A: ParameterApi> Provider for ParameterGroups<'_, A> {
    fn schema(&self) -> &'static KindSchema {
        &self.kind.schema
    }

    /// RDS: the name in the desired spelling ([`Names::normalize`]); DocumentDB: nothing.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        self.kind.names.normalize(desired, live, Kind::NAME);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let names = self.kind.names;
        let (groups, reading) = futures::try_join!(
            self.api.groups(),
            Reading::new(ctx, self.tagging, names, targets, Kind::NAME)
        )?;
        let mut out = Vec::new();
        for g in groups {
            let (Some(name), Some(arn)) = (g.name.as_deref(), g.arn.as_deref()) else { continue };
            let family_ok =
                |p: &str| g.family.as_deref().is_some_and(|f| f.to_ascii_lowercase().starts_with(p));
            if !reading.is_candidate(name)
                || !self.kind.family_prefix.is_none_or(|p| family_ok(p) || names.is_recorded(targets, name))
            {
                continue;
            }
            let Some(Owner { tags, owned, address }) = reading.owner(self.api, name, arn).await? else {
                continue;
            };
            let Some(parameters) = found(self.user_parameters(name).await)? else { continue };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(name)),
                (Kind::FAMILY.to_string(), Value::str(g.family.as_deref().unwrap_or_default())),
                (Kind::DESCRIPTION.to_string(), Value::str(g.description.as_deref().unwrap_or_default())),
                (Kind::PARAMETERS.to_string(), Value::from_string_map(parameters)),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(name, arn), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        if self.kind.look_first {
            if let Some(existing) = found(self.api.group(name).await)?.flatten() {
                // A create retried after a crash.
                return self.adopt_found(ctx, address, props, existing).await;
            }
        }
        let created = self.api.create_group(name, props).await;
        let (group, live) = match created {
            Ok(g) => (g, BTreeMap::new()),
            // Another create of the same name won the race: the retry adopts it.
            Err(e) if self.kind.look_first => return Err(retry_codes(e, &[ALREADY_EXISTS])),
            Err(e) if e.code() != Some(ALREADY_EXISTS) => return Err(e),
            Err(_) => self.adopt_taken(ctx, address, props).await?,
        };
        self.change_parameters(name, &live, &parameter_map(props.get(Kind::PARAMETERS))).await?;
        Ok(self.applied(name, &group))
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let group = self.existing(req.id).await?;
        let arn = group.arn.as_deref().unwrap_or_default();
        for c in req.changes {
            match c.name.as_str() {
                Kind::PARAMETERS => {
                    let (before, after) = (parameter_map(c.before.as_ref()), parameter_map(c.after.as_ref()));
                    self.change_parameters(req.id, &before, &after).await?
                }
                Kind::TAGS => self.api.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "{} cannot update `{other}` in place",
                        self.kind.schema.kind
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(group.name.as_deref().unwrap_or(req.id), arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        if self.kind.look_first && found(self.api.group(id).await)?.flatten().is_none() {
            return Ok(());
        }
        ignore_not_found(self.api.delete_group(id).await.map_err(|e| retry_codes(e, self.kind.in_use)))
    }
}
