//! Helpers shared by providers of every service.

use hactl_core::{Address, Props, Value};
use hactl_engine::ProviderError;
use sha2::{Digest, Sha256};

pub(crate) mod batch;
pub(crate) mod tags;

/// Every item of a paginated describe call with one filter (any service):
/// `describe_all!(client, describe_vpcs, filters, filter, "DescribeVpcs")`.
macro_rules! describe_all {
    ($client:expr, $op:ident, $filter:ident, $f:expr, $name:literal) => {
        $client
            .$op()
            .$filter($f)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| crate::error::aws_error($name, e))
    };
}
pub(crate) use describe_all;

/// A required string property.
pub(crate) fn req_str<'a>(props: &'a Props, name: &str) -> Result<&'a str, ProviderError> {
    props
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing or not a string")))
}

pub(crate) fn opt_str<'a>(props: &'a Props, name: &str) -> Option<&'a str> {
    props.get(name).and_then(Value::as_str)
}

pub(crate) fn opt_bool(props: &Props, name: &str) -> Option<bool> {
    props.get(name).and_then(Value::as_bool)
}

/// An Int property as i32 (None when absent or out of range).
pub(crate) fn opt_i32(props: &Props, name: &str) -> Option<i32> {
    props.get(name).and_then(Value::as_int).and_then(|i| i32::try_from(i).ok())
}

/// An Int property as i32, strictly: None when absent or Null, an error when out of range
/// or not an integer.
pub(crate) fn int_prop(props: &Props, name: &str) -> Result<Option<i32>, ProviderError> {
    match props.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) => i32::try_from(*i)
            .map(Some)
            .map_err(|_| ProviderError::fatal(format!("property `{name}` = {i} is out of range"))),
        Some(other) => {
            Err(ProviderError::fatal(format!("property `{name}` must be an integer, not {other:?}")))
        }
    }
}

pub(crate) fn str_list(props: &Props, name: &str) -> Vec<String> {
    props.get(name).map(Value::string_list).unwrap_or_default()
}

/// An idempotency token for a create: the same stack, address, desired properties and
/// generation give the same token, so a create retried after a crash returns the same
/// object, while a replacement (other properties) or a re-create after the object was
/// deleted outside hactl (another generation: the old id) gets a new one. 32 hex chars.
pub(crate) fn client_token(ctx: &hactl_engine::Ctx, address: &Address, props: &Props) -> String {
    let mut h = Sha256::new();
    h.update(ctx.stack.as_bytes());
    h.update([0]);
    h.update(ctx.generation.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(address.as_str().as_bytes());
    h.update([0]);
    h.update(Value::Map(props.clone()).to_json().to_string().as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The address a target with the given natural key has, among `targets`.
pub(crate) fn match_target(
    targets: &[hactl_engine::ReadTarget],
    key: impl Fn(&Props) -> bool,
) -> Option<&Address> {
    targets.iter().find(|t| key(&t.props)).map(|t| &t.address)
}

/// The `tags` property as a plain map (every service's tag shape is built from this).
pub(crate) fn tag_map(props: &Props) -> std::collections::BTreeMap<String, String> {
    props.get("tags").map(Value::string_map).unwrap_or_default()
}

/// Live tags (any service), as the `tags` property; AWS-reserved `aws:` keys left out.
pub(crate) fn tags_prop<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::from_string_map(tags.into_iter().filter(|(k, _)| !k.starts_with("aws:")))
}

/// Ownership read from a tag map of any service: (carries this stack's `hactl:stack`
/// tag, the address in its `hactl:address` tag).
pub(crate) fn owner_of(
    stack: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> (bool, Option<Address>) {
    let owned = tags.get(hactl_core::TAG_STACK).map(String::as_str) == Some(stack);
    let address =
        if owned { tags.get(hactl_core::TAG_ADDRESS).and_then(|a| Address::parse(a).ok()) } else { None };
    (owned, address)
}

/// The adoption rule of every create that finds its name taken: an object whose hactl
/// tags name this stack and `address` (a create retried after a crash) is ours to
/// converge; anything else is refused with an error naming its owner (`code` is the
/// service's "already exists" code), never taken over.
pub(crate) fn ensure_ours(
    ctx: &hactl_engine::Ctx,
    address: &Address,
    tags: &std::collections::BTreeMap<String, String>,
    what: &str,
    code: &str,
) -> Result<(), ProviderError> {
    let (owned, tagged) = owner_of(&ctx.stack, tags);
    if owned && tagged.as_ref() == Some(address) {
        return Ok(());
    }
    let owner = tags.get(hactl_core::TAG_STACK).map(String::as_str).unwrap_or("none");
    let owner_address = tags.get(hactl_core::TAG_ADDRESS).map(String::as_str).unwrap_or("none");
    Err(ProviderError::fatal(format!(
        "{what} already exists and is not {address} of stack `{}` (its hactl:stack tag: {owner}, \
         hactl:address tag: {owner_address}); delete or rename it",
        ctx.stack
    ))
    .with_code(code))
}

/// How long database waits may run at least: a Multi-AZ encrypted RDS create, a DocumentDB
/// instance, or a delete with a final snapshot take 10 to 40 minutes on AWS, beyond the
/// engine's default wait.
pub(crate) const DB_WAIT: std::time::Duration = std::time::Duration::from_secs(90 * 60);

/// `ctx` with a wait timeout of at least [`DB_WAIT`].
pub(crate) fn db_wait(ctx: &hactl_engine::Ctx) -> hactl_engine::Ctx {
    let mut c = ctx.clone();
    c.wait_timeout = c.wait_timeout.max(DB_WAIT);
    c
}

/// Runs `op` again while it fails with a retryable error (an object busy with another
/// change), within `ctx`'s wait timeout: for commands that call AWS outside the engine's
/// actions (which retry such errors themselves).
pub(crate) async fn retrying<T, F, Fut>(
    ctx: &hactl_engine::Ctx,
    what: &str,
    mut op: F,
) -> Result<T, hactl_engine::ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, hactl_engine::ProviderError>>,
{
    ctx.wait_for(what, || {
        let attempt = op();
        async move {
            match attempt.await {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.is_retryable() => Ok(None),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// One scheduled action's sizes as [`unscheduled`] reads them: `{min, max}`, null where
/// the action sets none.
pub(crate) fn size_pair(min: Option<i32>, max: Option<i32>) -> Value {
    let int = |v: Option<i32>| v.map_or(Value::Null, |i| Value::Int(i.into()));
    Value::Map(std::collections::BTreeMap::from([
        ("min".to_string(), int(min)),
        ("max".to_string(), int(max)),
    ]))
}

/// The live `min` and `max` (keys of `scheduled`'s maps) of an object whose scheduled
/// actions change them: a live value equal to the value one of the actions sets
/// (`scheduled`: a list of `{min, max}`) is the config's intent, so it reads as desired;
/// anything else (a change by hand) reads as it is. The actions own the sizes between
/// their times: apply does not undo them, drift does not report them.
pub(crate) fn unscheduled(
    live: (Value, Value),
    desired: (Option<&Value>, Option<&Value>),
    scheduled: Option<&Value>,
) -> (Value, Value) {
    let actions = scheduled.and_then(Value::as_list).unwrap_or_default();
    let read = |live: Value, want: Option<&Value>, key: &str| match want {
        Some(want) if actions.iter().any(|a| a.as_map().and_then(|m| m.get(key)) == Some(&live)) => {
            want.clone()
        }
        _ => live,
    };
    (read(live.0, desired.0, "min"), read(live.1, desired.1, "max"))
}

#[cfg(test)]
mod scheduled_tests {
    use super::*;

    fn pair(min: i64, max: i64) -> Value {
        Value::Map([("min".to_string(), Value::Int(min)), ("max".to_string(), Value::Int(max))].into())
    }

    #[test]
    fn sizes_set_by_a_schedule_read_as_desired_and_others_as_live() {
        let (min, max) = (Value::Int(2), Value::Int(10));
        let night = Value::List(vec![pair(1, 1)]);
        let live = |a, b| (Value::Int(a), Value::Int(b));
        // The night action's sizes: the config's intent.
        assert_eq!(
            unscheduled(live(1, 1), (Some(&min), Some(&max)), Some(&night)),
            (min.clone(), max.clone())
        );
        // One from the action, one as configured.
        assert_eq!(
            unscheduled(live(1, 10), (Some(&min), Some(&max)), Some(&night)),
            (min.clone(), max.clone())
        );
        // Min changed by hand: reported as it is; the max the action set is not.
        assert_eq!(
            unscheduled(live(3, 1), (Some(&min), Some(&max)), Some(&night)),
            (Value::Int(3), max.clone())
        );
        // No schedule: as it is.
        assert_eq!(unscheduled(live(1, 1), (Some(&min), Some(&max)), None), live(1, 1));
        let only_max = Value::List(vec![Value::Map(
            [("min".to_string(), Value::Null), ("max".to_string(), Value::Int(4))].into(),
        )]);
        assert_eq!(
            unscheduled(live(2, 4), (Some(&min), Some(&max)), Some(&only_max)),
            (min.clone(), max.clone())
        );
        assert_eq!(
            unscheduled(live(1, 4), (Some(&min), Some(&max)), Some(&only_max)),
            (Value::Int(1), max.clone())
        );
        // A null in an action (it leaves that size) matches no live value.
        assert_eq!(unscheduled(live(2, 9), (Some(&min), Some(&max)), Some(&only_max)), live(2, 9));
    }
}
