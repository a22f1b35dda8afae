//! The docdb providers against the emulator (LocalStack + moto's RDS backend, patched for
//! engine `docdb`): each test builds its own VPC, two data subnets in two AZs, a security
//! group and a master secret with the SDK, drives the providers directly, checks every
//! effect with the DocumentDB SDK (never through the provider's read), and removes
//! everything it made, also when it fails.
//!
//! The emulator's RDS gaps these kinds met (cluster parameter group tags, Reset, a
//! ModifyDBSubnetGroup that dropped the group) are fixed in the emulator extension
//! (emulator/hactl_localstack_ext/.../rds_docdb.py); the tests assert them in full.

use crate::common;

use aws_sdk_docdb as docdb;
use aws_sdk_docdb::types::{Filter, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::sdk_config;
use hactl_aws::docdb::cluster::Cluster;
use hactl_aws::docdb::cluster_parameter_group::ClusterParameterGroup;
use hactl_aws::docdb::instance::Instance;
use hactl_aws::docdb::subnet_group::SubnetGroup;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, DeleteOptions, Event, EventSink, LiveObject, Provider, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

const AZS: [&str; 2] = ["us-east-1a", "us-east-1b"];
const USERNAME: &str = "hactladmin";

/// Keeps the Debug form of every event (progress messages are checked for the password).
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(format!("{event:?}"));
    }
}

/// What a test works with: SDK clients, the providers, a VPC with two data subnets and a
/// security group, and the master secret.
#[derive(Clone)]
struct Env {
    stack: String,
    docdb: docdb::Client,
    ec2: aws_sdk_ec2::Client,
    sm: aws_sdk_secretsmanager::Client,
    subnet_group: Arc<SubnetGroup>,
    parameter_group: Arc<ClusterParameterGroup>,
    cluster: Arc<Cluster>,
    instance: Arc<Instance>,
    vpc: String,
    subnets: Vec<String>,
    sg: String,
    secret_arn: String,
    password: String,
    events: Arc<Recorder>,
    /// Debug forms of everything the providers returned (checked for the password).
    seen: Arc<Mutex<Vec<String>>>,
}

impl Env {
    async fn new(test: &str, net: u8) -> Env {
        let cfg = sdk_config().await;
        let stack = format!("t{}{test}", std::process::id() % 100_000);
        let docdb = docdb::Client::new(&cfg);
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        let tagging = hactl_aws::tagging::Tagging::new(&cfg, &hactl_aws::ApiCounter::default());
        let vpc = ec2
            .create_vpc()
            .cidr_block(format!("10.{net}.0.0/16"))
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut subnets = Vec::new();
        for (i, az) in AZS.iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.{net}.{}.0/24", 20 + i))
                .availability_zone(*az)
                .send()
                .await
                .expect("CreateSubnet");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        let sg = ec2
            .create_security_group()
            .vpc_id(&vpc)
            .group_name(format!("{stack}-db"))
            .description("hactl docdb test")
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .expect("group id")
            .to_string();
        // A password nobody else has, so finding it anywhere is a leak.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let password = format!("Pw{nanos:x}Q{}", std::process::id());
        let secret = serde_json::json!({"username": USERNAME, "password": password, "engine": "docdb"});
        let secret_arn = sm
            .create_secret()
            .name(format!("hactl-test/{stack}/db-credentials"))
            .secret_string(secret.to_string())
            .send()
            .await
            .expect("CreateSecret")
            .arn()
            .expect("secret arn")
            .to_string();
        Env {
            subnet_group: Arc::new(SubnetGroup(docdb.clone(), tagging.clone())),
            parameter_group: Arc::new(ClusterParameterGroup(docdb.clone(), tagging.clone())),
            cluster: Arc::new(Cluster { docdb: docdb.clone(), sm: sm.clone(), tagging: tagging.clone() }),
            instance: Arc::new(Instance(docdb.clone(), tagging)),
            stack,
            docdb,
            ec2,
            sm,
            vpc,
            subnets,
            sg,
            secret_arn,
            password,
            events: Arc::default(),
            seen: Arc::default(),
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, self.events.clone())
    }

    fn ctx_for(&self, address: &str, options: DeleteOptions) -> Ctx {
        let mut c = self.ctx().for_address(&addr(address));
        c.delete_options = options;
        c.poll_max = std::time::Duration::from_secs(1);
        c
    }

    fn note(&self, what: &dyn std::fmt::Debug) {
        self.seen.lock().unwrap().push(format!("{what:?}"));
    }

    fn tags_of(stack: &str, address: &str, name: &str) -> Value {
        Value::from_string_map([(TAG_STACK, stack), (TAG_ADDRESS, address), ("Name", name)])
    }

    fn tags(&self, address: &str, name: &str) -> Value {
        Env::tags_of(&self.stack, address, name)
    }

    fn cluster_id(&self) -> String {
        format!("{}-docdb", self.stack)
    }

    fn subnet_group_props(&self) -> Props {
        let name = format!("{}-db", self.stack);
        props(&[
            ("name", Value::str(&name)),
            ("description", Value::str(format!("hactl {}: data subnets", self.stack))),
            ("subnet_ids", Value::from_strings(self.subnets.iter().cloned())),
            ("tags", self.tags("db_subnet_group.main", &name)),
        ])
    }

    fn parameter_group_props(&self) -> Props {
        let name = format!("{}-docdb", self.stack);
        props(&[
            ("name", Value::str(&name)),
            ("family", Value::str("docdb5.0")),
            ("description", Value::str(format!("hactl {}: DocumentDB with TLS", self.stack))),
            ("parameters", Value::from_string_map([("tls", "enabled")])),
            ("tags", self.tags("db_cluster_parameter_group.main", &name)),
        ])
    }

    fn cluster_props(&self, identifier: &str, protected: bool) -> Props {
        props(&[
            ("identifier", Value::str(identifier)),
            ("engine", Value::str("docdb")),
            ("engine_version", Value::str("5.0.0")),
            ("master_username", Value::str(USERNAME)),
            ("master_secret_arn", Value::str(&self.secret_arn)),
            ("port", Value::Int(27017)),
            ("subnet_group_name", Value::str(format!("{}-db", self.stack))),
            ("parameter_group_name", Value::str(format!("{}-docdb", self.stack))),
            ("vpc_security_group_ids", Value::from_strings([self.sg.clone()])),
            ("storage_encrypted", Value::Bool(true)),
            ("kms_key_id", Value::Null),
            ("backup_retention_period", Value::Int(7)),
            ("preferred_backup_window", Value::str("03:00-04:00")),
            ("deletion_protection", Value::Bool(protected)),
            ("apply_immediately", Value::Bool(true)),
            ("tags", self.tags("db_cluster.main", identifier)),
        ])
    }

    fn instance_props(&self, n: usize) -> Props {
        let identifier = format!("{}-docdb-{n}", self.stack);
        props(&[
            ("identifier", Value::str(&identifier)),
            ("cluster_identifier", Value::str(self.cluster_id())),
            ("engine", Value::str("docdb")),
            ("instance_class", Value::str("db.r6g.large")),
            ("availability_zone", Value::str(AZS[n - 1])),
            ("promotion_tier", Value::Int(if n == 1 { 0 } else { 1 })),
            ("apply_immediately", Value::Bool(true)),
            ("tags", self.tags(&format!("db_instance.{n}"), &identifier)),
        ])
    }

    /// Runs `body`, then removes whatever it left (instances, clusters and their
    /// snapshots, groups of the stack, the secret, the network), then fails if the body
    /// failed.
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

    async fn cleanup(&self) {
        let prefix = format!("{}-", self.stack);
        let instances = self.docdb.describe_db_instances().send().await.expect("DescribeDBInstances");
        for i in instances.db_instances() {
            let id = i.db_instance_identifier().unwrap_or_default();
            if id.starts_with(&prefix) {
                let _ = self.docdb.delete_db_instance().db_instance_identifier(id).send().await;
            }
        }
        let clusters = self.docdb.describe_db_clusters().send().await.expect("DescribeDBClusters");
        for c in clusters.db_clusters() {
            let id = c.db_cluster_identifier().unwrap_or_default();
            if id.starts_with(&prefix) {
                let _ = self
                    .docdb
                    .modify_db_cluster()
                    .db_cluster_identifier(id)
                    .deletion_protection(false)
                    .apply_immediately(true)
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
        // Final snapshots, and the automated ones moto keeps after the cluster is gone.
        let snapshots =
            self.docdb.describe_db_cluster_snapshots().send().await.expect("DescribeDBClusterSnapshots");
        for s in snapshots.db_cluster_snapshots() {
            if s.db_cluster_identifier().unwrap_or_default().starts_with(&prefix) {
                let id = s.db_cluster_snapshot_identifier().unwrap_or_default();
                let _ =
                    self.docdb.delete_db_cluster_snapshot().db_cluster_snapshot_identifier(id).send().await;
            }
        }
        for name in [format!("{}-docdb", self.stack), format!("{}-other", self.stack)] {
            let exists = self
                .docdb
                .describe_db_cluster_parameter_groups()
                .db_cluster_parameter_group_name(&name)
                .send()
                .await;
            if exists.is_ok() {
                let _ = self
                    .docdb
                    .delete_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(&name)
                    .send()
                    .await;
            }
        }
        let _ = self
            .docdb
            .delete_db_subnet_group()
            .db_subnet_group_name(format!("{}-db", self.stack))
            .send()
            .await;
        self.sm
            .delete_secret()
            .secret_id(&self.secret_arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .expect("cleanup: DeleteSecret");
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
    }

    /// Asserts the password appears nowhere the providers answered or reported.
    fn assert_password_never_seen(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for s in seen.iter() {
            assert!(!s.contains(&self.password), "the master password leaked into: {s}");
        }
        for e in self.events.0.lock().unwrap().iter() {
            assert!(!e.contains(&self.password), "the master password leaked into an event: {e}");
        }
    }

    async fn sdk_cluster(&self, id: &str) -> Option<docdb::types::DbCluster> {
        match self.docdb.describe_db_clusters().db_cluster_identifier(id).send().await {
            Ok(o) => o.db_clusters().first().cloned(),
            Err(e) if e.code() == Some("DBClusterNotFoundFault") => None,
            Err(e) => panic!("DescribeDBClusters: {e:?}"),
        }
    }

    async fn sdk_instance(&self, id: &str) -> Option<docdb::types::DbInstance> {
        match self.docdb.describe_db_instances().db_instance_identifier(id).send().await {
            Ok(o) => o.db_instances().first().cloned(),
            Err(e) if e.code() == Some("DBInstanceNotFound") => None,
            Err(e) => panic!("DescribeDBInstances: {e:?}"),
        }
    }

    async fn sdk_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let out =
            self.docdb.list_tags_for_resource().resource_name(arn).send().await.expect("ListTagsForResource");
        out.tag_list()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect()
    }

    async fn sdk_parameters(&self, name: &str) -> BTreeMap<String, (String, String)> {
        let out = self
            .docdb
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
            .expect("DescribeDBClusterParameters");
        out.parameters()
            .iter()
            .filter(|p| p.source().is_none_or(|s| s == "user"))
            .filter_map(|p| {
                Some((
                    p.parameter_name()?.to_string(),
                    (
                        p.parameter_value()?.to_string(),
                        p.apply_method().map(|m| m.as_str().to_string()).unwrap_or_default(),
                    ),
                ))
            })
            .collect()
    }

    /// The writer of the cluster per DBClusterMembers.
    async fn writer(&self, id: &str) -> String {
        let c = self.sdk_cluster(id).await.expect("cluster exists");
        let writers: Vec<&str> = c
            .db_cluster_members()
            .iter()
            .filter(|m| m.is_cluster_writer() == Some(true))
            .filter_map(|m| m.db_instance_identifier())
            .collect();
        assert_eq!(writers.len(), 1, "exactly one writer: {:?}", c.db_cluster_members());
        writers[0].to_string()
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn props(items: &[(&str, Value)]) -> Props {
    items.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn with(p: &Props, name: &str, v: Value) -> Props {
    let mut p = p.clone();
    p.insert(name.to_string(), v);
    p
}

fn target(address: &str, id: &str, desired: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: Some(id.to_string()), props: desired.clone(), recorded: None }
}

/// The live object with `id`, read through the provider with one target.
async fn read(p: &dyn Provider, env: &Env, address: &str, id: &str, desired: &Props) -> Option<LiveObject> {
    let objs = p.read(&env.ctx(), &[target(address, id, desired)]).await.expect("read");
    env.note(&objs);
    objs.into_iter().find(|o| o.id == id)
}

/// Reads the object and asserts that it matches `desired` exactly (no false drift).
async fn assert_no_diff(p: &dyn Provider, env: &Env, address: &str, id: &str, desired: &Props) -> LiveObject {
    let live = read(p, env, address, id, desired).await.expect("object not found by read");
    let changes = p.diff(desired, &live.props);
    assert!(changes.is_empty(), "{address}: unexpected diff {changes:?}\nlive: {:?}", live.props);
    assert!(live.owned, "{address} should be owned by the stack");
    assert_eq!(live.address, Some(addr(address)));
    live
}

/// Brings the object to `desired` through the provider's update, from `live` props.
async fn update(p: &dyn Provider, env: &Env, address: &str, id: &str, live: &Props, desired: &Props) {
    let changes = p.diff(desired, live);
    assert!(!changes.is_empty(), "{address}: expected changes");
    let a = addr(address);
    let applied = p
        .update(
            &env.ctx_for(address, DeleteOptions::default()),
            UpdateRequest { address: &a, id, desired, changes: &changes },
        )
        .await
        .unwrap_or_else(|e| panic!("update {address}: {e}"));
    env.note(&applied);
    assert_eq!(applied.id, id);
}

async fn create(p: &dyn Provider, env: &Env, address: &str, desired: &Props) -> String {
    let applied = p
        .create(&env.ctx_for(address, DeleteOptions::default()), &addr(address), desired)
        .await
        .unwrap_or_else(|e| panic!("create {address}: {e}"));
    env.note(&applied);
    applied.id
}

/// Subnet group, TLS parameter group, protected encrypted cluster with a writer in AZ-1
/// and a reader in AZ-2: created, read without diff, changed in place and out of band,
/// failed over, and destroyed in order with the protection and final snapshot traps.
#[tokio::test(flavor = "multi_thread")]
async fn docdb_cluster_lifecycle() {
    Env::run("dl", 171, |env| async move {
        // The registry knows the four kinds.
        let reg = hactl_aws::registry(&sdk_config().await, &hactl_aws::ApiCounter::default());
        for kind in ["docdb.subnet_group", "docdb.cluster_parameter_group", "docdb.cluster", "docdb.instance"]
        {
            assert!(reg.get(kind).is_ok(), "{kind} is registered");
        }

        // Subnet group.
        let sg_props = env.subnet_group_props();
        let sg_name = create(&*env.subnet_group, &env, "db_subnet_group.main", &sg_props).await;
        assert_eq!(sg_name, format!("{}-db", env.stack));
        let live = env.docdb.describe_db_subnet_groups().db_subnet_group_name(&sg_name).send().await.unwrap();
        let group = &live.db_subnet_groups()[0];
        let mut subnets: Vec<_> = group.subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
        subnets.sort();
        let mut want = env.subnets.clone();
        want.sort();
        assert_eq!(subnets, want);
        let sg_tags = env.sdk_tags(group.db_subnet_group_arn().unwrap()).await;
        assert_eq!(sg_tags.get(TAG_ADDRESS).map(String::as_str), Some("db_subnet_group.main"));
        let sg_live =
            assert_no_diff(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_props).await;
        assert_eq!(sg_live.outputs.get("name"), Some(&Value::str(&sg_name)));

        // Parameter group with TLS on.
        let pg_props = env.parameter_group_props();
        let pg_name = create(&*env.parameter_group, &env, "db_cluster_parameter_group.main", &pg_props).await;
        let pg = env
            .docdb
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(&pg_name)
            .send()
            .await
            .unwrap();
        let pg = &pg.db_cluster_parameter_groups()[0];
        assert_eq!(pg.db_parameter_group_family(), Some("docdb5.0"));
        let params = env.sdk_parameters(&pg_name).await;
        assert_eq!(params.get("tls"), Some(&("enabled".to_string(), "pending-reboot".to_string())));
        let tags = env.sdk_tags(pg.db_cluster_parameter_group_arn().unwrap()).await;
        assert_eq!(tags.get(TAG_STACK), Some(&env.stack));
        let pg_live_props = assert_no_diff(
            &*env.parameter_group,
            &env,
            "db_cluster_parameter_group.main",
            &pg_name,
            &pg_props,
        )
        .await
        .props;
        // A parameter added in place (dynamic or not, unknown to the emulator: pending-reboot).
        let pg_more = with(
            &pg_props,
            "parameters",
            Value::from_string_map([("tls", "enabled"), ("ttl_monitor", "disabled")]),
        );
        update(
            &*env.parameter_group,
            &env,
            "db_cluster_parameter_group.main",
            &pg_name,
            &pg_live_props,
            &pg_more,
        )
        .await;
        let params = env.sdk_parameters(&pg_name).await;
        assert_eq!(params.get("ttl_monitor").map(|p| p.0.as_str()), Some("disabled"));
        assert_eq!(params.get("tls").map(|p| p.0.as_str()), Some("enabled"));
        assert_no_diff(&*env.parameter_group, &env, "db_cluster_parameter_group.main", &pg_name, &pg_more)
            .await;
        // ... and removed again (ResetDBClusterParameterGroup).
        let a = addr("db_cluster_parameter_group.main");
        let changes = env.parameter_group.diff(&pg_props, &pg_more);
        let reset = env
            .parameter_group
            .update(
                &env.ctx_for("db_cluster_parameter_group.main", DeleteOptions::default()),
                UpdateRequest { address: &a, id: &pg_name, desired: &pg_props, changes: &changes },
            )
            .await;
        if let Err(e) = reset {
            panic!("removing a parameter: {e}");
        }
        let params = env.sdk_parameters(&pg_name).await;
        assert!(!params.contains_key("ttl_monitor"), "reset parameter still set: {params:?}");

        // The protected, encrypted cluster.
        let cluster_id = env.cluster_id();
        let cl_props = env.cluster_props(&cluster_id, true);
        assert_eq!(create(&*env.cluster, &env, "db_cluster.main", &cl_props).await, cluster_id);
        let c = env.sdk_cluster(&cluster_id).await.expect("cluster created");
        assert_eq!(c.engine(), Some("docdb"));
        assert_eq!(c.status(), Some("available"));
        assert_eq!(c.storage_encrypted(), Some(true));
        assert_eq!(c.backup_retention_period(), Some(7));
        assert_eq!(c.preferred_backup_window(), Some("03:00-04:00"));
        assert_eq!(c.deletion_protection(), Some(true));
        assert_eq!(c.port(), Some(27017));
        assert_eq!(c.master_username(), Some(USERNAME));
        assert_eq!(c.db_subnet_group(), Some(sg_name.as_str()));
        assert_eq!(c.db_cluster_parameter_group(), Some(pg_name.as_str()));
        let sgs: Vec<_> = c.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
        assert_eq!(sgs, vec![env.sg.as_str()], "only the given security group");
        let cluster_arn = c.db_cluster_arn().unwrap().to_string();
        assert_eq!(
            env.sdk_tags(&cluster_arn).await.get(TAG_ADDRESS).map(String::as_str),
            Some("db_cluster.main")
        );
        let cl_live = assert_no_diff(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_props).await;
        assert_eq!(cl_live.outputs.get("endpoint"), Some(&Value::str(c.endpoint().unwrap())));
        assert_eq!(cl_live.outputs.get("reader_endpoint"), Some(&Value::str(c.reader_endpoint().unwrap())));
        assert_eq!(cl_live.outputs.get("port"), Some(&Value::Int(27017)));
        assert!(env.cluster.deletion_protected(&cl_live.props));
        // A target leaving the backup window to AWS reads it as Null.
        let no_window = with(&cl_props, "preferred_backup_window", Value::Null);
        let live = read(&*env.cluster, &env, "db_cluster.main", &cluster_id, &no_window).await.unwrap();
        assert!(env.cluster.diff(&no_window, &live.props).is_empty());

        // Two instances: 1 in AZ-1 (the writer), 2 in AZ-2.
        let i1 = env.instance_props(1);
        let i2 = env.instance_props(2);
        let id1 = create(&*env.instance, &env, "db_instance.1", &i1).await;
        let id2 = create(&*env.instance, &env, "db_instance.2", &i2).await;
        let sdk1 = env.sdk_instance(&id1).await.expect("instance 1");
        let sdk2 = env.sdk_instance(&id2).await.expect("instance 2");
        assert_eq!(sdk1.availability_zone(), Some(AZS[0]));
        assert_eq!(sdk2.availability_zone(), Some(AZS[1]));
        assert_eq!(sdk1.db_cluster_identifier(), Some(cluster_id.as_str()));
        assert_eq!(sdk1.promotion_tier(), Some(0));
        assert_eq!(sdk2.promotion_tier(), Some(1));
        assert_eq!(env.writer(&cluster_id).await, id1, "instance 1 is the writer");
        for (n, id, p) in [(1, &id1, &i1), (2, &id2, &i2)] {
            let live = assert_no_diff(&*env.instance, &env, &format!("db_instance.{n}"), id, p).await;
            assert_eq!(live.outputs.get("availability_zone"), Some(&Value::str(AZS[n - 1])));
        }
        // No diff for all four kinds read together with the stack's other objects around.
        assert_no_diff(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_props).await;
        assert_no_diff(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_props).await;

        // In place: instance class (applied immediately).
        let i2_big = with(&i2, "instance_class", Value::str("db.r6g.xlarge"));
        update(&*env.instance, &env, "db_instance.2", &id2, &i2, &i2_big).await;
        assert_eq!(env.sdk_instance(&id2).await.unwrap().db_instance_class(), Some("db.r6g.xlarge"));
        assert_no_diff(&*env.instance, &env, "db_instance.2", &id2, &i2_big).await;

        // In place: backup retention, and a tag.
        let mut cl_10 = with(&cl_props, "backup_retention_period", Value::Int(10));
        let mut tags = env.tags("db_cluster.main", &cluster_id).string_map();
        tags.insert("team".into(), "data".into());
        cl_10.insert("tags".into(), Value::from_string_map(tags));
        update(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_props, &cl_10).await;
        assert_eq!(env.sdk_cluster(&cluster_id).await.unwrap().backup_retention_period(), Some(10));
        assert_eq!(env.sdk_tags(&cluster_arn).await.get("team").map(String::as_str), Some("data"));
        assert_no_diff(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_10).await;

        // Out of band: retention changed with the SDK is seen by read, and converged back.
        env.docdb
            .modify_db_cluster()
            .db_cluster_identifier(&cluster_id)
            .backup_retention_period(12)
            .apply_immediately(true)
            .send()
            .await
            .expect("ModifyDBCluster");
        let live = read(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_10).await.unwrap();
        assert_eq!(live.props.get("backup_retention_period"), Some(&Value::Int(12)));
        let drift = env.cluster.diff(&cl_10, &live.props);
        assert_eq!(
            drift.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["backup_retention_period"]
        );
        update(&*env.cluster, &env, "db_cluster.main", &cluster_id, &live.props, &cl_10).await;
        assert_eq!(env.sdk_cluster(&cluster_id).await.unwrap().backup_retention_period(), Some(10));

        // Failover: the writer moves to instance 2; that is no drift.
        env.docdb
            .failover_db_cluster()
            .db_cluster_identifier(&cluster_id)
            .target_db_instance_identifier(&id2)
            .send()
            .await
            .expect("FailoverDBCluster");
        assert_eq!(env.writer(&cluster_id).await, id2, "the writer moved");
        assert_no_diff(&*env.cluster, &env, "db_cluster.main", &cluster_id, &cl_10).await;
        assert_no_diff(&*env.instance, &env, "db_instance.1", &id1, &i1).await;
        assert_no_diff(&*env.instance, &env, "db_instance.2", &id2, &i2_big).await;

        // Destroy trap 1: protection on and no flag: a clear fatal error, nothing deleted.
        let err = env
            .cluster
            .delete(&env.ctx_for("db_cluster.main", DeleteOptions::default()), &cluster_id, &cl_10)
            .await
            .expect_err("deleting a protected cluster without the flag must fail");
        env.note(&err);
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.message().contains("deletion protection")
                && err.message().contains("--allow-delete-protected"),
            "{err}"
        );
        let c = env.sdk_cluster(&cluster_id).await.expect("the protected cluster still exists");
        assert_eq!(c.deletion_protection(), Some(true));

        // Destroy trap 2: the cluster cannot go before its instances (retryable).
        let allow = DeleteOptions { allow_delete_protected: true, ..DeleteOptions::default() };
        let err = env
            .cluster
            .delete(&env.ctx_for("db_cluster.main", allow), &cluster_id, &cl_10)
            .await
            .expect_err("a cluster with instances cannot be deleted");
        env.note(&err);
        assert!(err.is_retryable(), "instances still there is worth a retry: {err}");
        assert!(env.sdk_cluster(&cluster_id).await.is_some());

        // Instances first, then the cluster with its final snapshot, the groups last.
        for (n, id, p) in [(2, &id2, &i2_big), (1, &id1, &i1)] {
            let address = format!("db_instance.{n}");
            env.instance.delete(&env.ctx_for(&address, allow), id, p).await.expect("delete instance");
            assert!(env.sdk_instance(id).await.is_none(), "{id} is gone");
        }
        env.cluster
            .delete(&env.ctx_for("db_cluster.main", allow), &cluster_id, &cl_10)
            .await
            .expect("delete cluster");
        assert!(env.sdk_cluster(&cluster_id).await.is_none(), "the cluster is gone");
        let snaps = env
            .docdb
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(&cluster_id)
            .send()
            .await
            .expect("DescribeDBClusterSnapshots");
        let finals: Vec<String> = snaps
            .db_cluster_snapshots()
            .iter()
            .filter_map(|s| s.db_cluster_snapshot_identifier())
            .filter(|s| s.starts_with(&format!("{cluster_id}-final-")))
            .map(str::to_string)
            .collect();
        assert_eq!(finals.len(), 1, "one final snapshot: {finals:?}");
        let stamp = finals[0].trim_start_matches(&format!("{cluster_id}-final-"));
        assert!(stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()), "YYYYMMDDHHMMSS: {stamp}");
        env.docdb
            .delete_db_cluster_snapshot()
            .db_cluster_snapshot_identifier(&finals[0])
            .send()
            .await
            .expect("DeleteDBClusterSnapshot");
        env.parameter_group
            .delete(&env.ctx_for("db_cluster_parameter_group.main", allow), &pg_name, &pg_props)
            .await
            .expect("delete parameter group");
        let gone = env
            .docdb
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(&pg_name)
            .send()
            .await;
        assert!(
            gone.is_err_and(|e| e.code() == Some("DBParameterGroupNotFound")),
            "the parameter group is gone"
        );
        env.subnet_group
            .delete(&env.ctx_for("db_subnet_group.main", allow), &sg_name, &sg_props)
            .await
            .expect("delete subnet group");
        let gone = env.docdb.describe_db_subnet_groups().db_subnet_group_name(&sg_name).send().await;
        assert!(
            gone.is_err_and(|e| e.code() == Some("DBSubnetGroupNotFoundFault")),
            "the subnet group is gone"
        );

        // Deleting again is fine for all four.
        for (n, id, p) in [(1, &id1, &i1), (2, &id2, &i2)] {
            env.instance
                .delete(&env.ctx_for(&format!("db_instance.{n}"), allow), id, p)
                .await
                .expect("delete again");
        }
        env.cluster
            .delete(&env.ctx_for("db_cluster.main", allow), &cluster_id, &cl_10)
            .await
            .expect("delete again");
        env.parameter_group
            .delete(&env.ctx_for("db_cluster_parameter_group.main", allow), &pg_name, &pg_props)
            .await
            .expect("delete again");
        env.subnet_group
            .delete(&env.ctx_for("db_subnet_group.main", allow), &sg_name, &sg_props)
            .await
            .expect("delete again");
        // Nothing of the stack is read any more.
        assert!(env.cluster.read(&env.ctx(), &[]).await.unwrap().is_empty());
        assert!(env.instance.read(&env.ctx(), &[]).await.unwrap().is_empty());
        assert!(env.subnet_group.read(&env.ctx(), &[]).await.unwrap().is_empty());

        env.assert_password_never_seen();
    })
    .await;
}

/// A create that finds its cluster or instance already there adopts it when the tags say
/// this stack and address (converging it), and refuses, naming the owner, otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn docdb_adoption() {
    Env::run("da", 172, |env| async move {
        let sg_props = env.subnet_group_props();
        let sg_name = create(&*env.subnet_group, &env, "db_subnet_group.main", &sg_props).await;
        // A subnet group of that name that is ours is adopted (no error, same group).
        assert_eq!(create(&*env.subnet_group, &env, "db_subnet_group.main", &sg_props).await, sg_name);
        let pg_props = env.parameter_group_props();
        create(&*env.parameter_group, &env, "db_cluster_parameter_group.main", &pg_props).await;

        // Ours, left by a crashed create: retention 1, no Name tag.
        let ours = env.cluster_id();
        let desired = env.cluster_props(&ours, false);
        env.docdb
            .create_db_cluster()
            .db_cluster_identifier(&ours)
            .engine("docdb")
            .master_username(USERNAME)
            .master_user_password(&env.password)
            .db_subnet_group_name(&sg_name)
            .vpc_security_group_ids(&env.sg)
            .storage_encrypted(true)
            .backup_retention_period(1)
            .tags(Tag::builder().key(TAG_STACK).value(&env.stack).build())
            .tags(Tag::builder().key(TAG_ADDRESS).value("db_cluster.main").build())
            .send()
            .await
            .expect("CreateDBCluster");
        assert_eq!(create(&*env.cluster, &env, "db_cluster.main", &desired).await, ours);
        let c = env.sdk_cluster(&ours).await.unwrap();
        assert_eq!(c.backup_retention_period(), Some(7), "converged");
        assert_eq!(c.preferred_backup_window(), Some("03:00-04:00"), "converged");
        assert_eq!(
            env.sdk_tags(c.db_cluster_arn().unwrap()).await.get("Name"),
            Some(&ours),
            "tags converged"
        );
        let clusters = env
            .docdb
            .describe_db_clusters()
            .filters(Filter::builder().name("db-cluster-id").values(&ours).build())
            .send()
            .await
            .unwrap();
        assert_eq!(clusters.db_clusters().len(), 1);
        assert_no_diff(&*env.cluster, &env, "db_cluster.main", &ours, &desired).await;

        // Another stack's cluster with the name we want: refused, untouched.
        let theirs = format!("{}-other", env.stack);
        env.docdb
            .create_db_cluster()
            .db_cluster_identifier(&theirs)
            .engine("docdb")
            .master_username(USERNAME)
            .master_user_password(&env.password)
            .backup_retention_period(3)
            .tags(Tag::builder().key(TAG_STACK).value("someone-else").build())
            .tags(Tag::builder().key(TAG_ADDRESS).value("db_cluster.main").build())
            .send()
            .await
            .expect("CreateDBCluster");
        let err = env
            .cluster
            .create(
                &env.ctx_for("db_cluster.main", DeleteOptions::default()),
                &addr("db_cluster.main"),
                &env.cluster_props(&theirs, false),
            )
            .await
            .expect_err("another stack's cluster must not be adopted");
        env.note(&err);
        assert!(!err.is_retryable());
        assert!(err.message().contains("someone-else"), "the error names the owner: {err}");
        let c = env.sdk_cluster(&theirs).await.expect("their cluster still exists");
        assert_eq!(c.backup_retention_period(), Some(3), "their cluster is untouched");
        assert_eq!(c.db_subnet_group(), Some("default"), "their cluster is untouched");
        // Their cluster is not ours to read.
        let read_all = env.cluster.read(&env.ctx(), &[]).await.unwrap();
        assert_eq!(read_all.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec![ours.as_str()]);

        // Instances: ours is adopted on DBInstanceAlreadyExists, theirs refused.
        let i1 = env.instance_props(1);
        let id1 = i1["identifier"].as_str().unwrap().to_string();
        env.docdb
            .create_db_instance()
            .db_instance_identifier(&id1)
            .db_cluster_identifier(&ours)
            .engine("docdb")
            .db_instance_class("db.r6g.large")
            .availability_zone(AZS[0])
            .promotion_tier(5)
            .tags(Tag::builder().key(TAG_STACK).value(&env.stack).build())
            .tags(Tag::builder().key(TAG_ADDRESS).value("db_instance.1").build())
            .send()
            .await
            .expect("CreateDBInstance");
        assert_eq!(create(&*env.instance, &env, "db_instance.1", &i1).await, id1);
        assert_eq!(env.sdk_instance(&id1).await.unwrap().promotion_tier(), Some(0), "converged");
        assert_no_diff(&*env.instance, &env, "db_instance.1", &id1, &i1).await;
        let i2 = env.instance_props(2);
        let id2 = i2["identifier"].as_str().unwrap().to_string();
        env.docdb
            .create_db_instance()
            .db_instance_identifier(&id2)
            .db_cluster_identifier(&theirs)
            .engine("docdb")
            .db_instance_class("db.r6g.large")
            .tags(Tag::builder().key(TAG_STACK).value("someone-else").build())
            .send()
            .await
            .expect("CreateDBInstance");
        let err = env
            .instance
            .create(&env.ctx_for("db_instance.2", DeleteOptions::default()), &addr("db_instance.2"), &i2)
            .await
            .expect_err("another stack's instance must not be adopted");
        env.note(&err);
        assert!(err.message().contains("someone-else"), "the error names the owner: {err}");
        assert_eq!(env.sdk_instance(&id2).await.unwrap().db_cluster_identifier(), Some(theirs.as_str()));

        // An unprotected cluster goes without the flag; skip_final_snapshot leaves none.
        let skip = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
        env.instance.delete(&env.ctx_for("db_instance.1", skip), &id1, &i1).await.expect("delete instance");
        assert!(!env.cluster.deletion_protected(
            &read(&*env.cluster, &env, "db_cluster.main", &ours, &desired).await.unwrap().props
        ));
        env.cluster
            .delete(&env.ctx_for("db_cluster.main", skip), &ours, &desired)
            .await
            .expect("delete cluster");
        assert!(env.sdk_cluster(&ours).await.is_none());
        let snaps =
            env.docdb.describe_db_cluster_snapshots().db_cluster_identifier(&ours).send().await.unwrap();
        assert!(
            snaps.db_cluster_snapshots().iter().all(|s| s.snapshot_type() != Some("manual")),
            "no final snapshot when skipped"
        );

        // The subnet group in place: tags, then description and subnets.
        let mut tags = env.tags("db_subnet_group.main", &sg_name).string_map();
        tags.insert("team".into(), "data".into());
        let sg_tagged = with(&sg_props, "tags", Value::from_string_map(tags));
        update(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_props, &sg_tagged).await;
        let arn = format!("arn:aws:rds:us-east-1:000000000000:subgrp:{sg_name}");
        assert_eq!(env.sdk_tags(&arn).await.get("team").map(String::as_str), Some("data"));
        assert_no_diff(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_tagged).await;
        let sg_one = with(&sg_tagged, "subnet_ids", Value::from_strings([env.subnets[1].clone()]));
        let sg_one = with(&sg_one, "description", Value::str("one subnet"));
        update(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_tagged, &sg_one).await;
        let o = env.docdb.describe_db_subnet_groups().db_subnet_group_name(&sg_name).send().await;
        let o = o.expect("the subnet group is still there after ModifyDBSubnetGroup");
        let g = &o.db_subnet_groups()[0];
        assert_eq!(g.db_subnet_group_description(), Some("one subnet"));
        assert_eq!(g.subnets().len(), 1);
        assert_no_diff(&*env.subnet_group, &env, "db_subnet_group.main", &sg_name, &sg_one).await;

        env.assert_password_never_seen();
    })
    .await;
}

const DR_REGION: &str = "us-west-2";
const DR_AZS: [&str; 2] = ["us-west-2a", "us-west-2b"];

/// The disaster-recovery region of the global cluster test: the SDK clients of us-west-2,
/// the providers of a registry built for it, and a VPC with two data
/// subnets and a security group there.
#[derive(Clone)]
struct West {
    docdb: docdb::Client,
    ec2: aws_sdk_ec2::Client,
    registry: Arc<hactl_engine::Registry>,
    vpc: String,
    subnets: Vec<String>,
    sg: String,
}

impl West {
    async fn new(stack: &str, net: u8) -> West {
        let cfg = sdk_config().await.to_builder().region(aws_config::Region::new(DR_REGION)).build();
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let vpc = ec2.create_vpc().cidr_block(format!("10.{net}.0.0/16")).send().await.expect("CreateVpc");
        let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
        let mut subnets = Vec::new();
        for (i, az) in DR_AZS.iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.{net}.{}.0/24", 20 + i))
                .availability_zone(*az)
                .send()
                .await
                .expect("CreateSubnet us-west-2");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        let sg = ec2
            .create_security_group()
            .vpc_id(&vpc)
            .group_name(format!("{stack}-db"))
            .description("hactl docdb dr test")
            .send()
            .await
            .expect("CreateSecurityGroup us-west-2");
        let sg = sg.group_id().expect("group id").to_string();
        West {
            docdb: docdb::Client::new(&cfg),
            registry: Arc::new(hactl_aws::registry(&cfg, &hactl_aws::ApiCounter::default())),
            ec2,
            vpc,
            subnets,
            sg,
        }
    }

    fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).expect("registered in the us-west-2 registry").clone()
    }

    /// Removes what the test left in us-west-2: clusters, snapshots, groups, network.
    async fn cleanup(&self, stack: &str) {
        let prefix = format!("{stack}-");
        let clusters = self.docdb.describe_db_clusters().send().await.expect("DescribeDBClusters us-west-2");
        for c in clusters.db_clusters() {
            let id = c.db_cluster_identifier().unwrap_or_default();
            if id.starts_with(&prefix) {
                let _ = self
                    .docdb
                    .delete_db_cluster()
                    .db_cluster_identifier(id)
                    .skip_final_snapshot(true)
                    .send()
                    .await;
            }
        }
        let snapshots = self.docdb.describe_db_cluster_snapshots().send().await.expect("snapshots us-west-2");
        for s in snapshots.db_cluster_snapshots() {
            if s.db_cluster_identifier().unwrap_or_default().starts_with(&prefix) {
                let id = s.db_cluster_snapshot_identifier().unwrap_or_default();
                let _ =
                    self.docdb.delete_db_cluster_snapshot().db_cluster_snapshot_identifier(id).send().await;
            }
        }
        let pg = format!("{stack}-docdb");
        if self
            .docdb
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(&pg)
            .send()
            .await
            .is_ok()
        {
            let _ = self
                .docdb
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&pg)
                .send()
                .await;
        }
        let _ = self.docdb.delete_db_subnet_group().db_subnet_group_name(format!("{stack}-db")).send().await;
        self.ec2
            .delete_security_group()
            .group_id(&self.sg)
            .send()
            .await
            .expect("cleanup: DeleteSecurityGroup");
        for s in &self.subnets {
            self.ec2.delete_subnet().subnet_id(s).send().await.expect("cleanup: DeleteSubnet us-west-2");
        }
        self.ec2.delete_vpc().vpc_id(&self.vpc).send().await.expect("cleanup: DeleteVpc us-west-2");
    }
}

/// The global clusters of the stack (named `<stack>-...`), seen through `client`.
async fn sdk_global_clusters(client: &docdb::Client, stack: &str) -> Vec<docdb::types::GlobalCluster> {
    let out = client.describe_global_clusters().send().await.expect("DescribeGlobalClusters");
    let prefix = format!("{stack}-");
    out.global_clusters()
        .iter()
        .filter(|g| g.global_cluster_identifier().unwrap_or_default().starts_with(&prefix))
        .cloned()
        .collect()
}

/// The members of the global cluster `id` and whether each is the writer, through
/// `client` (None: no such global cluster).
async fn sdk_members(client: &docdb::Client, id: &str) -> Option<BTreeMap<String, bool>> {
    match client.describe_global_clusters().global_cluster_identifier(id).send().await {
        Ok(o) => {
            let gcs = o.global_clusters();
            assert_eq!(gcs.len(), 1, "one global cluster {id}: {gcs:?}");
            Some(
                gcs[0]
                    .global_cluster_members()
                    .iter()
                    .map(|m| {
                        (m.db_cluster_arn().unwrap_or_default().to_string(), m.is_writer() == Some(true))
                    })
                    .collect(),
            )
        }
        Err(e) if e.code() == Some("GlobalClusterNotFoundFault") => None,
        Err(e) => panic!("DescribeGlobalClusters {id}: {e:?}"),
    }
}

async fn sdk_cluster_in(client: &docdb::Client, id: &str) -> Option<docdb::types::DbCluster> {
    match client.describe_db_clusters().db_cluster_identifier(id).send().await {
        Ok(o) => o.db_clusters().first().cloned(),
        Err(e) if e.code() == Some("DBClusterNotFoundFault") => None,
        Err(e) => panic!("DescribeDBClusters: {e:?}"),
    }
}

/// Detaches every member of the stack's global clusters (each in its own region) and
/// deletes them: what a failed global cluster test leaves.
async fn cleanup_global_clusters(env: &Env, west: &West) {
    for gc in sdk_global_clusters(&env.docdb, &env.stack).await {
        let id = gc.global_cluster_identifier().unwrap_or_default();
        for m in gc.global_cluster_members() {
            let arn = m.db_cluster_arn().unwrap_or_default();
            let client = if arn.contains(&format!(":{DR_REGION}:")) { &west.docdb } else { &env.docdb };
            let _ = client
                .remove_from_global_cluster()
                .global_cluster_identifier(id)
                .db_cluster_identifier(arn)
                .send()
                .await;
        }
        let _ = env.docdb.delete_global_cluster().global_cluster_identifier(id).send().await;
    }
}

/// A call count of the operation `op` (any service) in `counter`.
fn calls_of(counter: &hactl_aws::ApiCounter, op: &str) -> u64 {
    counter.snapshot().iter().filter(|(k, _)| k.rsplit(':').next() == Some(op)).map(|(_, n)| n).sum()
}

/// A DocumentDB global cluster across two regions: the primary cluster in us-east-1, the
/// global cluster made from it, a secondary cluster in us-west-2 (through a registry built
/// for us-west-2). A switchover to us-west-2 and a failover back (data loss allowed) move
/// the writer without any diff of either cluster or the global cluster; destroy in graph
/// order (secondary cluster, global cluster, primary) leaves nothing in either region.
#[tokio::test(flavor = "multi_thread")]
async fn docdb_global_cluster() {
    let env = Env::new("dg", 173).await;
    let west = West::new(&env.stack, 174).await;
    let result = tokio::spawn(global_cluster_body(env.clone(), west.clone())).await;
    cleanup_global_clusters(&env, &west).await;
    west.cleanup(&env.stack).await;
    env.cleanup().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn global_cluster_body(env: Env, west: West) {
    let g = Global::build(&env, &west).await;
    switch_writer(&env, &west, &g).await;
    destroy_global(&env, &west, &g).await;
}

/// What the global cluster test built: the providers of both regions it drives, and the
/// ids, ARNs and desired properties of the primary (`p_`), the secondary (`s_`) and the
/// global cluster (`g_`), and of the groups of both regions.
struct Global {
    east_cfg: aws_config::SdkConfig,
    global: Arc<dyn Provider>,
    w_subnet_group: Arc<dyn Provider>,
    w_parameter_group: Arc<dyn Provider>,
    w_cluster: Arc<dyn Provider>,
    p_id: String,
    p_arn: String,
    p_props: Props,
    s_id: String,
    s_arn: String,
    s_props: Props,
    g_id: String,
    g_props: Props,
    groups: [Props; 4],
}

impl Global {
    /// The primary in us-east-1 (no instance: the global cluster needs none), the global
    /// cluster made from it, and the secondary in us-west-2 with its own subnet group and
    /// parameter group and no master user; each checked with the SDK.
    async fn build(env: &Env, west: &West) -> Global {
        let east_cfg = sdk_config().await;
        let east = hactl_aws::registry(&east_cfg, &hactl_aws::ApiCounter::default());
        let global = east.get("docdb.global_cluster").expect("docdb.global_cluster is registered").clone();
        let sg_props = env.subnet_group_props();
        create(&*env.subnet_group, env, "db_subnet_group.main", &sg_props).await;
        let pg_props = env.parameter_group_props();
        create(&*env.parameter_group, env, "db_cluster_parameter_group.main", &pg_props).await;
        let p_id = env.cluster_id();
        let p_props = env.cluster_props(&p_id, false);
        create(&*env.cluster, env, "db_cluster.main", &p_props).await;
        let p_arn = env.sdk_cluster(&p_id).await.expect("primary").db_cluster_arn().expect("arn").to_string();

        let g_id = format!("{}-global", env.stack);
        let g_props = props(&[
            ("identifier", Value::str(&g_id)),
            ("source_db_cluster_arn", Value::str(&p_arn)),
            ("deletion_protection", Value::Bool(false)),
        ]);
        assert_eq!(create(&*global, env, "db_global_cluster.main", &g_props).await, g_id);
        let gc = &sdk_global_clusters(&env.docdb, &env.stack).await[0];
        assert_eq!(gc.engine(), Some("docdb"));
        assert_eq!(gc.storage_encrypted(), Some(true), "encryption comes from the source");
        assert_eq!(sdk_members(&env.docdb, &g_id).await, Some(BTreeMap::from([(p_arn.clone(), true)])));
        // A create retried after a crash adopts it.
        assert_eq!(create(&*global, env, "db_global_cluster.main", &g_props).await, g_id);
        assert_eq!(sdk_global_clusters(&env.docdb, &env.stack).await.len(), 1);

        let (w_subnet_group, w_parameter_group, w_cluster) = (
            west.provider("docdb.subnet_group"),
            west.provider("docdb.cluster_parameter_group"),
            west.provider("docdb.cluster"),
        );
        let w_sg_props = with(&sg_props, "subnet_ids", Value::from_strings(west.subnets.clone()));
        let name = format!("{}-db", env.stack);
        let w_sg_props = with(&w_sg_props, "tags", env.tags("dr.db_subnet_group.main", &name));
        create(&*w_subnet_group, env, "dr.db_subnet_group.main", &w_sg_props).await;
        let name = format!("{}-docdb", env.stack);
        let w_pg_props = with(&pg_props, "tags", env.tags("dr.db_cluster_parameter_group.main", &name));
        create(&*w_parameter_group, env, "dr.db_cluster_parameter_group.main", &w_pg_props).await;
        let s_id = format!("{}-docdb-dr", env.stack);
        let mut s_props = env.cluster_props(&s_id, false);
        s_props.insert("master_username".into(), Value::Null);
        s_props.insert("master_secret_arn".into(), Value::Null);
        s_props.insert("vpc_security_group_ids".into(), Value::from_strings([west.sg.clone()]));
        s_props.insert("global_cluster_identifier".into(), Value::str(&g_id));
        s_props.insert("tags".into(), env.tags("dr.db_cluster.main", &s_id));
        assert_eq!(create(&*w_cluster, env, "dr.db_cluster.main", &s_props).await, s_id);
        assert!(env.sdk_cluster(&s_id).await.is_none(), "the secondary is not in us-east-1");
        let s = sdk_cluster_in(&west.docdb, &s_id).await.expect("the secondary is in us-west-2");
        let s_arn = s.db_cluster_arn().expect("arn").to_string();
        assert!(s_arn.contains(":us-west-2:"), "{s_arn}");
        assert_eq!(s.replication_source_identifier(), Some(p_arn.as_str()), "it replicates the primary");
        assert!(s.master_username().is_none_or(str::is_empty), "no master user of its own: {s:?}");
        Global {
            east_cfg,
            global,
            w_subnet_group,
            w_parameter_group,
            w_cluster,
            p_id,
            p_arn,
            p_props,
            s_id,
            s_arn,
            s_props,
            g_id,
            g_props,
            groups: [sg_props, pg_props, w_sg_props, w_pg_props],
        }
    }

    /// The members as both regions must see them, `writer` writing.
    fn members(&self, writer: &str) -> BTreeMap<String, bool> {
        [&self.p_arn, &self.s_arn].into_iter().map(|a| (a.clone(), a == writer)).collect()
    }

    /// Both regions' DescribeGlobalClusters show both members, `writer` writing; neither
    /// cluster nor the global cluster reads with a diff against its desired properties.
    async fn assert_writer_and_no_diff(&self, env: &Env, west: &West, writer: &str) {
        assert_eq!(sdk_members(&env.docdb, &self.g_id).await, Some(self.members(writer)), "us-east-1");
        assert_eq!(sdk_members(&west.docdb, &self.g_id).await, Some(self.members(writer)), "us-west-2");
        assert_no_diff(&*env.cluster, env, "db_cluster.main", &self.p_id, &self.p_props).await;
        assert_no_diff(&*self.w_cluster, env, "dr.db_cluster.main", &self.s_id, &self.s_props).await;
        let g = assert_no_diff(&*self.global, env, "db_global_cluster.main", &self.g_id, &self.g_props).await;
        assert_eq!(g.outputs.get("writer_arn"), Some(&Value::str(writer)));
        let mut members = vec![self.p_arn.clone(), self.s_arn.clone()];
        members.sort();
        assert_eq!(g.outputs.get("members"), Some(&Value::from_strings(members)));
        assert!(g.outputs.get("arn").and_then(Value::as_str).is_some_and(|a| a.ends_with(&self.g_id)));
    }
}

/// A planned switchover to us-west-2 (again: nothing to do), a refused non-member, a
/// failover back with data loss allowed: the writer moves, nothing diffs.
async fn switch_writer(env: &Env, west: &West, g: &Global) {
    let (p_arn, s_arn) = (g.p_arn.as_str(), g.s_arn.as_str());
    g.assert_writer_and_no_diff(env, west, p_arn).await;
    // A member cannot be deleted as it is: AWS refuses (the provider detaches it first).
    let refused = west.docdb.delete_db_cluster().db_cluster_identifier(&g.s_id).skip_final_snapshot(true);
    let refused = refused.send().await.expect_err("a member is not deleted");
    assert_eq!(refused.code(), Some("InvalidDBClusterStateFault"));

    let counter = hactl_aws::ApiCounter::default();
    let ctx = env.ctx_for("db_global_cluster.main", DeleteOptions::default());
    let promote = hactl_aws::docdb::switchover::promote_secondary;
    let out = promote(&g.east_cfg, &counter, &ctx, &g.g_id, s_arn, false).await.expect("switchover");
    assert_eq!((out.writer_arn.as_str(), out.previous_writer_arn.as_str()), (s_arn, p_arn));
    assert_eq!(calls_of(&counter, "SwitchoverGlobalCluster"), 1);
    let old_primary = env.sdk_cluster(&g.p_id).await.expect("primary");
    assert_eq!(old_primary.replication_source_identifier(), Some(s_arn), "the old primary follows");
    let out = promote(&g.east_cfg, &counter, &ctx, &g.g_id, s_arn, false).await.expect("switchover again");
    assert_eq!((out.writer_arn.as_str(), out.previous_writer_arn.as_str()), (s_arn, s_arn));
    assert_eq!(calls_of(&counter, "SwitchoverGlobalCluster"), 1, "already the writer: no call");
    assert_eq!(calls_of(&counter, "FailoverGlobalCluster"), 0);
    // A switchover is not drift: no diff of either cluster, nor of the global cluster.
    g.assert_writer_and_no_diff(env, west, s_arn).await;

    let other = s_arn.replace(&g.s_id, "nope");
    let err = promote(&g.east_cfg, &counter, &ctx, &g.g_id, &other, true).await.expect_err("not a member");
    assert!(err.message().contains("not a member"), "{err}");
    let out = promote(&g.east_cfg, &counter, &ctx, &g.g_id, p_arn, true).await.expect("failover");
    assert_eq!((out.writer_arn.as_str(), out.previous_writer_arn.as_str()), (p_arn, s_arn));
    assert_eq!(calls_of(&counter, "FailoverGlobalCluster"), 1);
    g.assert_writer_and_no_diff(env, west, p_arn).await;
}

/// Destroy in graph order: the secondary (detached, then deleted), the global cluster (the
/// primary removed from it, then deleted), then the primary and the groups.
async fn destroy_global(env: &Env, west: &West, g: &Global) {
    let skip = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
    let ctx = |address: &str| env.ctx_for(address, skip);
    g.w_cluster.delete(&ctx("dr.db_cluster.main"), &g.s_id, &g.s_props).await.expect("delete secondary");
    assert!(sdk_cluster_in(&west.docdb, &g.s_id).await.is_none(), "the secondary is gone");
    let primary_only = BTreeMap::from([(g.p_arn.clone(), true)]);
    assert_eq!(sdk_members(&env.docdb, &g.g_id).await, Some(primary_only));
    g.global.delete(&ctx("db_global_cluster.main"), &g.g_id, &g.g_props).await.expect("delete global");
    assert_eq!(sdk_members(&env.docdb, &g.g_id).await, None, "the global cluster is gone");
    assert_eq!(sdk_members(&west.docdb, &g.g_id).await, None, "the global cluster is gone");
    let p = env.sdk_cluster(&g.p_id).await.expect("the primary stays, standalone");
    assert!(p.replication_source_identifier().is_none() && p.read_replica_identifiers().is_empty(), "{p:?}");
    // Deleting again is fine.
    g.w_cluster.delete(&ctx("dr.db_cluster.main"), &g.s_id, &g.s_props).await.expect("again");
    g.global.delete(&ctx("db_global_cluster.main"), &g.g_id, &g.g_props).await.expect("again");
    destroy_primary_and_groups(env, west, g).await;
}

/// The rest of a destroy once the global cluster is gone: the primary, the groups of both
/// regions; then nothing of the stack is left in either region.
async fn destroy_primary_and_groups(env: &Env, west: &West, g: &Global) {
    let skip = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
    let ctx = |address: &str| env.ctx_for(address, skip);
    env.cluster.delete(&ctx("db_cluster.main"), &g.p_id, &g.p_props).await.expect("delete primary");
    let (sg_name, pg_name) = (format!("{}-db", env.stack), format!("{}-docdb", env.stack));
    let [sg_props, pg_props, w_sg_props, w_pg_props] = &g.groups;
    for (provider, address, id, p) in [
        (&*g.w_parameter_group, "dr.db_cluster_parameter_group.main", &pg_name, w_pg_props),
        (&*g.w_subnet_group, "dr.db_subnet_group.main", &sg_name, w_sg_props),
        (&*env.parameter_group as &dyn Provider, "db_cluster_parameter_group.main", &pg_name, pg_props),
        (&*env.subnet_group, "db_subnet_group.main", &sg_name, sg_props),
    ] {
        provider.delete(&ctx(address), id, p).await.unwrap_or_else(|e| panic!("delete {address}: {e}"));
    }

    let prefix = format!("{}-", env.stack);
    for (region, client) in [("us-east-1", &env.docdb), (DR_REGION, &west.docdb)] {
        assert!(
            sdk_global_clusters(client, &env.stack).await.is_empty(),
            "{region}: a global cluster is left"
        );
        let clusters = client.describe_db_clusters().send().await.expect("DescribeDBClusters");
        let ids = clusters.db_clusters().iter().filter_map(|c| c.db_cluster_identifier());
        let left: Vec<_> = ids.filter(|id| id.starts_with(&prefix)).collect();
        assert!(left.is_empty(), "{region}: clusters left: {left:?}");
        let groups = client.describe_db_subnet_groups().send().await.expect("DescribeDBSubnetGroups");
        let mut names = groups.db_subnet_groups().iter().filter_map(|g| g.db_subnet_group_name());
        assert!(names.all(|n| n != sg_name), "{region}: the subnet group is left");
        let pgs = client.describe_db_cluster_parameter_groups().send().await.expect("parameter groups");
        let mut names =
            pgs.db_cluster_parameter_groups().iter().filter_map(|g| g.db_cluster_parameter_group_name());
        assert!(names.all(|n| n != pg_name), "{region}: the parameter group is left");
    }
    assert!(g.global.read(&env.ctx(), &[]).await.expect("read").is_empty());
    assert!(g.w_cluster.read(&env.ctx(), &[]).await.expect("read").is_empty());
}

/// The global cluster deleted while its secondary is still a member (its identifier
/// changed, or it alone is destroyed): both members are removed from it, the secondary
/// through its own region, and stay as standalone clusters; the secondary's delete then
/// finds no global cluster to leave.
#[tokio::test(flavor = "multi_thread")]
async fn docdb_global_cluster_deleted_with_its_members() {
    let env = Env::new("dx", 175).await;
    let west = West::new(&env.stack, 176).await;
    let result = tokio::spawn({
        let (env, west) = (env.clone(), west.clone());
        async move {
            let g = Global::build(&env, &west).await;
            let ctx = env.ctx_for("db_global_cluster.main", DeleteOptions::default());
            g.global.delete(&ctx, &g.g_id, &g.g_props).await.expect("delete global");
            assert_eq!(sdk_members(&env.docdb, &g.g_id).await, None, "the global cluster is gone");
            let p = env.sdk_cluster(&g.p_id).await.expect("the primary stays");
            let s = sdk_cluster_in(&west.docdb, &g.s_id).await.expect("the secondary stays");
            for c in [&p, &s] {
                assert!(
                    c.replication_source_identifier().is_none() && c.read_replica_identifiers().is_empty()
                );
            }
            let skip = DeleteOptions { skip_final_snapshot: true, ..DeleteOptions::default() };
            let ctx = env.ctx_for("dr.db_cluster.main", skip);
            g.w_cluster.delete(&ctx, &g.s_id, &g.s_props).await.expect("delete secondary");
            assert!(sdk_cluster_in(&west.docdb, &g.s_id).await.is_none(), "the secondary is gone");
            destroy_primary_and_groups(&env, &west, &g).await;
        }
    })
    .await;
    cleanup_global_clusters(&env, &west).await;
    west.cleanup(&env.stack).await;
    env.cleanup().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The cluster's managed master password and the secret's state as the SDK sees them:
/// (the secret DocumentDB keeps it in, its owning service, rotation on, days).
async fn managed_secret(env: &Env) -> Option<(String, Option<String>, Option<bool>, Option<i64>)> {
    let c = sdk_cluster_in(&env.docdb, &env.cluster_id()).await.expect("cluster");
    let arn = c.master_user_secret()?.secret_arn()?.to_string();
    let d = env.sm.describe_secret().secret_id(&arn).send().await.expect("DescribeSecret");
    let days = d.rotation_rules().and_then(|r| r.automatically_after_days());
    Some((arn, d.owning_service().map(str::to_string), d.rotation_enabled(), days))
}

/// The password in a secret, compared here and never printed.
async fn password_in(env: &Env, arn: &str) -> String {
    let v = env.sm.get_secret_value().secret_id(arn).send().await.expect("GetSecretValue");
    let j: serde_json::Value = serde_json::from_str(v.secret_string().expect("string")).expect("JSON");
    j["password"].as_str().expect("password").to_string()
}

/// `manage_master_password`: DocumentDB generates the password into a secret of its own
/// (no password through hactl), turned off (the password from `master_secret_arn`, the
/// secret deleted) and on again in place; `secretsmanager.rotation` schedules that
/// secret's rotation, sees a schedule changed out of band, refuses a secret no service
/// manages, `rotate_now` rotates it, and delete hands the schedule back to AWS's default.
#[tokio::test(flavor = "multi_thread")]
async fn docdb_managed_master_password_and_its_rotation() {
    Env::run("mp", 177, |env| async move {
        create(&*env.subnet_group, &env, "db_subnet_group.main", &env.subnet_group_props()).await;
        create(&*env.parameter_group, &env, "db_cluster_parameter_group.main", &env.parameter_group_props())
            .await;
        let base = env.cluster_props(&env.cluster_id(), false);
        let managed =
            with(&with(&base, "manage_master_password", Value::Bool(true)), "master_secret_arn", Value::Null);
        let id = create(&*env.cluster, &env, "db_cluster.main", &managed).await;
        let (arn, owner, on, days) = managed_secret(&env).await.expect("a managed secret");
        assert_eq!(
            (owner.as_deref(), on, days),
            (Some("rds"), Some(true), Some(7)),
            "AWS's default schedule"
        );
        let live = assert_no_diff(&*env.cluster, &env, "db_cluster.main", &id, &managed).await;
        assert_eq!(live.outputs.get("master_user_secret_arn"), Some(&Value::str(&arn)));
        let first = password_in(&env, &arn).await;
        assert_ne!(first, env.password, "the password is DocumentDB's, not the one hactl holds");

        // The schedule: 30 days, read back, changed out of band (seen), updated in place.
        let rotation = hactl_aws::secretsmanager::rotation::Rotation(env.sm.clone());
        let schedule =
            props(&[("secret_id", Value::str(&arn)), ("automatically_after_days", Value::Int(30))]);
        let rid = create(&rotation, &env, "secret_rotation.db", &schedule).await;
        assert_eq!(rid, arn);
        assert_eq!(managed_secret(&env).await.expect("secret").3, Some(30));
        let live = assert_no_diff(&rotation, &env, "secret_rotation.db", &rid, &schedule).await;
        assert_eq!(live.outputs.get("secret_arn"), Some(&Value::str(&arn)));
        let rules =
            aws_sdk_secretsmanager::types::RotationRulesType::builder().automatically_after_days(3).build();
        env.sm
            .rotate_secret()
            .secret_id(&arn)
            .rotation_rules(rules)
            .rotate_immediately(false)
            .send()
            .await
            .unwrap();
        let live = read(&rotation, &env, "secret_rotation.db", &rid, &schedule).await.expect("read");
        assert_eq!(live.props["automatically_after_days"], Value::Int(3));
        let fourteen = with(&schedule, "automatically_after_days", Value::Int(14));
        update(&rotation, &env, "secret_rotation.db", &rid, &live.props, &fourteen).await;
        assert_eq!(managed_secret(&env).await.expect("secret").3, Some(14));
        assert_eq!(password_in(&env, &arn).await, first, "a schedule change rotates nothing");

        // Only a secret a service manages: hactl's own secret is refused.
        let other = with(&schedule, "secret_id", Value::str(&env.secret_arn));
        let err = rotation.create(&env.ctx(), &addr("secret_rotation.db"), &other).await.unwrap_err();
        assert!(err.message().contains("not managed by a service"), "{err}");

        // Rotated now: a new version is current, with another password; the schedule stays.
        let rotated = hactl_aws::secretsmanager::rotation::rotate_now(
            &env.sm,
            &env.ctx_for("db_cluster.main", DeleteOptions::default()),
            &arn,
        )
        .await
        .expect("rotate_now");
        let second = password_in(&env, &arn).await;
        assert_ne!(second, first, "rotate_now left the password as it was");
        assert_eq!(managed_secret(&env).await.expect("secret").3, Some(14));
        env.note(&rotated);

        // Management off: the password from hactl's secret, DocumentDB's secret deleted.
        let unmanaged = with(&base, "manage_master_password", Value::Bool(false));
        update(
            &*env.cluster,
            &env,
            "db_cluster.main",
            &id,
            &live_props(&env, &id, &managed).await,
            &unmanaged,
        )
        .await;
        assert!(managed_secret(&env).await.is_none(), "still managed");
        match env.sm.describe_secret().secret_id(&arn).send().await {
            Ok(d) => assert!(d.deleted_date().is_some(), "DocumentDB's secret outlived its management"),
            Err(e) => assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}"),
        }
        // The schedule of a secret gone with its database: delete has nothing to do.
        rotation.delete(&env.ctx(), &rid, &fourteen).await.expect("delete of a gone schedule");
        assert!(read(&rotation, &env, "secret_rotation.db", &rid, &fourteen).await.is_none());

        // On again: a new secret; deleting the schedule hands it back to AWS's 7 days.
        update(
            &*env.cluster,
            &env,
            "db_cluster.main",
            &id,
            &live_props(&env, &id, &unmanaged).await,
            &managed,
        )
        .await;
        let (again, ..) = managed_secret(&env).await.expect("managed again");
        assert_ne!(again, arn);
        let schedule = with(&schedule, "secret_id", Value::str(&again));
        let rid = create(&rotation, &env, "secret_rotation.db", &schedule).await;
        rotation.delete(&env.ctx(), &rid, &schedule).await.expect("delete");
        assert_eq!(managed_secret(&env).await.expect("secret").3, Some(7));

        // Nothing the providers answered or reported holds a password.
        let seen = format!("{:?}{:?}", env.seen.lock().unwrap(), env.events.0.lock().unwrap());
        for p in [&first, &second] {
            assert!(!seen.contains(p.as_str()), "a managed password leaked into the providers' answers");
        }
    })
    .await;
}

/// The cluster's live props as the provider reads them.
async fn live_props(env: &Env, id: &str, desired: &Props) -> Props {
    read(&*env.cluster, env, "db_cluster.main", id, desired).await.expect("cluster").props
}
