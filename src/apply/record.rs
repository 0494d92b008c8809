//! Recording what an event did, after its targets were called: its outcomes, account links
//! and audit entries in one store transaction — and, once the source has its dead letters
//! confirmed by the broker, that those targets are settled by them.
//!
//! A record that fails for a store outage is not given up: the targets were changed, and
//! if the message were deferred newer events of the same employee could run ahead of it
//! and be overwritten when it came back. So the event holds (its message unacked, its lane
//! busy) and retries the record until it is written, counted as unrecorded in the store's
//! health so no other event starts meanwhile. Shutdown ends the wait and the message goes
//! back to the queue: its redelivery finds the targets already changed (diff before write)
//! and records them then.

use super::{Applier, DeadLetter, Deferral, Interrupted, TargetOutcome};
use crate::event::HrEvent;
use crate::store::{
    health::PROBE_INTERVAL, EventRecord, EventSource, Outcome, StoreError, TargetRecord,
};
use crate::targets::{ErrorCode, TargetKind};
use tokio_util::sync::CancellationToken;

impl Applier {
    /// Records what `event` did in every target, in one store transaction.
    pub(super) async fn remember(
        &self,
        event: &HrEvent,
        source: EventSource,
        planned: &mut [Planned],
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let record = EventRecord {
            event_id: event.id.clone(),
            employee_id: event.employee_id().to_string(),
            links: planned
                .iter()
                .filter_map(|p| Some((p.kind.as_str().to_string(), p.link.clone()?)))
                .collect(),
            targets: planned.iter().filter_map(|p| p.record.clone()).collect(),
            source,
        };
        // Only a record of changed targets is worth holding the message for: otherwise the
        // event starts again once the store is back, and finds the same.
        let changed_targets = planned
            .iter()
            .any(|p| matches!(p.outcome, TargetOutcome::Applied(_)));
        let written = if changed_targets {
            self.write_until_recorded(&record, shutdown).await
        } else {
            match self.store.record_event(&record).await {
                Err(e) if e.is_outage() => {
                    self.metrics
                        .store_errors
                        .with_label_values(&["record"])
                        .inc();
                    tracing::warn!(error = %e, "state store cannot record; nothing was changed, the event waits for it");
                    return Err(Interrupted::StoreOutage);
                }
                other => other.map_err(Some),
            }
        };
        match written {
            Ok(lost) => {
                for target in &lost {
                    // Another replica applied a newer sequence meanwhile; ours reached the
                    // target first or is identical, and the newer state stays recorded.
                    tracing::warn!(
                        target_api = target,
                        "a newer sequence was recorded concurrently"
                    );
                }
                Ok(())
            }
            Err(Some(e)) => {
                // About this record, not the store: waiting would not help.
                tracing::error!(error = %e, "state store refused the event's record; deferring it");
                for p in planned
                    .iter_mut()
                    .filter(|p| p.record.is_some() || p.link.is_some())
                {
                    p.outcome = store_deferral(p.kind, &e);
                }
                Ok(())
            }
            Err(None) => Err(Interrupted::Shutdown),
        }
    }

    /// Records that the targets of `letters` are settled for `event` by their dead letters,
    /// which the broker has confirmed: the event's later rounds (a parked target coming
    /// back, a redelivery) do not dead-letter them again. Returns false if shutdown came
    /// first; the dead letters stand either way.
    pub async fn record_dead_letters(
        &self,
        event: &HrEvent,
        letters: &[DeadLetter],
        shutdown: &CancellationToken,
    ) -> bool {
        let targets: Vec<TargetRecord> = letters
            .iter()
            .filter_map(|letter| letter.target)
            .map(|target| TargetRecord::NotApplied {
                target: target.as_str().to_string(),
                outcome: Outcome::DeadLettered,
            })
            .collect();
        if targets.is_empty() {
            return true;
        }
        // Rare enough for a read of its own; a failed read only costs the audit's label.
        let source = self.source_of_settled(event).await;
        let record = EventRecord {
            event_id: event.id.clone(),
            employee_id: event.employee_id().to_string(),
            links: Vec::new(),
            targets,
            source,
        };
        match self.write_until_recorded(&record, shutdown).await {
            Ok(_) => true,
            Err(Some(e)) => {
                tracing::error!(error = %e, "could not record the dead-lettered targets");
                true
            }
            Err(None) => false,
        }
    }

    /// Writes `record`, retrying through a store outage until it is written; `Err(Some)`
    /// for an error waiting cannot heal, `Err(None)` on shutdown.
    async fn write_until_recorded(
        &self,
        record: &EventRecord,
        shutdown: &CancellationToken,
    ) -> Result<Vec<String>, Option<StoreError>> {
        let mut unrecorded = None;
        loop {
            let error = match self.store.record_event(record).await {
                Ok(lost) => {
                    if unrecorded.is_some() {
                        tracing::info!("state store recorded the held event");
                    }
                    return Ok(lost);
                }
                Err(e) => e,
            };
            self.metrics
                .store_errors
                .with_label_values(&["record"])
                .inc();
            if !error.is_outage() {
                return Err(Some(error));
            }
            if unrecorded.is_none() {
                tracing::error!(
                    error = %error,
                    "targets were changed but the state store cannot record it; holding the message and retrying the record, no other event starts meanwhile"
                );
                unrecorded = Some(self.store.health().unrecorded());
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Err(None),
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            }
        }
    }
}

pub(super) fn store_deferral(kind: TargetKind, error: &StoreError) -> TargetOutcome {
    TargetOutcome::Deferred(Deferral {
        target: kind,
        parked: false,
        code: ErrorCode::Store.to_string(),
        detail: error.to_string(),
    })
}

/// One target's part of an event: its outcome, and what the store must remember of it.
pub(super) struct Planned {
    pub(super) kind: TargetKind,
    pub(super) outcome: TargetOutcome,
    /// An account the store does not know yet (or knows as another id).
    pub(super) link: Option<String>,
    /// What the store must remember of this target's part.
    pub(super) record: Option<TargetRecord>,
}

impl Planned {
    pub(super) fn new(kind: TargetKind) -> Self {
        Planned {
            kind,
            outcome: TargetOutcome::NotMapped,
            link: None,
            record: None,
        }
    }

    pub(super) fn outcome(mut self, outcome: TargetOutcome, record: Option<TargetRecord>) -> Self {
        self.outcome = outcome;
        self.record = record;
        self
    }
}

impl Applier {
    /// Where `event` came from, read again for its dead letters (a rare path; a failed
    /// read only costs the audit entry its `reconcile` label).
    async fn source_of_settled(&self, event: &HrEvent) -> EventSource {
        match self
            .store
            .target_states(&event.id, event.employee_id(), &self.target_labels)
            .await
        {
            Ok(states) => super::correction::source(&super::correction::proven(event, &states)),
            Err(_) => EventSource::Hr,
        }
    }
}
