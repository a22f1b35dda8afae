//! What a provider call's failure is: an enum the engine acts on (retry or not) and the
//! binary renders (what failed, AWS's code and message, a hint), with the AWS call and
//! the SDK error kept as the source.

use std::fmt;
use std::sync::Arc;

pub use hactl_awserror::{Failure, BODY_EXCERPT};

/// An error from a provider call, by what the engine can do about it.
#[derive(Clone, Debug)]
pub enum ProviderError {
    /// The object, or one the call names, does not exist (`InvalidVpcID.NotFound`,
    /// `NoSuchEntity`, `ResourceNotFoundException`, ...). Deletes take it as done, reads as
    /// absent; elsewhere it fails the step unless the provider marks it retryable (an
    /// object just created that AWS does not list yet).
    NotFound(ErrorDetail),
    /// Worth trying again after a while: throttling, 5xx, eventual consistency, a
    /// dependency AWS releases asynchronously. The engine retries with bounded backoff.
    Retryable(ErrorDetail),
    /// AWS refused because of another object or the object's state: it exists already,
    /// is in use, or is being changed (`...AlreadyExists...`, `ResourceInUse...`,
    /// `InvalidIPAddress.InUse`). Not retried unless the provider knows it clears.
    Conflict(ErrorDetail),
    /// Anything else: a bad request, access denied, no credentials, an answer not
    /// understood, a timeout of a wait. Not retried.
    Fatal(ErrorDetail),
}

/// What every [`ProviderError`] carries.
#[derive(Clone, Debug)]
pub struct ErrorDetail {
    /// One line: the AWS operation and what went wrong (`DescribeVpcs: AuthFailure: ...`).
    pub message: String,
    /// The AWS error code, when there is one (`DependencyViolation`, ...).
    pub code: Option<String>,
    /// The AWS call that failed, when the error comes from one (shared: errors stay small
    /// and cloneable).
    pub call: Option<Arc<AwsCall>>,
}

/// The AWS call behind a [`ProviderError`].
#[derive(Debug)]
pub struct AwsCall {
    /// The AWS operation (`DescribeVpcs`).
    pub operation: String,
    /// What kind of failure it was, for the message a person reads and its hint.
    pub failure: Failure,
    /// The SDK's error (with the raw response of an error answer), for `-vv` and
    /// `source()`.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl ErrorDetail {
    fn new(message: impl Into<String>) -> Self {
        ErrorDetail { message: message.into(), code: None, call: None }
    }
}

impl ProviderError {
    pub fn fatal(message: impl Into<String>) -> Self {
        ProviderError::Fatal(ErrorDetail::new(message))
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        ProviderError::Retryable(ErrorDetail::new(message))
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ProviderError::NotFound(ErrorDetail::new(message))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        ProviderError::Conflict(ErrorDetail::new(message))
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.detail_mut().code = Some(code.into());
        self
    }

    /// The same error with the AWS call that failed attached.
    pub fn with_call(mut self, call: AwsCall) -> Self {
        self.detail_mut().call = Some(Arc::new(call));
        self
    }

    pub fn detail(&self) -> &ErrorDetail {
        match self {
            ProviderError::NotFound(d)
            | ProviderError::Retryable(d)
            | ProviderError::Conflict(d)
            | ProviderError::Fatal(d) => d,
        }
    }

    fn detail_mut(&mut self) -> &mut ErrorDetail {
        match self {
            ProviderError::NotFound(d)
            | ProviderError::Retryable(d)
            | ProviderError::Conflict(d)
            | ProviderError::Fatal(d) => d,
        }
    }

    fn into_detail(self) -> ErrorDetail {
        match self {
            ProviderError::NotFound(d)
            | ProviderError::Retryable(d)
            | ProviderError::Conflict(d)
            | ProviderError::Fatal(d) => d,
        }
    }

    /// One line: the AWS operation and what went wrong.
    pub fn message(&self) -> &str {
        &self.detail().message
    }

    /// The AWS error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        self.detail().code.as_deref()
    }

    /// The engine retries it (with bounded backoff).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Retryable(_))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound(_))
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, ProviderError::Conflict(_))
    }

    /// The same error, retried by the engine: the provider knows it clears (a dependency
    /// still leaving, an object AWS does not list yet, IAM propagation).
    pub fn into_retryable(self) -> Self {
        ProviderError::Retryable(self.into_detail())
    }

    /// The same error, not retried: the provider knows waiting will not help.
    pub fn into_fatal(self) -> Self {
        ProviderError::Fatal(self.into_detail())
    }

    /// Makes this error retryable in place (see [`ProviderError::into_retryable`]).
    pub fn make_retryable(&mut self) {
        let detail = std::mem::replace(self.detail_mut(), ErrorDetail::new(""));
        *self = ProviderError::Retryable(detail);
    }

    /// The AWS operation that failed, if an AWS call did.
    pub fn operation(&self) -> Option<&str> {
        self.detail().call.as_deref().map(|c| c.operation.as_str())
    }

    /// What kind of failure the AWS call had, if an AWS call failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.detail().call.as_deref().map(|c| &c.failure)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.detail();
        match &d.code {
            Some(c) if !d.message.contains(c.as_str()) => write!(f, "{c}: {}", d.message),
            _ => f.write_str(&d.message),
        }
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.detail().call.as_deref().map(|c| &*c.source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_detail_and_display_code_and_message() {
        let e = ProviderError::conflict("CreateVpc: exists").with_code("VpcAlreadyExists");
        assert!(e.is_conflict() && !e.is_retryable());
        assert_eq!(e.to_string(), "VpcAlreadyExists: CreateVpc: exists");
        let mut r = e.clone();
        r.make_retryable();
        assert!(r.is_retryable());
        assert_eq!(r.code(), Some("VpcAlreadyExists"));
        assert_eq!(r.message(), "CreateVpc: exists");
        let n = ProviderError::not_found("DescribeVpcs: InvalidVpcID.NotFound: gone")
            .with_code("InvalidVpcID.NotFound");
        assert!(n.is_not_found() && !n.is_retryable());
        assert_eq!(n.to_string(), "DescribeVpcs: InvalidVpcID.NotFound: gone", "the code is shown once");
        assert!(n.into_retryable().is_retryable());
    }
}
