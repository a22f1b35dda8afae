//! The `cloudwatch.alarm` and `cloudwatch.dashboard` providers against the emulator:
//! driven directly through the registry, every effect checked with the CloudWatch SDK,
//! names unique per process, everything removed at the end.

use crate::common;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

struct Env {
    cw: Client,
    h: common::Harness,
}

impl std::ops::Deref for Env {
    type Target = common::Harness;
    fn deref(&self) -> &common::Harness {
        &self.h
    }
}

impl Env {
    async fn new(test: &str) -> Env {
        let (h, cfg) = common::Harness::new(test).await;
        Env { cw: Client::new(&cfg), h }
    }

    async fn alarm(&self, name: &str) -> Option<MetricAlarm> {
        let out = self.cw.describe_alarms().alarm_names(name).send().await.unwrap();
        out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name)).cloned()
    }

    async fn alarm_tags(&self, name: &str) -> BTreeMap<String, String> {
        let arn = self.alarm(name).await.unwrap().alarm_arn().unwrap().to_string();
        let out = self.cw.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        out.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
    }

    async fn dashboard_body(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.cw.list_dashboards().dashboard_name_prefix(name).send().await.unwrap();
        if !out.dashboard_entries().iter().any(|e| e.dashboard_name() == Some(name)) {
            return None;
        }
        let out = self.cw.get_dashboard().dashboard_name(name).send().await.unwrap();
        Some(serde_json::from_str(out.dashboard_body().unwrap()).unwrap())
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: &str, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: Some(id.to_string()), props: props.clone(), recorded: None }
}

const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:hactl-test-alarms";

fn alarm_props(env: &Env, name: &str, address: &str, threshold: f64, period: i64) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("description".to_string(), Value::str("frontend CPU high")),
        ("namespace".to_string(), Value::str("AWS/ECS")),
        ("metric_name".to_string(), Value::str("CPUUtilization")),
        (
            "dimensions".to_string(),
            Value::from_string_map([("ClusterName", env.stack.as_str()), ("ServiceName", "frontend")]),
        ),
        ("statistic".to_string(), Value::str("Average")),
        ("period".to_string(), Value::Int(period)),
        ("evaluation_periods".to_string(), Value::Int(3)),
        ("threshold".to_string(), Value::Float(threshold)),
        ("comparison_operator".to_string(), Value::str("GreaterThanThreshold")),
        ("treat_missing_data".to_string(), Value::str("notBreaching")),
        ("alarm_actions".to_string(), Value::from_strings([TOPIC])),
        ("ok_actions".to_string(), Value::List(vec![])),
        ("tags".to_string(), env.tags(address, &[])),
    ])
}

#[tokio::test]
async fn alarm_create_read_update_drift_adopt_delete() {
    let env = Env::new("cwalarm").await;
    let name = format!("{}-ecs-cpu-frontend", env.stack);
    let foreign = format!("{}-foreign", env.stack);
    let result = alarm_lifecycle(&env, &name, &foreign).await;
    let _ = env.cw.delete_alarms().alarm_names(&name).alarm_names(&foreign).send().await;
    result.unwrap();
}

async fn alarm_lifecycle(env: &Env, name: &str, foreign: &str) -> Result<(), String> {
    const KIND: &str = "cloudwatch.alarm";
    const ADDRESS: &str = "alarm.ecs_cpu.frontend";
    let p = env.provider(KIND);
    let provider = env.registry.get(KIND).unwrap().clone();
    let props = alarm_props(env, name, ADDRESS, 80.5, 60);

    // Create.
    let applied = p.create(&env.ctx(), &addr(ADDRESS), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(applied.id, name);
    let arn = format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}");
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str(name));
    let live = env.alarm(name).await.expect("alarm created");
    assert_eq!(live.threshold(), Some(80.5));
    assert_eq!(live.period(), Some(60));
    assert_eq!(live.evaluation_periods(), Some(3));
    assert_eq!(live.statistic(), Some(&Statistic::Average));
    assert_eq!(live.comparison_operator(), Some(&ComparisonOperator::GreaterThanThreshold));
    assert_eq!(live.treat_missing_data(), Some("notBreaching"));
    assert_eq!(live.alarm_actions(), [TOPIC.to_string()]);
    let dims: BTreeMap<&str, &str> =
        live.dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
    assert_eq!(dims, BTreeMap::from([("ClusterName", env.stack.as_str()), ("ServiceName", "frontend")]));
    let tags = env.alarm_tags(name).await;
    assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some(ADDRESS));

    // Read: no diff; one DescribeAlarms + the stack's tag index, no tag call.
    let t = target(ADDRESS, name, &props);
    let (objs, calls) = env.read(KIND, std::slice::from_ref(&t)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    let o = &objs[0];
    assert!(o.owned);
    assert_eq!(o.address, Some(addr(ADDRESS)));
    assert_eq!(o.props["threshold"], Value::Float(80.5));
    assert_eq!(o.props["ok_actions"], Value::List(vec![]));
    assert_eq!(provider.diff(&props, &o.props), vec![]);
    assert_eq!(o.outputs["arn"], Value::str(&arn));
    assert_eq!(
        calls,
        BTreeMap::from([
            ("CloudWatch:DescribeAlarms".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1)
        ])
    );

    // Update in place: threshold and period.
    let desired = alarm_props(env, name, ADDRESS, 90.0, 300);
    let changes = provider.diff(&desired, &o.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["period", "threshold"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: name, desired: &desired, changes: &changes },
    )
    .await
    .map_err(|e| e.to_string())?;
    let live = env.alarm(name).await.unwrap();
    assert_eq!((live.threshold(), live.period()), (Some(90.0), Some(300)));
    assert_eq!(live.alarm_actions(), [TOPIC.to_string()], "the rest of the alarm is kept");
    assert_eq!(live.alarm_description(), Some("frontend CPU high"));
    assert_eq!(env.alarm_tags(name).await.get(TAG_STACK), Some(&env.stack), "tags survive the put");
    let t = target(ADDRESS, name, &desired);
    assert_eq!(provider.diff(&desired, &env.read_one(KIND, &t).await.unwrap().props), vec![]);

    // Out of band: PutMetricAlarm with another threshold is exactly that drift.
    env.cw
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description("frontend CPU high")
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .dimensions(Dimension::builder().name("ClusterName").value(&env.stack).build())
        .dimensions(Dimension::builder().name("ServiceName").value("frontend").build())
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(3)
        .threshold(42.25)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions(TOPIC)
        .send()
        .await
        .unwrap();
    let live = env.read_one(KIND, &t).await.unwrap();
    let drift = provider.diff(&desired, &live.props);
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!((drift[0].name.as_str(), drift[0].before.clone()), ("threshold", Some(Value::Float(42.25))));
    p.update(&env.ctx(), UpdateRequest { address: &t.address, id: name, desired: &desired, changes: &drift })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(env.alarm(name).await.unwrap().threshold(), Some(90.0));

    // Tags in place.
    let mut tagged = desired.clone();
    tagged.insert("tags".to_string(), env.tags(ADDRESS, &[("team", "web")]));
    let changes = provider.diff(&tagged, &env.read_one(KIND, &t).await.unwrap().props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tags"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: name, desired: &tagged, changes: &changes },
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(env.alarm_tags(name).await.get("team").map(String::as_str), Some("web"));
    let changes = provider.diff(&desired, &env.read_one(KIND, &t).await.unwrap().props);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: name, desired: &desired, changes: &changes },
    )
    .await
    .map_err(|e| e.to_string())?;
    assert!(!env.alarm_tags(name).await.contains_key("team"));

    // A create retried after a crash adopts our own alarm and converges it.
    env.cw
        .tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("extra").value("1").build())
        .send()
        .await
        .unwrap();
    let again = p.create(&env.ctx(), &addr(ADDRESS), &tagged).await.map_err(|e| e.to_string())?;
    assert_eq!(again.id, name);
    assert_eq!(again.outputs["arn"], Value::str(&arn));
    let tags = env.alarm_tags(name).await;
    assert!(!tags.contains_key("extra"), "{tags:?}");
    assert_eq!(tags.get("team").map(String::as_str), Some("web"));
    let t = target(ADDRESS, name, &tagged);
    assert_eq!(provider.diff(&tagged, &env.read_one(KIND, &t).await.unwrap().props), vec![]);
    // ... but not as another address.
    let err = p.create(&env.ctx(), &addr("alarm.ecs_cpu.other"), &tagged).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains(ADDRESS), "{err}");

    // Another stack's alarm under our name is refused, naming its owner, and left alone.
    let theirs = alarm_props(env, foreign, ADDRESS, 1.0, 60);
    env.cw
        .put_metric_alarm()
        .alarm_name(foreign)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .unwrap();
    let foreign_arn = env.alarm(foreign).await.unwrap().alarm_arn().unwrap().to_string();
    env.cw
        .tag_resource()
        .resource_arn(&foreign_arn)
        .tags(Tag::builder().key(TAG_STACK).value("someone-else").build())
        .tags(Tag::builder().key(TAG_ADDRESS).value(ADDRESS).build())
        .send()
        .await
        .unwrap();
    let err = p.create(&env.ctx(), &addr(ADDRESS), &theirs).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains("someone-else"), "{err}");
    let untouched = env.alarm(foreign).await.unwrap();
    assert_eq!(untouched.threshold(), Some(5.0));
    // ... and never read as ours, though its name has our prefix.
    let (objs, _) = env.read(KIND, std::slice::from_ref(&t)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [name]);

    // Delete: gone; read finds nothing; delete again is fine.
    p.delete(&env.ctx(), name, &desired).await.map_err(|e| e.to_string())?;
    assert!(env.alarm(name).await.is_none());
    assert!(env.read_one(KIND, &t).await.is_none());
    p.delete(&env.ctx(), name, &desired).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn alarms_of_other_stacks_are_not_read() {
    let env = Env::new("cwa").await;
    // `<stack>-b-...` shares the name prefix `<stack>-` but is another stack's.
    let other = Env::new("cwa-b").await;
    let mine = format!("{}-cpu", env.stack);
    let theirs = format!("{}-cpu", other.stack);
    const ADDRESS: &str = "alarm.ecs_cpu.web";
    let p = env.provider("cloudwatch.alarm");
    let created = async {
        p.create(&env.ctx(), &addr(ADDRESS), &alarm_props(&env, &mine, ADDRESS, 50.0, 60)).await?;
        other
            .provider("cloudwatch.alarm")
            .create(&other.ctx(), &addr(ADDRESS), &alarm_props(&other, &theirs, ADDRESS, 50.0, 60))
            .await
    }
    .await;
    let read = match created {
        Ok(_) => {
            let t = ReadTarget {
                id: None,
                ..target(ADDRESS, &mine, &alarm_props(&env, &mine, ADDRESS, 50.0, 60))
            };
            Some((env.read("cloudwatch.alarm", &[t]).await.0, other.read("cloudwatch.alarm", &[]).await.0))
        }
        Err(_) => None,
    };
    let _ = env.cw.delete_alarms().alarm_names(&mine).alarm_names(&theirs).send().await;
    let (objs, theirs_read) = read.unwrap_or_else(|| panic!("create failed: {created:?}"));
    let ids: Vec<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [mine.as_str()]);
    assert!(objs[0].owned);
    assert_eq!(objs[0].address, Some(addr(ADDRESS)));
    assert_eq!(theirs_read.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [theirs.as_str()]);
}

fn dashboard_props(env: &Env, name: &str, title: &str, period: i64) -> Props {
    let body = serde_json::json!({
        "widgets": [{
            "type": "metric",
            "x": 0, "y": 0, "width": 12, "height": 6,
            "properties": {
                "title": title,
                "region": "us-east-1",
                "stat": "Average",
                "period": period,
                "metrics": [["AWS/ECS", "CPUUtilization", "ClusterName", name, "ServiceName", "frontend"]],
                "yAxis": {"left": {"min": 0.0, "max": 100.5}}
            }
        }]
    });
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("body".to_string(), Value::from_json(&body)),
        ("tags".to_string(), env.tags("dashboard.main", &[])),
    ])
}

#[tokio::test]
async fn dashboard_create_read_update_drift_delete() {
    let env = Env::new("cwdash").await;
    let name = env.stack.clone();
    let result = dashboard_lifecycle(&env, &name).await;
    let _ = env.cw.delete_dashboards().dashboard_names(&name).send().await;
    result.unwrap();
}

async fn dashboard_lifecycle(env: &Env, name: &str) -> Result<(), String> {
    const KIND: &str = "cloudwatch.dashboard";
    const ADDRESS: &str = "dashboard.main";
    let p = env.provider(KIND);
    let provider = env.registry.get(KIND).unwrap().clone();
    let props = dashboard_props(env, name, "CPU", 60);

    // Create.
    let applied = p.create(&env.ctx(), &addr(ADDRESS), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(applied.id, name);
    assert_eq!(applied.outputs["name"], Value::str(name));
    assert_eq!(env.dashboard_body(name).await.expect("dashboard created"), props["body"].to_json());

    // Created with the ownership tags (PutDashboard takes none: TagResource after it).
    let arn = env
        .cw
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .unwrap()
        .dashboard_arn()
        .unwrap()
        .to_string();
    let live_tags: BTreeMap<String, String> = env
        .cw
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    assert_eq!(live_tags.get(TAG_STACK), Some(&env.stack));
    assert_eq!(live_tags.get(TAG_ADDRESS).map(String::as_str), Some(ADDRESS));

    // Read: no diff; one list + one get + one tag read; a dashboard named by no target is not read.
    env.cw
        .put_dashboard()
        .dashboard_name(format!("{name}-unrelated"))
        .dashboard_body(r#"{"widgets":[]}"#)
        .send()
        .await
        .unwrap();
    let t = target(ADDRESS, name, &props);
    let (objs, calls) = env.read(KIND, std::slice::from_ref(&t)).await;
    env.cw.delete_dashboards().dashboard_names(format!("{name}-unrelated")).send().await.unwrap();
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned);
    assert_eq!(objs[0].address, Some(addr(ADDRESS)));
    assert_eq!(provider.diff(&props, &objs[0].props), vec![]);
    assert_eq!(
        calls,
        BTreeMap::from([
            ("CloudWatch:ListDashboards".to_string(), 1),
            ("CloudWatch:GetDashboard".to_string(), 1),
            ("CloudWatch:ListTagsForResource".to_string(), 1)
        ])
    );

    // Body update in place.
    let desired = dashboard_props(env, name, "CPU utilisation", 300);
    let changes = provider.diff(&desired, &objs[0].props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["body"]);
    p.update(
        &env.ctx(),
        UpdateRequest { address: &t.address, id: name, desired: &desired, changes: &changes },
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(env.dashboard_body(name).await.unwrap(), desired["body"].to_json());
    let t = target(ADDRESS, name, &desired);
    assert_eq!(provider.diff(&desired, &env.read_one(KIND, &t).await.unwrap().props), vec![]);

    // Out of band: PutDashboard with another body is drift of `body` only, read as put.
    let oob = serde_json::json!({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2,
        "properties": {"markdown": "hand edited"}}]});
    env.cw.put_dashboard().dashboard_name(name).dashboard_body(oob.to_string()).send().await.unwrap();
    let live = env.read_one(KIND, &t).await.unwrap();
    assert_eq!(live.props["body"], Value::from_json(&oob));
    let drift: BTreeSet<String> = provider.diff(&desired, &live.props).into_iter().map(|c| c.name).collect();
    assert_eq!(drift, BTreeSet::from(["body".to_string()]));

    // Someone else's dashboard with the name (no hactl tags): read as not owned (refresh
    // makes it a conflict), and create refuses it instead of overwriting it.
    p.delete(&env.ctx(), name, &desired).await.map_err(|e| e.to_string())?;
    env.cw.put_dashboard().dashboard_name(name).dashboard_body(oob.to_string()).send().await.unwrap();
    let by_name = ReadTarget { id: None, ..target(ADDRESS, name, &desired) };
    let (found, _) = env.read(KIND, std::slice::from_ref(&by_name)).await;
    let foreign = found.into_iter().find(|o| o.id == name).expect("read by name");
    assert_eq!(foreign.address, Some(addr(ADDRESS)));
    assert!(!foreign.owned, "an untagged dashboard is not the stack's");
    let err =
        p.create(&env.ctx(), &addr(ADDRESS), &desired).await.expect_err("create over a foreign dashboard");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(env.dashboard_body(name).await.unwrap(), oob, "the foreign dashboard is untouched");
    env.cw.delete_dashboards().dashboard_names(name).send().await.unwrap();
    p.create(&env.ctx(), &addr(ADDRESS), &desired).await.map_err(|e| e.to_string())?;

    // Delete: gone; read finds nothing; delete again is fine.
    p.delete(&env.ctx(), name, &desired).await.map_err(|e| e.to_string())?;
    assert!(env.dashboard_body(name).await.is_none());
    assert!(env.read_one(KIND, &t).await.is_none());
    p.delete(&env.ctx(), name, &desired).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The API calls of `calls` that read one object's tags.
fn tag_calls(calls: &BTreeMap<String, u64>) -> u64 {
    calls.iter().filter(|(k, _)| k.ends_with(":ListTagsForResource")).map(|(_, n)| n).sum()
}

/// Ownership through the stack's tag index is what it was with a tag call per alarm: an
/// alarm of another stack sharing the name prefix is never read (and now costs no call),
/// an alarm recorded in state that lost its tags is still read (one tag call, for it
/// alone), one a target names without our tags is a conflict, never ours; one the index
/// holds that state does not record is confirmed by its own tag call.
#[tokio::test]
async fn alarm_ownership_through_the_tag_index() {
    let env = Env::new("cwi").await;
    let other = Env::new("cwi-b").await;
    let (cpu, mem) = (format!("{}-cpu", env.stack), format!("{}-mem", env.stack));
    let theirs = format!("{}-cpu", other.stack);
    let result = ownership(&env, &other, &cpu, &mem, &theirs).await;
    let _ = env.cw.delete_alarms().alarm_names(&cpu).alarm_names(&mem).alarm_names(&theirs).send().await;
    result.unwrap();
}

async fn ownership(env: &Env, other: &Env, cpu: &str, mem: &str, theirs: &str) -> Result<(), String> {
    const KIND: &str = "cloudwatch.alarm";
    let (cpu_props, mem_props) = (
        alarm_props(env, cpu, "alarm.ecs_cpu.web", 50.0, 60),
        alarm_props(env, mem, "alarm.ecs_memory.web", 50.0, 60),
    );
    let p = env.provider(KIND);
    let e = |e: hactl_engine::ProviderError| e.to_string();
    p.create(&env.ctx(), &addr("alarm.ecs_cpu.web"), &cpu_props).await.map_err(e)?;
    p.create(&env.ctx(), &addr("alarm.ecs_memory.web"), &mem_props).await.map_err(e)?;
    let theirs_props = alarm_props(other, theirs, "alarm.ecs_cpu.web", 50.0, 60);
    other.provider(KIND).create(&other.ctx(), &addr("alarm.ecs_cpu.web"), &theirs_props).await.map_err(e)?;

    // Both ours, theirs (same prefix) neither read nor asked for. The recorded one from
    // the index (it shows the tags state recorded); the one state does not record (a
    // crash orphan, to be adopted) is confirmed by its own tag call, since a stale index
    // must never make an alarm the stack's.
    let targets = [
        ReadTarget { id: None, ..target("alarm.ecs_cpu.web", cpu, &cpu_props) },
        ReadTarget { recorded: Some(mem_props.clone()), ..target("alarm.ecs_memory.web", mem, &mem_props) },
    ];
    let (objs, calls) = env.read(KIND, &targets).await;
    let ids: BTreeSet<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from([cpu, mem]), "{objs:?}");
    assert!(objs.iter().all(|o| o.owned), "{objs:?}");
    assert_eq!(tag_calls(&calls), 1, "{calls:?}");
    assert_eq!(calls.get("Resource Groups Tagging API:GetResources"), Some(&1), "{calls:?}");

    // The recorded alarm loses its tags: still read (its own tag call), not owned by
    // tags (state makes it ours); theirs still not read.
    let mem_arn = env.alarm(mem).await.unwrap().alarm_arn().unwrap().to_string();
    env.cw
        .untag_resource()
        .resource_arn(&mem_arn)
        .tag_keys(TAG_STACK)
        .tag_keys(TAG_ADDRESS)
        .send()
        .await
        .unwrap();
    let (objs, calls) = env.read(KIND, &targets).await;
    let lost = objs.iter().find(|o| o.id == mem).expect("the recorded alarm is still read");
    assert!(!lost.owned);
    assert!(!lost.props["tags"].string_map().contains_key(TAG_STACK));
    assert!(objs.iter().all(|o| o.id != theirs), "{objs:?}");
    // Its own tag call, and the unrecorded cpu alarm's confirmation again.
    assert_eq!(tag_calls(&calls), 2, "{calls:?}");

    // Not recorded, only named by a target: read (a conflict for the planner), not ours.
    let named = [ReadTarget { id: None, ..targets[1].clone() }];
    let (objs, _) = env.read(KIND, &named).await;
    let conflict = objs.iter().find(|o| o.id == mem).expect("the named alarm is read");
    assert!(!conflict.owned);
    assert_eq!(conflict.address, Some(addr("alarm.ecs_memory.web")));

    // Another stack's alarm recorded in our state is read as recorded, never as ours.
    let (objs, calls) = env.read(KIND, &[target("alarm.ecs_cpu.web", theirs, &theirs_props)]).await;
    let recorded = objs.iter().find(|o| o.id == theirs).expect("a recorded alarm is read");
    assert!(!recorded.owned);
    assert_eq!(recorded.address, None);
    // Its own tag call, and the cpu alarm's (in the index, not in this state).
    assert_eq!(tag_calls(&calls), 2, "{calls:?}");

    // Create over a taken name (the alarm that lost its tags, as another address): one
    // DescribeAlarms of the prefix says it exists, its tags say it is not ours: refused,
    // left alone.
    let before = env.counter.snapshot();
    let again = alarm_props(env, mem, "alarm.ecs_memory.other", 1.0, 60);
    let err = p.create(&env.ctx(), &addr("alarm.ecs_memory.other"), &again).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains("hactl:stack tag: none"), "{err}");
    assert_eq!(env.alarm(mem).await.unwrap().threshold(), Some(50.0));
    let after = env.counter.snapshot();
    let count = |op: &str| after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    assert_eq!(count("CloudWatch:DescribeAlarms"), 1);
    assert_eq!(count("CloudWatch:PutMetricAlarm"), 0);
    Ok(())
}

/// The emulator's Resource Groups Tagging API answers CloudWatch alarms as AWS does
/// (emulator/hactl_localstack_ext/hactl_localstack_ext/tagging_fixes.py): with their
/// current tags, filtered by tag and by type, and a deleted alarm's tags go with it.
#[tokio::test]
async fn the_tagging_api_answers_alarms() {
    let env = Env::new("cwt").await;
    let name = format!("{}-cpu", env.stack);
    let result = tagging_api(&env, &name).await;
    let _ = env.cw.delete_alarms().alarm_names(&name).send().await;
    result.unwrap();
}

async fn tagging_api(env: &Env, name: &str) -> Result<(), String> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let cfg = common::sdk_config().await;
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&cfg);
    let listed = || async {
        let out = tagging
            .get_resources()
            .tag_filters(TagFilter::builder().key(TAG_STACK).values(&env.stack).build())
            .resource_type_filters("cloudwatch:alarm")
            .send()
            .await
            .unwrap();
        out.resource_tag_mapping_list()
            .iter()
            .map(|m| {
                let tags: BTreeMap<String, String> =
                    m.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                (m.resource_arn().unwrap().to_string(), tags)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let props = alarm_props(env, name, "alarm.ecs_cpu.web", 50.0, 60);
    let applied =
        env.provider("cloudwatch.alarm").create(&env.ctx(), &addr("alarm.ecs_cpu.web"), &props).await;
    let arn = applied.map_err(|e| e.to_string())?.outputs["arn"].as_str().unwrap().to_string();
    let found = listed().await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn], "{found:?}");
    assert_eq!(found[&arn], env.alarm_tags(name).await);
    // A tag added later is answered too.
    env.cw
        .tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    assert_eq!(listed().await[&arn].get("team").map(String::as_str), Some("web"));
    // Deleted, then made again without tags: no tag of the old alarm is left.
    env.cw.delete_alarms().alarm_names(name).send().await.unwrap();
    assert!(listed().await.is_empty());
    env.cw
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .unwrap();
    assert!(listed().await.is_empty());
    assert_eq!(env.alarm_tags(name).await, BTreeMap::new());
    Ok(())
}
