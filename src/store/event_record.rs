//! The per-event path through the store: one read before an event passes the gate and
//! touches its targets ([`Store::event_state`]) and one transaction after
//! ([`Store::record_event`]).
//!
//! Why whole events and not one call per target: on SQLite every statement is a hand-off to
//! sqlx's database thread and back, and the profiles in BENCHMARKS.md showed those
//! hand-offs (not SQL, not HTTP) dominating the worker's CPU time. Reading the gate's facts
//! and every target's state in one query, and writing every target's outcome as multi-row
//! statements — over all the events of a group commit at once — turns about two dozen round
//! trips per event into one read per event and four statements per group commit. On
//! PostgreSQL the same statements save network round trips and commits.
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
    Backend, EventSource, Outcome, Store, StoreError,
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
    RETURNING employee_id, target";

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
        let mut lost = self
            .write_events(&mut tx, &[(record, &self.actor)], now_us())
            .await?;
        tx.commit().await?;
        Ok(lost.pop().unwrap_or_default())
    }

    /// The statements of validated event records, each with the actor its audit entries
    /// name, inside `tx`; per record, the targets that lost to a newer sequence. Records
    /// are written as if one after the other, but as multi-row statements over all of them:
    /// links, then the applied states (only those that win the sequence check get the
    /// rest), then the processed outcomes and the audit entries of what was kept. Four
    /// statements for a whole group commit instead of four per event — each statement is a
    /// hand-off to SQLite's connection thread and back.
    pub(super) async fn write_events(
        &self,
        tx: &mut Writer,
        records: &[(&EventRecord, &str)],
        now: i64,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let mut lost = Vec::with_capacity(records.len());
        for run in runs_without_repeats(records) {
            lost.extend(self.write_run(tx, run, now).await?);
        }
        Ok(lost)
    }

    /// [`Store::write_events`] for records no two of which share an employee or an event
    /// id: no row is written twice by one statement, so each record's rows are its own.
    async fn write_run(
        &self,
        tx: &mut Writer,
        records: &[(&EventRecord, &str)],
        now: i64,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let prepared: Vec<Prepared<'_>> = records
            .iter()
            .map(|(record, actor)| Prepared::of(record, actor))
            .collect::<Result<_, _>>()?;
        write_links(tx, records, now).await?;
        let written = write_applied_states(tx, &prepared, now).await?;
        let written: HashSet<(&str, &str)> = written
            .iter()
            .map(|(employee, target)| (employee.as_str(), target.as_str()))
            .collect();
        let won = |p: &Prepared<'_>, target: &str| {
            written.contains(&(p.record.employee_id.as_str(), target))
        };
        let kept: Vec<(&Prepared<'_>, &TargetRecord)> = prepared
            .iter()
            .flat_map(|p| {
                p.targets
                    .iter()
                    .filter(|t| match t {
                        TargetRecord::Applied { target, .. } => won(p, target),
                        TargetRecord::NotApplied { .. } => true,
                    })
                    .map(move |t| (p, *t))
            })
            .collect();
        write_processed(tx, &kept, now).await?;
        let audited = audit_rows(&kept, now);
        self.insert_audit(tx, &audited).await?;
        Ok(prepared
            .iter()
            .map(|p| {
                p.applied
                    .iter()
                    .filter(|row| !won(p, row.target))
                    .map(|row| row.target.to_owned())
                    .collect()
            })
            .collect())
    }
}

/// One record made ready for binding: its non-duplicate targets and applied rows.
struct Prepared<'a> {
    record: &'a EventRecord,
    actor: &'a str,
    targets: Vec<&'a TargetRecord>,
    applied: Vec<AppliedRow<'a>>,
}

impl<'a> Prepared<'a> {
    fn of(record: &'a EventRecord, actor: &'a str) -> Result<Prepared<'a>, StoreError> {
        let targets: Vec<&TargetRecord> = record
            .targets
            .iter()
            .filter(|t| !t.is_duplicate())
            .collect();
        let applied = targets
            .iter()
            .filter_map(|t| AppliedRow::of(t))
            .collect::<Result<_, _>>()?;
        Ok(Prepared {
            record,
            actor,
            targets,
            applied,
        })
    }
}

/// `records` cut into runs, in order, in which no employee and no event id comes twice.
/// Within one worker an employee's events never overlap (its lane), so a group commit is
/// one run; the cut keeps any other caller exact, and PostgreSQL refuses an upsert that
/// touches a row twice.
fn runs_without_repeats<'s, 'a>(
    records: &'s [(&'a EventRecord, &'a str)],
) -> impl Iterator<Item = &'s [(&'a EventRecord, &'a str)]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut seen = HashSet::new();
        let len = rest
            .iter()
            .take_while(|(record, _)| {
                seen.insert(("employee", record.employee_id.as_str()))
                    && seen.insert(("event", record.event_id.as_str()))
            })
            .count()
            .max(1);
        let (run, after) = rest.split_at(len);
        rest = after;
        Some(run)
    })
}

/// The most parameters one statement binds: under SQLite's limit (32,766 since 3.32) and
/// PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;

/// Beyond this many rows a statement is prepared for one use only: the statement cache
/// keeps the common small shapes instead of one entry per batch size.
const CACHED_ROWS: usize = 8;

/// `{head} VALUES (…), (…){suffix}` for every row, `columns` parameters each, in as few
/// statements as [`MAX_PARAMETERS`] allows; the rows a `RETURNING` suffix gave.
///
/// On SQLite the placeholders are plain `?`, not `$n`: SQLite finds a named parameter by
/// a linear search of the statement's names, so binding thousands of `$n` took time
/// quadratic in their number (the bulk-mode profile: 41 % of the worker in
/// `sqlite3_bind_parameter_name`). An anonymous `?` is bound by position.
pub(super) async fn insert_rows<R>(
    tx: &mut Writer,
    head: &str,
    columns: usize,
    suffix: &str,
    rows: &[R],
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        &'q R,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut returned = Vec::new();
    for chunk in rows.chunks((MAX_PARAMETERS / columns).max(1)) {
        let values = match tx.backend() {
            Backend::Sqlite => anonymous_placeholders(chunk.len(), columns),
            Backend::Postgres => placeholders(chunk.len(), columns, 1),
        };
        let sql = format!("{head} VALUES {values}{suffix}");
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for row in chunk {
            query = bind(query, row);
        }
        let done = query.fetch_all(tx.conn()).await;
        returned.extend(done.map_err(|e| tx.fail(e))?);
    }
    Ok(returned)
}

async fn write_links(
    tx: &mut Writer,
    records: &[(&EventRecord, &str)],
    now: i64,
) -> Result<(), StoreError> {
    let links: Vec<(&str, &str, &str)> = records
        .iter()
        .flat_map(|(record, _)| {
            record.links.iter().map(|(target, account)| {
                (
                    record.employee_id.as_str(),
                    target.as_str(),
                    account.as_str(),
                )
            })
        })
        .collect();
    let head = "INSERT INTO account_links (employee_id, target, account_id, linked_at_us)";
    insert_rows(tx, head, 4, UPSERT_LINKS_SUFFIX, &links, |query, link| {
        query.bind(link.0).bind(link.1).bind(link.2).bind(now)
    })
    .await
    .map(|_| ())
}

/// Upserts the applied states; the `(employee, target)` pairs whose state was written (a
/// newer sequence already recorded keeps its row, and that pair is left out).
async fn write_applied_states(
    tx: &mut Writer,
    prepared: &[Prepared<'_>],
    now: i64,
) -> Result<HashSet<(String, String)>, StoreError> {
    let rows: Vec<(&EventRecord, &AppliedRow<'_>)> = prepared
        .iter()
        .flat_map(|p| p.applied.iter().map(move |row| (p.record, row)))
        .collect();
    let head = "INSERT INTO applied_state \
         (employee_id, target, sequence, digest, fields, event_id, updated_at_us)";
    let returned = insert_rows(
        tx,
        head,
        7,
        UPSERT_STATE_SUFFIX,
        &rows,
        |query, (record, row)| {
            query
                .bind(record.employee_id.as_str())
                .bind(row.target)
                .bind(row.sequence)
                .bind(row.digest.as_str())
                .bind(row.fields_json.as_str())
                .bind(record.event_id.as_str())
                .bind(now)
        },
    )
    .await?;
    returned
        .iter()
        .map(|row| Ok((column(row, "employee_id")?, column(row, "target")?)))
        .collect()
}

async fn write_processed(
    tx: &mut Writer,
    kept: &[(&Prepared<'_>, &TargetRecord)],
    now: i64,
) -> Result<(), StoreError> {
    let head = "INSERT INTO processed_events (event_id, target, outcome, at_us)";
    insert_rows(
        tx,
        head,
        4,
        UPSERT_PROCESSED_SUFFIX,
        kept,
        |query, (p, t)| {
            query
                .bind(p.record.event_id.as_str())
                .bind(t.target())
                .bind(t.outcome().as_str())
                .bind(now)
        },
    )
    .await
    .map(|_| ())
}

/// Audit entries for what was applied (field names and a digest, never values) and what
/// was dead-lettered.
fn audit_rows<'a>(kept: &[(&'a Prepared<'a>, &'a TargetRecord)], now: i64) -> Vec<AuditRow<'a>> {
    kept.iter()
        .filter_map(|(p, t)| {
            let record = p.record;
            match *t {
                TargetRecord::Applied {
                    target, outcome, ..
                } => p
                    .applied
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
                        actor: p.actor,
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
                    actor: p.actor,
                }),
                TargetRecord::NotApplied { .. } => None,
            }
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

/// `rows` groups of `columns` anonymous placeholders: `(?, ?), (?, ?)`.
fn anonymous_placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
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
    use super::{placeholders, runs_without_repeats, EventRecord};

    #[test]
    fn a_group_is_cut_where_an_employee_or_an_event_id_comes_again() {
        let record = |event: &str, employee: &str| EventRecord {
            event_id: event.into(),
            employee_id: employee.into(),
            ..Default::default()
        };
        let records = [
            record("a", "e1"),
            record("b", "e2"),
            record("c", "e1"), // e1 again
            record("b", "e3"), // event b again, but not in this run
            record("d", "e3"), // e3 again
        ];
        let batch: Vec<(&EventRecord, &str)> = records.iter().map(|r| (r, "worker")).collect();
        let runs: Vec<Vec<&str>> = runs_without_repeats(&batch)
            .map(|run| run.iter().map(|(r, _)| r.event_id.as_str()).collect())
            .collect();
        assert_eq!(runs, vec![vec!["a", "b"], vec!["c", "b"], vec!["d"]]);
        assert_eq!(runs_without_repeats(&[]).count(), 0);
    }

    #[test]
    fn placeholders_number_rows_after_each_other() {
        assert_eq!(super::anonymous_placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(3, 1, 3), "($3), ($4), ($5)");
    }
}
