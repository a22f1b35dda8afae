"""Runtime hooks: moto fixes for services LocalStack itself provides (EC2), applied
once when LocalStack starts."""

from localstack.runtime import hooks


@hooks.on_infra_start()
def apply_moto_fixes():
    from hactl_localstack_ext.moto_fixes import (
        patch_moto_delete_subnet_associations,
        patch_moto_nat_gateway_tag_filters,
    )

    patch_moto_nat_gateway_tag_filters()
    patch_moto_delete_subnet_associations()
