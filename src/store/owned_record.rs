//! An [`EventRecord`] that owns its data, for the group-commit queue (the caller's borrowed
//! record cannot wait there).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{EventRecord, Outcome, TargetRecord};

pub(super) struct OwnedEventRecord {
    /// Who the audit entries name.
    pub(super) actor: Arc<str>,
    event_id: String,
    employee_id: String,
    links: Vec<(String, String)>,
    targets: Vec<OwnedTargetRecord>,
}

enum OwnedTargetRecord {
    Applied {
        target: String,
        sequence: u64,
        fields: Map<String, Value>,
        changed: Vec<String>,
        outcome: Outcome,
    },
    NotApplied {
        target: String,
        outcome: Outcome,
    },
}

impl OwnedEventRecord {
    pub(super) fn of(record: &EventRecord<'_>, actor: &Arc<str>) -> Self {
        OwnedEventRecord {
            actor: actor.clone(),
            event_id: record.event_id.to_owned(),
            employee_id: record.employee_id.to_owned(),
            links: record
                .links
                .iter()
                .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
                .collect(),
            targets: record
                .targets
                .iter()
                .map(|t| match *t {
                    TargetRecord::Applied {
                        target,
                        sequence,
                        fields,
                        changed,
                        outcome,
                    } => OwnedTargetRecord::Applied {
                        target: target.to_owned(),
                        sequence,
                        fields: fields.clone(),
                        changed: changed.to_vec(),
                        outcome,
                    },
                    TargetRecord::NotApplied { target, outcome } => OwnedTargetRecord::NotApplied {
                        target: target.to_owned(),
                        outcome,
                    },
                })
                .collect(),
        }
    }

    pub(super) fn borrow(&self) -> EventRecord<'_> {
        EventRecord {
            event_id: &self.event_id,
            employee_id: &self.employee_id,
            links: self
                .links
                .iter()
                .map(|(t, a)| (t.as_str(), a.as_str()))
                .collect(),
            targets: self
                .targets
                .iter()
                .map(|t| match t {
                    OwnedTargetRecord::Applied {
                        target,
                        sequence,
                        fields,
                        changed,
                        outcome,
                    } => TargetRecord::Applied {
                        target,
                        sequence: *sequence,
                        fields,
                        changed,
                        outcome: *outcome,
                    },
                    OwnedTargetRecord::NotApplied { target, outcome } => TargetRecord::NotApplied {
                        target,
                        outcome: *outcome,
                    },
                })
                .collect(),
        }
    }
}
