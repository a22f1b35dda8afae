"""Teach moto's RDS backend about the DocumentDB engine ("docdb").

moto has no DocumentDB module; DocumentDB's API is the RDS query API (same version,
signed as "rds"), so DocumentDB resources live in moto's RDS backend. moto validates
engine names against fixed lists and looks up per-engine defaults in dicts that lack
"docdb"; this module extends both. It is applied (idempotently) when the rds or docdb
provider is first loaded, i.e. before the first RDS/DocDB request is handled.

The cross-Region patches at the end (read replicas in another Region, DocumentDB global
clusters) are applied at start from hooks.py.
"""

DOCDB = "docdb"
DOCDB_VERSION = "5.0.0"
DOCDB_PORT = 27017

_patched = False


def _with_docdb(original):
    """Wrap a `list_*engines` classmethod so its result also contains "docdb"."""

    def wrapper(cls):
        engines = list(original())
        if DOCDB not in engines:
            engines.append(DOCDB)
        return sorted(engines)

    return classmethod(wrapper)


def _docdb_default(original, value):
    """Wrap a static `default_*(engine, ...)` lookup to answer `value` for docdb."""

    def wrapper(engine, *args, **kwargs):
        if engine == DOCDB:
            return value
        return original(engine, *args, **kwargs)

    return staticmethod(wrapper)


def patch_moto_rds_for_docdb() -> None:
    global _patched
    if _patched:
        return
    from moto.rds import models
    from moto.rds.utils import ClusterEngine, DbInstanceEngine

    # engine validation (CreateDBCluster / CreateDBInstance)
    ClusterEngine.list_cluster_engines = _with_docdb(ClusterEngine.list_cluster_engines)
    DbInstanceEngine.valid_db_instance_engine = _with_docdb(
        DbInstanceEngine.valid_db_instance_engine
    )

    # per-engine defaults (clusters)
    cluster = models.DBCluster
    cluster.default_engine_version = _docdb_default(cluster.default_engine_version, DOCDB_VERSION)
    cluster.default_port = _docdb_default(cluster.default_port, DOCDB_PORT)
    # DocumentDB storage is cluster-level and grows automatically; report 1 like Aurora.
    cluster.default_allocated_storage = _docdb_default(cluster.default_allocated_storage, 1)

    # moto defaults every non-neptune cluster's parameter group to "default.aurora8.0".
    original_init = cluster.__init__

    def cluster_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.engine == DOCDB and not kwargs.get("db_cluster_parameter_group_name"):
            self.parameter_group = "default.docdb5.0"

    cluster.__init__ = cluster_init

    # per-engine defaults (instances; clustered instances only use the port)
    instance = models.DBInstance
    instance.default_port = _docdb_default(instance.default_port, DOCDB_PORT)
    instance.default_allocated_storage = _docdb_default(instance.default_allocated_storage, 1)
    instance.default_engine_versions = {**instance.default_engine_versions, DOCDB: DOCDB_VERSION}

    _patched = True


_fidelity_patched = False


def patch_moto_rds_fidelity() -> None:
    """moto RDS gaps against AWS that DocumentDB/RDS providers hit (moto 5, moto/rds):

    - Cluster parameter group ARNs (``:cluster-pg:``) are missing from the ARN pattern the
      tagging calls accept ("Invalid resource name"), and CreateDBClusterParameterGroup
      drops its Tags: the group could never carry tags.
    - ModifyDBSubnetGroup pops the group from the backend and never puts it back (the
      group disappears).
    - ResetDBClusterParameterGroup and ResetDBParameterGroup are not implemented.
    - DeleteDBClusterParameterGroup of a missing group raises KeyError (a 500) instead of
      DBParameterGroupNotFound.
    - DeleteDBCluster keeps the cluster's automated snapshots (``rds:<id>-<minute>``), so
      re-creating the same identifier within the minute fails on the snapshot id; AWS
      deletes automated backups with the cluster.
    """
    global _fidelity_patched
    if _fidelity_patched:
        return
    import re

    from moto.rds import models, responses
    from moto.rds.exceptions import DBClusterParameterGroupNotFoundError

    backend_cls = models.RDSBackend
    original_init = backend_cls.__init__

    def backend_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        pattern = self.arn_regex.pattern
        if "cluster-pg" not in pattern:
            self.arn_regex = re.compile(pattern.replace("(db|cluster|", "(db|cluster|cluster-pg|", 1))

    backend_cls.__init__ = backend_init

    original_create_cpg = responses.RDSResponse.create_db_cluster_parameter_group

    def create_db_cluster_parameter_group(self):
        result = original_create_cpg(self)
        tags = self.params.get("Tags") or []
        name = self.params.get("DBClusterParameterGroupName")
        group = self.backend.db_cluster_parameter_groups.get((name or "").lower())
        if group is not None and tags:
            group.add_tags(tags)
        return result

    responses.RDSResponse.create_db_cluster_parameter_group = create_db_cluster_parameter_group

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        if subnet_name not in self.subnet_groups:
            from moto.rds.exceptions import DBSubnetGroupNotFoundError

            raise DBSubnetGroupNotFoundError(subnet_name)
        subnet_group = self.subnet_groups[subnet_name]
        subnet_group.subnets = subnets
        if description is not None:
            subnet_group.description = description
        return subnet_group

    backend_cls.modify_db_subnet_group = modify_db_subnet_group

    original_delete_cpg = backend_cls.delete_db_cluster_parameter_group

    def delete_db_cluster_parameter_group(self, group_name):
        if group_name not in self.db_cluster_parameter_groups:
            raise DBClusterParameterGroupNotFoundError(group_name)
        return original_delete_cpg(self, group_name)

    backend_cls.delete_db_cluster_parameter_group = delete_db_cluster_parameter_group

    def reset_db_cluster_parameter_group(self, group_name, reset_all, names):
        if group_name not in self.db_cluster_parameter_groups:
            raise DBClusterParameterGroupNotFoundError(group_name)
        group = self.db_cluster_parameter_groups[group_name]
        if reset_all:
            group.parameters.clear()
        else:
            for n in names:
                group.parameters.pop(n, None)
        return group

    backend_cls.reset_db_cluster_parameter_group = reset_db_cluster_parameter_group

    def reset_response(self):
        from moto.core.responses import ActionResult

        name = self.params.get("DBClusterParameterGroupName")
        reset_all = str(self.params.get("ResetAllParameters", "false")).lower() == "true"
        names = [p.get("ParameterName") for p in (self.params.get("Parameters") or [])]
        group = self.backend.reset_db_cluster_parameter_group(name, reset_all, names)
        return ActionResult({"DBClusterParameterGroupName": group.name})

    responses.RDSResponse.reset_db_cluster_parameter_group = reset_response

    def reset_db_parameter_group(self, group_name, reset_all, names):
        from moto.rds.exceptions import DBParameterGroupNotFoundError

        if group_name not in self.db_parameter_groups:
            raise DBParameterGroupNotFoundError(group_name)
        group = self.db_parameter_groups[group_name]
        if reset_all:
            group.parameters.clear()
        else:
            for n in names:
                group.parameters.pop(n, None)
        return group

    backend_cls.reset_db_parameter_group = reset_db_parameter_group

    def reset_pg_response(self):
        from moto.core.responses import ActionResult

        name = self.params.get("DBParameterGroupName")
        reset_all = str(self.params.get("ResetAllParameters", "false")).lower() == "true"
        names = [p.get("ParameterName") for p in (self.params.get("Parameters") or [])]
        group = self.backend.reset_db_parameter_group(name, reset_all, names)
        return ActionResult({"DBParameterGroupName": group.name})

    responses.RDSResponse.reset_db_parameter_group = reset_pg_response

    original_delete_cluster = backend_cls.delete_db_cluster

    def delete_db_cluster(self, cluster_identifier, snapshot_name=None):
        cluster = original_delete_cluster(self, cluster_identifier, snapshot_name)
        for sid in [
            sid
            for sid, snap in self.cluster_snapshots.items()
            if getattr(snap, "snapshot_type", "") == "automated"
            and getattr(snap, "cluster", None) is not None
            and snap.cluster.db_cluster_identifier == cluster.db_cluster_identifier
        ]:
            self.cluster_snapshots.pop(sid, None)
        return cluster

    backend_cls.delete_db_cluster = delete_db_cluster
    _fidelity_patched = True


# --- cross-Region DR: RDS read replicas and DocumentDB global clusters --------------------


def _kms_key_in_region(account_id: str, region: str, key_id: str) -> None:
    """Raise KMSKeyNotAccessibleFault unless ``key_id`` names a KMS key (or alias) of
    ``region`` in LocalStack's own KMS (moto's KMS backend never sees those keys)."""
    import re

    from moto.rds.exceptions import KMSKeyNotAccessibleFault

    m = re.fullmatch(r"arn:aws[\w-]*:kms:([\w-]+):(\d{12}):(key|alias)/(.+)", key_id)
    if m and m.group(1) != region:
        raise KMSKeyNotAccessibleFault(key_id)
    try:
        from localstack.services.kms.models import kms_stores
    except ImportError:  # pragma: no cover - outside LocalStack
        return
    # AWS managed keys (`alias/aws/rds`, ...) exist in every region of every account:
    # AWS creates one on first use, which LocalStack's KMS does only when KMS itself is
    # asked for it, so they are accepted here as AWS accepts them.
    name = m.group(4) if m and m.group(3) == "alias" else key_id.removeprefix("alias/")
    if (key_id.startswith("alias/") or (m and m.group(3) == "alias")) and name.startswith("aws/"):
        return
    store = kms_stores[account_id][region]
    if m:
        kind, name = m.group(3), m.group(4)
        found = name in store.keys if kind == "key" else f"alias/{name}" in store.aliases
    elif key_id.startswith("alias/"):
        found = key_id in store.aliases
    else:
        found = key_id in store.keys
    if not found:
        raise KMSKeyNotAccessibleFault(key_id)


def _find_instance(backend, ref: str):
    """A DB instance by identifier (in ``backend``'s Region) or by ARN (any Region), or None."""
    from moto.rds.models import rds_backends

    if ref.startswith("arn:"):
        parts = ref.split(":")
        backend = rds_backends[parts[4]][parts[3]]
        ref = parts[-1]
    return backend.databases.get(ref)


_replicas_patched = False


def patch_moto_rds_cross_region_replicas() -> None:
    """moto's read replicas against the RDS API reference, for a replica in another Region
    (CreateDBInstanceReadReplica called in the replica's Region with the source's ARN):

    - The replica is a copy of the source that keeps the source's Region until the very
      end, so DBSubnetGroupName is looked up in the *source* Region (DBSubnetGroupNotFound
      for a group of the replica's Region, or silently the source Region's group of the
      same name), AvailabilityZone stays a zone of the source Region, MultiAZ and the DB
      parameter group are the source's. AWS: the subnet group is of the replica's Region,
      the zone one of its subnets (or AvailabilityZone), MultiAZ is the request's (default
      false), and a cross-Region replica without DBParameterGroupName gets the engine's
      default group. Also the replica shared the source's managed master-user secret
      (deleting the replica deleted the source's secret) and creation time.
    - KmsKeyId: AWS requires, for an encrypted source, a key of the replica's Region
      (KMSKeyNotAccessibleFault otherwise); moto accepted anything or nothing.
    - StatusInfos: AWS reports {"StatusType": "read replication", "Normal": true,
      "Status": "replicating"} on a replica; moto reports none.
    - PromoteReadReplica keeps ReadReplicaSourceDBInstanceIdentifier and the source's
      ReadReplicaDBInstanceIdentifiers entry, answers InternalError for an unknown
      instance and accepts a non-replica. AWS detaches both sides, answers
      DBInstanceNotFound, and refuses a non-replica with InvalidDBInstanceState.
    - DeleteDBInstance of a cross-Region replica fails (InternalError: the source lists
      it by ARN, moto removes it by identifier); of a replica whose source is gone, fails
      with DBInstanceNotFound after having removed it half-way.
    - DeleteDBInstance of a source leaves its replicas pointing at nothing. AWS (user
      guide, "Deleting a DB instance" / cross-Region considerations): same-Region
      replicas, and cross-Region ones of MariaDB/MySQL/Oracle, are promoted; a
      cross-Region PostgreSQL replica is *not* promoted, its replication status becomes
      ``terminated`` until it is promoted or deleted.
    """
    global _replicas_patched
    if _replicas_patched:
        return
    import copy

    from moto.core.utils import utcnow
    from moto.ec2.models import ec2_backends
    from moto.rds import models
    from moto.rds.exceptions import (
        DBInstanceAlreadyExists,
        DBInstanceNotFoundError,
        DBParameterGroupNotFoundError,
        InvalidParameterCombination,
        RDSClientError,
    )

    backend_cls = models.RDSBackend
    instance_cls = models.DBInstance

    def status_infos(self):
        state = getattr(self, "_hactl_replication", None)
        if not state:
            return None
        return [{"StatusType": "read replication", "Normal": state == "replicating", "Status": state}]

    instance_cls.status_infos = property(status_infos)

    def remove_replica(self, replica) -> None:
        for ref in (replica.db_instance_identifier, replica.db_instance_arn):
            if ref in self.replicas:
                self.replicas.remove(ref)

    instance_cls.remove_replica = remove_replica

    def create_db_instance_read_replica(self, db_kwargs):
        kwargs = dict(db_kwargs.items())
        database_id = kwargs["db_instance_identifier"]
        source_id = kwargs["source_db_instance_identifier"]
        if database_id in self.databases:
            raise DBInstanceAlreadyExists()
        primary = self.find_db_from_id(source_id)
        cross_region = primary.region != self.region_name

        kms_key_id = kwargs.get("kms_key_id")
        if cross_region and primary.storage_encrypted:
            if not kms_key_id:
                raise InvalidParameterCombination(
                    "KmsKeyId must be specified for a cross-Region read replica of an "
                    "encrypted source DB instance."
                )
            _kms_key_in_region(self.account_id, self.region_name, kms_key_id)
        elif kms_key_id and primary.storage_encrypted:
            _kms_key_in_region(self.account_id, self.region_name, kms_key_id)
        if not primary.storage_encrypted:
            kwargs.pop("kms_key_id", None)

        group = kwargs.get("db_parameter_group_name")
        if group and not primary.is_default_parameter_group(group) and group not in self.db_parameter_groups:
            raise DBParameterGroupNotFoundError(group)

        replica = copy.copy(primary)
        replica.backend = self  # first: every lookup below is in the replica's Region
        replica.created = utcnow()
        replica.instance_create_time = replica.created
        replica.replicas = []
        replica.status = "available"
        replica.manage_master_user_password = False
        replica.__dict__.pop("master_user_secret", None)
        replica.multi_az = str(kwargs.pop("multi_az", False)).lower() == "true"
        replica.__dict__.pop("secondary_availability_zone", None)
        if cross_region:
            replica._db_subnet_group_name = None
            replica.__dict__.pop("db_subnet_group", None)
            replica.db_parameter_group_name = None
            replica.vpc_security_group_ids = []
        replica.update(**kwargs)
        replica.source_db_instance_identifier = source_id
        replica.is_replica = True
        replica._hactl_replication = "replicating"

        group = getattr(replica, "db_subnet_group", None)
        zones = sorted({s.availability_zone for s in getattr(group, "_subnets", None) or []})
        if kwargs.get("availability_zone"):
            replica.availability_zone = kwargs["availability_zone"]
        elif cross_region:
            replica.availability_zone = zones[0] if zones else f"{self.region_name}a"
        if cross_region and not replica.vpc_security_group_ids:
            ec2 = ec2_backends[self.account_id][self.region_name]
            vpc_id = getattr(group, "vpc_id", None) or ec2.default_vpc.id
            default_sg = ec2.get_default_security_group(vpc_id)
            replica.vpc_security_group_ids = [default_sg.id] if default_sg else []

        self.databases[database_id] = replica
        primary.add_replica(replica)
        return replica

    backend_cls.create_db_instance_read_replica = create_db_instance_read_replica

    def promote_read_replica(self, db_kwargs):
        kwargs = dict(db_kwargs.items())
        database_id = kwargs.pop("db_instance_identifier")
        database = self.databases.get(database_id)
        if database is None:
            raise DBInstanceNotFoundError(database_id)
        if not database.is_replica:
            raise RDSClientError("InvalidDBInstanceState", "DB Instance is not a read replica.")
        source_ref = database.source_db_instance_identifier
        try:
            source = _find_instance(self, source_ref) if source_ref else None
        except Exception:
            source = None
        if source is not None:
            source.remove_replica(database)
        database.is_replica = False
        database.source_db_instance_identifier = None
        database._hactl_replication = None
        kwargs.pop("tag_specifications", None)
        database.update(**kwargs)
        return database

    backend_cls.promote_read_replica = promote_read_replica

    original_delete = backend_cls.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        database = self.databases.get(db_instance_identifier)
        if database is not None and database.is_replica and not database.deletion_protection:
            ref = database.source_db_instance_identifier
            try:
                source = _find_instance(self, ref) if ref else None
            except Exception:
                source = None
            if source is None:
                database.is_replica = False  # nothing left to detach from
            else:
                source.remove_replica(database)
                database.is_replica = False
        result = original_delete(self, db_instance_identifier, *args, **kwargs)
        if database is not None:
            for ref in list(database.replicas):
                try:
                    replica = _find_instance(self, ref)
                except Exception:
                    replica = None
                if replica is None:
                    continue
                if replica.region != database.region and str(database.engine).startswith("postgres"):
                    replica._hactl_replication = "terminated"
                else:
                    replica.is_replica = False
                    replica.source_db_instance_identifier = None
                    replica._hactl_replication = None
            database.replicas = []
        return result

    backend_cls.delete_db_instance = delete_db_instance
    _replicas_patched = True


def _global_backend(account_id: str):
    """moto's RDS responses keep every global cluster in the us-east-1 backend."""
    from moto.rds.models import rds_backends

    return rds_backends[account_id]["us-east-1"]


def _find_global_cluster(account_id: str, identifier: str):
    gcs = _global_backend(account_id).global_clusters
    if identifier.startswith("arn:"):
        identifier = identifier.split(":")[-1]
    return gcs.get(identifier)


def _global_cluster_of(cluster):
    for gc in _global_backend(cluster.account_id).global_clusters.values():
        if any(m is cluster for m in gc.members):
            return gc
    return None


def _resolve_cluster(backend, identifier: str):
    """A DB cluster by ARN (any Region) or identifier (``backend``'s Region)."""
    from moto.rds.exceptions import DBClusterNotFoundError
    from moto.rds.models import rds_backends

    name = identifier
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        if len(parts) < 7 or parts[5] != "cluster":
            raise DBClusterNotFoundError(identifier)
        backend = rds_backends[parts[4]][parts[3]]
        name = parts[-1]
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise DBClusterNotFoundError(identifier)
    return cluster


def _sync_global_roles(gc) -> None:
    """Per the DocumentDB DBCluster reference: a secondary's ReplicationSourceIdentifier is
    its source (the primary) cluster; the primary's ReadReplicaIdentifiers lists the
    secondaries."""
    writer = next((m for m in gc.members if m.is_writer), None)
    for m in gc.members:
        if m is writer:
            m._hactl_global_source = None
            m._hactl_global_readers = [r.db_cluster_arn for r in gc.members if r is not m]
        else:
            m._hactl_global_source = writer.db_cluster_arn if writer is not None else None
            m._hactl_global_readers = []


def _detach_global_roles(cluster) -> None:
    cluster._hactl_global_source = None
    cluster._hactl_global_readers = []


_global_patched = False


def patch_moto_docdb_global_clusters() -> None:
    """moto's global clusters (DocumentDB, same backend as Aurora) against the DocumentDB
    API reference:

    - CreateGlobalCluster from SourceDBClusterIdentifier leaves the source with IsWriter
      false (a global cluster without a writer), ignores the source's encryption
      (StorageEncrypted false for an encrypted source; AWS takes the source's setting),
      finds the source only in us-east-1 (where moto stores global clusters) and
      overwrites an existing global cluster of the same name (AWS:
      GlobalClusterAlreadyExistsFault).
    - CreateDBCluster with an unknown GlobalClusterIdentifier silently creates a cluster
      without a master user (AWS: GlobalClusterNotFoundFault).
    - DescribeGlobalClusters ignores GlobalClusterIdentifier (answers all; AWS filters and
      answers GlobalClusterNotFoundFault for an unknown one).
    - FailoverGlobalCluster and SwitchoverGlobalCluster are not implemented.
    - RemoveFromGlobalCluster only works when called in us-east-1, answers nothing (no
      error) for an unknown global cluster or cluster, and leaves the removed cluster
      thinking it is a member (IsWriter, global id). AWS detaches it into a standalone
      cluster.
    - DeleteDBCluster of a member silently deletes it (or, outside us-east-1, leaves a
      dangling member). AWS refuses: InvalidGlobalClusterStateFault for the primary while
      other members exist, else InvalidDBClusterStateFault "This cluster is a part of a
      global cluster, please remove it from globalcluster first".
    - DeleteDBInstance of the last instance of the primary cluster while secondaries
      exist is accepted; AWS refuses (InvalidDBClusterStateFault).
    - DeleteGlobalCluster of an unknown global cluster is an InternalError (KeyError);
      AWS: GlobalClusterNotFoundFault.
    - DescribeDBClusters shows no cross-Region role: the DocumentDB reference gives a
      secondary's ReplicationSourceIdentifier (its primary) and the primary's
      ReadReplicaIdentifiers (its secondaries).

    Role changes are synchronous: Status stays "available" and FailoverState is absent
    (AWS passes through switching-over/failing-over for minutes).
    """
    global _global_patched
    if _global_patched:
        return
    from moto.core.responses import ActionResult
    from moto.rds import models, responses
    from moto.rds.exceptions import (
        DBClusterNotFoundError,
        InvalidDBClusterStateFault,
        InvalidParameterCombination,
        InvalidParameterValue,
        RDSClientError,
    )

    backend_cls = models.RDSBackend
    response_cls = responses.RDSResponse
    cluster_cls = models.DBCluster

    def not_found(identifier):
        return RDSClientError(
            "GlobalClusterNotFoundFault", f"Global cluster {identifier} not found."
        )

    # what DescribeDBClusters shows (moto's own replica fields stay as they are)
    cluster_cls.ReplicationSourceIdentifier = property(
        lambda self: getattr(self, "_hactl_global_source", None) or self.replication_source_identifier
    )
    cluster_cls.ReadReplicaIdentifiers = property(
        lambda self: list(self.read_replica_identifiers)
        + [a for a in getattr(self, "_hactl_global_readers", []) if a not in self.read_replica_identifiers]
    )

    def create_global_cluster(
        self,
        global_cluster_identifier,
        source_db_cluster_identifier,
        engine,
        engine_version,
        storage_encrypted,
        deletion_protection,
    ):
        if global_cluster_identifier in self.global_clusters:
            raise RDSClientError(
                "GlobalClusterAlreadyExistsFault",
                f"Global cluster {global_cluster_identifier} already exists.",
            )
        source = None
        if source_db_cluster_identifier is not None:
            if not source_db_cluster_identifier.startswith("arn:"):
                raise InvalidParameterValue(
                    f"Malformed db cluster arn {source_db_cluster_identifier}"
                )
            source = _resolve_cluster(self, source_db_cluster_identifier)
            if engine is not None:
                raise InvalidParameterCombination(
                    "When creating global cluster from existing db cluster, value for "
                    "engineName should not be specified since it will be inherited from "
                    "source cluster"
                )
            if _global_cluster_of(source) is not None:
                raise InvalidDBClusterStateFault(
                    f"Cluster {source.db_cluster_arn} is already a member of a global cluster."
                )
            engine, engine_version = source.engine, source.engine_version
            if storage_encrypted is None:
                storage_encrypted = bool(source.storage_encrypted)
        elif engine is None:
            raise InvalidParameterValue(
                "When creating standalone global cluster, value for engineName should be specified"
            )
        gc = models.GlobalCluster(
            backend=self,
            global_cluster_identifier=global_cluster_identifier,
            engine=engine,
            engine_version=engine_version,
            storage_encrypted=storage_encrypted,
            deletion_protection=deletion_protection,
        )
        self.global_clusters[global_cluster_identifier] = gc
        if source is not None:
            source.global_cluster_identifier = gc.global_cluster_identifier
            source.is_writer = True
            gc.members.append(source)
            _sync_global_roles(gc)
        return gc

    backend_cls.create_global_cluster = create_global_cluster

    original_create_cluster = backend_cls.create_db_cluster

    def create_db_cluster(self, kwargs):
        gid = kwargs.get("global_cluster_identifier")
        if gid:
            gc = _find_global_cluster(self.account_id, gid)
            if gc is None:
                raise not_found(gid)
            kwargs["global_cluster_identifier"] = gc.global_cluster_identifier
        cluster = original_create_cluster(self, kwargs)
        if gid:
            _sync_global_roles(gc)
        return cluster

    backend_cls.create_db_cluster = create_db_cluster

    def describe_global_clusters(self):
        gid = self.params.get("GlobalClusterIdentifier")
        clusters = self.global_backend.describe_global_clusters()
        if gid:
            gc = _find_global_cluster(self.current_account, gid)
            if gc is None:
                raise not_found(gid)
            clusters = [gc]
        return ActionResult({"GlobalClusters": clusters})

    response_cls.describe_global_clusters = describe_global_clusters

    def switch_writer(backend, gid, target_identifier):
        gc = _find_global_cluster(backend.account_id, gid)
        if gc is None:
            raise not_found(gid)
        target = _resolve_cluster(backend, target_identifier)
        if not any(m is target for m in gc.members):
            raise DBClusterNotFoundError(
                target_identifier,
                f"DBCluster {target_identifier} is not a member of global cluster {gid}.",
            )
        if target.is_writer:
            raise InvalidDBClusterStateFault(
                f"DBCluster {target.db_cluster_arn} is already the primary cluster of "
                f"global cluster {gid}."
            )
        for m in gc.members:
            m.is_writer = m is target
        _sync_global_roles(gc)
        return gc

    def failover_global_cluster(self):
        allow = str(self.params.get("AllowDataLoss", "")).lower() == "true"
        switchover = str(self.params.get("Switchover", "")).lower() == "true"
        if allow and switchover:
            raise InvalidParameterCombination(
                "AllowDataLoss and Switchover can't be specified together."
            )
        gc = switch_writer(
            self.backend, self.params["GlobalClusterIdentifier"], self.params["TargetDbClusterIdentifier"]
        )
        return ActionResult({"GlobalCluster": gc})

    def switchover_global_cluster(self):
        gc = switch_writer(
            self.backend, self.params["GlobalClusterIdentifier"], self.params["TargetDbClusterIdentifier"]
        )
        return ActionResult({"GlobalCluster": gc})

    response_cls.failover_global_cluster = failover_global_cluster
    response_cls.switchover_global_cluster = switchover_global_cluster

    def remove_from_global_cluster(self, global_cluster_identifier, db_cluster_identifier):
        gc = _find_global_cluster(self.account_id, global_cluster_identifier)
        if gc is None:
            raise not_found(global_cluster_identifier)
        cluster = _resolve_cluster(self, db_cluster_identifier)
        if not any(m is cluster for m in gc.members):
            raise DBClusterNotFoundError(
                db_cluster_identifier,
                f"DBCluster {db_cluster_identifier} is not a member of global cluster "
                f"{global_cluster_identifier}.",
            )
        gc.members.remove(cluster)
        cluster.is_writer = False
        cluster.global_cluster_identifier = None
        _detach_global_roles(cluster)
        _sync_global_roles(gc)
        return gc

    backend_cls.remove_from_global_cluster = remove_from_global_cluster

    def remove_response(self):
        gc = self.backend.remove_from_global_cluster(
            global_cluster_identifier=self.params["GlobalClusterIdentifier"],
            db_cluster_identifier=self.params["DbClusterIdentifier"],
        )
        return ActionResult({"GlobalCluster": gc})

    response_cls.remove_from_global_cluster = remove_response

    original_delete_cluster = backend_cls.delete_db_cluster

    def delete_db_cluster(self, cluster_identifier, snapshot_name=None):
        cluster = self.clusters.get(cluster_identifier)
        gc = _global_cluster_of(cluster) if cluster is not None else None
        if gc is not None:
            if cluster.is_writer and len(gc.members) > 1:
                raise RDSClientError(
                    "InvalidGlobalClusterStateFault",
                    "Unable to delete cluster that is a primary member of global cluster "
                    "while there are other global cluster members",
                )
            raise InvalidDBClusterStateFault(
                "This cluster is a part of a global cluster, please remove it from "
                "globalcluster first"
            )
        return original_delete_cluster(self, cluster_identifier, snapshot_name)

    backend_cls.delete_db_cluster = delete_db_cluster

    original_delete_instance = backend_cls.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        database = self.databases.get(db_instance_identifier)
        cluster_id = getattr(database, "db_cluster_identifier", None) if database else None
        cluster = self.clusters.get(cluster_id) if cluster_id else None
        gc = _global_cluster_of(cluster) if cluster is not None else None
        if gc is not None and cluster.is_writer and len(gc.members) > 1:
            others = [i for i in self.databases.values() if getattr(i, "db_cluster_identifier", None) == cluster_id and i is not database]
            if not others:
                raise InvalidDBClusterStateFault(
                    "Cannot delete the last instance of the master cluster. Delete the "
                    "replica cluster before deleting the last master cluster instance."
                )
        return original_delete_instance(self, db_instance_identifier, *args, **kwargs)

    backend_cls.delete_db_instance = delete_db_instance

    original_delete_global = backend_cls.delete_global_cluster

    def delete_global_cluster(self, global_cluster_identifier):
        gc = _find_global_cluster(self.account_id, global_cluster_identifier)
        if gc is None:
            raise not_found(global_cluster_identifier)
        # AWS refuses to delete a protected global cluster (hactl lifts the protection
        # with ModifyGlobalCluster first).
        if gc.deletion_protection:
            raise RDSClientError(
                "InvalidGlobalClusterStateFault",
                "Cannot delete protected Global Cluster, please disable deletion protection and try again.",
            )
        return original_delete_global(self, global_cluster_identifier)

    backend_cls.delete_global_cluster = delete_global_cluster

    # Gap: moto has no ModifyGlobalCluster ("not been implemented"): hactl turns deletion
    # protection on and off with it. DeletionProtection is applied; a rename
    # (NewGlobalClusterIdentifier) is refused rather than half done.
    def modify_global_cluster(self):
        gid = self.params["GlobalClusterIdentifier"]
        gc = _find_global_cluster(self.current_account, gid)
        if gc is None:
            raise not_found(gid)
        if self.params.get("NewGlobalClusterIdentifier"):
            raise RDSClientError(
                "InvalidParameterValue", "the emulator does not rename global clusters"
            )
        protection = self.params.get("DeletionProtection")
        if protection is not None:
            gc.deletion_protection = str(protection).lower() == "true"
        return ActionResult({"GlobalCluster": gc})

    response_cls.modify_global_cluster = modify_global_cluster
    _global_patched = True


_proxy_patched = False


def patch_moto_rds_proxy() -> None:
    """moto's RDS Proxy has no ModifyDBProxy (UpdateDBProxy changes auth, role, security
    groups, TLS and idle timeout in place on AWS), and registers a DB instance target
    without its endpoint (AWS reports the instance's). Both are filled in as AWS does."""
    global _proxy_patched
    if _proxy_patched:
        return
    from moto.core.responses import ActionResult
    from moto.rds import models, responses
    from moto.rds.exceptions import DBProxyNotFoundFault

    def modify_db_proxy(self):
        name = self.params.get("DBProxyName")
        proxy = self.backend.db_proxies.get(name)
        if proxy is None:
            raise DBProxyNotFoundFault(name)
        if self.params.get("Auth") is not None:
            proxy.auth = self.params["Auth"]
        if self.params.get("RoleArn") is not None:
            proxy.role_arn = self.params["RoleArn"]
        if self.params.get("SecurityGroups") is not None:
            proxy.vpc_security_group_ids = self.params["SecurityGroups"]
        for param, attr in (("RequireTLS", "require_tls"), ("IdleClientTimeout", "idle_client_timeout"),
                            ("DebugLogging", "debug_logging")):
            if self.params.get(param) is not None:
                setattr(proxy, attr, self.params[param])
        return ActionResult({"DBProxy": proxy})

    responses.RDSResponse.modify_db_proxy = modify_db_proxy

    original_register = models.RDSBackend.register_db_proxy_targets

    def register_db_proxy_targets(self, db_proxy_name, target_group_name, db_cluster_identifiers,
                                  db_instance_identifiers):
        targets = original_register(self, db_proxy_name, target_group_name, db_cluster_identifiers,
                                    db_instance_identifiers)
        for t in targets:
            db = self.databases.get(t.rds_resource_id)
            if t.type == "RDS_INSTANCE" and db is not None:
                t.endpoint = db.address
                t.port = db.port
        return targets

    models.RDSBackend.register_db_proxy_targets = register_db_proxy_targets
    _proxy_patched = True
