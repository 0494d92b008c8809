//! The reads and writes behind [`Store`], each written once for both backends.
//!
//! Portability rules kept here: `$n` placeholders (SQLite reads `$1` as parameter 1; the
//! multi-row inserts of `event_record::insert_rows` use plain `?` on SQLite), only
//! `TEXT` and `BIGINT` columns (all `sqlx::Any` can carry), `INSERT … ON CONFLICT`, times as
//! integer microseconds. Every write that belongs together runs in one transaction; on
//! SQLite it starts with `BEGIN IMMEDIATE` so a writer takes the lock up front and waits
//! out the busy timeout instead of failing on a lock upgrade.

use serde_json::{Map, Value};
use sqlx::{any::AnyRow, Row};
use time::OffsetDateTime;

use super::{
    event_record::insert_rows, writer::Writer, AppliedState, AuditEntry, EventSource, Outcome,
    Store, StoreError,
};

const AUDIT_COLUMNS: &str =
    "event_id, employee_id, target, fields_changed, values_digest, outcome, actor, at_us, source";

impl Store {
    /// The recorded outcome of `event_id` for `target`, if it was processed (and not pruned).
    pub async fn outcome_of(
        &self,
        event_id: &str,
        target: &str,
    ) -> Result<Option<Outcome>, StoreError> {
        let row =
            sqlx::query("SELECT outcome FROM processed_events WHERE event_id = $1 AND target = $2")
                .bind(event_id)
                .bind(target)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query("outcome_of"))?;
        row.map(|row| text(&row, "outcome")?.parse()).transpose()
    }

    /// The last change applied for `employee_id` in `target`.
    pub async fn last_applied(
        &self,
        employee_id: &str,
        target: &str,
    ) -> Result<Option<AppliedState>, StoreError> {
        let row = sqlx::query(
            "SELECT sequence, digest, fields, event_id FROM applied_state \
             WHERE employee_id = $1 AND target = $2",
        )
        .bind(employee_id)
        .bind(target)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("last_applied"))?;
        let Some(row) = row else { return Ok(None) };
        let sequence = int(&row, "sequence")?;
        let fields: Map<String, Value> = serde_json::from_str(&text(&row, "fields")?)
            .map_err(|e| StoreError::Corrupt(format!("applied_state.fields: {e}")))?;
        Ok(Some(AppliedState {
            sequence: u64::try_from(sequence)
                .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?,
            digest: text(&row, "digest")?,
            fields,
            event_id: text(&row, "event_id")?,
        }))
    }

    /// Remembers that `employee_id` has `account_id` in `target` (replacing an older link).
    pub async fn link_account(
        &self,
        employee_id: &str,
        target: &str,
        account_id: &str,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO account_links (employee_id, target, account_id, linked_at_us) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (employee_id, target) DO UPDATE SET \
                 account_id = excluded.account_id, linked_at_us = excluded.linked_at_us",
        )
        .bind(employee_id)
        .bind(target)
        .bind(account_id)
        .bind(now_us());
        self.write_one("link_account", query).await.map(|_| ())
    }

    /// The account `employee_id` has in `target`, if one was linked.
    pub async fn account(
        &self,
        employee_id: &str,
        target: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id FROM account_links WHERE employee_id = $1 AND target = $2",
        )
        .bind(employee_id)
        .bind(target)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("account"))?;
        row.map(|row| text(&row, "account_id")).transpose()
    }

    /// Every linked account of `employee_id` as `(target, account_id)`, sorted by target:
    /// what a leaver without ids must reach.
    pub async fn accounts(&self, employee_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, account_id FROM account_links WHERE employee_id = $1 ORDER BY target",
        )
        .bind(employee_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("accounts"))?;
        rows.iter()
            .map(|row| Ok((text(row, "target")?, text(row, "account_id")?)))
            .collect()
    }

    /// Every link to `target`'s accounts as `(employee_id, account_id)`: what
    /// reconciliation compares the target's accounts with. Read only.
    pub async fn links_of(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT employee_id, account_id FROM account_links WHERE target = $1 ORDER BY employee_id",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("links_of"))?;
        rows.iter()
            .map(|row| Ok((text(row, "employee_id")?, text(row, "account_id")?)))
            .collect()
    }

    /// Every employee's last applied fields in `target`.
    pub async fn applied_fields_of(
        &self,
        target: &str,
    ) -> Result<Vec<(String, Map<String, Value>)>, StoreError> {
        let rows = sqlx::query("SELECT employee_id, fields FROM applied_state WHERE target = $1")
            .bind(target)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("applied_fields_of"))?;
        rows.iter()
            .map(|row| {
                let fields = serde_json::from_str(&text(row, "fields")?)
                    .map_err(|e| StoreError::Corrupt(format!("applied_state.fields: {e}")))?;
                Ok((text(row, "employee_id")?, fields))
            })
            .collect()
    }

    /// Audit entries, newest first, at most `limit` (none if `limit <= 0`); all employees,
    /// or only `employee_id`'s.
    pub async fn audit(
        &self,
        employee_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.max(0);
        let rows = match employee_id {
            Some(employee_id) => {
                sqlx::query(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE employee_id = $1 \
                     ORDER BY at_us DESC, id DESC LIMIT $2"
                ))
                .bind(employee_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY at_us DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::query("audit"))?;
        rows.iter().map(audit_entry).collect()
    }

    /// Opens `target` to `event_id` again after its dead letter is replayed: the worker
    /// treats a dead-lettered target as settled for that event, so only this — an operator
    /// command with store access, never anything in a message — lets it be tried again.
    /// Audited under this handle's actor; false if the target was not dead-lettered.
    pub async fn reopen_dead_lettered(
        &self,
        event_id: &str,
        employee_id: &str,
        target: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "reopen_dead_lettered";
        let mut tx = self.begin_write(OP).await?;
        let done = sqlx::query(
            "DELETE FROM processed_events \
             WHERE event_id = $1 AND target = $2 AND outcome = 'dead_lettered'",
        )
        .bind(event_id)
        .bind(target)
        .execute(tx.conn())
        .await
        .map_err(|e| tx.fail(e))?;
        if done.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(false);
        }
        let row = AuditRow {
            event_id,
            employee_id,
            target,
            fields_changed: "[]",
            values_digest: "",
            outcome: Outcome::Replayed,
            at_us: now_us(),
            source: EventSource::Hr,
            actor: self.actor(),
        };
        self.insert_audit(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes processed-event rows and reconcile-correction rows recorded more than
    /// `older_than` ago, in one transaction, and returns how many rows went. Audit entries,
    /// last-applied state and account links are kept. (A correction's row outlives its use:
    /// once its event is older than the retention, a redelivery of it is only an ordinary
    /// event, stale at the sequence it re-asserted.)
    pub async fn prune(&self, older_than: time::Duration) -> Result<u64, StoreError> {
        let cutoff = i128::from(now_us()) - older_than.whole_microseconds();
        let cutoff = i64::try_from(cutoff).unwrap_or(if cutoff < 0 { i64::MIN } else { i64::MAX });
        let mut tx = self.begin_write("prune").await?;
        let mut removed = 0;
        for sql in [
            "DELETE FROM processed_events WHERE at_us < $1",
            "DELETE FROM reconcile_corrections WHERE created_at_us < $1",
        ] {
            let done = sqlx::query(sql).bind(cutoff).execute(tx.conn()).await;
            removed += done.map_err(|e| tx.fail(e))?.rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Appends `rows` to the audit log, in as few statements as the parameter limit allows
    /// (nothing for no rows).
    pub(super) async fn insert_audit(
        &self,
        tx: &mut Writer,
        rows: &[AuditRow<'_>],
    ) -> Result<(), StoreError> {
        let head = format!("INSERT INTO audit_log ({AUDIT_COLUMNS})");
        insert_rows(tx, &head, 9, "", rows, |query, row| {
            query
                .bind(row.event_id)
                .bind(row.employee_id)
                .bind(row.target)
                .bind(row.fields_changed)
                .bind(row.values_digest)
                .bind(row.outcome.as_str())
                .bind(row.actor)
                .bind(row.at_us)
                .bind(row.source.as_str())
        })
        .await
        .map(|_| ())
    }
}

/// An audit entry on its way in; `fields_changed` is already a JSON array.
pub(super) struct AuditRow<'a> {
    pub event_id: &'a str,
    pub employee_id: &'a str,
    pub target: &'a str,
    pub fields_changed: &'a str,
    pub values_digest: &'a str,
    pub outcome: Outcome,
    pub at_us: i64,
    pub source: EventSource,
    /// Who the entry names: the worker, or the operator who ran the command.
    pub actor: &'a str,
}

fn audit_entry(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let fields_changed: Vec<String> = serde_json::from_str(&text(row, "fields_changed")?)
        .map_err(|e| StoreError::Corrupt(format!("audit_log.fields_changed: {e}")))?;
    Ok(AuditEntry {
        event_id: text(row, "event_id")?,
        employee_id: text(row, "employee_id")?,
        target: text(row, "target")?,
        fields_changed,
        values_digest: text(row, "values_digest")?,
        outcome: text(row, "outcome")?.parse()?,
        actor: text(row, "actor")?,
        at: from_us(int(row, "at_us")?)?,
        source: text(row, "source")?,
    })
}

fn text(row: &AnyRow, column: &'static str) -> Result<String, StoreError> {
    row.try_get(column)
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

fn int(row: &AnyRow, column: &'static str) -> Result<i64, StoreError> {
    row.try_get(column)
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Now, in microseconds since the Unix epoch (the stored time format).
pub(super) fn now_us() -> i64 {
    let micros = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
    i64::try_from(micros).unwrap_or(i64::MAX)
}

pub(super) fn from_us(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| StoreError::Corrupt(format!("time {micros}: {e}")))
}
