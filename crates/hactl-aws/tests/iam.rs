//! The IAM providers (`iam.role`, `iam.instance_profile`) against the emulator: driven
//! directly through the registry, every effect checked with the IAM SDK (never through
//! the provider's read), names unique per process, everything removed at the end.

use crate::common;
use crate::common::policy_document as decode;

use aws_sdk_iam::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{Address, PropChange, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const EXEC_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
const SSM_POLICY: &str = "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess";

struct Env {
    iam: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
}

impl Env {
    async fn new(test: &str) -> Env {
        let cfg = sdk_config().await;
        let counter = ApiCounter::default();
        Env {
            iam: Client::new(&cfg),
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            stack: format!("t{}-{test}", std::process::id()),
        }
    }

    fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).unwrap().clone()
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    fn path(&self) -> String {
        format!("/hactl/{}/", self.stack)
    }

    fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut m = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
            ("Name".to_string(), format!("{}-{address}", self.stack)),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Value::from_string_map(m)
    }

    /// One read of `kind` (fresh cache, as each refresh has) and the API calls it made.
    async fn read(&self, kind: &str, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let objs = self.provider(kind).read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
        (objs, common::calls_since(&self.counter, &before))
    }

    async fn read_one(&self, kind: &str, target: &ReadTarget) -> Option<LiveObject> {
        let (objs, _) = self.read(kind, std::slice::from_ref(target)).await;
        objs.into_iter().find(|o| Some(&o.id) == target.id.as_ref())
    }

    async fn update(&self, kind: &str, target: &ReadTarget, desired: &Props) -> Vec<PropChange> {
        let live = self.read_one(kind, target).await.expect("object to update is live");
        let provider = self.registry.get(kind).unwrap().clone();
        let changes = provider.diff(desired, &live.props);
        assert!(changes.iter().all(|c| !c.forces_replacement), "{changes:?}");
        let id = target.id.clone().unwrap();
        self.provider(kind)
            .update(
                &self.ctx(),
                UpdateRequest { address: &target.address, id: &id, desired, changes: &changes },
            )
            .await
            .unwrap();
        changes
    }

    async fn role_exists(&self, name: &str) -> bool {
        match self.iam.get_role().role_name(name).send().await {
            Ok(_) => true,
            Err(e) if e.code() == Some("NoSuchEntity") => false,
            Err(e) => panic!("GetRole: {e:?}"),
        }
    }

    /// Best-effort removal of what a test made (also when it failed half-way).
    async fn cleanup(&self, roles: &[&str], profiles: &[&str]) {
        let ctx = self.ctx();
        for p in profiles {
            let _ = self.provider("iam.instance_profile").delete(&ctx, p, &Props::new()).await;
        }
        for r in roles {
            let _ = self.provider("iam.role").delete(&ctx, r, &Props::new()).await;
        }
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: &str, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: Some(id.to_string()), props: props.clone(), recorded: None }
}

fn trust(service: &str) -> Value {
    Value::from_json(&json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}))
}

fn role_props(env: &Env, name: &str, address: &str) -> Props {
    let logs = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]});
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("path".to_string(), Value::str(env.path())),
        ("description".to_string(), Value::str("hactl test role")),
        ("assume_role_policy".to_string(), trust("ecs-tasks.amazonaws.com")),
        (
            "inline_policies".to_string(),
            Value::Map(BTreeMap::from([("logs".to_string(), Value::from_json(&logs))])),
        ),
        ("managed_policy_arns".to_string(), Value::from_strings([EXEC_POLICY])),
        ("tags".to_string(), env.tags(address, &[])),
    ])
}

#[tokio::test]
async fn role_create_read_update_drift_delete() {
    let env = Env::new("iam-role").await;
    let name = format!("{}-exec", env.stack);
    let result = role_lifecycle(&env, &name).await;
    env.cleanup(&[&name], &[&format!("{name}-ip")]).await;
    result.unwrap();
}

async fn role_lifecycle(env: &Env, name: &str) -> Result<(), String> {
    let address = "iam_role.execution";
    let role = env.provider("iam.role");
    let props = role_props(env, name, address);

    // Create: everything lands on the role.
    let applied = role.create(&env.ctx(), &addr(address), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(applied.id, name);
    let arn = applied.outputs["arn"].as_str().unwrap().to_string();
    assert!(arn.ends_with(&format!(":role{}{name}", env.path())), "{arn}");
    assert_eq!(applied.outputs["name"], Value::str(name));
    let live = env.iam.get_role().role_name(name).send().await.unwrap().role.unwrap();
    assert_eq!(live.path(), env.path());
    assert_eq!(live.description(), Some("hactl test role"));
    assert_eq!(live.arn(), arn);
    let trust_doc = decode(live.assume_role_policy_document().unwrap());
    assert_eq!(trust_doc["Statement"][0]["Principal"]["Service"], json!("ecs-tasks.amazonaws.com"));
    let inline = env.iam.list_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(inline.policy_names(), ["logs"]);
    let logs = env.iam.get_role_policy().role_name(name).policy_name("logs").send().await.unwrap();
    assert_eq!(decode(logs.policy_document())["Statement"][0]["Action"][1], json!("logs:PutLogEvents"));
    let attached = env.iam.list_attached_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(
        attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect::<Vec<_>>(),
        [EXEC_POLICY]
    );
    let tags = env.iam.list_role_tags().role_name(name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == TAG_ADDRESS && t.value() == address));

    // Read: found by address and id, owned, no diff; scoped calls: one ListRoles for the
    // path, then per role GetRole, ListRolePolicies, GetRolePolicy per inline policy and
    // ListAttachedRolePolicies (no account-wide GetAccountAuthorizationDetails).
    let t = target(address, name, &props);
    let (objs, calls) = env.read("iam.role", std::slice::from_ref(&t)).await;
    let obj = objs.iter().find(|o| o.id == name).expect("role read back");
    assert_eq!(obj.address, Some(addr(address)));
    assert!(obj.owned);
    assert_eq!(obj.outputs["arn"], Value::str(&arn));
    let provider = env.registry.get("iam.role").unwrap().clone();
    assert_eq!(provider.diff(&props, &obj.props), vec![], "untouched role shows a diff");
    assert_eq!(
        calls,
        BTreeMap::from([
            ("IAM:ListRoles".to_string(), 1),
            ("IAM:GetRole".to_string(), 1),
            ("IAM:ListRolePolicies".to_string(), 1),
            ("IAM:GetRolePolicy".to_string(), 1),
            ("IAM:ListAttachedRolePolicies".to_string(), 1),
        ]),
        "read must stay scoped to the stack's roles"
    );
    // Without the desired documents (e.g. a target with no props) the live ones read as
    // they are, and still mean the same.
    let bare = ReadTarget { props: Props::new(), ..t.clone() };
    let obj = env.read_one("iam.role", &bare).await.unwrap();
    assert_eq!(obj.props["managed_policy_arns"], Value::from_strings([EXEC_POLICY]));
    assert!(obj.props["inline_policies"].as_map().unwrap().contains_key("logs"));

    // An equivalent trust policy written in another form (a bare statement object, a
    // one-element action list, another key order) is not drift.
    let same = json!({"Statement": {"Action": ["sts:AssumeRole"], "Principal": {"Service": ["ecs-tasks.amazonaws.com"]},
        "Effect": "Allow"}, "Version": "2012-10-17"});
    env.iam
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(same.to_string())
        .send()
        .await
        .unwrap();
    let obj = env.read_one("iam.role", &t).await.unwrap();
    assert_eq!(provider.diff(&props, &obj.props), vec![], "an equivalent document is drift");
    let mut normalized = obj.props.clone();
    provider.normalize(&props, &mut normalized);
    assert_eq!(normalized["assume_role_policy"], props["assume_role_policy"], "the desired form is kept");

    // In-place update: trust, description, an inline policy changed and one added, the
    // managed set changed, a tag added.
    let mut desired = props.clone();
    desired.insert("assume_role_policy".into(), trust("ec2.amazonaws.com"));
    desired.insert("description".into(), Value::str("changed"));
    let ssm = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters",
        "Resource": "arn:aws:ssm:us-east-1:000000000000:parameter/x"}]});
    let logs2 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "logs:PutLogEvents", "Resource": "*"}]});
    desired.insert(
        "inline_policies".into(),
        Value::Map(BTreeMap::from([
            ("logs".to_string(), Value::from_json(&logs2)),
            ("ssm".to_string(), Value::from_json(&ssm)),
        ])),
    );
    desired.insert("managed_policy_arns".into(), Value::from_strings([SSM_POLICY]));
    desired.insert("tags".into(), env.tags(address, &[("team", "a")]));
    let changes = env.update("iam.role", &t, &desired).await;
    let names: BTreeSet<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "assume_role_policy",
            "description",
            "inline_policies",
            "managed_policy_arns",
            "tags"
        ])
    );
    let live = env.iam.get_role().role_name(name).send().await.unwrap().role.unwrap();
    assert_eq!(live.description(), Some("changed"));
    assert_eq!(
        decode(live.assume_role_policy_document().unwrap())["Statement"][0]["Principal"]["Service"],
        json!("ec2.amazonaws.com")
    );
    let inline = env.iam.list_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(inline.policy_names(), ["logs", "ssm"]);
    let logs = env.iam.get_role_policy().role_name(name).policy_name("logs").send().await.unwrap();
    assert_eq!(decode(logs.policy_document()), logs2);
    let attached = env.iam.list_attached_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(
        attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect::<Vec<_>>(),
        [SSM_POLICY]
    );
    let tags = env.iam.list_role_tags().role_name(name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "team" && t.value() == "a"));
    let t = target(address, name, &desired);
    let obj = env.read_one("iam.role", &t).await.unwrap();
    assert_eq!(provider.diff(&desired, &obj.props), vec![], "after update");

    // Out-of-band changes are seen: an inline policy edited, one added, a managed
    // policy attached, a tag removed.
    let edited = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*",
        "Resource": "*"}]});
    env.iam
        .put_role_policy()
        .role_name(name)
        .policy_name("logs")
        .policy_document(edited.to_string())
        .send()
        .await
        .unwrap();
    env.iam
        .put_role_policy()
        .role_name(name)
        .policy_name("extra")
        .policy_document(edited.to_string())
        .send()
        .await
        .unwrap();
    env.iam.attach_role_policy().role_name(name).policy_arn(EXEC_POLICY).send().await.unwrap();
    env.iam.untag_role().role_name(name).tag_keys("team").send().await.unwrap();
    let obj = env.read_one("iam.role", &t).await.unwrap();
    let drift: BTreeSet<String> = provider.diff(&desired, &obj.props).into_iter().map(|c| c.name).collect();
    assert_eq!(
        drift,
        BTreeSet::from(["inline_policies".into(), "managed_policy_arns".into(), "tags".into()])
    );
    let inline = obj.props["inline_policies"].as_map().unwrap();
    assert_eq!(inline["logs"], Value::from_json(&edited));
    assert!(inline.contains_key("extra"));
    // ... and repaired by an update.
    env.update("iam.role", &t, &desired).await;
    let obj = env.read_one("iam.role", &t).await.unwrap();
    assert_eq!(provider.diff(&desired, &obj.props), vec![], "after repair");
    let inline = env.iam.list_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(inline.policy_names(), ["logs", "ssm"]);

    // A create retried after a crash finds its own role and converges it.
    let again = role.create(&env.ctx(), &addr(address), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, name);
    assert_eq!(again.outputs["arn"], Value::str(&arn));
    let t0 = target(address, name, &props);
    let obj = env.read_one("iam.role", &t0).await.unwrap();
    assert_eq!(provider.diff(&props, &obj.props), vec![], "after adoption");
    let inline = env.iam.list_role_policies().role_name(name).send().await.unwrap();
    assert_eq!(inline.policy_names(), ["logs"]);
    // ... but not a role of another address.
    let err = role.create(&env.ctx(), &addr("iam_role.other"), &props).await.unwrap_err();
    assert_eq!(err.code(), Some("EntityAlreadyExists"), "{err}");
    assert!(!err.is_retryable());

    // Delete (destroy trap): inline and managed policies and instance profile
    // membership go first.
    let profile = format!("{name}-ip");
    env.iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    env.iam
        .add_role_to_instance_profile()
        .instance_profile_name(&profile)
        .role_name(name)
        .send()
        .await
        .unwrap();
    role.delete(&env.ctx(), name, &props).await.map_err(|e| e.to_string())?;
    assert!(!env.role_exists(name).await, "role still there");
    let p = env.iam.get_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    assert!(p.instance_profile().unwrap().roles().is_empty());
    env.iam.delete_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    // Gone is gone: read finds nothing, delete again is fine.
    assert!(env.read_one("iam.role", &t).await.is_none());
    role.delete(&env.ctx(), name, &props).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn a_role_recorded_without_policies_is_deleted_in_one_call_unless_something_was_added() {
    let env = Env::new("del").await;
    let (clean, added) = (format!("{}-clean", env.stack), format!("{}-added", env.stack));
    let with_policy = format!("{}-pol", env.stack);
    let profile = format!("{}-ip", env.stack);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string();
    for name in [&clean, &added, &with_policy] {
        env.iam
            .create_role()
            .role_name(name.as_str())
            .assume_role_policy_document(&trust)
            .send()
            .await
            .unwrap();
    }
    // Outside hactl: a managed policy, an inline policy and an instance profile on `added`.
    env.iam.attach_role_policy().role_name(&added).policy_arn(SSM_POLICY).send().await.unwrap();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "*"}]})
    .to_string();
    env.iam
        .put_role_policy()
        .role_name(&added)
        .policy_name("oob")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    // Through hactl (recorded): an inline policy on `with_policy`.
    env.iam
        .put_role_policy()
        .role_name(&with_policy)
        .policy_name("logs")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    let recorded_with_policy = Props::from([(
        "inline_policies".to_string(),
        Value::Map(BTreeMap::from([("logs".to_string(), Value::str(&doc))])),
    )]);
    env.iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    env.iam
        .add_role_to_instance_profile()
        .instance_profile_name(&profile)
        .role_name(&added)
        .send()
        .await
        .unwrap();
    // What state records of both: no policies.
    let recorded = Props::from([
        ("inline_policies".to_string(), Value::Map(BTreeMap::new())),
        ("managed_policy_arns".to_string(), Value::List(vec![])),
    ]);
    let role = env.provider("iam.role");

    let before = env.counter.snapshot();
    let deleted = role.delete(&env.ctx(), &clean, &recorded).await;
    let calls = common::calls_since(&env.counter, &before);
    let before = env.counter.snapshot();
    let deleted_added = role.delete(&env.ctx(), &added, &recorded).await;
    let fallback = common::calls_since(&env.counter, &before);
    let before = env.counter.snapshot();
    let deleted_with_policy = role.delete(&env.ctx(), &with_policy, &recorded_with_policy).await;
    let emptied_first = common::calls_since(&env.counter, &before);
    // Recorded without the policy keys at all (an older state): the one-call path too.
    let bare = format!("{}-bare", env.stack);
    env.iam.create_role().role_name(&bare).assume_role_policy_document(&trust).send().await.unwrap();
    let deleted_bare = role.delete(&env.ctx(), &bare, &Props::new()).await;
    let bare_gone = !env.role_exists(&bare).await;
    let with_policy_gone = !env.role_exists(&with_policy).await;
    let clean_gone = !env.role_exists(&clean).await;
    let added_gone = !env.role_exists(&added).await;
    let profile_roles = env
        .iam
        .get_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .map(|p| p.instance_profile().map(|ip| ip.roles().len()).unwrap_or(0));
    env.cleanup(&[&clean, &added, &with_policy, &bare], &[&profile]).await;
    let _ = env.iam.delete_instance_profile().instance_profile_name(&profile).send().await;

    deleted.unwrap();
    deleted_added.unwrap();
    assert!(clean_gone && added_gone, "clean gone {clean_gone}, added gone {added_gone}");
    assert_eq!(calls, BTreeMap::from([("IAM:DeleteRole".to_string(), 1)]), "a clean role: one call");
    // The refused first DeleteRole, then the role emptied and deleted.
    assert_eq!(fallback.get("IAM:DeleteRole"), Some(&2), "{fallback:?}");
    assert_eq!(fallback.get("IAM:DetachRolePolicy"), Some(&1), "{fallback:?}");
    assert_eq!(fallback.get("IAM:DeleteRolePolicy"), Some(&1), "{fallback:?}");
    assert_eq!(fallback.get("IAM:RemoveRoleFromInstanceProfile"), Some(&1), "{fallback:?}");
    assert_eq!(profile_roles.unwrap(), 0);
    // A role recorded with policies is emptied first: no DeleteRole bound to fail.
    deleted_with_policy.unwrap();
    assert!(with_policy_gone);
    assert_eq!(emptied_first.get("IAM:DeleteRole"), Some(&1), "{emptied_first:?}");
    assert_eq!(emptied_first.get("IAM:DeleteRolePolicy"), Some(&1), "{emptied_first:?}");
    deleted_bare.unwrap();
    assert!(bare_gone);
}

#[tokio::test]
async fn foreign_role_of_the_same_name_is_not_adopted() {
    let env = Env::new("iam-foreign").await;
    let name = format!("{}-foreign", env.stack);
    env.iam
        .create_role()
        .role_name(&name)
        .path(env.path())
        .assume_role_policy_document(trust("ecs-tasks.amazonaws.com").to_json().to_string())
        .tags(aws_sdk_iam::types::Tag::builder().key(TAG_STACK).value("someone-else").build().unwrap())
        .send()
        .await
        .unwrap();
    let props = role_props(&env, &name, "iam_role.execution");
    let err =
        env.provider("iam.role").create(&env.ctx(), &addr("iam_role.execution"), &props).await.unwrap_err();
    // Read under the stack path: it is there, but not ours and not matched to an address.
    let (objs, _) =
        env.read("iam.role", &[ReadTarget { id: None, ..target("iam_role.execution", &name, &props) }]).await;
    env.cleanup(&[&name], &[]).await;
    assert_eq!(err.code(), Some("EntityAlreadyExists"), "{err}");
    assert!(err.message().contains("someone-else"), "{err}");
    let obj = objs.iter().find(|o| o.id == name).unwrap();
    assert!(!obj.owned);
    assert_eq!(obj.address, None);
}

#[tokio::test]
async fn instance_profile_create_read_update_drift_delete() {
    let env = Env::new("iam-ip").await;
    let r1 = format!("{}-r1", env.stack);
    let r2 = format!("{}-r2", env.stack);
    let name = format!("{}-instance", env.stack);
    let result = profile_lifecycle(&env, &r1, &r2, &name).await;
    env.cleanup(&[&r1, &r2], &[&name]).await;
    result.unwrap();
}

async fn profile_lifecycle(env: &Env, r1: &str, r2: &str, name: &str) -> Result<(), String> {
    let role = env.provider("iam.role");
    for (r, a) in [(r1, "iam_role.instance"), (r2, "iam_role.other")] {
        let mut p = role_props(env, r, a);
        p.insert("assume_role_policy".into(), trust("ec2.amazonaws.com"));
        role.create(&env.ctx(), &addr(a), &p).await.map_err(|e| e.to_string())?;
    }
    let ip = env.provider("iam.instance_profile");
    let address = "iam_instance_profile.instance";
    let props = Props::from([
        ("name".to_string(), Value::str(name)),
        ("path".to_string(), Value::str(env.path())),
        ("role_name".to_string(), Value::str(r1)),
        ("tags".to_string(), env.tags(address, &[])),
    ]);
    let applied = ip.create(&env.ctx(), &addr(address), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(applied.id, name);
    let arn = applied.outputs["arn"].as_str().unwrap().to_string();
    assert!(arn.ends_with(&format!(":instance-profile{}{name}", env.path())), "{arn}");
    let live = env.iam.get_instance_profile().instance_profile_name(name).send().await.unwrap();
    let live = live.instance_profile().unwrap();
    assert_eq!(live.roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(), [r1]);
    assert_eq!(live.path(), env.path());
    let tags = env.iam.list_instance_profile_tags().instance_profile_name(name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == TAG_STACK && t.value() == env.stack));

    // Read: no diff, batched (one list + tags per profile).
    let t = target(address, name, &props);
    let (objs, calls) = env.read("iam.instance_profile", std::slice::from_ref(&t)).await;
    let obj = objs.iter().find(|o| o.id == name).unwrap();
    assert!(obj.owned);
    assert_eq!(obj.address, Some(addr(address)));
    assert_eq!(obj.outputs["arn"], Value::str(&arn));
    let provider = env.registry.get("iam.instance_profile").unwrap().clone();
    assert_eq!(provider.diff(&props, &obj.props), vec![]);
    assert_eq!(calls.get("IAM:ListInstanceProfiles"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("IAM:ListInstanceProfileTags"), Some(&(objs.len() as u64)), "{calls:?}");

    // Update: another role, a tag.
    let mut desired = props.clone();
    desired.insert("role_name".into(), Value::str(r2));
    desired.insert("tags".into(), env.tags(address, &[("team", "b")]));
    env.update("iam.instance_profile", &t, &desired).await;
    let live = env.iam.get_instance_profile().instance_profile_name(name).send().await.unwrap();
    assert_eq!(
        live.instance_profile().unwrap().roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(),
        [r2]
    );
    let t = target(address, name, &desired);
    let obj = env.read_one("iam.instance_profile", &t).await.unwrap();
    assert_eq!(provider.diff(&desired, &obj.props), vec![]);

    // Out of band: the role removed (a profile without a role is still found) and a tag
    // changed.
    env.iam
        .remove_role_from_instance_profile()
        .instance_profile_name(name)
        .role_name(r2)
        .send()
        .await
        .unwrap();
    env.iam
        .tag_instance_profile()
        .instance_profile_name(name)
        .tags(aws_sdk_iam::types::Tag::builder().key("team").value("c").build().unwrap())
        .send()
        .await
        .unwrap();
    let obj = env.read_one("iam.instance_profile", &t).await.expect("a profile without a role is found");
    assert_eq!(obj.props["role_name"], Value::Null);
    let drift: BTreeSet<String> = provider.diff(&desired, &obj.props).into_iter().map(|c| c.name).collect();
    assert_eq!(drift, BTreeSet::from(["role_name".into(), "tags".into()]));

    // A create retried after a crash adopts the profile and converges it.
    let again = ip.create(&env.ctx(), &addr(address), &desired).await.map_err(|e| e.to_string())?;
    assert_eq!(again.outputs["arn"], Value::str(&arn));
    let obj = env.read_one("iam.instance_profile", &t).await.unwrap();
    assert_eq!(provider.diff(&desired, &obj.props), vec![]);

    // Deleting the role while in the profile (destroy order reversed) still works.
    role.delete(&env.ctx(), r2, &Props::new()).await.map_err(|e| e.to_string())?;
    assert!(!env.role_exists(r2).await);
    let obj = env.read_one("iam.instance_profile", &t).await.unwrap();
    assert_eq!(obj.props["role_name"], Value::Null);
    ip.update(
        &env.ctx(),
        UpdateRequest {
            address: &addr(address),
            id: name,
            desired: &props,
            changes: &provider.diff(&props, &obj.props),
        },
    )
    .await
    .map_err(|e| e.to_string())?;

    // Delete: the role comes out first; gone; again fine.
    ip.delete(&env.ctx(), name, &props).await.map_err(|e| e.to_string())?;
    let gone = env.iam.get_instance_profile().instance_profile_name(name).send().await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchEntity"));
    assert!(env.role_exists(r1).await, "the role itself stays");
    assert!(env.read_one("iam.instance_profile", &t).await.is_none());
    ip.delete(&env.ctx(), name, &props).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// An `iam.role` provider on its own client and call counter: the registry's (bulk above
/// the default threshold), or per role only (`bulk_above` = usize::MAX), or with the bulk
/// call denied.
fn role_provider(
    cfg: &aws_config::SdkConfig,
    bulk_above: Option<usize>,
    deny: bool,
) -> (Arc<dyn Provider>, ApiCounter) {
    let counter = ApiCounter::default();
    let mut conf = aws_sdk_iam::config::Builder::from(cfg).interceptor(counter.clone());
    if deny {
        // IAM's AccessDenied (403), as AWS answers a caller scoped to the stack's roles
        // (the drift job's role); other calls pass.
        conf = conf.interceptor(common::Canned {
            operation: "GetAccountAuthorizationDetails",
            status: 403,
            content_type: "text/xml",
            body: "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                <Code>AccessDenied</Code><Message>User: arn:aws:sts::000000000000:assumed-role/drift/task is not \
                authorized to perform: iam:GetAccountAuthorizationDetails</Message></Error>\
                <RequestId>denied</RequestId></ErrorResponse>"
                .to_string(),
        });
    }
    let mut role = hactl_aws::iam::role::Role::new(Client::from_conf(conf.build()));
    if let Some(n) = bulk_above {
        role = role.bulk_above(n);
    }
    (Arc::new(role), counter)
}

/// One read of `provider` (fresh cache) and its calls by operation.
async fn read_with(
    env: &Env,
    provider: &Arc<dyn Provider>,
    counter: &ApiCounter,
    targets: &[ReadTarget],
) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
    let before = counter.snapshot();
    let objs = provider.read(&env.ctx().with_fresh_cache(), targets).await.unwrap();
    let calls = common::calls_since(counter, &before);
    (objs, calls)
}

#[tokio::test]
async fn many_roles_read_in_bulk_as_per_role_drift_seen_and_access_denied_falls_back() {
    let env = Env::new("iam-bulk").await;
    let names: Vec<String> = (0..6).map(|i| format!("{}-task-s{i}", env.stack)).collect();
    let result = bulk_read(&env, &names).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    env.cleanup(&refs, &[]).await;
    result.unwrap();
}

async fn bulk_read(env: &Env, names: &[String]) -> Result<(), String> {
    let role = env.provider("iam.role");
    let mut targets = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let address = format!("iam_role.task.s{i}");
        let mut props = role_props(env, name, &address);
        // Variety: no description, a second inline policy, no managed policy, no policy.
        match i {
            0 => drop(props.insert("description".into(), Value::Null)),
            1 => {
                let extra = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
                let mut inline = props["inline_policies"].as_map().unwrap().clone();
                inline.insert("s3".into(), Value::from_json(&extra));
                props.insert("inline_policies".into(), Value::Map(inline));
            }
            2 => drop(props.insert("managed_policy_arns".into(), Value::from_strings(Vec::<String>::new()))),
            3 => drop(props.insert("inline_policies".into(), Value::Map(BTreeMap::new()))),
            _ => {}
        }
        role.create(&env.ctx(), &addr(&address), &props).await.map_err(|e| e.to_string())?;
        targets.push(target(&address, name, &props));
    }
    let cfg = sdk_config().await;
    let (per_role, per_role_calls) = role_provider(&cfg, Some(usize::MAX), false);
    let (bulk, bulk_calls) = role_provider(&cfg, None, false);
    let (denied, denied_calls) = role_provider(&cfg, None, true);

    // The same live objects either way, and none with a diff.
    let (want, calls) = read_with(env, &per_role, &per_role_calls, &targets).await;
    assert_eq!(want.len(), names.len(), "{want:?}");
    assert_eq!(calls.get("IAM:GetRole"), Some(&6), "{calls:?}");
    assert_eq!(calls.get("IAM:GetAccountAuthorizationDetails"), None, "{calls:?}");
    for (obj, t) in want.iter().zip(&targets) {
        assert_eq!(obj.address.as_ref(), Some(&t.address));
        assert_eq!(role.diff(&t.props, &obj.props), vec![], "{}", t.address);
    }
    let (got, calls) = read_with(env, &bulk, &bulk_calls, &targets).await;
    assert_eq!(got, want, "the bulk read differs from the per-role read");
    assert_eq!(
        calls,
        BTreeMap::from([
            ("IAM:ListRoles".to_string(), 1),
            ("IAM:GetAccountAuthorizationDetails".to_string(), 1)
        ]),
        "six roles: one list, one bulk read"
    );
    // The registry's provider reads the same way.
    let (got, calls) = env.read("iam.role", &targets).await;
    assert_eq!(got, want);
    assert_eq!(calls.get("IAM:GetAccountAuthorizationDetails"), Some(&1), "{calls:?}");

    // Denied: one refused bulk call, then per role; later reads go per role at once.
    let (got, calls) = read_with(env, &denied, &denied_calls, &targets).await;
    assert_eq!(got, want, "the fallback read differs");
    assert_eq!(calls.get("IAM:GetAccountAuthorizationDetails"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("IAM:GetRole"), Some(&6), "{calls:?}");
    let (got, calls) = read_with(env, &denied, &denied_calls, &targets).await;
    assert_eq!(got, want);
    assert_eq!(calls.get("IAM:GetAccountAuthorizationDetails"), None, "refused once is enough: {calls:?}");

    // Out of band: one role's inline policy edited, another's tag removed: the bulk read
    // reports exactly that, as the per-role read does.
    let edited = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*",
        "Resource": "*"}]});
    env.iam
        .put_role_policy()
        .role_name(&names[4])
        .policy_name("logs")
        .policy_document(edited.to_string())
        .send()
        .await
        .unwrap();
    env.iam.untag_role().role_name(&names[5]).tag_keys("Name").send().await.unwrap();
    let (got, _) = read_with(env, &bulk, &bulk_calls, &targets).await;
    let (want, _) = read_with(env, &per_role, &per_role_calls, &targets).await;
    assert_eq!(got, want, "after out-of-band changes");
    let drift: Vec<(String, Vec<String>)> = got
        .iter()
        .zip(&targets)
        .map(|(o, t)| {
            (o.id.clone(), role.diff(&t.props, &o.props).into_iter().map(|c| c.name).collect::<Vec<_>>())
        })
        .filter(|(_, changes)| !changes.is_empty())
        .collect();
    assert_eq!(
        drift,
        [
            (names[4].clone(), vec!["inline_policies".to_string()]),
            (names[5].clone(), vec!["tags".to_string()])
        ]
    );
    assert_eq!(got[4].props["inline_policies"].as_map().unwrap()["logs"], Value::from_json(&edited));
    Ok(())
}
