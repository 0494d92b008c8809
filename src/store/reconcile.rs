//! The last successful reconciliation per target: what the next run compares its read
//! with, and what the worker exports as metrics (the run itself is a short-lived command
//! no Prometheus scrapes). And the corrections `reconcile --apply` publishes: their rows
//! are what proves an event is one (the per-event read and the applied-state upsert look
//! them up), so a message can never claim to be a correction.

use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

use super::event_record::placeholders;
use super::queries::now_us;
use super::{Store, StoreError};

/// One target's last successful run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRun {
    pub target: String,
    pub listed: u64,
    pub counts: BTreeMap<String, u64>,
    pub finished_at: time::OffsetDateTime,
}

impl Store {
    /// Records `target`'s successful run (replacing the one before).
    pub async fn record_reconcile(
        &self,
        target: &str,
        listed: u64,
        counts: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        let counts = serde_json::to_string(counts).expect("counts serialise");
        let query = sqlx::query(
            "INSERT INTO reconcile_runs (target, listed, counts, finished_at_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (target) DO UPDATE SET listed = excluded.listed, counts = excluded.counts, \
             finished_at_us = excluded.finished_at_us",
        )
        .bind(target)
        .bind(i64::try_from(listed).unwrap_or(i64::MAX))
        .bind(counts)
        .bind(now_us());
        self.write_one("record_reconcile", query).await.map(|_| ())
    }

    /// Every target's last successful run.
    pub async fn last_reconciles(&self) -> Result<Vec<ReconcileRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, listed, counts, finished_at_us FROM reconcile_runs ORDER BY target",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("last_reconciles"))?;
        rows.iter()
            .map(|row| {
                let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
                let target: String = row.try_get("target").map_err(|e| corrupt(&e))?;
                let listed: i64 = row.try_get("listed").map_err(|e| corrupt(&e))?;
                let counts: String = row.try_get("counts").map_err(|e| corrupt(&e))?;
                let at: i64 = row.try_get("finished_at_us").map_err(|e| corrupt(&e))?;
                Ok(ReconcileRun {
                    target,
                    listed: listed.max(0) as u64,
                    counts: serde_json::from_str(&counts).map_err(|e| corrupt(&e))?,
                    finished_at: time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(at) * 1000,
                    )
                    .map_err(|e| corrupt(&e))?,
                })
            })
            .collect()
    }

    /// Records `corrections` (one transaction) before their events are published: an
    /// event whose row is missing is only an ordinary event.
    pub async fn record_corrections(&self, corrections: &[Correction]) -> Result<(), StoreError> {
        let rows: Vec<(&Correction, &String)> = corrections
            .iter()
            .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let now = now_us();
        let mut tx = self.begin_write("record_corrections").await?;
        // 7 binds a row; 100 rows stay far below every backend's parameter limit.
        for chunk in rows.chunks(100) {
            let sql = format!(
                "INSERT INTO reconcile_corrections \
                 (event_id, target, employee_id, sequence, data_digest, actor, created_at_us) \
                 VALUES {} ON CONFLICT (event_id, target) DO NOTHING",
                placeholders(chunk.len(), 7, 1)
            );
            let mut query = sqlx::query(&sql);
            for (correction, target) in chunk {
                query = query
                    .bind(correction.event_id.as_str())
                    .bind(target.as_str())
                    .bind(correction.employee_id.as_str())
                    .bind(i64::try_from(correction.sequence).unwrap_or(i64::MAX))
                    .bind(correction.data_digest.as_str())
                    .bind(self.actor())
                    .bind(now);
            }
            query.execute(tx.conn()).await.map_err(|e| tx.fail(e))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Per employee, the highest sequence applied in any target: what a correction is
    /// published at when the snapshot carries no record version.
    pub async fn applied_sequences(&self) -> Result<HashMap<String, u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT employee_id, MAX(sequence) AS sequence FROM applied_state GROUP BY employee_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("applied_sequences"))?;
        rows.iter()
            .map(|row| {
                let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
                let employee: String = row.try_get("employee_id").map_err(|e| corrupt(&e))?;
                let sequence: i64 = row.try_get("sequence").map_err(|e| corrupt(&e))?;
                Ok((employee, sequence.max(0) as u64))
            })
            .collect()
    }
}

/// One correction `hrsync reconcile --apply` publishes: an event for `employee_id` at
/// `sequence` whose `data` has `data_digest`, correcting `targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub event_id: String,
    pub employee_id: String,
    pub sequence: u64,
    pub data_digest: String,
    pub targets: Vec<String>,
}
