//! Mapping SDK errors to provider errors: the AWS error code kept, retryable ones marked.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use hactl_engine::ProviderError;

/// Codes that mean "try again shortly": throttling, and dependencies that AWS releases
/// asynchronously (ENIs of a deleted load balancer, public addresses of a NAT gateway).
const RETRYABLE: &[&str] = &[
    "DependencyViolation",
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "ServiceUnavailable",
    "Unavailable",
    "IncorrectState",
    "InvalidState",
    // A subnet whose CIDR is freed by a delete running at the same time (CIDR swap).
    "InvalidSubnet.Conflict",
];

pub(crate) fn aws_error<E, R>(what: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().map(str::to_string);
    let transport =
        matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_));
    let message = match (e.message(), &code) {
        (Some(m), Some(c)) => format!("{what}: {c}: {m}"),
        (Some(m), None) => format!("{what}: {m}"),
        _ => format!("{what}: {}", DisplayErrorContext(&e)),
    };
    let retryable = transport || code.as_deref().is_some_and(|c| RETRYABLE.contains(&c));
    let mut err = if retryable { ProviderError::retryable(message) } else { ProviderError::fatal(message) };
    err.code = code;
    err
}

/// True for "it does not exist" answers of every service: EC2 `InvalidVpcID.NotFound`,
/// ELBv2 `LoadBalancerNotFound`, IAM `NoSuchEntity`, ECS `ClusterNotFoundException`,
/// CloudWatch Logs / ACM / Secrets Manager / Scheduler `ResourceNotFoundException`, Application Auto
/// Scaling `ObjectNotFoundException`, ...
pub(crate) fn is_not_found(e: &ProviderError) -> bool {
    e.code.as_deref().is_some_and(|c| {
        c.ends_with("NotFound")
            || c.ends_with("NotFoundException")
            || c.ends_with("NotFoundFault")
            || c == "NoSuchEntity"
    })
}

/// Deletes treat "already gone" as success.
pub(crate) fn ignore_not_found(r: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match r {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

/// Right after a create, other calls may not see the new object yet: a NotFound while
/// referencing it is worth retrying (bounded by the engine).
pub(crate) fn retry_not_found(mut e: ProviderError) -> ProviderError {
    if is_not_found(&e) {
        e.retryable = true;
    }
    e
}
