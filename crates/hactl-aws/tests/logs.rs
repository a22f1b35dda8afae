//! The `logs.log_group` provider against the emulator: driven directly through the
//! registry, every effect checked with the CloudWatch Logs SDK, names unique per process,
//! everything removed at the end.

mod common;

use aws_sdk_cloudwatchlogs::Client;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{diff_props, Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

struct Env {
    logs: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
}

impl Env {
    async fn new(test: &str) -> Env {
        let cfg = sdk_config().await;
        let counter = ApiCounter::default();
        Env {
            logs: Client::new(&cfg),
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            stack: format!("t{}-{test}", std::process::id()),
        }
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.registry.get("logs.log_group").unwrap().clone()
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

    async fn live(&self, name: &str) -> Option<aws_sdk_cloudwatchlogs::types::LogGroup> {
        let out = self.logs.describe_log_groups().log_group_name_prefix(name).send().await.unwrap();
        out.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned()
    }

    async fn live_tags(&self, name: &str) -> BTreeMap<String, String> {
        let arn = self.live(name).await.unwrap().log_group_arn().unwrap().to_string();
        let out = self.logs.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        out.tags().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: &str, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: Some(id.to_string()), props: props.clone(), recorded: None }
}

#[tokio::test]
async fn log_group_create_read_update_drift_delete() {
    let env = Env::new("logs").await;
    let web = format!("/hactl/{}/web", env.stack);
    let api = format!("/hactl/{}/api", env.stack);
    let result = lifecycle(&env, &web, &api).await;
    for g in [&web, &api] {
        let _ = env.provider().delete(&env.ctx(), g, &Props::new()).await;
    }
    result.unwrap();
}

async fn lifecycle(env: &Env, web: &str, api: &str) -> Result<(), String> {
    let p = env.provider();
    let schema = env.registry.schema("logs.log_group").unwrap();
    let props = |name: &str, address: &str, days: Value, extra: &[(&str, &str)]| {
        Props::from([
            ("name".to_string(), Value::str(name)),
            ("retention_days".to_string(), days),
            ("tags".to_string(), env.tags(address, extra)),
        ])
    };
    let web_props = props(web, "log_group.web", Value::Int(7), &[]);
    let api_props = props(api, "log_group.api", Value::Int(30), &[("Name", "api")]);

    // Create.
    let applied =
        p.create(&env.ctx(), &addr("log_group.web"), &web_props).await.map_err(|e| e.to_string())?;
    assert_eq!(applied.id, web);
    let arn = format!("arn:aws:logs:us-east-1:000000000000:log-group:{web}");
    assert_eq!(applied.outputs["arn"], Value::str(&arn), "arn without the trailing :*");
    assert_eq!(applied.outputs["name"], Value::str(web));
    p.create(&env.ctx(), &addr("log_group.api"), &api_props).await.map_err(|e| e.to_string())?;
    let live = env.live(web).await.expect("log group created");
    assert_eq!(live.retention_in_days(), Some(7));
    let tags = env.live_tags(web).await;
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("log_group.web"));
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));

    // Read: both found, no diff; one describe + one tag call per group.
    let targets = [target("log_group.web", web, &web_props), target("log_group.api", api, &api_props)];
    let (objs, calls) = env.read(&targets).await;
    assert_eq!(objs.len(), 2, "{objs:?}");
    for (t, want) in [(&targets[0], &web_props), (&targets[1], &api_props)] {
        let o = objs.iter().find(|o| Some(&o.id) == t.id.as_ref()).unwrap();
        assert!(o.owned);
        assert_eq!(o.address.as_ref(), Some(&t.address));
        assert_eq!(diff_props(schema, want, &o.props), vec![], "{}", o.id);
    }
    assert_eq!(
        calls,
        BTreeMap::from([
            ("CloudWatch Logs:DescribeLogGroups".to_string(), 1),
            ("CloudWatch Logs:ListTagsForResource".to_string(), 2)
        ])
    );
    assert_eq!(objs.iter().find(|o| o.id == web).unwrap().outputs["arn"], Value::str(&arn));

    // Update in place: retention and tags.
    let desired = props(web, "log_group.web", Value::Int(14), &[("team", "x")]);
    let t = target("log_group.web", web, &web_props);
    let live = env.read_one(&t).await.unwrap();
    let changes = diff_props(schema, &desired, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["retention_days", "tags"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: web, desired: &desired, changes: &changes },
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(env.live(web).await.unwrap().retention_in_days(), Some(14));
    assert_eq!(env.live_tags(web).await.get("team").map(String::as_str), Some("x"));
    let t = target("log_group.web", web, &desired);
    assert_eq!(diff_props(schema, &desired, &env.read_one(&t).await.unwrap().props), vec![]);

    // Out of band: retention changed, a tag added, is drift.
    env.logs.put_retention_policy().log_group_name(web).retention_in_days(90).send().await.unwrap();
    env.logs.tag_resource().resource_arn(&arn).tags("extra", "1").send().await.unwrap();
    let live = env.read_one(&t).await.unwrap();
    assert_eq!(live.props["retention_days"], Value::Int(90));
    let drift: BTreeSet<String> =
        diff_props(schema, &desired, &live.props).into_iter().map(|c| c.name).collect();
    assert_eq!(drift, BTreeSet::from(["retention_days".into(), "tags".into()]));

    // No retention (never expire) reads as Null.
    env.logs.delete_retention_policy().log_group_name(web).send().await.unwrap();
    assert_eq!(env.read_one(&t).await.unwrap().props["retention_days"], Value::Null);

    // A create retried after a crash adopts the group and converges it.
    let again = p.create(&env.ctx(), &addr("log_group.web"), &desired).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, web);
    assert_eq!(again.outputs["arn"], Value::str(&arn));
    assert_eq!(env.live(web).await.unwrap().retention_in_days(), Some(14));
    assert!(!env.live_tags(web).await.contains_key("extra"));
    assert_eq!(diff_props(schema, &desired, &env.read_one(&t).await.unwrap().props), vec![]);
    // ... but another address's group is not adopted.
    let err = p.create(&env.ctx(), &addr("log_group.other"), &desired).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceAlreadyExistsException"), "{err}");
    assert!(!err.is_retryable());

    // Delete: gone; read finds nothing; delete again is fine.
    p.delete(&env.ctx(), web, &desired).await.map_err(|e| e.to_string())?;
    assert!(env.live(web).await.is_none());
    assert!(env.read_one(&t).await.is_none());
    p.delete(&env.ctx(), web, &desired).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn groups_of_other_stacks_are_not_read() {
    let env = Env::new("logs-a").await;
    let other = Env::new("logs-a-b").await;
    // `/hactl/<stack>-b/` shares the text prefix `/hactl/<stack>` but is another stack.
    let mine = format!("/hactl/{}/svc", env.stack);
    let theirs = format!("/hactl/{}/svc", other.stack);
    let mk = |e: &Env, name: &str| {
        Props::from([
            ("name".to_string(), Value::str(name)),
            ("retention_days".to_string(), Value::Int(1)),
            ("tags".to_string(), e.tags("log_group.svc", &[])),
        ])
    };
    env.provider().create(&env.ctx(), &addr("log_group.svc"), &mk(&env, &mine)).await.unwrap();
    other.provider().create(&other.ctx(), &addr("log_group.svc"), &mk(&other, &theirs)).await.unwrap();
    let (objs, _) =
        env.read(&[ReadTarget { id: None, ..target("log_group.svc", &mine, &mk(&env, &mine)) }]).await;
    for (e, g) in [(&env, &mine), (&other, &theirs)] {
        e.provider().delete(&e.ctx(), g, &Props::new()).await.unwrap();
    }
    let ids: Vec<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [mine.as_str()]);
    assert_eq!(objs[0].address, Some(addr("log_group.svc")));
}
