//! The per-event read: everything the worker needs before it touches the targets, in one
//! round trip, on the read-only connections beside the SQLite writer (see `event_record`
//! for why whole events).

use sqlx::any::AnyRow;

use super::event_record::{column, placeholders};
use super::{AppliedState, CorrectionProof, Store, StoreError, TargetState};

impl Store {
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
        let sql = format!(
            "WITH wanted (target) AS (VALUES {}) \
             SELECT w.target AS target, \
               (SELECT p.outcome FROM processed_events p \
                 WHERE p.event_id = $1 AND p.target = w.target) AS outcome, \
               (SELECT a.account_id FROM account_links a \
                 WHERE a.employee_id = $2 AND a.target = w.target) AS account_id, \
               s.sequence AS sequence, s.digest AS digest, s.fields AS fields, \
               s.event_id AS last_event_id, \
               c.sequence AS correction_sequence, c.data_digest AS correction_digest \
             FROM wanted w \
             LEFT JOIN applied_state s ON s.employee_id = $2 AND s.target = w.target \
             LEFT JOIN reconcile_corrections c ON c.event_id = $1 AND c.target = w.target \
               AND c.employee_id = $2",
            placeholders(targets.len(), 1, 3)
        );
        let mut query = sqlx::query(&sql).bind(event_id).bind(employee_id);
        for target in targets {
            query = query.bind(*target);
        }
        let rows = query
            .fetch_all(&self.readers)
            .await
            .map_err(self.read_failed("target_states"))?;
        let mut by_target = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let target: String = column(row, "target")?;
            by_target.insert(target, state_of(row)?);
        }
        Ok(targets
            .iter()
            .map(|t| by_target.remove(*t).unwrap_or_default())
            .collect())
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
