//! The `iam.oidc_provider` provider (IAM OpenID Connect identity providers) against the
//! emulator: driven through the registry, every effect checked with the IAM SDK
//! (GetOpenIDConnectProvider, never the provider's read), URLs unique per process, and
//! every provider of the test's URLs removed at the end, also when an assertion fails.
//! Providers of other URLs, untagged or another stack's, are never owned or deleted, and a
//! create on a URL whose provider is not the stack's fails with the hint to use it.
//!
//! LocalStack 4.14's moto has no AddClientIDToOpenIDConnectProvider or
//! RemoveClientIDFromOpenIDConnectProvider; the repo's extension adds them
//! (`iam_fixes.py`), so the client ids converge here as on AWS.

use crate::common;

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::Harness;
use futures::FutureExt;
use hactl_core::{Address, PropChange, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;

const KIND: &str = "iam.oidc_provider";
const ADDRESS: &str = "iam_oidc_provider.ci";
const STS: &str = "sts.amazonaws.com";
const T1: &str = "6938fd4d98bab03faadb97b34396831e3780aea1";
const T2: &str = "1c58a3a8518e8759bf075b76b750d4f2df264fcd";
const T3: &str = "a031c46782e6e6c662c2c87c76da9aa62ccabd8e";

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

/// The test's URLs: the stack's provider, an untagged one (another tool's) and one of
/// another hactl stack.
struct Urls {
    ours: String,
    untagged: String,
    other_stack: String,
}

impl Urls {
    fn new(h: &Harness) -> Urls {
        Urls {
            ours: format!("https://token.{}.example.com", h.stack),
            untagged: format!("https://untagged.{}.example.com/gh", h.stack),
            other_stack: format!("https://other.{}.example.com", h.stack),
        }
    }
}

fn props(h: &Harness, url: &str, client_ids: &[&str], thumbprints: &[&str], extra: &[(&str, &str)]) -> Props {
    Props::from([
        ("url".to_string(), Value::str(url)),
        ("client_ids".to_string(), Value::from_strings(client_ids.iter().copied())),
        ("thumbprints".to_string(), Value::from_strings(thumbprints.iter().copied())),
        ("tags".to_string(), h.tags(ADDRESS, extra)),
    ])
}

/// What IAM holds for `arn`: (URL as IAM answers it, client ids, thumbprints, tags), each
/// list sorted.
struct Live {
    url: String,
    client_ids: Vec<String>,
    thumbprints: Vec<String>,
    tags: BTreeMap<String, String>,
}

async fn live(iam: &Client, arn: &str) -> Live {
    let out = iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await;
    let out = out.unwrap_or_else(|e| panic!("GetOpenIDConnectProvider {arn}: {e:?}"));
    let sorted = |l: &[String]| {
        let mut v = l.to_vec();
        v.sort();
        v
    };
    Live {
        url: out.url().unwrap_or_default().to_string(),
        client_ids: sorted(out.client_id_list()),
        thumbprints: sorted(out.thumbprint_list()),
        tags: out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
    }
}

async fn exists(iam: &Client, arn: &str) -> bool {
    match iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("NoSuchEntity") => false,
        Err(e) => panic!("GetOpenIDConnectProvider {arn}: {e:?}"),
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

/// A provider made outside hactl, with these tags; its ARN.
async fn create_outside(
    iam: &Client,
    url: &str,
    client_ids: &[&str],
    thumbprints: &[&str],
    tags: Vec<Tag>,
) -> String {
    let out = iam
        .create_open_id_connect_provider()
        .url(url)
        .set_client_id_list(Some(client_ids.iter().map(|s| s.to_string()).collect()))
        .set_thumbprint_list(Some(thumbprints.iter().map(|s| s.to_string()).collect()))
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateOpenIDConnectProvider {url}: {e:?}"));
    out.open_id_connect_provider_arn().unwrap().to_string()
}

/// A client id added out of band.
async fn add_client_id_outside(iam: &Client, arn: &str, client_id: &str) {
    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .client_id(client_id)
        .send()
        .await
        .expect("AddClientIDToOpenIDConnectProvider");
}

#[tokio::test]
async fn oidc_provider_create_read_drift_update_conflict_delete() {
    let (h, cfg) = Harness::new("oidc").await;
    let iam = Client::new(&cfg);
    let urls = Urls::new(&h);
    // A failed assertion panics: caught, so that the cleanup runs, then raised again.
    let result = AssertUnwindSafe(lifecycle(&h, &iam, &urls)).catch_unwind().await;
    let listed = iam.list_open_id_connect_providers().send().await.unwrap();
    for arn in listed.open_id_connect_provider_list().iter().filter_map(|p| p.arn()) {
        if arn.contains(&format!(".{}.example.com", h.stack)) {
            let _ = iam.delete_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await;
        }
    }
    match result {
        Ok(r) => r.unwrap(),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn lifecycle(h: &Harness, iam: &Client, urls: &Urls) -> Result<(), String> {
    let p = h.provider(KIND);
    let ctx = h.ctx();
    // Providers of other URLs: one untagged (another tool's), one of another hactl stack.
    let untagged =
        create_outside(iam, &urls.untagged, &[STS], &[T1], vec![tag("Name", "someone-else")]).await;
    let other = format!("{}-other", h.stack);
    let other_tags = vec![tag(TAG_STACK, &other), tag(TAG_ADDRESS, ADDRESS)];
    let other_stack = create_outside(iam, &urls.other_stack, &[STS], &[T1], other_tags).await;

    // Create: URL, client ids, thumbprints and tags land on the provider.
    let desired = props(h, &urls.ours, &[STS], &[T1], &[("Name", "ci")]);
    let applied = p.create(&ctx, &addr(ADDRESS), &desired).await.map_err(|e| e.to_string())?;
    let arn = applied.id.clone();
    let host = urls.ours.strip_prefix("https://").unwrap();
    assert!(arn.starts_with("arn:aws:iam::") && arn.ends_with(&format!(":oidc-provider/{host}")), "{arn}");
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    let l = live(iam, &arn).await;
    assert_eq!(l.url, host, "IAM answers the URL without its scheme");
    assert_eq!(l.client_ids, [STS]);
    assert_eq!(l.thumbprints, [T1]);
    assert_eq!(l.tags.get(TAG_STACK), Some(&h.stack));
    assert_eq!(l.tags.get(TAG_ADDRESS).map(String::as_str), Some(ADDRESS));
    assert_eq!(l.tags.get("Name").map(String::as_str), Some("ci"));

    // Read by state id: owned, its address, the URL as configured, no diff; one listing
    // and one Get (the account's other providers are not read).
    let t = target(ADDRESS, Some(&arn), &desired);
    let (objs, calls) = h.read(KIND, std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "only the stack's provider is read: {objs:?}");
    let obj = &objs[0];
    assert_eq!(obj.id, arn);
    assert!(obj.owned);
    assert_eq!(obj.address, Some(addr(ADDRESS)));
    assert_eq!(obj.outputs["arn"], Value::str(&arn));
    assert_eq!(obj.props["url"], Value::str(&urls.ours));
    assert_eq!(p.diff(&desired, &obj.props), vec![]);
    assert_eq!(calls.get("IAM:ListOpenIDConnectProviders"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("IAM:GetOpenIDConnectProvider"), Some(&1), "{calls:?}");
    // Without state (a lost state file): found by its URL, owned by its tags.
    let (objs, _) = h.read(KIND, &[target(ADDRESS, None, &desired)]).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert_eq!(
        (objs[0].id.as_str(), objs[0].owned, objs[0].address.clone()),
        (arn.as_str(), true, Some(addr(ADDRESS)))
    );

    // Providers of other URLs are not the stack's: the untagged one at a target's URL is
    // that target's (a conflict for the engine, never adopted), another stack's is no
    // target's at all.
    let mine_elsewhere = "iam_oidc_provider.other";
    let targets = [
        target(mine_elsewhere, None, &props(h, &urls.untagged, &[STS], &[T1], &[])),
        target("iam_oidc_provider.third", None, &props(h, &urls.other_stack, &[STS], &[T1], &[])),
    ];
    let (objs, calls) = h.read(KIND, &targets).await;
    let by_id: BTreeMap<&str, _> = objs.iter().map(|o| (o.id.as_str(), o)).collect();
    assert_eq!(
        by_id.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([untagged.as_str(), other_stack.as_str()])
    );
    assert!(!by_id[untagged.as_str()].owned);
    assert_eq!(by_id[untagged.as_str()].address, Some(addr(mine_elsewhere)));
    assert!(!by_id[other_stack.as_str()].owned);
    assert_eq!(by_id[other_stack.as_str()].address, None, "another stack's provider is no target's");
    assert_eq!(calls.get("IAM:GetOpenIDConnectProvider"), Some(&2), "{calls:?}");

    // Out of band: a client id added, the thumbprints replaced, a tag added.
    add_client_id_outside(iam, &arn, "extra-client").await;
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&arn)
        .thumbprint_list(T2)
        .thumbprint_list(T3)
        .send()
        .await
        .unwrap();
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .tags(tag("team", "oob"))
        .send()
        .await
        .unwrap();
    let obj = h.read_one(KIND, &t).await.expect("the provider is live");
    assert_eq!(obj.props["client_ids"].normalized_set(), Value::from_strings(["extra-client", STS]));
    assert_eq!(obj.props["thumbprints"].normalized_set(), Value::from_strings([T2, T3]));
    assert_eq!(obj.props["tags"].as_map().and_then(|m| m.get("team")), Some(&Value::str("oob")));
    let changes = p.diff(&desired, &obj.props);
    let names: BTreeSet<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["client_ids", "tags", "thumbprints"]));
    assert!(changes.iter().all(|c| !c.forces_replacement), "{changes:?}");

    // Update converges client ids, thumbprints and tags.
    let update = |changes: Vec<PropChange>| {
        let (p, ctx, arn, desired) = (p.clone(), ctx.clone(), arn.clone(), desired.clone());
        async move {
            let a = addr(ADDRESS);
            let req = UpdateRequest { address: &a, id: &arn, desired: &desired, changes: &changes };
            p.update(&ctx, req).await
        }
    };
    let out = update(changes).await.map_err(|e| e.to_string())?;
    assert_eq!(out.outputs["arn"], Value::str(&arn));
    let l = live(iam, &arn).await;
    assert_eq!(l.thumbprints, [T1]);
    assert_eq!(l.tags.get("team"), None, "the out-of-band tag is removed");
    assert_eq!(l.tags.get(TAG_STACK), Some(&h.stack));
    assert_eq!(l.client_ids, [STS], "RemoveClientIDFromOpenIDConnectProvider");

    // A client id added in the config: AddClientIDToOpenIDConnectProvider.
    let mut more = desired.clone();
    let with_ci = |ids: &[&str]| Value::from_strings(ids.iter().copied());
    more.insert("client_ids".into(), with_ci(&[STS, "extra-client", "second-client"]));
    let obj = h.read_one(KIND, &t).await.expect("the provider is live");
    let changes = p.diff(&more, &obj.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["client_ids"]);
    let a = addr(ADDRESS);
    let req = UpdateRequest { address: &a, id: &arn, desired: &more, changes: &changes };
    p.update(&ctx, req).await.map_err(|e| e.to_string())?;
    assert_eq!(live(iam, &arn).await.client_ids, ["extra-client", "second-client", STS]);

    // A create retried after a crash: EntityAlreadyExists, ours by its tags: adopted (the
    // same ARN) and converged.
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&arn)
        .thumbprint_list(T2)
        .send()
        .await
        .unwrap();
    iam.untag_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .tag_keys("Name")
        .send()
        .await
        .unwrap();
    let again = p.create(&ctx, &addr(ADDRESS), &desired).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, arn);
    let l = live(iam, &arn).await;
    assert_eq!(
        (l.client_ids.as_slice(), l.thumbprints.as_slice()),
        ([STS.to_string()].as_slice(), [T1.to_string()].as_slice())
    );
    assert_eq!(l.tags.get("Name").map(String::as_str), Some("ci"), "the tags converged");

    // A create on a URL whose provider is not the stack's (untagged, or another stack's)
    // fails, with the hint to use that provider, and leaves it as it was.
    for (url, foreign) in [(&urls.untagged, &untagged), (&urls.other_stack, &other_stack)] {
        let before = live(iam, foreign).await;
        let e = p
            .create(&ctx, &addr(ADDRESS), &props(h, url, &[STS, "mine"], &[T2], &[]))
            .await
            .expect_err("a provider that is not the stack's is never adopted");
        let msg = e.to_string();
        assert!(!e.is_retryable(), "{e:?}");
        assert_eq!(e.code(), Some("EntityAlreadyExists"));
        assert!(
            msg.contains(&format!(
                "identity provider for {url} already exists in the account and is not this stack's"
            )),
            "{msg}"
        );
        assert!(msg.contains("ci.oidc_provider_arn") && msg.contains(foreign.as_str()), "{msg}");
        let after = live(iam, foreign).await;
        assert_eq!(
            (after.client_ids, after.thumbprints, after.tags),
            (before.client_ids, before.thumbprints, before.tags)
        );
    }

    // Delete: gone (NoSuchEntity); again fine; the other providers stay.
    p.delete(&ctx, &arn, &desired).await.map_err(|e| e.to_string())?;
    let gone = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchEntity"));
    p.delete(&ctx, &arn, &desired).await.map_err(|e| e.to_string())?;
    assert!(h.read_one(KIND, &t).await.is_none());
    assert!(exists(iam, &untagged).await, "an untagged provider is never deleted");
    assert!(exists(iam, &other_stack).await, "another stack's provider is never deleted");
    Ok(())
}
