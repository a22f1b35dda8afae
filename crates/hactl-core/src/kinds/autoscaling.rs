//! `autoscaling.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `autoscaling.group` (provider: `hactl-aws/src/autoscaling/group.rs`).
    Group = "autoscaling.group" {
        reads: ["autoscaling:DescribeAutoScalingGroups"],
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
    }
}
