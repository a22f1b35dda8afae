//! The `opensearch.domain` provider against the emulator: driven through the registry,
//! every effect checked with the OpenSearch SDK, names unique per process, everything
//! removed at the end.

use crate::common::Harness;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn domain_props(h: &Harness, secret: &str, count: i64) -> Props {
    let name = format!("{}-logs", h.stack);
    Props::from([
        ("name".to_string(), Value::str(&name)),
        ("engine_version".to_string(), Value::str("OpenSearch_2.19")),
        (
            "cluster_config".to_string(),
            map(vec![
                ("instance_type", Value::str("m6g.large.search")),
                ("instance_count", Value::Int(count)),
                ("zone_awareness", Value::Bool(true)),
                ("availability_zone_count", Value::Int(2)),
            ]),
        ),
        ("ebs".to_string(), map(vec![("volume_type", Value::str("gp3")), ("volume_size", Value::Int(20))])),
        ("subnet_ids".to_string(), Value::from_strings(["subnet-a", "subnet-b"])),
        ("security_group_ids".to_string(), Value::from_strings(["sg-1"])),
        ("encryption_at_rest".to_string(), Value::Bool(true)),
        ("kms_key_id".to_string(), Value::Null),
        ("node_to_node_encryption".to_string(), Value::Bool(true)),
        ("enforce_https".to_string(), Value::Bool(true)),
        ("tls_security_policy".to_string(), Value::str("Policy-Min-TLS-1-2-PFS-2023-10")),
        ("fine_grained_access".to_string(), Value::Bool(true)),
        ("master_user_secret_arn".to_string(), Value::str(secret)),
        (
            "access_policies".to_string(),
            map(vec![
                ("Version", Value::str("2012-10-17")),
                (
                    "Statement",
                    Value::List(vec![map(vec![
                        ("Effect", Value::str("Allow")),
                        ("Principal", map(vec![("AWS", Value::str("*"))])),
                        ("Action", Value::str("es:ESHttp*")),
                        (
                            "Resource",
                            Value::str(format!("arn:aws:es:us-east-1:000000000000:domain/{name}/*")),
                        ),
                    ])]),
                ),
            ]),
        ),
        ("tags".to_string(), h.tags("opensearch_domain.logs", &[])),
    ])
}

#[tokio::test]
async fn domain_lifecycle_with_its_master_user_from_a_secret() {
    let (h, cfg) = Harness::new("osdomain").await;
    let (other, _) = Harness::new("osdomain-x").await;
    let client = aws_sdk_opensearch::Client::new(&cfg);
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let result = lifecycle(&h, &other, &client, &sm).await;
    for stack in [&h.stack, &other.stack] {
        let _ = client.delete_domain().domain_name(format!("{stack}-logs")).send().await;
        let _ = sm
            .delete_secret()
            .secret_id(format!("hactl/{stack}/master"))
            .force_delete_without_recovery(true)
            .send()
            .await;
    }
    result.unwrap();
}

async fn make_secret(sm: &aws_sdk_secretsmanager::Client, stack: &str) -> Result<String, String> {
    let out = sm
        .create_secret()
        .name(format!("hactl/{stack}/master"))
        .secret_string(r#"{"username":"hactladmin","password":"Aa1!aaaaaaaaaaaaaaaa"}"#)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(out.arn().unwrap_or_default().to_string())
}

async fn lifecycle(
    h: &Harness,
    other: &Harness,
    client: &aws_sdk_opensearch::Client,
    sm: &aws_sdk_secretsmanager::Client,
) -> Result<(), String> {
    let err = |e: hactl_engine::ProviderError| e.to_string();
    let p = h.provider("opensearch.domain");
    let secret = make_secret(sm, &h.stack).await?;
    let props = domain_props(h, &secret, 2);
    let address = addr("opensearch_domain.logs");
    let applied = p.create(&h.ctx(), &address, &props).await.map_err(err)?;
    let name = format!("{}-logs", h.stack);
    assert_eq!(applied.id, name);
    assert_eq!(applied.outputs["endpoint"].as_str().map(|e| e.contains(&name)), Some(true), "{applied:?}");

    // What AWS (here: the emulator) holds, read with the SDK.
    let d = client.describe_domain().domain_name(&name).send().await.map_err(|e| format!("{e:?}"))?;
    let d = d.domain_status().ok_or("no status")?;
    let vpc = d.vpc_options().ok_or("no VPC options")?;
    assert_eq!(vpc.subnet_ids(), ["subnet-a", "subnet-b"]);
    assert_eq!(vpc.security_group_ids(), ["sg-1"]);
    assert!(
        d.endpoints().is_some_and(|e| e.contains_key("vpc")) && d.endpoint().is_none(),
        "VPC access only"
    );
    assert_eq!(d.encryption_at_rest_options().and_then(|e| e.enabled()), Some(true));
    assert_eq!(d.node_to_node_encryption_options().and_then(|e| e.enabled()), Some(true));
    let endpoint = d.domain_endpoint_options().ok_or("no endpoint options")?;
    assert_eq!(endpoint.enforce_https(), Some(true));
    assert_eq!(endpoint.tls_security_policy().map(|t| t.as_str()), Some("Policy-Min-TLS-1-2-PFS-2023-10"));
    let security = d.advanced_security_options().ok_or("no security options")?;
    assert_eq!(security.enabled(), Some(true));
    let cluster = d.cluster_config().ok_or("no cluster config")?;
    assert_eq!(cluster.zone_awareness_enabled(), Some(true));
    assert_eq!(cluster.zone_awareness_config().and_then(|z| z.availability_zone_count()), Some(2));
    let raw = format!("{d:?}");
    assert!(!raw.contains("Aa1!aaaa"), "the master password is never answered");
    let tags = client.list_tags().arn(d.arn()).send().await.map_err(|e| format!("{e:?}"))?;
    assert!(tags.tag_list().iter().any(|t| t.key() == TAG_STACK && t.value() == h.stack));

    // Read back: as written, with the list, one describe and the tag index.
    let t =
        ReadTarget { address: address.clone(), id: Some(name.clone()), props: props.clone(), recorded: None };
    let (objs, calls) = h.read("opensearch.domain", std::slice::from_ref(&t)).await;
    let [live] = objs.as_slice() else { panic!("{objs:?}") };
    assert!(live.owned);
    assert_eq!(p.diff(&props, &live.props), vec![]);
    assert_eq!(
        calls,
        BTreeMap::from([
            ("OpenSearch:DescribeDomains".to_string(), 1),
            ("OpenSearch:ListDomainNames".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1),
        ])
    );

    // Another stack whose name starts with this one's: never read as this stack's.
    let osecret = make_secret(sm, &other.stack).await?;
    let oprops = domain_props(other, &osecret, 2);
    other.provider("opensearch.domain").create(&other.ctx(), &address, &oprops).await.map_err(err)?;
    let (objs, _) = h.read("opensearch.domain", std::slice::from_ref(&t)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [name.as_str()]);
    // Creating over the other stack's name is refused, never adopted.
    let mut taken = props.clone();
    taken.insert("name".to_string(), Value::str(format!("{}-logs", other.stack)));
    assert!(p.create(&h.ctx(), &address, &taken).await.is_err_and(|e| e.to_string().contains(&other.stack)));

    // Out of band: HTTPS no longer enforced and a tag removed; the read shows both, and
    // an update in place (with a new node count) puts them back.
    client
        .update_domain_config()
        .domain_name(&name)
        .domain_endpoint_options(
            aws_sdk_opensearch::types::DomainEndpointOptions::builder()
                .enforce_https(false)
                .tls_security_policy(aws_sdk_opensearch::types::TlsSecurityPolicy::PolicyMinTls12Pfs202310)
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    client.remove_tags().arn(d.arn()).tag_keys(TAG_ADDRESS).send().await.map_err(|e| format!("{e:?}"))?;
    let live = h.read_one("opensearch.domain", &t).await.ok_or("the domain, recorded in state")?;
    let changed: Vec<String> = p.diff(&props, &live.props).into_iter().map(|c| c.name).collect();
    assert_eq!(changed, ["enforce_https", "tags"]);
    let four = domain_props(h, &secret, 4);
    let changes = p.diff(&four, &live.props);
    p.update(&h.ctx(), UpdateRequest { address: &address, id: &name, desired: &four, changes: &changes })
        .await
        .map_err(err)?;
    let live = h.read_one("opensearch.domain", &t).await.ok_or("the domain")?;
    assert_eq!(p.diff(&four, &live.props), vec![]);
    let d = client.describe_domain().domain_name(&name).send().await.map_err(|e| format!("{e:?}"))?;
    let cluster = d.domain_status().and_then(|s| s.cluster_config());
    assert_eq!(cluster.and_then(|c| c.instance_count()), Some(4));

    // A create retried after a crash finds its own domain and converges it.
    assert_eq!(p.create(&h.ctx(), &address, &four).await.map_err(err)?.id, name);
    // Delete: gone, its tags too; a second delete is fine.
    let arn = d.domain_status().map(|s| s.arn().to_string()).unwrap_or_default();
    p.delete(&h.ctx(), &name, &four).await.map_err(err)?;
    p.delete(&h.ctx(), &name, &four).await.map_err(err)?;
    let names = client.list_domain_names().send().await.map_err(|e| format!("{e:?}"))?;
    assert!(names.domain_names().iter().all(|d| d.domain_name() != Some(name.as_str())));
    let (objs, _) = h.read("opensearch.domain", std::slice::from_ref(&t)).await;
    assert!(objs.is_empty(), "{objs:?}");
    assert!(!arn.is_empty());
    Ok(())
}
