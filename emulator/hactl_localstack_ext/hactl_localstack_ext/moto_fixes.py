"""Small fixes to moto behaviour, applied when the matching provider is first loaded."""

_ecs_patched = False


def patch_moto_ecs_cluster_tags() -> None:
    """ECS clusters created without tags keep ``tags=None`` in moto, which makes the
    Resource Groups Tagging API (GetResources over ecs:cluster, or with no type
    filter) fail with a 500 "'NoneType' object is not iterable". Default to []."""
    global _ecs_patched
    if _ecs_patched:
        return
    from moto.ecs.models import Cluster

    original_init = Cluster.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.tags is None:
            self.tags = []

    Cluster.__init__ = init
    _ecs_patched = True


_nat_patched = False


def patch_moto_nat_gateway_tag_filters() -> None:
    """moto's DescribeNatGateways ignores ``tag:KEY``, ``tag-key`` and ``tag-value``
    filters (it knows only nat-gateway-id, vpc-id, subnet-id and state) and answers with
    every NAT gateway of the region. AWS applies them; so does this patch, with moto's
    own tag matcher."""
    global _nat_patched
    if _nat_patched:
        return
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.utils import tag_filter_matches

    original = NatGatewayBackend.describe_nat_gateways

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        result = original(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if name.startswith("tag:") or name in ("tag-key", "tag-value"):
                result = [n for n in result if tag_filter_matches(n, name, values)]
        return result

    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways
    _nat_patched = True


_subnet_patched = False


def patch_moto_delete_subnet_associations() -> None:
    """AWS removes a subnet's route table association when the subnet is deleted; moto
    keeps it, so the route table can never be deleted afterwards (DependencyViolation).
    Drop the associations of a deleted subnet, as AWS does."""
    global _subnet_patched
    if _subnet_patched:
        return
    from moto.ec2.models.subnets import SubnetBackend

    original = SubnetBackend.delete_subnet

    def delete_subnet(self, subnet_id):
        subnet = original(self, subnet_id)
        for table in getattr(self, "route_tables", {}).values():
            for assoc_id, assoc_subnet in list(table.associations.items()):
                if assoc_subnet == subnet_id:
                    del table.associations[assoc_id]
        return subnet

    SubnetBackend.delete_subnet = delete_subnet
    _subnet_patched = True
