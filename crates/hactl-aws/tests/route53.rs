//! The Route 53 providers (`route53.hosted_zone`, `route53.health_check`, `route53.record`)
//! against the emulator: driven directly through the registry, every effect checked with
//! the Route 53 SDK (never through the provider's read), names unique per process, and
//! everything removed at the end, also when an assertion fails. Objects made outside the
//! stack (a zone of the same name, another tool's health check, records of the same name)
//! stay untouched and are never read as the stack's.

use crate::common;

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecordSet,
    ResourceRecordSetFailover, RrType, Tag, TagResourceType,
};
use aws_sdk_route53::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::route53::{addr, bare, changed, ops, props, target};
use common::Harness;
use hactl_core::{Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::UpdateRequest;
use std::collections::BTreeMap;

/// An ALB's canonical hosted zone (us-east-1) and DNS names, as the load balancer outputs.
const ALB_ZONE: &str = "Z35SXDOTRQ7X7K";
const ALB_DNS: &str = "My-Alb-1234.us-east-1.elb.amazonaws.com";
const ALB2_DNS: &str = "hactl-dr-5678.us-west-2.elb.amazonaws.com";

async fn tags(r53: &Client, kind: TagResourceType, id: &str) -> BTreeMap<String, String> {
    let out = r53.list_tags_for_resource().resource_type(kind).resource_id(id).send().await.unwrap();
    let set = out.resource_tag_set().map(|s| s.tags().to_vec()).unwrap_or_default();
    set.iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect()
}

async fn add_tag(r53: &Client, kind: TagResourceType, id: &str, k: &str, v: &str) {
    let tag = Tag::builder().key(k).value(v).build();
    r53.change_tags_for_resource().resource_type(kind).resource_id(id).add_tags(tag).send().await.unwrap();
}

async fn zone_exists(r53: &Client, id: &str) -> bool {
    match r53.get_hosted_zone().id(id).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("NoSuchHostedZone") => false,
        Err(e) => panic!("GetHostedZone: {e:?}"),
    }
}

/// Creates a zone outside hactl (another tool's, or a test's own).
async fn foreign_zone(r53: &Client, name: &str, reference: &str) -> String {
    let out = r53.create_hosted_zone().name(name).caller_reference(reference).send().await.unwrap();
    bare(out.hosted_zone().unwrap().id())
}

/// Every record of a zone, straight from Route 53.
async fn records(r53: &Client, zone: &str) -> Vec<ResourceRecordSet> {
    let out = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets().to_vec()
}

fn alias_record(name: &str, set: &str, failover: &str, dns: &str) -> ResourceRecordSet {
    let alias = AliasTarget::builder()
        .hosted_zone_id(ALB_ZONE)
        .dns_name(dns)
        .evaluate_target_health(true)
        .build()
        .unwrap();
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .set_identifier(set)
        .failover(ResourceRecordSetFailover::from(failover))
        .alias_target(alias)
        .build()
        .unwrap()
}

async fn change(r53: &Client, zone: &str, action: ChangeAction, r: ResourceRecordSet) {
    let c = Change::builder().action(action).resource_record_set(r).build().unwrap();
    let batch = ChangeBatch::builder().changes(c).build().unwrap();
    r53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await.unwrap();
}

/// Removes every record but SOA and NS, then the zone.
async fn drop_zone(r53: &Client, zone: &str) {
    let Ok(listed) = r53.list_resource_record_sets().hosted_zone_id(zone).send().await else { return };
    for r in listed.resource_record_sets().iter().cloned() {
        if !matches!(r.r#type(), RrType::Soa | RrType::Ns) {
            let c = Change::builder().action(ChangeAction::Delete).resource_record_set(r).build().unwrap();
            let batch = ChangeBatch::builder().changes(c).build().unwrap();
            let _ = r53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await;
        }
    }
    let _ = r53.delete_hosted_zone().id(zone).send().await;
}

// ---------------------------------------------------------------------------------------
// route53.hosted_zone

#[tokio::test]
async fn hosted_zone_create_read_update_adopt_delete() {
    let (h, cfg) = Harness::new("r53zone").await;
    let r53 = Client::new(&cfg);
    let domain = format!("{}.hactl-test.example", h.stack);
    // Another tool's zone of the very name the stack wants, made first.
    let foreign = foreign_zone(&r53, &domain, &format!("other-tool-{}", h.stack)).await;
    let mut created = Vec::new();
    let result = zone_lifecycle(&h, &r53, &domain, &foreign, &mut created).await;
    // Every zone of the test's name (a second one, should a create not be idempotent).
    let zones = r53.list_hosted_zones().send().await.unwrap();
    let named =
        zones.hosted_zones().iter().filter(|z| z.name() == format!("{domain}.")).map(|z| bare(z.id()));
    for id in created.iter().cloned().chain([foreign.clone()]).chain(named) {
        drop_zone(&r53, &id).await;
    }
    result.unwrap();
}

async fn zone_lifecycle(
    h: &Harness,
    r53: &Client,
    domain: &str,
    foreign: &str,
    created: &mut Vec<String>,
) -> Result<(), String> {
    let p = h.provider("route53.hosted_zone");
    let address = addr("route53_zone.main");
    // Written with capitals and a trailing dot: Route 53 answers the name lowercase.
    let written = format!("{}.", domain.replace("hactl-test", "Hactl-Test"));
    let desired = |comment: &str, extra: &[(&str, &str)]| {
        props(vec![
            ("name", Value::str(&written)),
            ("comment", Value::str(comment)),
            ("tags", h.tags("route53_zone.main", extra)),
        ])
    };
    let want = desired("failover zone", &[]);

    // Before the create: the foreign zone of the same name is a conflict, never ours.
    let (objs, _) = h.read("route53.hosted_zone", &[target("route53_zone.main", None, &want)]).await;
    let f = objs.iter().find(|o| o.id == foreign).ok_or("the foreign zone is not reported")?;
    assert!(!f.owned, "{f:?}");
    assert_eq!(f.address.as_ref(), Some(&address), "reported under the address it takes");
    assert!(f.outputs.is_empty(), "no name servers are read for a conflict: {f:?}");

    // Create: a new public zone, tagged, with its comment.
    let applied = p.create(&h.ctx(), &address, &want).await.map_err(|e| e.to_string())?;
    created.push(applied.id.clone());
    let id = applied.id.clone();
    assert!(!id.starts_with('/') && id != foreign, "{id}");
    let live = r53.get_hosted_zone().id(&id).send().await.unwrap();
    let zone = live.hosted_zone().unwrap();
    assert_eq!(zone.name(), format!("{domain}."));
    assert_eq!(zone.config().and_then(|c| c.comment()), Some("failover zone"));
    assert!(!zone.config().unwrap().private_zone());
    let ns = live.delegation_set().unwrap().name_servers().to_vec();
    assert!(!ns.is_empty());
    assert_eq!(applied.outputs["name_servers"], Value::from_strings(ns.clone()));
    let t = tags(r53, TagResourceType::Hostedzone, &id).await;
    assert_eq!(t.get(TAG_STACK), Some(&h.stack));
    assert_eq!(t.get(TAG_ADDRESS).map(String::as_str), Some("route53_zone.main"));
    assert_eq!(
        tags(r53, TagResourceType::Hostedzone, foreign).await,
        BTreeMap::new(),
        "foreign zone untouched"
    );

    // Read: ours by id, no diff (name case and dot normalised); the calls.
    let t_main = target("route53_zone.main", Some(&id), &want);
    let (objs, calls) = h.read("route53.hosted_zone", std::slice::from_ref(&t_main)).await;
    let ours = objs.iter().find(|o| o.id == id).ok_or("not read")?;
    assert!(ours.owned);
    assert_eq!(ours.address.as_ref(), Some(&address));
    assert_eq!(ours.props["name"], Value::str(format!("{domain}.")), "read answers what AWS says");
    assert_eq!(changed(&*p, &want, ours), Vec::<String>::new());
    assert_eq!(ours.output("id"), Some(Value::str(&id)));
    assert_eq!(ours.outputs["name_servers"], Value::from_strings(ns.clone()));
    assert!(!objs.iter().any(|o| o.id == foreign && o.owned));
    let calls = ops(&calls);
    assert_eq!(calls.get("ListHostedZones"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("GetHostedZone"), Some(&1), "only for the stack's zone: {calls:?}");
    assert!(calls.get("ListTagsForResources").is_some_and(|n| *n >= 1), "{calls:?}");
    assert_eq!(calls.len(), 3, "{calls:?}");

    // Update in place: comment and tags.
    let next = desired("the DR zone", &[("team", "ops")]);
    let changes = p.diff(&next, &ours.props);
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["comment", "tags"]);
    p.update(&h.ctx(), UpdateRequest { address: &address, id: &id, desired: &next, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    let live = r53.get_hosted_zone().id(&id).send().await.unwrap();
    assert_eq!(live.hosted_zone().unwrap().config().and_then(|c| c.comment()), Some("the DR zone"));
    assert_eq!(
        tags(r53, TagResourceType::Hostedzone, &id).await.get("team").map(String::as_str),
        Some("ops")
    );
    let ours =
        h.read_one("route53.hosted_zone", &target("route53_zone.main", Some(&id), &next)).await.unwrap();
    assert_eq!(changed(&*p, &next, &ours), Vec::<String>::new());
    // ... and removing a tag.
    let changes = p.diff(&want, &ours.props);
    p.update(&h.ctx(), UpdateRequest { address: &address, id: &id, desired: &want, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    assert!(!tags(r53, TagResourceType::Hostedzone, &id).await.contains_key("team"));

    // A create cut short before its tags: read finds the zone by its caller reference.
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(&id)
        .remove_tag_keys(TAG_STACK)
        .remove_tag_keys(TAG_ADDRESS)
        .send()
        .await
        .unwrap();
    let (objs, _) = h.read("route53.hosted_zone", &[target("route53_zone.main", None, &want)]).await;
    let ours = objs.iter().find(|o| o.id == id).ok_or("untagged zone not found")?;
    assert!(ours.owned && ours.address.as_ref() == Some(&address), "{ours:?}");
    // ... and the create retried finds it (HostedZoneAlreadyExists) and converges it.
    add_tag(r53, TagResourceType::Hostedzone, &id, "extra", "1").await;
    let again = p.create(&h.ctx(), &address, &want).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, id, "no second zone");
    let t = tags(r53, TagResourceType::Hostedzone, &id).await;
    assert_eq!(t.get(TAG_STACK), Some(&h.stack));
    assert!(!t.contains_key("extra"), "{t:?}");
    assert_eq!(again.outputs["name_servers"], Value::from_strings(ns));

    zone_delete(h, r53, &id, foreign, &want).await
}

async fn zone_delete(h: &Harness, r53: &Client, id: &str, foreign: &str, want: &Props) -> Result<(), String> {
    let p = h.provider("route53.hosted_zone");
    // A record someone else put in the zone: the delete fails with a clear conflict.
    let name = format!("other.{}", want["name"].as_str().unwrap_or_default().to_lowercase());
    change(r53, id, ChangeAction::Create, alias_record(&name, "x", "PRIMARY", ALB_DNS)).await;
    let err = p.delete(&h.ctx(), id, want).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.code(), Some("HostedZoneNotEmpty"));
    assert_eq!(err.operation(), Some("DeleteHostedZone"));
    assert!(err.message().contains("SOA and NS") && err.message().contains(id), "{err}");
    assert!(zone_exists(r53, id).await);
    change(r53, id, ChangeAction::Delete, alias_record(&name, "x", "PRIMARY", ALB_DNS)).await;

    // Delete: gone, the foreign zone stays; again is fine.
    p.delete(&h.ctx(), id, want).await.map_err(|e| e.to_string())?;
    assert!(!zone_exists(r53, id).await);
    assert!(zone_exists(r53, foreign).await, "the foreign zone of the same name is untouched");
    p.delete(&h.ctx(), id, want).await.map_err(|e| e.to_string())?;
    let (objs, _) = h.read("route53.hosted_zone", &[target("route53_zone.main", Some(id), want)]).await;
    assert!(objs.iter().all(|o| o.id != id && !o.owned), "{objs:?}");
    Ok(())
}

#[tokio::test]
async fn another_stacks_zone_is_not_read_as_ours() {
    let (h, cfg) = Harness::new("r53zb").await;
    let (other, _) = Harness::new("r53zb-other").await;
    let r53 = Client::new(&cfg);
    let domain = format!("{}.hactl-test.example", other.stack);
    let want = |h: &Harness| {
        props(vec![
            ("name", Value::str(&domain)),
            ("comment", Value::Null),
            ("tags", h.tags("route53_zone.main", &[])),
        ])
    };
    let theirs = other
        .provider("route53.hosted_zone")
        .create(&other.ctx(), &addr("route53_zone.main"), &want(&other))
        .await;
    let read = match &theirs {
        // Our read of a zone named elsewhere in our config: theirs is not ours.
        Ok(_) => Some(h.read("route53.hosted_zone", &[target("route53_zone.dns", None, &want(&h))]).await.0),
        Err(_) => None,
    };
    let tagged = match &theirs {
        Ok(a) => tags(&r53, TagResourceType::Hostedzone, &a.id).await,
        Err(_) => BTreeMap::new(),
    };
    if let Ok(a) = &theirs {
        drop_zone(&r53, &a.id).await;
    }
    let theirs = theirs.unwrap();
    let objs = read.unwrap();
    let o = objs.iter().find(|o| o.id == theirs.id).expect("reported: it holds the name");
    assert!(!o.owned, "{o:?}");
    assert_eq!(o.address.as_ref(), Some(&addr("route53_zone.dns")), "a conflict at our address");
    assert_eq!(tagged.get(TAG_STACK), Some(&other.stack), "their tags untouched");
}

// ---------------------------------------------------------------------------------------
// route53.health_check

fn check_props(
    h: &Harness,
    fqdn: &str,
    port: i64,
    path: &str,
    threshold: i64,
    extra: &[(&str, &str)],
) -> Props {
    props(vec![
        ("check_type", Value::str("HTTPS")),
        ("fqdn", Value::str(fqdn)),
        ("port", Value::Int(port)),
        ("resource_path", Value::str(path)),
        ("request_interval", Value::Int(10)),
        ("failure_threshold", Value::Int(threshold)),
        ("tags", h.tags("route53_health_check.primary", extra)),
    ])
}

async fn foreign_check(r53: &Client, reference: &str) -> String {
    let config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .fully_qualified_domain_name(ALB_DNS)
        .port(443)
        .resource_path("/")
        .build()
        .unwrap();
    let out = r53
        .create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .unwrap();
    out.health_check().unwrap().id().to_string()
}

#[tokio::test]
async fn health_check_create_read_update_delete() {
    let (h, cfg) = Harness::new("r53hc").await;
    let r53 = Client::new(&cfg);
    // Another tool's check, and a check hactl made for another stack.
    let foreign = foreign_check(&r53, &format!("other-tool-{}", h.stack)).await;
    let theirs = foreign_check(&r53, &format!("hactl-{}-theirs", h.stack)).await;
    add_tag(&r53, TagResourceType::Healthcheck, &theirs, TAG_STACK, &format!("{}-other", h.stack)).await;
    let mut created = Vec::new();
    let result = check_lifecycle(&h, &r53, &[&foreign, &theirs], &mut created).await;
    for id in created.iter().map(String::as_str).chain([foreign.as_str(), theirs.as_str()]) {
        let _ = r53.delete_health_check().health_check_id(id).send().await;
    }
    result.unwrap();
}

async fn check_lifecycle(
    h: &Harness,
    r53: &Client,
    others: &[&str],
    created: &mut Vec<String>,
) -> Result<(), String> {
    let p = h.provider("route53.health_check");
    let address = addr("route53_health_check.primary");
    let want = check_props(h, ALB_DNS, 443, "/healthz", 3, &[]);

    // Create: the configuration and tags Route 53 holds.
    let applied = p.create(&h.ctx(), &address, &want).await.map_err(|e| e.to_string())?;
    created.push(applied.id.clone());
    let id = applied.id.clone();
    let live = r53.get_health_check().health_check_id(&id).send().await.unwrap();
    let c = live.health_check().unwrap().health_check_config().unwrap();
    assert_eq!(c.r#type(), &HealthCheckType::Https);
    assert_eq!(c.fully_qualified_domain_name(), Some(ALB_DNS));
    assert_eq!((c.port(), c.resource_path()), (Some(443), Some("/healthz")));
    assert_eq!((c.request_interval(), c.failure_threshold()), (Some(10), Some(3)));
    let t = tags(r53, TagResourceType::Healthcheck, &id).await;
    assert_eq!(t.get(TAG_ADDRESS).map(String::as_str), Some("route53_health_check.primary"));
    let version = live.health_check().unwrap().health_check_version();

    // Read: ours, no diff; the others are not the stack's; one list, tags in batches.
    let t_main = target("route53_health_check.primary", Some(&id), &want);
    let (objs, calls) = h.read("route53.health_check", std::slice::from_ref(&t_main)).await;
    let ours = objs.iter().find(|o| o.id == id).ok_or("not read")?;
    assert!(ours.owned && ours.address.as_ref() == Some(&address), "{ours:?}");
    assert_eq!(changed(&*p, &want, ours), Vec::<String>::new());
    assert!(objs.iter().all(|o| !others.contains(&o.id.as_str())), "{objs:?}");
    let calls = ops(&calls);
    assert_eq!(calls.get("ListHealthChecks"), Some(&1), "{calls:?}");
    assert!(calls.get("ListTagsForResources").is_some_and(|n| *n >= 1), "{calls:?}");
    assert_eq!(calls.len(), 2, "{calls:?}");

    // A create retried with the same caller reference and configuration answers the same
    // check (Route 53's idempotency: no second check).
    let again = p.create(&h.ctx(), &address, &want).await.map_err(|e| e.to_string())?;
    created.push(again.id.clone());
    assert_eq!(again.id, id);

    // Update in place: domain name, port, path, threshold (one UpdateHealthCheck at the
    // current version), and tags.
    let next = check_props(h, ALB2_DNS, 8443, "/ready", 5, &[("team", "ops")]);
    let changes = p.diff(&next, &ours.props);
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["failure_threshold", "fqdn", "port", "resource_path", "tags"]);
    p.update(&h.ctx(), UpdateRequest { address: &address, id: &id, desired: &next, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    let live = r53.get_health_check().health_check_id(&id).send().await.unwrap();
    let check = live.health_check().unwrap();
    let c = check.health_check_config().unwrap();
    assert_eq!(c.fully_qualified_domain_name(), Some(ALB2_DNS));
    assert_eq!((c.port(), c.resource_path(), c.failure_threshold()), (Some(8443), Some("/ready"), Some(5)));
    assert_eq!(check.health_check_version(), version + 1);
    assert_eq!(
        tags(r53, TagResourceType::Healthcheck, &id).await.get("team").map(String::as_str),
        Some("ops")
    );
    let ours =
        h.read_one("route53.health_check", &target("route53_health_check.primary", Some(&id), &next)).await;
    assert_eq!(changed(&*p, &next, &ours.ok_or("not read")?), Vec::<String>::new());

    // A check untagged (a create cut short before its tags) is still found as ours.
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Healthcheck)
        .resource_id(&id)
        .remove_tag_keys(TAG_STACK)
        .remove_tag_keys(TAG_ADDRESS)
        .remove_tag_keys("team")
        .send()
        .await
        .unwrap();
    let (objs, _) =
        h.read("route53.health_check", &[target("route53_health_check.primary", None, &want)]).await;
    assert!(objs.iter().any(|o| o.id == id && o.owned && o.address.as_ref() == Some(&address)), "{objs:?}");

    // Delete: gone; the others stay; again is fine.
    p.delete(&h.ctx(), &id, &want).await.map_err(|e| e.to_string())?;
    let gone = r53.get_health_check().health_check_id(&id).send().await.unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchHealthCheck"));
    for other in others {
        r53.get_health_check().health_check_id(*other).send().await.unwrap();
    }
    p.delete(&h.ctx(), &id, &want).await.map_err(|e| e.to_string())?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// route53.record

#[tokio::test]
async fn failover_record_create_read_update_delete() {
    let (h, cfg) = Harness::new("r53rec").await;
    let r53 = Client::new(&cfg);
    let domain = format!("{}.hactl-test.example", h.stack);
    let zone = foreign_zone(&r53, &domain, &format!("test-{}", h.stack)).await;
    let check = foreign_check(&r53, &format!("test-{}", h.stack)).await;
    let result = record_lifecycle(&h, &r53, &zone, &domain, &check).await;
    drop_zone(&r53, &zone).await;
    let _ = r53.delete_health_check().health_check_id(&check).send().await;
    result.unwrap();
}

fn record_props(zone: &str, name: &str, set: &str, failover: &str, dns: &str, check: Option<&str>) -> Props {
    props(vec![
        ("zone_id", Value::str(zone)),
        ("name", Value::str(name)),
        ("record_type", Value::str("A")),
        ("set_identifier", Value::str(set)),
        ("failover", Value::str(failover)),
        ("alias_dns_name", Value::str(dns)),
        ("alias_zone_id", Value::str(ALB_ZONE)),
        ("evaluate_target_health", Value::Bool(true)),
        ("health_check_id", check.map(Value::str).unwrap_or(Value::Null)),
    ])
}

/// The record of a name and set identifier, straight from Route 53.
async fn record_of(r53: &Client, zone: &str, name: &str, set: &str) -> Option<ResourceRecordSet> {
    let name = format!("{}.", name.trim_end_matches('.').to_lowercase());
    records(r53, zone).await.into_iter().find(|r| r.name() == name && r.set_identifier() == Some(set))
}

async fn record_lifecycle(
    h: &Harness,
    r53: &Client,
    zone: &str,
    domain: &str,
    check: &str,
) -> Result<(), String> {
    let p = h.provider("route53.record");
    let address = addr("route53_record.primary");
    let www = format!("WWW.{domain}");
    // Records that are not the stack's: the same name with another set identifier, and
    // another name with the same set identifier.
    let other_set = alias_record(&format!("www.{domain}."), "elsewhere", "SECONDARY", ALB2_DNS);
    let other_name = alias_record(&format!("api.{domain}."), "primary", "PRIMARY", ALB2_DNS);
    change(r53, zone, ChangeAction::Create, other_set.clone()).await;
    change(r53, zone, ChangeAction::Create, other_name.clone()).await;
    let want = record_props(zone, &www, "primary", "PRIMARY", ALB_DNS, Some(check));

    // Nothing of ours yet: the records of other keys are not read for this target.
    let (objs, _) = h.read("route53.record", &[target("route53_record.primary", None, &want)]).await;
    assert!(objs.is_empty(), "{objs:?}");

    // Create: one failover alias record.
    let applied = p.create(&h.ctx(), &address, &want).await.map_err(|e| e.to_string())?;
    let id = format!("{zone}/www.{domain}/A/primary");
    assert_eq!(applied.id, id);
    let r = record_of(r53, zone, &www, "primary").await.ok_or("no record")?;
    assert_eq!(r.failover(), Some(&ResourceRecordSetFailover::Primary));
    assert_eq!(r.health_check_id(), Some(check));
    let alias = r.alias_target().ok_or("no alias")?;
    assert_eq!((alias.hosted_zone_id(), alias.evaluate_target_health()), (ALB_ZONE, true));
    assert_eq!(alias.dns_name().trim_end_matches('.').to_lowercase(), ALB_DNS.to_lowercase());

    // Read: ours by id, no diff; one list of the zone.
    let t = target("route53_record.primary", Some(&id), &want);
    let (objs, calls) = h.read("route53.record", std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "only our record: {objs:?}");
    assert!(objs[0].owned && objs[0].address.as_ref() == Some(&address));
    assert_eq!(objs[0].props["name"], Value::str(format!("www.{domain}.")), "read answers what AWS says");
    assert_eq!(changed(&*p, &want, &objs[0]), Vec::<String>::new());
    assert_eq!(ops(&calls), BTreeMap::from([("ListResourceRecordSets".to_string(), 1)]));

    // Route 53 answering the alias lowercase, dotted and `dualstack.`-prefixed is no drift.
    let dualstack = format!("dualstack.{}.", ALB_DNS.to_lowercase());
    let mut prefixed = alias_record(&format!("www.{domain}."), "primary", "PRIMARY", &dualstack);
    prefixed.health_check_id = Some(check.to_string());
    change(r53, zone, ChangeAction::Upsert, prefixed).await;
    let live = h.read_one("route53.record", &t).await.ok_or("not read")?;
    assert_eq!(live.props["alias_dns_name"], Value::str(&dualstack));
    assert_eq!(changed(&*p, &want, &live), Vec::<String>::new());

    // Update in place: the other load balancer, SECONDARY, no target health, no check.
    let mut next = record_props(zone, &www, "primary", "SECONDARY", ALB2_DNS, None);
    next.insert("evaluate_target_health".into(), Value::Bool(false));
    let changes = p.diff(&next, &live.props);
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alias_dns_name", "evaluate_target_health", "failover", "health_check_id"]);
    p.update(&h.ctx(), UpdateRequest { address: &address, id: &id, desired: &next, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    let r = record_of(r53, zone, &www, "primary").await.ok_or("no record")?;
    assert_eq!(r.failover(), Some(&ResourceRecordSetFailover::Secondary));
    assert_eq!(r.health_check_id(), None);
    let alias = r.alias_target().ok_or("no alias")?;
    assert_eq!(alias.dns_name().trim_end_matches('.').to_lowercase(), ALB2_DNS);
    assert!(!alias.evaluate_target_health());
    let live = h.read_one("route53.record", &t).await.ok_or("not read")?;
    assert_eq!(changed(&*p, &next, &live), Vec::<String>::new());

    record_conflict_and_delete(h, r53, zone, domain, &id, &next).await?;
    // The records that are not the stack's are untouched.
    for other in [&other_set, &other_name] {
        let r = record_of(r53, zone, other.name(), other.set_identifier().unwrap_or_default()).await;
        assert_eq!(r.as_ref(), Some(other), "untouched");
    }
    Ok(())
}

async fn record_conflict_and_delete(
    h: &Harness,
    r53: &Client,
    zone: &str,
    domain: &str,
    id: &str,
    recorded: &Props,
) -> Result<(), String> {
    let p = h.provider("route53.record");
    // A target wanting a key another record holds: reported unowned (a conflict), and a
    // create is refused by Route 53 (CREATE), the record left as it was.
    let clash = record_props(zone, &format!("www.{domain}"), "elsewhere", "PRIMARY", ALB_DNS, None);
    let (objs, _) = h.read("route53.record", &[target("route53_record.clash", None, &clash)]).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(!objs[0].owned && objs[0].address == Some(addr("route53_record.clash")));
    let err = p.create(&h.ctx(), &addr("route53_record.clash"), &clash).await.unwrap_err();
    assert!(err.is_conflict() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.code(), Some("InvalidChangeBatch"));
    assert!(err.message().contains("already exists") && err.message().contains("not this stack's"), "{err}");
    let r = record_of(r53, zone, &format!("www.{domain}"), "elsewhere").await.ok_or("clobbered")?;
    assert_eq!(r.failover(), Some(&ResourceRecordSetFailover::Secondary), "not overwritten");

    // Delete: exactly our record goes; again is fine; a read finds nothing.
    p.delete(&h.ctx(), id, recorded).await.map_err(|e| e.to_string())?;
    assert!(record_of(r53, zone, &format!("www.{domain}"), "primary").await.is_none());
    p.delete(&h.ctx(), id, recorded).await.map_err(|e| e.to_string())?;
    let t = target("route53_record.primary", Some(id), recorded);
    assert!(h.read_one("route53.record", &t).await.is_none());
    Ok(())
}

#[tokio::test]
async fn records_of_a_deleted_zone_read_as_gone() {
    let (h, _) = Harness::new("r53gone").await;
    let want =
        record_props("ZNOSUCHZONE0000000000", "www.nowhere.example", "primary", "PRIMARY", ALB_DNS, None);
    let id = "ZNOSUCHZONE0000000000/www.nowhere.example/A/primary";
    let (objs, _) = h.read("route53.record", &[target("route53_record.primary", Some(id), &want)]).await;
    assert!(objs.is_empty());
    h.provider("route53.record").delete(&h.ctx(), id, &want).await.unwrap();
}
