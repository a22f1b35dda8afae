//! One reading of an AWS SDK error for every crate that calls AWS (the providers, the S3
//! state backend): AWS's error code and message when it answered with one, otherwise what
//! kind of failure it was ([`Failure`]). Messages are one line; the SDK error itself stays
//! available as a source for `-vv`, except the raw body of a successful answer, which may
//! hold a secret (GetSecretValue, GetObject of a state file). Its unit tests are those of
//! `hactl-aws`'s `error.rs`, which wraps it for the providers.

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// AWS answered with an error code and message (in the error's `code` and message).
    Answer,
    /// No source of the credential chain gave credentials (or one failed to load):
    /// the loader's own words.
    NoCredentials(String),
    /// Nothing accepts connections at the endpoint.
    ConnectionRefused,
    /// Another failure before an answer (DNS, TLS, reset, timeout): its description.
    Transport(String),
    /// An answer the SDK could not understand: the HTTP status and the body's first
    /// bytes (lossy UTF-8, at most [`BODY_EXCERPT`] bytes; an error answer's only).
    Unparsable { status: u16, body: String },
}

/// How many bytes of a body that was not understood an error quotes.
pub const BODY_EXCERPT: usize = 200;

/// An SDK error, read.
#[derive(Debug)]
pub struct Described {
    /// AWS's error code, when it answered with one.
    pub code: Option<String>,
    pub failure: Failure,
    /// One line, without the operation: `AccessDenied: Access Denied`, `connection
    /// refused`, `no AWS credentials: ...`, `HTTP 400, body not understood: ...`.
    pub message: String,
    /// The SDK error for `-vv` and `source()` (a successful answer's parse error only).
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl Described {
    /// A successful answer that was not understood (retrying may help: cut short).
    pub fn is_unparsable_success(&self) -> bool {
        matches!(&self.failure, Failure::Unparsable { status, .. } if *status < 300)
    }
}

/// Reads `e`: see [`Described`].
pub fn describe<E>(e: SdkError<E, HttpResponse>) -> Described
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().map(str::to_string);
    let failure = classify(&e, code.is_some());
    let message = match (&failure, e.message(), &code) {
        (Failure::Answer, Some(m), Some(c)) => format!("{c}: {}", one_line(m)),
        (Failure::Answer, Some(m), None) => one_line(m),
        (Failure::Answer, None, Some(c)) => c.clone(),
        (Failure::Answer, None, None) => chain_line(&e),
        (Failure::NoCredentials(why), ..) => format!("no AWS credentials: {why}"),
        (Failure::ConnectionRefused, ..) => "connection refused".to_string(),
        (Failure::Transport(why), ..) => why.clone(),
        (Failure::Unparsable { status, body }, ..) => format!("HTTP {status}, body not understood: {body}"),
    };
    // A successful answer that was not understood may carry a secret: only its parse
    // error is kept, never its raw body.
    let success = matches!(&failure, Failure::Unparsable { status, .. } if *status < 300);
    let source: Box<dyn std::error::Error + Send + Sync> = if success {
        match e.into_source() {
            Ok(parse_error) => parse_error,
            Err(e) => Box::new(e),
        }
    } else {
        Box::new(e)
    };
    Described { code, failure, message, source }
}

/// What kind of failure an SDK error without an AWS error code is.
fn classify<E>(e: &SdkError<E, HttpResponse>, has_code: bool) -> Failure
where
    E: std::error::Error + 'static,
{
    if has_code {
        return Failure::Answer;
    }
    match e {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => match e.raw_response() {
            Some(raw) => {
                let status = raw.status().as_u16();
                let bytes = raw.body().bytes().unwrap_or_default();
                // An error answer never holds a secret; a successful one may.
                let body = if status >= 300 {
                    body_excerpt(bytes)
                } else {
                    format!("({} bytes, not shown: a successful answer may hold secrets)", bytes.len())
                };
                Failure::Unparsable { status, body }
            }
            None => Failure::Answer,
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ConstructionFailure(_) => {
            let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
            while let Some(err) = next {
                if let Some(c) = err.downcast_ref::<CredentialsError>() {
                    return Failure::NoCredentials(credentials_words(c));
                }
                if err
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
                {
                    return Failure::ConnectionRefused;
                }
                next = err.source();
            }
            Failure::Transport(chain_line(e))
        }
        _ => Failure::Answer,
    }
}

/// The credential loader's own words, without the SDK's generic wrapping.
fn credentials_words(c: &CredentialsError) -> String {
    match c {
        CredentialsError::CredentialsNotLoaded(_) => {
            "no source of the credential chain provided any".to_string()
        }
        other => chain_line(other),
    }
}

/// The first [`BODY_EXCERPT`] bytes of a body, as one printable line.
fn body_excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT)];
    let text = one_line(&String::from_utf8_lossy(cut));
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text
    }
}

/// An error and its sources on one line (`a: b: c`), repeats left out.
pub fn chain_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let s = one_line(&err.to_string());
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// `s` with control characters (newlines, tabs, escapes) as spaces, runs of spaces
/// collapsed, trimmed.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out.trim().to_string()
}
