//! One deadline per invocation. Each DynamoDB call has its own time budget
//! (`DDB_OPERATION_TIMEOUT_MS`), but a request makes several calls one after
//! another; in a brownout their sum would outlast the function's Timeout,
//! Lambda would kill the invocation, and the caller would get API Gateway's
//! own 500 (outside the contract), possibly after the write committed. So
//! every request's work shares one deadline: Lambda's own, minus a margin to
//! answer and log. Past it the answer is the contract's 503 (triggers: an
//! error Cognito shows), and whatever was written is whole or absent (every
//! multi-item write is one transaction).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time kept back from Lambda's deadline to answer and flush the logs.
pub const MARGIN: Duration = Duration::from_millis(500);

/// How long the work of an invocation whose Lambda deadline is
/// `deadline_ms` (milliseconds since the Unix epoch, as the Runtime API
/// gives it) may take from now; `None` without a deadline (tests, tools).
pub fn budget(deadline_ms: Option<u64>) -> Option<Duration> {
    let deadline_ms = deadline_ms.filter(|d| *d > 0)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Some(Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(MARGIN))
}

/// Runs `work` within the budget of an invocation whose Lambda deadline is
/// `deadline_ms`: its output, or `None` (logged) when the deadline came
/// first. Without a deadline, `work` runs to its end.
pub async fn within<F: std::future::Future>(deadline_ms: Option<u64>, work: F) -> Option<F::Output> {
    match budget(deadline_ms) {
        Some(budget) => {
            let done = tokio::time::timeout(budget, work).await.ok();
            if done.is_none() {
                tracing::warn!(budget_ms = budget.as_millis() as u64, "the invocation's deadline came first");
            }
            done
        }
        None => Some(work.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_time_left_minus_the_margin() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let b = budget(Some(now + 10_000)).unwrap();
        assert!(b <= Duration::from_millis(9_500) && b > Duration::from_millis(9_000), "{b:?}");
        assert_eq!(budget(Some(now.saturating_sub(1))), Some(Duration::ZERO), "already past");
        assert_eq!(budget(None), None);
        assert_eq!(budget(Some(0)), None);
    }
}
