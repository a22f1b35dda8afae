//! The IAM policies of both demo configs, linted: config/ha-stack.toml (with the scheduled
//! drift job, state in S3) and config/fargate-postgres.toml (with [log_analytics] and an
//! IAM-authenticated [database.proxy]) are applied against the
//! emulator; every inline policy and trust policy of their roles is read back from the
//! emulator's IAM with the SDK and run through parliament (an independent IAM policy
//! linter from PyPI, installed pinned by scripts/parliament.sh). No wrong resource format,
//! no unknown action, and `*` only on actions without resource-level permissions, except
//! the findings listed below (each justified beside its statement in the expansion).
//! Trust policies of service principals carry `aws:SourceAccount` (and the scheduler's
//! `aws:SourceArn`). Both stacks are destroyed at the end, also when an assertion fails.

mod common;

use common::*;
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1";

/// Actions parliament 1.6.4 does not know that AWS's Service Authorization Reference lists
/// (expand_compute.rs, statement AgentSession: ECS, Write, resource container-instance).
const UNKNOWN_TO_PARLIAMENT: &[&str] = &["ecs:PutSystemLogEvents"];

/// `*` resources on actions that do have resource-level permissions: the drift job's
/// `ReadAccountWide` statement (expand_drift.rs, `read_account_wide()`, the kinds'
/// `reads_account_wide`: the providers list these account-wide, without naming a resource,
/// and AWS authorizes such calls against `*`).
const STAR_EXCEPTIONS: &[&str] = &[
    "rds:DescribeDBClusterParameterGroups",
    "rds:DescribeDBClusterParameters",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBParameterGroups",
    "rds:DescribeDBParameters",
    "rds:DescribeDBProxies",
    "rds:DescribeDBProxyTargetGroups",
    "rds:DescribeDBProxyTargets",
    "rds:DescribeDBSubnetGroups",
    "rds:DescribeGlobalClusters",
    "rds:ListTagsForResource",
    "cloudwatch:DescribeAlarms",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:ListTagsForResource",
    // The log shipper's network interfaces (expand_log_analytics.rs, statement
    // NetworkInterfaces): Lambda creates and deletes them with the function's role and
    // checks these actions on `*` when the function is put in the VPC; AWS's own policy for
    // it (AWSLambdaVPCAccessExecutionRole) grants them on `*`.
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:UnassignPrivateIpAddresses",
];

/// Resource formats parliament asks of an action that hactl's grant cannot match, because
/// the action also takes resources hactl never has: OpenSearch's tag reads take
/// applications and data sources too (`arn:aws:opensearch:`); the drift job reads the
/// tags of the stack's domain only (expand_drift.rs, ReadStackLogAnalytics).
const MISMATCH_EXCEPTIONS: &[(&str, &[&str])] = &[
    ("es:ListTags", &["arn:*:opensearch:*:*:application/*", "arn:*:opensearch:*:*:datasource/*"]),
    // ECS's blue/green role (expand_levers.rs): ModifyRule also takes Network Load
    // Balancer rules, which a stack of Application Load Balancers never has.
    ("elasticloadbalancing:ModifyRule", &["arn:*:elasticloadbalancing:*:*:listener-rule/net/*/*/*/*"]),
];

/// What parliament says about every trust policy: a trust policy names a Principal and no
/// Resource, which parliament (an identity-policy linter) reads as malformed. Its action
/// and condition checks still run on them.
const TRUST_POLICY_NOTE: &str = "Statement contains neither Resource nor NotResource";

/// `text` with its `[drift]` section (if any) replaced by a scheduled drift job, state in S3.
fn scheduled(text: &str, bucket: &str) -> String {
    let mut text = text.to_string();
    if let Some(start) = text.find("\n[drift]") {
        let end = text[start + 1..].find("\n[").map_or(text.len(), |e| start + 1 + e);
        text.replace_range(start..end, "");
    }
    format!(
        "{text}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n\n[drift]\nalarm = true\n\
         schedule = \"rate(15 minutes)\"\nimage = \"{IMAGE}\"\nconfig_path = \"config/stack.toml\"\n"
    )
}

/// Destroys its stack (and empties and removes its state bucket) when dropped, so a failed
/// assertion leaves nothing behind in the emulator.
struct Cleanup<'a> {
    stack: &'a Stack,
    bucket: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let r = self.stack.run(&DESTROY_ALL);
        if r.code != 0 {
            eprintln!("cleanup: destroy of {} exited {}:\n{}", self.stack.name, r.code, r.stderr);
        }
        if let Some(bucket) = self.bucket.take() {
            // Drop runs inside the test's runtime: the SDK calls get a thread and runtime
            // of their own; a failure there is reported, not a second panic.
            let done = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async { delete_bucket(&s3().await, &bucket).await });
            })
            .join();
            if done.is_err() {
                eprintln!("cleanup: the state bucket of {} was not removed", self.stack.name);
            }
        }
    }
}

/// A policy document as IAM answers it: plain JSON, URL-encoded JSON, or (the emulator, in
/// some answers) a JSON string holding the JSON.
fn document(text: &str) -> J {
    fn parse(s: &str) -> Option<J> {
        match serde_json::from_str::<J>(s).ok()? {
            J::String(inner) => serde_json::from_str::<J>(&inner).ok().filter(J::is_object),
            j @ J::Object(_) => Some(j),
            _ => None,
        }
    }
    parse(text)
        .or_else(|| parse(&percent_decode(text)))
        .unwrap_or_else(|| panic!("not a policy document: {text}"))
}

fn statements(doc: &J) -> Vec<J> {
    match &doc["Statement"] {
        J::Array(a) => a.clone(),
        J::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

fn strings(v: &J) -> Vec<String> {
    match v {
        J::String(s) => vec![s.clone()],
        J::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// A role of the stack as the emulator's IAM holds it.
struct RoleDocs {
    name: String,
    trust: J,
    /// Inline policy name → document.
    inline: BTreeMap<String, J>,
}

/// Every role under the stack's IAM path, with its trust and inline policies (SDK reads).
async fn roles_of(iam: &aws_sdk_iam::Client, stack: &str) -> Vec<RoleDocs> {
    let listed = iam.list_roles().path_prefix(format!("/hactl/{stack}/")).send().await.expect("ListRoles");
    let mut out = Vec::new();
    for r in listed.roles() {
        let name = r.role_name().to_string();
        let got = iam.get_role().role_name(&name).send().await.expect("GetRole");
        let trust = document(got.role().and_then(|r| r.assume_role_policy_document()).expect("trust policy"));
        let mut inline = BTreeMap::new();
        let names = iam.list_role_policies().role_name(&name).send().await.expect("ListRolePolicies");
        for p in names.policy_names() {
            let doc =
                iam.get_role_policy().role_name(&name).policy_name(p).send().await.expect("GetRolePolicy");
            inline.insert(p.clone(), document(doc.policy_document()));
        }
        out.push(RoleDocs { name, trust, inline });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn parliament() -> PathBuf {
    let bin = std::env::var_os("HACTL_PARLIAMENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".emulator/parliament-venv/bin/parliament"));
    assert!(bin.exists(), "{} missing: run `bash scripts/parliament.sh install`", bin.display());
    bin
}

/// One parliament finding.
#[derive(Debug, Clone)]
struct Finding {
    file: String,
    issue: String,
    detail: J,
}

/// Runs parliament on the policy files; its findings, by file name.
fn lint(files: &[PathBuf]) -> Vec<Finding> {
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let out = std::process::Command::new(parliament())
        .args(["--json", "--files", &list.join(",")])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run parliament");
    // 0: no finding, 1: findings; anything else is a usage or crash.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "parliament failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let j: J = serde_json::from_str(l).unwrap_or_else(|e| panic!("parliament line {l}: {e}"));
            let file = j["location"]["filepath"].as_str().unwrap_or_default();
            Finding {
                file: Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                issue: j["issue"].as_str().unwrap_or_default().to_string(),
                detail: j["detail"].clone(),
            }
        })
        .collect()
}

/// Whether a finding is one of the accepted ones (see the constants above).
fn accepted(f: &Finding) -> bool {
    match f.issue.as_str() {
        "UNKNOWN_ACTION" => {
            UNKNOWN_TO_PARLIAMENT.iter().any(|a| f.detail.as_str() == Some(&format!("Unknown action {a}")))
        }
        "RESOURCE_STAR" => {
            let actions = strings(&f.detail);
            !actions.is_empty() && actions.iter().all(|a| STAR_EXCEPTIONS.contains(&a.as_str()))
        }
        "MALFORMED" => f.file.ends_with(".trust.json") && f.detail.as_str() == Some(TRUST_POLICY_NOTE),
        "RESOURCE_MISMATCH" => f.detail.as_array().filter(|d| !d.is_empty()).is_some_and(|d| {
            d.iter().all(|m| {
                MISMATCH_EXCEPTIONS.iter().any(|(action, formats)| {
                    m["action"].as_str() == Some(action)
                        && m["required_format"].as_str().is_some_and(|f| formats.contains(&f))
                })
            })
        }),
        _ => false,
    }
}

/// The trust policy of `role` lets only its service assume it, on behalf of `account`.
fn check_trust(role: &RoleDocs, account: &str, stack: &str) {
    let sts = statements(&role.trust);
    assert!(!sts.is_empty(), "{}: empty trust policy", role.name);
    for st in sts {
        let services = strings(&st["Principal"]["Service"]);
        assert_eq!(services.len(), 1, "{}: {st}", role.name);
        let service = services[0].as_str();
        let cond = &st["Condition"];
        // EC2 and Lambda do not send aws:SourceAccount for instance and function roles,
        // and ECS is not documented to for its infrastructure role (blue/green)
        // (expand_compute.rs, assume_role): the IfExists form, so they keep their
        // credentials.
        let operator =
            if matches!(service, "ec2.amazonaws.com" | "lambda.amazonaws.com" | "ecs.amazonaws.com") {
                "StringEqualsIfExists"
            } else {
                "StringEquals"
            };
        assert_eq!(
            strings(&cond[operator]["aws:SourceAccount"]),
            [account],
            "{}: aws:SourceAccount under {operator} in {st}",
            role.name
        );
        let source = match service {
            "scheduler.amazonaws.com" => {
                Some(format!("arn:aws:scheduler:us-east-1:{account}:schedule-group/hactl-{stack}"))
            }
            "events.amazonaws.com" => {
                Some(format!("arn:aws:events:us-east-1:{account}:rule/{stack}-password-rotated"))
            }
            "states.amazonaws.com" => {
                Some(format!("arn:aws:states:us-east-1:{account}:stateMachine:{stack}-redeploy"))
            }
            _ => None,
        };
        if let Some(source) = source {
            assert_eq!(strings(&cond["ArnLike"]["aws:SourceArn"]), [source], "{}: {st}", role.name);
        }
    }
}

/// Every statement of `doc` that grants `action`.
fn grants(doc: &J, action: &str) -> Vec<J> {
    statements(doc).into_iter().filter(|s| strings(&s["Action"]).iter().any(|a| a == action)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_config_policies_pass_the_linter() {
    // The linter works here: the instance role's old grant is a resource mismatch.
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old-instance.json");
    std::fs::write(
        &old,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:UpdateContainerInstancesState"],
            "Resource":["arn:aws:ecs:us-east-1:123456789012:cluster/demo"]}]}"#,
    )
    .expect("write");
    let found = lint(&[old]);
    assert!(
        found.iter().any(|f| f.issue == "RESOURCE_MISMATCH"),
        "parliament did not flag a grant that never matches: {found:?}"
    );

    let conf = sdk().await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let docdb = aws_sdk_docdb::Client::new(&conf);
    let rds = aws_sdk_rds::Client::new(&conf);
    let account = account_id().await;

    let ha = Stack::from_file("lint-ha", "config/ha-stack.toml");
    let bucket = format!("{}-state", ha.name);
    s3().await.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
    let _ha_cleanup = Cleanup { stack: &ha, bucket: Some(bucket.clone()) };
    ha.edit(|t| scheduled(&t, &bucket));
    let pg = Stack::from_file("lint-pg", "config/fargate-postgres.toml");
    // With the log shipper's role too ([log_analytics]), and the RDS Proxy's role and the
    // task role's rds-db:connect ([database.proxy] with IAM sign-in).
    // And ECS's blue/green role (the api service's `deployment = "blue_green"`).
    pg.edit(|t| {
        let t = t.replacen(
            "log_retention_days = 14\n",
            "log_retention_days = 14\ndeployment = \"blue_green\"\n",
            1,
        );
        // Request-count scaling names one target group: not with blue/green.
        let t = t.replacen("requests_per_target = 500\n", "", 1);
        format!("{t}\n[log_analytics]\n\n[database.proxy]\niam_auth = true\n")
    });
    let _pg_cleanup = Cleanup { stack: &pg, bucket: None };
    std::thread::scope(|s| {
        s.spawn(|| ha.ok(&["apply", "--auto-approve"], 0));
        s.spawn(|| pg.ok(&["apply", "--auto-approve"], 0));
    });

    let mut files = Vec::new();
    let mut linted_inline = 0;
    for stack in [&ha, &pg] {
        let roles = roles_of(&iam, &stack.name).await;
        assert!(!roles.is_empty(), "no role under /hactl/{}/", stack.name);
        for role in &roles {
            check_trust(role, &account, &stack.name);
            let trust = dir.path().join(format!("{}.trust.json", role.name));
            std::fs::write(&trust, role.trust.to_string()).expect("write");
            files.push(trust);
            for (policy, doc) in &role.inline {
                let f = dir.path().join(format!("{}.{policy}.json", role.name));
                std::fs::write(&f, doc.to_string()).expect("write");
                files.push(f);
                linted_inline += 1;
            }
        }
        let by_name: BTreeMap<&str, &RoleDocs> = roles.iter().map(|r| (r.name.as_str(), r)).collect();
        let role = |suffix: &str| {
            let name = format!("{}-us-east-1-{suffix}", stack.name);
            by_name.get(name.as_str()).copied().unwrap_or_else(|| panic!("role {name} missing"))
        };
        // The execution role reads the stack's two database secrets: the connection
        // secret, and the one the database manages its master password in.
        let exec = &role("execution").inline["execution"];
        let mut secrets: Vec<String> = grants(exec, "secretsmanager:GetSecretValue")
            .iter()
            .flat_map(|s| strings(&s["Resource"]))
            .collect();
        secrets.sort();
        let d = sm.describe_secret().secret_id(format!("hactl/{}/db-connection", stack.name)).send().await;
        let mut want = vec![d.expect("DescribeSecret").arn().expect("arn").to_string()];
        want.push(if stack.name == ha.name {
            let c = docdb.describe_db_clusters().db_cluster_identifier(format!("{}-docdb", stack.name));
            let c = c.send().await.expect("DescribeDBClusters");
            c.db_clusters()[0].master_user_secret().and_then(|m| m.secret_arn()).expect("managed").to_string()
        } else {
            let i = rds.describe_db_instances().db_instance_identifier(format!("{}-pg", stack.name));
            let i = i.send().await.expect("DescribeDBInstances");
            i.db_instances()[0]
                .master_user_secret()
                .and_then(|m| m.secret_arn())
                .expect("managed")
                .to_string()
        });
        want.sort();
        assert_eq!(secrets, want, "{}: execution role secrets", stack.name);
        // The redeployment after a rotation: the state machine may update the cluster's
        // services and nothing else; the rule may start that state machine only.
        let update = &role("redeploy").inline["redeploy"];
        assert_eq!(update["Statement"].as_array().map(Vec::len), Some(1), "{update}");
        assert_eq!(strings(&update["Statement"][0]["Action"]), ["ecs:UpdateService"], "{update}");
        assert_eq!(
            strings(&update["Statement"][0]["Resource"]),
            [format!("arn:aws:ecs:us-east-1:{account}:service/{}/*", stack.name)]
        );
        let start = &role("password-rotated").inline["start-redeploy"];
        assert_eq!(strings(&start["Statement"][0]["Action"]), ["states:StartExecution"], "{start}");
        assert_eq!(
            strings(&start["Statement"][0]["Resource"]),
            [format!("arn:aws:states:us-east-1:{account}:stateMachine:{}-redeploy", stack.name)]
        );
        if stack.name == ha.name {
            // Draining works on AWS: the grant names container instances of the cluster.
            let agent = &role("instance").inline["ecs-agent"];
            let drain = grants(agent, "ecs:UpdateContainerInstancesState");
            assert_eq!(drain.len(), 1, "{agent}");
            assert_eq!(
                strings(&drain[0]["Resource"]),
                [format!("arn:aws:ecs:us-east-1:{account}:container-instance/{}/*", ha.name)]
            );
            // The drift job: no account-wide IAM read, no read of the password.
            let drift = &role("drift-task").inline["drift"];
            let text = drift.to_string();
            assert!(!text.contains("GetAccountAuthorizationDetails"), "{text}");
            let values: Vec<String> = grants(drift, "secretsmanager:GetSecretValue")
                .iter()
                .flat_map(|s| strings(&s["Resource"]))
                .collect();
            assert_eq!(values.len(), 1, "{text}");
            assert!(values[0].contains(&format!("hactl/{}/db-connection", ha.name)), "{text}");
            assert!(!text.contains("db-credentials"), "{text}");
            // Its IAM reads name the stack's own path only.
            let iam_reads = grants(drift, "iam:GetRolePolicy");
            assert_eq!(iam_reads.len(), 1, "{text}");
            let mut scoped = strings(&iam_reads[0]["Resource"]);
            scoped.sort();
            let path = format!("/hactl/{}/us-east-1/*", ha.name);
            assert_eq!(
                scoped,
                [
                    format!("arn:aws:iam::{account}:instance-profile{path}"),
                    format!("arn:aws:iam::{account}:policy{path}"),
                    format!("arn:aws:iam::{account}:role{path}")
                ]
            );
        }
    }
    // execution, instance and the drift job's three roles (ha-stack); execution, the log
    // shipper, the proxy, the api's task role and ECS's blue/green role (fargate, with
    // [log_analytics], [database.proxy] and a blue/green api); the redeployment's two
    // roles (both).
    assert_eq!(linted_inline, 14, "inline policies read back: {files:?}");

    let findings = lint(&files);
    let rejected: Vec<&Finding> = findings.iter().filter(|f| !accepted(f)).collect();
    assert!(rejected.is_empty(), "parliament findings:\n{rejected:#?}");
    // The accepted ones are there for the reasons given (not a linter that says nothing).
    assert!(findings.iter().any(|f| f.issue == "UNKNOWN_ACTION"), "{findings:?}");
    assert!(findings.iter().any(|f| f.issue == "RESOURCE_STAR"), "{findings:?}");
}
