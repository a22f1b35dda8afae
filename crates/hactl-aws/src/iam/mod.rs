//! IAM providers (roles, instance profiles, customer managed policies, OpenID Connect
//! identity providers) and what they share: tags, ownership, the stack's IAM path, and
//! policy documents (URL-encoded on the wire, compared semantically).

pub mod instance_profile;
pub mod oidc_provider;
pub mod policy;
pub mod role;
mod role_bulk;

use crate::ApiCounter;
use aws_config::SdkConfig;
use aws_sdk_iam::types::Tag;
use hactl_core::{Props, Value};
use hactl_engine::{ProviderError, ReadTarget, Registry};
use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Registers this service's providers.
pub(crate) fn register(r: &mut Registry, config: &SdkConfig, counter: &ApiCounter) {
    let iam = crate::client!(aws_sdk_iam, config, counter);
    r.register(Arc::new(role::Role::new(iam.clone())));
    r.register(Arc::new(instance_profile::InstanceProfile(iam.clone())));
    r.register(Arc::new(policy::Policy(iam.clone())));
    r.register(Arc::new(oidc_provider::OidcProvider(iam)));
}

/// The IAM path every role, instance profile and managed policy of a stack lives under.
pub(crate) fn stack_path(stack: &str) -> String {
    format!("/hactl/{stack}/")
}

/// The paths to list: the paths the targets name in their property `path_key` (the
/// stack's region path,
/// `/hactl/<stack>/<region>/`: one list call), or the stack's path when no target names
/// one. Only the targets' own paths are listed so that the same stack in another region
/// (another path under the stack's) is never read, adopted or deleted from here.
pub(crate) fn paths_to_list(stack: &str, targets: &[ReadTarget], path_key: &str) -> BTreeSet<String> {
    let mut paths: BTreeSet<String> = targets
        .iter()
        .filter_map(|t| t.props.get(path_key).and_then(Value::as_str).map(str::to_string))
        .collect();
    // A path that lies under another listed one is covered by that list call.
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q.as_str())));
    if paths.is_empty() {
        paths.insert(stack_path(stack));
    }
    paths
}

/// The `tags` property as IAM tags.
pub(crate) fn iam_tags(props: &Props) -> Result<Vec<Tag>, ProviderError> {
    tag_list(crate::util::tag_map(props))
}

/// Tags as IAM tags.
pub(crate) fn tag_list(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::fatal(format!("tag: {e}")))
        })
        .collect()
}

/// Live IAM tags as a plain map.
pub(crate) fn tag_pairs(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Live IAM tags as the `tags` property.
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    crate::util::tags_prop(tags.iter().map(|t| (t.key(), t.value())))
}

/// Ownership of an IAM object: (carries this stack's tag, its address). The address is
/// the `hactl:address` tag, or, for an object without any stack tag (tags removed
/// outside hactl), the target whose property `name_key` holds the same name.
pub(crate) fn ownership(
    stack: &str,
    tags: &BTreeMap<String, String>,
    name: &str,
    targets: &[ReadTarget],
    name_key: &str,
) -> (bool, Option<hactl_core::Address>) {
    let (owned, address) = crate::util::owner_of(stack, tags);
    let foreign = !owned && tags.contains_key(hactl_core::TAG_STACK);
    let address = address.or_else(|| {
        if foreign {
            return None;
        }
        crate::util::match_target(targets, |p| p.get(name_key).and_then(Value::as_str) == Some(name)).cloned()
    });
    (owned, address)
}

/// A policy document property as the JSON text IAM takes.
pub(crate) fn policy_text(v: Option<&Value>, what: &str) -> Result<String, ProviderError> {
    match v {
        Some(v @ Value::Map(_)) => Ok(v.to_json().to_string()),
        Some(Value::Str(s)) => Ok(s.clone()),
        _ => Err(ProviderError::fatal(format!("`{what}` is missing or not a policy document"))),
    }
}

/// A policy document as IAM answers it: URL-encoded JSON (RFC 3986) on AWS; the
/// emulator answers some documents plain, and some as a JSON string holding the JSON.
pub(crate) fn parse_policy(text: &str) -> Option<J> {
    fn parse(s: &str) -> Option<J> {
        match serde_json::from_str::<J>(s).ok()? {
            J::String(inner) => serde_json::from_str::<J>(&inner).ok().filter(J::is_object),
            j @ J::Object(_) => Some(j),
            _ => None,
        }
    }
    parse(text).or_else(|| parse(&percent_decode(text)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A policy document in a canonical form for comparison: one statement and one action
/// written as a list or bare are the same, as are list orders of statements, actions,
/// resources, principals and condition values, and condition scalars written as strings
/// or not.
pub(crate) fn canonical_policy(doc: &J) -> J {
    let J::Object(o) = doc else { return doc.clone() };
    let mut out = serde_json::Map::new();
    for (k, v) in o {
        let v = if k == "Statement" {
            let mut stmts: Vec<J> = match v {
                J::Array(a) => a.iter().map(canonical_statement).collect(),
                other => vec![canonical_statement(other)],
            };
            stmts.sort_by_cached_key(|s| s.to_string());
            J::Array(stmts)
        } else {
            v.clone()
        };
        out.insert(k.clone(), v);
    }
    J::Object(sorted(out))
}

fn canonical_statement(s: &J) -> J {
    let J::Object(o) = s else { return s.clone() };
    let mut out = serde_json::Map::new();
    for (k, v) in o {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v),
            "Principal" | "NotPrincipal" => match v {
                J::Object(p) => {
                    J::Object(sorted(p.iter().map(|(k, v)| (k.clone(), string_set(v))).collect()))
                }
                other => other.clone(),
            },
            "Condition" => match v {
                J::Object(ops) => J::Object(sorted(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                J::Object(ks) => J::Object(sorted(
                                    ks.iter().map(|(k, v)| (k.clone(), string_set(v))).collect(),
                                )),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                )),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    J::Object(sorted(out))
}

/// A string or list of scalars as a sorted, deduplicated list of strings.
fn string_set(v: &J) -> J {
    let scalar = |v: &J| match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut items: Vec<String> = match v {
        J::Array(a) => a.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    };
    items.sort();
    items.dedup();
    J::Array(items.into_iter().map(J::String).collect())
}

/// The map with its keys in order (serde_json keeps insertion order here).
fn sorted(m: serde_json::Map<String, J>) -> serde_json::Map<String, J> {
    let b: BTreeMap<String, J> = m.into_iter().collect();
    b.into_iter().collect()
}

/// Whether two policy document values mean the same.
pub(crate) fn same_policy(a: &Value, b: &Value) -> bool {
    let j = |v: &Value| match v {
        Value::Str(s) => parse_policy(s),
        Value::Map(_) => Some(v.to_json()),
        _ => None,
    };
    match (j(a), j(b)) {
        (Some(x), Some(y)) => canonical_policy(&x) == canonical_policy(&y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_encoded_and_plain_documents_parse() {
        let enc = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%5D%7D";
        assert_eq!(parse_policy(enc), Some(json!({"Version": "2012-10-17", "Statement": []})));
        assert_eq!(parse_policy(r#"{"a": 1}"#), Some(json!({"a": 1})));
        // The emulator's ListRoles: a JSON string holding the document, URL-encoded.
        let nested = "%22%7B%5C%22a%5C%22%3A%201%7D%22";
        assert_eq!(parse_policy(nested), Some(json!({"a": 1})));
        assert_eq!(parse_policy("%7"), None);
        assert_eq!(parse_policy("%"), None);
    }

    #[test]
    fn single_statement_and_bare_action_equal_their_list_forms() {
        let desired = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let live = json!({"Statement": {"Action": ["sts:AssumeRole"], "Effect": "Allow",
            "Principal": {"Service": ["ecs-tasks.amazonaws.com"]}}, "Version": "2012-10-17"});
        assert_eq!(canonical_policy(&desired), canonical_policy(&live));
        let want = Value::from_json(&desired);
        assert!(same_policy(&want, &Value::from_json(&live)));
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        assert!(!same_policy(&want, &Value::from_json(&other)));
    }

    #[test]
    fn statement_and_action_order_and_condition_scalars_do_not_matter() {
        let a = json!({"Statement": [
            {"Effect": "Allow", "Action": ["b", "a"], "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": true}}},
            {"Effect": "Deny", "Action": "c", "Resource": "*"}]});
        let b = json!({"Statement": [
            {"Effect": "Deny", "Action": ["c"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["a", "b"], "Resource": ["*"],
             "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]});
        assert_eq!(canonical_policy(&a), canonical_policy(&b));
    }
}
