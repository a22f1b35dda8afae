//! The drift job's metric: `DriftedResources` (namespace `hactl`, dimension `Stack`), put
//! after each `hactl drift --publish-metrics` run so an alarm can watch it.

use crate::error::aws_error;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use hactl_engine::ProviderError;

pub const DRIFT_NAMESPACE: &str = "hactl";
pub const DRIFT_METRIC: &str = "DriftedResources";

/// Puts one `DriftedResources` value for `stack`.
pub async fn publish_drift_metric(
    config: &SdkConfig,
    counter: &ApiCounter,
    stack: &str,
    drifted: usize,
) -> Result<(), ProviderError> {
    let cw = crate::client!(aws_sdk_cloudwatch, config, counter);
    let datum = MetricDatum::builder()
        .metric_name(DRIFT_METRIC)
        .dimensions(Dimension::builder().name("Stack").value(stack).build())
        .value(drifted as f64)
        .unit(StandardUnit::Count)
        .timestamp(aws_smithy_types::DateTime::from(std::time::SystemTime::now()))
        .build();
    cw.put_metric_data()
        .namespace(DRIFT_NAMESPACE)
        .metric_data(datum)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("PutMetricData", e))
}

/// The current UTC time as RFC 3339 (`2026-11-22T09:30:00Z`), for log lines.
pub fn utc_now_rfc3339() -> String {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    aws_smithy_types::DateTime::from_secs(now.secs())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
