//! Operator commands behind the `hrsync` subcommands, kept in the library so they are
//! tested like the worker: held messages (`schedule list`, `staged list|release|discard`).

pub mod held;
