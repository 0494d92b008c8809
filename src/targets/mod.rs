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

/// The account ids in `rows[].{id_field}` of a search answer, as text.
pub fn ids_of(rows: Option<&serde_json::Value>, id_field: &str) -> Vec<String> {
    rows.and_then(serde_json::Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.get(id_field))
                .map(|id| id.to_string().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `value` at a dotted `path` (`name.givenName`, `Person.Firstname`) inside `root`,
/// making objects on the way: how mapped fields become a create body.
pub fn set_dotted(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let object = node.as_object_mut().expect("just made an object");
        if segments.peek().is_none() {
            object.insert(segment.to_string(), value);
            return;
        }
        node = object
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
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

    /// These hints with the values a new account would be created with taking precedence:
    /// what hrsync writes on create is what it must find on the next attempt, so a create
    /// whose answer was lost is found, never repeated.
    pub fn with_created(mut self, fields: &Map<String, Value>, names: MatchFields) -> Self {
        let text = |name: Option<&str>| -> Option<String> {
            let value = fields.get(name?)?;
            // SCIM `emails` is a list of {value, …}: the first one is the address.
            let value = value.pointer("/0/value").unwrap_or(value);
            value.as_str().map(str::to_string)
        };
        if let Some(v) = text(names.federated_id) {
            self.federated_id = Some(v);
        }
        if let Some(v) = text(names.username) {
            self.username = Some(v);
        }
        if let Some(v) = text(names.email) {
            self.email = Some(v);
        }
        self
    }
}

/// What the worker searches `target` by for a person: `data.person`'s hints, overridden by
/// the values `creation` (if any) would write — the one rule for the worker, dry runs and
/// reconciliation.
pub fn match_hints(target: &dyn Target, data: &Value, creation: Option<&Creation>) -> LookupHints {
    let hints = LookupHints::from_data(data);
    match creation {
        Some(creation) => hints.with_created(&creation.fields, target.match_fields()),
        None => hints,
    }
}

/// Which `create` fields of a target hold the values it matches accounts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchFields {
    pub federated_id: Option<&'static str>,
    pub username: Option<&'static str>,
    pub email: Option<&'static str>,
}

/// The accounts a search found, by the first key (in the target's match order) that found
/// any; `key` names it for logs and dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub key: &'static str,
    pub ids: Vec<String>,
}

/// One account as a target lists it, for reconciliation: its id, what it can be matched
/// by, whether it is active, and the values of mapped fields the listing carries (keyed
/// by the mapping's field names, so they compare with what the mapping would write).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListedAccount {
    pub id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub federated_id: Option<String>,
    pub active: bool,
    pub fields: Map<String, Value>,
}

/// Every account of a target, read page by page, and how many calls that took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub accounts: Vec<ListedAccount>,
    pub calls: usize,
}

/// A new account for one employee, from the `create` block of the mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Creation {
    pub event_id: String,
    pub employee_id: String,
    pub fields: Map<String, Value>,
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

    /// The accounts that may be this person's, searched by the target's keys in its match
    /// order; the first key that finds any decides (empty: none found, or the target
    /// offers no search). Several ids are never narrowed down to one here.
    async fn find_accounts(
        &self,
        _hints: &LookupHints,
        _event_id: &str,
    ) -> Result<Found, TargetError> {
        Ok(Found::default())
    }

    /// The `create` fields that hold what [`Target::find_accounts`] searches by.
    fn match_fields(&self) -> MatchFields {
        MatchFields::default()
    }

    /// Creates the account and returns its id. Only called after a search found none.
    async fn create(&self, creation: &Creation) -> Result<String, TargetError> {
        let _ = creation;
        Err(TargetError::permanent(
            "create_unsupported",
            format!("{} accounts cannot be created by hrsync", self.kind()),
        ))
    }

    /// The requests `create` would send, for dry runs.
    fn describe_create(&self, creation: &Creation) -> Result<Vec<PreparedRequest>, TargetError> {
        let _ = creation;
        Ok(Vec::new())
    }

    /// Every account of the target, through its documented paginated listing, pages of
    /// the largest documented size; `progress` is told the count read so far. A failure
    /// part way is an error, never a short list: a failed read must not look like
    /// "everyone left".
    async fn list_accounts(
        &self,
        reference: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Listing, TargetError> {
        let _ = (reference, progress);
        Err(TargetError::permanent(
            "list_unsupported",
            format!("{} accounts cannot be listed by hrsync", self.kind()),
        ))
    }

    /// Calls left in the target's rate-limit window, where the target reports it.
    fn rate_limit_remaining(&self) -> Option<i64> {
        None
    }

    /// Whether [`Target::list_accounts`] shows if an account can still get in. Where it
    /// cannot (a leaver removes access without a status to list), reconciliation takes
    /// [`Target::access_removed`] of what hrsync last applied instead.
    fn listing_shows_access(&self) -> bool {
        true
    }

    /// Whether `applied` — the fields hrsync last applied — removed the account's access.
    fn access_removed(&self, applied: &Map<String, Value>) -> bool {
        let _ = applied;
        false
    }
}
