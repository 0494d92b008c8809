//! SuperOffice CRM WebAPI, the parts hrsync uses. Errors use SuperOffice's
//! `{"Error":true,"ErrorType",…}` body with real HTTP statuses.
//!
//! - User agent (`user`): `GET`, `PUT` (full replacement: every omitted field is reset to
//!   its empty default), `PATCH` (JSON Patch or merge patch, 409 on a failed `test`) on
//!   `/api/v1/User/{id}` (the id may be a user name).
//! - User search and listing (`search`): `GET /api/v1/User?$select=…&$filter=…&$orderby=…
//!   &$top=…&$skip=…` over the AllUsers archive (columns `associateDbId`, `userName`,
//!   `personEmail`, `personId`, `isActive`; filters of `eq` terms joined by `and`; pages of
//!   `$top` rows, default 200, at most 1000, with `odata.nextLink` while rows remain; an
//!   unknown column is a 400, as OData answers).
//! - Leavers (`retire`): `POST /api/v1/Agents/User/MakeRetired`.
//! - Persons (`person`): `POST /api/v1/Person` and `GET /api/v1/Person/{id}`; a person is
//!   registered on a company (`Contact.ContactId`).
//! - Creating users (`create`): `GET /api/v1/User/Default?userType=…&personId=…` for a
//!   pre-filled carrier, then `POST /api/v1/User` to save it. The person must belong to
//!   one of "Our companies" (`SimulatorConfig::superoffice_owner_contacts`).
//!
//! Online restriction: "The User agent is not available in Online by default. User
//! management is not allowed for partner apps." With
//! `SimulatorConfig::superoffice_user_agent_allowed` false, creating users and every
//! `POST /Agents/User/*` answer 403 `SoAccessDeniedException`; reading, searching, PUT and
//! PATCH of existing users stay allowed.
//!
//! Like ASP.NET, routes and property names match case-insensitively. Unknown properties
//! in a body are ignored (Json.NET's default); read-only `TableRight`,
//! `FieldProperties` and `_Links` are never stored.

mod create;
mod person;
mod retire;
mod search;
mod user;

use axum::http::{header, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::{Record, State};
use super::SimulatorConfig;
pub(crate) use user::build_user;

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
    if !config.superoffice_user_agent_allowed && is_user_management(&rest, &request.method) {
        return agent_not_available();
    }
    let raw_id = request.segment(2);
    match (rest.as_slice(), &request.method) {
        (["user"], &Method::GET) => search::search_users(state, request),
        (["user"], &Method::POST) => create::post_user(state, config, request),
        (["user", "default"], &Method::GET) => create::default_user(state, config, request),
        (["user", _], &Method::GET) => user::get_user(state, request, raw_id),
        (["user", _], &Method::PUT) => user::put_user(state, request, raw_id),
        (["user", _], &Method::PATCH) => user::patch_user(state, request, raw_id),
        (["agents", "user", "makeretired"], &Method::POST) => retire::make_retired(state, request),
        (["person"], &Method::POST) => person::post_person(state, request),
        (["person", _], &Method::GET) => person::get_person(state, request, raw_id),
        (["user"] | ["user", _] | ["agents", "user", "makeretired"], _)
        | (["person"] | ["person", _], _) => Reply::so_error(
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

/// The calls the Online restriction blocks: creating users and the User agent's actions.
fn is_user_management(rest: &[&str], method: &Method) -> bool {
    matches!(
        (rest, method),
        (["user"], &Method::POST)
            | (["user", "default"], &Method::GET)
            | (["agents", "user", ..], &Method::POST)
    )
}

fn agent_not_available() -> Reply {
    Reply::so_error(
        StatusCode::FORBIDDEN,
        "SoAccessDeniedException",
        "The User agent is not available in Online by default. User management is not allowed for partner apps.",
    )
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

/// `application/json` or `text/json`, the JSON types SuperOffice takes for an entity.
fn is_entity_json(request: &ApiRequest) -> bool {
    request
        .media_type()
        .is_some_and(|m| m == "application/json" || m == "text/json")
}

/// The entity object of a PUT/POST body (`entity` names it in errors).
fn entity_body(request: &ApiRequest, entity: &str) -> Result<Map<String, Value>, Reply> {
    let missing = || bad_request("Entity to save is not in request body");
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    match request.json() {
        Ok(Value::Object(body)) => Ok(body),
        Ok(Value::Null) => Err(missing()),
        Ok(_) => Err(bad_request(format!(
            "The request body must be a {entity} object"
        ))),
        Err(e) => Err(bad_request(format!("Malformed JSON: {e}"))),
    }
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

/// The read-only decorations every carrier is answered with.
fn with_rights(entity: &Record) -> Record {
    let mut out = entity.clone();
    out.insert(
        "TableRight".into(),
        json!({ "Mask": "Select, Update, Insert, Delete", "Reason": "" }),
    );
    out.insert("FieldProperties".into(), json!({}));
    out
}

/// `{Entity}WithLinks`: the entity, its rights and `_Links` to itself and its archive.
fn entity_with_links(entity: &Record, kind: &str, id: i64, request: &ApiRequest) -> Value {
    let host = request.header(header::HOST).unwrap_or("localhost");
    let mut out = with_rights(entity);
    out.insert(
        "_Links".into(),
        json!({
            "Self": format!("http://{host}/api/v1/{kind}/{id}"),
            "Archive": format!("http://{host}/api/v1/{kind}"),
        }),
    );
    Value::Object(out)
}

/// `UserWithLinks`.
fn with_links(user: &Record, id: i64, request: &ApiRequest) -> Value {
    entity_with_links(user, "User", id, request)
}
