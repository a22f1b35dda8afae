//! `ecs.service`: a replica service in awsvpc mode, behind target groups, with a
//! deployment circuit breaker. id = service ARN.
//!
//! Create and update wait until the service is stable (one PRIMARY deployment, running
//! = desired, rollout COMPLETED when reported), reporting progress, for at most
//! `stable_timeout` seconds. Create tolerates IAM propagation: a role created seconds
//! ago that ECS cannot assume yet is a retryable error. Delete is the destroy trap:
//! scale to 0, DeleteService (force), wait until INACTIVE.
//!
//! Read: per cluster of the targets, ListServices + DescribeServices (10 per call, tags
//! included).
//!
//! Waits (stable after create/update, INACTIVE after delete) do not poll per service: each
//! keeps its own timeout, backoff and messages, but its checks are answered by one poller
//! per cluster ([`crate::util::batch`]) that describes every service being waited for in
//! that cluster, 10 per DescribeServices call, in rounds at least [`POLL_GAP`] apart. N
//! waits at the 15 s backoff cap cost at most one round a second per cluster (⌈k/10⌉ calls
//! for the k checks due in it) instead of one call per check; a lone wait costs at most
//! what it did (its first checks, 0.25 and 0.5 s apart, come [`POLL_GAP`] apart).

use super::{arn_name, ecs_error, strategy_items, strategy_value, tag_map_of, tags_of, tags_value};
use crate::error::{is_not_found, retry_not_found};
use crate::util::batch::Batcher;
use crate::util::ensure_ours;
use crate::util::tags::Tagger;
use crate::util::{client_token, owner_of, req_str};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentRolloutState, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags,
    SchedulingStrategy, ServiceField,
};
use aws_sdk_ecs::Client;
use hactl_core::kinds::ecs::Service as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The provider; `polls` answers the stability and deletion waits of every service
/// being applied, per cluster.
pub struct Service {
    client: Client,
    polls: Batcher<Live>,
}

/// The properties UpdateService changes (everything in place but `tags`).
const SERVICE_FIELDS: &[&str] = &[
    Kind::TASK_DEFINITION,
    Kind::DESIRED_COUNT,
    Kind::LAUNCH_TYPE,
    Kind::CAPACITY_PROVIDER_STRATEGY,
    Kind::NETWORK,
    Kind::LOAD_BALANCERS,
    Kind::DEPLOYMENT,
    Kind::HEALTH_CHECK_GRACE_PERIOD,
    Kind::PROPAGATE_TAGS,
];

type Live = aws_sdk_ecs::types::Service;

fn outputs(arn: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

fn int_prop(props: &Props, name: &str) -> Option<i32> {
    props.get(name).and_then(Value::as_int).map(|i| i as i32)
}

/// The task count to create with: `desired_count`, or `initial_desired_count` under
/// auto scaling.
fn desired_count(props: &Props) -> Option<i32> {
    int_prop(props, Kind::DESIRED_COUNT).or_else(|| int_prop(props, Kind::INITIAL_DESIRED_COUNT))
}

fn stable_timeout(ctx: &Ctx, props: &Props) -> Duration {
    props
        .get(Kind::STABLE_TIMEOUT)
        .and_then(Value::as_int)
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
        .unwrap_or(ctx.wait_timeout)
}

fn network_configuration(props: &Props) -> Result<Option<NetworkConfiguration>, ProviderError> {
    let Some(m) = props.get(Kind::NETWORK).and_then(Value::as_map) else { return Ok(None) };
    let list = |k: &str| m.get(k).map(Value::string_list).unwrap_or_default();
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(list("subnets")))
        .set_security_groups(Some(list("security_groups")))
        .assign_public_ip(AssignPublicIp::from(
            m.get("assign_public_ip").and_then(Value::as_str).unwrap_or("DISABLED"),
        ))
        .build()
        .map_err(|e| ProviderError::fatal(format!("network configuration: {e}")))?;
    Ok(Some(NetworkConfiguration::builder().awsvpc_configuration(vpc).build()))
}

fn load_balancers(props: &Props) -> Vec<LoadBalancer> {
    props
        .get(Kind::LOAD_BALANCERS)
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_map)
        .map(|m| {
            LoadBalancer::builder()
                .set_target_group_arn(m.get("target_group_arn").and_then(Value::as_str).map(String::from))
                .set_container_name(m.get("container_name").and_then(Value::as_str).map(String::from))
                .set_container_port(m.get("container_port").and_then(Value::as_int).map(|i| i as i32))
                .set_advanced_configuration(super::blue_green::advanced(m))
                .build()
        })
        .collect()
}

fn deployment_configuration(props: &Props) -> Result<Option<DeploymentConfiguration>, ProviderError> {
    let Some(m) = props.get(Kind::DEPLOYMENT).and_then(Value::as_map) else { return Ok(None) };
    let int = |k: &str| m.get(k).and_then(Value::as_int).map(|i| i as i32);
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let b = DeploymentConfiguration::builder()
        .set_minimum_healthy_percent(int("minimum_healthy_percent"))
        .set_maximum_percent(int("maximum_percent"))
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(flag("circuit_breaker"))
                .rollback(flag("rollback"))
                .build(),
        );
    Ok(Some(super::blue_green::deployment(b, m)?.build()))
}

fn strategy(
    props: &Props,
) -> Result<Option<Vec<aws_sdk_ecs::types::CapacityProviderStrategyItem>>, ProviderError> {
    let items = strategy_items(props.get(Kind::CAPACITY_PROVIDER_STRATEGY))?;
    Ok((!items.is_empty()).then_some(items))
}

/// Diff suppression of `ecs.service`: ECS reports a grace period of 0 for a service that
/// never set one (no load balancer): that is the desired "unset" (Null).
fn normalize_service(desired: &Props, live: &mut Props) {
    super::blue_green::normalize(desired, live, Kind::LOAD_BALANCERS);
    let no_lbs = live.get(Kind::LOAD_BALANCERS).and_then(Value::as_list).is_none_or(|l| l.is_empty());
    let unset = matches!(desired.get(Kind::HEALTH_CHECK_GRACE_PERIOD), None | Some(Value::Null));
    if no_lbs && unset && live.get(Kind::HEALTH_CHECK_GRACE_PERIOD) == Some(&Value::Int(0)) {
        live.insert(Kind::HEALTH_CHECK_GRACE_PERIOD.to_string(), Value::Null);
    }
}

/// A live service as properties, as DescribeServices answers it.
fn props_of(s: &Live) -> Props {
    let int = |v: Option<i32>| v.map(|i| Value::Int(i64::from(i))).unwrap_or(Value::Null);
    let strategy = s.capacity_provider_strategy();
    let network = s.network_configuration().and_then(|n| n.awsvpc_configuration()).map(|v| {
        Value::Map(BTreeMap::from([
            ("subnets".to_string(), Value::from_strings(v.subnets().iter().cloned())),
            ("security_groups".to_string(), Value::from_strings(v.security_groups().iter().cloned())),
            (
                "assign_public_ip".to_string(),
                Value::str(v.assign_public_ip().map(AssignPublicIp::as_str).unwrap_or("DISABLED")),
            ),
        ]))
    });
    let lbs: Vec<Value> = s
        .load_balancers()
        .iter()
        .map(|l| {
            let mut m = BTreeMap::from([
                ("target_group_arn".to_string(), l.target_group_arn().map(Value::str).unwrap_or(Value::Null)),
                ("container_name".to_string(), l.container_name().map(Value::str).unwrap_or(Value::Null)),
                ("container_port".to_string(), int(l.container_port())),
            ]);
            if let Some(b) = super::blue_green::advanced_value(l) {
                m.insert("blue_green".to_string(), b);
            }
            Value::Map(m)
        })
        .collect();
    let deployment = s.deployment_configuration().map(|d| {
        let cb = d.deployment_circuit_breaker();
        let mut m = BTreeMap::from([
            ("minimum_healthy_percent".to_string(), int(d.minimum_healthy_percent())),
            ("maximum_percent".to_string(), int(d.maximum_percent())),
            ("circuit_breaker".to_string(), Value::Bool(cb.is_some_and(|c| c.enable()))),
            ("rollback".to_string(), Value::Bool(cb.is_some_and(|c| c.rollback()))),
        ]);
        super::blue_green::deployment_value(d, &mut m);
        Value::Map(m)
    });
    Props::from([
        (Kind::CLUSTER.to_string(), Value::str(arn_name(s.cluster_arn().unwrap_or_default()))),
        (Kind::NAME.to_string(), Value::str(s.service_name().unwrap_or_default())),
        (Kind::TASK_DEFINITION.to_string(), s.task_definition().map(Value::str).unwrap_or(Value::Null)),
        (Kind::DESIRED_COUNT.to_string(), Value::Int(i64::from(s.desired_count()))),
        (
            // A service placed by a capacity provider strategy has no launch type.
            Kind::LAUNCH_TYPE.to_string(),
            match s.launch_type() {
                Some(l) if strategy.is_empty() => Value::str(l.as_str()),
                _ => Value::Null,
            },
        ),
        (
            Kind::CAPACITY_PROVIDER_STRATEGY.to_string(),
            if strategy.is_empty() { Value::Null } else { strategy_value(strategy) },
        ),
        (Kind::NETWORK.to_string(), network.unwrap_or(Value::Null)),
        (Kind::LOAD_BALANCERS.to_string(), Value::List(lbs)),
        (Kind::DEPLOYMENT.to_string(), deployment.unwrap_or(Value::Null)),
        (Kind::HEALTH_CHECK_GRACE_PERIOD.to_string(), int(s.health_check_grace_period_seconds())),
        (
            Kind::PROPAGATE_TAGS.to_string(),
            Value::str(s.propagate_tags().map(PropagateTags::as_str).unwrap_or("NONE")),
        ),
        (Kind::TAGS.to_string(), tags_value(s.tags())),
    ])
}

/// CreateService errors that go away by themselves: IAM roles created seconds ago that
/// ECS cannot assume yet ("ECS was unable to assume the role ..."), and a target group
/// whose listener is still being created.
pub(crate) fn is_propagation_error(code: Option<&str>, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == Some("InvalidParameterException")
        && (m.contains("unable to assume")
            || m.contains("assume role")
            || m.contains("assume the role")
            || m.contains("does not have an associated load balancer"))
}

/// A one-line summary of where a service's rollout is (progress reports, timeouts).
fn rollout_summary(s: &Live) -> String {
    let rollouts: Vec<String> = s
        .deployments()
        .iter()
        .map(|d| {
            format!(
                "{} {}/{}{}",
                d.status().unwrap_or("?").to_ascii_lowercase(),
                d.running_count(),
                d.desired_count(),
                d.rollout_state()
                    .map(|r| format!(" {}", r.as_str().to_ascii_lowercase()))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "{} of {} tasks running, {} pending; deployments: {}",
        s.running_count(),
        s.desired_count(),
        s.pending_count(),
        if rollouts.is_empty() { "none".to_string() } else { rollouts.join(", ") }
    )
}

/// Stable: one deployment, the PRIMARY one, done rolling out, with every task running.
fn is_stable(s: &Live) -> bool {
    let deployments = s.deployments();
    deployments.len() == 1
        && deployments[0].status() == Some("PRIMARY")
        && deployments[0].rollout_state().is_none_or(|r| *r == DeploymentRolloutState::Completed)
        && s.running_count() == s.desired_count()
}

/// The id of the service's PRIMARY deployment.
fn primary_id(s: &Live) -> Option<String> {
    s.deployments().iter().find(|d| d.status() == Some("PRIMARY")).and_then(|d| d.id()).map(str::to_string)
}

/// DescribeServices in one cluster for up to 10 names or ARNs (tags included); ACTIVE and
/// DRAINING ones, missing ones left out. A missing cluster has none.
async fn describe(client: &Client, cluster: &str, services: &[String]) -> Result<Vec<Live>, ProviderError> {
    let resp = match client
        .describe_services()
        .cluster(cluster)
        .set_services(Some(services.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let err = ecs_error("DescribeServices", e);
            return if is_not_found(&err) { Ok(Vec::new()) } else { Err(err) };
        }
    };
    Ok(resp.services().to_vec())
}

/// The services of one DescribeServices answer by the names or ARNs asked for: the one
/// whose ARN is the key (a name: whose name is the key), unless INACTIVE (gone).
fn answer_by_key(keys: &[String], answer: Vec<Live>) -> BTreeMap<String, Live> {
    let live: Vec<Live> = answer.into_iter().filter(|s| s.status() != Some("INACTIVE")).collect();
    keys.iter()
        .filter_map(|k| {
            let by_name = !k.starts_with("arn:");
            let s = live.iter().find(|s| {
                s.service_arn() == Some(k.as_str()) || (by_name && s.service_name() == Some(k.as_str()))
            })?;
            Some((k.clone(), s.clone()))
        })
        .collect()
}

/// The least time between two DescribeServices rounds of the waits of one cluster: checks
/// due meanwhile share the next round's calls (see [`crate::util::batch`]).
const POLL_GAP: Duration = Duration::from_secs(1);

impl Service {
    pub fn new(client: Client) -> Service {
        let describer = client.clone();
        let fetch = Box::new(move |cluster: String, keys: Vec<String>| {
            let client = describer.clone();
            Box::pin(async move { Ok(answer_by_key(&keys, describe(&client, &cluster, &keys).await?)) })
                as futures::future::BoxFuture<'static, _>
        });
        Service { client, polls: Batcher::new(10, POLL_GAP, fetch) }
    }

    /// The service as it is now, unless it is gone (missing or INACTIVE): the waits'
    /// check, answered by the cluster's shared poller (DescribeServices of up to 10
    /// services of every wait in that cluster).
    async fn polled(&self, cluster: &str, arn: &str) -> Result<Option<Live>, ProviderError> {
        self.polls.get(cluster, arn).await
    }

    /// The service, unless it is gone (missing or INACTIVE): one DescribeServices.
    async fn one(&self, cluster: &str, service: &str) -> Result<Option<Live>, ProviderError> {
        let answer = describe(&self.client, cluster, &[service.to_string()]).await?;
        Ok(answer.into_iter().find(|s| s.status() != Some("INACTIVE")))
    }

    /// Waits until the service is stable, running `task_definition`, for at most
    /// `timeout`, reporting each change of its rollout.
    async fn wait_stable(
        &self,
        ctx: &Ctx,
        cluster: &str,
        arn: &str,
        task_definition: Option<&str>,
        timeout: Duration,
    ) -> Result<(), ProviderError> {
        let name = arn_name(arn);
        let start = Instant::now();
        let last = Mutex::new(String::new());
        let last = &last;
        // The service's own timeout bounds the wait, not the engine's default one.
        let mut wctx = ctx.clone();
        wctx.wait_timeout = timeout + Duration::from_secs(60);
        wctx.wait_for(&format!("ECS service {name} to be stable"), || async move {
            let Some(s) = self.polled(cluster, arn).await? else {
                // Right after its create a service may not be visible yet.
                if start.elapsed() < Duration::from_secs(30) {
                    return Ok(None);
                }
                return Err(ProviderError::fatal(format!(
                    "ECS service {name} disappeared while waiting for it to be stable"
                )));
            };
            if s.status() != Some("ACTIVE") {
                return Err(ProviderError::fatal(format!(
                    "ECS service {name} is {} while waiting for it to be stable",
                    s.status().unwrap_or("in an unknown state")
                )));
            }
            // The circuit breaker stopped the rollout (and may be rolling back).
            if let Some(d) =
                s.deployments().iter().find(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed))
            {
                return Err(ProviderError::fatal(format!(
                    "ECS service {name}: deployment of {} failed: {}",
                    d.task_definition().unwrap_or("?"),
                    d.rollout_state_reason().unwrap_or("no reason given")
                )));
            }
            let summary = rollout_summary(&s);
            if let Ok(mut l) = last.lock() {
                if *l != summary {
                    ctx.progress(summary.clone());
                    *l = summary.clone();
                }
            }
            if is_stable(&s) {
                let running = s.deployments().first().and_then(|d| d.task_definition());
                if let (Some(want), Some(running)) = (task_definition, running) {
                    // Right after UpdateService the old deployment may still be the only
                    // one shown: not stable yet. Settled on another revision for long
                    // after that: rolled back.
                    if want != running && start.elapsed() < Duration::from_secs(60).min(timeout) {
                        return Ok(None);
                    }
                    if want != running {
                        return Err(ProviderError::fatal(format!(
                            "ECS service {name} settled on {running}, not {want} (rolled back)"
                        )));
                    }
                }
                return Ok(Some(()));
            }
            if start.elapsed() > timeout {
                return Err(ProviderError::fatal(format!(
                    "ECS service {name} not stable after {}s: {summary}",
                    start.elapsed().as_secs()
                )));
            }
            Ok(None)
        })
        .await
    }

    /// A new deployment of the service on its current task definition (UpdateService with
    /// forceNewDeployment: its new tasks read their secrets again), waited for until the
    /// service is stable, for at most `timeout`. Answers the new deployment's id.
    pub async fn redeploy(
        &self,
        ctx: &Ctx,
        cluster: &str,
        service: &str,
        timeout: Duration,
    ) -> Result<String, ProviderError> {
        let out = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| ecs_error("UpdateService", e))?;
        let s = out.service().ok_or_else(|| {
            ProviderError::fatal(format!("UpdateService returned no service for {service}"))
        })?;
        let arn = s.service_arn().unwrap_or(service).to_string();
        let deployment = s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.id())
            .unwrap_or("(id not reported)")
            .to_string();
        self.wait_stable(ctx, cluster, &arn, s.task_definition(), timeout).await?;
        Ok(deployment)
    }

    /// The id of the service's PRIMARY deployment; None when the service is gone.
    pub async fn primary_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<String>, ProviderError> {
        let live = self.one(cluster, service).await?;
        Ok(live.and_then(|s| primary_id(&s)))
    }

    /// The new deployment something else started (the stack's rule after a password
    /// rotation): waits up to `grace` for a PRIMARY deployment other than `before`, then
    /// waits for the service to be stable on it (for at most `timeout`). None when none
    /// came within `grace`.
    pub async fn follow_new_deployment(
        &self,
        ctx: &Ctx,
        cluster: &str,
        service: &str,
        before: Option<&str>,
        grace: Duration,
        timeout: Duration,
    ) -> Result<Option<String>, ProviderError> {
        let start = Instant::now();
        loop {
            let live = self.polled(cluster, service).await?.ok_or_else(|| {
                ProviderError::fatal(format!(
                    "ECS service {service} disappeared while waiting for its new deployment"
                ))
            })?;
            if let Some(id) = primary_id(&live).filter(|id| Some(id.as_str()) != before) {
                let arn = live.service_arn().unwrap_or(service).to_string();
                let task_definition = live
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .and_then(|d| d.task_definition());
                self.wait_stable(ctx, cluster, &arn, task_definition, timeout).await?;
                return Ok(Some(id));
            }
            if start.elapsed() >= grace {
                return Ok(None);
            }
            tokio::time::sleep(POLL_GAP).await;
        }
    }

    /// UpdateService with the `fields` of `props` (the properties UpdateService takes).
    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        props: &Props,
        fields: &[&str],
    ) -> Result<(), ProviderError> {
        let has = |n: &str| fields.contains(&n);
        let mut req = self.client.update_service().cluster(cluster).service(service);
        if has(Kind::TASK_DEFINITION) {
            req = req.task_definition(req_str(props, Kind::TASK_DEFINITION)?);
        }
        if has(Kind::DESIRED_COUNT) {
            req = req.set_desired_count(int_prop(props, Kind::DESIRED_COUNT));
        }
        if has(Kind::CAPACITY_PROVIDER_STRATEGY) || has(Kind::LAUNCH_TYPE) {
            // A strategy change only takes effect with a new deployment (ECS requires it).
            // An empty strategy moves the service back to its launch type (ECS accepts
            // both moves in place since June 2025).
            let items = strategy_items(props.get(Kind::CAPACITY_PROVIDER_STRATEGY))?;
            req = req.set_capacity_provider_strategy(Some(items)).force_new_deployment(true);
        }
        if has(Kind::NETWORK) {
            req = req.set_network_configuration(network_configuration(props)?);
        }
        if has(Kind::LOAD_BALANCERS) {
            // An empty list removes them.
            req = req.set_load_balancers(Some(load_balancers(props)));
        }
        if has(Kind::DEPLOYMENT) {
            req = req.set_deployment_configuration(deployment_configuration(props)?);
        }
        if has(Kind::HEALTH_CHECK_GRACE_PERIOD) {
            req = req.health_check_grace_period_seconds(
                int_prop(props, Kind::HEALTH_CHECK_GRACE_PERIOD).unwrap_or(0),
            );
        }
        if has(Kind::PROPAGATE_TAGS) {
            req = req.propagate_tags(PropagateTags::from(
                props.get(Kind::PROPAGATE_TAGS).and_then(Value::as_str).unwrap_or("NONE"),
            ));
        }
        req.send().await.map(|_| ()).map_err(|e| retry_not_found(ecs_error("UpdateService", e)))
    }

    /// A create that found the service already there (a retried create): converge it to
    /// `props` if it is this address's own, refuse otherwise.
    async fn adopt(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<String, ProviderError> {
        let cluster = req_str(props, Kind::CLUSTER)?;
        let name = req_str(props, Kind::NAME)?;
        let s = self.one(cluster, name).await?.ok_or_else(|| {
            ProviderError::retryable(format!("ECS service {name} exists but cannot be described yet"))
        })?;
        let what = format!("ECS service `{name}` in cluster `{cluster}`");
        ensure_ours(ctx, address, &tag_map_of(s.tags()), &what, "AlreadyExists")?;
        let arn = s.service_arn().unwrap_or_default().to_string();
        let mut live = props_of(&s);
        normalize_service(props, &mut live);
        let fields: Vec<&str> = SERVICE_FIELDS
            .iter()
            .copied()
            .filter(|f| props.contains_key(*f) && props.get(*f) != live.get(*f))
            .collect();
        if !fields.is_empty() {
            self.update_service(cluster, &arn, props, &fields).await?;
        }
        self.client.sync_tags(&arn, live.get(Kind::TAGS), props.get(Kind::TAGS)).await?;
        Ok(arn)
    }
}

#[async_trait]
impl Provider for Service {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_service(desired, live);
    }

    /// A launch type changed to another one (EC2 and FARGATE) forces a new service:
    /// UpdateService moves a service between its launch type and a capacity provider
    /// strategy only (an empty strategy returning it to the launch type it was created
    /// with), never from one launch type to another.
    fn diff(&self, desired: &Props, live: &Props) -> Vec<hactl_core::PropChange> {
        let mut live = live.clone();
        self.normalize(desired, &mut live);
        let mut changes = hactl_core::diff_props(self.schema(), desired, &live);
        for c in &mut changes {
            let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| *v != Value::Null);
            if c.name == Kind::LAUNCH_TYPE && set(&c.before) && set(&c.after) {
                c.forces_replacement = true;
            }
        }
        changes
    }

    /// Which deployment a change that starts one will run: rolling or blue/green.
    fn update_note(&self, desired: &Props, changes: &[hactl_core::PropChange]) -> Option<String> {
        let deploys = [Kind::TASK_DEFINITION, Kind::LAUNCH_TYPE, Kind::CAPACITY_PROVIDER_STRATEGY];
        if !changes.iter().any(|c| deploys.contains(&c.name.as_str())) {
            return None;
        }
        Some(super::blue_green::deployment_note(desired.get(Kind::DEPLOYMENT)))
    }

    /// Read keys: services are found by cluster (and tags): target groups, task definitions and roles are not waited for.
    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::CLUSTER])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut clusters: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| t.props.get(Kind::CLUSTER).and_then(Value::as_str))
            .map(String::from)
            .collect();
        clusters.extend(
            targets
                .iter()
                .filter_map(|t| t.recorded.as_ref()?.get(Kind::CLUSTER)?.as_str().map(String::from)),
        );
        // Long service ARNs carry their cluster: `...:service/<cluster>/<name>`.
        clusters.extend(targets.iter().filter_map(|t| {
            let tail = t.id.as_deref()?.split_once(":service/")?.1;
            Some(tail.split_once('/')?.0.to_string())
        }));
        let mut out = Vec::new();
        for cluster in clusters {
            let arns: Vec<String> = match self
                .client
                .list_services()
                .cluster(&cluster)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    let err = ecs_error("ListServices", e);
                    if is_not_found(&err) {
                        continue;
                    }
                    return Err(err);
                }
            };
            // DescribeServices takes 10 services: the batches run concurrently.
            let batches = arns.chunks(10).map(|chunk| describe(&self.client, &cluster, chunk));
            let described = futures::future::try_join_all(batches).await?;
            for batch in described {
                for s in batch {
                    // DRAINING: being deleted; INACTIVE: deleted.
                    if s.status() != Some("ACTIVE") {
                        continue;
                    }
                    let Some(arn) = s.service_arn() else { continue };
                    let (owned, address) = owner_of(&ctx.stack, &tag_map_of(s.tags()));
                    out.push(LiveObject {
                        id: arn.to_string(),
                        address,
                        props: props_of(&s),
                        outputs: outputs(arn, s.service_name().unwrap_or_default()),
                        owned,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let cluster = req_str(props, Kind::CLUSTER)?;
        let name = req_str(props, Kind::NAME)?;
        let lbs = load_balancers(props);
        let tags = tags_of(props);
        let result = self
            .client
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(req_str(props, Kind::TASK_DEFINITION)?)
            .set_desired_count(desired_count(props))
            .scheduling_strategy(SchedulingStrategy::Replica)
            .set_launch_type(props.get(Kind::LAUNCH_TYPE).and_then(Value::as_str).map(LaunchType::from))
            .set_capacity_provider_strategy(strategy(props)?)
            .set_network_configuration(network_configuration(props)?)
            .set_load_balancers((!lbs.is_empty()).then_some(lbs))
            .set_deployment_configuration(deployment_configuration(props)?)
            .set_health_check_grace_period_seconds(int_prop(props, Kind::HEALTH_CHECK_GRACE_PERIOD))
            .set_propagate_tags(
                props.get(Kind::PROPAGATE_TAGS).and_then(Value::as_str).map(PropagateTags::from),
            )
            .set_tags((!tags.is_empty()).then_some(tags))
            .client_token(client_token(ctx, address, props))
            .send()
            .await;
        let arn = match result {
            Ok(out) => out
                .service()
                .and_then(|s| s.service_arn())
                .ok_or_else(|| ProviderError::fatal("CreateService returned no service ARN"))?
                .to_string(),
            Err(e) => {
                let mut err = retry_not_found(ecs_error("CreateService", e));
                if is_propagation_error(err.code(), err.message()) {
                    err.make_retryable();
                    return Err(err);
                }
                // "Creation of service was not idempotent": a service of that name is
                // already there (other token), e.g. created by a crashed earlier run.
                if err.code() == Some("InvalidParameterException")
                    && err.message().to_ascii_lowercase().contains("not idempotent")
                {
                    self.adopt(ctx, address, props).await?
                } else {
                    return Err(err);
                }
            }
        };
        ctx.progress(format!("{} created; waiting for its tasks", arn_name(&arn)));
        let task_definition = props.get(Kind::TASK_DEFINITION).and_then(Value::as_str);
        self.wait_stable(ctx, cluster, &arn, task_definition, stable_timeout(ctx, props)).await?;
        Ok(Applied { id: arn.clone(), outputs: outputs(&arn, name) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let cluster = req_str(req.desired, Kind::CLUSTER)?;
        let name = req_str(req.desired, Kind::NAME)?;
        let mut fields = Vec::new();
        for c in req.changes {
            match c.name.as_str() {
                Kind::TAGS => self.client.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                n if SERVICE_FIELDS.contains(&n) => fields.push(n),
                other => return Err(ProviderError::fatal(format!("`{other}` cannot be updated in place"))),
            }
        }
        if !fields.is_empty() {
            self.update_service(cluster, req.id, req.desired, &fields).await?;
            let task_definition = req.desired.get(Kind::TASK_DEFINITION).and_then(Value::as_str);
            self.wait_stable(ctx, cluster, req.id, task_definition, stable_timeout(ctx, req.desired)).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, name) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let cluster = match recorded.get(Kind::CLUSTER).and_then(Value::as_str) {
            Some(c) => c.to_string(),
            None => id
                .split_once(":service/")
                .and_then(|(_, t)| t.split_once('/'))
                .map(|(c, _)| c.to_string())
                .ok_or_else(|| {
                    ProviderError::fatal(format!("cannot tell the cluster of ECS service {id}"))
                })?,
        };
        // Gone already: missing service or cluster, or a service no longer active.
        let gone = |e: &ProviderError| is_not_found(e) || e.code() == Some("ServiceNotActiveException");
        // Scale to 0 first: the tasks stop (and leave their load balancer targets) before
        // the service goes, as a deployment would drain them.
        if let Err(e) = self
            .client
            .update_service()
            .cluster(&cluster)
            .service(id)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| ecs_error("UpdateService", e))
        {
            if !gone(&e) {
                return Err(e);
            }
        }
        if let Err(e) = self
            .client
            .delete_service()
            .cluster(&cluster)
            .service(id)
            .force(true)
            .send()
            .await
            .map_err(|e| ecs_error("DeleteService", e))
        {
            if !gone(&e) {
                return Err(e);
            }
        }
        ctx.wait_for(&format!("ECS service {} to be inactive", arn_name(id)), || async {
            Ok(self.polled(&cluster, id).await?.is_none().then_some(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_answer_gives_each_wait_its_own_service() {
        let svc = |arn: &str, status: &str| {
            Live::builder().service_arn(arn).service_name(arn_name(arn)).status(status).build()
        };
        let old = "arn:aws:ecs:us-east-1:1:service/c/web";
        let new = "arn:aws:ecs:us-east-1:1:service/c/web-2";
        // The deleted `web` (INACTIVE) and a new service: the deletion wait sees its
        // service gone, not the other one; a name finds the service of that name.
        let answer = vec![
            svc(old, "INACTIVE"),
            svc(new, "ACTIVE"),
            svc("arn:aws:ecs:us-east-1:1:service/c/api", "DRAINING"),
        ];
        let keys = [old.to_string(), new.to_string(), "api".to_string(), "missing".to_string()];
        let got = answer_by_key(&keys, answer);
        assert_eq!(got.keys().collect::<Vec<_>>(), [&"api".to_string(), &new.to_string()]);
        assert_eq!(got[new].service_arn(), Some(new));
        assert_eq!(got["api"].status(), Some("DRAINING"));
        // An ARN never matches by name: a same-named service of another ARN is not it.
        let same_name = "arn:aws:ecs:us-east-1:1:service/c/web";
        let got = answer_by_key(
            &[same_name.to_string()],
            vec![svc("arn:aws:ecs:us-east-1:1:service/web", "ACTIVE")],
        );
        assert!(got.is_empty());
    }

    #[test]
    fn a_zero_grace_period_without_load_balancer_is_unset() {
        let props = |grace: Value, lbs: Vec<Value>| {
            Props::from([
                (Kind::HEALTH_CHECK_GRACE_PERIOD.to_string(), grace),
                (Kind::LOAD_BALANCERS.to_string(), Value::List(lbs)),
            ])
        };
        let mut live = props(Value::Int(0), vec![]);
        normalize_service(&props(Value::Null, vec![]), &mut live);
        assert_eq!(live[Kind::HEALTH_CHECK_GRACE_PERIOD], Value::Null);
        let lb = Value::Map(BTreeMap::from([("container_port".to_string(), Value::Int(80))]));
        let mut live = props(Value::Int(0), vec![lb.clone()]);
        normalize_service(&props(Value::Null, vec![lb]), &mut live);
        assert_eq!(live[Kind::HEALTH_CHECK_GRACE_PERIOD], Value::Int(0));
        let mut live = props(Value::Int(0), vec![]);
        normalize_service(&props(Value::Int(0), vec![]), &mut live);
        assert_eq!(live[Kind::HEALTH_CHECK_GRACE_PERIOD], Value::Int(0));
    }

    #[test]
    fn iam_propagation_errors_are_recognised() {
        let code = Some("InvalidParameterException");
        assert!(is_propagation_error(
            code,
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service \
             role being passed has the proper permissions."
        ));
        assert!(is_propagation_error(code, "ECS was unable to assume the role 'arn:aws:iam::1:role/x'"));
        assert!(is_propagation_error(
            code,
            "The target group with targetGroupArn arn:... does not have an associated load balancer."
        ));
        assert!(!is_propagation_error(code, "Creation of service was not idempotent."));
        assert!(!is_propagation_error(Some("AccessDeniedException"), "unable to assume role"));
    }

    #[test]
    fn stability_needs_one_completed_primary_deployment_and_every_task() {
        use aws_sdk_ecs::types::Deployment;
        let dep = |status: &str, rollout: Option<DeploymentRolloutState>| {
            Deployment::builder()
                .status(status)
                .set_rollout_state(rollout)
                .running_count(2)
                .desired_count(2)
                .build()
        };
        let svc = |running: i32, deps: Vec<Deployment>| {
            Live::builder().desired_count(2).running_count(running).set_deployments(Some(deps)).build()
        };
        assert!(is_stable(&svc(2, vec![dep("PRIMARY", Some(DeploymentRolloutState::Completed))])));
        assert!(is_stable(&svc(2, vec![dep("PRIMARY", None)])));
        assert!(!is_stable(&svc(1, vec![dep("PRIMARY", Some(DeploymentRolloutState::Completed))])));
        assert!(!is_stable(&svc(2, vec![dep("PRIMARY", Some(DeploymentRolloutState::InProgress))])));
        assert!(!is_stable(&svc(
            2,
            vec![dep("PRIMARY", Some(DeploymentRolloutState::Completed)), dep("ACTIVE", None)]
        )));
        assert!(!is_stable(&svc(2, vec![])));
    }
}
