//! ECS providers against the emulator (AWS_ENDPOINT_URL, default http://127.0.0.1:4566):
//! cluster, capacity provider, cluster capacity providers, task definition, service.
//! Every effect is checked with the SDK directly, not through the providers' reads.
//!
//! `service_lifecycle` needs the emulator's ECS fidelity fix
//! (emulator/hactl_localstack_ext: services report their tasks running); without it a
//! service never becomes stable and the test fails at its first wait.

use crate::common;

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, ServiceField};
use common::sdk_config;
use hactl_core::{Address, Props, Value};
use hactl_engine::{
    Ctx, Event, EventSink, LiveObject, Provider, ProviderError, ReadTarget, Registry, UpdateRequest,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Env {
    registry: Registry,
    counter: hactl_aws::ApiCounter,
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

async fn env() -> Env {
    let config = sdk_config().await;
    let counter = hactl_aws::ApiCounter::default();
    Env {
        registry: hactl_aws::registry(&config, &counter),
        counter,
        ecs: aws_sdk_ecs::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        asg: aws_sdk_autoscaling::Client::new(&config),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
    }
}

impl Env {
    fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).unwrap().clone()
    }
}

/// Progress messages a provider reported.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        if let Event::Progress { message, .. } = event {
            self.0.lock().unwrap().push(message);
        }
    }
}

/// Runs `steps` (spawned, so that a failed assertion is caught), then `cleanup` whatever
/// happened (the emulator is shared: nothing is left behind), then re-raises a failure.
async fn guarded<F, C>(steps: F, cleanup: C)
where
    F: std::future::Future<Output = ()> + Send + 'static,
    C: std::future::Future<Output = ()>,
{
    let result = tokio::spawn(steps).await;
    cleanup.await;
    if let Err(e) = result {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

/// Best-effort removal of a cluster and its services (test cleanup).
async fn remove_cluster(e: &Env, cluster: &str) {
    if let Ok(out) = e.ecs.list_services().cluster(cluster).send().await {
        for s in out.service_arns() {
            let _ = e.ecs.update_service().cluster(cluster).service(s).desired_count(0).send().await;
            let _ = e.ecs.delete_service().cluster(cluster).service(s).force(true).send().await;
        }
    }
    let _ = e
        .ecs
        .put_cluster_capacity_providers()
        .cluster(cluster)
        .set_capacity_providers(Some(vec![]))
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await;
    let _ = e.ecs.delete_cluster().cluster(cluster).send().await;
}

/// Best-effort deregistration of every ACTIVE revision of a family (test cleanup).
async fn remove_family(e: &Env, family: &str) {
    if let Ok(out) = e
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
    {
        for arn in out.task_definition_arns() {
            let _ = e.ecs.deregister_task_definition().task_definition(arn).send().await;
        }
    }
}

fn ctx(stack: &str, sink: Arc<dyn EventSink>) -> Ctx {
    let mut c = Ctx::new(stack, sink);
    c.wait_timeout = Duration::from_secs(120);
    c.poll_max = Duration::from_secs(2);
    c
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A stack name unique to this test run.
fn stack(test: &str) -> String {
    format!("ecst{}-{test}", std::process::id())
}

fn tags(stack: &str, address: &Address) -> Value {
    Value::from_string_map([
        ("hactl:stack", stack),
        ("hactl:address", address.as_str()),
        ("Name", &format!("{stack}-{}", address.as_str())),
    ])
}

fn props(items: &[(&str, Value)]) -> Props {
    items.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn map(items: &[(&str, Value)]) -> Value {
    Value::Map(items.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn target(address: &Address, id: Option<&str>, desired: &Props, recorded: Option<&Props>) -> ReadTarget {
    ReadTarget {
        address: address.clone(),
        id: id.map(String::from),
        props: desired.clone(),
        recorded: recorded.cloned(),
    }
}

/// Reads one target and returns the object matched to it (by id, else by address).
async fn read_one(
    p: &Arc<dyn Provider>,
    ctx: &Ctx,
    t: ReadTarget,
) -> Result<Option<LiveObject>, ProviderError> {
    let objs = p.read(&ctx.with_fresh_cache(), std::slice::from_ref(&t)).await?;
    Ok(objs
        .iter()
        .find(|o| Some(&o.id) == t.id.as_ref())
        .or_else(|| objs.iter().find(|o| o.address.as_ref() == Some(&t.address)))
        .cloned())
}

/// Diffs desired against live and applies the changes in place.
async fn update(
    p: &Arc<dyn Provider>,
    ctx: &Ctx,
    address: &Address,
    id: &str,
    desired: &Props,
    live: &Props,
) -> Result<hactl_engine::Applied, ProviderError> {
    let changes = p.diff(desired, live);
    assert!(!changes.is_empty(), "expected changes to apply");
    assert!(changes.iter().all(|c| !c.forces_replacement), "in-place changes only: {changes:?}");
    p.update(&ctx.for_address(address), UpdateRequest { address, id, desired, changes: &changes }).await
}

fn assert_no_diff(p: &Arc<dyn Provider>, desired: &Props, live: &LiveObject) {
    let changes = p.diff(desired, &live.props);
    assert!(changes.is_empty(), "false drift: {changes:#?}\nlive: {:#?}", live.props);
}

fn changed(p: &Arc<dyn Provider>, desired: &Props, live: &LiveObject) -> Vec<String> {
    p.diff(desired, &live.props).into_iter().map(|c| c.name).collect()
}

fn ecs_tags(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect()
}

async fn describe_cluster(e: &Env, name: &str) -> Option<aws_sdk_ecs::types::Cluster> {
    let out = e
        .ecs
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Tags)
        .include(ClusterField::Settings)
        .send()
        .await
        .unwrap();
    out.clusters().first().cloned()
}

fn insights(c: &aws_sdk_ecs::types::Cluster) -> Option<String> {
    c.settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        .map(String::from)
}

fn cluster_props(stack: &str, address: &Address, name: &str, insights: &str) -> Props {
    props(&[
        ("name", Value::str(name)),
        ("container_insights", Value::str(insights)),
        ("tags", tags(stack, address)),
    ])
}

#[tokio::test]
async fn cluster_lifecycle() {
    let e = Arc::new(env().await);
    let stack = stack("cluster");
    let name = format!("{stack}-main");
    guarded(cluster_steps(e.clone(), stack), remove_cluster(&e, &name)).await;
}

async fn cluster_steps(e: Arc<Env>, stack: String) {
    let p = e.provider("ecs.cluster");
    let sink: Arc<dyn EventSink> = Arc::new(hactl_engine::NullSink);
    let ctx = ctx(&stack, sink);
    let a = addr("ecs_cluster.main");
    let name = format!("{stack}-main");
    let desired = cluster_props(&stack, &a, &name, "disabled");

    // Create.
    let applied = p.create(&ctx.for_address(&a), &a, &desired).await.unwrap();
    assert_eq!(applied.id, name);
    let arn = applied.outputs["arn"].as_str().unwrap().to_string();
    assert_eq!(arn, format!("arn:aws:ecs:us-east-1:000000000000:cluster/{name}"));
    assert_eq!(
        applied.outputs["container_instances_arn"],
        Value::str(format!("arn:aws:ecs:us-east-1:000000000000:container-instance/{name}/*"))
    );
    let live = describe_cluster(&e, &name).await.unwrap();
    assert_eq!(live.status(), Some("ACTIVE"));
    assert_eq!(insights(&live).as_deref(), Some("disabled"));
    assert_eq!(ecs_tags(live.tags()).get("hactl:stack"), Some(&stack));

    // Read: found by id and by address tag, owned, no false drift.
    let obj = read_one(&p, &ctx, target(&a, Some(&name), &desired, Some(&desired))).await.unwrap().unwrap();
    assert!(obj.owned);
    assert_eq!(obj.address.as_ref(), Some(&a));
    assert_eq!(obj.outputs["arn"], Value::str(&arn));
    assert_no_diff(&p, &desired, &obj);
    let orphan = read_one(&p, &ctx, target(&a, None, &desired, None)).await.unwrap().unwrap();
    assert_eq!(orphan.id, name);

    // In-place update: Container Insights on, one more tag.
    let mut desired2 = cluster_props(&stack, &a, &name, "enabled");
    let mut t = desired2["tags"].string_map();
    t.insert("team".into(), "platform".into());
    desired2.insert("tags".into(), Value::from_string_map(t));
    let applied = update(&p, &ctx, &a, &name, &desired2, &obj.props).await.unwrap();
    assert_eq!(applied.outputs["arn"], Value::str(&arn));
    let live = describe_cluster(&e, &name).await.unwrap();
    assert_eq!(insights(&live).as_deref(), Some("enabled"));
    assert_eq!(ecs_tags(live.tags()).get("team").map(String::as_str), Some("platform"));
    let obj = read_one(&p, &ctx, target(&a, Some(&name), &desired2, None)).await.unwrap().unwrap();
    assert_no_diff(&p, &desired2, &obj);

    // Out-of-band changes are seen.
    e.ecs
        .update_cluster()
        .cluster(&name)
        .settings(
            ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value("disabled").build(),
        )
        .send()
        .await
        .unwrap();
    e.ecs.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let obj = read_one(&p, &ctx, target(&a, Some(&name), &desired2, None)).await.unwrap().unwrap();
    assert_eq!(obj.props["container_insights"], Value::str("disabled"));
    assert_eq!(changed(&p, &desired2, &obj), vec!["container_insights", "tags"]);

    // A retried create converges the cluster it finds; another address's is refused.
    let again = p.create(&ctx.for_address(&a), &a, &desired2).await.unwrap();
    assert_eq!(again.id, name);
    let live = describe_cluster(&e, &name).await.unwrap();
    assert_eq!(insights(&live).as_deref(), Some("enabled"));
    assert_eq!(ecs_tags(live.tags()).get("team").map(String::as_str), Some("platform"));
    let other = addr("ecs_cluster.other");
    let err =
        p.create(&ctx.for_address(&other), &other, &cluster_props(&stack, &other, &name, "enabled")).await;
    assert!(
        err.as_ref().is_err_and(|e| !e.is_retryable() && e.message().contains("already exists")),
        "{err:?}"
    );

    // Delete: INACTIVE, read finds nothing, a second delete is fine.
    p.delete(&ctx.for_address(&a), &name, &desired2).await.unwrap();
    let live = describe_cluster(&e, &name).await;
    assert!(live.is_none_or(|c| c.status() == Some("INACTIVE")));
    assert!(read_one(&p, &ctx, target(&a, Some(&name), &desired2, None)).await.unwrap().is_none());
    p.delete(&ctx.for_address(&a), &name, &desired2).await.unwrap();
}

/// A VPC with two subnets and a security group (created with the SDK).
struct Network {
    vpc: String,
    subnets: Vec<String>,
    sg: String,
}

async fn network(e: &Env, stack: &str) -> Network {
    let vpc = e.ec2.create_vpc().cidr_block("10.77.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = e
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.77.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let sg = e
        .ec2
        .create_security_group()
        .vpc_id(&vpc)
        .group_name(format!("{stack}-svc"))
        .description("ecs test")
        .send()
        .await
        .unwrap();
    Network { vpc, subnets, sg: sg.group_id().unwrap().to_string() }
}

async fn drop_network(e: &Env, n: &Network) {
    let _ = e.ec2.delete_security_group().group_id(&n.sg).send().await;
    for s in &n.subnets {
        let _ = e.ec2.delete_subnet().subnet_id(s).send().await;
    }
    let _ = e.ec2.delete_vpc().vpc_id(&n.vpc).send().await;
}

async fn describe_capacity_provider(e: &Env, name: &str) -> Option<aws_sdk_ecs::types::CapacityProvider> {
    let out = e.ecs.describe_capacity_providers().capacity_providers(name).send().await.unwrap();
    out.capacity_providers().iter().find(|p| p.status().map(|s| s.as_str()) == Some("ACTIVE")).cloned()
}

fn managed_scaling(target: i64) -> Value {
    map(&[
        ("status", Value::str("ENABLED")),
        ("target_capacity", Value::Int(target)),
        ("minimum_scaling_step_size", Value::Int(1)),
        ("maximum_scaling_step_size", Value::Int(10)),
    ])
}

fn strategy(provider: &str, weight: i64, base: i64) -> Value {
    Value::List(vec![map(&[
        ("capacity_provider", Value::str(provider)),
        ("weight", Value::Int(weight)),
        ("base", Value::Int(base)),
    ])])
}

#[tokio::test]
async fn capacity_provider_and_cluster_attachment() {
    let e = Arc::new(env().await);
    let stack = stack("cp");
    let net = Arc::new(network(&e, &stack).await);
    let (asg_name, lt_name) = (format!("{stack}-asg"), format!("{stack}-lt"));
    let cleanup = async {
        remove_cluster(&e, &format!("{stack}-main")).await;
        if describe_capacity_provider(&e, &asg_name).await.is_some() {
            let _ = e.ecs.delete_capacity_provider().capacity_provider(&asg_name).send().await;
        }
        let _ = e
            .asg
            .delete_auto_scaling_group()
            .auto_scaling_group_name(&asg_name)
            .force_delete(true)
            .send()
            .await;
        let _ = e.ec2.delete_launch_template().launch_template_name(&lt_name).send().await;
        drop_network(&e, &net).await;
    };
    guarded(capacity_provider_steps(e.clone(), stack.clone(), net.clone()), cleanup).await;
}

async fn capacity_provider_steps(e: Arc<Env>, stack: String, net: Arc<Network>) {
    let sink: Arc<dyn EventSink> = Arc::new(hactl_engine::NullSink);
    let ctx = ctx(&stack, sink);

    // The Auto Scaling group the capacity provider manages (made with the SDK).
    let lt_name = format!("{stack}-lt");
    let lt = e
        .ec2
        .create_launch_template()
        .launch_template_name(&lt_name)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let lt_id = lt.launch_template().unwrap().launch_template_id().unwrap().to_string();
    let asg_name = format!("{stack}-asg");
    e.asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(&asg_name)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&lt_id)
                .version("$Latest")
                .build(),
        )
        .min_size(0)
        .max_size(2)
        .desired_capacity(0)
        .vpc_zone_identifier(net.subnets.join(","))
        .new_instances_protected_from_scale_in(true)
        .send()
        .await
        .unwrap();
    let asg = e.asg.describe_auto_scaling_groups().auto_scaling_group_names(&asg_name).send().await.unwrap();
    let asg_arn = asg.auto_scaling_groups()[0].auto_scaling_group_arn().unwrap().to_string();

    // Capacity provider: create, read, update, drift, retried create.
    let cp = e.provider("ecs.capacity_provider");
    let cpa = addr("capacity_provider.asg");
    let cp_name = format!("{stack}-asg");
    let cp_props = |target: i64| {
        props(&[
            ("name", Value::str(&cp_name)),
            ("auto_scaling_group_arn", Value::str(&asg_arn)),
            ("managed_scaling", managed_scaling(target)),
            ("managed_termination_protection", Value::str("ENABLED")),
            ("tags", tags(&stack, &cpa)),
        ])
    };
    let desired = cp_props(100);
    let applied = cp.create(&ctx.for_address(&cpa), &cpa, &desired).await.unwrap();
    assert_eq!(applied.id, cp_name);
    assert!(applied.outputs["arn"].as_str().unwrap().ends_with(&format!(":capacity-provider/{cp_name}")));
    let live = describe_capacity_provider(&e, &cp_name).await.unwrap();
    let asgp = live.auto_scaling_group_provider().unwrap();
    assert_eq!(asgp.auto_scaling_group_arn(), asg_arn);
    assert_eq!(asgp.managed_scaling().unwrap().target_capacity(), Some(100));
    assert_eq!(asgp.managed_termination_protection().map(|m| m.as_str()), Some("ENABLED"));
    let obj = read_one(&cp, &ctx, target(&cpa, Some(&cp_name), &desired, None)).await.unwrap().unwrap();
    assert!(obj.owned);
    assert_eq!(obj.address.as_ref(), Some(&cpa));
    assert_no_diff(&cp, &desired, &obj);

    let desired = cp_props(90);
    update(&cp, &ctx, &cpa, &cp_name, &desired, &obj.props).await.unwrap();
    let live = describe_capacity_provider(&e, &cp_name).await.unwrap();
    assert_eq!(
        live.auto_scaling_group_provider().unwrap().managed_scaling().unwrap().target_capacity(),
        Some(90)
    );
    let obj = read_one(&cp, &ctx, target(&cpa, Some(&cp_name), &desired, None)).await.unwrap().unwrap();
    assert_no_diff(&cp, &desired, &obj);

    e.ecs
        .update_capacity_provider()
        .name(&cp_name)
        .auto_scaling_group_provider(
            aws_sdk_ecs::types::AutoScalingGroupProviderUpdate::builder()
                .managed_scaling(
                    aws_sdk_ecs::types::ManagedScaling::builder()
                        .status(aws_sdk_ecs::types::ManagedScalingStatus::Enabled)
                        .target_capacity(80)
                        .minimum_scaling_step_size(1)
                        .maximum_scaling_step_size(10)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let obj = read_one(&cp, &ctx, target(&cpa, Some(&cp_name), &desired, None)).await.unwrap().unwrap();
    assert_eq!(obj.props["managed_scaling"], managed_scaling(80));
    assert_eq!(changed(&cp, &desired, &obj), vec!["managed_scaling"]);
    let again = cp.create(&ctx.for_address(&cpa), &cpa, &desired).await.unwrap();
    assert_eq!(again.id, cp_name);
    let live = describe_capacity_provider(&e, &cp_name).await.unwrap();
    assert_eq!(
        live.auto_scaling_group_provider().unwrap().managed_scaling().unwrap().target_capacity(),
        Some(90)
    );

    // The cluster and its capacity provider setting.
    let cl = e.provider("ecs.cluster");
    let cla = addr("ecs_cluster.main");
    let cluster = format!("{stack}-main");
    let cl_desired = cluster_props(&stack, &cla, &cluster, "disabled");
    cl.create(&ctx.for_address(&cla), &cla, &cl_desired).await.unwrap();

    let ccp = e.provider("ecs.cluster_capacity_providers");
    let ccpa = addr("cluster_capacity_providers.main");
    let ccp_props = |weight: i64, base: i64| {
        props(&[
            ("cluster", Value::str(&cluster)),
            ("capacity_providers", Value::from_strings([cp_name.as_str()])),
            ("default_strategy", strategy(&cp_name, weight, base)),
        ])
    };
    let desired = ccp_props(1, 0);
    // Before it is created, the cluster has no capacity provider setting.
    assert!(read_one(&ccp, &ctx, target(&ccpa, None, &desired, None)).await.unwrap().is_none());
    let applied = ccp.create(&ctx.for_address(&ccpa), &ccpa, &desired).await.unwrap();
    assert_eq!(applied.id, cluster);
    let live = describe_cluster(&e, &cluster).await.unwrap();
    assert_eq!(live.capacity_providers(), std::slice::from_ref(&cp_name));
    assert_eq!(live.default_capacity_provider_strategy()[0].capacity_provider(), cp_name);
    // Matched by cluster (no tags of its own), owned through the cluster's tags.
    let obj = read_one(&ccp, &ctx, target(&ccpa, None, &desired, None)).await.unwrap().unwrap();
    assert_eq!(obj.id, cluster);
    assert_eq!(obj.address.as_ref(), Some(&ccpa));
    assert!(obj.owned);
    assert_no_diff(&ccp, &desired, &obj);

    let desired = ccp_props(2, 1);
    update(&ccp, &ctx, &ccpa, &cluster, &desired, &obj.props).await.unwrap();
    let live = describe_cluster(&e, &cluster).await.unwrap();
    let item = &live.default_capacity_provider_strategy()[0];
    assert_eq!((item.weight(), item.base()), (2, 1));
    let obj = read_one(&ccp, &ctx, target(&ccpa, Some(&cluster), &desired, None)).await.unwrap().unwrap();
    assert_no_diff(&ccp, &desired, &obj);

    e.ecs
        .put_cluster_capacity_providers()
        .cluster(&cluster)
        .capacity_providers(&cp_name)
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap();
    let obj = read_one(&ccp, &ctx, target(&ccpa, Some(&cluster), &desired, None)).await.unwrap().unwrap();
    assert_eq!(obj.props["default_strategy"], Value::List(vec![]));
    assert_eq!(changed(&ccp, &desired, &obj), vec!["default_strategy"]);

    // Destroy trap: detaching comes first, then the capacity provider can go.
    ccp.delete(&ctx.for_address(&ccpa), &cluster, &desired).await.unwrap();
    let live = describe_cluster(&e, &cluster).await.unwrap();
    assert!(live.capacity_providers().is_empty());
    assert!(live.default_capacity_provider_strategy().is_empty());
    assert!(read_one(&ccp, &ctx, target(&ccpa, Some(&cluster), &desired, None)).await.unwrap().is_none());
    ccp.delete(&ctx.for_address(&ccpa), &cluster, &desired).await.unwrap();

    cp.delete(&ctx.for_address(&cpa), &cp_name, &cp_props(90)).await.unwrap();
    assert!(describe_capacity_provider(&e, &cp_name).await.is_none());
    assert!(read_one(&cp, &ctx, target(&cpa, Some(&cp_name), &cp_props(90), None)).await.unwrap().is_none());
    cp.delete(&ctx.for_address(&cpa), &cp_name, &cp_props(90)).await.unwrap();

    cl.delete(&ctx.for_address(&cla), &cluster, &cl_desired).await.unwrap();
    // The cluster gone, its setting is gone too.
    ccp.delete(&ctx.for_address(&ccpa), &cluster, &desired).await.unwrap();
}

fn task_props(stack: &str, address: &Address, image: &str) -> Props {
    props(&[
        ("family", Value::str(format!("{stack}-web"))),
        ("cpu", Value::str("256")),
        ("memory", Value::str("512")),
        ("network_mode", Value::str("awsvpc")),
        ("requires_compatibilities", Value::from_strings(["FARGATE"])),
        ("execution_role_arn", Value::str("arn:aws:iam::000000000000:role/ha-demo-execution")),
        ("task_role_arn", Value::str("arn:aws:iam::000000000000:role/ha-demo-task-web")),
        (
            "container",
            map(&[
                ("name", Value::str("web")),
                ("image", Value::str(image)),
                ("port", Value::Int(8080)),
                ("environment", Value::from_string_map([("PORT", "8080"), ("APP_ENV", "test")])),
                ("secrets", Value::List(vec![])),
                (
                    "health_check",
                    map(&[
                        (
                            "command",
                            Value::from_strings(["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"]),
                        ),
                        ("interval", Value::Int(30)),
                        ("timeout", Value::Int(5)),
                        ("retries", Value::Int(3)),
                        ("start_period", Value::Int(10)),
                    ]),
                ),
                ("log_group", Value::str(format!("/hactl/{stack}/web"))),
                ("log_region", Value::str("us-east-1")),
                ("log_stream_prefix", Value::str("web")),
                ("essential", Value::Bool(true)),
            ]),
        ),
        ("tags", tags(stack, address)),
    ])
}

async fn task_status(e: &Env, arn: &str) -> String {
    let out = e.ecs.describe_task_definition().task_definition(arn).send().await.unwrap();
    out.task_definition().unwrap().status().unwrap().as_str().to_string()
}

#[tokio::test]
async fn task_definition_lifecycle() {
    let e = Arc::new(env().await);
    let stack = stack("td");
    let family = format!("{stack}-web");
    guarded(task_definition_steps(e.clone(), stack), remove_family(&e, &family)).await;
}

async fn task_definition_steps(e: Arc<Env>, stack: String) {
    let p = e.provider("ecs.task_definition");
    let sink: Arc<dyn EventSink> = Arc::new(hactl_engine::NullSink);
    let ctx = ctx(&stack, sink);
    let a = addr("task_definition.web");
    let desired = task_props(&stack, &a, "nginx:1.27");

    // Register: what ECS holds is what the properties say.
    let applied = p.create(&ctx.for_address(&a), &a, &desired).await.unwrap();
    let arn1 = applied.id.clone();
    assert_eq!(applied.outputs["family"], Value::str(format!("{stack}-web")));
    assert_eq!(applied.outputs["revision"], Value::Int(1));
    assert!(arn1.ends_with(&format!(":task-definition/{stack}-web:1")));
    let out = e.ecs.describe_task_definition().task_definition(&arn1).send().await.unwrap();
    let td = out.task_definition().unwrap();
    assert_eq!(td.cpu(), Some("256"));
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    assert_eq!(td.task_role_arn(), Some("arn:aws:iam::000000000000:role/ha-demo-task-web"));
    let c = &td.container_definitions()[0];
    assert_eq!(c.image(), Some("nginx:1.27"));
    assert_eq!(c.port_mappings()[0].container_port(), Some(8080));
    assert_eq!(c.environment().len(), 2);
    assert_eq!(c.health_check().unwrap().start_period(), Some(10));
    let log = c.log_configuration().unwrap();
    assert_eq!(log.log_driver().as_str(), "awslogs");
    assert_eq!(log.options().unwrap()["awslogs-group"], format!("/hactl/{stack}/web"));

    // Read of a recorded, still ACTIVE revision: its recorded properties, from one list
    // call and no describe.
    let before = e.counter.snapshot();
    let obj = read_one(&p, &ctx, target(&a, Some(&arn1), &desired, Some(&desired))).await.unwrap().unwrap();
    let after = e.counter.snapshot();
    let calls: BTreeMap<&String, u64> = after
        .iter()
        .map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    assert_eq!(
        calls.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        vec!["ECS:ListTaskDefinitions"],
        "{calls:?}"
    );
    assert!(obj.owned);
    assert_eq!(obj.outputs["revision"], Value::Int(1));
    assert_no_diff(&p, &desired, &obj);

    // A revision state does not know (crash between register and journal): described,
    // found by its address tag, and its properties read back to the desired shape.
    let orphan = read_one(&p, &ctx, target(&a, None, &desired, None)).await.unwrap().unwrap();
    assert_eq!(orphan.id, arn1);
    assert_eq!(orphan.address.as_ref(), Some(&a));
    assert!(orphan.owned);
    assert_no_diff(&p, &desired, &orphan);

    // Tags change in place.
    let mut desired_t = desired.clone();
    let mut t = desired_t["tags"].string_map();
    t.insert("team".into(), "web".into());
    desired_t.insert("tags".into(), Value::from_string_map(t));
    update(&p, &ctx, &a, &arn1, &desired_t, &orphan.props).await.unwrap();
    let tags = e.ecs.list_tags_for_resource().resource_arn(&arn1).send().await.unwrap();
    assert_eq!(ecs_tags(tags.tags()).get("team").map(String::as_str), Some("web"));

    // Anything else is a new revision: replace = register the new one, deregister the old.
    let desired2 = task_props(&stack, &a, "nginx:1.28");
    let changes = p.diff(&desired2, &desired);
    assert!(changes.iter().any(|c| c.name == "container" && c.forces_replacement));
    let applied = p.create(&ctx.for_address(&a), &a, &desired2).await.unwrap();
    let arn2 = applied.id.clone();
    assert_eq!(applied.outputs["revision"], Value::Int(2));
    p.delete(&ctx.for_address(&a), &arn1, &desired_t).await.unwrap();
    assert_eq!(task_status(&e, &arn1).await, "INACTIVE");
    assert_eq!(task_status(&e, &arn2).await, "ACTIVE");
    let objs = p
        .read(&ctx.with_fresh_cache(), &[target(&a, Some(&arn2), &desired2, Some(&desired2))])
        .await
        .unwrap();
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec![arn2.as_str()]);
    // State still naming the deregistered revision: it is gone.
    let objs =
        p.read(&ctx.with_fresh_cache(), &[target(&a, Some(&arn1), &desired, Some(&desired))]).await.unwrap();
    assert!(objs.iter().all(|o| o.id != arn1), "{objs:?}");

    // Delete, and delete again.
    p.delete(&ctx.for_address(&a), &arn2, &desired2).await.unwrap();
    assert_eq!(task_status(&e, &arn2).await, "INACTIVE");
    assert!(read_one(&p, &ctx, target(&a, Some(&arn2), &desired2, Some(&desired2))).await.unwrap().is_none());
    p.delete(&ctx.for_address(&a), &arn2, &desired2).await.unwrap();
}

async fn describe_service(e: &Env, cluster: &str, arn: &str) -> aws_sdk_ecs::types::Service {
    let out = e
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(arn)
        .include(ServiceField::Tags)
        .send()
        .await
        .unwrap();
    out.services()[0].clone()
}

#[tokio::test]
async fn service_lifecycle() {
    let e = Arc::new(env().await);
    let stack = stack("svc");
    let net = Arc::new(network(&e, &stack).await);
    let tg = e
        .elb
        .create_target_group()
        .name(format!("{stack}-web"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&net.vpc)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
    let cleanup = async {
        remove_cluster(&e, &format!("{stack}-main")).await;
        remove_family(&e, &format!("{stack}-web")).await;
        let _ = e.elb.delete_target_group().target_group_arn(&tg_arn).send().await;
        drop_network(&e, &net).await;
    };
    guarded(service_steps(e.clone(), stack.clone(), net.clone(), tg_arn.clone()), cleanup).await;
}

async fn service_steps(e: Arc<Env>, stack: String, net: Arc<Network>, tg_arn: String) {
    let recorder = Arc::new(Recorder::default());
    let ctx = ctx(&stack, recorder.clone());

    let cl = e.provider("ecs.cluster");
    let cla = addr("ecs_cluster.main");
    let cluster = format!("{stack}-main");
    let cl_props = cluster_props(&stack, &cla, &cluster, "disabled");
    cl.create(&ctx.for_address(&cla), &cla, &cl_props).await.unwrap();
    let td = e.provider("ecs.task_definition");
    let tda = addr("task_definition.web");
    let td1_props = task_props(&stack, &tda, "nginx:1.27");
    let td2_props = task_props(&stack, &tda, "nginx:1.28");
    let td1 = td.create(&ctx.for_address(&tda), &tda, &td1_props).await.unwrap().id;
    let td2 = td.create(&ctx.for_address(&tda), &tda, &td2_props).await.unwrap().id;

    let p = e.provider("ecs.service");
    let a = addr("ecs_service.web");
    let name = format!("{stack}-web");
    let service_props = |task: &str, count: i64, min_healthy: i64, subnets: &[String]| {
        props(&[
            ("cluster", Value::str(&cluster)),
            ("name", Value::str(&name)),
            ("task_definition", Value::str(task)),
            ("desired_count", Value::Int(count)),
            ("launch_type", Value::str("FARGATE")),
            ("capacity_provider_strategy", Value::Null),
            (
                "network",
                map(&[
                    ("subnets", Value::from_strings(subnets.iter().cloned())),
                    ("security_groups", Value::from_strings([net.sg.clone()])),
                    ("assign_public_ip", Value::str("DISABLED")),
                ]),
            ),
            (
                "load_balancers",
                Value::List(vec![map(&[
                    ("target_group_arn", Value::str(&tg_arn)),
                    ("container_name", Value::str("web")),
                    ("container_port", Value::Int(8080)),
                ])]),
            ),
            (
                "deployment",
                map(&[
                    ("minimum_healthy_percent", Value::Int(min_healthy)),
                    ("maximum_percent", Value::Int(200)),
                    ("circuit_breaker", Value::Bool(true)),
                    ("rollback", Value::Bool(true)),
                ]),
            ),
            ("health_check_grace_period", Value::Int(30)),
            ("propagate_tags", Value::str("SERVICE")),
            ("tags", tags(&stack, &a)),
            ("stable_timeout", Value::Int(90)),
        ])
    };
    let desired = service_props(&td1, 1, 100, &net.subnets);

    // Create waits until the service is stable, reporting progress.
    let applied = p.create(&ctx.for_address(&a), &a, &desired).await.unwrap();
    let arn = applied.id.clone();
    assert!(
        arn.contains(&format!(":service/{cluster}/{name}")) || arn.ends_with(&format!(":service/{name}"))
    );
    assert_eq!(applied.outputs["name"], Value::str(&name));
    let progress = recorder.0.lock().unwrap().clone();
    assert!(progress.iter().any(|m| m.contains("1 of 1 tasks running")), "{progress:?}");
    let live = describe_service(&e, &cluster, &arn).await;
    assert_eq!(live.status(), Some("ACTIVE"));
    assert_eq!((live.desired_count(), live.running_count()), (1, 1));
    assert_eq!(live.deployments().len(), 1);
    assert_eq!(live.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));
    assert_eq!(live.task_definition(), Some(td1.as_str()));
    assert_eq!(live.load_balancers()[0].target_group_arn(), Some(tg_arn.as_str()));
    assert_eq!(live.health_check_grace_period_seconds(), Some(30));
    let dc = live.deployment_configuration().unwrap();
    assert!(dc.deployment_circuit_breaker().is_some_and(|c| c.enable() && c.rollback()));
    assert_eq!(ecs_tags(live.tags()).get("hactl:address").map(String::as_str), Some("ecs_service.web"));

    // Read: no false drift, subnets compared as a set.
    let obj = read_one(&p, &ctx, target(&a, Some(&arn), &desired, None)).await.unwrap().unwrap();
    assert!(obj.owned);
    assert_eq!(obj.address.as_ref(), Some(&a));
    assert_no_diff(&p, &desired, &obj);
    let reversed: Vec<String> = net.subnets.iter().rev().cloned().collect();
    assert_no_diff(&p, &service_props(&td1, 1, 100, &reversed), &obj);
    let orphan = read_one(&p, &ctx, target(&a, None, &desired, None)).await.unwrap().unwrap();
    assert_eq!(orphan.id, arn);

    // In-place update: new revision, two tasks, another deployment minimum; waits again.
    let desired2 = service_props(&td2, 2, 50, &net.subnets);
    recorder.0.lock().unwrap().clear();
    update(&p, &ctx, &a, &arn, &desired2, &obj.props).await.unwrap();
    let progress = recorder.0.lock().unwrap().clone();
    assert!(progress.iter().any(|m| m.contains("2 of 2 tasks running")), "{progress:?}");
    let live = describe_service(&e, &cluster, &arn).await;
    assert_eq!(live.task_definition(), Some(td2.as_str()));
    assert_eq!((live.desired_count(), live.running_count()), (2, 2));
    assert_eq!(live.deployment_configuration().unwrap().minimum_healthy_percent(), Some(50));
    let obj = read_one(&p, &ctx, target(&a, Some(&arn), &desired2, None)).await.unwrap().unwrap();
    assert_no_diff(&p, &desired2, &obj);

    // Out of band: someone scales it. Seen as drift of `desired_count`; not compared
    // when auto scaling owns the count (`initial_desired_count`).
    e.ecs.update_service().cluster(&cluster).service(&arn).desired_count(3).send().await.unwrap();
    let obj = read_one(&p, &ctx, target(&a, Some(&arn), &desired2, None)).await.unwrap().unwrap();
    assert_eq!(obj.props["desired_count"], Value::Int(3));
    assert_eq!(changed(&p, &desired2, &obj), vec!["desired_count"]);
    let mut scaled = desired2.clone();
    scaled.remove("desired_count");
    scaled.insert("initial_desired_count".into(), Value::Int(2));
    assert_no_diff(&p, &scaled, &obj);

    // Destroy trap: scaled to 0, deleted, INACTIVE; a second delete is fine.
    p.delete(&ctx.for_address(&a), &arn, &desired2).await.unwrap();
    let live = describe_service(&e, &cluster, &arn).await;
    assert_eq!(live.status(), Some("INACTIVE"));
    assert_eq!(live.desired_count(), 0);
    assert!(read_one(&p, &ctx, target(&a, Some(&arn), &desired2, None)).await.unwrap().is_none());
    p.delete(&ctx.for_address(&a), &arn, &desired2).await.unwrap();

    td.delete(&ctx, &td1, &td1_props).await.unwrap();
    td.delete(&ctx, &td2, &td2_props).await.unwrap();
    cl.delete(&ctx, &cluster, &cl_props).await.unwrap();
    // The cluster gone, deleting a service in it is still fine.
    p.delete(&ctx.for_address(&a), &arn, &desired2).await.unwrap();
}
