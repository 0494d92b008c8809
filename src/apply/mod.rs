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
//!
//! # Layout, one job per file
//!
//! - this file: the [`Applier`], one event's way through gate, store read, targets, record;
//! - `decide`: the pure decision per target (duplicate, stale, match, apply);
//! - `correction`: which targets a reconcile correction is proven for, by the store;
//! - `prepare`: the change for a target — mapped fields and the account;
//! - `provision`: an account nobody linked — matched, or created under the creation guard;
//! - `call`: the guarded call — breaker, retries, metrics — and its [`TargetOutcome`];
//! - `record`: what the store must keep of it, retried through store outages;
//! - [`gate`]: effective dating and the mass-deprovision guard, before all of it;
//! - `breaker`, `retry`, `verdict`: the pieces those use.

mod breaker;
mod call;
pub mod config;
mod correction;
mod decide;
pub mod gate;
mod prepare;
mod provision;
mod record;
mod retry;
mod verdict;

pub use breaker::{Breaker, BreakerState, Transition};
pub use correction::data_digest;
pub use retry::{with_retries, Attempted};
pub use verdict::{DeadLetter, DeadLetterReason, Deferral, TargetOutcome, TargetReport, Verdict};

use decide::Step;
use record::{store_deferral, Planned};

use crate::apply::config::{BreakerConfig, RetryConfig};
use crate::event::{Action, HrEvent, InvalidEvent};
use crate::mapping::{EventContext, Mapper};
use crate::metrics::Metrics;
use crate::store::{Outcome, Store, StoreError, TargetRecord, TargetState};
use crate::targets::{Change, Target, TargetKind};
use futures_util::future::join_all;
use gate::{Decision, Gate};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

pub struct Applier {
    targets: Vec<Arc<dyn Target>>,
    /// The targets' names, in `targets`' order, for the store's per-event read.
    target_labels: Vec<&'static str>,
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
            target_labels: targets.iter().map(|t| t.kind().as_str()).collect(),
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
        // One read for the gate and every target (see `Store::event_state`).
        let read = self
            .store
            .event_state(
                &event.id,
                event.employee_id(),
                event.sequence,
                &self.target_labels,
            )
            .await;
        let state = match read {
            Ok(state) => state,
            Err(e) => {
                let verdict = self.store_failed("read", event, &e)?;
                self.record(&verdict);
                return Ok(verdict);
            }
        };
        let decision = self
            .gate
            .decide(&self.store, event, &state.held, jiff::Timestamp::now())
            .await;
        let verdict = match decision {
            Ok(Decision::Proceed {
                released_by_operator,
            }) => {
                if event.action == Action::Leaver {
                    self.guard_tripped.store(false, Ordering::Relaxed);
                }
                return self
                    .apply(event, state.targets, released_by_operator, shutdown)
                    .await;
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
            Err(e) => self.store_failed("gate", event, &e)?,
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

    /// A store error at `op` (`read`, `gate`) before any target was touched, counted: an
    /// outage makes the event wait for the store; any other error defers it.
    fn store_failed(
        &self,
        op: &'static str,
        event: &HrEvent,
        error: &StoreError,
    ) -> Result<Verdict, Interrupted> {
        self.metrics.store_errors.with_label_values(&[op]).inc();
        if error.is_outage() {
            tracing::warn!(error = %error, op, "state store unavailable; waiting for it");
            return Err(Interrupted::StoreOutage);
        }
        tracing::warn!(error = %error, op, "state store error; deferring");
        let reports = self
            .targets
            .iter()
            .map(|t| TargetReport {
                target: t.kind(),
                outcome: store_deferral(t.kind(), error),
            })
            .collect();
        Ok(Verdict::from_reports(event, reports))
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
        states: Vec<TargetState>,
        released_by_operator: bool,
        shutdown: &CancellationToken,
    ) -> Result<Verdict, Interrupted> {
        let reports = self
            .apply_to_targets(event, states, released_by_operator, shutdown)
            .await?;
        let verdict = Verdict::from_reports(event, reports);
        self.record(&verdict);
        Ok(verdict)
    }

    /// The targets in parallel, from the states read before the gate, then one store
    /// transaction for everything the event did (see `store::event_record` for why).
    async fn apply_to_targets(
        &self,
        event: &HrEvent,
        states: Vec<TargetState>,
        released_by_operator: bool,
        shutdown: &CancellationToken,
    ) -> Result<Vec<TargetReport>, Interrupted> {
        // The read and the gate worked, but another event's record may have failed
        // meanwhile: nothing is changed yet, so wait for the store instead.
        if !self.store.health().may_change_targets() {
            return Err(Interrupted::StoreOutage);
        }
        let proven = correction::proven(event, &states);
        let source = correction::source(&proven);
        // Built by the first target that needs it, shared by the others.
        let context = OnceLock::new();
        let mut planned: Vec<Planned> = join_all(self.targets.iter().zip(states).zip(proven).map(
            |((target, state), corrects)| {
                self.decide_and_apply(
                    target.as_ref(),
                    event,
                    &context,
                    state,
                    corrects,
                    released_by_operator,
                )
            },
        ))
        .await;
        self.remember(event, source, &mut planned, shutdown).await?;
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

    /// Decides from the stored state whether `target` still needs `event` (see `decide`),
    /// applies it if so, and says what to record. `corrects`: the store proves the event a
    /// reconcile correction for this target (see `correction`).
    async fn decide_and_apply(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        context: &OnceLock<EventContext>,
        state: TargetState,
        corrects: bool,
        released_by_operator: bool,
    ) -> Planned {
        let kind = target.kind();
        let mut plan = Planned::new(kind);
        let in_event = kind.account_id(&event.accounts);
        plan.link = decide::new_link(state.account.as_deref(), in_event);
        let mut known = in_event.map(str::to_string).or(state.account.clone());
        let mut created = None;
        let mapped = self.mapper.maps(kind, event.action);
        match decide::decide(&state, event.sequence, corrects, known.is_some(), mapped) {
            Step::Duplicate => return plan.outcome(TargetOutcome::Duplicate, None),
            Step::Stale => {
                let record = TargetRecord::NotApplied {
                    target: kind.as_str().to_string(),
                    outcome: Outcome::Stale,
                };
                return plan.outcome(TargetOutcome::Stale, Some(record));
            }
            Step::Match => match self.provision(target, event, released_by_operator).await {
                provision::Provisioned::Account {
                    id,
                    created: fields,
                } => {
                    plan.link = Some(id.clone());
                    known = Some(id);
                    created = fields;
                }
                // A failure is recorded once its dead letter is confirmed.
                provision::Provisioned::Outcome(outcome) => return plan.outcome(outcome, None),
            },
            Step::Apply => {}
        }
        let created_now = created.is_some();
        let context = context.get_or_init(|| self.mapper.context(event));
        let change = match self.change_for(target, event, context, known) {
            // A just-created account holds what it was created with. A correction is
            // compared with the target's own values: what hrsync last wrote is what a hand
            // edit made untrue.
            Ok(change) => Change {
                previous: state
                    .last
                    .map(|last| last.fields)
                    .filter(|_| !corrects)
                    .or(created),
                ..change
            },
            // A failure is recorded once its dead letter is confirmed (`record_dead_letters`).
            Err(outcome) => return plan.outcome(outcome, None),
        };
        let just_created = created_now;
        let outcome = match self.send(target, &change).await {
            // A new account is a change even where its create left nothing to update.
            TargetOutcome::Unchanged if just_created => {
                TargetOutcome::Applied(vec![ACCOUNT_CREATED.to_string()])
            }
            TargetOutcome::Applied(mut changed) if just_created => {
                changed.insert(0, ACCOUNT_CREATED.to_string());
                TargetOutcome::Applied(changed)
            }
            other => other,
        };
        let applied = |changed: Vec<String>, outcome| TargetRecord::Applied {
            target: kind.as_str().to_string(),
            sequence: event.sequence,
            fields: change.fields,
            changed,
            outcome,
        };
        let record = match &outcome {
            TargetOutcome::Applied(changed) => Some(applied(changed.clone(), Outcome::Applied)),
            TargetOutcome::Unchanged => Some(applied(Vec::new(), Outcome::Unchanged)),
            _ => None,
        };
        plan.outcome(outcome, record)
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

/// The name a new account has among an event's changed fields (metrics, audit log).
const ACCOUNT_CREATED: &str = "account_created";

/// Why an event stopped before it had a verdict.
enum Interrupted {
    /// The store cannot be read or written; nothing unrecorded was left behind.
    StoreOutage,
    /// Shutdown while waiting; the message goes back to the queue.
    Shutdown,
}
