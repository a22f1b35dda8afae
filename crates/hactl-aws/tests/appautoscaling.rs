//! Integration tests of `appautoscaling.target` and `appautoscaling.policy` against the
//! emulator (AWS_ENDPOINT_URL, default http://127.0.0.1:4566), on a real ECS service
//! (the emulator checks that the service exists). Effects are checked with the SDK.

use crate::common;

use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::types::{ScalingPolicy, ServiceNamespace};
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{diff_props, Address, Props, Value};
use hactl_engine::{Ctx, NullSink, ReadTarget, UpdateRequest};
use std::sync::Arc;

fn addr(s: &str) -> Address {
    Address::parse(s).expect("address")
}

fn target(address: &Address, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: address.clone(), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

/// An ECS cluster with one service (a minimal task definition), cleaned up on drop order
/// by `cleanup`.
struct EcsService {
    ecs: aws_sdk_ecs::Client,
    cluster: String,
    service: String,
    task_definition: String,
}

impl EcsService {
    async fn new(config: &SdkConfig, cluster: &str) -> EcsService {
        let ecs = aws_sdk_ecs::Client::new(config);
        ecs.create_cluster().cluster_name(cluster).send().await.expect("cluster");
        let td = ecs
            .register_task_definition()
            .family(cluster)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("web")
                    .image("nginx")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .expect("task definition");
        let td_arn = td.task_definition().and_then(|t| t.task_definition_arn()).expect("arn").to_string();
        ecs.create_service()
            .cluster(cluster)
            .service_name("web")
            .task_definition(&td_arn)
            .desired_count(1)
            .send()
            .await
            .expect("service");
        EcsService { ecs, cluster: cluster.to_string(), service: "web".into(), task_definition: td_arn }
    }

    fn resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }

    async fn cleanup(&self) {
        let _ =
            self.ecs.delete_service().cluster(&self.cluster).service(&self.service).force(true).send().await;
        let _ = self.ecs.delete_cluster().cluster(&self.cluster).send().await;
        let _ = self.ecs.deregister_task_definition().task_definition(&self.task_definition).send().await;
    }
}

fn target_props(resource_id: &str, min: i64, max: i64) -> Props {
    Props::from([
        ("service_namespace".to_string(), Value::str("ecs")),
        ("resource_id".to_string(), Value::str(resource_id)),
        ("scalable_dimension".to_string(), Value::str("ecs:service:DesiredCount")),
        ("min_capacity".to_string(), Value::Int(min)),
        ("max_capacity".to_string(), Value::Int(max)),
    ])
}

fn policy_props(name: &str, resource_id: &str, metric: &str, value: f64, label: Option<&str>) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("service_namespace".to_string(), Value::str("ecs")),
        ("resource_id".to_string(), Value::str(resource_id)),
        ("scalable_dimension".to_string(), Value::str("ecs:service:DesiredCount")),
        ("predefined_metric".to_string(), Value::str(metric)),
        ("target_value".to_string(), Value::Float(value)),
        ("scale_in_cooldown".to_string(), Value::Int(300)),
        ("scale_out_cooldown".to_string(), Value::Int(60)),
        ("resource_label".to_string(), label.map(Value::str).unwrap_or(Value::Null)),
    ])
}

async fn scalable_target(
    client: &aws_sdk_applicationautoscaling::Client,
    resource_id: &str,
) -> Option<aws_sdk_applicationautoscaling::types::ScalableTarget> {
    client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(resource_id)
        .send()
        .await
        .expect("describe targets")
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == resource_id)
        .cloned()
}

async fn policies(client: &aws_sdk_applicationautoscaling::Client, resource_id: &str) -> Vec<ScalingPolicy> {
    client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .send()
        .await
        .expect("describe policies")
        .scaling_policies()
        .iter()
        .filter(|p| p.resource_id() == resource_id)
        .cloned()
        .collect()
}

#[tokio::test]
async fn scalable_target_and_target_tracking_policies() {
    let config = sdk_config().await;
    let counter = ApiCounter::default();
    let reg = hactl_aws::registry(&config, &counter);
    let tp = reg.get("appautoscaling.target").expect("provider").clone();
    let pp = reg.get("appautoscaling.policy").expect("provider").clone();
    let client = aws_sdk_applicationautoscaling::Client::new(&config);
    let pid = std::process::id();
    let stack = format!("t{pid}-aas");
    let svc = EcsService::new(&config, &stack).await;
    let rid = svc.resource_id();
    let ctx = Ctx::new(&stack, Arc::new(NullSink));

    // A target for a service that does not exist: the emulator (like AWS) refuses; the
    // error is retryable (a service just created may not be visible yet).
    let missing = target_props(&format!("service/{stack}/nope"), 1, 2);
    let err = tp.create(&ctx, &addr("scalable_target.nope"), &missing).await.expect_err("no such service");
    assert!(err.is_retryable(), "{err}");

    // Target: create, verify, read without diff.
    let t_addr = addr("scalable_target.web");
    let mut t_props = target_props(&rid, 1, 4);
    let applied = tp.create(&ctx.for_address(&t_addr), &t_addr, &t_props).await.expect("create target");
    assert_eq!(applied.id, rid);
    let live = scalable_target(&client, &rid).await.expect("registered");
    assert_eq!((live.min_capacity(), live.max_capacity()), (1, 4));
    if let Some(arn) = live.scalable_target_arn() {
        assert_eq!(applied.outputs.get("arn"), Some(&Value::str(arn)));
    }
    let objs = tp.read(&ctx, &[target(&t_addr, None, &t_props)]).await.expect("read");
    let obj = objs.iter().find(|o| o.id == rid).expect("found by resource id");
    assert_eq!(obj.address.as_ref(), Some(&t_addr));
    assert_eq!(diff_props(tp.schema(), &t_props, &obj.props), vec![]);

    // Update in place.
    t_props.insert("max_capacity".into(), Value::Int(6));
    let changes = diff_props(tp.schema(), &t_props, &obj.props);
    tp.update(&ctx, UpdateRequest { address: &t_addr, id: &rid, desired: &t_props, changes: &changes })
        .await
        .expect("update target");
    assert_eq!(scalable_target(&client, &rid).await.expect("target").max_capacity(), 6);

    // Out of band: the minimum changed.
    client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&rid)
        .scalable_dimension(aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .send()
        .await
        .expect("out-of-band register");
    let objs = tp.read(&ctx, &[target(&t_addr, Some(&rid), &t_props)]).await.expect("read");
    let changes = diff_props(tp.schema(), &t_props, &objs[0].props);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].name, "min_capacity");
    assert_eq!(changes[0].before, Some(Value::Int(2)));

    // Policies: CPU (no resource label) and ALB requests per target (with one).
    let cpu_addr = addr("scaling_policy.web.cpu");
    let req_addr = addr("scaling_policy.web.requests");
    let label = "app/t-alb/0123456789abcdef/targetgroup/t-web/fedcba9876543210";
    let cpu = policy_props(&format!("{stack}-web-cpu"), &rid, "ECSServiceAverageCPUUtilization", 70.0, None);
    let mut req =
        policy_props(&format!("{stack}-web-requests"), &rid, "ALBRequestCountPerTarget", 1000.5, Some(label));
    let cpu_arn = pp.create(&ctx.for_address(&cpu_addr), &cpu_addr, &cpu).await.expect("cpu policy").id;
    let req_arn = pp.create(&ctx.for_address(&req_addr), &req_addr, &req).await.expect("requests policy").id;
    let live = policies(&client, &rid).await;
    assert_eq!(live.len(), 2);
    let req_live = live.iter().find(|p| p.policy_arn() == req_arn).expect("requests policy live");
    let ttc = req_live.target_tracking_scaling_policy_configuration().expect("target tracking");
    assert_eq!(ttc.target_value(), 1000.5);
    assert_eq!(ttc.scale_in_cooldown(), Some(300));
    let spec = ttc.predefined_metric_specification().expect("metric");
    assert_eq!(spec.predefined_metric_type().as_str(), "ALBRequestCountPerTarget");
    assert_eq!(spec.resource_label(), Some(label));
    assert!(live.iter().any(|p| p.policy_arn() == cpu_arn));

    // Read: both policies in one DescribeScalingPolicies call, no diff.
    let before = counter.snapshot();
    let objs = pp
        .read(&ctx, &[target(&cpu_addr, Some(&cpu_arn), &cpu), target(&req_addr, None, &req)])
        .await
        .expect("read policies");
    let calls = |s: &std::collections::BTreeMap<String, u64>| {
        s.iter().filter(|(k, _)| k.ends_with(":DescribeScalingPolicies")).map(|(_, v)| v).sum::<u64>()
    };
    assert_eq!(calls(&counter.snapshot()) - calls(&before), 1, "one describe for every policy");
    assert_eq!(objs.len(), 2, "only the targets' policies: {objs:?}");
    let cpu_obj = objs.iter().find(|o| o.id == cpu_arn).expect("cpu read");
    let req_obj = objs.iter().find(|o| o.address.as_ref() == Some(&req_addr)).expect("requests read by name");
    assert_eq!(diff_props(pp.schema(), &cpu, &cpu_obj.props), vec![]);
    assert_eq!(diff_props(pp.schema(), &req, &req_obj.props), vec![]);
    assert_eq!(cpu_obj.props["resource_label"], Value::Null);

    // Update in place: a new float target value.
    req.insert("target_value".into(), Value::Float(750.25));
    let changes = diff_props(pp.schema(), &req, &req_obj.props);
    assert_eq!(changes.len(), 1);
    let applied = pp
        .update(&ctx, UpdateRequest { address: &req_addr, id: &req_arn, desired: &req, changes: &changes })
        .await
        .expect("update policy");
    let req_arn = applied.id;
    let live = policies(&client, &rid).await;
    let req_live = live.iter().find(|p| p.policy_arn() == req_arn).expect("updated policy");
    assert_eq!(
        req_live.target_tracking_scaling_policy_configuration().map(|c| c.target_value()),
        Some(750.25)
    );
    assert_eq!(live.len(), 2, "updated in place, not added");

    // Out of band: the CPU target value changed.
    client
        .put_scaling_policy()
        .policy_name(format!("{stack}-web-cpu"))
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&rid)
        .scalable_dimension(aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount)
        .policy_type(aws_sdk_applicationautoscaling::types::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(
            aws_sdk_applicationautoscaling::types::TargetTrackingScalingPolicyConfiguration::builder()
                .target_value(40.0)
                .predefined_metric_specification(
                    aws_sdk_applicationautoscaling::types::PredefinedMetricSpecification::builder()
                        .predefined_metric_type(
                            aws_sdk_applicationautoscaling::types::MetricType::EcsServiceAverageCpuUtilization,
                        )
                        .build()
                        .expect("metric"),
                )
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("out-of-band put");
    let objs = pp
        .read(&ctx, &[target(&cpu_addr, Some(&cpu_arn), &cpu), target(&req_addr, Some(&req_arn), &req)])
        .await
        .expect("read policies");
    let cpu_obj = objs.iter().find(|o| o.address.as_ref() == Some(&cpu_addr)).expect("cpu read");
    let mut changed: Vec<String> =
        diff_props(pp.schema(), &cpu, &cpu_obj.props).into_iter().map(|c| c.name).collect();
    changed.sort();
    // The out-of-band put dropped the cooldowns as well.
    assert_eq!(changed, ["scale_in_cooldown", "scale_out_cooldown", "target_value"]);
    let cpu_arn = cpu_obj.id.clone();

    // Delete: policies, then the target; gone; deleting again is fine.
    pp.delete(&ctx, &cpu_arn, &cpu).await.expect("delete cpu");
    pp.delete(&ctx, &req_arn, &req).await.expect("delete requests");
    assert!(policies(&client, &rid).await.is_empty(), "policies gone");
    pp.delete(&ctx, &cpu_arn, &cpu).await.expect("delete cpu again");
    // Without recorded properties the ARN tells which policy it is.
    pp.delete(&ctx, &req_arn, &Props::new()).await.expect("delete requests again, by ARN");
    tp.delete(&ctx, &rid, &t_props).await.expect("delete target");
    assert!(scalable_target(&client, &rid).await.is_none(), "target gone");
    tp.delete(&ctx, &rid, &t_props).await.expect("delete target again");
    assert!(tp.read(&ctx, &[target(&t_addr, Some(&rid), &t_props)]).await.expect("read").is_empty());
    assert!(pp.read(&ctx, &[target(&cpu_addr, Some(&cpu_arn), &cpu)]).await.expect("read").is_empty());

    svc.cleanup().await;
}

fn action_props(name: &str, resource_id: &str, schedule: &str, min: Value, max: Value) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("service_namespace".to_string(), Value::str("ecs")),
        ("resource_id".to_string(), Value::str(resource_id)),
        ("scalable_dimension".to_string(), Value::str("ecs:service:DesiredCount")),
        ("schedule".to_string(), Value::str(schedule)),
        ("timezone".to_string(), Value::str("Europe/Paris")),
        ("min_capacity".to_string(), min),
        ("max_capacity".to_string(), max),
    ])
}

/// Scheduled actions: put, read by name without diff, updated in place, changed out of
/// band, deleted (twice); and the target reads the sizes an action sets as configured.
#[tokio::test]
async fn scheduled_actions_and_the_sizes_they_set() {
    let config = sdk_config().await;
    let counter = ApiCounter::default();
    let reg = hactl_aws::registry(&config, &counter);
    let tp = reg.get("appautoscaling.target").expect("provider").clone();
    let ap = reg.get("appautoscaling.scheduled_action").expect("provider").clone();
    let client = aws_sdk_applicationautoscaling::Client::new(&config);
    let stack = format!("t{}-aas-sched", std::process::id());
    let svc = EcsService::new(&config, &stack).await;
    let rid = svc.resource_id();
    let ctx = Ctx::new(&stack, Arc::new(NullSink));

    let t_addr = addr("scalable_target.web");
    let mut t_props = target_props(&rid, 2, 6);
    let night = Value::List(vec![Value::Map(
        [("min".to_string(), Value::Int(1)), ("max".to_string(), Value::Int(1))].into(),
    )]);
    t_props.insert("scheduled_capacities".into(), night);
    tp.create(&ctx, &t_addr, &t_props).await.expect("create target");

    let a_addr = addr("scheduled_action.web.night");
    let name = format!("{stack}-web-night");
    let mut a_props = action_props(&name, &rid, "cron(0 20 ? * MON-FRI *)", Value::Int(1), Value::Int(1));
    let applied = ap.create(&ctx, &a_addr, &a_props).await.expect("create action");
    assert_eq!(applied.id, format!("{rid}|{name}"));
    let live = client
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&rid)
        .send()
        .await
        .expect("describe");
    let a = &live.scheduled_actions()[0];
    assert_eq!((a.schedule(), a.timezone()), ("cron(0 20 ? * MON-FRI *)", Some("Europe/Paris")));
    let objs = ap.read(&ctx, &[target(&a_addr, None, &a_props)]).await.expect("read");
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0].address.as_ref(), Some(&a_addr));
    assert_eq!(diff_props(ap.schema(), &a_props, &objs[0].props), vec![]);

    // In place: a later time and only a max.
    a_props.insert("schedule".into(), Value::str("cron(30 21 ? * MON-FRI *)"));
    a_props.insert("min_capacity".into(), Value::Null);
    let changes = diff_props(ap.schema(), &a_props, &objs[0].props);
    assert_eq!(changes.len(), 2, "{changes:?}");
    ap.update(
        &ctx,
        UpdateRequest { address: &a_addr, id: &applied.id, desired: &a_props, changes: &changes },
    )
    .await
    .expect("update action");
    let objs = ap.read(&ctx, &[target(&a_addr, Some(&applied.id), &a_props)]).await.expect("read");
    assert_eq!(diff_props(ap.schema(), &a_props, &objs[0].props), vec![]);

    // The target reads the sizes of the stack's actions from AWS (now: max 1 only).
    let pairs = |min: Value, max: Value| {
        Value::List(vec![Value::Map([("min".to_string(), min), ("max".to_string(), max)].into())])
    };
    t_props.insert("scheduled_capacities".into(), pairs(Value::Null, Value::Int(1)));
    let objs = tp.read(&ctx, &[target(&t_addr, Some(&rid), &t_props)]).await.expect("read target");
    assert_eq!(objs[0].props["scheduled_capacities"], pairs(Value::Null, Value::Int(1)));

    // The action fires (here by hand): max 1 reads as the configured 6; a size no action
    // sets (min 3) reads as it is.
    let set = |min: i32, max: i32| {
        client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&rid)
            .scalable_dimension(
                aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
            )
            .min_capacity(min)
            .max_capacity(max)
            .send()
    };
    set(2, 1).await.expect("night sizes");
    let objs = tp.read(&ctx, &[target(&t_addr, Some(&rid), &t_props)]).await.expect("read target");
    assert_eq!(tp.diff(&t_props, &objs[0].props), vec![]);
    set(3, 1).await.expect("sizes by hand");
    let objs = tp.read(&ctx, &[target(&t_addr, Some(&rid), &t_props)]).await.expect("read target");
    let changes = tp.diff(&t_props, &objs[0].props);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!((changes[0].name.as_str(), changes[0].before.clone()), ("min_capacity", Some(Value::Int(3))));

    // Deleted out of band: reads as absent; delete is idempotent.
    ap.delete(&ctx, &applied.id, &a_props).await.expect("delete action");
    assert!(ap.read(&ctx, &[target(&a_addr, Some(&applied.id), &a_props)]).await.expect("read").is_empty());
    ap.delete(&ctx, &applied.id, &a_props).await.expect("delete action again");
    tp.delete(&ctx, &rid, &t_props).await.expect("delete target");
    svc.cleanup().await;
}
