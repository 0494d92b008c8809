//! Veeva Vault: auth and sessions, and the legacy users API hrsync writes to —
//! create single user (`create`), retrieve / update single user (form-urlencoded,
//! partial; `users`), update multiple users (JSON, ≤ 500 rows, per-row results; `bulk`),
//! update Vault membership (omitted fields fall back to defaults; `membership`) and the
//! VQL lookups and `users` listings of `crate::vql`. Errors are HTTP 200 FAILURE bodies,
//! as Vault answers.
//!
//! Simulator choices: `domain_active__v=false` also deactivates every Vault membership and
//! `active__v` (re-enabling does not re-activate them, as Vault documents); `active__v`,
//! `security_profile__v` and `license_type__v` on the user mirror the membership of the
//! configured Vault. Bulk input is JSON only (no CSV) and rejects `vault_membership`;
//! Create Multiple Users (JSON or CSV to `POST /objects/users`) is not simulated.

mod bulk;
mod create;
mod membership;
mod users;

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{header, Method};
use serde_json::json;

use super::api::{ApiRequest, VAULT_API_USER_ID};
use super::reply::Reply;
use super::state::State;
use super::{vql, SimulatorConfig};
use bulk::update_users;
use create::create_user;
use membership::update_membership;
pub(crate) use users::EDITABLE_FIELDS;
use users::{retrieve_user, update_user};

/// `POST /api/{v}/auth`.
pub(crate) fn is_auth_path(request: &ApiRequest) -> bool {
    request.method == Method::POST && request.segments.len() == 2 && request.segment(1) == "auth"
}

/// Every Vault request: auth, or a session-checked call.
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    if is_auth_path(request) {
        return authenticate(state, config, request);
    }
    if let Err(reply) = authorize(state, config, request) {
        return reply;
    }
    route(state, config, request)
}

fn route(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let rest: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    let method = &request.method;
    match rest.as_slice() {
        ["keep-alive"] if method == Method::POST => Reply::vault_success(json!({})),
        ["session"] if method == Method::DELETE => end_session(state, request),
        ["objects", "users"] if method == Method::PUT => update_users(state, config, request),
        ["objects", "users"] if method == Method::POST => create_user(state, config, request),
        ["objects", "users", id] if method == Method::GET => retrieve_user(state, id),
        ["objects", "users", id] if method == Method::PUT => {
            update_user(state, config, request, id)
        }
        ["query"] if method == Method::POST => vql::query(state, request),
        ["objects", "users", id, "vault_membership", vault] if method == Method::PUT => {
            update_membership(state, config, request, id, vault)
        }
        ["keep-alive"] | ["session"] | ["objects", "users", ..] => Reply::vault_failure(
            "METHOD_NOT_SUPPORTED",
            format!("Method {method} is not supported for {}", request.path),
        ),
        _ => Reply::vault_failure(
            "MALFORMED_URL",
            format!("The resource [{}] does not exist", request.path),
        ),
    }
}

// ---------------------------------------------------------------- auth and sessions

fn authenticate(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let params = auth_params(request);
    let username = params.get("username").map(String::as_str);
    let password = params.get("password").map(String::as_str);
    let error = match (username, password) {
        (None, _) => Some((
            "PARAMETER_REQUIRED",
            "Missing required parameter [username]",
        )),
        (_, None) => Some(("NO_PASSWORD_PROVIDED", "No password was provided")),
        (Some(u), Some(p)) if u != config.vault_username || p != config.vault_password => Some((
            "USERNAME_OR_PASSWORD_INCORRECT",
            "Authentication failed for user",
        )),
        _ => None,
    };
    if let Some((error_type, message)) = error {
        let mut reply = Reply::vault_failure(error_type, message);
        if let Some(body) = reply.body.as_mut() {
            body["errorType"] = json!("AUTHENTICATION_FAILED");
        }
        return reply;
    }
    let session_id = new_session_id();
    state.sessions.insert(session_id.clone(), Instant::now());
    auth_success(config, session_id)
}

/// Form body first, then query parameters (Vault accepts both).
fn auth_params(request: &ApiRequest) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    if request.is_form() {
        params.extend(request.form_pairs().unwrap_or_default());
    }
    params
}

fn auth_success(config: &SimulatorConfig, session_id: String) -> Reply {
    let (vault_id, name, url) = match config.other_vault_id {
        Some(other) => (
            other,
            "Other Simulated Vault",
            "http://other-vault.invalid/api".to_owned(),
        ),
        None => (
            config.vault_id,
            "Verteo Simulated Vault",
            config.vault_url.clone(),
        ),
    };
    Reply::vault_success(json!({
        "sessionId": session_id,
        "userId": VAULT_API_USER_ID,
        "vaultIds": [{ "id": vault_id, "name": name, "url": url }],
        "vaultId": vault_id,
    }))
}

fn new_session_id() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", a.to_ascii_uppercase(), b.to_ascii_uppercase())
}

/// The session id from `Authorization: {id}` or `Authorization: Bearer {id}`.
fn session_id(request: &ApiRequest) -> Option<&str> {
    let raw = request.header(header::AUTHORIZATION)?.trim();
    let id = match raw.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => raw,
    };
    (!id.is_empty()).then_some(id)
}

/// Checks the session (idle TTL) and refreshes it; shared with SiteVault.
pub(crate) fn authorize(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
) -> Result<(), Reply> {
    let invalid = || Reply::vault_failure("INVALID_SESSION_ID", "Invalid or expired session ID.");
    let id = session_id(request).ok_or_else(invalid)?;
    let now = Instant::now();
    let last_used = state.sessions.get_mut(id).ok_or_else(invalid)?;
    if now.duration_since(*last_used) >= config.session_ttl {
        state.sessions.remove(id);
        return Err(invalid());
    }
    *last_used = now;
    Ok(())
}

fn end_session(state: &mut State, request: &ApiRequest) -> Reply {
    if let Some(id) = session_id(request) {
        state.sessions.remove(id);
    }
    Reply::vault_success(json!({}))
}
