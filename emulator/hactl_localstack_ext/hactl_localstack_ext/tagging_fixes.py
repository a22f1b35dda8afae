"""The Resource Groups Tagging API (GetResources) answering like AWS for the objects hactl
reads through it (crates/hactl-aws/src/tagging.rs: one GetResources of the stack's tag per
refresh and region instead of one ListTagsForResource per object).

LocalStack serves GetResources from moto's resourcegroupstaggingapi backend, which reads
only moto's own backends. AWS answers every supported resource that carries the tags
(https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html);
the emulator missed these:

- CloudWatch alarms: LocalStack's CloudWatch provider (v2) keeps alarms and their tags
  in its own store, not in moto's backend, so no alarm was ever answered.
- CloudWatch Logs groups: answered with the tags of their creation only. LocalStack's
  Logs provider keeps the tags that TagResource/UntagResource change in its own store
  (moto's tagger has only CreateLogGroup's), so a tag added or removed later was never
  seen; the tags now come from LocalStack's store, as ListTagsForResource answers them.
- SNS topics: likewise LocalStack's own SNS store.
- RDS / DocumentDB DB subnet groups (``rds:subgrp``), DB parameter groups (``rds:pg``)
  and DB cluster parameter groups (``rds:cluster-pg``): moto answers only clusters,
  instances, snapshots and proxies of its RDS backend.
- ECR repositories and EventBridge Scheduler schedule groups: moto's GetResources does not
  know either service.
- OpenSearch domains (served from moto here, opensearch_fixes.py): moto's GetResources
  does not know the service.
- EventBridge rules and Step Functions state machines: LocalStack serves both from its
  own providers and stores, which moto's GetResources never reads.
- Paging: moto limits a page to 100 tags unless TagsPerPage says otherwise (about 16 of
  hactl's objects, 6 tags each); AWS pages by ResourcesPerPage, TagsPerPage only when it is
  given ("AWS recommends using ResourcesPerPage instead").

And one tag leak the index would expose: LocalStack's DeleteAlarms keeps the alarm's tags
under its ARN, so a new alarm of the same name (anyone's) starts with them; AWS deletes an
alarm's tags with it.
"""

_patched = False


def _type_wanted(filters, service: str, resource_type: str) -> bool:
    """AWS's ResourceTypeFilters: none means every type; ``service`` every type of that
    service; ``service:type`` that type."""
    if not filters:
        return True
    return service in filters or f"{service}:{resource_type}" in filters


def _tags_match(tag_filters, tags: dict) -> bool:
    """AWS's TagFilters: every filter's key must be present, with one of its values when
    it lists any."""
    for f in tag_filters or []:
        key, values = f.get("Key"), f.get("Values") or []
        if key not in tags or (values and tags[key] not in values):
            return False
    return True


def _mapping(arn: str, tags: dict) -> dict:
    return {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _cloudwatch_alarms(account_id: str, region: str):
    from localstack.services.cloudwatch.models import cloudwatch_stores

    store = cloudwatch_stores[account_id][region]
    for arn in list(store.alarms):
        yield arn, "alarm", {t["Key"]: t["Value"] for t in store.TAGS.list_tags_for_resource(arn)["Tags"]}


def _log_groups(account_id: str, region: str):
    from localstack.services.logs.models import logs_stores
    from moto.logs.models import logs_backends

    store = logs_stores[account_id][region]
    for name in list(logs_backends[account_id][region].groups):
        arn = f"arn:{_partition(region)}:logs:{region}:{account_id}:log-group:{name}"
        yield arn, "log-group", dict(store.TAGS.get(arn, {}))


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def _sns_topics(account_id: str, region: str):
    from localstack.services.sns.models import sns_stores

    store = sns_stores[account_id][region]
    for arn in list(store.topics):
        yield arn, "topic", dict(store.tags.get_tags(arn))


def _rds_groups(account_id: str, region: str):
    from moto.rds.models import rds_backends

    backend = rds_backends[account_id][region]
    for groups in (
        backend.subnet_groups,
        backend.db_parameter_groups,
        backend.db_cluster_parameter_groups,
    ):
        for group in list(groups.values()):
            arn = group.arn
            # arn:aws:rds:<region>:<account>:<type>:<name>
            yield arn, arn.split(":")[5], {t["Key"]: t["Value"] for t in group.get_tags()}


def _ecr_repositories(account_id: str, region: str):
    from moto.ecr.models import ecr_backends

    backend = ecr_backends[account_id][region]
    for repo in list(backend.repositories.values()):
        tags = backend.tagger.list_tags_for_resource(repo.arn)["tags"]
        yield repo.arn, "repository", {t["Key"]: t["Value"] for t in tags}


def _schedule_groups(account_id: str, region: str):
    from moto.scheduler.models import scheduler_backends

    backend = scheduler_backends[account_id][region]
    for group in list(backend.schedule_groups.values()):
        if group.name == "default":
            continue
        tags = backend.tagger.list_tags_for_resource(group.arn)["Tags"]
        yield group.arn, "schedule-group", {t["Key"]: t["Value"] for t in tags}


def _event_rules(account_id: str, region: str):
    from localstack.services.events.models import events_stores

    store = events_stores[account_id][region]
    for bus in list(store.event_buses.values()):
        for rule in list(bus.rules.values()):
            tags = store.TAGS.list_tags_for_resource(rule.arn).get("Tags", [])
            yield rule.arn, "rule", {t["Key"]: t["Value"] for t in tags}


def _state_machines(account_id: str, region: str):
    from localstack.services.stepfunctions.backend.state_machine import StateMachineRevision
    from localstack.services.stepfunctions.backend.store import sfn_stores

    store = sfn_stores[account_id][region]
    for arn, machine in list(store.state_machines.items()):
        if isinstance(machine, StateMachineRevision):
            tags = machine.tag_manager.to_tag_list()
            yield arn, "stateMachine", {t["key"]: t["value"] for t in tags}


def _opensearch_domains(account_id: str, region: str):
    from moto.opensearch.models import opensearch_backends

    backend = opensearch_backends[account_id][region]
    for domain in list(backend.domains.values()):
        tags = backend.tagger.list_tags_for_resource(domain.arn)["Tags"]
        yield domain.arn, "domain", {t["Key"]: t["Value"] for t in tags}


# service → the objects of that service the generator adds: (ARN, resource type, tags).
_SOURCES = {
    "cloudwatch": _cloudwatch_alarms,
    "logs": _log_groups,
    "sns": _sns_topics,
    "rds": _rds_groups,
    "ecr": _ecr_repositories,
    "scheduler": _schedule_groups,
    "events": _event_rules,
    "states": _state_machines,
    "es": _opensearch_domains,
}


def patch_tagging_api() -> None:
    global _patched
    if _patched:
        return
    # GetResources reads every region's RDS backend, creating it on first use, possibly
    # before the RDS/DocumentDB provider is loaded (providers.py), and moto's backend
    # keeps the ARN pattern of its creation: the RDS fixes must be in place before that
    # (else the region's cluster parameter groups answer "Invalid resource name" for
    # good). Both are applied once; applying them now changes nothing else.
    from hactl_localstack_ext.rds_docdb import patch_moto_rds_fidelity, patch_moto_rds_for_docdb

    patch_moto_rds_for_docdb()
    patch_moto_rds_fidelity()

    from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend
    from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

    original_generator = ResourceGroupsTaggingAPIBackend._get_resources_generator

    def get_resources_generator(self, tag_filters=None, resource_type_filters=None):
        seen = set()
        for item in original_generator(self, tag_filters=tag_filters, resource_type_filters=resource_type_filters):
            # Log groups come from LocalStack's tag store below.
            if ":log-group:" in item["ResourceARN"]:
                continue
            seen.add(item["ResourceARN"])
            yield item
        for service, source in _SOURCES.items():
            if resource_type_filters and not any(
                f == service or f.startswith(service + ":") for f in resource_type_filters
            ):
                continue
            for arn, resource_type, tags in source(self.account_id, self.region_name):
                if arn in seen or not tags or not _type_wanted(resource_type_filters, service, resource_type):
                    continue
                if _tags_match(tag_filters, tags):
                    seen.add(arn)
                    yield _mapping(arn, tags)

    ResourceGroupsTaggingAPIBackend._get_resources_generator = get_resources_generator

    def get_resources(self):
        # As moto's, but without a tag limit per page unless TagsPerPage is given.
        import json

        tags_per_page = self._get_int_param("TagsPerPage")
        token, mappings = self.backend.get_resources(
            pagination_token=self._get_param("PaginationToken"),
            tag_filters=self._get_param("TagFilters", []),
            resources_per_page=self._get_int_param("ResourcesPerPage", 50),
            tags_per_page=tags_per_page if tags_per_page is not None else 10**9,
            resource_type_filters=self._get_param("ResourceTypeFilters", []),
        )
        return json.dumps({"ResourceTagMappingList": mappings, "PaginationToken": token})

    ResourceGroupsTaggingAPIResponse.get_resources = get_resources

    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider
    from localstack.utils.aws import arns

    original_delete_alarms = CloudwatchProvider.delete_alarms

    def delete_alarms(self, context, alarm_names, **kwargs):
        result = original_delete_alarms(self, context, alarm_names, **kwargs)
        store = self.get_store(context.account_id, context.region)
        for name in alarm_names or []:
            arn = arns.cloudwatch_alarm_arn(name, account_id=context.account_id, region_name=context.region)
            store.TAGS.del_resource(arn)
        return result

    CloudwatchProvider.delete_alarms = delete_alarms
    _patched = True
