//! Logging on stderr (tracing): the level from -v or RUST_LOG, text or JSON lines, and
//! never the SDK's or the HTTP stack's wire traces.

use crate::cli::LogFormat;

/// Log targets that would print request or response bodies at trace level.
const WIRE_LOG_TARGETS: [&str; 8] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
];

/// Installs the process's log subscriber: -v/-vv/-vvv or RUST_LOG, as text or JSON lines.
pub fn init(verbose: u8, format: LogFormat, colour: bool) {
    let default = match verbose {
        // The SDK's own warnings (each credential source that failed, with its raw
        // response) repeat what the error a person reads already says: -v shows them.
        0 => "warn,aws=error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The SDK's orchestrator and the HTTP stack log whole requests and responses at trace
    // level: a CreateDBCluster body carries the master password, a GetSecretValue answer
    // the secret. Whatever RUST_LOG or -vvv asks, their trace events are dropped (after
    // the env filter, so a more specific RUST_LOG directive cannot bring them back).
    let no_wire_trace = tracing_subscriber::filter::filter_fn(|m| !is_wire_trace(m.level(), m.target()));
    // Log lines that cannot be written (stderr closed) are dropped, not reported with
    // eprintln! (which would panic on the same closed stderr).
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(colour)
        .log_internal_errors(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter).with_filter(no_wire_trace)).init();
}

/// A trace-level event or span of the SDK's or the HTTP stack's wire logging.
fn is_wire_trace(level: &tracing::Level, target: &str) -> bool {
    *level == tracing::Level::TRACE
        && WIRE_LOG_TARGETS
            .iter()
            .any(|t| target == *t || target.strip_prefix(t).is_some_and(|rest| rest.starts_with("::")))
}

#[cfg(test)]
mod tests {
    use super::is_wire_trace;
    use tracing::Level;

    #[test]
    fn wire_logs_stop_at_debug() {
        assert!(is_wire_trace(&Level::TRACE, "aws_smithy_runtime::client::orchestrator"));
        assert!(is_wire_trace(&Level::TRACE, "aws_smithy_runtime::client::orchestrator::http"));
        assert!(is_wire_trace(&Level::TRACE, "hyper_util::client::legacy::pool"));
        assert!(is_wire_trace(&Level::TRACE, "h2"));
        assert!(!is_wire_trace(&Level::DEBUG, "aws_smithy_runtime::client::orchestrator"));
        assert!(!is_wire_trace(&Level::TRACE, "hactl_engine::apply"));
        assert!(!is_wire_trace(&Level::TRACE, "aws_smithy_runtime_x"));
    }
}
