//! The User carrier: its schema (every property with the value an omitted one is reset
//! to), and `GET`, `PUT` (full replacement) and `PATCH` on `/api/v1/User/{id}`.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::jsonpatch::{apply_json_patch, apply_merge_patch, find_key, PatchError};
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::{
    bad_request, entity_body, is_entity_json, lookup, not_found, unsupported_media, with_links,
};

/// The JSON type a User property must have.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Bool,
    /// String or null.
    Str,
    /// Array (null means empty).
    Array,
    /// Object or null.
    Object,
    /// The `Type` string enum.
    UserType,
}

/// The User carrier's properties, with the value an omitted property is reset to.
fn user_schema() -> [(&'static str, Kind, Value); 25] {
    use Kind::*;
    [
        ("AssociateId", Int, json!(0)),
        ("Name", Str, Value::Null),
        ("Rank", Int, json!(0)),
        ("Tooltip", Str, Value::Null),
        ("LicenseOwners", Array, json!([])),
        ("Role", Object, Value::Null),
        ("UserGroup", Object, Value::Null),
        ("OtherGroups", Array, json!([])),
        ("Person", Object, Value::Null),
        ("Deleted", Bool, json!(false)),
        ("Lastlogin", Str, Value::Null),
        ("Lastlogout", Str, Value::Null),
        ("EjUserId", Int, json!(0)),
        ("RequestSignature", Str, Value::Null),
        ("Type", UserType, json!("Unknown")),
        ("IsPersonRetired", Bool, json!(false)),
        ("IsOnTravel", Bool, json!(false)),
        ("Credentials", Array, json!([])),
        ("UserName", Str, Value::Null),
        ("TicketCategories", Array, json!([])),
        ("NickName", Str, Value::Null),
        ("WaitingForApproval", Bool, json!(false)),
        ("ExtraFields", Object, json!({})),
        ("CustomFields", Object, json!({})),
        ("PostSaveCommands", Array, json!([])),
    ]
}

const USER_TYPES: [&str; 6] = [
    "Unknown",
    "InternalAssociate",
    "ResourceAssociate",
    "ExternalAssociate",
    "AnonymousAssociate",
    "SystemAssociate",
];
const READ_ONLY: [&str; 3] = ["TableRight", "FieldProperties", "_Links"];

pub(super) fn get_user(state: &State, request: &ApiRequest, raw_id: &str) -> Reply {
    match lookup(state, raw_id) {
        Some(id) => Reply::json(
            StatusCode::OK,
            with_links(&state.superoffice_users[&id], id, request),
        ),
        None => not_found(raw_id),
    }
}

pub(super) fn put_user(state: &mut State, request: &ApiRequest, raw_id: &str) -> Reply {
    let Some(id) = lookup(state, raw_id) else {
        return not_found(raw_id);
    };
    if !is_entity_json(request) {
        return unsupported_media(request, "application/json");
    }
    let body = match entity_body(request, "User") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    match build_user(id, &body, false) {
        Ok(user) => store_and_reply(state, request, id, user),
        Err(message) => bad_request(message),
    }
}

pub(super) fn store_and_reply(
    state: &mut State,
    request: &ApiRequest,
    id: i64,
    user: Record,
) -> Reply {
    let reply = Reply::json(StatusCode::OK, with_links(&user, id, request));
    state.superoffice_users.insert(id, user);
    reply
}

/// The stored entity for `body`: every schema property, in schema order, with omitted ones
/// reset to their defaults. `strict` refuses unknown properties (used after a PATCH).
pub(crate) fn build_user(
    id: i64,
    body: &Map<String, Value>,
    strict: bool,
) -> Result<Record, String> {
    if strict {
        reject_unknown(body)?;
    }
    let mut user = Record::new();
    for (name, kind, default) in user_schema() {
        let value = match find_key(body, name).and_then(|k| body.get(&k)) {
            Some(value) => check_kind(name, kind, value, default)?,
            None => default,
        };
        user.insert(name.to_owned(), value);
    }
    user.insert("AssociateId".into(), json!(id));
    Ok(user)
}

fn reject_unknown(body: &Map<String, Value>) -> Result<(), String> {
    let schema = user_schema();
    let known = |k: &str| {
        schema.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(k))
            || READ_ONLY.iter().any(|n| n.eq_ignore_ascii_case(k))
    };
    match body.keys().find(|k| !known(k)) {
        Some(unknown) => Err(format!("User has no property '{unknown}'")),
        None => Ok(()),
    }
}

fn check_kind(name: &str, kind: Kind, value: &Value, default: Value) -> Result<Value, String> {
    let ok = match (kind, value) {
        (Kind::Int, Value::Number(n)) => n.is_i64(),
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Str | Kind::Object, Value::Null) => true,
        (Kind::Str, Value::String(_)) => true,
        (Kind::Array, Value::Null) => return Ok(default),
        (Kind::Array, Value::Array(_)) => true,
        (Kind::Object, Value::Object(_)) => true,
        (Kind::UserType, _) => return user_type(value).ok_or_else(|| bad_value(name, value)),
        _ => false,
    };
    if ok {
        Ok(value.clone())
    } else {
        Err(bad_value(name, value))
    }
}

fn bad_value(name: &str, value: &Value) -> String {
    format!("Invalid value {value} for property '{name}'")
}

/// `Type` accepts the enum name (any case) or its number, stored as the name.
pub(super) fn user_type(value: &Value) -> Option<Value> {
    let name = match value {
        Value::String(s) => USER_TYPES.iter().find(|t| t.eq_ignore_ascii_case(s))?,
        Value::Number(n) => USER_TYPES.get(usize::try_from(n.as_u64()?).ok()?)?,
        _ => return None,
    };
    Some(json!(name))
}

pub(super) fn patch_user(state: &mut State, request: &ApiRequest, raw_id: &str) -> Reply {
    let Some(id) = lookup(state, raw_id) else {
        return not_found(raw_id);
    };
    let merge = match request.media_type().as_deref() {
        Some("application/json-patch+json") => false,
        Some("application/merge-patch+json") => true,
        _ => return unsupported_media(request, "application/json-patch+json"),
    };
    let patch = match request.json() {
        Ok(patch) => patch,
        Err(e) => return bad_request(format!("Malformed JSON: {e}")),
    };
    let mut doc = Value::Object(state.superoffice_users[&id].clone());
    let patched = if merge {
        apply_merge_patch(&mut doc, &patch);
        Ok(())
    } else {
        apply_json_patch(&mut doc, &patch)
    };
    match patched {
        Ok(()) => finish_patch(state, request, id, doc),
        Err(PatchError::TestFailed(m)) => Reply::so_error(
            StatusCode::CONFLICT,
            "SoConcurrencyException",
            format!("Patch test failed: {m}"),
        ),
        Err(PatchError::Invalid(m)) => bad_request(format!("Invalid patch: {m}")),
    }
}

fn finish_patch(state: &mut State, request: &ApiRequest, id: i64, doc: Value) -> Reply {
    let Value::Object(body) = doc else {
        return bad_request("Patch must leave a User object");
    };
    match build_user(id, &body, true) {
        Ok(user) => store_and_reply(state, request, id, user),
        Err(message) => bad_request(message),
    }
}
