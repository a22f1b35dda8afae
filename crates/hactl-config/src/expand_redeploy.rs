//! Expansion of the redeployment after a rotation of the master password the database
//! manages (stacks without `[dr]` that have a database and services).
//!
//! Tasks read `DB_PASSWORD` when they start, so after a rotation every service needs a new
//! deployment. AWS rotates that secret on its schedule (`secret_rotation.db`), without
//! hactl: when the rotation moves `AWSCURRENT` to the new version, Secrets Manager puts a
//! `Secret Label Updated` event on the account's default event bus. The rule
//! (`event_rule.password_rotated`) matches that event for this secret and starts the state
//! machine (`state_machine.redeploy`), which forces a new deployment of each service
//! (ECS UpdateService, five at a time, retried on throttling and server errors). An alarm
//! (`alarm.redeploy_failed.main`) tells the alarm topic when a run fails.
//!
//! Two roles: the rule's (`iam_role.redeploy_rule`: start that state machine only) and the
//! state machine's (`iam_role.redeploy_machine`: UpdateService on the stack's services
//! only). Both trust their service principal for this account and this rule or machine
//! only.

use crate::expand::{addr, out, short_name, ExpandError, Expander};
use crate::expand_compute::{assume_role, map, policy, statement, strs, Scope};
use crate::expand_data::DataRefs;
use hactl_core::kinds::{events, iam, sfn};
use hactl_core::{Address, Value};

/// ECS errors a forced deployment is retried on (the state machine's `Retry`): throttling,
/// server errors, and a client that could not reach ECS.
const RETRIED: &[&str] = &["Ecs.ThrottlingException", "Ecs.ServerException", "Ecs.SdkClientException"];

/// Services redeployed at once.
const CONCURRENCY: i64 = 5;

/// The names of the redeployment's objects.
pub(crate) fn machine_name(stack: &str) -> String {
    short_name(&format!("{stack}-redeploy"), 80)
}

pub(crate) fn rule_name(stack: &str) -> String {
    short_name(&format!("{stack}-password-rotated"), 64)
}

/// The event pattern: `AWSCURRENT` moved to a new version of `secret_arn`.
fn rotation_pattern(secret_arn: Value) -> Value {
    map(vec![
        ("source", strs(&["aws.secretsmanager"])),
        ("detail-type", strs(&["Secret Label Updated"])),
        ("resources", Value::List(vec![secret_arn])),
        ("detail", map(vec![("labelUpdated", strs(&["AWSCURRENT"]))])),
    ])
}

/// The state machine: a Pass state lists the services, a Map state forces a new
/// deployment of each.
fn definition(stack: &str, cluster: &str, services: &[String]) -> Value {
    let retry = map(vec![
        ("ErrorEquals", strs(RETRIED)),
        ("IntervalSeconds", Value::Int(2)),
        ("MaxAttempts", Value::Int(6)),
        ("BackoffRate", Value::Float(2.0)),
    ]);
    let redeploy = map(vec![
        ("Type", Value::str("Task")),
        ("Resource", Value::str("arn:aws:states:::aws-sdk:ecs:updateService")),
        (
            "Parameters",
            map(vec![
                ("Cluster", Value::str(cluster)),
                ("Service.$", Value::str("$.service")),
                ("ForceNewDeployment", Value::Bool(true)),
            ]),
        ),
        ("ResultSelector", map(vec![("deployment.$", Value::str("$.Service.Deployments[0].Id"))])),
        ("Retry", Value::List(vec![retry])),
        ("End", Value::Bool(true)),
    ]);
    map(vec![
        ("Comment", Value::str(format!("hactl {stack}: a new deployment of every service"))),
        ("StartAt", Value::str("Services")),
        (
            "States",
            map(vec![
                (
                    "Services",
                    map(vec![
                        ("Type", Value::str("Pass")),
                        ("Result", Value::from_strings(services.iter().map(String::as_str))),
                        ("ResultPath", Value::str("$.services")),
                        ("Next", Value::str("Redeploy")),
                    ]),
                ),
                (
                    "Redeploy",
                    map(vec![
                        ("Type", Value::str("Map")),
                        ("ItemsPath", Value::str("$.services")),
                        ("MaxConcurrency", Value::Int(CONCURRENCY)),
                        ("ItemSelector", map(vec![("service.$", Value::str("$$.Map.Item.Value"))])),
                        (
                            "ItemProcessor",
                            map(vec![
                                ("ProcessorConfig", map(vec![("Mode", Value::str("INLINE"))])),
                                ("StartAt", Value::str("ForceNewDeployment")),
                                ("States", map(vec![("ForceNewDeployment", redeploy)])),
                            ]),
                        ),
                        ("End", Value::Bool(true)),
                    ]),
                ),
            ]),
        ),
    ])
}

impl Expander<'_> {
    /// The rule, the state machine and their roles; nothing with `[dr]` (the password is
    /// hactl's, rotated by `hactl rotate-credentials`, which redeploys both regions),
    /// without services or without a database.
    pub(crate) fn rotation_redeploy(&mut self, data: Option<&DataRefs>) -> Result<(), ExpandError> {
        let Some(data) = data.filter(|d| d.secret.is_none()) else { return Ok(()) };
        if self.dr.is_some() || self.cfg.services.is_empty() {
            return Ok(());
        }
        let scope = self.scope();
        let mut services: Vec<String> = self.cfg.services.iter().map(|s| s.name.clone()).collect();
        services.sort();
        let machine_role = self.redeploy_machine_role(&scope)?;
        let machine = addr(&["state_machine", "redeploy"])?;
        let name = machine_name(&scope.stack);
        let spec = self
            .tagged(sfn::StateMachine::new(machine.clone()), &name)
            .name(name.as_str())
            .machine_type("STANDARD")
            .definition(definition(&scope.stack, &scope.stack, &services))
            .role_arn(out(&machine_role, "arn"));
        self.push(spec);
        let rule_role = self.redeploy_rule_role(&scope, &machine)?;
        let rule = addr(&["event_rule", "password_rotated"])?;
        let name = rule_name(&scope.stack);
        let target = map(vec![
            ("id", Value::str("redeploy")),
            ("arn", out(&machine, "arn")),
            ("role_arn", out(&rule_role, "arn")),
        ]);
        let spec = self
            .tagged(events::Rule::new(rule), &name)
            .name(name.as_str())
            .description(format!(
                "hactl {}: the database's master password rotated; redeploy the services",
                scope.stack
            ))
            .event_pattern(rotation_pattern(data.secret_arn.clone()))
            .state("ENABLED")
            .targets(Value::List(vec![target]));
        self.push(spec);
        Ok(())
    }

    /// The state machine's role: UpdateService on the stack's services, nothing else.
    fn redeploy_machine_role(&mut self, scope: &Scope) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let role = addr(&["iam_role", "redeploy_machine"])?;
        let name = short_name(&format!("{stack}-{region}-redeploy"), 64);
        // Every service of the stack's cluster (named after the stack): one ARN whatever
        // the number of services, so the policy stays within IAM's size quota.
        let services = Value::str(scope.arn("ecs", &format!("service/{stack}/*")));
        let spec = self
            .tagged(iam::Role::new(role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: a new deployment of each service after a password rotation"))
            .assume_role_policy(assume_role(
                "states.amazonaws.com",
                account,
                Some(Value::str(scope.arn("states", &format!("stateMachine:{}", machine_name(stack))))),
            ))
            .inline_policies(map(vec![(
                "redeploy",
                policy(vec![statement("Redeploy", &["ecs:UpdateService"], services)]),
            )]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(role)
    }

    /// The rule's role: start this state machine, nothing else.
    fn redeploy_rule_role(&mut self, scope: &Scope, machine: &Address) -> Result<Address, ExpandError> {
        let Scope { stack, region, account, iam_path } = scope;
        let role = addr(&["iam_role", "redeploy_rule"])?;
        let name = short_name(&format!("{stack}-{region}-password-rotated"), 64);
        let spec = self
            .tagged(iam::Role::new(role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!(
                "hactl {stack}: EventBridge starts the redeployment after a password rotation"
            ))
            .assume_role_policy(assume_role(
                "events.amazonaws.com",
                account,
                Some(Value::str(scope.arn("events", &format!("rule/{}", rule_name(stack))))),
            ))
            .inline_policies(map(vec![(
                "start-redeploy",
                policy(vec![statement("StartRedeploy", &["states:StartExecution"], out(machine, "arn"))]),
            )]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        Ok(role)
    }
}
