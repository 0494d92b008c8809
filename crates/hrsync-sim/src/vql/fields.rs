//! What each queryable object offers: which fields a `SELECT` may name and where each is
//! stored, which fields a `WHERE` may compare and how, and the records in id order.
//!
//! `users` are the legacy Vault users: `id` and the fields the users API edits
//! (vault-facts.md), stored under their own names; `vault_membership` is a list, not a
//! field, so it is not selectable. `person__sys` are the SiteVault persons, whose stored
//! record uses the Create User names (`email`, `first_name`, …): the `__sys` fields map onto
//! them, and `status__v` is the person's `record_status` (`inactive__v`, else `active__v`,
//! as Create User reads it).

use serde_json::{json, Value};

use super::super::state::{Record, State};
use super::super::vault::EDITABLE_FIELDS;

/// What a query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Object {
    Users,
    Persons,
}

impl Object {
    /// The object named after `FROM`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "users" => Some(Object::Users),
            "person__sys" => Some(Object::Persons),
            _ => None,
        }
    }

    /// Every record with its id (a number for users, a `V0B…` string for persons), in id
    /// order.
    pub fn records<'a>(
        self,
        state: &'a State,
    ) -> Box<dyn Iterator<Item = (Value, &'a Record)> + 'a> {
        match self {
            Object::Users => Box::new(state.vault_users.iter().map(|(id, r)| (json!(id), r))),
            Object::Persons => {
                Box::new(state.sitevault_persons.iter().map(|(id, r)| (json!(id), r)))
            }
        }
    }
}

/// Where a selected field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The record's id, as the store keys it.
    Id,
    /// A stored key.
    Key(&'static str),
    /// A person's `record_status`, `active__v` unless it is `inactive__v`.
    Status,
}

/// One field of a `SELECT` list: its VQL name and where its value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Column {
    pub name: &'static str,
    source: Source,
}

/// The selectable `person__sys` fields and their stored keys.
const PERSON_FIELDS: [(&str, Source); 6] = [
    ("id", Source::Id),
    ("email__sys", Source::Key("email")),
    ("federated_id__sys", Source::Key("federated_id")),
    ("first_name__sys", Source::Key("first_name")),
    ("last_name__sys", Source::Key("last_name")),
    ("status__v", Source::Status),
];

/// The column `field` of `object`, or why it cannot be selected.
pub(super) fn column(object: Object, field: &str) -> Result<Column, String> {
    let found = match object {
        Object::Users if field == "id" => Some(("id", Source::Id)),
        Object::Users => EDITABLE_FIELDS
            .iter()
            .find(|name| **name == field)
            .map(|name| (*name, Source::Key(name))),
        Object::Persons => PERSON_FIELDS
            .iter()
            .copied()
            .find(|(name, _)| *name == field),
    };
    found
        .map(|(name, source)| Column { name, source })
        .ok_or_else(|| format!("no field {field} to select on this object"))
}

/// The row of `record` (id `id`): exactly the selected fields, a missing one as `null`.
pub(super) fn row(columns: &[Column], id: &Value, record: &Record) -> Value {
    let row = columns
        .iter()
        .map(|column| (column.name.to_owned(), value(column.source, id, record)))
        .collect();
    Value::Object(row)
}

fn value(source: Source, id: &Value, record: &Record) -> Value {
    match source {
        Source::Id => id.clone(),
        Source::Key(key) => record.get(key).cloned().unwrap_or(Value::Null),
        Source::Status => {
            let inactive =
                record.get("record_status").and_then(Value::as_str) == Some("inactive__v");
            json!(if inactive { "inactive__v" } else { "active__v" })
        }
    }
}

/// A `WHERE field = 'literal'` condition on a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    pub key: &'static str,
    pub case_insensitive: bool,
    pub value: String,
}

impl Filter {
    pub fn matches(&self, record: &Record) -> bool {
        let Some(stored) = record.get(self.key).and_then(Value::as_str) else {
            return false;
        };
        if self.case_insensitive {
            stored.to_lowercase() == self.value.to_lowercase()
        } else {
            stored == self.value
        }
    }
}

/// The stored key a `WHERE` compares for `field` and whether it ignores case (Vault
/// compares user names and e-mails that way; federated ids are exact).
pub(super) fn where_key(object: Object, field: &str) -> Result<(&'static str, bool), String> {
    Ok(match (object, field) {
        (Object::Users, "user_name__v") => ("user_name__v", true),
        (Object::Users, "user_email__v") => ("user_email__v", true),
        (Object::Users, "federated_id__v") => ("federated_id__v", false),
        (Object::Persons, "email__sys") => ("email", true),
        (Object::Persons, "federated_id__sys") => ("federated_id", false),
        _ => return Err(format!("field {field} is not supported in WHERE")),
    })
}
