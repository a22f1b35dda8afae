//! `iam.policy` (customer managed policies under the stack's IAM path) against the
//! emulator: driven through the registry, every effect checked with the IAM SDK
//! (GetPolicy, GetPolicyVersion, ListPolicyVersions, ListAttachedRolePolicies; never
//! through the provider's read), names unique per process, and everything the tests made
//! removed at the end, also when an assertion fails.
//!
//! DeletePolicy's refusals (the policy attached, or versions besides the default) are
//! AWS's; the emulator has them through
//! `emulator/hactl_localstack_ext/hactl_localstack_ext/iam_fixes.py`, and the tests check
//! that it refuses before relying on it.

use crate::common;
use crate::common::policy_document as decode;

use aws_sdk_iam::types::{PolicyScopeType, Tag};
use aws_sdk_iam::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::Harness;
use futures::FutureExt;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Provider, ReadTarget, UpdateRequest};
use serde_json::{json, Value as J};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;

const KIND: &str = "iam.policy";
const ADDRESS: &str = "iam_policy.deploy";

/// What a test made outside the stack's path (foreign policies and roles), removed at the
/// end with every policy under `/hactl/<stack>/`.
#[derive(Default)]
struct Made {
    policies: Vec<String>,
    roles: Vec<String>,
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

/// The stack's path in us-east-1, as the expansion gives it to roles.
fn path(h: &Harness) -> String {
    format!("/hactl/{}/us-east-1/", h.stack)
}

fn deploy_doc() -> J {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Ecr", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "Ecs", "Effect": "Allow", "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
         "Resource": "arn:aws:ecs:us-east-1:000000000000:service/x/*"}]})
}

/// `deploy_doc` written another way: statements and actions reordered, a one-element list
/// bare and a bare value listed, the keys in another order.
fn deploy_doc_rewritten() -> J {
    json!({"Statement": [
        {"Resource": ["arn:aws:ecs:us-east-1:000000000000:service/x/*"], "Effect": "Allow",
         "Action": ["ecs:DescribeServices", "ecs:UpdateService"], "Sid": "Ecs"},
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": ["*"], "Sid": "Ecr"}],
        "Version": "2012-10-17"})
}

fn other_doc(action: &str) -> J {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
}

fn policy_props(h: &Harness, name: &str, address: &str) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("path".to_string(), Value::str(path(h))),
        ("description".to_string(), Value::str("CI deploy permissions")),
        ("document".to_string(), Value::from_json(&deploy_doc())),
        ("tags".to_string(), h.tags(address, &[("team", "ci")])),
    ])
}

/// The policy's default version id and its document, straight from IAM (GetPolicy,
/// GetPolicyVersion); `None` when the policy is gone.
async fn default_document(iam: &Client, arn: &str) -> Option<(String, J)> {
    let policy = match iam.get_policy().policy_arn(arn).send().await {
        Ok(o) => o.policy.expect("GetPolicy answered no policy"),
        Err(e) if e.code() == Some("NoSuchEntity") => return None,
        Err(e) => panic!("GetPolicy: {e:?}"),
    };
    let v = policy.default_version_id().expect("a default version").to_string();
    let out = iam.get_policy_version().policy_arn(arn).version_id(&v).send().await.expect("GetPolicyVersion");
    let doc = decode(out.policy_version().and_then(|p| p.document()).expect("a document"));
    Some((v, doc))
}

/// The policy's versions (id, is the default), straight from IAM, by version number.
async fn versions(iam: &Client, arn: &str) -> Vec<(String, bool)> {
    let out = iam.list_policy_versions().policy_arn(arn).send().await.expect("ListPolicyVersions");
    let mut v: Vec<(String, bool)> = out
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap().to_string(), v.is_default_version()))
        .collect();
    v.sort_by_key(|(id, _)| id[1..].parse::<u32>().unwrap());
    v
}

/// `(id, is the default)` pairs as `versions` answers them.
fn vs(list: &[(&String, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(v, d)| (v.to_string(), *d)).collect()
}

async fn tags_of(iam: &Client, arn: &str) -> BTreeMap<String, String> {
    let out = iam.list_policy_tags().policy_arn(arn).send().await.expect("ListPolicyTags");
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

async fn gone(iam: &Client, arn: &str) -> bool {
    match iam.get_policy().policy_arn(arn).send().await {
        Ok(_) => false,
        Err(e) if e.code() == Some("NoSuchEntity") => true,
        Err(e) => panic!("GetPolicy: {e:?}"),
    }
}

/// A new version made outside hactl; its id.
async fn new_version(iam: &Client, arn: &str, doc: &J, default: bool) -> String {
    let out = iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(doc.to_string())
        .set_as_default(default)
        .send()
        .await
        .expect("CreatePolicyVersion");
    out.policy_version().and_then(|v| v.version_id()).unwrap().to_string()
}

/// A policy made outside hactl, with these tags; its ARN.
async fn foreign_policy(
    iam: &Client,
    name: &str,
    path: &str,
    tags: &[(&str, &str)],
    made: &mut Made,
) -> String {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    let out = iam
        .create_policy()
        .policy_name(name)
        .path(path)
        .policy_document(other_doc("s3:GetObject").to_string())
        .set_tags(Some(tags))
        .send()
        .await
        .expect("CreatePolicy");
    let arn = out.policy().and_then(|p| p.arn()).unwrap().to_string();
    made.policies.push(arn.clone());
    arn
}

/// A role made outside hactl (no hactl tags, path `/`).
async fn foreign_role(iam: &Client, name: &str, made: &mut Made) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    iam.create_role().role_name(name).assume_role_policy_document(trust.to_string()).send().await.unwrap();
    made.roles.push(name.to_string());
}

/// The managed policies attached to a role, straight from IAM.
async fn attached(iam: &Client, role: &str) -> Vec<String> {
    let out =
        iam.list_attached_role_policies().role_name(role).send().await.expect("ListAttachedRolePolicies");
    out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()
}

/// The update the engine would make from a fresh read to `desired`; the properties it
/// changed.
async fn update(h: &Harness, arn: &str, desired: &Props) -> Vec<String> {
    let t = target(ADDRESS, Some(arn), desired);
    let live = h.read_one(KIND, &t).await.expect("the policy to update is live");
    let provider = h.provider(KIND);
    let changes = provider.diff(desired, &live.props);
    assert!(changes.iter().all(|c| !c.forces_replacement), "{changes:?}");
    let req = UpdateRequest { address: &t.address, id: arn, desired, changes: &changes };
    provider.update(&h.ctx(), req).await.unwrap();
    changes.into_iter().map(|c| c.name).collect()
}

/// Removes what a test made: every policy under `/hactl/<stack>/` and the foreign
/// policies and roles it recorded (the roles' attachments first). Best effort.
async fn cleanup(h: &Harness, iam: &Client, made: &Made) {
    let prefix = format!("/hactl/{}/", h.stack);
    let mut arns: BTreeSet<String> = made.policies.iter().cloned().collect();
    if let Ok(out) = iam.list_policies().scope(PolicyScopeType::Local).path_prefix(&prefix).send().await {
        let ours = out.policies().iter().filter(|p| p.path().is_some_and(|p| p.starts_with(&prefix)));
        arns.extend(ours.filter_map(|p| p.arn().map(str::to_string)));
    }
    for role in &made.roles {
        for arn in &arns {
            let _ = iam.detach_role_policy().role_name(role).policy_arn(arn).send().await;
        }
        let _ = iam.delete_role().role_name(role).send().await;
    }
    for arn in &arns {
        if let Ok(out) = iam.list_policy_versions().policy_arn(arn).send().await {
            for v in out.versions().iter().filter(|v| !v.is_default_version()) {
                let id = v.version_id().unwrap_or_default();
                let _ = iam.delete_policy_version().policy_arn(arn).version_id(id).send().await;
            }
        }
        let _ = iam.delete_policy().policy_arn(arn).send().await;
    }
}

/// Runs a test body, then the cleanup, then fails if the body did.
macro_rules! with_cleanup {
    ($h:expr, $iam:expr, $made:ident, $body:expr) => {{
        // A failed assertion panics: caught, so that the cleanup runs, then raised again.
        let result = AssertUnwindSafe($body).catch_unwind().await;
        cleanup(&$h, &$iam, &$made).await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }};
}

#[tokio::test]
async fn policy_create_read_drift_update_versions_delete() {
    let (h, cfg) = Harness::new("iam-pol").await;
    let iam = Client::new(&cfg);
    let made = Made::default();
    with_cleanup!(h, iam, made, lifecycle(&h, &iam));
}

async fn lifecycle(h: &Harness, iam: &Client) {
    let name = format!("{}-deploy", h.stack);
    let provider = h.provider(KIND);
    let props = policy_props(h, &name, ADDRESS);

    // Create: name, path, description, document and tags land on the policy.
    let applied = provider.create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap();
    let arn = applied.id.clone();
    assert!(arn.starts_with("arn:aws:iam::"), "{arn}");
    assert!(arn.ends_with(&format!(":policy{}{name}", path(h))), "{arn}");
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str(&name));
    let live = iam.get_policy().policy_arn(&arn).send().await.unwrap().policy.unwrap();
    assert_eq!(live.policy_name(), Some(name.as_str()));
    assert_eq!(live.path(), Some(path(h).as_str()));
    assert_eq!(live.description(), Some("CI deploy permissions"));
    assert_eq!(default_document(iam, &arn).await, Some(("v1".to_string(), deploy_doc())));
    let tags = tags_of(iam, &arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&h.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some(ADDRESS));
    assert_eq!(tags.get("team").map(String::as_str), Some("ci"));

    // Read: found by its ARN, owned, at its address, every property as desired (no diff):
    // one list for the path, then GetPolicy and GetPolicyVersion for the policy.
    let t = target(ADDRESS, Some(&arn), &props);
    let (objs, calls) = h.read(KIND, std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    let obj = objs[0].clone();
    assert_eq!(obj.id, arn);
    assert!(obj.owned);
    assert_eq!(obj.address, Some(addr(ADDRESS)));
    assert_eq!(obj.outputs["arn"], Value::str(&arn));
    assert_eq!(obj.outputs["name"], Value::str(&name));
    for p in ["name", "path", "description", "tags"] {
        assert_eq!(obj.props[p], props[p], "{p}");
    }
    assert_eq!(obj.props["document"].to_json(), deploy_doc());
    assert_eq!(provider.diff(&props, &obj.props), vec![], "an untouched policy shows a diff");
    assert_eq!(
        calls,
        BTreeMap::from([
            ("IAM:ListPolicies".to_string(), 1),
            ("IAM:GetPolicy".to_string(), 1),
            ("IAM:GetPolicyVersion".to_string(), 1),
        ])
    );
    // Without a recorded id (state lost), found under the path by its address tag.
    let (objs, _) = h.read(KIND, &[target(ADDRESS, None, &props)]).await;
    assert_eq!(objs, vec![obj]);

    // Out of band, a new default version that means the same, in another form: read as
    // IAM answers it, and no diff.
    let v2 = new_version(iam, &arn, &deploy_doc_rewritten(), true).await;
    let obj = h.read_one(KIND, &t).await.unwrap();
    assert_eq!(obj.props["document"].to_json(), deploy_doc_rewritten(), "the new default version is read");
    assert_ne!(obj.props["document"], props["document"]);
    assert_eq!(provider.diff(&props, &obj.props), vec![], "an equivalent document is drift");

    // Out of band, a new default version that means something else: read, a diff, and the
    // update makes the desired document the default again (a new version).
    let v3 = new_version(iam, &arn, &other_doc("s3:*"), true).await;
    let obj = h.read_one(KIND, &t).await.unwrap();
    assert_eq!(obj.props["document"].to_json(), other_doc("s3:*"));
    let drift: Vec<String> = provider.diff(&props, &obj.props).into_iter().map(|c| c.name).collect();
    assert_eq!(drift, ["document"]);
    assert_eq!(update(h, &arn, &props).await, ["document"]);
    let (v4, doc) = default_document(iam, &arn).await.unwrap();
    assert_eq!(doc, deploy_doc());
    let v1 = "v1".to_string();
    assert_eq!(versions(iam, &arn).await, vs(&[(&v1, false), (&v2, false), (&v3, false), (&v4, true)]));
    assert_eq!(provider.diff(&props, &h.read_one(KIND, &t).await.unwrap().props), vec![]);

    // IAM's 5 versions there (the fifth made out of band, the default): the update first
    // deletes the oldest version that is not the default (v1), then adds its own.
    let v5 = new_version(iam, &arn, &other_doc("sqs:*"), true).await;
    assert_eq!(versions(iam, &arn).await.len(), 5);
    let before = h.counter.snapshot();
    assert_eq!(update(h, &arn, &props).await, ["document"]);
    let calls = common::calls_since(&h.counter, &before);
    assert_eq!(calls.get("IAM:DeletePolicyVersion"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("IAM:CreatePolicyVersion"), Some(&1), "{calls:?}");
    let (v6, doc) = default_document(iam, &arn).await.unwrap();
    assert_eq!(doc, deploy_doc());
    assert_eq!(
        versions(iam, &arn).await,
        vs(&[(&v2, false), (&v3, false), (&v4, false), (&v5, false), (&v6, true)]),
        "the oldest non-default version goes, the count stays at 5"
    );

    // Tags in place: one added, one removed; the hactl tags stay; the document is not
    // touched (no new version).
    let mut desired = props.clone();
    desired.insert("tags".into(), h.tags(ADDRESS, &[("owner", "platform")]));
    assert_eq!(update(h, &arn, &desired).await, ["tags"]);
    let tags = tags_of(iam, &arn).await;
    assert_eq!(tags.get("owner").map(String::as_str), Some("platform"));
    assert!(!tags.contains_key("team"), "{tags:?}");
    assert_eq!(tags.get(TAG_STACK), Some(&h.stack));
    assert_eq!(versions(iam, &arn).await.len(), 5);
    let t = target(ADDRESS, Some(&arn), &desired);
    assert_eq!(provider.diff(&desired, &h.read_one(KIND, &t).await.unwrap().props), vec![]);

    // A create retried after a crash finds its own policy and converges it: the document
    // changed out of band meanwhile (IAM's 5 versions again), the tags as first desired.
    iam.delete_policy_version().policy_arn(&arn).version_id(&v2).send().await.unwrap();
    let v7 = new_version(iam, &arn, &other_doc("kms:*"), true).await;
    assert_eq!(versions(iam, &arn).await.len(), 5);
    let again = provider.create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap();
    assert_eq!(again.id, arn);
    let (v8, doc) = default_document(iam, &arn).await.unwrap();
    assert_eq!(doc, deploy_doc());
    assert_eq!(
        versions(iam, &arn).await,
        vs(&[(&v4, false), (&v5, false), (&v6, false), (&v7, false), (&v8, true)])
    );
    assert_eq!(tags_of(iam, &arn).await.get("team").map(String::as_str), Some("ci"));
    // ... but not for another address: refused, naming the owner; nothing changes.
    let err = provider.create(&h.ctx(), &addr("iam_policy.other"), &props).await.unwrap_err();
    assert_eq!(err.code(), Some("EntityAlreadyExists"), "{err}");
    assert!(!err.is_retryable());
    assert!(err.message().contains(ADDRESS), "{err}");
    assert_eq!(default_document(iam, &arn).await.unwrap().0, v8);

    // Delete of an unattached policy with several versions. IAM refuses DeletePolicy
    // while other versions exist; the provider deletes them first, then the policy.
    let refused = iam.delete_policy().policy_arn(&arn).send().await.unwrap_err();
    assert_eq!(refused.code(), Some("DeleteConflict"), "the emulator does not refuse: {refused:?}");
    let before = h.counter.snapshot();
    provider.delete(&h.ctx(), &arn, &props).await.unwrap();
    let calls = common::calls_since(&h.counter, &before);
    assert!(gone(iam, &arn).await, "the policy is still there");
    assert_eq!(calls.get("IAM:DeletePolicyVersion"), Some(&4), "{calls:?}");
    assert_eq!(calls.get("IAM:DeletePolicy"), Some(&1), "{calls:?}");
    // Where it is attached is asked first (all entities, then the stack's own).
    assert_eq!(calls.get("IAM:ListEntitiesForPolicy"), Some(&2), "{calls:?}");
    // Gone is gone: read finds nothing, delete again is fine.
    assert!(h.read_one(KIND, &t).await.is_none());
    provider.delete(&h.ctx(), &arn, &props).await.unwrap();
}

#[tokio::test]
async fn foreign_policies_are_never_read_as_the_stacks_adopted_or_deleted() {
    let (h, cfg) = Harness::new("iam-pol-foreign").await;
    let iam = Client::new(&cfg);
    let mut made = Made::default();
    with_cleanup!(h, iam, made, foreign(&h, &iam, &mut made));
}

async fn foreign(h: &Harness, iam: &Client, made: &mut Made) {
    let provider = h.provider(KIND);
    let name = format!("{}-deploy", h.stack);
    let stack_tags = [(TAG_STACK, h.stack.as_str()), (TAG_ADDRESS, ADDRESS)];
    // Under another path, carrying even this stack's tags: not the stack's path.
    let elsewhere = foreign_policy(
        iam,
        &format!("{}-elsewhere", h.stack),
        &format!("/other/{}/", h.stack),
        &stack_tags,
        made,
    )
    .await;
    // The same stack in another region (its own path): never read from this one.
    let west = foreign_policy(
        iam,
        &format!("{}-west", h.stack),
        &format!("/hactl/{}/us-west-2/", h.stack),
        &stack_tags,
        made,
    )
    .await;
    // Under the stack's path with the name the stack wants, another stack's.
    let squatter = foreign_policy(iam, &name, &path(h), &[(TAG_STACK, "someone-else")], made).await;

    let props = policy_props(h, &name, ADDRESS);
    let (objs, _) = h.read(KIND, &[target(ADDRESS, None, &props)]).await;
    let ids: BTreeSet<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from([squatter.as_str()]), "only the stack's path is read");
    let obj = &objs[0];
    assert!(!obj.owned, "another stack's policy read as this stack's");
    assert_eq!(obj.address, None);

    // The create finds the name taken by another stack: refused, naming the owner; the
    // policy keeps its document and tags.
    let err = provider.create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap_err();
    assert_eq!(err.code(), Some("EntityAlreadyExists"), "{err}");
    assert!(!err.is_retryable());
    assert!(err.message().contains("someone-else"), "{err}");
    assert_eq!(versions(iam, &squatter).await, [("v1".to_string(), true)]);
    assert_eq!(default_document(iam, &squatter).await.unwrap().1, other_doc("s3:GetObject"));
    assert_eq!(
        tags_of(iam, &squatter).await,
        BTreeMap::from([(TAG_STACK.to_string(), "someone-else".into())])
    );
    for arn in [&elsewhere, &west, &squatter] {
        assert!(!gone(iam, arn).await, "{arn} was deleted");
    }
}

#[tokio::test]
async fn delete_while_attached_to_a_foreign_role_fails_naming_it_and_keeps_the_attachment() {
    let (h, cfg) = Harness::new("iam-pol-att").await;
    let iam = Client::new(&cfg);
    let mut made = Made::default();
    with_cleanup!(h, iam, made, attached_elsewhere(&h, &iam, &mut made));
}

async fn attached_elsewhere(h: &Harness, iam: &Client, made: &mut Made) {
    let provider = h.provider(KIND);
    let props = policy_props(h, &format!("{}-deploy", h.stack), ADDRESS);
    let arn = provider.create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap().id;
    let role = format!("{}-someones", h.stack);
    foreign_role(iam, &role, made).await;
    iam.attach_role_policy().role_name(&role).policy_arn(&arn).send().await.unwrap();
    // Checked first: the emulator refuses DeletePolicy while the policy is attached (one
    // version only here).
    let refused = iam.delete_policy().policy_arn(&arn).send().await.unwrap_err();
    assert_eq!(refused.code(), Some("DeleteConflict"), "the emulator does not refuse: {refused:?}");
    // A second version, which the delete removes before DeletePolicy.
    new_version(iam, &arn, &other_doc("s3:*"), false).await;

    let before = h.counter.snapshot();
    let err = provider.delete(&h.ctx(), &arn, &props).await.unwrap_err();
    let calls = common::calls_since(&h.counter, &before);
    assert_eq!(err.code(), Some("DeleteConflict"), "{err}");
    assert!(!err.is_retryable(), "an attachment made outside the stack does not clear by waiting: {err}");
    assert!(err.message().contains(&format!("role `{role}`")), "{err}");
    assert!(err.message().contains("detach them, then run destroy again"), "{err}");
    assert_eq!(calls.get("IAM:ListEntitiesForPolicy"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("IAM:DetachRolePolicy"), None, "{calls:?}");
    // Refused before anything changed: its versions are all still there.
    assert_eq!(calls.get("IAM:DeletePolicyVersion"), None, "{calls:?}");
    assert_eq!(calls.get("IAM:DeletePolicy"), None, "{calls:?}");
    assert!(!gone(iam, &arn).await);
    assert_eq!(attached(iam, &role).await, std::slice::from_ref(&arn), "the attachment was removed");

    // Detached by its owner, the next destroy deletes it.
    iam.detach_role_policy().role_name(&role).policy_arn(&arn).send().await.unwrap();
    provider.delete(&h.ctx(), &arn, &props).await.unwrap();
    assert!(gone(iam, &arn).await);
}

#[tokio::test]
async fn a_stack_role_attaching_the_policy_and_the_policy_destroy_cleanly() {
    let (h, cfg) = Harness::new("iam-pol-role").await;
    let iam = Client::new(&cfg);
    let mut made = Made::default();
    with_cleanup!(h, iam, made, stack_role(&h, &iam, &mut made));
}

async fn stack_role(h: &Harness, iam: &Client, made: &mut Made) {
    let policy = h.provider(KIND);
    let props = policy_props(h, &format!("{}-deploy", h.stack), ADDRESS);
    let arn = policy.create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap().id;
    let role = h.provider("iam.role");
    let (name, role_address) = (format!("{}-ci", h.stack), "iam_role.ci");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role_props = Props::from([
        ("name".to_string(), Value::str(&name)),
        ("path".to_string(), Value::str(path(h))),
        ("description".to_string(), Value::Null),
        ("assume_role_policy".to_string(), Value::from_json(&trust)),
        ("inline_policies".to_string(), Value::Map(BTreeMap::new())),
        ("managed_policy_arns".to_string(), Value::from_strings([arn.as_str()])),
        ("tags".to_string(), h.tags(role_address, &[])),
    ]);
    made.roles.push(name.clone());
    role.create(&h.ctx(), &addr(role_address), &role_props).await.unwrap();
    assert_eq!(attached(iam, &name).await, std::slice::from_ref(&arn));
    // Destroy in the graph's order: the role (which attaches the policy) first; it lets
    // go of the policy before it goes.
    role.delete(&h.ctx(), &name, &role_props).await.unwrap();
    let gone_role = iam.get_role().role_name(&name).send().await.unwrap_err();
    assert_eq!(gone_role.code(), Some("NoSuchEntity"));
    let before = h.counter.snapshot();
    policy.delete(&h.ctx(), &arn, &props).await.unwrap();
    let calls = common::calls_since(&h.counter, &before);
    assert!(gone(iam, &arn).await);
    assert_eq!(calls.get("IAM:DeletePolicy"), Some(&1), "refused at first: {calls:?}");
}

#[tokio::test]
async fn a_conflict_with_no_entity_listed_is_retried() {
    let (h, cfg) = Harness::new("iam-pol-ec").await;
    let iam = Client::new(&cfg);
    let mut made = Made::default();
    with_cleanup!(h, iam, made, eventually_consistent(&h, &iam, &cfg, &mut made));
}

async fn eventually_consistent(h: &Harness, iam: &Client, cfg: &aws_config::SdkConfig, made: &mut Made) {
    let props = policy_props(h, &format!("{}-deploy", h.stack), ADDRESS);
    let arn = h.provider(KIND).create(&h.ctx(), &addr(ADDRESS), &props).await.unwrap().id;
    // IAM still refuses the delete (an attachment it has not forgotten yet) while its
    // listing shows none.
    let role = format!("{}-leaving", h.stack);
    foreign_role(iam, &role, made).await;
    iam.attach_role_policy().role_name(&role).policy_arn(&arn).send().await.unwrap();
    // ListEntitiesForPolicy lists no entity, as IAM may right after the last one let go
    // (eventual consistency); other calls pass.
    let no_entities = common::Canned {
        operation: "ListEntitiesForPolicy",
        status: 200,
        content_type: "text/xml",
        body:
            "<ListEntitiesForPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
            <ListEntitiesForPolicyResult><PolicyRoles/><PolicyGroups/><PolicyUsers/>\
            <IsTruncated>false</IsTruncated></ListEntitiesForPolicyResult>\
            <ResponseMetadata><RequestId>stale</RequestId></ResponseMetadata></ListEntitiesForPolicyResponse>"
                .to_string(),
    };
    let conf = aws_sdk_iam::config::Builder::from(cfg).interceptor(no_entities).build();
    let provider = hactl_aws::iam::policy::Policy(Client::from_conf(conf));
    let err = provider.delete(&h.ctx(), &arn, &props).await.unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"), "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(!gone(iam, &arn).await);
    assert_eq!(attached(iam, &role).await, std::slice::from_ref(&arn));
}
