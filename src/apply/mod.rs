//! Applying one event: map it for every target, call the targets (in parallel — they are
//! independent systems) with bounded retries, and turn the results into a [`Verdict`] that
//! tells the source what to do with the message: acknowledge it, after publishing a dead
//! letter for each target that could not be updated.
//!
//! Nothing here knows about RabbitMQ; the source executes the verdict.

mod retry;
mod verdict;

pub use retry::{with_retries, Attempted};
pub use verdict::{DeadLetter, DeadLetterReason, TargetOutcome, TargetReport, Verdict};

use crate::config::RetryConfig;
use crate::event::{Action, HrEvent, InvalidEvent};
use crate::mapping::Mapper;
use crate::metrics::Metrics;
use crate::target::{Change, ErrorClass, Target, TargetError};
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Instant;

pub struct Applier {
    targets: Vec<Arc<dyn Target>>,
    mapper: Mapper,
    retry: RetryConfig,
    metrics: Arc<Metrics>,
}

impl Applier {
    pub fn new(
        targets: Vec<Arc<dyn Target>>,
        mapper: Mapper,
        retry: RetryConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Applier {
            targets,
            mapper,
            retry,
            metrics,
        }
    }

    pub fn targets(&self) -> &[Arc<dyn Target>] {
        &self.targets
    }

    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// Applies `event` to every configured target and reports each one's outcome.
    pub async fn apply(&self, event: &HrEvent) -> Verdict {
        let reports = join_all(
            self.targets
                .iter()
                .map(|target| self.apply_to(target.as_ref(), event)),
        )
        .await;
        let verdict = Verdict::from_reports(event, reports);
        self.record(&verdict);
        verdict
    }

    /// The verdict for a message that is not a valid HR event: dead-letter it as is.
    pub fn reject(&self, invalid: &InvalidEvent) -> Verdict {
        let verdict = Verdict::invalid(invalid);
        self.record(&verdict);
        verdict
    }

    /// The change `event` makes in `target`, or the outcome that stands in for it.
    pub fn change_for(
        &self,
        target: &dyn Target,
        event: &HrEvent,
    ) -> Result<Change, TargetOutcome> {
        let kind = target.kind();
        let fields = match self.mapper.map(kind, event) {
            Ok(Some(fields)) => fields,
            Ok(None) => return Err(TargetOutcome::NotMapped),
            Err(e) => {
                return Err(TargetOutcome::Failed(DeadLetter::for_target(
                    kind,
                    DeadLetterReason::Mapping,
                    &TargetError::permanent("mapping", e.to_string()),
                    0,
                )))
            }
        };
        let Some(account_id) = kind.account_id(&event.accounts) else {
            return Err(unlinked(kind, event.action));
        };
        Ok(Change {
            event_id: event.id.clone(),
            employee_id: event.subject.clone(),
            action: event.action,
            account_id: account_id.to_string(),
            fields,
        })
    }

    async fn apply_to(&self, target: &dyn Target, event: &HrEvent) -> TargetReport {
        let kind = target.kind();
        let outcome = match self.change_for(target, event) {
            Err(outcome) => outcome,
            Ok(change) => self.send(target, &change).await,
        };
        outcome.log(kind);
        TargetReport {
            target: kind,
            outcome,
        }
    }

    async fn send(&self, target: &dyn Target, change: &Change) -> TargetOutcome {
        let kind = target.kind();
        let label = kind.as_str();
        let started = Instant::now();
        let attempted = with_retries(
            &self.retry,
            || async {
                let result = target.apply(change).await;
                let status = result
                    .as_ref()
                    .map_or_else(|e| e.code.as_str(), |_| "success");
                self.metrics
                    .target_requests
                    .with_label_values(&[label, status])
                    .inc();
                result
            },
            |err, delay| {
                self.metrics
                    .retries
                    .with_label_values(&[label, &err.code])
                    .inc();
                tracing::warn!(
                    target_api = label,
                    code = %err.code,
                    delay_ms = delay.as_millis() as u64,
                    "transient failure; retrying"
                );
            },
        )
        .await;
        self.metrics
            .target_latency
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());
        let problem = target.config_problem();
        self.metrics
            .target_config_problem
            .with_label_values(&[label])
            .set(i64::from(problem.is_some()));
        match attempted.result {
            Ok(()) => TargetOutcome::Applied,
            Err(error) => {
                let reason = DeadLetterReason::for_error(&error);
                TargetOutcome::Failed(DeadLetter::for_target(
                    kind,
                    reason,
                    &error,
                    attempted.attempts,
                ))
            }
        }
    }

    fn record(&self, verdict: &Verdict) {
        self.metrics
            .events
            .with_label_values(&[verdict.event_type, verdict.outcome()])
            .inc();
        for report in &verdict.reports {
            self.metrics
                .target_outcomes
                .with_label_values(&[report.target.as_str(), report.outcome.as_str()])
                .inc();
        }
    }
}

/// A target with a mapping but no linked account. Removing access must not fail silently,
/// so a leaver is dead-lettered for someone to look at; joiners and movers are counted.
fn unlinked(kind: crate::target::TargetKind, action: Action) -> TargetOutcome {
    if action == Action::Leaver {
        TargetOutcome::Failed(DeadLetter::for_target(
            kind,
            DeadLetterReason::Unlinked,
            &TargetError::new(
                ErrorClass::Permanent,
                "unlinked",
                format!("leaver has no {kind} account in the event"),
            ),
            0,
        ))
    } else {
        TargetOutcome::Unlinked
    }
}
