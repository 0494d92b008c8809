//! A SCIM 2.0 service provider's `/Users` (RFC 7643 core User schema, RFC 7644 protocol),
//! under `/api/scim/v2`: `GET /Users/{id}`, `GET /Users?filter=…&startIndex=…&count=…`
//! (filters of `attrPath eq value` terms joined by `and`; `userName` and e-mails compare
//! case-insensitively, as RFC 7643 declares them `caseExact: false`), `PATCH /Users/{id}`
//! with a `PatchOp` (`add`, `replace`, `remove`; paths `attr` or `attr.subAttr`; an
//! unknown attribute is `invalidPath`), bearer tokens, `application/scim+json`, and RFC
//! 7644 §3.12 error bodies. Nothing else of SCIM is answered (a 405 with an error body).

use axum::http::{header, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::{Record, State};
use super::SimulatorConfig;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Attributes of the core User schema the simulator keeps (RFC 7643 §4.1), with their
/// sub-attributes where complex.
const ATTRIBUTES: [(&str, &[&str]); 14] = [
    ("userName", &[]),
    ("externalId", &[]),
    (
        "name",
        &["formatted", "familyName", "givenName", "middleName"],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("emails", &["value", "type", "primary"]),
    ("phoneNumbers", &["value", "type", "primary"]),
    ("roles", &["value", "display", "type", "primary"]),
];

/// An RFC 7644 §3.12 error.
pub(crate) fn error(
    status: StatusCode,
    scim_type: Option<&str>,
    detail: impl Into<String>,
) -> Reply {
    let mut body = json!({"schemas": [ERROR_SCHEMA], "status": status.as_u16().to_string(),
                          "detail": detail.into()});
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    scim(status, body)
}

fn scim(status: StatusCode, body: Value) -> Reply {
    Reply::json(status, body).with_header(header::CONTENT_TYPE, "application/scim+json")
}

/// Every request under `/api/scim/v2`.
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let authorized = request.header(header::AUTHORIZATION).is_some_and(|value| {
        config
            .scim_tokens
            .iter()
            .any(|t| value == format!("Bearer {t}"))
    });
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or invalid bearer token",
        );
    }
    let rest: Vec<&str> = request
        .segments
        .iter()
        .skip(2)
        .map(String::as_str)
        .collect();
    match (rest.as_slice(), &request.method) {
        (["Users"], &Method::GET) => list(state, request),
        (["Users", id], &Method::GET) => match state.scim_users.get(*id) {
            Some(user) => scim(StatusCode::OK, resource(user)),
            None => not_found(id),
        },
        (["Users", id], &Method::PATCH) => patch(state, request, id),
        (["Users", ..], _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{} is not supported on {}", request.method, request.path),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no resource at {}", request.path),
        ),
    }
}

fn not_found(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        None,
        format!("Resource {id} not found"),
    )
}

/// The stored user with its `schemas` and `meta` (RFC 7643 §3.1).
fn resource(user: &Record) -> Value {
    let mut out = user.clone();
    out.insert("schemas".into(), json!([USER_SCHEMA]));
    let id = out.get("id").cloned().unwrap_or(Value::Null);
    out.insert(
        "meta".into(),
        json!({"resourceType": "User", "location": format!("/Users/{}", id.as_str().unwrap_or(""))}),
    );
    Value::Object(out)
}

/// `name` → its entry of [`ATTRIBUTES`], case-insensitively (RFC 7643 §2.1).
fn known(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    ATTRIBUTES
        .iter()
        .copied()
        .find(|(attr, _)| attr.eq_ignore_ascii_case(name))
}

/// An attribute and, for a complex one, a sub-attribute: canonical names.
type AttrPath = (&'static str, Option<&'static str>);

/// `attr` or `attr.sub`, checked against the schema: the canonical names.
fn parse_path(path: &str) -> Result<AttrPath, String> {
    let (attr, sub) = match path.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (path, None),
    };
    let (attr, subs) =
        known(attr).ok_or_else(|| format!("no attribute {attr:?} in the User schema"))?;
    let sub = match sub {
        None => None,
        Some(sub) => Some(
            subs.iter()
                .copied()
                .find(|s| s.eq_ignore_ascii_case(sub))
                .ok_or_else(|| format!("no sub-attribute {sub:?} of {attr}"))?,
        ),
    };
    Ok((attr, sub))
}

fn list(state: &State, request: &ApiRequest) -> Reply {
    let params: Vec<(String, String)> = request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let terms = match param("filter").map(parse_filter).transpose() {
        Ok(terms) => terms.unwrap_or_default(),
        Err(why) => return error(StatusCode::BAD_REQUEST, Some("invalidFilter"), why),
    };
    let number = |name: &str, default: usize| {
        param(name).map_or(Ok(default), |v| {
            v.parse::<usize>().map_err(|_| name.to_string())
        })
    };
    let (start, count) = match (number("startIndex", 1), number("count", 100)) {
        (Ok(start), Ok(count)) => (start.max(1), count),
        (Err(name), _) | (_, Err(name)) => {
            return error(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                format!("{name} must be a number"),
            )
        }
    };
    let matching: Vec<&Record> = state
        .scim_users
        .values()
        .filter(|user| {
            terms
                .iter()
                .all(|(path, wanted)| matches(user, path, wanted))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|user| resource(user))
        .collect();
    scim(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": matching.len(), "startIndex": start,
               "itemsPerPage": page.len(), "Resources": page}),
    )
}

/// Whether `user` has `wanted` at `path` (a multi-valued attribute matches if any value does).
fn matches(user: &Record, path: &AttrPath, wanted: &Value) -> bool {
    let (attr, sub) = *path;
    let equal = |got: &Value| match (got, wanted) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    };
    match (user.get(attr), sub) {
        (Some(Value::Array(values)), Some(sub)) => {
            values.iter().any(|v| v.get(sub).is_some_and(equal))
        }
        (Some(Value::Array(values)), None) => {
            values.iter().any(|v| v.get("value").is_some_and(equal))
        }
        (Some(value), Some(sub)) => value.get(sub).is_some_and(equal),
        (Some(value), None) => equal(value),
        (None, _) => false,
    }
}

/// `path eq "text"` / `path eq true|false|null|123`, joined by ` and ` (RFC 7644 §3.4.2.2).
fn parse_filter(filter: &str) -> Result<Vec<(AttrPath, Value)>, String> {
    let mut terms = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (path, after) = rest
            .split_once(' ')
            .ok_or_else(|| format!("expected `attrPath eq value` in {rest:?}"))?;
        let after = after.trim_start();
        let (op, after) = after.split_once(' ').unwrap_or((after, ""));
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!("only the eq operator is supported, got {op:?}"));
        }
        let after = after.trim_start();
        let (value, tail) = if after.starts_with('"') {
            // A JSON string literal: read it with a JSON parser, up to its closing quote.
            let mut stream = serde_json::Deserializer::from_str(after).into_iter::<Value>();
            let value = stream
                .next()
                .ok_or("missing value")?
                .map_err(|e| format!("bad string literal: {e}"))?;
            (value, &after[stream.byte_offset()..])
        } else {
            let (word, tail) = after.split_once(' ').unwrap_or((after, ""));
            let value: Value =
                serde_json::from_str(word).map_err(|_| format!("not a literal: {word:?}"))?;
            (value, tail)
        };
        terms.push((parse_path(path)?, value));
        let tail = tail.trim_start();
        rest = match tail.get(..4) {
            Some(and) if and.eq_ignore_ascii_case("and ") => tail[4..].trim_start(),
            _ if tail.is_empty() => "",
            _ => return Err(format!("expected `and` before {tail:?}")),
        };
    }
    Ok(terms)
}

fn patch(state: &mut State, request: &ApiRequest, id: &str) -> Reply {
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
    *user = updated;
    scim(StatusCode::OK, resource(user))
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
