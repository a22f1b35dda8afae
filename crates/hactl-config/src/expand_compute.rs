//! Expansion of the compute and traffic tier: IAM roles, log groups, the ECS cluster and
//! its capacity (launch template, Auto Scaling group, capacity provider; or Fargate), the
//! public and internal load balancers with target groups and listeners, task definitions,
//! services and their auto scaling. Property shapes are the contract in
//! crates/hactl-aws/KINDS-compute.md.

use crate::expand::{addr, id, out, partition, short_name, ExpandError, Expander, NetworkRefs};
use crate::expand_data::{DataRefs, SECRET_VARIABLES};
use crate::model::{LaunchType, ServiceConfig, Tier};
use hactl_core::{Address, ResourceSpec, Value};
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
    let operator = if service == "ec2.amazonaws.com" { "StringEqualsIfExists" } else { "StringEquals" };
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

impl Expander<'_> {
    pub(crate) fn compute_tier(
        &mut self,
        net: &NetworkRefs,
        data: Option<&DataRefs>,
    ) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        if cfg.services.is_empty() {
            return Ok(());
        }
        let stack = cfg.stack.name.clone();
        let account = self.env.account_id().to_string();
        // IAM is global: names and path carry the region too, so the same stack name in
        // two regions (a DR pair) never shares or adopts the other's roles.
        let region = cfg.stack.region.clone();
        let iam_path = format!("/hactl/{stack}/{region}/");
        let ec2 = cfg.compute.launch_type == LaunchType::Ec2;
        // Every container gets the database credentials from the secret at start
        // (`secrets[].valueFrom` = `<secret ARN>:<json key>::`), sorted by name.
        // The password comes from the credentials secret, the other fields from the
        // connection secret (expand_data.rs).
        let secrets = match data {
            Some(d) => {
                let mut vars = SECRET_VARIABLES.to_vec();
                vars.sort_by_key(|(var, _, _)| *var);
                Value::List(
                    vars.iter()
                        .map(|(var, key, source)| {
                            map(vec![
                                ("name", Value::str(*var)),
                                (
                                    "value_from",
                                    Value::concat([
                                        out(d.secret_of(*source), "arn"),
                                        Value::str(format!(":{key}::")),
                                    ]),
                                ),
                            ])
                        })
                        .collect(),
                )
            }
            None => Value::List(Vec::new()),
        };

        // Log groups, one per service.
        let mut log_groups: BTreeMap<&str, Address> = BTreeMap::new();
        for s in &cfg.services {
            let a = addr(&["log_group", &s.name])?;
            let name = format!("/hactl/{stack}/{}", s.name);
            let spec = self
                .tagged(a.clone(), "logs.log_group", &name)
                .prop("name", name.as_str())
                .prop("retention_days", int(s.log_retention_days));
            self.push(spec);
            log_groups.insert(s.name.as_str(), a);
        }

        // The ECS cluster.
        let cluster = addr(&["ecs_cluster", "main"])?;
        let spec = self
            .tagged(cluster.clone(), "ecs.cluster", &stack)
            .prop("name", stack.as_str())
            .prop("container_insights", if cfg.compute.container_insights { "enabled" } else { "disabled" });
        self.push(spec);

        // Task execution role: pull images, write to this stack's log groups.
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
            cfg.services.iter().filter_map(|s| ecr_repository_arn(&s.image)).collect();
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
        // The database variables: this stack's two secrets and nothing else (plus the
        // customer-managed key that encrypts the credentials, through Secrets Manager only).
        if let Some(d) = data {
            exec_statements.push(statement(
                "ReadDbSecret",
                &["secretsmanager:GetSecretValue"],
                Value::List(vec![out(&d.secret, "arn"), out(&d.connection, "arn")]),
            ));
            if let Some(key) = cfg.database.as_ref().and_then(|db| db.kms_key_id.as_deref()) {
                let mut s = statement(
                    "DecryptDbSecret",
                    &["kms:Decrypt"],
                    Value::str(kms_key_arn(key, &region, &account)),
                );
                if let Value::Map(m) = &mut s {
                    m.insert(
                        "Condition".into(),
                        map(vec![(
                            "StringEquals",
                            map(vec![(
                                "kms:ViaService",
                                Value::str(format!("secretsmanager.{region}.amazonaws.com")),
                            )]),
                        )]),
                    );
                }
                exec_statements.push(s);
            }
        }
        let execution_role = addr(&["iam_role", "execution"])?;
        let role_name = short_name(&format!("{stack}-{region}-execution"), 64);
        let spec = self
            .tagged(execution_role.clone(), "iam.role", &role_name)
            .prop("name", role_name.as_str())
            .prop("path", iam_path.as_str())
            .prop("description", format!("hactl {stack}: ECS task execution (image pull, logs)"))
            .prop("assume_role_policy", assume_role("ecs-tasks.amazonaws.com", &account, None))
            .prop("inline_policies", map(vec![("execution", policy(exec_statements))]))
            .prop("managed_policy_arns", Value::List(Vec::new()));
        self.push(spec);

        // A task role per service: no permissions unless the config grants some.
        let mut task_roles: BTreeMap<&str, Address> = BTreeMap::new();
        for s in &cfg.services {
            let a = addr(&["iam_role", "task", &s.name])?;
            let role_name = short_name(&format!("{stack}-{region}-task-{}", s.name), 64);
            let mut inline = Vec::new();
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
                .tagged(a.clone(), "iam.role", &role_name)
                .prop("name", role_name.as_str())
                .prop("path", iam_path.as_str())
                .prop("description", format!("hactl {stack}: task role of {}", s.name))
                .prop("assume_role_policy", assume_role("ecs-tasks.amazonaws.com", &account, None))
                .prop("inline_policies", map(inline))
                .prop("managed_policy_arns", Value::List(Vec::new()));
            self.push(spec);
            task_roles.insert(s.name.as_str(), a);
        }

        // EC2 capacity: instance role and profile, launch template, Auto Scaling group,
        // capacity provider attached as the cluster's default strategy.
        let mut capacity: Option<Address> = None;
        if ec2 {
            let role = addr(&["iam_role", "instance"])?;
            let role_name = short_name(&format!("{stack}-{region}-instance"), 64);
            let agent = policy(vec![
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
                    Value::List(vec![out(&cluster, "arn")]),
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
                    Value::List(vec![out(&cluster, "container_instances_arn")]),
                ),
                // DiscoverPollEndpoint has no resource-level permission: `*` is the only form.
                statement("DiscoverEndpoint", &["ecs:DiscoverPollEndpoint"], Value::str("*")),
            ]);
            let spec = self
                .tagged(role.clone(), "iam.role", &role_name)
                .prop("name", role_name.as_str())
                .prop("path", iam_path.as_str())
                .prop("description", format!("hactl {stack}: ECS container instances"))
                .prop("assume_role_policy", assume_role("ec2.amazonaws.com", &account, None))
                .prop("inline_policies", map(vec![("ecs-agent", agent)]))
                .prop("managed_policy_arns", Value::List(Vec::new()));
            self.push(spec);
            let profile = addr(&["iam_instance_profile", "instance"])?;
            let spec = self
                .tagged(profile.clone(), "iam.instance_profile", &role_name)
                .prop("name", role_name.as_str())
                .prop("path", iam_path.as_str())
                .prop("role_name", out(&role, "name"));
            self.push(spec);

            let lt = addr(&["launch_template", "ecs"])?;
            let lt_name = self.name(&["ecs"]);
            let image = match &cfg.compute.ami {
                Some(ami) => ami.clone(),
                None => format!("resolve:ssm:{ECS_AMI_PARAMETER}"),
            };
            let user_data = format!(
                "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={stack}\n\
                 ECS_ENABLE_TASK_IAM_ROLE=true\nECS_AWSVPC_BLOCK_IMDS=true\nECS_ENABLE_CONTAINER_METADATA=true\nEOF\n"
            );
            let spec = self
                .tagged(lt.clone(), "ec2.launch_template", &lt_name)
                .prop("name", lt_name.as_str())
                .prop("image_id", image)
                .prop("instance_type", cfg.compute.instance_type.as_str())
                .prop("instance_profile_arn", out(&profile, "arn"))
                .prop("security_group_ids", Value::List(vec![id(&net.groups[&Tier::App])]))
                .prop("user_data", user_data)
                .prop(
                    "metadata_options",
                    map(vec![
                        ("http_tokens", Value::str("required")),
                        ("http_put_response_hop_limit", Value::Int(2)),
                        ("http_endpoint", Value::str("enabled")),
                    ]),
                )
                .prop("associate_public_ip_address", false)
                .prop(
                    "root_volume",
                    map(vec![
                        ("device_name", Value::str(cfg.compute.root_device_name.as_str())),
                        ("volume_size", int(cfg.compute.root_volume_size)),
                        ("volume_type", Value::str("gp3")),
                        ("encrypted", Value::Bool(true)),
                    ]),
                )
                .after(&cluster);
            self.push(spec);

            let asg = addr(&["asg", "ecs"])?;
            let asg_name = self.name(&["ecs"]);
            let mut spec = self
                .tagged(asg.clone(), "autoscaling.group", &format!("{stack}-ecs-instance"))
                .prop("name", asg_name.as_str())
                .prop("launch_template_id", id(&lt))
                .prop("launch_template_version", "$Latest")
                .prop("min_size", int(cfg.compute.min_size))
                .prop("max_size", int(cfg.compute.max_size))
                .prop("desired_capacity", int(cfg.compute.desired_capacity))
                .prop("subnet_ids", net.subnet_ids(cfg, "app"))
                .prop("health_check_type", "ELB")
                .prop("health_check_grace_period", Value::Int(300))
                .prop("protect_from_scale_in", true);
            if let Some(Value::Map(tags)) = spec.props.get_mut("tags") {
                tags.insert("AmazonECSManaged".into(), Value::str(""));
            }
            for r in &net.private_routes {
                spec = spec.after(r);
            }
            self.push(spec);

            let cp = addr(&["capacity_provider", "asg"])?;
            // Capacity provider names may not start with "aws", "ecs" or "fargate".
            let cp_name = short_name(&format!("cp-{stack}"), 255);
            let spec = self
                .tagged(cp.clone(), "ecs.capacity_provider", &cp_name)
                .prop("name", cp_name.as_str())
                .prop("auto_scaling_group_arn", out(&asg, "arn"))
                .prop(
                    "managed_scaling",
                    map(vec![
                        ("status", Value::str("ENABLED")),
                        ("target_capacity", Value::Int(100)),
                        ("minimum_scaling_step_size", Value::Int(1)),
                        ("maximum_scaling_step_size", Value::Int(10)),
                    ]),
                )
                .prop("managed_termination_protection", "ENABLED");
            self.push(spec);

            let ccp = addr(&["cluster_capacity_providers", "main"])?;
            self.push(
                ResourceSpec::new(ccp.clone(), "ecs.cluster_capacity_providers")
                    .prop("cluster", out(&cluster, "name"))
                    .prop("capacity_providers", Value::List(vec![out(&cp, "name")]))
                    .prop(
                        "default_strategy",
                        Value::List(vec![map(vec![
                            ("capacity_provider", out(&cp, "name")),
                            ("weight", Value::Int(1)),
                            ("base", Value::Int(0)),
                        ])]),
                    ),
            );
            capacity = Some(ccp);
        }

        // Load balancers, target groups, listeners.
        let lb = &cfg.load_balancer;
        let mut target_groups: BTreeMap<&str, Address> = BTreeMap::new();
        for s in &cfg.services {
            let a = addr(&["target_group", &s.name])?;
            let name = short_name(&format!("{stack}-{}", s.name), 32);
            let spec = self
                .tagged(a.clone(), "elbv2.target_group", &name)
                .prop("name", name.as_str())
                .prop("port", int(u32::from(s.port)))
                .prop("protocol", "HTTP")
                .prop("vpc_id", id(&net.vpc))
                .prop("target_type", "ip")
                .prop(
                    "health_check",
                    map(vec![
                        ("path", Value::str(&s.health_check_path)),
                        ("port", Value::str("traffic-port")),
                        ("protocol", Value::str("HTTP")),
                        ("interval_seconds", int(s.health_check.interval)),
                        ("timeout_seconds", int(s.health_check.timeout)),
                        ("healthy_threshold", int(s.health_check.healthy_threshold)),
                        ("unhealthy_threshold", int(s.health_check.unhealthy_threshold)),
                        ("matcher", Value::str("200")),
                    ]),
                )
                .prop("deregistration_delay", int(s.deregistration_delay));
            self.push(spec);
            target_groups.insert(s.name.as_str(), a);
        }
        let forward =
            |tg: &Address| map(vec![("type", Value::str("forward")), ("target_group_arn", out(tg, "arn"))]);

        // The listener each service's traffic arrives through (its service waits for it).
        let mut listener_of: BTreeMap<&str, Address> = BTreeMap::new();
        let public: Vec<&ServiceConfig> = cfg.services.iter().filter(|s| s.public).collect();
        if let Some(front) = public.first() {
            let alb = addr(&["alb", "public"])?;
            let name = short_name(&format!("{stack}-public"), 32);
            let spec = self
                .tagged(alb.clone(), "elbv2.load_balancer", &name)
                .prop("name", name.as_str())
                .prop("scheme", "internet-facing")
                .prop("subnet_ids", net.subnet_ids(cfg, "public"))
                .prop("security_group_ids", Value::List(vec![id(&net.groups[&Tier::Alb])]))
                .prop("deletion_protection", lb.deletion_protection)
                .prop("idle_timeout", int(lb.idle_timeout))
                // Header fields that are not valid HTTP never reach a target.
                .prop("drop_invalid_header_fields", true)
                .after(&net.igw_attachment);
            self.push(spec);
            let tg = &target_groups[front.name.as_str()];
            let http = addr(&["listener", "public", "http"])?;
            if lb.https {
                let certificate = match &lb.certificate_arn {
                    Some(arn) => Value::str(arn),
                    None => {
                        let cert = addr(&["certificate", "main"])?;
                        let spec = self
                            .tagged(cert.clone(), "acm.certificate", &lb.domain)
                            .prop("domain_name", lb.domain.as_str())
                            .prop("self_signed", true);
                        self.push(spec);
                        out(&cert, "arn")
                    }
                };
                let spec = self
                    .tagged(http.clone(), "elbv2.listener", &format!("{name}-http"))
                    .prop("load_balancer_arn", out(&alb, "arn"))
                    .prop("port", Value::Int(80))
                    .prop("protocol", "HTTP")
                    .prop("certificate_arn", Value::Null)
                    .prop("ssl_policy", Value::Null)
                    .prop(
                        "default_action",
                        map(vec![
                            ("type", Value::str("redirect")),
                            ("protocol", Value::str("HTTPS")),
                            ("port", Value::str("443")),
                            ("status_code", Value::str("HTTP_301")),
                        ]),
                    );
                self.push(spec);
                let https = addr(&["listener", "public", "https"])?;
                let spec = self
                    .tagged(https.clone(), "elbv2.listener", &format!("{name}-https"))
                    .prop("load_balancer_arn", out(&alb, "arn"))
                    .prop("port", Value::Int(443))
                    .prop("protocol", "HTTPS")
                    .prop("certificate_arn", certificate)
                    .prop("ssl_policy", lb.ssl_policy.as_str())
                    .prop("default_action", forward(tg));
                self.push(spec);
                listener_of.insert(front.name.as_str(), https);
            } else {
                let spec = self
                    .tagged(http.clone(), "elbv2.listener", &format!("{name}-http"))
                    .prop("load_balancer_arn", out(&alb, "arn"))
                    .prop("port", Value::Int(80))
                    .prop("protocol", "HTTP")
                    .prop("certificate_arn", Value::Null)
                    .prop("ssl_policy", Value::Null)
                    .prop("default_action", forward(tg));
                self.push(spec);
                listener_of.insert(front.name.as_str(), http);
            }
        }
        let internal_alb = addr(&["alb", "internal"])?;
        if let Some(group) = &net.internal_alb_group {
            let name = short_name(&format!("{stack}-internal"), 32);
            let spec = self
                .tagged(internal_alb.clone(), "elbv2.load_balancer", &name)
                .prop("name", name.as_str())
                .prop("scheme", "internal")
                .prop("subnet_ids", net.subnet_ids(cfg, "app"))
                .prop("security_group_ids", Value::List(vec![id(group)]))
                .prop("deletion_protection", lb.deletion_protection)
                .prop("idle_timeout", int(lb.idle_timeout))
                .prop("drop_invalid_header_fields", true);
            self.push(spec);
            for s in cfg.services.iter().filter(|s| !s.public) {
                let l = addr(&["listener", "internal", &s.name])?;
                let spec = self
                    .tagged(l.clone(), "elbv2.listener", &format!("{name}-{}", s.name))
                    .prop("load_balancer_arn", out(&internal_alb, "arn"))
                    .prop("port", int(u32::from(s.port)))
                    .prop("protocol", "HTTP")
                    .prop("certificate_arn", Value::Null)
                    .prop("ssl_policy", Value::Null)
                    .prop("default_action", forward(&target_groups[s.name.as_str()]));
                self.push(spec);
                listener_of.insert(s.name.as_str(), l);
            }
        }

        // Task definitions, services, auto scaling.
        for s in &cfg.services {
            let td = addr(&["task_definition", &s.name])?;
            let family = format!("{stack}-{}", s.name);
            let mut env: BTreeMap<String, Value> = BTreeMap::new();
            for dep in &s.depends_on {
                if let Some(d) = cfg.services.iter().find(|d| &d.name == dep && !d.public) {
                    env.insert(
                        url_variable(&d.name),
                        Value::concat([
                            Value::str("http://"),
                            out(&internal_alb, "dns_name"),
                            Value::str(format!(":{}", d.port)),
                        ]),
                    );
                }
            }
            // Values written in the config win over generated ones.
            env.extend(s.environment.iter().map(|(k, v)| (k.clone(), Value::str(v))));
            let health_command = match &s.container_health_check {
                Some(cmd) => Value::from_strings(cmd.clone()),
                None => {
                    let url = format!("http://localhost:{}{}", s.port, s.health_check_path);
                    Value::from_strings([
                        "CMD-SHELL".to_string(),
                        format!("wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1"),
                    ])
                }
            };
            let container = map(vec![
                ("name", Value::str(&s.name)),
                ("image", Value::str(&s.image)),
                ("port", int(u32::from(s.port))),
                ("environment", Value::Map(env)),
                ("secrets", secrets.clone()),
                (
                    "health_check",
                    map(vec![
                        ("command", health_command),
                        ("interval", Value::Int(30)),
                        ("timeout", Value::Int(5)),
                        ("retries", Value::Int(3)),
                        ("start_period", Value::Int(60)),
                    ]),
                ),
                ("log_group", out(&log_groups[s.name.as_str()], "name")),
                ("log_region", Value::str(&region)),
                ("log_stream_prefix", Value::str(&s.name)),
                ("essential", Value::Bool(true)),
            ]);
            let compat = if ec2 { "EC2" } else { "FARGATE" };
            let mut spec = self
                .tagged(td.clone(), "ecs.task_definition", &family)
                .prop("family", family.as_str())
                .prop("cpu", s.cpu.to_string())
                .prop("memory", s.memory.to_string())
                .prop("network_mode", "awsvpc")
                .prop("requires_compatibilities", strs(&[compat]))
                .prop("execution_role_arn", out(&execution_role, "arn"))
                .prop("task_role_arn", out(&task_roles[s.name.as_str()], "arn"))
                .prop("container", container);
            // Tasks start once the secret names the database endpoint.
            if let Some(d) = data {
                spec = spec.after(&d.fields);
            }
            self.push(spec);

            let svc = addr(&["ecs_service", &s.name])?;
            let tg = &target_groups[s.name.as_str()];
            let mut spec = self
                .tagged(svc.clone(), "ecs.service", &s.name)
                .prop("cluster", out(&cluster, "name"))
                .prop("name", s.name.as_str())
                .prop("task_definition", out(&td, "arn"))
                .prop(
                    if s.autoscaling.is_some() { "initial_desired_count" } else { "desired_count" },
                    int(s.desired_count),
                )
                .prop(
                    "network",
                    map(vec![
                        ("subnets", net.subnet_ids(cfg, "app")),
                        ("security_groups", Value::List(vec![id(&net.groups[&Tier::App])])),
                        ("assign_public_ip", Value::str("DISABLED")),
                    ]),
                )
                .prop(
                    "load_balancers",
                    Value::List(vec![map(vec![
                        ("target_group_arn", out(tg, "arn")),
                        ("container_name", Value::str(&s.name)),
                        ("container_port", int(u32::from(s.port))),
                    ])]),
                )
                .prop(
                    "deployment",
                    map(vec![
                        ("minimum_healthy_percent", Value::Int(100)),
                        ("maximum_percent", Value::Int(200)),
                        ("circuit_breaker", Value::Bool(true)),
                        ("rollback", Value::Bool(true)),
                    ]),
                )
                .prop("health_check_grace_period", int(s.health_check_grace_period))
                .prop("propagate_tags", "SERVICE")
                .prop("stable_timeout", int(cfg.compute.service_stable_timeout));
            spec = match &capacity {
                Some(ccp) => spec
                    .prop("launch_type", Value::Null)
                    .prop(
                        "capacity_provider_strategy",
                        Value::List(vec![map(vec![
                            ("capacity_provider", out(&addr(&["capacity_provider", "asg"])?, "name")),
                            ("weight", Value::Int(1)),
                            ("base", Value::Int(0)),
                        ])]),
                    )
                    .after(ccp),
                None => spec.prop("launch_type", "FARGATE").prop("capacity_provider_strategy", Value::Null),
            };
            if let Some(l) = listener_of.get(s.name.as_str()) {
                spec = spec.after(l);
            }
            for dep in &s.depends_on {
                spec = spec.after(&addr(&["ecs_service", dep])?);
            }
            for r in &net.private_routes {
                spec = spec.after(r);
            }
            self.push(spec);

            if let Some(auto) = &s.autoscaling {
                let target = addr(&["scalable_target", &s.name])?;
                let resource_id = format!("service/{stack}/{}", s.name);
                self.push(
                    ResourceSpec::new(target.clone(), "appautoscaling.target")
                        .prop("service_namespace", "ecs")
                        .prop("resource_id", resource_id.as_str())
                        .prop("scalable_dimension", "ecs:service:DesiredCount")
                        .prop("min_capacity", int(auto.min))
                        .prop("max_capacity", int(auto.max))
                        .after(&svc),
                );
                let mut policies: Vec<(&str, &str, f64, Value)> = vec![
                    ("cpu", "ECSServiceAverageCPUUtilization", auto.cpu_target, Value::Null),
                    ("memory", "ECSServiceAverageMemoryUtilization", auto.memory_target, Value::Null),
                ];
                if let (Some(requests), Some(front)) = (auto.requests_per_target, public.first()) {
                    if front.name == s.name {
                        let alb = addr(&["alb", "public"])?;
                        let label =
                            Value::concat([out(&alb, "arn_suffix"), Value::str("/"), out(tg, "arn_suffix")]);
                        policies.push(("requests", "ALBRequestCountPerTarget", f64::from(requests), label));
                    }
                }
                for (key, metric, value, label) in policies {
                    let name = format!("{stack}-{}-{key}", s.name);
                    self.push(
                        ResourceSpec::new(addr(&["scaling_policy", &s.name, key])?, "appautoscaling.policy")
                            .prop("name", name.as_str())
                            .prop("service_namespace", "ecs")
                            .prop("resource_id", resource_id.as_str())
                            .prop("scalable_dimension", "ecs:service:DesiredCount")
                            .prop("predefined_metric", metric)
                            .prop("target_value", value)
                            .prop("scale_in_cooldown", Value::Int(300))
                            .prop("scale_out_cooldown", Value::Int(60))
                            .prop("resource_label", label)
                            .after(&target),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
