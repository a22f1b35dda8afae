//! `route53.record`: one failover alias record (an A record aliasing the load balancer,
//! PRIMARY or SECONDARY, with its set identifier and optional health check). id =
//! `<zone_id>/<name>/<record_type>/<set_identifier>` (name lowercase, no trailing dot).
//!
//! Records carry no tags: the stack's records are the ones its state records. Read:
//! ListResourceRecordSets (paginated) of each zone a target names or state records, once
//! per zone, matched by id. A record with a target's name, type and set identifier that
//! state does not record is returned unowned: the plan reports a conflict, and a create
//! (Route 53 CREATE, never UPSERT) fails on it.

use super::hosted_zone::bare_id;
use super::{classify, dns_name};
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::{opt_bool, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use aws_sdk_route53::Client;
use hactl_core::kinds::route53::Record as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Record(pub Client);

/// A record's id: `<zone_id>/<name>/<record_type>/<set_identifier>`.
fn record_id(zone: &str, name: &str, record_type: &str, set: &str) -> String {
    format!("{}/{}/{}/{set}", bare_id(zone), dns_name(name), record_type.to_ascii_uppercase())
}

/// The parts of a record id: zone, name, record type, set identifier.
fn parse_id(id: &str) -> Result<[&str; 4], ProviderError> {
    let mut parts = id.splitn(4, '/');
    let mut next = || parts.next().filter(|p| !p.is_empty());
    match (next(), next(), next(), next()) {
        (Some(z), Some(n), Some(t), Some(s)) => Ok([z, n, t, s]),
        _ => Err(ProviderError::fatal(format!(
            "bad route53.record id `{id}` (want <zone_id>/<name>/<record_type>/<set_identifier>)"
        ))),
    }
}

/// The id a record of these properties has, when they are all known.
fn id_of(props: &Props) -> Option<String> {
    let s = |n| opt_str(props, n);
    Some(record_id(s(Kind::ZONE_ID)?, s(Kind::NAME)?, s(Kind::RECORD_TYPE)?, s(Kind::SET_IDENTIFIER)?))
}

/// An alias DNS name in the form they are compared in: Route 53 answers the load
/// balancer's name lowercase, with a trailing dot, and may prefix it with `dualstack.`.
fn alias_name(s: &str) -> String {
    let n = dns_name(s);
    n.strip_prefix("dualstack.").map(str::to_string).unwrap_or(n)
}

/// The record of `props`, as ChangeResourceRecordSets takes it.
fn record_of(props: &Props) -> Result<ResourceRecordSet, ProviderError> {
    let build =
        |e: aws_smithy_types::error::operation::BuildError| ProviderError::fatal(format!("record: {e}"));
    let record_type = req_str(props, Kind::RECORD_TYPE)?.to_ascii_uppercase();
    if !matches!(record_type.as_str(), "A" | "AAAA") {
        return Err(ProviderError::fatal(format!(
            "route53.record: an alias record of a load balancer is of type A or AAAA, not {record_type}"
        )));
    }
    let failover = req_str(props, Kind::FAILOVER)?;
    if !matches!(failover, "PRIMARY" | "SECONDARY") {
        return Err(ProviderError::fatal(format!(
            "route53.record: `failover` must be PRIMARY or SECONDARY, not {failover}"
        )));
    }
    let alias = AliasTarget::builder()
        .hosted_zone_id(req_str(props, Kind::ALIAS_ZONE_ID)?)
        .dns_name(req_str(props, Kind::ALIAS_DNS_NAME)?)
        .evaluate_target_health(opt_bool(props, Kind::EVALUATE_TARGET_HEALTH).unwrap_or(false))
        .build()
        .map_err(build)?;
    ResourceRecordSet::builder()
        .name(format!("{}.", dns_name(req_str(props, Kind::NAME)?)))
        .r#type(RrType::from(record_type.as_str()))
        .set_identifier(req_str(props, Kind::SET_IDENTIFIER)?)
        .failover(ResourceRecordSetFailover::from(failover))
        .alias_target(alias)
        .set_health_check_id(opt_str(props, Kind::HEALTH_CHECK_ID).map(str::to_string))
        .build()
        .map_err(build)
}

/// A live record as properties, as Route 53 answers them.
fn record_props(zone: &str, r: &ResourceRecordSet) -> Props {
    let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    let alias = r.alias_target();
    Props::from([
        (Kind::ZONE_ID.to_string(), Value::str(zone)),
        (Kind::NAME.to_string(), Value::str(r.name())),
        (Kind::RECORD_TYPE.to_string(), Value::str(r.r#type().as_str())),
        (Kind::SET_IDENTIFIER.to_string(), s(r.set_identifier())),
        (Kind::FAILOVER.to_string(), s(r.failover().map(|f| f.as_str()))),
        (Kind::ALIAS_DNS_NAME.to_string(), s(alias.map(|a| a.dns_name()))),
        (Kind::ALIAS_ZONE_ID.to_string(), s(alias.map(|a| a.hosted_zone_id()))),
        (
            Kind::EVALUATE_TARGET_HEALTH.to_string(),
            alias.map(|a| Value::Bool(a.evaluate_target_health())).unwrap_or(Value::Null),
        ),
        (Kind::HEALTH_CHECK_ID.to_string(), s(r.health_check_id())),
    ])
}

/// Whether an InvalidChangeBatch says this (`already exists`, `was not found`, ...).
fn batch_says(e: &ProviderError, what: &str) -> bool {
    e.code() == Some("InvalidChangeBatch") && e.message().contains(what)
}

impl Record {
    /// One change of one record (ChangeResourceRecordSets). The change is applied at once;
    /// its propagation to Route 53's servers (PENDING → INSYNC) is not waited for.
    async fn change(
        &self,
        zone: &str,
        action: ChangeAction,
        r: ResourceRecordSet,
    ) -> Result<(), ProviderError> {
        let build =
            |e: aws_smithy_types::error::operation::BuildError| ProviderError::fatal(format!("change: {e}"));
        let change = Change::builder().action(action).resource_record_set(r).build().map_err(build)?;
        let batch = ChangeBatch::builder().changes(change).build().map_err(build)?;
        self.0
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(aws_error("ChangeResourceRecordSets", e)))
    }

    /// The records of `zone` from `start` (name, type, set identifier) on, every page, or
    /// the first `max` records when `max` is given (ListResourceRecordSets); `None` when
    /// the zone is gone.
    async fn list(
        &self,
        zone: &str,
        start: Option<(String, RrType, String)>,
        max: Option<i32>,
    ) -> Result<Option<Vec<ResourceRecordSet>>, ProviderError> {
        let mut all = Vec::new();
        let (mut name, mut rtype, mut ident) = match start {
            Some((n, t, i)) => (Some(n), Some(t), Some(i)),
            None => (None, None, None),
        };
        loop {
            let out = self
                .0
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .set_start_record_name(name.take())
                .set_start_record_type(rtype.take())
                .set_start_record_identifier(ident.take())
                .set_max_items(max)
                .send()
                .await
                .map_err(|e| classify(aws_error("ListResourceRecordSets", e)));
            let Some(out) = found(out)? else { return Ok(None) };
            all.extend(out.resource_record_sets().iter().cloned());
            name = out.next_record_name().map(str::to_string);
            rtype = out.next_record_type().cloned();
            ident = out.next_record_identifier().map(str::to_string);
            if max.is_some() || !out.is_truncated() || name.is_none() {
                return Ok(Some(all));
            }
        }
    }

    /// The record of `id` exactly as Route 53 holds it (a DELETE must repeat it), if any.
    async fn current(&self, id: &str) -> Result<Option<ResourceRecordSet>, ProviderError> {
        let [zone, name, record_type, set] = parse_id(id)?;
        let start = (format!("{name}."), RrType::from(record_type), set.to_string());
        // The records of one name and type follow one another: 100 cover its set identifiers.
        let Some(records) = self.list(zone, Some(start), Some(100)).await? else { return Ok(None) };
        Ok(records.into_iter().find(|r| {
            r.set_identifier().is_some_and(|s| record_id(zone, r.name(), r.r#type().as_str(), s) == id)
        }))
    }
}

/// The zones to list: those the targets name, and those of the ids state records.
fn zones_of(targets: &[ReadTarget]) -> BTreeSet<String> {
    let named =
        targets.iter().filter_map(|t| opt_str(&t.props, Kind::ZONE_ID)).map(|z| bare_id(z).to_string());
    let recorded = targets
        .iter()
        .filter_map(|t| t.id.as_deref().and_then(|id| parse_id(id).ok()).map(|p| p[0].to_string()));
    named.chain(recorded).collect()
}

/// How a property's values are compared (the form both sides are brought to).
type Form = fn(&str) -> String;

/// The target a live record (of id `id`) belongs to: by the id state records (owned), or
/// by the target's desired name, type and set identifier (not owned: a conflict).
fn owner<'a>(targets: &'a [ReadTarget], id: &str) -> Option<(bool, &'a Address)> {
    if let Some(t) = targets.iter().find(|t| t.id.as_deref() == Some(id)) {
        return Some((true, &t.address));
    }
    let t = targets.iter().find(|t| id_of(&t.props).as_deref() == Some(id))?;
    Some((false, &t.address))
}

#[async_trait]
impl Provider for Record {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// A zone id with or without `/hostedzone/`; names without case and trailing dot; the
    /// alias DNS name also without Route 53's `dualstack.` prefix; the record type in any
    /// case.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let rules: [(&str, Form); 4] = [
            (Kind::ZONE_ID, |s| bare_id(s).to_string()),
            (Kind::NAME, dns_name),
            (Kind::ALIAS_DNS_NAME, alias_name),
            (Kind::RECORD_TYPE, |s| s.to_ascii_uppercase()),
        ];
        for (name, form) in rules {
            if let (Some(want @ Value::Str(w)), Some(Value::Str(have))) = (desired.get(name), live.get(name))
            {
                if form(w) == form(have) {
                    live.insert(name.to_string(), want.clone());
                }
            }
        }
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let zones: Vec<String> = zones_of(targets).into_iter().collect();
        let listed = futures::future::try_join_all(zones.iter().map(|z| self.list(z, None, None))).await?;
        let mut out = Vec::new();
        for (zone, records) in zones.iter().zip(listed) {
            for r in records.iter().flatten() {
                let Some(set) = r.set_identifier() else { continue };
                let id = record_id(zone, r.name(), r.r#type().as_str(), set);
                let Some((owned, address)) = owner(targets, &id) else { continue };
                let props = record_props(zone, r);
                out.push(LiveObject {
                    id,
                    address: Some(address.clone()),
                    props,
                    outputs: BTreeMap::new(),
                    owned,
                });
            }
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = id_of(props).ok_or_else(|| {
            ProviderError::fatal("route53.record: zone_id, name, record_type or set_identifier missing")
        })?;
        let zone = bare_id(req_str(props, Kind::ZONE_ID)?);
        // CREATE, not UPSERT: Route 53 refuses a record of this name, type and set
        // identifier that exists already, and it is not the stack's (it is not in state).
        self.change(zone, ChangeAction::Create, record_of(props)?).await.map_err(|e| {
            if !batch_says(&e, "already exists") {
                return retry_not_found(e);
            }
            let mut detail = e.detail().clone();
            detail.message = format!(
                "{} (record {id}: a record of this name, type and set identifier exists and is not \
                 this stack's: records carry no tags, only those in its state are the stack's; \
                 delete it or choose another set_identifier)",
                e.message()
            );
            ProviderError::Conflict(detail)
        })?;
        Ok(Applied { id, outputs: BTreeMap::new() })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let [zone, ..] = parse_id(req.id)?;
        // UPSERT of the whole desired record: every in-place property at once.
        self.change(zone, ChangeAction::Upsert, record_of(req.desired)?).await.map_err(retry_not_found)?;
        Ok(Applied { id: req.id.to_string(), outputs: BTreeMap::new() })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let [zone, ..] = parse_id(id)?;
        let Some(current) = self.current(id).await? else { return Ok(()) };
        ignore_not_found(self.change(zone, ChangeAction::Delete, current).await.or_else(|e| {
            if batch_says(&e, "not found") {
                Ok(())
            } else if batch_says(&e, "do not match") {
                // Changed between the read and the delete: read it again.
                Err(e.into_retryable())
            } else {
                Err(e)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Props {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect()
    }

    #[test]
    fn ids_are_lowercase_without_trailing_dot_and_parse_back() {
        let id = record_id("/hostedzone/Z1", "WWW.Example.com.", "a", "primary");
        assert_eq!(id, "Z1/www.example.com/A/primary");
        assert_eq!(parse_id(&id).unwrap(), ["Z1", "www.example.com", "A", "primary"]);
        assert_eq!(parse_id("Z1/x/A/a/b").unwrap()[3], "a/b");
        assert!(parse_id("Z1/x/A").is_err());
        assert!(parse_id("Z1/x/A/").is_err());
    }

    #[test]
    fn names_and_alias_names_as_route53_answers_them_are_the_desired_ones() {
        let desired = props(&[
            (Kind::ZONE_ID, "/hostedzone/Z1"),
            (Kind::NAME, "WWW.example.com"),
            (Kind::RECORD_TYPE, "a"),
            (Kind::ALIAS_DNS_NAME, "My-Alb-1.us-east-1.elb.amazonaws.com"),
        ]);
        let mut live = props(&[
            (Kind::ZONE_ID, "Z1"),
            (Kind::NAME, "www.example.com."),
            (Kind::RECORD_TYPE, "A"),
            (Kind::ALIAS_DNS_NAME, "dualstack.my-alb-1.us-east-1.elb.amazonaws.com."),
        ]);
        Record(Client::from_conf(aws_sdk_route53::Config::builder().behavior_version_latest().build()))
            .normalize(&desired, &mut live);
        assert_eq!(live, desired);
        let mut other = props(&[(Kind::ALIAS_DNS_NAME, "other-alb.us-east-1.elb.amazonaws.com.")]);
        let before = other.clone();
        Record(Client::from_conf(aws_sdk_route53::Config::builder().behavior_version_latest().build()))
            .normalize(&desired, &mut other);
        assert_eq!(other, before);
    }

    #[test]
    fn a_desired_record_not_in_state_is_a_conflict_a_recorded_one_is_ours() {
        let p = props(&[
            (Kind::ZONE_ID, "Z1"),
            (Kind::NAME, "www.example.com"),
            (Kind::RECORD_TYPE, "A"),
            (Kind::SET_IDENTIFIER, "primary"),
        ]);
        let t = |id: Option<&str>| ReadTarget {
            address: Address::parse("record.primary").unwrap(),
            id: id.map(str::to_string),
            props: p.clone(),
            recorded: None,
        };
        let id = "Z1/www.example.com/A/primary";
        assert_eq!(owner(&[t(Some(id))], id).map(|(o, _)| o), Some(true));
        assert_eq!(owner(&[t(None)], id).map(|(o, _)| o), Some(false));
        assert_eq!(owner(&[t(None)], "Z1/www.example.com/A/secondary"), None);
    }
}
