//! `docs/operator-policy.json`: the IAM policy for the person or CI role that runs hactl
//! (`plan`, `apply`, `destroy`, `drift`, `failover`, state in S3) against a real account,
//! kept complete, least-privilege and well formed. No emulator needed: the sources are read.
//!
//! Completeness. Every AWS SDK call of the code is found by reading the sources: every
//! `.send()` / `.into_paginator()` chain of `crates/hactl-aws/src/**` and of the S3 state
//! backend (`crates/hactl-state/src/s3.rs`), its operation being the first method of the
//! chain (through `let` bindings: `let req = client.put_object()...; req.send()`), and every
//! `describe_all!(client, describe_vpcs, ...)`. The IAM action is the service of the client
//! (by its field or variable name, [`SERVICE_OF_CLIENT`], else by the source directory,
//! [`SERVICE_OF_DIR`]) and the operation's name as the provider spells it in
//! `aws_error("DescribeDBClusters", e)` (or `ecs_error`), which must exist in the same file
//! for every call, and name a call there (a name without a call would be a call this scan
//! missed). SDK and IAM names agree for every provider operation; the S3 backend maps its
//! operations with [`S3_ACTIONS`] (HeadObject would be s3:GetObject, ListObjectsV2
//! s3:ListBucket). AWS calls elsewhere in `crates/*/src` fail the test until the scan
//! covers them. Actions AWS checks on the caller without a call of that name
//! ([`IMPLIED`]: iam:PassRole, service-linked roles, ec2:RunInstances behind Auto Scaling,
//! final snapshots, ...) are required too; [`NO_PERMISSION_NEEDED`] lists the exception.
//! Each needed action must match an Action of some statement (with IAM's `*`/`?`
//! wildcards, case-insensitively), and every Action of the document must match a needed
//! action: nothing is granted that no code path uses.
//!
//! Conventions of the document (the README's "Real AWS" section):
//! - `YOUR-STATE-BUCKET` stands for the `[state]` bucket: replace it in the `State*`
//!   statements, or drop them with local state. Objects are granted under `hactl/` (the
//!   default key `hactl/<stack>/<region>/state.json`): s3:GetObject and s3:PutObject on
//!   `hactl/*`, s3:DeleteObject only on `hactl/*.lock` (the state itself is never
//!   deleted); a custom `[state] key` outside `hactl/` needs its own prefix there.
//!   s3:ListBucket carries no `s3:prefix` condition: S3 answers a missing state object with
//!   404 (hactl: no state yet) only to a caller that may list the bucket, else with 403.
//! - Resources are scoped to hactl's names wherever the action takes a resource and the
//!   name is predictable for any stack: roles, instance profiles and managed policies
//!   under the IAM path `/hactl/`, log groups `/hactl/`, secrets `hactl/`, schedule groups
//!   `hactl-`, the capacity provider `cp-`, final snapshots `*-final-*`. Other resources are scoped by
//!   type only (`arn:aws:ec2:*:*:vpc/*`, `arn:aws:rds:*:*:db:*`): their ids are generated,
//!   or their names are the stack's name itself. `*` only for actions AWS authorizes
//!   against no resource (the Describe/List calls of most services, GetRandomPassword,
//!   ecs:CreateCapacityProvider, PutMetricData, held to the `hactl` namespace by a
//!   condition), and the account-wide reads of [`PARLIAMENT_ACCEPTED`].
//! - Partition `aws`: GovCloud and China need `arn:aws-us-gov:` / `arn:aws-cn:`.
//! - No tag conditions (`aws:ResourceTag/hactl:stack`): an object recorded in a stack's
//!   state is the stack's even when its tags were removed (hactl puts them back, and
//!   destroys it), so a tag condition would lock hactl out of its own objects.
//! - iam:PassRole for the roles under `/hactl/`, to EC2, ECS tasks and the scheduler;
//!   `StringEqualsIfExists` because the PassRole check of AddRoleToInstanceProfile need
//!   not name a service. iam:CreateServiceLinkedRole only for the services that create one
//!   on first use in an account (Auto Scaling, ECS, ECS service auto scaling, ELB, RDS,
//!   which DocumentDB shares, ECR replication, OpenSearch for a VPC domain).
//! - The KMS statement matters only with `database.kms_key_id` (a customer key; AWS
//!   managed keys need no grant) and only through Secrets Manager and RDS.
//! - What no policy of this shape can bound: hactl writes the inline policies of its roles
//!   (iam:PutRolePolicy under `/hactl/`) and passes those roles to tasks and instances, so
//!   whoever holds this policy can give those roles any permission. Treat it as an
//!   administrator's policy for the account's hactl stacks.
//!
//! Parliament (the linter of tests/policy_lint.rs, `bash scripts/parliament.sh install`)
//! checks the document when it is installed; [`PARLIAMENT_ACCEPTED`] lists, with reasons,
//! the findings it may report, and each of them must still be reported.

use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The policy document, relative to the repository root.
const POLICY: &str = "docs/operator-policy.json";

/// The state bucket's placeholder in the document.
const BUCKET_PLACEHOLDER: &str = "YOUR-STATE-BUCKET";

/// IAM service prefix by source directory (or top-level file) of `crates/hactl-aws/src`.
const SERVICE_OF_DIR: &[(&str, &str)] = &[
    ("acm", "acm"),
    ("appautoscaling", "application-autoscaling"),
    ("autoscaling", "autoscaling"),
    ("cloudwatch", "cloudwatch"),
    // DocumentDB's API is authorized as RDS actions.
    ("docdb", "rds"),
    ("ec2", "ec2"),
    ("ecr", "ecr"),
    ("ecs", "ecs"),
    ("elbv2", "elasticloadbalancing"),
    ("events", "events"),
    ("iam", "iam"),
    ("lambda", "lambda"),
    ("logs", "logs"),
    ("opensearch", "es"),
    ("rds", "rds"),
    ("route53", "route53"),
    ("s3", "s3"),
    ("scheduler", "scheduler"),
    ("secretsmanager", "secretsmanager"),
    ("sfn", "states"),
    ("sns", "sns"),
    // `hactl failover`: DocumentDB FailoverDBCluster, RDS RebootDBInstance.
    ("failover.rs", "rds"),
    ("metrics.rs", "cloudwatch"),
    ("sts.rs", "sts"),
    // The stack's tag index: the Resource Groups Tagging API (GetResources).
    ("tagging.rs", "tag"),
];

/// IAM service prefix by the name of the client a call is made on, where a provider holds
/// clients of several services (`self.ec2` in the load balancer, `self.ssm` in the launch
/// template).
const SERVICE_OF_CLIENT: &[(&str, &str)] = &[
    ("docdb", "rds"),
    ("ec2", "ec2"),
    ("elb", "elasticloadbalancing"),
    ("rds", "rds"),
    ("sm", "secretsmanager"),
    ("ssm", "ssm"),
    ("sts", "sts"),
    ("cw", "cloudwatch"),
];

/// The functions that map an SDK error and name the operation (`aws_error("Op", e)`).
const ERROR_MAPPERS: &[&str] = &["aws_error", "ecs_error"];

/// The S3 state backend's operations (it maps errors with `classify`, without a name) and
/// their IAM actions, which for some S3 operations differ from the operation.
const S3_ACTIONS: &[(&str, &str)] = &[
    ("get_object", "s3:GetObject"),
    ("put_object", "s3:PutObject"),
    ("delete_object", "s3:DeleteObject"),
    ("head_object", "s3:GetObject"),
    ("list_objects_v2", "s3:ListBucket"),
    ("head_bucket", "s3:ListBucket"),
];

/// The bucket provider's operations (`crates/hactl-aws/src/s3`) whose IAM actions differ
/// from their names (or need two): any other S3 operation is its own action.
const S3_PROVIDER_ACTIONS: &[(&str, &str)] = &[
    ("HeadBucket", "s3:ListBucket"),
    ("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
    ("PutBucketEncryption", "s3:PutEncryptionConfiguration"),
    ("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
    ("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
    ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
    ("DeleteBucketTagging", "s3:PutBucketTagging"),
    ("ListObjectVersions", "s3:ListBucketVersions"),
    ("DeleteObjects", "s3:DeleteObject"),
    ("DeleteObjects", "s3:DeleteObjectVersion"),
    // CreateBucket with ObjectOwnership sets the bucket's ownership controls.
    ("CreateBucket", "s3:CreateBucket"),
    ("CreateBucket", "s3:PutBucketOwnershipControls"),
    // Tags given at the creation (CreateBucketConfiguration.Tags).
    ("CreateBucket", "s3:TagResource"),
];

/// The S3 state backend: the only AWS calls outside `crates/hactl-aws/src`.
const S3_BACKEND: &str = "crates/hactl-state/src/s3.rs";

/// Actions AWS checks on the caller although the code calls no operation of that name.
const IMPLIED: &[(&str, &str)] = &[
    (
        "iam:PassRole",
        "task definitions' task and execution roles, the schedule's role, AddRoleToInstanceProfile \
         the state machine's role, the rule's role and the instance profile an Auto Scaling \
         group launches with",
    ),
    (
        "iam:CreateServiceLinkedRole",
        "ELB, ECS, Auto Scaling, ECS service auto scaling, RDS/DocumentDB, ECR replication and \
         OpenSearch (a VPC domain) create their service-linked role on first use in an account",
    ),
    (
        "ec2:RunInstances",
        "CreateAutoScalingGroup/UpdateAutoScalingGroup with a launch template check that the caller \
         may launch from it",
    ),
    ("route53:AssociateVPCWithHostedZone", "interface VPC endpoints with private DNS"),
    ("route53:AssociateVPCWithHostedZone", "CreateHostedZone of a private zone (with a VPC) associates it"),
    ("rds:CreateDBSnapshot", "DeleteDBInstance with a final snapshot"),
    ("rds:CreateDBClusterSnapshot", "DeleteDBCluster (DocumentDB) with a final snapshot"),
    ("kms:CreateGrant", "RDS/DocumentDB storage encrypted with database.kms_key_id"),
    ("kms:DescribeKey", "RDS/DocumentDB storage and secrets encrypted with database.kms_key_id"),
    ("kms:GenerateDataKey", "secrets and storage encrypted with database.kms_key_id"),
    ("kms:Decrypt", "reading secrets encrypted with database.kms_key_id"),
];

/// Operations the code calls that need no permission.
const NO_PERMISSION_NEEDED: &[(&str, &str)] =
    &[("sts:GetCallerIdentity", "STS answers it for any credentials, even under an explicit deny")];

/// Parliament findings the document may have: (issue, the actions or resource format it
/// names, why).
const PARLIAMENT_ACCEPTED: &[(&str, &[&str], &str)] = &[
    (
        "RESOURCE_STAR",
        &[
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
            "cloudwatch:DescribeAlarms",
        ],
        // As for the drift job (expand_drift.rs, read_account_wide(); tests/policy_lint.rs).
        "the RDS and DocumentDB reads list the region's instances, clusters and groups without \
         an identifier, and DescribeAlarms is called with a name prefix: AWS authorizes such \
         listings against `*`",
    ),
    (
        "RESOURCE_MISMATCH",
        &[
            "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:ModifyListener",
            // Listener rules (elbv2/listener_rule.rs).
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities",
            // OpenSearch's tag calls (opensearch/domain.rs).
            "es:AddTags",
            "es:ListTags",
            "es:RemoveTags",
        ],
        "parliament wants both alternative resource types of these actions, `listener/app` and \
         `listener/net` (`listener-rule/app` and `listener-rule/net` for the rule actions); \
         hactl's load balancers are application load balancers. OpenSearch's tag actions also \
         take applications and data sources (`arn:aws:opensearch:`); hactl tags domains only",
    ),
    (
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
        &["arn:aws:s3:::*-log-failures-*"],
        "hactl writes the failed-batches bucket's policy (its Deny of requests without TLS), so \
         it needs s3:PutBucketPolicy on the stack's failure buckets, with which a holder of this \
         policy could grant itself the batches' objects; granting s3:GetObject and s3:PutObject \
         too would not take that away. As with the inline policies of the stack's roles: an \
         administrator's policy for the account's hactl stacks",
    ),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------------------
// The policy document

/// One statement of the document, as the checks need it.
#[derive(Debug)]
struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// A string or a non-empty list of strings.
fn string_or_list(v: &J, what: &str) -> Result<Vec<String>, String> {
    let list = match v {
        J::String(s) => vec![s.clone()],
        J::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("{what}: {x} is not a string")))
            .collect::<Result<_, _>>()?,
        other => return Err(format!("{what}: expected a string or a non-empty list, found {other}")),
    };
    Ok(list)
}

/// `service:Action` with an IAM service prefix; the action may hold `*` and `?`.
fn well_formed_action(a: &str) -> bool {
    a.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !action.is_empty()
            && action.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    })
}

/// The statements of a policy document, or what is wrong with it: Version 2012-10-17, a
/// non-empty Statement list, each statement with a unique alphanumeric Sid, Effect Allow
/// (the document only grants), Action and Resource (no NotAction, NotResource or
/// Principal), well-formed actions, `*` or `arn:aws:` resources, and a Condition, if any,
/// of operator → key → value(s).
fn check_document(text: &str) -> Result<Vec<Statement>, String> {
    let doc: J = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let top = doc.as_object().ok_or("the document is not a JSON object")?;
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Statement") {
            return Err(format!("unexpected top-level key `{key}`"));
        }
    }
    if doc["Version"] != "2012-10-17" {
        return Err(format!("Version must be \"2012-10-17\", found {}", doc["Version"]));
    }
    let list =
        doc["Statement"].as_array().filter(|a| !a.is_empty()).ok_or("Statement must be a non-empty list")?;
    let mut sids = BTreeSet::new();
    let mut out = Vec::new();
    for (i, st) in list.iter().enumerate() {
        let obj = st.as_object().ok_or_else(|| format!("statement {i} is not an object"))?;
        let sid = st["Sid"].as_str().unwrap_or_default().to_string();
        let at = format!("statement {i} ({sid})");
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{at}: Sid must be a non-empty alphanumeric string"));
        }
        if !sids.insert(sid.clone()) {
            return Err(format!("{at}: Sid used twice"));
        }
        for key in obj.keys() {
            if !matches!(key.as_str(), "Sid" | "Effect" | "Action" | "Resource" | "Condition") {
                return Err(format!("{at}: unexpected key `{key}`"));
            }
        }
        if st["Effect"] != "Allow" {
            return Err(format!("{at}: Effect must be \"Allow\", found {}", st["Effect"]));
        }
        let actions = string_or_list(&st["Action"], &format!("{at} Action"))?;
        if let Some(bad) = actions.iter().find(|a| !well_formed_action(a)) {
            return Err(format!("{at}: `{bad}` is not service:Action"));
        }
        let resources = string_or_list(&st["Resource"], &format!("{at} Resource"))?;
        if let Some(bad) = resources.iter().find(|r| *r != "*" && !r.starts_with("arn:aws:")) {
            return Err(format!("{at}: Resource `{bad}` is neither `*` nor an arn:aws: ARN"));
        }
        if let Some(cond) = obj.get("Condition") {
            let ops = cond.as_object().filter(|o| !o.is_empty()).ok_or(format!("{at}: bad Condition"))?;
            for (op, keys) in ops {
                let keys = keys.as_object().filter(|k| !k.is_empty());
                let keys = keys.ok_or(format!("{at}: Condition {op} is not a map of keys"))?;
                for (key, value) in keys {
                    string_or_list(value, &format!("{at} Condition {op} {key}"))?;
                }
            }
        }
        out.push(Statement { sid, actions, resources });
    }
    Ok(out)
}

fn policy() -> Vec<Statement> {
    let path = repo_root().join(POLICY);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    check_document(&text).unwrap_or_else(|e| panic!("{POLICY} is malformed: {e}"))
}

/// IAM's match of an action against a pattern: case-insensitive, `*` any run, `?` one
/// character.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], a) || (!a.is_empty() && glob(p, &a[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => glob(&p[1..], &a[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// The Sids of the statements whose Action matches `action`.
fn granting<'a>(policy: &'a [Statement], action: &str) -> Vec<&'a str> {
    policy
        .iter()
        .filter(|s| s.actions.iter().any(|p| action_matches(p, action)))
        .map(|s| s.sid.as_str())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reading the sources

/// A source file with comments blanked (`code`, string literals kept, for the operation
/// names of `aws_error("...")`), and with comments and the contents of string and char
/// literals blanked (`bare`, for the call chains: no parenthesis of a message or comment
/// gets in the way). Test items (`#[cfg(test)]`) are blanked in both. Blanking keeps every
/// character's position, so line numbers hold.
struct Source {
    code: Vec<char>,
    bare: Vec<char>,
}

impl Source {
    fn new(text: &str) -> Source {
        let src: Vec<char> = text.chars().collect();
        let mut code = src.clone();
        let mut bare = src.clone();
        let blank = |v: &mut Vec<char>, from: usize, to: usize| {
            for c in &mut v[from..to] {
                if *c != '\n' {
                    *c = ' ';
                }
            }
        };
        let mut i = 0;
        while i < src.len() {
            let c = src[i];
            let next = src.get(i + 1).copied();
            if c == '/' && next == Some('/') {
                let end = src[i..].iter().position(|&c| c == '\n').map_or(src.len(), |p| i + p);
                blank(&mut code, i, end);
                blank(&mut bare, i, end);
                i = end;
            } else if c == '/' && next == Some('*') {
                let (mut depth, mut j) = (1, i + 2);
                while j < src.len() && depth > 0 {
                    if src[j] == '/' && src.get(j + 1) == Some(&'*') {
                        depth += 1;
                        j += 1;
                    } else if src[j] == '*' && src.get(j + 1) == Some(&'/') {
                        depth -= 1;
                        j += 1;
                    }
                    j += 1;
                }
                blank(&mut code, i, j);
                blank(&mut bare, i, j);
                i = j;
            } else if c == '"' || (c == 'r' && matches!(next, Some('"' | '#')) && raw_start(&src, i)) {
                // A string literal, raw (r"..", r#".."#) or not; its contents are blanked in `bare`.
                let (open, hashes) = if c == 'r' {
                    let h = src[i + 1..].iter().take_while(|&&c| c == '#').count();
                    (i + 1 + h, h)
                } else {
                    (i, 0)
                };
                let mut j = open + 1;
                while j < src.len() {
                    if hashes == 0 && c != 'r' && src[j] == '\\' {
                        j += 2;
                        continue;
                    }
                    if src[j] == '"'
                        && src[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes
                    {
                        break;
                    }
                    j += 1;
                }
                blank(&mut bare, open + 1, j.min(src.len()));
                i = j + 1 + hashes;
            } else if c == '\'' {
                // A char literal ('x', '\n', '\''), or a lifetime ('a), left alone.
                let end = if next == Some('\\') {
                    src[i + 2..].iter().skip(1).position(|&c| c == '\'').map(|p| i + 3 + p)
                } else if src.get(i + 2) == Some(&'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(e) => {
                        blank(&mut bare, i + 1, e);
                        i = e + 1;
                    }
                    None => i += 1,
                }
            } else {
                i += 1;
            }
        }
        // Test items: `#[cfg(test)]` and the item after it, to its `;` or matching `}`.
        let attr: Vec<char> = "#[cfg(test)]".chars().collect();
        let mut at = 0;
        while let Some(p) = find(&bare, &attr, at) {
            let mut j = p + attr.len();
            let mut depth = 0usize;
            while j < bare.len() {
                match bare[j] {
                    '{' => depth += 1,
                    '}' if depth <= 1 => break,
                    '}' => depth -= 1,
                    ';' if depth == 0 => break,
                    _ => {}
                }
                j += 1;
            }
            let end = (j + 1).min(bare.len());
            blank(&mut code, p, end);
            blank(&mut bare, p, end);
            at = end;
        }
        Source { code, bare }
    }

    fn line_of(&self, pos: usize) -> usize {
        self.bare[..pos].iter().filter(|&&c| c == '\n').count() + 1
    }
}

/// Whether the `r` at `i` starts a raw string (and is not the end of an identifier).
fn raw_start(src: &[char], i: usize) -> bool {
    let after = src[i + 1..].iter().find(|&&c| c != '#');
    let starts = |k: usize| k == 0 || !is_ident_char(src[k - 1]);
    after == Some(&'"') && (starts(i) || (src[i - 1] == 'b' && starts(i - 1)))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn find(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    (from..hay.len().saturating_sub(needle.len() - 1)).find(|&i| hay[i..].starts_with(needle))
}

/// Methods that end a call chain, never the operation.
const TERMINALS: &[&str] = &["send", "into_paginator", "items", "await"];

/// One SDK call found in a source: its operation (snake case, as the SDK method) and the
/// name of the client it is called on (`0` for `self.0`, `client`, `ec2`, ...).
#[derive(Debug, Clone, PartialEq)]
struct Call {
    op: String,
    client: String,
    line: usize,
}

/// A call chain's segments: `self.ec2\n.describe_x()\n.filters(f)` → `self`, `ec2`,
/// `describe_x()`, `filters()` (arguments dropped).
fn segments(chain: &str) -> Vec<String> {
    chain.split('.').map(|s| s.split_whitespace().collect::<String>()).collect()
}

/// The operation of a chain: the first call after the root that is not a terminal.
fn operation(segs: &[String]) -> Option<(String, String)> {
    segs.windows(2).find_map(|w| {
        let name = w[1].strip_suffix("()")?.trim_start_matches("r#");
        let snake = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        (snake && !name.is_empty() && !TERMINALS.contains(&name))
            .then(|| (name.to_string(), w[0].trim_start_matches("r#").to_string()))
    })
}

/// Characters a call chain is made of (outside its argument lists).
fn chain_char(c: char) -> bool {
    is_ident_char(c) || c.is_whitespace() || matches!(c, '.' | ':' | '#' | '$' | '?')
}

/// The chain that ends right before `end`, walking back: argument lists collapse to
/// `()`, and the walk stops at the first character that is not part of a chain (an
/// unclosed `(`, `=`, `;`, `{`, ...). The root is the last word of the first segment
/// (`match client` → `client`).
fn chain_before(bare: &[char], end: usize) -> String {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut j = end;
    while j > 0 {
        j -= 1;
        let c = bare[j];
        if c == ')' {
            if depth == 0 {
                out.push(')');
            }
            depth += 1;
        } else if c == '(' {
            if depth == 0 {
                break;
            }
            depth -= 1;
            if depth == 0 {
                out.push('(');
            }
        } else if depth == 0 {
            if !chain_char(c) {
                break;
            }
            out.push(c);
        }
    }
    out.reverse();
    let text: String = out.into_iter().collect();
    let text = text.trim();
    // Keep the root word only: `match client.get_object()` → `client.get_object()`.
    let first_dot = text.find('.').unwrap_or(text.len());
    let root_start = text[..first_dot].trim_end().rfind(char::is_whitespace).map_or(0, |p| p + 1);
    text[root_start..].to_string()
}

/// The chain that starts at `start`, walking forward (argument lists collapsed), up to
/// the first character that is not part of a chain.
fn chain_after(bare: &[char], start: usize) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for &c in &bare[start..] {
        if c == '(' {
            if depth == 0 {
                out.push('(');
            }
            depth += 1;
        } else if c == ')' {
            if depth == 0 {
                break;
            }
            depth -= 1;
            if depth == 0 {
                out.push(')');
            }
        } else if depth == 0 {
            if !chain_char(c) {
                break;
            }
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The operation a chain rooted at the variable `var` calls, through the nearest `let
/// [mut] var = <chain>` before `before` whose chain holds one (a `let var = match ...`
/// rebinding is passed over).
fn resolve_let(bare: &[char], var: &str, before: usize, hops: usize) -> Option<(String, String)> {
    if hops > 4 {
        return None;
    }
    let text: String = bare[..before].iter().collect();
    let mut at = text.len();
    while let Some(p) = text[..at].rfind("let ") {
        at = p;
        if p > 0 && text[..p].chars().next_back().is_some_and(is_ident_char) {
            continue;
        }
        let rest = text[p + 4..].trim_start();
        let rest = rest.strip_prefix("mut ").map_or(rest, str::trim_start);
        let Some(after) = rest.strip_prefix(var) else { continue };
        if after.starts_with(is_ident_char) {
            continue;
        }
        let Some(rhs) = after.trim_start().strip_prefix('=') else { continue };
        if rhs.starts_with('=') {
            continue;
        }
        let rhs_start = text[..text.len() - rhs.len()].chars().count();
        let chain = chain_after(bare, rhs_start);
        // A chain, not `match x { .. }` or `if ..`: no space before its first dot.
        let head = chain.split('.').next().unwrap_or_default().trim();
        if head.is_empty() || head.contains(char::is_whitespace) {
            continue;
        }
        let segs = segments(&chain);
        let root = segs[0].as_str();
        if let Some(found) = operation(&segs) {
            return Some(found);
        }
        // `let req = other;`: follow `other` (not a keyword: `let req = match &x { .. }`).
        let keyword = matches!(root, "match" | "if" | "loop" | "while" | "for" | "unsafe" | "async");
        if segs.len() == 1 && root != var && !keyword && root.chars().all(is_ident_char) {
            if let Some(found) = resolve_let(bare, root, p, hops + 1) {
                return Some(found);
            }
        }
    }
    None
}

/// Every SDK call of a source, and the positions of `.send()` chains whose operation could
/// not be told.
fn calls(src: &Source) -> (Vec<Call>, Vec<(usize, String)>) {
    let bare = &src.bare;
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for end_name in ["send", "into_paginator"] {
        let needle: Vec<char> = end_name.chars().collect();
        let mut at = 0;
        while let Some(p) = find(bare, &needle, at) {
            at = p + needle.len();
            // `.send()`: a dot before (whitespace allowed), `()` after, not part of a longer name.
            let before = bare[..p].iter().rposition(|c| !c.is_whitespace());
            let Some(dot) = before.filter(|&d| bare[d] == '.') else { continue };
            let after: String = bare[at..].iter().take_while(|c| c.is_whitespace() || **c == '(').collect();
            let closes = bare.get(at + after.len()) == Some(&')');
            if !after.contains('(') || !closes || bare.get(at).is_some_and(|&c| is_ident_char(c)) {
                continue;
            }
            let chain = chain_before(bare, dot);
            let segs = segments(&chain);
            if end_name == "send" && segs.iter().any(|s| s == "into_paginator()") {
                continue; // counted at its into_paginator()
            }
            let root = segs.first().cloned().unwrap_or_default();
            if root.starts_with('$') {
                continue; // a macro's template: its uses are found as macro calls
            }
            let op = operation(&segs).or_else(|| {
                (segs.len() == 1 && root.chars().all(is_ident_char) && !root.is_empty())
                    .then(|| resolve_let(bare, &root, dot, 0))
                    .flatten()
            });
            match op {
                Some((op, client)) => found.push(Call { op, client, line: src.line_of(p) }),
                None => unknown.push((p, chain)),
            }
        }
    }
    // `describe_all!(client, describe_vpcs, filters, f, "DescribeVpcs")` (ec2/mod.rs).
    for (p, args) in describe_all_uses(src) {
        let arg = |k: usize| bare[args[k].0..args[k].1].iter().collect::<String>().trim().to_string();
        let client = arg(0).rsplit('.').next().unwrap_or_default().to_string();
        found.push(Call { op: arg(1), client, line: src.line_of(p) });
    }
    found.sort_by_key(|c| c.line);
    (found, unknown)
}

/// The uses of the `describe_all!` macro (five arguments): its position and the ranges of
/// its arguments, split at the commas outside parentheses and brackets.
fn describe_all_uses(src: &Source) -> Vec<(usize, Vec<(usize, usize)>)> {
    let bare = &src.bare;
    let needle: Vec<char> = "describe_all!".chars().collect();
    let mut uses = Vec::new();
    let mut at = 0;
    while let Some(p) = find(bare, &needle, at) {
        at = p + needle.len();
        let Some(open) = bare[at..].iter().position(|c| !c.is_whitespace()).map(|o| at + o) else { break };
        if bare[open] != '(' {
            continue; // the macro_rules! definition
        }
        let (mut args, mut depth, mut start) = (Vec::new(), 0usize, open + 1);
        for (j, &c) in bare.iter().enumerate().skip(open + 1) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth > 0 => depth -= 1,
                ')' => {
                    args.push((start, j));
                    break;
                }
                ',' if depth == 0 => {
                    args.push((start, j));
                    start = j + 1;
                }
                _ => {}
            }
        }
        // A trailing comma leaves an empty last argument.
        if args.last().is_some_and(|&(a, b)| bare[a..b].iter().all(|c| c.is_whitespace())) {
            args.pop();
        }
        if args.len() == 5 {
            uses.push((p, args));
        }
    }
    uses
}

/// The operation names of a source's error mappings: `aws_error("CreateVpc", e)` and the
/// name in `describe_all!(..., "DescribeVpcs")`.
fn error_names(src: &Source) -> BTreeSet<String> {
    let code: String = src.code.iter().collect();
    let mut names = BTreeSet::new();
    let mut take = |rest: &str| {
        let rest = rest.trim_start();
        if let Some(body) = rest.strip_prefix('"') {
            let name: String = body.chars().take_while(|&c| c != '"').collect();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) {
                names.insert(name);
            }
        }
    };
    for mapper in ERROR_MAPPERS {
        for (p, _) in code.match_indices(&format!("{mapper}(")) {
            if p == 0 || !code[..p].chars().next_back().is_some_and(is_ident_char) {
                take(&code[p + mapper.len() + 1..]);
            }
        }
    }
    for (_, args) in describe_all_uses(src) {
        let (from, to) = args[4];
        take(&src.code[from..to].iter().collect::<String>());
    }
    names
}

fn squash(name: &str) -> String {
    name.chars().filter(|&c| c != '_').collect::<String>().to_ascii_lowercase()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// What the scan of the code found: each IAM action with the places that call it, and
/// the problems that keep the scan from being sure.
#[derive(Default)]
struct Scan {
    actions: BTreeMap<String, BTreeSet<String>>,
    problems: Vec<String>,
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Scans one source: `rel` is its path from the repository root.
fn scan_file(rel: &str, text: &str, scan: &mut Scan) {
    let src = Source::new(text);
    let (found, unknown) = calls(&src);
    for (p, chain) in unknown {
        scan.problems.push(format!(
            "{rel}:{}: cannot tell which operation `{chain}.send()` calls (start the chain at the \
             client, or bind it with `let x = client.op()...`)",
            src.line_of(p)
        ));
    }
    if rel == S3_BACKEND {
        for c in &found {
            match lookup(S3_ACTIONS, &c.op) {
                Some(a) => {
                    scan.actions.entry(a.to_string()).or_default().insert(format!("{rel}:{}", c.line));
                }
                None => scan.problems.push(format!(
                    "{rel}:{}: S3 operation `{}` is not in S3_ACTIONS (add it with its IAM action)",
                    c.line, c.op
                )),
            }
        }
        return;
    }
    let Some(inside) = rel.strip_prefix("crates/hactl-aws/src/") else {
        for c in &found {
            scan.problems.push(format!(
                "{rel}:{}: AWS call `{}` outside the scanned sources (scan it as the S3 backend is)",
                c.line, c.op
            ));
        }
        return;
    };
    let names = error_names(&src);
    let by_squash: BTreeMap<String, &String> = names.iter().map(|n| (squash(n), n)).collect();
    let dir = inside.split('/').next().unwrap_or_default();
    let mut called = BTreeSet::new();
    for c in &found {
        called.insert(squash(&c.op));
        let service = lookup(SERVICE_OF_CLIENT, &c.client).or_else(|| lookup(SERVICE_OF_DIR, dir));
        let Some(service) = service else {
            scan.problems.push(format!(
                "{rel}:{}: no IAM service for `{}` on `{}` (add the directory to SERVICE_OF_DIR)",
                c.line, c.op, c.client
            ));
            continue;
        };
        let Some(name) = by_squash.get(&squash(&c.op)) else {
            scan.problems.push(format!(
                "{rel}:{}: `{}` is called but no aws_error(\"...\") in this file names it",
                c.line, c.op
            ));
            continue;
        };
        let mapped: Vec<&str> = S3_PROVIDER_ACTIONS
            .iter()
            .filter(|(op, _)| service == "s3" && op == name)
            .map(|(_, a)| *a)
            .collect();
        let actions = if mapped.is_empty() {
            vec![format!("{service}:{name}")]
        } else {
            mapped.iter().map(|a| a.to_string()).collect()
        };
        for action in actions {
            scan.actions.entry(action).or_default().insert(format!("{rel}:{}", c.line));
        }
    }
    for n in &names {
        if !called.contains(&squash(n)) {
            scan.problems.push(format!(
                "{rel}: aws_error(\"{n}\") names no call this scan found in the file (a call it misses?)"
            ));
        }
    }
}

fn scan_code() -> Scan {
    let root = repo_root();
    let mut files = Vec::new();
    let crates = root.join("crates");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&crates).expect("crates/").map(|e| e.expect("entry").path().join("src")).collect();
    dirs.sort();
    for d in dirs.iter().filter(|d| d.is_dir()) {
        rust_files(d, &mut files);
    }
    let mut scan = Scan::default();
    for f in files {
        let rel = f.strip_prefix(&root).expect("under the root").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        scan_file(&rel, &text, &mut scan);
    }
    scan
}

/// Every action the code needs: called (with where) or implied (with why).
fn needed(scan: &Scan) -> BTreeMap<String, String> {
    let mut need: BTreeMap<String, String> = BTreeMap::new();
    for (action, places) in &scan.actions {
        if !NO_PERMISSION_NEEDED.iter().any(|(k, _)| k == action) {
            let first = places.iter().next().cloned().unwrap_or_default();
            let more = match places.len() {
                1 => String::new(),
                n => format!(" and {} more places", n - 1),
            };
            need.insert(action.clone(), format!("called at {first}{more}"));
        }
    }
    for (action, why) in IMPLIED {
        need.entry(action.to_string()).or_insert_with(|| format!("implied: {why}"));
    }
    need
}

// ---------------------------------------------------------------------------------------
// The tests

#[test]
fn the_policy_document_is_well_formed() {
    let policy = policy();
    // The state bucket placeholder, in exactly the state's S3 statements; the stack's own
    // buckets (the log shipper's failed batches) by their name pattern.
    for st in &policy {
        let s3 = st.actions.iter().any(|a| a.starts_with("s3:"));
        let state = st.sid.starts_with("State");
        let placeholder =
            st.resources.iter().all(|r| r.starts_with(&format!("arn:aws:s3:::{BUCKET_PLACEHOLDER}")));
        assert_eq!(
            s3 && state,
            placeholder,
            "{}: state grants name arn:aws:s3:::{BUCKET_PLACEHOLDER}",
            st.sid
        );
        if s3 && !state {
            assert!(
                st.resources.iter().all(|r| r.starts_with("arn:aws:s3:::*-log-failures-")),
                "{}: S3 grants name the state bucket or the failed-batches buckets",
                st.sid
            );
        }
        assert_eq!(st.actions.iter().all(|a| a.starts_with("s3:")), s3, "{}: S3 actions apart", st.sid);
    }
    // No service-wide or catch-all grant.
    for st in &policy {
        for a in &st.actions {
            let action = a.split_once(':').map(|(_, x)| x).unwrap_or_default();
            assert!(action != "*" && !action.starts_with('*'), "{}: `{a}` grants a whole service", st.sid);
        }
    }
}

#[test]
fn malformed_documents_are_refused() {
    // A document of one statement: `fields` are the statement's, after a Sid.
    let one =
        |fields: &str| format!(r#"{{"Version": "2012-10-17", "Statement": [{{"Sid": "A", {fields}}}]}}"#);
    let ok = one(r#""Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*""#);
    assert!(check_document(&ok).is_ok(), "{:?}", check_document(&ok));
    let allow = r#""Effect": "Allow", "Action": "a:B", "Resource": "*""#;
    let bad = [
        ("not JSON", r#"{"Version": "2012-10-17", "Statement": [}"#.to_string()),
        ("Version", one(allow).replace(r#""Version": "2012-10-17", "#, "")),
        ("Version", one(allow).replace("2012-10-17", "2008-10-17")),
        ("Statement", r#"{"Version": "2012-10-17", "Statement": []}"#.to_string()),
        ("Statement", r#"{"Version": "2012-10-17"}"#.to_string()),
        ("Effect", one(r#""Action": "a:B", "Resource": "*""#)),
        ("Effect", one(&allow.replace("Allow", "Deny"))),
        ("Action", one(r#""Effect": "Allow", "Resource": "*""#)),
        ("Action", one(r#""Effect": "Allow", "Action": [], "Resource": "*""#)),
        ("service:Action", one(r#""Effect": "Allow", "Action": "DescribeVpcs", "Resource": "*""#)),
        ("Resource", one(r#""Effect": "Allow", "Action": "a:B""#)),
        ("Resource", one(r#""Effect": "Allow", "Action": "a:B", "Resource": "vpc/*""#)),
        ("Resource", one(r#""Effect": "Allow", "Action": "a:B", "Resource": [1]"#)),
        ("NotAction", one(&format!(r#"{allow}, "NotAction": "a:C""#))),
        ("Principal", one(&format!(r#"{allow}, "Principal": "*""#))),
        ("Sid", one(allow).replace(r#""Sid": "A", "#, "")),
        ("Sid", one(&format!(r#"{allow}}}, {{"Sid": "A", {allow}"#))),
        ("Condition", one(&format!(r#"{allow}, "Condition": {{"StringEquals": "x"}}"#))),
    ];
    for (what, doc) in bad {
        let e = check_document(&doc).expect_err(&doc);
        assert!(e.contains(what), "{doc}: the error names {what}: {e}");
    }
}

#[test]
fn the_scanner_finds_every_shape_of_call() {
    let text = r#"
        fn a(&self) {
            // A comment with self.0.delete_vpc() and an open ( paren.
            let x = self.0
                .create_vpc() // .send() in a comment
                .cidr_block(req_str(props, "a (paren")?)
                .send()
                .await
                .map_err(|e| aws_error("CreateVpc", e))?;
            ignore_not_found(self.ec2.delete_subnet().subnet_id(id).send().await.map_err(|e| {
                aws_error("DeleteSubnet", e)
            }));
            let req = self.0.modify_vpc_attribute().vpc_id(id);
            let req = match attr { A => req.enable_dns_support(v), _ => req.r#type(v) };
            req.send().await.map_err(|e| aws_error("ModifyVpcAttribute", e));
            let out = match client.get_object().bucket(b).send().await { _ => '(' };
            let all = self.0.describe_db_clusters().into_paginator().items().send().try_collect();
            describe_all!(c, describe_vpcs, filters, ids("vpc-id", &[id.to_string()]), "DescribeVpcs",);
        }
        #[cfg(test)]
        mod tests {
            fn t() { client.delete_bucket().send(); }
        }
    "#;
    let src = Source::new(text);
    let (found, unknown) = calls(&src);
    assert!(unknown.is_empty(), "unresolved at {unknown:?}");
    let got: Vec<(&str, &str)> = found.iter().map(|c| (c.op.as_str(), c.client.as_str())).collect();
    assert_eq!(
        got,
        [
            ("create_vpc", "0"),
            ("delete_subnet", "ec2"),
            ("modify_vpc_attribute", "0"),
            ("get_object", "client"),
            ("describe_db_clusters", "0"),
            ("describe_vpcs", "c"),
        ]
    );
    let names: Vec<String> = error_names(&src).into_iter().collect();
    assert_eq!(names, ["CreateVpc", "DeleteSubnet", "DescribeVpcs", "ModifyVpcAttribute"]);
    // A call the scan cannot place is reported, not skipped.
    let (_, unknown) = calls(&Source::new("fn f() { make_request(x).send(); }"));
    assert_eq!(unknown.len(), 1);
}

#[test]
fn the_policy_allows_every_call_of_the_code() {
    let scan = scan_code();
    assert!(scan.problems.is_empty(), "the scan of the sources is not sure:\n{}", scan.problems.join("\n"));
    // The scan sees the providers (not an empty directory): every service, ~200 actions.
    let services: BTreeSet<&str> =
        scan.actions.keys().filter_map(|a| a.split_once(':')).map(|(s, _)| s).collect();
    for (_, s) in SERVICE_OF_DIR.iter().chain(SERVICE_OF_CLIENT) {
        assert!(services.contains(s), "no call of {s} found: {services:?}");
    }
    assert!(scan.actions.len() > 150, "only {} actions found", scan.actions.len());
    let policy = policy();
    let missing: Vec<String> = needed(&scan)
        .into_iter()
        .filter(|(action, _)| granting(&policy, action).is_empty())
        .map(|(action, why)| format!("  {action}: {why}"))
        .collect();
    assert!(missing.is_empty(), "{POLICY} does not allow:\n{}", missing.join("\n"));
}

#[test]
fn the_policy_grants_nothing_the_code_does_not_need() {
    let scan = scan_code();
    let need = needed(&scan);
    let policy = policy();
    let mut unused = Vec::new();
    for st in &policy {
        for pattern in &st.actions {
            if !need.keys().any(|a| action_matches(pattern, a)) {
                unused.push(format!("  {} ({})", pattern, st.sid));
            }
        }
    }
    assert!(unused.is_empty(), "{POLICY} grants actions no code path needs:\n{}", unused.join("\n"));
    // The exemptions are still called (else they go from the tables).
    for (action, _) in NO_PERMISSION_NEEDED {
        assert!(scan.actions.contains_key(*action), "{action} is no longer called");
        assert!(granting(&policy, action).is_empty(), "{action} needs no grant");
    }
    for (action, _) in IMPLIED {
        assert!(!scan.actions.contains_key(*action), "{action} is called now: drop it from IMPLIED");
    }
}

/// The parliament executable: `HACTL_PARLIAMENT` (which must exist when set), else the one
/// scripts/parliament.sh installs, if it is installed.
fn parliament() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HACTL_PARLIAMENT").map(PathBuf::from) {
        assert!(bin.exists(), "HACTL_PARLIAMENT={} does not exist", bin.display());
        return Some(bin);
    }
    let bin = repo_root().join(".emulator/parliament-venv/bin/parliament");
    bin.exists().then_some(bin)
}

/// Whether a parliament finding is one of [`PARLIAMENT_ACCEPTED`]; its index there.
fn accepted(issue: &str, detail: &J) -> Option<usize> {
    PARLIAMENT_ACCEPTED.iter().position(|(kind, actions, _)| {
        kind == &issue
            && match issue {
                // A list of action names.
                "RESOURCE_STAR" => detail
                    .as_array()
                    .filter(|d| !d.is_empty())
                    .is_some_and(|d| d.iter().all(|a| a.as_str().is_some_and(|a| actions.contains(&a)))),
                // A list of {action, required_format}: only the NLB listener (or listener
                // rule) format missing, or OpenSearch's application and data source ones.
                "RESOURCE_MISMATCH" => detail.as_array().filter(|d| !d.is_empty()).is_some_and(|d| {
                    d.iter().all(|m| {
                        m["action"].as_str().is_some_and(|a| actions.contains(&a))
                            && m["required_format"].as_str().is_some_and(|f| {
                                f.contains(":listener/net/")
                                    || f.contains(":listener-rule/net/")
                                    || (f.starts_with("arn:*:opensearch:")
                                        && (f.contains(":application/") || f.contains(":datasource/")))
                            })
                    })
                }),
                // "… on <resource> due to <action> not being allowed, but does allow …".
                "RESOURCE_POLICY_PRIVILEGE_ESCALATION" => detail
                    .as_str()
                    .and_then(|d| d.split_once(" on ").and_then(|(_, rest)| rest.split_once(" due to ")))
                    .is_some_and(|(resource, _)| actions.contains(&resource)),
                _ => false,
            }
    })
}

#[test]
fn parliament_finds_nothing_unexplained() {
    let Some(bin) = parliament() else {
        eprintln!("parliament not installed (bash scripts/parliament.sh install): lint skipped");
        return;
    };
    let file = repo_root().join(POLICY);
    let out = std::process::Command::new(&bin)
        .args(["--json", "--files", &file.display().to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run parliament");
    // 0: no finding, 1: findings; anything else is a usage error or a crash.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "parliament failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = BTreeSet::new();
    let mut rejected = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()) {
        let j: J = serde_json::from_str(line).unwrap_or_else(|e| panic!("parliament line {line}: {e}"));
        let issue = j["issue"].as_str().unwrap_or_default();
        match accepted(issue, &j["detail"]) {
            Some(i) => {
                seen.insert(i);
            }
            None => rejected.push(line.to_string()),
        }
    }
    assert!(rejected.is_empty(), "parliament findings on {POLICY}:\n{}", rejected.join("\n"));
    for (i, (issue, actions, _)) in PARLIAMENT_ACCEPTED.iter().enumerate() {
        assert!(seen.contains(&i), "parliament no longer reports {issue} for {actions:?}: drop it");
    }
}

/// CreateHostedZone of a private zone (route53.hosted_zone with `vpc_id`: the stack's
/// `<stack>.internal` zones) also needs ec2:DescribeVpcs (AWS checks the VPC is the
/// caller's) and route53:AssociateVPCWithHostedZone: both granted, whatever else calls them.
#[test]
fn a_private_hosted_zone_can_be_created() {
    let policy = policy();
    for action in ["route53:CreateHostedZone", "ec2:DescribeVpcs", "route53:AssociateVPCWithHostedZone"] {
        assert!(!granting(&policy, action).is_empty(), "{POLICY} does not grant {action}");
    }
    let zone = policy
        .iter()
        .filter(|st| st.actions.iter().any(|a| action_matches(a, "route53:AssociateVPCWithHostedZone")))
        .flat_map(|st| st.resources.iter());
    assert!(
        zone.into_iter().any(|r| r == "arn:aws:route53:::hostedzone/*" || r == "*"),
        "route53:AssociateVPCWithHostedZone on the hosted zones"
    );
}
