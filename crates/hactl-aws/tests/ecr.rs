//! The `ecr.repository` and `ecr.replication` providers against the emulator: driven
//! directly through the registry, every effect checked with the ECR SDK, names unique per
//! process, everything removed at the end (also when a test fails).

use crate::common;

use aws_config::Region;
use aws_sdk_ecr::types::{
    ReplicationConfiguration, ReplicationDestination, ReplicationRule, RepositoryFilter,
};
use aws_sdk_ecr::types::{RepositoryFilterType, Tag};
use aws_sdk_ecr::Client;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

const REPO: &str = "ecr.repository";
const REPLICATION: &str = "ecr.replication";
const ACCOUNT: &str = "000000000000";

struct Env {
    ecr: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
}

impl Env {
    /// Providers and a verifying client bound to `region`.
    async fn new(test: &str, region: &str) -> Arc<Env> {
        let cfg = sdk_config().await.to_builder().region(Region::new(region.to_string())).build();
        let counter = ApiCounter::default();
        Arc::new(Env {
            ecr: Client::new(&cfg),
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            stack: format!("t{}-{test}", std::process::id()),
        })
    }

    fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).unwrap().clone()
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut m = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Value::from_string_map(m)
    }

    /// A read of `kind` with a fresh cache, and the API calls it made by operation.
    async fn read(&self, kind: &str, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let objs = self.provider(kind).read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
        (objs, self.calls_since(&before))
    }

    fn calls_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        self.counter
            .snapshot()
            .into_iter()
            .filter_map(|(k, n)| {
                let d = n - before.get(&k).copied().unwrap_or(0);
                (d > 0).then_some((k, d))
            })
            .collect()
    }

    async fn read_one(&self, kind: &str, target: &ReadTarget) -> Option<LiveObject> {
        let (objs, _) = self.read(kind, std::slice::from_ref(target)).await;
        objs.into_iter().find(|o| o.address.as_ref() == Some(&target.address))
    }

    /// The repository as DescribeRepositories answers it; `None` when it does not exist.
    async fn describe(&self, name: &str) -> Option<aws_sdk_ecr::types::Repository> {
        match self.ecr.describe_repositories().repository_names(name).send().await {
            Ok(out) => out.repositories().first().cloned(),
            Err(e) => {
                let err = e.into_service_error();
                assert!(err.is_repository_not_found_exception(), "DescribeRepositories: {err:?}");
                None
            }
        }
    }

    async fn live_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let out = self.ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
    }

    /// The lifecycle policy, parsed; `None` when there is none.
    async fn lifecycle(&self, name: &str) -> Option<serde_json::Value> {
        match self.ecr.get_lifecycle_policy().repository_name(name).send().await {
            Ok(out) => Some(serde_json::from_str(out.lifecycle_policy_text().unwrap()).unwrap()),
            Err(e) => {
                let err = e.into_service_error();
                assert!(err.is_lifecycle_policy_not_found_exception(), "GetLifecyclePolicy: {err:?}");
                None
            }
        }
    }

    async fn rules(&self) -> Vec<ReplicationRule> {
        let out = self.ecr.describe_registry().send().await.unwrap();
        out.replication_configuration().map(|c| c.rules().to_vec()).unwrap_or_default()
    }

    async fn put_rules(&self, rules: Vec<ReplicationRule>) {
        let config = ReplicationConfiguration::builder().set_rules(Some(rules)).build().unwrap();
        self.ecr.put_replication_configuration().replication_configuration(config).send().await.unwrap();
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

fn recorded_target(address: &str, id: &str, props: &Props) -> ReadTarget {
    ReadTarget { recorded: Some(props.clone()), ..target(address, Some(id), props) }
}

fn names(changes: &[hactl_core::PropChange]) -> Vec<&str> {
    changes.iter().map(|c| c.name.as_str()).collect()
}

/// Runs `body`, then `cleanup` whatever happened, then re-raises a failure.
async fn run<F, Fut, C, CFut>(env: &Arc<Env>, body: F, cleanup: C)
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
    C: FnOnce(Arc<Env>) -> CFut,
    CFut: Future<Output = ()>,
{
    let r = tokio::spawn(body(env.clone())).await;
    cleanup(env.clone()).await;
    if let Err(e) = r {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("{e}");
    }
}

async fn delete_repos(env: &Env, names: &[String]) {
    for n in names {
        let _ = env.ecr.delete_repository().repository_name(n).force(true).send().await;
    }
}

// ---------------------------------------------------------------------------------------
// ecr.repository

const POLICY: &str = r#"{"rules":[{"rulePriority":1,"description":"old untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
const POLICY_2: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":50},"action":{"type":"expire"}}]}"#;

fn repo_props(env: &Env, name: &str, extra_tags: &[(&str, &str)]) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("image_tag_mutability".to_string(), Value::str("MUTABLE")),
        ("scan_on_push".to_string(), Value::Bool(false)),
        ("encryption_type".to_string(), Value::str("AES256")),
        ("kms_key".to_string(), Value::Null),
        ("lifecycle_policy".to_string(), Value::str(POLICY)),
        ("force_delete".to_string(), Value::Bool(false)),
        ("tags".to_string(), env.tags("ecr_repository.app", extra_tags)),
    ])
}

#[tokio::test]
async fn repository_create_read_update_drift_delete() {
    let env = Env::new("ecrrepo", "us-east-1").await;
    let names = vec![format!("{}/app", env.stack), format!("{}/foreign", env.stack)];
    let cleanup = names.clone();
    run(
        &env,
        |env| async move { repository_lifecycle(&env).await },
        |env| async move { delete_repos(&env, &cleanup).await },
    )
    .await;
}

async fn repository_lifecycle(env: &Env) {
    let p = env.provider(REPO);
    let name = format!("{}/app", env.stack);
    let address = addr("ecr_repository.app");
    let props = repo_props(env, &name, &[]);

    // A foreign repository (no tags, not in state) and one of the stack's name in
    // another stack must stay untouched and never read as this stack's.
    let foreign = format!("{}/foreign", env.stack);
    let foreign_tag = Tag::builder().key("owner").value("someone-else").build().unwrap();
    env.ecr.create_repository().repository_name(&foreign).tags(foreign_tag).send().await.unwrap();

    // Create: the settings, the lifecycle policy and the tags, as the SDK sees them.
    let applied = p.create(&env.ctx(), &address, &props).await.unwrap();
    let arn = format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{name}");
    assert_eq!(applied.id, arn);
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str(&name));
    assert_eq!(applied.outputs["registry_id"], Value::str(ACCOUNT));
    let uri = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}");
    assert_eq!(applied.outputs["repository_uri"], Value::str(&uri));
    let repo = env.describe(&name).await.expect("created");
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));
    assert!(!repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(repo.encryption_configuration().unwrap().encryption_type().as_str(), "AES256");
    assert_eq!(env.lifecycle(&name).await, Some(serde_json::from_str(POLICY).unwrap()));
    let tags = env.live_tags(&arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("ecr_repository.app"));

    // Read: found by its tags, no diff; one listing, the stack's tag index (no tag call for
    // any repository of the region), one lifecycle policy (the stack's repository only).
    let t = target("ecr_repository.app", Some(&arn), &props);
    let (objs, calls) = env.read(REPO, std::slice::from_ref(&t)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [arn.as_str()], "{objs:?}");
    let live = &objs[0];
    assert!(live.owned);
    assert_eq!(live.address.as_ref(), Some(&address));
    assert_eq!(live.outputs["repository_uri"], Value::str(&uri));
    assert_eq!(p.diff(&props, &live.props), vec![]);
    assert_eq!(calls.get("ECR:DescribeRepositories"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ECR:GetLifecyclePolicy"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("Resource Groups Tagging API:GetResources"), Some(&1), "{calls:?}");
    assert_eq!(calls.len(), 3, "{calls:?}");
    // Without a recorded id (a crash before state was written): found by its tags.
    let (objs, _) = env.read(REPO, &[target("ecr_repository.app", None, &props)]).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [arn.as_str()]);

    // AWS's reformatting of the policy is no diff; unset (Null) settings are AWS's defaults.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(POLICY).unwrap()).unwrap();
    env.ecr
        .put_lifecycle_policy()
        .repository_name(&name)
        .lifecycle_policy_text(&pretty)
        .send()
        .await
        .unwrap();
    let mut unset = props.clone();
    for key in ["image_tag_mutability", "scan_on_push", "encryption_type"] {
        unset.insert(key.to_string(), Value::Null);
    }
    assert_eq!(p.diff(&unset, &env.read_one(REPO, &t).await.unwrap().props), vec![]);

    repository_updates(env, &p, &name, &arn, &props).await;
    repository_foreign_and_refusal(env, &p, &name, &foreign, &props).await;
    repository_destroy_with_images(env, &p, &name, &arn).await;

    // The foreign repository is untouched.
    let repo = env.describe(&foreign).await.expect("the foreign repository is still there");
    assert!(!repo.image_scanning_configuration().unwrap().scan_on_push());
    let foreign_arn = repo.repository_arn().unwrap().to_string();
    assert_eq!(env.live_tags(&foreign_arn).await, BTreeMap::from([("owner".into(), "someone-else".into())]));
}

/// In place: scan on push, the lifecycle policy (changed, then removed), tag mutability
/// and tags; drift out of band.
async fn repository_updates(env: &Env, p: &Arc<dyn Provider>, name: &str, arn: &str, props: &Props) {
    let address = addr("ecr_repository.app");
    let t = target("ecr_repository.app", Some(arn), props);
    let mut desired = repo_props(env, name, &[("team", "ops")]);
    desired.insert("scan_on_push".into(), Value::Bool(true));
    desired.insert("lifecycle_policy".into(), Value::str(POLICY_2));
    desired.insert("image_tag_mutability".into(), Value::str("IMMUTABLE"));
    let live = env.read_one(REPO, &t).await.unwrap();
    let changes = p.diff(&desired, &live.props);
    assert_eq!(names(&changes), ["image_tag_mutability", "lifecycle_policy", "scan_on_push", "tags"]);
    assert!(changes.iter().all(|c| !c.forces_replacement));
    let up = p
        .update(
            &env.ctx(),
            UpdateRequest { address: &address, id: arn, desired: &desired, changes: &changes },
        )
        .await
        .unwrap();
    assert_eq!(up.outputs["arn"], Value::str(arn));
    let repo = env.describe(name).await.unwrap();
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(env.lifecycle(name).await, Some(serde_json::from_str(POLICY_2).unwrap()));
    assert_eq!(env.live_tags(arn).await.get("team").map(String::as_str), Some("ops"));
    let t = target("ecr_repository.app", Some(arn), &desired);
    assert_eq!(p.diff(&desired, &env.read_one(REPO, &t).await.unwrap().props), vec![]);

    // Out of band: scan on push turned off and a tag added: drift.
    let scan = aws_sdk_ecr::types::ImageScanningConfiguration::builder().scan_on_push(false).build();
    env.ecr
        .put_image_scanning_configuration()
        .repository_name(name)
        .image_scanning_configuration(scan)
        .send()
        .await
        .unwrap();
    let tag = Tag::builder().key("extra").value("1").build().unwrap();
    env.ecr.tag_resource().resource_arn(arn).tags(tag).send().await.unwrap();
    let live = env.read_one(REPO, &t).await.unwrap();
    assert_eq!(live.props["scan_on_push"], Value::Bool(false));
    let changes = p.diff(&desired, &live.props);
    assert_eq!(names(&changes), ["scan_on_push", "tags"]);
    p.update(&env.ctx(), UpdateRequest { address: &address, id: arn, desired: &desired, changes: &changes })
        .await
        .unwrap();
    assert!(env.describe(name).await.unwrap().image_scanning_configuration().unwrap().scan_on_push());
    assert!(!env.live_tags(arn).await.contains_key("extra"));

    // The lifecycle policy removed (Null), the tag dropped, back to MUTABLE.
    let mut bare = props.clone();
    bare.insert("lifecycle_policy".into(), Value::Null);
    let changes = p.diff(&bare, &env.read_one(REPO, &t).await.unwrap().props);
    assert_eq!(names(&changes), ["image_tag_mutability", "lifecycle_policy", "scan_on_push", "tags"]);
    p.update(&env.ctx(), UpdateRequest { address: &address, id: arn, desired: &bare, changes: &changes })
        .await
        .unwrap();
    assert_eq!(env.lifecycle(name).await, None);
    assert!(!env.live_tags(arn).await.contains_key("team"));
    assert_eq!(env.describe(name).await.unwrap().image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));
    let t = target("ecr_repository.app", Some(arn), &bare);
    assert_eq!(p.diff(&bare, &env.read_one(REPO, &t).await.unwrap().props), vec![]);
    // Removing a policy that is not there is fine.
    let changes = vec![hactl_core::PropChange {
        name: "lifecycle_policy".into(),
        before: Some(Value::str(POLICY)),
        after: Some(Value::Null),
        forces_replacement: false,
        sensitive: false,
    }];
    p.update(&env.ctx(), UpdateRequest { address: &address, id: arn, desired: &bare, changes: &changes })
        .await
        .unwrap();
    // Back to the first settings.
    let changes = p.diff(props, &env.read_one(REPO, &t).await.unwrap().props);
    p.update(&env.ctx(), UpdateRequest { address: &address, id: arn, desired: props, changes: &changes })
        .await
        .unwrap();
    assert_eq!(env.lifecycle(name).await, Some(serde_json::from_str(POLICY).unwrap()));
}

/// Foreign repositories are never the stack's; a create retried adopts our own
/// repository, another stack's is refused.
async fn repository_foreign_and_refusal(
    env: &Env,
    p: &Arc<dyn Provider>,
    name: &str,
    foreign: &str,
    props: &Props,
) {
    let address = addr("ecr_repository.app");
    // A target naming the foreign repository: found, but not owned (the plan reports a
    // conflict); no target names it: not read at all.
    let mut wants_foreign = props.clone();
    wants_foreign.insert("name".into(), Value::str(foreign));
    let (objs, _) = env.read(REPO, &[target("ecr_repository.other", None, &wants_foreign)]).await;
    let found: Vec<_> = objs.iter().filter(|o| o.id.ends_with(&format!("/{foreign}"))).collect();
    assert_eq!(found.len(), 1, "{objs:?}");
    assert!(!found[0].owned);
    assert_eq!(found[0].address.as_ref(), Some(&addr("ecr_repository.other")));
    let (objs, _) = env.read(REPO, &[target("ecr_repository.app", None, props)]).await;
    assert!(objs.iter().all(|o| !o.id.ends_with(&format!("/{foreign}"))), "{objs:?}");
    // Creating over it is refused, naming its owner; it is left as it was.
    let err = p.create(&env.ctx(), &address, &wants_foreign).await.unwrap_err();
    assert!(err.message().contains(foreign) && err.message().contains("hactl:stack tag: none"), "{err}");
    assert_eq!(env.lifecycle(foreign).await, None, "not converged");

    // A create retried: our own repository, its drift converged.
    let arn = format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{name}");
    let tag = Tag::builder().key("extra").value("1").build().unwrap();
    env.ecr.tag_resource().resource_arn(&arn).tags(tag).send().await.unwrap();
    let again = p.create(&env.ctx(), &address, props).await.unwrap();
    assert_eq!(again.id, arn);
    assert!(!env.live_tags(&arn).await.contains_key("extra"));
    // Another stack cannot take it, nor read it.
    let other = Env::new("ecrrepo-b", "us-east-1").await;
    let err = other.provider(REPO).create(&other.ctx(), &address, props).await.unwrap_err();
    assert!(err.message().contains(&format!("hactl:stack tag: {}", env.stack)), "{err}");
    let (objs, _) =
        other.read(REPO, &[target("ecr_repository.app", None, &repo_props(&other, "x", &[]))]).await;
    assert!(objs.iter().all(|o| o.id != arn), "{objs:?}");
    assert_eq!(env.live_tags(&arn).await.get(TAG_STACK), Some(&env.stack));
}

/// Images block a destroy unless `force_delete`.
async fn repository_destroy_with_images(env: &Env, p: &Arc<dyn Provider>, name: &str, arn: &str) {
    let address = addr("ecr_repository.app");
    for (tag, config) in [("v1", "a"), ("v2", "b")] {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": format!("sha256:{}", config.repeat(64)),
            },
            // moto derives an image's digest from its layers' (AWS: from the manifest).
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2,
                "digest": format!("sha256:{}", config.repeat(64)),
            }],
        });
        env.ecr
            .put_image()
            .repository_name(name)
            .image_tag(tag)
            .image_manifest(manifest.to_string())
            .send()
            .await
            .unwrap();
    }
    let listed = env.ecr.list_images().repository_name(name).send().await.unwrap();
    assert_eq!(listed.image_ids().len(), 2);

    let props = repo_props(env, name, &[]);
    let err = p.delete(&env.ctx(), arn, &props).await.unwrap_err();
    assert!(err.is_conflict() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.code(), Some("RepositoryNotEmptyException"));
    assert!(err.message().contains(&format!("`{name}` still holds 2 image(s)")), "{err}");
    assert!(err.message().contains("force_delete"), "{err}");
    assert!(env.describe(name).await.is_some(), "not deleted");

    // force_delete turned on: an in-place change of state only (no AWS call) ...
    let mut forced = props.clone();
    forced.insert("force_delete".into(), Value::Bool(true));
    let live = env.read_one(REPO, &recorded_target("ecr_repository.app", arn, &props)).await.unwrap();
    assert_eq!(live.props["force_delete"], Value::Bool(false), "the recorded value");
    let changes = p.diff(&forced, &live.props);
    assert_eq!(names(&changes), ["force_delete"]);
    let before = env.counter.snapshot();
    p.update(&env.ctx(), UpdateRequest { address: &address, id: arn, desired: &forced, changes: &changes })
        .await
        .unwrap();
    assert_eq!(env.calls_since(&before), BTreeMap::new());
    // ... that the delete honours.
    p.delete(&env.ctx(), arn, &forced).await.unwrap();
    assert!(env.describe(name).await.is_none());
    assert!(env.read_one(REPO, &target("ecr_repository.app", Some(arn), &forced)).await.is_none());
    p.delete(&env.ctx(), arn, &forced).await.unwrap();
    p.delete(&env.ctx(), arn, &props).await.unwrap();
}

#[tokio::test]
async fn repository_with_kms_encryption() {
    let env = Env::new("ecrkms", "us-east-1").await;
    let name = format!("{}/kms", env.stack);
    let cleanup = vec![name.clone()];
    run(
        &env,
        |env| async move {
            let p = env.provider(REPO);
            let name = format!("{}/kms", env.stack);
            let mut props = repo_props(&env, &name, &[]);
            props.insert("encryption_type".into(), Value::str("KMS"));
            props.insert("lifecycle_policy".into(), Value::Null);
            let arn = p.create(&env.ctx(), &addr("ecr_repository.app"), &props).await.unwrap().id;
            let enc = env.describe(&name).await.unwrap().encryption_configuration().cloned().unwrap();
            assert_eq!(enc.encryption_type().as_str(), "KMS");
            // AWS picks the key (kms_key Null): whatever key it reports is no diff.
            assert!(enc.kms_key().is_some());
            let live = env.read_one(REPO, &target("ecr_repository.app", Some(&arn), &props)).await.unwrap();
            assert_eq!(p.diff(&props, &live.props), vec![]);
            // Another encryption type is a replacement.
            let mut aes = props.clone();
            aes.insert("encryption_type".into(), Value::str("AES256"));
            let changes = p.diff(&aes, &live.props);
            assert_eq!(names(&changes), ["encryption_type"]);
            assert!(changes[0].forces_replacement);
            // A key without the KMS type is refused before any call.
            aes.insert("kms_key".into(), Value::str("alias/app"));
            let err = p.create(&env.ctx(), &addr("ecr_repository.app"), &aes).await.unwrap_err();
            assert!(err.message().contains("encryption_type"), "{err}");
            p.delete(&env.ctx(), &arn, &props).await.unwrap();
            assert!(env.describe(&name).await.is_none());
        },
        |env| async move { delete_repos(&env, &cleanup).await },
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// ecr.replication (in eu-central-1: no other test of this file writes that registry)

fn dest(region: &str) -> ReplicationDestination {
    ReplicationDestination::builder().region(region).registry_id(ACCOUNT).build().unwrap()
}

fn prefix_rule(prefix: &str, regions: &[&str]) -> ReplicationRule {
    let filter = RepositoryFilter::builder()
        .filter(prefix)
        .filter_type(RepositoryFilterType::PrefixMatch)
        .build()
        .unwrap();
    let mut b = ReplicationRule::builder().repository_filters(filter);
    for r in regions {
        b = b.destinations(dest(r));
    }
    b.build().unwrap()
}

/// The destination regions of the rule whose single filter is `prefix`.
fn regions_of(rules: &[ReplicationRule], prefix: &str) -> Option<Vec<String>> {
    let rule = rules.iter().find(|r| matches!(r.repository_filters(), [f] if f.filter() == prefix))?;
    let mut regions: Vec<String> = rule.destinations().iter().map(|d| d.region().to_string()).collect();
    regions.sort();
    Some(regions)
}

fn replication_props(prefix: &str, regions: &[&str]) -> Props {
    Props::from([
        ("repository_prefix".to_string(), Value::str(prefix)),
        ("destinations".to_string(), Value::from_strings(regions.iter().copied())),
    ])
}

#[tokio::test]
async fn replication_keeps_foreign_rules_and_removes_only_its_own() {
    let env = Env::new("ecrrepl", "eu-central-1").await;
    run(
        &env,
        |env| async move { replication_lifecycle(&env).await },
        |env| async move { env.put_rules(Vec::new()).await },
    )
    .await;
}

async fn replication_lifecycle(env: &Env) {
    let p = env.provider(REPLICATION);
    let address = addr("ecr_replication.app");
    let prefix = format!("{}-app", env.stack);
    let foreign_prefix = format!("{}-foreign", env.stack);
    // A rule of someone else, created directly (one with no filter at all, too).
    let foreign = prefix_rule(&foreign_prefix, &["us-west-2"]);
    let catch_all = ReplicationRule::builder().destinations(dest("eu-west-1")).build().unwrap();
    env.put_rules(vec![foreign.clone(), catch_all.clone()]).await;

    // Nothing of the stack's yet: read finds nothing; a target without a prefix costs no call.
    let props = replication_props(&prefix, &["us-west-2", "eu-west-1"]);
    assert!(env.read_one(REPLICATION, &target("ecr_replication.app", None, &props)).await.is_none());
    let (objs, calls) = env.read(REPLICATION, &[]).await;
    assert!(objs.is_empty() && calls.is_empty(), "{calls:?}");

    // Create: the stack's rule beside the foreign ones, which are kept as they were.
    let applied = p.create(&env.ctx(), &address, &props).await.unwrap();
    assert_eq!(applied.id, prefix);
    assert_eq!(applied.outputs["registry_id"], Value::str(ACCOUNT));
    let rules = env.rules().await;
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert_eq!(rules[0], foreign);
    assert_eq!(rules[1], catch_all);
    assert_eq!(regions_of(&rules, &prefix), Some(vec!["eu-west-1".to_string(), "us-west-2".to_string()]));

    // Read: the stack's rule only, owned through its recorded id, no diff; one call.
    let t = target("ecr_replication.app", Some(&prefix), &props);
    let (objs, calls) = env.read(REPLICATION, std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned);
    assert_eq!(objs[0].id, prefix);
    assert_eq!(objs[0].address.as_ref(), Some(&address));
    assert_eq!(objs[0].outputs["registry_id"], Value::str(ACCOUNT));
    assert_eq!(p.diff(&props, &objs[0].props), vec![]);
    assert_eq!(calls, BTreeMap::from([("ECR:DescribeRegistry".to_string(), 1)]));
    // Not recorded in state: not the stack's (a conflict for the planner); a create refuses it.
    let live = env.read_one(REPLICATION, &target("ecr_replication.app", None, &props)).await.unwrap();
    assert!(!live.owned);
    let err = p.create(&env.ctx(), &address, &props).await.unwrap_err();
    assert!(err.is_conflict() && err.message().contains(&prefix), "{err}");
    assert_eq!(env.rules().await.len(), 3);

    // Update in place: other destinations; the foreign rules stay.
    let desired = replication_props(&prefix, &["ap-southeast-2"]);
    let changes = p.diff(&desired, &env.read_one(REPLICATION, &t).await.unwrap().props);
    assert_eq!(names(&changes), ["destinations"]);
    assert!(!changes[0].forces_replacement);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &address, id: &prefix, desired: &desired, changes: &changes },
    )
    .await
    .unwrap();
    let rules = env.rules().await;
    assert_eq!((rules.len(), &rules[0], &rules[1]), (3, &foreign, &catch_all));
    assert_eq!(regions_of(&rules, &prefix), Some(vec!["ap-southeast-2".to_string()]));
    // Another prefix is a replacement.
    let moved = replication_props(&format!("{prefix}-v2"), &["ap-southeast-2"]);
    let changes = p.diff(&moved, &env.read_one(REPLICATION, &t).await.unwrap().props);
    assert_eq!(names(&changes), ["repository_prefix"]);
    assert!(changes[0].forces_replacement);

    // Out of band: a destination added to the stack's rule is drift; a foreign change is not.
    let mut rules = env.rules().await;
    rules[2] = prefix_rule(&prefix, &["ap-southeast-2", "us-east-2"]);
    rules[0] = prefix_rule(&foreign_prefix, &["us-west-1"]);
    env.put_rules(rules).await;
    let live = env.read_one(REPLICATION, &t).await.unwrap();
    assert_eq!(live.props["destinations"], Value::from_strings(["ap-southeast-2", "us-east-2"]));
    assert_eq!(names(&p.diff(&desired, &live.props)), ["destinations"]);

    // Delete: only the stack's rule goes; again is a no-op (one read, no write).
    p.delete(&env.ctx(), &prefix, &desired).await.unwrap();
    let rules = env.rules().await;
    assert_eq!(rules, vec![prefix_rule(&foreign_prefix, &["us-west-1"]), catch_all.clone()]);
    let before = env.counter.snapshot();
    p.delete(&env.ctx(), &prefix, &desired).await.unwrap();
    assert_eq!(env.calls_since(&before), BTreeMap::from([("ECR:DescribeRegistry".to_string(), 1)]));
    assert!(env.read_one(REPLICATION, &t).await.is_none());

    // The stack's rule alone: its delete leaves an empty rule list.
    env.put_rules(Vec::new()).await;
    p.create(&env.ctx(), &address, &props).await.unwrap();
    assert_eq!(env.rules().await.len(), 1);
    p.delete(&env.ctx(), &prefix, &props).await.unwrap();
    assert!(env.rules().await.is_empty());
}
