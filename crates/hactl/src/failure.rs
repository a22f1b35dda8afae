//! The error a person sees: at most three lines — what failed (command, resource or kind,
//! AWS operation), AWS's code and message (or what else went wrong), and a hint. The
//! full chain, with the SDK's own error and raw response, is printed only with `-vv`.

use hactl_engine::{EngineError, Failure, ProviderError};
use hactl_state::{S3Failure, StateError};
use std::path::PathBuf;

/// Where the failing command was pointed, for hints.
pub struct Where {
    /// `plan`, `state list`, ...
    pub command: String,
    /// --endpoint-url, else AWS_ENDPOINT_URL.
    pub endpoint: Option<String>,
    /// The region the command targets, when known.
    pub region: Option<String>,
    /// --profile, else AWS_PROFILE.
    pub profile: Option<String>,
}

/// The lines of `e` (without the leading `error: ` of the first one), each a single
/// line; three at most for an AWS failure.
pub fn lines(e: &anyhow::Error, w: &Where) -> Vec<String> {
    if let Some(StateError::Aws(f)) = e.chain().find_map(|c| c.downcast_ref::<StateError>()) {
        let S3Failure { operation, location, message, code, failure, .. } = f.as_ref();
        // The S3 state backend's call: where the state lives, AWS's answer, a hint.
        let mut out = vec![format!("{}: {operation} the state at {location} failed", w.command)];
        out.push(format!("  {}", one_line(message)));
        if let Some(h) = hint(Some(failure), code.as_deref(), None, w) {
            out.push(format!("  hint: {}", one_line(&h)));
        }
        return out;
    }
    let Some(p) = e.chain().find_map(|c| c.downcast_ref::<ProviderError>()) else {
        // Not an AWS call: hactl's own message (already written to be read); one line if
        // it would take more than three.
        let text = format!("{}: {}", w.command, chain_text(e));
        return match text.lines().count() {
            0..=3 => text.lines().map(str::to_string).collect(),
            _ => vec![one_line(&text)],
        };
    };
    let shown = p.to_string();
    // What was being done, outermost first, each without the provider's text that
    // thiserror/anyhow append.
    let mut what = vec![w.command.clone()];
    for c in e.chain() {
        if c.downcast_ref::<ProviderError>().is_some() {
            break;
        }
        let s = match c.downcast_ref::<EngineError>() {
            Some(EngineError::Read { kind, .. }) => format!("reading {kind}"),
            _ => {
                let s = c.to_string();
                match s.find(&shown) {
                    Some(i) => s[..i].trim_end_matches([' ', ':']).to_string(),
                    None => s,
                }
            }
        };
        if !s.is_empty() {
            what.push(one_line(&s));
        }
    }
    let detail = match p.operation() {
        Some(op) => shown.strip_prefix(op).and_then(|r| r.strip_prefix(": ")).unwrap_or(&shown).to_string(),
        None => shown.clone(),
    };
    let mut out = Vec::with_capacity(3);
    match p.operation() {
        Some(op) => {
            out.push(format!("{}: {op} failed", what.join(": ")));
            out.push(format!("  {}", one_line(&detail)));
        }
        None => out.push(format!("{}: {}", what.join(": "), one_line(&detail))),
    }
    if let Some(h) = hint(p.failure(), p.code(), p.operation(), w) {
        out.push(format!("  hint: {}", one_line(&h)));
    }
    out
}

/// The messages of `e`'s chain joined with `: `, each left out when the text before it
/// already says it (thiserror messages often repeat their source).
fn chain_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for c in e.chain() {
        let s = c.to_string();
        if s.is_empty() || out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// One line for logs (`drift --watch` run lines): what failed and why, no hint.
pub fn one_line_summary(e: &anyhow::Error, w: &Where) -> String {
    let lines = lines(e, w);
    let mut parts: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.starts_with("hint:")).collect();
    // The command is the log line's own context.
    if let Some(first) = parts.first_mut() {
        *first = first.strip_prefix(&format!("{}: ", w.command)).unwrap_or(first);
    }
    parts.join(": ")
}

/// Everything behind `e`, for `-vv`: the whole chain, then the SDK error as it is
/// (operation error, raw HTTP response).
pub fn full_detail(e: &anyhow::Error) -> String {
    // Not `{e:?}`: that adds a backtrace when RUST_BACKTRACE is set.
    let mut s = e.to_string();
    for c in e.chain().skip(1) {
        s.push_str(&format!("\n  caused by: {c}"));
    }
    let provider = e.chain().find_map(|c| c.downcast_ref::<ProviderError>());
    if let Some(call) = provider.and_then(|p| p.detail().call.as_deref()) {
        s.push_str(&format!("\n\nAWS SDK error: {:?}", call.source));
    } else if let Some(StateError::Aws(f)) = e.chain().find_map(|c| c.downcast_ref::<StateError>()) {
        s.push_str(&format!("\n\nAWS SDK error: {:?}", f.source));
    }
    s
}

/// A hint for a failed AWS call: by the kind of failure, else by AWS's error code.
fn hint(failure: Option<&Failure>, code: Option<&str>, op: Option<&str>, w: &Where) -> Option<String> {
    let endpoint = || match &w.endpoint {
        Some(e) => format!("{e} (--endpoint-url or AWS_ENDPOINT_URL)"),
        None => match &w.region {
            Some(r) => format!("AWS's endpoint in {r}"),
            None => "AWS's endpoint".to_string(),
        },
    };
    let Some(failure) = failure else { return code_hint(code, op, w) };
    match failure {
        Failure::NoCredentials(_) => Some(credential_hint(w)),
        Failure::ConnectionRefused => Some(match &w.endpoint {
            Some(e) => format!(
                "nothing accepts connections at {}; check that the service (or emulator) runs there \
                 with `curl -sS {e}`, or unset it to use AWS",
                endpoint()
            ),
            None => format!(
                "{} refused the connection; check the network and any proxy (HTTPS_PROXY)",
                endpoint()
            ),
        }),
        Failure::Transport(_) => {
            Some(format!("check that {} is reachable (network, DNS, proxy) and run again", endpoint()))
        }
        Failure::Unparsable { .. } => Some(format!(
            "{} did not answer like AWS; check the endpoint and any proxy in between",
            endpoint()
        )),
        Failure::Answer => code_hint(code, op, w),
    }
}

fn code_hint(code: Option<&str>, op: Option<&str>, w: &Where) -> Option<String> {
    let code = code?;
    let op = op.unwrap_or("this call");
    let h = match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "AuthorizationError"
        | "UnauthorizedException" => format!(
            "the identity in use may not call {op}; grant it (README, Real AWS, lists what hactl needs) \
             or use another profile"
        ),
        "AuthFailure"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "InvalidSignatureException"
        | "IncompleteSignature" => format!(
            "AWS rejected the credentials{}; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile",
            w.profile.as_deref().map(|p| format!(" of profile `{p}`")).unwrap_or_default()
        ),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            "the session credentials have expired; renew them (e.g. `aws sso login`) and run again"
                .to_string()
        }
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" => {
            "AWS throttled the calls; run again later, or with a lower --parallelism".to_string()
        }
        "OptInRequired" | "InvalidRegion" | "UnrecognizedRegion" => format!(
            "check that the region{} is enabled for this account",
            w.region.as_deref().map(|r| format!(" {r}")).unwrap_or_default()
        ),
        _ => return None,
    };
    Some(h)
}

/// Which sources the SDK's default credential chain tried, and how to set one.
fn credential_hint(w: &Where) -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, rel: &str| -> String {
        match std::env::var_os(var) {
            Some(p) => PathBuf::from(p).display().to_string(),
            None => {
                home.as_ref().map(|h| h.join(rel).display().to_string()).unwrap_or_else(|| format!("~/{rel}"))
            }
        }
    };
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    let profile = w.profile.clone().unwrap_or_else(|| "default".to_string());
    let mut tried = vec![
        "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_string(),
        format!(
            "profile `{profile}` in {} and {}",
            file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
            file("AWS_CONFIG_FILE", ".aws/config")
        ),
    ];
    tried.push(if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string()
    } else {
        "web identity (not configured)".to_string()
    });
    tried.push(
        if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            "the ECS container endpoint".to_string()
        } else {
            "the ECS container endpoint (not configured)".to_string()
        },
    );
    let imds_off = std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    tried.push(if imds_off {
        "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".to_string()
    } else {
        "EC2 instance metadata".to_string()
    });
    format!(
        "tried {}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile with --profile or \
         AWS_PROFILE (`aws configure`, `aws sso login`)",
        tried.join(", ")
    )
}

/// `s` with control characters as spaces and runs of spaces collapsed.
pub use hactl_awserror::one_line;

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Where {
        Where {
            command: "plan".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: None,
            profile: None,
        }
    }

    fn call(failure: Failure) -> hactl_engine::AwsCall {
        let source = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        hactl_engine::AwsCall { operation: "DescribeVpcs".into(), failure, source }
    }

    fn read_error(p: ProviderError) -> anyhow::Error {
        anyhow::Error::new(EngineError::Read { kind: "ec2.vpc".into(), source: p })
    }

    #[test]
    fn an_aws_answer_is_two_lines_with_its_code() {
        let p = ProviderError::fatal("DescribeVpcs: VpcLimitExceeded: too many\nVPCs")
            .with_code("VpcLimitExceeded")
            .with_call(call(Failure::Answer));
        let l = lines(&read_error(p), &w());
        assert_eq!(
            l,
            vec!["plan: reading ec2.vpc: DescribeVpcs failed", "  VpcLimitExceeded: too many VPCs"]
        );
    }

    #[test]
    fn a_refused_connection_names_the_endpoint() {
        let p = ProviderError::fatal("DescribeVpcs: connection refused")
            .with_call(call(Failure::ConnectionRefused));
        let e = read_error(p).context("planning");
        let l = lines(&e, &w());
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[0], "plan: planning: reading ec2.vpc: DescribeVpcs failed");
        assert_eq!(l[1], "  connection refused");
        assert!(l[2].starts_with("  hint: nothing accepts connections at http://127.0.0.1:9"), "{l:?}");
        assert_eq!(
            one_line_summary(&e, &w()),
            "planning: reading ec2.vpc: DescribeVpcs failed: connection refused"
        );
    }

    #[test]
    fn an_error_without_a_provider_keeps_its_text() {
        let e = anyhow::anyhow!("the state of stack `x` belongs to region a");
        assert_eq!(lines(&e, &w()), vec!["plan: the state of stack `x` belongs to region a"]);
    }

    #[test]
    fn an_error_of_more_than_three_lines_becomes_one() {
        let e = anyhow::anyhow!("a\nb\nc\nd");
        assert_eq!(lines(&e, &w()), vec!["plan: a b c d"]);
        let e = anyhow::anyhow!("locked\n  If that run is gone, release it");
        assert_eq!(lines(&e, &w()).len(), 2);
    }

    #[test]
    fn one_line_collapses_control_characters() {
        assert_eq!(one_line(" a\n\tb\r\n c "), "a b c");
    }
}
