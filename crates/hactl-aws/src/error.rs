//! Mapping SDK errors to provider errors: the AWS error code kept, retryable ones marked.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use hactl_engine::{AwsCall, Failure, ProviderError};

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
    // IAM: another request changed the same entity at the same moment.
    "ConcurrentModification",
];

/// An SDK error as a [`ProviderError`]: `what` is the AWS operation (`DescribeVpcs`). The
/// message is one line, `what: ` and the error as [`hactl_awserror::describe`] reads it:
/// AWS's code and message when it answered with one, otherwise no credentials, a refused
/// connection, another transport failure, or an answer that could not be understood (its
/// status and the first bytes of its body). The SDK error itself is kept as the source.
pub(crate) fn aws_error<E>(what: &str, e: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let construction = matches!(e, SdkError::ConstructionFailure(_));
    let d = hactl_awserror::describe(e);
    let retryable = match &d.failure {
        // Nothing to gain from waiting: the SDK has already tried the connection again,
        // and credentials do not appear by themselves.
        Failure::NoCredentials(_) | Failure::ConnectionRefused => false,
        Failure::Transport(_) => !construction,
        // A proxy's error page in front of a failing service, or a successful answer cut
        // short; a 4xx answer says the same again.
        Failure::Unparsable { status, .. } => *status >= 500 || *status == 429 || *status < 300,
        Failure::Answer => d.code.as_deref().is_some_and(|c| RETRYABLE.contains(&c)),
    };
    let message = format!("{what}: {}", d.message);
    let code = d.code.as_deref();
    let err = if retryable {
        ProviderError::retryable(message)
    } else if code.is_some_and(is_not_found_code) {
        ProviderError::not_found(message)
    } else if code.is_some_and(is_conflict_code) {
        ProviderError::conflict(message)
    } else {
        ProviderError::fatal(message)
    };
    let err = match d.code {
        Some(c) => err.with_code(c),
        None => err,
    };
    err.with_call(AwsCall { operation: what.to_string(), failure: d.failure, source: d.source })
}

/// "It does not exist" codes of every service: EC2 `InvalidVpcID.NotFound`, ELBv2
/// `LoadBalancerNotFound`, IAM `NoSuchEntity`, ECS `ClusterNotFoundException`, CloudWatch
/// Logs / ACM / Secrets Manager / Scheduler `ResourceNotFoundException`, Application Auto
/// Scaling `ObjectNotFoundException`, RDS `DBInstanceNotFoundFault`, ...
fn is_not_found_code(c: &str) -> bool {
    c.ends_with("NotFound")
        || c.ends_with("NotFoundException")
        || c.ends_with("NotFoundFault")
        || c == "NoSuchEntity"
}

/// "Another object, or the object's state, is in the way" codes: it exists already
/// (`RouteAlreadyExists`, `EntityAlreadyExists`, `DBInstanceAlreadyExistsFault`,
/// `DuplicateLoadBalancerName`, `InvalidGroup.Duplicate`), or it is in use
/// (`ResourceInUse`, `ResourceInUseException`, `InvalidIPAddress.InUse`,
/// `DeleteConflict`).
fn is_conflict_code(c: &str) -> bool {
    c.contains("AlreadyExists")
        || c.contains("Duplicate")
        || c.contains("InUse")
        || c.ends_with("Conflict")
        || c == "ResourceExistsException"
}

/// True for "it does not exist" answers of every service: EC2 `InvalidVpcID.NotFound`,
/// ELBv2 `LoadBalancerNotFound`, IAM `NoSuchEntity`, ECS `ClusterNotFoundException`,
/// CloudWatch Logs / ACM / Secrets Manager / Scheduler `ResourceNotFoundException`, Application Auto
/// Scaling `ObjectNotFoundException`, ...
pub(crate) fn is_not_found(e: &ProviderError) -> bool {
    e.is_not_found() || e.code().is_some_and(is_not_found_code)
}

/// Deletes treat "already gone" as success.
pub(crate) fn ignore_not_found(r: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match r {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

/// A read's answer, `None` when it says "it does not exist".
pub(crate) fn found<T>(r: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Marks an error retryable when its code is one of `codes` (a dependency still leaving,
/// an object still settling or in use).
pub(crate) fn retry_codes(mut e: ProviderError, codes: &[&str]) -> ProviderError {
    if e.code().is_some_and(|c| codes.contains(&c)) {
        e.make_retryable();
    }
    e
}

/// Right after a create, other calls may not see the new object yet: a NotFound while
/// referencing it is worth retrying (bounded by the engine).
pub(crate) fn retry_not_found(mut e: ProviderError) -> ProviderError {
    if is_not_found(&e) {
        e.make_retryable();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use hactl_engine::BODY_EXCERPT;

    type Sdk = SdkError<DescribeVpcsError, HttpResponse>;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()))
    }

    fn service(code: Option<&str>, message: Option<&str>, status: u16, body: &str) -> Sdk {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        if let Some(m) = message {
            meta = meta.message(m);
        }
        SdkError::service_error(DescribeVpcsError::generic(meta.build()), response(status, body))
    }

    #[test]
    fn an_aws_answer_keeps_code_and_message_on_one_line() {
        let e = aws_error("DescribeVpcs", service(Some("AuthFailure"), Some("bad\nkeys"), 401, "<xml/>"));
        assert_eq!(e.to_string(), "DescribeVpcs: AuthFailure: bad keys");
        assert_eq!(e.code(), Some("AuthFailure"));
        assert_eq!(e.operation(), Some("DescribeVpcs"));
        assert_eq!(e.failure(), Some(&Failure::Answer));
        assert!(!e.is_retryable());
        assert!(std::error::Error::source(&e).is_some(), "the SDK error is kept");
        let e = aws_error("DescribeVpcs", service(Some("RequestLimitExceeded"), None, 503, ""));
        assert!(e.is_retryable());
    }

    #[test]
    fn an_answer_not_understood_quotes_200_bytes_of_an_error_body() {
        let body = format!("not xml\n{}", "y".repeat(400));
        let e = aws_error("DescribeVpcs", service(None, None, 400, &body));
        let quoted = format!("not xml {}", "y".repeat(BODY_EXCERPT - "not xml\n".len()));
        assert_eq!(e.to_string(), format!("DescribeVpcs: HTTP 400, body not understood: {quoted}"));
        assert_eq!(e.failure(), Some(&Failure::Unparsable { status: 400, body: quoted }));
        assert!(!e.is_retryable(), "a 400 is not retried");
        assert!(
            aws_error("DescribeVpcs", service(None, None, 503, "<html>")).is_retryable(),
            "a 503 page is"
        );
        // JSON protocols report an error body they cannot parse as a response error.
        let parse: Box<dyn std::error::Error + Send + Sync> = "malformed JSON error body".into();
        let e = aws_error("DescribeVpcs", Sdk::response_error(parse, response(400, "<html>")));
        assert_eq!(e.to_string(), "DescribeVpcs: HTTP 400, body not understood: <html>");
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_successful_answer_not_understood_is_never_quoted() {
        let secret = r#"{"SecretString": "hunter2-password"#;
        let parse: Box<dyn std::error::Error + Send + Sync> = "unexpected end of input".into();
        let sdk: Sdk = SdkError::response_error(parse, response(200, secret));
        let e = aws_error("GetSecretValue", sdk);
        assert!(matches!(e.failure(), Some(Failure::Unparsable { status: 200, .. })));
        let detail = format!("{e} {e:?}");
        assert!(!detail.contains("hunter2"), "{detail}");
        assert!(e.is_retryable(), "an answer cut short is retried");
    }

    #[test]
    fn no_credentials_and_refused_connections_are_named_and_not_retried() {
        let creds: Sdk = SdkError::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::not_loaded_no_source()),
            None,
        ));
        let e = aws_error("DescribeVpcs", creds);
        assert!(matches!(e.failure(), Some(Failure::NoCredentials(_))), "{:?}", e.failure());
        assert!(e.to_string().starts_with("DescribeVpcs: no AWS credentials: "), "{e}");
        assert!(!e.is_retryable());

        let refused: Sdk = SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ))));
        let e = aws_error("DescribeVpcs", refused);
        assert_eq!(e.failure(), Some(&Failure::ConnectionRefused));
        assert_eq!(e.to_string(), "DescribeVpcs: connection refused");
        assert!(!e.is_retryable());

        let reset: Sdk = SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))));
        let e = aws_error("DescribeVpcs", reset);
        assert!(matches!(e.failure(), Some(Failure::Transport(_))), "{:?}", e.failure());
        assert!(e.is_retryable(), "a reset is retried");
    }
}
