//! Route 53 providers (see crates/hactl-aws/KINDS-dns.md): hosted zones (public, or private
//! to one VPC), health checks and alias records (failover, or simple such as a private
//! zone's wildcard), and what they share: DNS name comparison (case, trailing dot, Route
//! 53's escape codes), Route 53's error codes, caller references, and tags
//! (ListTagsForResources in batches of 10, ChangeTagsForResource).

pub mod health_check;
pub mod hosted_zone;
pub mod record;

use crate::error::{aws_error, retry_not_found};
use crate::util::tags::Tagger;
use crate::ApiCounter;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_route53::types::{Tag, TagResourceType};
use aws_sdk_route53::Client;
use hactl_core::{Address, Props, Value};
use hactl_engine::{Ctx, ProviderError, ReadTarget, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let route53 = crate::client!(aws_sdk_route53, config, counter);
    r.register(Arc::new(hosted_zone::HostedZone(route53.clone())));
    r.register(Arc::new(health_check::HealthCheck(route53.clone())));
    r.register(Arc::new(record::Record(route53)));
}

/// ListTagsForResources and ChangeTagsForResource take at most 10 ids / tags / keys.
const TAG_BATCH: usize = 10;

/// The prefix of every caller reference hactl sends: objects other tools created are never
/// candidates of a read unless state records them or their name is a target's.
pub(crate) const CALLER_PREFIX: &str = "hactl-";

/// A DNS name in the form names are compared in: lowercase, no trailing dot (Route 53
/// answers `example.com.` for `Example.com`), Route 53's escape codes read back (its
/// ListResourceRecordSets answers `\052.example.com.` for `*.example.com`).
pub(crate) fn dns_name(s: &str) -> String {
    unescape(s.trim_end_matches('.')).to_ascii_lowercase()
}

/// `s` with every `\ddd` (three octal digits) escape of a printable ASCII character other
/// than `.` and `\` replaced by that character; other escapes (`\056`, a dot inside a label;
/// bytes outside printable ASCII) are kept as written, so no two names become one.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let code = tail
            .get(..3)
            .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .and_then(|d| u8::from_str_radix(d, 8).ok())
            .filter(|c| c.is_ascii_graphic() && !matches!(c, b'.' | b'\\'));
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &tail[3..];
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The caller reference of a create: the same stack, address, properties and generation
/// give the same reference (a create retried after a crash reuses it: Route 53 answers the
/// object it made, or HostedZoneAlreadyExists), anything else a new one.
pub(crate) fn caller_reference(ctx: &Ctx, address: &Address, props: &Props) -> String {
    format!("{CALLER_PREFIX}{}", crate::util::client_token(ctx, address, props))
}

/// The caller reference the create of `t` sends (its generation is the id state records
/// for it, as at apply), so a read knows the object of a create cut short before its tags
/// were set.
pub(crate) fn target_reference(ctx: &Ctx, t: &ReadTarget) -> String {
    let mut c = ctx.clone();
    c.generation = t.id.clone();
    caller_reference(&c, &t.address, &t.props)
}

/// A Route 53 error as the engine needs it: `NoSuchHostedZone`, `NoSuchHealthCheck`, ... are
/// "not found"; `PriorRequestNotComplete` (a change of the same object still running) is
/// retried.
pub(crate) fn classify(e: ProviderError) -> ProviderError {
    let code = e.code().unwrap_or_default();
    if code == "PriorRequestNotComplete" {
        return e.into_retryable();
    }
    if code.starts_with("NoSuch") && !e.is_not_found() {
        let detail = e.detail().clone();
        return ProviderError::NotFound(detail);
    }
    e
}

/// The `tags` property as Route 53 tags.
fn route53_tags(tags: BTreeMap<String, String>) -> Vec<Tag> {
    tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags of the objects `ids` of one resource type, by id (ListTagsForResources, 10 ids
/// per call, the calls concurrent). An id Route 53 answers no tag set for has no tags.
pub(crate) async fn tags_of(
    client: &Client,
    kind: TagResourceType,
    ids: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ProviderError> {
    let calls = ids.chunks(TAG_BATCH).map(|chunk| {
        let kind = kind.clone();
        async move {
            let out = client
                .list_tags_for_resources()
                .resource_type(kind)
                .set_resource_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify(aws_error("ListTagsForResources", e)))?;
            Ok::<_, ProviderError>(out.resource_tag_sets().to_vec())
        }
    });
    let mut out = BTreeMap::new();
    for sets in futures::future::try_join_all(calls).await? {
        for s in sets {
            let Some(id) = s.resource_id() else { continue };
            let tags = s.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())));
            out.insert(id.to_string(), tags.collect());
        }
    }
    Ok(out)
}

/// Live tags as the `tags` property.
pub(crate) fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    crate::util::tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The tag calls of one Route 53 resource type (hosted zones or health checks, by id):
/// ChangeTagsForResource with AddTags, then with RemoveTagKeys, 10 per call.
pub(crate) struct Tagging<'a> {
    pub client: &'a Client,
    pub kind: TagResourceType,
}

#[async_trait]
impl Tagger for Tagging<'_> {
    async fn set_tag_values(&self, id: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = route53_tags(tags);
        for chunk in tags.chunks(TAG_BATCH) {
            self.client
                .change_tags_for_resource()
                .resource_type(self.kind.clone())
                .resource_id(id)
                .set_add_tags(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| retry_not_found(classify(aws_error("ChangeTagsForResource", e))))?;
        }
        Ok(())
    }

    async fn remove_tag_keys(&self, id: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        for chunk in keys.chunks(TAG_BATCH) {
            self.client
                .change_tags_for_resource()
                .resource_type(self.kind.clone())
                .resource_id(id)
                .set_remove_tag_keys(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| retry_not_found(classify(aws_error("ChangeTagsForResource", e))))?;
        }
        Ok(())
    }
}

/// Which object of a read is the stack's: `Some((owned, address))` to return it, `None` to
/// leave it out. Ownership: the stack's `hactl:stack` tag (address from `hactl:address`),
/// else the id state records for a target, else a caller reference only a target's create
/// sends (a create cut short before its tags were set). An object of none of these is
/// returned only when `natural` names a target (a name the stack wants, taken): not owned,
/// so the plan reports a conflict and never adopts it.
pub(crate) fn ownership(
    stack: &str,
    tags: &BTreeMap<String, String>,
    id: &str,
    caller_reference: &str,
    targets: &[(&ReadTarget, String)],
    natural: Option<&Address>,
) -> Option<(bool, Option<Address>)> {
    let recorded = targets.iter().find(|(t, _)| t.id.as_deref() == Some(id)).map(|(t, _)| t.address.clone());
    let (owned, tagged) = crate::util::owner_of(stack, tags);
    if owned {
        return Some((true, tagged.or(recorded)));
    }
    if recorded.is_some() {
        return Some((false, recorded));
    }
    if let Some((t, _)) = targets.iter().find(|(_, reference)| reference == caller_reference) {
        return Some((true, Some(t.address.clone())));
    }
    natural.map(|a| (false, Some(a.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hactl_core::{TAG_ADDRESS, TAG_STACK};

    fn target(address: &str, id: Option<&str>) -> ReadTarget {
        ReadTarget {
            address: Address::parse(address).unwrap(),
            id: id.map(str::to_string),
            props: Props::new(),
            recorded: None,
        }
    }

    #[test]
    fn names_compare_without_case_and_trailing_dot() {
        assert_eq!(dns_name("WWW.Example.com."), "www.example.com");
        assert_eq!(dns_name("example.com"), "example.com");
    }

    #[test]
    fn escape_codes_read_back_as_the_characters_route53_was_given() {
        // Route 53 answers a wildcard record's `*` as `\052`.
        assert_eq!(dns_name("\\052.App.internal."), "*.app.internal");
        assert_eq!(dns_name("*.app.internal"), "*.app.internal");
        assert_eq!(dns_name("a\\137b.example.com"), "a_b.example.com");
        // A dot inside a label, a backslash, bytes outside printable ASCII, and what is no
        // escape stay as written.
        assert_eq!(dns_name("a\\056b.example.com"), "a\\056b.example.com");
        assert_eq!(dns_name("a\\134b.x"), "a\\134b.x");
        assert_eq!(dns_name("f\\374bar.x"), "f\\374bar.x");
        assert_eq!(dns_name("a\\08.x"), "a\\08.x");
        assert_eq!(dns_name("a\\05"), "a\\05");
        assert_eq!(dns_name("trailing\\"), "trailing\\");
    }

    #[test]
    fn ownership_by_tag_state_or_reference_and_conflicts_by_name() {
        let a = target("zone.main", Some("Z1"));
        let b = target("zone.other", None);
        let targets = [(&a, "hactl-a".to_string()), (&b, "hactl-b".to_string())];
        let tags = |stack: &str, addr: &str| {
            BTreeMap::from([
                (TAG_STACK.to_string(), stack.to_string()),
                (TAG_ADDRESS.to_string(), addr.to_string()),
            ])
        };
        let none = BTreeMap::new();
        let main = Some(Address::parse("zone.main").unwrap());
        // Tagged: ours, at the tag's address.
        assert_eq!(
            ownership("s", &tags("s", "zone.x"), "Z9", "r", &targets, None),
            Some((true, Some(Address::parse("zone.x").unwrap())))
        );
        // In state, tags removed: matched by id (not owned: found by id, not by name).
        assert_eq!(ownership("s", &none, "Z1", "r", &targets, None), Some((false, main.clone())));
        // A create cut short before its tags: its caller reference.
        assert_eq!(
            ownership("s", &none, "Z2", "hactl-b", &targets, None),
            Some((true, Some(b.address.clone())))
        );
        // Another stack's or nobody's object with a target's name: a conflict, not ours.
        let natural = Address::parse("zone.other").unwrap();
        assert_eq!(
            ownership("s", &tags("t", "zone.other"), "Z3", "x", &targets, Some(&natural)),
            Some((false, Some(natural.clone())))
        );
        assert_eq!(ownership("s", &none, "Z3", "x", &targets, None), None);
    }
}
