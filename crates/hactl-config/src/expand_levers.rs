//! Expansion of the cost levers: scheduled scaling (scheduled actions on a service's
//! scalable target and on the EC2 Auto Scaling group) and Spot capacity (FARGATE_SPOT in a
//! service's capacity provider strategy; a mixed-instances policy on the group) and the
//! connection pool (RDS Proxy in front of PostgreSQL).

use crate::expand::{addr, id, out, partition, short_name, ExpandError, Expander, NetworkRefs};
use crate::expand_compute::{
    assume_role, decrypt_via_secrets_manager, map, policy, statement, BlueGreenRefs, Scope,
};
use crate::model::{ComputeConfig, FargateSpot, ProxyConfig, ScheduledCapacity, ServiceConfig, Tier};
use hactl_core::kinds::{appautoscaling, autoscaling, ec2, ecs, elbv2, iam, rds, Typed};
use hactl_core::{Address, Ref, Value};

/// EC2 Auto Scaling's Spot allocation strategy: the pools least likely to be interrupted,
/// at the lowest price among them (AWS's recommendation).
pub(crate) const SPOT_ALLOCATION: &str = "price-capacity-optimized";

fn opt_int(v: Option<u32>) -> Value {
    v.map_or(Value::Null, |n| Value::Int(n.into()))
}

/// The `{min, max}` pairs a list of schedules sets: what the target or group reads as
/// "set by a schedule, not drift".
pub(crate) fn scheduled_pairs(list: &[ScheduledCapacity]) -> Value {
    if list.is_empty() {
        return Value::Null;
    }
    Value::List(list.iter().map(|s| map(vec![("min", opt_int(s.min)), ("max", opt_int(s.max))])).collect())
}

/// A service's capacity provider strategy with Spot: `on_demand_base` tasks on FARGATE,
/// the rest split by the weights of `spot_percent`.
pub(crate) fn fargate_spot_strategy(spot: &FargateSpot) -> Value {
    let (on_demand, spot_weight) = spot.weights();
    Value::List(vec![
        map(vec![
            ("capacity_provider", Value::str("FARGATE")),
            ("weight", Value::Int(on_demand.into())),
            ("base", Value::Int(spot.on_demand_base.into())),
        ]),
        map(vec![
            ("capacity_provider", Value::str("FARGATE_SPOT")),
            ("weight", Value::Int(spot_weight.into())),
            ("base", Value::Int(0)),
        ]),
    ])
}

/// The group's `mixed_instances` property: null without `[compute.spot]`.
pub(crate) fn mixed_instances(compute: &ComputeConfig) -> Value {
    let Some(spot) = &compute.spot else { return Value::Null };
    map(vec![
        ("instance_types", Value::from_strings(spot.instance_types.iter().cloned())),
        ("on_demand_base", Value::Int(spot.on_demand_base.into())),
        ("on_demand_percent_above_base", Value::Int((100 - spot.spot_percent.min(100)).into())),
        ("spot_allocation_strategy", Value::str(SPOT_ALLOCATION)),
    ])
}

impl<'a> Expander<'a> {
    /// The scheduled actions of a service's scalable target.
    pub(crate) fn service_schedule(
        &mut self,
        s: &ServiceConfig,
        schedule: &[ScheduledCapacity],
        resource_id: &str,
        target: &Address,
    ) -> Result<(), ExpandError> {
        for sc in schedule {
            let name = format!("{}-{}-{}", self.cfg.stack.name, s.name, sc.name);
            self.push(
                appautoscaling::ScheduledAction::new(self.addr(&["scheduled_action", &s.name, &sc.name])?)
                    .name(name.as_str())
                    .service_namespace("ecs")
                    .resource_id(resource_id)
                    .scalable_dimension("ecs:service:DesiredCount")
                    .schedule(sc.cron_expression())
                    .timezone(sc.time_zone.as_str())
                    .min_capacity(opt_int(sc.min))
                    .max_capacity(opt_int(sc.max))
                    .after(target),
            );
        }
        Ok(())
    }

    /// The group's schedules: none in the region standing by (it keeps its standby sizes).
    pub(crate) fn group_schedules(&self) -> &'a [ScheduledCapacity] {
        if self.standby() {
            &[]
        } else {
            &self.cfg.compute.schedule
        }
    }

    /// The scheduled actions of the EC2 Auto Scaling group `asg` (named `group_name`).
    pub(crate) fn group_schedule(&mut self, asg: &Address, group_name: &str) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        for sc in self.group_schedules() {
            let name = format!("{}-{}", cfg.stack.name, sc.name);
            self.push(
                autoscaling::ScheduledAction::new(self.addr(&["asg_scheduled_action", &sc.name])?)
                    .name(name.as_str())
                    .group_name(group_name)
                    .recurrence(sc.recurrence())
                    .time_zone(sc.time_zone.as_str())
                    .min_size(opt_int(sc.min))
                    .max_size(opt_int(sc.max))
                    .desired_capacity(opt_int(sc.desired))
                    .after(asg),
            );
        }
        Ok(())
    }

    /// On Fargate with a Spot service: FARGATE and FARGATE_SPOT associated with the cluster
    /// (a capacity provider strategy may only name associated providers). `None` when no
    /// service asks for Spot.
    pub(crate) fn fargate_capacity_providers(
        &mut self,
        cluster: &Address,
    ) -> Result<Option<Address>, ExpandError> {
        if !self.cfg.services.iter().any(|s| s.spot.is_some()) {
            return Ok(None);
        }
        let ccp = self.addr(&["cluster_capacity_providers", "main"])?;
        self.push(
            ecs::ClusterCapacityProviders::new(ccp.clone())
                .cluster(hactl_core::Ref::new(cluster, "name"))
                .capacity_providers(Value::from_strings(["FARGATE", "FARGATE_SPOT"]))
                .default_strategy(Value::List(Vec::new())),
        );
        Ok(Some(ccp))
    }
}

/// The container variable a service gets when it reaches the database through RDS Proxy.
pub const PROXY_VARIABLE: &str = "DB_VIA_PROXY";

/// RDS Proxy's name: `<stack>-proxy` (letters, digits and single hyphens, at most 60).
pub(crate) fn proxy_name(stack: &str) -> String {
    short_name(&format!("{stack}-proxy"), 60)
}

impl Expander<'_> {
    /// `[database.proxy]`: the proxy in the data subnets behind its own group (the database
    /// port in from the app tier, out to the database's group only), its role (the
    /// database's secret, nothing else) and the proxy itself, TLS required, with the
    /// instance as its target. Returns the endpoint the services get as DB_HOST.
    pub(crate) fn db_proxy(
        &mut self,
        proxy: &ProxyConfig,
        net: &NetworkRefs,
        secret_arn: Value,
        instance: &Address,
    ) -> Result<Value, ExpandError> {
        let scope = self.scope();
        let stack = scope.stack.clone();
        let port = i64::from(self.cfg.db_port());
        let sg = addr(&["sg", "db_proxy"])?;
        let group_name = self.name(&["db-proxy"]);
        let spec = self
            .tagged(ec2::SecurityGroup::new(sg.clone()), &group_name)
            .vpc_id(id(&net.vpc))
            .group_name(group_name.as_str())
            .description(format!("hactl {stack}: RDS Proxy (the database port from the app tier)"));
        self.push(spec);
        let rule = |group: Value, description: &str| {
            map(vec![
                ("protocol", Value::str("tcp")),
                ("from_port", Value::Int(port)),
                ("to_port", Value::Int(port)),
                ("source_group_id", group),
                ("description", Value::str(description)),
            ])
        };
        self.push(
            ec2::SecurityGroupRules::new(addr(&["sg_rules", "db_proxy"])?)
                .group_id(id(&sg))
                .ingress(Value::List(vec![rule(
                    id(&net.groups[&Tier::App]),
                    "database port from the app tier",
                )]))
                .egress(Value::List(vec![rule(id(&net.groups[&Tier::Db]), "database port to the database")])),
        );

        let role = addr(&["iam_role", "db_proxy"])?;
        let role_name = short_name(&format!("{stack}-{}-db-proxy", scope.region), 64);
        let mut statements =
            vec![statement("ReadDbSecret", &["secretsmanager:GetSecretValue"], secret_arn.clone())];
        if let Some(key) = self.cfg.database.as_ref().and_then(|d| d.kms_key_id.as_deref()) {
            statements.push(decrypt_via_secrets_manager(key, &scope));
        }
        let spec = self
            .tagged(iam::Role::new(role.clone()), &role_name)
            .name(role_name.as_str())
            .path(scope.iam_path.as_str())
            .description(format!("hactl {stack}: RDS Proxy reads the database's secret"))
            .assume_role_policy(assume_role("rds.amazonaws.com", &scope.account, None))
            .inline_policies(map(vec![("db-proxy", policy(statements))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);

        let a = addr(&["db_proxy", "main"])?;
        let name = proxy_name(&stack);
        let subnets: Vec<Value> =
            self.cfg.network.zones.iter().map(|z| id(&net.subnets[&("data", z.az.clone())])).collect();
        let spec = self
            .tagged(rds::DbProxy::new(a.clone()), &name)
            .name(name.as_str())
            .engine_family("POSTGRESQL")
            .role_arn(out(&role, "arn"))
            .secret_arn(secret_arn)
            .iam_auth(if proxy.iam_auth { "REQUIRED" } else { "DISABLED" })
            .subnet_ids(Value::List(subnets))
            .security_group_ids(Value::List(vec![id(&sg)]))
            .require_tls(true)
            .idle_client_timeout(Value::Int(proxy.idle_client_timeout.into()))
            .pool(map(vec![
                ("max_connections_percent", Value::Int(proxy.max_connections_percent.into())),
                ("max_idle_connections_percent", Value::Int(proxy.max_idle_connections_percent.into())),
                ("connection_borrow_timeout", Value::Int(proxy.connection_borrow_timeout.into())),
            ]))
            .target_instance(Ref::new(instance, "identifier"))
            .after(&addr(&["sg_rules", "db_proxy"])?);
        self.push(spec);
        Ok(out(&a, "endpoint"))
    }

    /// With `iam_auth`, each task role may connect through the proxy as the master user.
    pub(crate) fn proxy_connect_statement(&self, scope: &Scope) -> Option<Value> {
        let db = self.cfg.database.as_ref()?;
        db.proxy.as_ref().filter(|p| p.iam_auth && self.dr.is_none())?;
        let prefix =
            format!("arn:{}:rds-db:{}:{}:dbuser:", partition(&scope.region), scope.region, scope.account);
        let resource = Value::concat([
            Value::str(prefix),
            out(&addr(&["db_proxy", "main"]).ok()?, "resource_id"),
            Value::str(format!("/{}", db.username)),
        ]);
        Some(statement("ConnectThroughProxy", &["rds-db:connect"], resource))
    }
}

/// The header a request sends to reach a blue/green service's green tasks during a
/// deployment (the test listener rule; outside a deployment it reaches the blue ones).
pub const TEST_HEADER: (&str, &str) = ("x-hactl-test-traffic", "green");
/// The public service's blue/green rules on its listener: test first, then production.
const PUBLIC_TEST_PRIORITY: i64 = 1;
const PUBLIC_PRODUCTION_PRIORITY: i64 = 2;

/// A forward to the blue (weight 100) and green (0) target groups whose weights ECS
/// shifts during a blue/green deployment (`"weights":"ecs"`: any split of the two reads as
/// desired).
pub(crate) fn ecs_weighted(blue: &Address, green: &Address) -> Value {
    let group =
        |tg: &Address, weight: i64| map(vec![("arn", out(tg, "arn")), ("weight", Value::Int(weight))]);
    map(vec![
        ("type", Value::str("forward")),
        ("target_groups", Value::List(vec![group(blue, 100), group(green, 0)])),
        ("weights", Value::str("ecs")),
    ])
}

/// The test rule's http-header condition.
pub(crate) fn test_header() -> Value {
    map(vec![("name", Value::str(TEST_HEADER.0)), ("values", Value::from_strings([TEST_HEADER.1]))])
}

impl Expander<'_> {
    /// The public blue/green service's production rule (every path) and test rule (every
    /// path with the test header) on the listener its traffic arrives through; the
    /// listener's default action keeps forwarding to the blue group.
    pub(crate) fn public_blue_green_rules(
        &mut self,
        service: &str,
        listener: &Address,
        blue: &Address,
        green: &Address,
    ) -> Result<BlueGreenRefs, ExpandError> {
        let stack = self.cfg.stack.name.clone();
        let mut rule = |key: &[&str], priority: i64, header: Value| -> Result<Address, ExpandError> {
            let a = self.addr(&[&["listener_rule", service], key].concat())?;
            let name = [&[stack.as_str(), service], key].concat().join("-");
            let spec = self
                .tagged(elbv2::ListenerRule::new(a.clone()), &name)
                .listener_arn(out(listener, "arn"))
                .priority(Value::Int(priority))
                .host_headers(Value::List(Vec::new()))
                .path_patterns(Value::from_strings(["/*"]))
                .http_header(header)
                .action(ecs_weighted(blue, green));
            self.push(spec);
            Ok(a)
        };
        let test = rule(&["test"], PUBLIC_TEST_PRIORITY, test_header())?;
        let production = rule(&[], PUBLIC_PRODUCTION_PRIORITY, Value::Null)?;
        Ok(BlueGreenRefs { green: green.clone(), production, test })
    }

    /// The role ECS shifts the blue/green rules' weights and registers the tasks with: the
    /// load balancers' reads, and changes to the stack's rules and target groups only.
    pub(crate) fn ecs_load_balancer_role(&mut self, scope: &Scope) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let role = self.addr(&["iam_role", "ecs_load_balancers"])?;
        let name = short_name(&format!("{stack}-{region}-ecs-lb"), 64);
        let elb = |r: &str| format!("arn:{}:elasticloadbalancing:{region}:{account}:{r}", partition(region));
        // Load balancer and target group names are shortened to 32 characters.
        let prefix = crate::expand_ci::elb_prefix(stack);
        let statements = vec![
            // ELB's Describe calls take no resource.
            statement(
                "ReadLoadBalancers",
                &[
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ],
                Value::str("*"),
            ),
            statement(
                "ShiftTraffic",
                &["elasticloadbalancing:ModifyRule"],
                Value::str(elb(&format!("listener-rule/app/{prefix}*/*/*/*"))),
            ),
            statement(
                "RegisterTasks",
                &["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                Value::str(elb(&format!("targetgroup/{prefix}*/*"))),
            ),
        ];
        let spec = self
            .tagged(iam::Role::new(role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: ECS shifts blue/green traffic between target groups"))
            .assume_role_policy(assume_role("ecs.amazonaws.com", account, None))
            .inline_policies(map(vec![("blue-green", policy(statements))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(days: &[&str]) -> ScheduledCapacity {
        ScheduledCapacity {
            name: "night".into(),
            hour: 20,
            minute: 5,
            days: days.iter().map(|d| d.to_string()).collect(),
            time_zone: "Europe/Paris".into(),
            min: Some(1),
            max: None,
            desired: None,
        }
    }

    #[test]
    fn schedules_become_both_cron_forms() {
        assert_eq!(sc(&[]).cron_expression(), "cron(5 20 * * ? *)");
        assert_eq!(sc(&[]).recurrence(), "5 20 * * *");
        assert_eq!(sc(&["MON", "FRI", "SUN"]).cron_expression(), "cron(5 20 ? * MON,FRI,SUN *)");
        assert_eq!(sc(&["MON", "FRI", "SUN"]).recurrence(), "5 20 * * 1,5,0");
    }

    #[test]
    fn spot_weights_are_in_lowest_terms() {
        let w = |p| FargateSpot { on_demand_base: 1, spot_percent: p }.weights();
        assert_eq!(w(75), (1, 3));
        assert_eq!(w(100), (0, 1));
        assert_eq!(w(50), (1, 1));
        assert_eq!(w(33), (67, 33));
        let strategy = fargate_spot_strategy(&FargateSpot { on_demand_base: 2, spot_percent: 80 });
        let items = strategy.as_list().expect("list");
        assert_eq!(items[0].as_map().and_then(|m| m.get("base")), Some(&Value::Int(2)));
        assert_eq!(items[0].as_map().and_then(|m| m.get("weight")), Some(&Value::Int(1)));
        assert_eq!(items[1].as_map().and_then(|m| m.get("weight")), Some(&Value::Int(4)));
    }

    #[test]
    fn scheduled_pairs_list_what_each_action_sets() {
        assert_eq!(scheduled_pairs(&[]), Value::Null);
        let pairs = scheduled_pairs(&[sc(&[])]);
        assert_eq!(pairs, Value::List(vec![map(vec![("min", Value::Int(1)), ("max", Value::Null)])]));
    }
}
