//! The `sns.topic` and `sns.subscription` providers against the emulator: driven directly
//! through the registry, every effect checked with the SNS SDK, names unique per process,
//! everything removed at the end.

use crate::common;

use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{diff_props, Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Env {
    sns: Client,
    registry: Registry,
    counter: ApiCounter,
    stack: String,
}

impl Env {
    async fn new(test: &str) -> Env {
        let cfg = sdk_config().await;
        let counter = ApiCounter::default();
        Env {
            sns: Client::new(&cfg),
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

    fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut m = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Value::from_string_map(m)
    }

    fn topic_props(&self, extra: &[(&str, &str)]) -> Props {
        Props::from([
            ("name".to_string(), Value::str(format!("{}-alarms", self.stack))),
            ("tags".to_string(), self.tags("sns_topic.alarms", extra)),
        ])
    }

    /// Reads `kind` with a fresh cache; the API calls it made.
    async fn read(&self, kind: &str, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let objs = self.provider(kind).read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
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
        objs.into_iter().find(|o| o.address.as_ref() == Some(&target.address))
    }

    async fn topic_exists(&self, arn: &str) -> bool {
        let topics: Vec<_> =
            self.sns.list_topics().into_paginator().items().send().try_collect().await.unwrap();
        topics.iter().any(|t| t.topic_arn() == Some(arn))
    }

    async fn live_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let out = self.sns.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

#[tokio::test]
async fn topic_create_read_update_drift_adopt_delete() {
    let env = Env::new("snstopic").await;
    let other = Env::new("snstopic-other").await;
    let mut created = Vec::new();
    let result = topic_lifecycle(&env, &other, &mut created).await;
    for arn in created {
        let _ = env.sns.delete_topic().topic_arn(arn).send().await;
    }
    result.unwrap();
}

async fn topic_lifecycle(env: &Env, other: &Env, created: &mut Vec<String>) -> Result<(), String> {
    let p = env.provider("sns.topic");
    let schema = env.registry.schema("sns.topic").unwrap();
    let name = format!("{}-alarms", env.stack);
    let props = env.topic_props(&[]);
    let address = addr("sns_topic.alarms");

    // Create.
    let applied = p.create(&env.ctx(), &address, &props).await.map_err(|e| e.to_string())?;
    let arn = format!("arn:aws:sns:us-east-1:000000000000:{name}");
    created.push(arn.clone());
    assert_eq!(applied.id, arn);
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str(&name));
    assert!(env.topic_exists(&arn).await);
    let tags = env.live_tags(&arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("sns_topic.alarms"));

    // Read: found by tags, no diff; one list + the stack's tag index, no tag call.
    let t = target("sns_topic.alarms", Some(&arn), &props);
    let (objs, calls) = env.read("sns.topic", std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert_eq!(objs[0].id, arn);
    assert!(objs[0].owned);
    assert_eq!(objs[0].address.as_ref(), Some(&address));
    assert_eq!(objs[0].outputs["arn"], Value::str(&arn));
    assert_eq!(objs[0].outputs["name"], Value::str(&name));
    assert_eq!(diff_props(schema, &props, &objs[0].props), vec![]);
    assert_eq!(
        calls,
        BTreeMap::from([
            ("SNS:ListTopics".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1)
        ]),
        "{calls:?}"
    );

    // Update tags in place.
    let desired = env.topic_props(&[("team", "ops")]);
    let changes = diff_props(schema, &desired, &objs[0].props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tags"]);
    let up = p
        .update(
            &env.ctx(),
            UpdateRequest { address: &address, id: &arn, desired: &desired, changes: &changes },
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(up.outputs["arn"], Value::str(&arn));
    assert_eq!(env.live_tags(&arn).await.get("team").map(String::as_str), Some("ops"));
    let t = target("sns_topic.alarms", Some(&arn), &desired);
    assert_eq!(diff_props(schema, &desired, &env.read_one("sns.topic", &t).await.unwrap().props), vec![]);
    // ... and removing a tag.
    let live = env.read_one("sns.topic", &t).await.unwrap();
    let changes = diff_props(schema, &props, &live.props);
    p.update(&env.ctx(), UpdateRequest { address: &address, id: &arn, desired: &props, changes: &changes })
        .await
        .map_err(|e| e.to_string())?;
    assert!(!env.live_tags(&arn).await.contains_key("team"));

    // Out of band: a tag added is drift.
    let tag = Tag::builder().key("extra").value("1").build().unwrap();
    env.sns.tag_resource().resource_arn(&arn).tags(tag).send().await.unwrap();
    let t = target("sns_topic.alarms", Some(&arn), &props);
    let live = env.read_one("sns.topic", &t).await.unwrap();
    let drift = diff_props(schema, &props, &live.props);
    assert_eq!(drift.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tags"]);
    assert_eq!(live.props["tags"].string_map().get("extra").map(String::as_str), Some("1"));

    // A create retried after a crash adopts our own topic and converges its tags.
    let again = p.create(&env.ctx(), &address, &desired).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, arn);
    let tags = env.live_tags(&arn).await;
    assert!(!tags.contains_key("extra"), "{tags:?}");
    assert_eq!(tags.get("team").map(String::as_str), Some("ops"));
    // ... but another stack's topic of the same name is refused, naming its owner.
    let err = other.provider("sns.topic").create(&other.ctx(), &address, &desired).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message().contains(&format!("hactl:stack tag: {}", env.stack)), "{err}");
    assert!(err.message().contains(&name), "{err}");
    assert_eq!(env.live_tags(&arn).await.get(TAG_STACK), Some(&env.stack), "not taken over");
    // ... and another stack does not read it (its name shares the `<stack>-` prefix only
    // when the stacks' names do; here the other stack's read must not see it at all).
    let (objs, _) =
        other.read("sns.topic", &[target("sns_topic.alarms", None, &other.topic_props(&[]))]).await;
    assert!(objs.iter().all(|o| o.id != arn), "{objs:?}");

    // Delete: gone; read finds nothing; delete again is fine.
    p.delete(&env.ctx(), &arn, &desired).await.map_err(|e| e.to_string())?;
    assert!(!env.topic_exists(&arn).await);
    assert!(env.read_one("sns.topic", &t).await.is_none());
    p.delete(&env.ctx(), &arn, &desired).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn topics_of_a_prefixed_stack_are_not_read() {
    // `<stack>-b-alarms` starts with `<stack>-` but belongs to stack `<stack>-b`.
    let env = Env::new("snsp").await;
    let other = Env::new("snsp-b").await;
    let a =
        env.provider("sns.topic").create(&env.ctx(), &addr("sns_topic.alarms"), &env.topic_props(&[])).await;
    let b = other
        .provider("sns.topic")
        .create(&other.ctx(), &addr("sns_topic.alarms"), &other.topic_props(&[]))
        .await;
    let (objs, _) = env.read("sns.topic", &[target("sns_topic.alarms", None, &env.topic_props(&[]))]).await;
    for applied in [&a, &b].into_iter().flatten() {
        env.sns.delete_topic().topic_arn(&applied.id).send().await.unwrap();
    }
    let (a, _) = (a.unwrap(), b.unwrap());
    let ids: Vec<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str()]);
}

#[tokio::test]
async fn email_subscription_create_read_delete() {
    let env = Env::new("snssub").await;
    let topic = env
        .provider("sns.topic")
        .create(&env.ctx(), &addr("sns_topic.alarms"), &env.topic_props(&[]))
        .await
        .unwrap()
        .id;
    let result = subscription_lifecycle(&env, &topic).await;
    env.sns.delete_topic().topic_arn(&topic).send().await.unwrap();
    result.unwrap();
}

async fn subscription_lifecycle(env: &Env, topic: &str) -> Result<(), String> {
    let p = env.provider("sns.subscription");
    let schema = env.registry.schema("sns.subscription").unwrap();
    let email = format!("{}@example.com", env.stack);
    let props = Props::from([
        ("topic_arn".to_string(), Value::str(topic)),
        ("protocol".to_string(), Value::str("email")),
        ("endpoint".to_string(), Value::str(&email)),
    ]);
    let address = addr("sns_subscription.email");
    let list = || async {
        let out = env.sns.list_subscriptions_by_topic().topic_arn(topic).send().await.unwrap();
        out.subscriptions().to_vec()
    };

    // Nothing yet.
    assert!(env
        .read_one("sns.subscription", &target("sns_subscription.email", None, &props))
        .await
        .is_none());

    // Create: a real ARN under the topic.
    let applied = p.create(&env.ctx(), &address, &props).await.map_err(|e| e.to_string())?;
    assert!(applied.id.starts_with(&format!("{topic}:")), "{}", applied.id);
    let subs = list().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].endpoint(), Some(email.as_str()));
    assert_eq!(subs[0].protocol(), Some("email"));

    // Read: found (LocalStack lists email subscriptions with their real ARN, i.e. as
    // confirmed; AWS lists `PendingConfirmation` until the address confirms), no diff; one
    // list call for the topic.
    let t = target("sns_subscription.email", Some(&applied.id), &props);
    let (objs, calls) = env.read("sns.subscription", std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    let live = &objs[0];
    let listed_arn = subs[0].subscription_arn().unwrap();
    if listed_arn == "PendingConfirmation" {
        assert_eq!(live.id, format!("pending:{topic}:{email}"));
    } else {
        assert_eq!(live.id, applied.id);
    }
    assert!(live.owned);
    assert_eq!(live.address.as_ref(), Some(&address));
    assert_eq!(diff_props(schema, &props, &live.props), vec![]);
    assert_eq!(calls, BTreeMap::from([("SNS:ListSubscriptionsByTopic".to_string(), 1)]));

    // Another endpoint's target does not match it.
    let mut elsewhere = props.clone();
    elsewhere.insert("endpoint".to_string(), Value::str("someone-else@example.com"));
    assert!(env
        .read_one("sns.subscription", &target("sns_subscription.email", None, &elsewhere))
        .await
        .is_none());

    // Delete: gone; read finds nothing; delete again is fine; a pending id is a no-op.
    p.delete(&env.ctx(), &live.id, &props).await.map_err(|e| e.to_string())?;
    assert!(list().await.is_empty());
    assert!(env.read_one("sns.subscription", &t).await.is_none());
    p.delete(&env.ctx(), &live.id, &props).await.map_err(|e| e.to_string())?;
    p.delete(&env.ctx(), &format!("pending:{topic}:{email}"), &props).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn subscription_read_of_a_deleted_topic_is_empty() {
    let env = Env::new("snsgone").await;
    let props = Props::from([
        (
            "topic_arn".to_string(),
            Value::str(format!("arn:aws:sns:us-east-1:000000000000:{}-none", env.stack)),
        ),
        ("protocol".to_string(), Value::str("email")),
        ("endpoint".to_string(), Value::str("a@example.com")),
    ]);
    let (objs, _) = env.read("sns.subscription", &[target("sns_subscription.email", None, &props)]).await;
    assert!(objs.is_empty());
}
