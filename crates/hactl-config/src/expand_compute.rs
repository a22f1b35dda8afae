//! Expansion of the compute and traffic tier: IAM roles, log groups, the ECS cluster and
//! its capacity (launch template, Auto Scaling group, capacity provider; or Fargate), the
//! public and internal load balancers with target groups and listeners, task definitions,
//! services and their auto scaling. Property shapes are the contract in
//! crates/hactl-aws/KINDS-compute.md.

use crate::expand::{
    id, out, partition, short_name, ExpandError, Expander, NetworkRefs, INTERNAL_LISTENER_PORT,
};
use crate::expand_data::{DataRefs, SECRET_VARIABLES};
use crate::model::{AutoscalingConfig, LaunchType, ServiceConfig, StackConfig, Tier};
use hactl_core::kinds::{acm, appautoscaling, autoscaling, ec2, ecs, elbv2, iam, logs, route53, Typed};
use hactl_core::{Address, Value};
use std::collections::BTreeMap;

/// The SSM parameter of the current ECS-optimised Amazon Linux 2023 AMI.
pub const ECS_AMI_PARAMETER: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

pub(crate) fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

pub(crate) fn strs(items: &[&str]) -> Value {
    Value::from_strings(items.iter().copied())
}

fn int(n: u32) -> Value {
    Value::Int(i64::from(n))
}

/// An IAM policy document.
pub(crate) fn policy(statements: Vec<Value>) -> Value {
    map(vec![("Version", Value::str("2012-10-17")), ("Statement", Value::List(statements))])
}

pub(crate) fn statement(sid: &str, actions: &[&str], resources: Value) -> Value {
    map(vec![
        ("Sid", Value::str(sid)),
        ("Effect", Value::str("Allow")),
        ("Action", strs(actions)),
        ("Resource", resources),
    ])
}

/// The trust policy of a role that `service` assumes, on behalf of this account only
/// (confused-deputy guard): `aws:SourceAccount` is the stack's account, and
/// `aws:SourceArn`, when given, the ARN (pattern) of the resource the service acts for.
///
/// EC2 (`ec2.amazonaws.com`, instance profiles) does not put `aws:SourceAccount` into the
/// request context when it assumes an instance role: a plain `StringEquals` would lock
/// every instance out of its credentials. Its condition is `StringEqualsIfExists` (a
/// request that does carry the key must name this account).
pub(crate) fn assume_role(service: &str, account: &str, source_arn: Option<Value>) -> Value {
    // EC2 and Lambda assume an instance's or a function's role without naming the
    // source account, and ECS's infrastructure role (blue/green) is not documented to
    // name it: the condition holds where the key is present.
    let operator = if matches!(service, "ec2.amazonaws.com" | "lambda.amazonaws.com" | "ecs.amazonaws.com") {
        "StringEqualsIfExists"
    } else {
        "StringEquals"
    };
    let mut condition = vec![(operator, map(vec![("aws:SourceAccount", Value::str(account))]))];
    if let Some(arn) = source_arn {
        condition.push(("ArnLike", map(vec![("aws:SourceArn", arn)])));
    }
    policy(vec![map(vec![
        ("Effect", Value::str("Allow")),
        ("Principal", map(vec![("Service", Value::str(service))])),
        ("Action", Value::str("sts:AssumeRole")),
        ("Condition", map(condition)),
    ])])
}

/// The key ARN a `kms:Decrypt` grant names for `kms_key_id`: a key ARN as written, else
/// (a key id, alias or alias ARN: the key's own ARN is not known offline) every key of the
/// account in the region. The grant is also limited to Secrets Manager (`kms:ViaService`).
pub(crate) fn kms_key_arn(key: &str, region: &str, account: &str) -> String {
    if key.starts_with("arn:") && key.contains(":key/") {
        key.to_string()
    } else {
        format!("arn:{}:kms:{region}:{account}:key/*", partition(region))
    }
}

/// The host name an internal service answers on: `<service>.<internal_domain>` (the
/// private zone resolves it to the internal load balancer, whose rule for this host
/// forwards to the service).
pub fn internal_host(cfg: &StackConfig, service: &str) -> String {
    format!("{service}.{}", cfg.load_balancer.internal_domain)
}

/// The highest listener rule priority ELBv2 takes (1 to 50,000).
const MAX_RULE_PRIORITY: u32 = 50_000;

/// Each internal service's rule priority: from a stable hash of its name, the next free
/// one on a collision (names taken in sorted order). Host names never overlap, so the
/// order of the rules routes nothing; a priority tied to the name means adding, removing
/// or reordering services leaves the other rules as they are (numbering them 1, 2, ...
/// in config order would move every rule after an inserted one).
fn rule_priorities<'n>(names: &[&'n str]) -> BTreeMap<&'n str, u32> {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let mut taken = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for name in sorted {
        let mut p = crate::expand::fnv1a(name) % MAX_RULE_PRIORITY + 1;
        while !taken.insert(p) {
            p = p % MAX_RULE_PRIORITY + 1;
        }
        out.insert(name, p);
    }
    out
}

/// `frontend` → `FRONTEND_URL`.
pub fn url_variable(service: &str) -> String {
    format!("{}_URL", service.to_ascii_uppercase().replace('-', "_"))
}

/// The private ECR repository ARN of an image (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`),
/// or `None` for a public image.
pub(crate) fn ecr_repository_arn(image: &str) -> Option<String> {
    let (registry, rest) = image.split_once('/')?;
    let mut parts = registry.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    let repo = rest.split(['@', ':']).next()?;
    Some(format!("arn:{}:ecr:{region}:{account}:repository/{repo}", partition(region)))
}

/// The names the IAM and ECS resources of the stack share.
#[derive(Clone)]
pub(crate) struct Scope {
    pub stack: String,
    /// IAM is global: names and path carry the region too, so the same stack name in
    /// two regions (a DR pair) never shares or adopts the other's roles.
    pub region: String,
    pub account: String,
    pub iam_path: String,
}

/// What the services need from the cluster section.
struct ClusterRefs<'a> {
    cluster: Address,
    /// Each service's log group, by service name.
    log_groups: BTreeMap<&'a str, Address>,
    /// The EC2 capacity; `None` on Fargate.
    capacity: Option<CapacityRefs>,
    /// On Fargate with Spot services: FARGATE and FARGATE_SPOT attached to the cluster.
    fargate_providers: Option<Address>,
}

/// The EC2 capacity the services run on.
struct CapacityRefs {
    /// The capacity provider the services' strategy names.
    provider: Address,
    /// Its attachment to the cluster as the default strategy (services wait for it).
    attachment: Address,
}

/// The roles the task definitions name.
struct RoleRefs<'a> {
    execution: Address,
    /// Each service's task role, by service name.
    tasks: BTreeMap<&'a str, Address>,
}

/// What the services need from the load balancer section.
struct AlbRefs<'a> {
    /// Each service's target group, by service name.
    target_groups: BTreeMap<&'a str, Address>,
    /// The listener (public service) or listener rule (internal service) each service's
    /// traffic arrives through (its service waits for it).
    listeners: BTreeMap<&'a str, Address>,
    /// The public service's name and the public load balancer.
    public: Option<(&'a str, Address)>,
    /// Blue/green services: their green target group and production and test rules.
    blue_green: BTreeMap<&'a str, BlueGreenRefs>,
    /// The role ECS shifts the rules' weights with (any blue/green service).
    lb_role: Option<Address>,
}

/// A blue/green service's second target group and the rules ECS shifts.
pub(crate) struct BlueGreenRefs {
    pub green: Address,
    pub production: Address,
    pub test: Address,
}

/// The internal services' rules (by service) and the blue/green ones' extra resources.
type InternalRules<'a> = (BTreeMap<&'a str, Address>, BTreeMap<&'a str, BlueGreenRefs>);

/// Everything the services' sections take from the sections before them.
struct ComputeRefs<'a, 'r> {
    scope: Scope,
    net: &'r NetworkRefs,
    data: Option<&'r DataRefs>,
    /// The database variables every container gets.
    secrets: Value,
    cluster: ClusterRefs<'a>,
    roles: RoleRefs<'a>,
    albs: AlbRefs<'a>,
}

/// kms:Decrypt on the database's customer key, through Secrets Manager only (reading the
/// secrets it encrypts).
pub(crate) fn decrypt_via_secrets_manager(key: &str, scope: &Scope) -> Value {
    let region = &scope.region;
    let s =
        statement("DecryptDbSecret", &["kms:Decrypt"], Value::str(kms_key_arn(key, region, &scope.account)));
    crate::expand_drift::with_condition(
        s,
        "StringEquals",
        "kms:ViaService",
        Value::str(format!("secretsmanager.{region}.amazonaws.com")),
    )
}

/// Every container gets the database credentials from the secret at start
/// (`secrets[].valueFrom` = `<secret ARN>:<json key>::`), sorted by name. The password
/// comes from the credentials secret, the other fields from the connection secret
/// (expand_data.rs).
fn container_secrets(data: Option<&DataRefs>) -> Value {
    let Some(d) = data else { return Value::List(Vec::new()) };
    let mut vars = SECRET_VARIABLES.to_vec();
    vars.sort_by_key(|(var, _, _)| *var);
    Value::List(
        vars.iter()
            .map(|(var, key, source)| {
                map(vec![
                    ("name", Value::str(*var)),
                    (
                        "value_from",
                        Value::concat([d.arn_of(*source).clone(), Value::str(format!(":{key}::"))]),
                    ),
                ])
            })
            .collect(),
    )
}

/// The policy of the ECS agent on the container instances.
fn agent_policy(cluster: &Address) -> Value {
    policy(vec![
        // These actions take the cluster's ARN.
        statement(
            "ClusterMembership",
            &[
                "ecs:RegisterContainerInstance",
                "ecs:DeregisterContainerInstance",
                "ecs:SubmitContainerStateChange",
                "ecs:SubmitTaskStateChange",
                "ecs:SubmitAttachmentStateChanges",
            ],
            Value::List(vec![out(cluster, "arn")]),
        ),
        // These take container-instance ARNs (`container-instance/<cluster>/*`):
        // draining (UpdateContainerInstancesState) included. `ecs:PutSystemLogEvents`
        // is in AWS's Service Authorization Reference (ECS, Write, resource
        // container-instance): the agent sends its system logs with it. Linters whose
        // bundled action list predates it (parliament 1.6.4) call it unknown;
        // tests/policy_lint.rs lists that exception.
        statement(
            "AgentSession",
            &[
                "ecs:Poll",
                "ecs:StartTelemetrySession",
                "ecs:PutSystemLogEvents",
                "ecs:UpdateContainerInstancesState",
            ],
            Value::List(vec![out(cluster, "container_instances_arn")]),
        ),
        // DiscoverPollEndpoint has no resource-level permission: `*` is the only form.
        statement("DiscoverEndpoint", &["ecs:DiscoverPollEndpoint"], Value::str("*")),
    ])
}

fn forward(tg: &Address) -> Value {
    map(vec![("type", Value::str("forward")), ("target_group_arn", out(tg, "arn"))])
}

/// The container's health check: the configured command, or a probe of the health check
/// path with wget or curl.
fn health_command(s: &ServiceConfig) -> Value {
    match &s.container_health_check {
        Some(cmd) => Value::from_strings(cmd.clone()),
        None => {
            let url = format!("http://localhost:{}{}", s.port, s.health_check_path);
            Value::from_strings([
                "CMD-SHELL".to_string(),
                format!("wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1"),
            ])
        }
    }
}

impl<'a> Expander<'a> {
    pub(crate) fn compute_tier(
        &mut self,
        net: &NetworkRefs,
        data: Option<&DataRefs>,
    ) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        if cfg.services.is_empty() {
            return Ok(());
        }
        let scope = self.scope();
        let log_groups = self.service_log_groups(&scope)?;
        let cluster = self.ecs_cluster(&scope)?;
        let roles = RoleRefs {
            execution: self.execution_role(&scope, &log_groups, data)?,
            tasks: self.task_roles(&scope)?,
        };
        let capacity = match cfg.compute.launch_type {
            LaunchType::Ec2 => Some(self.ec2_capacity(&scope, net, &cluster)?),
            LaunchType::Fargate => None,
        };
        let fargate_providers = match cfg.compute.launch_type {
            LaunchType::Ec2 => None,
            LaunchType::Fargate => self.fargate_capacity_providers(&cluster)?,
        };
        let cluster = ClusterRefs { cluster, log_groups, capacity, fargate_providers };
        let albs = self.load_balancers(&scope, net)?;
        let refs = ComputeRefs { scope, net, data, secrets: container_secrets(data), cluster, roles, albs };
        for s in &cfg.services {
            let td = self.task_definition(s, &refs)?;
            let svc = self.ecs_service(s, &refs, &td)?;
            if let Some(auto) = &s.autoscaling {
                self.service_autoscaling(s, auto, &refs, &svc)?;
            }
        }
        Ok(())
    }

    /// The service's task count in the region being expanded: its `desired_count`, or in
    /// the region standing by its standby count (`[dr.desired_counts]`).
    fn desired_count(&self, s: &ServiceConfig) -> u32 {
        match &self.cfg.dr {
            Some(dr) if self.standby() => dr.standby_count(&s.name, s.desired_count),
            _ => s.desired_count,
        }
    }

    pub(crate) fn scope(&self) -> Scope {
        let stack = self.cfg.stack.name.clone();
        let region = self.region().to_string();
        let iam_path = format!("/hactl/{stack}/{region}/");
        Scope { stack, region, account: self.env.account_id().to_string(), iam_path }
    }

    /// Log groups, one per service.
    fn service_log_groups(&mut self, scope: &Scope) -> Result<BTreeMap<&'a str, Address>, ExpandError> {
        let cfg = self.cfg;
        let mut log_groups = BTreeMap::new();
        for s in &cfg.services {
            let a = self.addr(&["log_group", &s.name])?;
            let name = format!("/hactl/{}/{}", scope.stack, s.name);
            let spec = self
                .tagged(logs::LogGroup::new(a.clone()), &name)
                .name(name.as_str())
                .retention_days(int(s.log_retention_days));
            self.push(spec);
            log_groups.insert(s.name.as_str(), a);
        }
        Ok(log_groups)
    }

    fn ecs_cluster(&mut self, scope: &Scope) -> Result<Address, ExpandError> {
        let cluster = self.addr(&["ecs_cluster", "main"])?;
        let insights = if self.cfg.compute.container_insights { "enabled" } else { "disabled" };
        let spec = self
            .tagged(ecs::Cluster::new(cluster.clone()), &scope.stack)
            .name(scope.stack.as_str())
            .container_insights(insights);
        self.push(spec);
        Ok(cluster)
    }

    /// Task execution role: pull images, write to this stack's log groups, read the
    /// database variables.
    fn execution_role(
        &mut self,
        scope: &Scope,
        log_groups: &BTreeMap<&str, Address>,
        data: Option<&DataRefs>,
    ) -> Result<Address, ExpandError> {
        let cfg = self.cfg;
        let Scope { stack, region, account, iam_path } = scope;
        let mut exec_statements = vec![statement(
            "WriteLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            Value::List(
                log_groups
                    .values()
                    .map(|lg| Value::concat([out(lg, "arn"), Value::str(":log-stream:*")]))
                    .collect(),
            ),
        )];
        let mut repos: Vec<String> =
            cfg.services.iter().filter_map(|s| ecr_repository_arn(&self.image(s))).collect();
        repos.sort();
        repos.dedup();
        if !repos.is_empty() {
            exec_statements.push(statement("EcrLogin", &["ecr:GetAuthorizationToken"], Value::str("*")));
            exec_statements.push(statement(
                "PullImages",
                &["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                Value::from_strings(repos),
            ));
        }
        if let Some(d) = data {
            exec_statements.extend(self.secret_statements(scope, d));
        }
        let execution_role = self.addr(&["iam_role", "execution"])?;
        let role_name = short_name(&format!("{stack}-{region}-execution"), 64);
        let spec = self
            .tagged(iam::Role::new(execution_role.clone()), &role_name)
            .name(role_name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: ECS task execution (image pull, logs)"))
            .assume_role_policy(assume_role("ecs-tasks.amazonaws.com", account, None))
            .inline_policies(map(vec![("execution", policy(exec_statements))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(execution_role)
    }

    /// The database variables: this stack's two secrets and nothing else (plus the
    /// customer-managed key that encrypts the credentials, through Secrets Manager only).
    fn secret_statements(&self, scope: &Scope, d: &DataRefs) -> Vec<Value> {
        let mut statements = vec![statement(
            "ReadDbSecret",
            &["secretsmanager:GetSecretValue"],
            Value::List(vec![d.secret_arn.clone(), d.connection_arn.clone()]),
        )];
        // A replica in the DR region is encrypted with that region's AWS managed key.
        let key =
            self.cfg.database.as_ref().and_then(|db| db.kms_key_id.as_deref()).filter(|_| self.dr.is_none());
        if let Some(key) = key {
            statements.push(decrypt_via_secrets_manager(key, scope));
        }
        statements
    }

    /// A task role per service: no permissions unless the config grants some.
    fn task_roles(&mut self, scope: &Scope) -> Result<BTreeMap<&'a str, Address>, ExpandError> {
        let cfg = self.cfg;
        let Scope { stack, region, account, iam_path } = scope;
        let mut task_roles = BTreeMap::new();
        for s in &cfg.services {
            let a = self.addr(&["iam_role", "task", &s.name])?;
            let role_name = short_name(&format!("{stack}-{region}-task-{}", s.name), 64);
            let mut inline = Vec::new();
            if let Some(connect) = self.proxy_connect_statement(scope) {
                inline.push(("db-connect", policy(vec![connect])));
            }
            if !s.task_role_statements.is_empty() {
                let statements = s
                    .task_role_statements
                    .iter()
                    .map(|st| {
                        map(vec![
                            ("Effect", Value::str(&st.effect)),
                            ("Action", Value::from_strings(st.actions.clone())),
                            ("Resource", Value::from_strings(st.resources.clone())),
                        ])
                    })
                    .collect();
                inline.push(("task", policy(statements)));
            }
            let spec = self
                .tagged(iam::Role::new(a.clone()), &role_name)
                .name(role_name.as_str())
                .path(iam_path.as_str())
                .description(format!("hactl {stack}: task role of {}", s.name))
                .assume_role_policy(assume_role("ecs-tasks.amazonaws.com", account, None))
                .inline_policies(map(inline))
                .managed_policy_arns(Value::List(Vec::new()));
            self.push(spec);
            task_roles.insert(s.name.as_str(), a);
        }
        Ok(task_roles)
    }

    /// EC2 capacity: instance role and profile, launch template, Auto Scaling group,
    /// capacity provider attached as the cluster's default strategy.
    fn ec2_capacity(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        cluster: &Address,
    ) -> Result<CapacityRefs, ExpandError> {
        let profile = self.instance_profile(scope, cluster)?;
        let lt = self.launch_template(scope, net, cluster, &profile)?;
        let asg = self.ecs_auto_scaling_group(scope, net, &lt)?;
        self.capacity_provider(scope, cluster, &asg)
    }

    /// The container instances' role and instance profile.
    fn instance_profile(&mut self, scope: &Scope, cluster: &Address) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let role = self.addr(&["iam_role", "instance"])?;
        let role_name = short_name(&format!("{stack}-{region}-instance"), 64);
        let spec = self
            .tagged(iam::Role::new(role.clone()), &role_name)
            .name(role_name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: ECS container instances"))
            .assume_role_policy(assume_role("ec2.amazonaws.com", account, None))
            .inline_policies(map(vec![("ecs-agent", agent_policy(cluster))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        let profile = self.addr(&["iam_instance_profile", "instance"])?;
        let spec = self
            .tagged(iam::InstanceProfile::new(profile.clone()), &role_name)
            .name(role_name.as_str())
            .path(iam_path.as_str())
            .role_name(out(&role, "name"));
        self.push(spec);
        Ok(profile)
    }

    fn launch_template(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        cluster: &Address,
        profile: &Address,
    ) -> Result<Address, ExpandError> {
        let compute = &self.cfg.compute;
        let stack = &scope.stack;
        let lt = self.addr(&["launch_template", "ecs"])?;
        let lt_name = self.name(&["ecs"]);
        let image = match &compute.ami {
            Some(ami) => ami.clone(),
            None => format!("resolve:ssm:{ECS_AMI_PARAMETER}"),
        };
        // On Spot instances the agent drains the tasks when AWS gives its 2-minute notice.
        let spot_draining =
            if compute.spot.is_some() { "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\n" } else { "" };
        let user_data = format!(
            "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={stack}\n\
             ECS_ENABLE_TASK_IAM_ROLE=true\nECS_AWSVPC_BLOCK_IMDS=true\nECS_ENABLE_CONTAINER_METADATA=true\n{spot_draining}EOF\n"
        );
        let spec = self
            .tagged(ec2::LaunchTemplate::new(lt.clone()), &lt_name)
            .name(lt_name.as_str())
            .image_id(image)
            .instance_type(compute.instance_type.as_str())
            .instance_profile_arn(out(profile, "arn"))
            .security_group_ids(Value::List(vec![id(&net.groups[&Tier::App])]))
            .user_data(user_data)
            .metadata_options(map(vec![
                ("http_tokens", Value::str("required")),
                ("http_put_response_hop_limit", Value::Int(2)),
                ("http_endpoint", Value::str("enabled")),
            ]))
            .associate_public_ip_address(false)
            .root_volume(map(vec![
                ("device_name", Value::str(compute.root_device_name.as_str())),
                ("volume_size", int(compute.root_volume_size)),
                ("volume_type", Value::str("gp3")),
                ("encrypted", Value::Bool(true)),
            ]))
            .after(cluster);
        self.push(spec);
        Ok(lt)
    }

    fn ecs_auto_scaling_group(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        lt: &Address,
    ) -> Result<Address, ExpandError> {
        let cfg = self.cfg;
        let asg = self.addr(&["asg", "ecs"])?;
        let asg_name = self.name(&["ecs"]);
        let mut tags = self.tags(&asg, &format!("{}-ecs-instance", scope.stack));
        if let Value::Map(t) = &mut tags {
            t.insert("AmazonECSManaged".into(), Value::str(""));
        }
        let mut spec = autoscaling::Group::new(asg.clone())
            .tags(tags)
            .name(asg_name.as_str())
            .launch_template_id(id(lt))
            .launch_template_version("$Latest")
            .min_size(int(cfg.compute.min_size))
            .max_size(int(cfg.compute.max_size))
            .desired_capacity(int(cfg.compute.desired_capacity))
            .subnet_ids(net.subnet_ids("app"))
            .health_check_type("ELB")
            .health_check_grace_period(Value::Int(300))
            .protect_from_scale_in(true)
            .mixed_instances(crate::expand_levers::mixed_instances(&cfg.compute))
            .capacity_rebalance(cfg.compute.spot.as_ref().is_some_and(|s| s.capacity_rebalance))
            .scheduled_sizes(crate::expand_levers::scheduled_pairs(self.group_schedules()));
        for r in &net.private_routes {
            spec = spec.after(r);
        }
        self.push(spec);
        self.group_schedule(&asg, &asg_name)?;
        Ok(asg)
    }

    /// The Auto Scaling group's capacity provider, the cluster's default strategy.
    fn capacity_provider(
        &mut self,
        scope: &Scope,
        cluster: &Address,
        asg: &Address,
    ) -> Result<CapacityRefs, ExpandError> {
        let cp = self.addr(&["capacity_provider", "asg"])?;
        // Capacity provider names may not start with "aws", "ecs" or "fargate".
        let cp_name = short_name(&format!("cp-{}", scope.stack), 255);
        let spec = self
            .tagged(ecs::CapacityProvider::new(cp.clone()), &cp_name)
            .name(cp_name.as_str())
            .auto_scaling_group_arn(out(asg, "arn"))
            .managed_scaling(map(vec![
                ("status", Value::str("ENABLED")),
                ("target_capacity", Value::Int(100)),
                ("minimum_scaling_step_size", Value::Int(1)),
                ("maximum_scaling_step_size", Value::Int(10)),
            ]))
            .managed_termination_protection("ENABLED");
        self.push(spec);

        let ccp = self.addr(&["cluster_capacity_providers", "main"])?;
        self.push(
            ecs::ClusterCapacityProviders::new(ccp.clone())
                .cluster(out(cluster, "name"))
                .capacity_providers(Value::List(vec![out(&cp, "name")]))
                .default_strategy(Value::List(vec![map(vec![
                    ("capacity_provider", out(&cp, "name")),
                    ("weight", Value::Int(1)),
                    ("base", Value::Int(0)),
                ])])),
        );
        Ok(CapacityRefs { provider: cp, attachment: ccp })
    }

    /// Load balancers, target groups, listeners.
    fn load_balancers(&mut self, scope: &Scope, net: &NetworkRefs) -> Result<AlbRefs<'a>, ExpandError> {
        let cfg = self.cfg;
        let target_groups = self.target_groups(scope, net)?;
        let greens = self.green_target_groups(scope, net)?;
        let mut blue_green = BTreeMap::new();
        let mut listeners = BTreeMap::new();
        let public = match cfg.services.iter().find(|s| s.public) {
            Some(front) => {
                let tg = &target_groups[front.name.as_str()];
                let (alb, listener) = self.public_alb(scope, net, tg)?;
                if let Some(green) = greens.get(front.name.as_str()) {
                    let refs = self.public_blue_green_rules(&front.name, &listener, tg, green)?;
                    blue_green.insert(front.name.as_str(), refs);
                }
                listeners.insert(front.name.as_str(), listener);
                Some((front.name.as_str(), alb))
            }
            None => None,
        };
        let internal = self.addr(&["alb", "internal"])?;
        if let Some(group) = &net.internal_alb_group {
            let (rules, bg) = self.internal_alb(scope, net, group, &internal, &target_groups, &greens)?;
            listeners.extend(rules);
            blue_green.extend(bg);
        }
        let lb_role = if blue_green.is_empty() { None } else { Some(self.ecs_load_balancer_role(scope)?) };
        Ok(AlbRefs { target_groups, listeners, public, blue_green, lb_role })
    }

    fn target_groups(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
    ) -> Result<BTreeMap<&'a str, Address>, ExpandError> {
        let cfg = self.cfg;
        let mut target_groups = BTreeMap::new();
        for s in &cfg.services {
            let a = self.addr(&["target_group", &s.name])?;
            let name = short_name(&format!("{}-{}", scope.stack, s.name), 32);
            self.target_group(s, &a, &name, net);
            target_groups.insert(s.name.as_str(), a);
        }
        Ok(target_groups)
    }

    /// The green target group of each blue/green service (`<stack>-<service>-g`), set up
    /// as the blue one.
    fn green_target_groups(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
    ) -> Result<BTreeMap<&'a str, Address>, ExpandError> {
        let cfg = self.cfg;
        let mut greens = BTreeMap::new();
        for s in cfg.services.iter().filter(|s| s.blue_green.is_some()) {
            let a = self.addr(&["target_group", &s.name, "green"])?;
            let name = short_name(&format!("{}-{}-g", scope.stack, s.name), 32);
            self.target_group(s, &a, &name, net);
            greens.insert(s.name.as_str(), a);
        }
        Ok(greens)
    }

    /// A service's target group: IP targets on its port, its health check and drain time.
    fn target_group(&mut self, s: &ServiceConfig, a: &Address, name: &str, net: &NetworkRefs) {
        let spec = self
            .tagged(elbv2::TargetGroup::new(a.clone()), name)
            .name(name)
            .port(int(u32::from(s.port)))
            .protocol("HTTP")
            .vpc_id(id(&net.vpc))
            .target_type("ip")
            .health_check(map(vec![
                ("path", Value::str(&s.health_check_path)),
                ("port", Value::str("traffic-port")),
                ("protocol", Value::str("HTTP")),
                ("interval_seconds", int(s.health_check.interval)),
                ("timeout_seconds", int(s.health_check.timeout)),
                ("healthy_threshold", int(s.health_check.healthy_threshold)),
                ("unhealthy_threshold", int(s.health_check.unhealthy_threshold)),
                ("matcher", Value::str("200")),
            ]))
            .deregistration_delay(int(s.deregistration_delay));
        self.push(spec);
    }

    /// The public load balancer, forwarding to `tg`: returns it and the listener the
    /// traffic arrives through.
    fn public_alb(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        tg: &Address,
    ) -> Result<(Address, Address), ExpandError> {
        let cfg = self.cfg;
        let lb = &cfg.load_balancer;
        let alb = self.addr(&["alb", "public"])?;
        let name = short_name(&format!("{}-public", scope.stack), 32);
        let spec = self
            .tagged(elbv2::LoadBalancer::new(alb.clone()), &name)
            .name(name.as_str())
            .scheme("internet-facing")
            .subnet_ids(net.subnet_ids("public"))
            .security_group_ids(Value::List(vec![id(&net.groups[&Tier::Alb])]))
            .deletion_protection(lb.deletion_protection)
            .idle_timeout(int(lb.idle_timeout))
            // Header fields that are not valid HTTP never reach a target.
            .drop_invalid_header_fields(true)
            .after(&net.igw_attachment);
        self.push(spec);
        let listener = self.public_listeners(&name, &alb, tg)?;
        Ok((alb, listener))
    }

    /// :80 redirects to :443 with a certificate (imported self-signed unless the config
    /// names one), or forwards without HTTPS. Returns the forwarding listener.
    fn public_listeners(&mut self, name: &str, alb: &Address, tg: &Address) -> Result<Address, ExpandError> {
        let lb = &self.cfg.load_balancer;
        let http = self.addr(&["listener", "public", "http"])?;
        let http_spec = self
            .tagged(elbv2::Listener::new(http.clone()), &format!("{name}-http"))
            .load_balancer_arn(out(alb, "arn"))
            .port(Value::Int(80))
            .protocol("HTTP")
            .certificate_arn(Value::Null)
            .ssl_policy(Value::Null);
        if !lb.https {
            self.push(http_spec.default_action(forward(tg)));
            return Ok(http);
        }
        let certificate = match &lb.certificate_arn {
            Some(arn) => Value::str(arn),
            None => {
                let cert = self.addr(&["certificate", "main"])?;
                let spec = self
                    .tagged(acm::Certificate::new(cert.clone()), &lb.domain)
                    .domain_name(lb.domain.as_str())
                    .self_signed(true);
                self.push(spec);
                out(&cert, "arn")
            }
        };
        self.push(http_spec.default_action(map(vec![
            ("type", Value::str("redirect")),
            ("protocol", Value::str("HTTPS")),
            ("port", Value::str("443")),
            ("status_code", Value::str("HTTP_301")),
        ])));
        let https = self.addr(&["listener", "public", "https"])?;
        let spec = self
            .tagged(elbv2::Listener::new(https.clone()), &format!("{name}-https"))
            .load_balancer_arn(out(alb, "arn"))
            .port(Value::Int(443))
            .protocol("HTTPS")
            .certificate_arn(certificate)
            .ssl_policy(lb.ssl_policy.as_str())
            .default_action(forward(tg));
        self.push(spec);
        Ok(https)
    }

    /// The internal load balancer with one HTTP listener that every internal service shares:
    /// a host-header rule per service forwards `<service>.<internal_domain>` to its target
    /// group (any other host gets a 404), and the VPC's private zone of that domain answers
    /// every such name with the load balancer. Returns the rules by service name.
    fn internal_alb(
        &mut self,
        scope: &Scope,
        net: &NetworkRefs,
        group: &Address,
        internal_alb: &Address,
        target_groups: &BTreeMap<&'a str, Address>,
        greens: &BTreeMap<&'a str, Address>,
    ) -> Result<InternalRules<'a>, ExpandError> {
        let cfg = self.cfg;
        let lb = &cfg.load_balancer;
        let name = short_name(&format!("{}-internal", scope.stack), 32);
        let spec = self
            .tagged(elbv2::LoadBalancer::new(internal_alb.clone()), &name)
            .name(name.as_str())
            .scheme("internal")
            .subnet_ids(net.subnet_ids("app"))
            .security_group_ids(Value::List(vec![id(group)]))
            .deletion_protection(lb.deletion_protection)
            .idle_timeout(int(lb.idle_timeout))
            .drop_invalid_header_fields(true);
        self.push(spec);
        let listener = self.addr(&["listener", "internal", "http"])?;
        let spec = self
            .tagged(elbv2::Listener::new(listener.clone()), &format!("{name}-http"))
            .load_balancer_arn(out(internal_alb, "arn"))
            .port(int(u32::from(INTERNAL_LISTENER_PORT)))
            .protocol("HTTP")
            .certificate_arn(Value::Null)
            .ssl_policy(Value::Null)
            .default_action(map(vec![
                ("type", Value::str("fixed_response")),
                ("status_code", Value::str("404")),
                ("content_type", Value::str("text/plain")),
                ("message_body", Value::str("no internal service has this host name")),
            ]));
        self.push(spec);
        let record = self.internal_zone(net, internal_alb)?;
        let mut rules = BTreeMap::new();
        let mut blue_green = BTreeMap::new();
        // A blue/green service's test rule needs a priority of its own, ahead of its
        // production rule (both match the host; the test one also the test header).
        let tests: Vec<String> = cfg
            .services
            .iter()
            .filter(|s| !s.public && s.blue_green.is_some())
            .map(|s| format!("{}/test", s.name))
            .collect();
        let internal: Vec<&str> = cfg
            .services
            .iter()
            .filter(|s| !s.public)
            .map(|s| s.name.as_str())
            .chain(tests.iter().map(String::as_str))
            .collect();
        let priorities = rule_priorities(&internal);
        for s in cfg.services.iter().filter(|s| !s.public) {
            let rule = self.addr(&["listener_rule", &s.name])?;
            let blue = &target_groups[s.name.as_str()];
            let hosts = Value::List(vec![Value::str(internal_host(cfg, &s.name))]);
            let mut priority = priorities[s.name.as_str()];
            let mut action = forward(blue);
            if let Some(green) = greens.get(s.name.as_str()) {
                // The lower of the two numbers goes to the test rule (evaluated first).
                let other = priorities[format!("{}/test", s.name).as_str()];
                let test_priority = priority.min(other);
                priority = priority.max(other);
                action = crate::expand_levers::ecs_weighted(blue, green);
                let test = self.addr(&["listener_rule", &s.name, "test"])?;
                let spec = self
                    .tagged(elbv2::ListenerRule::new(test.clone()), &format!("{name}-{}-test", s.name))
                    .listener_arn(out(&listener, "arn"))
                    .priority(Value::Int(i64::from(test_priority)))
                    .host_headers(hosts.clone())
                    .path_patterns(Value::Null)
                    .http_header(crate::expand_levers::test_header())
                    .action(crate::expand_levers::ecs_weighted(blue, green))
                    .after(&record);
                self.push(spec);
                let refs = BlueGreenRefs { green: green.clone(), production: rule.clone(), test };
                blue_green.insert(s.name.as_str(), refs);
            }
            let spec = self
                .tagged(elbv2::ListenerRule::new(rule.clone()), &format!("{name}-{}", s.name))
                .listener_arn(out(&listener, "arn"))
                .priority(Value::Int(i64::from(priority)))
                .host_headers(hosts)
                .path_patterns(Value::Null)
                .http_header(Value::Null)
                .action(action)
                .after(&record);
            self.push(spec);
            rules.insert(s.name.as_str(), rule);
        }
        Ok((rules, blue_green))
    }

    /// The private zone `<internal_domain>` of the VPC and its wildcard alias record to the
    /// internal load balancer: one record however many services. Returns the record.
    fn internal_zone(&mut self, net: &NetworkRefs, internal_alb: &Address) -> Result<Address, ExpandError> {
        let domain = self.cfg.load_balancer.internal_domain.as_str();
        let zone = self.addr(&["dns_zone", "internal"])?;
        let spec = self
            .tagged(route53::HostedZone::new(zone.clone()), domain)
            .name(domain)
            .comment(format!("hactl stack {}: internal services", self.cfg.stack.name))
            .vpc_id(id(&net.vpc))
            .vpc_region(self.region());
        self.push(spec);
        let record = self.addr(&["dns_record", "internal"])?;
        self.push(
            route53::Record::new(record.clone())
                .zone_id(out(&zone, "id"))
                .name(format!("*.{domain}"))
                .record_type("A")
                .set_identifier(Value::Null)
                .failover(Value::Null)
                .alias_dns_name(out(internal_alb, "dns_name"))
                .alias_zone_id(out(internal_alb, "zone_id"))
                .evaluate_target_health(false)
                .health_check_id(Value::Null),
        );
        Ok(record)
    }

    /// The service's task definition: its one container.
    fn task_definition(
        &mut self,
        s: &ServiceConfig,
        refs: &ComputeRefs<'_, '_>,
    ) -> Result<Address, ExpandError> {
        let td = self.addr(&["task_definition", &s.name])?;
        let family = format!("{}-{}", refs.scope.stack, s.name);
        let compat = match self.cfg.compute.launch_type {
            LaunchType::Ec2 => "EC2",
            LaunchType::Fargate => "FARGATE",
        };
        let mut spec = self
            .tagged(ecs::TaskDefinition::new(td.clone()), &family)
            .family(family.as_str())
            .cpu(s.cpu.to_string())
            .memory(s.memory.to_string())
            .network_mode("awsvpc")
            .requires_compatibilities(strs(&[compat]))
            .execution_role_arn(out(&refs.roles.execution, "arn"))
            .task_role_arn(out(&refs.roles.tasks[s.name.as_str()], "arn"))
            .container(self.container(s, refs));
        // Tasks start once the secret names the database endpoint.
        if let Some(d) = refs.data {
            spec = spec.after(&d.fields);
        }
        if let Some(repo) = self.repository_address(s)? {
            spec = spec.after(&repo);
        }
        self.push(spec);
        Ok(td)
    }

    fn container(&self, s: &ServiceConfig, refs: &ComputeRefs<'_, '_>) -> Value {
        let cfg = self.cfg;
        let mut env: BTreeMap<String, Value> = BTreeMap::new();
        for dep in &s.depends_on {
            if let Some(d) = cfg.services.iter().find(|d| &d.name == dep && !d.public) {
                env.insert(
                    url_variable(&d.name),
                    Value::str(format!("http://{}", internal_host(cfg, &d.name))),
                );
            }
        }
        // With RDS Proxy: DB_HOST is the proxy's endpoint. The variable makes turning the
        // proxy on or off a new revision, so the services redeploy onto the new DB_HOST
        // (they read it from the connection secret only when they start).
        if refs.data.is_some()
            && cfg.database.as_ref().is_some_and(|d| d.proxy.is_some())
            && self.dr.is_none()
        {
            env.insert(crate::expand_levers::PROXY_VARIABLE.to_string(), Value::str("true"));
        }
        // Values written in the config win over generated ones.
        env.extend(s.environment.iter().map(|(k, v)| (k.clone(), Value::str(v))));
        map(vec![
            ("name", Value::str(&s.name)),
            ("image", Value::str(self.image(s))),
            ("port", int(u32::from(s.port))),
            ("environment", Value::Map(env)),
            ("secrets", refs.secrets.clone()),
            (
                "health_check",
                map(vec![
                    ("command", health_command(s)),
                    ("interval", Value::Int(30)),
                    ("timeout", Value::Int(5)),
                    ("retries", Value::Int(3)),
                    ("start_period", Value::Int(60)),
                ]),
            ),
            ("log_group", out(&refs.cluster.log_groups[s.name.as_str()], "name")),
            ("log_region", Value::str(&refs.scope.region)),
            ("log_stream_prefix", Value::str(&s.name)),
            ("essential", Value::Bool(true)),
        ])
    }

    /// The ECS service, behind its target group, started after its dependencies.
    fn ecs_service(
        &mut self,
        s: &ServiceConfig,
        refs: &ComputeRefs<'_, '_>,
        td: &Address,
    ) -> Result<Address, ExpandError> {
        let cfg = self.cfg;
        let net = refs.net;
        let svc = self.addr(&["ecs_service", &s.name])?;
        let tg = &refs.albs.target_groups[s.name.as_str()];
        // Under auto scaling the count is the initial one only: the scalable target owns it.
        let count = if s.autoscaling.is_some() {
            ecs::Service::INITIAL_DESIRED_COUNT
        } else {
            ecs::Service::DESIRED_COUNT
        };
        let mut spec = self
            .tagged(ecs::Service::new(svc.clone()), &s.name)
            .cluster(out(&refs.cluster.cluster, "name"))
            .name(s.name.as_str())
            .task_definition(out(td, "arn"))
            .set(count, int(self.desired_count(s)))
            .network(map(vec![
                ("subnets", net.subnet_ids("app")),
                ("security_groups", Value::List(vec![id(&net.groups[&Tier::App])])),
                ("assign_public_ip", Value::str("DISABLED")),
            ]))
            .load_balancers(Value::List(vec![self.service_load_balancer(s, tg, &refs.albs)]))
            .deployment(self.service_deployment(s)?)
            .health_check_grace_period(int(s.health_check_grace_period))
            .propagate_tags("SERVICE")
            .stable_timeout(int(cfg.compute.service_stable_timeout));
        spec = match &refs.cluster.capacity {
            Some(capacity) => spec
                .launch_type(Value::Null)
                .capacity_provider_strategy(Value::List(vec![map(vec![
                    ("capacity_provider", out(&capacity.provider, "name")),
                    ("weight", Value::Int(1)),
                    ("base", Value::Int(0)),
                ])]))
                .after(&capacity.attachment),
            None => match (&s.spot, &refs.cluster.fargate_providers) {
                (Some(spot), Some(providers)) => spec
                    .launch_type(Value::Null)
                    .capacity_provider_strategy(crate::expand_levers::fargate_spot_strategy(spot))
                    .after(providers),
                _ => spec.launch_type("FARGATE").capacity_provider_strategy(Value::Null),
            },
        };
        if let Some(l) = refs.albs.listeners.get(s.name.as_str()) {
            spec = spec.after(l);
        }
        if let Some(bg) = refs.albs.blue_green.get(s.name.as_str()) {
            spec = spec.after(&bg.production).after(&bg.test);
            for alarm in self.rollback_alarms(s)?.1 {
                spec = spec.after(&alarm);
            }
        }
        for dep in &s.depends_on {
            spec = spec.after(&self.addr(&["ecs_service", dep])?);
        }
        for r in &net.private_routes {
            spec = spec.after(r);
        }
        self.push(spec);
        Ok(svc)
    }

    /// The service's load balancer entry: its target group, and for blue/green the green
    /// group, the rules ECS shifts and the role it shifts them with.
    fn service_load_balancer(&self, s: &ServiceConfig, tg: &Address, albs: &AlbRefs<'_>) -> Value {
        let mut entry = vec![
            ("target_group_arn", out(tg, "arn")),
            ("container_name", Value::str(&s.name)),
            ("container_port", int(u32::from(s.port))),
        ];
        if let (Some(bg), Some(role)) = (albs.blue_green.get(s.name.as_str()), &albs.lb_role) {
            entry.push((
                "blue_green",
                map(vec![
                    ("alternate_target_group_arn", out(&bg.green, "arn")),
                    ("production_listener_rule", out(&bg.production, "arn")),
                    ("test_listener_rule", out(&bg.test, "arn")),
                    ("role_arn", out(role, "arn")),
                ]),
            ));
        }
        map(entry)
    }

    /// Rolling (100 % healthy, up to 200 %, the circuit breaker rolling back), or ECS's
    /// blue/green with its bake time and a rollback when an alarm of the service fires.
    fn service_deployment(&self, s: &ServiceConfig) -> Result<Value, ExpandError> {
        // The circuit breaker is the rolling strategy's (AWS takes it with rolling updates
        // only); a blue/green deployment rolls back on the alarms.
        let rolling = s.blue_green.is_none();
        let mut d = vec![
            ("minimum_healthy_percent", Value::Int(100)),
            ("maximum_percent", Value::Int(200)),
            ("circuit_breaker", Value::Bool(rolling)),
            ("rollback", Value::Bool(rolling)),
        ];
        if let Some(bg) = &s.blue_green {
            d.push(("strategy", Value::str("BLUE_GREEN")));
            d.push(("bake_time", int(bg.bake_time)));
            let names = self.rollback_alarms(s)?.0;
            d.push((
                "alarms",
                map(vec![("names", Value::from_strings(names)), ("rollback", Value::Bool(true))]),
            ));
        }
        Ok(map(d))
    }

    /// The alarms that roll a blue/green deployment back (names, addresses): the
    /// service's CPU and memory and its load balancer's 5xx, which follow the service
    /// whichever target group serves (expand_observability.rs makes them).
    fn rollback_alarms(&self, s: &ServiceConfig) -> Result<(Vec<String>, Vec<Address>), ExpandError> {
        let lb = if s.public { "public" } else { "internal" };
        let keys = [("ecs_cpu", s.name.as_str()), ("ecs_memory", s.name.as_str()), ("alb_5xx", lb)];
        let mut names = Vec::new();
        let mut addresses = Vec::new();
        for (key, subject) in keys {
            names.push(self.name(&[&key.replace('_', "-"), subject]));
            addresses.push(self.addr(&["alarm", key, subject])?);
        }
        Ok((names, addresses))
    }

    /// The service's scalable target and its target-tracking policies.
    fn service_autoscaling(
        &mut self,
        s: &ServiceConfig,
        auto: &AutoscalingConfig,
        refs: &ComputeRefs<'_, '_>,
        svc: &Address,
    ) -> Result<(), ExpandError> {
        let stack = &refs.scope.stack;
        let target = self.addr(&["scalable_target", &s.name])?;
        let resource_id = format!("service/{stack}/{}", s.name);
        // The region standing by keeps its standby counts: no schedule there.
        let schedule: &[crate::model::ScheduledCapacity] = if self.standby() { &[] } else { &auto.schedule };
        self.push(
            appautoscaling::Target::new(target.clone())
                .service_namespace("ecs")
                .resource_id(resource_id.as_str())
                .scalable_dimension("ecs:service:DesiredCount")
                .min_capacity(int(auto.min.min(self.desired_count(s))))
                .max_capacity(int(auto.max))
                .scheduled_capacities(crate::expand_levers::scheduled_pairs(schedule))
                .after(svc),
        );
        self.service_schedule(s, schedule, &resource_id, &target)?;
        let mut policies: Vec<(&str, &str, f64, Value)> = vec![
            ("cpu", "ECSServiceAverageCPUUtilization", auto.cpu_target, Value::Null),
            ("memory", "ECSServiceAverageMemoryUtilization", auto.memory_target, Value::Null),
        ];
        if let (Some(requests), Some((front, alb))) = (auto.requests_per_target, &refs.albs.public) {
            if *front == s.name {
                let tg = &refs.albs.target_groups[s.name.as_str()];
                let label = Value::concat([out(alb, "arn_suffix"), Value::str("/"), out(tg, "arn_suffix")]);
                policies.push(("requests", "ALBRequestCountPerTarget", f64::from(requests), label));
            }
        }
        for (key, metric, value, label) in policies {
            let name = format!("{stack}-{}-{key}", s.name);
            self.push(
                appautoscaling::Policy::new(self.addr(&["scaling_policy", &s.name, key])?)
                    .name(name.as_str())
                    .service_namespace("ecs")
                    .resource_id(resource_id.as_str())
                    .scalable_dimension("ecs:service:DesiredCount")
                    .predefined_metric(metric)
                    .target_value(value)
                    .scale_in_cooldown(Value::Int(300))
                    .scale_out_cooldown(Value::Int(60))
                    .resource_label(label)
                    .after(&target),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_priorities_are_unique_and_do_not_move_when_services_come_and_go() {
        let names: Vec<String> = (1..=100).map(|i| format!("svc{i:03}")).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let p = rule_priorities(&all);
        let distinct: std::collections::BTreeSet<u32> = p.values().copied().collect();
        assert_eq!(distinct.len(), 100, "unique on the listener");
        assert!(p.values().all(|v| (1..=MAX_RULE_PRIORITY).contains(v)));
        // One more service, in front: every other rule keeps its priority.
        let mut more = vec!["aaa-new"];
        more.extend(&all);
        let q = rule_priorities(&more);
        let moved: Vec<&&str> = all.iter().filter(|n| p[**n] != q[**n]).collect();
        assert!(moved.is_empty(), "moved: {moved:?}");
        // The config's order does not matter.
        let h = crate::expand::fnv1a("x") % MAX_RULE_PRIORITY + 1;
        let r = rule_priorities(&["x", "x2"]);
        assert_eq!(r["x"], h);
        assert_eq!(rule_priorities(&["x2", "x"]), r);
    }

    #[test]
    fn ecr_images_map_to_their_repository() {
        assert_eq!(
            ecr_repository_arn("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:1.2").as_deref(),
            Some("arn:aws:ecr:eu-west-1:123456789012:repository/team/api")
        );
        assert_eq!(ecr_repository_arn("public.ecr.aws/nginx/nginx:1.27"), None);
        assert_eq!(ecr_repository_arn("nginx"), None);
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let n = short_name("a-very-long-stack-name-for-testing-internal", 32);
        assert_eq!(n.len(), 32);
        assert_eq!(n, short_name("a-very-long-stack-name-for-testing-internal", 32));
        assert_ne!(n, short_name("a-very-long-stack-name-for-testing-internax", 32));
        assert_eq!(short_name("short", 32), "short");
        assert_eq!(url_variable("user-api"), "USER_API_URL");
    }
}
