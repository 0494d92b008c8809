//! The state store: what hrsync must remember between messages, and between restarts.
//!
//! RabbitMQ delivers at least once and out of order, and several replicas may work at the
//! same time. To stay idempotent the worker records, per target:
//!
//! - which event ids it already processed and how ([`Store::outcome_of`]), pruned by age
//!   ([`Store::prune`]);
//! - per employee × target, the last applied `sequence`, a [`digest`] of the applied field
//!   values and the values themselves ([`Store::last_applied`]), so it can drop stale events
//!   and diff before writing;
//! - the account id each target gave an employee ([`Store::link_account`]), so a later
//!   leaver without ids still reaches every account;
//! - an append-only audit log of applied changes ([`Store::audit`]) holding field *names*
//!   and a hash of the values, never the values (they are personal data).
//!
//! One [`Store`] type serves two backends through `sqlx::AnyPool`: SQLite (the embedded
//! default, for a single replica) and PostgreSQL (shared by several replicas). Every query
//! is written once in the SQL both understand (`$n` placeholders, `ON CONFLICT`, times as
//! integer microseconds since the Unix epoch), so the two cannot drift apart; only the
//! migrations differ, and they ship in `migrations/sqlite` and `migrations/postgres`.
//!
//! # Layout
//!
//! - [`error`]: [`StoreError`], and the URL redaction that keeps passwords out of it.
//! - `connect`: URL parsing, pool set-up per backend (SQLite: one writer, two readers),
//!   migrations.
//! - `event_read` / `event_record`: the worker's per-event path — one read of every
//!   target's state before an event is applied ([`Store::target_states`]), one transaction
//!   for everything it did after ([`Store::record_event`]). [`EventRecord`] and
//!   [`TargetRecord`] are the one owned record type the apply step builds and the store
//!   writes (and queues as is for group commit).
//! - `group_commit`: on SQLite, events recorded while the writer is busy share its next
//!   transaction.
//! - `held`: messages held back durably — future-dated (`scheduled`) and stopped by the
//!   mass-deprovision guard (`staged`); `release`: claiming and releasing them (the gate's
//!   proof); `guard`: the guard's admissions per rolling window.
//! - [`config`]: the `[store]` section.
//! - `queries`: the other reads and writes behind [`Store`]'s methods.
//! - `digest`: the stable SHA-256 of a field map.
//! - `writer`: the one way to write — a transaction whose connection is closed, never
//!   reused, after any failure, so the store heals by itself when the disk does.
//! - [`health`]: whether the store records right now ([`StoreHealth`]), the start-up and
//!   recovery probe, and the count of applied events still waiting for their record.

pub mod config;
mod connect;
mod digest;
pub mod error;
mod event_read;
mod event_record;
mod group_commit;
mod guard;
pub mod health;
mod held;
mod queries;
mod reconcile;
mod release;
mod writer;

#[cfg(test)]
mod tests;

use std::{fmt, str::FromStr, sync::Arc};

use serde_json::{Map, Value};
use sqlx::AnyPool;

pub use digest::digest;
pub use error::StoreError;
pub use event_read::EventState;
pub use event_record::{EventRecord, TargetRecord};
pub use guard::{Admission, CreationLimits, GuardLimits};
pub use health::{StoreHealth, Unrecorded};
pub use held::{HeldFacts, HeldFilter, HeldKind, HeldMessage, HeldStatus};
pub use reconcile::{Correction, ReconcileRun};

/// The actor written to audit entries unless [`Store::with_actor`] says otherwise.
pub const WORKER_ACTOR: &str = "worker";

/// What became of one event for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The change was written to the target.
    Applied,
    /// The target already held these values; nothing was written.
    Unchanged,
    /// The event id was already processed for this target.
    Duplicate,
    /// A newer sequence was already applied for this employee and target.
    Stale,
    /// The event could not be applied and went to the dead-letter queue.
    DeadLettered,
    /// No account could be found or linked for the employee in this target.
    Unlinked,
    /// An operator released a staged (held-back) deprovisioning.
    Released,
    /// An operator discarded a staged deprovisioning.
    Discarded,
    /// An operator replayed a dead letter: the target is open to the event again.
    Replayed,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Duplicate,
        Outcome::Stale,
        Outcome::DeadLettered,
        Outcome::Unlinked,
        Outcome::Released,
        Outcome::Discarded,
        Outcome::Replayed,
    ];

    /// The stored (and logged) name: `applied`, `unchanged`, `duplicate`, `stale`,
    /// `dead_lettered`, `unlinked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Unlinked => "unlinked",
            Outcome::Released => "released",
            Outcome::Discarded => "discarded",
            Outcome::Replayed => "replayed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| StoreError::UnknownOutcome(s.to_owned()))
    }
}

/// The last change applied for one employee in one target.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedState {
    /// The event's sequence; only a higher one may replace this state.
    pub sequence: u64,
    /// [`digest`] of `fields`.
    pub digest: String,
    /// The field values as applied (after mapping), to diff the next change against.
    pub fields: Map<String, Value>,
    /// The event that applied them.
    pub event_id: String,
}

/// What the store knows about one event and one employee in one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetState {
    /// The event's recorded outcome in this target, if it was processed.
    pub outcome: Option<Outcome>,
    /// The employee's linked account in this target.
    pub account: Option<String>,
    /// The last change applied for the employee in this target.
    pub last: Option<AppliedState>,
    /// The store's row saying this event is a reconcile correction for this target.
    pub correction: Option<CorrectionProof>,
}

/// One line of the audit log. It names the fields but never holds their values.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub event_id: String,
    pub employee_id: String,
    pub target: String,
    /// Names of the fields the change touched (empty for `unchanged` and `dead_lettered`).
    pub fields_changed: Vec<String>,
    /// [`digest`] of all field values applied (the same as [`AppliedState::digest`] written
    /// with it), or empty when nothing was applied.
    pub values_digest: String,
    pub outcome: Outcome,
    /// `worker`, or the name of the operator who replayed or forced the change.
    pub actor: String,
    pub at: time::OffsetDateTime,
    /// `hr`, or `reconcile` for a correction `hrsync reconcile --apply` published.
    pub source: String,
}

/// Where an event came from, as the store proves it — never as a message claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventSource {
    /// The HR event stream (and replays and releases of it).
    #[default]
    Hr,
    /// A correction of `hrsync reconcile --apply`, proven by its `reconcile_corrections` row.
    Reconcile,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Hr => "hr",
            EventSource::Reconcile => "reconcile",
        }
    }
}

/// A correction's row, as the per-event read finds it: the sequence and `data` digest
/// `hrsync reconcile --apply` published the event with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionProof {
    pub sequence: u64,
    pub data_digest: String,
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A handle on the state store; cheap to clone (a pool inside).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where the per-event read goes: read-only connections beside the single SQLite
    /// writer, or the same pool on PostgreSQL and in-memory SQLite.
    readers: AnyPool,
    /// SQLite's group commit (one writer: events queue for it anyway); none on PostgreSQL,
    /// where replicas write concurrently.
    group: Option<Arc<group_commit::GroupCommit>>,
    backend: Backend,
    actor: Arc<str>,
    /// Shared by every handle on this pool (operator handles included).
    health: Arc<StoreHealth>,
    /// An in-memory SQLite database lives only as long as its one connection, so a failed
    /// write rolls back on it instead of closing it (see `writer`).
    in_memory: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL here: it may hold a password.
        f.debug_struct("Store")
            .field("backend", &self.backend.as_str())
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `url` and brings its schema up to date.
    ///
    /// `sqlite://path/file.db` (file and folder created if missing; `sqlite::memory:` for a
    /// throw-away store) or `postgres://user:password@host/db` (any option sqlx accepts,
    /// e.g. `?options=-c%20search_path%3Dhrsync`). Migrations are idempotent and, on
    /// PostgreSQL, serialised between replicas by an advisory lock.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        connect::connect(url, connect::ACQUIRE_TIMEOUT).await
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.backend.as_str()
    }

    /// A handle writing `actor` into audit entries (an operator's name for replays), sharing
    /// this one's pool.
    pub fn with_actor(&self, actor: &str) -> Store {
        Store {
            actor: Arc::from(actor),
            ..self.clone()
        }
    }

    /// The actor this handle writes into audit entries.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.readers.close().await;
        self.pool.close().await;
    }
}
