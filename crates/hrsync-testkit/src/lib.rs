//! What hrsync's integration tests and its benchmark share.
//!
//! Every test talks to the real RabbitMQ (127.0.0.1:5672, or `HRSYNC_TEST_AMQP_URL`) and a
//! real store (SQLite in a fresh folder, or a fresh PostgreSQL schema), runs the target
//! simulator in-process, and asserts on what *arrived* — requests at the simulator, letters
//! in the dead-letter queue — not on what the worker believes it did.
//!
//! # Layout
//!
//! - [`harness`] — [`Harness::builder`]: one harness per test with its own exchange,
//!   queues, store and simulator, so tests run in parallel; `stop` deletes them. Publishing,
//!   the in-process worker's metrics and `/readyz`.
//! - [`sim`] — [`SimClient`], the typed client of the simulator's `/_sim` control plane
//!   (faults, request log, users, counters), as `harness.sim`.
//! - [`broker`] — dead letters, queue depths, forced connection closes, `rabbitmqctl`.
//! - [`process`] — the real `hrsync` binary as a child process, configured through
//!   `HRSYNC_*` variables over the shipped configuration.
//! - [`titles`] — reading the simulator's log as "which change reached which account, in
//!   which order", for the exactly-once and ordering assertions.
//! - [`events`] — HR events: the contract's example employee and numbered staff over the
//!   simulator's seeded accounts.
//! - [`eventually`] — the one polling helper every wait is built on.
//!
//! Failures panic with what was seen: these are test helpers, and a panic with the last
//! observed state is the most useful report a failed test can give.

pub mod broker;
pub mod events;
pub mod harness;
pub mod process;
pub mod sim;
pub mod store;
pub mod titles;

mod poll;

pub use broker::{rabbitmqctl, Letter};
pub use events::*;
pub use harness::{metric, shipped_config, Harness, HarnessBuilder};
pub use hrsync_sim::{FaultSpec as Fault, FaultTarget, SimulatorConfig};
pub use poll::{eventually, eventually_every};
pub use process::{workspace_root, WorkerProcess};
pub use sim::{body_json, form, roomy_simulator, SimClient};
pub use store::{StoreKind, BOTH_STORES};

pub use hrsync::targets::scim::ScimConfig;
pub use hrsync::targets::sitevault::SiteVaultConfig;
pub use hrsync::targets::superoffice::SuperOfficeConfig;
pub use hrsync::targets::vault::VaultConfig;

use std::time::Duration;

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(20);
