//! The `secretsmanager.secret` and `secretsmanager.secret_fields` providers against the
//! emulator: driven directly through the registry, every effect checked with the Secrets
//! Manager SDK, names unique per process, everything force-deleted at the end (also when
//! a test fails). Every answer of the providers is checked not to contain the password.
//! Replication is checked with a client of each region (us-east-1, and us-west-2 as the
//! disaster-recovery region); the us-west-2 reads go through a registry built for it.

use crate::common;

use aws_sdk_secretsmanager::Client;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

const SECRET: &str = "secretsmanager.secret";
const FIELDS: &str = "secretsmanager.secret_fields";

/// The disaster-recovery region of the replication tests.
const DR: &str = "us-west-2";

struct Env {
    sm: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
    /// The SDK configuration, the Secrets Manager client and the providers of us-west-2.
    west_cfg: aws_config::SdkConfig,
    sm_west: Client,
    west: Registry,
}

impl Env {
    async fn new(test: &str) -> Arc<Env> {
        let cfg = sdk_config().await;
        let west_cfg = cfg.to_builder().region(aws_config::Region::new(DR)).build();
        let counter = ApiCounter::default();
        Arc::new(Env {
            sm: Client::new(&cfg),
            registry: hactl_aws::registry(&cfg, &counter),
            sm_west: Client::new(&west_cfg),
            west: hactl_aws::registry(&west_cfg, &counter),
            west_cfg,
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

    fn ctx_force(&self) -> Ctx {
        let mut c = self.ctx();
        c.delete_options.force_delete_secrets = true;
        c
    }

    fn name(&self) -> String {
        format!("hactl/{}/db-credentials", self.stack)
    }

    fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut m = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Value::from_string_map(m)
    }

    /// The props the expansion produces for `secret.db` (name given).
    fn secret_props(&self, name: &str, address: &str, description: &str, kms: Value) -> Props {
        Props::from([
            ("name".to_string(), Value::str(name)),
            ("description".to_string(), Value::str(description)),
            ("kms_key_id".to_string(), kms),
            ("tags".to_string(), self.tags(address, &[("Name", "db-credentials")])),
            (
                "initial_fields".to_string(),
                Value::Map(BTreeMap::from([
                    ("username".to_string(), Value::str("hactladmin")),
                    ("engine".to_string(), Value::str("docdb")),
                    ("port".to_string(), Value::Int(27017)),
                    ("dbname".to_string(), Value::str("app")),
                ])),
            ),
            ("password_length".to_string(), Value::Int(32)),
            ("recovery_window_days".to_string(), Value::Int(7)),
        ])
    }

    async fn read(&self, kind: &str, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        self.read_in(&self.registry, kind, targets).await
    }

    /// A read through the providers of `registry` (us-east-1's or us-west-2's), and its calls.
    async fn read_in(
        &self,
        registry: &Registry,
        kind: &str,
        targets: &[ReadTarget],
    ) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let provider = registry.get(kind).unwrap().clone();
        let objs = provider.read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
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

    async fn read_one(&self, kind: &str, target: &ReadTarget) -> Option<LiveObject> {
        let (objs, _) = self.read(kind, std::slice::from_ref(target)).await;
        objs.into_iter().find(|o| Some(&o.id) == target.id.as_ref())
    }

    async fn describe(
        &self,
        id: &str,
    ) -> Option<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput> {
        match self.sm.describe_secret().secret_id(id).send().await {
            Ok(d) => Some(d),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.meta().code()).map(str::to_string);
                assert_eq!(code.as_deref(), Some("ResourceNotFoundException"), "DescribeSecret: {e:?}");
                None
            }
        }
    }

    /// DescribeSecret in us-west-2; `None` when there is no such secret there.
    async fn describe_west(
        &self,
        id: &str,
    ) -> Option<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput> {
        match self.sm_west.describe_secret().secret_id(id).send().await {
            Ok(d) => Some(d),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.meta().code()).map(str::to_string);
                assert_eq!(code.as_deref(), Some("ResourceNotFoundException"), "DescribeSecret: {e:?}");
                None
            }
        }
    }

    /// The primary's ReplicationStatus in us-east-1: (region, status).
    async fn replication(&self, id: &str) -> Vec<(String, String)> {
        let d = self.describe(id).await.expect("secret exists");
        d.replication_status()
            .iter()
            .map(|r| (r.region().unwrap().to_string(), r.status().unwrap().as_str().to_string()))
            .collect()
    }

    /// The JSON value of the secret `id` in us-west-2 (a replica), read with the SDK there.
    async fn value_west(&self, id: &str) -> serde_json::Map<String, serde_json::Value> {
        let out = self.sm_west.get_secret_value().secret_id(id).send().await.unwrap();
        serde_json::from_str(out.secret_string().unwrap()).unwrap()
    }

    async fn live_tags(&self, id: &str) -> BTreeMap<String, String> {
        let d = self.describe(id).await.expect("secret exists");
        d.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
    }

    /// The secret's JSON value, read with the SDK.
    async fn value(&self, id: &str) -> serde_json::Map<String, serde_json::Value> {
        let out = self.sm.get_secret_value().secret_id(id).send().await.unwrap();
        match serde_json::from_str(out.secret_string().unwrap()).unwrap() {
            serde_json::Value::Object(m) => m,
            _ => panic!("secret {id} is not a JSON object"),
        }
    }

    async fn password(&self, id: &str) -> String {
        self.value(id).await["password"].as_str().unwrap().to_string()
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

/// Nothing the providers answered may contain the password.
fn assert_no_password(password: &str, what: &str, text: &str) {
    assert!(password.len() >= 16, "a real password to look for");
    assert!(!text.contains(password), "the password leaked into {what}");
}

/// Runs `body`, then force-deletes `names` whatever happened (in us-east-1 after removing
/// its replicas, and what is left in us-west-2), then re-raises a failure.
async fn run<F, Fut>(env: &Arc<Env>, names: Vec<String>, body: F)
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let r = tokio::spawn(body(env.clone())).await;
    for n in names {
        if let Ok(d) = env.sm.describe_secret().secret_id(&n).send().await {
            let regions: Vec<String> =
                d.replication_status().iter().filter_map(|r| r.region()).map(str::to_string).collect();
            if !regions.is_empty() {
                let req = env.sm.remove_regions_from_replication().secret_id(&n);
                let _ = req.set_remove_replica_regions(Some(regions)).send().await;
            }
        }
        let _ = env.sm.delete_secret().secret_id(&n).force_delete_without_recovery(true).send().await;
        let _ = env.sm_west.delete_secret().secret_id(&n).force_delete_without_recovery(true).send().await;
    }
    if let Err(e) = r {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("{e}");
    }
}

#[tokio::test]
async fn secret_create_read_update_delete_restore() {
    let env = Env::new("sm-life").await;
    run(&env, vec![env.name()], |env| async move { secret_lifecycle(&env).await }).await;
}

async fn secret_lifecycle(env: &Env) {
    let p = env.provider(SECRET);
    let provider = env.provider(SECRET);
    let name = env.name();
    let props = env.secret_props(&name, "secret.db", "database credentials", Value::Null);

    // Create: a generated password next to the initial fields.
    let applied = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap();
    let arn = applied.id.clone();
    assert!(
        arn.starts_with(&format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-")),
        "{arn}"
    );
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str(&name));
    let value = env.value(&arn).await;
    assert_eq!(
        value.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["dbname", "engine", "password", "port", "username"])
    );
    assert_eq!(value["username"], "hactladmin");
    assert_eq!(value["engine"], "docdb");
    assert_eq!(value["port"], 27017, "an Int field is a JSON number");
    assert_eq!(value["dbname"], "app");
    let password = env.password(&arn).await;
    assert_eq!(password.len(), 32);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()), "letters and digits only");
    for class in [char::is_ascii_lowercase, char::is_ascii_uppercase, char::is_ascii_digit] {
        assert!(password.chars().any(|c| class(&c)), "each included type");
    }
    assert_no_password(&password, "Applied", &format!("{applied:?}"));
    let d = env.describe(&arn).await.unwrap();
    assert_eq!(d.description(), Some("database credentials"));
    assert_eq!(d.kms_key_id(), None, "the AWS-managed key");
    let tags = env.live_tags(&arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("secret.db"));

    // Read: one ListSecrets, no diff, no password.
    let t = target("secret.db", Some(&arn), &props);
    let (objs, calls) = env.read(SECRET, std::slice::from_ref(&t)).await;
    assert_no_password(&password, "read", &format!("{objs:?}"));
    assert_eq!(objs.len(), 1, "{objs:?}");
    let o = &objs[0];
    assert_eq!((o.id.as_str(), o.owned, o.address.as_ref()), (arn.as_str(), true, Some(&t.address)));
    assert_eq!(provider.diff(&props, &o.props), vec![]);
    assert_eq!(o.outputs["arn"], Value::str(&arn));
    assert_eq!(o.outputs["name"], Value::str(&name));
    assert_eq!(calls, BTreeMap::from([("Secrets Manager:ListSecrets".to_string(), 1)]));
    // Without a recorded id (a crash before state was written) it is found by its tags.
    let (objs, _) = env.read(SECRET, &[target("secret.db", None, &props)]).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [arn.as_str()]);

    // Update in place: description and tags.
    let mut desired = env.secret_props(&name, "secret.db", "credentials of the app database", Value::Null);
    desired.insert("tags".into(), env.tags("secret.db", &[("Name", "db-credentials"), ("team", "data")]));
    let live = env.read_one(SECRET, &t).await.unwrap();
    let changes = provider.diff(&desired, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["description", "tags"]);
    let applied = p
        .update(
            &env.ctx(),
            UpdateRequest { address: &t.address, id: &arn, desired: &desired, changes: &changes },
        )
        .await
        .unwrap();
    assert_no_password(&password, "Applied (update)", &format!("{applied:?}"));
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(env.describe(&arn).await.unwrap().description(), Some("credentials of the app database"));
    assert_eq!(env.live_tags(&arn).await.get("team").map(String::as_str), Some("data"));
    assert_eq!(env.password(&arn).await, password, "an update leaves the value alone");
    let t = target("secret.db", Some(&arn), &desired);
    assert_eq!(provider.diff(&desired, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // Out of band: description changed, a tag added: drift.
    env.sm.update_secret().secret_id(&arn).description("changed by hand").send().await.unwrap();
    env.sm
        .tag_resource()
        .secret_id(&arn)
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key("extra").value("1").build())
        .send()
        .await
        .unwrap();
    let live = env.read_one(SECRET, &t).await.unwrap();
    assert_eq!(live.props["description"], Value::str("changed by hand"));
    let changes = provider.diff(&desired, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["description", "tags"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: &arn, desired: &desired, changes: &changes },
    )
    .await
    .unwrap();
    assert!(!env.live_tags(&arn).await.contains_key("extra"));
    assert_eq!(provider.diff(&desired, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // Its hactl tags removed by hand: the recorded id is described (one call), the tags
    // are drift, the update puts them back.
    env.sm.untag_resource().secret_id(&arn).tag_keys(TAG_STACK).tag_keys(TAG_ADDRESS).send().await.unwrap();
    let (objs, calls) = env.read(SECRET, std::slice::from_ref(&t)).await;
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Secrets Manager:DescribeSecret".to_string(), 1),
            ("Secrets Manager:ListSecrets".to_string(), 1)
        ])
    );
    let live = objs.into_iter().find(|o| o.id == arn).expect("found through its recorded id");
    assert!(!live.owned);
    assert_eq!(live.address.as_ref(), Some(&t.address), "matched to the target");
    let changes = provider.diff(&desired, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tags"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: &arn, desired: &desired, changes: &changes },
    )
    .await
    .unwrap();
    assert_eq!(env.live_tags(&arn).await.get(TAG_STACK), Some(&env.stack));

    // Delete with the recovery window: scheduled, which reads as absent.
    p.delete(&env.ctx(), &arn, &desired).await.unwrap();
    let d = env.describe(&arn).await.expect("kept during the recovery window");
    assert!(d.deleted_date().is_some(), "scheduled for deletion");
    let (objs, calls) = env.read(SECRET, std::slice::from_ref(&t)).await;
    assert!(objs.is_empty(), "{objs:?}");
    assert_eq!(calls, BTreeMap::from([("Secrets Manager:ListSecrets".to_string(), 1)]));
    // Deleting again is fine (already scheduled).
    p.delete(&env.ctx(), &arn, &desired).await.unwrap();

    // Create again: the same secret comes back, its password kept.
    let applied = p.create(&env.ctx(), &addr("secret.db"), &desired).await.unwrap();
    assert_no_password(&password, "Applied (restore)", &format!("{applied:?}"));
    assert_eq!(applied.id, arn, "RestoreSecret, not a new secret");
    assert!(env.describe(&arn).await.unwrap().deleted_date().is_none());
    assert_eq!(env.password(&arn).await, password, "the password a database uses is kept");
    assert_eq!(provider.diff(&desired, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // Forced delete: gone for good.
    p.delete(&env.ctx_force(), &arn, &desired).await.unwrap();
    assert!(env.describe(&arn).await.is_none());
    assert!(env.read_one(SECRET, &t).await.is_none());
    p.delete(&env.ctx_force(), &arn, &desired).await.unwrap();
    p.delete(&env.ctx(), &arn, &desired).await.unwrap();

    // A new create after that is a new secret with a new password; a forced delete of a
    // secret already scheduled for deletion removes it too.
    let applied = p.create(&env.ctx(), &addr("secret.db"), &desired).await.unwrap();
    assert_ne!(applied.id, arn);
    let new_password = env.password(&applied.id).await;
    assert_ne!(new_password, password);
    p.delete(&env.ctx(), &applied.id, &desired).await.unwrap();
    assert!(env.describe(&applied.id).await.unwrap().deleted_date().is_some());
    p.delete(&env.ctx_force(), &applied.id, &desired).await.unwrap();
    assert!(env.describe(&applied.id).await.is_none(), "a scheduled secret force-deleted is gone");
    assert!(env.describe(&name).await.is_none());
}

#[tokio::test]
async fn secret_adoption_and_refusal() {
    let env = Env::new("sm-adopt").await;
    let other = Env::new("sm-adopt-b").await;
    let legacy = format!("hactl/{}/legacy", env.stack);
    let names = vec![env.name(), other.name(), legacy.clone()];
    let o2 = other.clone();
    run(&env, names, |env| async move { adoption(&env, &o2, &legacy).await }).await;
}

async fn adoption(env: &Env, other: &Env, legacy: &str) {
    let p = env.provider(SECRET);
    let provider = env.provider(SECRET);
    let name = env.name();
    let props = env.secret_props(&name, "secret.db", "database credentials", Value::Null);
    let arn = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap().id;
    let password = env.password(&arn).await;

    // A create retried after a crash (same tags): adopted, converged, value kept.
    let desired = env.secret_props(&name, "secret.db", "new description", Value::Null);
    let applied = p.create(&env.ctx(), &addr("secret.db"), &desired).await.unwrap();
    assert_no_password(&password, "Applied (adopt)", &format!("{applied:?}"));
    assert_eq!(applied.id, arn);
    assert_eq!(env.describe(&arn).await.unwrap().description(), Some("new description"));
    assert_eq!(env.password(&arn).await, password);
    let t = target("secret.db", Some(&arn), &desired);
    assert_eq!(provider.diff(&desired, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // Another address of this stack, or another stack: refused, nothing changed.
    let err = p.create(&env.ctx(), &addr("secret.other"), &desired).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceExistsException"), "{err}");
    assert!(!err.is_retryable());
    assert!(err.message().contains("secret.db"), "names the owner: {err}");
    assert_no_password(&password, "error", &format!("{err} {err:?}"));
    let theirs = other.secret_props(&name, "secret.db", "x", Value::Null);
    let err = other.provider(SECRET).create(&other.ctx(), &addr("secret.db"), &theirs).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceExistsException"), "{err}");
    assert!(err.message().contains(&env.stack), "names the owning stack: {err}");
    assert_no_password(&password, "error", &format!("{err} {err:?}"));
    // ... also when that secret is scheduled for deletion: not restored.
    p.delete(&env.ctx(), &arn, &desired).await.unwrap();
    let err = other.provider(SECRET).create(&other.ctx(), &addr("secret.db"), &theirs).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceExistsException"), "{err}");
    assert!(env.describe(&arn).await.unwrap().deleted_date().is_some(), "still scheduled");
    assert_eq!(env.describe(&arn).await.unwrap().description(), Some("new description"));

    // Another stack whose name shares this stack's prefix is not read as ours.
    let other_props = other.secret_props(&other.name(), "secret.db", "b", Value::Null);
    let other_arn =
        other.provider(SECRET).create(&other.ctx(), &addr("secret.db"), &other_props).await.unwrap().id;
    p.create(&env.ctx(), &addr("secret.db"), &desired).await.unwrap();
    let (objs, _) = env.read(SECRET, &[target("secret.db", None, &desired)]).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [arn.as_str()]);
    assert!(!objs.iter().any(|o| o.id == other_arn));

    // Our own secret whose value lacks a password (made by hand, tagged for us): adopted,
    // its keys kept, a password merged in.
    env.sm
        .create_secret()
        .name(legacy)
        .secret_string(r#"{"username":"someone"}"#)
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key(TAG_STACK).value(&env.stack).build())
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key(TAG_ADDRESS).value("secret.legacy").build())
        .send()
        .await
        .unwrap();
    let legacy_props = env.secret_props(legacy, "secret.legacy", "legacy", Value::Null);
    let applied = p.create(&env.ctx(), &addr("secret.legacy"), &legacy_props).await.unwrap();
    let value = env.value(&applied.id).await;
    assert_eq!(value["username"], "someone", "kept");
    let legacy_password = value["password"].as_str().unwrap();
    assert_eq!(legacy_password.len(), 32);
    assert_no_password(legacy_password, "Applied (adopt)", &format!("{applied:?}"));
    assert_eq!(env.live_tags(&applied.id).await.get("Name").map(String::as_str), Some("db-credentials"));
}

/// The aws CLI of the emulator's venv (KMS is not a dependency of hactl-aws).
fn aws_cli(args: &[&str]) -> String {
    let cli = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.emulator/venv/bin/aws");
    assert!(
        std::path::Path::new(cli).exists(),
        "{cli} is needed for the KMS part (bash scripts/emulator.sh start)"
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string());
    let out = std::process::Command::new(cli)
        .args(args)
        .args(["--output", "text"])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn secret_kms_key() {
    let env = Env::new("sm-kms").await;
    let key_arn = aws_cli(&["kms", "create-key", "--description", &env.stack, "--query", "KeyMetadata.Arn"]);
    let alias = format!("alias/{}", env.stack);
    aws_cli(&["kms", "create-alias", "--alias-name", &alias, "--target-key-id", &key_arn]);
    let (k, a) = (key_arn.clone(), alias.clone());
    run(&env, vec![env.name()], |env| async move { kms(&env, &k, &a).await }).await;
    aws_cli(&["kms", "delete-alias", "--alias-name", &alias]);
    aws_cli(&["kms", "schedule-key-deletion", "--key-id", &key_arn, "--pending-window-in-days", "7"]);
}

async fn kms(env: &Env, key_arn: &str, alias: &str) {
    let p = env.provider(SECRET);
    let provider = env.provider(SECRET);
    let name = env.name();
    let with = |kms: Value| env.secret_props(&name, "secret.db", "kms", kms);
    let props = with(Value::str(alias));
    let arn = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap().id;
    assert_eq!(env.describe(&arn).await.unwrap().kms_key_id(), Some(alias));
    let t = target("secret.db", Some(&arn), &props);
    assert_eq!(provider.diff(&props, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // The alias written as an ARN live is the same key.
    let alias_arn = format!("arn:aws:kms:us-east-1:000000000000:{alias}");
    env.sm.update_secret().secret_id(&arn).kms_key_id(&alias_arn).send().await.unwrap();
    assert_eq!(env.describe(&arn).await.unwrap().kms_key_id(), Some(alias_arn.as_str()));
    assert_eq!(provider.diff(&props, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);

    // Update to the key's ARN, then back to the AWS-managed key (Null).
    for (want, live) in [(Value::str(key_arn), Some(key_arn)), (Value::Null, None)] {
        let desired = with(want.clone());
        let before = env.read_one(SECRET, &t).await.unwrap();
        let changes = provider.diff(&desired, &before.props);
        assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["kms_key_id"], "{want:?}");
        p.update(
            &env.ctx(),
            UpdateRequest { address: &t.address, id: &arn, desired: &desired, changes: &changes },
        )
        .await
        .unwrap();
        let live_key = env.describe(&arn).await.unwrap().kms_key_id().map(str::to_string);
        match live {
            Some(k) => assert_eq!(live_key.as_deref(), Some(k)),
            None => assert!(
                live_key.as_deref().is_none_or(|k| k.ends_with("alias/aws/secretsmanager")),
                "{live_key:?}"
            ),
        }
        let t = target("secret.db", Some(&arn), &desired);
        assert_eq!(provider.diff(&desired, &env.read_one(SECRET, &t).await.unwrap().props), vec![]);
    }
    // Out of band: another key is drift against Null.
    env.sm.update_secret().secret_id(&arn).kms_key_id(alias).send().await.unwrap();
    let desired = with(Value::Null);
    let live = env.read_one(SECRET, &target("secret.db", Some(&arn), &desired)).await.unwrap();
    assert_eq!(live.props["kms_key_id"], Value::str(alias));
    p.delete(&env.ctx_force(), &arn, &desired).await.unwrap();
    assert!(env.describe(&arn).await.is_none());
}

#[tokio::test]
async fn secret_fields_merge_read_drift_delete() {
    let env = Env::new("sm-fields").await;
    run(&env, vec![env.name()], |env| async move { fields_lifecycle(&env).await }).await;
}

fn fields_props(secret_id: &str, host: &str) -> Props {
    Props::from([
        ("secret_id".to_string(), Value::str(secret_id)),
        (
            "fields".to_string(),
            Value::Map(BTreeMap::from([
                ("host".to_string(), Value::str(host)),
                ("port".to_string(), Value::Int(27017)),
                ("engine".to_string(), Value::str("docdb")),
                ("dbname".to_string(), Value::str("app")),
                ("username".to_string(), Value::str("hactladmin")),
            ])),
        ),
    ])
}

async fn fields_lifecycle(env: &Env) {
    let sp = env.provider(SECRET);
    let p = env.provider(FIELDS);
    let provider = env.provider(FIELDS);
    let secret_props = env.secret_props(&env.name(), "secret.db", "creds", Value::Null);
    let arn = sp.create(&env.ctx(), &addr("secret.db"), &secret_props).await.unwrap().id;
    let password = env.password(&arn).await;
    let mut leaks = String::new();

    // Create merges the fields; the password stays.
    let props = fields_props(&arn, "db1.cluster.local");
    let applied = p.create(&env.ctx(), &addr("secret_fields.db"), &props).await.unwrap();
    leaks += &format!("{applied:?}");
    assert_eq!(applied.id, arn);
    assert_eq!(applied.outputs["secret_arn"], Value::str(&arn));
    let value = env.value(&arn).await;
    assert_eq!(value["host"], "db1.cluster.local");
    assert_eq!(value["port"], 27017);
    assert_eq!(value["password"].as_str(), Some(password.as_str()), "untouched");

    // Read: every key but the password; normalized, exactly the desired keys, no diff; one
    // GetSecretValue.
    let t = target("secret_fields.db", Some(&arn), &props);
    let (objs, calls) = env.read(FIELDS, std::slice::from_ref(&t)).await;
    leaks += &format!("{objs:?}");
    assert_eq!(objs.len(), 1);
    assert!(objs[0].owned);
    assert_eq!(objs[0].address.as_ref(), Some(&t.address));
    assert!(
        !objs[0].props["fields"].as_map().unwrap().contains_key("password"),
        "the password is never read"
    );
    let mut normalized = objs[0].props.clone();
    provider.normalize(&props, &mut normalized);
    assert_eq!(normalized, props, "exactly the desired keys");
    assert_eq!(provider.diff(&props, &objs[0].props), vec![]);
    assert_eq!(objs[0].outputs["secret_arn"], Value::str(&arn));
    assert_eq!(calls, BTreeMap::from([("Secrets Manager:GetSecretValue".to_string(), 1)]));
    // A desired key missing live reads as Null; the password is never read.
    let mut more = props.clone();
    if let Some(Value::Map(m)) = more.get_mut("fields") {
        m.insert("replica_set".into(), Value::str("rs0"));
        m.insert("password".into(), Value::str("x"));
    }
    let live = env.read_one(FIELDS, &target("secret_fields.db", Some(&arn), &more)).await.unwrap();
    leaks += &format!("{live:?}");
    assert!(!live.props["fields"].as_map().unwrap().contains_key("password"), "the password is never read");
    let mut normalized = live.props.clone();
    provider.normalize(&more, &mut normalized);
    let fields = normalized["fields"].as_map().unwrap();
    assert_eq!(fields["replica_set"], Value::Null);
    assert_eq!(fields["password"], Value::Null);
    assert_eq!(fields.len(), 7);

    // Out of band: `host` changed by hand is drift; the update repairs it.
    let mut hand = env.value(&arn).await;
    hand.insert("host".into(), serde_json::Value::from("elsewhere"));
    env.sm
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(serde_json::Value::Object(hand).to_string())
        .send()
        .await
        .unwrap();
    let live = env.read_one(FIELDS, &t).await.unwrap();
    leaks += &format!("{live:?}");
    let changes = provider.diff(&props, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["fields"]);
    let applied = p
        .update(
            &env.ctx(),
            UpdateRequest { address: &t.address, id: &arn, desired: &props, changes: &changes },
        )
        .await
        .unwrap();
    leaks += &format!("{applied:?}");
    assert_eq!(env.value(&arn).await["host"], "db1.cluster.local");
    assert_eq!(env.password(&arn).await, password);
    assert_eq!(provider.diff(&props, &env.read_one(FIELDS, &t).await.unwrap().props), vec![]);
    // An endpoint change (in place).
    let moved = fields_props(&arn, "db2.cluster.local");
    let changes = provider.diff(&moved, &env.read_one(FIELDS, &t).await.unwrap().props);
    p.update(&env.ctx(), UpdateRequest { address: &t.address, id: &arn, desired: &moved, changes: &changes })
        .await
        .unwrap();
    assert_eq!(env.value(&arn).await["host"], "db2.cluster.local");
    assert_eq!(env.password(&arn).await, password);

    // `password` in fields is refused, and the value is left alone.
    let mut bad = moved.clone();
    if let Some(Value::Map(m)) = bad.get_mut("fields") {
        m.insert("password".into(), Value::str("hunter2hunter2"));
    }
    let err = p.create(&env.ctx(), &addr("secret_fields.db"), &bad).await.unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("password"), "{err}");
    leaks += &format!("{err} {err:?}");
    let changes = provider.diff(&bad, &env.read_one(FIELDS, &t).await.unwrap().props);
    let err = p
        .update(&env.ctx(), UpdateRequest { address: &t.address, id: &arn, desired: &bad, changes: &changes })
        .await
        .unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("password"), "{err}");
    leaks += &format!("{err} {err:?}");
    assert_eq!(env.password(&arn).await, password);

    // Delete removes the recorded keys, nothing else.
    p.delete(&env.ctx(), &arn, &moved).await.unwrap();
    let value = env.value(&arn).await;
    assert_eq!(value.keys().map(String::as_str).collect::<Vec<_>>(), ["password"]);
    assert_eq!(value["password"].as_str(), Some(password.as_str()));
    let live = env.read_one(FIELDS, &target("secret_fields.db", Some(&arn), &moved)).await.unwrap();
    assert!(live.props["fields"].as_map().unwrap().values().all(|v| *v == Value::Null), "{live:?}");
    p.delete(&env.ctx(), &arn, &moved).await.unwrap();

    // The secret scheduled for deletion: absent; deleting the fields is done.
    p.create(&env.ctx(), &addr("secret_fields.db"), &moved).await.unwrap();
    sp.delete(&env.ctx(), &arn, &secret_props).await.unwrap();
    assert!(env.read_one(FIELDS, &t).await.is_none());
    p.delete(&env.ctx(), &arn, &moved).await.unwrap();
    let err = p.create(&env.ctx(), &addr("secret_fields.db"), &moved).await.unwrap_err();
    assert!(err.message().contains("scheduled for deletion"), "{err}");
    // Restored: the fields are back with it (the value was kept).
    sp.create(&env.ctx(), &addr("secret.db"), &secret_props).await.unwrap();
    assert_eq!(provider.diff(&moved, &env.read_one(FIELDS, &t).await.unwrap().props), vec![]);
    // Gone for good: absent, delete fine.
    sp.delete(&env.ctx_force(), &arn, &secret_props).await.unwrap();
    assert!(env.read_one(FIELDS, &t).await.is_none());
    p.delete(&env.ctx(), &arn, &moved).await.unwrap();
    // Not yet created (its secret_id unknown, no recorded id): nothing to read.
    let unknown = Props::from([
        ("secret_id".to_string(), Value::Unknown),
        ("fields".to_string(), moved["fields"].clone()),
    ]);
    let (objs, calls) = env.read(FIELDS, &[target("secret_fields.db", None, &unknown)]).await;
    assert!(objs.is_empty() && calls.is_empty());

    assert_no_password(&password, "the fields provider's answers", &leaks);
}

/// `props` with `replica_regions` set to `regions`.
fn with_regions(props: &Props, regions: &[&str]) -> Props {
    let mut props = props.clone();
    props.insert("replica_regions".into(), Value::from_strings(regions.iter().copied()));
    props
}

/// The names of the properties `desired` differs in from the secret's live read.
async fn changed(env: &Env, t: &ReadTarget, desired: &Props) -> Vec<String> {
    let live = env.read_one(SECRET, t).await.expect("the secret reads");
    env.provider(SECRET).diff(desired, &live.props).into_iter().map(|c| c.name).collect()
}

/// Reads, diffs against `desired` (expecting exactly `expect` to change), updates.
async fn update_to(env: &Env, arn: &str, desired: &Props, expect: &[&str]) -> hactl_engine::Applied {
    let p = env.provider(SECRET);
    let t = target("secret.db", Some(arn), desired);
    let live = env.read_one(SECRET, &t).await.expect("the secret reads");
    let changes = p.diff(desired, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), expect);
    let req = UpdateRequest { address: &t.address, id: arn, desired, changes: &changes };
    let applied = p.update(&env.ctx(), req).await.unwrap();
    assert_eq!(changed(env, &t, desired).await, Vec::<String>::new(), "converged");
    applied
}

#[tokio::test]
async fn secret_replicas_create_read_update_delete() {
    let env = Env::new("sm-repl").await;
    run(&env, vec![env.name()], |env| async move { replicas_lifecycle(&env).await }).await;
}

async fn replicas_lifecycle(env: &Env) {
    let p = env.provider(SECRET);
    let name = env.name();
    let base = env.secret_props(&name, "secret.db", "database credentials", Value::Null);
    let props = with_regions(&base, &[DR]);
    let in_sync = vec![(DR.to_string(), "InSync".to_string())];

    // Create with a replica in us-west-2: the same name and suffix there, the same value.
    let applied = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap();
    let arn = applied.id.clone();
    let replica_arn = arn.replace(":us-east-1:", ":us-west-2:");
    assert!(
        replica_arn.starts_with(&format!("arn:aws:secretsmanager:us-west-2:000000000000:secret:{name}-")),
        "{replica_arn}"
    );
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["arn_in_us-west-2"], Value::str(&replica_arn));
    assert_eq!(applied.outputs.keys().collect::<Vec<_>>(), ["arn", "arn_in_us-west-2", "name"]);
    assert_eq!(env.replication(&arn).await, in_sync);
    let west = env.describe_west(&name).await.expect("the replica in us-west-2");
    assert_eq!(west.arn(), Some(replica_arn.as_str()), "the output is the replica's ARN");
    assert_eq!(west.primary_region(), Some("us-east-1"));
    let password = env.password(&arn).await;
    assert_eq!(env.value_west(&replica_arn).await, env.value(&arn).await, "GetSecretValue in us-west-2");
    assert_no_password(&password, "Applied", &format!("{applied:?}"));

    // Read: ListSecrets, and one DescribeSecret for the replicas; no diff.
    let t = target("secret.db", Some(&arn), &props);
    let (objs, calls) = env.read(SECRET, std::slice::from_ref(&t)).await;
    assert_no_password(&password, "read", &format!("{objs:?}"));
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Secrets Manager:DescribeSecret".to_string(), 1),
            ("Secrets Manager:ListSecrets".to_string(), 1)
        ])
    );
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert_eq!(objs[0].props["replica_regions"], Value::from_strings([DR]));
    assert_eq!(objs[0].outputs["arn_in_us-west-2"], Value::str(&replica_arn));
    assert_eq!(p.diff(&props, &objs[0].props), vec![]);
    // A stack whose secrets do not name `replica_regions` pays no DescribeSecret.
    let (_, calls) = env.read(SECRET, &[target("secret.db", Some(&arn), &base)]).await;
    assert_eq!(calls, BTreeMap::from([("Secrets Manager:ListSecrets".to_string(), 1)]));

    // In us-west-2 the replica carries the stack's tags, and is still no object there.
    west_sees_no_replica(env, &props, &replica_arn).await;

    // Update: the region removed, then added again.
    let applied = update_to(env, &arn, &with_regions(&base, &[]), &["replica_regions"]).await;
    assert!(!applied.outputs.contains_key("arn_in_us-west-2"), "{:?}", applied.outputs);
    assert_eq!(env.replication(&arn).await, vec![]);
    assert!(env.describe_west(&name).await.is_none(), "the replica is gone");
    assert!(env.describe_west(&replica_arn).await.is_none());
    let applied = update_to(env, &arn, &props, &["replica_regions"]).await;
    assert_eq!(applied.outputs["arn_in_us-west-2"], Value::str(&replica_arn));
    assert_eq!(env.replication(&arn).await, in_sync);
    assert_eq!(env.describe_west(&name).await.unwrap().arn(), Some(replica_arn.as_str()));
    assert_eq!(env.value_west(&replica_arn).await["password"].as_str(), Some(password.as_str()));

    // Out of band: the replica removed by hand is drift; the update makes it again.
    env.sm.remove_regions_from_replication().secret_id(&arn).remove_replica_regions(DR).send().await.unwrap();
    update_to(env, &arn, &props, &["replica_regions"]).await;
    assert_eq!(env.replication(&arn).await, in_sync);
    // ... and a replica added by hand is drift against none.
    let none = with_regions(&base, &[]);
    update_to(env, &arn, &none, &["replica_regions"]).await;
    env.sm
        .replicate_secret_to_regions()
        .add_replica_regions(aws_sdk_secretsmanager::types::ReplicaRegionType::builder().region(DR).build())
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(changed(env, &target("secret.db", Some(&arn), &none), &none).await, ["replica_regions"]);
    update_to(env, &arn, &props, &[]).await;

    failed_replica_reads_as_absent(env, &arn, &props, &none).await;

    // Delete with the recovery window, the replica recorded: removed first, then the
    // secret is scheduled for deletion; nothing is left in us-west-2.
    p.delete(&env.ctx(), &arn, &props).await.unwrap();
    assert!(env.describe(&arn).await.unwrap().deleted_date().is_some(), "scheduled for deletion");
    assert_eq!(env.replication(&arn).await, vec![]);
    assert!(env.describe_west(&name).await.is_none());
    assert!(env.read_one(SECRET, &t).await.is_none());
    // Create again: restored with its password, and replicated again.
    let applied = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap();
    assert_eq!(applied.id, arn);
    assert_eq!(applied.outputs["arn_in_us-west-2"], Value::str(&replica_arn));
    assert_eq!(env.replication(&arn).await, in_sync);
    assert_eq!(env.value_west(&replica_arn).await["password"].as_str(), Some(password.as_str()));

    // Forced delete whose recorded props name no replica (one added since): AWS refuses
    // DeleteSecret, the replica is removed, the delete goes through. Nothing is left.
    p.delete(&env.ctx_force(), &arn, &base).await.unwrap();
    assert!(env.describe(&arn).await.is_none());
    assert!(env.describe(&name).await.is_none());
    assert!(env.describe_west(&name).await.is_none());
    assert!(env.describe_west(&replica_arn).await.is_none());
    assert!(env.read_one(SECRET, &t).await.is_none());
    p.delete(&env.ctx_force(), &arn, &props).await.unwrap();
}

/// A read through the providers of us-west-2 finds nothing: the replica there carries
/// the primary's tags (so ListSecrets answers it) but is the us-east-1 secret's, neither
/// the stack's secret in us-west-2 nor an unmanaged or foreign object there.
async fn west_sees_no_replica(env: &Env, props: &Props, replica_arn: &str) {
    let listed = env
        .sm_west
        .list_secrets()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagValue)
                .values(&env.stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let listed: Vec<_> =
        listed.secret_list().iter().map(|s| (s.arn().unwrap(), s.primary_region())).collect();
    assert_eq!(listed, [(replica_arn, Some("us-east-1"))], "the replica is listed with the stack's tags");
    let cases =
        [vec![], vec![target("secret.db", None, props)], vec![target("secret.db", Some(replica_arn), props)]];
    for targets in cases {
        let (objs, calls) = env.read_in(&env.west, SECRET, &targets).await;
        assert!(objs.is_empty(), "{targets:?}: {objs:?}");
        assert_eq!(calls, BTreeMap::from([("Secrets Manager:ListSecrets".to_string(), 1)]), "{targets:?}");
    }
}

/// A replica whose replication failed (a secret of that name already in us-west-2) reads
/// as absent, so the update tries again; once the name is free it succeeds.
async fn failed_replica_reads_as_absent(env: &Env, arn: &str, props: &Props, none: &Props) {
    let name = env.name();
    update_to(env, arn, none, &["replica_regions"]).await;
    let squatter = env.sm_west.create_secret().name(&name).secret_string("{}").send().await.unwrap();
    let p = env.provider(SECRET);
    let t = target("secret.db", Some(arn), props);
    let live = env.read_one(SECRET, &t).await.unwrap();
    let changes = p.diff(props, &live.props);
    let req = UpdateRequest { address: &t.address, id: arn, desired: props, changes: &changes };
    p.update(&env.ctx(), req).await.unwrap();
    assert_eq!(env.replication(arn).await, [(DR.to_string(), "Failed".to_string())]);
    let live = env.read_one(SECRET, &t).await.unwrap();
    assert_eq!(live.props["replica_regions"], Value::List(vec![]), "a Failed replica is absent");
    assert!(!live.outputs.contains_key("arn_in_us-west-2"));
    assert_eq!(changed(env, &t, props).await, ["replica_regions"]);
    // Still failing: the update removes and adds it again, it fails again, nothing breaks.
    let req = UpdateRequest { address: &t.address, id: arn, desired: props, changes: &changes };
    p.update(&env.ctx(), req).await.unwrap();
    assert_eq!(env.replication(arn).await, [(DR.to_string(), "Failed".to_string())]);
    assert!(env.describe_west(squatter.arn().unwrap()).await.is_some(), "the other secret is left alone");
    env.sm_west
        .delete_secret()
        .secret_id(squatter.arn().unwrap())
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    update_to(env, arn, props, &["replica_regions"]).await;
    assert_eq!(env.replication(arn).await, [(DR.to_string(), "InSync".to_string())]);
    assert_eq!(env.describe_west(&name).await.unwrap().primary_region(), Some("us-east-1"));
}

#[tokio::test]
async fn secret_replica_promotion() {
    let env = Env::new("sm-promote").await;
    run(&env, vec![env.name()], |env| async move { promotion(&env).await }).await;
}

async fn promotion(env: &Env) {
    use hactl_aws::secretsmanager::promote::promote_replica;
    let p = env.provider(SECRET);
    let name = env.name();
    let props = with_regions(&env.secret_props(&name, "secret.db", "creds", Value::Null), &[DR]);
    let applied = p.create(&env.ctx(), &addr("secret.db"), &props).await.unwrap();
    let (arn, replica_arn) =
        (applied.id.clone(), applied.outputs["arn_in_us-west-2"].as_str().unwrap().to_string());
    let password = env.password(&arn).await;

    // Promoted in us-west-2 (the primary region may be gone): a standalone secret there,
    // same ARN and value, writable; us-east-1 no longer replicates to it.
    promote_replica(&env.west_cfg, &env.counter, &env.ctx(), &name).await.unwrap();
    let west = env.describe_west(&name).await.expect("the promoted secret");
    assert_eq!(west.arn(), Some(replica_arn.as_str()));
    assert_eq!(west.primary_region(), None, "standalone");
    assert!(west.replication_status().is_empty());
    assert_eq!(env.replication(&arn).await, vec![]);
    assert_eq!(env.value_west(&replica_arn).await["password"].as_str(), Some(password.as_str()));
    env.sm_west
        .put_secret_value()
        .secret_id(&replica_arn)
        .secret_string(r#"{"moved":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(env.value_west(&replica_arn).await["moved"], true);
    assert_eq!(env.password(&arn).await, password, "us-east-1 untouched");
    // Promoting again is done already; a secret that is not there is NotFound.
    promote_replica(&env.west_cfg, &env.counter, &env.ctx(), &name).await.unwrap();
    let err =
        promote_replica(&env.west_cfg, &env.counter, &env.ctx(), &format!("{name}-none")).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err}");
    // The primary reads without replicas now (drift against the desired us-west-2).
    let t = target("secret.db", Some(&arn), &props);
    assert_eq!(changed(env, &t, &props).await, ["replica_regions"]);
    // Its own delete needs no replica removal any more.
    p.delete(&env.ctx_force(), &arn, &props).await.unwrap();
    assert!(env.describe(&arn).await.is_none());
    assert!(env.describe_west(&replica_arn).await.is_some(), "the promoted secret stays");
}
