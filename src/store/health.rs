//! Whether the store can record right now, shared by everything that holds a [`Store`].
//!
//! The worker must not change a target it cannot record afterwards: the stale guard and
//! the dedupe only know what was recorded. So the store keeps these facts here:
//!
//! - **failing**: a write (or a read the worker cannot do without) failed and the store has
//!   not been proven healthy since. Set by every failure; cleared by a successful probe
//!   ([`Store::probe_write`], which runs every second while the store is failing) or by a
//!   recorded event. A commit that wrote nothing proves nothing, so it clears nothing.
//! - **unrecorded**: events whose targets were changed but whose record has not been
//!   written yet. They hold their messages and retry the record; while any does, no event
//!   starts, even if the probe gets through (a store can refuse one table and not another).
//! - **probation**: after a failure, until an event's record is written again. A probe's
//!   single row can fit where an event's record does not (a nearly full disk), so the first
//!   event after a recovery goes alone — a canary, like a half-open circuit breaker — and
//!   the others start once it has recorded.
//!
//! The applier waits on [`StoreHealth::wait_to_start`] before an event and checks
//! [`StoreHealth::may_change_targets`] again right before calling targets; `/readyz` and a
//! gauge report [`StoreHealth::problem`].

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    /// Why the store last failed, while it has not been proven healthy since.
    failing: Option<String>,
    unrecorded: usize,
    probation: bool,
    /// A canary event is in flight during probation.
    canary: bool,
}

impl State {
    fn may_change_targets(&self) -> bool {
        self.failing.is_none() && self.unrecorded == 0
    }

    fn may_start(&self) -> bool {
        self.may_change_targets() && !(self.probation && self.canary)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct StoreHealth {
    state: watch::Sender<State>,
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth {
            state: watch::Sender::new(State::default()),
        }
    }
}

impl StoreHealth {
    pub(super) fn failed(&self, error: &StoreError) {
        let why = error.to_string();
        self.state.send_if_modified(|s| {
            let changed = s.failing.as_deref() != Some(why.as_str()) || !s.probation;
            s.failing = Some(why.clone());
            s.probation = true;
            changed
        });
    }

    /// The probe wrote and committed a row.
    pub(super) fn probed(&self) {
        self.state.send_if_modified(|s| s.failing.take().is_some());
    }

    /// An event's record was written and committed: the store records again.
    pub(super) fn recorded(&self) {
        self.state.send_if_modified(|s| {
            let changed = s.failing.is_some() || s.probation;
            s.failing = None;
            s.probation = false;
            changed
        });
    }

    /// Whether the store records now: nothing failing, no event waiting for its record.
    pub fn recording(&self) -> bool {
        self.state.borrow().may_change_targets()
    }

    /// Whether an event that already started may go on to change targets.
    pub fn may_change_targets(&self) -> bool {
        self.recording()
    }

    /// Why the store does not record, for `/readyz`; `None` while it does.
    pub fn problem(&self) -> Option<String> {
        let state = self.state.borrow();
        match (&state.failing, state.unrecorded) {
            (None, 0) => None,
            (Some(why), 0) => Some(why.clone()),
            (failing, n) => Some(format!(
                "{n} applied event(s) wait for their record{}",
                failing
                    .as_ref()
                    .map_or(String::new(), |why| format!(": {why}"))
            )),
        }
    }

    /// Waits until an event may start: the store records and, on probation, no canary is
    /// in flight (this one becomes it). `None` if `shutdown` came first.
    pub async fn wait_to_start(&self, shutdown: &CancellationToken) -> Option<Start<'_>> {
        let mut state = self.state.subscribe();
        loop {
            tokio::select! {
                ready = state.wait_for(State::may_start) => ready.ok()?,
                _ = shutdown.cancelled() => return None,
            };
            let mut canary = false;
            let started = self.state.send_if_modified(|s| {
                if !s.may_start() {
                    return false;
                }
                if s.probation {
                    s.canary = true;
                    canary = true;
                    return true;
                }
                false
            });
            if started || self.state.borrow().may_start() {
                return Some(Start {
                    health: self,
                    canary,
                });
            }
        }
    }

    /// Marks an event whose targets changed but whose record failed; it holds its message
    /// and retries the record until [`Unrecorded`] is dropped.
    pub fn unrecorded(&self) -> Unrecorded<'_> {
        self.state.send_modify(|s| s.unrecorded += 1);
        Unrecorded { health: self }
    }
}

/// An event allowed to start; the canary gives way to the next when dropped.
pub struct Start<'a> {
    health: &'a StoreHealth,
    canary: bool,
}

impl Drop for Start<'_> {
    fn drop(&mut self) {
        if self.canary {
            self.health.state.send_modify(|s| s.canary = false);
        }
    }
}

/// An event waiting for its record; counted as long as this lives.
pub struct Unrecorded<'a> {
    health: &'a StoreHealth,
}

impl Drop for Unrecorded<'_> {
    fn drop(&mut self) {
        self.health.state.send_modify(|s| s.unrecorded -= 1);
    }
}

/// How often a failing store is tried while nothing else writes.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

impl Store {
    /// The error for a failed read the worker cannot do without; the store counts as
    /// failing until a write gets through.
    pub(super) fn read_failed(
        &self,
        op: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| {
            let error = StoreError::Query { op, source };
            self.health.failed(&error);
            error
        }
    }

    /// Whether this store records now, and how to wait for it.
    pub fn health(&self) -> &StoreHealth {
        &self.health
    }

    /// Writes and commits a row, to prove the store can record: at start-up (a worker
    /// must not consume from a store it cannot write) and while the store is failing. A
    /// new row each time (and the old ones deleted), not an update in place, so the probe
    /// needs the room a real record needs.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        const OP: &str = "probe_write";
        let mut writer = self.begin_write(OP).await?;
        let inserted = sqlx::query(
            "INSERT INTO store_probe (id, at_us) \
             SELECT COALESCE(MAX(id), 0) + 1, $1 FROM store_probe",
        )
        .bind(super::queries::now_us())
        .execute(writer.conn())
        .await;
        inserted.map_err(|e| writer.fail(e))?;
        let pruned =
            sqlx::query("DELETE FROM store_probe WHERE id < (SELECT MAX(id) FROM store_probe)")
                .execute(writer.conn())
                .await;
        pruned.map_err(|e| writer.fail(e))?;
        writer.commit().await?;
        self.health.probed();
        Ok(())
    }

    /// While the store is failing, probes it every [`PROBE_INTERVAL`] until a write gets
    /// through (or another writer's does); runs until `shutdown`.
    pub async fn probe_while_failing(&self, shutdown: CancellationToken) {
        let mut state = self.health.state.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                failing = state.wait_for(|s| s.failing.is_some()) => if failing.is_err() { return },
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            }
            if self.health.state.borrow().failing.is_none() {
                continue;
            }
            let probed = tokio::select! {
                _ = shutdown.cancelled() => return,
                probed = self.probe_write() => probed,
            };
            match probed {
                Ok(()) => {
                    tracing::info!("state store writable again; the next event goes first, alone")
                }
                Err(e) => tracing::debug!(error = %e, "state store still failing"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the waits that must not end are timed out at once, without sleeping.
    #[tokio::test(start_paused = true)]
    async fn after_a_failure_one_canary_goes_first_and_the_rest_follow_once_it_recorded() {
        let health = StoreHealth::default();
        let shutdown = CancellationToken::new();
        assert!(health.wait_to_start(&shutdown).await.is_some());

        health.failed(&StoreError::Abandoned);
        assert!(!health.recording());
        assert!(health.problem().is_some());
        // Nothing starts while failing.
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), health.wait_to_start(&shutdown));
        assert!(waiting.await.is_err());

        // The probe got through: one event may go, alone.
        health.probed();
        assert!(health.problem().is_none(), "ready again");
        let canary = health.wait_to_start(&shutdown).await.unwrap();
        let second =
            tokio::time::timeout(Duration::from_millis(50), health.wait_to_start(&shutdown));
        assert!(second.await.is_err(), "a second event waits for the canary");
        // The canary recorded nothing (a duplicate, say): the next one becomes the canary.
        drop(canary);
        let canary = health.wait_to_start(&shutdown).await.unwrap();
        health.recorded();
        drop(canary);
        // Recorded: everyone goes.
        let a = health.wait_to_start(&shutdown).await.unwrap();
        let b = health.wait_to_start(&shutdown).await.unwrap();
        drop((a, b));

        // An event holding an unrecorded change stops everyone, probe or not.
        let held = health.unrecorded();
        health.probed();
        assert!(!health.may_change_targets());
        assert!(health
            .problem()
            .unwrap()
            .contains("1 applied event(s) wait"));
        drop(held);
        assert!(health.may_change_targets());

        // Shutdown ends a wait.
        health.failed(&StoreError::Abandoned);
        shutdown.cancel();
        assert!(health.wait_to_start(&shutdown).await.is_none());
    }
}
