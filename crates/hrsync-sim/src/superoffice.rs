//! SuperOffice CRM WebAPI, User agent: `GET`, `PUT` (full replacement: every omitted field
//! is reset to its empty default), `PATCH` (JSON Patch or merge patch, 409 on a failed
//! `test`) on `/api/v1/User/{id}`, `POST /api/v1/Agents/User/MakeRetired`, and the user
//! search `GET /api/v1/User?$select=…&$filter=…` over the AllUsers archive (columns
//! `associateDbId`, `userName`, `personEmail`, `personId`, `isActive`; filters of `eq`
//! terms joined by `and`; an unknown column is a 400, as OData answers).
//! Errors use SuperOffice's `{"Error":true,"ErrorType",…}` body with real HTTP statuses.
//!
//! Like ASP.NET, routes and property names match case-insensitively. Unknown properties
//! in a PUT body are ignored (Json.NET's default); read-only `TableRight`,
//! `FieldProperties` and `_Links` are never stored.

use axum::http::{header, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::api::ApiRequest;
use super::jsonpatch::{apply_json_patch, apply_merge_patch, find_key, PatchError};
use super::reply::Reply;
use super::state::{Record, State};
use super::SimulatorConfig;

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

/// Every SuperOffice request.
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    if let Err(reply) = check_authorization(config, request) {
        return reply;
    }
    let rest: Vec<String> = request
        .segments
        .iter()
        .skip(1)
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let raw_id = request.segment(2);
    match (rest.as_slice(), &request.method) {
        (["user"], &Method::GET) => search_users(state, request),
        (["user", _], &Method::GET) => get_user(state, request, raw_id),
        (["user", _], &Method::PUT) => put_user(state, request, raw_id),
        (["user", _], &Method::PATCH) => patch_user(state, request, raw_id),
        (["agents", "user", "makeretired"], &Method::POST) => make_retired(state, request),
        (["user", _], _) | (["agents", "user", "makeretired"], _) => Reply::so_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} is not supported on {}", request.method, request.path),
        ),
        _ => Reply::so_error(
            StatusCode::NOT_FOUND,
            "SoNotFoundException",
            format!("No resource at {}", request.path),
        ),
    }
}

fn check_authorization(config: &SimulatorConfig, request: &ApiRequest) -> Result<(), Reply> {
    match request.header(header::AUTHORIZATION) {
        Some(value) if config.superoffice_authorization.iter().any(|a| a == value) => Ok(()),
        Some(_) => Err(Reply::so_error(
            StatusCode::UNAUTHORIZED,
            "SoAuthenticationException",
            "Invalid credentials in Authorization header",
        )),
        None => Err(Reply::so_error(
            StatusCode::UNAUTHORIZED,
            "SoAuthenticationException",
            "Authorization header is missing",
        )),
    }
}

fn not_found(raw_id: &str) -> Reply {
    Reply::so_error(
        StatusCode::NOT_FOUND,
        "SoNotFoundException",
        format!("User {raw_id} not found"),
    )
}

fn bad_request(message: impl Into<String>) -> Reply {
    Reply::so_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn unsupported_media(request: &ApiRequest, expected: &str) -> Reply {
    Reply::so_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "Content-Type [{}] is not supported here; send {expected}",
            request.content_type().unwrap_or("")
        ),
    )
}

/// The associate id for a path id: a number, or a user name (`GET /User/{userName}`).
fn lookup(state: &State, raw_id: &str) -> Option<i64> {
    if let Ok(id) = raw_id.parse::<i64>() {
        return state.superoffice_users.contains_key(&id).then_some(id);
    }
    state
        .superoffice_users
        .iter()
        .find(|(_, user)| {
            user.get("UserName")
                .and_then(Value::as_str)
                .is_some_and(|name| name.eq_ignore_ascii_case(raw_id))
        })
        .map(|(id, _)| *id)
}

/// `UserWithLinks`: the entity plus the read-only decorations.
fn with_links(user: &Record, id: i64, request: &ApiRequest) -> Value {
    let host = request.header(header::HOST).unwrap_or("localhost");
    let mut out = user.clone();
    out.insert(
        "TableRight".into(),
        json!({ "Mask": "Select, Update, Insert, Delete", "Reason": "" }),
    );
    out.insert("FieldProperties".into(), json!({}));
    out.insert(
        "_Links".into(),
        json!({
            "Self": format!("http://{host}/api/v1/User/{id}"),
            "Archive": format!("http://{host}/api/v1/User"),
        }),
    );
    Value::Object(out)
}

fn get_user(state: &State, request: &ApiRequest, raw_id: &str) -> Reply {
    match lookup(state, raw_id) {
        Some(id) => Reply::json(
            StatusCode::OK,
            with_links(&state.superoffice_users[&id], id, request),
        ),
        None => not_found(raw_id),
    }
}

/// One AllUsers archive column of `user`, or `None` if there is no such column.
fn archive_column(id: i64, user: &Record, column: &str) -> Option<Value> {
    let person = user.get("Person");
    let person_field = |name: &str| {
        person
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    Some(match column.to_ascii_lowercase().as_str() {
        "associatedbid" => json!(id),
        "username" => user.get("UserName").cloned().unwrap_or(Value::Null),
        "personemail" => person_field("Email"),
        "personid" => person_field("PersonId"),
        "isactive" => json!(user.get("Deleted") != Some(&Value::Bool(true))),
        _ => return None,
    })
}

/// `column eq 'text'` / `column eq 123` / `column eq true`, joined by ` and `.
fn parse_filter(filter: &str) -> Result<Vec<(String, Value)>, String> {
    let mut terms = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (column, after) = rest
            .split_once(" eq ")
            .ok_or_else(|| format!("expected `column eq value` in {rest:?}"))?;
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('\'') {
            // An OData string literal: '' is one quote.
            let mut text = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        text.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    text.push(c);
                }
            }
            let end = end.ok_or("unterminated string literal")?;
            (Value::String(text), &quoted[end..])
        } else {
            let (word, tail) = after.split_once(' ').unwrap_or((after, ""));
            let value = match word {
                "true" => json!(true),
                "false" => json!(false),
                number => json!(number
                    .parse::<i64>()
                    .map_err(|_| format!("not a literal: {number:?}"))?),
            };
            (value, tail)
        };
        terms.push((column.trim().to_string(), value));
        let tail = tail.trim_start();
        rest = match tail.strip_prefix("and ") {
            Some(next) => next.trim_start(),
            None if tail.is_empty() => "",
            None => return Err(format!("expected `and` before {tail:?}")),
        };
    }
    Ok(terms)
}

fn search_users(state: &State, request: &ApiRequest) -> Reply {
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
    let terms = match param("$filter").map(parse_filter).transpose() {
        Ok(terms) => terms.unwrap_or_default(),
        Err(why) => return bad_request(format!("$filter: {why}")),
    };
    const ALL: [&str; 5] = [
        "associateDbId",
        "userName",
        "personEmail",
        "personId",
        "isActive",
    ];
    let select: Vec<String> = match param("$select") {
        Some(list) => list.split(',').map(|c| c.trim().to_string()).collect(),
        None => ALL.iter().map(|c| c.to_string()).collect(),
    };
    for column in terms.iter().map(|(c, _)| c).chain(&select) {
        if archive_column(0, &Record::new(), column).is_none() {
            return bad_request(format!("unknown column {column:?} in the AllUsers archive"));
        }
    }
    let matches = |id: i64, user: &Record| {
        terms.iter().all(|(column, wanted)| {
            let got = archive_column(id, user, column).unwrap_or(Value::Null);
            match (&got, wanted) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            }
        })
    };
    let rows: Vec<Value> = state
        .superoffice_users
        .iter()
        .filter(|(id, user)| matches(**id, user))
        .map(|(id, user)| {
            let row: Map<String, Value> = select
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        archive_column(*id, user, c).unwrap_or(Value::Null),
                    )
                })
                .collect();
            Value::Object(row)
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        json!({"odata.metadata": "<archive>", "odata.nextLink": null, "value": rows}),
    )
}

fn put_user(state: &mut State, request: &ApiRequest, raw_id: &str) -> Reply {
    let Some(id) = lookup(state, raw_id) else {
        return not_found(raw_id);
    };
    if !request
        .media_type()
        .is_some_and(|m| m == "application/json" || m == "text/json")
    {
        return unsupported_media(request, "application/json");
    }
    let body = match put_body(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    match build_user(id, &body, false) {
        Ok(user) => store_and_reply(state, request, id, user),
        Err(message) => bad_request(message),
    }
}

fn put_body(request: &ApiRequest) -> Result<Map<String, Value>, Reply> {
    let missing = || bad_request("Entity to save is not in request body");
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    match request.json() {
        Ok(Value::Object(body)) => Ok(body),
        Ok(Value::Null) => Err(missing()),
        Ok(_) => Err(bad_request("The request body must be a User object")),
        Err(e) => Err(bad_request(format!("Malformed JSON: {e}"))),
    }
}

fn store_and_reply(state: &mut State, request: &ApiRequest, id: i64, user: Record) -> Reply {
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
fn user_type(value: &Value) -> Option<Value> {
    let name = match value {
        Value::String(s) => USER_TYPES.iter().find(|t| t.eq_ignore_ascii_case(s))?,
        Value::Number(n) => USER_TYPES.get(usize::try_from(n.as_u64()?).ok()?)?,
        _ => return None,
    };
    Some(json!(name))
}

fn patch_user(state: &mut State, request: &ApiRequest, raw_id: &str) -> Reply {
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

fn make_retired(state: &mut State, request: &ApiRequest) -> Reply {
    if !request.is_json() {
        return unsupported_media(request, "application/json");
    }
    let Ok(Value::Object(body)) = request.json() else {
        return bad_request("Expected {\"AssociateId\": n, \"Retired\": bool}");
    };
    let field = |name: &str| find_key(&body, name).and_then(|k| body.get(&k).cloned());
    let Some(id) = field("AssociateId").and_then(|v| v.as_i64()) else {
        return bad_request("AssociateId is required");
    };
    let retired = field("Retired").and_then(|v| v.as_bool()).unwrap_or(false);
    let Some(user) = state.superoffice_users.get_mut(&id) else {
        return not_found(&id.to_string());
    };
    set_retired(user, retired);
    Reply::empty(StatusCode::NO_CONTENT)
}

/// Retiring drops every licence; un-retiring does not give them back.
fn set_retired(user: &mut Record, retired: bool) {
    if retired {
        unassign_licenses(user);
    }
    if let Some(person) = user.get_mut("Person").and_then(Value::as_object_mut) {
        person.insert("Retired".into(), json!(i32::from(retired)));
    }
    user.insert("Deleted".into(), json!(retired));
    user.insert("IsPersonRetired".into(), json!(retired));
}

fn unassign_licenses(user: &mut Record) {
    let Some(owners) = user.get_mut("LicenseOwners").and_then(Value::as_array_mut) else {
        return;
    };
    for owner in owners {
        for list in ["RestrictedModuleLicenses", "UnrestrictedModuleLicenses"] {
            let Some(licenses) = owner.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for license in licenses.iter_mut().filter_map(Value::as_object_mut) {
                license.insert("Assigned".into(), json!(false));
            }
        }
    }
}
