//! Helpers shared by providers of every service.

use hactl_core::{Address, Props, Value};
use hactl_engine::ProviderError;
use sha2::{Digest, Sha256};

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
