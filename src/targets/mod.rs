//! The target APIs, as plugins behind one trait.
//!
//! Each target lives in its own folder, split by job like Vector's sinks: `config.rs`
//! (user-facing settings, their validation, and the [`TargetConfig`] that builds the
//! client), `request_builder.rs` (change → HTTP request, pure and testable, reused by dry
//! runs), `service.rs` (transport, auth, response classification). [`registry`] lists them,
//! one line each; [`plugin`] is what a target must provide. Retrying is not done here: a
//! target reports *what kind* of failure it saw ([`ErrorClass`]) and the [`crate::apply`]
//! layer decides what to do about it.

pub mod error;
pub mod http_client;
pub mod id;
pub mod plugin;
pub mod registry;
pub mod scim;
pub mod sitevault;
pub mod superoffice;
pub mod vault;
pub mod veeva_session;

pub use error::{ErrorClass, ErrorCode, TargetError};
pub use plugin::{TargetConfig, TargetKind, TargetPlugin};

use crate::event::Action;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// One user update for one target, produced by the mapping from one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub event_id: String,
    pub employee_id: String,
    pub action: Action,
    /// The target's id of the account; validated for URL-path use by the target.
    pub account_id: String,
    /// Mapped field values, keyed by the target's field names (or dotted paths).
    pub fields: Map<String, Value>,
    /// The values hrsync last applied for this employee in this target, if any (what a
    /// target without a cheap read diffs against).
    pub previous: Option<Map<String, Value>>,
}

/// An HTTP request as a target would send it, without auth: what a dry run prints and
/// what request builders are tested on.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub method: http::Method,
    /// Path and query, relative to the target's base URL.
    pub path: String,
    pub content_type: &'static str,
    pub body: String,
}

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// These fields differed from the target's current values and were written.
    Changed(Vec<String>),
    /// The target already had every mapped value; nothing was written (a no-op write
    /// would still leave an audit entry in Vault that someone has to explain).
    Unchanged,
}

/// The account ids in `rows[].{id_field}` of a search answer: one is a match, none is
/// none, several is an error naming `what` was searched — never a guess.
pub fn single_match(
    rows: Option<&serde_json::Value>,
    id_field: &str,
    what: &str,
) -> Result<Option<String>, TargetError> {
    let ids: Vec<String> = rows
        .and_then(serde_json::Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.get(id_field))
                .map(|id| id.to_string().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default();
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(TargetError::permanent(
            "ambiguous",
            format!("{} accounts match {what}", ids.len()),
        )),
    }
}

/// What may identify a person's account when the event carries no id for a target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupHints {
    pub username: Option<String>,
    pub email: Option<String>,
    pub federated_id: Option<String>,
}

impl LookupHints {
    /// The hints an event's `data.person` offers.
    pub fn from_data(data: &Value) -> Self {
        let text = |field: &str| {
            data.pointer(&format!("/person/{field}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        LookupHints {
            username: text("username"),
            email: text("email"),
            federated_id: text("federated_id"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.email.is_none() && self.federated_id.is_none()
    }
}

/// A target API client.
#[async_trait]
pub trait Target: Send + Sync {
    fn kind(&self) -> TargetKind;

    /// Reads the account's current values, writes only the fields that differ, and says
    /// which. Errors say whether a retry can help.
    async fn apply(&self, change: &Change) -> Result<Applied, TargetError>;

    /// The requests `apply` would send for `change` if every mapped field differed, for
    /// dry runs (the reads that precede them are described, not performed).
    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError>;

    /// `Some(reason)` while the target cannot be used because of its configuration
    /// (e.g. rejected credentials); shown on `/readyz`.
    fn config_problem(&self) -> Option<String> {
        None
    }

    /// Finds the account of a person the event carries no id for (a leaver whose account
    /// was never linked). `Ok(None)`: not found, or the target offers no lookup.
    async fn lookup(
        &self,
        _hints: &LookupHints,
        _event_id: &str,
    ) -> Result<Option<String>, TargetError> {
        Ok(None)
    }

    /// Calls left in the target's rate-limit window, where the target reports it.
    fn rate_limit_remaining(&self) -> Option<i64> {
        None
    }
}
