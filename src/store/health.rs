//! Whether the store can record right now, shared by everything that holds a [`Store`].
//!
//! The worker must not change a target it cannot record afterwards: the stale guard and
//! the dedupe only know what was recorded. So the store keeps two facts here:
//!
//! - **failing**: the last write (or the per-event read) failed and no write has succeeded
//!   since. Set by every failure, cleared by every successful commit — the worker's own or
//!   the probe's ([`Store::probe_write`]), which runs while the store is failing and nothing
//!   else writes.
//! - **unrecorded**: events whose targets were changed but whose record has not been
//!   written yet. They hold their messages and retry the record; while any does, the store
//!   does not count as recording, even if the probe gets through (a store can refuse one
//!   table and not another).
//!
//! [`StoreHealth::recording`] waits until both are clear; the applier waits on it before it
//! starts an event, `/readyz` reports it, and a gauge shows it.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    /// Why the store last failed, while it has not written since.
    failing: Option<String>,
    unrecorded: usize,
}

impl State {
    fn recording(&self) -> bool {
        self.failing.is_none() && self.unrecorded == 0
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
            let changed = s.failing.as_deref() != Some(why.as_str());
            s.failing = Some(why.clone());
            changed
        });
    }

    pub(super) fn wrote(&self) {
        self.state.send_if_modified(|s| s.failing.take().is_some());
    }

    /// Whether the store records now: nothing failing, no event waiting for its record.
    pub fn recording(&self) -> bool {
        self.state.borrow().recording()
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

    /// Waits until the store records; `false` if `shutdown` came first.
    pub async fn wait_recording(&self, shutdown: &CancellationToken) -> bool {
        let mut state = self.state.subscribe();
        tokio::select! {
            ready = state.wait_for(State::recording) => ready.is_ok(),
            _ = shutdown.cancelled() => false,
        }
    }

    /// Marks an event whose targets changed but whose record failed; it holds its message
    /// and retries the record until [`Unrecorded`] is dropped.
    pub fn unrecorded(&self) -> Unrecorded<'_> {
        self.state.send_modify(|s| s.unrecorded += 1);
        Unrecorded { health: self }
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

    /// Writes and commits one row, to prove the store can record: at start-up (a worker
    /// must not consume from a store it cannot write) and while the store is failing.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        const OP: &str = "probe_write";
        let mut writer = self.begin_write(OP).await?;
        let done = sqlx::query(
            "INSERT INTO store_probe (id, at_us) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us",
        )
        .bind(super::queries::now_us())
        .execute(writer.conn())
        .await;
        done.map_err(|e| writer.fail(e))?;
        writer.commit().await
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
            match self.probe_write().await {
                Ok(()) => tracing::info!("state store records again"),
                Err(e) => tracing::debug!(error = %e, "state store still failing"),
            }
        }
    }
}
