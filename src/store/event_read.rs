//! The per-event read: everything the worker needs before it touches the targets — the
//! gate's facts and every target's state — in one round trip, on the read-only
//! connections beside the SQLite writer (see `event_record`
//! for why whole events).

use sqlx::any::AnyRow;

use super::event_record::{column, placeholders};
use super::{AppliedState, CorrectionProof, HeldFacts, Store, StoreError, TargetState};

/// Everything the worker reads before an event: what the gate must know of held messages
/// and each target's state. See [`Store::event_state`].
#[derive(Debug, Clone, Default)]
pub struct EventState {
    pub held: HeldFacts,
    /// In the order of the targets asked for.
    pub targets: Vec<TargetState>,
}

/// Per target: the event's recorded outcome there, the employee's linked account, the last
/// applied state and the reconcile-correction proof. `$1` event id, `$2` employee id,
/// the targets from `$first_target`; `extra` adds columns (over the same parameters).
fn target_states_sql(targets: usize, first_target: usize, extra: &str) -> String {
    format!(
        "WITH wanted (target) AS (VALUES {}) \
         SELECT w.target AS target, \
           (SELECT p.outcome FROM processed_events p \
             WHERE p.event_id = $1 AND p.target = w.target) AS outcome, \
           (SELECT a.account_id FROM account_links a \
             WHERE a.employee_id = $2 AND a.target = w.target) AS account_id, \
           s.sequence AS sequence, s.digest AS digest, s.fields AS fields, \
           s.event_id AS last_event_id, \
           c.sequence AS correction_sequence, c.data_digest AS correction_digest{extra} \
         FROM wanted w \
         LEFT JOIN applied_state s ON s.employee_id = $2 AND s.target = w.target \
         LEFT JOIN reconcile_corrections c ON c.event_id = $1 AND c.target = w.target \
           AND c.employee_id = $2",
        placeholders(targets, 1, first_target)
    )
}

/// The gate's part of [`Store::event_state`], on every row: how many of the employee's
/// pending scheduled changes a sequence `$3` supersedes, and whether a hold of this event
/// id is released or being released (only then are the holds themselves read).
const HELD_COLUMNS: &str = ", \
    (SELECT COUNT(*) FROM held_messages h WHERE h.kind = 'scheduled' AND h.status = 'pending' \
      AND h.employee_id = $2 AND h.sequence < $3) AS supersedable, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM held_messages h WHERE h.event_id = $1 \
      AND h.status IN ('releasing', 'released')) THEN 1 ELSE 0 END AS BIGINT) AS releasing";

impl Store {
    /// What the worker must know before an event, in one round trip on the readers: the
    /// gate's facts about held messages ([`Store::held_facts`]) and
    /// [`Store::target_states`]. One statement instead of two: every statement is a
    /// hand-off to SQLite's connection thread and back, which cost more than the SQL.
    /// The holds themselves are read only when one of this event id is released (an
    /// operator's or the schedule's release: rare).
    pub async fn event_state(
        &self,
        event_id: &str,
        employee_id: &str,
        sequence: u64,
        targets: &[&str],
    ) -> Result<EventState, StoreError> {
        if targets.is_empty() {
            let held = self.held_facts(event_id, employee_id, sequence).await?;
            return Ok(EventState {
                held,
                targets: Vec::new(),
            });
        }
        let rows = self
            .state_rows(
                "event_state",
                event_id,
                employee_id,
                Some(sequence),
                targets,
            )
            .await?;
        let mut held = HeldFacts::default();
        let mut releasing = false;
        if let Some(row) = rows.first() {
            let supersedable: i64 = column(row, "supersedable")?;
            held.supersedable = u64::try_from(supersedable).unwrap_or_default();
            releasing = column::<i64>(row, "releasing")? == 1;
        }
        if releasing {
            held.released = self
                .held_facts(event_id, employee_id, sequence)
                .await?
                .released;
        }
        Ok(EventState {
            held,
            targets: states_in_order(&rows, targets)?,
        })
    }

    /// Everything the worker needs before it touches the targets, in one round trip: per
    /// target, the event's recorded outcome there, the employee's linked account, the
    /// last applied state and whether the event is a reconcile correction there. The result is in the order of `targets`.
    pub async fn target_states(
        &self,
        event_id: &str,
        employee_id: &str,
        targets: &[&str],
    ) -> Result<Vec<TargetState>, StoreError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .state_rows("target_states", event_id, employee_id, None, targets)
            .await?;
        states_in_order(&rows, targets)
    }

    /// One row per target (see `target_states_sql`); with `sequence`, each row also holds
    /// the gate's columns (`HELD_COLUMNS`).
    async fn state_rows(
        &self,
        op: &'static str,
        event_id: &str,
        employee_id: &str,
        sequence: Option<u64>,
        targets: &[&str],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let sql = match sequence {
            Some(_) => target_states_sql(targets.len(), 4, HELD_COLUMNS),
            None => target_states_sql(targets.len(), 3, ""),
        };
        let mut query = sqlx::query(&sql).bind(event_id).bind(employee_id);
        if let Some(sequence) = sequence {
            query = query.bind(i64::try_from(sequence).unwrap_or(i64::MAX));
        }
        for target in targets {
            query = query.bind(*target);
        }
        query
            .fetch_all(&self.readers)
            .await
            .map_err(self.read_failed(op))
    }

    /// [`Store::target_states`] for one target.
    pub async fn target_state(
        &self,
        event_id: &str,
        employee_id: &str,
        target: &str,
    ) -> Result<TargetState, StoreError> {
        let mut states = self.target_states(event_id, employee_id, &[target]).await?;
        Ok(states.pop().unwrap_or_default())
    }
}

/// The rows' target states in the order of `targets` (a target without a row: default).
fn states_in_order(rows: &[AnyRow], targets: &[&str]) -> Result<Vec<TargetState>, StoreError> {
    let mut by_target = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let target: String = column(row, "target")?;
        by_target.insert(target, state_of(row)?);
    }
    Ok(targets
        .iter()
        .map(|t| by_target.remove(*t).unwrap_or_default())
        .collect())
}

fn state_of(row: &AnyRow) -> Result<TargetState, StoreError> {
    let outcome = column::<Option<String>>(row, "outcome")?
        .map(|o| o.parse())
        .transpose()?;
    let account = column::<Option<String>>(row, "account_id")?;
    let last = match column::<Option<String>>(row, "fields")? {
        None => None,
        Some(fields) => {
            let sequence: i64 = column(row, "sequence")?;
            Some(AppliedState {
                sequence: u64::try_from(sequence)
                    .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?,
                digest: column::<Option<String>>(row, "digest")?.unwrap_or_default(),
                fields: serde_json::from_str(&fields)
                    .map_err(|e| StoreError::Corrupt(format!("applied_state.fields: {e}")))?,
                event_id: column::<Option<String>>(row, "last_event_id")?.unwrap_or_default(),
            })
        }
    };
    let correction = match column::<Option<i64>>(row, "correction_sequence")? {
        None => None,
        Some(sequence) => Some(CorrectionProof {
            sequence: u64::try_from(sequence)
                .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?,
            data_digest: column::<Option<String>>(row, "correction_digest")?.unwrap_or_default(),
        }),
    };
    Ok(TargetState {
        outcome,
        account,
        last,
        correction,
    })
}
