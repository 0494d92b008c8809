//! Operator commands behind the `hrsync` subcommands, kept in the library so they are
//! tested like the worker: the configuration check (`check-config`, and `--online` against
//! the real services), dead letters (`dlq`), what an event would send (`dry-run`), held
//! messages (`schedule list`, `staged list|release|discard`), the audit log (`audit list`),
//! the container health check (`healthcheck`), and how they open the store and write
//! their output.

pub mod audit;
pub mod check;
pub mod dlq;
pub mod dry_run;
pub mod health;
pub mod held;
pub mod online;
pub mod output;
pub mod store;
