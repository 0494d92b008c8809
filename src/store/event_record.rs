//! The per-event path through the store: one read before an event touches its targets
//! ([`Store::target_states`]) and one transaction after ([`Store::record_event`]).
//!
//! Why whole events and not one call per target: on SQLite every statement is a hand-off to
//! sqlx's single database thread and back, and the profile in BENCHMARKS.md showed those
//! hand-offs (not SQL, not HTTP) dominating the worker's CPU time. Reading every target's
//! state in one query and writing every target's outcome as multi-row statements in one
//! transaction turns about two dozen round trips per event into six. On PostgreSQL the same
//! statements save network round trips and commits.
//!
//! The rules are the ones the single-target calls always had: only a higher `sequence`
//! replaces an employee's last applied state (checked inside the upsert, so it holds between
//! replicas) — or the same one, by a correction the store itself holds a row for (see
//! `reconcile_corrections` in the migrations), an `applied`/`unchanged` record is never overwritten by a later non-applied
//! one, and the audit log gets field names and a digest, never values.

use std::collections::HashSet;

use serde_json::{Map, Value};
use sqlx::{any::AnyRow, Row};

use super::{
    digest,
    queries::{now_us, AuditRow},
    writer::Writer,
    EventSource, Outcome, Store, StoreError,
};

/// What one event did in one target, as the state store keeps it. The one record type from
/// the apply step to the store: built there, written here, queued as is for group commit.
#[derive(Debug, Clone)]
pub enum TargetRecord {
    /// Written, or found already holding these values: `outcome` is [`Outcome::Applied`]
    /// or [`Outcome::Unchanged`]. Becomes the employee's last applied state unless a newer
    /// sequence is already recorded.
    Applied {
        target: String,
        sequence: u64,
        fields: Map<String, Value>,
        changed: Vec<String>,
        outcome: Outcome,
    },
    /// Not applied: [`Outcome::Stale`], [`Outcome::DeadLettered`] (also audited) or
    /// [`Outcome::Unlinked`]; [`Outcome::Duplicate`] writes nothing (the first outcome
    /// stands).
    NotApplied { target: String, outcome: Outcome },
}

impl TargetRecord {
    /// The target this record is about.
    pub fn target(&self) -> &str {
        match self {
            TargetRecord::Applied { target, .. } | TargetRecord::NotApplied { target, .. } => {
                target
            }
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            TargetRecord::Applied { outcome, .. } | TargetRecord::NotApplied { outcome, .. } => {
                *outcome
            }
        }
    }

    fn is_duplicate(&self) -> bool {
        matches!(
            self,
            TargetRecord::NotApplied {
                outcome: Outcome::Duplicate,
                ..
            }
        )
    }
}

/// Everything one event leaves in the store, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct EventRecord {
    pub event_id: String,
    pub employee_id: String,
    /// Accounts the event names, as `(target, account_id)`: linked for later leavers.
    pub links: Vec<(String, String)>,
    pub targets: Vec<TargetRecord>,
    /// Where the event came from, for the audit log.
    pub source: EventSource,
}

impl EventRecord {
    fn writes_anything(&self) -> bool {
        !self.links.is_empty() || self.targets.iter().any(|t| !t.is_duplicate())
    }
}

/// What the per-event write is called in errors.
pub(super) const OP: &str = "record_event";

/// Records an outcome; an `applied`/`unchanged` one replaces anything, a non-applied one
/// never replaces an `applied`/`unchanged` one (the event did reach the target).
const UPSERT_PROCESSED_SUFFIX: &str = " \
    ON CONFLICT (event_id, target) DO UPDATE SET outcome = excluded.outcome, at_us = excluded.at_us \
    WHERE excluded.outcome IN ('applied', 'unchanged') \
       OR processed_events.outcome NOT IN ('applied', 'unchanged')";

const UPSERT_STATE_SUFFIX: &str = " \
    ON CONFLICT (employee_id, target) DO UPDATE SET \
        sequence = excluded.sequence, digest = excluded.digest, fields = excluded.fields, \
        event_id = excluded.event_id, updated_at_us = excluded.updated_at_us \
    WHERE excluded.sequence > applied_state.sequence \
       OR (excluded.sequence = applied_state.sequence AND EXISTS ( \
           SELECT 1 FROM reconcile_corrections c WHERE c.event_id = excluded.event_id \
             AND c.target = excluded.target AND c.sequence = excluded.sequence)) \
    RETURNING target";

const UPSERT_LINKS_SUFFIX: &str = " \
    ON CONFLICT (employee_id, target) DO UPDATE SET \
        account_id = excluded.account_id, linked_at_us = excluded.linked_at_us";

impl Store {
    /// Writes everything `record` holds in one transaction and returns the targets whose
    /// applied state was *not* recorded because a newer sequence already was (another
    /// replica got there first; nothing of theirs is written).
    ///
    /// On SQLite, events recorded at the same time share one transaction (group commit:
    /// see `group_commit`); each still gets its own answer.
    pub async fn record_event(&self, record: &EventRecord) -> Result<Vec<String>, StoreError> {
        for target in &record.targets {
            validate(target)?;
        }
        if !record.writes_anything() {
            return Ok(Vec::new());
        }
        let recorded = match &self.group {
            // The record carries this handle's actor: the caller that writes the batch may
            // hold another handle.
            Some(group) => group.submit(self, record.clone(), self.actor.clone()).await,
            None => self.record_alone(record).await,
        };
        if recorded.is_ok() {
            self.health.recorded();
        }
        recorded
    }

    /// [`Store::record_event`] in a transaction of its own.
    pub(super) async fn record_alone(
        &self,
        record: &EventRecord,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write(OP).await?;
        let lost = self
            .write_event(&mut tx, record, now_us(), &self.actor)
            .await?;
        tx.commit().await?;
        Ok(lost)
    }

    /// The statements of one validated event record, inside `tx`: links, then the applied
    /// states (only those that win the sequence check get the rest), then the processed
    /// outcomes and the audit entries of what was kept.
    pub(super) async fn write_event(
        &self,
        tx: &mut Writer,
        record: &EventRecord,
        now: i64,
        actor: &str,
    ) -> Result<Vec<String>, StoreError> {
        let targets: Vec<&TargetRecord> = record
            .targets
            .iter()
            .filter(|t| !t.is_duplicate())
            .collect();
        write_links(tx, record, now).await?;
        let applied: Vec<AppliedRow<'_>> = targets
            .iter()
            .filter_map(|t| AppliedRow::of(t))
            .collect::<Result<_, _>>()?;
        let written = write_applied_states(tx, record, &applied, now).await?;
        let lost: Vec<String> = applied
            .iter()
            .filter(|row| !written.contains(row.target))
            .map(|row| row.target.to_owned())
            .collect();
        let kept: Vec<&TargetRecord> = targets
            .into_iter()
            .filter(|t| match t {
                TargetRecord::Applied { target, .. } => written.contains(target),
                TargetRecord::NotApplied { .. } => true,
            })
            .collect();
        write_processed(tx, record, &kept, now).await?;
        let audited = audit_rows(record, &kept, &applied, now);
        self.insert_audit(tx, actor, &audited).await?;
        Ok(lost)
    }
}

async fn write_links(tx: &mut Writer, record: &EventRecord, now: i64) -> Result<(), StoreError> {
    if record.links.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO account_links (employee_id, target, account_id, linked_at_us) VALUES {}{}",
        placeholders(record.links.len(), 4, 1),
        UPSERT_LINKS_SUFFIX
    );
    let mut query = sqlx::query(&sql);
    for (target, account) in &record.links {
        query = query
            .bind(record.employee_id.as_str())
            .bind(target.as_str())
            .bind(account.as_str())
            .bind(now);
    }
    query.execute(tx.conn()).await.map_err(|e| tx.fail(e))?;
    Ok(())
}

/// Upserts the applied states; the targets whose state was written (a newer sequence
/// already recorded keeps its row, and that target is left out).
async fn write_applied_states(
    tx: &mut Writer,
    record: &EventRecord,
    applied: &[AppliedRow<'_>],
    now: i64,
) -> Result<HashSet<String>, StoreError> {
    let mut written = HashSet::new();
    if applied.is_empty() {
        return Ok(written);
    }
    let sql = format!(
        "INSERT INTO applied_state \
         (employee_id, target, sequence, digest, fields, event_id, updated_at_us) VALUES {}{}",
        placeholders(applied.len(), 7, 1),
        UPSERT_STATE_SUFFIX
    );
    let mut query = sqlx::query(&sql);
    for row in applied {
        query = query
            .bind(record.employee_id.as_str())
            .bind(row.target)
            .bind(row.sequence)
            .bind(row.digest.as_str())
            .bind(row.fields_json.as_str())
            .bind(record.event_id.as_str())
            .bind(now);
    }
    for row in query.fetch_all(tx.conn()).await.map_err(|e| tx.fail(e))? {
        written.insert(column(&row, "target")?);
    }
    Ok(written)
}

async fn write_processed(
    tx: &mut Writer,
    record: &EventRecord,
    kept: &[&TargetRecord],
    now: i64,
) -> Result<(), StoreError> {
    if kept.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO processed_events (event_id, target, outcome, at_us) VALUES {}{}",
        placeholders(kept.len(), 4, 1),
        UPSERT_PROCESSED_SUFFIX
    );
    let mut query = sqlx::query(&sql);
    for t in kept {
        query = query
            .bind(record.event_id.as_str())
            .bind(t.target())
            .bind(t.outcome().as_str())
            .bind(now);
    }
    query.execute(tx.conn()).await.map_err(|e| tx.fail(e))?;
    Ok(())
}

/// Audit entries for what was applied (field names and a digest, never values) and what
/// was dead-lettered.
fn audit_rows<'a>(
    record: &'a EventRecord,
    kept: &[&'a TargetRecord],
    applied: &'a [AppliedRow<'a>],
    now: i64,
) -> Vec<AuditRow<'a>> {
    kept.iter()
        .filter_map(|t| match *t {
            TargetRecord::Applied {
                target, outcome, ..
            } => applied
                .iter()
                .find(|row| row.target == target.as_str())
                .map(|row| AuditRow {
                    event_id: &record.event_id,
                    employee_id: &record.employee_id,
                    target,
                    fields_changed: &row.changed_json,
                    values_digest: &row.digest,
                    outcome: *outcome,
                    at_us: now,
                    source: record.source,
                }),
            TargetRecord::NotApplied {
                target,
                outcome: Outcome::DeadLettered,
            } => Some(AuditRow {
                event_id: &record.event_id,
                employee_id: &record.employee_id,
                target,
                fields_changed: "[]",
                values_digest: "",
                outcome: Outcome::DeadLettered,
                at_us: now,
                source: record.source,
            }),
            TargetRecord::NotApplied { .. } => None,
        })
        .collect()
}

/// An applied record prepared for binding.
struct AppliedRow<'a> {
    target: &'a str,
    sequence: i64,
    digest: String,
    fields_json: String,
    changed_json: String,
}

impl<'a> AppliedRow<'a> {
    fn of(record: &'a TargetRecord) -> Option<Result<AppliedRow<'a>, StoreError>> {
        let TargetRecord::Applied {
            target,
            sequence,
            fields,
            changed,
            ..
        } = record
        else {
            return None;
        };
        let sequence = *sequence;
        Some(
            i64::try_from(sequence)
                .map_err(|_| StoreError::SequenceOutOfRange(sequence))
                .map(|sequence| AppliedRow {
                    target,
                    sequence,
                    digest: digest(fields),
                    fields_json: Value::Object(fields.clone()).to_string(),
                    changed_json: Value::from(changed.clone()).to_string(),
                }),
        )
    }
}

/// Refuses outcomes that belong to the other kind of record (or to operators).
fn validate(record: &TargetRecord) -> Result<(), StoreError> {
    let outcome = record.outcome();
    match record {
        TargetRecord::Applied { .. } => match outcome {
            Outcome::Applied | Outcome::Unchanged => Ok(()),
            _ => Err(StoreError::InvalidOutcome {
                outcome,
                call: "record_applied",
            }),
        },
        TargetRecord::NotApplied { .. } => match outcome {
            Outcome::Duplicate | Outcome::Stale | Outcome::DeadLettered | Outcome::Unlinked => {
                Ok(())
            }
            _ => Err(StoreError::InvalidOutcome {
                outcome,
                call: "record_outcome",
            }),
        },
    }
}

/// `rows` groups of `columns` placeholders numbered from `$first`: `($1, $2), ($3, $4)`.
pub(super) fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (0..columns)
                .map(|c| format!("${}", first + r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn column<'r, T>(row: &'r AnyRow, name: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_rows_after_each_other() {
        assert_eq!(placeholders(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(3, 1, 3), "($3), ($4), ($5)");
    }
}
