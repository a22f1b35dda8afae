//! `scheduler.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `scheduler.schedule` (provider: `hactl-aws/src/scheduler/schedule.rs`).
    Schedule = "scheduler.schedule" {
        reads: ["scheduler:ListSchedules", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        group_name / GROUP_NAME: replace,
        description / DESCRIPTION: in_place,
        schedule_expression / SCHEDULE_EXPRESSION: in_place,
        timezone / TIMEZONE: in_place,
        state / STATE: in_place,
        flexible_window_minutes / FLEXIBLE_WINDOW_MINUTES: in_place,
        target / TARGET: in_place,
    }
    /// `scheduler.schedule_group` (provider: `hactl-aws/src/scheduler/schedule_group.rs`).
    ScheduleGroup = "scheduler.schedule_group" {
        reads: ["scheduler:ListScheduleGroups", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        tags / TAGS: in_place,
    }
}
