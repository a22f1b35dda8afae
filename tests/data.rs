//! End-to-end tests of the data tier and its secrets: the real `hactl` binary against the
//! emulator, every effect verified with the AWS SDK (DocumentDB, RDS, Secrets Manager,
//! ECS, IAM, EC2), never by asking hactl.

mod common;

use common::*;
use serde_json::Value as J;
use std::collections::BTreeSet;
use std::process::Stdio;

struct Clients {
    docdb: aws_sdk_docdb::Client,
    rds: aws_sdk_rds::Client,
    sm: aws_sdk_secretsmanager::Client,
    ecs: aws_sdk_ecs::Client,
    iam: aws_sdk_iam::Client,
    ec2: aws_sdk_ec2::Client,
    events: aws_sdk_eventbridge::Client,
    sfn: aws_sdk_sfn::Client,
}

async fn clients() -> Clients {
    let c = sdk().await;
    Clients {
        docdb: aws_sdk_docdb::Client::new(&c),
        rds: aws_sdk_rds::Client::new(&c),
        sm: aws_sdk_secretsmanager::Client::new(&c),
        ecs: aws_sdk_ecs::Client::new(&c),
        iam: aws_sdk_iam::Client::new(&c),
        ec2: aws_sdk_ec2::Client::new(&c),
        events: aws_sdk_eventbridge::Client::new(&c),
        sfn: aws_sdk_sfn::Client::new(&c),
    }
}

/// The name hactl's credentials secret would have: only a stack with a DR region has one
/// (without, the database manages its master password).
fn secret_name(s: &Stack) -> String {
    format!("hactl/{}/db-credentials", s.name)
}

fn connection_name(s: &Stack) -> String {
    format!("hactl/{}/db-connection", s.name)
}

async fn json_of(c: &Clients, id: &str) -> J {
    let v = c.sm.get_secret_value().secret_id(id).send().await.expect("GetSecretValue");
    serde_json::from_str(v.secret_string().expect("secret string")).expect("secret JSON")
}

/// The secret the database manages its master password in: owned by RDS, rotated every
/// `days` (checked with DescribeSecret); hactl has no credentials secret of its own then.
async fn managed_secret(c: &Clients, s: &Stack, arn: Option<&str>, days: i64) -> String {
    let arn = arn.expect("the database manages its master password (MasterUserSecret)").to_string();
    let d = c.sm.describe_secret().secret_id(&arn).send().await.expect("DescribeSecret");
    assert_eq!(d.owning_service(), Some("rds"), "{arn}");
    assert_eq!(d.rotation_enabled(), Some(true), "{arn}");
    assert_eq!(d.rotation_rules().and_then(|r| r.automatically_after_days()), Some(days), "{arn}");
    assert_not_found(
        c.sm.describe_secret().secret_id(secret_name(s)).send().await,
        &["ResourceNotFoundException"],
        "hactl's credentials secret (the database manages the password)",
    );
    arn
}

/// The stack's ECS services, as DescribeServices answers them.
async fn stack_services(c: &Clients, s: &Stack) -> Vec<aws_sdk_ecs::types::Service> {
    let services = c.ecs.list_services().cluster(&s.name).send().await.expect("ListServices");
    assert!(!services.service_arns().is_empty());
    let described = c
        .ecs
        .describe_services()
        .cluster(&s.name)
        .set_services(Some(services.service_arns().to_vec()))
        .send()
        .await
        .expect("DescribeServices");
    described.services().to_vec()
}

/// The id of each of the stack's services' PRIMARY deployment, by service name.
async fn deployments(c: &Clients, s: &Stack) -> std::collections::BTreeMap<String, String> {
    stack_services(c, s)
        .await
        .iter()
        .map(|svc| {
            let primary = svc.deployments().iter().find(|d| d.status() == Some("PRIMARY")).expect("PRIMARY");
            (svc.service_name().unwrap_or_default().to_string(), primary.id().unwrap_or_default().to_string())
        })
        .collect()
}

/// `hactl rotate-credentials`: the managed secret holds a new password (compared here,
/// never printed), every service has a new deployment, the next plan is empty and drift
/// clean, and neither password shows in what the command printed or in state. Returns
/// the new password.
async fn rotate(c: &Clients, s: &Stack, secret_arn: &str, old_password: &str) -> String {
    let before = deployments(c, s).await;
    let r = s.ok(&["rotate-credentials"], 0);
    assert!(r.stderr.contains("Rotated:") && r.stderr.contains("Redeployed:"), "{}", r.stderr);
    // The stack's rule started the new deployments; hactl followed them.
    let rule = format!("(started by rule {}-password-rotated)", s.name);
    assert_eq!(r.stderr.matches(&rule).count(), before.len(), "{}", r.stderr);
    let password = json_of(c, secret_arn).await["password"].as_str().expect("password").to_string();
    assert!(!password.is_empty());
    assert_ne!(password, old_password, "rotate-credentials left the password as it was");
    let after = deployments(c, s).await;
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    for (service, id) in &after {
        assert_ne!(Some(id), before.get(service), "{service} got no new deployment");
    }
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);
    for (what, text) in [
        ("rotate-credentials output", format!("{}{}", r.stdout, r.stderr)),
        ("state/", read_tree(&s.state_dir)),
    ] {
        for p in [old_password, password.as_str()] {
            assert!(!text.contains(p), "a password leaked into {what}");
        }
    }
    password
}

/// The inline policy `name` of the role `arn`, as JSON.
async fn role_policy(c: &Clients, arn: &str, name: &str) -> J {
    let role = arn.rsplit('/').next().expect("role name");
    let doc = c.iam.get_role_policy().role_name(role).policy_name(name).send().await.expect("GetRolePolicy");
    serde_json::from_str(&percent_decode(doc.policy_document())).expect("policy JSON")
}

/// The trust policy of the role `arn`, as JSON.
async fn role_trust(c: &Clients, arn: &str) -> J {
    let role = arn.rsplit('/').next().expect("role name");
    let r = c.iam.get_role().role_name(role).send().await.expect("GetRole");
    let doc = r.role().and_then(|r| r.assume_role_policy_document()).expect("trust policy");
    serde_json::from_str(&percent_decode(doc)).expect("trust JSON")
}

/// The redeployment after AWS rotates the managed password (on its schedule, without
/// hactl), read with the EventBridge, Step Functions and IAM APIs: the rule matches
/// Secrets Manager's "Secret Label Updated" event of AWSCURRENT for `secret_arn` only,
/// and starts the stack's state machine (its one target) with a role that may start only
/// that machine; the machine forces a new deployment of each of the stack's services in
/// its cluster, with a role that may update only the cluster's services.
async fn verify_redeploy_rule(c: &Clients, s: &Stack, secret_arn: &str) {
    let name = format!("{}-password-rotated", s.name);
    let rule = c.events.describe_rule().name(&name).send().await.expect("DescribeRule");
    assert_eq!(rule.state(), Some(&aws_sdk_eventbridge::types::RuleState::Enabled));
    let pattern: J =
        serde_json::from_str(rule.event_pattern().expect("event pattern")).expect("pattern JSON");
    assert_eq!(
        pattern,
        serde_json::json!({
            "source": ["aws.secretsmanager"],
            "detail-type": ["Secret Label Updated"],
            "resources": [secret_arn],
            "detail": {"labelUpdated": ["AWSCURRENT"]},
        })
    );
    let targets = c.events.list_targets_by_rule().rule(&name).send().await.expect("ListTargetsByRule");
    let [target] = targets.targets() else { panic!("one target: {:?}", targets.targets()) };
    let machine = c
        .sfn
        .describe_state_machine()
        .state_machine_arn(target.arn())
        .send()
        .await
        .expect("DescribeStateMachine");
    assert_eq!(machine.name(), format!("{}-redeploy", s.name));
    let definition: J = serde_json::from_str(machine.definition()).expect("definition JSON");
    let listed: BTreeSet<&str> = definition["States"]["Services"]["Result"]
        .as_array()
        .expect("the services")
        .iter()
        .filter_map(J::as_str)
        .collect();
    let services = deployments(c, s).await;
    assert_eq!(listed, services.keys().map(String::as_str).collect::<BTreeSet<_>>());
    let task = &definition["States"]["Redeploy"]["ItemProcessor"]["States"]["ForceNewDeployment"];
    assert_eq!(task["Resource"], "arn:aws:states:::aws-sdk:ecs:updateService");
    assert_eq!(task["Parameters"]["Cluster"], s.name.as_str());
    assert_eq!(task["Parameters"]["ForceNewDeployment"], true);
    let start = role_policy(c, target.role_arn().expect("the rule's role"), "start-redeploy").await;
    assert_eq!(start["Statement"][0]["Action"], serde_json::json!(["states:StartExecution"]));
    assert_eq!(start["Statement"][0]["Resource"], machine.state_machine_arn());
    let trust = role_trust(c, target.role_arn().unwrap()).await;
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "events.amazonaws.com");
    assert!(trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!("rule/{name}")));
    let update = role_policy(c, machine.role_arn(), "redeploy").await;
    assert_eq!(update["Statement"][0]["Action"], serde_json::json!(["ecs:UpdateService"]));
    assert_eq!(
        update["Statement"][0]["Resource"],
        format!("arn:aws:ecs:us-east-1:000000000000:service/{}/*", s.name).as_str()
    );
    assert_eq!(update["Statement"].as_array().map(Vec::len), Some(1));
    let trust = role_trust(c, machine.role_arn()).await;
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "states.amazonaws.com");
}

/// Waits up to 30 s for every service to have a PRIMARY deployment other than `before`'s.
async fn wait_new_deployments(c: &Clients, s: &Stack, before: &std::collections::BTreeMap<String, String>) {
    for _ in 0..60 {
        let now = deployments(c, s).await;
        if now.iter().all(|(service, id)| before.get(service) != Some(id)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("not every service got a new deployment: before {before:?}, now {:?}", deployments(c, s).await);
}

/// AWS's own rotation (its schedule, or RotateSecret by anyone): the rule redeploys every
/// service without hactl. With the rule disabled out of band, `rotate-credentials` waits
/// for the rule's deployments, forces them itself when none comes, and drift shows the
/// rule; apply enables it again.
async fn rotation_without_hactl(c: &Clients, s: &Stack, secret_arn: &str) {
    verify_redeploy_rule(c, s, secret_arn).await;
    let before = deployments(c, s).await;
    c.sm.rotate_secret().secret_id(secret_arn).send().await.expect("RotateSecret");
    wait_new_deployments(c, s, &before).await;
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    let rule = format!("{}-password-rotated", s.name);
    c.events.disable_rule().name(&rule).send().await.expect("DisableRule");
    let drift = s.ok(&["drift", "--json"], 2);
    assert!(drift.stdout.contains("event_rule.password_rotated"), "{}", drift.stdout);
    let before = deployments(c, s).await;
    let r = s.ok(&["rotate-credentials"], 0);
    assert_eq!(
        r.stderr.matches("(started by hactl: the rule started none").count(),
        before.len(),
        "{}",
        r.stderr
    );
    let after = deployments(c, s).await;
    for (service, id) in &after {
        assert_ne!(Some(id), before.get(service), "{service} got no new deployment");
    }
    s.ok(&["apply", "--auto-approve"], 0);
    verify_redeploy_rule(c, s, secret_arn).await;
    s.ok(&["drift"], 0);
}

/// The connection secret's JSON value (no password), read with the SDK.
async fn connection_json(c: &Clients, s: &Stack) -> J {
    let v = json_of(c, &connection_name(s)).await;
    assert!(v.get("password").is_none(), "the connection secret holds a password");
    v
}

async fn secret_arn(c: &Clients, id: &str) -> String {
    let d = c.sm.describe_secret().secret_id(id).send().await.expect("DescribeSecret");
    d.arn().expect("arn").to_string()
}

async fn docdb_cluster(c: &Clients, id: &str) -> Option<aws_sdk_docdb::types::DbCluster> {
    let out = c.docdb.describe_db_clusters().send().await.expect("DescribeDBClusters");
    out.db_clusters().iter().find(|x| x.db_cluster_identifier() == Some(id)).cloned()
}

async fn docdb_instances(c: &Clients, cluster: &str) -> Vec<aws_sdk_docdb::types::DbInstance> {
    let out = c.docdb.describe_db_instances().send().await.expect("DescribeDBInstances");
    let mut v: Vec<_> =
        out.db_instances().iter().filter(|i| i.db_cluster_identifier() == Some(cluster)).cloned().collect();
    v.sort_by(|a, b| a.db_instance_identifier().cmp(&b.db_instance_identifier()));
    v
}

/// (writer identifier, its AZ).
async fn docdb_writer(c: &Clients, cluster: &str) -> (String, String) {
    let cl = docdb_cluster(c, cluster).await.expect("cluster");
    let writer = cl
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
        .expect("a writer")
        .to_string();
    let az = docdb_instances(c, cluster)
        .await
        .into_iter()
        .find(|i| i.db_instance_identifier() == Some(writer.as_str()))
        .and_then(|i| i.availability_zone().map(str::to_string))
        .expect("writer AZ");
    (writer, az)
}

/// Every task definition of the stack's services references the secrets for exactly the
/// five variables (the password from the credentials secret, the rest from the connection
/// secret); the execution role may read those two secrets and no other.
async fn verify_injection(c: &Clients, s: &Stack, secret_arn: &str) {
    let connection_arn = self::secret_arn(c, &connection_name(s)).await;
    for svc in &stack_services(c, s).await {
        let td = c
            .ecs
            .describe_task_definition()
            .task_definition(svc.task_definition().expect("td"))
            .send()
            .await
            .expect("DescribeTaskDefinition");
        let container = &td.task_definition().expect("td").container_definitions()[0];
        let secrets: Vec<(String, String)> =
            container.secrets().iter().map(|x| (x.name().to_string(), x.value_from().to_string())).collect();
        let want: Vec<(String, String)> = [
            ("DB_HOST", "host"),
            ("DB_NAME", "dbname"),
            ("DB_PASSWORD", "password"),
            ("DB_PORT", "port"),
            ("DB_USER", "username"),
        ]
        .iter()
        .map(|(n, k)| {
            let arn = if *k == "password" { secret_arn } else { connection_arn.as_str() };
            (n.to_string(), format!("{arn}:{k}::"))
        })
        .collect();
        assert_eq!(secrets, want, "{:?}", svc.service_name());
        // Never as plain environment values.
        assert!(container.environment().iter().all(|e| !e.name().unwrap_or("").starts_with("DB_")));
    }

    let role = state_id(s, "iam_role.execution");
    let p = c
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("execution")
        .send()
        .await
        .expect("GetRolePolicy");
    let doc: J = serde_json::from_str(&percent_decode(p.policy_document())).expect("policy JSON");
    let mut secret_resources = Vec::new();
    for st in doc["Statement"].as_array().expect("statements") {
        let actions: Vec<String> = match &st["Action"] {
            J::String(a) => vec![a.clone()],
            J::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => vec![],
        };
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{st}");
            match &st["Resource"] {
                J::String(r) => secret_resources.push(r.clone()),
                J::Array(a) => {
                    secret_resources.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
                }
                other => panic!("unexpected Resource {other}"),
            }
        }
    }
    secret_resources.sort();
    let mut want = vec![secret_arn.to_string(), connection_arn.clone()];
    want.sort();
    assert_eq!(secret_resources, want, "{doc}");
}

/// The db security group admits the app security group on the DB port, and nothing else,
/// and lets nothing out.
async fn verify_db_group(c: &Clients, s: &Stack, port: i32) {
    let db = state_id(s, "sg.db");
    let app = state_id(s, "sg.app");
    let rules = c
        .ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(&db).build())
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    let ingress: Vec<_> =
        rules.security_group_rules().iter().filter(|r| r.is_egress() == Some(false)).collect();
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    let r = ingress[0];
    assert_eq!(r.referenced_group_info().and_then(|g| g.group_id()), Some(app.as_str()));
    assert_eq!((r.from_port(), r.to_port()), (Some(port), Some(port)));
    assert!(r.cidr_ipv4().is_none());
    // The database only answers: no egress rule at all (AWS's default allows everything out).
    let egress: Vec<_> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(true) && r.group_id() == Some(db.as_str()))
        .collect();
    assert!(egress.is_empty(), "the db group allows egress: {egress:?}");
}

/// Runs hactl with RUST_LOG=debug, capturing its command line and environment while it
/// runs (from /proc), stdout and stderr.
fn run_debug(s: &Stack, args: &[&str]) -> (Run, String) {
    run_logged(s, args, "debug")
}

fn run_logged(s: &Stack, args: &[&str], rust_log: &str) -> (Run, String) {
    let child = s
        .command(args)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hactl");
    let pid = child.id();
    let mut seen = String::new();
    // Until the exec'd image shows (the first reads can catch the forked child).
    for _ in 0..100 {
        seen.clear();
        for f in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(format!("/proc/{pid}/{f}")) {
                seen.push_str(&String::from_utf8_lossy(&b).replace('\0', " "));
            }
        }
        if seen.contains("--endpoint-url") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        seen.contains("--endpoint-url") && seen.contains("RUST_LOG"),
        "cannot read /proc/{pid}: {seen:?}"
    );
    let out = child.wait_with_output().expect("wait hactl");
    (Run::from(out), seen)
}

/// Every file under `dir`, concatenated.
fn read_tree(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            all.push_str(&read_tree(&p));
        } else if let Ok(t) = std::fs::read(&p) {
            all.push_str(&String::from_utf8_lossy(&t));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn docdb_stack_applies_updates_fails_over_and_destroys() {
    let s = Stack::from_file("data-docdb", "config/ha-stack.toml");
    let c = clients().await;
    let cluster_id = format!("{}-docdb", s.name);

    // Apply with debug logs, watching the process's command line.
    let (apply, proc_seen) = run_debug(&s, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "apply failed:\n{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("DEBUG"), "RUST_LOG=debug must produce debug logs");

    // The cluster: encrypted, backups, protection, the db group only, TLS parameter group.
    let cl = docdb_cluster(&c, &cluster_id).await.expect("cluster exists");
    assert_eq!(cl.engine(), Some("docdb"));
    assert_eq!(cl.status(), Some("available"));
    assert_eq!(cl.storage_encrypted(), Some(true));
    assert_eq!(cl.backup_retention_period(), Some(7));
    assert_eq!(cl.preferred_backup_window(), Some("03:00-04:00"));
    assert_eq!(cl.deletion_protection(), Some(true));
    assert_eq!(cl.db_subnet_group(), Some(format!("{}-db", s.name).as_str()));
    let groups: Vec<&str> =
        cl.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(groups, [state_id(&s, "sg.db")]);
    let pg = cl.db_cluster_parameter_group().expect("parameter group").to_string();
    let params =
        c.docdb.describe_db_cluster_parameters().db_cluster_parameter_group_name(&pg).send().await.unwrap();
    let tls = params
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("tls"))
        .and_then(|p| p.parameter_value());
    assert_eq!(tls, Some("enabled"));
    let subnets =
        c.docdb.describe_db_subnet_groups().db_subnet_group_name(format!("{}-db", s.name)).send().await;
    let subnets: BTreeSet<String> = subnets.expect("subnet group").db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|x| x.subnet_identifier().map(str::to_string))
        .collect();
    let data: BTreeSet<String> =
        ["subnet.data.us-east-1a", "subnet.data.us-east-1b"].iter().map(|a| state_id(&s, a)).collect();
    assert_eq!(subnets, data);

    // Two instances over two zones, the writer in AZ-1.
    let instances = docdb_instances(&c, &cluster_id).await;
    let placed: Vec<(String, String, String)> = instances
        .iter()
        .map(|i| {
            (
                i.db_instance_identifier().unwrap_or("").to_string(),
                i.availability_zone().unwrap_or("").to_string(),
                i.db_instance_status().unwrap_or("").to_string(),
            )
        })
        .collect();
    let id = |n: u32| format!("{cluster_id}-{n}");
    assert_eq!(
        placed,
        [
            (id(1), "us-east-1a".to_string(), "available".to_string()),
            (id(2), "us-east-1b".to_string(), "available".to_string())
        ]
    );
    assert_eq!(docdb_writer(&c, &cluster_id).await, (id(1), "us-east-1a".to_string()));

    // The password: generated by DocumentDB into a secret it manages and rotates every 30
    // days (the default); the cluster endpoint in the connection secret.
    let secret_arn = managed_secret(&c, &s, cl.master_user_secret().and_then(|m| m.secret_arn()), 30).await;
    let conn = connection_json(&c, &s).await;
    assert_eq!(conn["host"].as_str(), cl.endpoint());
    assert_eq!(conn["port"], J::from(27017));
    assert_eq!(conn["username"], "hactladmin");
    assert_eq!(conn["dbname"], "app");
    assert_eq!(conn["engine"], "docdb");
    let value = json_of(&c, &secret_arn).await;
    assert_eq!(value["username"], "hactladmin");
    let password = value["password"].as_str().expect("password").to_string();
    assert!(!password.is_empty());

    verify_injection(&c, &s, &secret_arn).await;
    verify_db_group(&c, &s, 27017).await;

    // The password is nowhere hactl writes: state, plan text and JSON, debug logs, the
    // command line and environment, drift output.
    let plan_text = s.ok(&["plan"], 0);
    let plan_json = s.ok(&["plan", "--json"], 0);
    let (plan_debug, plan_proc) = run_debug(&s, &["plan"]);
    let drift = s.ok(&["drift", "--json"], 0);
    // Trace level, and a directive naming the SDK's orchestrator itself (which logs whole
    // HTTP bodies at trace): the GetSecretValue answer of the plan's read must not show.
    let (plan_trace, _) = run_logged(&s, &["plan"], "trace");
    assert!(plan_trace.stderr.contains("TRACE"), "RUST_LOG=trace must produce trace logs");
    let (plan_wire, _) =
        run_logged(&s, &["plan"], "warn,aws_smithy_runtime::client::orchestrator=trace,hyper=trace");
    let saved = s.dir.path().join("saved.plan");
    s.ok(&["plan", "--out", saved.to_str().unwrap()], 0);
    for (what, text) in [
        ("state/", read_tree(&s.state_dir)),
        ("apply debug log", format!("{}{}", apply.stdout, apply.stderr)),
        ("apply command line/environment", proc_seen),
        ("plan text", format!("{}{}", plan_text.stdout, plan_text.stderr)),
        ("plan --json", plan_json.stdout.clone()),
        ("plan debug log", format!("{}{}", plan_debug.stdout, plan_debug.stderr)),
        ("plan command line/environment", plan_proc),
        ("plan trace log", format!("{}{}", plan_trace.stdout, plan_trace.stderr)),
        ("plan log with the orchestrator at trace", format!("{}{}", plan_wire.stdout, plan_wire.stderr)),
        ("drift --json", drift.stdout.clone()),
        ("saved plan", std::fs::read_to_string(&saved).unwrap()),
    ] {
        assert!(!text.is_empty() || what.contains("orchestrator"), "{what} is empty");
        assert!(!text.contains(&password), "the generated password leaked into {what}");
    }
    assert!(plan_text.stdout.contains("No changes"), "{}", plan_text.stdout);

    // Rotated now: a new password, every service redeployed, nothing to plan.
    rotate(&c, &s, &secret_arn, &password).await;
    rotation_without_hactl(&c, &s, &secret_arn).await;
    let password = json_of(&c, &secret_arn).await["password"].as_str().expect("password").to_string();
    // The schedule: changed in config, applied in place; changed out of band, drift.
    s.edit(|t| t.replace("password_rotation_days = 30", "password_rotation_days = 14"));
    assert_eq!(plan_actions(&s), pairs(&[("secret_rotation.db", "update")]));
    s.ok(&["apply", "--auto-approve"], 0);
    managed_secret(&c, &s, Some(&secret_arn), 14).await;
    let rules =
        aws_sdk_secretsmanager::types::RotationRulesType::builder().automatically_after_days(3).build();
    c.sm.rotate_secret()
        .secret_id(&secret_arn)
        .rotation_rules(rules)
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let drift = s.ok(&["drift", "--json"], 2);
    assert!(
        drift.stdout.contains("secret_rotation.db") && drift.stdout.contains("automatically_after_days"),
        "{}",
        drift.stdout
    );
    s.ok(&["apply", "--auto-approve"], 0);
    managed_secret(&c, &s, Some(&secret_arn), 14).await;
    assert_eq!(
        json_of(&c, &secret_arn).await["password"].as_str(),
        Some(password.as_str()),
        "a schedule change rotated"
    );
    s.ok(&["drift"], 0);

    // Management turned off out of band (the password set by hand): drift, and one apply
    // turns it on again, with a new secret that the task definitions follow at once.
    let by_hand = format!("ByHand{}", unique_token().replace('-', ""));
    c.docdb
        .modify_db_cluster()
        .db_cluster_identifier(&cluster_id)
        .manage_master_user_password(false)
        .master_user_password(&by_hand)
        .apply_immediately(true)
        .send()
        .await
        .expect("ModifyDBCluster");
    let drift = s.ok(&["drift", "--json"], 2);
    assert!(drift.stdout.contains("manage_master_password"), "{}", drift.stdout);
    s.ok(&["apply", "--auto-approve"], 0);
    let cl = docdb_cluster(&c, &cluster_id).await.expect("cluster");
    let secret_arn = managed_secret(&c, &s, cl.master_user_secret().and_then(|m| m.secret_arn()), 14).await;
    verify_injection(&c, &s, &secret_arn).await;
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);
    for text in [read_tree(&s.state_dir), drift.stdout] {
        assert!(!text.contains(&by_hand), "the password set by hand leaked");
    }

    // Instance class: one in-place modify per instance.
    s.edit(|t| {
        t.replace("instance_class = \"db.r5.large\"", "instance_class = \"db.r5.xlarge\"")
            .replace("apply_immediately = false", "apply_immediately = true")
    });
    assert_eq!(plan_actions(&s), pairs(&[("db_instance.1", "update"), ("db_instance.2", "update")]));
    let plan: J = serde_json::from_str(&s.ok(&["plan", "--json"], 0).stdout).unwrap();
    for a in plan["actions"].as_array().unwrap() {
        let names: Vec<&str> =
            a["changes"].as_array().unwrap().iter().filter_map(|ch| ch["name"].as_str()).collect();
        assert_eq!(names, ["instance_class"], "{a}");
    }
    s.ok(&["apply", "--auto-approve"], 0);
    for i in docdb_instances(&c, &cluster_id).await {
        assert_eq!(i.db_instance_class(), Some("db.r5.xlarge"), "{:?}", i.db_instance_identifier());
    }
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Replicas 2 -> 3: one new instance, in the next zone round-robin (AZ-1 of two).
    s.edit(|t| t.replace("instances = 2", "instances = 3"));
    assert_eq!(plan_actions(&s), pairs(&[("db_instance.3", "create")]));
    s.ok(&["apply", "--auto-approve"], 0);
    let instances = docdb_instances(&c, &cluster_id).await;
    assert_eq!(instances.len(), 3);
    assert_eq!(instances[2].db_instance_identifier(), Some(id(3).as_str()));
    assert_eq!(instances[2].availability_zone(), Some("us-east-1a"));
    assert_eq!(instances[2].db_instance_class(), Some("db.r5.xlarge"));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Backup retention: modified in place.
    s.edit(|t| t.replace("backup_retention_days = 7", "backup_retention_days = 14"));
    assert_eq!(plan_actions(&s), pairs(&[("db_cluster.main", "update")]));
    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(docdb_cluster(&c, &cluster_id).await.unwrap().backup_retention_period(), Some(14));

    // Failover: the AZ-2 instance becomes the writer; not drift.
    let r = s.ok(&["failover"], 0);
    assert!(r.stderr.contains("Failover complete"), "{}", r.stderr);
    assert_eq!(docdb_writer(&c, &cluster_id).await, (id(2), "us-east-1b".to_string()));
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // Destroy without the flag: refused, nothing deleted.
    let serial = s.state_serial();
    let r = s.ok(&["destroy", "--auto-approve"], 1);
    assert!(
        r.stderr.contains("deletion protection") && r.stderr.contains("--allow-delete-protected"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("db_cluster.main"), "{}", r.stderr);
    assert_eq!(s.state_serial(), serial);
    assert!(docdb_cluster(&c, &cluster_id).await.is_some());
    assert_eq!(docdb_instances(&c, &cluster_id).await.len(), 3);
    assert!(c.sm.describe_secret().secret_id(&secret_arn).send().await.unwrap().deleted_date().is_none());
    assert_eq!(counts(&c.ec2, &s).await.vpcs, 1);

    // With the flag: protection off, a final snapshot, the database's secret gone with it.
    let r = s.ok(&["destroy", "--auto-approve", "--allow-delete-protected"], 0);
    println!("destroy:\n{}", r.stderr);
    assert!(docdb_cluster(&c, &cluster_id).await.is_none());
    assert!(docdb_instances(&c, &cluster_id).await.is_empty());
    let snaps = c.docdb.describe_db_cluster_snapshots().send().await.expect("DescribeDBClusterSnapshots");
    let finals: Vec<String> = snaps
        .db_cluster_snapshots()
        .iter()
        .filter_map(|x| x.db_cluster_snapshot_identifier())
        .filter(|x| x.starts_with(&format!("{cluster_id}-final-")))
        .map(str::to_string)
        .collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    match c.sm.describe_secret().secret_id(&secret_arn).send().await {
        Ok(d) => assert!(d.deleted_date().is_some(), "the database's secret is still there"),
        Err(e) => assert_eq!(
            aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e),
            Some("ResourceNotFoundException"),
            "{e:?}"
        ),
    }
    assert_eq!(counts(&c.ec2, &s).await, Counts::default());

    // Applied again at once: a new cluster, with a new secret of its own.
    s.ok(&["apply", "--auto-approve"], 0);
    let cl = docdb_cluster(&c, &cluster_id).await.expect("cluster again");
    let new_arn = managed_secret(&c, &s, cl.master_user_secret().and_then(|m| m.secret_arn()), 14).await;
    assert_ne!(new_arn, secret_arn);
    assert_eq!(json_of(&c, &new_arn).await["username"], "hactladmin");
    assert_eq!(connection_json(&c, &s).await["host"].as_str(), cl.endpoint());
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Everything, at once: no snapshot, the secret gone with the cluster.
    s.ok(&DESTROY_ALL, 0);
    assert!(docdb_cluster(&c, &cluster_id).await.is_none());
    assert_not_found(
        c.sm.describe_secret().secret_id(&new_arn).send().await,
        &["ResourceNotFoundException"],
        "the database's secret",
    );
    let snaps = c.docdb.describe_db_cluster_snapshots().send().await.unwrap();
    let left: Vec<&str> = snaps
        .db_cluster_snapshots()
        .iter()
        .filter_map(|x| x.db_cluster_snapshot_identifier())
        .filter(|x| x.starts_with(&format!("{cluster_id}-final-")))
        .collect();
    assert_eq!(
        left,
        finals.iter().map(String::as_str).collect::<Vec<_>>(),
        "--skip-final-snapshot took none"
    );
    for f in finals {
        c.docdb.delete_db_cluster_snapshot().db_cluster_snapshot_identifier(f).send().await.unwrap();
    }
    assert_eq!(counts(&c.ec2, &s).await, Counts::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stack_applies_fails_over_and_destroys() {
    let s = Stack::from_file("data-pg", "config/fargate-postgres.toml");
    let c = clients().await;
    let id = format!("{}-pg", s.name);

    s.ok(&["apply", "--auto-approve"], 0);
    let out = c.rds.describe_db_instances().db_instance_identifier(&id).send().await.expect("instance");
    let i = &out.db_instances()[0];
    assert_eq!(i.engine(), Some("postgres"));
    assert_eq!(i.multi_az(), Some(true));
    assert_eq!(i.storage_encrypted(), Some(true));
    assert_eq!(i.backup_retention_period(), Some(7));
    assert_eq!(i.deletion_protection(), Some(true));
    assert_eq!(i.publicly_accessible(), Some(false));
    assert_eq!(i.db_instance_class(), Some("db.t3.medium"));
    let groups: Vec<&str> =
        i.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(groups, [state_id(&s, "sg.db")]);
    let pg = i.db_parameter_groups()[0].db_parameter_group_name().expect("parameter group").to_string();
    assert_eq!(pg, format!("{}-pg", s.name));
    let endpoint = i.endpoint().and_then(|e| e.address()).expect("endpoint").to_string();

    let secret_arn = managed_secret(&c, &s, i.master_user_secret().and_then(|m| m.secret_arn()), 30).await;
    let conn = connection_json(&c, &s).await;
    assert_eq!(conn["host"].as_str(), Some(endpoint.as_str()));
    assert_eq!(conn["port"], J::from(5432));
    assert_eq!(conn["engine"], "postgres");
    let value = json_of(&c, &secret_arn).await;
    assert_eq!(value["username"], "hactladmin");
    let password = value["password"].as_str().expect("password").to_string();
    assert!(!password.is_empty());
    verify_injection(&c, &s, &secret_arn).await;
    verify_db_group(&c, &s, 5432).await;

    let plan_text = s.ok(&["plan", "--detailed-exitcode"], 0);
    let plan_json = s.ok(&["plan", "--json"], 0);
    for (what, text) in [
        ("state/", read_tree(&s.state_dir)),
        ("plan", format!("{}{}", plan_text.stdout, plan_text.stderr)),
        ("plan --json", plan_json.stdout),
    ] {
        assert!(!text.contains(&password), "the generated password leaked into {what}");
    }

    // Rotated now: RDS's secret holds a new password, the service is redeployed.
    rotate(&c, &s, &secret_arn, &password).await;
    verify_redeploy_rule(&c, &s, &secret_arn).await;
    verify_injection(&c, &s, &secret_arn).await;

    // Multi-AZ failover (reboot with failover): the standby's zone becomes the primary's
    // (the emulator moves the instance as AWS does, see emulator/), then no changes.
    let zone = |out: &aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput| {
        let i = &out.db_instances()[0];
        (i.availability_zone().map(str::to_string), i.secondary_availability_zone().map(str::to_string))
    };
    let before = zone(&c.rds.describe_db_instances().db_instance_identifier(&id).send().await.unwrap());
    let r = s.ok(&["failover"], 0);
    assert!(r.stderr.contains("Failover complete"), "{}", r.stderr);
    let after = zone(&c.rds.describe_db_instances().db_instance_identifier(&id).send().await.unwrap());
    let primary_before = before.0.clone().expect("a primary zone");
    assert_ne!(after.0.as_deref(), Some(primary_before.as_str()), "no failover: {before:?} -> {after:?}");
    assert!(after.0.as_deref().is_some_and(|z| ["us-east-1a", "us-east-1b"].contains(&z)), "{after:?}");
    assert_eq!(after.1, Some(primary_before), "the old primary's zone holds the standby");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Refused without the flag; everything goes with the flags.
    let r = s.ok(&["destroy", "--auto-approve"], 1);
    assert!(r.stderr.contains("db_instance.main"), "{}", r.stderr);
    assert!(c.rds.describe_db_instances().db_instance_identifier(&id).send().await.is_ok());
    s.ok(&DESTROY_ALL, 0);
    assert_not_found(
        c.rds.describe_db_instances().db_instance_identifier(&id).send().await,
        &["DBInstanceNotFound"],
        "the database instance",
    );
    let snaps = c.rds.describe_db_snapshots().send().await.unwrap();
    assert!(snaps
        .db_snapshots()
        .iter()
        .all(|x| !x.db_snapshot_identifier().unwrap_or("").starts_with(&format!("{id}-final-"))));
    for secret in [secret_arn, connection_name(&s)] {
        assert_not_found(
            c.sm.describe_secret().secret_id(&secret).send().await,
            &["ResourceNotFoundException"],
            &secret,
        );
    }
    assert_eq!(counts(&c.ec2, &s).await, Counts::default());
}
