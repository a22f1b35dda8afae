//! `hactl failover`: moves a database's writer to another availability zone.
//!
//! DocumentDB: FailoverDBCluster to the first available reader (lowest promotion tier,
//! then identifier) in another AZ than the writer, or to the reader `--target` names;
//! then waits until the cluster is available with the target as its writer.
//! RDS: RebootDBInstance with ForceFailover (Multi-AZ instances only: the standby takes
//! over), then waits until the instance is available again.

use crate::error::{aws_error, is_not_found};
use crate::util::describe_all;
use crate::ApiCounter;
use hactl_engine::{Ctx, ProviderError};

/// The database to fail over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailoverTarget {
    /// A DocumentDB cluster; `target_instance` names the reader to promote (else hactl
    /// picks one in another AZ).
    Docdb { cluster_id: String, target_instance: Option<String> },
    /// A Multi-AZ RDS PostgreSQL instance.
    Postgres { instance_id: String },
}

/// Where the writer is after the failover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverOutcome {
    /// The writer instance (DocumentDB: the promoted reader; RDS: the instance itself).
    pub writer: String,
    /// The writer's availability zone, when known.
    pub writer_az: Option<String>,
    /// The instance that was the writer before (DocumentDB only: an RDS Multi-AZ
    /// failover keeps the instance and moves it to the standby's AZ).
    pub previous_writer: Option<String>,
}

pub async fn failover(
    config: &aws_config::SdkConfig,
    counter: &ApiCounter,
    ctx: &Ctx,
    target: FailoverTarget,
) -> Result<FailoverOutcome, ProviderError> {
    match target {
        FailoverTarget::Docdb { cluster_id, target_instance } => {
            let client = crate::client!(aws_sdk_docdb, config, counter);
            docdb(&client, ctx, &cluster_id, target_instance.as_deref()).await
        }
        FailoverTarget::Postgres { instance_id } => {
            let client = crate::client!(aws_sdk_rds, config, counter);
            postgres(&client, ctx, &instance_id).await
        }
    }
}

/// A cluster member as the failover sees it.
struct Member {
    id: String,
    writer: bool,
    tier: i32,
    az: Option<String>,
    status: Option<String>,
}

async fn docdb_cluster(
    client: &aws_sdk_docdb::Client,
    cluster_id: &str,
) -> Result<aws_sdk_docdb::types::DbCluster, ProviderError> {
    let out = client.describe_db_clusters().db_cluster_identifier(cluster_id).send().await;
    let cluster = match out.map_err(|e| aws_error("DescribeDBClusters", e)) {
        Ok(o) => o.db_clusters().first().cloned(),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    let cluster =
        cluster.ok_or_else(|| ProviderError::fatal(format!("DocumentDB cluster {cluster_id} not found")))?;
    if cluster.engine() != Some("docdb") {
        return Err(ProviderError::fatal(format!(
            "{cluster_id} is not a DocumentDB cluster (engine {})",
            cluster.engine().unwrap_or("unknown")
        )));
    }
    Ok(cluster)
}

fn writer_of(cluster: &aws_sdk_docdb::types::DbCluster) -> Option<&str> {
    cluster
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
}

async fn docdb_members(
    client: &aws_sdk_docdb::Client,
    cluster: &aws_sdk_docdb::types::DbCluster,
) -> Result<Vec<Member>, ProviderError> {
    let cluster_id = cluster.db_cluster_identifier().unwrap_or_default();
    let filter = aws_sdk_docdb::types::Filter::builder().name("db-cluster-id").values(cluster_id).build();
    let instances: Vec<aws_sdk_docdb::types::DbInstance> =
        describe_all!(client, describe_db_instances, filters, filter, "DescribeDBInstances")?;
    let mut members: Vec<Member> = cluster
        .db_cluster_members()
        .iter()
        .filter_map(|m| {
            let id = m.db_instance_identifier()?;
            let inst = instances.iter().find(|i| i.db_instance_identifier() == Some(id));
            Some(Member {
                id: id.to_string(),
                writer: m.is_cluster_writer() == Some(true),
                tier: m.promotion_tier().unwrap_or(i32::MAX),
                az: inst.and_then(|i| i.availability_zone()).map(str::to_string),
                status: inst.and_then(|i| i.db_instance_status()).map(str::to_string),
            })
        })
        .collect();
    members.sort_by(|a, b| (a.tier, &a.id).cmp(&(b.tier, &b.id)));
    Ok(members)
}

fn describe_readers(members: &[Member]) -> String {
    let readers: Vec<String> = members
        .iter()
        .filter(|m| !m.writer)
        .map(|m| {
            format!(
                "{} ({}, {})",
                m.id,
                m.az.as_deref().unwrap_or("unknown AZ"),
                m.status.as_deref().unwrap_or("unknown status")
            )
        })
        .collect();
    if readers.is_empty() {
        "none".to_string()
    } else {
        readers.join(", ")
    }
}

async fn docdb(
    client: &aws_sdk_docdb::Client,
    ctx: &Ctx,
    cluster_id: &str,
    target_instance: Option<&str>,
) -> Result<FailoverOutcome, ProviderError> {
    let cluster = docdb_cluster(client, cluster_id).await?;
    let writer = writer_of(&cluster)
        .ok_or_else(|| {
            ProviderError::fatal(format!("DocumentDB cluster {cluster_id} has no writer instance"))
        })?
        .to_string();
    let members = docdb_members(client, &cluster).await?;
    let writer_az = members.iter().find(|m| m.id == writer).and_then(|m| m.az.clone());
    let target = match target_instance {
        Some(name) => {
            let Some(m) = members.iter().find(|m| m.id.eq_ignore_ascii_case(name)) else {
                return Err(ProviderError::fatal(format!(
                    "{name} is not an instance of DocumentDB cluster {cluster_id} (its readers: {})",
                    describe_readers(&members)
                )));
            };
            if m.writer {
                return Err(ProviderError::fatal(format!(
                    "{} is already the writer of DocumentDB cluster {cluster_id}; name one of its readers: {}",
                    m.id,
                    describe_readers(&members)
                )));
            }
            if m.status.as_deref() != Some("available") {
                return Err(ProviderError::fatal(format!(
                    "reader {} of DocumentDB cluster {cluster_id} is {}, not available",
                    m.id,
                    m.status.as_deref().unwrap_or("in an unknown state")
                )));
            }
            m
        }
        None => members
            .iter()
            .find(|m| {
                !m.writer && m.status.as_deref() == Some("available") && m.az.is_some() && m.az != writer_az
            })
            .ok_or_else(|| {
                ProviderError::fatal(format!(
                    "DocumentDB cluster {cluster_id} has no available reader outside the writer's AZ {} \
                     (writer {writer}; readers: {}); add one, or name a reader with --target",
                    writer_az.as_deref().unwrap_or("(unknown)"),
                    describe_readers(&members)
                ))
            })?,
    };
    let target_id = target.id.clone();
    let target_az = target.az.clone();
    ctx.progress(format!("failing DocumentDB cluster {cluster_id} over from {writer} to {target_id}"));
    client
        .failover_db_cluster()
        .db_cluster_identifier(cluster_id)
        .target_db_instance_identifier(&target_id)
        .send()
        .await
        .map_err(|e| aws_error("FailoverDBCluster", e))?;
    crate::util::db_wait(ctx)
        .wait_for(&format!("DocumentDB cluster {cluster_id} to have {target_id} as its writer"), || async {
            let cluster = docdb_cluster(client, cluster_id).await?;
            let done =
                cluster.status() == Some("available") && writer_of(&cluster) == Some(target_id.as_str());
            Ok(done.then_some(()))
        })
        .await?;
    Ok(FailoverOutcome { writer: target_id, writer_az: target_az, previous_writer: Some(writer) })
}

async fn rds_instance(
    client: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<aws_sdk_rds::types::DbInstance, ProviderError> {
    let out = client.describe_db_instances().db_instance_identifier(instance_id).send().await;
    let db = match out.map_err(|e| aws_error("DescribeDBInstances", e)) {
        Ok(o) => o.db_instances().first().cloned(),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    db.ok_or_else(|| ProviderError::fatal(format!("RDS instance {instance_id} not found")))
}

async fn postgres(
    client: &aws_sdk_rds::Client,
    ctx: &Ctx,
    instance_id: &str,
) -> Result<FailoverOutcome, ProviderError> {
    let db = rds_instance(client, instance_id).await?;
    if db.multi_az() != Some(true) {
        return Err(ProviderError::fatal(format!(
            "RDS instance {instance_id} is not Multi-AZ: it has no standby to fail over to"
        )));
    }
    let status = db.db_instance_status().unwrap_or("unknown");
    if status != "available" {
        return Err(ProviderError::fatal(format!(
            "RDS instance {instance_id} is {status}; a failover needs it available"
        )));
    }
    let before = db.availability_zone().unwrap_or("unknown AZ").to_string();
    ctx.progress(format!("failing RDS instance {instance_id} over to its standby (primary now in {before})"));
    client
        .reboot_db_instance()
        .db_instance_identifier(instance_id)
        .force_failover(true)
        .send()
        .await
        .map_err(|e| aws_error("RebootDBInstance", e))?;
    let db = crate::util::db_wait(ctx)
        .wait_for(&format!("RDS instance {instance_id} to be available after the failover"), || async {
            let db = rds_instance(client, instance_id).await?;
            Ok((db.db_instance_status() == Some("available")).then_some(db))
        })
        .await?;
    Ok(FailoverOutcome {
        writer: db.db_instance_identifier().unwrap_or(instance_id).to_string(),
        writer_az: db.availability_zone().map(str::to_string),
        previous_writer: None,
    })
}
