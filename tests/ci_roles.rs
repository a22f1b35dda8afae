//! End-to-end test of `[ci]`: apply makes GitHub's OIDC identity provider, the read-only
//! plan role and the deploy role with its managed policies; the trust documents name the
//! repository and branch exactly; the deploy policies grant what the operator policy grants,
//! scoped to the stack; a widened trust condition is drift that apply puts back; destroy
//! removes all of it. Verified with the IAM and S3 APIs, never by asking hactl.

mod common;

use common::*;
use serde_json::Value as J;
use std::collections::BTreeSet;

const REPO: &str = "acme/shop-infra";
const BRANCH: &str = "release";
const ISSUER: &str = "token.actions.githubusercontent.com";

fn strings(v: &J) -> Vec<String> {
    match v {
        J::String(s) => vec![s.clone()],
        J::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &J) -> Vec<J> {
    match &doc["Statement"] {
        J::Array(a) => a.clone(),
        one @ J::Object(_) => vec![one.clone()],
        other => panic!("no statements: {other}"),
    }
}

async fn trust(iam: &aws_sdk_iam::Client, role: &str) -> J {
    let r = iam.get_role().role_name(role).send().await.expect("GetRole");
    let doc = r.role().and_then(|r| r.assume_role_policy_document()).expect("trust document");
    serde_json::from_str(&percent_decode(doc)).expect("trust json")
}

/// The one statement of a GitHub trust document: (provider ARN, audience, subjects).
fn github_trust(doc: &J) -> (String, Vec<String>, BTreeSet<String>) {
    let st = statements(doc);
    assert_eq!(st.len(), 1, "{doc}");
    let s = &st[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(strings(&s["Action"]), ["sts:AssumeRoleWithWebIdentity"]);
    let eq = &s["Condition"]["StringEquals"];
    assert!(s["Condition"].as_object().is_some_and(|c| c.len() == 1), "only StringEquals: {doc}");
    (
        strings(&s["Principal"]["Federated"]).join(","),
        strings(&eq[format!("{ISSUER}:aud")]),
        strings(&eq[format!("{ISSUER}:sub")]).into_iter().collect(),
    )
}

/// The default version of each managed policy attached to `role`.
async fn attached_documents(iam: &aws_sdk_iam::Client, role: &str) -> Vec<(String, J)> {
    let attached =
        iam.list_attached_role_policies().role_name(role).send().await.expect("ListAttachedRolePolicies");
    let mut out = Vec::new();
    for p in attached.attached_policies() {
        let arn = p.policy_arn().expect("policy arn").to_string();
        let policy = iam.get_policy().policy_arn(&arn).send().await.expect("GetPolicy");
        let version =
            policy.policy().and_then(|p| p.default_version_id()).expect("default version").to_string();
        let v = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(&version)
            .send()
            .await
            .expect("GetPolicyVersion");
        let text = v.policy_version().and_then(|v| v.document()).expect("document");
        out.push((arn, serde_json::from_str(&percent_decode(text)).expect("policy json")));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn ci_roles_trust_exactly_the_repository_and_are_scoped_to_the_stack() {
    let base = std::fs::read_to_string(repo_root().join("config/fargate-postgres.toml")).expect("config");
    let s = Stack::from_text("ci-roles", &base);
    let bucket = format!("{}-state", s.name);
    let s3 = s3().await;
    s3.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
    // The service runs from the stack's own ECR repository, which the deploy role pushes to.
    s.edit(|t| {
        let t = t.replace("image = \"public.ecr.aws/nginx/nginx:1.27\"", "image = \"ecr:api:1.0\"");
        format!(
            "{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n\n[ci]\ngithub_repository = \"{REPO}\"\n\
             deploy_branch = \"{BRANCH}\"\n"
        )
    });
    let iam = aws_sdk_iam::Client::new(&sdk().await);
    let account = account_id().await;

    s.ok(&["apply", "--auto-approve"], 0);
    let state =
        s3_json(&s3, &bucket, &format!("hactl/{}/us-east-1/state.json", s.name)).await.expect("state in S3");
    let id = |a: &str| {
        state["resources"][a]["id"].as_str().unwrap_or_else(|| panic!("{a} not in state")).to_string()
    };

    // The OIDC provider: GitHub's issuer, audience and thumbprints, the stack's tags.
    let provider = id("iam_oidc_provider.github");
    assert_eq!(provider, format!("arn:aws:iam::{account}:oidc-provider/{ISSUER}"));
    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .send()
        .await
        .expect("provider");
    assert_eq!(p.url().map(|u| u.trim_start_matches("https://")), Some(ISSUER));
    assert_eq!(p.client_id_list(), ["sts.amazonaws.com"]);
    let thumbprints: BTreeSet<&str> = p.thumbprint_list().iter().map(String::as_str).collect();
    assert_eq!(
        thumbprints,
        BTreeSet::from([
            "6938fd4d98bab03faadb97b34396831e3780aea1",
            "1c58a3a8518e8759bf075b76b750d4f2df264fcd"
        ])
    );
    assert!(p.tags().iter().any(|t| t.key() == "hactl:stack" && t.value() == s.name));

    // Trust: the provider, the audience, and the repository's pull requests and branch
    // (plan) or the branch alone (deploy), exactly.
    let plan_role = id("iam_role.ci_plan");
    let deploy_role = id("iam_role.ci_deploy");
    let (federated, aud, subs) = github_trust(&trust(&iam, &plan_role).await);
    assert_eq!(
        (federated.as_str(), aud.as_slice()),
        (provider.as_str(), ["sts.amazonaws.com".to_string()].as_slice())
    );
    assert_eq!(
        subs,
        BTreeSet::from([format!("repo:{REPO}:pull_request"), format!("repo:{REPO}:ref:refs/heads/{BRANCH}")])
    );
    let (federated, aud, subs) = github_trust(&trust(&iam, &deploy_role).await);
    assert_eq!(federated, provider);
    assert_eq!(aud, ["sts.amazonaws.com"]);
    assert_eq!(subs, BTreeSet::from([format!("repo:{REPO}:ref:refs/heads/{BRANCH}")]));

    // The plan role reads; it writes only the state lock.
    let names = iam.list_role_policies().role_name(&plan_role).send().await.expect("ListRolePolicies");
    assert_eq!(names.policy_names(), ["plan"]);
    let doc =
        iam.get_role_policy().role_name(&plan_role).policy_name("plan").send().await.expect("GetRolePolicy");
    let plan_doc: J = serde_json::from_str(&percent_decode(doc.policy_document())).expect("plan policy");
    let lock = format!("arn:aws:s3:::{bucket}/hactl/{}/us-east-1/state.json.lock", s.name);
    // The only secret value it reads is the connection secret's (no password in it).
    let connection = id("secret.db_connection");
    for st in statements(&plan_doc) {
        if strings(&st["Action"]).iter().any(|a| a == "secretsmanager:GetSecretValue") {
            assert_eq!(strings(&st["Resource"]), std::slice::from_ref(&connection), "{st}");
        }
    }
    for st in statements(&plan_doc) {
        for action in strings(&st["Action"]) {
            let verb = action.split(':').nth(1).unwrap_or_default();
            let reads = ["Describe", "List", "Get"].iter().any(|p| verb.starts_with(p));
            assert!(
                reads || strings(&st["Resource"]) == [lock.clone()],
                "plan role writes: {action} in {st}"
            );
        }
    }
    assert!(iam
        .list_attached_role_policies()
        .role_name(&plan_role)
        .send()
        .await
        .expect("attached")
        .attached_policies()
        .is_empty());

    // The deploy role: every action of docs/operator-policy.json, in managed policies of
    // at most 6,144 characters, each resource pinned to the stack's region and account,
    // and to the stack's names where hactl's names are predictable.
    let docs = attached_documents(&iam, &deploy_role).await;
    assert!(docs.len() >= 2, "{} deploy policies", docs.len());
    let operator: J = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/operator-policy.json")).expect("read"),
    )
    .expect("operator policy");
    let wanted: BTreeSet<String> = statements(&operator).iter().flat_map(|s| strings(&s["Action"])).collect();
    let mut granted = BTreeSet::new();
    for (arn, doc) in &docs {
        assert!(arn.contains(&format!("policy/hactl/{}/", s.name)), "{arn}");
        assert!(doc.to_string().len() <= 6_144, "{arn}: {} characters", doc.to_string().len());
        for st in statements(doc) {
            granted.extend(strings(&st["Action"]));
            for r in strings(&st["Resource"]).into_iter().filter(|r| r != "*") {
                let parts: Vec<&str> = r.splitn(6, ':').collect();
                assert_eq!(parts.len(), 6, "{r}");
                let (service, region, owner, rest) = (parts[2], parts[3], parts[4], parts[5]);
                assert!(region.is_empty() || region == "us-east-1", "region not pinned: {r}");
                assert!(owner.is_empty() || owner == account || service == "ssm", "account not pinned: {r}");
                let named = match service {
                    "iam" => !rest.starts_with("role/aws-service-role/"),
                    "logs" | "secretsmanager" | "ecs" | "sns" | "scheduler" | "elasticloadbalancing" => true,
                    // RDS Proxy's ARNs carry generated ids (`prx-...`), never the stack's name.
                    "rds" => !["og:", "pg:", "cluster-pg:", "db-proxy:", "target-group:"]
                        .iter()
                        .any(|p| rest.starts_with(p)),
                    "cloudwatch" | "autoscaling" | "ecr" | "s3" => true,
                    _ => false,
                };
                // The secrets databases manage are named by AWS (`rds!...`): describing and
                // rotating one takes the stack's database in its owner tag; creating and
                // tagging one is what the database's own create does.
                let condition = st["Condition"].to_string();
                let by_owner_tag = [format!("cluster:{}-docdb\"", s.name), format!("db:{}-pg\"", s.name)]
                    .iter()
                    .any(|d| condition.contains(d.as_str()));
                let created_by_the_database = rest == "secret:rds!*"
                    && strings(&st["Action"])
                        .iter()
                        .all(|a| a == "secretsmanager:CreateSecret" || a == "secretsmanager:TagResource");
                if named && !by_owner_tag && !created_by_the_database {
                    assert!(
                        rest.contains(&s.name) || rest.contains(&bucket) || rest.contains(ISSUER),
                        "not scoped to the stack: {r}"
                    );
                }
            }
        }
    }
    let missing: Vec<&String> = wanted.difference(&granted).collect();
    assert!(missing.is_empty(), "the deploy role lacks {missing:?}");
    let all: Vec<J> = docs.iter().flat_map(|(_, d)| statements(d)).collect();
    let granting = |action: &str| -> Vec<Vec<String>> {
        all.iter()
            .filter(|s| s["Effect"] == "Allow" && strings(&s["Action"]).iter().any(|a| a == action))
            .map(|s| strings(&s["Resource"]))
            .collect()
    };
    // Pushing images: the stack's repositories only, and ECR's login.
    let repos = format!("arn:aws:ecr:us-east-1:{account}:repository/{}/*", s.name);
    for action in ["ecr:PutImage", "ecr:DescribeImages", "ecr:InitiateLayerUpload"] {
        assert!(granting(action).contains(&vec![repos.clone()]), "{action}: {:?}", granting(action));
    }
    assert!(granting("ecr:GetAuthorizationToken").contains(&vec!["*".to_string()]));
    // ECR's unnamed listing is authorized against `*` only.
    assert!(granting("ecr:DescribeRepositories").contains(&vec!["*".to_string()]));
    // And it is denied changing its own access: both roles, its policies, the provider.
    let plan_arn = iam.get_role().role_name(&plan_role).send().await.expect("GetRole");
    let plan_arn = plan_arn.role().map(|r| r.arn().to_string()).expect("plan role arn");
    let deny: Vec<J> =
        docs.iter().flat_map(|(_, d)| statements(d)).filter(|s| s["Effect"] == "Deny").collect();
    assert_eq!(deny.len(), 1, "{deny:?}");
    let denied = strings(&deny[0]["Resource"]);
    assert!(denied.contains(&plan_arn) && denied.contains(&provider), "{denied:?}");
    assert!(strings(&deny[0]["Action"]).contains(&"iam:PutRolePolicy".to_string()));

    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    // Someone widens the plan role's trust to every repository of the owner: drift, and
    // apply puts the exact condition back.
    let mut widened = trust(&iam, &plan_role).await;
    widened["Statement"][0]["Condition"]["StringEquals"][format!("{ISSUER}:sub")] = J::from("repo:acme/*");
    widened["Statement"][0]["Condition"] =
        serde_json::json!({"StringLike": widened["Statement"][0]["Condition"]["StringEquals"].clone()});
    iam.update_assume_role_policy()
        .role_name(&plan_role)
        .policy_document(widened.to_string())
        .send()
        .await
        .expect("out-of-band UpdateAssumeRolePolicy");
    let drift = s.run(&["drift"]);
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    assert!(drift.stdout.contains("iam_role.ci_plan"), "{}", drift.stdout);
    s.ok(&["apply", "--auto-approve"], 0);
    let (_, _, subs) = github_trust(&trust(&iam, &plan_role).await);
    assert_eq!(subs.len(), 2, "trust not restored: {subs:?}");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    let policy_arns: Vec<String> = docs.iter().map(|(a, _)| a.clone()).collect();
    s.ok(
        &[
            "destroy",
            "--auto-approve",
            "--allow-delete-protected",
            "--skip-final-snapshot",
            "--force-delete-secrets",
        ],
        0,
    );
    assert_not_found(
        iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider).send().await,
        &["NoSuchEntity"],
        "the OIDC provider",
    );
    for role in [&plan_role, &deploy_role] {
        assert_not_found(iam.get_role().role_name(role).send().await, &["NoSuchEntity"], role);
    }
    for arn in &policy_arns {
        assert_not_found(iam.get_policy().policy_arn(arn).send().await, &["NoSuchEntity"], arn);
    }
    delete_bucket(&s3, &bucket).await;
}
