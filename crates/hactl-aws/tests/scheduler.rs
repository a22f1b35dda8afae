//! The `scheduler.schedule_group` and `scheduler.schedule` providers against the emulator:
//! driven directly through the registry, every effect checked with the Scheduler SDK,
//! names unique per process, everything removed at the end.

use crate::common;

use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{
    AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode,
    LaunchType, NetworkConfiguration, PropagateTags, RetryPolicy, ScheduleState, Tag, Target,
};
use aws_sdk_scheduler::Client;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

const GROUP_KIND: &str = "scheduler.schedule_group";
const KIND: &str = "scheduler.schedule";
const GROUP_ADDRESS: &str = "schedule_group.main";
const ADDRESS: &str = "schedule.drift";
const ACCOUNT: &str = "000000000000";

struct Env {
    sch: Client,
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
        Env { sch: Client::new(&cfg), h }
    }

    fn group(&self) -> String {
        format!("hactl-{}", self.stack)
    }

    async fn group_exists(&self, name: &str) -> bool {
        match self.sch.get_schedule_group().name(name).send().await {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(
                    aws_sdk_scheduler::error::ProvideErrorMetadata::code(&e),
                    Some("ResourceNotFoundException"),
                    "{e:?}"
                );
                false
            }
        }
    }

    async fn group_tags(&self, name: &str) -> BTreeMap<String, String> {
        let arn = group_arn(name);
        let out = self.sch.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
    }

    async fn schedule(&self, group: &str, name: &str) -> Option<GetScheduleOutput> {
        match self.sch.get_schedule().group_name(group).name(name).send().await {
            Ok(s) => Some(s),
            Err(e) => {
                assert_eq!(
                    aws_sdk_scheduler::error::ProvideErrorMetadata::code(&e),
                    Some("ResourceNotFoundException"),
                    "{e:?}"
                );
                None
            }
        }
    }

    /// Creates a group outside hactl with these tags.
    async fn create_group(&self, name: &str, tags: &[(&str, &str)]) {
        let mut req = self.sch.create_schedule_group().name(name);
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build().unwrap());
        }
        req.send().await.unwrap();
    }

    /// Creates (or, with `update`, replaces) a schedule outside hactl.
    async fn put_schedule(&self, group: &str, name: &str, expression: &str, task_def: &str, update: bool) {
        let target = sdk_target(&self.stack, task_def);
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap();
        if update {
            self.sch
                .update_schedule()
                .group_name(group)
                .name(name)
                .description("hactl drift job")
                .schedule_expression(expression)
                .schedule_expression_timezone("UTC")
                .state(ScheduleState::Enabled)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .unwrap();
        } else {
            self.sch
                .create_schedule()
                .group_name(group)
                .name(name)
                .schedule_expression(expression)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .unwrap();
        }
    }

    /// Removes what a test may have left (schedules go with their group).
    async fn cleanup(&self, groups: &[&str]) {
        for g in groups {
            if self.group_exists(g).await {
                let _ = self.sch.delete_schedule_group().name(*g).send().await;
            }
        }
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: &str, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: Some(id.to_string()), props: props.clone(), recorded: None }
}

fn group_arn(name: &str) -> String {
    format!("arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/{name}")
}

fn cluster_arn(stack: &str) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{stack}")
}

fn role_arn(stack: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{stack}-drift-scheduler")
}

fn task_def_arn(stack: &str, revision: u32) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{stack}-drift:{revision}")
}

/// The same ECS target as the desired one of [`schedule_props`] (revision 1), through the SDK.
fn sdk_target(stack: &str, task_def: &str) -> Target {
    let vpc = AwsVpcConfiguration::builder()
        .subnets("subnet-0b")
        .subnets("subnet-0a")
        .security_groups("sg-01")
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .unwrap();
    Target::builder()
        .arn(cluster_arn(stack))
        .role_arn(role_arn(stack))
        .retry_policy(
            RetryPolicy::builder().maximum_retry_attempts(2).maximum_event_age_in_seconds(3600).build(),
        )
        .ecs_parameters(
            EcsParameters::builder()
                .task_definition_arn(task_def)
                .launch_type(LaunchType::Fargate)
                .task_count(1)
                .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
                .enable_ecs_managed_tags(true)
                .propagate_tags(PropagateTags::TaskDefinition)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn group_props(env: &Env, name: &str, address: &str, extra: &[(&str, &str)]) -> Props {
    Props::from([("name".to_string(), Value::str(name)), ("tags".to_string(), env.tags(address, extra))])
}

fn schedule_props(stack: &str, group: &str, expression: &str, revision: u32, subnets: &[&str]) -> Props {
    let ecs = Props::from([
        ("task_definition_arn".to_string(), Value::str(task_def_arn(stack, revision))),
        ("launch_type".to_string(), Value::str("FARGATE")),
        ("task_count".to_string(), Value::Int(1)),
        ("subnets".to_string(), Value::from_strings(subnets.iter().copied())),
        ("security_groups".to_string(), Value::from_strings(["sg-01"])),
        ("assign_public_ip".to_string(), Value::Bool(false)),
        ("enable_managed_tags".to_string(), Value::Bool(true)),
        ("propagate_tags".to_string(), Value::str("TASK_DEFINITION")),
    ]);
    let target = Props::from([
        ("arn".to_string(), Value::str(cluster_arn(stack))),
        ("role_arn".to_string(), Value::str(role_arn(stack))),
        ("retry_attempts".to_string(), Value::Int(2)),
        ("max_event_age".to_string(), Value::Int(3600)),
        ("ecs".to_string(), Value::Map(ecs)),
    ]);
    Props::from([
        ("name".to_string(), Value::str("drift")),
        ("group_name".to_string(), Value::str(group)),
        ("description".to_string(), Value::str("hactl drift job")),
        ("schedule_expression".to_string(), Value::str(expression)),
        ("timezone".to_string(), Value::str("UTC")),
        ("state".to_string(), Value::str("ENABLED")),
        ("flexible_window_minutes".to_string(), Value::Null),
        ("target".to_string(), Value::Map(target)),
    ])
}

fn names(changes: &[hactl_core::PropChange]) -> Vec<&str> {
    changes.iter().map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn group_and_schedule_create_read_update_drift_adopt_delete() {
    let env = Env::new("sched").await;
    let group = env.group();
    // Shares our group name prefix `hactl-<stack>` but is another stack's.
    let foreign = format!("{group}-foreign");
    let result = lifecycle(&env, &group, &foreign).await;
    env.cleanup(&[&group, &foreign]).await;
    result.unwrap();
}

async fn lifecycle(env: &Env, group: &str, foreign: &str) -> Result<(), String> {
    let gp = env.provider(GROUP_KIND);
    let gprovider = env.registry.get(GROUP_KIND).unwrap().clone();
    let sp = env.provider(KIND);
    let provider = env.registry.get(KIND).unwrap().clone();
    let e = |e: hactl_engine::ProviderError| e.to_string();

    // Group: create with tags.
    let gprops = group_props(env, group, GROUP_ADDRESS, &[("Name", group)]);
    let applied = gp.create(&env.ctx(), &addr(GROUP_ADDRESS), &gprops).await.map_err(e)?;
    assert_eq!(applied.id, group);
    assert_eq!(applied.outputs["arn"], Value::str(group_arn(group)));
    assert_eq!(applied.outputs["name"], Value::str(group));
    assert!(env.group_exists(group).await);
    assert_eq!(env.group_tags(group).await, gprops["tags"].string_map());

    // Read: no diff; one list + one tag call.
    let gt = target(GROUP_ADDRESS, group, &gprops);
    let (objs, calls) = env.read(GROUP_KIND, std::slice::from_ref(&gt)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned);
    assert_eq!(objs[0].address, Some(addr(GROUP_ADDRESS)));
    assert_eq!(objs[0].outputs["arn"], Value::str(group_arn(group)));
    assert_eq!(gprovider.diff(&gprops, &objs[0].props), vec![]);
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Scheduler:ListScheduleGroups".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1)
        ])
    );

    // Group tags in place.
    let tagged = group_props(env, group, GROUP_ADDRESS, &[("Name", group), ("team", "ops")]);
    let changes = gprovider.diff(&tagged, &objs[0].props);
    assert_eq!(names(&changes), ["tags"]);
    gp.update(
        &env.ctx(),
        UpdateRequest { address: &gt.address, id: group, desired: &tagged, changes: &changes },
    )
    .await
    .map_err(e)?;
    assert_eq!(env.group_tags(group).await.get("team").map(String::as_str), Some("ops"));
    let live = env.read_one(GROUP_KIND, &gt).await.unwrap();
    let changes = gprovider.diff(&gprops, &live.props);
    assert_eq!(names(&changes), ["tags"]);
    gp.update(
        &env.ctx(),
        UpdateRequest { address: &gt.address, id: group, desired: &gprops, changes: &changes },
    )
    .await
    .map_err(e)?;
    assert_eq!(env.group_tags(group).await, gprops["tags"].string_map());

    // Schedule: create with a full ECS target (subnets in zone order, not sorted: the
    // read must not see a diff in the order).
    let props = schedule_props(&env.stack, group, "rate(15 minutes)", 1, &["subnet-0b", "subnet-0a"]);
    let id = format!("{group}/drift");
    let arn = format!("arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/{group}/drift");
    let applied = sp.create(&env.ctx(), &addr(ADDRESS), &props).await.map_err(e)?;
    assert_eq!(applied.id, id);
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    assert_eq!(applied.outputs["name"], Value::str("drift"));
    assert_eq!(applied.outputs["group_name"], Value::str(group));
    let live = env.schedule(group, "drift").await.expect("schedule created");
    assert_eq!(live.schedule_expression(), Some("rate(15 minutes)"));
    assert_eq!(live.description(), Some("hactl drift job"));
    assert_eq!(live.state(), Some(&ScheduleState::Enabled));
    assert_eq!(live.flexible_time_window().map(|w| w.mode()), Some(&FlexibleTimeWindowMode::Off));
    let t = live.target().unwrap();
    assert_eq!(t.arn(), cluster_arn(&env.stack));
    assert_eq!(t.role_arn(), role_arn(&env.stack));
    assert_eq!(t.retry_policy().and_then(|r| r.maximum_retry_attempts()), Some(2));
    assert_eq!(t.retry_policy().and_then(|r| r.maximum_event_age_in_seconds()), Some(3600));
    let ecs = t.ecs_parameters().unwrap();
    assert_eq!(ecs.task_definition_arn(), task_def_arn(&env.stack, 1));
    assert_eq!(ecs.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(ecs.task_count(), Some(1));
    assert_eq!(ecs.enable_ecs_managed_tags(), Some(true));
    assert_eq!(ecs.propagate_tags(), Some(&PropagateTags::TaskDefinition));
    let vpc = ecs.network_configuration().and_then(|n| n.awsvpc_configuration()).unwrap();
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    assert_eq!(subnets, ["subnet-0a", "subnet-0b"]);
    assert_eq!(vpc.security_groups(), ["sg-01"]);
    assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Disabled));

    // Read: no diff; group list + tags, one ListSchedules, one GetSchedule.
    let st = target(ADDRESS, &id, &props);
    let (objs, calls) = env.read(KIND, std::slice::from_ref(&st)).await;
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert!(objs[0].owned);
    assert_eq!(objs[0].address, Some(addr(ADDRESS)));
    assert_eq!(objs[0].outputs["arn"], Value::str(&arn));
    assert_eq!(provider.diff(&props, &objs[0].props), vec![]);
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Scheduler:ListScheduleGroups".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1),
            ("Scheduler:ListSchedules".to_string(), 1),
            ("Scheduler:GetSchedule".to_string(), 1)
        ])
    );
    // Without a recorded id the target's group and name find it too.
    let (objs, _) = env.read(KIND, &[ReadTarget { id: None, ..st.clone() }]).await;
    assert_eq!((objs.len(), objs[0].address.clone()), (1, Some(addr(ADDRESS))));

    // In place: expression, task definition, subnets, window and state.
    let mut desired =
        schedule_props(&env.stack, group, "rate(30 minutes)", 2, &["subnet-0a", "subnet-0b", "subnet-0c"]);
    desired.insert("flexible_window_minutes".to_string(), Value::Int(10));
    desired.insert("state".to_string(), Value::str("DISABLED"));
    let changes = provider.diff(&desired, &objs[0].props);
    assert_eq!(names(&changes), ["flexible_window_minutes", "schedule_expression", "state", "target"]);
    assert!(changes.iter().all(|c| !c.forces_replacement));
    sp.update(
        &env.ctx(),
        UpdateRequest { address: &st.address, id: &id, desired: &desired, changes: &changes },
    )
    .await
    .map_err(e)?;
    let live = env.schedule(group, "drift").await.unwrap();
    assert_eq!(live.schedule_expression(), Some("rate(30 minutes)"));
    assert_eq!(live.state(), Some(&ScheduleState::Disabled));
    let w = live.flexible_time_window().unwrap();
    assert_eq!((w.mode(), w.maximum_window_in_minutes()), (&FlexibleTimeWindowMode::Flexible, Some(10)));
    assert_eq!(live.description(), Some("hactl drift job"), "the rest of the schedule is kept");
    let ecs = live.target().unwrap().ecs_parameters().unwrap();
    assert_eq!(ecs.task_definition_arn(), task_def_arn(&env.stack, 2));
    let vpc = ecs.network_configuration().and_then(|n| n.awsvpc_configuration()).unwrap();
    assert_eq!(vpc.subnets(), ["subnet-0a", "subnet-0b", "subnet-0c"]);
    assert_eq!(ecs.propagate_tags(), Some(&PropagateTags::TaskDefinition));
    assert_eq!(live.target().unwrap().retry_policy().and_then(|r| r.maximum_retry_attempts()), Some(2));
    let st = target(ADDRESS, &id, &desired);
    assert_eq!(provider.diff(&desired, &env.read_one(KIND, &st).await.unwrap().props), vec![]);
    // Back to the first definition.
    let changes = provider.diff(&props, &env.read_one(KIND, &st).await.unwrap().props);
    sp.update(
        &env.ctx(),
        UpdateRequest { address: &st.address, id: &id, desired: &props, changes: &changes },
    )
    .await
    .map_err(e)?;
    let st = target(ADDRESS, &id, &props);
    assert_eq!(provider.diff(&props, &env.read_one(KIND, &st).await.unwrap().props), vec![]);

    // Out of band: UpdateSchedule with another expression (subnets sent unsorted) is
    // exactly that drift.
    env.put_schedule(group, "drift", "rate(1 hour)", &task_def_arn(&env.stack, 1), true).await;
    let live = env.read_one(KIND, &st).await.unwrap();
    let drift = provider.diff(&props, &live.props);
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(
        (drift[0].name.as_str(), drift[0].before.clone()),
        ("schedule_expression", Some(Value::str("rate(1 hour)")))
    );
    sp.update(&env.ctx(), UpdateRequest { address: &st.address, id: &id, desired: &props, changes: &drift })
        .await
        .map_err(e)?;
    assert_eq!(env.schedule(group, "drift").await.unwrap().schedule_expression(), Some("rate(15 minutes)"));

    // A schedule created out of band in our group is read as ours but of no address
    // (unmanaged).
    env.put_schedule(group, "manual", "rate(5 minutes)", &task_def_arn(&env.stack, 1), false).await;
    let (objs, _) = env.read(KIND, std::slice::from_ref(&st)).await;
    let mut seen: Vec<(&str, bool, Option<Address>)> =
        objs.iter().map(|o| (o.id.as_str(), o.owned, o.address.clone())).collect();
    seen.sort();
    let manual_id = format!("{group}/manual");
    assert_eq!(seen, [(id.as_str(), true, Some(addr(ADDRESS))), (manual_id.as_str(), true, None)]);

    // Another stack's group under our prefix: never read, its schedules neither.
    env.create_group(foreign, &[(TAG_STACK, "someone-else"), (TAG_ADDRESS, GROUP_ADDRESS)]).await;
    env.put_schedule(foreign, "drift", "rate(5 minutes)", &task_def_arn(&env.stack, 1), false).await;
    let (objs, _) = env.read(GROUP_KIND, std::slice::from_ref(&gt)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [group]);
    let (objs, _) = env.read(KIND, std::slice::from_ref(&st)).await;
    assert!(objs.iter().all(|o| !o.id.starts_with(&format!("{foreign}/"))), "{objs:?}");

    // Adoption. A group create retried after a crash adopts our group (its schedules kept)
    // and converges its tags ...
    env.sch
        .tag_resource()
        .resource_arn(group_arn(group))
        .tags(Tag::builder().key("extra").value("1").build().unwrap())
        .send()
        .await
        .unwrap();
    let again = gp.create(&env.ctx(), &addr(GROUP_ADDRESS), &gprops).await.map_err(e)?;
    assert_eq!((again.id.as_str(), again.outputs["arn"].clone()), (group, Value::str(group_arn(group))));
    assert_eq!(env.group_tags(group).await, gprops["tags"].string_map());
    assert!(env.schedule(group, "drift").await.is_some(), "adoption keeps the group's schedules");
    assert!(env.schedule(group, "manual").await.is_some());
    // ... but not as another address, nor another stack's group (left untouched).
    let err = gp.create(&env.ctx(), &addr("schedule_group.other"), &gprops).await.unwrap_err();
    assert!(!err.is_retryable() && err.message().contains(GROUP_ADDRESS), "{err}");
    let theirs = group_props(env, foreign, GROUP_ADDRESS, &[]);
    let err = gp.create(&env.ctx(), &addr(GROUP_ADDRESS), &theirs).await.unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("someone-else"), "{err}");
    assert_eq!(env.group_tags(foreign).await.get(TAG_STACK).map(String::as_str), Some("someone-else"));
    assert!(env.schedule(foreign, "drift").await.is_some(), "the other stack's group is left alone");

    // A schedule create retried after a crash adopts ours and converges it ...
    env.put_schedule(group, "drift", "rate(2 hours)", &task_def_arn(&env.stack, 7), true).await;
    let again = sp.create(&env.ctx(), &addr(ADDRESS), &props).await.map_err(e)?;
    assert_eq!((again.id.as_str(), again.outputs["arn"].clone()), (id.as_str(), Value::str(&arn)));
    let live = env.schedule(group, "drift").await.unwrap();
    assert_eq!(live.schedule_expression(), Some("rate(15 minutes)"));
    let ecs = live.target().unwrap().ecs_parameters().unwrap();
    assert_eq!(ecs.task_definition_arn(), task_def_arn(&env.stack, 1));
    assert_eq!(provider.diff(&props, &env.read_one(KIND, &st).await.unwrap().props), vec![]);
    // ... but refuses one in another stack's group, leaving it alone.
    let theirs = schedule_props(&env.stack, foreign, "rate(15 minutes)", 1, &["subnet-0a"]);
    let err = sp.create(&env.ctx(), &addr(ADDRESS), &theirs).await.unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("someone-else"), "{err}");
    assert_eq!(env.schedule(foreign, "drift").await.unwrap().schedule_expression(), Some("rate(5 minutes)"));

    // Delete the schedule: gone, no longer read; again is fine.
    sp.delete(&env.ctx(), &id, &props).await.map_err(e)?;
    assert!(env.schedule(group, "drift").await.is_none());
    assert!(env.read_one(KIND, &st).await.is_none());
    sp.delete(&env.ctx(), &id, &props).await.map_err(e)?;

    // Delete the group: gone with its schedules; again is fine.
    gp.delete(&env.ctx(), group, &gprops).await.map_err(e)?;
    assert!(!env.group_exists(group).await);
    assert!(env.schedule(group, "manual").await.is_none());
    assert!(env.read_one(GROUP_KIND, &gt).await.is_none());
    let (objs, _) = env.read(KIND, std::slice::from_ref(&st)).await;
    assert!(objs.is_empty(), "{objs:?}");
    gp.delete(&env.ctx(), group, &gprops).await.map_err(e)?;
    sp.delete(&env.ctx(), &id, &props).await.map_err(e)?;

    // Created again, the group has exactly the desired tags (the emulator keeps those of
    // a deleted group) and no schedules.
    gp.create(&env.ctx(), &addr(GROUP_ADDRESS), &tagged).await.map_err(e)?;
    gp.delete(&env.ctx(), group, &tagged).await.map_err(e)?;
    gp.create(&env.ctx(), &addr(GROUP_ADDRESS), &gprops).await.map_err(e)?;
    assert_eq!(env.group_tags(group).await, gprops["tags"].string_map());
    let (objs, _) = env.read(KIND, &[]).await;
    assert!(objs.is_empty(), "{objs:?}");
    gp.delete(&env.ctx(), group, &gprops).await.map_err(e)?;
    assert!(!env.group_exists(group).await);
    Ok(())
}
