//! End to end on the compute and traffic tier: both repo configs applied against the
//! emulator, every effect verified with the AWS SDK or the aws CLI (never by asking
//! hactl), then edits, out-of-band drift and destroy.

mod common;

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use aws_sdk_ecs::types::ClusterField;
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, Listener, RedirectActionStatusCodeEnum};
use common::*;
use serde_json::Value as J;
use std::collections::BTreeSet;

struct Clients {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    asg: aws_sdk_autoscaling::Client,
    iam: aws_sdk_iam::Client,
    aas: aws_sdk_applicationautoscaling::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    ec2: aws_sdk_ec2::Client,
    sm: aws_sdk_secretsmanager::Client,
}

async fn clients() -> Clients {
    let c = sdk().await;
    Clients {
        ecs: aws_sdk_ecs::Client::new(&c),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&c),
        asg: aws_sdk_autoscaling::Client::new(&c),
        iam: aws_sdk_iam::Client::new(&c),
        aas: aws_sdk_applicationautoscaling::Client::new(&c),
        logs: aws_sdk_cloudwatchlogs::Client::new(&c),
        ec2: aws_sdk_ec2::Client::new(&c),
        sm: aws_sdk_secretsmanager::Client::new(&c),
    }
}

async fn app_subnets(s: &Stack) -> BTreeSet<String> {
    ["us-east-1a", "us-east-1b"].iter().map(|az| state_id(s, &format!("subnet.app.{az}"))).collect()
}

async fn listeners(c: &Clients, lb_arn: &str) -> Vec<Listener> {
    c.elb.describe_listeners().load_balancer_arn(lb_arn).send().await.expect("listeners").listeners().to_vec()
}

/// The ECS service as ECS describes it.
async fn service(c: &Clients, s: &Stack, name: &str) -> aws_sdk_ecs::types::Service {
    let out =
        c.ecs.describe_services().cluster(&s.name).services(name).send().await.expect("describe services");
    out.services().first().cloned().unwrap_or_else(|| panic!("service {name} missing: {:?}", out.failures()))
}

/// The egress rules of a security group, as EC2 lists them.
async fn egress_rules(c: &Clients, group: &str) -> Vec<aws_sdk_ec2::types::SecurityGroupRule> {
    c.ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .expect("DescribeSecurityGroupRules")
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(true) && r.group_id() == Some(group))
        .cloned()
        .collect()
}

/// Checks what the issue asks of an applied stack, through the SDK.
async fn verify_applied(c: &Clients, s: &Stack, ec2_capacity: bool, services: &[(&str, bool, i32, u16)]) {
    // Cluster: ACTIVE, Container Insights on, capacity provider attached as the default.
    let cl = c
        .ecs
        .describe_clusters()
        .clusters(&s.name)
        .include(ClusterField::Settings)
        .send()
        .await
        .expect("describe clusters");
    let cluster = cl.clusters().first().expect("cluster exists");
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert!(
        cluster.settings().iter().any(|x| x.value() == Some("enabled")),
        "container insights on: {:?}",
        cluster.settings()
    );
    let subnets = app_subnets(s).await;
    let app_sg = state_id(s, "sg.app");
    if ec2_capacity {
        let cp = state_id(s, "capacity_provider.asg");
        assert_eq!(cluster.capacity_providers(), std::slice::from_ref(&cp));
        let strategy = cluster.default_capacity_provider_strategy();
        assert_eq!(strategy.len(), 1);
        assert_eq!(strategy[0].capacity_provider(), cp.as_str());
        // The ASG spans the app subnets with the launch template.
        let asg_name = state_id(s, "asg.ecs");
        let g = c
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&asg_name)
            .send()
            .await
            .expect("asg");
        let g = g.auto_scaling_groups().first().expect("asg exists");
        let zones: BTreeSet<String> =
            g.vpc_zone_identifier().unwrap_or_default().split(',').map(|x| x.trim().to_string()).collect();
        assert_eq!(zones, subnets);
        let lt = g.launch_template().expect("asg uses a launch template");
        assert_eq!(lt.launch_template_id(), Some(state_id(s, "launch_template.ecs").as_str()));
        assert_eq!(g.health_check_type(), Some("ELB"));
        assert_eq!(g.new_instances_protected_from_scale_in(), Some(true));
        assert!(g.tags().iter().any(|t| t.key() == Some("AmazonECSManaged")));
        // The launch template: IMDSv2 required, no public IP, the app group.
        let v = c
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(lt.launch_template_id().unwrap_or_default())
            .versions("$Latest")
            .send()
            .await
            .expect("lt versions");
        let data = v.launch_template_versions()[0].launch_template_data().expect("lt data");
        assert_eq!(
            data.metadata_options().and_then(|m| m.http_tokens()).map(|t| t.as_str()),
            Some("required")
        );
        let ni = &data.network_interfaces()[0];
        assert_eq!(ni.associate_public_ip_address(), Some(false));
        assert_eq!(ni.groups(), std::slice::from_ref(&app_sg));
        // The root volume: encrypted gp3 of 30 GiB on the ECS-optimised AMI's root device.
        let root = data
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some("/dev/xvda"))
            .and_then(|m| m.ebs())
            .unwrap_or_else(|| panic!("no /dev/xvda volume: {:?}", data.block_device_mappings()));
        assert_eq!(root.encrypted(), Some(true), "{root:?}");
        assert_eq!(root.volume_size(), Some(30));
        assert_eq!(root.volume_type().map(|t| t.as_str()), Some("gp3"));
    } else {
        // Fargate: no container instances, so no Auto Scaling group and no launch template.
        assert_no_container_instances(c, s, "fargate has").await;
        assert!(
            cluster.capacity_providers().iter().all(|p| p.starts_with("FARGATE")),
            "{:?}",
            cluster.capacity_providers()
        );
    }

    // Load balancers and listeners.
    let public_lb = state_id(s, "alb.public");
    let mut balancers = vec![public_lb.clone()];
    if services.iter().any(|(_, public, ..)| !public) {
        balancers.push(state_id(s, "alb.internal"));
    }
    for lb in &balancers {
        let attrs = c
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(lb)
            .send()
            .await
            .expect("load balancer attributes");
        let drop = attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some("routing.http.drop_invalid_header_fields.enabled"))
            .and_then(|a| a.value());
        assert_eq!(drop, Some("true"), "{lb} drops invalid header fields: {:?}", attrs.attributes());
    }
    // Egress: each load balancer reaches only the app group: the public one on each public
    // service port, the internal one on the one range of the internal services' ports.
    for (group, public) in [("sg.alb", true), ("sg.alb_internal", false)] {
        let ports: BTreeSet<i32> =
            services.iter().filter(|x| x.1 == public).map(|x| i32::from(x.3)).collect();
        let (Some(lo), Some(hi)) = (ports.first(), ports.last()) else { continue };
        let egress = egress_rules(c, &state_id(s, group)).await;
        let got: BTreeSet<(i32, i32, String)> = egress
            .iter()
            .map(|r| {
                assert_eq!(r.ip_protocol(), Some("tcp"), "{group}: {r:?}");
                assert!(r.cidr_ipv4().is_none() && r.cidr_ipv6().is_none(), "{group}: {r:?}");
                let to = r.referenced_group_info().and_then(|g| g.group_id()).unwrap_or_default();
                (r.from_port().unwrap_or_default(), r.to_port().unwrap_or_default(), to.to_string())
            })
            .collect();
        let want: BTreeSet<(i32, i32, String)> = if public {
            ports.iter().map(|p| (*p, *p, app_sg.clone())).collect()
        } else {
            BTreeSet::from([(*lo, *hi, app_sg.clone())])
        };
        assert_eq!(got, want, "{group} egress");
    }
    let ls = listeners(c, &public_lb).await;
    let l80 = ls.iter().find(|l| l.port() == Some(80)).expect(":80 listener");
    let a80 = &l80.default_actions()[0];
    assert_eq!(a80.r#type(), Some(&ActionTypeEnum::Redirect));
    let redirect = a80.redirect_config().expect("redirect config");
    assert_eq!(redirect.status_code(), Some(&RedirectActionStatusCodeEnum::Http301));
    assert_eq!(redirect.port(), Some("443"));
    let l443 = ls.iter().find(|l| l.port() == Some(443)).expect(":443 listener");
    assert_eq!(l443.default_actions()[0].r#type(), Some(&ActionTypeEnum::Forward));
    assert!(!l443.certificates().is_empty(), ":443 has a certificate");

    for (name, public, desired, port) in services {
        // Target group: health check path and port.
        let tg_arn = state_id(s, &format!("target_group.{name}"));
        let tg = c.elb.describe_target_groups().target_group_arns(&tg_arn).send().await.expect("tg");
        let tg = &tg.target_groups()[0];
        assert_eq!(tg.port(), Some(i32::from(*port)));
        assert_eq!(tg.health_check_path(), Some("/"));
        assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
        if *public {
            assert_eq!(l443.default_actions()[0].target_group_arn(), Some(tg_arn.as_str()));
        } else {
            // The internal load balancer's one listener (:80) forwards this service's host.
            let internal = listeners(c, &state_id(s, "alb.internal")).await;
            assert_eq!(internal.len(), 1, "one shared internal listener: {internal:?}");
            assert_eq!(internal[0].port(), Some(80));
            let rules = c
                .elb
                .describe_rules()
                .listener_arn(internal[0].listener_arn().unwrap_or_default())
                .send()
                .await
                .expect("DescribeRules");
            let host = format!("{name}.{}.internal", s.name);
            let rule = rules
                .rules()
                .iter()
                .find(|r| {
                    r.conditions().iter().any(|c| {
                        c.host_header_config().is_some_and(|h| h.values().contains(&host))
                            || c.values().contains(&host)
                    })
                })
                .unwrap_or_else(|| panic!("no rule for host {host}: {:?}", rules.rules()));
            let forward = rule.actions()[0]
                .target_group_arn()
                .or_else(|| rule.actions()[0].forward_config()?.target_groups().first()?.target_group_arn());
            assert_eq!(forward, Some(tg_arn.as_str()), "{host}");
        }
        // Service: desired count, network configuration, load balancer, capacity.
        let svc = service(c, s, name).await;
        assert_eq!(svc.status(), Some("ACTIVE"));
        assert_eq!(svc.desired_count(), *desired, "{name} desired count");
        let vpc = svc.network_configuration().and_then(|n| n.awsvpc_configuration()).expect("awsvpc");
        assert_eq!(vpc.subnets().iter().cloned().collect::<BTreeSet<_>>(), subnets);
        assert_eq!(vpc.security_groups(), std::slice::from_ref(&app_sg));
        assert_eq!(svc.load_balancers()[0].target_group_arn(), Some(tg_arn.as_str()));
        assert_eq!(svc.load_balancers()[0].container_port(), Some(i32::from(*port)));
        if ec2_capacity {
            assert_eq!(
                svc.capacity_provider_strategy()[0].capacity_provider(),
                state_id(s, "capacity_provider.asg")
            );
        } else {
            assert_eq!(svc.launch_type().map(|l| l.as_str()), Some("FARGATE"));
        }
        let dc = svc.deployment_configuration().expect("deployment configuration");
        assert_eq!(dc.minimum_healthy_percent(), Some(100));
        assert_eq!(dc.maximum_percent(), Some(200));
        assert_eq!(dc.deployment_circuit_breaker().map(|b| (b.enable(), b.rollback())), Some((true, true)));
    }

    // IAM: the execution role may write to this stack's log groups, nothing else.
    let role =
        c.iam.get_role().role_name(state_id(s, "iam_role.execution")).send().await.expect("execution role");
    assert_eq!(role.role().map(|r| r.path()), Some(format!("/hactl/{}/us-east-1/", s.name).as_str()));
    let doc = c
        .iam
        .get_role_policy()
        .role_name(state_id(s, "iam_role.execution"))
        .policy_name("execution")
        .send()
        .await
        .expect("execution policy");
    let text = doc.policy_document();
    let decoded = percent_decode(text);
    let policy: J = serde_json::from_str(&decoded).expect("policy json");
    let mut resources = BTreeSet::new();
    for st in policy["Statement"].as_array().expect("statements") {
        for r in st["Resource"].as_array().cloned().unwrap_or_else(|| vec![st["Resource"].clone()]) {
            resources.insert(r.as_str().unwrap_or_default().to_string());
        }
    }
    for (name, ..) in services {
        let lg = format!("/hactl/{}/{name}", s.name);
        assert!(resources.iter().any(|r| r.contains(&format!("log-group:{lg}:"))), "{lg} in {resources:?}");
    }
    // Log groups `/hactl/<stack>/...`, the secret `hactl/<stack>/db-connection` and the
    // secret the stack's database manages its password in (named by AWS, `rds!...`, its
    // owner tag naming the database): this stack's objects only.
    for r in &resources {
        if r.contains(":secret:rds!") {
            let d = c.sm.describe_secret().secret_id(r).send().await.expect("DescribeSecret");
            let owner: Vec<&str> = d
                .tags()
                .iter()
                .filter(|t| t.key().is_some_and(|k| k.starts_with("aws:rds:primaryDB")))
                .filter_map(|t| t.value())
                .collect();
            assert!(
                owner.len() == 1 && owner[0].contains(&format!(":{}-", s.name)),
                "{r} is not the stack's database's: {owner:?}"
            );
        } else {
            assert!(r.contains(&format!("hactl/{}/", s.name)), "scoped: {resources:?}");
        }
    }
}

/// No Auto Scaling group and no launch template carries the stack's tag.
async fn assert_no_container_instances(c: &Clients, s: &Stack, what: &str) {
    let g = c.asg.describe_auto_scaling_groups().send().await.expect("asgs");
    let ours: Vec<_> = g
        .auto_scaling_groups()
        .iter()
        .filter(|g| g.tags().iter().any(|t| t.key() == Some("hactl:stack") && t.value() == Some(&s.name)))
        .collect();
    assert!(ours.is_empty(), "{what} Auto Scaling groups: {ours:?}");
    let lts = c.ec2.describe_launch_templates().filters(s.tag_filter()).send().await.expect("lts");
    assert!(lts.launch_templates().is_empty(), "{what} launch templates: {:?}", lts.launch_templates());
}

/// Nothing of the stack is left, asked of every service.
async fn verify_gone(c: &Clients, s: &Stack) {
    let cl = c.ecs.describe_clusters().clusters(&s.name).send().await.expect("clusters");
    assert!(
        cl.clusters().iter().all(|x| x.status() == Some("INACTIVE")),
        "cluster left: {:?}",
        cl.clusters()
    );
    let lbs = c.elb.describe_load_balancers().send().await.expect("lbs");
    let ours: Vec<_> = lbs
        .load_balancers()
        .iter()
        .filter(|l| l.load_balancer_name().is_some_and(|n| n.starts_with(&format!("{}-", s.name))))
        .collect();
    assert!(ours.is_empty(), "load balancers left: {ours:?}");
    let tgs = c.elb.describe_target_groups().send().await.expect("tgs");
    let ours: Vec<_> = tgs
        .target_groups()
        .iter()
        .filter(|t| t.target_group_name().is_some_and(|n| n.starts_with(&format!("{}-", s.name))))
        .collect();
    assert!(ours.is_empty(), "target groups left: {ours:?}");
    assert_no_container_instances(c, s, "left:").await;
    let roles = c.iam.list_roles().path_prefix(format!("/hactl/{}/", s.name)).send().await.expect("roles");
    let ours: Vec<_> =
        roles.roles().iter().filter(|r| r.path().starts_with(&format!("/hactl/{}/", s.name))).collect();
    assert!(ours.is_empty(), "roles left: {ours:?}");
    let profiles = c
        .iam
        .list_instance_profiles()
        .path_prefix(format!("/hactl/{}/", s.name))
        .send()
        .await
        .expect("profiles");
    // (The emulator's ListInstanceProfiles ignores PathPrefix: filter here.)
    let ours: Vec<_> = profiles
        .instance_profiles()
        .iter()
        .filter(|p| p.path().starts_with(&format!("/hactl/{}/", s.name)))
        .map(|p| p.instance_profile_name())
        .collect();
    assert!(ours.is_empty(), "instance profiles left: {ours:?}");
    let lg = c.logs.describe_log_groups().log_group_name_prefix(format!("/hactl/{}/", s.name)).send().await;
    assert!(lg.expect("log groups").log_groups().is_empty(), "log groups left");
    let tds = c
        .ecs
        .list_task_definitions()
        .family_prefix(format!("{}-", s.name))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .expect("task definitions");
    assert!(tds.task_definition_arns().is_empty(), "task definitions left: {:?}", tds.task_definition_arns());
    let st = c
        .aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .send()
        .await
        .expect("targets");
    let ours: Vec<_> = st
        .scalable_targets()
        .iter()
        .filter(|t| t.resource_id().starts_with(&format!("service/{}/", s.name)))
        .collect();
    assert!(ours.is_empty(), "scalable targets left: {ours:?}");
    assert_eq!(counts(&c.ec2, s).await, Counts::default(), "network left");
    assert_eq!(s.state()["resources"].as_object().map(|m| m.len()), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2_stack_applies_updates_and_destroys() {
    let s = Stack::from_file("cmp-ec2", "config/ha-stack.toml");
    // Deletion protection on: destroy has to turn it off itself.
    s.edit(|t| t.replace("deletion_protection = false\n# Idle", "deletion_protection = true\n# Idle"));
    let c = clients().await;
    s.ok(&["apply", "--auto-approve"], 0);
    verify_applied(&c, &s, true, &[("frontend", true, 2, 80), ("backend", false, 2, 80)]).await;
    let lb = state_id(&s, "alb.public");
    let attrs = c.elb.describe_load_balancer_attributes().load_balancer_arn(&lb).send().await.expect("attrs");
    assert!(attrs
        .attributes()
        .iter()
        .any(|a| a.key() == Some("deletion_protection.enabled") && a.value() == Some("true")));
    // The frontend reaches the backend through BACKEND_URL: its host name in the VPC's
    // private zone, whose wildcard record aliases the internal load balancer.
    let internal =
        c.elb.describe_load_balancers().load_balancer_arns(state_id(&s, "alb.internal")).send().await;
    let internal = internal.expect("internal lb");
    let internal = &internal.load_balancers()[0];
    assert_eq!(internal.scheme().map(|x| x.as_str()), Some("internal"));
    assert_eq!(internal.security_groups(), [state_id(&s, "sg.alb_internal")]);
    let td = service(&c, &s, "frontend").await.task_definition().expect("task definition").to_string();
    let td = c.ecs.describe_task_definition().task_definition(&td).send().await.expect("describe td");
    let td = td.task_definition().expect("td");
    let env = td.container_definitions()[0].environment();
    let url =
        env.iter().find(|e| e.name() == Some("BACKEND_URL")).and_then(|e| e.value()).expect("BACKEND_URL");
    assert_eq!(url, format!("http://backend.{}.internal", s.name));
    let r53 = aws_sdk_route53::Client::new(&sdk().await);
    let zone = state_id(&s, "dns_zone.internal");
    let z = r53.get_hosted_zone().id(&zone).send().await.expect("GetHostedZone");
    assert_eq!(z.hosted_zone().and_then(|h| h.config()).map(|c| c.private_zone()), Some(true));
    let vpcs: Vec<&str> = z.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    assert_eq!(vpcs, [state_id(&s, "vpc.main").as_str()], "the zone answers in the stack's VPC only");
    let records = r53.list_resource_record_sets().hosted_zone_id(&zone).send().await.expect("records");
    let wildcard = format!("*.{}.internal.", s.name);
    let alias = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name().replace("\\052", "*") == wildcard)
        .and_then(|r| r.alias_target())
        .unwrap_or_else(|| panic!("no alias {wildcard}: {:?}", records.resource_record_sets()));
    let alb = internal.dns_name().unwrap_or_default().to_ascii_lowercase();
    assert_eq!(alias.dns_name().trim_end_matches('.').to_ascii_lowercase(), alb);
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    // Scalable target and both policies of the frontend.
    let rid = format!("service/{}/frontend", s.name);
    let t = c
        .aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&rid)
        .send()
        .await
        .expect("targets");
    assert_eq!(t.scalable_targets().len(), 1);
    assert_eq!((t.scalable_targets()[0].min_capacity(), t.scalable_targets()[0].max_capacity()), (2, 6));
    let p = c
        .aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&rid)
        .send()
        .await
        .expect("policies");
    let mut targets: Vec<(String, f64)> = p
        .scaling_policies()
        .iter()
        .map(|p| {
            let cfg = p.target_tracking_scaling_policy_configuration().expect("target tracking");
            let metric = cfg
                .predefined_metric_specification()
                .map(|m| m.predefined_metric_type().as_str().to_string())
                .unwrap_or_default();
            (metric, cfg.target_value())
        })
        .collect();
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        targets,
        vec![
            ("ECSServiceAverageCPUUtilization".to_string(), 70.0),
            ("ECSServiceAverageMemoryUtilization".to_string(), 80.0)
        ]
    );

    // A second plan is empty.
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // A new image: a new task definition revision and a service update, nothing else.
    let old_td = state_id(&s, "task_definition.frontend");
    s.edit(|t| t.replacen("nginx/nginx:1.27", "nginx/nginx:1.27.3", 1));
    assert_eq!(
        plan_actions(&s),
        pairs(&[("task_definition.frontend", "replace"), ("ecs_service.frontend", "update")])
    );
    s.ok(&["apply", "--auto-approve"], 0);
    let new_td = state_id(&s, "task_definition.frontend");
    assert_ne!(new_td, old_td);
    assert_eq!(service(&c, &s, "frontend").await.task_definition(), Some(new_td.as_str()));
    let d = c.ecs.describe_task_definition().task_definition(&new_td).send().await.expect("new td");
    assert_eq!(
        d.task_definition().map(|t| t.container_definitions()[0].image().unwrap_or_default().to_string()),
        Some("public.ecr.aws/nginx/nginx:1.27.3".to_string())
    );
    let old = c.ecs.describe_task_definition().task_definition(&old_td).send().await.expect("old td");
    assert_eq!(old.task_definition().and_then(|t| t.status()).map(|x| x.as_str()), Some("INACTIVE"));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Desired count: one in-place update.
    s.edit(|t| {
        t.replacen(
            "desired_count = 2\nenvironment = { APP_ENV",
            "desired_count = 3\nenvironment = { APP_ENV",
            1,
        )
    });
    assert_eq!(plan_actions(&s), pairs(&[("ecs_service.backend", "update")]));
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(service(&c, &s, "backend").await.desired_count(), 3);
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Destroy: everything goes, deletion protection included; services are INACTIVE.
    let r = s.ok(&DESTROY_ALL, 0);
    println!("destroy:\n{}", r.stderr);
    verify_gone(&c, &s).await;
    // The services went INACTIVE before their cluster: either answer shows it.
    match c.ecs.describe_services().cluster(&s.name).services("frontend").send().await {
        Ok(out) => {
            assert!(out.services().iter().all(|x| x.status() == Some("INACTIVE")), "{:?}", out.services())
        }
        Err(e) => {
            let code = aws_sdk_ecs::error::ProvideErrorMetadata::code(&e).unwrap_or_default().to_string();
            assert_eq!(code, "ClusterNotFoundException", "{e:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_desired_count_and_listener_is_reported_and_repaired() {
    let s = Stack::from_file("cmp-drift", "config/ha-stack.toml");
    let c = clients().await;
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["drift", "--json"], 0);

    // Out of band, with the aws CLI: the backend's task count, and the :80 listener's rule.
    aws_cli(&["ecs", "update-service", "--cluster", &s.name, "--service", "backend", "--desired-count", "5"]);
    let l80 = state_id(&s, "listener.public.http");
    aws_cli(&[
        "elbv2",
        "modify-listener",
        "--listener-arn",
        &l80,
        "--default-actions",
        r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"503","ContentType":"text/plain","MessageBody":"maintenance"}}]"#,
    ]);
    let r = s.ok(&["drift", "--json"], 2);
    let report: J = serde_json::from_str(&r.stdout).expect("drift json");
    let changed = report["changed"].as_array().expect("changed");
    let find = |addr: &str| changed.iter().find(|c| c["address"] == addr).cloned();
    let svc = find("ecs_service.backend").unwrap_or_else(|| panic!("backend drift missing: {report}"));
    let dc = svc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["property"] == "desired_count")
        .cloned();
    let dc = dc.unwrap_or_else(|| panic!("desired_count change missing: {svc}"));
    assert_eq!((dc["expected"].as_i64(), dc["actual"].as_i64()), (Some(2), Some(5)), "{dc}");
    let l = find("listener.public.http").unwrap_or_else(|| panic!("listener drift missing: {report}"));
    let la =
        l["changes"].as_array().expect("changes").iter().find(|c| c["property"] == "default_action").cloned();
    let la = la.unwrap_or_else(|| panic!("default_action change missing: {l}"));
    assert_eq!(la["expected"]["type"], "redirect", "{la}");
    assert_eq!(la["actual"]["type"], "fixed_response", "{la}");
    // The frontend's count is owned by its auto scaling: never drift.
    assert!(find("ecs_service.frontend").is_none(), "{report}");

    // Apply repairs both.
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(service(&c, &s, "backend").await.desired_count(), 2);
    let ls = listeners(&c, &state_id(&s, "alb.public")).await;
    let a = &ls.iter().find(|l| l.port() == Some(80)).expect(":80").default_actions()[0];
    assert_eq!(a.r#type(), Some(&ActionTypeEnum::Redirect));
    s.ok(&["drift", "--json"], 0);
    s.ok(&DESTROY_ALL, 0);
    verify_gone(&c, &s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fargate_stack_applies_and_destroys() {
    let s = Stack::from_file("cmp-fg", "config/fargate-postgres.toml");
    let c = clients().await;
    s.ok(&["apply", "--auto-approve"], 0);
    verify_applied(&c, &s, false, &[("api", true, 2, 80)]).await;
    // requests per target is configured: three policies, the third on the ALB's requests.
    let p = c
        .aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(format!("service/{}/api", s.name))
        .send()
        .await
        .expect("policies");
    let requests = p
        .scaling_policies()
        .iter()
        .filter_map(|p| p.target_tracking_scaling_policy_configuration())
        .find(|t| {
            t.predefined_metric_specification().map(|m| m.predefined_metric_type().as_str())
                == Some("ALBRequestCountPerTarget")
        })
        .expect("requests policy");
    assert_eq!(requests.target_value(), 500.0);
    let label = requests.predefined_metric_specification().and_then(|m| m.resource_label()).expect("label");
    assert!(label.starts_with("app/") && label.contains("/targetgroup/"), "{label}");
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&DESTROY_ALL, 0);
    verify_gone(&c, &s).await;
}

#[test]
fn graph_shows_the_whole_stack() {
    let s = Stack::from_file("cmp-graph", "config/ha-stack.toml");
    let r = s.ok(&["graph"], 0);
    for a in [
        "vpc.main",
        "iam_role.execution",
        "iam_instance_profile.instance",
        "log_group.frontend",
        "ecs_cluster.main",
        "launch_template.ecs",
        "asg.ecs",
        "capacity_provider.asg",
        "cluster_capacity_providers.main",
        "alb.public",
        "alb.internal",
        "certificate.main",
        "listener.public.http",
        "listener.public.https",
        "listener.internal.http",
        "listener_rule.backend",
        "dns_zone.internal",
        "dns_record.internal",
        "target_group.frontend",
        "task_definition.backend",
        "ecs_service.frontend",
        "scalable_target.frontend",
        "scaling_policy.frontend.cpu",
        "scaling_policy.frontend.memory",
    ] {
        assert!(r.stdout.contains(&format!("\"{a}\"")), "{a} missing from graph:\n{}", r.stdout);
    }
    // Services wait for their listener and the capacity provider; the frontend for the backend.
    assert!(r.stdout.contains("\"ecs_service.frontend\" -> \"ecs_service.backend\""), "{}", r.stdout);
}
