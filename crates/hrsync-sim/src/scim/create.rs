//! `POST /Users` (RFC 7644 §3.3): a User resource in `application/scim+json` (or
//! `application/json`) whose `schemas` name the core User schema → 201 Created with the
//! stored resource and a `Location` header equal to `meta.location`.
//!
//! The body's `id` and `meta` are the provider's and ignored (RFC 7643 §3.1); attribute
//! names match case-insensitively and are stored in their canonical case; an attribute
//! not in the simulated schema is a 400 `invalidValue`, except extension attributes
//! (`urn:…`) named in `schemas`, which are stored as sent. `userName` is required (400
//! `invalidValue`) and unique ignoring case, as RFC 7643 declares it `caseExact: false`
//! (409 `uniqueness`). `active` defaults to true. The id is `u` + the next number.

use axum::http::{header, StatusCode};
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::seed::FIRST_VAULT_USER;
use super::super::state::{Record, State};
use super::{error, known, location, now_rfc3339, resource, scim, USER_SCHEMA};

pub(super) fn create(state: &mut State, request: &ApiRequest) -> Reply {
    let media = request.media_type();
    if !matches!(
        media.as_deref(),
        Some("application/scim+json" | "application/json")
    ) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send application/scim+json",
        );
    }
    let mut user = match new_user(request).and_then(|user| check_unique(state, user)) {
        Ok(user) => user,
        Err((status, scim_type, why)) => return error(status, Some(scim_type), why),
    };
    let id = next_id(state);
    let now = now_rfc3339();
    user.insert("id".into(), json!(id));
    user.insert(
        "meta".into(),
        json!({ "created": now, "lastModified": now }),
    );
    let reply = scim(StatusCode::CREATED, resource(&user, request))
        .with_header(header::LOCATION, location(request, &id));
    state.scim_users.insert(id, user);
    reply
}

type Refusal = (StatusCode, &'static str, String);

fn bad(scim_type: &'static str, why: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, scim_type, why.into())
}

/// The stored form of the posted resource (without `id` and `meta`), checked.
fn new_user(request: &ApiRequest) -> Result<Record, Refusal> {
    let body = match request.json() {
        Ok(Value::Object(body)) => body,
        _ => return Err(bad("invalidSyntax", "body must be a JSON object")),
    };
    let schemas: Vec<&str> = body
        .get("schemas")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !schemas.contains(&USER_SCHEMA) {
        return Err(bad(
            "invalidSyntax",
            format!("schemas must contain {USER_SCHEMA}"),
        ));
    }
    let user = attributes(&body, &schemas)?;
    check_user_name(&user)?;
    if user.get("active").is_some_and(|a| !a.is_boolean()) {
        return Err(bad("invalidValue", "active must be true or false"));
    }
    Ok(user)
}

fn attributes(body: &Map<String, Value>, schemas: &[&str]) -> Result<Record, Refusal> {
    let mut user = Record::new();
    for (name, value) in body {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if name.starts_with("urn:") {
            if !schemas.contains(&name.as_str()) {
                return Err(bad(
                    "invalidValue",
                    format!("extension {name} is not listed in schemas"),
                ));
            }
            user.insert(name.clone(), value.clone());
            continue;
        }
        let (attr, _) = known(name).ok_or_else(|| {
            bad(
                "invalidValue",
                format!("no attribute {name:?} in the User schema"),
            )
        })?;
        user.insert(attr.to_owned(), value.clone());
    }
    user.entry("active").or_insert(json!(true));
    Ok(user)
}

fn check_user_name(user: &Record) -> Result<(), Refusal> {
    match user.get("userName") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(()),
        _ => Err(bad("invalidValue", "userName is required")),
    }
}

/// `u` + one past the highest numeric id (the first seeded number if none).
fn next_id(state: &State) -> String {
    let highest = state
        .scim_users
        .keys()
        .filter_map(|id| id.strip_prefix('u')?.parse::<u64>().ok())
        .max();
    format!("u{}", highest.map_or(FIRST_VAULT_USER, |n| n + 1))
}

/// A 409 if another user has this `userName` (ignoring case).
fn check_unique(state: &State, user: Record) -> Result<Record, Refusal> {
    let name = user.get("userName").and_then(Value::as_str).unwrap_or("");
    let wanted = name.to_lowercase();
    let taken = state.scim_users.values().any(|other| {
        other
            .get("userName")
            .and_then(Value::as_str)
            .is_some_and(|n| n.to_lowercase() == wanted)
    });
    if taken {
        return Err((
            StatusCode::CONFLICT,
            "uniqueness",
            format!("userName {name:?} is already taken"),
        ));
    }
    Ok(user)
}
