//! The rds providers (subnet group, parameter group, PostgreSQL instance) and the
//! failover command against the emulator (LocalStack + moto RDS). Each test builds its
//! own VPC with two subnets in two AZs, a security group and a credentials secret with
//! the SDKs, drives the providers through the registry, checks every effect with the
//! SDK (never through the provider's read), and removes everything it made, also when it
//! fails. The master password must never show in anything a provider returns. The DR
//! test adds an environment in us-west-2 (its own registry, VPC and groups) for a
//! cross-region read replica.

use crate::common;

use aws_sdk_rds as rds;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::sdk_config;
use hactl_aws::failover::{failover, FailoverTarget};
use hactl_aws::rds::promote::promote_replica;
use hactl_aws::ApiCounter;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, DeleteOptions, LiveObject, NullSink, Provider, ReadTarget, Registry, UpdateRequest};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// What a test works with: SDK clients, the registry, a VPC with two subnets in two AZs,
/// a security group and the credentials secret.
#[derive(Clone)]
struct Env {
    stack: String,
    cfg: aws_config::SdkConfig,
    counter: ApiCounter,
    registry: Registry,
    ec2: aws_sdk_ec2::Client,
    rds: rds::Client,
    docdb: aws_sdk_docdb::Client,
    sm: aws_sdk_secretsmanager::Client,
    vpc: String,
    subnets: Vec<String>,
    sg: String,
    secret_arn: String,
    password: String,
}

impl Env {
    async fn new(test: &str, net: u8) -> Env {
        Env::new_in(test, net, "us-east-1").await
    }

    /// The environment in `region` (its own SDK configuration and registry).
    async fn new_in(test: &str, net: u8, region: &str) -> Env {
        let cfg = sdk_config().await.to_builder().region(aws_config::Region::new(region.to_string())).build();
        let pid = std::process::id();
        let stack = format!("t{}{test}", pid % 100_000);
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        // A CIDR of its own per process and test.
        let octet = 20 + (pid % 40) * 5 + u32::from(net);
        let vpc = ec2
            .create_vpc()
            .cidr_block(format!("10.{octet}.0.0/16"))
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut subnets = Vec::new();
        for (i, zone) in ["a", "b"].iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.{octet}.{i}.0/24"))
                .availability_zone(format!("{region}{zone}"))
                .send()
                .await
                .expect("CreateSubnet");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        let sg = ec2
            .create_security_group()
            .vpc_id(&vpc)
            .group_name(format!("{stack}-db"))
            .description("hactl rds test")
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .expect("group id")
            .to_string();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let password = format!("Pw{nanos:x}Q{pid}z");
        let secret = serde_json::json!({"username": "hactladmin", "password": password, "port": 5432});
        let secret_arn = sm
            .create_secret()
            .name(format!("hactl/{stack}/db-credentials"))
            .secret_string(secret.to_string())
            .send()
            .await
            .expect("CreateSecret")
            .arn()
            .expect("secret arn")
            .to_string();
        let counter = ApiCounter::default();
        Env {
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            rds: rds::Client::new(&cfg),
            docdb: aws_sdk_docdb::Client::new(&cfg),
            cfg,
            stack,
            ec2,
            sm,
            vpc,
            subnets,
            sg,
            secret_arn,
            password,
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).expect("registered").clone()
    }

    fn tags(&self, address: &str) -> Value {
        Value::from_string_map([
            (TAG_STACK, self.stack.as_str()),
            (TAG_ADDRESS, address),
            ("Name", format!("{}-{address}", self.stack).as_str()),
        ])
    }

    fn subnet_group_props(&self) -> Props {
        Props::from([
            ("name".to_string(), Value::str(format!("{}-db", self.stack))),
            ("description".to_string(), Value::str(format!("hactl {} database subnets", self.stack))),
            ("subnet_ids".to_string(), Value::from_strings(self.subnets.iter().rev().cloned())),
            ("tags".to_string(), self.tags("db_subnet_group.main")),
        ])
    }

    fn parameter_group_props(&self) -> Props {
        Props::from([
            ("name".to_string(), Value::str(format!("{}-pg", self.stack))),
            ("family".to_string(), Value::str("postgres16")),
            ("description".to_string(), Value::str(format!("hactl {} postgres parameters", self.stack))),
            ("parameters".to_string(), Value::from_string_map([("rds.force_ssl", "1")])),
            ("tags".to_string(), self.tags("db_parameter_group.main")),
        ])
    }

    /// The desired instance as the expansion makes it; `name` is the identifier suffix.
    fn instance_props(&self, name: &str, address: &str) -> Props {
        Props::from([
            ("identifier".to_string(), Value::str(format!("{}-{name}", self.stack))),
            ("engine".to_string(), Value::str("postgres")),
            ("engine_version".to_string(), Value::str("16")),
            ("instance_class".to_string(), Value::str("db.t4g.micro")),
            ("allocated_storage".to_string(), Value::Int(20)),
            ("storage_type".to_string(), Value::str("gp3")),
            ("multi_az".to_string(), Value::Bool(true)),
            ("storage_encrypted".to_string(), Value::Bool(true)),
            ("kms_key_id".to_string(), Value::Null),
            ("master_username".to_string(), Value::str("hactladmin")),
            ("master_secret_arn".to_string(), Value::str(&self.secret_arn)),
            ("db_name".to_string(), Value::str("app")),
            ("port".to_string(), Value::Int(5432)),
            ("subnet_group_name".to_string(), Value::str(format!("{}-db", self.stack))),
            ("parameter_group_name".to_string(), Value::str(format!("{}-pg", self.stack))),
            ("vpc_security_group_ids".to_string(), Value::from_strings([self.sg.clone()])),
            ("publicly_accessible".to_string(), Value::Bool(false)),
            ("backup_retention_period".to_string(), Value::Int(7)),
            ("preferred_backup_window".to_string(), Value::Null),
            ("deletion_protection".to_string(), Value::Bool(true)),
            ("apply_immediately".to_string(), Value::Bool(true)),
            ("tags".to_string(), self.tags(address)),
        ])
    }

    /// Fails if the master password shows in `what` (Debug form).
    fn assert_secret_free(&self, what: &impl Debug) {
        let text = format!("{what:?}");
        assert!(!text.contains(&self.password), "the master password leaked into: {text}");
    }

    /// Creates the subnet group and the parameter group through the providers.
    async fn base(&self) {
        let ctx = self.ctx();
        for (kind, address, props) in [
            ("rds.subnet_group", "db_subnet_group.main", self.subnet_group_props()),
            ("rds.parameter_group", "db_parameter_group.main", self.parameter_group_props()),
        ] {
            let a = addr(address);
            let applied = self.provider(kind).create(&ctx.for_address(&a), &a, &props).await.expect(kind);
            self.assert_secret_free(&applied);
        }
    }

    /// Creates an instance through the provider.
    async fn create_instance(&self, props: &Props, address: &str) -> hactl_engine::Applied {
        let a = addr(address);
        let applied = self
            .provider("rds.instance")
            .create(&self.ctx().for_address(&a), &a, props)
            .await
            .expect("create instance");
        self.assert_secret_free(&applied);
        applied
    }

    /// Reads `kind` with one target and answers the object with `id`.
    async fn read_one(&self, kind: &str, address: &str, id: &str, props: &Props) -> Option<LiveObject> {
        let target = ReadTarget {
            address: addr(address),
            id: Some(id.to_string()),
            props: props.clone(),
            recorded: None,
        };
        let found = self.provider(kind).read(&self.ctx(), &[target]).await.expect("read");
        self.assert_secret_free(&found);
        found.into_iter().find(|o| o.id == id)
    }

    async fn describe_instance(&self, id: &str) -> Option<rds::types::DbInstance> {
        match self.rds.describe_db_instances().db_instance_identifier(id).send().await {
            Ok(o) => o.db_instances().first().cloned(),
            Err(e) if e.code() == Some("DBInstanceNotFound") => None,
            Err(e) => panic!("DescribeDBInstances: {e:?}"),
        }
    }

    /// Creates an instance with the SDK (an object made outside the provider).
    async fn sdk_instance(&self, id: &str, tags: &[(&str, &str)], multi_az: bool) {
        self.rds
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .engine_version("16")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .storage_type("gp3")
            .multi_az(multi_az)
            .storage_encrypted(true)
            .master_username("hactladmin")
            .master_user_password(&self.password)
            .db_name("app")
            .port(5432)
            .db_subnet_group_name(format!("{}-db", self.stack))
            .db_parameter_group_name(format!("{}-pg", self.stack))
            .vpc_security_group_ids(&self.sg)
            .publicly_accessible(false)
            .backup_retention_period(1)
            .set_tags(Some(
                tags.iter().map(|(k, v)| rds::types::Tag::builder().key(*k).value(*v).build()).collect(),
            ))
            .send()
            .await
            .expect("CreateDBInstance (SDK)");
    }

    async fn snapshots_of(&self, id: &str) -> Vec<rds::types::DbSnapshot> {
        self.rds
            .describe_db_snapshots()
            .db_instance_identifier(id)
            .send()
            .await
            .expect("DescribeDBSnapshots")
            .db_snapshots()
            .to_vec()
    }

    /// Runs `body`, then removes whatever the stack left, then fails if the body failed.
    async fn run<F, Fut>(test: &str, net: u8, body: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let env = Env::new(test, net).await;
        let result = tokio::spawn(body(env.clone())).await;
        env.cleanup().await;
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    fn ours(&self, name: &str) -> bool {
        name.starts_with(&format!("{}-", self.stack))
    }

    async fn cleanup(&self) {
        // DocumentDB instances and clusters (same backend on the emulator).
        let instances = self.rds.describe_db_instances().send().await.expect("DescribeDBInstances");
        for db in instances.db_instances() {
            let id = db.db_instance_identifier().unwrap_or_default();
            if !self.ours(id) {
                continue;
            }
            let _ = self
                .rds
                .modify_db_instance()
                .db_instance_identifier(id)
                .deletion_protection(false)
                .send()
                .await;
            let _ = self
                .rds
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(true)
                .send()
                .await;
        }
        let clusters = self.docdb.describe_db_clusters().send().await.expect("DescribeDBClusters");
        for c in clusters.db_clusters() {
            let id = c.db_cluster_identifier().unwrap_or_default();
            if self.ours(id) {
                let _ = self
                    .docdb
                    .modify_db_cluster()
                    .db_cluster_identifier(id)
                    .deletion_protection(false)
                    .send()
                    .await;
                let _ = self
                    .docdb
                    .delete_db_cluster()
                    .db_cluster_identifier(id)
                    .skip_final_snapshot(true)
                    .send()
                    .await;
            }
        }
        let snapshots = self.rds.describe_db_snapshots().send().await.expect("DescribeDBSnapshots");
        for s in snapshots.db_snapshots() {
            let id = s.db_snapshot_identifier().unwrap_or_default();
            if self.ours(id) {
                let _ = self.rds.delete_db_snapshot().db_snapshot_identifier(id).send().await;
            }
        }
        let groups = self.rds.describe_db_parameter_groups().send().await.expect("DescribeDBParameterGroups");
        for g in groups.db_parameter_groups() {
            let name = g.db_parameter_group_name().unwrap_or_default();
            if self.ours(name) {
                let _ = self.rds.delete_db_parameter_group().db_parameter_group_name(name).send().await;
            }
        }
        let groups = self.rds.describe_db_subnet_groups().send().await.expect("DescribeDBSubnetGroups");
        for g in groups.db_subnet_groups() {
            let name = g.db_subnet_group_name().unwrap_or_default();
            if self.ours(name) {
                let _ = self.rds.delete_db_subnet_group().db_subnet_group_name(name).send().await;
            }
        }
        self.ec2
            .delete_security_group()
            .group_id(&self.sg)
            .send()
            .await
            .expect("cleanup: DeleteSecurityGroup");
        for s in &self.subnets {
            self.ec2.delete_subnet().subnet_id(s).send().await.expect("cleanup: DeleteSubnet");
        }
        self.ec2.delete_vpc().vpc_id(&self.vpc).send().await.expect("cleanup: DeleteVpc");
        self.sm
            .delete_secret()
            .secret_id(&self.secret_arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .expect("cleanup: DeleteSecret");
    }
}

fn with(props: &Props, changes: &[(&str, Value)]) -> Props {
    let mut p = props.clone();
    for (k, v) in changes {
        p.insert(k.to_string(), v.clone());
    }
    p
}

/// Subnet group, parameter group (rds.force_ssl = 1) and a Multi-AZ encrypted instance:
/// create → SDK checks → read without diff → in-place changes → out-of-band change seen
/// → deletion protection trap → delete with a final snapshot → gone, delete again OK.
#[tokio::test]
async fn postgres_lifecycle() {
    Env::run("pglife", 0, |env| async move {
        let ctx = env.ctx();
        env.base().await;
        let sgp = env.subnet_group_props();
        let pgp = env.parameter_group_props();
        let sg_name = format!("{}-db", env.stack);
        let pg_name = format!("{}-pg", env.stack);

        // Subnet group, checked with the SDK.
        let g = env.rds.describe_db_subnet_groups().db_subnet_group_name(&sg_name).send().await.unwrap();
        let g = &g.db_subnet_groups()[0];
        assert_eq!(
            g.db_subnet_group_description(),
            Some(format!("hactl {} database subnets", env.stack).as_str())
        );
        let live_subnets: BTreeSet<String> =
            g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect();
        assert_eq!(live_subnets, env.subnets.iter().cloned().collect());
        let tags = env
            .rds
            .list_tags_for_resource()
            .resource_name(g.db_subnet_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert!(tags
            .tag_list()
            .iter()
            .any(|t| t.key() == Some(TAG_ADDRESS) && t.value() == Some("db_subnet_group.main")));

        // Parameter group with rds.force_ssl = 1.
        let pg =
            env.rds.describe_db_parameter_groups().db_parameter_group_name(&pg_name).send().await.unwrap();
        assert_eq!(pg.db_parameter_groups()[0].db_parameter_group_family(), Some("postgres16"));
        let params = env.rds.describe_db_parameters().db_parameter_group_name(&pg_name).send().await.unwrap();
        assert!(
            params
                .parameters()
                .iter()
                .any(|p| p.parameter_name() == Some("rds.force_ssl") && p.parameter_value() == Some("1")),
            "{params:?}"
        );

        // The instance.
        let props = env.instance_props("pg", "db_instance.main");
        let id = format!("{}-pg", env.stack);
        let applied = env.create_instance(&props, "db_instance.main").await;
        assert_eq!(applied.id, id);
        assert_eq!(applied.outputs.get("port"), Some(&Value::Int(5432)));
        assert!(applied.outputs.get("endpoint").and_then(Value::as_str).is_some_and(|e| e.starts_with(&id)));
        assert!(applied
            .outputs
            .get("arn")
            .and_then(Value::as_str)
            .is_some_and(|a| a.ends_with(&format!(":db:{id}"))));
        assert!(applied.outputs.get("resource_id").and_then(Value::as_str).is_some_and(|r| !r.is_empty()));
        let db = env.describe_instance(&id).await.expect("instance exists");
        assert_eq!(db.engine(), Some("postgres"));
        assert_eq!(db.engine_version(), Some("16"));
        assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
        assert_eq!(db.multi_az(), Some(true));
        assert_eq!(db.storage_encrypted(), Some(true));
        assert_eq!(db.backup_retention_period(), Some(7));
        assert_eq!(db.deletion_protection(), Some(true));
        assert_eq!(db.publicly_accessible(), Some(false));
        assert_eq!(db.allocated_storage(), Some(20));
        assert_eq!(db.storage_type(), Some("gp3"));
        assert_eq!(db.db_name(), Some("app"));
        assert_eq!(db.master_username(), Some("hactladmin"));
        let sgs: Vec<&str> =
            db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
        assert_eq!(sgs, vec![env.sg.as_str()], "only the given security group");
        assert_eq!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some(sg_name.as_str()));
        assert_eq!(
            db.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name()),
            Some(pg_name.as_str())
        );
        assert!(db
            .tag_list()
            .iter()
            .any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(env.stack.as_str())));

        // Read: no diff for any of the three kinds.
        for (kind, address, id, desired) in [
            ("rds.subnet_group", "db_subnet_group.main", sg_name.as_str(), &sgp),
            ("rds.parameter_group", "db_parameter_group.main", pg_name.as_str(), &pgp),
            ("rds.instance", "db_instance.main", id.as_str(), &props),
        ] {
            let live =
                env.read_one(kind, address, id, desired).await.unwrap_or_else(|| panic!("{kind} read"));
            let provider = env.registry.get(kind).unwrap().clone();
            assert_eq!(provider.diff(desired, &live.props), vec![], "{kind}: {:?}", live.props);
            assert_eq!(live.address, Some(addr(address)));
            assert!(live.owned);
        }
        let instance = env.provider("rds.instance");
        let provider = instance.clone();

        // In place: instance class (applied immediately) and backup retention.
        let live = env.read_one("rds.instance", "db_instance.main", &id, &props).await.unwrap();
        let desired = with(
            &props,
            &[("instance_class", Value::str("db.t4g.small")), ("backup_retention_period", Value::Int(14))],
        );
        let changes = provider.diff(&desired, &live.props);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| !c.forces_replacement));
        let a = addr("db_instance.main");
        let applied = instance
            .update(
                &ctx.for_address(&a),
                UpdateRequest { address: &a, id: &id, desired: &desired, changes: &changes },
            )
            .await
            .expect("update");
        env.assert_secret_free(&applied);
        let db = env.describe_instance(&id).await.unwrap();
        assert_eq!(db.db_instance_class(), Some("db.t4g.small"));
        assert_eq!(db.backup_retention_period(), Some(14));
        let live = env.read_one("rds.instance", "db_instance.main", &id, &desired).await.unwrap();
        assert_eq!(provider.diff(&desired, &live.props), vec![]);

        // Tags in place.
        let mut tags = desired.get("tags").unwrap().string_map();
        tags.insert("team".to_string(), "data".to_string());
        let tagged = with(&desired, &[("tags", Value::from_string_map(tags))]);
        let changes = provider.diff(&tagged, &live.props);
        assert_eq!(changes.len(), 1);
        instance
            .update(
                &ctx.for_address(&a),
                UpdateRequest { address: &a, id: &id, desired: &tagged, changes: &changes },
            )
            .await
            .expect("update tags");
        let db = env.describe_instance(&id).await.unwrap();
        assert!(db.tag_list().iter().any(|t| t.key() == Some("team") && t.value() == Some("data")));

        // Out of band: retention changed with the SDK is seen by read.
        env.rds
            .modify_db_instance()
            .db_instance_identifier(&id)
            .backup_retention_period(3)
            .apply_immediately(true)
            .send()
            .await
            .unwrap();
        let live = env.read_one("rds.instance", "db_instance.main", &id, &tagged).await.unwrap();
        assert_eq!(live.props.get("backup_retention_period"), Some(&Value::Int(3)));
        let drift = provider.diff(&tagged, &live.props);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(drift[0].name, "backup_retention_period");

        // Parameter group in place: a second parameter.
        let pgp2 = with(
            &pgp,
            &[(
                "parameters",
                Value::from_string_map([("rds.force_ssl", "1"), ("log_min_duration_statement", "500")]),
            )],
        );
        let pgprov = env.provider("rds.parameter_group");
        let live_pg =
            env.read_one("rds.parameter_group", "db_parameter_group.main", &pg_name, &pgp).await.unwrap();
        let changes = pgprov.diff(&pgp2, &live_pg.props);
        assert_eq!(changes.len(), 1);
        assert!(!changes[0].forces_replacement);
        let pa = addr("db_parameter_group.main");
        pgprov
            .update(
                &ctx.for_address(&pa),
                UpdateRequest { address: &pa, id: &pg_name, desired: &pgp2, changes: &changes },
            )
            .await
            .expect("parameter group update");
        let params = env.rds.describe_db_parameters().db_parameter_group_name(&pg_name).send().await.unwrap();
        assert!(params.parameters().iter().any(|p| p.parameter_name() == Some("log_min_duration_statement")
            && p.parameter_value() == Some("500")));
        let live_pg =
            env.read_one("rds.parameter_group", "db_parameter_group.main", &pg_name, &pgp2).await.unwrap();
        assert_eq!(pgprov.diff(&pgp2, &live_pg.props), vec![]);

        // Destroy trap: protected → refused without the flag, the instance stays.
        assert!(instance.deletion_protected(&live.props));
        let err = instance.delete(&ctx.for_address(&a), &id, &props).await.expect_err("protected");
        env.assert_secret_free(&err);
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.message().contains("deletion protection")
                && err.message().contains("--allow-delete-protected"),
            "{err}"
        );
        assert!(env.describe_instance(&id).await.is_some(), "the protected instance must still exist");

        // With the flag: protection off, final snapshot, gone.
        let mut allowed = ctx.for_address(&a);
        allowed.delete_options = DeleteOptions { allow_delete_protected: true, ..DeleteOptions::default() };
        instance.delete(&allowed, &id, &props).await.expect("delete with --allow-delete-protected");
        assert!(env.describe_instance(&id).await.is_none(), "instance gone");
        let snaps = env.snapshots_of(&id).await;
        let finals: Vec<&str> = snaps
            .iter()
            .filter_map(|s| s.db_snapshot_identifier())
            .filter(|s| s.starts_with(&format!("{id}-final-")))
            .collect();
        assert_eq!(finals.len(), 1, "one final snapshot: {snaps:?}");
        let stamp = &finals[0][id.len() + "-final-".len()..];
        assert!(stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()), "{}", finals[0]);
        env.rds
            .delete_db_snapshot()
            .db_snapshot_identifier(finals[0])
            .send()
            .await
            .expect("DeleteDBSnapshot");
        // Gone: delete again is OK, read no longer answers it.
        instance.delete(&allowed, &id, &props).await.expect("delete again");
        assert!(env.read_one("rds.instance", "db_instance.main", &id, &props).await.is_none());

        // The groups go too; deleting again is OK.
        for (kind, address, name) in [
            ("rds.parameter_group", "db_parameter_group.main", &pg_name),
            ("rds.subnet_group", "db_subnet_group.main", &sg_name),
        ] {
            let p = env.provider(kind);
            let a = addr(address);
            p.delete(&ctx.for_address(&a), name, &Props::new()).await.expect(kind);
            p.delete(&ctx.for_address(&a), name, &Props::new()).await.expect("delete again");
        }
        let err = env.rds.describe_db_parameter_groups().db_parameter_group_name(&pg_name).send().await;
        assert!(err.map(|o| o.db_parameter_groups().is_empty()).unwrap_or(true), "parameter group gone");
        let err = env
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&sg_name)
            .send()
            .await
            .expect_err("gone");
        assert_eq!(err.code(), Some("DBSubnetGroupNotFoundFault"));
    })
    .await;
}

/// An unprotected instance deleted with skip_final_snapshot leaves no snapshot.
#[tokio::test]
async fn postgres_delete_without_final_snapshot() {
    Env::run("pgskip", 1, |env| async move {
        env.base().await;
        let props = with(
            &env.instance_props("pg", "db_instance.main"),
            &[("deletion_protection", Value::Bool(false))],
        );
        let id = env.create_instance(&props, "db_instance.main").await.id;
        let instance = env.provider("rds.instance");
        let live = env.read_one("rds.instance", "db_instance.main", &id, &props).await.unwrap();
        assert!(!instance.deletion_protected(&live.props));
        let a = addr("db_instance.main");
        let mut ctx = env.ctx().for_address(&a);
        ctx.delete_options = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
        instance.delete(&ctx, &id, &props).await.expect("delete");
        assert!(env.describe_instance(&id).await.is_none());
        let snaps = env.snapshots_of(&id).await;
        assert!(
            snaps.iter().all(|s| !s.db_snapshot_identifier().unwrap_or_default().contains("-final-")),
            "{snaps:?}"
        );
        assert!(snaps.is_empty(), "no snapshot at all: {snaps:?}");
    })
    .await;
}

/// A create that finds its identifier taken adopts an instance with this stack's and
/// address's tags (and converges it), and refuses one of another stack, naming it.
#[tokio::test]
async fn postgres_adoption() {
    Env::run("pgadopt", 2, |env| async move {
        env.base().await;
        let instance = env.provider("rds.instance");
        let ctx = env.ctx();

        // Ours: made "before a crash" with retention 1; the create adopts and converges it.
        let props = env.instance_props("pg", "db_instance.main");
        let id = format!("{}-pg", env.stack);
        env.sdk_instance(&id, &[(TAG_STACK, env.stack.as_str()), (TAG_ADDRESS, "db_instance.main")], true)
            .await;
        let applied = env.create_instance(&props, "db_instance.main").await;
        assert_eq!(applied.id, id);
        let db = env.describe_instance(&id).await.unwrap();
        assert_eq!(db.backup_retention_period(), Some(7), "converged");
        assert_eq!(db.deletion_protection(), Some(true), "converged");
        assert!(db.tag_list().iter().any(|t| t.key() == Some("Name")), "tags converged: {:?}", db.tag_list());
        let live = env.read_one("rds.instance", "db_instance.main", &id, &props).await.unwrap();
        assert_eq!(instance.diff(&props, &live.props), vec![]);

        // Another stack's instance of the same identifier: refused, naming the owner.
        let other = format!("{}-other", env.stack);
        let theirs = format!("{}-pg2", env.stack);
        env.sdk_instance(&theirs, &[(TAG_STACK, other.as_str()), (TAG_ADDRESS, "db_instance.main")], true)
            .await;
        let props2 = env.instance_props("pg2", "db_instance.main");
        let a = addr("db_instance.main");
        let err = instance.create(&ctx.for_address(&a), &a, &props2).await.expect_err("not ours");
        env.assert_secret_free(&err);
        assert!(!err.is_retryable());
        assert_eq!(err.code(), Some("DBInstanceAlreadyExists"));
        assert!(err.message().contains(&format!("hactl:stack tag: {other}")), "{err}");
        let db = env.describe_instance(&theirs).await.unwrap();
        assert_eq!(db.backup_retention_period(), Some(1), "left untouched");
        assert!(db
            .tag_list()
            .iter()
            .any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(other.as_str())));
        // Not ours and not recorded: read leaves it out.
        let found = instance.read(&ctx, &[]).await.unwrap();
        assert!(found.iter().all(|o| o.id != theirs), "{found:?}");
        assert!(found.iter().any(|o| o.id == id));

        // The groups: a retried create adopts ours, another stack's is refused.
        for (kind, address, props) in [
            ("rds.subnet_group", "db_subnet_group.main", env.subnet_group_props()),
            ("rds.parameter_group", "db_parameter_group.main", env.parameter_group_props()),
        ] {
            let p = env.provider(kind);
            let a = addr(address);
            let applied = p.create(&ctx.for_address(&a), &a, &props).await.expect("adopt on retried create");
            assert_eq!(Some(applied.id.as_str()), props.get("name").and_then(Value::as_str));
            let foreign = Ctx::new(&other, Arc::new(NullSink));
            let err = p.create(&foreign.for_address(&a), &a, &props).await.expect_err("another stack's");
            assert!(!err.is_retryable());
            assert!(err.message().contains(&format!("hactl:stack tag: {}", env.stack)), "{err}");
        }
    })
    .await;
}

/// RDS failover: a Multi-AZ instance reboots with failover and is available again; a
/// Single-AZ one is refused with a clear error.
#[tokio::test]
async fn postgres_failover() {
    Env::run("pgfail", 3, |env| async move {
        env.base().await;
        let ctx = env.ctx().for_address(&addr("db_instance.main"));
        let props = with(
            &env.instance_props("pg", "db_instance.main"),
            &[("deletion_protection", Value::Bool(false))],
        );
        let id = env.create_instance(&props, "db_instance.main").await.id;
        let out =
            failover(&env.cfg, &env.counter, &ctx, FailoverTarget::Postgres { instance_id: id.clone() })
                .await
                .expect("failover");
        assert_eq!(out.writer, id);
        assert!(out.writer_az.is_some());
        assert_eq!(out.previous_writer, None);
        let db = env.describe_instance(&id).await.unwrap();
        assert_eq!(db.db_instance_status(), Some("available"));
        assert_eq!(out.writer_az.as_deref(), db.availability_zone());

        let single = format!("{}-single", env.stack);
        env.sdk_instance(&single, &[(TAG_STACK, env.stack.as_str())], false).await;
        let err =
            failover(&env.cfg, &env.counter, &ctx, FailoverTarget::Postgres { instance_id: single.clone() })
                .await
                .expect_err("single-AZ");
        assert!(err.message().contains("not Multi-AZ"), "{err}");
        let err = failover(
            &env.cfg,
            &env.counter,
            &ctx,
            FailoverTarget::Postgres { instance_id: format!("{}-missing", env.stack) },
        )
        .await
        .expect_err("missing");
        assert!(err.message().contains("not found"), "{err}");
    })
    .await;
}

/// DocumentDB failover: the first available reader outside the writer's AZ is promoted
/// (not a reader in the writer's AZ, even with a better promotion tier); a named target
/// must be a reader of the cluster.
#[tokio::test]
async fn docdb_failover() {
    Env::run("ddbfail", 4, |env| async move {
        let ctx = env.ctx().for_address(&addr("db_cluster.main"));
        let cluster = format!("{}-docdb", env.stack);
        env.docdb
            .create_db_cluster()
            .db_cluster_identifier(&cluster)
            .engine("docdb")
            .master_username("hactladmin")
            .master_user_password(&env.password)
            .vpc_security_group_ids(&env.sg)
            .send()
            .await
            .expect("CreateDBCluster");
        let members = [("1", "us-east-1a", 0), ("2", "us-east-1a", 1), ("3", "us-east-1b", 2)];
        for (n, az, tier) in members {
            env.docdb
                .create_db_instance()
                .db_instance_identifier(format!("{cluster}-{n}"))
                .db_cluster_identifier(&cluster)
                .engine("docdb")
                .db_instance_class("db.t3.medium")
                .availability_zone(az)
                .promotion_tier(tier)
                .send()
                .await
                .expect("CreateDBInstance (docdb)");
        }
        let writer = |c: &aws_sdk_docdb::operation::describe_db_clusters::DescribeDbClustersOutput| {
            c.db_clusters()[0]
                .db_cluster_members()
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_instance_identifier())
                .map(str::to_string)
        };
        let describe = || env.docdb.describe_db_clusters().db_cluster_identifier(&cluster).send();
        let first = format!("{cluster}-1");
        assert_eq!(
            writer(&describe().await.unwrap()),
            Some(first.clone()),
            "the first instance is the writer"
        );

        // No target: -3 (us-east-1b), not -2 (the writer's AZ, better tier).
        let out = failover(
            &env.cfg,
            &env.counter,
            &ctx,
            FailoverTarget::Docdb { cluster_id: cluster.clone(), target_instance: None },
        )
        .await
        .expect("failover");
        let third = format!("{cluster}-3");
        assert_eq!(out.writer, third);
        assert_eq!(out.writer_az.as_deref(), Some("us-east-1b"));
        assert_eq!(out.previous_writer.as_deref(), Some(first.as_str()));
        assert_eq!(writer(&describe().await.unwrap()), Some(third.clone()));

        // Named targets: not a member, the writer itself → clear errors; a reader → promoted.
        for (bad, expect) in [
            (format!("{}-nope", env.stack), "is not an instance of DocumentDB cluster"),
            (third.clone(), "is already the writer"),
        ] {
            let err = failover(
                &env.cfg,
                &env.counter,
                &ctx,
                FailoverTarget::Docdb { cluster_id: cluster.clone(), target_instance: Some(bad) },
            )
            .await
            .expect_err("bad target");
            assert!(err.message().contains(expect), "{err}");
            assert!(err.message().contains(&format!("{cluster}-2")), "lists the readers: {err}");
        }
        let out = failover(
            &env.cfg,
            &env.counter,
            &ctx,
            FailoverTarget::Docdb { cluster_id: cluster.clone(), target_instance: Some(first.clone()) },
        )
        .await
        .expect("failover to a named reader");
        assert_eq!(out.writer, first);
        assert_eq!(out.previous_writer.as_deref(), Some(third.as_str()));
        assert_eq!(writer(&describe().await.unwrap()), Some(first.clone()));

        // An RDS cluster id that is not DocumentDB's, and a missing one.
        let err = failover(
            &env.cfg,
            &env.counter,
            &ctx,
            FailoverTarget::Docdb { cluster_id: format!("{}-missing", env.stack), target_instance: None },
        )
        .await
        .expect_err("missing cluster");
        assert!(err.message().contains("not found"), "{err}");
        env.assert_secret_free(&err);
    })
    .await;
}

/// Cross-region DR: an encrypted primary in us-east-1, its read replica in us-west-2
/// created through a us-west-2 registry (kms_key_id Null: the region's AWS managed key);
/// both sides linked (checked with each region's SDK client); the replica reads with no
/// diff; promote_replica makes it standalone (no diff still), a second promotion does
/// nothing; a source deleted with a replica left: the replica keeps its source, its
/// replication `terminated` (AWS, cross-region PostgreSQL), and deletes as any instance.
#[tokio::test]
async fn postgres_cross_region_replica() {
    let east = Env::new_in("pgdr", 4, "us-east-1").await;
    let west = Env::new_in("pgdr", 0, "us-west-2").await;
    let result = tokio::spawn(cross_region_replica(east.clone(), west.clone())).await;
    west.cleanup().await;
    east.cleanup().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn cross_region_replica(east: Env, west: Env) {
    east.base().await;
    west.base().await;
    let unprotected = [("deletion_protection", Value::Bool(false))];
    let primary = with(&east.instance_props("pg", "db_instance.main"), &unprotected);
    let applied = east.create_instance(&primary, "db_instance.main").await;
    assert_eq!(applied.outputs.get("replica_source"), Some(&Value::Null));
    let source_arn = applied.outputs.get("arn").and_then(Value::as_str).expect("arn").to_string();
    assert!(source_arn.contains(":us-east-1:"), "{source_arn}");

    // The replica, through the us-west-2 registry.
    let address = "dr.db_instance.main";
    let desired = with(
        &west.instance_props("pg-dr", address),
        &[unprotected[0].clone(), ("source_instance_arn", Value::str(&source_arn))],
    );
    let applied = west.create_instance(&desired, address).await;
    let rid = applied.id.clone();
    assert_eq!(rid, format!("{}-pg-dr", west.stack));
    assert_eq!(applied.outputs.get("replica_source"), Some(&Value::str(&source_arn)));
    let rep = west.describe_instance(&rid).await.expect("replica in us-west-2");
    let rep_arn = rep.db_instance_arn().expect("replica arn").to_string();
    assert!(rep_arn.contains(":us-west-2:"), "{rep_arn}");
    assert_eq!(rep.read_replica_source_db_instance_identifier(), Some(source_arn.as_str()));
    assert_eq!(rep.storage_encrypted(), Some(true));
    assert!(rep.kms_key_id().is_some_and(|k| !k.contains("us-east-1")), "{:?}", rep.kms_key_id());
    assert_eq!(rep.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(rep.backup_retention_period(), Some(7), "set after the create");
    assert_eq!(rep.multi_az(), Some(true));
    let west_group = format!("{}-db", west.stack);
    assert_eq!(rep.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some(west_group.as_str()));
    assert_eq!(rep.db_subnet_group().and_then(|g| g.vpc_id()), Some(west.vpc.as_str()));
    let sgs: Vec<&str> = rep.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(sgs, vec![west.sg.as_str()]);
    assert!(rep.tag_list().iter().any(|t| t.key() == Some(TAG_ADDRESS) && t.value() == Some(address)));
    let src = east.describe_instance(&applied_id(&east)).await.expect("source");
    assert_eq!(src.read_replica_db_instance_identifiers(), std::slice::from_ref(&rep_arn));

    // Read: no diff; the output names the source.
    let instance = west.provider("rds.instance");
    let live = west.read_one("rds.instance", address, &rid, &desired).await.expect("replica read");
    assert_eq!(instance.diff(&desired, &live.props), vec![], "{:?}", live.props);
    assert_eq!(live.outputs.get("replica_source"), Some(&Value::str(&source_arn)));
    assert!(live.owned);

    // Promotion: standalone, no diff against the unchanged desired props.
    let ctx = west.ctx().for_address(&addr(address));
    let backups = (Some(7), None);
    assert!(promote_replica(&west.cfg, &west.counter, &ctx, &rid, backups.clone()).await.expect("promote"));
    let rep = west.describe_instance(&rid).await.unwrap();
    assert_eq!(rep.read_replica_source_db_instance_identifier(), None);
    assert_eq!(rep.backup_retention_period(), Some(7), "the promotion keeps the backup retention");
    assert_eq!(rep.db_instance_status(), Some("available"));
    let src = east.describe_instance(&applied_id(&east)).await.unwrap();
    assert!(src.read_replica_db_instance_identifiers().is_empty(), "{src:?}");
    let live = west.read_one("rds.instance", address, &rid, &desired).await.unwrap();
    assert_eq!(instance.diff(&desired, &live.props), vec![], "{:?}", live.props);
    assert_eq!(live.outputs.get("replica_source"), Some(&Value::Null));
    // Again: one describe, nothing else.
    let before = west.counter.total();
    assert!(!promote_replica(&west.cfg, &west.counter, &ctx, &rid, backups.clone())
        .await
        .expect("promote again"));
    assert_eq!(west.counter.total() - before, 1, "{:?}", west.counter.snapshot());
    let missing = format!("{}-missing", west.stack);
    let err = promote_replica(&west.cfg, &west.counter, &ctx, &missing, backups).await.expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");

    // A second replica, then the source deleted: the replica stays, replication terminated.
    let desired2 = with(
        &west.instance_props("pg-dr2", "dr.db_instance.second"),
        &[unprotected[0].clone(), ("source_instance_arn", Value::str(&source_arn))],
    );
    let rid2 = west.create_instance(&desired2, "dr.db_instance.second").await.id;
    let a = addr("db_instance.main");
    let mut ctx = east.ctx().for_address(&a);
    ctx.delete_options = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
    east.provider("rds.instance").delete(&ctx, &applied_id(&east), &primary).await.expect("delete source");
    assert!(east.describe_instance(&applied_id(&east)).await.is_none());
    let orphan = west.describe_instance(&rid2).await.expect("the replica outlives its source");
    assert_eq!(orphan.read_replica_source_db_instance_identifier(), Some(source_arn.as_str()));
    let infos: Vec<(Option<&str>, Option<bool>)> =
        orphan.status_infos().iter().map(|i| (i.status(), i.normal())).collect();
    assert_eq!(infos, [(Some("terminated"), Some(false))]);

    // Replicas delete as any instance (a final snapshot unless skipped).
    let a = addr("dr.db_instance.second");
    let ctx = west.ctx().for_address(&a);
    instance.delete(&ctx, &rid2, &desired2).await.expect("delete replica");
    assert!(west.describe_instance(&rid2).await.is_none());
    assert!(west
        .snapshots_of(&rid2)
        .await
        .iter()
        .any(|s| s.db_snapshot_identifier().unwrap_or_default().contains("-final-")));
    let a = addr(address);
    let mut ctx = west.ctx().for_address(&a);
    ctx.delete_options = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
    instance.delete(&ctx, &rid, &desired).await.expect("delete promoted replica");
    assert!(west.describe_instance(&rid).await.is_none());
}

/// The primary's identifier.
fn applied_id(east: &Env) -> String {
    format!("{}-pg", east.stack)
}
