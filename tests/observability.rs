//! End-to-end tests of the observability tier and the drift job: the real `hactl` binary
//! against the emulator, effects verified with the AWS SDK (CloudWatch, SNS, ECS, EC2).

mod common;

use common::*;
use serde_json::Value as J;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk().await)
}

/// The latest `DriftedResources` value of the stack (Maximum over the last hour), via
/// GetMetricData.
async fn drift_metric(cw: &aws_sdk_cloudwatch::Client, stack: &str) -> Option<f64> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let now = std::time::SystemTime::now();
    let query = MetricDataQuery::builder()
        .id("drift")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("hactl")
                        .metric_name("DriftedResources")
                        .dimensions(Dimension::builder().name("Stack").value(stack).build())
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(aws_smithy_types::DateTime::from(now - Duration::from_secs(3600)))
        .end_time(aws_smithy_types::DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .expect("GetMetricData");
    out.metric_data_results().first().and_then(|r| r.values().iter().copied().reduce(f64::max))
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_metrics_puts_drifted_resources() {
    let s = Stack::new("obs-metric");
    let cw = cloudwatch().await;
    s.ok(&["apply", "--auto-approve"], 0);

    s.ok(&["drift", "--publish-metrics"], 0);
    let metrics = cw
        .list_metrics()
        .namespace("hactl")
        .metric_name("DriftedResources")
        .dimensions(
            aws_sdk_cloudwatch::types::DimensionFilter::builder().name("Stack").value(&s.name).build(),
        )
        .send()
        .await
        .expect("ListMetrics");
    assert_eq!(metrics.metrics().len(), 1, "{metrics:?}");
    assert_eq!(drift_metric(&cw, &s.name).await, Some(0.0));

    // One resource changed outside hactl: a tag on the VPC.
    let vpc = s.state()["resources"]["vpc.main"]["id"].as_str().unwrap().to_string();
    aws_cli(&["ec2", "create-tags", "--resources", &vpc, "--tags", "Key=owner,Value=someone-else"]);
    let r = s.ok(&["drift", "--json", "--publish-metrics"], 2);
    let report: J = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["changed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(drift_metric(&cw, &s.name).await, Some(1.0));

    s.ok(&DESTROY_ALL, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_runs_each_interval_and_stops_on_sigterm() {
    let s = Stack::new("obs-watch");
    s.ok(&["apply", "--auto-approve"], 0);

    let mut child = s
        .command(&["--log-format", "json", "drift", "--watch", "--interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hactl drift --watch");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut runs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            let v: J = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if v["message"] == "drift run" {
                runs.push(v);
            }
        }
    }
    assert_eq!(runs.len(), 2, "two runs within 30 s");
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["run"], J::from(i as u64 + 1));
        assert_eq!(r["stack"], J::from(s.name.as_str()));
        assert_eq!(r["drifted"], J::from(0));
        assert_eq!(r["level"], "INFO");
        assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }

    let pid = child.id().to_string();
    let sent = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit 0 on SIGTERM");
    assert!(took < Duration::from_secs(1), "stopped {took:?} after SIGTERM");

    // The lock is not held between runs: the stack can be destroyed right away.
    s.ok(&DESTROY_ALL, 0);
}

#[test]
fn intervals_are_parsed_and_bad_ones_refused() {
    let s = Stack::new("obs-interval");
    let r = s.run(&["drift", "--watch", "--interval", "5x"]);
    assert_eq!(r.code, 64, "usage error (never 2, which means drift found): {}", r.stderr);
    assert!(r.stderr.contains("unknown unit"), "{}", r.stderr);
    let r = s.run(&["drift", "--watch", "--interval", "0s"]);
    assert!(r.stderr.contains("at least 1s"), "{}", r.stderr);
}

/// Every alarm of the stack, by name.
async fn alarms(
    cw: &aws_sdk_cloudwatch::Client,
    stack: &str,
) -> std::collections::BTreeMap<String, aws_sdk_cloudwatch::types::MetricAlarm> {
    let out = cw
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}-"))
        .max_records(100)
        .send()
        .await
        .expect("DescribeAlarms");
    out.metric_alarms().iter().filter_map(|a| Some((a.alarm_name()?.to_string(), a.clone()))).collect()
}

fn dims(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> std::collections::BTreeMap<String, String> {
    a.dimensions().iter().filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string()))).collect()
}

/// The part of an ELBv2 ARN CloudWatch uses as a dimension value.
fn arn_suffix(arn: &str, marker: &str) -> String {
    arn.split_once(marker).map(|(_, rest)| rest.to_string()).unwrap_or_default()
}

fn three_clean_drift_runs(s: &Stack) {
    for run in 1..=3 {
        let r = s.run(&["drift", "--json"]);
        assert_eq!(r.code, 0, "drift run {run} on an untouched stack reported:\n{}{}", r.stdout, r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2_stack_alarms_dashboard_and_six_kinds_of_drift() {
    let s = Stack::from_file("obs-full", "config/ha-stack.toml");
    let c = sdk().await;
    let cw = aws_sdk_cloudwatch::Client::new(&c);
    let sns = aws_sdk_sns::Client::new(&c);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&c);
    s.ok(&["apply", "--auto-approve"], 0);

    // The topic, the alarms with CloudWatch's own dimensions, the dashboard.
    let topic_arn = state_id(&s, "sns_topic.alarms");
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics.topics().iter().any(|t| t.topic_arn() == Some(topic_arn.as_str())));
    assert!(topic_arn.ends_with(&format!(":{}-alarms", s.name)));
    let all = alarms(&cw, &s.name).await;
    let get = |name: &str| {
        all.get(&format!("{}-{name}", s.name))
            .unwrap_or_else(|| panic!("alarm {name} missing: {:?}", all.keys()))
    };
    for a in all.values() {
        assert_eq!(a.alarm_actions(), std::slice::from_ref(&topic_arn), "{:?}", a.alarm_name());
    }
    let cpu = get("ecs-cpu-frontend");
    assert_eq!(
        (cpu.namespace(), cpu.metric_name(), cpu.threshold()),
        (Some("AWS/ECS"), Some("CPUUtilization"), Some(80.0))
    );
    assert_eq!(
        dims(cpu),
        [("ClusterName".to_string(), s.name.clone()), ("ServiceName".to_string(), "frontend".to_string())]
            .into()
    );
    let lbs = elb.describe_load_balancers().names(format!("{}-public", s.name)).send().await.unwrap();
    let lb_arn = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let lb_dim = arn_suffix(&lb_arn, ":loadbalancer/");
    assert!(lb_dim.starts_with("app/"), "{lb_dim}");
    let e5xx = get("alb-5xx-public");
    assert_eq!(
        (e5xx.metric_name(), e5xx.statistic().map(|s| s.as_str())),
        (Some("HTTPCode_ELB_5XX_Count"), Some("Sum"))
    );
    assert_eq!(dims(e5xx), [("LoadBalancer".to_string(), lb_dim.clone())].into());
    let tg_arn = state_id(&s, "target_group.frontend");
    let unhealthy = get("tg-unhealthy-frontend");
    assert_eq!(unhealthy.metric_name(), Some("UnHealthyHostCount"));
    let tg_dim = format!("targetgroup/{}", arn_suffix(&tg_arn, ":targetgroup/"));
    assert_eq!(
        dims(unhealthy),
        [("LoadBalancer".to_string(), lb_dim.clone()), ("TargetGroup".to_string(), tg_dim)].into()
    );
    assert!(dims(unhealthy)["TargetGroup"].starts_with("targetgroup/"));
    assert_eq!(get("tg-response-time-backend").metric_name(), Some("TargetResponseTime"));
    assert_eq!(
        dims(get("asg-cpu-ecs")),
        [("AutoScalingGroupName".to_string(), state_id(&s, "asg.ecs"))].into()
    );
    let db = get("db-cpu-main");
    assert_eq!(db.namespace(), Some("AWS/DocDB"));
    assert_eq!(dims(db), [("DBClusterIdentifier".to_string(), format!("{}-docdb", s.name))].into());
    assert_eq!(get("db-replica-lag-main").metric_name(), Some("DBClusterReplicaLagMaximum"));
    let dash =
        cw.get_dashboard().dashboard_name(format!("{}-us-east-1", s.name)).send().await.expect("dashboard");
    let body: J = serde_json::from_str(dash.dashboard_body().unwrap()).unwrap();
    assert_eq!(body["widgets"].as_array().unwrap().len(), all.len());
    assert!(dash.dashboard_body().unwrap().contains(&lb_dim), "the dashboard shows the real dimensions");

    three_clean_drift_runs(&s);

    // Six kinds of out-of-band change.
    let sg_app = state_id(&s, "sg.app");
    let vpc = state_id(&s, "vpc.main");
    aws_cli(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        &sg_app,
        "--protocol",
        "tcp",
        "--port",
        "22",
        "--cidr",
        "0.0.0.0/0",
    ]);
    aws_cli(&["ecs", "update-service", "--cluster", &s.name, "--service", "backend", "--desired-count", "5"]);
    aws_cli(&["ec2", "create-tags", "--resources", &vpc, "--tags", "Key=owner,Value=someone-else"]);
    let a = get("ecs-cpu-frontend");
    cw.put_metric_alarm()
        .alarm_name(a.alarm_name().unwrap())
        .namespace(a.namespace().unwrap())
        .metric_name(a.metric_name().unwrap())
        .set_dimensions(Some(a.dimensions().to_vec()))
        .statistic(a.statistic().unwrap().clone())
        .period(a.period().unwrap())
        .evaluation_periods(a.evaluation_periods().unwrap())
        .threshold(99.0)
        .comparison_operator(a.comparison_operator().unwrap().clone())
        .set_alarm_actions(Some(a.alarm_actions().to_vec()))
        .set_treat_missing_data(a.treat_missing_data().map(str::to_string))
        .set_alarm_description(a.alarm_description().map(str::to_string))
        .send()
        .await
        .unwrap();
    cw.delete_alarms().alarm_names(format!("{}-db-cpu-main", s.name)).send().await.unwrap();
    let stray = aws_cli(&[
        "ec2",
        "create-security-group",
        "--group-name",
        &format!("{}-stray", s.name),
        "--description",
        "made by hand",
        "--vpc-id",
        &vpc,
        "--tag-specifications",
        &format!("ResourceType=security-group,Tags=[{{Key=hactl:stack,Value={}}}]", s.name),
    ]);
    let stray_id = serde_json::from_str::<J>(&stray).unwrap()["GroupId"].as_str().unwrap().to_string();

    let r = s.ok(&["drift", "--json"], 2);
    let report: J = serde_json::from_str(&r.stdout).unwrap();
    let changed = |addr: &str, prop: &str| -> J {
        let res = report["changed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} not changed: {report}"));
        res["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["property"] == prop)
            .cloned()
            .unwrap_or_else(|| panic!("{addr}.{prop} not in {res}"))
    };
    assert_eq!(changed("ecs_service.backend", "desired_count")["actual"], J::from(5));
    assert_eq!(changed("alarm.ecs_cpu.frontend", "threshold")["actual"], J::from(99.0));
    assert_eq!(changed("alarm.ecs_cpu.frontend", "threshold")["expected"], J::from(80.0));
    assert_eq!(changed("vpc.main", "tags")["actual"]["owner"], "someone-else");
    assert!(changed("sg_rules.app", "ingress")["actual"].to_string().contains("0.0.0.0/0"));
    let deleted: Vec<&str> =
        report["deleted"].as_array().unwrap().iter().filter_map(|d| d["address"].as_str()).collect();
    assert_eq!(deleted, ["alarm.db_cpu.main"], "{report}");
    let unmanaged: Vec<&str> =
        report["unmanaged"].as_array().unwrap().iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(unmanaged, [stray_id.as_str()], "{report}");
    assert_eq!(report["changed"].as_array().unwrap().len(), 4, "exactly the four changed: {report}");

    // Apply repairs what hactl manages; the unmanaged group stays reported until removed.
    s.ok(&["apply", "--auto-approve"], 0);
    let r = s.ok(&["drift", "--json"], 2);
    let report: J = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        report["changed"].as_array().unwrap().is_empty() && report["deleted"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["unmanaged"].as_array().unwrap().len(), 1);
    assert_eq!(alarms(&cw, &s.name).await[&format!("{}-ecs-cpu-frontend", s.name)].threshold(), Some(80.0));
    aws_cli(&["ec2", "delete-security-group", "--group-id", &stray_id]);
    s.ok(&["drift"], 0);

    s.ok(&DESTROY_ALL, 0);
    assert!(alarms(&cw, &s.name).await.is_empty(), "alarms left after destroy");
    assert_not_found(
        cw.get_dashboard().dashboard_name(format!("{}-us-east-1", s.name)).send().await,
        // AWS: ResourceNotFound; LocalStack: InvalidParameterValue "Dashboard ... does not exist."
        &["ResourceNotFound", "InvalidParameterValue~does not exist"],
        "the dashboard",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stack_alarms_and_clean_drift_runs() {
    let s = Stack::from_file("obs-pg", "config/fargate-postgres.toml");
    let cw = cloudwatch().await;
    s.ok(&["apply", "--auto-approve"], 0);
    let all = alarms(&cw, &s.name).await;
    let db = &all[&format!("{}-db-cpu-main", s.name)];
    assert_eq!(db.namespace(), Some("AWS/RDS"));
    assert_eq!(dims(db), [("DBInstanceIdentifier".to_string(), format!("{}-pg", s.name))].into());
    let storage = &all[&format!("{}-db-free-storage-main", s.name)];
    assert_eq!(storage.comparison_operator().map(|c| c.as_str()), Some("LessThanThreshold"));
    assert!(!all.contains_key(&format!("{}-asg-cpu-ecs", s.name)), "Fargate: no instance alarm");
    three_clean_drift_runs(&s);
    s.ok(&DESTROY_ALL, 0);
    assert!(alarms(&cw, &s.name).await.is_empty());
}

/// `[log_analytics]`: the OpenSearch domain in the data subnets of two zones with its
/// VPC, encryption and access settings, its security group admitting HTTPS from the app
/// tier only (the services' group and the log shipper's), the data subnets' network ACL
/// admitting 443 from the app subnets, the master user in a secret of generated
/// credentials (never in state or output); the log shipper (its function in the app
/// subnets with the domain's endpoint and the secret's ARN, its code, its failed batches
/// going to the encrypted, private, expiring bucket) and one subscription filter per
/// service log group; plan empty, drift clean; a filter removed out of band is drift and
/// apply restores it; destroy leaves nothing. Verified with the OpenSearch, EC2, Secrets
/// Manager, Lambda, CloudWatch Logs and S3 APIs.
#[tokio::test(flavor = "multi_thread")]
async fn log_analytics_domain_is_reached_from_the_app_tier_only() {
    let base = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let s = Stack::from_text("obs-logs", &format!("{base}\n[log_analytics]\ninstance_count = 4\n"));
    let conf = sdk().await;
    let (os, ec2c) = (aws_sdk_opensearch::Client::new(&conf), ec2().await);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let apply = s.ok(&["apply", "--auto-approve"], 0);

    let name = format!("{}-logs", s.name);
    let d = os.describe_domain().domain_name(&name).send().await.expect("DescribeDomain");
    let d = d.domain_status().expect("domain status");
    let subnet = |az: &str| state_id(&s, &format!("subnet.data.{az}"));
    let vpc = d.vpc_options().expect("VPC options");
    assert_eq!(vpc.subnet_ids(), [subnet("us-east-1a"), subnet("us-east-1b")]);
    let group = state_id(&s, "sg.log_analytics");
    assert_eq!(vpc.security_group_ids(), std::slice::from_ref(&group));
    assert!(
        d.endpoint().is_none() && d.endpoints().is_some_and(|e| e.contains_key("vpc")),
        "VPC access only"
    );
    assert_eq!(d.engine_version(), Some("OpenSearch_2.19"));
    let cluster = d.cluster_config().expect("cluster config");
    assert_eq!(cluster.instance_count(), Some(4));
    assert_eq!(cluster.instance_type().map(|t| t.as_str()), Some("m6g.large.search"));
    assert_eq!(cluster.zone_awareness_enabled(), Some(true));
    assert_eq!(cluster.zone_awareness_config().and_then(|z| z.availability_zone_count()), Some(2));
    let ebs = d.ebs_options().expect("EBS options");
    assert_eq!((ebs.volume_type().map(|v| v.as_str()), ebs.volume_size()), (Some("gp3"), Some(20)));
    assert_eq!(d.encryption_at_rest_options().and_then(|e| e.enabled()), Some(true));
    assert_eq!(d.node_to_node_encryption_options().and_then(|e| e.enabled()), Some(true));
    let endpoint = d.domain_endpoint_options().expect("endpoint options");
    assert_eq!(endpoint.enforce_https(), Some(true));
    assert_eq!(endpoint.tls_security_policy().map(|t| t.as_str()), Some("Policy-Min-TLS-1-2-PFS-2023-10"));
    let security = d.advanced_security_options().expect("fine-grained access control");
    assert_eq!((security.enabled(), security.internal_user_database_enabled()), (Some(true), Some(true)));
    let policy: J = serde_json::from_str(d.access_policies().expect("access policy")).expect("policy JSON");
    assert_eq!(policy["Statement"][0]["Resource"], format!("{}/*", d.arn()).as_str());

    // The domain's group: HTTPS in from the app tier's group only, nothing out.
    let groups =
        ec2c.describe_security_groups().group_ids(&group).send().await.expect("DescribeSecurityGroups");
    let g = &groups.security_groups()[0];
    let app = state_id(&s, "sg.app");
    let shipper_group = state_id(&s, "sg.log_shipper");
    type Rule<'a> = (Option<&'a str>, Option<i32>, Option<i32>, &'a str);
    let ingress: std::collections::BTreeSet<Rule> = g
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.user_id_group_pairs()
                .iter()
                .filter_map(|u| u.group_id())
                .map(|from| (p.ip_protocol(), p.from_port(), p.to_port(), from))
        })
        .collect();
    let https = |from| (Some("tcp"), Some(443), Some(443), from);
    assert_eq!(ingress, [https(app.as_str()), https(shipper_group.as_str())].into());
    assert!(g.ip_permissions().iter().all(|p| p.ip_ranges().is_empty()), "no CIDR source");
    assert!(g.ip_permissions_egress().is_empty(), "nothing out: {:?}", g.ip_permissions_egress());

    // The data subnets' ACL admits 443 from each app subnet.
    let acl = state_id(&s, "nacl.data");
    let acls = ec2c.describe_network_acls().network_acl_ids(&acl).send().await.expect("DescribeNetworkAcls");
    let https: std::collections::BTreeSet<&str> = acls.network_acls()[0]
        .entries()
        .iter()
        .filter(|e| e.egress() == Some(false) && e.port_range().and_then(|p| p.from()) == Some(443))
        .filter_map(|e| e.cidr_block())
        .collect();
    assert_eq!(https, ["10.20.10.0/24", "10.20.11.0/24"].into());

    // The master user: generated credentials in Secrets Manager, never printed or in state.
    let secret = format!("hactl/{}/log-analytics-master", s.name);
    let v = sm.get_secret_value().secret_id(&secret).send().await.expect("GetSecretValue");
    let creds: J = serde_json::from_str(v.secret_string().expect("value")).expect("JSON");
    assert_eq!(creds["username"], "hactladmin");
    let password = creds["password"].as_str().expect("password");
    assert_eq!(password.len(), 32);
    assert!(password.chars().any(|ch| ch.is_ascii_punctuation()), "OpenSearch requires a symbol");
    let out = s.ok(&["output", "--json"], 0);
    for text in [format!("{}{}", apply.stdout, apply.stderr), s.state().to_string(), out.stdout.clone()] {
        assert!(!text.contains(password), "the master password leaked");
    }
    let outputs: J = serde_json::from_str(&out.stdout).expect("outputs JSON");
    assert!(
        outputs["log_analytics_endpoint"].as_str().is_some_and(|e| e.starts_with("https://")),
        "{outputs}"
    );
    let secret_arn = v.arn().expect("secret arn").to_string();
    let domain_endpoint = d.endpoints().and_then(|e| e.get("vpc")).expect("VPC endpoint").clone();
    log_shipper_is_wired(&s, &conf, &secret_arn, &domain_endpoint, &shipper_group).await;
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // A subscription filter removed out of band is drift; apply puts it back.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let group = format!("/hactl/{}/api", s.name);
    let filter = format!("{}-log-analytics", s.name);
    logs.delete_subscription_filter()
        .log_group_name(&group)
        .filter_name(&filter)
        .send()
        .await
        .expect("delete");
    let drift = s.ok(&["drift", "--json"], 2);
    assert!(drift.stdout.contains("log_subscription.api"), "{}", drift.stdout);
    s.ok(&["apply", "--auto-approve"], 0);
    let f = logs.describe_subscription_filters().log_group_name(&group).send().await.expect("describe");
    assert_eq!(
        f.subscription_filters().iter().filter_map(|f| f.filter_name()).collect::<Vec<_>>(),
        [filter.as_str()]
    );
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(
        common::census::census(&s.name).await,
        common::census::KINDS.iter().map(|k| (*k, 0)).collect(),
        "destroy leaves nothing"
    );
}

/// The log shipper of a `[log_analytics]` stack, as AWS answers it: the function in every
/// app subnet behind its own group, its environment naming the domain's endpoint and the
/// master secret's ARN (never the password), its code the shipper's source, retries and
/// failed batches into the stack's bucket, invocable by CloudWatch Logs for the stack's
/// log groups only; its role assumable by Lambda; one filter on each service's log group
/// (none on its own); the bucket private, encrypted, expiring, TLS only.
async fn log_shipper_is_wired(
    s: &Stack,
    conf: &aws_config::SdkConfig,
    secret_arn: &str,
    domain_endpoint: &str,
    group: &str,
) {
    let lambda = aws_sdk_lambda::Client::new(conf);
    let name = format!("{}-log-shipper", s.name);
    let f = lambda.get_function().function_name(&name).send().await.expect("GetFunction");
    let c = f.configuration().expect("configuration");
    assert_eq!(c.runtime().map(|r| r.as_str()), Some("python3.13"));
    assert_eq!(c.handler(), Some("index.handler"));
    let vpc = c.vpc_config().expect("VPC config");
    let mut subnets = vpc.subnet_ids().to_vec();
    subnets.sort();
    let mut app: Vec<String> =
        ["us-east-1a", "us-east-1b"].iter().map(|az| state_id(s, &format!("subnet.app.{az}"))).collect();
    app.sort();
    assert_eq!(subnets, app, "every app subnet");
    assert_eq!(vpc.security_group_ids(), [group]);
    let env = c.environment().and_then(|e| e.variables()).expect("environment");
    assert_eq!(env.get("DOMAIN_ENDPOINT").map(String::as_str), Some(domain_endpoint));
    assert_eq!(env.get("MASTER_SECRET_ARN").map(String::as_str), Some(secret_arn));
    assert_eq!(env.get("INDEX_PREFIX").map(String::as_str), Some("logs"));
    assert_eq!(env.len(), 3, "{env:?}");
    assert_eq!(
        c.logging_config().and_then(|l| l.log_group()),
        Some(format!("/hactl/{}/log-shipper", s.name).as_str())
    );
    // The deployed package holds the shipper's source as index.py.
    let location = f.code().and_then(|c| c.location()).expect("code location");
    let zip = std::env::temp_dir().join(format!("{}-shipper.zip", s.name));
    let got = std::process::Command::new("curl").args(["-fsS", "-o"]).arg(&zip).arg(location).status();
    assert!(got.expect("curl").success(), "download {location}");
    // A ZIP archive whose one entry, index.py, is stored as is: the shipper's source.
    let package = std::fs::read(&zip).expect("package");
    let source = std::fs::read(repo_root().join("crates/hactl-config/src/log_shipper.py")).expect("source");
    assert_eq!(&package[..4], b"PK\x03\x04");
    assert_eq!(&package[30..38], b"index.py");
    assert_eq!(&package[38..38 + source.len()], source.as_slice(), "index.py is the shipper's source");

    let bucket = format!("{}-log-failures-000000000000-us-east-1", s.name);
    let invoke =
        lambda.get_function_event_invoke_config().function_name(&name).send().await.expect("invoke config");
    assert_eq!(invoke.maximum_retry_attempts(), Some(2));
    assert_eq!(invoke.maximum_event_age_in_seconds(), Some(21_600));
    let on_failure = invoke.destination_config().and_then(|d| d.on_failure()).and_then(|o| o.destination());
    assert_eq!(on_failure, Some(format!("arn:aws:s3:::{bucket}").as_str()));
    let policy = lambda.get_policy().function_name(&name).send().await.expect("GetPolicy");
    let policy: J = serde_json::from_str(policy.policy().expect("policy")).expect("policy JSON");
    let st = &policy["Statement"];
    assert_eq!(st.as_array().map(Vec::len), Some(1), "{policy}");
    assert_eq!(st[0]["Principal"]["Service"], "logs.amazonaws.com");
    assert_eq!(
        st[0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:logs:us-east-1:000000000000:log-group:/hactl/{}/*", s.name).as_str()
    );
    let iam = aws_sdk_iam::Client::new(conf);
    let role =
        iam.get_role().role_name(format!("{}-us-east-1-log-shipper", s.name)).send().await.expect("GetRole");
    let trust = role.role().and_then(|r| r.assume_role_policy_document()).expect("trust");
    let trust: J = serde_json::from_str(&common::percent_decode(trust)).expect("trust JSON");
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com");
    assert_eq!(c.role(), role.role().map(|r| r.arn()));
    // Its policy: the master secret and the bucket, exactly.
    let inline = iam
        .get_role_policy()
        .role_name(format!("{}-us-east-1-log-shipper", s.name))
        .policy_name("log-shipper")
        .send()
        .await
        .expect("GetRolePolicy");
    let doc: J =
        serde_json::from_str(&common::percent_decode(inline.policy_document())).expect("policy JSON");
    let by_sid = |sid: &str| {
        doc["Statement"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["Sid"] == sid))
            .cloned()
            .unwrap_or(J::Null)
    };
    assert_eq!(by_sid("ReadMasterUser")["Resource"], secret_arn);
    assert_eq!(by_sid("ReadMasterUser")["Action"], serde_json::json!(["secretsmanager:GetSecretValue"]));
    let bucket_arn = format!("arn:aws:s3:::{}-log-failures-000000000000-us-east-1", s.name);
    assert_eq!(by_sid("FailedBatches")["Resource"], format!("{bucket_arn}/*").as_str());
    assert_eq!(by_sid("FailedBatches")["Action"], serde_json::json!(["s3:PutObject"]));
    assert_eq!(by_sid("FailedBatches")["Condition"]["StringEquals"]["s3:ResourceAccount"], "000000000000");
    assert_eq!(by_sid("FailedBatchesBucket")["Resource"], bucket_arn.as_str());

    // One filter per service log group, to the function; the shipper's own group has none.
    let logs = aws_sdk_cloudwatchlogs::Client::new(conf);
    for (group, filters) in
        [(format!("/hactl/{}/api", s.name), 1), (format!("/hactl/{}/log-shipper", s.name), 0)]
    {
        let f = logs.describe_subscription_filters().log_group_name(&group).send().await.expect("filters");
        let f = f.subscription_filters();
        assert_eq!(f.len(), filters, "{group}: {f:?}");
        for one in f {
            assert_eq!(one.destination_arn(), c.function_arn());
            assert_eq!(one.filter_pattern(), Some(""));
        }
    }

    let s3 = common::s3().await;
    let enc = s3.get_bucket_encryption().bucket(&bucket).send().await.expect("GetBucketEncryption");
    let rule = enc.server_side_encryption_configuration().map(|c| c.rules()[0].clone()).expect("rule");
    let default = rule.apply_server_side_encryption_by_default().expect("default encryption");
    assert_eq!(default.sse_algorithm().as_str(), "AES256");
    let block = s3.get_public_access_block().bucket(&bucket).send().await.expect("GetPublicAccessBlock");
    let block = block.public_access_block_configuration().expect("block");
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let life = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.expect("lifecycle");
    let expire = life.rules().iter().find(|r| r.id() == Some("hactl-expire")).expect("expiry rule");
    assert_eq!(expire.expiration().and_then(|e| e.days()), Some(30));
    let policy = s3.get_bucket_policy().bucket(&bucket).send().await.expect("GetBucketPolicy");
    let policy: J = serde_json::from_str(policy.policy().expect("policy")).expect("JSON");
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"], "false");
}
