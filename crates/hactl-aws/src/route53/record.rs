//! `route53.record`: one alias record of a load balancer, A or AAAA: a failover record
//! (PRIMARY or SECONDARY, with its set identifier and optional health check), or a simple
//! one (`set_identifier`, `failover` and `health_check_id` null; e.g. the wildcard
//! `*.<stack>.internal` of a private zone aliasing the internal load balancer). id =
//! `<zone_id>/<name>/<record_type>/<set_identifier>` (name lowercase, no trailing dot,
//! `*` for Route 53's `\052`; the set identifier empty for a simple record:
//! `Z1/*.app.internal/A/`).
//!
//! Records carry no tags: the stack's records are the ones its state records. Read:
//! ListResourceRecordSets (paginated) of each zone a target names or state records, once
//! per zone, matched by id (names compared as [`dns_name`] reads them: Route 53 answers a
//! wildcard's `*` as `\052`). A record with a target's name, type and set identifier that
//! state does not record is returned unowned (the plan reports a conflict, and a create,
//! Route 53 CREATE, never UPSERT, fails on it), unless it is a simple record and its zone
//! carries the stack's tag (a zone hactl made: a lost state adopts it), checked with one
//! ListTagsForResources per 10 such zones, only when such a record is found.

use super::hosted_zone::bare_id;
use super::{classify, dns_name};
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::{opt_bool, opt_str, req_str};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover, RrType,
    TagResourceType,
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

/// The parts of a record id: zone, name, record type, set identifier (empty for a simple
/// record).
fn parse_id(id: &str) -> Result<[&str; 4], ProviderError> {
    let mut parts = id.splitn(4, '/');
    let mut next = || parts.next().filter(|p| !p.is_empty());
    match (next(), next(), next(), parts.next()) {
        (Some(z), Some(n), Some(t), Some(s)) => Ok([z, n, t, s]),
        _ => Err(ProviderError::fatal(format!(
            "bad route53.record id `{id}` (want <zone_id>/<name>/<record_type>/<set_identifier>)"
        ))),
    }
}

/// The id a record of these properties has, when they are all known (a null set
/// identifier: a simple record, the empty one).
fn id_of(props: &Props) -> Option<String> {
    let s = |n| opt_str(props, n);
    let set = match props.get(Kind::SET_IDENTIFIER) {
        None | Some(Value::Null) => "",
        Some(v) => v.as_str()?,
    };
    Some(record_id(s(Kind::ZONE_ID)?, s(Kind::NAME)?, s(Kind::RECORD_TYPE)?, set))
}

/// How a record is routed: failover (its set identifier, PRIMARY or SECONDARY, and its
/// health check if any) or simple (none of the three).
enum Routing<'a> {
    Failover { set: &'a str, failover: &'a str, check: Option<&'a str> },
    Simple,
}

fn routing_of(props: &Props) -> Result<Routing<'_>, ProviderError> {
    let null = |n| props.get(n).is_none_or(|v| matches!(v, Value::Null));
    if null(Kind::SET_IDENTIFIER) && null(Kind::FAILOVER) && null(Kind::HEALTH_CHECK_ID) {
        return Ok(Routing::Simple);
    }
    let (Some(set), Some(failover)) = (opt_str(props, Kind::SET_IDENTIFIER), opt_str(props, Kind::FAILOVER))
    else {
        return Err(ProviderError::fatal(
            "route53.record: a failover record has `set_identifier` and `failover`; a simple record \
             has neither, and no `health_check_id`",
        ));
    };
    if !matches!(failover, "PRIMARY" | "SECONDARY") {
        return Err(ProviderError::fatal(format!(
            "route53.record: `failover` must be PRIMARY or SECONDARY, not {failover}"
        )));
    }
    Ok(Routing::Failover { set, failover, check: opt_str(props, Kind::HEALTH_CHECK_ID) })
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
    let routing = routing_of(props)?;
    let alias = AliasTarget::builder()
        .hosted_zone_id(req_str(props, Kind::ALIAS_ZONE_ID)?)
        .dns_name(req_str(props, Kind::ALIAS_DNS_NAME)?)
        .evaluate_target_health(opt_bool(props, Kind::EVALUATE_TARGET_HEALTH).unwrap_or(false))
        .build()
        .map_err(build)?;
    let record = ResourceRecordSet::builder()
        .name(format!("{}.", dns_name(req_str(props, Kind::NAME)?)))
        .r#type(RrType::from(record_type.as_str()))
        .alias_target(alias);
    let record = match routing {
        Routing::Failover { set, failover, check } => record
            .set_identifier(set)
            .failover(ResourceRecordSetFailover::from(failover))
            .set_health_check_id(check.map(str::to_string)),
        Routing::Simple => record,
    };
    record.build().map_err(build)
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
        start: Option<(String, RrType, Option<String>)>,
        max: Option<i32>,
    ) -> Result<Option<Vec<ResourceRecordSet>>, ProviderError> {
        let mut all = Vec::new();
        let (mut name, mut rtype, mut ident) = match start {
            Some((n, t, i)) => (Some(n), Some(t), i),
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
        // A simple record has no set identifier to start from.
        let set = (!set.is_empty()).then(|| set.to_string());
        let start = (format!("{name}."), RrType::from(record_type), set);
        // The records of one name and type follow one another: 100 cover its set identifiers.
        let Some(records) = self.list(zone, Some(start), Some(100)).await? else { return Ok(None) };
        Ok(records.into_iter().find(|r| live_id(zone, r) == id))
    }
}

/// The id of a live record of `zone` (no set identifier: a simple record's empty one).
fn live_id(zone: &str, r: &ResourceRecordSet) -> String {
    record_id(zone, r.name(), r.r#type().as_str(), r.set_identifier().unwrap_or_default())
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

impl Record {
    /// A simple record at a target's name and type that state does not record is the
    /// stack's when its zone is (the zone carries the stack's tag: hactl made it, so what
    /// hactl wants in it is hactl's, as a security group's rules are its group's): a lost
    /// state adopts it (the internal services' wildcard). In any other zone, and a failover
    /// record anywhere (the `[dns]` zone may be a user's), it stays unowned: a conflict.
    /// One ListTagsForResources per 10 such zones, only when there is such a record.
    async fn own_records_of_own_zones(&self, ctx: &Ctx, out: &mut [LiveObject]) -> Result<(), ProviderError> {
        let simple =
            |o: &LiveObject| !o.owned && o.props.get(Kind::SET_IDENTIFIER).is_none_or(|v| *v == Value::Null);
        let zones: BTreeSet<String> = out
            .iter()
            .filter(|o| simple(o))
            .filter_map(|o| Some(parse_id(&o.id).ok()?[0].to_string()))
            .collect();
        if zones.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = zones.into_iter().collect();
        let tags = super::tags_of(&self.0, TagResourceType::Hostedzone, &ids).await?;
        let own = |zone: &str| tags.get(zone).is_some_and(|t| crate::util::owner_of(&ctx.stack, t).0);
        for o in out.iter_mut().filter(|o| simple(o)) {
            if parse_id(&o.id).is_ok_and(|[zone, ..]| own(zone)) {
                o.owned = true;
            }
        }
        Ok(())
    }
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

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let zones: Vec<String> = zones_of(targets).into_iter().collect();
        let listed = futures::future::try_join_all(zones.iter().map(|z| self.list(z, None, None))).await?;
        let mut out = Vec::new();
        for (zone, records) in zones.iter().zip(listed) {
            for r in records.iter().flatten() {
                let id = live_id(zone, r);
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
        self.own_records_of_own_zones(ctx, &mut out).await?;
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = id_of(props).ok_or_else(|| {
            ProviderError::fatal("route53.record: zone_id, name, record_type or set_identifier not a string")
        })?;
        let zone = bare_id(req_str(props, Kind::ZONE_ID)?);
        // CREATE, not UPSERT: Route 53 refuses a record of this name, type and set
        // identifier that exists already, and it is not the stack's (it is not in state).
        let record = record_of(props)?;
        let what = if record.set_identifier().is_some() {
            "delete it or choose another set_identifier"
        } else {
            "delete it or choose another name"
        };
        self.change(zone, ChangeAction::Create, record).await.map_err(|e| {
            if !batch_says(&e, "already exists") {
                return retry_not_found(e);
            }
            let mut detail = e.detail().clone();
            detail.message = format!(
                "{} (record {id}: a record of this name, type and set identifier exists and is not \
                 this stack's: records carry no tags, only those in its state are the stack's; {what})",
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
        assert!(parse_id("Z1//A/p").is_err());
        // A simple record: the empty set identifier.
        assert_eq!(parse_id("Z1/*.app.internal/A/").unwrap(), ["Z1", "*.app.internal", "A", ""]);
        assert_eq!(record_id("Z1", "\\052.App.internal.", "A", ""), "Z1/*.app.internal/A/");
    }

    fn simple(name: &str) -> Props {
        let mut p = props(&[
            (Kind::ZONE_ID, "Z1"),
            (Kind::NAME, name),
            (Kind::RECORD_TYPE, "A"),
            (Kind::ALIAS_DNS_NAME, "internal-x.us-east-1.elb.amazonaws.com"),
            (Kind::ALIAS_ZONE_ID, "Z35SXDOTRQ7X7K"),
        ]);
        for n in [Kind::SET_IDENTIFIER, Kind::FAILOVER, Kind::HEALTH_CHECK_ID] {
            p.insert(n.to_string(), Value::Null);
        }
        p.insert(Kind::EVALUATE_TARGET_HEALTH.to_string(), Value::Bool(false));
        p
    }

    #[test]
    fn a_simple_record_has_no_set_identifier_failover_or_check_and_reads_back_the_same() {
        let p = simple("*.app.internal");
        assert_eq!(id_of(&p).as_deref(), Some("Z1/*.app.internal/A/"));
        let r = record_of(&p).unwrap();
        assert_eq!(r.name(), "*.app.internal.");
        assert_eq!((r.set_identifier(), r.failover(), r.health_check_id()), (None, None, None));
        // Route 53 answers the wildcard as `\052`: the same id, no diff.
        let mut answered = r.clone();
        answered.name = "\\052.app.internal.".to_string();
        assert_eq!(live_id("Z1", &answered), "Z1/*.app.internal/A/");
        let mut live = record_props("Z1", &answered);
        let provider =
            Record(Client::from_conf(aws_sdk_route53::Config::builder().behavior_version_latest().build()));
        assert_eq!(provider.diff(&p, &live), vec![]);
        provider.normalize(&p, &mut live);
        assert_eq!(live, p);
        // Half a failover record is neither.
        let mut half = p.clone();
        half.insert(Kind::FAILOVER.to_string(), Value::str("PRIMARY"));
        assert!(record_of(&half).is_err());
        let mut checked = p.clone();
        checked.insert(Kind::HEALTH_CHECK_ID.to_string(), Value::str("hc"));
        assert!(record_of(&checked).is_err());
        let mut failover = p;
        failover.insert(Kind::FAILOVER.to_string(), Value::str("PRIMARY"));
        failover.insert(Kind::SET_IDENTIFIER.to_string(), Value::str("primary"));
        let r = record_of(&failover).unwrap();
        assert_eq!(
            (r.set_identifier(), r.failover()),
            (Some("primary"), Some(&ResourceRecordSetFailover::Primary))
        );
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
