"""Runtime hooks: moto fixes applied once when LocalStack starts (EC2, Secrets Manager,
Route 53 and IAM, which LocalStack itself provides on moto, EventBridge and Lambda, which
LocalStack provides itself, and ECS, ELBv2, RDS and
DocumentDB, which the extension serves from moto; ECR's fixes are applied by its
provider), and the Resource Groups Tagging API answering every kind hactl reads through it
(tagging_fixes.py)."""

from localstack.runtime import hooks


@hooks.on_infra_start()
def apply_moto_fixes():
    from hactl_localstack_ext.iam_fixes import (
        patch_iam_delete_policy_conflicts,
        patch_iam_oidc_client_ids,
    )
    from hactl_localstack_ext.moto_fixes import (
        patch_moto_asg_capacity_rebalance,
        patch_moto_delete_subnet_associations,
        patch_moto_ecs_create_service_params,
        patch_moto_ecs_services_run_tasks,
        patch_moto_elbv2_deletion_protection,
        patch_moto_elbv2_rule_conditions,
        patch_moto_launch_template_versions,
        patch_moto_nat_gateway_tag_filters,
        patch_moto_network_acl_id_filter,
        patch_moto_secretsmanager_replication,
    )
    from hactl_localstack_ext.rds_docdb import (
        patch_moto_docdb_global_clusters,
        patch_moto_rds_cross_region_replicas,
    )
    from hactl_localstack_ext.events_fixes import patch_disabled_rules
    from hactl_localstack_ext.lambda_fixes import patch_lambda_without_runtime, patch_s3_failure_destination
    from hactl_localstack_ext.route53_fixes import apply_route53_fixes
    from hactl_localstack_ext.secrets_fixes import patch_managed_master_secrets
    from hactl_localstack_ext.tagging_fixes import patch_tagging_api

    patch_moto_nat_gateway_tag_filters()
    patch_moto_delete_subnet_associations()
    patch_moto_network_acl_id_filter()
    patch_moto_ecs_create_service_params()
    patch_moto_ecs_services_run_tasks()
    patch_moto_elbv2_deletion_protection()
    patch_moto_elbv2_rule_conditions()
    patch_moto_launch_template_versions()
    patch_moto_asg_capacity_rebalance()
    patch_moto_secretsmanager_replication()
    patch_moto_rds_cross_region_replicas()
    patch_moto_docdb_global_clusters()
    apply_route53_fixes()
    patch_cbor_unknown_members()
    patch_tagging_api()
    patch_iam_delete_policy_conflicts()
    patch_iam_oidc_client_ids()
    patch_managed_master_secrets()
    patch_disabled_rules()
    patch_lambda_without_runtime()
    patch_s3_failure_destination()


def patch_cbor_unknown_members():
    """LocalStack's CBOR response serializer (the protocol aws-sdk-rust uses for
    CloudWatch) raises KeyError on a response member its shape does not define, so one
    stored alarm carrying an extra key (e.g. ``Tags`` kept from a PutMetricAlarm request)
    makes every later DescribeAlarms a 500. The XML serializer, like AWS, leaves such
    members out; this makes the CBOR one do the same."""
    from localstack.aws.protocol import serializer

    cls = serializer.BaseCBORResponseSerializer
    original = cls._serialize_type_structure
    if getattr(original, "_hactl_patched", False):
        return

    def serialize_structure(self, serialized, value, shape, name=None, shape_members=None):
        members = shape_members or (shape.members if shape is not None else None)
        if members is not None and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in members}
        return original(self, serialized, value, shape, name, shape_members)

    serialize_structure._hactl_patched = True
    cls._serialize_type_structure = serialize_structure
