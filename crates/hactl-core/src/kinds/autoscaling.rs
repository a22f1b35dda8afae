//! `autoscaling.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `autoscaling.group` (provider: `hactl-aws/src/autoscaling/group.rs`).
    Group = "autoscaling.group" {
        reads: ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScheduledActions"],
        reads_account_wide: [],
        name / NAME: replace,
        launch_template_id / LAUNCH_TEMPLATE_ID: in_place,
        launch_template_version / LAUNCH_TEMPLATE_VERSION: in_place,
        min_size / MIN_SIZE: in_place,
        max_size / MAX_SIZE: in_place,
        desired_capacity / DESIRED_CAPACITY: create_only,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        health_check_type / HEALTH_CHECK_TYPE: in_place,
        health_check_grace_period / HEALTH_CHECK_GRACE_PERIOD: in_place,
        protect_from_scale_in / PROTECT_FROM_SCALE_IN: in_place,
        tags / TAGS: in_place,
        // Spot: {instance_types, on_demand_base, on_demand_percent_above_base,
        // spot_allocation_strategy}, or null for the launch template alone.
        mixed_instances / MIXED_INSTANCES: in_place,
        capacity_rebalance / CAPACITY_REBALANCE: in_place,
        // The sizes the stack's scheduled actions on the group set (a list of {min, max},
        // read from the live actions; no call of its own): a live min or max size equal to
        // one of them is the schedule's doing, not drift.
        scheduled_sizes / SCHEDULED_SIZES: in_place.as_set,
    }
    /// `autoscaling.scheduled_action` (provider: `hactl-aws/src/autoscaling/scheduled_action.rs`).
    ScheduledAction = "autoscaling.scheduled_action" {
        reads: ["autoscaling:DescribeScheduledActions"],
        reads_account_wide: [],
        name / NAME: replace,
        group_name / GROUP_NAME: replace,
        recurrence / RECURRENCE: in_place,
        time_zone / TIME_ZONE: in_place,
        min_size / MIN_SIZE: in_place,
        max_size / MAX_SIZE: in_place,
        desired_capacity / DESIRED_CAPACITY: in_place,
    }
}
