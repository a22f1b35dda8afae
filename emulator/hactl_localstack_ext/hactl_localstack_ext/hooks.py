"""Runtime hooks: moto fixes applied once when LocalStack starts (EC2, which LocalStack
itself provides, and ECS, which the extension serves from moto)."""

from localstack.runtime import hooks


@hooks.on_infra_start()
def apply_moto_fixes():
    from hactl_localstack_ext.moto_fixes import (
        patch_moto_delete_subnet_associations,
        patch_moto_ecs_create_service_params,
        patch_moto_ecs_services_run_tasks,
        patch_moto_elbv2_deletion_protection,
        patch_moto_launch_template_versions,
        patch_moto_nat_gateway_tag_filters,
    )

    patch_moto_nat_gateway_tag_filters()
    patch_moto_delete_subnet_associations()
    patch_moto_ecs_create_service_params()
    patch_moto_ecs_services_run_tasks()
    patch_moto_elbv2_deletion_protection()
    patch_moto_launch_template_versions()
