//! The caller's account: STS GetCallerIdentity, through the same SDK configuration and
//! API counter as every provider. The expansion needs it for trust policy conditions
//! (`aws:SourceAccount`) and for the ARNs of scoped grants. GetCallerIdentity needs no
//! permission: any valid credentials may call it.

use crate::error::aws_error;
use crate::ApiCounter;
use aws_config::SdkConfig;
use hactl_engine::ProviderError;

/// The 12-digit id of the account the credentials of `config` belong to.
pub async fn account_id(config: &SdkConfig, counter: &ApiCounter) -> Result<String, ProviderError> {
    let sts = crate::client!(aws_sdk_sts, config, counter);
    let out = sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
    match out.account() {
        Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => Ok(a.to_string()),
        Some(a) => Err(ProviderError::fatal(format!(
            "GetCallerIdentity answered account `{a}`, which is not a 12-digit AWS account id"
        ))),
        None => Err(ProviderError::fatal("GetCallerIdentity answered no account")),
    }
}
