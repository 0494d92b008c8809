//! `hrsync audit list`: the store's audit log — which event changed which fields of whom in
//! which target, with what outcome, by whom — newest first. Field names and a digest of
//! the values, never the values.

use crate::store::AuditEntry;
use serde_json::{json, Value};
use std::fmt::Write as _;
use time::format_description::well_known::Rfc3339;

fn at(entry: &AuditEntry) -> String {
    entry.at.format(&Rfc3339).unwrap_or_default()
}

/// A table of audit entries, one a line, for a terminal.
pub fn table(entries: &[AuditEntry]) -> String {
    let mut out = format!(
        "{:<30} {:<12} {:<12} {:<14} {:<12} {:<9} {:<38} FIELDS\n",
        "AT", "EMPLOYEE", "TARGET", "OUTCOME", "ACTOR", "SOURCE", "EVENT ID"
    );
    for e in entries {
        let _ = writeln!(
            out,
            "{:<30} {:<12} {:<12} {:<14} {:<12} {:<9} {:<38} {}",
            at(e),
            e.employee_id,
            e.target,
            e.outcome.as_str(),
            e.actor,
            e.source,
            e.event_id,
            e.fields_changed.join(",")
        );
    }
    let _ = write!(out, "{} entr{}", entries.len(), plural(entries.len()));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// One audit entry as JSON.
pub fn entry_json(entry: &AuditEntry) -> Value {
    json!({
        "event_id": entry.event_id,
        "employee_id": entry.employee_id,
        "target": entry.target,
        "fields_changed": entry.fields_changed,
        "values_digest": entry.values_digest,
        "outcome": entry.outcome.as_str(),
        "actor": entry.actor,
        "at": at(entry),
        "source": entry.source,
    })
}

/// Audit entries as a JSON array, newest first.
pub fn json(entries: &[AuditEntry]) -> Value {
    Value::Array(entries.iter().map(entry_json).collect())
}
