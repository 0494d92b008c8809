//! Reconcile corrections: which targets of an event `hrsync reconcile --apply` published
//! to correct, as the store proves it. A row in `reconcile_corrections` for the event id and
//! target, at the event's sequence and with the digest of the event's `data`, is the only
//! proof — the `x-hrsync-source` header is for people reading the queue and is never looked
//! at, since anything a publisher sets may not lift a safety.
//!
//! A proven correction differs from an ordinary event in two ways only: it may re-assert
//! the HR record at the sequence already applied (never below it), and its change is
//! compared with the target's own values, not with what hrsync last wrote — a hand edit in
//! the target is exactly what that comparison misses. Dedupe, effective dating and both
//! guards apply to it as to any event.

use crate::event::HrEvent;
use crate::store::{EventSource, TargetState};

/// Per state, in order: whether the event is a proven correction for that target.
pub(super) fn proven(event: &HrEvent, states: &[TargetState]) -> Vec<bool> {
    if states.iter().all(|s| s.correction.is_none()) {
        // The usual case costs no digest.
        return vec![false; states.len()];
    }
    let digest = data_digest(&event.data);
    states
        .iter()
        .map(|s| {
            s.correction
                .as_ref()
                .is_some_and(|c| c.sequence == event.sequence && c.data_digest == digest)
        })
        .collect()
}

/// The event's source for the audit log.
pub(super) fn source(proven: &[bool]) -> EventSource {
    if proven.iter().any(|p| *p) {
        EventSource::Reconcile
    } else {
        EventSource::Hr
    }
}

/// The digest a correction row binds an event's `data` by.
pub fn data_digest(data: &serde_json::Value) -> String {
    match data {
        serde_json::Value::Object(map) => crate::store::digest(map),
        other => crate::store::digest(&serde_json::Map::from_iter([(
            "data".to_string(),
            other.clone(),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Accounts, Action};
    use crate::store::CorrectionProof;
    use serde_json::json;

    fn event(sequence: u64, title: &str) -> HrEvent {
        HrEvent {
            id: "reconcile-1".into(),
            source: "urn:hrsync:reconcile".into(),
            action: Action::Mover,
            subject: "E1".into(),
            time: time::OffsetDateTime::now_utc(),
            sequence,
            data: json!({"employee_id": "E1", "person": {"title": title}}),
            accounts: Accounts::default(),
        }
    }

    fn state(proof: Option<CorrectionProof>) -> TargetState {
        TargetState {
            correction: proof,
            ..TargetState::default()
        }
    }

    #[test]
    fn only_a_row_at_the_events_sequence_and_data_proves_a_correction() {
        let published = event(4, "CRA");
        let row = CorrectionProof {
            sequence: 4,
            data_digest: data_digest(&published.data),
        };
        let states = [state(Some(row.clone())), state(None)];
        assert_eq!(proven(&published, &states), [true, false]);
        assert_eq!(source(&proven(&published, &states)), EventSource::Reconcile);
        // The same id with other values, or at another sequence, is an ordinary event.
        let other_values = event(4, "Director");
        assert_eq!(proven(&other_values, &states), [false, false]);
        assert_eq!(source(&proven(&other_values, &states)), EventSource::Hr);
        assert_eq!(proven(&event(5, "CRA"), &states), [false, false]);
    }
}
