//! `ecs.task_definition`: one revision of a task definition with one container. id = the
//! revision's ARN. Revisions are immutable: every property but `tags` forces a new
//! revision (replace: register the new one, deregister the old one).
//!
//! Read: one paginated ListTaskDefinitions (ACTIVE), kept to the families of the targets.
//! A target whose recorded ARN is still ACTIVE reads as its recorded properties, with no
//! describe. Only ACTIVE revisions of a target family that state does not know and that
//! are newer than the ones it knows (a crash between register and journal) are described
//! (DescribeTaskDefinition with tags), to find their address tag.
//!
//! ListTaskDefinitions' `familyPrefix` is an exact family name (AWS and the emulator
//! alike), so the list is not filtered by the `<stack>-` prefix on the server: it runs
//! once, unfiltered, and is filtered here.

use super::{ecs_error, tags_of, tags_value};
use crate::util::tags::Tagger;
use crate::util::{owner_of, req_str, str_list, tag_map};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
    PortMapping, Secret, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use aws_sdk_ecs::Client;
use hactl_core::kinds::ecs::TaskDefinition as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct TaskDefinition(pub Client);

/// (family, revision) of a task definition ARN (`...:task-definition/<family>:<rev>`).
pub(crate) fn family_revision(arn: &str) -> Option<(&str, i64)> {
    let tail = arn.rsplit_once("task-definition/").map(|(_, t)| t).unwrap_or(arn);
    let (family, rev) = tail.rsplit_once(':')?;
    Some((family, rev.parse().ok()?))
}

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    let (family, revision) = family_revision(arn).unwrap_or(("", 0));
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("revision".to_string(), Value::Int(revision)),
        ("family".to_string(), Value::str(family)),
    ])
}

fn int(m: &BTreeMap<String, Value>, k: &str) -> Option<i32> {
    m.get(k).and_then(Value::as_int).map(|i| i as i32)
}

/// The `container` property as the API's container definition.
fn container_definition(c: &BTreeMap<String, Value>) -> Result<ContainerDefinition, ProviderError> {
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    let mut b = ContainerDefinition::builder()
        .set_name(s("name").map(String::from))
        .set_image(s("image").map(String::from))
        .essential(c.get("essential").and_then(Value::as_bool).unwrap_or(true));
    if let Some(command) = c.get("command").and_then(Value::as_list) {
        b = b.set_command(Some(command.iter().filter_map(Value::as_str).map(String::from).collect()));
    }
    if let Some(port) = int(c, "port") {
        b = b.port_mappings(
            PortMapping::builder().container_port(port).protocol(TransportProtocol::Tcp).build(),
        );
    }
    // Sorted by name (a BTreeMap), the order ECS keeps.
    for (k, v) in c.get("environment").map(Value::string_map).unwrap_or_default() {
        b = b.environment(KeyValuePair::builder().name(k).value(v).build());
    }
    for secret in c.get("secrets").and_then(Value::as_list).unwrap_or_default() {
        let m = secret.as_map().ok_or_else(|| ProviderError::fatal("container secret is not a map"))?;
        let get = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        b = b.secrets(
            Secret::builder()
                .name(get("name"))
                .value_from(get("value_from"))
                .build()
                .map_err(|e| ProviderError::fatal(format!("container secret: {e}")))?,
        );
    }
    if let Some(h) = c.get("health_check").and_then(Value::as_map) {
        b = b.health_check(
            HealthCheck::builder()
                .set_command(Some(h.get("command").map(Value::string_list).unwrap_or_default()))
                .set_interval(int(h, "interval"))
                .set_timeout(int(h, "timeout"))
                .set_retries(int(h, "retries"))
                .set_start_period(int(h, "start_period"))
                .build()
                .map_err(|e| ProviderError::fatal(format!("container health check: {e}")))?,
        );
    }
    if let Some(group) = s("log_group") {
        let mut options = HashMap::from([("awslogs-group".to_string(), group.to_string())]);
        if let Some(r) = s("log_region") {
            options.insert("awslogs-region".to_string(), r.to_string());
        }
        if let Some(p) = s("log_stream_prefix") {
            options.insert("awslogs-stream-prefix".to_string(), p.to_string());
        }
        b = b.log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .set_options(Some(options))
                .build()
                .map_err(|e| ProviderError::fatal(format!("container log configuration: {e}")))?,
        );
    }
    Ok(b.build())
}

/// A live container definition as the `container` property: every key, Null when unset.
fn container_value(c: &ContainerDefinition) -> Value {
    let opt_int = |v: Option<i32>| v.map(|i| Value::Int(i64::from(i))).unwrap_or(Value::Null);
    let opt_str = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    let log = c.log_configuration().and_then(|l| l.options());
    let log_opt = |k: &str| opt_str(log.and_then(|o| o.get(k)).map(String::as_str));
    let health = c.health_check().map(|h| {
        Value::Map(BTreeMap::from([
            ("command".to_string(), Value::from_strings(h.command().iter().cloned())),
            ("interval".to_string(), opt_int(h.interval())),
            ("timeout".to_string(), opt_int(h.timeout())),
            ("retries".to_string(), opt_int(h.retries())),
            ("start_period".to_string(), opt_int(h.start_period())),
        ]))
    });
    Value::Map(BTreeMap::from([
        ("name".to_string(), opt_str(c.name())),
        ("image".to_string(), opt_str(c.image())),
        ("port".to_string(), opt_int(c.port_mappings().first().and_then(|p| p.container_port()))),
        (
            "command".to_string(),
            if c.command().is_empty() {
                Value::Null
            } else {
                Value::from_strings(c.command().iter().cloned())
            },
        ),
        (
            "environment".to_string(),
            Value::from_string_map(
                c.environment().iter().filter_map(|kv| {
                    Some((kv.name()?.to_string(), kv.value().unwrap_or_default().to_string()))
                }),
            ),
        ),
        (
            "secrets".to_string(),
            Value::List(
                c.secrets()
                    .iter()
                    .map(|s| {
                        Value::Map(BTreeMap::from([
                            ("name".to_string(), Value::str(s.name())),
                            ("value_from".to_string(), Value::str(s.value_from())),
                        ]))
                    })
                    .collect(),
            ),
        ),
        ("health_check".to_string(), health.unwrap_or(Value::Null)),
        ("log_group".to_string(), log_opt("awslogs-group")),
        ("log_region".to_string(), log_opt("awslogs-region")),
        ("log_stream_prefix".to_string(), log_opt("awslogs-stream-prefix")),
        ("essential".to_string(), Value::Bool(c.essential().unwrap_or(true))),
    ]))
}

/// Diff suppression of `ecs.task_definition`: a container key the desired container leaves
/// out is left out of the live one too when it is unset (Null) there.
fn normalize_container(desired: &Props, live: &mut Props) {
    let Some(want) = desired.get(Kind::CONTAINER).and_then(Value::as_map) else { return };
    let Some(Value::Map(have)) = live.get_mut(Kind::CONTAINER) else { return };
    have.retain(|k, v| *v != Value::Null || want.contains_key(k));
}

/// A described revision as properties.
fn props_of(td: &aws_sdk_ecs::types::TaskDefinition, tags: &[aws_sdk_ecs::types::Tag]) -> Props {
    let opt_str = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    Props::from([
        (Kind::FAMILY.to_string(), opt_str(td.family())),
        (Kind::CPU.to_string(), opt_str(td.cpu())),
        (Kind::MEMORY.to_string(), opt_str(td.memory())),
        (Kind::NETWORK_MODE.to_string(), opt_str(td.network_mode().map(NetworkMode::as_str))),
        (
            Kind::REQUIRES_COMPATIBILITIES.to_string(),
            Value::from_strings(td.requires_compatibilities().iter().map(|c| c.as_str().to_string())),
        ),
        (Kind::EXECUTION_ROLE_ARN.to_string(), opt_str(td.execution_role_arn())),
        (Kind::TASK_ROLE_ARN.to_string(), opt_str(td.task_role_arn())),
        (
            Kind::CONTAINER.to_string(),
            td.container_definitions().first().map(container_value).unwrap_or(Value::Null),
        ),
        (Kind::TAGS.to_string(), tags_value(tags)),
    ])
}

impl TaskDefinition {
    /// Every ACTIVE revision's ARN (one paginated list).
    async fn active_arns(&self) -> Result<Vec<String>, ProviderError> {
        self.0
            .list_task_definitions()
            .status(TaskDefinitionStatus::Active)
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| ecs_error("ListTaskDefinitions", e))
    }
}

#[async_trait]
impl Provider for TaskDefinition {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_container(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut families: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| t.props.get(Kind::FAMILY).and_then(Value::as_str))
            .map(String::from)
            .collect();
        families.extend(
            targets
                .iter()
                .filter_map(|t| t.id.as_deref().and_then(family_revision))
                .map(|(f, _)| f.to_string()),
        );
        if families.is_empty() {
            return Ok(Vec::new());
        }
        let active: Vec<String> = self
            .active_arns()
            .await?
            .into_iter()
            .filter(|a| family_revision(a).is_some_and(|(f, _)| families.contains(f)))
            .collect();
        let known: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        // The newest revision state knows, per family: an unknown revision older than it
        // is no crash orphan of ours (ours are deregistered when replaced).
        let mut newest_known: BTreeMap<&str, i64> = BTreeMap::new();
        for (f, r) in targets.iter().filter_map(|t| t.id.as_deref().and_then(family_revision)) {
            let e = newest_known.entry(f).or_insert(r);
            *e = (*e).max(r);
        }
        let mut out = Vec::new();
        let mut describe: Vec<&str> = Vec::new();
        for arn in &active {
            match targets.iter().find(|t| t.id.as_deref() == Some(arn.as_str())) {
                // A record without properties (an id being imported) is described.
                Some(ReadTarget { recorded: Some(recorded), address, .. }) if !recorded.is_empty() => {
                    let (owned, _) = owner_of(&ctx.stack, &tag_map(recorded));
                    out.push(LiveObject {
                        id: arn.clone(),
                        address: Some(address.clone()),
                        props: recorded.clone(),
                        outputs: outputs(arn),
                        owned,
                    });
                }
                Some(_) => describe.push(arn),
                None if !known.contains(arn.as_str()) => {
                    let newer = family_revision(arn)
                        .is_some_and(|(f, r)| newest_known.get(f).is_none_or(|&known_rev| r > known_rev));
                    if newer {
                        describe.push(arn);
                    }
                }
                None => {}
            }
        }
        for arn in describe {
            let resp = match self
                .0
                .describe_task_definition()
                .task_definition(arn)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
            {
                Ok(r) => r,
                // Deregistered since the list: gone.
                Err(e) => {
                    let err = ecs_error("DescribeTaskDefinition", e);
                    if err.code() == Some("ClientException") {
                        continue;
                    }
                    return Err(err);
                }
            };
            let Some(td) = resp.task_definition() else { continue };
            let tags = super::tag_map_of(resp.tags());
            let (owned, address) = owner_of(&ctx.stack, &tags);
            out.push(LiveObject {
                id: arn.to_string(),
                address,
                props: props_of(td, resp.tags()),
                outputs: outputs(arn),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let container = props
            .get(Kind::CONTAINER)
            .and_then(Value::as_map)
            .ok_or_else(|| ProviderError::fatal("property `container` is missing or not a map"))?;
        let tags = tags_of(props);
        let out = self
            .0
            .register_task_definition()
            .family(req_str(props, Kind::FAMILY)?)
            .set_cpu(props.get(Kind::CPU).and_then(Value::as_str).map(String::from))
            .set_memory(props.get(Kind::MEMORY).and_then(Value::as_str).map(String::from))
            .set_network_mode(props.get(Kind::NETWORK_MODE).and_then(Value::as_str).map(NetworkMode::from))
            .set_requires_compatibilities(Some(
                str_list(props, Kind::REQUIRES_COMPATIBILITIES)
                    .iter()
                    .map(|c| Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_execution_role_arn(
                props.get(Kind::EXECUTION_ROLE_ARN).and_then(Value::as_str).map(String::from),
            )
            .set_task_role_arn(props.get(Kind::TASK_ROLE_ARN).and_then(Value::as_str).map(String::from))
            .container_definitions(container_definition(container)?)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| ecs_error("RegisterTaskDefinition", e))?;
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| ProviderError::fatal("RegisterTaskDefinition returned no ARN"))?;
        Ok(Applied { id: arn.to_string(), outputs: outputs(arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let refuse = |other: &str| {
            ProviderError::fatal(format!(
                "`{other}` cannot be updated in place (a task definition revision is immutable)"
            ))
        };
        self.0.update_tags_only(req.id, req.changes, refuse).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        match self.0.deregister_task_definition().task_definition(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = ecs_error("DeregisterTaskDefinition", e);
                // "The specified task definition does not exist" (the emulator: "Unable
                // to describe task definition"): already gone.
                let m = err.message().to_ascii_lowercase();
                if err.code() == Some("ClientException")
                    && (m.contains("does not exist")
                        || m.contains("unable to describe")
                        || m.contains("inactive"))
                {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(pairs: &[(&str, Value)]) -> Props {
        let m = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Props::from([(Kind::CONTAINER.to_string(), Value::Map(m))])
    }

    #[test]
    fn unset_container_keys_the_desired_container_leaves_out_are_left_out() {
        let desired = container(&[("image", Value::str("app:1")), ("command", Value::Null)]);
        let mut live = container(&[
            ("image", Value::str("app:1")),
            ("command", Value::Null),
            ("health_check", Value::Null),
            ("port", Value::Int(8080)),
        ]);
        normalize_container(&desired, &mut live);
        assert_eq!(
            live,
            container(&[
                ("image", Value::str("app:1")),
                ("command", Value::Null),
                ("port", Value::Int(8080))
            ])
        );
    }
}
