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
