//! A per-target circuit breaker. After `threshold` consecutive transient failures a target
//! is considered down: its work is parked in the delayed-retry queue instead of being burnt
//! through retries into the dead-letter queue, and the other targets keep flowing. After
//! `open_for`, one request is let through as a probe; its success closes the breaker.

use std::sync::Mutex;
use std::time::Duration;
// Tokio's clock, so tests can pause and advance time instead of sleeping.
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
}

/// A state change worth logging and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition(pub BreakerState);

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.inner.lock().expect("lock poisoned") {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may go out now. An open breaker whose time is up lets exactly
    /// one probe through.
    pub fn allow(&self) -> (bool, Option<Transition>) {
        let mut inner = self.inner.lock().expect("lock poisoned");
        match *inner {
            Inner::Closed { .. } => (true, None),
            Inner::Open { until } if Instant::now() >= until => {
                *inner = Inner::HalfOpen { probing: true };
                (true, Some(Transition(BreakerState::HalfOpen)))
            }
            Inner::Open { .. } => (false, None),
            Inner::HalfOpen { probing: true } => (false, None),
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                (true, None)
            }
        }
    }

    pub fn record_success(&self) -> Option<Transition> {
        let mut inner = self.inner.lock().expect("lock poisoned");
        let was_closed = matches!(*inner, Inner::Closed { .. });
        *inner = Inner::Closed { failures: 0 };
        (!was_closed).then_some(Transition(BreakerState::Closed))
    }

    /// Records a transient failure (permanent ones say nothing about the target's health).
    pub fn record_failure(&self) -> Option<Transition> {
        let mut inner = self.inner.lock().expect("lock poisoned");
        let open = Inner::Open {
            until: Instant::now() + self.open_for,
        };
        match *inner {
            Inner::Closed { failures } if failures + 1 >= self.threshold => {
                *inner = open;
                Some(Transition(BreakerState::Open))
            }
            Inner::Closed { failures } => {
                *inner = Inner::Closed {
                    failures: failures + 1,
                };
                None
            }
            Inner::HalfOpen { .. } => {
                *inner = open;
                Some(Transition(BreakerState::Open))
            }
            Inner::Open { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_once_when_time_is_up() {
        let breaker = Breaker::new(3, Duration::from_secs(30));
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(
            breaker.record_failure(),
            Some(Transition(BreakerState::Open))
        );
        assert!(!breaker.allow().0, "open: no requests");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(!breaker.allow().0, "still open a second before open_for");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            breaker.allow(),
            (true, Some(Transition(BreakerState::HalfOpen)))
        );
        assert!(!breaker.allow().0, "only one probe at a time");
        assert_eq!(
            breaker.record_success(),
            Some(Transition(BreakerState::Closed))
        );
        assert!(breaker.allow().0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again() {
        let breaker = Breaker::new(1, Duration::from_secs(30));
        breaker.record_failure();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(breaker.allow().0);
        assert_eq!(
            breaker.record_failure(),
            Some(Transition(BreakerState::Open))
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        breaker.record_failure();
        breaker.record_success();
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
