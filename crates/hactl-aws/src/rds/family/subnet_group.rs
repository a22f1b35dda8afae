//! The DB subnet group of either engine (`docdb.subnet_group`, `rds.subnet_group`): the
//! group `<stack>-db` over the data subnets. id = name.
//!
//! Read: DescribeDBSubnetGroups (paginated), tags of the groups named `<stack>-...` or
//! recorded ([`Names::is_candidate`]) from the stack's tag index ([`crate::tagging`]: the
//! describe answer carries no tags); ListTagsForResource only where the index does not
//! decide ([`Reading::owner`]). Create looks the name up first: CreateDBSubnetGroup on the
//! emulator silently replaces a group of the same name (AWS answers
//! DBSubnetGroupAlreadyExists, which a racing create retries into this adoption); a group
//! with this stack's and address's tags is adopted and converged, any other is refused.

use super::{Api, Names, Owner, Reading, SubnetGroupInfo};
use crate::error::{ignore_not_found, is_not_found, retry_codes};
use crate::tagging::Tagging;
use crate::util::{ensure_ours, opt_str, req_str, str_list, tags_prop};
use async_trait::async_trait;
// The property names of both engines' subnet groups (the same names: a test checks).
use hactl_core::kinds::rds::SubnetGroup as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

/// What differs between the engines' subnet group kinds.
pub(crate) struct SubnetGroupKind {
    pub schema: KindSchema,
    pub names: Names,
    /// The answers of a delete while a cluster or instance still uses the group (retried).
    pub in_use: &'static [&'static str],
    /// RDS: an adoption or an update answers the group as described again after its
    /// changes, and a group gone before an adoption's tag call is an error. DocumentDB:
    /// they answer the group as described before, and such a group reads as untagged
    /// (so the adoption is refused).
    pub reread: bool,
}

/// The subnet group provider of one engine: its client and its kind's rules.
pub(crate) struct SubnetGroups<'a, A> {
    api: &'a A,
    tagging: &'a Tagging,
    kind: &'static SubnetGroupKind,
}

const NOT_FOUND: &str = "DBSubnetGroupNotFoundFault";
const ALREADY_EXISTS: &str = "DBSubnetGroupAlreadyExists";

fn outputs(g: &SubnetGroupInfo) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_string(), Value::str(g.name.as_deref().unwrap_or_default())),
        ("arn".to_string(), Value::str(g.arn.as_deref().unwrap_or_default())),
    ])
}

fn subnet_set(g: &SubnetGroupInfo) -> BTreeSet<String> {
    g.subnet_ids.iter().cloned().collect()
}

impl<'a, A: Api> SubnetGroups<'a, A> {
    pub(crate) fn new(api: &'a A, tagging: &'a Tagging, kind: &'static SubnetGroupKind) -> Self {
        SubnetGroups { api, tagging, kind }
    }

    /// The group of this name; a group not visible yet is worth retrying.
    async fn existing(&self, name: &str) -> Result<SubnetGroupInfo, ProviderError> {
        self.api.subnet_group(name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("DB subnet group {name} not found")).with_code(NOT_FOUND)
        })
    }

    fn applied(&self, name: &str, g: &SubnetGroupInfo) -> Applied {
        Applied { id: self.kind.names.id(name, g.name.as_deref()), outputs: outputs(g) }
    }
}

#[async_trait]
impl<A: Api> Provider for SubnetGroups<'_, A> {
    fn schema(&self) -> &'static KindSchema {
        &self.kind.schema
    }

    /// RDS: the name in the desired spelling ([`Names::normalize`]); DocumentDB: nothing.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        self.kind.names.normalize(desired, live, Kind::NAME);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let (groups, reading) = futures::try_join!(
            self.api.subnet_groups(),
            Reading::new(ctx, self.tagging, self.kind.names, targets, Kind::NAME)
        )?;
        let mut out = Vec::new();
        for g in groups {
            let (Some(name), Some(arn)) = (g.name.as_deref(), g.arn.as_deref()) else { continue };
            if !reading.is_candidate(name) {
                continue;
            }
            let Some(Owner { tags, owned, address }) = reading.owner(self.api, name, arn).await? else {
                continue;
            };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(name)),
                (Kind::DESCRIPTION.to_string(), Value::str(g.description.as_deref().unwrap_or_default())),
                (Kind::SUBNET_IDS.to_string(), Value::from_strings(subnet_set(&g))),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&g), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let Some(existing) = self.api.subnet_group(name).await? else {
            let group = self.api.create_subnet_group(name, props).await?;
            return Ok(self.applied(name, &group));
        };
        // A create retried after a crash: adopt our own group and converge it.
        let arn = existing.arn.as_deref().unwrap_or_default();
        let tags = match self.api.list_tags(arn).await {
            Err(e) if is_not_found(&e) && !self.kind.reread => BTreeMap::new(),
            other => other?,
        };
        ensure_ours(ctx, address, &tags, &format!("DB subnet group `{name}`"), ALREADY_EXISTS)?;
        ctx.progress(format!("adopting existing DB subnet group {name}"));
        let want: BTreeSet<String> = str_list(props, Kind::SUBNET_IDS).into_iter().collect();
        if existing.description.as_deref() != opt_str(props, Kind::DESCRIPTION)
            || subnet_set(&existing) != want
        {
            self.api.modify_subnet_group(name, props).await?;
        }
        self.api.converge_tags(arn, &tags, props).await?;
        let group = if self.kind.reread { self.existing(name).await? } else { existing };
        Ok(self.applied(name, &group))
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let before = if self.kind.reread { None } else { Some(self.existing(req.id).await?) };
        let mut modify = false;
        for c in req.changes {
            match c.name.as_str() {
                Kind::DESCRIPTION | Kind::SUBNET_IDS => modify = true,
                Kind::TAGS => {
                    let arn = match &before {
                        Some(g) => g.arn.clone(),
                        None => self.existing(req.id).await?.arn,
                    };
                    let arn = arn.unwrap_or_default();
                    self.api.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?;
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "{} cannot update `{other}` in place",
                        self.kind.schema.kind
                    )))
                }
            }
        }
        if modify {
            self.api.modify_subnet_group(req.id, req.desired).await?;
        }
        let group = match before {
            Some(g) => g,
            None => self.existing(req.id).await?,
        };
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&group) })
    }

    /// Synchronous; a cluster or instance still leaving keeps the group in use a while.
    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(self.api.delete_subnet_group(id).await.map_err(|e| retry_codes(e, self.kind.in_use)))
    }
}
