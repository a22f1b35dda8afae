//! The `acm.certificate` provider against the emulator: driven directly through the
//! registry, every effect checked with the ACM SDK, domains unique per process,
//! everything removed at the end.

use crate::common;

use aws_sdk_acm::types::{CertificateType, Tag};
use aws_sdk_acm::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::DateTime;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{diff_props, Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Env {
    acm: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
}

impl Env {
    async fn new(test: &str) -> Env {
        let cfg = sdk_config().await;
        let counter = ApiCounter::default();
        Env {
            acm: Client::new(&cfg),
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            stack: format!("t{}-{test}", std::process::id()),
        }
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.registry.get("acm.certificate").unwrap().clone()
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    fn props(&self, domain: &str, extra: &[(&str, &str)]) -> Props {
        let mut tags = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), "certificate.main".to_string()),
        ]);
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Props::from([
            ("domain_name".to_string(), Value::str(domain)),
            ("self_signed".to_string(), Value::Bool(true)),
            ("tags".to_string(), Value::from_string_map(tags)),
        ])
    }

    async fn read(&self, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let objs = self.provider().read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
        let calls = self
            .counter
            .snapshot()
            .into_iter()
            .filter_map(|(k, n)| {
                let d = n - before.get(&k).copied().unwrap_or(0);
                (d > 0).then_some((k, d))
            })
            .collect();
        (objs, calls)
    }

    async fn read_one(&self, target: &ReadTarget) -> Option<LiveObject> {
        let (objs, _) = self.read(std::slice::from_ref(target)).await;
        objs.into_iter().find(|o| Some(&o.id) == target.id.as_ref())
    }

    async fn live_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let out = self.acm.list_tags_for_certificate().certificate_arn(arn).send().await.unwrap();
        out.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect()
    }

    /// ARNs of every certificate for `domain` (any key type).
    async fn arns_for(&self, domain: &str) -> Vec<String> {
        let includes = aws_sdk_acm::types::Filters::builder()
            .key_types(aws_sdk_acm::types::KeyAlgorithm::EcPrime256v1)
            .key_types(aws_sdk_acm::types::KeyAlgorithm::Rsa2048)
            .build();
        let out = self.acm.list_certificates().includes(includes).send().await.unwrap();
        out.certificate_summary_list()
            .iter()
            .filter(|s| s.domain_name() == Some(domain))
            .filter_map(|s| s.certificate_arn().map(str::to_string))
            .collect()
    }
}

fn target(id: &str, props: &Props) -> ReadTarget {
    ReadTarget {
        address: Address::parse("certificate.main").unwrap(),
        id: Some(id.to_string()),
        props: props.clone(),
        recorded: None,
    }
}

#[tokio::test]
async fn certificate_create_read_update_drift_delete() {
    let env = Env::new("acm").await;
    let domain = format!("{}.example.com", env.stack);
    let result = lifecycle(&env, &domain).await;
    for arn in env.arns_for(&domain).await {
        let _ = env.acm.delete_certificate().certificate_arn(arn).send().await;
    }
    result.unwrap();
}

async fn lifecycle(env: &Env, domain: &str) -> Result<(), String> {
    let p = env.provider();
    let schema = env.registry.schema("acm.certificate").unwrap();
    let address = Address::parse("certificate.main").unwrap();
    let props = env.props(domain, &[]);

    // Create: a self-signed certificate for the domain and its wildcard, imported.
    let applied = p.create(&env.ctx(), &address, &props).await.map_err(|e| e.to_string())?;
    let arn = applied.id.clone();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:"), "{arn}");
    assert_eq!(applied.outputs.keys().map(String::as_str).collect::<Vec<_>>(), ["arn", "not_after"]);
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    let not_after = applied.outputs["not_after"].as_str().unwrap().to_string();
    let secs = DateTime::from_str(&not_after, Format::DateTime).unwrap().secs();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((secs - (now + 397 * 86400)).abs() < 300, "not_after {not_after} is not 397 days ahead");
    // The private key is nowhere in what create hands back.
    assert!(!format!("{applied:?}").contains("PRIVATE KEY"));

    let d = env.acm.describe_certificate().certificate_arn(&arn).send().await.unwrap();
    let c = d.certificate().unwrap();
    assert_eq!(c.domain_name(), Some(domain));
    let wildcard = format!("*.{domain}");
    let sans: BTreeSet<&str> = c.subject_alternative_names().iter().map(String::as_str).collect();
    assert_eq!(sans, BTreeSet::from([domain, wildcard.as_str()]));
    assert_eq!(c.r#type(), Some(&CertificateType::Imported));
    assert_eq!(c.not_after().map(|t| t.secs()), Some(secs));
    let pem = env.acm.get_certificate().certificate_arn(&arn).send().await.unwrap();
    assert!(pem.certificate().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let tags = env.live_tags(&arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("certificate.main"));

    // Read: no diff, same outputs; one list + the stack's tag index, no tag call.
    let t = target(&arn, &props);
    let (objs, calls) = env.read(std::slice::from_ref(&t)).await;
    let o = objs.iter().find(|o| o.id == arn).unwrap();
    assert!(o.owned);
    assert_eq!(o.address, Some(address.clone()));
    assert_eq!(diff_props(schema, &props, &o.props), vec![]);
    assert_eq!(o.outputs, applied.outputs);
    assert_eq!(calls.get("ACM:ListCertificates"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ACM:ListTagsForCertificate"), None, "{calls:?}");
    assert_eq!(calls.get("Resource Groups Tagging API:GetResources"), Some(&1), "{calls:?}");

    // Update: tags only.
    let desired = env.props(domain, &[("team", "x")]);
    let changes = diff_props(schema, &desired, &o.props);
    assert_eq!(changes.len(), 1);
    p.update(&env.ctx(), UpdateRequest { address: &address, id: &arn, desired: &desired, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(env.live_tags(&arn).await.get("team").map(String::as_str), Some("x"));
    let t = target(&arn, &desired);
    assert_eq!(diff_props(schema, &desired, &env.read_one(&t).await.unwrap().props), vec![]);

    // Out of band: a tag added is drift.
    env.acm
        .add_tags_to_certificate()
        .certificate_arn(&arn)
        .tags(Tag::builder().key("extra").value("1").build().unwrap())
        .send()
        .await
        .unwrap();
    let o = env.read_one(&t).await.unwrap();
    let drift: Vec<String> = diff_props(schema, &desired, &o.props).into_iter().map(|c| c.name).collect();
    assert_eq!(drift, ["tags"]);

    // A create retried after a crash (import done, state not written) finds its own
    // certificate instead of importing a second one, and converges its tags.
    let again = p.create(&env.ctx(), &address, &desired).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, arn);
    assert_eq!(again.outputs["not_after"], Value::str(&not_after));
    assert_eq!(env.arns_for(domain).await, std::slice::from_ref(&arn));
    assert!(!env.live_tags(&arn).await.contains_key("extra"));
    // A re-create after the old one was deleted outside hactl (generation = old id)
    // does import a new one.
    let mut ctx = env.ctx();
    ctx.generation = Some(arn.clone());
    let fresh = p.create(&ctx, &address, &desired).await.map_err(|e| e.to_string())?;
    assert_ne!(fresh.id, arn);
    p.delete(&env.ctx(), &fresh.id, &desired).await.map_err(|e| e.to_string())?;

    // Another stack's certificate for the same domain is not read.
    let other = Env::new("acm-other").await;
    let theirs = other.provider().create(&other.ctx(), &address, &other.props(domain, &[])).await.unwrap();
    let (objs, _) = env.read(&[ReadTarget { id: None, ..t.clone() }]).await;
    other.provider().delete(&other.ctx(), &theirs.id, &Props::new()).await.unwrap();
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [arn.as_str()]);

    // Only self-signed certificates are made.
    let mut not_self = desired.clone();
    not_self.insert("self_signed".into(), Value::Bool(false));
    assert!(p.create(&env.ctx(), &address, &not_self).await.is_err());

    // Delete: gone; read finds nothing; delete again is fine.
    p.delete(&env.ctx(), &arn, &desired).await.map_err(|e| e.to_string())?;
    let gone = env.acm.describe_certificate().certificate_arn(&arn).send().await;
    assert_eq!(gone.unwrap_err().code(), Some("ResourceNotFoundException"));
    assert!(env.read_one(&t).await.is_none());
    p.delete(&env.ctx(), &arn, &desired).await.map_err(|e| e.to_string())?;
    Ok(())
}
