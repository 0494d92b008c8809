//! The `/_sim/` control plane: queue and clear faults, expire Vault sessions, read and
//! clear the request log, read and seed users, read call counts, health. These calls are
//! never logged, faulted or rate-limited.
//!
//! Users: `GET /_sim/users` (every target, keyed by id), `GET /_sim/users/{target}` (one
//! target's accounts as a list in id order — what tests search after a create),
//! `DELETE /_sim/users/{target}` (removes every account of the target, answering
//! `{"cleared": n}`, for "the target answers 0 accounts"; SuperOffice keeps its persons,
//! which are not accounts), `GET|PUT /_sim/users/{target}/{id}` (a PUT replaces the whole
//! record, so a test changes one field by reading, editing and putting it back).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::faults::{FaultKind, FaultSpec};
use super::state::{self, Record};
use super::{superoffice, Simulator};

/// Routes mounted under `/_sim`.
pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/health", get(health))
        .route(
            "/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/vault/expire-sessions", post(expire_sessions))
        .route("/requests", get(list_requests).delete(clear_requests))
        .route("/users", get(all_users))
        .route(
            "/users/{target}",
            get(target_users).delete(clear_target_users),
        )
        .route("/users/{target}/{id}", get(one_user).put(put_user))
        .route("/stats", get(stats))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn add_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    let mut state = sim.lock();
    if let FaultKind::Burst {
        limit,
        remaining,
        delay_ms,
    } = spec.kind
    {
        state
            .burst
            .set(limit, remaining, delay_ms.map(Duration::from_millis));
        let reading = state.burst.peek(Instant::now());
        let delay_ms = state.burst.delay.as_millis() as u64;
        return Json(json!({ "burst": {
            "limit": reading.limit, "remaining": reading.remaining, "delay_ms": delay_ms,
        }}))
        .into_response();
    }
    let now = Instant::now();
    match state.faults.push(spec, now) {
        Ok(()) => Json(json!({ "queued": state.faults.specs(now).len() })).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

async fn list_faults(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!(sim.lock().faults.specs(Instant::now())))
}

async fn clear_faults(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "cleared": sim.lock().faults.clear() }))
}

async fn expire_sessions(State(sim): State<Simulator>) -> Json<Value> {
    let mut state = sim.lock();
    let expired = state.sessions.len();
    state.sessions.clear();
    Json(json!({ "expired": expired }))
}

async fn list_requests(
    State(sim): State<Simulator>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let target = query.get("target").map(String::as_str);
    Json(json!(sim.lock().log.list(target)))
}

async fn clear_requests(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "cleared": sim.lock().log.clear() }))
}

async fn stats(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!(sim.lock().stats))
}

fn keyed<K: ToString>(map: &std::collections::BTreeMap<K, Record>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| (k.to_string(), Value::Object(v.clone())))
        .collect()
}

async fn all_users(State(sim): State<Simulator>) -> Json<Value> {
    let state = sim.lock();
    Json(json!({
        "vault": keyed(&state.vault_users),
        "sitevault": keyed(&state.sitevault_persons),
        "superoffice": keyed(&state.superoffice_users),
        "scim": keyed(&state.scim_users),
    }))
}

async fn target_users(State(sim): State<Simulator>, Path(target): Path<String>) -> Response {
    let state = sim.lock();
    let users: Vec<Value> = match target.as_str() {
        "vault" => listed(&state.vault_users),
        "sitevault" => listed(&state.sitevault_persons),
        "superoffice" => listed(&state.superoffice_users),
        "scim" => listed(&state.scim_users),
        _ => return error(StatusCode::NOT_FOUND, format!("unknown target '{target}'")),
    };
    Json(Value::Array(users)).into_response()
}

async fn clear_target_users(State(sim): State<Simulator>, Path(target): Path<String>) -> Response {
    let mut state = sim.lock();
    let cleared = match target.as_str() {
        "vault" => std::mem::take(&mut state.vault_users).len(),
        "sitevault" => std::mem::take(&mut state.sitevault_persons).len(),
        "superoffice" => std::mem::take(&mut state.superoffice_users).len(),
        "scim" => std::mem::take(&mut state.scim_users).len(),
        _ => return error(StatusCode::NOT_FOUND, format!("unknown target '{target}'")),
    };
    Json(json!({ "cleared": cleared })).into_response()
}

fn listed<K>(map: &std::collections::BTreeMap<K, Record>) -> Vec<Value> {
    map.values().cloned().map(Value::Object).collect()
}

async fn one_user(
    State(sim): State<Simulator>,
    Path((target, id)): Path<(String, String)>,
) -> Response {
    let state = sim.lock();
    let user = match target.as_str() {
        "vault" => id
            .parse()
            .ok()
            .and_then(|id: u64| state.vault_users.get(&id)),
        "sitevault" => state.sitevault_persons.get(&id),
        "scim" => state.scim_users.get(&id),
        "superoffice" => id
            .parse()
            .ok()
            .and_then(|id: i64| state.superoffice_users.get(&id)),
        _ => return error(StatusCode::NOT_FOUND, format!("unknown target '{target}'")),
    };
    match user {
        Some(user) => Json(Value::Object(user.clone())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no {target} user '{id}'")),
    }
}

/// Replaces or creates one user; the id in the path wins over the body's.
async fn put_user(
    State(sim): State<Simulator>,
    Path((target, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body = match serde_json::from_slice(&body) {
        Ok(Value::Object(body)) => body,
        _ => return error(StatusCode::BAD_REQUEST, "body must be a JSON object"),
    };
    let mut state = sim.lock();
    match store_user(&mut state, &target, &id, body) {
        Ok(user) => Json(Value::Object(user)).into_response(),
        Err((status, message)) => error(status, message),
    }
}

fn store_user(
    state: &mut state::State,
    target: &str,
    id: &str,
    body: Record,
) -> Result<Record, (StatusCode, String)> {
    let bad_id = || {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid {target} id '{id}'"),
        )
    };
    let user = match target {
        "vault" => {
            let n: u64 = id.parse().map_err(|_| bad_id())?;
            let user = with_id(body, "id", json!(n));
            state.vault_users.insert(n, user.clone());
            user
        }
        "sitevault" => {
            let person = with_id(body, "person_id", json!(id));
            state
                .sitevault_persons
                .insert(id.to_owned(), person.clone());
            person
        }
        "superoffice" => {
            let n: i64 = id.parse().map_err(|_| bad_id())?;
            let user = superoffice::build_user(n, &body, false)
                .map_err(|message| (StatusCode::BAD_REQUEST, message))?;
            state.superoffice_users.insert(n, user.clone());
            user
        }
        "scim" => {
            let user = with_id(body, "id", json!(id));
            state.scim_users.insert(id.to_owned(), user.clone());
            user
        }
        _ => return Err((StatusCode::NOT_FOUND, format!("unknown target '{target}'"))),
    };
    Ok(user)
}

fn with_id(mut body: Record, key: &str, id: Value) -> Record {
    body.insert(key.to_owned(), id);
    body
}
