//! Expansion of `[ci]`: the AWS side of a GitHub Actions pipeline.
//!
//! - GitHub's OIDC identity provider (`iam_oidc_provider.github`), unless
//!   `ci.oidc_provider_arn` names the account's existing one (an account has one provider
//!   per URL);
//! - the plan role (`iam_role.ci_plan`): assumable with a GitHub token of the repository
//!   for a pull request or a run on the deploy branch (the scheduled drift job runs
//!   there); it holds what reading the stack takes, as the in-AWS drift job does
//!   ([`Expander::read_only_statements`]): every kind's reads, the state object and its
//!   lock;
//! - the deploy role (`iam_role.ci_deploy`): assumable only from the deploy branch (or
//!   the configured GitHub environment); it holds what `hactl apply` and `hactl destroy`
//!   call, as docs/operator-policy.json grants it, scoped to this stack
//!   ([`deploy_statements`]), plus pushing images to the stack's ECR repositories. That is
//!   more than a role's inline policies may hold (10,240 characters in all), so it is
//!   split into managed policies (`iam_policy.ci_deploy_<n>`, 6,144 characters each).
//!
//! Both trust policies check the token's audience (`sts.amazonaws.com`) and its `sub`
//! claim exactly (`StringEquals`, no wildcard).

use crate::expand::{addr, out, partition, short_name, ExpandError, Expander, NetworkRefs};
use crate::expand_compute::{map, policy, Scope};
use crate::expand_data::DataRefs;
use crate::model::{CiConfig, StateBackend, GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_URL};
use hactl_core::kinds::iam;
use hactl_core::{Address, Value};
use serde_json::Value as J;

/// The operator policy: every action hactl calls, scoped to hactl's names.
const OPERATOR_POLICY: &str = include_str!("../../../docs/operator-policy.json");

/// What IAM counts of a managed policy document (whitespace aside) at most.
const MANAGED_POLICY_CHARS: usize = 6_144;
/// Managed policies a role may attach (IAM's default quota).
const MANAGED_POLICIES_PER_ROLE: usize = 10;
/// GitHub's issuer as IAM names it in condition keys and provider ARNs.
const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";

/// Names that scope the deploy role's resources to this stack.
struct StackNames<'a> {
    stack: &'a str,
    account: &'a str,
    /// The stack's regions: its own and the `[dr]` region.
    regions: Vec<&'a str>,
    /// The state bucket and key.
    bucket: &'a str,
    key: &'a str,
    /// The IAM path and names of `[ci]`'s roles.
    iam_path: &'a str,
    plan_role: String,
    deploy_role: String,
    /// `ci.oidc_provider_arn`: the account's provider, not the stack's.
    external_provider: bool,
}

impl StackNames<'_> {
    /// The prefix every load balancer and target group name of the stack starts with:
    /// those names are at most 32 characters and shortened by [`short_name`], which keeps
    /// the first 25.
    fn elb_prefix(&self) -> String {
        elb_prefix(self.stack)
    }

    /// The resource part of an operator-policy ARN (after `arn:aws:<service>:<region>:<account>:`)
    /// scoped to this stack: its exact names where the expander's names are fixed (the
    /// cluster, its services, the capacity provider, the schedule group, the dashboard,
    /// the GitHub provider, the state object), the stack's name prefix where they vary
    /// (`<stack>-` database identifiers and groups, alarms, topics, load balancers, target
    /// groups, task definition families; `/hactl/<stack>/` roles, policies, log groups,
    /// secrets; `<stack>/` repositories), the resource type alone where AWS generates the
    /// ids (EC2, ACM, Route 53, KMS, scalable targets), and AWS's default option groups.
    fn resource(&self, service: &str, rest: &str) -> Vec<String> {
        let s = self.stack;
        let p = self.elb_prefix();
        let one = |r: String| vec![r];
        match (service, rest) {
            ("iam", "role/hactl/*") => one(format!("role/hactl/{s}/*")),
            ("iam", "instance-profile/hactl/*") => one(format!("instance-profile/hactl/{s}/*")),
            ("iam", "policy/hactl/*") => one(format!("policy/hactl/{s}/*")),
            ("iam", "oidc-provider/*") => one(format!("oidc-provider/{GITHUB_ISSUER}")),
            ("logs", "log-group:/hactl/*") => one(format!("log-group:/hactl/{s}/*")),
            ("secretsmanager", "secret:hactl/*") => one(format!("secret:hactl/{s}/*")),
            ("scheduler", "schedule-group/hactl-*") => one(format!("schedule-group/hactl-{s}")),
            ("scheduler", "schedule/hactl-*/*") => one(format!("schedule/hactl-{s}/*")),
            ("events", "rule/*") => one(format!("rule/{s}-*")),
            ("states", "stateMachine:*") => one(format!("stateMachine:{s}-*")),
            ("es", "domain/*") => one(format!("domain/{}", crate::expand_log_analytics::domain_name(s))),
            ("lambda", "function:*-log-shipper") => one(format!("function:{s}-log-shipper")),
            ("s3", "*-log-failures-*") => one(format!("{s}-log-failures-*")),
            ("s3", "*-log-failures-*/*") => one(format!("{s}-log-failures-*/*")),
            ("elasticloadbalancing", "loadbalancer/app/*/*") => one(format!("loadbalancer/app/{p}*/*")),
            ("elasticloadbalancing", "listener/app/*/*/*") => one(format!("listener/app/{p}*/*/*")),
            ("elasticloadbalancing", "listener-rule/app/*/*/*/*") => {
                one(format!("listener-rule/app/{p}*/*/*/*"))
            }
            ("elasticloadbalancing", "targetgroup/*/*") => one(format!("targetgroup/{p}*/*")),
            // The cluster is named after the stack in each region.
            ("ecs", "cluster/*") => one(format!("cluster/{s}")),
            ("ecs", "service/*/*") => one(format!("service/{s}/*")),
            ("ecs", "task-definition/*:*") => one(format!("task-definition/{s}-*:*")),
            ("ecs", "capacity-provider/cp-*") => {
                one(format!("capacity-provider/{}", short_name(&format!("cp-{s}"), 255)))
            }
            ("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*") => {
                one(format!("autoScalingGroup:*:autoScalingGroupName/{s}-*"))
            }
            ("rds", "db:*") => one(format!("db:{s}-*")),
            ("rds", "cluster:*") => one(format!("cluster:{s}-*")),
            ("rds", "subgrp:*") => one(format!("subgrp:{s}-*")),
            ("rds", "pg:*") => one(format!("pg:{s}-*")),
            ("rds", "cluster-pg:*") => one(format!("cluster-pg:{s}-*")),
            // A PostgreSQL instance names the engine's default option group.
            ("rds", "og:*") => one("og:default:*".to_string()),
            ("rds", "snapshot:*-final-*") => one(format!("snapshot:{s}-*-final-*")),
            ("rds", "cluster-snapshot:*-final-*") => one(format!("cluster-snapshot:{s}-*-final-*")),
            ("rds", "global-cluster:*") => one(format!("global-cluster:{s}-*")),
            ("cloudwatch", "alarm:*") => one(format!("alarm:{s}-*")),
            ("cloudwatch", "dashboard/*") => one(format!("dashboard/{s}-{}", self.regions[0])),
            ("sns", "*") => one(format!("{s}-*")),
            ("ecr", "repository/*") => one(format!("repository/{s}/*")),
            ("s3", "YOUR-STATE-BUCKET") => one(self.bucket.to_string()),
            ("s3", "YOUR-STATE-BUCKET/hactl/*") => {
                vec![format!("{}/{}", self.bucket, self.key), format!("{}/{}.lock", self.bucket, self.key)]
            }
            ("s3", "YOUR-STATE-BUCKET/hactl/*.lock") => one(format!("{}/{}.lock", self.bucket, self.key)),
            _ => one(rest.to_string()),
        }
    }

    /// An operator-policy ARN scoped to this stack: the stack's regions for `*` (one ARN
    /// each), its account for `*` (AWS's own public SSM parameters keep theirs), and
    /// [`StackNames::resource`]. `*` alone stays `*`.
    fn arns(&self, arn: &str) -> Vec<String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, service, region, account, rest] = parts.as_slice() else { return vec![arn.to_string()] };
        let account = match (*account, *service) {
            ("*", "ssm") => "*",
            ("*", _) => self.account,
            (a, _) => a,
        };
        let regions: Vec<&str> = match *region {
            "*" => self.regions.clone(),
            r => vec![r],
        };
        let mut out = Vec::new();
        for region in regions {
            let part = partition(if region.is_empty() { self.regions[0] } else { region });
            for r in self.resource(service, rest) {
                out.push(format!("arn:{part}:{service}:{region}:{account}:{r}"));
            }
        }
        out
    }

    fn scoped(&self, v: &J) -> J {
        match v {
            J::String(s) if s.starts_with("arn:") => {
                let arns = self.arns(s);
                match arns.as_slice() {
                    [one] => J::String(one.clone()),
                    _ => J::Array(arns.into_iter().map(J::String).collect()),
                }
            }
            J::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    match self.scoped(i) {
                        J::Array(more) => out.extend(more),
                        other => out.push(other),
                    }
                }
                out.dedup();
                J::Array(out)
            }
            J::Object(o) => J::Object(o.iter().map(|(k, v)| (k.clone(), self.scoped(v))).collect()),
            other => other.clone(),
        }
    }
}

/// The IAM actions of `[ci]`'s own objects that its deploy role is denied: its roles,
/// their policies and the GitHub provider change only with an administrator's
/// credentials, so a run on the deploy branch cannot widen its own access or its trust.
const CI_SELF_ACTIONS: &[&str] = &[
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:AttachRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeleteOpenIDConnectProvider",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:SetDefaultPolicyVersion",
    "iam:TagOpenIDConnectProvider",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagOpenIDConnectProvider",
    "iam:UntagPolicy",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:UpdateRole",
];

/// The operator policy's statement on the secrets databases manage their master
/// passwords in (`rds!...`, named by AWS).
const MANAGED_PASSWORDS_SID: &str = "SecretsManagerMasterPasswordsTheDatabaseManages";

/// The secrets databases manage are named by AWS (`rds!cluster-<uuid>`), not after the
/// stack: describing and rotating one is allowed only for a secret whose owner tag (set
/// by RDS and DocumentDB) names one of the stack's clusters or instances. Creating and
/// tagging one is what the database's create does on the caller's behalf.
fn managed_password_statements(names: &StackNames<'_>, scoped: J) -> Vec<J> {
    let part = partition(names.regions[0]);
    let (account, stack) = (names.account, names.stack);
    let mut create = scoped.clone();
    create["Action"] = serde_json::json!(["secretsmanager:CreateSecret", "secretsmanager:TagResource"]);
    let mut out = vec![create];
    // The stack's database identifiers are fixed: `<stack>-docdb`, `<stack>-pg`.
    for (sid, key, resource) in [
        ("SecretsManagerStackClusterPasswords", "primaryDBClusterArn", format!("cluster:{stack}-docdb")),
        ("SecretsManagerStackInstancePasswords", "primaryDBInstanceArn", format!("db:{stack}-pg")),
    ] {
        let mut rotate = scoped.clone();
        rotate["Sid"] = J::String(sid.into());
        rotate["Action"] =
            serde_json::json!(["secretsmanager:DescribeSecret", "secretsmanager:RotateSecret"]);
        rotate["Condition"] = serde_json::json!({
            "StringLike": {
                format!("secretsmanager:ResourceTag/aws:rds:{key}"):
                    format!("arn:{part}:rds:*:{account}:{resource}")
            }
        });
        out.push(rotate);
    }
    out
}

/// The operator policy's statements scoped to the stack (resources and ARN conditions),
/// the listings AWS authorizes against `*` only, pushing images to the stack's
/// repositories when it has any, and the denial of changes to `[ci]`'s own objects.
fn deploy_statements(names: &StackNames<'_>, pushes_images: bool) -> Result<Vec<J>, ExpandError> {
    let doc: J = serde_json::from_str(OPERATOR_POLICY)
        .map_err(|e| ExpandError::Invalid(format!("docs/operator-policy.json: {e}")))?;
    let part = partition(names.regions[0]);
    let account = names.account;
    let mut out: Vec<J> = Vec::new();
    for s in doc["Statement"]
        .as_array()
        .ok_or_else(|| ExpandError::Invalid("docs/operator-policy.json has no Statement list".into()))?
    {
        // A provider the stack does not make is not the deploy role's to change.
        if names.external_provider && s["Sid"] == "IamOidcProviders" {
            continue;
        }
        let mut scoped = names.scoped(s);
        // Policies attach only from the stack's own (under its IAM path).
        let attach = J::String("iam:AttachRolePolicy".into());
        if let Some(actions) = scoped["Action"].as_array_mut().filter(|a| a.contains(&attach)) {
            actions.retain(|a| *a != attach);
            let mut only = scoped.clone();
            only["Sid"] = J::String("IamAttachStackPoliciesOnly".into());
            only["Action"] = J::Array(vec![attach.clone()]);
            only["Condition"] = serde_json::json!({
                "ArnLike": {"iam:PolicyARN": format!("arn:{part}:iam::{account}:policy/hactl/{}/*", names.stack)}
            });
            out.push(scoped);
            out.push(only);
            continue;
        }
        if s["Sid"] == MANAGED_PASSWORDS_SID {
            out.extend(managed_password_statements(names, scoped));
            continue;
        }
        out.push(scoped);
    }
    // Listings without a name (paginated, kept by ownership) authorize against `*`.
    out.push(serde_json::json!({
        "Sid": "ReadAccountWide",
        "Effect": "Allow",
        "Action": crate::expand_drift::read_account_wide(),
        "Resource": "*",
    }));
    let mut own = vec![
        J::String(format!("arn:{part}:iam::{account}:role{}{}", names.iam_path, names.plan_role)),
        J::String(format!("arn:{part}:iam::{account}:role{}{}", names.iam_path, names.deploy_role)),
        J::String(format!("arn:{part}:iam::{account}:policy{}{}-ci-deploy-*", names.iam_path, names.stack)),
    ];
    if !names.external_provider {
        own.push(J::String(format!("arn:{part}:iam::{account}:oidc-provider/{GITHUB_ISSUER}")));
    }
    out.push(serde_json::json!({
        "Sid": "CiCannotChangeItsOwnAccess",
        "Effect": "Deny",
        "Action": CI_SELF_ACTIONS,
        "Resource": own,
    }));
    if pushes_images {
        let repos: Vec<J> = names
            .regions
            .iter()
            .map(|r| {
                J::String(format!(
                    "arn:{}:ecr:{r}:{}:repository/{}/*",
                    partition(r),
                    names.account,
                    names.stack
                ))
            })
            .collect();
        out.push(serde_json::json!({
            "Sid": "CiEcrLogin",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": "*",
        }));
        out.push(serde_json::json!({
            "Sid": "CiPushImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:DescribeImages",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            "Resource": repos,
        }));
    }
    Ok(out)
}

/// The characters IAM counts of a document: its JSON without whitespace.
fn chars(doc: &J) -> usize {
    doc.to_string().len()
}

/// `statements` in documents of at most `limit` characters each, in order; a statement
/// too large alone is split by its actions.
fn pack(statements: Vec<J>, limit: usize) -> Result<Vec<J>, ExpandError> {
    let empty = chars(&serde_json::json!({"Version": "2012-10-17", "Statement": []}));
    let mut docs: Vec<Vec<J>> = Vec::new();
    let mut size = usize::MAX;
    let mut queue: std::collections::VecDeque<J> = statements.into();
    while let Some(s) = queue.pop_front() {
        let n = chars(&s) + 1;
        if empty + n > limit {
            let actions = s["Action"].as_array().cloned().unwrap_or_default();
            if actions.len() < 2 {
                return Err(ExpandError::Invalid(format!(
                    "the CI deploy role's statement {} alone is longer than a managed policy ({limit} characters)",
                    s["Sid"]
                )));
            }
            let (a, b) = actions.split_at(actions.len() / 2);
            for (half, suffix) in [(a, "A"), (b, "B")].into_iter().rev() {
                let mut part = s.clone();
                part["Action"] = J::Array(half.to_vec());
                part["Sid"] = J::String(format!("{}{suffix}", s["Sid"].as_str().unwrap_or("Part")));
                queue.push_front(part);
            }
            continue;
        }
        match docs.last_mut() {
            Some(d) if size + n <= limit => {
                d.push(s);
                size += n;
            }
            _ => {
                docs.push(vec![s]);
                size = empty + n;
            }
        }
    }
    Ok(docs.into_iter().map(|s| serde_json::json!({"Version": "2012-10-17", "Statement": s})).collect())
}

/// The name of `[ci]`'s role `which` (`ci_plan`, `ci_deploy`).
fn ci_role_name(stack: &str, which: &str) -> String {
    short_name(&format!("{stack}-{}", which.replace('_', "-")), 64)
}

/// A trust policy for GitHub's tokens of `subjects` (the `sub` claim, exactly).
fn github_trust(provider: Value, subjects: Vec<String>) -> Value {
    policy(vec![map(vec![
        ("Effect", Value::str("Allow")),
        ("Principal", map(vec![("Federated", provider)])),
        ("Action", Value::str("sts:AssumeRoleWithWebIdentity")),
        (
            "Condition",
            map(vec![(
                "StringEquals",
                map(vec![
                    (&format!("{GITHUB_ISSUER}:aud"), Value::str(GITHUB_OIDC_AUDIENCE)),
                    (&format!("{GITHUB_ISSUER}:sub"), Value::from_strings(subjects)),
                ]),
            )]),
        ),
    ])])
}

/// The `sub` claims of the plan role (pull requests, the deploy branch) and of the deploy
/// role (the deploy branch, or its GitHub environment).
fn subjects(ci: &CiConfig) -> (Vec<String>, Vec<String>) {
    let repo = &ci.github_repository;
    let branch = format!("repo:{repo}:ref:refs/heads/{}", ci.deploy_branch);
    let deploy = match &ci.deploy_environment {
        Some(env) => format!("repo:{repo}:environment:{env}"),
        None => branch.clone(),
    };
    (vec![format!("repo:{repo}:pull_request"), branch], vec![deploy])
}

impl Expander<'_> {
    pub(crate) fn ci(&mut self, net: &NetworkRefs, data: Option<&DataRefs>) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let Some(ci) = &cfg.ci else { return Ok(()) };
        // Validation refuses [ci] without S3 state.
        let StateBackend::S3 { bucket, key, .. } = &cfg.state.backend else { return Ok(()) };
        let scope = self.scope();
        let provider = self.github_provider(ci)?;
        let (plan_subjects, deploy_subjects) = subjects(ci);

        let reads = self.read_only_statements(&scope, net, data, bucket, key)?;
        self.ci_role(
            &scope,
            "ci_plan",
            "plan (read-only)",
            github_trust(provider.clone(), plan_subjects),
            map(vec![("plan", policy(reads))]),
            Vec::new(),
        )?;

        let mut regions = vec![cfg.stack.region.as_str()];
        regions.extend(cfg.dr.as_ref().map(|d| d.region.as_str()));
        let names = StackNames {
            stack: &scope.stack,
            account: &scope.account,
            regions,
            bucket,
            key,
            iam_path: &scope.iam_path,
            plan_role: ci_role_name(&scope.stack, "ci_plan"),
            deploy_role: ci_role_name(&scope.stack, "ci_deploy"),
            external_provider: ci.oidc_provider_arn.is_some(),
        };
        let pushes = cfg.services.iter().any(|s| s.ecr.is_some());
        let docs = pack(deploy_statements(&names, pushes)?, MANAGED_POLICY_CHARS)?;
        if docs.len() > MANAGED_POLICIES_PER_ROLE {
            return Err(ExpandError::Invalid(format!(
                "the CI deploy role's permissions take {} managed policies; IAM attaches at most {MANAGED_POLICIES_PER_ROLE} to a role",
                docs.len()
            )));
        }
        let mut arns = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            let n = (i + 1).to_string();
            let a = addr(&["iam_policy", &format!("ci_deploy_{n}")])?;
            let name = short_name(&format!("{}-ci-deploy-{n}", scope.stack), 128);
            let spec = self
                .tagged(iam::Policy::new(a.clone()), &name)
                .name(name.as_str())
                .path(scope.iam_path.as_str())
                // The same for every part: IAM cannot change a description (it would replace).
                .description(format!("hactl {}: permissions of the CI deploy role", scope.stack))
                .document(Value::from_json(doc));
            self.push(spec);
            arns.push(out(&a, "arn"));
        }
        self.ci_role(
            &scope,
            "ci_deploy",
            "deploy (apply, destroy, image push)",
            github_trust(provider, deploy_subjects),
            Value::Map(Default::default()),
            arns,
        )?;
        Ok(())
    }

    /// GitHub's OIDC provider: the configured one, or one the stack creates.
    fn github_provider(&mut self, ci: &CiConfig) -> Result<Value, ExpandError> {
        if let Some(arn) = &ci.oidc_provider_arn {
            return Ok(Value::str(arn));
        }
        let a = addr(&["iam_oidc_provider", "github"])?;
        let name = format!("{}-github", self.cfg.stack.name);
        let spec = self
            .tagged(iam::OidcProvider::new(a.clone()), &name)
            .url(GITHUB_OIDC_URL)
            .client_ids(Value::from_strings([GITHUB_OIDC_AUDIENCE]))
            .thumbprints(Value::from_strings(ci.thumbprints.iter().cloned()));
        self.push(spec);
        Ok(out(&a, "arn"))
    }

    fn ci_role(
        &mut self,
        scope: &Scope,
        which: &str,
        what: &str,
        trust: Value,
        inline: Value,
        managed: Vec<Value>,
    ) -> Result<Address, ExpandError> {
        let a = addr(&["iam_role", which])?;
        let name = ci_role_name(&scope.stack, which);
        let spec = self
            .tagged(iam::Role::new(a.clone()), &name)
            .name(name.as_str())
            .path(scope.iam_path.as_str())
            .description(format!("hactl {}: GitHub Actions {what}", scope.stack))
            .assume_role_policy(trust)
            .inline_policies(inline)
            .managed_policy_arns(Value::List(managed));
        self.push(spec);
        Ok(a)
    }
}

/// The prefix every load balancer and target group name of `stack` starts with: those
/// names are at most 32 characters and shortened by [`short_name`], which keeps the first 25.
pub(crate) fn elb_prefix(stack: &str) -> String {
    if stack.len() <= 24 {
        format!("{stack}-")
    } else {
        stack[..25].trim_end_matches('-').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(stack: &'a str, regions: Vec<&'a str>) -> StackNames<'a> {
        StackNames {
            stack,
            account: "123456789012",
            regions,
            bucket: "b",
            key: "hactl/s/state.json",
            iam_path: "/hactl/s/us-east-1/",
            plan_role: ci_role_name(stack, "ci_plan"),
            deploy_role: ci_role_name(stack, "ci_deploy"),
            external_provider: false,
        }
    }

    #[test]
    fn operator_arns_are_scoped_to_the_stack_its_regions_and_account() {
        let n = names("shop", vec!["us-east-1", "us-west-2"]);
        assert_eq!(
            n.arns("arn:aws:logs:*:*:log-group:/hactl/*"),
            [
                "arn:aws:logs:us-east-1:123456789012:log-group:/hactl/shop/*",
                "arn:aws:logs:us-west-2:123456789012:log-group:/hactl/shop/*"
            ]
        );
        assert_eq!(n.arns("arn:aws:iam::*:role/hactl/*"), ["arn:aws:iam::123456789012:role/hactl/shop/*"]);
        assert_eq!(
            n.arns("arn:aws:elasticloadbalancing:*:*:targetgroup/*/*")[0],
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-*/*"
        );
        // Generated ids: the type, in the stack's regions and account.
        assert_eq!(n.arns("arn:aws:ec2:*:*:vpc/*")[1], "arn:aws:ec2:us-west-2:123456789012:vpc/*");
        // AWS's public parameters keep their (empty) owner.
        assert_eq!(
            n.arns("arn:aws:ssm:*:*:parameter/aws/service/ecs/*")[0],
            "arn:aws:ssm:us-east-1:*:parameter/aws/service/ecs/*"
        );
        assert_eq!(
            n.arns("arn:aws:s3:::YOUR-STATE-BUCKET/hactl/*"),
            ["arn:aws:s3:::b/hactl/s/state.json", "arn:aws:s3:::b/hactl/s/state.json.lock"]
        );
        // Long stack names: load balancer names keep their first 25 characters.
        let long = names("abcdefghijklmnopqrstuvwxyz12", vec!["us-east-1"]);
        assert_eq!(long.elb_prefix(), "abcdefghijklmnopqrstuvwxy");
        assert_eq!(names("a23456789012345678901234", vec![]).elb_prefix(), "a23456789012345678901234-");
    }

    #[test]
    fn the_deploy_role_cannot_change_its_own_access_and_attaches_only_the_stacks_policies() {
        let n = names("shop", vec!["us-east-1"]);
        let st = deploy_statements(&n, false).expect("statements");
        let deny: Vec<&J> = st.iter().filter(|s| s["Effect"] == "Deny").collect();
        assert_eq!(deny.len(), 1);
        let denied: Vec<&str> =
            deny[0]["Resource"].as_array().expect("list").iter().filter_map(J::as_str).collect();
        assert_eq!(
            denied,
            [
                "arn:aws:iam::123456789012:role/hactl/s/us-east-1/shop-ci-plan",
                "arn:aws:iam::123456789012:role/hactl/s/us-east-1/shop-ci-deploy",
                "arn:aws:iam::123456789012:policy/hactl/s/us-east-1/shop-ci-deploy-*",
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
            ]
        );
        for a in [
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:CreatePolicyVersion",
        ] {
            assert!(deny[0]["Action"].as_array().expect("actions").contains(&J::from(a)), "{a} not denied");
        }
        let attach: Vec<&J> = st
            .iter()
            .filter(|s| {
                s["Effect"] == "Allow"
                    && s["Action"].as_array().is_some_and(|a| a.contains(&J::from("iam:AttachRolePolicy")))
            })
            .collect();
        assert_eq!(attach.len(), 1, "{attach:?}");
        assert_eq!(
            attach[0]["Condition"]["ArnLike"]["iam:PolicyARN"],
            "arn:aws:iam::123456789012:policy/hactl/shop/*"
        );
        // A provider the stack does not make: no grant on it, and not in the denial either.
        let external = StackNames { external_provider: true, ..names("shop", vec!["us-east-1"]) };
        let st = deploy_statements(&external, false).expect("statements");
        assert!(!st.iter().any(|s| s["Sid"] == "IamOidcProviders"));
        assert!(!serde_json::to_string(&st).expect("json").contains("oidc-provider"));
    }

    #[test]
    fn no_deploy_resource_is_wider_than_a_resource_type_and_every_action_is_kept() {
        let n = names("shop", vec!["us-east-1"]);
        let statements = deploy_statements(&n, true).expect("statements");
        let doc: J = serde_json::from_str(OPERATOR_POLICY).expect("operator policy");
        let actions = |ss: &[J]| -> std::collections::BTreeSet<String> {
            ss.iter()
                .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        };
        let operator = actions(doc["Statement"].as_array().expect("list"));
        let deploy = actions(&statements);
        assert!(operator.is_subset(&deploy), "missing: {:?}", operator.difference(&deploy));
        for s in &statements {
            let resources: Vec<String> = match &s["Resource"] {
                J::String(r) => vec![r.clone()],
                J::Array(a) => a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
                other => panic!("{other}"),
            };
            for r in resources {
                if r == "*" {
                    continue;
                }
                let parts: Vec<&str> = r.splitn(6, ':').collect();
                assert_eq!(parts.len(), 6, "{r}");
                assert!(parts[3].is_empty() || parts[3] == "us-east-1", "region not pinned: {r}");
                assert!(
                    ["", "123456789012"].contains(&parts[4]) || parts[2] == "ssm",
                    "account not pinned: {r}"
                );
                assert!(!r.contains("YOUR-STATE-BUCKET"), "{r}");
                // Services whose names hactl chooses: the stack's name (or its bucket, or
                // GitHub's provider) is in every resource; AWS's own service-linked roles
                // and default option groups aside.
                let named = match parts[2] {
                    "iam" => !parts[5].starts_with("role/aws-service-role/"),
                    // RDS Proxy's ARNs carry generated ids (`db-proxy:prx-...`,
                    // `target-group:prx-tg-...`), never the stack's name.
                    "rds" => {
                        !["og:default:", "db-proxy:", "target-group:"].iter().any(|p| parts[5].starts_with(p))
                    }
                    "logs"
                    | "secretsmanager"
                    | "ecs"
                    | "sns"
                    | "scheduler"
                    | "events"
                    | "states"
                    | "es"
                    | "lambda"
                    | "elasticloadbalancing"
                    | "cloudwatch"
                    | "autoscaling"
                    | "ecr"
                    | "s3" => true,
                    _ => false,
                };
                // The secrets databases manage are named by AWS: describing and rotating
                // one takes the stack's cluster or instance in its owner tag, and creating
                // one is what the database's own create asks for.
                let by_owner_tag = ["cluster:shop-docdb\"", "db:shop-pg\""]
                    .iter()
                    .any(|d| s["Condition"].to_string().contains(d));
                let created_by_the_database = r.ends_with(":secret:rds!*")
                    && actions(std::slice::from_ref(s)).iter().all(|a| {
                        ["secretsmanager:CreateSecret", "secretsmanager:TagResource"].contains(&a.as_str())
                    });
                assert!(
                    !named
                        || by_owner_tag
                        || created_by_the_database
                        || ["shop", ":::b", "token.actions"].iter().any(|n| r.contains(n)),
                    "not scoped to the stack: {r}"
                );
            }
        }
    }

    #[test]
    fn documents_stay_under_the_managed_policy_size_and_keep_every_statement() {
        let n = names("abcdefghijklmnopqrstuvwxyz12", vec!["us-east-1", "eu-west-1"]);
        let statements = deploy_statements(&n, true).expect("statements");
        let total: usize = statements.iter().map(chars).sum();
        let docs = pack(statements.clone(), MANAGED_POLICY_CHARS).expect("pack");
        assert!(docs.len() > 1 && docs.len() <= MANAGED_POLICIES_PER_ROLE, "{} documents", docs.len());
        for d in &docs {
            assert!(chars(d) <= MANAGED_POLICY_CHARS, "{} characters", chars(d));
        }
        let packed: usize = docs
            .iter()
            .flat_map(|d| d["Statement"].as_array().cloned().unwrap_or_default())
            .map(|s| chars(&s))
            .sum();
        assert_eq!(packed, total, "statements lost or changed in packing");
        // A statement larger than the limit is split by its actions.
        let big = pack(statements, 1_500).expect("pack small");
        assert!(big.iter().all(|d| chars(d) <= 1_500));
    }

    /// IAM's match of a resource (or action) pattern: `*` any run of characters, `?` one.
    fn glob(pattern: &str, text: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ti;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ti = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }

    #[test]
    fn glob_matches_as_iam_does() {
        assert!(glob("arn:aws:ecs:*:1:service/s/*", "arn:aws:ecs:us-east-1:1:service/s/web"));
        assert!(glob("a*b?c", "aXXbYc") && !glob("a*b?c", "aXXbc") && glob("*", ""));
        assert!(!glob("cluster/s", "cluster/s-other"));
    }

    /// The ARN of the object `spec` makes, as the action that changes it names it, and
    /// that action (ids AWS generates stand as `x`; a service's cluster is the stack's).
    fn object_arn(
        spec: &hactl_core::ResourceSpec,
        stack: &str,
        home: &str,
    ) -> Option<(&'static str, String)> {
        let region = spec.location.as_ref().and_then(|l| l.region_name()).unwrap_or(home);
        let a = "123456789012";
        let p = |k: &str| spec.props.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let at = |service: &str, rest: String| format!("arn:aws:{service}:{region}:{a}:{rest}");
        Some(match spec.kind.as_str() {
            "ecs.cluster" => ("ecs:DeleteCluster", at("ecs", format!("cluster/{}", p("name")))),
            "ecs.service" => ("ecs:UpdateService", at("ecs", format!("service/{stack}/{}", p("name")))),
            "ecs.capacity_provider" => {
                ("ecs:DeleteCapacityProvider", at("ecs", format!("capacity-provider/{}", p("name"))))
            }
            "ecs.task_definition" => {
                ("ecs:TagResource", at("ecs", format!("task-definition/{}:1", p("family"))))
            }
            "elbv2.load_balancer" => (
                "elasticloadbalancing:DeleteLoadBalancer",
                at("elasticloadbalancing", format!("loadbalancer/app/{}/x", p("name"))),
            ),
            "elbv2.target_group" => (
                "elasticloadbalancing:DeleteTargetGroup",
                at("elasticloadbalancing", format!("targetgroup/{}/x", p("name"))),
            ),
            "cloudwatch.alarm" => {
                ("cloudwatch:PutMetricAlarm", at("cloudwatch", format!("alarm:{}", p("name"))))
            }
            "cloudwatch.dashboard" => {
                ("cloudwatch:PutDashboard", format!("arn:aws:cloudwatch::{a}:dashboard/{}", p("name")))
            }
            "sns.topic" => ("sns:DeleteTopic", at("sns", p("name"))),
            "logs.log_group" => ("logs:DeleteLogGroup", at("logs", format!("log-group:{}", p("name")))),
            "secretsmanager.secret" => {
                ("secretsmanager:DeleteSecret", at("secretsmanager", format!("secret:{}-AbCdEf", p("name"))))
            }
            "docdb.cluster" => ("rds:DeleteDBCluster", at("rds", format!("cluster:{}", p("identifier")))),
            "docdb.instance" | "rds.instance" => {
                ("rds:DeleteDBInstance", at("rds", format!("db:{}", p("identifier"))))
            }
            "docdb.subnet_group" | "rds.subnet_group" => {
                ("rds:DeleteDBSubnetGroup", at("rds", format!("subgrp:{}", p("name"))))
            }
            "docdb.cluster_parameter_group" => {
                ("rds:DeleteDBClusterParameterGroup", at("rds", format!("cluster-pg:{}", p("name"))))
            }
            "rds.parameter_group" => ("rds:DeleteDBParameterGroup", at("rds", format!("pg:{}", p("name")))),
            "autoscaling.group" => (
                "autoscaling:DeleteAutoScalingGroup",
                at("autoscaling", format!("autoScalingGroup:x:autoScalingGroupName/{}", p("name"))),
            ),
            "scheduler.schedule_group" => {
                ("scheduler:DeleteScheduleGroup", at("scheduler", format!("schedule-group/{}", p("name"))))
            }
            "iam.role" => ("iam:DeleteRole", format!("arn:aws:iam::{a}:role{}{}", p("path"), p("name"))),
            "iam.policy" => {
                ("iam:DeletePolicy", format!("arn:aws:iam::{a}:policy{}{}", p("path"), p("name")))
            }
            "iam.instance_profile" => (
                "iam:DeleteInstanceProfile",
                format!("arn:aws:iam::{a}:instance-profile{}{}", p("path"), p("name")),
            ),
            "ecr.repository" => ("ecr:DeleteRepository", at("ecr", format!("repository/{}", p("name")))),
            "events.rule" => ("events:DeleteRule", at("events", format!("rule/{}", p("name")))),
            "opensearch.domain" => ("es:DeleteDomain", at("es", format!("domain/{}", p("name")))),
            "lambda.function" => ("lambda:DeleteFunction", at("lambda", format!("function:{}", p("name")))),
            "s3.bucket" => ("s3:DeleteBucket", format!("arn:aws:s3:::{}", p("name"))),
            "sfn.state_machine" => {
                ("states:DeleteStateMachine", at("states", format!("stateMachine:{}", p("name"))))
            }
            _ => return None,
        })
    }

    /// Not too narrow: every object the multi-region demo makes (both regions, ECR, the
    /// drift job's roles) and every object of the one-region demo (the redeployment after
    /// a password rotation) is one the deploy role may change, except `[ci]`'s own, which
    /// it is denied.
    #[test]
    fn every_object_the_stack_makes_is_granted_to_the_deploy_role() {
        let checked = granted_objects("multi-region.toml", include_str!("../../../config/multi-region.toml"));
        assert!(checked > 60, "only {checked} objects checked");
        let checked = granted_objects("ha-stack.toml", include_str!("../../../config/ha-stack.toml"));
        assert!(checked > 30, "only {checked} objects checked");
        // The log shipper's function and bucket ([log_analytics]).
        let with_logs =
            format!("{}\n[log_analytics]\n", include_str!("../../../config/fargate-postgres.toml"));
        let checked = granted_objects("fargate-postgres.toml", &with_logs);
        assert!(checked > 30, "only {checked} objects checked");
    }

    /// How many objects of the stack `config` the deploy role was checked to be granted.
    fn granted_objects(file: &str, config: &str) -> usize {
        let text = format!(
            "{config}\n[state]\nbackend = \"s3\"\nbucket = \"acme-state\"\n\n[ci]\ngithub_repository = \"acme/shop\"\n"
        );
        let cfg = crate::parse(file, &text).unwrap_or_else(|e| panic!("{e}"));
        let g = crate::expand::expand(&cfg, &crate::expand::test_env()).expect("expand");
        let statements: Vec<J> = g
            .specs()
            .filter(|s| s.kind == "iam.policy")
            .flat_map(|s| s.props["document"].to_json()["Statement"].as_array().cloned().unwrap_or_default())
            .collect();
        let list = |v: &J| -> Vec<String> {
            match v {
                J::String(s) => vec![s.clone()],
                J::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            }
        };
        let allows = |effect: &str, action: &str, arn: &str| {
            statements.iter().any(|s| {
                s["Effect"] == effect
                    && list(&s["Action"]).iter().any(|a| glob(a, action))
                    && list(&s["Resource"]).iter().any(|r| glob(r, arn))
            })
        };
        let mut checked = 0;
        for spec in g.specs() {
            let Some((action, arn)) = object_arn(spec, &cfg.stack.name, &cfg.stack.region) else { continue };
            let ours = spec.address.as_str().contains("ci_");
            assert_eq!(allows("Deny", action, &arn), ours, "{}: {action} on {arn} denied?", spec.address);
            if !ours {
                assert!(allows("Allow", action, &arn), "{}: {action} on {arn} is not granted", spec.address);
                checked += 1;
            }
        }
        if let Some(dr) = &cfg.dr {
            assert!(
                g.specs()
                    .any(|s| s.location.as_ref().and_then(|l| l.region_name()) == Some(dr.region.as_str())),
                "no DR object"
            );
        } else {
            for kind in ["events.rule", "sfn.state_machine"] {
                assert!(g.specs().any(|s| s.kind == kind), "{file}: no {kind}");
            }
        }
        checked
    }

    #[test]
    fn trust_conditions_name_the_repository_exactly() {
        let ci = CiConfig {
            github_repository: "acme/shop".into(),
            deploy_branch: "main".into(),
            deploy_environment: None,
            oidc_provider_arn: None,
            thumbprints: Vec::new(),
        };
        let (plan, deploy) = subjects(&ci);
        assert_eq!(plan, ["repo:acme/shop:pull_request", "repo:acme/shop:ref:refs/heads/main"]);
        assert_eq!(deploy, ["repo:acme/shop:ref:refs/heads/main"]);
        let env = CiConfig { deploy_environment: Some("production".into()), ..ci };
        assert_eq!(subjects(&env).1, ["repo:acme/shop:environment:production"]);
    }
}
