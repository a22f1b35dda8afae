//! `route53.hosted_zone`: a public hosted zone, or a private one associated with the VPC
//! `vpc_id` of `vpc_region` (both null for a public zone). id = the bare zone id
//! (`Z0123…`, without `/hostedzone/`).
//!
//! Read: ListHostedZones (paginated) → candidates: zones state records, zones hactl created
//! (caller reference `hactl-…`), and zones named as a target of their kind (a public zone
//! as a public target, a private zone as a private one) → ListTagsForResources for the
//! candidates, 10 per call → GetHostedZone for each zone returned as the stack's (a public
//! zone's name servers, a private zone's VPCs: the list carries neither; documented
//! per-object cost, one call per zone of the stack: its public zone and its 1 or 2 private
//! zones, one per region's VPC) and for each private zone that is not the stack's but has
//! a private target's name (its VPCs decide whether it takes that target's natural key).
//! Which address a zone is at: its `hactl:address` tag, else the id state records, else
//! the caller reference of a target's create (two private zones of one name, one per
//! region, each at its own). A zone that is none of the stack's but takes a target's
//! natural key (public: the name; private: the name and an associated VPC) is returned
//! unowned: the plan reports a conflict and never adopts it.
//!
//! Create: CreateHostedZone (a private zone with its VPC and HostedZoneConfig{PrivateZone:
//! true}), then its tags (ChangeTagsForResource). Delete: DeleteHostedZone, public or
//! private; a zone still holding records other than its SOA and NS (the stack's records are
//! deleted before their zone) is a conflict, never emptied by hactl.

use super::{
    caller_reference, classify, dns_name, ownership, tags_of, tags_value, target_reference, Tagging,
    CALLER_PREFIX,
};
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::tags::{TagChanges, Tagger};
use crate::util::{opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZone as Zone, HostedZoneConfig, TagResourceType, Vpc, VpcRegion};
use aws_sdk_route53::Client;
use hactl_core::kinds::route53::HostedZone as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct HostedZone(pub Client);

/// The bare zone id of `/hostedzone/Z0123…` (or of a bare id).
pub(crate) fn bare_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

fn outputs(name_servers: &[String]) -> BTreeMap<String, Value> {
    BTreeMap::from([("name_servers".to_string(), Value::from_strings(name_servers.iter().cloned()))])
}

/// An unset comment and an empty one are the same to Route 53.
fn comment_of(props: &Props) -> Option<&str> {
    opt_str(props, Kind::COMMENT).filter(|c| !c.is_empty())
}

/// What GetHostedZone adds to the list's answer: the name servers (a public zone's
/// delegation set; none for a private zone) and the associated VPCs (id, region).
#[derive(Debug, Default)]
struct Detail {
    name_servers: Vec<String>,
    vpcs: Vec<(String, String)>,
}

fn is_private(z: &Zone) -> bool {
    z.config().is_some_and(|c| c.private_zone())
}

/// Whether a private zone carrying the stack's tag is this stack's: state records it, or
/// one of its VPCs is in a region a private target of this read wants. Zones are global,
/// so the stack of the same name in another region of the account tags its own private
/// zone the same way; that one answers in its region's VPC and is left alone.
fn elsewhere_ok(targets: &[ReadTarget], id: &str, detail: Option<&Detail>) -> bool {
    if targets.iter().any(|t| t.id.as_deref() == Some(id)) {
        return true;
    }
    let regions: Vec<&str> = targets.iter().filter_map(|t| opt_str(&t.props, Kind::VPC_REGION)).collect();
    detail.is_some_and(|d| d.vpcs.iter().any(|(_, region)| regions.contains(&region.as_str())))
}

fn is_null(props: &Props, name: &str) -> bool {
    props.get(name).is_none_or(|v| matches!(v, Value::Null))
}

/// Whether a target wants a private zone: its `vpc_id` is set (known, or not yet).
fn wants_private(props: &Props) -> bool {
    !is_null(props, Kind::VPC_ID)
}

/// The VPC of a private zone's properties; `None` for a public zone (both null). One of
/// the two set without the other is an error before any call.
fn vpc_of(props: &Props) -> Result<Option<Vpc>, ProviderError> {
    match (opt_str(props, Kind::VPC_ID), opt_str(props, Kind::VPC_REGION)) {
        (Some(id), Some(region)) => {
            Ok(Some(Vpc::builder().vpc_id(id).vpc_region(VpcRegion::from(region)).build()))
        }
        _ if is_null(props, Kind::VPC_ID) && is_null(props, Kind::VPC_REGION) => Ok(None),
        _ => Err(ProviderError::fatal(
            "route53.hosted_zone: `vpc_id` and `vpc_region` are both strings (a private zone) or both \
             null (a public zone)",
        )),
    }
}

/// The targets whose name is `z`'s and who want a zone of its kind (public or private).
fn named<'a>(targets: &'a [ReadTarget], z: &Zone) -> impl Iterator<Item = &'a ReadTarget> {
    let (name, private) = (dns_name(z.name()), is_private(z));
    targets.iter().filter(move |t| {
        wants_private(&t.props) == private
            && opt_str(&t.props, Kind::NAME).is_some_and(|n| dns_name(n) == name)
    })
}

/// The target whose natural key a zone that is not the stack's takes (not owned: a
/// conflict): a public zone, the public target of its name; a private zone, the private
/// target of its name whose VPC it is associated with (`d`, its GetHostedZone).
fn natural(targets: &[ReadTarget], z: &Zone, d: Option<&Detail>) -> Option<(bool, Option<Address>)> {
    let mut named = named(targets, z);
    let t = if is_private(z) {
        let vpcs = &d?.vpcs;
        named.find(|t| opt_str(&t.props, Kind::VPC_ID).is_some_and(|v| vpcs.iter().any(|(id, _)| id == v)))
    } else {
        named.next()
    }?;
    Some((false, Some(t.address.clone())))
}

/// The VPC a private zone reads as: the one the target at its address wants (desired, else
/// recorded) when the zone is associated with it (associations made outside hactl are not
/// hactl's, and not drift), else the first Route 53 lists.
fn chosen_vpc<'a>(
    vpcs: &'a [(String, String)],
    targets: &[ReadTarget],
    address: Option<&Address>,
) -> Option<&'a (String, String)> {
    let t = address.and_then(|a| targets.iter().find(|t| &t.address == a));
    let wanted = t.into_iter().flat_map(|t| [Some(&t.props), t.recorded.as_ref()]).flatten();
    wanted
        .filter_map(|p| opt_str(p, Kind::VPC_ID))
        .find_map(|w| vpcs.iter().find(|(id, _)| id == w))
        .or_else(|| vpcs.first())
}

impl HostedZone {
    fn tagging(&self) -> Tagging<'_> {
        Tagging { client: &self.0, kind: TagResourceType::Hostedzone }
    }

    /// Every hosted zone of the account (ListHostedZones, paginated).
    async fn list(&self) -> Result<Vec<Zone>, ProviderError> {
        self.0
            .list_hosted_zones()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(aws_error("ListHostedZones", e)))
    }

    /// The zone's name servers and VPCs (GetHostedZone); `None` when the zone is gone.
    async fn detail(&self, id: &str) -> Result<Option<Detail>, ProviderError> {
        let out =
            self.0.get_hosted_zone().id(id).send().await.map_err(|e| classify(aws_error("GetHostedZone", e)));
        let Some(o) = found(out)? else { return Ok(None) };
        let name_servers = o.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default();
        let vpcs = o
            .vpcs()
            .iter()
            .filter_map(|v| Some((v.vpc_id()?.to_string(), v.vpc_region()?.as_str().to_string())))
            .collect();
        Ok(Some(Detail { name_servers, vpcs }))
    }

    async fn set_comment(&self, id: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .update_hosted_zone_comment()
            .id(id)
            .set_comment(comment_of(props).map(str::to_string))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(classify(aws_error("UpdateHostedZoneComment", e))))
    }

    /// A create answered HostedZoneAlreadyExists: the zone of this caller reference is the
    /// one an earlier attempt of this very create made (the reference is derived from the
    /// stack, address, properties and generation). Bring its comment and tags to `props`.
    async fn adopt(&self, reference: &str, props: &Props) -> Result<(String, Vec<String>), ProviderError> {
        let zone = self.list().await?.into_iter().find(|z| z.caller_reference() == reference);
        let zone = zone.ok_or_else(|| {
            ProviderError::retryable(format!(
                "the hosted zone of caller reference {reference} is not listed yet"
            ))
        })?;
        let id = bare_id(zone.id()).to_string();
        let live_comment = zone.config().and_then(|c| c.comment()).filter(|c| !c.is_empty());
        if live_comment != comment_of(props) {
            self.set_comment(&id, props).await?;
        }
        let tags = tags_of(&self.0, TagResourceType::Hostedzone, std::slice::from_ref(&id)).await?;
        self.tagging().converge_tags(&id, &tags.get(&id).cloned().unwrap_or_default(), props).await?;
        let ns = self.detail(&id).await?.map(|d| d.name_servers).unwrap_or_default();
        Ok((id, ns))
    }

    /// The zones of a read that are the stack's or take a target's natural key, from the
    /// candidates and their tags (GetHostedZone where [`Detail`] is needed).
    async fn resolve(
        &self,
        ctx: &Ctx,
        targets: &[ReadTarget],
        candidates: &[Zone],
        tags: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Vec<LiveObject>, ProviderError> {
        let refs: Vec<(&ReadTarget, String)> =
            targets.iter().map(|t| (t, target_reference(ctx, t))).collect();
        let no_tags = BTreeMap::new();
        let tags_of = |z: &Zone| tags.get(bare_id(z.id())).unwrap_or(&no_tags);
        // The stack's: by tag, by the id state records, by the caller reference of a create.
        let mine: Vec<Option<(bool, Option<Address>)>> = candidates
            .iter()
            .map(|z| ownership(&ctx.stack, tags_of(z), bare_id(z.id()), z.caller_reference(), &refs, None))
            .collect();
        // GetHostedZone: the stack's zones, and the private zones a private target names.
        let need: Vec<usize> = (0..candidates.len())
            .filter(|&i| {
                mine[i].is_some()
                    || (is_private(&candidates[i]) && named(targets, &candidates[i]).next().is_some())
            })
            .collect();
        let details =
            futures::future::try_join_all(need.iter().map(|&i| self.detail(bare_id(candidates[i].id()))))
                .await?;
        let mut details: BTreeMap<usize, Option<Detail>> = need.into_iter().zip(details).collect();
        let mut out = Vec::new();
        for (i, z) in candidates.iter().enumerate() {
            let detail = match details.remove(&i) {
                // Deleted between the list and GetHostedZone.
                Some(None) => continue,
                d => d.flatten(),
            };
            if mine[i].as_ref().is_some_and(|(owned, _)| *owned)
                && is_private(z)
                && !elsewhere_ok(targets, bare_id(z.id()), detail.as_ref())
            {
                continue;
            }
            let Some((owned, address)) = mine[i].clone().or_else(|| natural(targets, z, detail.as_ref()))
            else {
                continue;
            };
            let vpc = detail.as_ref().and_then(|d| chosen_vpc(&d.vpcs, targets, address.as_ref()));
            let props = zone_props(z, tags_of(z), vpc);
            // Name servers of the zones that are the stack's (not of a conflict's).
            let outputs = match (&mine[i], &detail) {
                (Some(_), Some(d)) => outputs(&d.name_servers),
                _ => BTreeMap::new(),
            };
            out.push(LiveObject { id: bare_id(z.id()).to_string(), address, props, outputs, owned });
        }
        Ok(out)
    }
}

/// A live zone as properties, as Route 53 answers them (`vpc`: a private zone's VPC).
fn zone_props(z: &Zone, tags: &BTreeMap<String, String>, vpc: Option<&(String, String)>) -> Props {
    let comment = z.config().and_then(|c| c.comment()).map(Value::str).unwrap_or(Value::Null);
    let (vpc_id, vpc_region) = match vpc {
        Some((id, region)) => (Value::str(id), Value::str(region)),
        None => (Value::Null, Value::Null),
    };
    Props::from([
        (Kind::NAME.to_string(), Value::str(z.name())),
        (Kind::COMMENT.to_string(), comment),
        (Kind::VPC_ID.to_string(), vpc_id),
        (Kind::VPC_REGION.to_string(), vpc_region),
        (Kind::TAGS.to_string(), tags_value(tags)),
    ])
}

#[async_trait]
impl Provider for HostedZone {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// The name as written (`example.com` or `Example.com.`) for the name Route 53 answers
    /// (`example.com.`); an unset comment for an empty one.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        if let (Some(want @ Value::Str(w)), Some(Value::Str(have))) =
            (desired.get(Kind::NAME), live.get(Kind::NAME))
        {
            if dns_name(w) == dns_name(have) {
                live.insert(Kind::NAME.to_string(), want.clone());
            }
        }
        if let Some(want) = desired.get(Kind::COMMENT) {
            if comment_of(desired).is_none() && comment_of(live).is_none() {
                live.insert(Kind::COMMENT.to_string(), want.clone());
            }
        }
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let candidates: Vec<Zone> = self
            .list()
            .await?
            .into_iter()
            .filter(|z| {
                let id = bare_id(z.id());
                targets.iter().any(|t| t.id.as_deref() == Some(id))
                    || z.caller_reference().starts_with(CALLER_PREFIX)
                    || named(targets, z).next().is_some()
            })
            .collect();
        let ids: Vec<String> = candidates.iter().map(|z| bare_id(z.id()).to_string()).collect();
        let tags = tags_of(&self.0, TagResourceType::Hostedzone, &ids).await?;
        self.resolve(ctx, targets, &candidates, &tags).await
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = dns_name(req_str(props, Kind::NAME)?);
        let vpc = vpc_of(props)?;
        let reference = caller_reference(ctx, address, props);
        let comment = comment_of(props).map(str::to_string);
        // A private zone: its VPC, and PrivateZone in the configuration. A public zone: no
        // VPC, and the configuration only when it holds a comment (an empty one is what the
        // emulator cannot parse).
        let config = match (&vpc, comment) {
            (Some(_), c) => Some(HostedZoneConfig::builder().set_comment(c).private_zone(true).build()),
            (None, Some(c)) => Some(HostedZoneConfig::builder().comment(c).private_zone(false).build()),
            (None, None) => None,
        };
        let created = self
            .0
            .create_hosted_zone()
            .name(&name)
            .caller_reference(&reference)
            .set_vpc(vpc)
            .set_hosted_zone_config(config)
            .send()
            .await
            .map_err(|e| classify(aws_error("CreateHostedZone", e)));
        let (id, ns) = match created {
            Ok(o) => {
                let id = o.hosted_zone().map(|z| bare_id(z.id()).to_string());
                let id =
                    id.ok_or_else(|| ProviderError::fatal("CreateHostedZone returned no hosted zone"))?;
                self.tagging().apply_tags(&id, TagChanges::to_desired(&BTreeMap::new(), props)).await?;
                (id, o.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default())
            }
            Err(e) if e.code() == Some("HostedZoneAlreadyExists") => self.adopt(&reference, props).await?,
            Err(e) => return Err(e),
        };
        Ok(Applied { id, outputs: outputs(&ns) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let id = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::COMMENT => self.set_comment(id, req.desired).await?,
                Kind::TAGS => self.tagging().sync_tags(id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "route53.hosted_zone cannot update `{other}` in place"
                    )))
                }
            }
        }
        // The name servers do not change: the engine keeps the ones it has.
        Ok(Applied { id: id.to_string(), outputs: BTreeMap::new() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let out = self.0.delete_hosted_zone().id(id).send().await;
        ignore_not_found(out.map(drop).map_err(|e| {
            let e = classify(aws_error("DeleteHostedZone", e));
            if e.code() != Some("HostedZoneNotEmpty") {
                return e;
            }
            // AWS's code, message and call kept; what to do added.
            let name = opt_str(recorded, Kind::NAME).unwrap_or(id);
            let mut detail = e.detail().clone();
            detail.message = format!(
                "{} (hosted zone {name}, {id}: it still holds records other than its SOA and NS \
                 records; hactl deletes the records of its state before their zone, so these are \
                 someone else's: delete them and run destroy again)",
                e.message()
            );
            ProviderError::Conflict(detail)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_as_written_and_an_unset_comment_read_as_desired() {
        let p = HostedZone(Client::from_conf(
            aws_sdk_route53::Config::builder().behavior_version_latest().build(),
        ));
        let desired = Props::from([
            (Kind::NAME.to_string(), Value::str("Example.com")),
            (Kind::COMMENT.to_string(), Value::Null),
        ]);
        let live = Props::from([
            (Kind::NAME.to_string(), Value::str("example.com.")),
            (Kind::COMMENT.to_string(), Value::str("")),
        ]);
        assert_eq!(p.diff(&desired, &live), vec![]);
        let other = Props::from([
            (Kind::NAME.to_string(), Value::str("example.org.")),
            (Kind::COMMENT.to_string(), Value::str("x")),
        ]);
        let names: Vec<String> = p.diff(&desired, &other).into_iter().map(|c| c.name).collect();
        assert_eq!(names, [Kind::COMMENT, Kind::NAME]);
        assert_eq!(bare_id("/hostedzone/Z1"), "Z1");
        assert_eq!(bare_id("Z1"), "Z1");
    }
}
