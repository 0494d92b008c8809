//! `PATCH /Users/{id}` with a `PatchOp` (RFC 7644 §3.5.2): all operations or none.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::Record;
use super::super::state::State;
use super::{error, not_found, now_rfc3339, parse_path, resource, scim, PATCH_SCHEMA};

pub(super) fn patch(state: &mut State, request: &ApiRequest, id: &str) -> Reply {
    if !request.is_json() {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send application/scim+json",
        );
    }
    let Some(user) = state.scim_users.get_mut(id) else {
        return not_found(id);
    };
    let body = match request.json() {
        Ok(Value::Object(body)) => body,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "body must be a JSON object",
            )
        }
    };
    let is_patch = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v == PATCH_SCHEMA));
    let operations = body.get("Operations").and_then(Value::as_array);
    let (true, Some(operations)) = (is_patch, operations) else {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("a PatchOp needs schemas [{PATCH_SCHEMA}] and Operations"),
        );
    };
    if operations.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "Operations is empty",
        );
    }
    // All or nothing (RFC 7644 §3.5.2): apply to a copy.
    let mut updated = user.clone();
    for op in operations {
        if let Err((scim_type, why)) = apply_op(&mut updated, op) {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), why);
        }
    }
    if let Some(Value::Object(meta)) = updated.get_mut("meta") {
        meta.insert("lastModified".into(), json!(now_rfc3339()));
    }
    *user = updated;
    scim(StatusCode::OK, resource(user, request))
}

fn apply_op(user: &mut Record, op: &Value) -> Result<(), (&'static str, String)> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or(("invalidSyntax", "an operation needs op".to_string()))?;
    let path = op.get("path").and_then(Value::as_str);
    let value = op.get("value");
    match (kind.as_str(), path, value) {
        ("remove", Some(path), _) => {
            let (attr, sub) = parse_path(path).map_err(|w| ("invalidPath", w))?;
            match sub {
                None => {
                    user.remove(attr);
                }
                Some(sub) => {
                    if let Some(Value::Object(inner)) = user.get_mut(attr) {
                        inner.remove(sub);
                    }
                }
            }
            Ok(())
        }
        ("remove", None, _) => Err(("noTarget", "remove needs a path".into())),
        ("add" | "replace", Some(path), Some(value)) => {
            let (attr, sub) = parse_path(path).map_err(|w| ("invalidPath", w))?;
            set(user, attr, sub, value.clone());
            Ok(())
        }
        ("add" | "replace", None, Some(Value::Object(values))) => {
            for (name, value) in values {
                let (attr, _) = parse_path(name).map_err(|w| ("invalidPath", w))?;
                set(user, attr, None, value.clone());
            }
            Ok(())
        }
        ("add" | "replace", _, _) => Err(("invalidValue", format!("{kind} needs a value"))),
        (other, _, _) => Err(("invalidSyntax", format!("unknown op {other:?}"))),
    }
}

fn set(user: &mut Record, attr: &str, sub: Option<&str>, value: Value) {
    match sub {
        None => {
            user.insert(attr.to_string(), value);
        }
        Some(sub) => {
            let entry = user
                .entry(attr.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry
                .as_object_mut()
                .expect("made an object")
                .insert(sub.to_string(), value);
        }
    }
}
