//! ELBv2 providers (the traffic tier): application load balancers, target groups,
//! listeners and listener rules, and what they share: tags (DescribeTags in batches of
//! 20, or the stack's tag index for load balancers and target groups; AddTags /
//! RemoveTags) and ARN helpers.

pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod target_group;

use crate::error::{aws_error, retry_not_found};
use crate::tagging::{Known, Lookup, TagIndex, Tagging};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use aws_sdk_elasticloadbalancingv2::Client;
use hactl_core::Props;
use hactl_engine::{ProviderError, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers. The load balancer also gets an EC2 client: its
/// delete waits until the load balancer's network interfaces are gone.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let elb = crate::client!(aws_sdk_elasticloadbalancingv2, config, counter);
    let ec2 = crate::client!(aws_sdk_ec2, config, counter);
    let tagging = Tagging::new(config, counter);
    r.register(Arc::new(load_balancer::LoadBalancer { elb: elb.clone(), ec2, tagging: tagging.clone() }));
    r.register(Arc::new(target_group::TargetGroup(elb.clone(), tagging)));
    r.register(Arc::new(listener_rule::ListenerRule::new(elb.clone())));
    r.register(Arc::new(listener::Listener(elb)));
}

/// DescribeTags accepts at most this many ARNs per call.
const TAG_BATCH: usize = 20;

/// The tags of every ARN, as plain maps (DescribeTags in batches of 20). ARNs that no
/// longer exist answer an empty map (or are left out).
pub(crate) async fn describe_tags(
    client: &Client,
    arns: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ProviderError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(TAG_BATCH) {
        match tags_call(client, chunk).await {
            Ok(tags) => out.extend(tags),
            // One ARN of the batch went away between the describe and this call: ask
            // for each one on its own, skipping the missing ones.
            Err(e) if crate::error::is_not_found(&e) => {
                for arn in chunk {
                    match tags_call(client, std::slice::from_ref(arn)).await {
                        Ok(tags) => out.extend(tags),
                        Err(e) if crate::error::is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The tags of the candidates (ARN, what the read knows of it) of a kind the stack's tag
/// index holds ([`crate::tagging::RESOURCE_TYPES`]): from the index where
/// [`TagIndex::lookup`] allows (every object of an untouched stack), the others with
/// DescribeTags in batches of 20. A candidate the index rules out (not indexed, not
/// recorded, not named) is left out: it is not the stack's.
pub(crate) async fn indexed_tags(
    client: &Client,
    index: &TagIndex,
    candidates: Vec<(String, Known<'_>)>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ProviderError> {
    let mut out = BTreeMap::new();
    let mut ask = Vec::new();
    for (arn, known) in candidates {
        match index.lookup(&arn, known) {
            Lookup::Indexed(tags) => {
                out.insert(arn, tags.clone());
            }
            Lookup::Ask => ask.push(arn),
            Lookup::Skip => {}
        }
    }
    out.extend(describe_tags(client, &ask).await?);
    Ok(out)
}

/// What a read knows of the object `arn` named `name`: recorded in state (a target's id),
/// named by a target's `name_key` property, or neither.
pub(crate) fn known_of<'a>(
    targets: &'a [hactl_engine::ReadTarget],
    arn: &str,
    name_key: &str,
    name: Option<&str>,
) -> Known<'a> {
    let recorded = targets.iter().find(|t| t.id.as_deref() == Some(arn));
    let named = name.is_some_and(|n| {
        targets.iter().any(|t| t.props.get(name_key).and_then(hactl_core::Value::as_str) == Some(n))
    });
    Known::of(recorded, named)
}

async fn tags_call(
    client: &Client,
    arns: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ProviderError> {
    let resp = client
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| aws_error("DescribeTags", e))?;
    Ok(resp
        .tag_descriptions()
        .iter()
        .filter_map(|d| {
            let tags = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect();
            Some((d.resource_arn()?.to_string(), tags))
        })
        .collect())
}

/// The adoption rule of a create that finds the name taken by `arn`
/// ([`crate::util::ensure_ours`] on its tags, read with DescribeTags).
pub(crate) async fn ensure_own(
    client: &Client,
    ctx: &hactl_engine::Ctx,
    address: &hactl_core::Address,
    arn: &str,
    what: &str,
    code: &str,
) -> Result<(), ProviderError> {
    let tags = describe_tags(client, &[arn.to_string()]).await?;
    crate::util::ensure_ours(ctx, address, &tags.get(arn).cloned().unwrap_or_default(), what, code)
}

/// The `tags` property as ELBv2 tags.
pub(crate) fn tags_of(props: &Props) -> Vec<Tag> {
    crate::util::tag_map(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// ELBv2's tag calls: AddTags for new or changed values, RemoveTags for removed keys.
#[async_trait::async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self.add_tags().resource_arns(arn).set_tags(Some(tags)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("AddTags", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.remove_tags().resource_arns(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("RemoveTags", e)))
    }
}

/// The resource part of an ELBv2 ARN (after `...:<account>:`): `loadbalancer/app/n/id`,
/// `targetgroup/n/id`, `listener/app/n/lbid/id`, `listener-rule/app/n/lbid/lid/id`.
pub(crate) fn arn_resource(arn: &str) -> &str {
    arn.splitn(6, ':').nth(5).unwrap_or(arn)
}

/// The ids recorded in state for the targets.
pub(crate) fn target_ids(targets: &[hactl_engine::ReadTarget]) -> std::collections::BTreeSet<String> {
    targets.iter().filter_map(|t| t.id.clone()).collect()
}

/// Errors of a delete that lingering dependencies cause (a listener still forwarding to
/// a target group, a certificate in use): worth retrying.
pub(crate) fn retry_in_use(mut e: ProviderError) -> ProviderError {
    if matches!(e.code(), Some("ResourceInUse" | "ResourceInUseException")) {
        e.make_retryable();
    }
    e
}
