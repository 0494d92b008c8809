//! Operator commands behind the `hrsync` subcommands, kept in the library so they are
//! tested like the worker: the configuration check (`check-config`), dead letters (`dlq`),
//! what an event would send (`dry-run`), and held messages (`schedule list`,
//! `staged list|release|discard`).

pub mod check;
pub mod dlq;
pub mod dry_run;
pub mod held;
