//! The `ec2.network_acl` provider against the emulator: created with its entries and
//! subnets, read back, out-of-band changes seen, updated to exactly the desired entries
//! and subnets, deleted with its subnets given back to the VPC's default ACL. Every
//! effect is checked with the EC2 SDK.

use crate::common::route53::{changed, props, target};
use crate::common::Harness;
use aws_sdk_ec2::types::{Filter, NetworkAcl as Acl, PortRange, RuleAction};
use aws_sdk_ec2::Client;
use hactl_core::kinds::ec2::NetworkAcl as Kind;
use hactl_core::{Address, Value};
use hactl_engine::UpdateRequest;
use std::collections::{BTreeMap, BTreeSet};

fn entry(n: i64, protocol: &str, (from, to): (i64, i64), cidr: &str, action: &str) -> Value {
    Value::Map(BTreeMap::from([
        ("rule_number".to_string(), Value::Int(n)),
        ("protocol".to_string(), Value::str(protocol)),
        ("from_port".to_string(), Value::Int(from)),
        ("to_port".to_string(), Value::Int(to)),
        ("cidr".to_string(), Value::str(cidr)),
        ("action".to_string(), Value::str(action)),
    ]))
}

async fn acl(c: &Client, id: &str) -> Option<Acl> {
    let f = Filter::builder().name("network-acl-id").values(id).build();
    c.describe_network_acls().filters(f).send().await.unwrap().network_acls().first().cloned()
}

/// (egress, number, protocol, from, to, CIDR, allow) of each entry but AWS's `*` entry.
fn entries(a: &Acl) -> BTreeSet<(bool, i32, String, i32, i32, String, bool)> {
    a.entries()
        .iter()
        .filter(|e| e.rule_number() != Some(32767))
        .map(|e| {
            let (from, to) = match (e.port_range(), e.icmp_type_code()) {
                (Some(r), _) => (r.from().unwrap(), r.to().unwrap()),
                (None, Some(t)) => (t.r#type().unwrap(), t.code().unwrap()),
                _ => (-1, -1),
            };
            (
                e.egress().unwrap(),
                e.rule_number().unwrap(),
                e.protocol().unwrap().to_string(),
                from,
                to,
                e.cidr_block().unwrap().to_string(),
                e.rule_action() == Some(&RuleAction::Allow),
            )
        })
        .collect()
}

fn subnets(a: &Acl) -> BTreeSet<String> {
    a.associations().iter().map(|x| x.subnet_id().unwrap().to_string()).collect()
}

async fn default_acl(c: &Client, vpc: &str) -> Acl {
    let acls = c
        .describe_network_acls()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .unwrap();
    acls.network_acls().iter().find(|a| a.is_default() == Some(true)).expect("default ACL").clone()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn network_acl_entries_and_subnets_create_read_drift_update_delete() {
    let (h, cfg) = Harness::new("nacl").await;
    let c = Client::new(&cfg);
    let vpc = c.create_vpc().cidr_block("10.77.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut ids = Vec::new();
    for cidr in ["10.77.1.0/24", "10.77.2.0/24", "10.77.3.0/24"] {
        let s = c.create_subnet().vpc_id(&vpc).cidr_block(cidr).send().await.unwrap();
        ids.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let default_entries = entries(&default_acl(&c, &vpc).await);
    let p = h.provider(Kind::KIND);
    let address = "nacl.app";
    let a = Address::parse(address).unwrap();
    let desired = props(vec![
        (Kind::VPC_ID, Value::str(&vpc)),
        (Kind::SUBNET_IDS, Value::from_strings([&ids[0], &ids[1]])),
        (
            Kind::INGRESS,
            Value::List(vec![
                entry(100, "tcp", (80, 80), "0.0.0.0/0", "allow"),
                entry(110, "icmp", (8, -1), "10.0.0.0/8", "allow"),
                entry(120, "tcp", (22, 22), "0.0.0.0/0", "deny"),
                entry(130, "tcp", (1024, 65535), "0.0.0.0/0", "allow"),
            ]),
        ),
        (Kind::EGRESS, Value::List(vec![entry(100, "-1", (-1, -1), "0.0.0.0/0", "allow")])),
        (Kind::TAGS, h.tags(address, &[("Name", "nacl-test")])),
    ]);

    // Create: the entries and the two subnets, checked in EC2.
    let id = p.create(&h.ctx(), &a, &desired).await.unwrap().id;
    let live = acl(&c, &id).await.expect("created");
    assert_eq!(live.vpc_id(), Some(vpc.as_str()));
    assert_eq!(subnets(&live), set(&[&ids[0], &ids[1]]));
    let want = |v: &[(bool, i32, &str, i32, i32, &str, bool)]| -> BTreeSet<_> {
        v.iter().map(|(e, n, p, f, t, c, a)| (*e, *n, p.to_string(), *f, *t, c.to_string(), *a)).collect()
    };
    assert_eq!(
        entries(&live),
        want(&[
            (false, 100, "6", 80, 80, "0.0.0.0/0", true),
            (false, 110, "1", 8, -1, "10.0.0.0/8", true),
            (false, 120, "6", 22, 22, "0.0.0.0/0", false),
            (false, 130, "6", 1024, 65535, "0.0.0.0/0", true),
            (true, 100, "-1", -1, -1, "0.0.0.0/0", true),
        ])
    );

    // Read: owned, at its address, nothing to change, one describe call.
    let (objs, calls) = h.read(Kind::KIND, &[target(address, Some(&id), &desired)]).await;
    let got = objs.iter().find(|o| o.id == id).expect("read");
    assert!(got.owned);
    assert_eq!(got.address.as_ref(), Some(&a));
    assert_eq!(changed(&*p, &desired, got), Vec::<String>::new());
    assert_eq!(calls.values().sum::<u64>(), 1, "{calls:?}");
    // The VPC's default ACL, even tagged as the stack's, is never read as one of its ACLs
    // (so never adopted or deleted).
    let default_id = default_acl(&c, &vpc).await.network_acl_id().unwrap().to_string();
    let stack_tag = aws_sdk_ec2::types::Tag::builder().key(hactl_core::TAG_STACK).value(&h.stack).build();
    c.create_tags().resources(&default_id).tags(stack_tag).send().await.unwrap();
    let (objs, _) = h.read(Kind::KIND, &[target(address, Some(&id), &desired)]).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);

    // Out of band: an entry added, a subnet moved back to the default ACL.
    c.create_network_acl_entry()
        .network_acl_id(&id)
        .rule_number(50)
        .protocol("6")
        .port_range(PortRange::builder().from(3389).to(3389).build())
        .cidr_block("0.0.0.0/0")
        .rule_action(RuleAction::Allow)
        .egress(false)
        .send()
        .await
        .unwrap();
    let association = live
        .associations()
        .iter()
        .find(|x| x.subnet_id() == Some(ids[1].as_str()))
        .and_then(|x| x.network_acl_association_id())
        .unwrap()
        .to_string();
    c.replace_network_acl_association()
        .association_id(association)
        .network_acl_id(&default_id)
        .send()
        .await
        .unwrap();
    let drifted = h.read_one(Kind::KIND, &target(address, Some(&id), &desired)).await.expect("read");
    assert_eq!(
        changed(&*p, &desired, &drifted),
        vec![Kind::INGRESS.to_string(), Kind::SUBNET_IDS.to_string()]
    );
    assert!(drifted.props[Kind::INGRESS].to_string().contains("3389"), "{:?}", drifted.props);

    // Update: subnets 1 and 2 (0 leaves), entry 100 now 443, 120 dropped, 50 removed,
    // a new tag. Exactly that in EC2; subnet 0 is back on the default ACL.
    let mut next = desired.clone();
    next.insert(Kind::SUBNET_IDS.to_string(), Value::from_strings([&ids[1], &ids[2]]));
    next.insert(
        Kind::INGRESS.to_string(),
        Value::List(vec![
            entry(100, "tcp", (443, 443), "0.0.0.0/0", "allow"),
            entry(110, "icmp", (8, -1), "10.0.0.0/8", "allow"),
            entry(130, "tcp", (1024, 65535), "0.0.0.0/0", "allow"),
        ]),
    );
    next.insert(Kind::TAGS.to_string(), h.tags(address, &[("Name", "nacl-test"), ("Team", "net")]));
    let changes = p.diff(&next, &drifted.props);
    let req = UpdateRequest { address: &a, id: &id, desired: &next, changes: &changes };
    p.update(&h.ctx(), req).await.unwrap();
    let live = acl(&c, &id).await.expect("still there");
    assert_eq!(subnets(&live), set(&[&ids[1], &ids[2]]));
    assert_eq!(
        entries(&live),
        want(&[
            (false, 100, "6", 443, 443, "0.0.0.0/0", true),
            (false, 110, "1", 8, -1, "10.0.0.0/8", true),
            (false, 130, "6", 1024, 65535, "0.0.0.0/0", true),
            (true, 100, "-1", -1, -1, "0.0.0.0/0", true),
        ])
    );
    assert!(live.tags().iter().any(|t| t.key() == Some("Team") && t.value() == Some("net")));
    assert!(subnets(&default_acl(&c, &vpc).await).contains(&ids[0]));
    let again = h.read_one(Kind::KIND, &target(address, Some(&id), &next)).await.expect("read");
    assert_eq!(changed(&*p, &next, &again), Vec::<String>::new());

    // Delete: every subnet on the default ACL again, whose entries never changed; the
    // ACL is gone; a second delete is a no-op.
    p.delete(&h.ctx(), &id, &next).await.unwrap();
    assert!(acl(&c, &id).await.is_none());
    let default = default_acl(&c, &vpc).await;
    assert_eq!(subnets(&default), set(&[&ids[0], &ids[1], &ids[2]]));
    assert_eq!(entries(&default), default_entries);
    p.delete(&h.ctx(), &id, &next).await.unwrap();

    for s in &ids {
        c.delete_subnet().subnet_id(s).send().await.unwrap();
    }
    c.delete_vpc().vpc_id(&vpc).send().await.unwrap();
}
