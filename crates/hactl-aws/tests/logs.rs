//! The `logs.log_group` provider against the emulator: driven directly through the
//! registry, every effect checked with the CloudWatch Logs SDK, names unique per process,
//! everything removed at the end.

use crate::common;

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

    // Read: both found, no diff; one describe + the stack's tag index, no tag call.
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
            ("Resource Groups Tagging API:GetResources".to_string(), 1)
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

/// Where the Resource Groups Tagging API is not available (here: its endpoint does not
/// resolve, as in a partition without it), the read falls back to one tag call per group,
/// as before the tag index: the same objects, the same ownership, no failure. Any other
/// failure of the index (a refused connection) fails the read as any call would.
#[tokio::test]
async fn without_a_tagging_api_tags_are_read_per_group() {
    use hactl_aws::logs::log_group::LogGroup;
    use hactl_aws::tagging::Tagging;
    let env = Env::new("logs-fb").await;
    let name = format!("/hactl/{}/svc", env.stack);
    let props = Props::from([
        ("name".to_string(), Value::str(&name)),
        ("retention_days".to_string(), Value::Int(1)),
        ("tags".to_string(), env.tags("log_group.svc", &[])),
    ]);
    env.provider().create(&env.ctx(), &addr("log_group.svc"), &props).await.unwrap();
    let cfg = sdk_config().await;
    let counter = ApiCounter::default();
    let logs = hactl_aws::client!(aws_sdk_cloudwatchlogs, &cfg, &counter);
    let once = aws_config::retry::RetryConfig::standard().with_max_attempts(1);
    let unresolvable =
        cfg.to_builder().endpoint_url("http://tagging.invalid").retry_config(once.clone()).build();
    let refused = cfg.to_builder().endpoint_url("http://127.0.0.1:1").retry_config(once).build();
    let t = [ReadTarget { id: None, ..target("log_group.svc", &name, &props) }];
    let ctx = || env.ctx().with_fresh_cache();
    let fallback = LogGroup(logs.clone(), Tagging::new(&unresolvable, &counter)).read(&ctx(), &t).await;
    let calls = counter.snapshot();
    let failing = LogGroup(logs, Tagging::new(&refused, &counter)).read(&ctx(), &t).await;
    env.provider().delete(&env.ctx(), &name, &Props::new()).await.unwrap();
    let objs = fallback.unwrap();
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [name.as_str()]);
    assert!(objs[0].owned);
    assert_eq!(objs[0].address, Some(addr("log_group.svc")));
    assert_eq!(calls.get("CloudWatch Logs:ListTagsForResource"), Some(&1), "{calls:?}");
    let err = failing.unwrap_err();
    assert!(err.to_string().contains("GetResources"), "{err}");
}

/// A tag index whose GetResources answers `status` and `body`, counted by `counter`.
fn canned_tagging(
    cfg: &aws_config::SdkConfig,
    counter: &ApiCounter,
    status: u16,
    body: String,
) -> hactl_aws::tagging::Tagging {
    let conf = aws_sdk_resourcegroupstagging::config::Builder::from(cfg)
        .interceptor(counter.clone())
        .interceptor(common::Canned {
            operation: "GetResources",
            status,
            content_type: "application/x-amz-json-1.1",
            body,
        })
        .build();
    hactl_aws::tagging::Tagging::from_client(aws_sdk_resourcegroupstagging::Client::from_conf(conf))
}

/// Calls of `op` counted since `before`.
fn since(counter: &ApiCounter, before: &BTreeMap<String, u64>, op: &str) -> u64 {
    counter.snapshot().get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0)
}

/// An operator whose IAM policy predates the tag index (no `tag:GetResources`): the read
/// falls back to one tag call per group instead of failing, and the refusal is remembered,
/// so later reads of the process do not ask again.
#[tokio::test]
async fn a_refused_tag_index_falls_back_to_per_group_tags_and_is_asked_once() {
    use hactl_aws::logs::log_group::LogGroup;
    let env = Env::new("logs-deny").await;
    let name = format!("/hactl/{}/svc", env.stack);
    let props = Props::from([
        ("name".to_string(), Value::str(&name)),
        ("retention_days".to_string(), Value::Int(1)),
        ("tags".to_string(), env.tags("log_group.svc", &[])),
    ]);
    env.provider().create(&env.ctx(), &addr("log_group.svc"), &props).await.unwrap();
    let cfg = sdk_config().await;
    let counter = ApiCounter::default();
    let logs = hactl_aws::client!(aws_sdk_cloudwatchlogs, &cfg, &counter);
    let denied = r#"{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::000000000000:assumed-role/operator/o is not authorized to perform: tag:GetResources"}"#;
    let provider = LogGroup(logs, canned_tagging(&cfg, &counter, 400, denied.to_string()));
    let t = [ReadTarget { id: None, ..target("log_group.svc", &name, &props) }];
    let first = provider.read(&env.ctx().with_fresh_cache(), &t).await;
    let after_first = counter.snapshot();
    let second = provider.read(&env.ctx().with_fresh_cache(), &t).await;
    let after_second = counter.snapshot();
    env.provider().delete(&env.ctx(), &name, &Props::new()).await.unwrap();
    for objs in [first.unwrap(), second.unwrap()] {
        assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [name.as_str()]);
        assert!(objs[0].owned);
        assert_eq!(objs[0].address, Some(addr("log_group.svc")));
    }
    let (get, tags) = ("Resource Groups Tagging API:GetResources", "CloudWatch Logs:ListTagsForResource");
    assert_eq!(after_first.get(get), Some(&1), "{after_first:?}");
    assert_eq!(after_first.get(tags), Some(&1), "{after_first:?}");
    assert_eq!(after_second.get(get), Some(&1), "refused once, not asked again: {after_second:?}");
    assert_eq!(after_second.get(tags), Some(&2), "{after_second:?}");
}

/// GetResources is eventually consistent. A stale index that lists a group under the
/// stack's tags which it no longer carries (here: never did) does not make it the stack's:
/// a group state does not record is asked for its own tags. And a recorded group whose
/// indexed tags are not the ones state recorded (an apply changed them a moment ago) is
/// read with its own tags, not the index's. An untouched group costs no tag call.
#[tokio::test]
async fn a_stale_tag_index_is_checked_against_each_group_s_own_tags() {
    use hactl_aws::logs::log_group::LogGroup;
    let env = Env::new("logs-stale").await;
    let mine = format!("/hactl/{}/svc", env.stack);
    let foreign = format!("/hactl/{}/foreign", env.stack);
    let arn = |name: &str| format!("arn:aws:logs:us-east-1:000000000000:log-group:{name}");
    // State recorded what the last apply set: a `team` tag added.
    let desired = Props::from([
        ("name".to_string(), Value::str(&mine)),
        ("retention_days".to_string(), Value::Int(1)),
        ("tags".to_string(), env.tags("log_group.svc", &[("team", "new")])),
    ]);
    env.provider().create(&env.ctx(), &addr("log_group.svc"), &desired).await.unwrap();
    let someone = Env::new("logs-stale-x").await;
    let theirs = someone.tags("log_group.foreign", &[]).string_map();
    env.logs
        .create_log_group()
        .log_group_name(&foreign)
        .set_tags(Some(theirs.into_iter().collect()))
        .send()
        .await
        .unwrap();
    // The index as it was before: `mine` without `team`, `foreign` under this stack's tags.
    let entry = |arn: String, tags: Value| {
        let tags: Vec<_> =
            tags.string_map().into_iter().map(|(k, v)| serde_json::json!({"Key": k, "Value": v})).collect();
        serde_json::json!({"ResourceARN": arn, "Tags": tags})
    };
    let stale = serde_json::json!({"ResourceTagMappingList": [
        entry(arn(&mine), env.tags("log_group.svc", &[])),
        entry(format!("{}:*", arn(&foreign)), env.tags("log_group.foreign", &[])),
    ]});
    let cfg = sdk_config().await;
    let counter = ApiCounter::default();
    let logs = hactl_aws::client!(aws_sdk_cloudwatchlogs, &cfg, &counter);
    let recorded = ReadTarget { recorded: Some(desired.clone()), ..target("log_group.svc", &mine, &desired) };
    let t = [recorded];
    let stale_read = LogGroup(logs.clone(), canned_tagging(&cfg, &counter, 200, stale.to_string()))
        .read(&env.ctx().with_fresh_cache(), &t)
        .await;
    let before = counter.snapshot();
    let fresh_read = LogGroup(logs, hactl_aws::tagging::Tagging::new(&cfg, &counter))
        .read(&env.ctx().with_fresh_cache(), &t)
        .await;
    let fresh_tag_calls = since(&counter, &before, "CloudWatch Logs:ListTagsForResource");
    env.provider().delete(&env.ctx(), &mine, &Props::new()).await.unwrap();
    env.logs.delete_log_group().log_group_name(&foreign).send().await.unwrap();

    let objs = stale_read.unwrap();
    let ours = objs.iter().find(|o| o.id == mine).expect("the recorded group");
    assert!(ours.owned);
    assert_eq!(ours.props["tags"], desired["tags"], "its own tags, not the stale index's");
    let other = objs.iter().find(|o| o.id == foreign).expect("the group under the prefix");
    assert!(!other.owned, "a stale index made another's group the stack's: {other:?}");
    assert_eq!(other.address, None);
    assert_eq!(counter.snapshot().get("CloudWatch Logs:ListTagsForResource"), Some(&2));
    // The live index agrees with state: no tag call.
    let objs = fresh_read.unwrap();
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [mine.as_str()]);
    assert_eq!(objs[0].props["tags"], desired["tags"]);
    assert_eq!(fresh_tag_calls, 0);
}
