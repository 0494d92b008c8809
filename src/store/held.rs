//! Messages held back durably: future-dated changes waiting for their effective time
//! (`scheduled`) and deprovisioning stopped by the mass-deprovision guard (`staged`).
//! They live in the store, not in memory, so they survive restarts, and several replicas
//! share them: a due message is claimed with a lease before it is released, so it is
//! released by one replica.

use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use super::queries::{from_us, now_us, AuditRow};
use super::Outcome;
use super::{Backend, Store, StoreError};

/// Why a message is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKind {
    Scheduled,
    Staged,
}

impl HeldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldKind::Scheduled => "scheduled",
            HeldKind::Staged => "staged",
        }
    }
}

/// What became of a held message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldStatus {
    Pending,
    /// Being released: claimed and its copy published (or about to be), not yet marked
    /// released. Counts as released for the gate — the copy may be consumed first — and a
    /// claim whose lease ran out is published again (a crash in between).
    Releasing,
    /// Republished to the work queue (due, or released by an operator).
    Released,
    /// A newer event for the employee made it obsolete.
    Superseded,
    /// An operator decided it must not be applied.
    Discarded,
}

impl HeldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldStatus::Pending => "pending",
            HeldStatus::Releasing => "releasing",
            HeldStatus::Released => "released",
            HeldStatus::Superseded => "superseded",
            HeldStatus::Discarded => "discarded",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => HeldStatus::Pending,
            "releasing" => HeldStatus::Releasing,
            "released" => HeldStatus::Released,
            "superseded" => HeldStatus::Superseded,
            "discarded" => HeldStatus::Discarded,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "held_messages.status {other:?}"
                )))
            }
        })
    }
}

/// One held message.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldMessage {
    pub event_id: String,
    pub kind: HeldKind,
    pub employee_id: String,
    pub sequence: u64,
    pub action: String,
    /// Scheduled: when it falls due. Staged: when it was staged.
    pub due_at: OffsetDateTime,
    /// The event as a structured CloudEvent.
    pub body: String,
    pub status: HeldStatus,
    pub decided_by: Option<String>,
}

/// What the store knows of held messages for one event: see [`Store::held_facts`].
#[derive(Debug, Clone, Default)]
pub struct HeldFacts {
    /// Holds of this event id that were released (due, or by an operator), or are being
    /// released right now (claimed with a lease that still runs).
    pub released: Vec<HeldMessage>,
    /// The employee's pending scheduled changes with a lower sequence.
    pub supersedable: u64,
}

/// Which held messages an operator command means.
#[derive(Debug, Clone, Default)]
pub struct HeldFilter {
    pub employee_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

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

const COLUMNS: &str =
    "event_id, kind, employee_id, sequence, action, due_at_us, body, status, decided_by";

impl Store {
    /// Holds a message; holding the same event twice keeps the first.
    pub async fn hold(&self, message: &HeldMessage) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO held_messages (event_id, kind, employee_id, sequence, action, due_at_us, body, status, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (event_id, kind) DO NOTHING",
        )
        .bind(&message.event_id)
        .bind(message.kind.as_str())
        .bind(&message.employee_id)
        .bind(i64::try_from(message.sequence).map_err(|_| StoreError::SequenceOutOfRange(message.sequence))?)
        .bind(&message.action)
        .bind(us(message.due_at))
        .bind(&message.body)
        .bind(now_us());
        self.write_one("hold", query).await.map(|_| ())
    }

    /// What the gate must know of held messages before it decides on an event, in one
    /// read: this event's released holds (the proof that it already passed a gate) and
    /// the employee's pending scheduled changes that a newer sequence supersedes.
    pub async fn held_facts(
        &self,
        event_id: &str,
        employee_id: &str,
        sequence: u64,
    ) -> Result<HeldFacts, StoreError> {
        // A hold being released (its copy may be consumed before the mark) counts as
        // released. By status, not by a lease's time: clocks of replicas and of an
        // operator's machine need not agree.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, CASE WHEN event_id = $1 AND status IN ('releasing', 'released') \
                 THEN 1 ELSE 0 END AS releasing \
             FROM held_messages \
             WHERE (event_id = $1 AND status IN ('releasing', 'released')) \
                OR (kind = 'scheduled' AND status = 'pending' AND employee_id = $2 AND sequence < $3)"
        ))
        .bind(event_id)
        .bind(employee_id)
        .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await
        .map_err(self.read_failed("held_facts"))?;
        let mut facts = HeldFacts::default();
        for row in &rows {
            let releasing: i64 = row
                .try_get("releasing")
                .map_err(|e| StoreError::Corrupt(format!("held_messages: {e}")))?;
            if releasing == 1 {
                facts.released.push(held(row)?);
            } else {
                facts.supersedable += 1;
            }
        }
        Ok(facts)
    }

    /// Marks pending scheduled messages of `employee_id` older than `sequence` superseded;
    /// returns how many. (HR sends the full record: the newest sequence wins.)
    pub async fn supersede_scheduled(
        &self,
        employee_id: &str,
        sequence: u64,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query(
            "UPDATE held_messages SET status = 'superseded', decided_by = 'worker', decided_at_us = $3 \
             WHERE kind = 'scheduled' AND status = 'pending' AND employee_id = $1 AND sequence < $2",
        )
        .bind(employee_id)
        .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
        .bind(now_us());
        self.write_one("supersede_scheduled", query).await
    }

    /// Claims up to `limit` due scheduled messages for `lease`; another replica will not
    /// claim them until the lease runs out. Release them with [`Store::mark_held`].
    pub async fn claim_due(
        &self,
        limit: i64,
        lease: time::Duration,
    ) -> Result<Vec<HeldMessage>, StoreError> {
        let now = now_us();
        let until = now + lease.whole_microseconds() as i64;
        // PostgreSQL: rows another replica is claiming right now are skipped, not
        // re-claimed after its commit. SQLite has one writer at a time anyway.
        let skip_locked = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE held_messages SET status = 'releasing', claimed_until_us = $1 \
             WHERE (event_id, kind) IN ( \
                 SELECT event_id, kind FROM held_messages \
                 WHERE kind = 'scheduled' \
                   AND ((status = 'pending' AND due_at_us <= $2) OR status = 'releasing') \
                   AND (claimed_until_us IS NULL OR claimed_until_us < $2) \
                 ORDER BY due_at_us LIMIT $3 {skip_locked}) \
             RETURNING {COLUMNS}"
        );
        let query = sqlx::query(&sql).bind(until).bind(now).bind(limit);
        let rows = self.write_returning("claim_due", query).await?;
        let mut messages = rows.iter().map(held).collect::<Result<Vec<_>, _>>()?;
        messages.sort_by_key(|m| (m.due_at, m.sequence));
        Ok(messages)
    }

    /// Marks one held message releasing for `lease` before it is republished, so its copy
    /// passes the gate even if it arrives before the release is marked; false if it is not
    /// pending (or releasing with a lapsed lease) — decided, or another process has it.
    pub async fn claim_held(
        &self,
        event_id: &str,
        kind: HeldKind,
        lease: time::Duration,
    ) -> Result<bool, StoreError> {
        let now = now_us();
        let query = sqlx::query(
            "UPDATE held_messages SET status = 'releasing', claimed_until_us = $3 \
             WHERE event_id = $1 AND kind = $2 \
               AND (status = 'pending' \
                    OR (status = 'releasing' AND (claimed_until_us IS NULL OR claimed_until_us < $4)))",
        )
        .bind(event_id)
        .bind(kind.as_str())
        .bind(now + lease.whole_microseconds() as i64)
        .bind(now);
        Ok(self.write_one("claim_held", query).await? > 0)
    }

    /// Gives a claim back after its publish failed: pending again, to be released later.
    pub async fn unclaim_held(&self, event_id: &str, kind: HeldKind) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE held_messages SET status = 'pending', claimed_until_us = NULL \
             WHERE event_id = $1 AND kind = $2 AND status = 'releasing'",
        )
        .bind(event_id)
        .bind(kind.as_str());
        self.write_one("unclaim_held", query).await.map(|_| ())
    }

    /// Moves a pending scheduled message's due time (e.g. HR asks for a termination to take
    /// effect at once); returns false if it is not pending.
    pub async fn reschedule(
        &self,
        event_id: &str,
        due_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE held_messages SET due_at_us = $2, claimed_until_us = NULL \
             WHERE event_id = $1 AND kind = 'scheduled' AND status = 'pending'",
        )
        .bind(event_id)
        .bind(us(due_at));
        Ok(self.write_one("reschedule", query).await? > 0)
    }

    /// Sets a held message's status, recording who decided.
    pub async fn mark_held(
        &self,
        event_id: &str,
        kind: HeldKind,
        status: HeldStatus,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE held_messages SET status = $3, decided_by = $4, decided_at_us = $5 \
             WHERE event_id = $1 AND kind = $2 AND status IN ('pending', 'releasing')",
        )
        .bind(event_id)
        .bind(kind.as_str())
        .bind(status.as_str())
        .bind(self.actor())
        .bind(now_us());
        self.write_one("mark_held", query).await.map(|_| ())
    }

    /// An operator's decision on a staged message: marked released or discarded and written
    /// to the audit log with the operator's name ([`Store::with_actor`]), in one transaction.
    /// Returns false if it was no longer pending.
    pub async fn decide_staged(
        &self,
        message: &HeldMessage,
        release: bool,
    ) -> Result<bool, StoreError> {
        const OP: &str = "decide_staged";
        let (status, outcome) = if release {
            (HeldStatus::Released, Outcome::Released)
        } else {
            (HeldStatus::Discarded, Outcome::Discarded)
        };
        let now = now_us();
        // A release completes a claim (`claim_held`); a discard takes only what is still
        // pending, never a message whose copy is already out.
        let from = if release {
            "('pending', 'releasing')"
        } else {
            "('pending')"
        };
        let mut tx = self.begin_write(OP).await?;
        let done = sqlx::query(&format!(
            "UPDATE held_messages SET status = $3, decided_by = $4, decided_at_us = $5 \
             WHERE event_id = $1 AND kind = $2 AND status IN {from}"
        ))
        .bind(&message.event_id)
        .bind(HeldKind::Staged.as_str())
        .bind(status.as_str())
        .bind(self.actor())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| tx.fail(e))?;
        if done.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(false);
        }
        self.insert_audit(
            &mut tx,
            self.actor(),
            &[AuditRow {
                event_id: &message.event_id,
                employee_id: &message.employee_id,
                target: "guard",
                fields_changed: "[]",
                values_digest: "",
                outcome,
                at_us: now,
            }],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Pending held messages of `kind` matching `filter`, oldest due first.
    pub async fn pending_held(
        &self,
        kind: HeldKind,
        filter: &HeldFilter,
    ) -> Result<Vec<HeldMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM held_messages WHERE kind = $1 AND status IN ('pending', 'releasing') \
             AND ($2 = '' OR employee_id = $2) AND due_at_us >= $3 AND due_at_us <= $4 \
             ORDER BY due_at_us, sequence"
        ))
        .bind(kind.as_str())
        .bind(filter.employee_id.clone().unwrap_or_default())
        .bind(filter.since.map_or(i64::MIN, us))
        .bind(filter.until.map_or(i64::MAX, us))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("pending_held"))?;
        rows.iter().map(held).collect()
    }

    /// How many messages of `kind` are pending, and the earliest due time.
    pub async fn held_summary(
        &self,
        kind: HeldKind,
    ) -> Result<(u64, Option<OffsetDateTime>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MIN(due_at_us), 0) AS first FROM held_messages \
             WHERE kind = $1 AND status IN ('pending', 'releasing')",
        )
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("held_summary"))?;
        let count: i64 = row
            .try_get("n")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let first: i64 = row
            .try_get("first")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let first = if count > 0 {
            Some(from_us(first)?)
        } else {
            None
        };
        Ok((count.max(0) as u64, first))
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
        if self.backend == Backend::Postgres {
            // Serialises admissions across replicas (released when the transaction ends).
            sqlx::query("SELECT pg_advisory_xact_lock(7210001)")
                .execute(tx.conn())
                .await
                .map_err(|e| tx.fail(e))?;
        }
        let already: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM deprovision_admissions WHERE event_id = $1")
                .bind(event_id)
                .fetch_one(tx.conn())
                .await
                .and_then(|row| row.try_get("n"))
                .map_err(|e| tx.fail(e))?;
        if already > 0 {
            tx.commit().await?;
            return Ok(Admission::Admitted);
        }
        let staged: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM held_messages WHERE kind = 'staged' AND status = 'pending'",
        )
        .fetch_one(tx.conn())
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(|e| tx.fail(e))?;
        let known: i64 = sqlx::query("SELECT COUNT(DISTINCT employee_id) AS n FROM account_links")
            .fetch_one(tx.conn())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(|e| tx.fail(e))?;
        let window_start = now - limits.window.whole_microseconds() as i64;
        let used: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM deprovision_admissions WHERE at_us > $1")
                .bind(window_start)
                .fetch_one(tx.conn())
                .await
                .and_then(|row| row.try_get("n"))
                .map_err(|e| tx.fail(e))?;
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

fn us(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn held(row: &AnyRow) -> Result<HeldMessage, StoreError> {
    let get_text = |c: &'static str| -> Result<String, StoreError> {
        row.try_get(c)
            .map_err(|e| StoreError::Corrupt(format!("held_messages.{c}: {e}")))
    };
    let get_int = |c: &'static str| -> Result<i64, StoreError> {
        row.try_get(c)
            .map_err(|e| StoreError::Corrupt(format!("held_messages.{c}: {e}")))
    };
    let kind = match get_text("kind")?.as_str() {
        "scheduled" => HeldKind::Scheduled,
        "staged" => HeldKind::Staged,
        other => return Err(StoreError::Corrupt(format!("held_messages.kind {other:?}"))),
    };
    Ok(HeldMessage {
        event_id: get_text("event_id")?,
        kind,
        employee_id: get_text("employee_id")?,
        sequence: get_int("sequence")?.max(0) as u64,
        action: get_text("action")?,
        due_at: from_us(get_int("due_at_us")?)?,
        body: get_text("body")?,
        status: HeldStatus::parse(&get_text("status")?)?,
        decided_by: row
            .try_get::<Option<String>, _>("decided_by")
            .ok()
            .flatten(),
    })
}
