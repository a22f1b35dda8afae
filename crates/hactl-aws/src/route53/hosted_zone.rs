//! `route53.hosted_zone`: a public hosted zone. id = the bare zone id (`Z0123…`, without
//! `/hostedzone/`).
//!
//! Read: ListHostedZones (paginated) → candidates: zones state records, public zones
//! named as a target, zones hactl created (caller reference `hactl-…`) →
//! ListTagsForResources for the candidates, 10 per call → GetHostedZone for each zone
//! returned as the stack's (its name servers: documented exception, the list carries no
//! delegation set). A zone named as a target that is not the stack's (another stack's or
//! nobody's) is returned unowned: the plan reports a conflict and never adopts it.

use super::{
    caller_reference, classify, dns_name, ownership, tags_of, tags_value, target_reference, Tagging,
    CALLER_PREFIX,
};
use crate::error::{aws_error, ignore_not_found, retry_not_found};
use crate::util::tags::{TagChanges, Tagger};
use crate::util::{opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZoneConfig, TagResourceType};
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

impl HostedZone {
    fn tagging(&self) -> Tagging<'_> {
        Tagging { client: &self.0, kind: TagResourceType::Hostedzone }
    }

    /// Every hosted zone of the account (ListHostedZones, paginated).
    async fn list(&self) -> Result<Vec<aws_sdk_route53::types::HostedZone>, ProviderError> {
        self.0
            .list_hosted_zones()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(aws_error("ListHostedZones", e)))
    }

    /// The zone's name servers (GetHostedZone); `None` when the zone is gone.
    async fn name_servers(&self, id: &str) -> Result<Option<Vec<String>>, ProviderError> {
        let out =
            self.0.get_hosted_zone().id(id).send().await.map_err(|e| classify(aws_error("GetHostedZone", e)));
        let out = crate::error::found(out)?;
        Ok(out.map(|o| o.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default()))
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
        let ns = self.name_servers(&id).await?.unwrap_or_default();
        Ok((id, ns))
    }
}

/// A live zone as properties, as Route 53 answers them.
fn zone_props(z: &aws_sdk_route53::types::HostedZone, tags: &BTreeMap<String, String>) -> Props {
    let comment = z.config().and_then(|c| c.comment()).map(Value::str).unwrap_or(Value::Null);
    Props::from([
        (Kind::NAME.to_string(), Value::str(z.name())),
        (Kind::COMMENT.to_string(), comment),
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
        let refs: Vec<(&ReadTarget, String)> =
            targets.iter().map(|t| (t, target_reference(ctx, t))).collect();
        let named = |name: &str| {
            let name = dns_name(name);
            targets.iter().find(|t| opt_str(&t.props, Kind::NAME).is_some_and(|n| dns_name(n) == name))
        };
        let private = |z: &aws_sdk_route53::types::HostedZone| z.config().is_some_and(|c| c.private_zone());
        let candidates: Vec<_> = self
            .list()
            .await?
            .into_iter()
            .filter(|z| {
                let id = bare_id(z.id());
                targets.iter().any(|t| t.id.as_deref() == Some(id))
                    || z.caller_reference().starts_with(CALLER_PREFIX)
                    || (!private(z) && named(z.name()).is_some())
            })
            .collect();
        let ids: Vec<String> = candidates.iter().map(|z| bare_id(z.id()).to_string()).collect();
        let tags = tags_of(&self.0, TagResourceType::Hostedzone, &ids).await?;
        let mut out = Vec::new();
        for z in &candidates {
            let id = bare_id(z.id());
            let ztags = tags.get(id).cloned().unwrap_or_default();
            let natural = if private(z) { None } else { named(z.name()).map(|t| &t.address) };
            let Some((owned, address)) =
                ownership(&ctx.stack, &ztags, id, z.caller_reference(), &refs, natural)
            else {
                continue;
            };
            let props = zone_props(z, &ztags);
            out.push(LiveObject { id: id.to_string(), address, props, outputs: BTreeMap::new(), owned });
        }
        // Name servers of the zones that are the stack's (not of a conflict's).
        let recorded = |id: &str| targets.iter().any(|t| t.id.as_deref() == Some(id));
        let mine: Vec<usize> = (0..out.len()).filter(|&i| out[i].owned || recorded(&out[i].id)).collect();
        let ns = futures::future::try_join_all(mine.iter().map(|&i| self.name_servers(&out[i].id))).await?;
        let mut gone = Vec::new();
        for (&i, ns) in mine.iter().zip(ns) {
            match ns {
                Some(ns) => out[i].outputs = outputs(&ns),
                None => gone.push(i),
            }
        }
        // Deleted between the list and GetHostedZone.
        for i in gone.into_iter().rev() {
            out.remove(i);
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = dns_name(req_str(props, Kind::NAME)?);
        let reference = caller_reference(ctx, address, props);
        // A public zone: no VPC. The configuration only when it holds a comment (an empty
        // one is what the emulator cannot parse).
        let config =
            comment_of(props).map(|c| HostedZoneConfig::builder().comment(c).private_zone(false).build());
        let created = self
            .0
            .create_hosted_zone()
            .name(&name)
            .caller_reference(&reference)
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
