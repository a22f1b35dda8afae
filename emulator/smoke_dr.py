#!/usr/bin/env python3
"""Disaster-recovery smoke test for the local AWS emulator (scripts/emulator.sh start).

Exercises what a two-Region hactl deployment (primary us-east-1, DR us-west-2) relies on
and asserts the AWS behaviour (AWS API references; see the docstrings of the patches in
emulator/hactl_localstack_ext/hactl_localstack_ext/{moto_fixes,rds_docdb}.py):

  1. KMS: a key and an alias per Region.
  2. Secrets Manager: replica secrets (AddReplicaRegions, ReplicateSecretToRegions,
     RemoveRegionsFromReplication, StopReplicationToReplica, DeleteSecret refusal).
  3. RDS PostgreSQL: a cross-Region read replica (create, describe both sides, tags,
     PromoteReadReplica, deleting a replica, deleting the source).
  4. DocumentDB: a global cluster (create from a cluster, secondary, describe, switchover,
     failover, delete refusals, remove, delete).

Run with the emulator venv's python, against $AWS_ENDPOINT_URL (default
http://127.0.0.1:4566):
    eval "$(bash scripts/emulator.sh env)" && .emulator/venv/bin/python emulator/smoke_dr.py
Stops at the first mismatch (exit 1), after cleaning up what it created.
"""

import os
import sys
import traceback
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
PRIMARY, DR = "us-east-1", "us-west-2"
S = uuid.uuid4().hex[:8]
NAME = f"hactl-dr-{S}"

_clients = {}


def client(service, region):
    key = (service, region)
    if key not in _clients:
        _clients[key] = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region
        ).client(
            service,
            endpoint_url=ENDPOINT,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )
    return _clients[key]


cleanups = []  # run last-in first-out at the end


def on_cleanup(label, fn, *args, **kwargs):
    cleanups.append((label, lambda: fn(*args, **kwargs)))


class Mismatch(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Mismatch(msg)


def expect_error(codes, fn, *args, **kwargs):
    """The call must fail with one of ``codes`` (a str or a tuple); returns the error."""
    codes = (codes,) if isinstance(codes, str) else tuple(codes)
    try:
        result = fn(*args, **kwargs)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(code in codes, f"{fn.__name__}: expected {codes}, got {code}: {e}")
        return e
    result.pop("ResponseMetadata", None)
    raise Mismatch(f"{fn.__name__}: expected {codes}, but it succeeded: {result}")


def in_region(arn, region):
    return arn.split(":")[3] == region


# ----------------------------------------------------------------------------- KMS ------

ctx = {}


def check_kms():
    kms_w, kms_e = client("kms", DR), client("kms", PRIMARY)
    alias = f"alias/{NAME}"

    key_w = kms_w.create_key(Description=f"{NAME} dr")["KeyMetadata"]
    on_cleanup("kms key w", kms_w.schedule_key_deletion, KeyId=key_w["KeyId"], PendingWindowInDays=7)
    check(in_region(key_w["Arn"], DR), f"us-west-2 key ARN {key_w['Arn']}")
    check(key_w["KeyState"] == "Enabled", f"key state {key_w['KeyState']}")
    kms_w.create_alias(AliasName=alias, TargetKeyId=key_w["KeyId"])
    on_cleanup("kms alias w", kms_w.delete_alias, AliasName=alias)
    got = kms_w.describe_key(KeyId=alias)["KeyMetadata"]
    check(got["KeyId"] == key_w["KeyId"], f"alias in us-west-2 resolves to {got['KeyId']}")
    # aliases and keys are per Region
    expect_error("NotFoundException", kms_e.describe_key, KeyId=alias)
    expect_error("NotFoundException", kms_e.describe_key, KeyId=key_w["Arn"])

    key_e = kms_e.create_key(Description=f"{NAME} primary")["KeyMetadata"]
    on_cleanup("kms key e", kms_e.schedule_key_deletion, KeyId=key_e["KeyId"], PendingWindowInDays=7)
    check(in_region(key_e["Arn"], PRIMARY), f"us-east-1 key ARN {key_e['Arn']}")
    kms_e.create_alias(AliasName=alias, TargetKeyId=key_e["KeyId"])
    on_cleanup("kms alias e", kms_e.delete_alias, AliasName=alias)
    check(
        kms_e.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_e["KeyId"],
        "same alias name in us-east-1 must name the us-east-1 key",
    )
    listed = [a for a in kms_w.list_aliases()["Aliases"] if a["AliasName"] == alias]
    check(
        [a.get("TargetKeyId") for a in listed] == [key_w["KeyId"]],
        f"us-west-2 ListAliases: {listed}",
    )
    ctx.update(alias=alias, key_w=key_w, key_e=key_e)


# ------------------------------------------------------------------ Secrets Manager ------


def check_secrets():
    sm_e, sm_w = client("secretsmanager", PRIMARY), client("secretsmanager", DR)
    name = f"{NAME}/db"
    alias = ctx["alias"]

    created = sm_e.create_secret(
        Name=name, SecretString="v1", AddReplicaRegions=[{"Region": DR, "KmsKeyId": alias}]
    )
    primary_arn = created["ARN"]
    replica_arn = primary_arn.replace(f":{PRIMARY}:", f":{DR}:")
    # deleted last: only possible once it has no replica any more
    on_cleanup("secret e", sm_e.delete_secret, SecretId=primary_arn, ForceDeleteWithoutRecovery=True)
    on_cleanup("secret e replicas", sm_e.remove_regions_from_replication, SecretId=primary_arn, RemoveReplicaRegions=[DR])
    check(in_region(primary_arn, PRIMARY), f"primary ARN {primary_arn}")
    status = created.get("ReplicationStatus") or []
    check(
        [(s["Region"], s["Status"], s.get("KmsKeyId")) for s in status] == [(DR, "InSync", alias)],
        f"CreateSecret ReplicationStatus {status}",
    )

    desc = sm_e.describe_secret(SecretId=name)
    check(
        [(s["Region"], s["Status"]) for s in desc.get("ReplicationStatus", [])] == [(DR, "InSync")],
        f"primary DescribeSecret ReplicationStatus {desc.get('ReplicationStatus')}",
    )
    rdesc = sm_w.describe_secret(SecretId=name)
    check(rdesc["ARN"] == replica_arn, f"replica ARN {rdesc['ARN']} != {replica_arn}")
    check(rdesc.get("PrimaryRegion") == PRIMARY, f"replica PrimaryRegion {rdesc.get('PrimaryRegion')}")
    check(rdesc.get("KmsKeyId") == alias, f"replica KmsKeyId {rdesc.get('KmsKeyId')}")
    check(sm_w.get_secret_value(SecretId=name)["SecretString"] == "v1", "replica value v1")
    check(sm_w.get_secret_value(SecretId=replica_arn)["SecretString"] == "v1", "replica by ARN")

    put = sm_e.put_secret_value(SecretId=name, SecretString="v2")
    got = sm_w.get_secret_value(SecretId=name)
    check(got["SecretString"] == "v2", f"PutSecretValue did not reach the replica: {got['SecretString']}")
    check(got["VersionId"] == put["VersionId"], "replica AWSCURRENT is not the new version")
    # a replica is read-only
    expect_error("InvalidParameterException", sm_w.put_secret_value, SecretId=name, SecretString="x")
    check(sm_e.get_secret_value(SecretId=name)["SecretString"] == "v2", "primary value changed")

    # a primary with replicas can't be deleted, nor can a replica
    err = expect_error(
        "InvalidParameterException", sm_e.delete_secret, SecretId=name, ForceDeleteWithoutRecovery=True
    )
    check(
        f"still has replica regions [{DR}]" in err.response["Error"]["Message"],
        f"DeleteSecret message: {err.response['Error']['Message']}",
    )
    expect_error("InvalidParameterException", sm_w.delete_secret, SecretId=name, ForceDeleteWithoutRecovery=True)
    check("DeletedDate" not in sm_e.describe_secret(SecretId=name), "refused delete marked the secret deleted")

    removed = sm_e.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[DR])
    check(removed["ARN"] == primary_arn, f"RemoveRegionsFromReplication ARN {removed['ARN']}")
    check(removed.get("ReplicationStatus") == [], f"after remove: {removed.get('ReplicationStatus')}")
    expect_error("ResourceNotFoundException", sm_w.describe_secret, SecretId=name)
    check(not sm_e.describe_secret(SecretId=name).get("ReplicationStatus"), "primary still lists a replica")

    # ReplicateSecretToRegions on the existing secret
    repl = sm_e.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": DR}])
    check(repl["ARN"] == primary_arn, f"ReplicateSecretToRegions ARN {repl['ARN']}")
    check(
        [(s["Region"], s["Status"]) for s in repl["ReplicationStatus"]] == [(DR, "InSync")],
        f"ReplicateSecretToRegions status {repl['ReplicationStatus']}",
    )
    check(sm_w.describe_secret(SecretId=name).get("PrimaryRegion") == PRIMARY, "re-replicated PrimaryRegion")
    check(sm_w.get_secret_value(SecretId=name)["SecretString"] == "v2", "re-replicated value")

    # failover: promote the replica to a standalone secret in us-west-2
    stopped = sm_w.stop_replication_to_replica(SecretId=name)
    check(stopped["ARN"] == replica_arn, f"StopReplicationToReplica ARN {stopped['ARN']}")
    on_cleanup("secret w", sm_w.delete_secret, SecretId=replica_arn, ForceDeleteWithoutRecovery=True)
    standalone = sm_w.describe_secret(SecretId=name)
    check(standalone["ARN"] == replica_arn, f"promoted ARN {standalone['ARN']}")
    check("PrimaryRegion" not in standalone, f"promoted secret still has PrimaryRegion {standalone}")
    check(not sm_e.describe_secret(SecretId=name).get("ReplicationStatus"), "primary still lists us-west-2")
    sm_w.put_secret_value(SecretId=name, SecretString="w1")
    check(sm_w.get_secret_value(SecretId=name)["SecretString"] == "w1", "promoted secret is not writable")
    check(sm_e.get_secret_value(SecretId=name)["SecretString"] == "v2", "write in us-west-2 reached us-east-1")
    sm_e.put_secret_value(SecretId=name, SecretString="v3")
    check(sm_w.get_secret_value(SecretId=name)["SecretString"] == "w1", "primary still replicates after stop")


# ----------------------------------------------------------------------------- RDS ------


def network(region, cidr_prefix):
    """VPC + two subnets + security group + DB subnet group in ``region``."""
    ec2, rds = client("ec2", region), client("rds", region)
    vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    on_cleanup(f"vpc {region}", ec2.delete_vpc, VpcId=vpc)
    subnets = []
    for i, zone in enumerate("ab"):
        sid = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{cidr_prefix}.{i}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        on_cleanup(f"subnet {region}", ec2.delete_subnet, SubnetId=sid)
        subnets.append(sid)
    sg = ec2.create_security_group(GroupName=NAME, Description="dr smoke", VpcId=vpc)["GroupId"]
    on_cleanup(f"sg {region}", ec2.delete_security_group, GroupId=sg)
    group = f"{NAME}-{region}"  # a different name per Region: no accidental cross-Region match
    rds.create_db_subnet_group(
        DBSubnetGroupName=group, DBSubnetGroupDescription="dr smoke", SubnetIds=subnets
    )
    on_cleanup(f"db subnet group {region}", rds.delete_db_subnet_group, DBSubnetGroupName=group)
    return {"vpc": vpc, "subnets": subnets, "sg": sg, "group": group}


def delete_instance(rds, ident, **kwargs):
    try:
        rds.delete_db_instance(DBInstanceIdentifier=ident, **kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            raise


def tags_of(rds, arn):
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def check_rds():
    rds_e, rds_w = client("rds", PRIMARY), client("rds", DR)
    net_e, net_w = network(PRIMARY, "10.61"), network(DR, "10.62")
    ctx.update(net_e=net_e, net_w=net_w)
    key_e, key_w = ctx["key_e"]["Arn"], ctx["key_w"]["Arn"]

    src_id = f"{NAME}-pg"
    src = rds_e.create_db_instance(
        DBInstanceIdentifier=src_id,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="hactl",
        MasterUserPassword="hactl-password-1",
        AllocatedStorage=20,
        StorageEncrypted=True,
        KmsKeyId=key_e,
        BackupRetentionPeriod=1,
        MultiAZ=True,
        DBSubnetGroupName=net_e["group"],
        VpcSecurityGroupIds=[net_e["sg"]],
        Tags=[{"Key": "tier", "Value": "primary"}],
    )["DBInstance"]
    src_arn = src["DBInstanceArn"]
    on_cleanup("rds source", delete_instance, rds_e, src_id, SkipFinalSnapshot=True)
    check(in_region(src_arn, PRIMARY), f"source ARN {src_arn}")

    def replica_kwargs(ident, **extra):
        kwargs = dict(
            DBInstanceIdentifier=ident,
            SourceDBInstanceIdentifier=src_arn,
            DBInstanceClass="db.t3.micro",
            KmsKeyId=key_w,
            DBSubnetGroupName=net_w["group"],
            VpcSecurityGroupIds=[net_w["sg"]],
        )
        kwargs.update(extra)
        return kwargs

    # an encrypted source needs a key of the replica's Region
    for bad in ({"KmsKeyId": key_e}, {}):
        kwargs = replica_kwargs(f"{NAME}-bad")
        kwargs.pop("KmsKeyId")
        kwargs.update(bad)
        try:
            rds_w.create_db_instance_read_replica(**kwargs)
        except ClientError as e:
            print(f"    refused as expected ({'key of us-east-1' if bad else 'no KmsKeyId'}): "
                  f"{e.response['Error']['Code']}")
        else:
            delete_instance(rds_w, f"{NAME}-bad", SkipFinalSnapshot=True)
            raise Mismatch(f"cross-Region encrypted replica accepted with {bad or 'no KmsKeyId'}")

    rep_id = f"{NAME}-pg-dr"
    rep = rds_w.create_db_instance_read_replica(
        **replica_kwargs(rep_id, Tags=[{"Key": "tier", "Value": "dr"}])
    )["DBInstance"]
    rep_arn = rep["DBInstanceArn"]
    on_cleanup("rds replica", delete_instance, rds_w, rep_id, SkipFinalSnapshot=True)

    rep = rds_w.describe_db_instances(DBInstanceIdentifier=rep_id)["DBInstances"][0]
    check(in_region(rep_arn, DR) and rep["DBInstanceArn"] == rep_arn, f"replica ARN {rep['DBInstanceArn']}")
    check(rep["Engine"] == "postgres", f"replica engine {rep['Engine']}")
    check(
        rep.get("ReadReplicaSourceDBInstanceIdentifier") == src_arn,
        f"ReadReplicaSourceDBInstanceIdentifier {rep.get('ReadReplicaSourceDBInstanceIdentifier')}",
    )
    check(rep["StorageEncrypted"] is True, "replica not encrypted")
    check(rep.get("KmsKeyId") == key_w, f"replica KmsKeyId {rep.get('KmsKeyId')}")
    group = rep.get("DBSubnetGroup") or {}
    check(
        group.get("DBSubnetGroupName") == net_w["group"] and group.get("VpcId") == net_w["vpc"],
        f"replica subnet group {group.get('DBSubnetGroupName')} / {group.get('VpcId')}",
    )
    check(rep["AvailabilityZone"].startswith(DR), f"replica zone {rep['AvailabilityZone']}")
    check(rep["MultiAZ"] is False, "replica MultiAZ copied from the source")
    check(
        [g["VpcSecurityGroupId"] for g in rep["VpcSecurityGroups"]] == [net_w["sg"]],
        f"replica security groups {rep['VpcSecurityGroups']}",
    )
    check(
        [(i["StatusType"], i["Status"], i["Normal"]) for i in rep.get("StatusInfos") or []]
        == [("read replication", "replicating", True)],
        f"replica StatusInfos {rep.get('StatusInfos')}",
    )
    src = rds_e.describe_db_instances(DBInstanceIdentifier=src_id)["DBInstances"][0]
    check(src["ReadReplicaDBInstanceIdentifiers"] == [rep_arn], f"source lists {src['ReadReplicaDBInstanceIdentifiers']}")
    check(not src.get("ReadReplicaSourceDBInstanceIdentifier"), "source has a source")

    # tags round-trip on the replica, independent of the source's
    check(tags_of(rds_w, rep_arn) == {"tier": "dr"}, f"replica tags {tags_of(rds_w, rep_arn)}")
    rds_w.add_tags_to_resource(ResourceName=rep_arn, Tags=[{"Key": "owner", "Value": "hactl"}])
    check(tags_of(rds_w, rep_arn) == {"tier": "dr", "owner": "hactl"}, "AddTagsToResource on the replica")
    rds_w.remove_tags_from_resource(ResourceName=rep_arn, TagKeys=["owner"])
    check(tags_of(rds_w, rep_arn) == {"tier": "dr"}, "RemoveTagsFromResource on the replica")
    check(tags_of(rds_e, src_arn) == {"tier": "primary"}, f"source tags {tags_of(rds_e, src_arn)}")

    # failover: promote the replica
    promoted = rds_w.promote_read_replica(DBInstanceIdentifier=rep_id)["DBInstance"]
    check(promoted["DBInstanceArn"] == rep_arn, "PromoteReadReplica answered another instance")
    rep = rds_w.describe_db_instances(DBInstanceIdentifier=rep_id)["DBInstances"][0]
    check(not rep.get("ReadReplicaSourceDBInstanceIdentifier"), f"promoted replica still has source {rep.get('ReadReplicaSourceDBInstanceIdentifier')}")
    check(not rep.get("StatusInfos"), f"promoted replica StatusInfos {rep.get('StatusInfos')}")
    src = rds_e.describe_db_instances(DBInstanceIdentifier=src_id)["DBInstances"][0]
    check(src["ReadReplicaDBInstanceIdentifiers"] == [], f"source still lists {src['ReadReplicaDBInstanceIdentifiers']}")
    expect_error("InvalidDBInstanceState", rds_w.promote_read_replica, DBInstanceIdentifier=rep_id)
    expect_error(
        ("DBInstanceNotFound", "DBInstanceNotFoundFault"),
        rds_w.promote_read_replica,
        DBInstanceIdentifier=f"{NAME}-missing",
    )

    # deleting a cross-Region replica detaches it from its source
    gone_id = f"{NAME}-pg-dr3"
    gone_arn = rds_w.create_db_instance_read_replica(**replica_kwargs(gone_id))["DBInstance"]["DBInstanceArn"]
    on_cleanup("rds replica 3", delete_instance, rds_w, gone_id, SkipFinalSnapshot=True)
    keep_id = f"{NAME}-pg-dr2"
    keep_arn = rds_w.create_db_instance_read_replica(**replica_kwargs(keep_id))["DBInstance"]["DBInstanceArn"]
    on_cleanup("rds replica 2", delete_instance, rds_w, keep_id, SkipFinalSnapshot=True)
    src = rds_e.describe_db_instances(DBInstanceIdentifier=src_id)["DBInstances"][0]
    check(sorted(src["ReadReplicaDBInstanceIdentifiers"]) == sorted([gone_arn, keep_arn]), f"source lists {src['ReadReplicaDBInstanceIdentifiers']}")
    rds_w.delete_db_instance(DBInstanceIdentifier=gone_id, SkipFinalSnapshot=True)
    expect_error(("DBInstanceNotFound", "DBInstanceNotFoundFault"), rds_w.describe_db_instances, DBInstanceIdentifier=gone_id)
    src = rds_e.describe_db_instances(DBInstanceIdentifier=src_id)["DBInstances"][0]
    check(src["ReadReplicaDBInstanceIdentifiers"] == [keep_arn], f"source still lists {src['ReadReplicaDBInstanceIdentifiers']}")

    # deleting the source: a cross-Region PostgreSQL replica is not promoted, its
    # replication is "terminated" until it is promoted or deleted
    rds_e.delete_db_instance(DBInstanceIdentifier=src_id, SkipFinalSnapshot=True)
    expect_error(("DBInstanceNotFound", "DBInstanceNotFoundFault"), rds_e.describe_db_instances, DBInstanceIdentifier=src_id)
    kept = rds_w.describe_db_instances(DBInstanceIdentifier=keep_id)["DBInstances"][0]
    check(kept.get("ReadReplicaSourceDBInstanceIdentifier") == src_arn, "orphaned replica lost its source")
    check(
        [(i["Status"], i["Normal"]) for i in kept.get("StatusInfos") or []] == [("terminated", False)],
        f"orphaned replica StatusInfos {kept.get('StatusInfos')}",
    )
    rds_w.promote_read_replica(DBInstanceIdentifier=keep_id)
    kept = rds_w.describe_db_instances(DBInstanceIdentifier=keep_id)["DBInstances"][0]
    check(not kept.get("ReadReplicaSourceDBInstanceIdentifier") and not kept.get("StatusInfos"), "orphan not promoted")
    rds_w.delete_db_instance(DBInstanceIdentifier=keep_id, SkipFinalSnapshot=True)
    rds_w.delete_db_instance(DBInstanceIdentifier=rep_id, SkipFinalSnapshot=True)


# ----------------------------------------------------------------------- DocumentDB ------


def delete_cluster(docdb, ident):
    try:
        docdb.delete_db_cluster(DBClusterIdentifier=ident, SkipFinalSnapshot=True)
    except ClientError as e:
        if e.response["Error"]["Code"] != "DBClusterNotFoundFault":
            raise


def members(docdb, gid):
    gc = docdb.describe_global_clusters(GlobalClusterIdentifier=gid)["GlobalClusters"]
    check(len(gc) == 1 and gc[0]["GlobalClusterIdentifier"] == gid, f"DescribeGlobalClusters({gid}): {gc}")
    return {m["DBClusterArn"]: (m["IsWriter"], sorted(m.get("Readers") or [])) for m in gc[0]["GlobalClusterMembers"]}


def roles(docdb, ident):
    c = docdb.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
    return c.get("ReplicationSourceIdentifier"), sorted(c.get("ReadReplicaIdentifiers") or [])


def check_docdb():
    doc_e, doc_w = client("docdb", PRIMARY), client("docdb", DR)
    key_e, key_w = ctx["key_e"]["Arn"], ctx["key_w"]["Arn"]
    gid = f"{NAME}-global"
    p_id, s_id = f"{NAME}-docdb", f"{NAME}-docdb-dr"

    p_arn = doc_e.create_db_cluster(
        DBClusterIdentifier=p_id,
        Engine="docdb",
        MasterUsername="hactl",
        MasterUserPassword="hactl-password-1",
        StorageEncrypted=True,
        KmsKeyId=key_e,
    )["DBCluster"]["DBClusterArn"]
    on_cleanup("docdb primary", delete_cluster, doc_e, p_id)
    doc_e.create_db_instance(DBInstanceIdentifier=f"{p_id}-1", DBClusterIdentifier=p_id, Engine="docdb", DBInstanceClass="db.r5.large")
    on_cleanup("docdb primary instance", delete_instance, doc_e, f"{p_id}-1")

    gc = doc_e.create_global_cluster(GlobalClusterIdentifier=gid, SourceDBClusterIdentifier=p_arn)["GlobalCluster"]
    on_cleanup("docdb global", lambda: doc_e.delete_global_cluster(GlobalClusterIdentifier=gid))
    check(gc["Engine"] == "docdb" and gc["StorageEncrypted"] is True, f"global cluster {gc}")
    check(
        [(m["DBClusterArn"], m["IsWriter"]) for m in gc["GlobalClusterMembers"]] == [(p_arn, True)],
        f"CreateGlobalCluster members {gc['GlobalClusterMembers']}",
    )
    expect_error(
        "GlobalClusterAlreadyExistsFault",
        doc_e.create_global_cluster, GlobalClusterIdentifier=gid, SourceDBClusterIdentifier=p_arn,
    )
    expect_error(
        "GlobalClusterNotFoundFault",
        doc_w.create_db_cluster, DBClusterIdentifier=f"{s_id}-x", Engine="docdb", GlobalClusterIdentifier=f"{gid}-missing",
    )

    # the secondary: no master user, joins by GlobalClusterIdentifier
    s_arn = doc_w.create_db_cluster(
        DBClusterIdentifier=s_id, Engine="docdb", GlobalClusterIdentifier=gid, StorageEncrypted=True, KmsKeyId=key_w
    )["DBCluster"]["DBClusterArn"]
    on_cleanup("docdb secondary", delete_cluster, doc_w, s_id)
    check(in_region(s_arn, DR), f"secondary ARN {s_arn}")
    # (no instance in the secondary: a headless secondary is allowed, and it makes the
    # DeleteDBCluster refusal below about global membership, not about instances)

    want = {p_arn: (True, [s_arn]), s_arn: (False, [])}
    check(members(doc_w, gid) == want, f"members seen from us-west-2: {members(doc_w, gid)}")
    check(members(doc_e, gid) == want, f"members seen from us-east-1: {members(doc_e, gid)}")
    expect_error("GlobalClusterNotFoundFault", doc_e.describe_global_clusters, GlobalClusterIdentifier=f"{gid}-missing")
    check(roles(doc_e, p_id) == (None, [s_arn]), f"primary roles {roles(doc_e, p_id)}")
    check(roles(doc_w, s_id) == (p_arn, []), f"secondary roles {roles(doc_w, s_id)}")

    # destroy traps
    expect_error("InvalidDBClusterStateFault", doc_w.delete_db_cluster, DBClusterIdentifier=s_id, SkipFinalSnapshot=True)
    expect_error("InvalidGlobalClusterStateFault", doc_e.delete_db_cluster, DBClusterIdentifier=p_id, SkipFinalSnapshot=True)
    expect_error("InvalidDBClusterStateFault", doc_e.delete_db_instance, DBInstanceIdentifier=f"{p_id}-1")
    expect_error("InvalidGlobalClusterStateFault", doc_e.delete_global_cluster, GlobalClusterIdentifier=gid)

    # switchover to us-west-2 ...
    gc = doc_e.switchover_global_cluster(GlobalClusterIdentifier=gid, TargetDbClusterIdentifier=s_arn)["GlobalCluster"]
    check(
        {m["DBClusterArn"]: m["IsWriter"] for m in gc["GlobalClusterMembers"]} == {p_arn: False, s_arn: True},
        f"SwitchoverGlobalCluster answer {gc['GlobalClusterMembers']}",
    )
    check(members(doc_w, gid) == {s_arn: (True, [p_arn]), p_arn: (False, [])}, f"after switchover {members(doc_w, gid)}")
    check(roles(doc_w, s_id) == (None, [p_arn]), f"new primary roles {roles(doc_w, s_id)}")
    check(roles(doc_e, p_id) == (s_arn, []), f"new secondary roles {roles(doc_e, p_id)}")
    expect_error(
        "InvalidDBClusterStateFault",
        doc_w.switchover_global_cluster, GlobalClusterIdentifier=gid, TargetDbClusterIdentifier=s_arn,
    )
    # ... and a failover (with data loss) back to us-east-1
    doc_w.failover_global_cluster(GlobalClusterIdentifier=gid, TargetDbClusterIdentifier=p_arn, AllowDataLoss=True)
    check(members(doc_e, gid) == want, f"after failover {members(doc_e, gid)}")
    check(roles(doc_e, p_id) == (None, [s_arn]) and roles(doc_w, s_id) == (p_arn, []), "roles after failover")
    expect_error(
        "DBClusterNotFoundFault",
        doc_e.failover_global_cluster, GlobalClusterIdentifier=gid,
        TargetDbClusterIdentifier=s_arn.replace(s_id, f"{s_id}-missing"),
    )
    expect_error(
        "GlobalClusterNotFoundFault",
        doc_e.switchover_global_cluster, GlobalClusterIdentifier=f"{gid}-missing", TargetDbClusterIdentifier=s_arn,
    )

    # destroy: detach the secondary (called in its own Region), then the primary
    gc = doc_w.remove_from_global_cluster(GlobalClusterIdentifier=gid, DbClusterIdentifier=s_arn)["GlobalCluster"]
    check([m["DBClusterArn"] for m in gc["GlobalClusterMembers"]] == [p_arn], f"after removing the secondary {gc['GlobalClusterMembers']}")
    check(members(doc_e, gid) == {p_arn: (True, [])}, f"members {members(doc_e, gid)}")
    check(roles(doc_w, s_id) == (None, []), f"detached cluster roles {roles(doc_w, s_id)}")
    check(roles(doc_e, p_id) == (None, []), f"primary roles after detach {roles(doc_e, p_id)}")
    expect_error("DBClusterNotFoundFault", doc_w.remove_from_global_cluster, GlobalClusterIdentifier=gid, DbClusterIdentifier=s_arn)
    doc_w.delete_db_cluster(DBClusterIdentifier=s_id, SkipFinalSnapshot=True)  # standalone now
    doc_e.remove_from_global_cluster(GlobalClusterIdentifier=gid, DbClusterIdentifier=p_arn)
    check(members(doc_e, gid) == {}, f"members after removing the primary {members(doc_e, gid)}")
    doc_e.delete_global_cluster(GlobalClusterIdentifier=gid)
    expect_error("GlobalClusterNotFoundFault", doc_w.describe_global_clusters, GlobalClusterIdentifier=gid)
    expect_error("GlobalClusterNotFoundFault", doc_e.delete_global_cluster, GlobalClusterIdentifier=gid)
    doc_e.delete_db_instance(DBInstanceIdentifier=f"{p_id}-1")
    doc_e.delete_db_cluster(DBClusterIdentifier=p_id, SkipFinalSnapshot=True)


# --------------------------------------------------------------------------- main -------

CHECKS = [
    ("kms (per-Region keys and aliases)", check_kms),
    ("secretsmanager (replica secrets)", check_secrets),
    ("rds (cross-Region PostgreSQL read replica)", check_rds),
    ("docdb (global cluster)", check_docdb),
]


def main() -> int:
    print(f"emulator DR smoke test against {ENDPOINT} ({PRIMARY} -> {DR}, suffix {S})")
    failed = None
    for label, fn in CHECKS:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report and stop at the first mismatch
            failed = label
            print(f"FAIL  {label}: {type(e).__name__}: {e}")
            if not isinstance(e, Mismatch):
                traceback.print_exc()
            break
        print(f"PASS  {label}")
    for label, fn in reversed(cleanups):
        try:
            fn()
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if "NotFound" not in code and code != "InvalidRequestException":
                print(f"  cleanup {label}: {code}")
        except Exception as e:  # noqa: BLE001
            print(f"  cleanup {label}: {e}")
    if failed:
        print(f"FAILED at: {failed}")
        return 1
    print("all DR checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
