//! Private hosted zones and simple (wildcard) alias records against the emulator, the
//! internal routing of issue 14: a private zone `<stack>.internal` per region's VPC and the
//! record `*.<stack>.internal` aliasing the internal load balancer. Driven through the
//! registry (`route53.hosted_zone`, `route53.record`), every effect checked with the Route
//! 53 SDK (GetHostedZone's VPCs, ListResourceRecordSets), names unique per process, and
//! everything (zones, records, VPCs) removed at the end, also when an assertion fails.
//! Zones made outside the stack with the same name stay untouched and are never read as
//! the stack's.

use crate::common;

use aws_config::{Region, SdkConfig};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType, TagResourceType, Vpc,
    VpcRegion,
};
use aws_sdk_route53::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::route53::{addr, bare, changed, ops, props, target};
use common::Harness;
use futures::FutureExt;
use hactl_core::{Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::UpdateRequest;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

/// The internal load balancer's canonical hosted zone (us-east-1) and DNS names.
const ALB_ZONE: &str = "Z35SXDOTRQ7X7K";
const ALB_DNS: &str = "internal-Hactl-Int-1234.us-east-1.elb.amazonaws.com";
const ALB2_DNS: &str = "internal-hactl-int-5678.us-east-1.elb.amazonaws.com";

const MAIN: &str = "route53_zone.internal";
const DR: &str = "dr.route53_zone.internal";
const WILDCARD: &str = "route53_record.internal";

/// What the test made, removed at the end whatever happened.
#[derive(Default)]
struct Made {
    vpcs: Vec<(String, String)>,
    zones: Vec<String>,
}

fn ec2_in(cfg: &SdkConfig, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(cfg).region(Region::new(region.to_string())).build(),
    )
}

async fn create_vpc(cfg: &SdkConfig, region: &str, cidr: &str, made: &mut Made) -> String {
    let out = ec2_in(cfg, region).create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    let id = out.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    made.vpcs.push((region.to_string(), id.clone()));
    id
}

/// A private zone made outside hactl (another tool's), untagged.
async fn foreign_zone(r53: &Client, name: &str, reference: &str, vpc: &str, made: &mut Made) -> String {
    let vpc = Vpc::builder().vpc_id(vpc).vpc_region(VpcRegion::UsEast1).build();
    let out =
        r53.create_hosted_zone().name(name).caller_reference(reference).vpc(vpc).send().await.expect("zone");
    let id = bare(out.hosted_zone().unwrap().id());
    made.zones.push(id.clone());
    id
}

/// The zone's VPCs (id, region) and whether it is private, straight from Route 53; `None`
/// when it is gone.
async fn zone_vpcs(r53: &Client, id: &str) -> Option<(bool, Vec<(String, String)>)> {
    match r53.get_hosted_zone().id(id).send().await {
        Ok(o) => {
            let private = o.hosted_zone().and_then(|z| z.config()).is_some_and(|c| c.private_zone());
            let vpcs = o.vpcs().iter().map(|v| {
                (
                    v.vpc_id().unwrap_or_default().to_string(),
                    v.vpc_region().map(|r| r.as_str()).unwrap_or_default().to_string(),
                )
            });
            Some((private, vpcs.collect()))
        }
        Err(e) if e.code() == Some("NoSuchHostedZone") => None,
        Err(e) => panic!("GetHostedZone: {e:?}"),
    }
}

async fn tags(r53: &Client, id: &str) -> BTreeMap<String, String> {
    let out = r53
        .list_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .send()
        .await
        .unwrap();
    let set = out.resource_tag_set().map(|s| s.tags().to_vec()).unwrap_or_default();
    set.iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect()
}

/// Every record of a zone, straight from Route 53.
async fn records(r53: &Client, zone: &str) -> Vec<ResourceRecordSet> {
    let out = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets().to_vec()
}

/// The A records of a zone other than SOA and NS, straight from Route 53.
async fn a_records(r53: &Client, zone: &str) -> Vec<ResourceRecordSet> {
    records(r53, zone).await.into_iter().filter(|r| r.r#type() == &RrType::A).collect()
}

fn simple_alias(name: &str, dns: &str) -> ResourceRecordSet {
    let alias = AliasTarget::builder()
        .hosted_zone_id(ALB_ZONE)
        .dns_name(dns)
        .evaluate_target_health(false)
        .build()
        .unwrap();
    ResourceRecordSet::builder().name(name).r#type(RrType::A).alias_target(alias).build().unwrap()
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

fn zone_props(
    h: &Harness,
    address: &str,
    name: &str,
    vpc: &str,
    region: &str,
    extra: &[(&str, &str)],
) -> Props {
    props(vec![
        ("name", Value::str(name)),
        ("comment", Value::Null),
        ("vpc_id", Value::str(vpc)),
        ("vpc_region", Value::str(region)),
        ("tags", h.tags(address, extra)),
    ])
}

fn wildcard_props(zone: &str, name: &str, dns: &str) -> Props {
    props(vec![
        ("zone_id", Value::str(zone)),
        ("name", Value::str(name)),
        ("record_type", Value::str("A")),
        ("set_identifier", Value::Null),
        ("failover", Value::Null),
        ("alias_dns_name", Value::str(dns)),
        ("alias_zone_id", Value::str(ALB_ZONE)),
        ("evaluate_target_health", Value::Bool(false)),
        ("health_check_id", Value::Null),
    ])
}

#[tokio::test]
async fn private_zones_per_region_and_a_wildcard_alias_record() {
    let (h, cfg) = Harness::new("r53priv").await;
    let r53 = Client::new(&cfg);
    let mut made = Made::default();
    // A failed assertion panics: caught, so that the cleanup runs, then raised again.
    let result = AssertUnwindSafe(lifecycle(&h, &cfg, &r53, &mut made)).catch_unwind().await;
    // Every zone of the test's name too (a second one, should a create not be idempotent).
    let name = format!("{}.internal.", h.stack);
    let listed = r53.list_hosted_zones().send().await.unwrap();
    let named = listed.hosted_zones().iter().filter(|z| z.name() == name).map(|z| bare(z.id()));
    let zones: Vec<String> = made.zones.iter().cloned().chain(named).collect();
    for id in zones {
        drop_zone(&r53, &id).await;
    }
    for (region, vpc) in &made.vpcs {
        let _ = ec2_in(&cfg, region).delete_vpc().vpc_id(vpc).send().await;
    }
    match result {
        Ok(r) => r.unwrap(),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn lifecycle(h: &Harness, cfg: &SdkConfig, r53: &Client, made: &mut Made) -> Result<(), String> {
    let name = format!("{}.internal", h.stack);
    let vpc_a = create_vpc(cfg, "us-east-1", "10.81.0.0/16", made).await;
    let vpc_b = create_vpc(cfg, "us-west-2", "10.82.0.0/16", made).await;
    let vpc_c = create_vpc(cfg, "us-east-1", "10.83.0.0/16", made).await;
    let main = zone_props(h, MAIN, &name, &vpc_a, "us-east-1", &[]);
    let dr = zone_props(h, DR, &name, &vpc_b, "us-west-2", &[]);
    // Another tool's private zones of the very name: in a VPC of its own (never the
    // stack's business), and in the VPC the main zone wants (a conflict).
    let elsewhere = foreign_zone(r53, &name, &format!("other-{}-c", h.stack), &vpc_c, made).await;
    let taken = foreign_zone(r53, &name, &format!("other-{}-a", h.stack), &vpc_a, made).await;
    let before = [target(MAIN, None, &main), target(DR, None, &dr)];
    let (objs, _) = h.read("route53.hosted_zone", &before).await;
    assert_eq!(objs.len(), 1, "only the zone that takes a target's name and VPC: {objs:?}");
    assert_eq!(objs[0].id, taken);
    assert!(!objs[0].owned && objs[0].address == Some(addr(MAIN)), "a conflict at {MAIN}: {objs:?}");
    assert!(objs[0].outputs.is_empty(), "nothing read for a conflict");
    // The operator removes it; the stack's zones can be made.
    drop_zone(r53, &taken).await;

    let ids = create_zones(h, r53, &main, &dr).await?;
    made.zones.extend(ids.iter().cloned());
    read_zones(h, r53, &ids, &main, &dr, &elsewhere).await?;
    let zone = &ids[0];
    let record_id = wildcard(h, r53, zone, &ids[1], &name).await?;
    delete_all(h, r53, &ids, &record_id, &main, &dr, &name).await?;
    assert!(
        zone_vpcs(r53, &elsewhere).await.is_some(),
        "the other tool's zone of the same name is untouched"
    );
    assert_eq!(tags(r53, &elsewhere).await, BTreeMap::new());
    Ok(())
}

/// Creates the main and DR zones; checks them with the SDK. Their ids, main first.
async fn create_zones(h: &Harness, r53: &Client, main: &Props, dr: &Props) -> Result<Vec<String>, String> {
    let p = h.provider("route53.hosted_zone");
    let mut ids = Vec::new();
    for (address, want) in [(MAIN, main), (DR, dr)] {
        let applied =
            p.create(&h.ctx(), &addr(address), want).await.map_err(|e| format!("{address}: {e}"))?;
        let (private, vpcs) = zone_vpcs(r53, &applied.id).await.ok_or("created zone not found")?;
        assert!(private, "{address} is a private zone");
        let vpc =
            (want["vpc_id"].as_str().unwrap().to_string(), want["vpc_region"].as_str().unwrap().to_string());
        assert_eq!(vpcs, [vpc], "{address}: associated with its VPC");
        let t = tags(r53, &applied.id).await;
        assert_eq!(t.get(TAG_STACK), Some(&h.stack));
        assert_eq!(t.get(TAG_ADDRESS).map(String::as_str), Some(address));
        assert_eq!(
            applied.outputs["name_servers"],
            Value::from_strings(Vec::<String>::new()),
            "no delegation"
        );
        ids.push(applied.id);
    }
    assert_ne!(ids[0], ids[1]);
    Ok(ids)
}

/// Reads the two zones of one name back: each at its own address, no diff, the calls.
async fn read_zones(
    h: &Harness,
    r53: &Client,
    ids: &[String],
    main: &Props,
    dr: &Props,
    elsewhere: &str,
) -> Result<(), String> {
    let p = h.provider("route53.hosted_zone");
    let recorded = [target(MAIN, Some(&ids[0]), main), target(DR, Some(&ids[1]), dr)];
    let (objs, calls) = h.read("route53.hosted_zone", &recorded).await;
    assert_eq!(objs.len(), 2, "the stack's two zones, not the other tool's: {objs:?}");
    for (id, address, want) in [(&ids[0], MAIN, main), (&ids[1], DR, dr)] {
        let o = objs.iter().find(|o| &o.id == id).ok_or("not read")?;
        assert!(o.owned && o.address == Some(addr(address)), "{o:?}");
        assert_eq!(o.props["vpc_id"], want["vpc_id"], "read back from GetHostedZone");
        assert_eq!(changed(&*p, want, o), Vec::<String>::new(), "{address}");
    }
    assert!(objs.iter().all(|o| o.id != elsewhere));
    // One list, one tag call, GetHostedZone for the stack's two zones and for the other
    // tool's private zone of the same name (its VPCs tell it is not a conflict).
    let calls = ops(&calls);
    let want = BTreeMap::from([
        ("GetHostedZone".to_string(), 3),
        ("ListHostedZones".to_string(), 1),
        ("ListTagsForResources".to_string(), 1),
    ]);
    assert_eq!(calls, want);

    // Creates cut short before their tags: each zone found at its own address by the
    // caller reference of its create; the update puts the tags back.
    for id in ids {
        r53.change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(id)
            .remove_tag_keys(TAG_STACK)
            .remove_tag_keys(TAG_ADDRESS)
            .send()
            .await
            .unwrap();
    }
    let (objs, _) = h.read("route53.hosted_zone", &[target(MAIN, None, main), target(DR, None, dr)]).await;
    for (id, address, want) in [(&ids[0], MAIN, main), (&ids[1], DR, dr)] {
        let o = objs.iter().find(|o| &o.id == id).ok_or("untagged zone not found")?;
        assert!(o.owned && o.address == Some(addr(address)), "{o:?}");
        let changes = p.diff(want, &o.props);
        assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tags"]);
        let req = UpdateRequest { address: &addr(address), id, desired: want, changes: &changes };
        p.update(&h.ctx(), req).await.map_err(|e| e.to_string())?;
        assert_eq!(tags(r53, id).await.get(TAG_ADDRESS).map(String::as_str), Some(address));
    }
    Ok(())
}

/// The wildcard record in the main zone: create, read, a change of alias, a conflict in the
/// DR zone. Its id.
async fn wildcard(
    h: &Harness,
    r53: &Client,
    zone: &str,
    dr_zone: &str,
    name: &str,
) -> Result<String, String> {
    let p = h.provider("route53.record");
    let wild = format!("*.{name}");
    let want = wildcard_props(zone, &wild, ALB_DNS);
    let applied = p.create(&h.ctx(), &addr(WILDCARD), &want).await.map_err(|e| e.to_string())?;
    let id = format!("{zone}/*.{name}/A/");
    assert_eq!(applied.id, id);
    let listed = a_records(r53, zone).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let r = &listed[0];
    assert_eq!(r.name(), format!("\\052.{name}."), "Route 53 answers the wildcard escaped");
    assert_eq!(
        (r.set_identifier(), r.failover(), r.health_check_id()),
        (None, None, None),
        "a simple record"
    );
    let alias = r.alias_target().ok_or("no alias")?;
    assert_eq!((alias.hosted_zone_id(), alias.evaluate_target_health()), (ALB_ZONE, false));
    assert_eq!(alias.dns_name().trim_end_matches('.').to_lowercase(), ALB_DNS.to_lowercase());

    // Read: ours by id, no diff; one list of the zone.
    let t = target(WILDCARD, Some(&id), &want);
    let (objs, calls) = h.read("route53.record", std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned && objs[0].address == Some(addr(WILDCARD)) && objs[0].id == id, "{objs:?}");
    assert_eq!(objs[0].props["name"], Value::str(format!("\\052.{name}.")), "read answers what AWS says");
    assert_eq!(objs[0].props["set_identifier"], Value::Null);
    assert_eq!(changed(&*p, &want, &objs[0]), Vec::<String>::new());
    assert_eq!(ops(&calls), BTreeMap::from([("ListResourceRecordSets".to_string(), 1)]));

    // Update in place: the other load balancer (UPSERT), still a simple record.
    let next = wildcard_props(zone, &wild, ALB2_DNS);
    let changes = p.diff(&next, &objs[0].props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["alias_dns_name"]);
    let req = UpdateRequest { address: &addr(WILDCARD), id: &id, desired: &next, changes: &changes };
    p.update(&h.ctx(), req).await.map_err(|e| e.to_string())?;
    let listed = a_records(r53, zone).await;
    assert_eq!(listed.len(), 1, "updated in place, not added: {listed:?}");
    let dns = listed[0].alias_target().map(|a| a.dns_name().trim_end_matches('.').to_lowercase());
    assert_eq!(dns.as_deref(), Some(ALB2_DNS));
    assert_eq!(listed[0].set_identifier(), None);
    let live = h.read_one("route53.record", &target(WILDCARD, Some(&id), &next)).await.ok_or("not read")?;
    assert_eq!(changed(&*p, &next, &live), Vec::<String>::new());

    wildcard_conflict(h, r53, dr_zone, &wild).await?;
    Ok(id)
}

/// A wildcard state does not record, at the name a target wants in the DR zone: in a zone
/// that carries the stack's tag it is the stack's (a lost state adopts it); once the zone
/// is no longer the stack's, a conflict. Either way the create is refused (CREATE, never
/// UPSERT) and the record left as it was.
async fn wildcard_conflict(h: &Harness, r53: &Client, dr_zone: &str, wild: &str) -> Result<(), String> {
    let p = h.provider("route53.record");
    let address = "dr.route53_record.internal";
    change(r53, dr_zone, ChangeAction::Create, simple_alias(wild, ALB2_DNS)).await;
    let want = wildcard_props(dr_zone, wild, ALB_DNS);
    let (objs, _) = h.read("route53.record", &[target(address, None, &want)]).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned && objs[0].address == Some(addr(address)), "in the stack's zone: {objs:?}");
    let tags = r53
        .list_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(dr_zone)
        .send()
        .await
        .unwrap();
    let stack = tags.resource_tag_set().and_then(|t| t.tags().iter().find(|t| t.key() == Some(TAG_STACK)));
    let stack = stack.and_then(|t| t.value()).ok_or("the DR zone has no stack tag")?.to_string();
    let untag =
        r53.change_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(dr_zone);
    untag.remove_tag_keys(TAG_STACK).send().await.unwrap();
    let (objs, _) = h.read("route53.record", &[target(address, None, &want)]).await;
    let tag = aws_sdk_route53::types::Tag::builder().key(TAG_STACK).value(stack).build();
    let retag =
        r53.change_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(dr_zone);
    retag.add_tags(tag).send().await.unwrap();
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(!objs[0].owned && objs[0].address == Some(addr(address)), "in another zone: {objs:?}");
    let err = p.create(&h.ctx(), &addr(address), &want).await.unwrap_err();
    assert!(err.is_conflict() && !err.is_retryable(), "{err:?}");
    assert!(err.message().contains("already exists") && err.message().contains("another name"), "{err}");
    let listed = a_records(r53, dr_zone).await;
    let dns =
        listed.iter().map(|r| r.alias_target().map(|a| a.dns_name().to_lowercase())).collect::<Vec<_>>();
    assert_eq!(dns, [Some(ALB2_DNS.to_string())], "not overwritten");
    change(r53, dr_zone, ChangeAction::Delete, listed[0].clone()).await;
    Ok(())
}

/// Deletes: a zone holding the record is refused; the record goes, then both zones.
async fn delete_all(
    h: &Harness,
    r53: &Client,
    ids: &[String],
    record_id: &str,
    main: &Props,
    dr: &Props,
    name: &str,
) -> Result<(), String> {
    let zones = h.provider("route53.hosted_zone");
    let records = h.provider("route53.record");
    let err = zones.delete(&h.ctx(), &ids[0], main).await.unwrap_err();
    assert!(err.is_conflict() && err.code() == Some("HostedZoneNotEmpty"), "{err:?}");
    assert!(zone_vpcs(r53, &ids[0]).await.is_some());

    let recorded = wildcard_props(&ids[0], &format!("*.{name}"), ALB2_DNS);
    records.delete(&h.ctx(), record_id, &recorded).await.map_err(|e| e.to_string())?;
    assert_eq!(a_records(r53, &ids[0]).await, Vec::<ResourceRecordSet>::new(), "the record is gone");
    records.delete(&h.ctx(), record_id, &recorded).await.map_err(|e| e.to_string())?;
    assert!(h.read_one("route53.record", &target(WILDCARD, Some(record_id), &recorded)).await.is_none());

    for (id, want) in [(&ids[0], main), (&ids[1], dr)] {
        zones.delete(&h.ctx(), id, want).await.map_err(|e| e.to_string())?;
        assert_eq!(zone_vpcs(r53, id).await, None, "zone {id} is gone");
        zones.delete(&h.ctx(), id, want).await.map_err(|e| e.to_string())?;
    }
    let (objs, _) = h
        .read("route53.hosted_zone", &[target(MAIN, Some(&ids[0]), main), target(DR, Some(&ids[1]), dr)])
        .await;
    assert!(objs.is_empty(), "{objs:?}");
    Ok(())
}
