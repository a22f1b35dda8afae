//! The scheduled rotation of a `[dr]` stack's master password: with
//! `database.password_rotation_days`, the drift job's schedule group gets a second
//! schedule that runs `hactl rotate-credentials` as a Fargate task (the drift job's image,
//! config, log group, security group and execution role) every that many days.
//!
//! AWS manages no password for a global cluster's members or a cross-region replica's
//! source, so the password is hactl's replicated secret (`secret.db`): rotating it is
//! hactl's own steps (a pending version, the writing database, the current version, the
//! replica, both regions' services), which no AWS schedule runs. The task role
//! (`iam_role.rotation_job_task`) holds exactly what those steps call: the state object
//! and its lock; GetRandomPassword; reading and staging versions of that one secret (and
//! describing its replica); changing the master password of the stack's databases and
//! reading them; a new deployment of the stack's services; with `database.kms_key_id`,
//! the key through Secrets Manager only.

use crate::expand::{addr, out, short_name, ExpandError, Expander};
use crate::expand_compute::{assume_role, map, policy, statement, Scope};
use crate::expand_data::DataRefs;
use crate::expand_drift::{
    in_regions, state_statements, with_condition, DriftTaskRefs, JobSchedule, JobTask,
};
use crate::model::{DbEngine, DriftSchedule};
use hactl_core::kinds::{iam, secretsmanager};
use hactl_core::{Address, Value};

/// The rotation job: its schedule (with its task definition) and its task role.
pub(crate) struct RotationJob {
    pub schedule: JobSchedule,
    pub task_role: Address,
}

/// `rate(N days)` (`rate(1 day)`: Scheduler wants the singular for 1).
fn every(days: u32) -> String {
    if days == 1 {
        "rate(1 day)".to_string()
    } else {
        format!("rate({days} days)")
    }
}

impl Expander<'_> {
    /// The rotation job's task definition and role; None without `[dr]` or without
    /// `password_rotation_days` (validation refuses the key with `[dr]` but no drift job).
    pub(crate) fn rotation_job(
        &mut self,
        scope: &Scope,
        job: &DriftSchedule,
        log_group: &Address,
        task: &DriftTaskRefs,
        data: Option<&DataRefs>,
        state: (&str, &str),
    ) -> Result<Option<RotationJob>, ExpandError> {
        let (Some(dr), Some(db)) = (&self.cfg.dr, &self.cfg.database) else { return Ok(None) };
        let Some(secret) = data.and_then(|d| d.secret.as_ref()).filter(|_| db.password_rotation_set) else {
            return Ok(None);
        };
        let Scope { stack, region, account, iam_path } = scope;
        let regional = |each: &dyn Fn(&Scope) -> Vec<String>| in_regions(scope, Some(&dr.region), each);
        let (modify, describe, database) = match db.engine {
            DbEngine::Docdb => {
                ("rds:ModifyDBCluster", "rds:DescribeDBClusters", format!("cluster:{stack}-*"))
            }
            DbEngine::Postgres => {
                ("rds:ModifyDBInstance", "rds:DescribeDBInstances", format!("db:{stack}-*"))
            }
        };
        let mut statements = state_statements(scope, state.0, state.1);
        statements.extend([
            statement("GeneratePassword", &["secretsmanager:GetRandomPassword"], Value::str("*")),
            statement(
                "RotateCredentialsSecret",
                &[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                out(secret, "arn"),
            ),
            statement(
                "WatchReplica",
                &["secretsmanager:DescribeSecret"],
                out(secret, &secretsmanager::Secret::arn_in(&dr.region)),
            ),
            // The writing database: the home region's, or the DR region's after a failover.
            statement(
                "SetDatabasePassword",
                &[modify, describe],
                regional(&|sc: &Scope| vec![sc.arn("rds", &database)]),
            ),
            statement(
                "RedeployServices",
                &["ecs:UpdateService", "ecs:DescribeServices"],
                regional(&|sc: &Scope| vec![sc.arn("ecs", &format!("service/{stack}/*"))]),
            ),
        ]);
        if db.kms_key_id.is_some() {
            // The secret's customer key, through Secrets Manager only.
            statements.push(with_condition(
                statement("SecretKey", &["kms:Decrypt", "kms:GenerateDataKey"], Value::str("*")),
                "StringEquals",
                "kms:ViaService",
                Value::str(format!("secretsmanager.{region}.amazonaws.com")),
            ));
        }
        let task_role = addr(&["iam_role", "rotation_job_task"])?;
        let name = short_name(&format!("{stack}-{region}-rotation-task"), 64);
        let spec = self
            .tagged(iam::Role::new(task_role.clone()), &name)
            .name(name.as_str())
            .path(iam_path.as_str())
            .description(format!("hactl {stack}: scheduled rotation of the master password"))
            .assume_role_policy(assume_role("ecs-tasks.amazonaws.com", account, None))
            .inline_policies(map(vec![("rotate-credentials", policy(statements))]))
            .managed_policy_arns(Value::List(Vec::new()));
        self.push(spec);
        let definition = JobTask {
            address: addr(&["task_definition", "rotation_job"])?,
            family: format!("{stack}-rotation_job"),
            container: "hactl-rotation",
            command: vec!["rotate-credentials"],
            stream_prefix: "rotation",
            task_role: task_role.clone(),
        };
        let task_definition =
            self.job_task_definition(scope, job, log_group, &task.roles.execution, definition)?;
        let schedule = JobSchedule {
            address: addr(&["schedule", "rotation_job"])?,
            name: "rotate-credentials",
            description: format!("hactl rotation job of stack {stack}: hactl rotate-credentials"),
            expression: every(db.password_rotation_days),
            task_definition,
        };
        Ok(Some(RotationJob { schedule, task_role }))
    }
}

#[cfg(test)]
mod tests {
    use super::every;
    use crate::expand::expand;
    use hactl_core::{Address, Value};

    #[test]
    fn every_n_days_as_scheduler_writes_it() {
        assert_eq!(every(1), "rate(1 day)");
        assert_eq!(every(30), "rate(30 days)");
    }

    fn graph(extra: &str, days: &str) -> hactl_core::DesiredGraph {
        let text = format!(
            "{}\n[state]\nbackend = \"s3\"\nbucket = \"acme-state\"\n\n[drift]\nschedule = \"rate(1 hour)\"\nimage = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1\"\n{extra}",
            include_str!("../../../config/multi-region.toml").replace("[database]\n", &format!("[database]\n{days}"))
        );
        let cfg = crate::parse("multi-region.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        expand(&cfg, &crate::expand::test_env()).expect("expand")
    }

    #[test]
    fn a_dr_stack_with_a_rotation_schedule_runs_rotate_credentials_on_it() {
        let g = graph("", "password_rotation_days = 14\n");
        let a = |s: &str| Address::parse(s).unwrap();
        let schedule = &g.get(&a("schedule.rotation_job")).expect("the rotation schedule").props;
        assert_eq!(schedule["schedule_expression"], Value::str("rate(14 days)"));
        let td = &g.get(&a("task_definition.rotation_job")).expect("its task").props;
        let command = td["container"].as_map().and_then(|c| c.get("command")).cloned();
        assert_eq!(
            command,
            Some(Value::from_strings(["--config", "config/multi-region.toml", "rotate-credentials"]))
        );
        let role = &g.get(&a("iam_role.rotation_job_task")).expect("its role").props;
        let text = role["inline_policies"].to_json().to_string();
        for action in ["secretsmanager:PutSecretValue", "rds:ModifyDBCluster", "ecs:UpdateService"] {
            assert!(text.contains(action), "{action} missing: {text}");
        }
        // The database and service writes name the stack's objects in both regions only.
        let doc = role["inline_policies"].to_json()["rotate-credentials"]["Statement"].clone();
        let sid = |sid: &str| {
            doc.as_array()
                .and_then(|a| a.iter().find(|s| s["Sid"] == sid))
                .cloned()
                .unwrap_or_else(|| panic!("{sid}"))
        };
        let account = crate::expand::test_env().account_id().to_string();
        assert_eq!(
            sid("SetDatabasePassword")["Resource"],
            serde_json::json!([
                format!("arn:aws:rds:us-east-1:{account}:cluster:multi-region-*"),
                format!("arn:aws:rds:us-west-2:{account}:cluster:multi-region-*"),
            ])
        );
        assert_eq!(
            sid("RedeployServices")["Resource"],
            serde_json::json!([
                format!("arn:aws:ecs:us-east-1:{account}:service/multi-region/*"),
                format!("arn:aws:ecs:us-west-2:{account}:service/multi-region/*"),
            ])
        );
        // The scheduler may run it and pass its role.
        let run = g.get(&a("iam_role.drift_job_schedule")).expect("schedule role").props["inline_policies"]
            .to_json()
            .to_string();
        assert!(run.contains("rotation_job_task"), "{run}");
        // Without the key: no job.
        let g = graph("", "");
        assert!(g.get(&a("schedule.rotation_job")).is_none());
    }
}
