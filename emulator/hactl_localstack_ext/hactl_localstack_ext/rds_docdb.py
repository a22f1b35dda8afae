"""Teach moto's RDS backend about the DocumentDB engine ("docdb").

moto has no DocumentDB module; DocumentDB's API is the RDS query API (same version,
signed as "rds"), so DocumentDB resources live in moto's RDS backend. moto validates
engine names against fixed lists and looks up per-engine defaults in dicts that lack
"docdb"; this module extends both. It is applied (idempotently) when the rds or docdb
provider is first loaded, i.e. before the first RDS/DocDB request is handled.
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
