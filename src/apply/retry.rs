//! Retrying one target operation: exponential backoff with jitter (backon), the target's
//! `Retry-After` honoured, and a hard budget in attempts and time so that a message never
//! holds a consumer slot for long. Only transient errors are retried.

use crate::apply::config::RetryConfig;
use crate::targets::TargetError;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::{Duration, Instant};

/// The result of a retried operation and how many attempts it took.
pub struct Attempted<T> {
    pub result: Result<T, TargetError>,
    pub attempts: usize,
}

/// Runs `operation` until it succeeds, fails for good, or the budget is spent. Transient
/// errors are retried unless `retry_this` says otherwise; `on_retry` is called before each
/// wait with the error that caused it.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryConfig,
    mut operation: F,
    mut on_retry: impl FnMut(&TargetError, Duration),
    mut retry_this: impl FnMut(&TargetError) -> bool,
) -> Attempted<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TargetError>>,
{
    let started = Instant::now();
    let mut attempts = 0usize;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1))
        .with_jitter();
    let budget = policy.budget;
    let result = (|| {
        attempts += 1;
        operation()
    })
    .retry(backoff)
    .when(|e: &TargetError| e.is_transient() && retry_this(e))
    .adjust(|err: &TargetError, delay: Option<Duration>| {
        let delay = match (delay, err.retry_after) {
            (Some(backoff), Some(asked)) => Some(backoff.max(asked)),
            (delay, _) => delay,
        }?;
        // Give up rather than sleep past the budget; the caller dead-letters.
        (started.elapsed() + delay <= budget).then_some(delay)
    })
    .notify(|err: &TargetError, delay: Duration| on_retry(err, delay))
    .await;
    Attempted { result, attempts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn quick() -> RetryConfig {
        RetryConfig {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 4,
            budget: Duration::from_secs(5),
            ..RetryConfig::default()
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let outcome = with_retries(
            &quick(),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(TargetError::transient("http_503", "busy"))
                } else {
                    Ok(())
                }
            },
            |_, _| {},
            |_| true,
        )
        .await;
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.attempts, 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let outcome = with_retries(
            &quick(),
            || async { Err::<(), _>(TargetError::permanent("INVALID_DATA", "bad")) },
            |_, _| {},
            |_| true,
        )
        .await;
        assert_eq!(outcome.attempts, 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let outcome = with_retries(
            &quick(),
            || async { Err::<(), _>(TargetError::transient("timeout", "slow")) },
            |_, _| {},
            |_| true,
        )
        .await;
        assert_eq!(outcome.attempts, 4);
        assert!(outcome.result.is_err());
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_budget_ends_retrying_at_once() {
        let mut policy = quick();
        policy.budget = Duration::from_millis(100);
        let started = Instant::now();
        let outcome = with_retries(
            &policy,
            || async {
                Err::<(), _>(
                    TargetError::transient("http_429", "slow down")
                        .with_retry_after(Some(Duration::from_secs(3600))),
                )
            },
            |_, _| {},
            |_| true,
        )
        .await;
        assert_eq!(outcome.attempts, 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
