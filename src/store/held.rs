//! Messages held back durably: future-dated changes waiting for their effective time
//! (`scheduled`) and deprovisioning stopped by the mass-deprovision guard (`staged`).
//! They live in the store, not in memory, so they survive restarts, and several replicas
//! share them: a due message is claimed with a lease before it is released, so it is
//! released by one replica.

use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use super::queries::{from_us, now_us};
use super::{Store, StoreError};

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
    /// Only this action (`joiner`, `mover`, `leaver`): the creation guard's staged
    /// joiners apart from the mass-deprovision guard's leavers.
    pub action: Option<String>,
}

pub(super) const COLUMNS: &str =
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
    /// the employee's pending scheduled changes that a newer sequence supersedes. The
    /// worker gets the same facts from its one read per event, [`Store::event_state`],
    /// which calls this only when one of the event's holds is released.
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

    /// Pending held messages of `kind` matching `filter`, oldest due first.
    pub async fn pending_held(
        &self,
        kind: HeldKind,
        filter: &HeldFilter,
    ) -> Result<Vec<HeldMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM held_messages WHERE kind = $1 AND status IN ('pending', 'releasing') \
             AND ($2 = '' OR employee_id = $2) AND due_at_us >= $3 AND due_at_us <= $4 \
             AND ($5 = '' OR action = $5) \
             ORDER BY due_at_us, sequence"
        ))
        .bind(kind.as_str())
        .bind(filter.employee_id.clone().unwrap_or_default())
        .bind(filter.since.map_or(i64::MIN, us))
        .bind(filter.until.map_or(i64::MAX, us))
        .bind(filter.action.clone().unwrap_or_default())
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

    /// Staged leavers waiting for an operator: the mass-deprovision guard's own backlog
    /// (joiners staged by the creation guard are not leavers held back).
    pub async fn staged_leavers(&self) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM held_messages \
             WHERE kind = 'staged' AND action = 'leaver' AND status IN ('pending', 'releasing')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("staged_leavers"))?;
        let count: i64 = row
            .try_get("n")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(count.max(0) as u64)
    }
}

pub(super) fn us(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(super) fn held(row: &AnyRow) -> Result<HeldMessage, StoreError> {
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
