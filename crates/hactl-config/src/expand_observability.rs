//! Expansion of the observability tier: the SNS topic for alarms (and its email
//! subscription), CloudWatch alarms on the metrics CloudWatch publishes for the stack's
//! services, load balancers, target groups, Auto Scaling group and database (dimensions
//! exactly as published), the drift alarm, and a dashboard with the same metrics.
//! Property shapes are the contract in crates/hactl-aws/KINDS-observability.md.

use crate::expand::{addr, id, out, ExpandError, Expander};
use crate::model::{AlarmsConfig, DatabaseConfig, DbEngine, LaunchType, ServiceConfig};
use hactl_core::kinds::{cloudwatch, sns};
use hactl_core::{Address, Value};
use std::collections::BTreeMap;

/// The namespace and metric `hactl drift --publish-metrics` puts.
pub const DRIFT_NAMESPACE: &str = "hactl";
pub const DRIFT_METRIC: &str = "DriftedResources";

/// One alarm, before it becomes a resource.
struct AlarmDef {
    /// `alarm.<metric>.<subject>`.
    metric_key: &'static str,
    subject: String,
    description: String,
    namespace: &'static str,
    metric: &'static str,
    /// (name, value) in CloudWatch's order.
    dimensions: Vec<(&'static str, Value)>,
    statistic: &'static str,
    threshold: f64,
    comparison: &'static str,
    treat_missing: &'static str,
    period: u32,
}

/// A metric: its namespace, name and the statistic an alarm takes of it.
type Metric = (&'static str, &'static str, &'static str);

impl AlarmDef {
    /// An alarm when the statistic of `metric` goes above 0 over `period` seconds, missing
    /// data treated as missing (the caller sets threshold and the rest).
    fn new(
        period: u32,
        metric_key: &'static str,
        subject: &str,
        description: String,
        (namespace, metric, statistic): Metric,
        dimensions: Vec<(&'static str, Value)>,
    ) -> AlarmDef {
        AlarmDef {
            metric_key,
            subject: subject.to_string(),
            description,
            namespace,
            metric,
            dimensions,
            statistic,
            threshold: 0.0,
            comparison: "GreaterThanThreshold",
            treat_missing: "missing",
            period,
        }
    }
}

/// Services: CPU and memory (AWS/ECS, ClusterName + ServiceName); their target groups:
/// unhealthy hosts and response time (AWS/ApplicationELB, TargetGroup + LoadBalancer ARN
/// suffixes) on the load balancer `lb`.
fn service_alarms(
    stack: &str,
    a: &AlarmsConfig,
    s: &ServiceConfig,
    lb: &Address,
    tg: &Address,
) -> Vec<AlarmDef> {
    let def = |metric_key, description, metric, dimensions| {
        AlarmDef::new(a.period, metric_key, &s.name, description, metric, dimensions)
    };
    let svc = [("ClusterName", Value::str(stack)), ("ServiceName", Value::str(&s.name))];
    let tg_dims = vec![("TargetGroup", out(tg, "arn_suffix")), ("LoadBalancer", out(lb, "arn_suffix"))];
    vec![
        AlarmDef {
            threshold: a.cpu_threshold,
            ..def(
                "ecs_cpu",
                format!("{stack}: {} CPU above {}%", s.name, a.cpu_threshold),
                ("AWS/ECS", "CPUUtilization", "Average"),
                svc.to_vec(),
            )
        },
        AlarmDef {
            threshold: a.memory_threshold,
            ..def(
                "ecs_memory",
                format!("{stack}: {} memory above {}%", s.name, a.memory_threshold),
                ("AWS/ECS", "MemoryUtilization", "Average"),
                svc.to_vec(),
            )
        },
        AlarmDef {
            statistic: "Maximum",
            treat_missing: "notBreaching",
            ..def(
                "tg_unhealthy",
                format!("{stack}: {} has unhealthy targets", s.name),
                ("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum"),
                tg_dims.clone(),
            )
        },
        AlarmDef {
            threshold: a.response_time_threshold,
            ..def(
                "tg_response_time",
                format!("{stack}: {} responds slower than {} s", s.name, a.response_time_threshold),
                ("AWS/ApplicationELB", "TargetResponseTime", "Average"),
                tg_dims,
            )
        },
    ]
}

/// The database: DocumentDB per cluster (AWS/DocDB, DBClusterIdentifier), RDS per
/// instance (AWS/RDS, DBInstanceIdentifier).
fn database_alarms(stack: &str, a: &AlarmsConfig, db: &DatabaseConfig) -> Result<Vec<AlarmDef>, ExpandError> {
    let (namespace, dims) = match db.engine {
        DbEngine::Docdb => ("AWS/DocDB", vec![("DBClusterIdentifier", id(&addr(&["db_cluster", "main"])?))]),
        DbEngine::Postgres => {
            ("AWS/RDS", vec![("DBInstanceIdentifier", id(&addr(&["db_instance", "main"])?))])
        }
    };
    let def = |metric_key, description, metric, statistic, dimensions| {
        AlarmDef::new(a.period, metric_key, "main", description, (namespace, metric, statistic), dimensions)
    };
    let mut defs = vec![
        AlarmDef {
            threshold: a.cpu_threshold,
            ..def(
                "db_cpu",
                format!("{stack}: database CPU above {}%", a.cpu_threshold),
                "CPUUtilization",
                "Average",
                dims.clone(),
            )
        },
        AlarmDef {
            threshold: a.db_connections_threshold,
            ..def(
                "db_connections",
                format!("{stack}: more than {} database connections", a.db_connections_threshold),
                "DatabaseConnections",
                "Maximum",
                dims.clone(),
            )
        },
    ];
    match db.engine {
        DbEngine::Docdb if db.instances > 1 => defs.push(AlarmDef {
            threshold: a.replica_lag_threshold,
            ..def(
                "db_replica_lag",
                format!("{stack}: replica lag above {} ms", a.replica_lag_threshold),
                "DBClusterReplicaLagMaximum",
                "Maximum",
                dims,
            )
        }),
        DbEngine::Docdb => {}
        DbEngine::Postgres => defs.push(AlarmDef {
            threshold: a.free_storage_threshold * 1024.0 * 1024.0 * 1024.0,
            comparison: "LessThanThreshold",
            ..def(
                "db_free_storage",
                format!("{stack}: less than {} GiB free database storage", a.free_storage_threshold),
                "FreeStorageSpace",
                "Minimum",
                dims,
            )
        }),
    }
    Ok(defs)
}

/// The dashboard widget of alarm number `i`: the same metric,
/// `[namespace, metric, dim, value, ...]`.
fn widget(i: usize, d: &AlarmDef, region: &str) -> Value {
    let mut metric = vec![Value::str(d.namespace), Value::str(d.metric)];
    for (k, v) in &d.dimensions {
        metric.push(Value::str(*k));
        metric.push(v.clone());
    }
    let props: BTreeMap<String, Value> = [
        ("title", Value::str(&d.description)),
        ("region", Value::str(region)),
        ("stat", Value::str(d.statistic)),
        ("period", Value::Int(i64::from(d.period))),
        ("view", Value::str("timeSeries")),
        ("metrics", Value::List(vec![Value::List(metric)])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let widget: BTreeMap<String, Value> = [
        ("type", Value::str("metric")),
        ("x", Value::Int(((i % 2) * 12) as i64)),
        ("y", Value::Int(((i / 2) * 6) as i64)),
        ("width", Value::Int(12)),
        ("height", Value::Int(6)),
        ("properties", Value::Map(props)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Value::Map(widget)
}

impl Expander<'_> {
    /// The alarm topic and the alarms of the region being expanded; returns the
    /// dashboard's widgets for them, placed after `widgets` (one dashboard shows both
    /// regions: [`Expander::dashboard`]).
    pub(crate) fn observability_tier(&mut self, widgets: &mut Vec<Value>) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        // Nothing to watch on a network-only stack (or a DR region without services).
        let home_only = cfg.database.is_some() || cfg.drift.alarm;
        if cfg.services.is_empty() && (self.dr.is_some() || !home_only) {
            return Ok(());
        }
        let topic = self.alarm_topic()?;
        let defs = self.alarm_defs()?;
        for d in &defs {
            self.alarm(d, &topic)?;
            widgets.push(widget(widgets.len(), d, self.region()));
        }
        Ok(())
    }

    /// The SNS topic the alarms notify, and its email subscription.
    fn alarm_topic(&mut self) -> Result<Address, ExpandError> {
        let topic = self.addr(&["sns_topic", "alarms"])?;
        let topic_name = self.name(&["alarms"]);
        let spec = self.tagged(sns::Topic::new(topic.clone()), &topic_name).name(topic_name.as_str());
        self.push(spec);
        if let Some(email) = &self.cfg.alarms.email {
            self.push(
                sns::Subscription::new(self.addr(&["sns_subscription", "email"])?)
                    .topic_arn(out(&topic, "arn"))
                    .protocol("email")
                    .endpoint(email.as_str()),
            );
        }
        Ok(topic)
    }

    /// Every alarm, in the dashboard's order.
    fn alarm_defs(&self) -> Result<Vec<AlarmDef>, ExpandError> {
        let cfg = self.cfg;
        let a = &cfg.alarms;
        let stack = cfg.stack.name.as_str();
        let mut defs = self.traffic_alarms()?;
        if !cfg.services.is_empty() && cfg.compute.launch_type == LaunchType::Ec2 {
            let asg = self.addr(&["asg", "ecs"])?;
            defs.push(AlarmDef {
                threshold: a.cpu_threshold,
                ..AlarmDef::new(
                    a.period,
                    "asg_cpu",
                    "ecs",
                    format!("{stack}: container instances' CPU above {}%", a.cpu_threshold),
                    ("AWS/EC2", "CPUUtilization", "Average"),
                    vec![("AutoScalingGroupName", id(&asg))],
                )
            });
        }
        if self.dr.is_some() {
            // The database and the drift job live in the primary region only.
            return Ok(defs);
        }
        if let Some(db) = &cfg.database {
            defs.extend(database_alarms(stack, a, db)?);
            if cfg.dr.is_none() && !cfg.services.is_empty() {
                // The redeployment after a rotation of the managed password failed.
                defs.push(AlarmDef {
                    threshold: 0.0,
                    treat_missing: "notBreaching",
                    ..AlarmDef::new(
                        a.period,
                        "redeploy_failed",
                        "main",
                        format!("{stack}: the services' redeployment after a password rotation failed"),
                        ("AWS/States", "ExecutionsFailed", "Sum"),
                        vec![("StateMachineArn", out(&addr(&["state_machine", "redeploy"])?, "arn"))],
                    )
                });
            }
        }
        // Drift: what `hactl drift --publish-metrics` puts after each run.
        if cfg.drift.alarm {
            defs.push(AlarmDef {
                treat_missing: "notBreaching",
                period: 900,
                ..AlarmDef::new(
                    a.period,
                    "drift",
                    "main",
                    format!("{stack}: resources changed outside hactl (hactl drift)"),
                    (DRIFT_NAMESPACE, DRIFT_METRIC, "Maximum"),
                    vec![("Stack", Value::str(stack))],
                )
            });
        }
        Ok(defs)
    }

    /// The services' alarms, then the load balancers' 5xx alarms. Services by name, load
    /// balancers public then internal: the dashboard's widgets (one per alarm, in this
    /// order) must not move when the config lists services in another order.
    fn traffic_alarms(&self) -> Result<Vec<AlarmDef>, ExpandError> {
        let cfg = self.cfg;
        let a = &cfg.alarms;
        let stack = cfg.stack.name.as_str();
        let mut services: Vec<&ServiceConfig> = cfg.services.iter().collect();
        services.sort_by(|x, y| x.name.cmp(&y.name));
        let mut defs = Vec::new();
        let mut albs: Vec<(&'static str, Address)> = Vec::new();
        for s in services {
            let lb_key = if s.public { "public" } else { "internal" };
            let lb = self.addr(&["alb", lb_key])?;
            if !albs.iter().any(|(k, _)| *k == lb_key) {
                albs.push((lb_key, lb.clone()));
            }
            defs.extend(service_alarms(stack, a, s, &lb, &self.addr(&["target_group", &s.name])?));
        }
        albs.sort_by_key(|(key, _)| *key != "public");
        for (key, lb) in &albs {
            defs.push(AlarmDef {
                threshold: a.http_5xx_threshold,
                treat_missing: "notBreaching",
                ..AlarmDef::new(
                    a.period,
                    "alb_5xx",
                    key,
                    format!("{stack}: {key} load balancer answers 5xx"),
                    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum"),
                    vec![("LoadBalancer", out(lb, "arn_suffix"))],
                )
            });
        }
        Ok(defs)
    }

    fn alarm(&mut self, d: &AlarmDef, topic: &Address) -> Result<(), ExpandError> {
        let a_addr = self.addr(&["alarm", d.metric_key, &d.subject])?;
        let name = self.name(&[&d.metric_key.replace('_', "-"), &d.subject]);
        let dims: BTreeMap<String, Value> =
            d.dimensions.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let spec = self
            .tagged(cloudwatch::Alarm::new(a_addr), &name)
            .name(name.as_str())
            .description(d.description.as_str())
            .namespace(d.namespace)
            .metric_name(d.metric)
            .dimensions(Value::Map(dims))
            .statistic(d.statistic)
            .period(Value::Int(i64::from(d.period)))
            .evaluation_periods(Value::Int(i64::from(self.cfg.alarms.evaluation_periods)))
            .threshold(Value::Float(d.threshold))
            .comparison_operator(d.comparison)
            .treat_missing_data(d.treat_missing)
            .alarm_actions(Value::List(vec![out(topic, "arn")]))
            .ok_actions(Value::List(Vec::new()));
        self.push(spec);
        Ok(())
    }

    /// Dashboard names are account-wide: the region keeps two regions' stacks of the same
    /// name apart.
    pub(crate) fn dashboard(&mut self, widgets: Vec<Value>) -> Result<(), ExpandError> {
        let mut body = BTreeMap::new();
        body.insert("widgets".to_string(), Value::List(widgets));
        let address = self.addr(&["dashboard", "main"])?;
        let name = format!("{}-{}", self.cfg.stack.name, self.cfg.stack.region);
        let spec = self
            .tagged(cloudwatch::Dashboard::new(address), &name)
            .name(name.as_str())
            .body(Value::Map(body));
        self.push(spec);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::expand;
    use hactl_core::DesiredGraph;

    fn graph(path: &str, edit: impl Fn(String) -> String) -> DesiredGraph {
        let file = format!("{}/../../config/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = edit(std::fs::read_to_string(&file).unwrap());
        expand(&crate::parse(path, &text).unwrap(), &crate::expand::test_env()).unwrap()
    }

    fn props(g: &DesiredGraph, a: &str) -> BTreeMap<String, Value> {
        g.get(&Address::parse(a).unwrap()).unwrap_or_else(|| panic!("{a} missing")).props.clone()
    }

    fn dims(g: &DesiredGraph, a: &str) -> BTreeMap<String, Value> {
        match props(g, a).remove("dimensions") {
            Some(Value::Map(m)) => m,
            other => panic!("{a}: dimensions {other:?}"),
        }
    }

    #[test]
    fn the_ec2_stack_alarms_on_what_cloudwatch_publishes() {
        let g = graph("ha-stack.toml", |t| t);
        let alarms: Vec<String> =
            g.specs().filter(|s| s.kind == cloudwatch::Alarm::KIND).map(|s| s.address.to_string()).collect();
        for want in [
            "alarm.ecs_cpu.frontend",
            "alarm.ecs_memory.backend",
            "alarm.tg_unhealthy.frontend",
            "alarm.tg_response_time.backend",
            "alarm.alb_5xx.public",
            "alarm.alb_5xx.internal",
            "alarm.asg_cpu.ecs",
            "alarm.db_cpu.main",
            "alarm.db_connections.main",
            "alarm.db_replica_lag.main",
        ] {
            assert!(alarms.contains(&want.to_string()), "{want} not in {alarms:?}");
        }
        assert!(!alarms.contains(&"alarm.drift.main".to_string()), "drift.alarm is false in ha-stack.toml");
        let d = dims(&g, "alarm.ecs_cpu.frontend");
        assert_eq!(d["ClusterName"], Value::str("ha-demo"));
        assert_eq!(d["ServiceName"], Value::str("frontend"));
        let d = dims(&g, "alarm.tg_unhealthy.backend");
        assert_eq!(d["TargetGroup"], out(&Address::parse("target_group.backend").unwrap(), "arn_suffix"));
        assert_eq!(d["LoadBalancer"], out(&Address::parse("alb.internal").unwrap(), "arn_suffix"));
        let p = props(&g, "alarm.ecs_cpu.frontend");
        assert_eq!(p["threshold"], Value::Float(80.0));
        assert_eq!(p["period"], Value::Int(300));
        assert_eq!(
            p["alarm_actions"],
            Value::List(vec![out(&Address::parse("sns_topic.alarms").unwrap(), "arn")])
        );
        assert_eq!(
            dims(&g, "alarm.db_cpu.main")["DBClusterIdentifier"],
            id(&Address::parse("db_cluster.main").unwrap())
        );
        assert!(
            g.get(&Address::parse("sns_subscription.email").unwrap()).is_none(),
            "no email, no subscription"
        );
        let Value::Map(body) = &props(&g, "dashboard.main")["body"] else { panic!("body") };
        let Value::List(widgets) = &body["widgets"] else { panic!("widgets") };
        assert_eq!(widgets.len(), alarms.len());
    }

    #[test]
    fn postgres_fargate_alarms_and_the_drift_alarm() {
        let g = graph("fargate-postgres.toml", |t| {
            format!("{t}\n[drift]\nalarm = true\n")
                .replace("[alarms]", "[alarms]\nemail = \"ops@example.com\"")
        });
        assert!(g.get(&Address::parse("alarm.asg_cpu.ecs").unwrap()).is_none(), "Fargate has no ASG");
        assert_eq!(
            dims(&g, "alarm.db_cpu.main")["DBInstanceIdentifier"],
            id(&Address::parse("db_instance.main").unwrap())
        );
        let p = props(&g, "alarm.db_free_storage.main");
        assert_eq!(p["comparison_operator"], Value::str("LessThanThreshold"));
        assert_eq!(p["threshold"], Value::Float(2.0 * 1024.0 * 1024.0 * 1024.0));
        let p = props(&g, "alarm.drift.main");
        assert_eq!(p["namespace"], Value::str(DRIFT_NAMESPACE));
        assert_eq!(p["metric_name"], Value::str(DRIFT_METRIC));
        assert_eq!(dims(&g, "alarm.drift.main")["Stack"], Value::str("fg-demo"));
        assert_eq!(props(&g, "sns_subscription.email")["endpoint"], Value::str("ops@example.com"));
    }

    #[test]
    fn a_network_only_stack_has_nothing_to_watch() {
        let g = graph("ha-stack.toml", |t| {
            let start = t.find("# --- Services").unwrap();
            let end = t.find("# --- Alarms").unwrap();
            format!("{}{}", &t[..start], &t[end..])
        });
        assert!(g.specs().all(|s| !s.kind.starts_with("cloudwatch.") && !s.kind.starts_with("sns.")));
    }
}
