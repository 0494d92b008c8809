//! The last successful reconciliation per target: what the next run compares its read
//! with, and what the worker exports as metrics (the run itself is a short-lived command
//! no Prometheus scrapes).

use sqlx::Row;
use std::collections::BTreeMap;

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
}
