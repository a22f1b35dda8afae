//! EventBridge providers (see crates/hactl-aws/KINDS-data.md): the rule that starts the
//! services' redeployment when the database's master password rotates.

pub mod rule;

use crate::error::{aws_error, retry_not_found};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::Tag;
use aws_sdk_eventbridge::Client;
use hactl_engine::{ProviderError, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let events = crate::client!(aws_sdk_eventbridge, config, counter);
    r.register(Arc::new(rule::Rule(events, crate::tagging::Tagging::new(config, counter))));
}

fn tag_list(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::fatal(format!("EventBridge tag: {e}")))
        })
        .collect()
}

/// EventBridge's tag calls (rules, by ARN): TagResource, UntagResource.
#[async_trait::async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.tag_resource().resource_arn(arn).set_tags(Some(tag_list(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}
