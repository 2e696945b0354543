//! Logging: tracing, set up the way Lambda's advanced logging controls ask.
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line, otherwise text;
//! - `AWS_LAMBDA_LOG_LEVEL` wins over `RUST_LOG`; the default is INFO;
//! - the runtime wraps each invocation in a span with its `requestId`, and
//!   each route adds a `request` span with the API Gateway request id.
//!
//! What is logged: routes, statuses, error codes, ids and durations. Never
//! message text, emails, tokens or request bodies (`MessageText` and `Email`
//! even redact themselves under `{:?}`).
//!
//! Privacy cap: the configured level applies to this project's crates only.
//! Every other crate logs at INFO at most, whatever is configured, because
//! below INFO they log personal data: lambda_runtime logs each raw event
//! (bodies, the Authorization header, Cognito attributes) at TRACE, and the
//! AWS SDK logs whole DynamoDB responses at TRACE and error details, which can
//! carry items, at DEBUG. `tests/logs.rs` checks this at TRACE.

use lambda_http::tracing::subscriber::filter::{filter_fn, EnvFilter, LevelFilter};
use lambda_http::tracing::subscriber::fmt::{self, MakeWriter};
use lambda_http::tracing::subscriber::prelude::*;
use lambda_http::tracing::subscriber::registry;
use tracing::Level;

/// Installs the global subscriber, writing to stdout. Does nothing if one is
/// installed already.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// Installs the global subscriber with another writer (tests capture logs so).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let directives = lookup("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()).or_else(|| lookup("RUST_LOG"));
    let levels = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(directives.unwrap_or_default());
    let private = filter_fn(|meta| is_ours(meta.target()) || *meta.level() <= Level::INFO);
    let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.to_lowercase().contains("json"));

    let base = registry().with(levels).with(private);
    // Lambda stamps every line with the time itself.
    let result = if json {
        base.with(fmt::layer().json().with_target(false).without_time().with_writer(writer)).try_init()
    } else {
        base.with(fmt::layer().with_target(false).without_time().with_writer(writer)).try_init()
    };
    // Already initialised (tests, or a host that set its own): keep that one.
    drop(result);
}

/// This project's crates: `cruddur_core`, the function binaries and tools.
fn is_ours(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    krate.starts_with("cruddur")
        || matches!(
            krate,
            "list_message_groups"
                | "list_messages"
                | "create_message"
                | "users_short"
                | "post_confirmation"
                | "pre_sign_up"
        )
}

#[cfg(test)]
mod tests {
    use super::is_ours;

    #[test]
    fn only_this_projects_crates_log_below_info() {
        assert!(is_ours("cruddur_core::api"));
        assert!(is_ours("create_message"));
        assert!(!is_ours("aws_smithy_runtime::client::orchestrator"));
        assert!(!is_ours("lambda_runtime::layers::api_response"));
        assert!(!is_ours("hyper_util::client"));
    }
}
