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
    Likewise its network ACL association, which moto kept listing on the ACL (a deleted
    subnet still "associated"). Drop the associations of a deleted subnet, as AWS does."""
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
        for acl in getattr(self, "network_acls", {}).values():
            for assoc_id, assoc in list(acl.associations.items()):
                if assoc.subnet_id == subnet_id:
                    del acl.associations[assoc_id]
        return subnet

    SubnetBackend.delete_subnet = delete_subnet
    _subnet_patched = True


_nacl_patched = False


def patch_moto_network_acl_id_filter() -> None:
    """Two network ACL gaps. moto's DescribeNetworkAcls refuses the ``network-acl-id``
    filter ("has not been implemented in Moto yet", HTTP 501). AWS supports it, and hactl
    reads an ACL whose tags went missing by it (a filter, unlike NetworkAclIds, omits ids
    that are gone instead of failing the whole call). And ICMP entries lost their type
    and code (below)."""
    global _nacl_patched
    if _nacl_patched:
        return
    from moto.ec2.models.network_acls import NetworkAcl
    from moto.ec2.responses.network_acls import NetworkACLs

    original = NetworkAcl.get_filter_value

    def get_filter_value(self, filter_name, method_name=None):
        if filter_name == "network-acl-id":
            return self.id
        return original(self, filter_name, method_name)

    NetworkAcl.get_filter_value = get_filter_value

    # CreateNetworkAclEntry / ReplaceNetworkAclEntry: moto reads the ICMP type and code
    # as the wire names `Icmp.Type` / `Icmp.Code`, but its parsed parameters are keyed
    # by member name (`IcmpTypeCode`), so an ICMP entry lost both and read back as "any
    # type". Answer the wire names from the member.
    original_get_param = NetworkACLs._get_param

    def _get_param(self, param_name, if_none=None):
        value = original_get_param(self, param_name, if_none)
        if value is None and param_name in ("Icmp.Type", "Icmp.Code"):
            value = original_get_param(self, "IcmpTypeCode." + param_name.split(".")[1], if_none)
        return value

    NetworkACLs._get_param = _get_param
    _nacl_patched = True


_ecs_create_params_patched = False


def patch_moto_ecs_create_service_params() -> None:
    """moto's CreateService drops ``capacityProviderStrategy``,
    ``deploymentConfiguration`` and ``healthCheckGracePeriodSeconds`` (its UpdateService
    keeps them), and reports ``launchType: EC2`` for a service that asked for a capacity
    provider strategy instead. AWS keeps all three and reports no launch type then.
    Record them on the new service as AWS would. Also fixes UpdateService's moves between
    a launch type and a capacity provider strategy (below)."""
    global _ecs_create_params_patched
    if _ecs_create_params_patched:
        return
    from moto.ecs.responses import EC2ContainerServiceResponse

    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original(self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("serviceName")
        )
        strategy = self._get_param("capacityProviderStrategy")
        if strategy:
            service.capacity_provider_strategy = strategy
            if self._get_param("launchType") is None:
                service.launch_type = None
                for deployment in service.deployments:
                    deployment["launchType"] = None
                    deployment["capacityProviderStrategy"] = strategy
        deployment_configuration = self._get_param("deploymentConfiguration")
        if deployment_configuration is not None:
            service.deployment_configuration = deployment_configuration
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = grace
        return result

    EC2ContainerServiceResponse.create_service = create_service

    original_update = EC2ContainerServiceResponse.update_service

    def update_service(self):
        """UpdateService with ``capacityProviderStrategy`` moves a service between a launch
        type and a strategy (AWS, since June 2025): a strategy clears the launch type, an
        empty list restores the one its providers imply (FARGATE for FARGATE and
        FARGATE_SPOT, EC2 for Auto Scaling group providers). moto keeps the old launch
        type either way."""
        strategy = self._get_param("capacityProviderStrategy")
        service = None
        if strategy is not None:
            service = self.ecs_backend._get_service(
                self._get_param("cluster", "default"), self._get_param("service").split("/")[-1]
            )
            before = list(getattr(service, "capacity_provider_strategy", None) or [])
        result = original_update(self)
        if service is not None:
            if strategy:
                launch_type = None
            elif before:
                fargate = all(i.get("capacityProvider", "").startswith("FARGATE") for i in before)
                launch_type = "FARGATE" if fargate else "EC2"
            else:
                launch_type = service.launch_type
            service.launch_type = launch_type
            service.capacity_provider_strategy = strategy or []
            for deployment in service.deployments:
                deployment["launchType"] = launch_type
                deployment["capacityProviderStrategy"] = strategy or []
        return result

    EC2ContainerServiceResponse.update_service = update_service
    _ecs_create_params_patched = True


_ecs_tasks_patched = False


def patch_moto_ecs_services_run_tasks() -> None:
    """Emulator fidelity fix: moto's ECS never starts the tasks of a service: a service
    keeps ``runningCount`` 0 and ``pendingCount`` = desired, and its deployment has no
    ``rolloutState``, so a wait for a stable service (what real deployments do) never
    ends. On AWS the tasks start within a minute or two and the deployment completes.
    This patch makes every ACTIVE service look like that when it is described: running =
    desired, nothing pending, one PRIMARY deployment of the current task definition with
    the same counts and ``rolloutState: COMPLETED``. Nothing actually runs (no tasks,
    no target registration): only the service's reported state changes.

    A stand-in for a deployment that fails (no container runs here, so none can): a new
    task definition whose container has the environment variable
    ``HACTL_EMULATOR_ROLLBACK`` is rolled back as ECS does when an alarm fires or the
    circuit breaker trips: the service returns to the task definition it ran before, and
    the new deployment is reported once with ``rolloutState: FAILED``."""
    global _ecs_tasks_patched
    if _ecs_tasks_patched:
        return
    from moto.core.utils import utcnow
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.describe_services

    settled = {}

    def rolls_back(backend, td_arn) -> bool:
        try:
            td = backend.describe_task_definition(td_arn)
        except Exception:
            return False
        return any(
            e.get("name") == "HACTL_EMULATOR_ROLLBACK"
            for c in (td.container_definitions or [])
            for e in (c.get("environment") or [])
        )

    def settle(backend, service) -> None:
        if service.status != "ACTIVE":
            return
        previous = settled.get(service.arn)
        if previous and previous != service.task_definition and rolls_back(backend, service.task_definition):
            failed_td = service.task_definition
            service.task_definition = previous
            primary = service.deployments[0] if service.deployments else {}
            failed = dict(primary)
            failed.update(
                {
                    "id": f"{primary.get('id', 'ecs-svc/0')}-failed",
                    "status": "ACTIVE",
                    "taskDefinition": failed_td,
                    "runningCount": 0,
                    "rolloutState": "FAILED",
                    "rolloutStateReason": "ECS deployment rolled back: alarm(s) in ALARM "
                    "(emulated: HACTL_EMULATOR_ROLLBACK)",
                }
            )
            primary.update({"taskDefinition": previous, "status": "PRIMARY", "rolloutState": "COMPLETED"})
            service.deployments = [primary, failed]
            return
        settled[service.arn] = service.task_definition
        desired = service.desired_count or 0
        service.running_count = desired
        service.pending_count = 0
        if not service.deployments:
            return
        primary = service.deployments[0]
        if primary.get("rolloutState") != "COMPLETED" or primary.get("runningCount") != desired:
            primary["updatedAt"] = utcnow()
        primary.update(
            {
                "status": "PRIMARY",
                "taskDefinition": service.task_definition,
                "desiredCount": desired,
                "runningCount": desired,
                "pendingCount": 0,
                "failedTasks": 0,
                "rolloutState": "COMPLETED",
                "rolloutStateReason": f"ECS deployment {primary.get('id')} completed.",
            }
        )
        service.deployments = [primary]

    def describe_services(self, cluster_str, service_names_or_arns):
        services, failures = original(self, cluster_str, service_names_or_arns)
        for service in services:
            settle(self, service)
        return services, failures

    EC2ContainerServiceBackend.describe_services = describe_services
    _ecs_tasks_patched = True


def patch_moto_elbv2_deletion_protection() -> None:
    """moto deletes a load balancer whose `deletion_protection.enabled` is true; AWS refuses
    with OperationNotPermitted. Without this the destroy trap (turn protection off first)
    cannot be shown on the emulator."""
    from moto.elbv2.exceptions import ELBClientError
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.delete_load_balancer

    def delete_load_balancer(self, arn):
        lb = self.load_balancers.get(arn)
        if lb is not None and str(lb.attrs.get("deletion_protection.enabled", "false")).lower() == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        return original(self, arn)

    ELBv2Backend.delete_load_balancer = delete_load_balancer


def patch_moto_launch_template_versions() -> None:
    """Two moto launch template bugs: CreateLaunchTemplateVersion stores UserData unparsed
    (a later scale-out from that version fails with InternalError), and
    DescribeLaunchTemplates answers the tags the template had at creation (CreateTags /
    DeleteTags never show)."""
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplate.create_version

    def create_version(self, data, description):
        if isinstance(data.get("UserData"), str):
            data["UserData"] = parse_user_data(data["UserData"])
        return original(self, data, description)

    LaunchTemplate.create_version = create_version
    LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, value: None)


def patch_moto_rds_force_failover() -> None:
    """moto's RebootDBInstance ignores ``ForceFailover``: a Multi-AZ instance stays in its
    zone, so a failover cannot be told from a plain reboot (a test of `hactl failover`
    would pass with no failover at all). AWS promotes the standby: the instance's
    AvailabilityZone becomes the standby's zone and SecondaryAvailabilityZone the zone it
    left. Emulate that with another zone of the instance's subnet group; a forced failover
    of a Single-AZ instance is refused as AWS refuses it."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.responses import RDSResponse

    original = RDSResponse.reboot_db_instance
    if getattr(original, "_hactl_failover", False):
        return  # rds and docdb share the backend: patch once

    def reboot_db_instance(self):
        if str(self.params.get("ForceFailover", "false")).lower() == "true":
            db = self.backend.describe_db_instances(self.params.get("DBInstanceIdentifier"))[0]
            if not db.multi_az:
                raise RDSClientError(
                    "InvalidParameterCombination",
                    "Reboot with failover is only supported for Multi-AZ instances",
                )
            group = getattr(db, "db_subnet_group", None)
            subnets = getattr(group, "_subnets", None) or []
            zones = sorted({s.availability_zone for s in subnets} - {db.availability_zone})
            if zones:
                db.secondary_availability_zone = db.availability_zone
                db.availability_zone = zones[0]
        return original(self)

    reboot_db_instance._hactl_failover = True
    RDSResponse.reboot_db_instance = reboot_db_instance


_secrets_replication_patched = False


def patch_moto_secretsmanager_replication() -> None:
    """Multi-Region secrets (moto's replica secrets under LocalStack's own Secrets Manager
    provider) against the AWS API reference:

    - GetSecretValue, PutSecretValue (and every call LocalStack first checks the KMS key
      for) on a replica in its Region answer InternalError: moto's ``ReplicaSecret`` lacks
      ``kms_key_id`` and ``account_id``. AWS reads the replica; writes to it are refused
      with InvalidParameterException "Operation not permitted on a replica secret...".
    - AddReplicaRegions[].KmsKeyId is dropped: ReplicationStatus always reports the
      default key. AWS reports (and a replica's DescribeSecret shows) the given key.
    - ReplicateSecretToRegions and RemoveRegionsFromReplication answer ``ARN`` = the
      SecretId as sent (e.g. the bare name); AWS answers the primary secret's ARN.
    - DeleteSecret of a primary that still has replicas (or of a replica) is refused
      with InvalidParameterException, as AWS does, but LocalStack re-wraps the message as
      "400 Bad Request: {...}"; AWS's text is "You can't delete secret <ARN> that still
      has replica regions [<regions>]." (moto writes the name, not the ARN).
    - StopReplicationToReplica is not implemented (InternalFailure). AWS, called in the
      replica's Region, turns the replica into a standalone secret there (same ARN, its
      own copy of the versions, tags, description and key) and drops that Region from the
      primary's ReplicationStatus; the response is {"ARN": <promoted secret's ARN>}.
    """
    global _secrets_replication_patched
    if _secrets_replication_patched:
        return
    import copy
    import json

    from localstack.aws.api.secretsmanager import InvalidParameterException as LsInvalidParameter
    from moto.secretsmanager import exceptions as sm_exceptions
    from moto.secretsmanager.models import (
        FakeSecret,
        ReplicaSecret,
        SecretsManagerBackend,
    )
    from moto.secretsmanager.responses import SecretsManagerResponse

    default_key = SecretsManagerBackend.DEFAULT_KMS_KEY_ALIAS

    # --- the replica answers the attributes LocalStack's handlers read ------------------
    def replica_kms_key_id(self):
        key = self.config.get("KmsKeyId")
        return None if key in (None, default_key) else key

    ReplicaSecret.kms_key_id = property(replica_kms_key_id)
    ReplicaSecret.account_id = property(lambda self: self.source.account_id)

    original_replica_to_dict = ReplicaSecret.to_dict

    def replica_to_dict(self):
        dct = original_replica_to_dict(self)
        key = replica_kms_key_id(self)
        if key:
            dct["KmsKeyId"] = key
        else:
            dct.pop("KmsKeyId", None)
        return dct

    ReplicaSecret.to_dict = replica_to_dict

    # --- AddReplicaRegions[].KmsKeyId ------------------------------------------------------
    original_create_replicas = FakeSecret.create_replicas

    def create_replicas(self, replica_regions, force_overwrite):
        replicas = original_create_replicas(self, replica_regions, force_overwrite)
        for replica, config in zip(replicas, replica_regions or []):
            if config.get("KmsKeyId"):
                replica.config["KmsKeyId"] = config["KmsKeyId"]
        return replicas

    FakeSecret.create_replicas = create_replicas

    # --- ARN of the primary in the two replication responses ------------------------------
    original_replicate = SecretsManagerBackend.replicate_secret_to_regions
    original_remove = SecretsManagerBackend.remove_regions_from_replication

    def replicate_secret_to_regions(self, secret_id, replica_regions, force_overwrite):
        _, statuses = original_replicate(self, secret_id, replica_regions, force_overwrite)
        return self.describe_secret(secret_id).arn, statuses

    def remove_regions_from_replication(self, secret_id, replica_regions):
        _, statuses = original_remove(self, secret_id, replica_regions)
        return self.describe_secret(secret_id).arn, statuses

    SecretsManagerBackend.replicate_secret_to_regions = replicate_secret_to_regions
    SecretsManagerBackend.remove_regions_from_replication = remove_regions_from_replication

    # --- DeleteSecret refusals with AWS's message ------------------------------------------
    original_delete = SecretsManagerBackend.delete_secret

    def delete_secret(self, secret_id, recovery_window_in_days, force_delete_without_recovery):
        secret = self.secrets.get(secret_id) if secret_id in self.secrets else None
        if isinstance(secret, FakeSecret) and secret.replicas:
            regions = ", ".join(r.region for r in secret.replicas)
            raise LsInvalidParameter(
                f"You can't delete secret {secret.arn} that still has replica regions [{regions}]."
            )
        try:
            return original_delete(
                self, secret_id, recovery_window_in_days, force_delete_without_recovery
            )
        except sm_exceptions.OperationNotPermittedOnReplica as e:
            raise LsInvalidParameter(e.message) from e

    SecretsManagerBackend.delete_secret = delete_secret

    # --- StopReplicationToReplica -----------------------------------------------------------
    def stop_replication_to_replica(self, secret_id):
        if not self._is_valid_identifier(secret_id):
            raise sm_exceptions.SecretNotFoundException()
        replica = self.secrets[secret_id]
        if not isinstance(replica, ReplicaSecret):
            raise sm_exceptions.InvalidParameterException(
                f"Secret {replica.arn} is not a replica secret."
            )
        source = replica.source
        standalone = copy.copy(source)
        standalone.arn = replica.arn
        standalone.region = self.region_name
        standalone.replicas = []
        standalone.versions = copy.deepcopy(source.versions)
        standalone.tags = copy.deepcopy(source.tags)
        standalone.kms_key_id = replica_kms_key_id(replica)
        dict.pop(self.secrets, replica.arn, None)
        self.secrets[standalone.name] = standalone
        if replica in source.replicas:
            source.replicas.remove(replica)
        return standalone.arn

    def stop_replication_to_replica_response(self):
        arn = self.backend.stop_replication_to_replica(self._get_param("SecretId"))
        return json.dumps({"ARN": arn})

    SecretsManagerBackend.stop_replication_to_replica = stop_replication_to_replica
    SecretsManagerResponse.stop_replication_to_replica = stop_replication_to_replica_response

    _secrets_replication_patched = True


_elbv2_rule_conditions_patched = False


def patch_moto_elbv2_rule_conditions() -> None:
    """AWS answers the values of a listener rule's host-header and path-pattern conditions
    twice, in the legacy ``Values`` and in ``HostHeaderConfig`` / ``PathPatternConfig``;
    moto answers only the shape the request used. hactl writes ``HostHeaderConfig`` and
    reads one of the two (elbv2/listener_rule.rs): with both answered, as on AWS, the
    emulator shows a reader that would count the names twice."""
    global _elbv2_rule_conditions_patched
    if _elbv2_rule_conditions_patched:
        return
    from moto.elbv2.models import ELBv2Backend

    configs = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig"}

    def both_shapes(conditions):
        out = []
        for condition in conditions or []:
            condition = dict(condition)
            key = configs.get(condition.get("Field"))
            if key:
                config = dict(condition.get(key) or {})
                values = list(config.get("Values") or condition.get("Values") or [])
                condition["Values"] = values
                condition[key] = {**config, "Values": list(values)}
            out.append(condition)
        return out

    original_create = ELBv2Backend.create_rule
    original_modify = ELBv2Backend.modify_rule

    def create_rule(self, *args, **kwargs):
        rule = original_create(self, *args, **kwargs)
        rule.conditions = both_shapes(rule.conditions)
        return rule

    def modify_rule(self, *args, **kwargs):
        rule = original_modify(self, *args, **kwargs)
        rule.conditions = both_shapes(rule.conditions)
        return rule

    ELBv2Backend.create_rule = create_rule
    ELBv2Backend.modify_rule = modify_rule
    _elbv2_rule_conditions_patched = True


_asg_rebalance_patched = False


def patch_moto_asg_capacity_rebalance() -> None:
    """Two gaps of moto's UpdateAutoScalingGroup. It ignores ``CapacityRebalance`` (its
    CreateAutoScalingGroup keeps it), so turning Spot capacity rebalancing on or off on an
    existing group never shows; AWS updates it in place. And an update that names no
    launch template, configuration or mixed-instances policy (a scheduled action's or a
    person's change of sizes) drops the group's mixed-instances policy; AWS keeps it.
    Record both as AWS would."""
    global _asg_rebalance_patched
    if _asg_rebalance_patched:
        return
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.update_auto_scaling_group

    def update_auto_scaling_group(self):
        name = self._get_param("AutoScalingGroupName")
        group = self.autoscaling_backend.autoscaling_groups.get(name)
        kept_policy = getattr(group, "mixed_instances_policy", None)
        names_template = any(
            self._get_param(p) for p in ("LaunchTemplate", "LaunchConfigurationName", "MixedInstancesPolicy")
        )
        result = original(self)
        if group is not None:
            if not names_template:
                group.mixed_instances_policy = kept_policy
            rebalance = self._get_bool_param("CapacityRebalance", None)
            if rebalance is not None:
                group.capacity_rebalance = rebalance
        return result

    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group
    _asg_rebalance_patched = True
