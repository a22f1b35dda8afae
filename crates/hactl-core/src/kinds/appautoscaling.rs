//! `appautoscaling.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `appautoscaling.policy` (provider: `hactl-aws/src/appautoscaling/policy.rs`).
    Policy = "appautoscaling.policy" {
        reads: ["application-autoscaling:DescribeScalingPolicies"],
        reads_account_wide: [],
        name / NAME: replace,
        service_namespace / SERVICE_NAMESPACE: replace,
        resource_id / RESOURCE_ID: replace,
        scalable_dimension / SCALABLE_DIMENSION: replace,
        predefined_metric / PREDEFINED_METRIC: in_place,
        target_value / TARGET_VALUE: in_place,
        scale_in_cooldown / SCALE_IN_COOLDOWN: in_place,
        scale_out_cooldown / SCALE_OUT_COOLDOWN: in_place,
        resource_label / RESOURCE_LABEL: in_place,
    }
    /// `appautoscaling.target` (provider: `hactl-aws/src/appautoscaling/target.rs`).
    Target = "appautoscaling.target" {
        reads: ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScheduledActions"],
        reads_account_wide: [],
        service_namespace / SERVICE_NAMESPACE: replace,
        resource_id / RESOURCE_ID: replace,
        scalable_dimension / SCALABLE_DIMENSION: replace,
        min_capacity / MIN_CAPACITY: in_place,
        max_capacity / MAX_CAPACITY: in_place,
        // The capacities the stack's scheduled actions on the target set (a list of
        // {min, max}, read from the live actions; no call of its own): a live min or max
        // equal to one of them is the schedule's doing, not drift.
        scheduled_capacities / SCHEDULED_CAPACITIES: in_place.as_set,
    }
    /// `appautoscaling.scheduled_action` (provider:
    /// `hactl-aws/src/appautoscaling/scheduled_action.rs`).
    ScheduledAction = "appautoscaling.scheduled_action" {
        reads: ["application-autoscaling:DescribeScheduledActions"],
        reads_account_wide: [],
        name / NAME: replace,
        service_namespace / SERVICE_NAMESPACE: replace,
        resource_id / RESOURCE_ID: replace,
        scalable_dimension / SCALABLE_DIMENSION: replace,
        schedule / SCHEDULE: in_place,
        timezone / TIMEZONE: in_place,
        min_capacity / MIN_CAPACITY: in_place,
        max_capacity / MAX_CAPACITY: in_place,
    }
}
