//! cloudwatch providers (see crates/hactl-aws/KINDS-observability.md).

pub mod alarm;
pub mod dashboard;

use crate::error::{aws_error, retry_not_found};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::Tag;
use hactl_engine::{ProviderError, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let cw = crate::client!(aws_sdk_cloudwatch, config, counter);
    r.register(Arc::new(alarm::Alarm::new(cw.clone(), crate::tagging::Tagging::new(config, counter))));
    r.register(Arc::new(dashboard::Dashboard(cw)));
}

/// The tags of an alarm or dashboard (by ARN).
pub(crate) async fn tags(
    client: &aws_sdk_cloudwatch::Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client.list_tags_for_resource().resource_arn(arn).send().await;
    let out = out.map_err(|e| retry_not_found(aws_error("ListTagsForResource", e)))?;
    Ok(out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect())
}

/// CloudWatch's tag calls (alarms and dashboards, by ARN): TagResource, UntagResource.
#[async_trait::async_trait]
impl Tagger for aws_sdk_cloudwatch::Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let list = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(list)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}
