//! The guarded call to a target: behind its circuit breaker, with in-process retries
//! (backoff with jitter, `Retry-After` honoured), counted in metrics, and turned into the
//! target's [`TargetOutcome`] — applied, unchanged, deferred (parked when the breaker is
//! open or the target's configuration needs an operator) or failed (a dead letter).

use super::{with_retries, BreakerState, Transition};
use super::{Applier, DeadLetter, DeadLetterReason, Deferral, TargetOutcome};
use crate::targets::{Applied, Change, ErrorClass, ErrorCode, Target, TargetError, TargetKind};
use std::time::Instant;

impl Applier {
    /// Applies `change` with in-process retries behind the target's breaker.
    pub(super) async fn send(&self, target: &dyn Target, change: &Change) -> TargetOutcome {
        match self.guarded(target, || target.apply(change)).await {
            Ok(Applied::Changed(fields)) => TargetOutcome::Applied(fields),
            Ok(Applied::Unchanged) => TargetOutcome::Unchanged,
            Err(outcome) => outcome,
        }
    }

    /// Runs `call` against `target` with in-process retries behind its breaker, counted in
    /// metrics; a failure comes back as the outcome that stands for it (deferred, parked,
    /// or a dead letter). Each retry runs `call` again from the start.
    pub(super) async fn guarded<T, F, Fut>(
        &self,
        target: &dyn Target,
        call: F,
    ) -> Result<T, TargetOutcome>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, TargetError>>,
    {
        let kind = target.kind();
        let label = kind.as_str();
        let breaker = &self.breakers[&kind];
        let started = Instant::now();
        let attempted = with_retries(
            &self.retry,
            || async {
                let (allowed, transition) = breaker.allow();
                let probing = transition.is_some();
                self.note_transition(kind, transition);
                if !allowed {
                    return Err(TargetError::transient(
                        ErrorCode::CircuitOpen,
                        format!("{kind} circuit breaker is open"),
                    ));
                }
                let result = call().await;
                let status = result
                    .as_ref()
                    .map_or_else(|e| e.code.as_str(), |_| "success");
                self.metrics
                    .target_requests
                    .with_label_values(&[label, status])
                    .inc();
                let transition = match &result {
                    Ok(_) => breaker.record_success(),
                    Err(e) if e.is_transient() => breaker.record_failure(),
                    Err(_) => None,
                };
                self.note_transition(kind, transition);
                match result {
                    // A failed probe means the target is still down: park, do not spend a round.
                    Err(e) if probing && e.is_transient() => Err(TargetError::transient(
                        ErrorCode::CircuitOpen,
                        format!("{kind} probe failed: {}", e.code),
                    )),
                    other => other,
                }
            },
            |err, delay| {
                self.metrics
                    .retries
                    .with_label_values(&[label, err.code.as_str()])
                    .inc();
                tracing::warn!(
                    target_api = label,
                    code = %err.code,
                    delay_ms = delay.as_millis() as u64,
                    "transient failure; retrying"
                );
            },
            |err| err.code != ErrorCode::CircuitOpen,
        )
        .await;
        self.metrics
            .target_latency
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());
        if let Some(slot) = self.config_errors.get(&kind) {
            let mut slot = slot.lock().expect("lock poisoned");
            match &attempted.result {
                Err(e) if e.class == ErrorClass::Config => {
                    *slot = Some(format!("{}: {}", e.code, e.detail));
                }
                Ok(_) => *slot = None,
                Err(_) => {}
            }
        }
        self.metrics
            .target_config_problem
            .with_label_values(&[label])
            .set(i64::from(self.config_problem(target).is_some()));
        if let Some(remaining) = target.rate_limit_remaining() {
            self.metrics
                .vault_burst_remaining
                .with_label_values(&[label])
                .set(remaining);
        }
        attempted
            .result
            .map_err(|error| failure_outcome(kind, error, attempted.attempts))
    }

    pub(super) fn note_transition(&self, kind: TargetKind, transition: Option<Transition>) {
        let Some(Transition(state)) = transition else {
            return;
        };
        let label = kind.as_str();
        self.metrics
            .breaker_transitions
            .with_label_values(&[label, state.as_str()])
            .inc();
        self.metrics
            .breaker_open
            .with_label_values(&[label])
            .set(i64::from(state != BreakerState::Closed));
        match state {
            BreakerState::Open => tracing::error!(
                target_api = label,
                "circuit breaker opened: target looks down; parking its work"
            ),
            BreakerState::HalfOpen => {
                tracing::info!(target_api = label, "circuit breaker half-open: probing")
            }
            BreakerState::Closed => {
                tracing::info!(target_api = label, "circuit breaker closed: target is back")
            }
        }
    }
}

/// The outcome a failed call stands for: transient → deferred (parked while the breaker
/// is open), configuration → parked for an operator, otherwise a dead letter.
fn failure_outcome(kind: TargetKind, error: TargetError, attempts: usize) -> TargetOutcome {
    match error {
        error if error.is_transient() => TargetOutcome::Deferred(Deferral {
            target: kind,
            parked: error.code == ErrorCode::CircuitOpen,
            code: error.code.to_string(),
            detail: error.detail.clone(),
        }),
        // Rejected credentials, the wrong Vault or tenant: an operator must fix the
        // configuration, and the events only have to wait for that — parked, without
        // using up delayed-retry rounds, never dead-lettered. `/readyz` and the
        // `hrsync_target_config_problem` gauge say what is wrong.
        error if error.class == ErrorClass::Config => TargetOutcome::Deferred(Deferral {
            target: kind,
            parked: true,
            code: error.code.to_string(),
            detail: error.detail.clone(),
        }),
        error => {
            let reason = DeadLetterReason::for_error(&error);
            TargetOutcome::Failed(DeadLetter::for_target(kind, reason, &error, attempts))
        }
    }
}
