//! Releasing held messages: claiming due scheduled ones (a lease, so one replica releases
//! each), marking a hold releasing before its copy is published (the gate's proof) and
//! released after, and an operator's decision on a staged one, audited.

use super::held::{held, HeldKind, HeldMessage, HeldStatus, COLUMNS};
use super::queries::{now_us, AuditRow};
use super::{Backend, EventSource, Outcome, Store, StoreError};

impl Store {
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
            &[AuditRow {
                event_id: &message.event_id,
                employee_id: &message.employee_id,
                target: "guard",
                fields_changed: "[]",
                values_digest: "",
                outcome,
                at_us: now,
                source: EventSource::Hr,
                actor: self.actor(),
            }],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
