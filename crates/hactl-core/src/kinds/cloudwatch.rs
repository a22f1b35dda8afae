//! `cloudwatch.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `cloudwatch.alarm` (provider: `hactl-aws/src/cloudwatch/alarm.rs`).
    Alarm = "cloudwatch.alarm" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["cloudwatch:DescribeAlarms"],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        namespace / NAMESPACE: in_place,
        metric_name / METRIC_NAME: in_place,
        dimensions / DIMENSIONS: in_place,
        statistic / STATISTIC: in_place,
        period / PERIOD: in_place,
        evaluation_periods / EVALUATION_PERIODS: in_place,
        threshold / THRESHOLD: in_place,
        comparison_operator / COMPARISON_OPERATOR: in_place,
        treat_missing_data / TREAT_MISSING_DATA: in_place,
        alarm_actions / ALARM_ACTIONS: in_place.as_set,
        ok_actions / OK_ACTIONS: in_place.as_set,
        tags / TAGS: in_place,
    }
    /// `cloudwatch.dashboard` (provider: `hactl-aws/src/cloudwatch/dashboard.rs`).
    Dashboard = "cloudwatch.dashboard" [global] {
        reads: ["cloudwatch:ListDashboards"],
        reads_account_wide: [],
        name / NAME: replace,
        body / BODY: in_place,
        tags / TAGS: in_place,
    }
}
