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
