//! hrsync keeps Veeva Vault, Veeva SiteVault, SuperOffice CRM and SCIM 2.0 users in step
//! with HR.
//!
//! HR publishes joiner / mover / leaver events (CloudEvents 1.0) to RabbitMQ; hrsync maps
//! each one to user updates in every configured target, applies them with retries, and sends what
//! cannot be applied to a dead-letter queue with a reason. A message is acknowledged only
//! after every target operation it causes is applied or its dead letter is confirmed.
//!
//! # Layout
//!
//! The folders follow the data's path through the worker:
//!
//! - [`source`]: the RabbitMQ side. Declares the topology, consumes with manual acks,
//!   publishes dead letters with publisher confirms, reconnects after broker trouble.
//! - [`event`]: decodes one message (structured or binary CloudEvents) into an [`event::HrEvent`]
//!   and rejects bad input with an error that names the field and the rule.
//! - [`mapping`]: turns an event into per-target field values from declarative expressions
//!   in the configuration, within each target's field allow-list.
//! - [`targets`]: one folder per target API, each a plugin registered in
//!   [`targets::registry`] whose configuration builds its client; behind the
//!   [`targets::Target`] trait each turns a [`targets::Change`] into HTTP requests and
//!   classifies the answer, searches for a person's accounts and creates them. Vault,
//!   SiteVault, SuperOffice and any SCIM 2.0 provider.
//! - [`apply`]: drives one event through mapping and targets — dedupe, stale guard, an
//!   account matched or created for a person nobody linked, retries behind a circuit
//!   breaker — and decides the message's fate (ack, delayed retry, dead letters).
//! - [`store`]: the state store (SQLite or PostgreSQL): processed event ids, last applied
//!   sequence and values per employee × target, account links, the audit log.
//! - [`config`]: typed, layered configuration (file, environment, secret files) and its
//!   validation; [`secret`] and [`tls`] are the leaves every section shares.
//! - [`metrics`], [`telemetry`], [`http`]: Prometheus metrics, logging set-up, and the
//!   `/metrics`, `/healthz`, `/readyz` endpoints.
//! - [`ops`]: the operator commands behind the CLI — held messages, dead letters, the
//!   audit log, the store, online checks — and their table or JSON output.
//! - [`reconcile`]: an HR snapshot against every account of every target, read only.
//! - `simulator` (the `hrsync-sim` crate, in-process behind the default `simulator`
//!   feature): a stand-in for the target APIs, faithful to their documents, for tests and
//!   local trials. The integration tests and the benchmark share `crates/hrsync-testkit`.
//! - [`worker`]: wires the pieces together and runs until shutdown.

pub mod apply;
pub mod config;
pub mod event;
pub mod http;
pub mod mapping;
pub mod metrics;
pub mod ops;
pub mod reconcile;
pub mod secret;
#[cfg(feature = "simulator")]
pub use hrsync_sim as simulator;
pub mod source;
pub mod store;
pub mod targets;
pub mod telemetry;
pub mod tls;
pub mod worker;
