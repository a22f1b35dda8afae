//! Expansion of the data tier: the credentials secret, then DocumentDB (subnet group,
//! cluster parameter group with TLS, encrypted cluster, instances spread over the zones) or
//! RDS PostgreSQL (subnet group, parameter group, one Multi-AZ instance), and the
//! endpoint fields written back into the secret. Property shapes are the contract in
//! crates/hactl-aws/KINDS-data.md.

use crate::expand::{addr, id, out, ExpandError, Expander, NetworkRefs};
use crate::model::{DatabaseConfig, DbEngine, Tier};
use hactl_core::kinds::{docdb, rds, secretsmanager, Typed};
use hactl_core::{Address, Value};
use std::collections::BTreeMap;

/// DocumentDB engine version and the parameter group family that goes with it.
pub const DOCDB_VERSION: &str = "5.0.0";
pub const DOCDB_FAMILY: &str = "docdb5.0";
/// RDS PostgreSQL major version (RDS picks its default minor) and its family.
pub const POSTGRES_VERSION: &str = "16";
pub const POSTGRES_FAMILY: &str = "postgres16";
/// Length of the generated master password (letters and digits).
pub const PASSWORD_LENGTH: i64 = 32;
/// The database's output naming the secret it manages its master password in.
pub const MASTER_USER_SECRET_ARN: &str = "master_user_secret_arn";

/// Where a database variable of the services comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// The credentials secret `hactl/<stack>/db-credentials` (the password).
    Credentials,
    /// The connection secret `hactl/<stack>/db-connection` (no password).
    Connection,
}

/// The database variables the services get (`secrets[].valueFrom`): variable, JSON key
/// and the secret that holds it.
pub const SECRET_VARIABLES: [(&str, &str, SecretSource); 5] = [
    ("DB_HOST", "host", SecretSource::Connection),
    ("DB_PORT", "port", SecretSource::Connection),
    ("DB_USER", "username", SecretSource::Connection),
    ("DB_PASSWORD", "password", SecretSource::Credentials),
    ("DB_NAME", "dbname", SecretSource::Connection),
];

/// What the compute tier needs from the data tier.
pub(crate) struct DataRefs {
    /// The credentials secret (`secretsmanager.secret`): username and generated password.
    /// None when the database manages its master password (stacks without `[dr]`).
    pub secret: Option<Address>,
    /// The connection secret (`secretsmanager.secret` without a password): host, port,
    /// engine, dbname, username. Drift reads it; nothing that reads it sees the password.
    pub connection: Address,
    /// The connection secret's endpoint fields: complete once the database exists.
    pub fields: Address,
    /// The ARN the region's tasks read the credentials by: the secret the database
    /// manages, or hactl's secret, or in the DR region its replica's there.
    pub secret_arn: Value,
    /// The ARN the region's tasks read the connection by.
    pub connection_arn: Value,
}

impl DataRefs {
    pub(crate) fn arn_of(&self, source: SecretSource) -> &Value {
        match source {
            SecretSource::Credentials => &self.secret_arn,
            SecretSource::Connection => &self.connection_arn,
        }
    }
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The DocumentDB global cluster's identifier: global clusters are the account's, so it
/// names the stack's region too (two stacks of one name in two regions stay apart).
fn global_cluster_id(stack: &str, region: &str) -> String {
    format!("{stack}-{region}-global")
}

/// What the database's resources share.
struct DbParams<'c> {
    db: &'c DatabaseConfig,
    stack: String,
    /// `docdb` or `postgres`.
    engine: &'static str,
    port: Value,
    kms: Value,
    window: Value,
    /// The database manages its master password (no `[dr]`).
    managed: bool,
}

/// What the engine's resources need from the sections before them.
struct DbRefs {
    /// The credentials secret, the master password's source; None when the database
    /// manages the password itself.
    secret: Option<Address>,
    subnet_group: Address,
    /// The database tier's security group (as a list of ids).
    groups: Value,
}

impl<'a> Expander<'a> {
    /// What the database's resources share; `None` without `[database]`.
    fn db_params(&self) -> Option<DbParams<'a>> {
        let cfg = self.cfg;
        let db = cfg.database.as_ref()?;
        Some(DbParams {
            db,
            stack: cfg.stack.name.clone(),
            engine: match db.engine {
                DbEngine::Docdb => "docdb",
                DbEngine::Postgres => "postgres",
            },
            port: Value::Int(i64::from(db.port)),
            kms: db.kms_key_id.as_deref().map_or(Value::Null, Value::str),
            window: db.preferred_backup_window.as_deref().map_or(Value::Null, Value::str),
            managed: cfg.dr.is_none(),
        })
    }

    pub(crate) fn data_tier(&mut self, net: &NetworkRefs) -> Result<Option<DataRefs>, ExpandError> {
        let Some(p) = self.db_params() else { return Ok(None) };
        let db = p.db;
        // Without a DR region the database manages (and rotates) its master password in
        // a secret of its own. AWS manages none for a global cluster's members or a
        // cross-region read replica's source: with `[dr]` the password is hactl's
        // generated secret, replicated to the DR region.
        let secret = if p.managed { None } else { Some(self.credentials_secret(&p)?) };
        let connection = self.connection_secret(&p)?;
        let subnet_group = self.db_subnet_group(&p, net)?;
        let refs = DbRefs {
            secret: secret.clone(),
            subnet_group,
            groups: Value::List(vec![id(&net.groups[&Tier::Db])]),
        };
        // The endpoint the secret's `host` names, and the database itself.
        let (host, database) = match db.engine {
            DbEngine::Docdb => {
                let cluster = self.docdb(&p, &refs)?;
                self.global_cluster(&p, &cluster)?;
                (out(&cluster, "endpoint"), cluster)
            }
            DbEngine::Postgres => {
                let (endpoint, instance) = self.postgres(&p, &refs)?;
                // With a proxy the services connect through it (refused with `[dr]`, so the
                // database manages its password here).
                match &db.proxy {
                    Some(proxy) => {
                        let secret = out(&instance, MASTER_USER_SECRET_ARN);
                        (self.db_proxy(proxy, net, secret, &instance)?, instance)
                    }
                    None => (endpoint, instance),
                }
            }
        };
        let secret_arn = match &secret {
            Some(s) => out(s, "arn"),
            None => self.password_rotation(&p, &database)?,
        };
        let fields = self.connection_fields(&p, &connection, host)?;
        Ok(Some(DataRefs { secret_arn, connection_arn: out(&connection, "arn"), secret, connection, fields }))
    }

    /// With a `[dr]` region, the DocumentDB cluster is the primary of a global cluster.
    fn global_cluster(&mut self, p: &DbParams<'_>, cluster: &Address) -> Result<(), ExpandError> {
        if self.cfg.dr.is_none() {
            return Ok(());
        }
        let a = addr(&["db_global_cluster", "main"])?;
        // Made from the writer: the active region's cluster (create-only: after a
        // failover this names the new writer, which orders a re-creation right and
        // changes nothing live).
        let writer = if self.standby() { addr(&["dr", "db_cluster", "main"])? } else { cluster.clone() };
        self.push(
            docdb::GlobalCluster::new(a.clone())
                .identifier(global_cluster_id(&p.stack, &self.cfg.stack.region))
                .source_db_cluster_arn(out(&writer, "arn"))
                .deletion_protection(p.db.deletion_protection),
        );
        Ok(())
    }

    /// With a `[dr]` region, the cluster of the region standing by comes after the global
    /// cluster and after the active region's instances: it joins once the writer has
    /// them, and a destroy removes it (the cluster leaves the global cluster first)
    /// before the writer's last instance, which AWS refuses to delete while a secondary
    /// exists. The global cluster comes after the writer (its source). So the order
    /// follows the roles: after `hactl failover --to-region` the next expansion orders
    /// the other way, and the failover records it in state for destroy.
    fn role_order(&self, p: &DbParams<'_>, spec: docdb::Cluster) -> Result<docdb::Cluster, ExpandError> {
        if self.cfg.dr.is_none() || !self.standby() {
            return Ok(spec);
        }
        // The active region's addresses: the stack's own when the DR region stands by.
        let active: &[&str] = if self.dr.is_some() { &[] } else { &["dr"] };
        let mut spec = spec.after(&addr(&["db_global_cluster", "main"])?);
        for n in 1..=p.db.instances {
            spec = spec.after(&addr(&[active, &["db_instance", &n.to_string()]].concat())?);
        }
        Ok(spec)
    }

    /// The data tier of the DR region (expanded after the home one; the credentials
    /// secret is replicated there): DocumentDB, a secondary cluster of the global cluster
    /// with its instances; PostgreSQL, a cross-region read replica of the instance; and
    /// the region's own connection secret naming that endpoint.
    pub(crate) fn dr_data_tier(
        &mut self,
        net: &NetworkRefs,
        home: Option<&DataRefs>,
    ) -> Result<Option<DataRefs>, ExpandError> {
        let (Some(p), Some(home)) = (self.db_params(), home) else { return Ok(None) };
        let p = &p;
        let Some(secret) = home.secret.clone() else {
            return Err(ExpandError::Invalid("a stack with [dr] keeps hactl's credentials secret".into()));
        };
        let region = self.region().to_string();
        let secret_arn = out(&secret, &secretsmanager::Secret::arn_in(&region));
        let connection = self.addr(&["secret", "db_connection"])?;
        let subnet_group = self.db_subnet_group(p, net)?;
        let refs = DbRefs {
            secret: Some(secret.clone()),
            subnet_group,
            groups: Value::List(vec![id(&net.groups[&Tier::Db])]),
        };
        let host = match p.db.engine {
            DbEngine::Docdb => out(&self.docdb(p, &refs)?, "endpoint"),
            DbEngine::Postgres => self.postgres(p, &refs)?.0,
        };
        let fields = self.connection_fields(p, &connection, host)?;
        self.connection_secret(p)?;
        Ok(Some(DataRefs {
            connection_arn: out(&connection, "arn"),
            secret: Some(secret),
            connection,
            fields,
            secret_arn,
        }))
    }

    /// The credentials: generated into the secret at create, never in config or state.
    fn credentials_secret(&mut self, p: &DbParams<'_>) -> Result<Address, ExpandError> {
        let DbParams { db, stack, engine, .. } = p;
        let secret = addr(&["secret", "db"])?;
        let secret_name = format!("hactl/{stack}/db-credentials");
        let spec = self
            .tagged(secretsmanager::Secret::new(secret.clone()), &secret_name)
            .name(secret_name.as_str())
            .description(format!("hactl {stack}: {engine} master credentials"))
            .kms_key_id(p.kms.clone())
            .initial_fields(map(vec![("username", Value::str(&db.username))]))
            .password_length(Value::Int(PASSWORD_LENGTH))
            .recovery_window_days(Value::Int(i64::from(db.secret_recovery_window_days)));
        // Replicated to the DR region (left unset without one: reading replicas costs a
        // DescribeSecret per secret).
        let spec = match &self.cfg.dr {
            Some(dr) => spec.replica_regions(Value::from_strings([dr.region.clone()])),
            None => spec,
        };
        self.push(spec);
        Ok(secret)
    }

    /// The connection fields, in a secret of their own that holds no password: the drift
    /// job (and anything else that only needs the endpoint) reads this one and is never
    /// granted the credentials. The AWS-managed key encrypts it.
    fn connection_secret(&mut self, p: &DbParams<'_>) -> Result<Address, ExpandError> {
        let DbParams { db, stack, engine, .. } = p;
        let connection = self.addr(&["secret", "db_connection"])?;
        let connection_name = format!("hactl/{stack}/db-connection");
        let spec = self
            .tagged(secretsmanager::Secret::new(connection.clone()), &connection_name)
            .name(connection_name.as_str())
            .description(format!("hactl {stack}: {engine} connection (no password)"))
            .kms_key_id(Value::Null)
            .initial_fields(map(vec![
                ("username", Value::str(&db.username)),
                ("engine", Value::str(*engine)),
                ("port", p.port.clone()),
                ("dbname", Value::str(&db.db_name)),
            ]))
            .password_length(Value::Null)
            .recovery_window_days(Value::Int(i64::from(db.secret_recovery_window_days)));
        self.push(spec);
        Ok(connection)
    }

    fn db_subnet_group(&mut self, p: &DbParams<'_>, net: &NetworkRefs) -> Result<Address, ExpandError> {
        let stack = &p.stack;
        let subnet_group = self.addr(&["db_subnet_group", "main"])?;
        let subnet_group_name = format!("{stack}-db");
        let description = format!("hactl {stack}: data subnets");
        let subnet_ids = net.subnet_ids("data");
        // The same properties, on the engine's own kind.
        match p.db.engine {
            DbEngine::Docdb => {
                let spec = self
                    .tagged(docdb::SubnetGroup::new(subnet_group.clone()), &subnet_group_name)
                    .name(subnet_group_name.as_str())
                    .description(description)
                    .subnet_ids(subnet_ids);
                self.push(spec)
            }
            DbEngine::Postgres => {
                let spec = self
                    .tagged(rds::SubnetGroup::new(subnet_group.clone()), &subnet_group_name)
                    .name(subnet_group_name.as_str())
                    .description(description)
                    .subnet_ids(subnet_ids);
                self.push(spec)
            }
        };
        Ok(subnet_group)
    }

    /// DocumentDB: cluster parameter group with TLS, encrypted cluster, instances spread
    /// over the zones (a secondary of `global` in the DR region). Returns the cluster.
    fn docdb(&mut self, p: &DbParams<'_>, refs: &DbRefs) -> Result<Address, ExpandError> {
        let DbParams { db, stack, .. } = p;
        let pg = self.addr(&["db_cluster_parameter_group", "main"])?;
        let pg_name = format!("{stack}-docdb");
        let spec = self
            .tagged(docdb::ClusterParameterGroup::new(pg.clone()), &pg_name)
            .name(pg_name.as_str())
            .family(DOCDB_FAMILY)
            .description(format!("hactl {stack}: DocumentDB with TLS"))
            .parameters(map(vec![("tls", Value::str("enabled"))]));
        self.push(spec);

        let cluster = self.addr(&["db_cluster", "main"])?;
        let identifier = format!("{stack}-docdb");
        let spec = self
            .tagged(docdb::Cluster::new(cluster.clone()), &identifier)
            .identifier(identifier.as_str())
            .engine("docdb")
            .engine_version(DOCDB_VERSION)
            .port(p.port.clone())
            .subnet_group_name(out(&refs.subnet_group, "name"))
            .parameter_group_name(out(&pg, "name"))
            .vpc_security_group_ids(refs.groups.clone())
            .storage_encrypted(true)
            .backup_retention_period(Value::Int(i64::from(db.backup_retention_days)))
            .preferred_backup_window(p.window.clone())
            .deletion_protection(db.deletion_protection)
            .apply_immediately(db.apply_immediately);
        // The DR region's cluster is a secondary of the global cluster: its data, user and
        // password come from the primary; its storage is encrypted with the region's key.
        // The DR region's cluster was made a secondary of the global cluster: its data,
        // user and password come from the primary; its storage is encrypted with the
        // region's key. Properties keep how each cluster was made; which one writes is
        // the active region (state), and only the order follows it (see `role_order`).
        let spec = match self.dr {
            Some(_) => spec
                .master_username(Value::Null)
                .master_secret_arn(Value::Null)
                .kms_key_id(Value::Null)
                .global_cluster_identifier(global_cluster_id(stack, &self.cfg.stack.region)),
            None => spec
                .master_username(db.username.as_str())
                .master_secret_arn(refs.secret.as_ref().map_or(Value::Null, |s| out(s, "arn")))
                .kms_key_id(p.kms.clone()),
        };
        let spec = spec.manage_master_password(p.managed);
        let spec = self.role_order(p, spec)?;
        self.push(spec);
        self.docdb_instances(p, &cluster)?;
        Ok(cluster)
    }

    /// Instances round-robin over the zones, sorted by name (validation sorts them, so the
    /// order the config lists them in moves no instance): the primary in AZ-1, the first
    /// replica in AZ-2, ... The replicas come after the primary, so the primary is the
    /// cluster's first member and its writer.
    fn docdb_instances(&mut self, p: &DbParams<'_>, cluster: &Address) -> Result<(), ExpandError> {
        let DbParams { db, stack, .. } = p;
        let zones = &self.network().zones;
        let mut primary: Option<Address> = None;
        for n in 1..=db.instances {
            let a = self.addr(&["db_instance", &n.to_string()])?;
            let identifier = format!("{stack}-docdb-{n}");
            let az = &zones[(n as usize - 1) % zones.len()].az;
            let mut spec = self
                .tagged(docdb::Instance::new(a.clone()), &identifier)
                .identifier(identifier.as_str())
                .cluster_identifier(id(cluster))
                .engine("docdb")
                .instance_class(db.instance_class.as_str())
                .availability_zone(az.as_str())
                .promotion_tier(Value::Int(if n == 1 { 0 } else { 1 }))
                .apply_immediately(db.apply_immediately);
            if let Some(first) = &primary {
                spec = spec.after(first);
            }
            self.push(spec);
            primary.get_or_insert(a);
        }
        Ok(())
    }

    /// RDS PostgreSQL: parameter group with TLS required, one Multi-AZ instance. Returns
    /// the endpoint and the instance.
    fn postgres(&mut self, p: &DbParams<'_>, refs: &DbRefs) -> Result<(Value, Address), ExpandError> {
        let DbParams { db, stack, .. } = p;
        let pg = self.addr(&["db_parameter_group", "main"])?;
        let pg_name = format!("{stack}-pg");
        let spec = self
            .tagged(rds::ParameterGroup::new(pg.clone()), &pg_name)
            .name(pg_name.as_str())
            .family(POSTGRES_FAMILY)
            .description(format!("hactl {stack}: PostgreSQL with TLS required"))
            .parameters(map(vec![("rds.force_ssl", Value::str("1"))]));
        self.push(spec);

        let instance = self.addr(&["db_instance", "main"])?;
        let identifier = format!("{stack}-pg");
        let mut spec = self
            .tagged(rds::Instance::new(instance.clone()), &identifier)
            .identifier(identifier.as_str())
            .engine("postgres")
            .engine_version(POSTGRES_VERSION)
            .instance_class(db.instance_class.as_str())
            .allocated_storage(Value::Int(20))
            .storage_type("gp3")
            .multi_az(true)
            .storage_encrypted(true)
            .kms_key_id(p.kms.clone())
            .master_username(db.username.as_str())
            .master_secret_arn(refs.secret.as_ref().map_or(Value::Null, |s| out(s, "arn")))
            .manage_master_password(p.managed)
            .source_instance_arn(Value::Null)
            .db_name(db.db_name.as_str())
            .port(p.port.clone())
            .subnet_group_name(out(&refs.subnet_group, "name"))
            .parameter_group_name(out(&pg, "name"))
            .vpc_security_group_ids(refs.groups.clone())
            .publicly_accessible(false)
            .backup_retention_period(Value::Int(i64::from(db.backup_retention_days)))
            .preferred_backup_window(p.window.clone())
            .deletion_protection(db.deletion_protection)
            .apply_immediately(db.apply_immediately);
        // The instance of the region standing by is a cross-region read replica of the
        // active region's (its data, user and password come from it). Create-only: a
        // failover promotes the replica, which then writes unchanged, and the old primary
        // is a replica of it only once re-created (the failover back refuses until then).
        // The DR region's storage is encrypted with that region's AWS managed key.
        if self.dr.is_some() {
            spec = spec.kms_key_id(Value::Null);
        }
        if self.standby() {
            let active: &[&str] = if self.dr.is_some() { &[] } else { &["dr"] };
            spec = spec.source_instance_arn(out(&addr(&[active, &["db_instance", "main"]].concat())?, "arn"));
        }
        self.push(spec);
        Ok((out(&instance, "endpoint"), instance))
    }

    /// The schedule of the master password the database manages: its secret rotates
    /// every `password_rotation_days`. Returns the secret's ARN (the tasks read the
    /// password from it).
    fn password_rotation(&mut self, p: &DbParams<'_>, database: &Address) -> Result<Value, ExpandError> {
        let arn = out(database, MASTER_USER_SECRET_ARN);
        let a = addr(&["secret_rotation", "db"])?;
        self.push(
            secretsmanager::Rotation::new(a)
                .secret_id(arn.clone())
                .automatically_after_days(Value::Int(i64::from(p.db.password_rotation_days))),
        );
        Ok(arn)
    }

    /// The endpoint goes into the connection secret once the database exists.
    fn connection_fields(
        &mut self,
        p: &DbParams<'_>,
        connection: &Address,
        host: Value,
    ) -> Result<Address, ExpandError> {
        let fields = self.addr(&["secret_fields", "db"])?;
        let mut f: BTreeMap<String, Value> = BTreeMap::new();
        f.insert("host".into(), host);
        f.insert("port".into(), p.port.clone());
        f.insert("engine".into(), Value::str(p.engine));
        f.insert("dbname".into(), Value::str(&p.db.db_name));
        f.insert("username".into(), Value::str(&p.db.username));
        self.push(
            secretsmanager::SecretFields::new(fields.clone())
                .secret_id(out(connection, "arn"))
                .fields(Value::Map(f)),
        );
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::expand;
    use hactl_core::kinds::ecs::TaskDefinition;
    use hactl_core::{DesiredGraph, ResourceSpec};

    fn graph(path: &str, edit: impl Fn(String) -> String) -> DesiredGraph {
        let file = format!("{}/../../config/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = edit(std::fs::read_to_string(&file).unwrap());
        let cfg = crate::parse(path, &text).unwrap();
        expand(&cfg, &crate::expand::test_env()).unwrap()
    }

    fn spec<'g>(g: &'g DesiredGraph, a: &str) -> &'g ResourceSpec {
        g.get(&Address::parse(a).unwrap()).unwrap_or_else(|| panic!("{a} is not in the graph"))
    }

    fn prop<'s>(s: &'s ResourceSpec, name: &str) -> &'s Value {
        s.props.get(name).unwrap_or_else(|| panic!("{} has no {name}", s.address))
    }

    fn deps(g: &DesiredGraph, a: &str) -> Vec<String> {
        g.dependencies(&Address::parse(a).unwrap()).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn docdb_instances_spread_over_the_zones_after_the_primary() {
        let g = graph("ha-stack.toml", |t| t.replace("instances = 2", "instances = 3"));
        let zones: Vec<String> = (1..=3)
            .map(|n| prop(spec(&g, &format!("db_instance.{n}")), "availability_zone").to_string())
            .collect();
        assert_eq!(zones, ["\"us-east-1a\"", "\"us-east-1b\"", "\"us-east-1a\""]);
        assert_eq!(prop(spec(&g, "db_instance.1"), "promotion_tier"), &Value::Int(0));
        assert_eq!(prop(spec(&g, "db_instance.2"), "promotion_tier"), &Value::Int(1));
        assert!(deps(&g, "db_instance.2").contains(&"db_instance.1".to_string()));
        assert!(deps(&g, "db_instance.3").contains(&"db_instance.1".to_string()));
        assert!(!deps(&g, "db_instance.1").iter().any(|d| d.starts_with("db_instance.")));

        let cluster = spec(&g, "db_cluster.main");
        assert_eq!(cluster.kind, docdb::Cluster::KIND);
        assert_eq!(prop(cluster, "storage_encrypted"), &Value::Bool(true));
        assert_eq!(prop(cluster, "deletion_protection"), &Value::Bool(true));
        assert_eq!(prop(cluster, "backup_retention_period"), &Value::Int(7));
        assert_eq!(
            prop(cluster, "vpc_security_group_ids"),
            &Value::List(vec![id(&Address::parse("sg.db").unwrap())])
        );
        // The cluster manages its master password: no secret of hactl's sets it.
        assert_eq!(prop(cluster, "manage_master_password"), &Value::Bool(true));
        assert_eq!(prop(cluster, "master_secret_arn"), &Value::Null);
        let d = deps(&g, "db_cluster.main");
        for want in ["db_subnet_group.main", "db_cluster_parameter_group.main", "sg.db"] {
            assert!(d.contains(&want.to_string()), "{d:?} lacks {want}");
        }
        let pg = spec(&g, "db_cluster_parameter_group.main");
        assert_eq!(prop(pg, "parameters"), &map(vec![("tls", Value::str("enabled"))]));
        assert_eq!(prop(pg, "family"), &Value::str(DOCDB_FAMILY));
    }

    #[test]
    fn the_database_manages_its_password_on_the_configured_schedule() {
        let g = graph("ha-stack.toml", |t| {
            t.replace("password_rotation_days = 30", "password_rotation_days = 14")
        });
        assert!(g.get(&Address::parse("secret.db").unwrap()).is_none(), "no credentials secret of hactl's");
        let rotation = spec(&g, "secret_rotation.db");
        assert_eq!(rotation.kind, secretsmanager::Rotation::KIND);
        let cluster = Address::parse("db_cluster.main").unwrap();
        assert_eq!(prop(rotation, "secret_id"), &out(&cluster, MASTER_USER_SECRET_ARN));
        assert_eq!(prop(rotation, "automatically_after_days"), &Value::Int(14));
        // Left out: 30 days.
        let g = graph("ha-stack.toml", |t| t.replace("password_rotation_days = 30\n", ""));
        assert_eq!(prop(spec(&g, "secret_rotation.db"), "automatically_after_days"), &Value::Int(30));
        // PostgreSQL: the instance's secret.
        let g = graph("fargate-postgres.toml", |t| t);
        let instance = spec(&g, "db_instance.main");
        assert_eq!(prop(instance, "manage_master_password"), &Value::Bool(true));
        assert_eq!(
            prop(spec(&g, "secret_rotation.db"), "secret_id"),
            &out(&instance.address, MASTER_USER_SECRET_ARN)
        );
    }

    /// With [dr] AWS manages no password (global cluster, cross-region replica): hactl's
    /// generated secret, replicated, sets it, and nothing schedules a rotation.
    #[test]
    fn a_dr_stack_keeps_hactls_replicated_secret() {
        let g = graph("multi-region.toml", |t| t);
        let secret = spec(&g, "secret.db");
        let text = Value::Map(secret.props.clone()).to_json().to_string();
        assert!(!text.contains("password\""), "{text}");
        assert_eq!(prop(secret, "password_length"), &Value::Int(PASSWORD_LENGTH));
        let cluster = spec(&g, "db_cluster.main");
        assert_eq!(prop(cluster, "manage_master_password"), &Value::Bool(false));
        assert_eq!(prop(cluster, "master_secret_arn"), &out(&secret.address, "arn"));
        assert_eq!(prop(spec(&g, "dr.db_cluster.main"), "manage_master_password"), &Value::Bool(false));
        assert!(g.specs().all(|s| s.kind != secretsmanager::Rotation::KIND));
    }

    #[test]
    fn the_connection_secret_holds_no_password_and_gets_the_endpoint() {
        let g = graph("ha-stack.toml", |t| t);
        let connection = spec(&g, "secret.db_connection");
        assert_eq!(prop(connection, "password_length"), &Value::Null);
        assert_eq!(prop(connection, "name"), &Value::str("hactl/ha-demo/db-connection"));
        let fields = spec(&g, "secret_fields.db");
        assert_eq!(prop(fields, "secret_id"), &out(&connection.address, "arn"));
        let Value::Map(f) = prop(fields, "fields") else { panic!("fields is not a map") };
        assert_eq!(f.get("host"), Some(&out(&Address::parse("db_cluster.main").unwrap(), "endpoint")));
        assert_eq!(f.get("port"), Some(&Value::Int(27017)));
        assert!(!f.contains_key("password"));
    }

    #[test]
    fn every_task_definition_reads_the_secret_and_waits_for_the_endpoint() {
        let g = graph("ha-stack.toml", |t| t);
        let cluster = Address::parse("db_cluster.main").unwrap();
        let tds: Vec<&ResourceSpec> = g.specs().filter(|s| s.kind == TaskDefinition::KIND).collect();
        assert_eq!(tds.len(), 2);
        for td in tds {
            let Value::Map(c) = prop(td, "container") else { panic!("container is not a map") };
            let Some(Value::List(secrets)) = c.get("secrets") else { panic!("no secrets list") };
            let names: Vec<String> = secrets
                .iter()
                .map(|s| match s {
                    Value::Map(m) => m["name"].to_string(),
                    _ => panic!("secret entry is not a map"),
                })
                .collect();
            assert_eq!(
                names,
                ["\"DB_HOST\"", "\"DB_NAME\"", "\"DB_PASSWORD\"", "\"DB_PORT\"", "\"DB_USER\""]
            );
            let Value::Map(first) = &secrets[0] else { unreachable!() };
            let connection = Address::parse("secret.db_connection").unwrap();
            assert_eq!(first["value_from"], Value::concat([out(&connection, "arn"), Value::str(":host::")]));
            let Value::Map(password) = &secrets[2] else { unreachable!() };
            assert_eq!(
                password["value_from"],
                Value::concat([out(&cluster, MASTER_USER_SECRET_ARN), Value::str(":password::")])
            );
            assert!(deps(&g, td.address.as_str()).contains(&"secret_fields.db".to_string()));
        }
        let role = spec(&g, "iam_role.execution");
        let text = prop(role, "inline_policies").to_json().to_string();
        assert!(text.contains("secretsmanager:GetSecretValue"), "{text}");
        assert!(!text.contains("kms:Decrypt"), "no customer key, no kms statement: {text}");
    }

    #[test]
    fn postgres_is_one_multi_az_instance() {
        let g = graph("fargate-postgres.toml", |t| t);
        let i = spec(&g, "db_instance.main");
        assert_eq!(i.kind, rds::Instance::KIND);
        assert_eq!(prop(i, "multi_az"), &Value::Bool(true));
        assert_eq!(prop(i, "storage_encrypted"), &Value::Bool(true));
        assert_eq!(prop(i, "publicly_accessible"), &Value::Bool(false));
        assert_eq!(prop(i, "port"), &Value::Int(5432));
        assert_eq!(spec(&g, "db_subnet_group.main").kind, rds::SubnetGroup::KIND);
        assert_eq!(prop(spec(&g, "db_parameter_group.main"), "family"), &Value::str(POSTGRES_FAMILY));
        assert!(g.specs().all(|s| !s.kind.starts_with("docdb.")));
        let Value::Map(f) = prop(spec(&g, "secret_fields.db"), "fields") else { panic!() };
        assert_eq!(f.get("host"), Some(&out(&Address::parse("db_instance.main").unwrap(), "endpoint")));
    }

    #[test]
    fn a_customer_key_encrypts_and_the_execution_role_may_decrypt_through_secrets_manager() {
        let g = graph("ha-stack.toml", |t| {
            t.replace(
                "secret_recovery_window_days = 7",
                "secret_recovery_window_days = 7\nkms_key_id = \"alias/hactl\"",
            )
        });
        // The cluster's storage and the secret it manages its password in.
        assert_eq!(prop(spec(&g, "db_cluster.main"), "kms_key_id"), &Value::str("alias/hactl"));
        let text = prop(spec(&g, "iam_role.execution"), "inline_policies").to_json().to_string();
        assert!(
            text.contains("kms:Decrypt")
                && text.contains("secretsmanager.us-east-1.amazonaws.com")
                && text.contains("arn:aws:kms:us-east-1:123456789012:key/*"),
            "{text}"
        );
    }

    #[test]
    fn no_database_section_no_data_tier() {
        let g = graph("ha-stack.toml", |t| match t.find("[database]") {
            Some(i) => {
                let rest = &t[i..];
                let end = rest.find("\n# --- Alarms").unwrap_or(rest.len());
                format!("{}{}", &t[..i], &rest[end..])
            }
            None => t,
        });
        assert!(g
            .specs()
            .all(|s| !s.address.as_str().starts_with("db_") && !s.address.as_str().starts_with("secret")));
    }
}
