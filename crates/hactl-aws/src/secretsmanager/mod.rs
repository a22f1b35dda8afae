//! secretsmanager providers (see crates/hactl-aws/KINDS-data.md).

use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::Registry;

/// Registers this service's providers.
pub(crate) fn register(_r: &mut Registry, _config: &SdkConfig, _counter: &ApiCounter) {}

/// The `password` key of a JSON secret, for a database create. The value never leaves
/// the caller: it is not logged, and errors never include the secret string.
pub(crate) async fn master_password(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, hactl_engine::ProviderError> {
    use hactl_engine::ProviderError;
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| crate::error::aws_error("GetSecretValue", e))?;
    let Some(s) = out.secret_string() else {
        return Err(ProviderError::fatal(format!("secret {secret_id} has no string value")));
    };
    let parsed: serde_json::Value = serde_json::from_str(s)
        .map_err(|_| ProviderError::fatal(format!("secret {secret_id} does not hold a JSON object")))?;
    match parsed.get("password").and_then(serde_json::Value::as_str) {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ProviderError::fatal(format!("secret {secret_id} has no `password` key"))),
    }
}
