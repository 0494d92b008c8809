//! The guards' bookkeeping: leavers admitted per rolling window by the mass-deprovision
//! guard, and accounts admitted for creation by the creation guard, each counted in one
//! transaction so several replicas together stay within the limit. Both stage through
//! `held_messages` (kind `staged`); a staged leaver and a staged joiner are told apart by
//! the action, so one guard's backlog never stops the other's traffic.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::writer::Writer;

use super::queries::now_us;
use super::{Backend, Store, StoreError};

/// The mass-deprovision guard's limits.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    pub window: time::Duration,
    /// Deprovisions allowed per window: the lower of `max_absolute` and `max_percent` of
    /// known accounts, but at least `floor`.
    pub max_absolute: u64,
    pub max_percent: f64,
    pub floor: u64,
}

/// The guard's answer for one deprovisioning event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Held as staged: the window's allowance is used up, or earlier staged operations are
    /// still waiting for an operator.
    Staged {
        allowed: u64,
    },
}

/// `SELECT COUNT(*) AS n …` inside the admission's transaction.
async fn count<'q>(
    tx: &mut Writer,
    query: Query<'q, Any, AnyArguments<'q>>,
) -> Result<i64, StoreError> {
    query
        .fetch_one(tx.conn())
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(|e| tx.fail(e))
}

impl Store {
    /// On PostgreSQL, serialises one guard's admissions across replicas (the advisory
    /// lock is released when the transaction ends); SQLite has a single writer anyway.
    async fn serialise_admissions(&self, tx: &mut Writer, key: i64) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(tx.conn())
                .await
                .map_err(|e| tx.fail(e))?;
        }
        Ok(())
    }

    /// The mass-deprovision guard: admits a deprovisioning event if the rolling window
    /// still has room and nothing is already staged; otherwise the caller stages it.
    /// Decided in one transaction so several replicas together stay within the limit.
    pub async fn admit_deprovision(
        &self,
        event_id: &str,
        employee_id: &str,
        limits: GuardLimits,
    ) -> Result<Admission, StoreError> {
        const OP: &str = "admit_deprovision";
        let now = now_us();
        let mut tx = self.begin_write(OP).await?;
        self.serialise_admissions(&mut tx, 7210001).await?;
        let already = count(
            &mut tx,
            sqlx::query("SELECT COUNT(*) AS n FROM deprovision_admissions WHERE event_id = $1")
                .bind(event_id),
        )
        .await?;
        if already > 0 {
            tx.commit().await?;
            return Ok(Admission::Admitted);
        }
        let staged = count(
            &mut tx,
            sqlx::query(
                "SELECT COUNT(*) AS n FROM held_messages \
             WHERE kind = 'staged' AND status = 'pending' AND action = 'leaver'",
            ),
        )
        .await?;
        let known = count(
            &mut tx,
            sqlx::query("SELECT COUNT(DISTINCT employee_id) AS n FROM account_links"),
        )
        .await?;
        let window_start = now - limits.window.whole_microseconds() as i64;
        let used = count(
            &mut tx,
            sqlx::query("SELECT COUNT(*) AS n FROM deprovision_admissions WHERE at_us > $1")
                .bind(window_start),
        )
        .await?;
        let by_percent = (limits.max_percent / 100.0 * known.max(0) as f64).floor() as u64;
        let allowed = limits.max_absolute.min(by_percent).max(limits.floor);
        if staged > 0 || used.max(0) as u64 >= allowed {
            tx.commit().await?;
            return Ok(Admission::Staged { allowed });
        }
        sqlx::query(
            "INSERT INTO deprovision_admissions (event_id, employee_id, at_us) VALUES ($1, $2, $3)",
        )
        .bind(event_id)
        .bind(employee_id)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| tx.fail(e))?;
        tx.commit().await?;
        Ok(Admission::Admitted)
    }
}

/// The creation guard's limit: at most `max_per_window` accounts created per `window`.
#[derive(Debug, Clone, Copy)]
pub struct CreationLimits {
    pub window: time::Duration,
    pub max_per_window: u64,
}

impl Store {
    /// The creation guard: admits creating `target`'s account for this event if the
    /// rolling window has room and no earlier creation is staged; otherwise the caller
    /// stages the event. An event admitted before (a retry, a redelivery) stays admitted.
    pub async fn admit_creation(
        &self,
        event_id: &str,
        employee_id: &str,
        target: &str,
        limits: CreationLimits,
    ) -> Result<Admission, StoreError> {
        const OP: &str = "admit_creation";
        let now = now_us();
        let mut tx = self.begin_write(OP).await?;
        self.serialise_admissions(&mut tx, 7210002).await?;
        let already = count(
            &mut tx,
            sqlx::query(
                "SELECT COUNT(*) AS n FROM creation_admissions WHERE event_id = $1 AND target = $2",
            )
            .bind(event_id)
            .bind(target),
        )
        .await?;
        if already > 0 {
            tx.commit().await?;
            return Ok(Admission::Admitted);
        }
        let staged = count(&mut tx, sqlx::query("SELECT COUNT(*) AS n FROM held_messages \
             WHERE kind = 'staged' AND status = 'pending' AND action <> 'leaver' AND event_id <> $1")
        .bind(event_id)
        ).await?;
        let window_start = now - limits.window.whole_microseconds() as i64;
        let used = count(
            &mut tx,
            sqlx::query("SELECT COUNT(*) AS n FROM creation_admissions WHERE at_us > $1")
                .bind(window_start),
        )
        .await?;
        let allowed = limits.max_per_window;
        if staged > 0 || used.max(0) as u64 >= allowed {
            tx.commit().await?;
            return Ok(Admission::Staged { allowed });
        }
        sqlx::query(
            "INSERT INTO creation_admissions (event_id, target, employee_id, at_us) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(event_id)
        .bind(target)
        .bind(employee_id)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| tx.fail(e))?;
        tx.commit().await?;
        Ok(Admission::Admitted)
    }
}
