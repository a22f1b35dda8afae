//! End to end on the cost levers of issue 16, against the emulator: scheduled scaling and
//! Spot capacity on Fargate (a service's scheduled actions, FARGATE_SPOT in its strategy)
//! and on EC2 (the Auto Scaling group's scheduled actions and mixed-instances policy).
//! Effects are verified with the SDK; the sizes a schedule sets are made with the aws CLI
//! (the emulator runs no schedules) and must not be drift.

mod common;

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use common::census::{census, KINDS};
use common::*;
use serde_json::Value as J;

/// A config's text with `extra` inserted after the line `after`.
fn with(text: &str, after: &str, extra: &str) -> String {
    let at = text.find(after).unwrap_or_else(|| panic!("`{after}` not in the config")) + after.len();
    format!("{}\n{extra}{}", &text[..at], &text[at..])
}

/// The (address, property) pairs of a `drift --json` report's changes.
fn drifted(s: &Stack, code: i32) -> Vec<(String, String)> {
    let r = s.ok(&["drift", "--json"], code);
    let report: J = serde_json::from_str(&r.stdout).expect("drift json");
    let mut out = Vec::new();
    for c in report["changed"].as_array().expect("changed") {
        for p in c["changes"].as_array().expect("changes") {
            out.push((
                c["address"].as_str().unwrap_or("").to_string(),
                p["property"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// A scheduled action as compared: name, schedule, time zone, min, max.
type Action = (String, String, Option<String>, Option<i32>, Option<i32>);

const FARGATE_LEVERS: &str = r#"
[[services.autoscaling.schedule]]
name = "night"
at = "20:00"
days = ["MON", "TUE", "WED", "THU", "FRI"]
time_zone = "Europe/Paris"
min = 1
max = 1

[[services.autoscaling.schedule]]
name = "morning"
at = "07:30"
time_zone = "Europe/Paris"
min = 2
max = 8

[services.spot]
on_demand_base = 1
spot_percent = 75
"#;

#[tokio::test(flavor = "multi_thread")]
async fn fargate_spot_and_scheduled_scaling() {
    let text = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let s = Stack::from_text("lv-fg", &with(&text, "requests_per_target = 500\n", FARGATE_LEVERS));
    let conf = sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let aas = aws_sdk_applicationautoscaling::Client::new(&conf);
    s.ok(&["apply", "--auto-approve"], 0);

    // Spot: FARGATE for the base task, then 1:3 FARGATE:FARGATE_SPOT; both providers on
    // the cluster; no launch type on the service.
    let svc = ecs.describe_services().cluster(&s.name).services("api").send().await.expect("services");
    let svc = svc.services().first().expect("service api").clone();
    assert_eq!(svc.launch_type(), None, "{svc:?}");
    let strategy: Vec<(String, i32, i32)> = svc
        .capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider().to_string(), i.weight(), i.base()))
        .collect();
    assert_eq!(strategy, [("FARGATE".to_string(), 1, 1), ("FARGATE_SPOT".to_string(), 3, 0)]);
    let cl = ecs.describe_clusters().clusters(&s.name).send().await.expect("clusters");
    let mut providers = cl.clusters()[0].capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, ["FARGATE", "FARGATE_SPOT"]);

    // Scheduled scaling: both actions on the service's target, with their times and zone.
    let resource = format!("service/{}/api", s.name);
    let actions = aas
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .send()
        .await
        .expect("DescribeScheduledActions");
    let mut found: Vec<Action> = actions
        .scheduled_actions()
        .iter()
        .map(|a| {
            let t = a.scalable_target_action();
            (
                a.scheduled_action_name().to_string(),
                a.schedule().to_string(),
                a.timezone().map(str::to_string),
                t.and_then(|t| t.min_capacity()),
                t.and_then(|t| t.max_capacity()),
            )
        })
        .collect();
    found.sort();
    let paris = Some("Europe/Paris".to_string());
    assert_eq!(
        found,
        [
            (
                format!("{}-api-morning", s.name),
                "cron(30 7 * * ? *)".to_string(),
                paris.clone(),
                Some(2),
                Some(8)
            ),
            (
                format!("{}-api-night", s.name),
                "cron(0 20 ? * MON,TUE,WED,THU,FRI *)".to_string(),
                paris,
                Some(1),
                Some(1)
            ),
        ]
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // 20:00 in Paris: the night action sets min = max = 1. That is not drift, and apply
    // leaves it.
    let register = |min: &str, max: &str| {
        aws_cli(&[
            "application-autoscaling",
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            "--resource-id",
            &resource,
            "--scalable-dimension",
            "ecs:service:DesiredCount",
            "--min-capacity",
            min,
            "--max-capacity",
            max,
        ])
    };
    register("1", "1");
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());
    s.ok(&["plan", "--detailed-exitcode"], 0);
    // A count no schedule sets is drift, and apply repairs it.
    register("3", "8");
    assert_eq!(drifted(&s, 2), [("scalable_target.api".to_string(), "min_capacity".to_string())]);
    s.ok(&["apply", "--auto-approve"], 0);
    let t = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&resource)
        .send()
        .await
        .expect("targets");
    assert_eq!((t.scalable_targets()[0].min_capacity(), t.scalable_targets()[0].max_capacity()), (2, 8));

    // A schedule added to the running stack: its sizes are not drift either (the target
    // knows the stack's actions from AWS, not from what it was created with).
    let lunch = "[[services.autoscaling.schedule]]\nname = \"lunch\"\nat = \"12:00\"\nmin = 4\nmax = 4\n\n";
    s.edit(|t| t.replacen("[services.spot]", &format!("{lunch}[services.spot]"), 1));
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--detailed-exitcode"], 0);
    register("4", "4");
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());
    register("2", "8");

    // Not Spot any more: the service moves back to the FARGATE launch type in place (the
    // same service, not a replacement) and the Spot provider leaves the cluster.
    s.edit(|t| t.replace("[services.spot]\non_demand_base = 1\nspot_percent = 75\n", ""));
    let actions = plan_actions(&s);
    assert!(actions.contains(&("ecs_service.api".to_string(), "update".to_string())), "{actions:?}");
    assert!(
        actions.contains(&("cluster_capacity_providers.main".to_string(), "delete".to_string())),
        "{actions:?}"
    );
    s.ok(&["apply", "--auto-approve"], 0);
    let svc2 = ecs.describe_services().cluster(&s.name).services("api").send().await.expect("services");
    let svc2 = svc2.services().first().expect("service api").clone();
    assert_eq!(svc2.service_arn(), svc.service_arn());
    assert_eq!(svc2.created_at(), svc.created_at(), "the same service, not a new one");
    assert_eq!(svc2.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert!(svc2.capacity_provider_strategy().is_empty(), "{svc2:?}");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}

const EC2_LEVERS: &str = r#"
[compute.spot]
instance_types = ["t3.medium", "t3a.medium", "m5.large"]
on_demand_base = 1
spot_percent = 60

[[compute.schedule]]
name = "weekend"
at = "21:00"
days = ["SAT", "SUN"]
time_zone = "America/New_York"
min = 1
max = 2
desired = 1
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ec2_spot_instances_and_scheduled_group_sizes() {
    let text = std::fs::read_to_string(repo_root().join("config/ha-stack.toml")).expect("config");
    let s = Stack::from_text("lv-ec2", &with(&text, "root_device_name = \"/dev/xvda\"\n", EC2_LEVERS));
    let asg = aws_sdk_autoscaling::Client::new(&sdk().await);
    let ec2 = ec2().await;
    s.ok(&["apply", "--auto-approve"], 0);
    let group_name = state_id(&s, "asg.ecs");
    let group = || async {
        let g = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&group_name)
            .send()
            .await
            .expect("asg");
        g.auto_scaling_groups().first().expect("group").clone()
    };

    // Spot: a mixed-instances policy over the stack's launch template, the three types,
    // one On-Demand instance then 40 % On-Demand above it, capacity rebalancing on.
    let g = group().await;
    let m = g.mixed_instances_policy().expect("mixed instances policy");
    let lt = m.launch_template().expect("template");
    let spec = lt.launch_template_specification().expect("spec");
    assert_eq!(spec.launch_template_id(), Some(state_id(&s, "launch_template.ecs").as_str()));
    let types: Vec<&str> = lt.overrides().iter().filter_map(|o| o.instance_type()).collect();
    assert_eq!(types, ["t3.medium", "t3a.medium", "m5.large"]);
    let d = m.instances_distribution().expect("distribution");
    assert_eq!(d.on_demand_base_capacity(), Some(1));
    assert_eq!(d.on_demand_percentage_above_base_capacity(), Some(40));
    assert_eq!(d.spot_allocation_strategy(), Some("price-capacity-optimized"));
    assert_eq!(g.capacity_rebalance(), Some(true));
    // The agent drains Spot instances on their interruption notice.
    let v = ec2
        .describe_launch_template_versions()
        .launch_template_id(state_id(&s, "launch_template.ecs"))
        .versions("$Latest")
        .send()
        .await
        .expect("versions");
    let data = v.launch_template_versions()[0].launch_template_data().expect("data");
    let user_data = data.user_data().expect("user data");
    let user_data = aws_smithy_types::base64::decode(user_data).expect("base64");
    assert!(String::from_utf8_lossy(&user_data).contains("ECS_ENABLE_SPOT_INSTANCE_DRAINING=true"));

    // The group's scheduled action, in its time zone.
    let a =
        asg.describe_scheduled_actions().auto_scaling_group_name(&group_name).send().await.expect("actions");
    let a: Vec<_> = a
        .scheduled_update_group_actions()
        .iter()
        .map(|a| {
            (
                a.scheduled_action_name().unwrap_or("").to_string(),
                a.recurrence().unwrap_or("").to_string(),
                a.time_zone().unwrap_or("").to_string(),
                (a.min_size(), a.max_size(), a.desired_capacity()),
            )
        })
        .collect();
    assert_eq!(
        a,
        [(
            format!("{}-weekend", s.name),
            "0 21 * * 6,0".to_string(),
            "America/New_York".to_string(),
            (Some(1), Some(2), Some(1))
        )]
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Saturday 21:00 in New York: the action's sizes are not drift; sizes by hand are.
    let sizes = |min: &str, max: &str| {
        aws_cli(&[
            "autoscaling",
            "update-auto-scaling-group",
            "--auto-scaling-group-name",
            &group_name,
            "--min-size",
            min,
            "--max-size",
            max,
        ])
    };
    sizes("1", "2");
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());
    sizes("0", "2");
    assert_eq!(drifted(&s, 2), [("asg.ecs".to_string(), "min_size".to_string())]);
    s.ok(&["apply", "--auto-approve"], 0);
    // Apply restores the min; the max stays the action's until the next one changes it.
    let g = group().await;
    assert_eq!((g.min_size(), g.max_size()), (Some(2), Some(2)));

    // Without Spot: the group goes back to the launch template alone, in place.
    s.edit(|t| t.replace("[compute.spot]\ninstance_types = [\"t3.medium\", \"t3a.medium\", \"m5.large\"]\non_demand_base = 1\nspot_percent = 60\n", ""));
    let actions = plan_actions(&s);
    assert!(actions.contains(&("asg.ecs".to_string(), "update".to_string())), "{actions:?}");
    s.ok(&["apply", "--auto-approve"], 0);
    let g2 = group().await;
    assert_eq!(g2.auto_scaling_group_arn(), g.auto_scaling_group_arn());
    assert!(g2.mixed_instances_policy().is_none(), "{g2:?}");
    assert_eq!(g2.capacity_rebalance(), Some(false));
    assert_eq!(
        g2.launch_template().and_then(|l| l.launch_template_id()),
        Some(state_id(&s, "launch_template.ecs").as_str())
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}

/// The ingress (or egress) rules of a security group as (port, source group) pairs.
async fn group_rules(ec2: &aws_sdk_ec2::Client, group: &str, egress: bool) -> Vec<(i32, String)> {
    let out = ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    let mut rules: Vec<(i32, String)> = out
        .security_group_rules()
        .iter()
        .filter(|r| r.group_id() == Some(group) && r.is_egress() == Some(egress))
        .map(|r| {
            let peer = r.referenced_group_info().and_then(|g| g.group_id()).or(r.cidr_ipv4()).unwrap_or("");
            (r.from_port().unwrap_or(-1), peer.to_string())
        })
        .collect();
    rules.sort();
    rules
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_rds_proxy() {
    let text = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let proxy = "[database.proxy]\nmax_connections_percent = 90\nmax_idle_connections_percent = 40\n\n";
    let s = Stack::from_text("lv-px", &with(&text, "apply_immediately = false\n", proxy));
    let conf = sdk().await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let ec2 = ec2().await;
    s.ok(&["apply", "--auto-approve"], 0);

    // The proxy: TLS required, the database's own secret, password sign-in, the data
    // subnets, its own group, and the instance as its one target.
    let name = format!("{}-proxy", s.name);
    let p = rds.describe_db_proxies().db_proxy_name(&name).send().await.expect("DescribeDBProxies");
    let p = p.db_proxies().first().expect("the proxy").clone();
    assert_eq!(p.engine_family(), Some("POSTGRESQL"));
    assert_eq!(p.require_tls(), Some(true));
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{}-pg", s.name))
        .send()
        .await
        .expect("db");
    let db = db.db_instances().first().expect("instance").clone();
    let secret = db.master_user_secret().and_then(|m| m.secret_arn()).expect("managed secret").to_string();
    let auth = p.auth().first().expect("auth");
    assert_eq!(auth.secret_arn(), Some(secret.as_str()));
    assert_eq!(auth.iam_auth().map(|m| m.as_str()), Some("DISABLED"));
    let mut subnets = p.vpc_subnet_ids().to_vec();
    subnets.sort();
    let mut data: Vec<String> =
        ["us-east-1a", "us-east-1b"].iter().map(|z| state_id(&s, &format!("subnet.data.{z}"))).collect();
    data.sort();
    assert_eq!(subnets, data);
    let proxy_sg = state_id(&s, "sg.db_proxy");
    assert_eq!(p.vpc_security_group_ids(), std::slice::from_ref(&proxy_sg));
    let targets = rds.describe_db_proxy_targets().db_proxy_name(&name).send().await.expect("targets");
    let targets: Vec<(Option<&str>, Option<&str>)> =
        targets.targets().iter().map(|t| (t.rds_resource_id(), t.r#type().map(|t| t.as_str()))).collect();
    assert_eq!(targets, [(db.db_instance_identifier(), Some("RDS_INSTANCE"))]);
    let groups = rds.describe_db_proxy_target_groups().db_proxy_name(&name).send().await.expect("groups");
    let pool = groups.target_groups()[0].connection_pool_config().expect("pool").clone();
    assert_eq!(
        (
            pool.max_connections_percent(),
            pool.max_idle_connections_percent(),
            pool.connection_borrow_timeout()
        ),
        (Some(90), Some(40), Some(120))
    );

    // The proxy is reachable from the app tier only and reaches the database only; the
    // database admits the proxy (and the app tier, so tasks of the revision before the
    // proxy keep working until they are replaced).
    let (app, db_sg) = (state_id(&s, "sg.app"), state_id(&s, "sg.db"));
    assert_eq!(group_rules(&ec2, &proxy_sg, false).await, [(5432, app.clone())]);
    assert_eq!(group_rules(&ec2, &proxy_sg, true).await, [(5432, db_sg.clone())]);
    let mut want = vec![(5432, proxy_sg.clone()), (5432, app.clone())];
    want.sort();
    assert_eq!(group_rules(&ec2, &db_sg, false).await, want);

    // The services' DB_HOST (the connection secret's host) is the proxy's endpoint.
    let conn = sm.get_secret_value().secret_id(format!("hactl/{}/db-connection", s.name)).send().await;
    let conn: J = serde_json::from_str(conn.expect("connection secret").secret_string().expect("string"))
        .expect("json");
    assert_eq!(conn["host"].as_str(), p.endpoint());
    // The proxy's role reads that secret and nothing else.
    let role = p.role_arn().expect("role").rsplit('/').next().expect("role name").to_string();
    let doc = iam.get_role_policy().role_name(&role).policy_name("db-proxy").send().await.expect("policy");
    let doc: J = serde_json::from_str(&percent_decode(doc.policy_document())).expect("policy json");
    let statements = doc["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 1, "{doc}");
    assert_eq!(statements[0]["Action"], serde_json::json!(["secretsmanager:GetSecretValue"]));
    assert_eq!(statements[0]["Resource"], secret.as_str());
    s.ok(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());

    // The pool changed by hand is drift; apply puts it back.
    aws_cli(&[
        "rds",
        "modify-db-proxy-target-group",
        "--db-proxy-name",
        &name,
        "--target-group-name",
        "default",
        "--connection-pool-config",
        "MaxConnectionsPercent=50,MaxIdleConnectionsPercent=10",
    ]);
    assert_eq!(drifted(&s, 2), [("db_proxy.main".to_string(), "pool".to_string())]);
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());

    // Without the proxy: DB_HOST is the instance again, and the service gets a new
    // revision (its tasks read DB_HOST when they start), so none keeps the proxy's.
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let revision = |ecs: aws_sdk_ecs::Client, cluster: String| async move {
        let out = ecs.describe_services().cluster(cluster).services("api").send().await.expect("services");
        out.services()[0].task_definition().expect("revision").to_string()
    };
    let before = revision(ecs.clone(), s.name.clone()).await;
    s.edit(|t| t.replacen(proxy, "", 1));
    let actions = plan_actions(&s);
    for (a, what) in
        [("db_proxy.main", "delete"), ("task_definition.api", "replace"), ("secret_fields.db", "update")]
    {
        assert!(actions.contains(&(a.to_string(), what.to_string())), "{a}: {actions:?}");
    }
    s.ok(&["apply", "--auto-approve"], 0);
    assert_ne!(revision(ecs.clone(), s.name.clone()).await, before, "a new revision");
    let conn = sm.get_secret_value().secret_id(format!("hactl/{}/db-connection", s.name)).send().await;
    let conn: J = serde_json::from_str(conn.expect("connection secret").secret_string().expect("string"))
        .expect("json");
    assert_eq!(conn["host"].as_str(), db.endpoint().and_then(|e| e.address()));
    assert_eq!(group_rules(&ec2, &db_sg, false).await, [(5432, app.clone())]);
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&DESTROY_ALL, 0);
    // The census counts the proxy too.
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}

const ORDERS: &str = r#"
[[services]]
name = "orders"
image = "public.ecr.aws/nginx/nginx:1.27"
port = 80
cpu = 256
memory = 512
public = false
health_check_path = "/"
deployment = "blue_green"
"#;

/// A rule's (priority, conditions as field:values, forward as (target group, weight)).
type RuleView = (String, Vec<String>, Vec<(String, i32)>);

/// The listener's rules but the default one, by priority.
async fn rules(elb: &aws_sdk_elasticloadbalancingv2::Client, listener: &str) -> Vec<RuleView> {
    let out = elb.describe_rules().listener_arn(listener).send().await.expect("DescribeRules");
    let mut rules: Vec<RuleView> = out
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            let conditions = r
                .conditions()
                .iter()
                .map(|c| match c.http_header_config() {
                    Some(h) => {
                        format!("http-header:{}={}", h.http_header_name().unwrap_or(""), h.values().join(","))
                    }
                    None => format!("{}:{}", c.field().unwrap_or(""), c.values().join(",")),
                })
                .collect();
            let forward = r.actions()[0]
                .forward_config()
                .map(|f| {
                    f.target_groups()
                        .iter()
                        .map(|g| (g.target_group_arn().unwrap_or("").to_string(), g.weight().unwrap_or(-1)))
                        .collect()
                })
                .unwrap_or_default();
            (r.priority().unwrap_or("").to_string(), conditions, forward)
        })
        .collect();
    rules.sort_by_key(|r| r.0.parse::<i32>().unwrap_or(i32::MAX));
    rules
}

#[tokio::test(flavor = "multi_thread")]
async fn blue_green_deployments() {
    let text = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let text = with(&text, "log_retention_days = 14\n", "deployment = \"blue_green\"\nbake_time = 10\n");
    // Request-count scaling names one target group: not with blue/green.
    let text = text.replacen("requests_per_target = 500\n", ORDERS, 1);
    let s = Stack::from_text("lv-bg", &text);
    let conf = sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    s.ok(&["apply", "--auto-approve"], 0);

    // Two target groups per service; the rules ECS shifts, test before production.
    let id = |a: &str| state_id(&s, a);
    let (blue, green) = (id("target_group.api"), id("target_group.api.green"));
    let both = vec![(blue.clone(), 100), (green.clone(), 0)];
    let groups = elb.describe_target_groups().target_group_arns(&blue).target_group_arns(&green).send().await;
    assert_eq!(groups.expect("DescribeTargetGroups").target_groups().len(), 2);
    let public = rules(&elb, &id("listener.public.https")).await;
    let header = "http-header:x-hactl-test-traffic=green".to_string();
    assert_eq!(
        public,
        [
            ("1".to_string(), vec!["path-pattern:/*".to_string(), header.clone()], both.clone()),
            ("2".to_string(), vec!["path-pattern:/*".to_string()], both.clone()),
        ]
    );
    let internal = rules(&elb, &id("listener.internal.http")).await;
    let host = format!("host-header:orders.{}.internal", s.name);
    let orders = vec![(id("target_group.orders"), 100), (id("target_group.orders.green"), 0)];
    let test = internal.iter().find(|r| r.1.len() == 2).expect("the orders test rule");
    let production = internal.iter().find(|r| r.1.len() == 1).expect("the orders production rule");
    assert_eq!((&test.1, &test.2), (&vec![host.clone(), header.clone()], &orders));
    assert_eq!((&production.1, &production.2), (&vec![host], &orders));
    let priority = |r: &RuleView| r.0.parse::<i32>().expect("priority");
    assert!(priority(test) < priority(production), "{internal:?}");

    // The service: ECS's blue/green with the green group, both rules, its role, the bake
    // time and the alarms that roll it back.
    let svc = |name: &'static str| {
        let ecs = ecs.clone();
        let cluster = s.name.clone();
        async move {
            let out = ecs.describe_services().cluster(cluster).services(name).send().await.expect("services");
            out.services().first().expect("service").clone()
        }
    };
    let api = svc("api").await;
    let lb = &api.load_balancers()[0];
    assert_eq!(lb.target_group_arn(), Some(blue.as_str()));
    let adv = lb.advanced_configuration().expect("advanced configuration");
    assert_eq!(adv.alternate_target_group_arn(), Some(green.as_str()));
    assert_eq!(adv.production_listener_rule(), Some(id("listener_rule.api").as_str()));
    assert_eq!(adv.test_listener_rule(), Some(id("listener_rule.api.test").as_str()));
    let role = adv.role_arn().expect("role").rsplit('/').next().expect("name").to_string();
    let d = api.deployment_configuration().expect("deployment configuration");
    assert_eq!(d.strategy().map(|x| x.as_str()), Some("BLUE_GREEN"));
    assert_eq!(d.bake_time_in_minutes(), Some(10));
    let alarms = d.alarms().expect("alarms");
    assert!(alarms.enable() && alarms.rollback());
    let n = &s.name;
    assert_eq!(
        alarms.alarm_names(),
        [format!("{n}-ecs-cpu-api"), format!("{n}-ecs-memory-api"), format!("{n}-alb-5xx-public")]
    );
    let trust = iam.get_role().role_name(&role).send().await.expect("role");
    let trust = percent_decode(trust.role().and_then(|r| r.assume_role_policy_document()).expect("trust"));
    assert!(trust.contains("ecs.amazonaws.com"), "{trust}");
    let doc = iam.get_role_policy().role_name(&role).policy_name("blue-green").send().await.expect("policy");
    let doc = percent_decode(doc.policy_document());
    assert!(
        doc.contains("elasticloadbalancing:ModifyRule") && doc.contains(&format!("listener-rule/app/{n}-*")),
        "{doc}"
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // A new image: a new revision and a blue/green deployment, said so by the plan.
    s.edit(|t| t.replacen("public.ecr.aws/nginx/nginx:1.27", "public.ecr.aws/nginx/nginx:1.28", 1));
    let r = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let plan: J = serde_json::from_str(&r.stdout).expect("plan json");
    let action =
        |a: &str| plan["actions"].as_array().expect("actions").iter().find(|x| x["address"] == a).cloned();
    let update = action("ecs_service.api").expect("the service's update");
    assert_eq!(update["action"], "update");
    assert!(
        update["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("blue/green deployment") && r.contains("10 min bake")),
        "{update}"
    );
    assert_eq!(action("task_definition.api").expect("new revision")["action"], "replace");
    let text = s.ok(&["plan"], 0).stdout;
    assert!(text.contains("# blue/green deployment"), "{text}");
    s.ok(&["apply", "--auto-approve"], 0);
    let deployed = svc("api").await.task_definition().expect("revision").to_string();
    assert_eq!(deployed, id("task_definition.api"));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // ECS shifted production to green (done here with the CLI): not drift.
    let forward = format!(
        r#"[{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"TargetGroupArn":"{blue}","Weight":0}},{{"TargetGroupArn":"{green}","Weight":100}}]}}}}]"#
    );
    aws_cli(&["elbv2", "modify-rule", "--rule-arn", &id("listener_rule.api"), "--actions", &forward]);
    assert_eq!(drifted(&s, 0), Vec::<(String, String)>::new());

    // A deployment that fails is rolled back (the emulator's stand-in for a firing
    // alarm, HACTL_EMULATOR_ROLLBACK) and apply says so.
    s.edit(|t| {
        t.replacen(
            "APP_ENV = \"production\" }",
            "APP_ENV = \"production\", HACTL_EMULATOR_ROLLBACK = \"1\" }",
            1,
        )
    });
    let r = s.run(&["apply", "--auto-approve"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("failed") && r.stderr.contains("rolled back"), "{}", r.stderr);
    assert_eq!(svc("api").await.task_definition(), Some(deployed.as_str()), "back on the revision before");

    // Rolling again: the green group and the rules go, the service keeps running.
    s.edit(|t| {
        t.replacen(", HACTL_EMULATOR_ROLLBACK = \"1\" }", " }", 1).replacen(
            "deployment = \"blue_green\"\nbake_time = 10\n",
            "",
            1,
        )
    });
    let actions = plan_actions(&s);
    for gone in ["target_group.api.green", "listener_rule.api", "listener_rule.api.test"] {
        assert!(actions.contains(&(gone.to_string(), "delete".to_string())), "{gone}: {actions:?}");
    }
    assert!(actions.contains(&("ecs_service.api".to_string(), "update".to_string())), "{actions:?}");
    s.ok(&["apply", "--auto-approve"], 0);
    let api2 = svc("api").await;
    assert_eq!(api2.created_at(), api.created_at(), "the same service");
    assert!(api2.load_balancers()[0].advanced_configuration().is_none(), "{api2:?}");
    let strategy = api2.deployment_configuration().and_then(|d| d.strategy()).map(|x| x.as_str());
    assert_eq!(strategy, Some("ROLLING"));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}
