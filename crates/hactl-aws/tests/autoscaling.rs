//! Integration tests of `ec2.launch_template` and `autoscaling.group` against the emulator
//! (AWS_ENDPOINT_URL, default http://127.0.0.1:4566). The providers are driven directly;
//! every effect is checked with the SDK, not through the providers' reads.

use crate::common;

use aws_config::SdkConfig;
use common::sdk_config;
use hactl_aws::ApiCounter;
use hactl_core::{Address, Props, Value};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::sync::Arc;
use std::time::Duration;

const AMI_PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

fn registry(config: &SdkConfig) -> Registry {
    hactl_aws::registry(config, &ApiCounter::default())
}

fn ctx(stack: &str) -> Ctx {
    let mut c = Ctx::new(stack, Arc::new(NullSink));
    c.wait_timeout = Duration::from_secs(120);
    c.poll_max = Duration::from_secs(2);
    c
}

fn addr(s: &str) -> Address {
    Address::parse(s).expect("address")
}

fn tags(stack: &str, address: &str, extra: &[(&str, &str)]) -> Value {
    let mut t = vec![("hactl:stack", stack), ("hactl:address", address), ("Name", address)];
    t.extend_from_slice(extra);
    Value::from_string_map(t)
}

fn target(address: &Address, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: address.clone(), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

async fn read_one(p: &dyn Provider, ctx: &Ctx, t: ReadTarget) -> Option<LiveObject> {
    let id = t.id.clone();
    let objs = p.read(&ctx.with_fresh_cache(), &[t]).await.expect("read");
    objs.into_iter().find(|o| Some(&o.id) == id.as_ref())
}

/// A VPC with two subnets and a security group: the network the tests launch into.
struct Net {
    ec2: aws_sdk_ec2::Client,
    vpc: String,
    subnets: Vec<String>,
    sg: String,
}

impl Net {
    async fn new(config: &SdkConfig, name: &str, second_octet: u8) -> Net {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let vpc = ec2
            .create_vpc()
            .cidr_block(format!("10.{second_octet}.0.0/16"))
            .send()
            .await
            .expect("vpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut subnets = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.{second_octet}.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await
                .expect("subnet");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        let sg = ec2
            .create_security_group()
            .vpc_id(&vpc)
            .group_name(name)
            .description("hactl test")
            .send()
            .await
            .expect("sg")
            .group_id()
            .expect("sg id")
            .to_string();
        Net { ec2, vpc, subnets, sg }
    }

    async fn cleanup(&self) {
        let _ = self.ec2.delete_security_group().group_id(&self.sg).send().await;
        for s in &self.subnets {
            let _ = self.ec2.delete_subnet().subnet_id(s).send().await;
        }
        let _ = self.ec2.delete_vpc().vpc_id(&self.vpc).send().await;
    }
}

async fn ssm_ami(config: &SdkConfig) -> String {
    aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(AMI_PARAM)
        .send()
        .await
        .expect("the emulator answers the ECS optimized AMI parameter")
        .parameter()
        .and_then(|p| p.value())
        .expect("parameter value")
        .to_string()
}

fn lt_props(stack: &str, name: &str, address: &str, sg: &str) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("image_id".to_string(), Value::str(format!("resolve:ssm:{AMI_PARAM}"))),
        ("instance_type".to_string(), Value::str("t3.micro")),
        (
            "instance_profile_arn".to_string(),
            Value::str(format!("arn:aws:iam::000000000000:instance-profile/{name}")),
        ),
        ("security_group_ids".to_string(), Value::from_strings([sg])),
        (
            "user_data".to_string(),
            Value::str(format!("#!/bin/bash\necho ECS_CLUSTER={stack} >> /etc/ecs/ecs.config\n")),
        ),
        (
            "metadata_options".to_string(),
            Value::Map(
                [
                    ("http_tokens".to_string(), Value::str("required")),
                    ("http_put_response_hop_limit".to_string(), Value::Int(2)),
                    ("http_endpoint".to_string(), Value::str("enabled")),
                ]
                .into(),
            ),
        ),
        ("associate_public_ip_address".to_string(), Value::Bool(false)),
        ("tags".to_string(), tags(stack, address, &[])),
    ])
}

async fn latest_version(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::LaunchTemplateVersion {
    ec2.describe_launch_template_versions()
        .launch_template_id(id)
        .versions("$Latest")
        .send()
        .await
        .expect("describe versions")
        .launch_template_versions()
        .first()
        .cloned()
        .expect("a latest version")
}

async fn update(
    p: &dyn Provider,
    ctx: &Ctx,
    address: &Address,
    id: &str,
    desired: &Props,
    live: &Props,
) -> hactl_engine::Applied {
    let changes = p.diff(desired, live);
    assert!(!changes.is_empty(), "expected a change");
    p.update(&ctx.for_address(address), UpdateRequest { address, id, desired, changes: &changes })
        .await
        .expect("update")
}

#[tokio::test]
async fn launch_template_lifecycle() {
    let config = sdk_config().await;
    let reg = registry(&config);
    let p = reg.get("ec2.launch_template").expect("provider").clone();
    let pid = std::process::id();
    let stack = format!("t{pid}-lt");
    let net = Net::new(&config, &format!("{stack}-sg"), 201).await;
    let ctx = ctx(&stack);
    let address = addr("launch_template.ecs");
    let name = format!("{stack}-ecs");
    let mut props = lt_props(&stack, &name, address.as_str(), &net.sg);
    let ami = ssm_ami(&config).await;

    // Create: SSM-resolved AMI, IMDSv2, no public IP, groups on the interface, user data.
    let applied = p.create(&ctx.for_address(&address), &address, &props).await.expect("create");
    let id = applied.id.clone();
    assert_eq!(applied.outputs.get("latest_version"), Some(&Value::Int(1)));
    assert_eq!(applied.outputs.get("name"), Some(&Value::str(&name)));
    let v = latest_version(&net.ec2, &id).await;
    let d = v.launch_template_data().expect("data");
    assert_eq!(d.image_id(), Some(ami.as_str()), "image resolved through SSM");
    let md = d.metadata_options().expect("metadata options");
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(md.http_put_response_hop_limit(), Some(2));
    let ni = d.network_interfaces().first().expect("a network interface spec");
    assert_eq!(ni.associate_public_ip_address(), Some(false));
    assert_eq!(ni.groups(), std::slice::from_ref(&net.sg));
    let ud = aws_smithy_types::base64::decode(d.user_data().expect("user data")).expect("base64");
    assert_eq!(String::from_utf8(ud).expect("utf8"), props["user_data"].as_str().expect("str"));
    assert_eq!(
        d.iam_instance_profile().and_then(|i| i.arn()),
        Some(format!("arn:aws:iam::000000000000:instance-profile/{name}").as_str())
    );

    // Read: found by its stack tag, no diff (image reads back as resolve:ssm:).
    let objs = p.read(&ctx.with_fresh_cache(), &[target(&address, None, &props)]).await.expect("read");
    let live = objs.iter().find(|o| o.id == id).expect("found by stack tag");
    assert_eq!(live.address.as_ref(), Some(&address));
    assert!(live.owned);
    assert_eq!(p.diff(&props, &live.props), vec![], "no false drift");

    // A create retried after a crash adopts the template instead of failing.
    let again = p.create(&ctx.for_address(&address), &address, &props).await.expect("retried create");
    assert_eq!(again.id, id);
    let listed = net
        .ec2
        .describe_launch_templates()
        .filters(aws_sdk_ec2::types::Filter::builder().name("launch-template-name").values(&name).build())
        .send()
        .await
        .expect("describe");
    assert_eq!(listed.launch_templates().len(), 1);

    // In-place update: a new version, made the default.
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&id), &props)).await.expect("live");
    props.insert("instance_type".into(), Value::str("t3.small"));
    props.insert("user_data".into(), Value::str("#!/bin/bash\necho changed\n"));
    let applied = update(p.as_ref(), &ctx, &address, &id, &props, &live.props).await;
    let new_version = applied.outputs.get("latest_version").and_then(Value::as_int).expect("latest_version");
    let t = net.ec2.describe_launch_templates().launch_template_ids(&id).send().await.expect("describe");
    let t = t.launch_templates().first().expect("template");
    assert_eq!(t.latest_version_number(), Some(new_version));
    assert_eq!(t.default_version_number(), Some(new_version), "the new version is the default");
    let v = latest_version(&net.ec2, &id).await;
    let d = v.launch_template_data().expect("data");
    assert_eq!(d.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(d.image_id(), Some(ami.as_str()));
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&id), &props)).await.expect("live");
    assert_eq!(p.diff(&props, &live.props), vec![]);

    // Out of band: a version with another AMI and no IMDSv2; a tag removed.
    net.ec2
        .create_launch_template_version()
        .launch_template_id(&id)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-0123456789abcdef0")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
                .build(),
        )
        .send()
        .await
        .expect("out-of-band version");
    net.ec2
        .delete_tags()
        .resources(&id)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Name").build())
        .send()
        .await
        .expect("untag");
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&id), &props)).await.expect("live");
    assert_eq!(
        live.props["image_id"],
        Value::str("ami-0123456789abcdef0"),
        "the live AMI, not the parameter"
    );
    let changed: Vec<String> = p.diff(&props, &live.props).into_iter().map(|c| c.name).collect();
    for n in
        ["image_id", "metadata_options", "security_group_ids", "user_data", "associate_public_ip_address"]
    {
        assert!(changed.contains(&n.to_string()), "{n} drift seen: {changed:?}");
    }
    // Tags: the read reports what DescribeLaunchTemplates answers. Unpatched moto answers
    // the tags a template had at creation (CreateTags/DeleteTags not reflected).
    let described =
        net.ec2.describe_launch_templates().launch_template_ids(&id).send().await.expect("describe");
    let api_has_name = described
        .launch_templates()
        .first()
        .is_some_and(|t| t.tags().iter().any(|t| t.key() == Some("Name")));
    if api_has_name {
        eprintln!("NOTE: the emulator answers stale launch template tags (moto bug); tag drift not visible");
    }
    assert_eq!(
        changed.contains(&"tags".to_string()),
        !api_has_name,
        "tag drift as the API shows it: {changed:?}"
    );
    // Converge back.
    let applied = update(p.as_ref(), &ctx, &address, &id, &props, &live.props).await;
    assert_eq!(applied.outputs.get("latest_version"), Some(&Value::Int(new_version + 2)));
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&id), &props)).await.expect("live");
    assert_eq!(p.diff(&props, &live.props), vec![]);

    // Delete: gone; deleting again is fine.
    p.delete(&ctx.for_address(&address), &id, &props).await.expect("delete");
    let gone = net.ec2.describe_launch_templates().launch_template_ids(&id).send().await;
    assert!(gone.map(|o| o.launch_templates().is_empty()).unwrap_or(true), "template deleted");
    p.delete(&ctx.for_address(&address), &id, &props).await.expect("delete again");
    assert!(read_one(p.as_ref(), &ctx, target(&address, Some(&id), &props)).await.is_none());
    net.cleanup().await;
}

fn asg_props(stack: &str, name: &str, lt: &str, net: &Net) -> Props {
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("launch_template_id".to_string(), Value::str(lt)),
        ("launch_template_version".to_string(), Value::str("$Latest")),
        ("min_size".to_string(), Value::Int(0)),
        ("max_size".to_string(), Value::Int(3)),
        ("desired_capacity".to_string(), Value::Int(2)),
        ("subnet_ids".to_string(), Value::from_strings(net.subnets.iter().rev())),
        ("health_check_type".to_string(), Value::str("ELB")),
        ("health_check_grace_period".to_string(), Value::Int(60)),
        ("protect_from_scale_in".to_string(), Value::Bool(true)),
        ("tags".to_string(), tags(stack, "asg.ecs", &[("AmazonECSManaged", "")])),
    ])
}

async fn group(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
    asg.describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe groups")
        .auto_scaling_groups()
        .first()
        .cloned()
}

#[tokio::test]
async fn auto_scaling_group_lifecycle_and_protected_delete() {
    let config = sdk_config().await;
    let reg = registry(&config);
    let ltp = reg.get("ec2.launch_template").expect("provider").clone();
    let p = reg.get("autoscaling.group").expect("provider").clone();
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let pid = std::process::id();
    let stack = format!("t{pid}-asg");
    let net = Net::new(&config, &format!("{stack}-sg"), 202).await;
    let ctx = ctx(&stack);
    let ami = ssm_ami(&config).await;

    let lt_address = addr("launch_template.ecs");
    let lt_props = lt_props(&stack, &format!("{stack}-ecs"), lt_address.as_str(), &net.sg);
    let lt =
        ltp.create(&ctx.for_address(&lt_address), &lt_address, &lt_props).await.expect("launch template").id;

    // Create: two protected instances from the template's latest version, ELB health
    // checks, tags propagated (AmazonECSManaged included).
    let address = addr("asg.ecs");
    let name = format!("{stack}-ecs");
    let mut props = asg_props(&stack, &name, &lt, &net);
    let applied = p.create(&ctx.for_address(&address), &address, &props).await.expect("create");
    assert_eq!(applied.id, name);
    let g = group(&asg, &name).await.expect("group exists");
    assert_eq!(applied.outputs.get("arn"), Some(&Value::str(g.auto_scaling_group_arn().expect("arn"))));
    assert_eq!(g.launch_template().and_then(|l| l.version()), Some("$Latest"));
    assert_eq!(g.launch_template().and_then(|l| l.launch_template_id()), Some(lt.as_str()));
    assert_eq!(g.health_check_type(), Some("ELB"));
    assert_eq!(g.health_check_grace_period(), Some(60));
    assert_eq!(g.new_instances_protected_from_scale_in(), Some(true));
    assert_eq!((g.min_size(), g.max_size(), g.desired_capacity()), (Some(0), Some(3), Some(2)));
    assert!(g.tags().iter().all(|t| t.propagate_at_launch() == Some(true)));
    assert!(g.tags().iter().any(|t| t.key() == Some("AmazonECSManaged") && t.value() == Some("")));
    let instance_ids: Vec<String> =
        g.instances().iter().filter_map(|i| i.instance_id().map(str::to_string)).collect();
    assert_eq!(instance_ids.len(), 2);
    assert!(g.instances().iter().all(|i| i.protected_from_scale_in() == Some(true)));
    let reservations = net
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instance_ids.clone()))
        .send()
        .await
        .expect("instances");
    for i in reservations.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(i.image_id(), Some(ami.as_str()), "launched from the SSM-resolved AMI");
        assert!(i.public_ip_address().is_none(), "no public address");
        assert!(i.tags().iter().any(|t| t.key() == Some("AmazonECSManaged")), "tags propagated");
        assert_eq!(i.security_groups().first().and_then(|g| g.group_id()), Some(net.sg.as_str()));
    }

    // Read: found by stack tag, no diff; desired_capacity is never compared.
    let objs = p.read(&ctx.with_fresh_cache(), &[target(&address, None, &props)]).await.expect("read");
    let live = objs.iter().find(|o| o.id == name).expect("found by stack tag");
    assert_eq!(live.address.as_ref(), Some(&address));
    assert!(live.owned);
    assert_eq!(p.diff(&props, &live.props), vec![]);
    let mut other_desired = props.clone();
    other_desired.insert("desired_capacity".into(), Value::Int(5));
    assert_eq!(p.diff(&other_desired, &live.props), vec![], "desired capacity is create-only");

    // A create retried after a crash adopts the group: same instances, nothing replaced.
    let again = p.create(&ctx.for_address(&address), &address, &props).await.expect("retried create");
    assert_eq!(again.id, name);
    let g = group(&asg, &name).await.expect("group");
    let mut now: Vec<String> =
        g.instances().iter().filter_map(|i| i.instance_id().map(str::to_string)).collect();
    let mut before = instance_ids.clone();
    now.sort();
    before.sort();
    assert_eq!(now, before, "the retried create kept the group and its instances");

    // In-place update.
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&name), &props)).await.expect("live");
    props.insert("max_size".into(), Value::Int(4));
    props.insert("health_check_grace_period".into(), Value::Int(120));
    props.insert("tags".into(), tags(&stack, "asg.ecs", &[("AmazonECSManaged", ""), ("team", "web")]));
    update(p.as_ref(), &ctx, &address, &name, &props, &live.props).await;
    let g = group(&asg, &name).await.expect("group");
    assert_eq!(g.max_size(), Some(4));
    assert_eq!(g.health_check_grace_period(), Some(120));
    assert!(g.tags().iter().any(|t| t.key() == Some("team") && t.propagate_at_launch() == Some(true)));
    assert_eq!(g.desired_capacity(), Some(2), "desired capacity untouched by updates");
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&name), &props)).await.expect("live");
    assert_eq!(p.diff(&props, &live.props), vec![]);

    // Out of band: minimum and health check type changed.
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .min_size(1)
        .health_check_type("EC2")
        .send()
        .await
        .expect("out-of-band update");
    let live = read_one(p.as_ref(), &ctx, target(&address, Some(&name), &props)).await.expect("live");
    let mut changed: Vec<String> = p.diff(&props, &live.props).into_iter().map(|c| c.name).collect();
    changed.sort();
    assert_eq!(changed, ["health_check_type", "min_size"]);
    update(p.as_ref(), &ctx, &address, &name, &props, &live.props).await;
    let g = group(&asg, &name).await.expect("group");
    assert_eq!((g.min_size(), g.health_check_type()), (Some(0), Some("ELB")));

    // Delete (destroy trap): the instances are protected from scale-in; the delete lifts
    // the protection, force-deletes and waits, so they are terminated, not left behind.
    let g = group(&asg, &name).await.expect("group");
    assert!(g.instances().iter().all(|i| i.protected_from_scale_in() == Some(true)));
    p.delete(&ctx.for_address(&address), &name, &props).await.expect("delete");
    assert!(group(&asg, &name).await.is_none(), "group gone");
    let reservations = net
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instance_ids.clone()))
        .send()
        .await
        .expect("instances");
    for i in reservations.reservations().iter().flat_map(|r| r.instances()) {
        let state = i.state().and_then(|s| s.name()).map(|s| s.as_str().to_string());
        assert!(
            matches!(state.as_deref(), Some("terminated" | "shutting-down")),
            "instance {:?} left {state:?}",
            i.instance_id()
        );
    }
    p.delete(&ctx.for_address(&address), &name, &props).await.expect("delete again");
    assert!(read_one(p.as_ref(), &ctx, target(&address, Some(&name), &props)).await.is_none());

    ltp.delete(&ctx.for_address(&lt_address), &lt, &lt_props).await.expect("delete launch template");
    net.cleanup().await;
}
