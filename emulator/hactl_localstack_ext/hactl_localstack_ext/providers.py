"""Moto-backed LocalStack service providers.

LocalStack's free edition has no provider for ecs, elbv2, autoscaling, rds, docdb or
application-autoscaling, but it bundles moto (moto-ext), which implements all of them.
A LocalStack provider is a ``Service`` built from a service name and a *dispatch
table* mapping each operation name to a handler ``(context, request) -> response``.
Here every operation of the service is sent to moto via ``call_moto`` -- the same path
LocalStack's own moto-backed providers (ec2, ssm, ...) take for anything they do not
implement themselves. LocalStack still parses and serializes the wire protocol from the
botocore specs; moto only holds the state. All moto backends live in the same process,
so ELBv2/ASG/RDS/ECS see the VPCs, subnets and security groups created through EC2.

Each factory is registered twice in pyproject.toml: as "<api>:default" (picked when
nothing else is configured) and as "<api>:moto" (picked by PROVIDER_OVERRIDE_<API>=moto,
which scripts/emulator.sh sets so the choice stays explicit).
"""

from localstack.services.plugins import Service, aws_provider


class MotoOnlyProvider:
    """Placeholder provider object: only its ``service`` name matters."""

    def __init__(self, service: str):
        self.service = service


def _moto_service(api: str, moto_service: str | None = None) -> Service:
    """Build a Service whose every operation is answered by moto.

    :param api: the LocalStack/botocore service name (spec used for parsing/serializing)
    :param moto_service: the moto backend to route to, if it differs from ``api``
    """
    from localstack.aws.forwarder import dispatch_to_backend
    from localstack.aws.spec import load_service
    from localstack.services import moto as ls_moto

    if moto_service is None or moto_service == api:

        def handler(context, request):
            return ls_moto.call_moto(context)

    else:
        # e.g. docdb -> moto's rds backend (moto has no "docdb" module).
        def _dispatch(context):
            return _dispatch_to_moto_service(context, moto_service)

        def handler(context, request):
            return dispatch_to_backend(context, _dispatch)

    provider = MotoOnlyProvider(api)
    operations = load_service(api).operation_names
    return Service.for_provider(
        provider, dispatch_table_factory=lambda _p: {op: handler for op in operations}
    )


def _dispatch_to_moto_service(context, moto_service: str):
    """Same as localstack.services.moto.dispatch_to_moto, but for another moto backend."""
    from localstack.aws.api import CommonServiceException
    from localstack.http import Response
    from localstack.http.request import get_full_raw_path, get_raw_current_url
    from localstack.services.moto import get_dispatcher
    from moto.core.exceptions import RESTError

    request = context.request
    full_raw_path = get_full_raw_path(request)
    dispatch = get_dispatcher(moto_service, full_raw_path.split("?")[0])
    try:
        raw_url = get_raw_current_url(request.scheme, request.host, request.root_path, full_raw_path)
        response = dispatch(request, raw_url, request.headers)
        if not response:
            raise NotImplementedError
        status, headers, content = response
        return Response(content or None, status, headers)
    except RESTError as e:
        raise CommonServiceException(e.error_type, e.message, status_code=e.code) from e


def _ecs() -> Service:
    from hactl_localstack_ext.moto_fixes import patch_moto_ecs_cluster_tags

    patch_moto_ecs_cluster_tags()
    return _moto_service("ecs")


def _rds_like(api: str) -> Service:
    from hactl_localstack_ext.moto_fixes import patch_moto_rds_force_failover
    from hactl_localstack_ext.rds_docdb import (
        patch_moto_rds_fidelity,
        patch_moto_rds_for_docdb,
        patch_moto_rds_proxy,
    )

    patch_moto_rds_for_docdb()
    patch_moto_rds_fidelity()
    patch_moto_rds_proxy()
    patch_moto_rds_force_failover()
    return _moto_service(api, "rds")


def _ecr() -> Service:
    # ECR: not in the free edition at all; moto's ECR with the fixes of ecr_fixes.py.
    from hactl_localstack_ext.ecr_fixes import patch_moto_ecr

    patch_moto_ecr()
    return _moto_service("ecr")


def _opensearch() -> Service:
    # The free edition's OpenSearch provider starts a real OpenSearch for every domain
    # (downloaded on first use); moto's backend holds the domains instead, with the fixes
    # of opensearch_fixes.py.
    from hactl_localstack_ext.opensearch_fixes import patch_moto_opensearch

    patch_moto_opensearch()
    return _moto_service("opensearch")


# --- "<api>:default" ------------------------------------------------------------------
# Note on routing: requests are matched to a service by their SigV4 signing name. The
# docdb API signs as "rds" (same API version, 2014-10-31), so LocalStack's router sends
# DocumentDB requests (boto3, aws-sdk-rust) to the *rds* provider; the docdb provider
# below is only reached if something addresses "docdb" explicitly. Both end up in moto's
# single RDS backend, so docdb clusters are visible through both APIs.


@aws_provider(api="ecs")
def ecs():
    return _ecs()


@aws_provider(api="elbv2")
def elbv2():
    return _moto_service("elbv2")


@aws_provider(api="autoscaling")
def autoscaling():
    return _moto_service("autoscaling")


@aws_provider(api="rds")
def rds():
    return _rds_like("rds")


@aws_provider(api="docdb")
def docdb():
    return _rds_like("docdb")


@aws_provider(api="application-autoscaling")
def application_autoscaling():
    return _moto_service("application-autoscaling")


@aws_provider(api="ecr")
def ecr():
    return _ecr()


# --- "<api>:moto" (selected with PROVIDER_OVERRIDE_<API>=moto) --------------------------


@aws_provider(api="ecs", name="moto")
def ecs_moto():
    return _ecs()


@aws_provider(api="elbv2", name="moto")
def elbv2_moto():
    return _moto_service("elbv2")


@aws_provider(api="autoscaling", name="moto")
def autoscaling_moto():
    return _moto_service("autoscaling")


@aws_provider(api="rds", name="moto")
def rds_moto():
    return _rds_like("rds")


@aws_provider(api="docdb", name="moto")
def docdb_moto():
    return _rds_like("docdb")


@aws_provider(api="application-autoscaling", name="moto")
def application_autoscaling_moto():
    return _moto_service("application-autoscaling")


@aws_provider(api="ecr", name="moto")
def ecr_moto():
    return _ecr()


@aws_provider(api="opensearch", name="moto")
def opensearch_moto():
    return _opensearch()
