//! End-to-end test of the in-AWS drift job: with `drift.schedule` (and state in S3),
//! apply creates an EventBridge Scheduler schedule that runs `hactl drift` as a Fargate
//! task in the stack's cluster, with its task definition and roles. Verified with the
//! SDK (Scheduler, ECS, IAM, EC2, CloudWatch Logs, S3), never with hactl.

mod common;

use common::*;
use serde_json::Value as J;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1";

/// `text` with its `[drift]` section (if any) replaced by `section`, and `[state]` in S3.
fn scheduled(text: &str, bucket: &str, expression: &str) -> String {
    let mut text = text.to_string();
    if let Some(start) = text.find("\n[drift]") {
        let end = text[start + 1..].find("\n[").map_or(text.len(), |e| start + 1 + e);
        text.replace_range(start..end, "");
    }
    format!(
        "{text}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n\n[drift]\nalarm = true\n\
         schedule = \"{expression}\"\nimage = \"{IMAGE}\"\nconfig_path = \"config/stack.toml\"\n"
    )
}

async fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk().await).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The state object, read from S3.
async fn s3_state(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> J {
    let key = format!("hactl/{stack}/us-east-1/state.json");
    let out = s3.get_object().bucket(bucket).key(&key).send().await.expect("state object in S3");
    let bytes = out.body.collect().await.expect("state body").into_bytes();
    serde_json::from_slice(&bytes).expect("state json")
}

/// An inline policy document of an IAM role (the emulator may answer it URL-encoded).
async fn role_policy(iam: &aws_sdk_iam::Client, role: &str, name: &str) -> J {
    let doc = iam.get_role_policy().role_name(role).policy_name(name).send().await.expect("GetRolePolicy");
    serde_json::from_str(&percent_decode(doc.policy_document())).expect("policy json")
}

fn statement<'a>(doc: &'a J, sid: &str) -> &'a J {
    doc["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {doc}"))
}

fn strings(v: &J) -> Vec<String> {
    match v {
        J::String(s) => vec![s.clone()],
        J::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// The ids of the stack's EC2 objects whose `hactl:address` starts with `prefix`.
async fn ids_by_address(ec2: &aws_sdk_ec2::Client, s: &Stack, kind: &str, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    match kind {
        "subnet" => {
            let out = ec2.describe_subnets().filters(s.tag_filter()).send().await.expect("DescribeSubnets");
            for sn in out.subnets() {
                if sn
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("hactl:address") && t.value().unwrap_or("").starts_with(prefix))
                {
                    ids.push(sn.subnet_id().unwrap_or_default().to_string());
                }
            }
        }
        _ => {
            let out = ec2
                .describe_security_groups()
                .filters(s.tag_filter())
                .send()
                .await
                .expect("DescribeSecurityGroups");
            for g in out.security_groups() {
                if g.tags().iter().any(|t| t.key() == Some("hactl:address") && t.value() == Some(prefix)) {
                    ids.push(g.group_id().unwrap_or_default().to_string());
                }
            }
        }
    }
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_drift_job_is_created_kept_and_destroyed() {
    let base = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let s = Stack::from_text("drift-sched", &base);
    let bucket = format!("{}-state", s.name);
    let conf = sdk().await;
    let s3 = s3().await;
    s3.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
    s.edit(|t| scheduled(&t, &bucket, "rate(15 minutes)"));
    let scheduler = aws_sdk_scheduler::Client::new(&conf);
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let ec2 = ec2().await;
    let group = format!("hactl-{}", s.name);

    s.ok(&["apply", "--auto-approve"], 0);
    // State went to S3, not to the local state directory.
    let state = s3_state(&s3, &bucket, &s.name).await;
    assert!(state["resources"]["schedule.drift_job"]["id"].is_string(), "schedule not in the S3 state");
    assert!(!s.state_dir.join(format!("{}.json", s.name)).exists(), "a local state file was written");

    // The schedule group carries the stack's tags.
    let g = scheduler.get_schedule_group().name(&group).send().await.expect("GetScheduleGroup");
    let tags = scheduler
        .list_tags_for_resource()
        .resource_arn(g.arn().expect("group arn"))
        .send()
        .await
        .expect("ListTagsForResource");
    assert!(tags.tags().iter().any(|t| t.key() == "hactl:stack" && t.value() == s.name));

    // The schedule: expression, enabled, the cluster as target, the scheduler role.
    let sched = scheduler.get_schedule().group_name(&group).name("drift").send().await.expect("GetSchedule");
    assert_eq!(sched.schedule_expression(), Some("rate(15 minutes)"));
    assert_eq!(sched.state().map(|x| x.as_str()), Some("ENABLED"));
    let target = sched.target().expect("target");
    let cluster = ecs.describe_clusters().clusters(&s.name).send().await.expect("DescribeClusters");
    let cluster_arn = cluster.clusters()[0].cluster_arn().expect("cluster arn").to_string();
    assert_eq!(target.arn(), cluster_arn);
    let schedule_role = format!("{}-us-east-1-drift-schedule", s.name);
    let role = iam.get_role().role_name(&schedule_role).send().await.expect("scheduler role");
    let role = role.role().expect("role");
    assert_eq!(target.role_arn(), role.arn());
    let trust = percent_decode(role.assume_role_policy_document().unwrap_or_default());
    assert!(trust.contains("scheduler.amazonaws.com"), "scheduler role trust: {trust}");

    // Its ECS parameters: the job's task definition, Fargate, app subnets, the job's SG.
    let ecs_params = target.ecs_parameters().expect("ecs parameters");
    let families = ecs
        .list_task_definitions()
        .family_prefix(format!("{}-drift_job", s.name))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .expect("ListTaskDefinitions");
    assert_eq!(families.task_definition_arns().len(), 1, "{:?}", families.task_definition_arns());
    let td_arn = families.task_definition_arns()[0].clone();
    assert_eq!(ecs_params.task_definition_arn(), td_arn);
    assert_eq!(ecs_params.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert_eq!(ecs_params.task_count(), Some(1));
    let net = ecs_params.network_configuration().and_then(|n| n.awsvpc_configuration()).expect("awsvpc");
    let mut subnets = net.subnets().to_vec();
    subnets.sort();
    assert_eq!(subnets, ids_by_address(&ec2, &s, "subnet", "subnet.app.").await);
    assert_eq!(net.security_groups().to_vec(), ids_by_address(&ec2, &s, "sg", "sg.drift_job").await);
    assert_eq!(net.assign_public_ip().map(|a| a.as_str()), Some("DISABLED"));
    // The job's security group admits nothing.
    let sg = ec2
        .describe_security_groups()
        .group_ids(net.security_groups()[0].clone())
        .send()
        .await
        .expect("drift SG");
    assert!(sg.security_groups()[0].ip_permissions().is_empty(), "the drift job's SG has ingress rules");

    // The task definition: the image, hactl drift with the config in the image, logs.
    let td =
        ecs.describe_task_definition().task_definition(&td_arn).send().await.expect("DescribeTaskDefinition");
    let td = td.task_definition().expect("task definition");
    assert_eq!(td.requires_compatibilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["FARGATE"]);
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    let c = &td.container_definitions()[0];
    assert_eq!(c.image(), Some(IMAGE));
    assert_eq!(c.command(), ["--config", "config/stack.toml", "drift", "--publish-metrics"]);
    assert!(c.secrets().is_empty() && c.environment().is_empty(), "the job gets no credentials from env");
    let log_group = format!("/hactl/{}/drift_job", s.name);
    let log_opts = c.log_configuration().and_then(|l| l.options()).expect("log options");
    assert_eq!(log_opts.get("awslogs-group"), Some(&log_group));
    let groups = logs.describe_log_groups().log_group_name_prefix(&log_group).send().await.expect("logs");
    assert_eq!(groups.log_groups().len(), 1);
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    // The roles behind it: the task role reads, locks the S3 state and puts the metric.
    let task_role = format!("{}-us-east-1-drift-task", s.name);
    let arn_of = |r: &aws_sdk_iam::operation::get_role::GetRoleOutput| r.role().map(|r| r.arn().to_string());
    let task_role_arn = arn_of(&iam.get_role().role_name(&task_role).send().await.expect("task role"));
    assert_eq!(td.task_role_arn().map(String::from), task_role_arn);
    let exec_role = format!("{}-us-east-1-drift-execution", s.name);
    let exec_role_arn = arn_of(&iam.get_role().role_name(&exec_role).send().await.expect("execution role"));
    assert_eq!(td.execution_role_arn().map(String::from), exec_role_arn);
    let doc = role_policy(&iam, &task_role, "drift").await;
    let key = format!("arn:aws:s3:::{bucket}/hactl/{}/us-east-1/state.json", s.name);
    assert_eq!(strings(&statement(&doc, "ReadState")["Resource"]), std::slice::from_ref(&key));
    assert_eq!(strings(&statement(&doc, "LockState")["Resource"]), [format!("{key}.lock")]);
    let metric = statement(&doc, "PutDriftMetric");
    assert_eq!(strings(&metric["Action"]), ["cloudwatch:PutMetricData"]);
    assert_eq!(metric["Condition"]["StringEquals"]["cloudwatch:namespace"], "hactl");
    // The scheduler role runs exactly this task definition and passes exactly the two roles.
    let doc = role_policy(&iam, &schedule_role, "run-drift-job").await;
    assert_eq!(strings(&statement(&doc, "RunDriftTask")["Resource"]), std::slice::from_ref(&td_arn));
    let mut passed = strings(&statement(&doc, "PassDriftRoles")["Resource"]);
    passed.sort();
    let mut want = vec![task_role_arn.clone().unwrap_or_default(), exec_role_arn.clone().unwrap_or_default()];
    want.sort();
    assert_eq!(passed, want);

    // No false diff: plan and drift see nothing to do.
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // What the task runs, run here against the same S3 state with no local state at all:
    // it reads the state from S3 and publishes the metric.
    let empty = tempfile::tempdir().expect("tempdir");
    let job = std::process::Command::new(hactl_bin())
        .arg("--config")
        .arg(&s.config)
        .arg("--state-dir")
        .arg(empty.path())
        .args([
            "--endpoint-url",
            &s.endpoint,
            "--no-progress",
            "--log-format",
            "json",
            "drift",
            "--publish-metrics",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the drift job");
    assert_eq!(job.status.code(), Some(0), "{}", String::from_utf8_lossy(&job.stderr));
    // It put the metric (0 drifted) and left no lock behind.
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
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
    assert_eq!(metrics.metrics().len(), 1, "the drift job's metric: {:?}", metrics.metrics());
    let lock_key = format!("hactl/{}/us-east-1/state.json.lock", s.name);
    assert_not_found(
        s3.head_object().bucket(&bucket).key(&lock_key).send().await,
        &["NotFound"],
        "the drift job's lock object",
    );

    // Out of band: the schedule's rate changed → drift names it, apply puts it back.
    aws_cli(&[
        "scheduler",
        "update-schedule",
        "--group-name",
        &group,
        "--name",
        "drift",
        "--schedule-expression",
        "rate(1 hour)",
        "--flexible-time-window",
        "Mode=OFF",
        "--target",
        &serde_json::json!({
            "Arn": target.arn(),
            "RoleArn": target.role_arn(),
            "EcsParameters": {
                "TaskDefinitionArn": td_arn,
                "LaunchType": "FARGATE",
                "TaskCount": 1,
                "NetworkConfiguration": {"awsvpcConfiguration": {
                    "Subnets": net.subnets(), "SecurityGroups": net.security_groups(), "AssignPublicIp": "DISABLED"}},
                "EnableECSManagedTags": true,
                "PropagateTags": "TASK_DEFINITION"
            },
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
        })
        .to_string(),
    ]);
    let r = s.ok(&["drift", "--json"], 2);
    let report: J = serde_json::from_str(&r.stdout).expect("drift json");
    let changed = report["changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 1, "{report}");
    assert_eq!(changed[0]["address"], "schedule.drift_job");
    let change = changed[0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["property"] == "schedule_expression")
        .unwrap_or_else(|| panic!("no schedule_expression change in {report}"));
    assert_eq!(
        (change["expected"].as_str(), change["actual"].as_str()),
        (Some("rate(15 minutes)"), Some("rate(1 hour)"))
    );
    s.ok(&["apply", "--auto-approve"], 0);
    let sched = scheduler.get_schedule().group_name(&group).name("drift").send().await.expect("GetSchedule");
    assert_eq!(sched.schedule_expression(), Some("rate(15 minutes)"));
    s.ok(&["drift"], 0);

    // A config edit of the rate is one in-place update of the schedule.
    s.edit(|t| t.replace("rate(15 minutes)", "rate(30 minutes)"));
    assert_eq!(plan_actions(&s), pairs(&[("schedule.drift_job", "update")]));
    s.ok(&["apply", "--auto-approve"], 0);
    let sched = scheduler.get_schedule().group_name(&group).name("drift").send().await.expect("GetSchedule");
    assert_eq!(sched.schedule_expression(), Some("rate(30 minutes)"));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Destroy: the schedule, its group, task definition and roles are gone.
    s.ok(&DESTROY_ALL, 0);
    use aws_sdk_iam::error::ProvideErrorMetadata as _;
    let e =
        scheduler.get_schedule().group_name(&group).name("drift").send().await.expect_err("schedule gone");
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
    let e = scheduler.get_schedule_group().name(&group).send().await.expect_err("group gone");
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
    for r in [&task_role, &exec_role, &schedule_role] {
        let e = iam.get_role().role_name(r).send().await.expect_err("role gone");
        assert_eq!(e.code(), Some("NoSuchEntity"), "role {r}: {e:?}");
    }
    let left = ecs
        .list_task_definitions()
        .family_prefix(format!("{}-drift_job", s.name))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .expect("ListTaskDefinitions");
    assert!(left.task_definition_arns().is_empty(), "{:?}", left.task_definition_arns());
    let state = s3_state(&s3, &bucket, &s.name).await;
    assert_eq!(state["resources"].as_object().map(|m| m.len()), Some(0), "state after destroy: {state}");
    assert_eq!(counts(&ec2, &s).await, Counts::default(), "EC2 objects left");
    // Clean up the bucket.
    let objects = s3.list_objects_v2().bucket(&bucket).send().await.expect("ListObjectsV2");
    for o in objects.contents() {
        s3.delete_object()
            .bucket(&bucket)
            .key(o.key().unwrap_or_default())
            .send()
            .await
            .expect("DeleteObject");
    }
    s3.delete_bucket().bucket(&bucket).send().await.expect("DeleteBucket");
}
