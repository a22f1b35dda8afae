//! Counts of every kind of the full stack, straight from each AWS service: one entry per
//! resource kind hactl plans (`ec2.vpc`, `ecs.service`, ...), so a census compares with the
//! addresses of a plan kind by kind. Objects are the stack's by their `hactl:stack` tag,
//! or by the stack's names (IAM path, name prefix) where the kind carries no tag; each
//! object is counted once (by id: the emulator may answer an object twice) and only while
//! it is live (deleted, deleting or scheduled-for-deletion objects do not count).

use super::sdk;
use aws_sdk_ec2::types::{Filter, NatGatewayState};
use std::collections::{BTreeMap, BTreeSet};

/// Every kind `census` counts.
pub const KINDS: [&str; 50] = [
    "acm.certificate",
    "appautoscaling.policy",
    "appautoscaling.scheduled_action",
    "appautoscaling.target",
    "autoscaling.group",
    "autoscaling.scheduled_action",
    "cloudwatch.alarm",
    "cloudwatch.dashboard",
    "docdb.cluster",
    "docdb.cluster_parameter_group",
    "docdb.instance",
    "docdb.subnet_group",
    "ec2.eip",
    "ec2.internet_gateway",
    "ec2.internet_gateway_attachment",
    "ec2.launch_template",
    "ec2.nat_gateway",
    "ec2.network_acl",
    "ec2.route",
    "ec2.route_table",
    "ec2.security_group",
    "ec2.security_group_rules",
    "ec2.subnet",
    "ec2.vpc",
    "ec2.vpc_endpoint",
    "ecs.capacity_provider",
    "ecs.cluster",
    "ecs.cluster_capacity_providers",
    "ecs.service",
    "ecs.task_definition",
    "elbv2.listener",
    "elbv2.listener_rule",
    "elbv2.load_balancer",
    "elbv2.target_group",
    "events.rule",
    "iam.instance_profile",
    "iam.role",
    "lambda.function",
    "logs.log_group",
    "logs.subscription_filter",
    "opensearch.domain",
    "rds.db_proxy",
    "route53.hosted_zone",
    "route53.record",
    "s3.bucket",
    "secretsmanager.rotation",
    "secretsmanager.secret",
    "secretsmanager.secret_fields",
    "sfn.state_machine",
    "sns.topic",
];

/// The number of addresses of each kind in a `plan --json` answer.
pub fn plan_kinds(plan: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in plan["actions"].as_array().expect("plan actions") {
        let kind = a["kind"].as_str().expect("action kind").to_string();
        *out.entry(kind).or_insert(0) += 1;
    }
    out
}

/// The live objects of `stack` (region us-east-1), by kind: every kind of `KINDS`, zero
/// included.
pub async fn census(stack: &str) -> BTreeMap<&'static str, usize> {
    let conf = sdk().await;
    let mut n: BTreeMap<&'static str, usize> = BTreeMap::new();
    ec2_kinds(&aws_sdk_ec2::Client::new(&conf), stack, &mut n).await;
    ecs_kinds(&aws_sdk_ecs::Client::new(&conf), stack, &mut n).await;
    elb_kinds(&aws_sdk_elasticloadbalancingv2::Client::new(&conf), stack, &mut n).await;
    asg_kinds(&aws_sdk_autoscaling::Client::new(&conf), stack, &mut n).await;
    aas_kinds(&aws_sdk_applicationautoscaling::Client::new(&conf), stack, &mut n).await;
    iam_kinds(&aws_sdk_iam::Client::new(&conf), stack, &mut n).await;
    logs_kinds(&aws_sdk_cloudwatchlogs::Client::new(&conf), stack, &mut n).await;
    acm_kinds(&aws_sdk_acm::Client::new(&conf), stack, &mut n).await;
    secret_kinds(&aws_sdk_secretsmanager::Client::new(&conf), stack, &mut n).await;
    docdb_kinds(&aws_sdk_docdb::Client::new(&conf), stack, &mut n).await;
    rds_proxies(&aws_sdk_rds::Client::new(&conf), stack, &mut n).await;
    sns_kinds(&aws_sdk_sns::Client::new(&conf), stack, &mut n).await;
    cloudwatch_kinds(&aws_sdk_cloudwatch::Client::new(&conf), stack, &mut n).await;
    route53_kinds(&aws_sdk_route53::Client::new(&conf), stack, &mut n).await;
    redeploy_kinds(&conf, stack, &mut n).await;
    log_shipping_kinds(&conf, stack, &mut n).await;
    let counted: BTreeSet<&str> = n.keys().copied().collect();
    assert_eq!(counted, KINDS.iter().copied().collect::<BTreeSet<_>>(), "census covers KINDS exactly");
    n
}

fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name("tag:hactl:stack").values(stack).build()
}

/// Whether `(key, value)` pairs hold `hactl:stack` = `stack`.
fn tagged<'a>(mut tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>, stack: &str) -> bool {
    tags.any(|(k, v)| k == Some("hactl:stack") && v == Some(stack))
}

fn distinct<'a>(ids: impl Iterator<Item = Option<&'a str>>) -> BTreeSet<String> {
    ids.map(|id| id.expect("an object without an id").to_string()).collect()
}

async fn ec2_kinds(c: &aws_sdk_ec2::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let f = || stack_filter(stack);
    let vpcs = c.describe_vpcs().filters(f()).send().await.expect("DescribeVpcs");
    let vpc_ids = distinct(vpcs.vpcs().iter().map(|v| v.vpc_id()));
    n.insert("ec2.vpc", vpc_ids.len());

    let subnets = c.describe_subnets().filters(f()).send().await.expect("DescribeSubnets");
    n.insert("ec2.subnet", distinct(subnets.subnets().iter().map(|s| s.subnet_id())).len());

    let igws = c.describe_internet_gateways().filters(f()).send().await.expect("DescribeInternetGateways");
    // Once per gateway (the emulator may answer one twice), then its attachments.
    let igws: BTreeMap<&str, _> =
        igws.internet_gateways().iter().map(|g| (g.internet_gateway_id().expect("igw id"), g)).collect();
    let attachments = igws
        .values()
        .flat_map(|g| g.attachments())
        .filter(|a| matches!(a.state().map(|s| s.as_str()), Some("attached" | "available")))
        .count();
    n.insert("ec2.internet_gateway", igws.len());
    n.insert("ec2.internet_gateway_attachment", attachments);

    let eips = c.describe_addresses().filters(f()).send().await.expect("DescribeAddresses");
    n.insert("ec2.eip", distinct(eips.addresses().iter().map(|a| a.allocation_id())).len());

    let nats = c.describe_nat_gateways().filter(f()).send().await.expect("DescribeNatGateways");
    let live_nats = distinct(
        nats.nat_gateways()
            .iter()
            .filter(|g| {
                !matches!(
                    g.state(),
                    Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
                )
            })
            .map(|g| g.nat_gateway_id()),
    );
    n.insert("ec2.nat_gateway", live_nats.len());

    // Route tables, and the routes hactl makes in them: every route to a CIDR block but
    // the VPC's local one (the S3 endpoint's routes go to a prefix list).
    let rts = c.describe_route_tables().filters(f()).send().await.expect("DescribeRouteTables");
    let rt_ids: BTreeMap<&str, _> =
        rts.route_tables().iter().map(|t| (t.route_table_id().expect("route table id"), t)).collect();
    let routes = rt_ids
        .values()
        .flat_map(|t| t.routes())
        .filter(|r| r.destination_cidr_block().is_some() && r.gateway_id() != Some("local"))
        .count();
    n.insert("ec2.route_table", rt_ids.len());
    n.insert("ec2.route", routes);

    // Security groups, and their rule sets: a group's set is there once it admits
    // something (a new group has no ingress rule; each of the stack's sets has some).
    let sgs = c.describe_security_groups().filters(f()).send().await.expect("DescribeSecurityGroups");
    let sg_ids = distinct(sgs.security_groups().iter().map(|g| g.group_id()));
    let mut with_rules = 0;
    for g in &sg_ids {
        let rules = c
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(g).build())
            .send()
            .await
            .expect("DescribeSecurityGroupRules");
        if rules
            .security_group_rules()
            .iter()
            .any(|r| r.group_id() == Some(g) && r.is_egress() == Some(false))
        {
            with_rules += 1;
        }
    }
    n.insert("ec2.security_group", sg_ids.len());
    n.insert("ec2.security_group_rules", with_rules);

    let vpces = c.describe_vpc_endpoints().filters(f()).send().await.expect("DescribeVpcEndpoints");
    let live_vpces = distinct(
        vpces
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !e.state().is_some_and(|s| {
                    let s = s.as_str().to_ascii_lowercase();
                    s == "deleted" || s == "deleting"
                })
            })
            .map(|e| e.vpc_endpoint_id()),
    );
    n.insert("ec2.vpc_endpoint", live_vpces.len());

    let acls = c.describe_network_acls().filters(f()).send().await.expect("DescribeNetworkAcls");
    n.insert("ec2.network_acl", distinct(acls.network_acls().iter().map(|a| a.network_acl_id())).len());

    let lts = c.describe_launch_templates().filters(f()).send().await.expect("DescribeLaunchTemplates");
    n.insert(
        "ec2.launch_template",
        distinct(lts.launch_templates().iter().map(|t| t.launch_template_id())).len(),
    );
}

async fn ecs_kinds(c: &aws_sdk_ecs::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    use aws_sdk_ecs::types::{
        CapacityProviderField, CapacityProviderStatus, ClusterField, TaskDefinitionStatus,
    };
    let clusters = c
        .describe_clusters()
        .clusters(stack)
        .include(ClusterField::Tags)
        .send()
        .await
        .expect("DescribeClusters");
    let cluster = clusters.clusters().iter().find(|cl| {
        cl.cluster_name() == Some(stack)
            && cl.status() == Some("ACTIVE")
            && tagged(cl.tags().iter().map(|t| (t.key(), t.value())), stack)
    });
    n.insert("ecs.cluster", usize::from(cluster.is_some()));
    n.insert(
        "ecs.cluster_capacity_providers",
        usize::from(cluster.is_some_and(|cl| !cl.capacity_providers().is_empty())),
    );

    let mut services = BTreeSet::new();
    if cluster.is_some() {
        let arns: Vec<String> = c
            .list_services()
            .cluster(stack)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .expect("ListServices");
        for chunk in arns.chunks(10) {
            let d = c
                .describe_services()
                .cluster(stack)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeServices");
            services.extend(
                d.services()
                    .iter()
                    .filter(|s| s.status() == Some("ACTIVE"))
                    .filter_map(|s| s.service_arn().map(str::to_string)),
            );
        }
    }
    n.insert("ecs.service", services.len());

    // The capacity provider's name is `cp-<stack>` (the emulator cannot list them all).
    let cps = c
        .describe_capacity_providers()
        .capacity_providers(format!("cp-{stack}"))
        .include(CapacityProviderField::Tags)
        .send()
        .await
        .expect("DescribeCapacityProviders");
    let live_cps = cps
        .capacity_providers()
        .iter()
        .filter(|p| {
            p.status() == Some(&CapacityProviderStatus::Active)
                && !p.update_status().is_some_and(|u| u.as_str().starts_with("DELETE_"))
                && tagged(p.tags().iter().map(|t| (t.key(), t.value())), stack)
        })
        .filter_map(|p| p.capacity_provider_arn())
        .collect::<BTreeSet<_>>();
    n.insert("ecs.capacity_provider", live_cps.len());

    // ACTIVE task definition revisions of the stack's families (`<stack>-<service>`).
    let arns: Vec<String> = c
        .list_task_definitions()
        .status(TaskDefinitionStatus::Active)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListTaskDefinitions");
    let prefix = format!(":task-definition/{stack}-");
    let mut tds = BTreeSet::new();
    for arn in arns.iter().filter(|a| a.contains(&prefix)) {
        let d = c
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .expect("DescribeTaskDefinition");
        if tagged(d.tags().iter().map(|t| (t.key(), t.value())), stack) {
            tds.insert(arn.clone());
        }
    }
    n.insert("ecs.task_definition", tds.len());
}

async fn elb_kinds(
    c: &aws_sdk_elasticloadbalancingv2::Client,
    stack: &str,
    n: &mut BTreeMap<&'static str, usize>,
) {
    let prefix = format!("{stack}-");
    // ARNs of the objects named with the stack's prefix, kept when tagged for the stack.
    async fn ours(
        c: &aws_sdk_elasticloadbalancingv2::Client,
        arns: Vec<String>,
        stack: &str,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for chunk in arns.chunks(20) {
            let tags = c
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeTags (elbv2)");
            for d in tags.tag_descriptions() {
                if tagged(d.tags().iter().map(|t| (t.key(), t.value())), stack) {
                    out.insert(d.resource_arn().expect("tagged arn").to_string());
                }
            }
        }
        out
    }
    let lbs: Vec<_> = c
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeLoadBalancers");
    let lb_arns: Vec<String> = lbs
        .iter()
        .filter(|l| l.load_balancer_name().is_some_and(|x| x.starts_with(&prefix)))
        .filter_map(|l| l.load_balancer_arn().map(str::to_string))
        .collect();
    let lb_arns = ours(c, lb_arns, stack).await;
    n.insert("elbv2.load_balancer", lb_arns.len());

    let mut listeners = BTreeSet::new();
    for lb in &lb_arns {
        let ls = c.describe_listeners().load_balancer_arn(lb).send().await.expect("DescribeListeners");
        listeners.extend(ls.listeners().iter().filter_map(|l| l.listener_arn().map(str::to_string)));
    }
    n.insert("elbv2.listener", listeners.len());

    // The rules of those listeners, the default rule of each left out.
    let mut rules = BTreeSet::new();
    for l in &listeners {
        let mut marker = None;
        loop {
            let page =
                c.describe_rules().listener_arn(l).set_marker(marker).send().await.expect("DescribeRules");
            rules.extend(
                page.rules()
                    .iter()
                    .filter(|r| r.is_default() != Some(true))
                    .filter_map(|r| r.rule_arn().map(str::to_string)),
            );
            marker = page.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    }
    n.insert("elbv2.listener_rule", rules.len());

    let tgs: Vec<_> = c
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeTargetGroups");
    let tg_arns: Vec<String> = tgs
        .iter()
        .filter(|t| t.target_group_name().is_some_and(|x| x.starts_with(&prefix)))
        .filter_map(|t| t.target_group_arn().map(str::to_string))
        .collect();
    n.insert("elbv2.target_group", ours(c, tg_arns, stack).await.len());
}

async fn asg_kinds(c: &aws_sdk_autoscaling::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let groups: Vec<_> = c
        .describe_auto_scaling_groups()
        .filters(aws_sdk_autoscaling::types::Filter::builder().name("tag:hactl:stack").values(stack).build())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeAutoScalingGroups");
    let live: BTreeSet<&str> = groups
        .iter()
        .filter(|g| !g.status().is_some_and(|s| s.starts_with("Delete")))
        .filter_map(|g| g.auto_scaling_group_name())
        .collect();
    n.insert("autoscaling.group", live.len());
    // The stack's group's scheduled actions (AWS deletes them with the group).
    let group = format!("{stack}-ecs");
    let actions: Vec<_> = c
        .describe_scheduled_actions()
        .auto_scaling_group_name(&group)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeScheduledActions");
    let actions: BTreeSet<&str> = actions.iter().filter_map(|a| a.scheduled_action_name()).collect();
    n.insert("autoscaling.scheduled_action", actions.len());
}

async fn aas_kinds(
    c: &aws_sdk_applicationautoscaling::Client,
    stack: &str,
    n: &mut BTreeMap<&'static str, usize>,
) {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let prefix = format!("service/{stack}/");
    let targets: Vec<_> = c
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeScalableTargets");
    let targets: BTreeSet<(String, String)> = targets
        .iter()
        .filter(|t| t.resource_id().starts_with(&prefix))
        .map(|t| (t.resource_id().to_string(), t.scalable_dimension().as_str().to_string()))
        .collect();
    n.insert("appautoscaling.target", targets.len());
    let policies: Vec<_> = c
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeScalingPolicies");
    let policies: BTreeSet<&str> =
        policies.iter().filter(|p| p.resource_id().starts_with(&prefix)).map(|p| p.policy_arn()).collect();
    n.insert("appautoscaling.policy", policies.len());
    let actions: Vec<_> = c
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeScheduledActions");
    let actions: BTreeSet<&str> = actions
        .iter()
        .filter(|a| a.resource_id().starts_with(&prefix))
        .map(|a| a.scheduled_action_arn())
        .collect();
    n.insert("appautoscaling.scheduled_action", actions.len());
}

async fn iam_kinds(c: &aws_sdk_iam::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let path = format!("/hactl/{stack}/us-east-1/");
    let roles: Vec<_> = c
        .list_roles()
        .path_prefix(&path)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListRoles");
    n.insert(
        "iam.role",
        roles.iter().filter(|r| r.path() == path).map(|r| r.role_id()).collect::<BTreeSet<_>>().len(),
    );
    let profiles: Vec<_> = c
        .list_instance_profiles()
        .path_prefix(&path)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListInstanceProfiles");
    n.insert(
        "iam.instance_profile",
        profiles
            .iter()
            .filter(|p| p.path() == path)
            .map(|p| p.instance_profile_id())
            .collect::<BTreeSet<_>>()
            .len(),
    );
}

async fn logs_kinds(c: &aws_sdk_cloudwatchlogs::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let prefix = format!("/hactl/{stack}/");
    let groups: Vec<_> = c
        .describe_log_groups()
        .log_group_name_prefix(&prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeLogGroups");
    let names: BTreeSet<&str> =
        groups.iter().filter_map(|g| g.log_group_name()).filter(|name| name.starts_with(&prefix)).collect();
    n.insert("logs.log_group", names.len());
    // Subscription filters carry no tags: those of the stack's log groups.
    let mut filters = 0;
    for name in &names {
        let f = c.describe_subscription_filters().log_group_name(*name).send().await;
        filters += f.expect("DescribeSubscriptionFilters").subscription_filters().len();
    }
    n.insert("logs.subscription_filter", filters);
}

async fn acm_kinds(c: &aws_sdk_acm::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    use aws_sdk_acm::types::{Filters, KeyAlgorithm};
    let includes = Filters::builder()
        .set_key_types(Some(vec![
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
            KeyAlgorithm::EcSecp521r1,
            KeyAlgorithm::Rsa1024,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
        ]))
        .build();
    let certs: Vec<_> = c
        .list_certificates()
        .includes(includes)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListCertificates");
    let mut ours = BTreeSet::new();
    for cert in &certs {
        let arn = cert.certificate_arn().expect("certificate arn");
        // A certificate deleted meanwhile has no tags to answer.
        let Ok(tags) = c.list_tags_for_certificate().certificate_arn(arn).send().await else { continue };
        if tagged(tags.tags().iter().map(|t| (Some(t.key()), t.value())), stack) {
            ours.insert(arn.to_string());
        }
    }
    n.insert("acm.certificate", ours.len());
}

async fn secret_kinds(
    c: &aws_sdk_secretsmanager::Client,
    stack: &str,
    n: &mut BTreeMap<&'static str, usize>,
) {
    let prefix = format!("hactl/{stack}/");
    let pages: Vec<_> = c
        .list_secrets()
        .include_planned_deletion(true)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("ListSecrets");
    let secrets: Vec<_> = pages.iter().flat_map(|p| p.secret_list()).collect();
    // Live: not scheduled for deletion.
    let live: Vec<_> = secrets
        .iter()
        .filter(|x| x.name().is_some_and(|name| name.starts_with(&prefix)))
        .filter(|x| x.deleted_date().is_none())
        .filter(|x| tagged(x.tags().iter().map(|t| (t.key(), t.value())), stack))
        .collect();
    n.insert("secretsmanager.secret", live.iter().filter_map(|x| x.arn()).collect::<BTreeSet<_>>().len());
    // The connection secret's fields that name the database (its host), once set.
    let connection = format!("{prefix}db-connection");
    let mut fields = 0;
    if live.iter().any(|x| x.name() == Some(connection.as_str())) {
        let v = c.get_secret_value().secret_id(&connection).send().await.expect("GetSecretValue");
        let json: serde_json::Value =
            serde_json::from_str(v.secret_string().expect("secret string")).expect("secret JSON");
        if json["host"].as_str().is_some_and(|h| !h.is_empty()) {
            fields = 1;
        }
    }
    n.insert("secretsmanager.secret_fields", fields);
    // The rotation schedule of the secret the stack's database manages its password in
    // (named by AWS; its owner tag names the stack's cluster or instance).
    let databases = [format!(":cluster:{stack}-docdb"), format!(":db:{stack}-pg")];
    let rotated = secrets
        .iter()
        .filter(|x| x.deleted_date().is_none() && x.owning_service() == Some("rds"))
        .filter(|x| x.rotation_enabled() == Some(true))
        .filter(|x| {
            x.tags().iter().any(|t| {
                t.key().is_some_and(|k| k.starts_with("aws:rds:primaryDB"))
                    && t.value().is_some_and(|v| databases.iter().any(|d| v.ends_with(d.as_str())))
            })
        })
        .count();
    n.insert("secretsmanager.rotation", rotated);
}

/// The stack's RDS Proxy (named `<stack>-proxy`).
async fn rds_proxies(c: &aws_sdk_rds::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let proxies: Vec<_> = c
        .describe_db_proxies()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("DescribeDBProxies");
    let name = format!("{stack}-proxy");
    n.insert("rds.db_proxy", proxies.iter().filter(|p| p.db_proxy_name() == Some(name.as_str())).count());
}

async fn docdb_kinds(c: &aws_sdk_docdb::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let prefix = format!("{stack}-");
    let clusters = c.describe_db_clusters().send().await.expect("DescribeDBClusters");
    let clusters: BTreeSet<&str> = clusters
        .db_clusters()
        .iter()
        .filter(|x| x.engine() == Some("docdb") && x.status() != Some("deleted"))
        .filter_map(|x| x.db_cluster_identifier())
        .filter(|id| id.starts_with(&prefix))
        .collect();
    n.insert("docdb.cluster", clusters.len());
    let instances = c.describe_db_instances().send().await.expect("DescribeDBInstances");
    let instances: BTreeSet<&str> = instances
        .db_instances()
        .iter()
        .filter(|x| x.engine() == Some("docdb") && x.db_instance_status() != Some("deleted"))
        .filter(|x| x.db_cluster_identifier().is_some_and(|cl| cl.starts_with(&prefix)))
        .filter_map(|x| x.db_instance_identifier())
        .collect();
    n.insert("docdb.instance", instances.len());
    let groups = c.describe_db_subnet_groups().send().await.expect("DescribeDBSubnetGroups");
    let groups: BTreeSet<&str> = groups
        .db_subnet_groups()
        .iter()
        .filter_map(|g| g.db_subnet_group_name())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    n.insert("docdb.subnet_group", groups.len());
    let pgs =
        c.describe_db_cluster_parameter_groups().send().await.expect("DescribeDBClusterParameterGroups");
    let pgs: BTreeSet<&str> = pgs
        .db_cluster_parameter_groups()
        .iter()
        .filter_map(|g| g.db_cluster_parameter_group_name())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    n.insert("docdb.cluster_parameter_group", pgs.len());
}

/// The default bus's rules, the state machines and the OpenSearch domains named `<stack>-`
/// that carry the stack's tag.
async fn redeploy_kinds(conf: &aws_config::SdkConfig, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let prefix = format!("{stack}-");
    let events = aws_sdk_eventbridge::Client::new(conf);
    let rules = events.list_rules().name_prefix(&prefix).send().await.expect("ListRules");
    let mut ours = BTreeSet::new();
    for r in rules.rules() {
        let arn = r.arn().expect("rule arn");
        let tags = events
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource (events)");
        if tagged(tags.tags().iter().map(|t| (Some(t.key()), Some(t.value()))), stack) {
            ours.insert(arn.to_string());
        }
    }
    n.insert("events.rule", ours.len());
    let sfn = aws_sdk_sfn::Client::new(conf);
    let machines: Vec<_> = sfn
        .list_state_machines()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListStateMachines");
    let mut ours = BTreeSet::new();
    for m in machines.iter().filter(|m| m.name().starts_with(&prefix)) {
        let arn = m.state_machine_arn();
        let tags =
            sfn.list_tags_for_resource().resource_arn(arn).send().await.expect("ListTagsForResource (sfn)");
        if tagged(tags.tags().iter().map(|t| (t.key(), t.value())), stack) {
            ours.insert(arn.to_string());
        }
    }
    n.insert("sfn.state_machine", ours.len());
    let opensearch = aws_sdk_opensearch::Client::new(conf);
    let names = opensearch.list_domain_names().send().await.expect("ListDomainNames");
    let mut ours = BTreeSet::new();
    for name in names.domain_names().iter().filter_map(|d| d.domain_name()).filter(|n| n.starts_with(&prefix))
    {
        let d = opensearch.describe_domain().domain_name(name).send().await.expect("DescribeDomain");
        let Some(status) = d.domain_status().filter(|s| s.deleted() != Some(true)) else { continue };
        let tags = opensearch.list_tags().arn(status.arn()).send().await.expect("ListTags (opensearch)");
        if tagged(tags.tag_list().iter().map(|t| (Some(t.key()), Some(t.value()))), stack) {
            ours.insert(name.to_string());
        }
    }
    n.insert("opensearch.domain", ours.len());
}

async fn sns_kinds(c: &aws_sdk_sns::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let topics: Vec<_> =
        c.list_topics().into_paginator().items().send().try_collect().await.expect("ListTopics");
    let prefix = format!(":{stack}-");
    let mut ours = BTreeSet::new();
    for t in &topics {
        let arn = t.topic_arn().expect("topic arn");
        if !arn.contains(&prefix) {
            continue;
        }
        let tags =
            c.list_tags_for_resource().resource_arn(arn).send().await.expect("ListTagsForResource (sns)");
        if tagged(tags.tags().iter().map(|t| (Some(t.key()), Some(t.value()))), stack) {
            ours.insert(arn.to_string());
        }
    }
    n.insert("sns.topic", ours.len());
}

async fn cloudwatch_kinds(
    c: &aws_sdk_cloudwatch::Client,
    stack: &str,
    n: &mut BTreeMap<&'static str, usize>,
) {
    let prefix = format!("{stack}-");
    let alarms: Vec<_> = c
        .describe_alarms()
        .alarm_name_prefix(&prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("DescribeAlarms");
    let mut ours = BTreeSet::new();
    for page in &alarms {
        for a in page.metric_alarms() {
            let arn = a.alarm_arn().expect("alarm arn");
            let tags = c
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .expect("ListTagsForResource (alarm)");
            if tagged(tags.tags().iter().map(|t| (t.key(), t.value())), stack) {
                ours.insert(a.alarm_name().expect("alarm name").to_string());
            }
        }
    }
    n.insert("cloudwatch.alarm", ours.len());
    let dashboard = format!("{stack}-us-east-1");
    let boards = c.list_dashboards().dashboard_name_prefix(&dashboard).send().await.expect("ListDashboards");
    let boards: BTreeSet<&str> = boards
        .dashboard_entries()
        .iter()
        .filter_map(|d| d.dashboard_name())
        .filter(|name| *name == dashboard)
        .collect();
    n.insert("cloudwatch.dashboard", boards.len());
}

/// The stack's hosted zones (by tag), and the records in them other than the zone's own SOA
/// and NS (Route 53 is global: zones of either region).
async fn route53_kinds(c: &aws_sdk_route53::Client, stack: &str, n: &mut BTreeMap<&'static str, usize>) {
    let zones: Vec<_> =
        c.list_hosted_zones().into_paginator().items().send().try_collect().await.expect("ListHostedZones");
    let mut ours = BTreeSet::new();
    for z in &zones {
        let id = z.id().trim_start_matches("/hostedzone/").to_string();
        let tags = c
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(&id)
            .send()
            .await
            .expect("ListTagsForResource (route53)");
        let set = tags.resource_tag_set().map(|t| t.tags()).unwrap_or_default();
        if tagged(set.iter().map(|t| (t.key(), t.value())), stack) {
            ours.insert(id);
        }
    }
    let mut records = 0;
    for id in &ours {
        let sets =
            c.list_resource_record_sets().hosted_zone_id(id).send().await.expect("ListResourceRecordSets");
        records += sets
            .resource_record_sets()
            .iter()
            .filter(|r| {
                !matches!(
                    r.r#type(),
                    aws_sdk_route53::types::RrType::Soa | aws_sdk_route53::types::RrType::Ns
                )
            })
            .count();
    }
    n.insert("route53.hosted_zone", ours.len());
    n.insert("route53.record", records);
}

/// The log shipper's function (named `<stack>-...`, tagged with the stack) and its
/// failed-batches bucket (`<stack>-log-failures-...`).
async fn log_shipping_kinds(
    conf: &aws_config::SdkConfig,
    stack: &str,
    n: &mut BTreeMap<&'static str, usize>,
) {
    let prefix = format!("{stack}-");
    let lambda = aws_sdk_lambda::Client::new(conf);
    let functions: Vec<_> =
        lambda.list_functions().into_paginator().items().send().try_collect().await.expect("ListFunctions");
    let mut ours = BTreeSet::new();
    for f in functions.iter().filter(|f| f.function_name().is_some_and(|n| n.starts_with(&prefix))) {
        let arn = f.function_arn().expect("function arn");
        let tags = lambda.list_tags().resource(arn).send().await.expect("ListTags (lambda)");
        let tags = tags.tags().cloned().unwrap_or_default();
        if tagged(tags.iter().map(|(k, v)| (Some(k.as_str()), Some(v.as_str()))), stack) {
            ours.insert(arn.to_string());
        }
    }
    n.insert("lambda.function", ours.len());
    // The failure bucket by its name, whatever its tags: one left without them would be
    // a leak too.
    let s3 = super::s3().await;
    let buckets = s3.list_buckets().send().await.expect("ListBuckets");
    let ours: BTreeSet<&str> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with(&format!("{stack}-log-failures-")))
        .collect();
    n.insert("s3.bucket", ours.len());
}
