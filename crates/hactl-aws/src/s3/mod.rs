//! S3 providers (see crates/hactl-aws/KINDS-observability.md): the bucket of the log
//! shipper's failed batches.

pub mod bucket;

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;
use std::sync::Arc;

/// Registers this service's providers. Path-style addressing when a custom endpoint is
/// set (an emulator at `http://127.0.0.1:4566` has no `<bucket>.` host names).
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let mut b = aws_sdk_s3::config::Builder::from(config)
        .interceptor(counter.clone())
        .retry_partition(crate::retry_partition("aws_sdk_s3"))
        .retry_classifier(crate::RefusedIsFinal);
    if config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        b = b.force_path_style(true);
    }
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    r.register(Arc::new(bucket::Bucket { client: aws_sdk_s3::Client::from_conf(b.build()), region }));
}
