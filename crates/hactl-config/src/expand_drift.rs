//! Expansion of the in-AWS drift job (`drift.schedule`): an EventBridge Scheduler
//! schedule that runs `hactl drift --publish-metrics` as a Fargate task in the stack's
//! cluster, with the task definition, its log group, an egress-only security group and
//! three roles (task execution, the job's read-only task role, the scheduler's role).
//! Property shapes: crates/hactl-aws/KINDS-compute.md (IAM, logs, ECS, EC2) and
//! KINDS-observability.md (scheduler).
//!
//! Addresses and names use `drift_job` (with an underscore, which service names cannot
//! contain), so no service can collide with them.

use crate::expand::{addr, id, out, partition, short_name, ExpandError, Expander, NetworkRefs};
use crate::expand_compute::{assume_role, ecr_repository_arn, map, policy, statement, strs, Scope};
use crate::expand_data::DataRefs;
use crate::expand_observability::DRIFT_NAMESPACE;
use crate::expand_rotation_job::RotationJob;
use crate::model::{DriftSchedule, LaunchType, StateBackend};
use hactl_core::kinds::{self, ec2, ecs, iam, logs, scheduler, KindInfo, Typed};
use hactl_core::{Address, Value};
use std::collections::BTreeSet;

/// The drift job's container name.
pub const DRIFT_CONTAINER: &str = "hactl-drift";

/// The union of one list of every kind (`hactl_core::kinds::all()`), sorted, each action once.
fn kinds_union(list: fn(&'static KindInfo) -> &'static [&'static str]) -> Vec<&'static str> {
    let actions: BTreeSet<&'static str> = kinds::all().flat_map(list).copied().collect();
    actions.into_iter().collect()
}

/// Reads of actions that have no resource-level permission (AWS's Service Authorization
/// Reference lists no resource type for them): `*` is the only resource they take. The
/// union of every kind's `reads` (`hactl_core::kinds`, beside each kind's provider). With
/// [`read_account_wide`] and the scoped statements of the task role, these are exactly
/// the Describe/List/Get calls the providers' reads make.
pub fn read_unscoped() -> Vec<&'static str> {
    kinds_union(|k| k.reads)
}

/// Reads that take resource-level permissions but that the providers call without naming
/// a resource of this stack: the union of every kind's `reads_account_wide`. RDS and
/// DocumentDB reads list the region's instances, clusters, subnet and parameter groups
/// (Describe* without an identifier, paginated, then kept by ownership tags), and
/// CloudWatch's DescribeAlarms is called with an alarm name prefix. AWS authorizes such
/// listings against `*`, so a grant scoped to the stack's names would deny them.
/// tests/policy_lint.rs lists these as the accepted `*` exceptions.
pub fn read_account_wide() -> Vec<&'static str> {
    kinds_union(|k| k.reads_account_wide)
}

pub(crate) fn with_condition(mut s: Value, operator: &str, key: &str, value: Value) -> Value {
    if let Value::Map(m) = &mut s {
        m.insert("Condition".into(), map(vec![(operator, map(vec![(key, value)]))]));
    }
    s
}

/// The drift job's egress-only security group and its rules.
pub(crate) struct DriftGroupRefs {
    pub group: Address,
    /// The schedule's first run waits for them.
    pub rules: Address,
}

/// The drift job's two task roles: the execution role and the read-only task role.
pub(crate) struct DriftRoleRefs {
    pub execution: Address,
    pub task: Address,
}

/// What the schedule runs: the task definition in the stack's cluster.
pub(crate) struct DriftTaskRefs {
    pub cluster: Address,
    pub task_definition: Address,
    pub group: DriftGroupRefs,
    pub roles: DriftRoleRefs,
}

impl Scope {
    /// The ARN of a resource of this stack's region and account.
    pub(crate) fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:{}:{service}:{}:{}:{rest}", partition(&self.region), self.region, self.account)
    }
}

/// Reads of everything hactl manages, scoped to the stack's own ARNs wherever the call
/// names them.
/// The stack's VPCs as ARNs: the home one, and the `[dr]` region's (`dr.vpc.main`).
fn stack_vpcs(scope: &Scope, net: &NetworkRefs, dr_region: Option<&str>) -> Result<Value, ExpandError> {
    let home = Value::concat([Value::str(scope.arn("ec2", "vpc/")), id(&net.vpc)]);
    let Some(region) = dr_region else { return Ok(home) };
    let dr_scope = Scope { region: region.to_string(), ..scope.clone() };
    let dr_vpc = id(&addr(&["dr", "vpc", "main"])?);
    Ok(Value::List(vec![home, Value::concat([Value::str(dr_scope.arn("ec2", "vpc/")), dr_vpc])]))
}

/// The stack's ARNs `each` names for one region, for its region and the `[dr]` region's.
pub(crate) fn in_regions(
    scope: &Scope,
    dr_region: Option<&str>,
    each: impl Fn(&Scope) -> Vec<String>,
) -> Value {
    let mut arns = each(scope);
    if let Some(region) = dr_region {
        arns.extend(each(&Scope { region: region.to_string(), ..scope.clone() }));
    }
    Value::from_strings(arns)
}

/// `dr_region`: the `[dr]` region, where the stack's regional resources are read too.
fn stack_read_statements(
    scope: &Scope,
    net: &NetworkRefs,
    dr_region: Option<&str>,
) -> Result<Vec<Value>, ExpandError> {
    let Scope { stack, account, .. } = scope;
    let part = partition(&scope.region);
    let regional = |each: &dyn Fn(&Scope) -> Vec<String>| in_regions(scope, dr_region, each);
    let mut out = vec![
        statement("ReadUnscoped", &read_unscoped(), Value::str("*")),
        // Justified `*`: see read_account_wide.
        statement("ReadAccountWide", &read_account_wide(), Value::str("*")),
        // IAM: the stack's roles and instance profiles, under its paths only (one per
        // region of the stack: /hactl/<stack>/<region>/).
        statement(
            "ReadStackIam",
            &[
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:GetInstanceProfile",
                "iam:ListInstanceProfileTags",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
            ],
            regional(&|sc: &Scope| {
                let path = format!("/hactl/{stack}/{}/", sc.region);
                vec![
                    format!("arn:{part}:iam::{account}:role{path}*"),
                    format!("arn:{part}:iam::{account}:instance-profile{path}*"),
                    format!("arn:{part}:iam::{account}:policy{path}*"),
                ]
            }),
        ),
        statement(
            "ReadStackEcs",
            &["ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeCapacityProviders"],
            regional(&|sc: &Scope| {
                vec![
                    sc.arn("ecs", &format!("cluster/{stack}")),
                    sc.arn("ecs", &format!("service/{stack}/*")),
                    sc.arn("ecs", &format!("capacity-provider/{}", short_name(&format!("cp-{stack}"), 255))),
                ]
            }),
        ),
        statement("ReadStackVpc", &["ec2:DescribeVpcAttribute"], stack_vpcs(scope, net, dr_region)?),
        statement(
            "ReadStackLogTags",
            &["logs:ListTagsForResource", "logs:DescribeSubscriptionFilters"],
            regional(&|sc: &Scope| vec![sc.arn("logs", &format!("log-group:/hactl/{stack}/*"))]),
        ),
        // The read finds candidates by name prefix `<stack>-` (ListTopics, DescribeAlarms).
        statement(
            "ReadStackTopic",
            &["sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"],
            regional(&|sc: &Scope| vec![sc.arn("sns", &format!("{stack}-*"))]),
        ),
        statement(
            "ReadStackAlarmsAndDashboard",
            &["cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"],
            Value::List(
                [
                    regional(&|sc: &Scope| vec![sc.arn("cloudwatch", &format!("alarm:{stack}-*"))]),
                    Value::from_strings([format!("arn:{part}:cloudwatch::{account}:dashboard/{stack}*")]),
                ]
                .into_iter()
                .flat_map(|v| match v {
                    Value::List(l) => l,
                    other => vec![other],
                })
                .collect(),
            ),
        ),
        // Certificate ARNs end in a generated id: the account's certificates in the region.
        statement(
            "ReadCertificateTags",
            &["acm:ListTagsForCertificate"],
            regional(&|sc: &Scope| vec![sc.arn("acm", "certificate/*")]),
        ),
        statement(
            "ReadStackSchedules",
            &["scheduler:GetScheduleGroup", "scheduler:ListTagsForResource", "scheduler:GetSchedule"],
            Value::from_strings([
                scope.arn("scheduler", &format!("schedule-group/hactl-{stack}*")),
                scope.arn("scheduler", &format!("schedule/hactl-{stack}*/*")),
            ]),
        ),
        // The redeployment after a password rotation: its rule and state machine.
        statement(
            "ReadStackRedeploy",
            &[
                "events:ListTargetsByRule",
                "events:ListTagsForResource",
                "states:DescribeStateMachine",
                "states:ListTagsForResource",
            ],
            regional(&|sc: &Scope| {
                vec![
                    sc.arn("events", &format!("rule/{stack}-*")),
                    sc.arn("states", &format!("stateMachine:{stack}-*")),
                ]
            }),
        ),
        // Route 53 (`[dns]`): zone and health check ids are generated; records are read
        // through their zone.
        statement(
            "ReadDnsZonesAndChecks",
            &["route53:GetHostedZone", "route53:ListTagsForResources", "route53:ListResourceRecordSets"],
            Value::from_strings([
                format!("arn:{part}:route53:::hostedzone/*"),
                format!("arn:{part}:route53:::healthcheck/*"),
            ]),
        ),
    ];
    out.extend(log_analytics_reads(stack, part, &regional));
    Ok(out)
}

/// The ARNs of the stack's regions for one per-region ARN function (see [`in_regions`]).
type InRegions<'a> = &'a dyn Fn(&dyn Fn(&Scope) -> Vec<String>) -> Value;

/// The log analytics domain (`[log_analytics]`), its log shipper and the shipper's
/// failed-batches bucket.
fn log_analytics_reads(stack: &str, part: &str, regional: InRegions<'_>) -> Vec<Value> {
    vec![
        statement(
            "ReadStackLogAnalytics",
            &["es:DescribeDomains", "es:ListTags"],
            regional(&|sc: &Scope| {
                vec![sc.arn("es", &format!("domain/{}", crate::expand_log_analytics::domain_name(stack)))]
            }),
        ),
        statement(
            "ReadStackLogShipper",
            &["lambda:ListTags", "lambda:GetFunctionEventInvokeConfig", "lambda:GetPolicy"],
            regional(&|sc: &Scope| {
                vec![sc
                    .arn("lambda", &format!("function:{}", crate::expand_log_analytics::shipper_name(stack)))]
            }),
        ),
        statement(
            "ReadStackLogFailures",
            &[
                "s3:ListBucket",
                "s3:GetBucketTagging",
                "s3:GetEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetLifecycleConfiguration",
                "s3:GetBucketPolicy",
            ],
            Value::str(format!("arn:{part}:s3:::{stack}-log-failures-*")),
        ),
    ]
}

/// Read the state object, take its lock.
pub(crate) fn state_statements(scope: &Scope, bucket: &str, key: &str) -> Vec<Value> {
    let part = partition(&scope.region);
    let object = format!("arn:{part}:s3:::{bucket}/{key}");
    vec![
        statement("ReadState", &["s3:GetObject"], Value::str(&object)),
        statement(
            "LockState",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            Value::str(format!("{object}.lock")),
        ),
        with_condition(
            statement("ListStateBucket", &["s3:ListBucket"], Value::str(format!("arn:{part}:s3:::{bucket}"))),
            "StringLike",
            "s3:prefix",
            Value::str(key),
        ),
    ]
}

/// Put the drift metric. PutMetricData has no resource-level permission; the namespace
/// condition limits it to the drift metric.
fn drift_metric_statement() -> Value {
    with_condition(
        statement("PutDriftMetric", &["cloudwatch:PutMetricData"], Value::str("*")),
        "StringEquals",
        "cloudwatch:namespace",
        Value::str(DRIFT_NAMESPACE),
    )
}

impl Expander<'_> {
    pub(crate) fn drift_job(
        &mut self,
        net: &NetworkRefs,
        data: Option<&DataRefs>,
    ) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let Some(job) = &cfg.drift.schedule else { return Ok(()) };
        // Validation guarantees services (the cluster) and S3 state with a schedule.
        let StateBackend::S3 { bucket, key, .. } = &cfg.state.backend else { return Ok(()) };
        if cfg.services.is_empty() {
            return Ok(());
        }
        let scope = self.scope();
        let cluster = addr(&["ecs_cluster", "main"])?;
        let group = self.drift_security_group(&scope, net)?;
        let log_group = self.drift_log_group(&scope, job)?;
        let roles = DriftRoleRefs {
            execution: self.drift_execution_role(&scope, job, &log_group)?,
            task: self.drift_task_role(&scope, net, data, bucket, key)?,
        };
        let task_definition = self.drift_task_definition(&scope, job, &log_group, &roles)?;
        let task = DriftTaskRefs { cluster, task_definition, group, roles };
        // With [dr] and `database.password_rotation_days`: `hactl rotate-credentials` on
        // that schedule, the same way (expand_rotation_job.rs).
        let rotation = self.rotation_job(&scope, job, &log_group, &task, data, (bucket, key))?;
        let schedule_role = self.drift_schedule_role(&scope, &task, rotation.as_ref())?;
        self.drift_schedule(&scope, net, job, &task, &schedule_role)?;
        if let Some(r) = &rotation {
            self.job_schedule(net, &task, &schedule_role, &r.schedule)?;
        }
        Ok(())
    }

    /// Egress only: the job calls AWS APIs over HTTPS and nothing calls it.
    fn drift_security_group(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
    ) -> Result<DriftGroupRefs, ExpandError> {
        let sg = addr(&["sg", "drift_job"])?;
        let group_name = self.name(&["drift-job"]);
        let spec = self
            .tagged(ec2::SecurityGroup::new(sg.clone()), &group_name)
            .vpc_id(id(&net.vpc))
            .group_name(group_name.as_str())
            .description(format!("hactl {}: drift job (egress only)", scope.stack));
        self.push(spec);
        let mut egress = std::collections::BTreeMap::new();
        // HTTPS to the AWS APIs only (DNS goes to the VPC resolver, which no group filters).
        egress.insert("protocol".to_string(), Value::str("tcp"));
        egress.insert("from_port".to_string(), Value::Int(443));
        egress.insert("to_port".to_string(), Value::Int(443));
        egress.insert("cidr".to_string(), Value::str("0.0.0.0/0"));
        egress.insert("description".to_string(), Value::str("HTTPS to the AWS APIs"));
        let rules = self.push(
            ec2::SecurityGroupRules::new(addr(&["sg_rules", "drift_job"])?)
                .group_id(id(&sg))
                .ingress(Value::List(Vec::new()))
                .egress(Value::List(vec![Value::Map(egress)])),
        );
        Ok(DriftGroupRefs { group: sg, rules })
    }

    fn drift_log_group(&mut self, scope: &Scope, job: &DriftSchedule) -> Result<Address, ExpandError> {
        let log_group = addr(&["log_group", "drift_job"])?;
        let log_name = format!("/hactl/{}/drift_job", scope.stack);
        let spec = self
            .tagged(logs::LogGroup::new(log_group.clone()), &log_name)
            .name(log_name.as_str())
            .retention_days(Value::Int(job.log_retention_days));
        self.push(spec);
        Ok(log_group)
    }

    /// Execution role: pull the image, write the job's log group.
    fn drift_execution_role(
        &mut self,
        scope: &Scope,
        job: &DriftSchedule,
        log_group: &Address,
    ) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let mut exec = vec![statement(
            "WriteLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            Value::concat([out(log_group, "arn"), Value::str(":log-stream:*")]),
        )];
        if let Some(repo) = ecr_repository_arn(&job.image) {
            exec.push(statement("EcrLogin", &["ecr:GetAuthorizationToken"], Value::str("*")));
            exec.push(statement(
                "PullImage",
                &["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                Value::str(repo),
            ));
        }
        let exec_role = addr(&["iam_role", "drift_job_execution"])?;
        let name = short_name(&format!("{stack}-{region}-drift-execution"), 64);
        let spec = self
            .tagged(iam::Role::new(exec_role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: drift job task execution (image pull, logs)"))
            .assume_role_policy(assume_role("ecs-tasks.amazonaws.com", account, None))
            .inline_policies(map(vec![("execution", policy(exec))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(exec_role)
    }

    /// Task role: read everything hactl manages, the state object and its lock, put
    /// the drift metric. No write to any managed resource, no read of the database
    /// password. Reads are scoped to the stack's own ARNs wherever the call names them.
    fn drift_task_role(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        data: Option<&DataRefs>,
        bucket: &str,
        key: &str,
    ) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let mut task = self.read_only_statements(scope, net, data, bucket, key)?;
        task.push(drift_metric_statement());
        let task_role = addr(&["iam_role", "drift_job_task"])?;
        let name = short_name(&format!("{stack}-{region}-drift-task"), 64);
        let spec = self
            .tagged(iam::Role::new(task_role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: drift job (read-only, state lock, drift metric)"))
            .assume_role_policy(assume_role("ecs-tasks.amazonaws.com", account, None))
            .inline_policies(map(vec![("drift", policy(task))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(task_role)
    }

    /// What reading the stack takes (a plan, a drift report): every kind's reads, the
    /// stack's secrets described and its connection secret read (never the credentials),
    /// the public ECS AMI parameter, and the state object with its lock. The drift job's
    /// task role and the CI plan role hold these.
    pub(crate) fn read_only_statements(
        &self,
        scope: &Scope,
        net: &NetworkRefs,
        data: Option<&DataRefs>,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<Value>, ExpandError> {
        let Scope { stack, region, .. } = scope;
        let part = partition(region);
        let dr_region = self.cfg.dr.as_ref().map(|d| d.region.as_str());
        let mut task = stack_read_statements(scope, net, dr_region)?;
        task.extend(state_statements(scope, bucket, key));
        if self.cfg.ci.as_ref().is_some_and(|ci| ci.oidc_provider_arn.is_none()) {
            // The stack's GitHub identity provider ([ci]).
            task.push(statement(
                "ReadGithubProvider",
                &["iam:GetOpenIDConnectProvider"],
                Value::str(format!(
                    "arn:{part}:iam::{}:oidc-provider/token.actions.githubusercontent.com",
                    scope.account
                )),
            ));
        }
        if self.cfg.compute.launch_type == LaunchType::Ec2 {
            // The launch template's AMI comes from the public ECS AMI parameter.
            task.push(statement(
                "ReadAmiParameter",
                &["ssm:GetParameter", "ssm:GetParameters"],
                // Public parameters have no owner account in their ARN: `*` matches it (and an empty one).
                Value::str(format!("arn:{part}:ssm:{region}:*:parameter/aws/service/ecs/*")),
            ));
        }
        if let Some(d) = data {
            // The secrets are listed and described by the stack's name prefix; the value
            // read is the connection secret's only (host, port, engine, dbname, username),
            // which holds no password. The credentials secret's value is never granted.
            task.push(statement(
                "DescribeStackSecrets",
                &["secretsmanager:DescribeSecret"],
                in_regions(scope, dr_region, |sc| {
                    vec![sc.arn("secretsmanager", &format!("secret:hactl/{stack}/*"))]
                }),
            ));
            // The DR region's connection secret too (its endpoint is the DR database's).
            let connections = match self.cfg.dr {
                Some(_) => Value::List(vec![
                    out(&d.connection, "arn"),
                    out(&addr(&["dr", "secret", "db_connection"])?, "arn"),
                ]),
                None => out(&d.connection, "arn"),
            };
            task.push(statement("ReadDbConnection", &["secretsmanager:GetSecretValue"], connections));
            if d.secret.is_none() {
                // The master password's secret, which the database manages: described
                // (its rotation schedule), never read.
                task.push(statement(
                    "DescribeManagedPassword",
                    &["secretsmanager:DescribeSecret"],
                    d.secret_arn.clone(),
                ));
            }
        }
        Ok(task)
    }

    /// The task: the image's entrypoint is hactl; the config is in the image.
    fn drift_task_definition(
        &mut self,
        scope: &Scope,
        job: &DriftSchedule,
        log_group: &Address,
        roles: &DriftRoleRefs,
    ) -> Result<Address, ExpandError> {
        let task = JobTask {
            address: addr(&["task_definition", "drift_job"])?,
            family: format!("{}-drift_job", scope.stack),
            container: DRIFT_CONTAINER,
            command: vec!["drift", "--publish-metrics"],
            stream_prefix: "drift",
            task_role: roles.task.clone(),
        };
        self.job_task_definition(scope, job, log_group, &roles.execution, task)
    }

    /// A task definition of the hactl image running `task.command` (after `--config`),
    /// logging to the drift job's log group, pulled with `execution`.
    pub(crate) fn job_task_definition(
        &mut self,
        scope: &Scope,
        job: &DriftSchedule,
        log_group: &Address,
        execution: &Address,
        task: JobTask,
    ) -> Result<Address, ExpandError> {
        let mut command = vec!["--config", job.config_path.as_str()];
        command.extend(task.command);
        let container = map(vec![
            ("name", Value::str(task.container)),
            ("image", Value::str(&job.image)),
            ("command", Value::from_strings(command)),
            ("environment", Value::Map(Default::default())),
            ("secrets", Value::List(Vec::new())),
            ("log_group", out(log_group, "name")),
            ("log_region", Value::str(&scope.region)),
            ("log_stream_prefix", Value::str(task.stream_prefix)),
            ("essential", Value::Bool(true)),
        ]);
        let spec = self
            .tagged(ecs::TaskDefinition::new(task.address.clone()), &task.family)
            .family(task.family.as_str())
            .cpu(job.cpu.to_string())
            .memory(job.memory.to_string())
            .network_mode("awsvpc")
            .requires_compatibilities(strs(&["FARGATE"]))
            .execution_role_arn(out(execution, "arn"))
            .task_role_arn(out(&task.task_role, "arn"))
            .container(container);
        self.push(spec);
        Ok(task.address)
    }

    /// The scheduler's role: run exactly this task definition in this cluster.
    fn drift_schedule_role(
        &mut self,
        scope: &Scope,
        task: &DriftTaskRefs,
        rotation: Option<&RotationJob>,
    ) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let schedule_role = addr(&["iam_role", "drift_job_schedule"])?;
        let name = short_name(&format!("{stack}-{region}-drift-schedule"), 64);
        let mut definitions = vec![out(&task.task_definition, "arn")];
        let mut passed = vec![out(&task.roles.execution, "arn"), out(&task.roles.task, "arn")];
        if let Some(r) = rotation {
            definitions.push(out(&r.schedule.task_definition, "arn"));
            passed.push(out(&r.task_role, "arn"));
        }
        let run = vec![
            with_condition(
                statement("RunDriftTask", &["ecs:RunTask"], one_or_list(definitions)),
                "ArnEquals",
                "ecs:cluster",
                out(&task.cluster, "arn"),
            ),
            with_condition(
                statement(
                    "TagDriftTask",
                    &["ecs:TagResource"],
                    Value::str(scope.arn("ecs", &format!("task/{stack}/*"))),
                ),
                "StringEquals",
                "ecs:CreateAction",
                Value::str("RunTask"),
            ),
            with_condition(
                statement("PassDriftRoles", &["iam:PassRole"], Value::List(passed)),
                "StringEquals",
                "iam:PassedToService",
                Value::str("ecs-tasks.amazonaws.com"),
            ),
        ];
        let spec = self
            .tagged(iam::Role::new(schedule_role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: EventBridge Scheduler runs the drift job"))
            .assume_role_policy(assume_role(
                "scheduler.amazonaws.com",
                account,
                Some(Value::str(scope.arn("scheduler", &format!("schedule-group/hactl-{stack}")))),
            ))
            .inline_policies(map(vec![("run-drift-job", policy(run))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(schedule_role)
    }

    /// The schedule group and the schedule that runs the task.
    fn drift_schedule(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        job: &DriftSchedule,
        task: &DriftTaskRefs,
        schedule_role: &Address,
    ) -> Result<(), ExpandError> {
        let stack = &scope.stack;
        let group = addr(&["schedule_group", "main"])?;
        let group_name = format!("hactl-{stack}");
        let spec =
            self.tagged(scheduler::ScheduleGroup::new(group.clone()), &group_name).name(group_name.as_str());
        self.push(spec);
        let drift = JobSchedule {
            address: addr(&["schedule", "drift_job"])?,
            name: "drift",
            description: format!("hactl drift job of stack {stack}: hactl drift --publish-metrics"),
            expression: job.expression.clone(),
            task_definition: task.task_definition.clone(),
        };
        self.job_schedule(net, task, schedule_role, &drift)
    }

    /// A schedule of the stack's group that runs `job.task_definition` as a Fargate task
    /// in the app subnets, with the drift job's security group.
    pub(crate) fn job_schedule(
        &mut self,
        net: &NetworkRefs,
        task: &DriftTaskRefs,
        schedule_role: &Address,
        job: &JobSchedule,
    ) -> Result<(), ExpandError> {
        let group = addr(&["schedule_group", "main"])?;
        let subnets: Vec<Value> =
            self.cfg.network.zones.iter().map(|z| id(&net.subnets[&("app", z.az.clone())])).collect();
        let ecs = map(vec![
            ("task_definition_arn", out(&job.task_definition, "arn")),
            ("launch_type", Value::str("FARGATE")),
            ("task_count", Value::Int(1)),
            ("subnets", Value::List(subnets)),
            ("security_groups", Value::List(vec![id(&task.group.group)])),
            ("assign_public_ip", Value::Bool(false)),
            ("enable_managed_tags", Value::Bool(true)),
            ("propagate_tags", Value::str("TASK_DEFINITION")),
        ]);
        let target = map(vec![
            ("arn", out(&task.cluster, "arn")),
            ("role_arn", out(schedule_role, "arn")),
            // A missed run is followed by the next one: retry briefly, then drop it.
            ("retry_attempts", Value::Int(2)),
            ("max_event_age", Value::Int(3600)),
            ("ecs", ecs),
        ]);
        let mut spec = scheduler::Schedule::new(job.address.clone())
            .name(job.name)
            .group_name(out(&group, "name"))
            .description(job.description.as_str())
            .schedule_expression(job.expression.as_str())
            .timezone("UTC")
            .state("ENABLED")
            .flexible_window_minutes(Value::Null)
            .target(target);
        // The task needs its way out (NAT) and its rules before the first run.
        for r in &net.private_routes {
            spec = spec.after(r);
        }
        spec = spec.after(&task.group.rules);
        self.push(spec);
        Ok(())
    }
}

/// One value as itself, several as a list (a policy's Resource either way).
fn one_or_list(mut values: Vec<Value>) -> Value {
    if values.len() == 1 {
        values.remove(0)
    } else {
        Value::List(values)
    }
}

/// A task definition of the hactl image: what it runs and as whom.
pub(crate) struct JobTask {
    pub address: Address,
    pub family: String,
    pub container: &'static str,
    /// hactl's arguments after `--config <path>`.
    pub command: Vec<&'static str>,
    pub stream_prefix: &'static str,
    pub task_role: Address,
}

/// A scheduled Fargate task of the stack's schedule group.
pub(crate) struct JobSchedule {
    pub address: Address,
    /// The schedule's name in the group.
    pub name: &'static str,
    pub description: String,
    /// `rate(...)` or `cron(...)`.
    pub expression: String,
    pub task_definition: Address,
}

#[cfg(test)]
mod tests {
    use crate::expand::expand;
    use hactl_core::{Address, DesiredGraph, Ref, Value};
    use std::collections::BTreeMap;

    const SCHEDULED: &str = "[state]\nbackend = \"s3\"\nbucket = \"acme-hactl-state\"\n\n[drift]\nalarm = true\nschedule = \"rate(15 minutes)\"\nimage = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1\"\n";

    fn graph(path: &str, scheduled: bool) -> DesiredGraph {
        let file = format!("{}/../../config/{path}", env!("CARGO_MANIFEST_DIR"));
        let mut text = std::fs::read_to_string(&file).unwrap();
        if scheduled {
            // Replace the file's [drift] section (if any) with the scheduled one.
            if let Some(start) = text.find("\n[drift]") {
                let end = text[start + 1..].find("\n[").map_or(text.len(), |e| start + 1 + e);
                text.replace_range(start..end, "");
            }
            text.push('\n');
            text.push_str(SCHEDULED);
        }
        expand(&crate::parse(path, &text).unwrap_or_else(|e| panic!("{e}")), &crate::expand::test_env())
            .unwrap()
    }

    fn props(g: &DesiredGraph, a: &str) -> BTreeMap<String, Value> {
        g.get(&Address::parse(a).unwrap()).unwrap_or_else(|| panic!("{a} missing")).props.clone()
    }

    fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
        v.as_map().and_then(|m| m.get(key)).unwrap_or_else(|| panic!("{key} missing in {v:?}"))
    }

    fn statements(role: &BTreeMap<String, Value>, policy: &str) -> Vec<Value> {
        let doc = get(&role["inline_policies"], policy);
        get(doc, "Statement").as_list().unwrap().to_vec()
    }

    fn sid<'a>(st: &'a [Value], sid: &str) -> &'a Value {
        st.iter().find(|s| get(s, "Sid") == &Value::str(sid)).unwrap_or_else(|| panic!("no {sid}"))
    }

    #[test]
    fn no_schedule_no_job() {
        for path in ["ha-stack.toml", "fargate-postgres.toml"] {
            let g = graph(path, false);
            assert!(g
                .specs()
                .all(|s| !s.kind.starts_with("scheduler.") && !s.address.as_str().contains("drift_job")));
        }
    }

    #[test]
    fn the_schedule_runs_the_drift_task_in_the_cluster() {
        let g = graph("ha-stack.toml", true);
        let s = props(&g, "schedule.drift_job");
        assert_eq!(s["schedule_expression"], Value::str("rate(15 minutes)"));
        assert_eq!(
            s["group_name"],
            Value::Ref(Ref::new(&Address::parse("schedule_group.main").unwrap(), "name"))
        );
        let target = &s["target"];
        let cluster = Address::parse("ecs_cluster.main").unwrap();
        assert_eq!(get(target, "arn"), &Value::Ref(Ref::new(&cluster, "arn")));
        let role = Address::parse("iam_role.drift_job_schedule").unwrap();
        assert_eq!(get(target, "role_arn"), &Value::Ref(Ref::new(&role, "arn")));
        let ecs = get(target, "ecs");
        let td = Address::parse("task_definition.drift_job").unwrap();
        assert_eq!(get(ecs, "task_definition_arn"), &Value::Ref(Ref::new(&td, "arn")));
        assert_eq!(get(ecs, "launch_type"), &Value::str("FARGATE"));
        assert_eq!(get(ecs, "subnets").as_list().unwrap().len(), 2);
        assert_eq!(get(ecs, "assign_public_ip"), &Value::Bool(false));

        let t = props(&g, "task_definition.drift_job");
        assert_eq!(t["family"], Value::str("ha-demo-drift_job"));
        assert_eq!(t["requires_compatibilities"], Value::from_strings(["FARGATE"]));
        let c = &t["container"];
        assert_eq!(get(c, "image"), &Value::str("123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1"));
        assert_eq!(
            get(c, "command"),
            &Value::from_strings(["--config", "config/ha-stack.toml", "drift", "--publish-metrics"])
        );
        // No plain or injected secret in the job's environment.
        assert_eq!(get(c, "secrets"), &Value::List(Vec::new()));

        // The scheduler may run this task definition only, in this cluster, and pass only
        // the job's two roles.
        let st = statements(&props(&g, "iam_role.drift_job_schedule"), "run-drift-job");
        assert_eq!(get(sid(&st, "RunDriftTask"), "Resource"), &Value::Ref(Ref::new(&td, "arn")));
        let pass = get(sid(&st, "PassDriftRoles"), "Resource").as_list().unwrap();
        assert_eq!(pass.len(), 2);
        assert!(get(&props(&g, "iam_role.drift_job_schedule")["assume_role_policy"], "Statement")
            .as_list()
            .unwrap()
            .iter()
            .any(|s| get(get(s, "Principal"), "Service") == &Value::str("scheduler.amazonaws.com")));

        // The job's task role reads, locks state, puts the metric; it writes nothing else.
        let st = statements(&props(&g, "iam_role.drift_job_task"), "drift");
        let actions: Vec<String> = st
            .iter()
            .flat_map(|s| {
                get(s, "Action").as_list().unwrap().iter().filter_map(Value::as_str).map(String::from)
            })
            .collect();
        let writes: Vec<&String> = actions
            .iter()
            .filter(|a| {
                let verb = a.split(':').nth(1).unwrap_or_default();
                !(verb.starts_with("Describe")
                    || verb.starts_with("List")
                    || verb.starts_with("Get")
                    || verb == "Decrypt")
            })
            .collect();
        assert_eq!(
            writes,
            ["s3:PutObject", "s3:DeleteObject", "cloudwatch:PutMetricData"].iter().collect::<Vec<_>>(),
            "{actions:?}"
        );
        assert_eq!(
            get(sid(&st, "LockState"), "Resource"),
            &Value::str("arn:aws:s3:::acme-hactl-state/hactl/ha-demo/us-east-1/state.json.lock")
        );
        // The ECR image is pulled by the execution role, from its repository only.
        let st = statements(&props(&g, "iam_role.drift_job_execution"), "execution");
        assert_eq!(
            get(sid(&st, "PullImage"), "Resource"),
            &Value::str("arn:aws:ecr:us-east-1:123456789012:repository/hactl")
        );
        // Egress only.
        assert_eq!(props(&g, "sg_rules.drift_job")["ingress"], Value::List(Vec::new()));
    }

    #[test]
    fn service_trust_names_the_account_and_the_drift_job_reads_no_password() {
        let g = graph("ha-stack.toml", true);
        let trust = |role: &str| {
            let p = props(&g, role);
            get(&p["assume_role_policy"], "Statement").as_list().unwrap()[0].clone()
        };
        let account = Value::str("123456789012");
        let s = trust("iam_role.drift_job_schedule");
        let cond = get(&s, "Condition");
        assert_eq!(get(get(cond, "StringEquals"), "aws:SourceAccount"), &account);
        assert_eq!(
            get(get(cond, "ArnLike"), "aws:SourceArn"),
            &Value::str("arn:aws:scheduler:us-east-1:123456789012:schedule-group/hactl-ha-demo")
        );
        for role in ["iam_role.execution", "iam_role.drift_job_task", "iam_role.drift_job_execution"] {
            let s = trust(role);
            assert_eq!(
                get(get(get(&s, "Condition"), "StringEquals"), "aws:SourceAccount"),
                &account,
                "{role}"
            );
        }
        let s = trust("iam_role.instance");
        assert_eq!(get(get(get(&s, "Condition"), "StringEqualsIfExists"), "aws:SourceAccount"), &account);

        let st = statements(&props(&g, "iam_role.drift_job_task"), "drift");
        let text = Value::List(st.clone()).to_json().to_string();
        assert!(!text.contains("GetAccountAuthorizationDetails"), "{text}");
        let connection = Address::parse("secret.db_connection").unwrap();
        assert_eq!(get(sid(&st, "ReadDbConnection"), "Resource"), &Value::Ref(Ref::new(&connection, "arn")));
        let readers: Vec<&Value> = st
            .iter()
            .filter(|s| {
                get(s, "Action").as_list().unwrap().contains(&Value::str("secretsmanager:GetSecretValue"))
            })
            .collect();
        assert_eq!(readers.len(), 1, "{text}");
        assert!(!text.contains("\"secret.db\""), "{text}");
        assert_eq!(
            get(sid(&st, "ReadStackIam"), "Resource"),
            &Value::from_strings([
                "arn:aws:iam::123456789012:role/hactl/ha-demo/us-east-1/*",
                "arn:aws:iam::123456789012:instance-profile/hactl/ha-demo/us-east-1/*",
                "arn:aws:iam::123456789012:policy/hactl/ha-demo/us-east-1/*",
            ])
        );
        // Wildcards only in the two `*` statements, never in an action name.
        assert!(st.iter().all(|s| get(s, "Action")
            .as_list()
            .unwrap()
            .iter()
            .all(|a| !a.as_str().unwrap().contains('*'))));
    }

    #[test]
    fn the_unscoped_reads_are_the_kinds_reads() {
        let (unscoped, wide) = (super::read_unscoped(), super::read_account_wide());
        // An action either takes no resource-level permission or it does: never both.
        assert!(unscoped.iter().all(|a| !wide.contains(a)), "{unscoped:?} {wide:?}");
        for k in hactl_core::kinds::all() {
            assert!(k.reads.iter().all(|a| unscoped.contains(a)), "{}", k.schema.kind);
            assert!(k.reads_account_wide.iter().all(|a| wide.contains(a)), "{}", k.schema.kind);
        }
        let st = statements(&props(&graph("ha-stack.toml", true), "iam_role.drift_job_task"), "drift");
        assert_eq!(get(sid(&st, "ReadUnscoped"), "Action"), &Value::from_strings(unscoped));
        assert_eq!(get(sid(&st, "ReadAccountWide"), "Action"), &Value::from_strings(wide));
    }

    #[test]
    fn the_job_may_read_the_vpc_attributes_of_both_regions() {
        let vpc = |a: &str| Value::Ref(Ref::new(&Address::parse(a).unwrap(), "id"));
        let arn = |region: &str, a: &str| {
            Value::concat([Value::str(format!("arn:aws:ec2:{region}:123456789012:vpc/")), vpc(a)])
        };
        let st = statements(&props(&graph("two-region.toml", true), "iam_role.drift_job_task"), "drift");
        assert_eq!(
            get(sid(&st, "ReadStackVpc"), "Resource"),
            &Value::List(vec![arn("us-east-1", "vpc.main"), arn("us-west-2", "dr.vpc.main")])
        );
        let st = statements(&props(&graph("ha-stack.toml", true), "iam_role.drift_job_task"), "drift");
        assert_eq!(get(sid(&st, "ReadStackVpc"), "Resource"), &arn("us-east-1", "vpc.main"));
    }

    #[test]
    fn offline_expansion_writes_a_placeholder_account() {
        let file = format!("{}/../../config/ha-stack.toml", env!("CARGO_MANIFEST_DIR"));
        let cfg = crate::parse("ha-stack.toml", &std::fs::read_to_string(file).unwrap()).unwrap();
        let g = expand(&cfg, &crate::expand::ExpandEnv::offline()).unwrap();
        let text = props(&g, "iam_role.execution")["assume_role_policy"].to_json().to_string();
        assert!(text.contains(crate::expand::OFFLINE_ACCOUNT), "{text}");
        assert_eq!(g.len(), graph("ha-stack.toml", false).len());
    }
}
