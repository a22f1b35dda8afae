//! `scheduler.schedule`: a schedule in one of the stack's schedule groups (the drift job:
//! ECS RunTask). id = `<group>/<name>`.
//!
//! Read: for each group named by a target, by a recorded id or found owned by this stack
//! ([`super::stack_groups`]): ListSchedules(GroupName, paginated) → GetSchedule per schedule
//! (documented exception: the list carries no target). Schedules carry no tags: a schedule
//! is owned when its group is, and its address is the target of the same group and name.
//! A group's tags come from the stack's tag index when state records a schedule in it;
//! a group the index holds but no recorded schedule is in is asked for its own tags
//! (ListTagsForResource, shared with the group's provider), so a stale index never makes
//! another's group, and its schedules, the stack's.
//!
//! UpdateSchedule replaces the whole definition, so create (on adoption) and update send
//! every property.

use super::{get_group, stack_groups};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::{client_token, match_target, opt_bool, opt_str, owner_of, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow,
    FlexibleTimeWindowMode, LaunchType, NetworkConfiguration, PropagateTags, RetryPolicy, ScheduleState,
    Target,
};
use aws_sdk_scheduler::Client;
use hactl_core::kinds::scheduler::Schedule as Kind;
use hactl_core::{Address, KindSchema, Props, UpdateMode, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Schedule(pub Client, pub crate::tagging::Tagging);

/// The "already exists" code of the service.
const EXISTS: &str = "ConflictException";

/// AWS defaults of a target's retry policy, answered when it has none.
const DEFAULT_RETRY_ATTEMPTS: i32 = 185;
const DEFAULT_MAX_EVENT_AGE: i32 = 86_400;

fn outputs(group: &str, name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("name".to_string(), Value::str(name)),
        ("group_name".to_string(), Value::str(group)),
    ])
}

/// `<group>/<name>` → (group, name).
fn split_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/')
        .filter(|(g, n)| !g.is_empty() && !n.is_empty())
        .ok_or_else(|| ProviderError::fatal(format!("schedule id `{id}` is not `<group>/<name>`")))
}

fn int(props: &Props, name: &str) -> Result<i32, ProviderError> {
    let v = props
        .get(name)
        .and_then(Value::as_int)
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not an integer")))?;
    i32::try_from(v).map_err(|_| ProviderError::fatal(format!("property `{name}` = {v} is out of range")))
}

fn map<'a>(props: &'a Props, name: &str) -> Option<&'a Props> {
    props.get(name).and_then(Value::as_map)
}

fn build_err(what: &str) -> impl Fn(aws_sdk_scheduler::error::BuildError) -> ProviderError + '_ {
    move |e| ProviderError::fatal(format!("schedule {what}: {e}"))
}

/// Everything CreateSchedule / UpdateSchedule take, from the desired properties.
struct Spec {
    description: Option<String>,
    expression: String,
    timezone: Option<String>,
    state: Option<ScheduleState>,
    window: FlexibleTimeWindow,
    target: Target,
}

fn spec(props: &Props) -> Result<Spec, ProviderError> {
    let window = match props.get(Kind::FLEXIBLE_WINDOW_MINUTES) {
        None | Some(Value::Null) => FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build(),
        Some(_) => FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(int(props, Kind::FLEXIBLE_WINDOW_MINUTES)?)
            .build(),
    }
    .map_err(build_err("flexible time window"))?;
    let t = map(props, Kind::TARGET)
        .ok_or_else(|| ProviderError::fatal("property `target` is missing or not a map"))?;
    let ecs = match map(t, "ecs") {
        None => None,
        Some(ecs) => {
            let vpc = AwsVpcConfiguration::builder()
                .set_subnets(Some(str_list(ecs, "subnets")))
                .set_security_groups(Some(str_list(ecs, "security_groups")))
                .assign_public_ip(if opt_bool(ecs, "assign_public_ip") == Some(true) {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .map_err(build_err("network configuration"))?;
            Some(
                EcsParameters::builder()
                    .task_definition_arn(req_str(ecs, "task_definition_arn")?)
                    .set_launch_type(opt_str(ecs, "launch_type").map(LaunchType::from))
                    .set_task_count(ecs.get("task_count").map(|_| int(ecs, "task_count")).transpose()?)
                    .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
                    .set_enable_ecs_managed_tags(opt_bool(ecs, "enable_managed_tags"))
                    .set_propagate_tags(opt_str(ecs, "propagate_tags").map(PropagateTags::from))
                    .build()
                    .map_err(build_err("ECS parameters"))?,
            )
        }
    };
    let retry = RetryPolicy::builder()
        .maximum_retry_attempts(int(t, "retry_attempts")?)
        .maximum_event_age_in_seconds(int(t, "max_event_age")?)
        .build();
    let target = Target::builder()
        .arn(req_str(t, "arn")?)
        .role_arn(req_str(t, "role_arn")?)
        .retry_policy(retry)
        .set_ecs_parameters(ecs)
        .build()
        .map_err(build_err("target"))?;
    Ok(Spec {
        description: opt_str(props, Kind::DESCRIPTION).filter(|d| !d.is_empty()).map(str::to_string),
        expression: req_str(props, Kind::SCHEDULE_EXPRESSION)?.to_string(),
        timezone: opt_str(props, Kind::TIMEZONE).map(str::to_string),
        state: opt_str(props, Kind::STATE).map(ScheduleState::from),
        window,
        target,
    })
}

/// A role created moments ago is not assumable by EventBridge Scheduler yet: AWS answers
/// `ValidationException: The execution role you provide must allow AWS EventBridge
/// Scheduler to assume the role.` until IAM has propagated. Retryable (the engine backs
/// off up to --retry-timeout), as ECS's "unable to assume role" is.
fn iam_propagation(mut e: ProviderError) -> ProviderError {
    if e.code() == Some("ValidationException") && e.message().to_ascii_lowercase().contains("assume the role")
    {
        e.make_retryable();
    }
    e
}

/// Subnets and security groups, sorted (they compare as sets: see [`normalize_schedule`]).
fn as_set(items: &[String]) -> Value {
    let set: BTreeSet<&String> = items.iter().collect();
    Value::from_strings(set.into_iter().cloned())
}

/// The keys of the target's `ecs` map that compare as sets.
const ECS_SETS: [&str; 2] = ["subnets", "security_groups"];

/// Diff suppression of `scheduler.schedule`: an unset description (Null) is the desired
/// `""`; the target's subnets and security groups are the desired list when they hold the
/// same items (the expansion lists subnets in zone order, not sorted).
fn normalize_schedule(desired: &Props, live: &mut Props) {
    if desired.get(Kind::DESCRIPTION) == Some(&Value::str(""))
        && live.get(Kind::DESCRIPTION) == Some(&Value::Null)
    {
        live.insert(Kind::DESCRIPTION.to_string(), Value::str(""));
    }
    let want = desired.get(Kind::TARGET).and_then(Value::as_map).and_then(|t| t.get("ecs"));
    let Some(want) = want.and_then(Value::as_map) else { return };
    let Some(Value::Map(target)) = live.get_mut(Kind::TARGET) else { return };
    let Some(Value::Map(have)) = target.get_mut("ecs") else { return };
    for key in ECS_SETS {
        let (Some(Value::List(w)), Some(h)) = (want.get(key), have.get_mut(key)) else { continue };
        let w_set: BTreeSet<&str> = w.iter().filter_map(Value::as_str).collect();
        let h_set: BTreeSet<&str> =
            h.as_list().unwrap_or_default().iter().filter_map(Value::as_str).collect();
        if w_set.len() == w.len() && w_set == h_set {
            *h = Value::List(w.clone());
        }
    }
}

/// The schedule's properties as GetSchedule answers them (an unset description is Null).
fn props_of(s: &GetScheduleOutput) -> Props {
    let str_or_null = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    let description = str_or_null(s.description().filter(|d| !d.is_empty()));
    let window = s.flexible_time_window().and_then(|w| match w.mode() {
        FlexibleTimeWindowMode::Flexible => w.maximum_window_in_minutes(),
        _ => None,
    });
    let target = s.target().map(|t| {
        let retry = t.retry_policy();
        let ecs = t.ecs_parameters().map(|e| {
            let vpc = e.network_configuration().and_then(NetworkConfiguration::awsvpc_configuration);
            Value::Map(Props::from([
                ("task_definition_arn".to_string(), Value::str(e.task_definition_arn())),
                ("launch_type".to_string(), str_or_null(e.launch_type().map(LaunchType::as_str))),
                ("task_count".to_string(), Value::Int(i64::from(e.task_count().unwrap_or(1)))),
                ("subnets".to_string(), as_set(vpc.map(AwsVpcConfiguration::subnets).unwrap_or_default())),
                (
                    "security_groups".to_string(),
                    as_set(vpc.map(AwsVpcConfiguration::security_groups).unwrap_or_default()),
                ),
                (
                    "assign_public_ip".to_string(),
                    Value::Bool(
                        vpc.and_then(AwsVpcConfiguration::assign_public_ip) == Some(&AssignPublicIp::Enabled),
                    ),
                ),
                (
                    "enable_managed_tags".to_string(),
                    Value::Bool(e.enable_ecs_managed_tags().unwrap_or(false)),
                ),
                ("propagate_tags".to_string(), str_or_null(e.propagate_tags().map(PropagateTags::as_str))),
            ]))
        });
        Value::Map(Props::from([
            ("arn".to_string(), Value::str(t.arn())),
            ("role_arn".to_string(), Value::str(t.role_arn())),
            (
                "retry_attempts".to_string(),
                Value::Int(i64::from(
                    retry.and_then(RetryPolicy::maximum_retry_attempts).unwrap_or(DEFAULT_RETRY_ATTEMPTS),
                )),
            ),
            (
                "max_event_age".to_string(),
                Value::Int(i64::from(
                    retry
                        .and_then(RetryPolicy::maximum_event_age_in_seconds)
                        .unwrap_or(DEFAULT_MAX_EVENT_AGE),
                )),
            ),
            ("ecs".to_string(), ecs.unwrap_or(Value::Null)),
        ]))
    });
    Props::from([
        (Kind::NAME.to_string(), str_or_null(s.name())),
        (Kind::GROUP_NAME.to_string(), str_or_null(s.group_name())),
        (Kind::DESCRIPTION.to_string(), description),
        (Kind::SCHEDULE_EXPRESSION.to_string(), str_or_null(s.schedule_expression())),
        (Kind::TIMEZONE.to_string(), Value::str(s.schedule_expression_timezone().unwrap_or("UTC"))),
        (Kind::STATE.to_string(), Value::str(s.state().map(ScheduleState::as_str).unwrap_or("ENABLED"))),
        (
            Kind::FLEXIBLE_WINDOW_MINUTES.to_string(),
            window.map(|n| Value::Int(i64::from(n))).unwrap_or(Value::Null),
        ),
        (Kind::TARGET.to_string(), target.unwrap_or(Value::Null)),
    ])
}

impl Schedule {
    /// The names of the schedules of one group (empty when the group does not exist).
    async fn list(&self, group: &str) -> Result<Vec<String>, ProviderError> {
        let listed: Result<Vec<_>, _> =
            self.0.list_schedules().group_name(group).into_paginator().items().send().try_collect().await;
        match listed {
            Ok(items) => Ok(items
                .into_iter()
                .filter(|s| s.group_name().is_none_or(|g| g == group))
                .filter_map(|s| s.name().map(str::to_string))
                .collect()),
            Err(e) => {
                let e = aws_error("ListSchedules", e);
                if is_not_found(&e) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn get(&self, group: &str, name: &str) -> Result<Option<GetScheduleOutput>, ProviderError> {
        match self.0.get_schedule().group_name(group).name(name).send().await {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                let e = aws_error("GetSchedule", e);
                if is_not_found(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// UpdateSchedule with the whole definition; answers the ARN.
    async fn put(&self, group: &str, name: &str, spec: Spec) -> Result<String, ProviderError> {
        let out = self
            .0
            .update_schedule()
            .group_name(group)
            .name(name)
            .set_description(spec.description)
            .schedule_expression(spec.expression)
            .set_schedule_expression_timezone(spec.timezone)
            .set_state(spec.state)
            .flexible_time_window(spec.window)
            .target(spec.target)
            .action_after_completion(ActionAfterCompletion::None)
            .send()
            .await
            .map_err(|e| iam_propagation(aws_error("UpdateSchedule", e)))?;
        Ok(out.schedule_arn().to_string())
    }
}

#[async_trait]
impl Provider for Schedule {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_schedule(desired, live);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let listed = stack_groups(&self.0, &self.1, ctx).await?;
        let recorded: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let named: BTreeSet<&str> = targets
            .iter()
            .filter_map(|t| t.props.get(Kind::GROUP_NAME).and_then(Value::as_str))
            .chain(recorded.iter().filter_map(|id| id.split_once('/').map(|(g, _)| g)))
            .collect();
        // Group name → owned by this stack: the listed groups the stack's (or a target's).
        // A group whose schedule state records is known as recorded (schedules record no
        // tags: the index decides); any other the index holds is asked for its own tags.
        let mut groups: BTreeMap<String, bool> = BTreeMap::new();
        for (name, arn) in &listed.listed {
            let record = targets
                .iter()
                .find(|t| t.id.as_deref().and_then(|id| id.split_once('/')).is_some_and(|(g, _)| g == name));
            let known = Known::of(record, named.contains(name.as_str()));
            if let Some(g) = listed.group(&self.0, ctx, (name, arn), known).await? {
                let owned = owner_of(&ctx.stack, &g.tags).0;
                if owned || named.contains(name.as_str()) {
                    groups.insert(g.name, owned);
                }
            }
        }
        for g in named {
            if groups.contains_key(g) || listed.listed(g) {
                continue;
            }
            // A group outside the stack's listing (or another stack's): its tags decide.
            if let Some(group) = get_group(&self.0, g).await? {
                groups.insert(group.name.clone(), owner_of(&ctx.stack, &group.tags).0);
            }
        }
        let mut out = Vec::new();
        for (group, owned) in groups {
            for name in self.list(&group).await? {
                let id = format!("{group}/{name}");
                let address = match_target(targets, |p| {
                    p.get(Kind::NAME).and_then(Value::as_str) == Some(name.as_str())
                        && p.get(Kind::GROUP_NAME).and_then(Value::as_str) == Some(group.as_str())
                })
                .cloned();
                // Another stack's group named by a target: only its schedules we look for.
                if !owned && address.is_none() && !recorded.contains(id.as_str()) {
                    continue;
                }
                // Deleted since the list.
                let Some(s) = self.get(&group, &name).await? else { continue };
                let arn = s.arn().unwrap_or_default().to_string();
                out.push(LiveObject {
                    props: props_of(&s),
                    outputs: outputs(&group, &name, &arn),
                    id,
                    address,
                    owned,
                });
            }
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let group = req_str(props, Kind::GROUP_NAME)?;
        let id = format!("{group}/{name}");
        let s = spec(props)?;
        let created = self
            .0
            .create_schedule()
            .group_name(group)
            .name(name)
            .set_description(s.description.clone())
            .schedule_expression(s.expression.clone())
            .set_schedule_expression_timezone(s.timezone.clone())
            .set_state(s.state.clone())
            .flexible_time_window(s.window.clone())
            .target(s.target.clone())
            .action_after_completion(ActionAfterCompletion::None)
            .client_token(client_token(ctx, address, props))
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.schedule_arn().to_string(),
            // A group created moments ago may not be visible yet.
            Err(e) => {
                let e = iam_propagation(retry_not_found(aws_error("CreateSchedule", e)));
                if e.code() != Some(EXISTS) {
                    return Err(e);
                }
                // Taken: a create retried after a crash. Schedules carry no tags; the
                // schedule is ours when its group is.
                let tags = get_group(&self.0, group).await?.map(|g| g.tags).unwrap_or_default();
                if !owner_of(&ctx.stack, &tags).0 {
                    let owner = tags.get(TAG_STACK).map(String::as_str).unwrap_or("none");
                    return Err(ProviderError::fatal(format!(
                        "schedule `{id}` already exists and its group is not stack `{}`'s (its hactl:stack \
                         tag: {owner}); delete or rename it",
                        ctx.stack
                    ))
                    .with_code(EXISTS));
                }
                ctx.progress(format!("adopting existing schedule {id}"));
                self.put(group, name, s).await?
            }
        };
        Ok(Applied { outputs: outputs(group, name, &arn), id })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            if !Kind::SCHEMA.prop(&c.name).is_some_and(|p| p.update == UpdateMode::InPlace) {
                return Err(ProviderError::fatal(format!(
                    "scheduler.schedule cannot update `{}` in place",
                    c.name
                )));
            }
        }
        let (group, name) = split_id(req.id)?;
        // UpdateSchedule replaces the whole definition: every property goes.
        let arn = self.put(group, name, spec(req.desired)?).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(group, name, &arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let (group, name) = split_id(id)?;
        ignore_not_found(
            self.0
                .delete_schedule()
                .group_name(group)
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteSchedule", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_target(description: Value, subnets: &[&str]) -> Props {
        let ecs = Props::from([
            ("subnets".to_string(), Value::from_strings(subnets.iter().map(|s| s.to_string()))),
            ("security_groups".to_string(), Value::from_strings(["sg-1".to_string()])),
        ]);
        Props::from([
            (Kind::DESCRIPTION.to_string(), description),
            (Kind::TARGET.to_string(), Value::Map(Props::from([("ecs".to_string(), Value::Map(ecs))]))),
        ])
    }

    #[test]
    fn an_unset_description_is_the_desired_empty_one_and_subnets_compare_as_sets() {
        let desired = with_target(Value::str(""), &["subnet-b", "subnet-a"]);
        let mut live = with_target(Value::Null, &["subnet-a", "subnet-b"]);
        normalize_schedule(&desired, &mut live);
        assert_eq!(live, desired);
        // A desired Null description stays Null; other subnets stay as AWS says.
        let desired = with_target(Value::Null, &["subnet-b", "subnet-c"]);
        let mut live = with_target(Value::Null, &["subnet-a", "subnet-b"]);
        normalize_schedule(&desired, &mut live);
        assert_eq!(live, with_target(Value::Null, &["subnet-a", "subnet-b"]));
        // A described schedule keeps its description.
        let mut live = with_target(Value::str("x"), &["subnet-a"]);
        normalize_schedule(&with_target(Value::str(""), &["subnet-a"]), &mut live);
        assert_eq!(live[Kind::DESCRIPTION], Value::str("x"));
    }

    #[test]
    fn a_role_not_yet_assumable_is_retryable_other_validation_errors_are_not() {
        let e = ProviderError::fatal(
            "The execution role you provide must allow AWS EventBridge Scheduler to assume the role.",
        )
        .with_code("ValidationException");
        assert!(iam_propagation(e).is_retryable());
        let e = ProviderError::fatal("Invalid Schedule Expression rate(0 minutes).")
            .with_code("ValidationException");
        assert!(!iam_propagation(e).is_retryable());
    }
}
