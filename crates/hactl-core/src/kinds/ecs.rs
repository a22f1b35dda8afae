//! `ecs.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `ecs.capacity_provider` (provider: `hactl-aws/src/ecs/capacity_provider.rs`).
    CapacityProvider = "ecs.capacity_provider" {
        reads: [],
        reads_account_wide: [],
        name / NAME: replace,
        auto_scaling_group_arn / AUTO_SCALING_GROUP_ARN: replace,
        managed_scaling / MANAGED_SCALING: in_place,
        managed_termination_protection / MANAGED_TERMINATION_PROTECTION: in_place,
        tags / TAGS: in_place,
    }
    /// `ecs.cluster` (provider: `hactl-aws/src/ecs/cluster.rs`).
    Cluster = "ecs.cluster" {
        reads: [],
        reads_account_wide: [],
        name / NAME: replace,
        container_insights / CONTAINER_INSIGHTS: in_place,
        tags / TAGS: in_place,
    }
    /// `ecs.cluster_capacity_providers` (provider: `hactl-aws/src/ecs/cluster_capacity_providers.rs`).
    ClusterCapacityProviders = "ecs.cluster_capacity_providers" {
        reads: [],
        reads_account_wide: [],
        cluster / CLUSTER: replace,
        capacity_providers / CAPACITY_PROVIDERS: in_place.as_set,
        default_strategy / DEFAULT_STRATEGY: in_place,
    }
    /// `ecs.service` (provider: `hactl-aws/src/ecs/service.rs`).
    Service = "ecs.service" {
        reads: ["ecs:ListServices"],
        reads_account_wide: [],
        cluster / CLUSTER: replace,
        name / NAME: replace,
        task_definition / TASK_DEFINITION: in_place,
        desired_count / DESIRED_COUNT: in_place,
        initial_desired_count / INITIAL_DESIRED_COUNT: create_only,
        // FARGATE or EC2; null under a capacity provider strategy (UpdateService moves a
        // service between the two in place).
        launch_type / LAUNCH_TYPE: in_place,
        capacity_provider_strategy / CAPACITY_PROVIDER_STRATEGY: in_place,
        network / NETWORK: in_place.as_set,
        load_balancers / LOAD_BALANCERS: in_place,
        deployment / DEPLOYMENT: in_place,
        health_check_grace_period / HEALTH_CHECK_GRACE_PERIOD: in_place,
        propagate_tags / PROPAGATE_TAGS: in_place,
        tags / TAGS: in_place,
        stable_timeout / STABLE_TIMEOUT: create_only,
    }
    /// `ecs.task_definition` (provider: `hactl-aws/src/ecs/task_definition.rs`).
    TaskDefinition = "ecs.task_definition" {
        reads: ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"],
        reads_account_wide: [],
        family / FAMILY: replace,
        cpu / CPU: replace,
        memory / MEMORY: replace,
        network_mode / NETWORK_MODE: replace,
        requires_compatibilities / REQUIRES_COMPATIBILITIES: replace,
        execution_role_arn / EXECUTION_ROLE_ARN: replace,
        task_role_arn / TASK_ROLE_ARN: replace,
        container / CONTAINER: replace,
        tags / TAGS: in_place,
    }
}
