//! Domain helpers for mapping expressions. minijinja does the expression language; these
//! only cover what expressions cannot say briefly: table lookups with a fallback, the first
//! of several HR roles that a table knows, and SiteVault's per-site assignment blocks.

use super::Tables;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use std::sync::Arc;

pub fn register(env: &mut Environment<'static>, tables: Arc<Tables>) {
    let t = tables.clone();
    env.add_function(
        "lookup",
        move |table: String, key: Value, default: Option<Value>| lookup(&t, &table, &key, default),
    );
    let t = tables;
    env.add_function(
        "first_lookup",
        move |table: String, keys: Value, default: Option<Value>| {
            first_lookup(&t, &table, &keys, default)
        },
    );
    env.add_function("site_assignments", site_assignments);
}

/// How the error for an unknown table begins (a configuration error, not the event's).
pub(super) const NO_SUCH_TABLE: &str = "no lookup table named";

fn table<'a>(
    tables: &'a Tables,
    name: &str,
) -> Result<&'a std::collections::BTreeMap<String, serde_json::Value>, Error> {
    tables.get(name).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{NO_SUCH_TABLE} {name:?} (mapping.tables)"),
        )
    })
}

/// `lookup('table', key, default)`: the table's value for `key`; without a default, a
/// missing key is an error (the event is dead-lettered rather than mapped to a guess).
fn lookup(
    tables: &Tables,
    name: &str,
    key: &Value,
    default: Option<Value>,
) -> Result<Value, Error> {
    let table = table(tables, name)?;
    let key_text = key.to_string();
    match table.get(&key_text) {
        Some(found) => Ok(Value::from_serialize(found)),
        None => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("table {name:?} has no entry {key_text:?} and no default was given"),
            )
        }),
    }
}

/// `first_lookup('table', roles, default)`: the value for the first key of `keys` that the
/// table knows — table order of preference is the order of `keys`.
fn first_lookup(
    tables: &Tables,
    name: &str,
    keys: &Value,
    default: Option<Value>,
) -> Result<Value, Error> {
    let table = table(tables, name)?;
    if let Ok(iter) = keys.try_iter() {
        for key in iter {
            if let Some(found) = table.get(&key.to_string()) {
                return Ok(Value::from_serialize(found));
            }
        }
    }
    default.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("table {name:?} has none of the given keys and no default was given"),
        )
    })
}

/// `site_assignments(sites, role[, addons])`: one SiteVault site block per USN, all with
/// `role` and, when given, the add-on list `addons` (SiteVault removes the add-ons a sent
/// block omits, so they belong to the mapping).
fn site_assignments(sites: Value, role: Value, addons: Option<Value>) -> Result<Value, Error> {
    let addons: Vec<String> = match addons {
        Some(list) if !list.is_undefined() && !list.is_none() => {
            list.try_iter()?.map(|addon| addon.to_string()).collect()
        }
        _ => Vec::new(),
    };
    let blocks: Vec<serde_json::Value> = sites
        .try_iter()?
        .map(|site| {
            serde_json::json!({
                "site_usn": site.to_string(),
                "system_role_id": role.to_string(),
                "addons": addons,
            })
        })
        .collect();
    Ok(Value::from_serialize(blocks))
}
