//! The stack's tag index: the tags of every object of the stack in one location, from the
//! Resource Groups Tagging API instead of one ListTagsForResource per object.
//!
//! One GetResources call sequence per refresh and location (TagFilters `hactl:stack` =
//! the stack, [`RESOURCE_TYPES`], 100 per page, paginated) gives ARN → tags for every
//! object that carries the stack's tag; it is shared by the providers of that location
//! through the refresh's read cache (`ctx.cache`). A provider then reads a candidate's
//! tags with [`TagIndex::tags`], telling it what state and the targets know of the
//! candidate ([`Known`]); [`TagIndex::lookup`] decides:
//! - an object state records, in the index with the tags state recorded for it (its
//!   `tags` property; or state recorded none): its tags from the index, no call. This is
//!   every object of an untouched stack, so its refresh costs no tag call;
//! - an object state records whose indexed tags differ from the recorded ones: one tag call
//!   of its service (the index may still show the tags before an apply that changed them);
//! - an object in the index that state does not record (it would be adopted: a crash
//!   orphan, or an object a stale index lists under the stack's tags): one tag call, so
//!   only its live tags can make it the stack's;
//! - an object not in the index that the read wants (recorded in state, or named as a
//!   target names it): one tag call, as before, since it may have lost the stack's tags or
//!   carry another stack's;
//! - any other object (a name that merely shares the stack's prefix): not the stack's, no
//!   call.
//!
//! Ownership is then decided from the tags exactly as before (the ownership rule: the
//! stack's tags, or its id in state).
//!
//! Where the Tagging API is not available (a partition or endpoint without it: AWS answers
//! that it does not know the operation or the service, or the endpoint does not resolve)
//! or the caller may not use it (AccessDenied: an IAM policy written before hactl read
//! tags this way, without `tag:GetResources`), the index is [`TagIndex::Unavailable`] and
//! every candidate the provider would have read before gets its own tag call, as before. A
//! refusal is remembered by the [`Tagging`] (and its clones) for the rest of the process,
//! so it costs one refused call, logged at debug level. Any other failure (throttling past
//! the retries, a refused connection) fails the read like any other call.
//!
//! The Tagging API is eventually consistent: an object created or re-tagged a moment ago
//! may be missing from the index, or listed with its previous tags. A missing object that
//! state records or a target names is read with its own call (so a crash orphan is still
//! adopted and a lost tag still noticed), and so is one listed with other tags than state
//! recorded, or listed but not recorded (above). Tags changed out of band a moment ago may
//! read as before until the index catches up.

use crate::error::aws_error;
use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use aws_sdk_resourcegroupstagging::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use hactl_core::Value;
use hactl_engine::{Ctx, ProviderError, ReadTarget};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Tags of one object, by key.
pub(crate) type Tags = BTreeMap<String, String>;

/// The services (and resource types) whose objects the index is read for
/// (`ResourceTypeFilters`): the kinds that take their tags from it. Other services'
/// objects of the stack (EC2, ECS, ...) carry their tags in their own describe answers and
/// would only add pages. DocumentDB's objects are `rds` ARNs. ELBv2 load balancers and
/// target groups are indexed (their DescribeTags takes 20 ARNs a call: 5 calls for 94
/// target groups); listeners and listener rules are not (not every partition's index
/// lists them), so they keep DescribeTags.
pub(crate) const RESOURCE_TYPES: &[&str] = &[
    "acm",
    "cloudwatch",
    "ecr",
    "es:domain",
    "elasticloadbalancing:loadbalancer",
    "elasticloadbalancing:targetgroup",
    "events:rule",
    "logs",
    "rds",
    "scheduler",
    "sns",
    "states:stateMachine",
];

/// GetResources answers at most this many objects a page.
const PAGE: i32 = 100;

/// Error codes that say the Tagging API (or GetResources) is not served at this endpoint.
const UNAVAILABLE_CODES: &[&str] = &[
    "UnknownOperationException",
    "UnknownOperation",
    "InvalidAction",
    "NotImplemented",
    "UnsupportedOperation",
    "UnsupportedOperationException",
];

/// Error codes that say the caller may not use GetResources (its IAM policy lacks
/// `tag:GetResources`).
const REFUSED_CODES: &[&str] =
    &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"];

/// The property holding a kind's tags (every kind read from the index has one).
const TAGS_PROP: &str = "tags";

/// The Resource Groups Tagging API of one region: builds the stack's [`TagIndex`].
/// `refused`: GetResources answered AccessDenied once; this Tagging (and its clones) reads
/// no index for the rest of the process.
#[derive(Clone, Debug)]
pub struct Tagging {
    client: Client,
    refused: Arc<AtomicBool>,
}

impl Tagging {
    /// The Tagging API client of `config`'s region, every call counted by `counter` and
    /// retried like every other client's.
    pub fn new(config: &SdkConfig, counter: &ApiCounter) -> Self {
        Tagging::from_client(crate::client!(aws_sdk_resourcegroupstagging, config, counter))
    }

    /// A Tagging on a client built elsewhere (tests: one with an interceptor).
    pub fn from_client(client: Client) -> Self {
        Tagging { client, refused: Arc::default() }
    }

    /// The stack's tag index at `ctx`'s location, read once per refresh (shared through
    /// `ctx.cache` by every provider of the location).
    pub(crate) async fn index(&self, ctx: &Ctx) -> Result<Arc<TagIndex>, ProviderError> {
        let key = format!("tagging:GetResources:{}", ctx.stack);
        ctx.cache
            .get_or_try_init(&key, || async {
                if self.refused.load(Ordering::Relaxed) {
                    return Ok(TagIndex::Unavailable);
                }
                self.fetch(&ctx.stack).await
            })
            .await
    }

    /// GetResources of the stack's tag, every page.
    async fn fetch(&self, stack: &str) -> Result<TagIndex, ProviderError> {
        let filter = TagFilter::builder().key(hactl_core::TAG_STACK).values(stack).build();
        let pages = self
            .client
            .get_resources()
            .tag_filters(filter)
            .set_resource_type_filters(Some(RESOURCE_TYPES.iter().map(|t| t.to_string()).collect()))
            .resources_per_page(PAGE)
            .into_paginator()
            .send()
            .try_collect()
            .await;
        let pages = match pages {
            Ok(p) => p,
            Err(e) if unavailable(&e) => return Ok(TagIndex::Unavailable),
            Err(e) if refused(&e) => {
                tracing::debug!(
                    "tag index: GetResources refused ({}); reading tags per object",
                    e.code().unwrap_or("denied")
                );
                self.refused.store(true, Ordering::Relaxed);
                return Ok(TagIndex::Unavailable);
            }
            Err(e) => return Err(aws_error("GetResources", e)),
        };
        let mut by_arn = HashMap::new();
        for mapping in pages.iter().flat_map(|p| p.resource_tag_mapping_list()) {
            let Some(arn) = mapping.resource_arn() else { continue };
            let tags = mapping.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            by_arn.insert(arn_key(arn).to_string(), tags);
        }
        Ok(TagIndex::Indexed(by_arn))
    }
}

/// Whether a GetResources failure says the Tagging API is not served here: an
/// "unknown operation" answer, HTTP 404 or 501 (no such service at this endpoint, or one
/// that does not implement it), or a host name that does not resolve (no endpoint in this
/// partition).
fn unavailable<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    if let Some(status) = e.raw_response().map(|r| r.status().as_u16()) {
        if status == 404 || status == 501 {
            return true;
        }
    }
    match e {
        SdkError::ServiceError(s) => s.err().code().is_some_and(|c| UNAVAILABLE_CODES.contains(&c)),
        SdkError::DispatchFailure(d) => d.as_connector_error().is_some_and(|c| {
            let chain = hactl_awserror::chain_line(c).to_ascii_lowercase();
            chain.contains("dns error") || chain.contains("failed to lookup address")
        }),
        _ => false,
    }
}

/// Whether a GetResources failure says the caller may not call it (fall back, do not fail).
fn refused<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => s.err().code().is_some_and(|c| REFUSED_CODES.contains(&c)),
        _ => false,
    }
}

/// How an index names an object: its ARN without a trailing `:*` (log groups are listed
/// both ways).
fn arn_key(arn: &str) -> &str {
    arn.strip_suffix(":*").unwrap_or(arn)
}

/// The tags of the stack's objects at one location.
#[derive(Clone, Debug)]
pub(crate) enum TagIndex {
    /// ARN → tags of every object carrying the stack's `hactl:stack` tag.
    Indexed(HashMap<String, Tags>),
    /// No Tagging API here, or the caller may not use it: every candidate is asked for its
    /// tags.
    Unavailable,
}

/// What the read knows of a candidate object besides the index.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Known<'a> {
    /// State records it: this target (whose recorded `tags` property, when there is one, is
    /// what the last apply left on it).
    Recorded(&'a ReadTarget),
    /// A target names it (by its name property), but state does not record it.
    Named,
    /// Neither: an object that merely shares the stack's name prefix.
    Unknown,
}

impl<'a> Known<'a> {
    /// From the target whose recorded id is the object's, if any, and whether a target
    /// names it.
    pub(crate) fn of(recorded: Option<&'a ReadTarget>, named: bool) -> Self {
        match recorded {
            Some(t) => Known::Recorded(t),
            None if named => Known::Named,
            None => Known::Unknown,
        }
    }

    /// The tags state recorded for the object, when it records them.
    fn recorded_tags(self) -> Option<Tags> {
        let Known::Recorded(t) = self else { return None };
        t.recorded.as_ref()?.get(TAGS_PROP).map(Value::string_map)
    }
}

/// Where a candidate's tags come from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// The index holds it, with the tags state recorded (or state recorded none).
    Indexed(&'a Tags),
    /// One tag call of its service.
    Ask,
    /// Not the stack's: no call, not read.
    Skip,
}

/// Whether the index's tags of an object are the ones state recorded: the same, AWS's own
/// `aws:` keys aside (state never records those).
fn same_tags(indexed: &Tags, recorded: &Tags) -> bool {
    let theirs = |t: &Tags| t.iter().filter(|(k, _)| !k.starts_with("aws:")).count();
    theirs(indexed) == theirs(recorded)
        && recorded.iter().filter(|(k, _)| !k.starts_with("aws:")).all(|(k, v)| indexed.get(k) == Some(v))
}

impl TagIndex {
    /// Where the tags of the object `arn` come from, given what the read `known`s of it
    /// (see the module doc).
    pub(crate) fn lookup(&self, arn: &str, known: Known<'_>) -> Lookup<'_> {
        let TagIndex::Indexed(by_arn) = self else { return Lookup::Ask };
        match (by_arn.get(arn_key(arn)), known) {
            (Some(tags), Known::Recorded(_)) => match known.recorded_tags() {
                Some(recorded) if !same_tags(tags, &recorded) => Lookup::Ask,
                _ => Lookup::Indexed(tags),
            },
            // It would be adopted: only its live tags may make it the stack's.
            (Some(_), Known::Named | Known::Unknown) => Lookup::Ask,
            (None, Known::Recorded(_) | Known::Named) => Lookup::Ask,
            (None, Known::Unknown) => Lookup::Skip,
        }
    }

    /// The tags of the object `arn`: from the index, or from `ask` (its service's tag
    /// call; `None`: the object is gone) when [`TagIndex::lookup`] says so. `None` for an
    /// object that is not the stack's (not indexed, not known) or is gone.
    pub(crate) async fn tags<F, Fut>(
        &self,
        arn: &str,
        known: Known<'_>,
        ask: F,
    ) -> Result<Option<Tags>, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Tags>, ProviderError>>,
    {
        match self.lookup(arn, known) {
            Lookup::Indexed(tags) => Ok(Some(tags.clone())),
            Lookup::Ask => ask().await,
            Lookup::Skip => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    type Sdk = SdkError<GetResourcesError, HttpResponse>;

    fn answer(status: u16, code: &str) -> Sdk {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from("{}"));
        SdkError::service_error(GetResourcesError::generic(meta), response)
    }

    fn stack_tags(stack: &str, address: &str) -> Tags {
        Tags::from([
            (hactl_core::TAG_STACK.to_string(), stack.to_string()),
            (hactl_core::TAG_ADDRESS.to_string(), address.to_string()),
        ])
    }

    fn index(pairs: &[(&str, Tags)]) -> TagIndex {
        TagIndex::Indexed(pairs.iter().map(|(arn, tags)| (arn.to_string(), tags.clone())).collect())
    }

    /// A target state records, with `tags` as its recorded `tags` property (None: state
    /// recorded no tags property).
    fn recorded(tags: Option<&Tags>) -> ReadTarget {
        let mut props = hactl_core::Props::new();
        if let Some(t) = tags {
            props.insert(TAGS_PROP.to_string(), Value::from_string_map(t.clone()));
        }
        ReadTarget {
            address: hactl_core::Address::parse("log_group.a").unwrap(),
            id: Some("/hactl/s/a".to_string()),
            props: props.clone(),
            recorded: Some(props),
        }
    }

    #[test]
    fn a_recorded_object_with_its_recorded_tags_needs_no_call_any_other_indexed_one_is_asked() {
        let a = "arn:aws:logs:r:1:log-group:/hactl/s/a";
        let tags = stack_tags("s", "log_group.a");
        let i = index(&[(a, tags.clone())]);
        let same = recorded(Some(&tags));
        // State recorded these tags: the index's answer, no call (an untouched stack).
        assert_eq!(i.lookup(&format!("{a}:*"), Known::Recorded(&same)), Lookup::Indexed(&tags));
        // AWS's own keys in the index are no difference.
        let mut with_aws = tags.clone();
        with_aws.insert("aws:cloudformation:stack-name".to_string(), "x".to_string());
        let i_aws = index(&[(a, with_aws)]);
        assert!(matches!(i_aws.lookup(a, Known::Recorded(&same)), Lookup::Indexed(_)));
        // State recorded no tags: the index's answer.
        assert!(matches!(i.lookup(a, Known::Recorded(&recorded(None))), Lookup::Indexed(_)));
        // The index shows other tags than the last apply left (it has not caught up, or
        // someone changed them): the object's own tag call decides.
        let mut changed = tags.clone();
        changed.insert("team".to_string(), "x".to_string());
        assert_eq!(i.lookup(a, Known::Recorded(&recorded(Some(&changed)))), Lookup::Ask);
        let mut fewer = tags.clone();
        fewer.remove(hactl_core::TAG_ADDRESS);
        assert_eq!(i.lookup(a, Known::Recorded(&recorded(Some(&fewer)))), Lookup::Ask);
        // In the index but not in state: it would be adopted, so its own tags decide.
        assert_eq!(i.lookup(a, Known::Named), Lookup::Ask);
        assert_eq!(i.lookup(a, Known::Unknown), Lookup::Ask);
    }

    #[test]
    fn an_unindexed_object_is_asked_only_when_known_and_without_an_index_always() {
        let i = index(&[("arn:aws:logs:r:1:log-group:/hactl/s/a", stack_tags("s", "log_group.a"))]);
        let b = "arn:aws:logs:r:1:log-group:/hactl/s/b";
        let t = recorded(Some(&stack_tags("s", "log_group.b")));
        assert_eq!(i.lookup(b, Known::Recorded(&t)), Lookup::Ask);
        assert_eq!(i.lookup(b, Known::Named), Lookup::Ask);
        assert_eq!(i.lookup(b, Known::Unknown), Lookup::Skip);
        // Without a Tagging API every candidate is asked for.
        for known in [Known::Recorded(&t), Known::Named, Known::Unknown] {
            assert_eq!(TagIndex::Unavailable.lookup("arn:x", known), Lookup::Ask);
        }
    }

    #[test]
    fn known_is_recorded_before_named() {
        let t = recorded(None);
        assert!(matches!(Known::of(Some(&t), true), Known::Recorded(_)));
        assert!(matches!(Known::of(None, true), Known::Named));
        assert!(matches!(Known::of(None, false), Known::Unknown));
    }

    #[tokio::test]
    async fn tags_come_from_the_index_or_the_asked_call() {
        let mine = stack_tags("s", "log_group.a");
        let i = index(&[("arn:a", mine.clone())]);
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let count = || asked.load(std::sync::atomic::Ordering::SeqCst);
        // The object's own tags: a stale index said it was the stack's; it is not.
        let live = Tags::from([(hactl_core::TAG_STACK.to_string(), "other".to_string())]);
        let ask = || async {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some(live.clone()))
        };
        let same = recorded(Some(&mine));
        assert_eq!(i.tags("arn:a", Known::Recorded(&same), ask).await.unwrap(), Some(mine.clone()));
        assert_eq!(count(), 0);
        assert_eq!(i.tags("arn:b", Known::Unknown, ask).await.unwrap(), None);
        assert_eq!(count(), 0);
        assert_eq!(i.tags("arn:b", Known::Named, ask).await.unwrap(), Some(live.clone()));
        assert_eq!(count(), 1);
        // An unrecorded object the index lists as the stack's: the asked tags, not the index's.
        assert_eq!(i.tags("arn:a", Known::Unknown, ask).await.unwrap(), Some(live.clone()));
        assert_eq!(count(), 2);
    }

    #[test]
    fn only_a_missing_service_or_operation_is_unavailable() {
        assert!(unavailable(&answer(400, "UnknownOperationException")));
        assert!(unavailable(&answer(501, "InternalFailure")), "an endpoint that does not implement it");
        assert!(unavailable(&answer(404, "NotFound")));
        assert!(!unavailable(&answer(400, "AccessDeniedException")), "a refusal, not a missing API");
        assert!(!unavailable(&answer(400, "ThrottlingException")));
        assert!(!unavailable(&answer(500, "InternalServiceException")));
        let dns: Box<dyn std::error::Error + Send + Sync> =
            "dns error: failed to lookup address information: Name or service not known".into();
        assert!(unavailable(&Sdk::dispatch_failure(ConnectorError::io(dns))));
        let conn: Box<dyn std::error::Error + Send + Sync> = "connection refused".into();
        assert!(!unavailable(&Sdk::dispatch_failure(ConnectorError::io(conn))));
    }

    #[test]
    fn only_a_permission_answer_is_a_refusal() {
        for code in
            ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"]
        {
            assert!(refused(&answer(400, code)), "{code}");
        }
        assert!(!refused(&answer(400, "ThrottlingException")));
        assert!(!refused(&answer(500, "InternalServiceException")));
        assert!(!refused(&answer(400, "UnknownOperationException")));
        let conn: Box<dyn std::error::Error + Send + Sync> = "connection refused".into();
        assert!(!refused(&Sdk::dispatch_failure(ConnectorError::io(conn))));
    }
}
