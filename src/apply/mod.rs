//! Applying one event: map it for every target, and for each target — in parallel, they are
//! independent systems — decide from the state store whether it still needs doing
//! (dedupe by event id, stale guard by sequence), apply it with bounded retries behind the
//! target's circuit breaker, record the result, and turn everything into a [`Verdict`] that
//! tells the source what to do with the message: ack, defer to the delayed-retry queue,
//! and/or dead-letter the parts that cannot be applied.
//!
//! # Error policy for the state store
//!
//! The dedupe and the stale guard only know what was recorded, so no target may be changed
//! that cannot be recorded afterwards. An event therefore starts only while the store
//! records ([`crate::store::StoreHealth`]); a store outage met on the way (the gate, the
//! per-event read) makes it wait and start again, having changed nothing; and an outage met
//! *after* the targets were changed holds the event — message unacked, employee's lane
//! busy — retrying the record until it is written, while every other event waits at the
//! start. Deferring instead would let newer events for the same employee run ahead of an
//! unrecorded change and be overwritten by it later. Only errors about one record (a
//! corrupt row), which waiting cannot heal, still defer the event.
//!
//! Nothing here knows about RabbitMQ; the source executes the verdict.

mod breaker;
pub mod gate;
mod record;
mod retry;
mod verdict;

pub use breaker::{Breaker, BreakerState, Transition};
pub use retry::{with_retries, Attempted};
pub use verdict::{DeadLetter, DeadLetterReason, Deferral, TargetOutcome, TargetReport, Verdict};

use crate::config::{BreakerConfig, RetryConfig};
use crate::event::{Action, HrEvent, InvalidEvent};
use crate::mapping::Mapper;
use crate::metrics::Metrics;
use crate::store::{Outcome, Store, StoreError, TargetRecord, TargetState};
use crate::target::{Applied, Change, ErrorClass, LookupHints, Target, TargetError, TargetKind};
use futures_util::future::join_all;
use gate::{Decision, Gate};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The error code of work refused because the target's breaker is open.
const CIRCUIT_OPEN: &str = "circuit_open";

pub struct Applier {
    targets: Vec<Arc<dyn Target>>,
    breakers: HashMap<TargetKind, Breaker>,
    /// The last configuration error each target answered with (a TLS certificate, refused
    /// credentials), until it answers without one: for `/readyz` and the gauge, beside
    /// what the target client itself knows (`Target::config_problem`).
    config_errors: HashMap<TargetKind, std::sync::Mutex<Option<String>>>,
    mapper: Mapper,
    retry: RetryConfig,
    store: Store,
    gate: Gate,
    /// Whether the mass-deprovision guard is holding leavers back (for one log line).
    guard_tripped: AtomicBool,
    metrics: Arc<Metrics>,
}

/// What an [`Applier`] is built from.
pub struct ApplierParts {
    pub targets: Vec<Arc<dyn Target>>,
    pub mapper: Mapper,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub gate: Gate,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

impl Applier {
    pub fn new(parts: ApplierParts) -> Self {
        let ApplierParts {
            targets,
            mapper,
            retry,
            breaker,
            gate,
            store,
            metrics,
        } = parts;
        let breakers = targets
            .iter()
            .map(|t| (t.kind(), Breaker::new(breaker.threshold, breaker.open_for)))
            .collect();
        for target in &targets {
            metrics
                .breaker_open
                .with_label_values(&[target.kind().as_str()])
                .set(0);
        }
        let config_errors = targets
            .iter()
            .map(|t| (t.kind(), std::sync::Mutex::new(None)))
            .collect();
        Applier {
            targets,
            breakers,
            config_errors,
            mapper,
            retry,
            store,
            gate,
            guard_tripped: AtomicBool::new(false),
            metrics,
        }
    }

    /// Handles one decoded event: through the gate (effective dating, mass-deprovision
    /// guard), then applied to every target unless held back. Waits while the state store
    /// cannot record (see the error policy above); `shutdown` ends the wait and returns
    /// the message to the queue.
    pub async fn handle(&self, event: &HrEvent, shutdown: &CancellationToken) -> Verdict {
        let lag = (time::OffsetDateTime::now_utc() - event.time).as_seconds_f64();
        self.metrics.event_lag.observe(lag.max(0.0));
        let mut waited = false;
        loop {
            if !self.store.health().recording() && !waited {
                waited = true;
                tracing::warn!(
                    problem = self.store.health().problem().unwrap_or_default(),
                    "state store cannot record; the event waits for it before touching any target"
                );
            }
            let Some(_started) = self.store.health().wait_to_start(shutdown).await else {
                return self.returned(event);
            };
            match self.pass(event, shutdown).await {
                Ok(verdict) => return verdict,
                Err(Interrupted::Shutdown) => return self.returned(event),
                // The store marked itself failing; the next round waits for it.
                Err(Interrupted::StoreOutage) => {}
            }
        }
    }

    /// One pass of [`Applier::handle`] while the store records.
    async fn pass(
        &self,
        event: &HrEvent,
        shutdown: &CancellationToken,
    ) -> Result<Verdict, Interrupted> {
        let decision = self
            .gate
            .decide(&self.store, event, jiff::Timestamp::now())
            .await;
        let verdict = match decision {
            Ok(Decision::Proceed) => {
                if event.action == Action::Leaver {
                    self.guard_tripped.store(false, Ordering::Relaxed);
                }
                return self.apply(event, shutdown).await;
            }
            Ok(Decision::Scheduled { due }) => {
                tracing::info!(due = %due, "future-dated change held until it falls due");
                Verdict::held(event, "scheduled")
            }
            Ok(Decision::Staged { allowed }) => {
                if !self.guard_tripped.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        allowed_per_window = allowed,
                        "mass-deprovision guard tripped: leavers are staged, not applied, until an operator runs `hrsync staged release` or `hrsync staged discard`"
                    );
                }
                Verdict::held(event, "staged")
            }
            Err(e) => {
                self.metrics.store_errors.with_label_values(&["gate"]).inc();
                if e.is_outage() {
                    tracing::warn!(error = %e, "state store unavailable at the gate; waiting for it");
                    return Err(Interrupted::StoreOutage);
                }
                tracing::warn!(error = %e, "state store error at the gate; deferring");
                self.store_unavailable(event, &e)
            }
        };
        self.record(&verdict);
        Ok(verdict)
    }

    /// The message goes back to the queue untouched (shutdown while waiting for the store).
    fn returned(&self, event: &HrEvent) -> Verdict {
        let verdict = Verdict::returned(event);
        self.record(&verdict);
        verdict
    }

    fn store_unavailable(&self, event: &HrEvent, error: &StoreError) -> Verdict {
        Verdict::from_reports(event, self.store_unavailable_reports(error))
    }

    fn store_unavailable_reports(&self, error: &StoreError) -> Vec<TargetReport> {
        self.targets
            .iter()
            .map(|t| TargetReport {
                target: t.kind(),
                outcome: store_deferral(t.kind(), error),
            })
            .collect()
    }

    pub fn targets(&self) -> &[Arc<dyn Target>] {
        &self.targets
    }

    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Why `target` cannot be used until its configuration is fixed, if it cannot.
    pub fn config_problem(&self, target: &dyn Target) -> Option<String> {
        target.config_problem().or_else(|| {
            self.config_errors
                .get(&target.kind())
                .and_then(|slot| slot.lock().expect("lock poisoned").clone())
        })
    }

    /// Targets whose breaker is not closed, for `/readyz`.
    pub fn breaker_states(&self) -> Vec<(TargetKind, BreakerState)> {
        self.breakers
            .iter()
            .map(|(kind, breaker)| (*kind, breaker.state()))
            .filter(|(_, state)| *state != BreakerState::Closed)
            .collect()
    }

    /// Applies `event` to every configured target and reports each one's outcome.
    async fn apply(
        &self,
        event: &HrEvent,
        shutdown: &CancellationToken,
    ) -> Result<Verdict, Interrupted> {
        let reports = self.apply_to_targets(event, shutdown).await?;
        let verdict = Verdict::from_reports(event, reports);
        self.record(&verdict);
        Ok(verdict)
    }

    /// One store read for every target, the targets in parallel, then one store
    /// transaction for everything the event did (see `store::event_record` for why).
    async fn apply_to_targets(
        &self,
        event: &HrEvent,
        shutdown: &CancellationToken,
    ) -> Result<Vec<TargetReport>, Interrupted> {
        let employee = event.employee_id();
        let labels: Vec<&'static str> = self.targets.iter().map(|t| t.kind().as_str()).collect();
        let states = match self.store.target_states(&event.id, employee, &labels).await {
            Ok(states) => states,
            Err(e) => {
                self.metrics.store_errors.with_label_values(&["read"]).inc();
                if e.is_outage() {
                    tracing::warn!(error = %e, "state store unavailable; waiting for it");
                    return Err(Interrupted::StoreOutage);
                }
                tracing::warn!(error = %e, "state store error; deferring");
                return Ok(self.store_unavailable_reports(&e));
            }
        };
        // The gate and the read worked, but another event's record may have failed
        // meanwhile: nothing is changed yet, so wait for the store instead.
        if !self.store.health().may_change_targets() {
            return Err(Interrupted::StoreOutage);
        }
        let mut planned: Vec<Planned> = join_all(
            self.targets
                .iter()
                .zip(states)
                .map(|(target, state)| self.decide_and_apply(target.as_ref(), event, state)),
        )
        .await;
        self.remember(event, &mut planned, shutdown).await?;
        Ok(planned
            .into_iter()
            .map(|p| {
                p.outcome.log(p.kind);
                TargetReport {
                    target: p.kind,
                    outcome: p.outcome,
                }
            })
            .collect())
    }

    /// The verdict for a message that is not a valid HR event: dead-letter it as is.
    pub fn reject(&self, invalid: &InvalidEvent) -> Verdict {
        let verdict = Verdict::invalid(invalid);
        self.record(&verdict);
        verdict
    }

    /// The change `event` makes in `target` given the accounts known so far, or the
    /// outcome that stands in for it. Used by the worker and by dry runs.
    pub fn change_for(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        known_account: Option<String>,
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
        let account_id = kind
            .account_id(&event.accounts)
            .map(str::to_string)
            .or(known_account);
        let Some(account_id) = account_id else {
            return Err(unlinked(kind, event.action));
        };
        Ok(Change {
            event_id: event.id.clone(),
            employee_id: event.subject.clone(),
            action: event.action,
            account_id,
            fields,
            previous: None,
        })
    }

    /// Decides from the stored state whether `target` still needs `event`, applies it if
    /// so, and says what to record.
    async fn decide_and_apply(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        state: TargetState,
    ) -> Planned {
        let kind = target.kind();
        let mut plan = Planned::new(kind);
        let mut known = state.account;
        if let Some(account) = kind.account_id(&event.accounts) {
            // Linked only when it is new or changed: most events repeat the same link.
            if known.as_deref() != Some(account) {
                plan.link = Some(account.to_string());
                known = Some(account.to_string());
            }
        }
        // Done for this event: applied, found unchanged or stale — or dead-lettered, whose
        // letter stands for it (one per failed target; `dlq replay` reopens it).
        if matches!(
            state.outcome,
            Some(Outcome::Applied | Outcome::Unchanged | Outcome::Stale | Outcome::DeadLettered)
        ) {
            return plan.outcome(TargetOutcome::Duplicate, None);
        }
        let last = state.last;
        if let Some(last) = &last {
            if last.sequence >= event.sequence {
                return plan.outcome(
                    TargetOutcome::Stale,
                    Some(Record::NotApplied(Outcome::Stale)),
                );
            }
        }
        if known.is_none()
            && kind.account_id(&event.accounts).is_none()
            && event.action == Action::Leaver
            && self.mapper.maps(kind, event.action)
        {
            known = self.resolve_unlinked(target, event).await;
            plan.link.clone_from(&known);
        }
        let change = match self.change_for(target, event, known) {
            Ok(change) => Change {
                previous: last.map(|state| state.fields),
                ..change
            },
            // A failure is recorded once its dead letter is confirmed (`record_dead_letters`).
            Err(outcome) => return plan.outcome(outcome, None),
        };
        let outcome = self.send(target, &change).await;
        let record = match &outcome {
            TargetOutcome::Applied(changed) => Some(Record::Applied {
                fields: change.fields,
                changed: changed.clone(),
                outcome: Outcome::Applied,
            }),
            TargetOutcome::Unchanged => Some(Record::Applied {
                fields: change.fields,
                changed: Vec::new(),
                outcome: Outcome::Unchanged,
            }),
            _ => None,
        };
        plan.outcome(outcome, record)
    }

    /// A leaver with no known account in `target`: counted, logged, and looked up in the
    /// target where it supports that. A found account is linked for next time.
    async fn resolve_unlinked(&self, target: &dyn Target, event: &HrEvent) -> Option<String> {
        let label = target.kind().as_str();
        let hints = LookupHints::from_data(&event.data);
        let found = if hints.is_empty() {
            Ok(None)
        } else {
            target.lookup(&hints, &event.id).await
        };
        let resolution = match &found {
            Ok(Some(_)) => "resolved",
            Ok(None) => "unresolved",
            Err(_) => "lookup_failed",
        };
        self.metrics
            .unlinked
            .with_label_values(&[label, resolution])
            .inc();
        tracing::warn!(
            target_api = label,
            resolution,
            "leaver has no linked account; looked it up"
        );
        found.ok().flatten()
    }

    /// Calls the target with in-process retries behind its breaker.
    async fn send(&self, target: &dyn Target, change: &Change) -> TargetOutcome {
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
                        CIRCUIT_OPEN,
                        format!("{kind} circuit breaker is open"),
                    ));
                }
                let result = target.apply(change).await;
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
                        CIRCUIT_OPEN,
                        format!("{kind} probe failed: {}", e.code),
                    )),
                    other => other,
                }
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
            |err| err.code != CIRCUIT_OPEN,
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
        match attempted.result {
            Ok(Applied::Changed(fields)) => TargetOutcome::Applied(fields),
            Ok(Applied::Unchanged) => TargetOutcome::Unchanged,
            Err(error) if error.is_transient() => TargetOutcome::Deferred(Deferral {
                target: kind,
                parked: error.code == CIRCUIT_OPEN,
                code: error.code.clone(),
                detail: error.detail.clone(),
            }),
            // Rejected credentials, the wrong Vault or tenant: an operator must fix the
            // configuration, and the events only have to wait for that — parked, without
            // using up delayed-retry rounds, never dead-lettered. `/readyz` and the
            // `hrsync_target_config_problem` gauge say what is wrong.
            Err(error) if error.class == ErrorClass::Config => TargetOutcome::Deferred(Deferral {
                target: kind,
                parked: true,
                code: error.code.clone(),
                detail: error.detail.clone(),
            }),
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

    fn note_transition(&self, kind: TargetKind, transition: Option<Transition>) {
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
fn unlinked(kind: TargetKind, action: Action) -> TargetOutcome {
    if action == Action::Leaver {
        TargetOutcome::Failed(DeadLetter::for_target(
            kind,
            DeadLetterReason::Unlinked,
            &TargetError::new(
                ErrorClass::Permanent,
                "unlinked",
                format!("leaver has no known {kind} account"),
            ),
            0,
        ))
    } else {
        TargetOutcome::Unlinked
    }
}

fn store_deferral(kind: TargetKind, error: &StoreError) -> TargetOutcome {
    TargetOutcome::Deferred(Deferral {
        target: kind,
        parked: false,
        code: "store".into(),
        detail: error.to_string(),
    })
}

/// Why an event stopped before it had a verdict.
enum Interrupted {
    /// The store cannot be read or written; nothing unrecorded was left behind.
    StoreOutage,
    /// Shutdown while waiting; the message goes back to the queue.
    Shutdown,
}

/// One target's part of an event: its outcome, and what the store must remember of it.
struct Planned {
    kind: TargetKind,
    outcome: TargetOutcome,
    /// An account the store does not know yet (or knows as another id).
    link: Option<String>,
    record: Option<Record>,
}

impl Planned {
    fn new(kind: TargetKind) -> Self {
        Planned {
            kind,
            outcome: TargetOutcome::NotMapped,
            link: None,
            record: None,
        }
    }

    fn outcome(mut self, outcome: TargetOutcome, record: Option<Record>) -> Self {
        self.outcome = outcome;
        self.record = record;
        self
    }
}

/// The owned data behind a [`TargetRecord`].
enum Record {
    Applied {
        fields: serde_json::Map<String, serde_json::Value>,
        changed: Vec<String>,
        outcome: Outcome,
    },
    NotApplied(Outcome),
}

impl Record {
    fn borrow(&self, kind: TargetKind, sequence: u64) -> TargetRecord<'_> {
        match self {
            Record::Applied {
                fields,
                changed,
                outcome,
            } => TargetRecord::Applied {
                target: kind.as_str(),
                sequence,
                fields,
                changed,
                outcome: *outcome,
            },
            Record::NotApplied(outcome) => TargetRecord::NotApplied {
                target: kind.as_str(),
                outcome: *outcome,
            },
        }
    }
}
