//! Veeva Vault: auth and sessions, and the legacy users API hrsync writes to —
//! retrieve / update single user (form-urlencoded, partial), update multiple users (JSON,
//! ≤ 500 rows, per-row results) and update Vault membership (omitted fields fall back to
//! defaults). Errors are HTTP 200 FAILURE bodies, as Vault answers.
//!
//! Simulator choices: `domain_active__v=false` also deactivates every Vault membership and
//! `active__v` (re-enabling does not re-activate them, as Vault documents); `active__v`,
//! `security_profile__v` and `license_type__v` on the user mirror the membership of the
//! configured Vault. Bulk input is JSON only (no CSV) and rejects `vault_membership`.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{header, Method};
use serde_json::{json, Map, Value};

use super::api::{ApiRequest, VAULT_API_USER_ID};
use super::reply::Reply;
use super::seed::vault_membership;
use super::state::{Record, State};
use super::SimulatorConfig;

/// Fields the users API lets a client change (vault-facts.md); names are case-sensitive.
const EDITABLE_FIELDS: [&str; 20] = [
    "user_name__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_email__v",
    "user_timezone__v",
    "user_locale__v",
    "user_language__v",
    "user_title__v",
    "alias__v",
    "company__v",
    "office_phone__v",
    "mobile_phone__v",
    "site__v",
    "federated_id__v",
    "active__v",
    "domain_active__v",
    "is_domain_admin__v",
    "security_policy_id__v",
    "security_profile__v",
    "license_type__v",
];
const BOOLEAN_FIELDS: [&str; 3] = ["active__v", "domain_active__v", "is_domain_admin__v"];
/// Fields a user cannot be without; `null` is refused for them.
const REQUIRED_FIELDS: [&str; 9] = [
    "user_name__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_email__v",
    "user_timezone__v",
    "user_locale__v",
    "user_language__v",
    "security_profile__v",
    "license_type__v",
];
const MEMBERSHIP_FIELDS: [&str; 3] = ["active__v", "security_profile__v", "license_type__v"];
const MAX_BULK_ROWS: usize = 500;

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
        ["objects", "users", id] if method == Method::GET => retrieve_user(state, id),
        ["objects", "users", id] if method == Method::PUT => {
            update_user(state, config, request, id)
        }
        ["query"] if method == Method::POST => query_users(state, request),
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

// ---------------------------------------------------------------- users

fn parse_user_id(raw: &str) -> Option<u64> {
    if raw == "me" {
        return Some(VAULT_API_USER_ID);
    }
    raw.parse().ok()
}

fn user_not_found(raw: &str) -> Reply {
    Reply::vault_failure("INVALID_DATA", format!("Invalid user id [{raw}]"))
}

/// `POST /api/{v}/query` (VQL), for the one shape hrsync uses to find a user:
/// `SELECT id FROM users WHERE <field> = '<value>'` with `user_name__v`, `user_email__v`
/// or `federated_id__v` (a simulator subset of VQL; `\'` escapes a quote).
fn query_users(state: &State, request: &ApiRequest) -> Reply {
    let Ok(pairs) = request.form_pairs() else {
        return Reply::vault_failure("MALFORMED_URL", "the query must be form-encoded as q=…");
    };
    let Some((_, q)) = pairs.iter().find(|(k, _)| k == "q") else {
        return Reply::vault_failure("PARAMETER_REQUIRED", "Missing required parameter [q]");
    };
    let Some((field, value)) = parse_user_query(q) else {
        return Reply::vault_failure("INVALID_DATA", format!("unsupported query: {q}"));
    };
    let ids: Vec<Value> = state
        .vault_users
        .iter()
        .filter(|(_, user)| {
            user.get(field.as_str()).and_then(Value::as_str) == Some(value.as_str())
        })
        .map(|(id, _)| json!({ "id": id }))
        .collect();
    Reply::vault_success(json!({
        "responseDetails": { "size": ids.len(), "total": ids.len() },
        "data": ids,
    }))
}

fn parse_user_query(q: &str) -> Option<(String, String)> {
    let rest = q.trim().strip_prefix("SELECT id FROM users WHERE ")?;
    let (field, literal) = rest.split_once(" = ")?;
    if !matches!(field, "user_name__v" | "user_email__v" | "federated_id__v") {
        return None;
    }
    let inner = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some((field.to_string(), inner.replace("\\'", "'")))
}

fn retrieve_user(state: &State, raw_id: &str) -> Reply {
    let user = parse_user_id(raw_id).and_then(|id| state.vault_users.get(&id));
    match user {
        Some(user) => Reply::vault_success(json!({ "users": [{ "user": user }] })),
        None => user_not_found(raw_id),
    }
}

fn update_user(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
    raw_id: &str,
) -> Reply {
    let fields = match form_fields(request, &EDITABLE_FIELDS).and_then(normalize_all) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let Some((id, user)) =
        parse_user_id(raw_id).and_then(|id| state.vault_users.get_mut(&id).map(|user| (id, user)))
    else {
        return user_not_found(raw_id);
    };
    apply_user_fields(user, fields, config.vault_id);
    Reply::vault_success(json!({ "id": id }))
}

/// Form body → ordered pairs, checking content type, duplicates and allowed names.
fn form_fields(request: &ApiRequest, allowed: &[&str]) -> Result<Vec<(String, String)>, Reply> {
    if !request.is_form() {
        return Err(Reply::vault_failure(
            "INVALID_DATA",
            format!(
                "Content-Type [{}] is not supported; expected application/x-www-form-urlencoded",
                request.content_type().unwrap_or("")
            ),
        ));
    }
    let pairs = request
        .form_pairs()
        .map_err(|e| Reply::vault_failure("INVALID_DATA", format!("Malformed form body: {e}")))?;
    check_names(pairs.iter().map(|(k, _)| k.as_str()), allowed)?;
    Ok(pairs)
}

fn check_names<'a>(names: impl Iterator<Item = &'a str>, allowed: &[&str]) -> Result<(), Reply> {
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(&name) {
            return Err(Reply::vault_failure(
                "INVALID_DATA",
                format!("Duplicate field [{name}]"),
            ));
        }
        if !allowed.contains(&name) {
            return Err(Reply::vault_failure(
                "ATTRIBUTE_NOT_SUPPORTED",
                format!("Attribute [{name}] is not supported"),
            ));
        }
        seen.push(name);
    }
    Ok(())
}

fn normalize_all(pairs: Vec<(String, String)>) -> Result<Vec<(String, Value)>, Reply> {
    pairs
        .into_iter()
        .map(|(name, raw)| {
            let value = normalize(&name, Value::String(raw))
                .map_err(|message| Reply::vault_failure("INVALID_DATA", message))?;
            Ok((name, value))
        })
        .collect()
}

/// Turns an incoming value (form string or JSON) into the stored value of field `name`.
fn normalize(name: &str, value: Value) -> Result<Value, String> {
    let is_null = value.is_null() || value.as_str() == Some("null");
    if is_null {
        if REQUIRED_FIELDS.contains(&name) || BOOLEAN_FIELDS.contains(&name) {
            return Err(format!("Field [{name}] is required and cannot be cleared"));
        }
        return Ok(Value::Null);
    }
    if BOOLEAN_FIELDS.contains(&name) {
        return parse_bool(&value)
            .map(Value::Bool)
            .ok_or_else(|| format!("Invalid value for boolean field [{name}]: {value}"));
    }
    let text = match value {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => return Err(format!("Invalid value for field [{name}]: {other}")),
    };
    if (name == "user_email__v" || name == "user_name__v") && !text.contains('@') {
        return Err(format!("Invalid value for field [{name}]: [{text}]"));
    }
    Ok(Value::String(text))
}

fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Partial update plus the membership side effects described in the module doc.
fn apply_user_fields(user: &mut Record, fields: Vec<(String, Value)>, vault_id: u64) {
    let mut membership_changed = false;
    let mut domain_disabled = false;
    for (name, value) in fields {
        membership_changed |= MEMBERSHIP_FIELDS.contains(&name.as_str());
        domain_disabled |= name == "domain_active__v" && value == Value::Bool(false);
        user.insert(name, value);
    }
    if membership_changed {
        mirror_into_membership(user, vault_id);
    }
    if domain_disabled {
        deactivate_memberships(user);
    }
}

fn memberships(user: &mut Record) -> &mut Vec<Value> {
    let entry = user
        .entry("vault_membership")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    match entry {
        Value::Array(list) => list,
        _ => unreachable!("just made an array"),
    }
}

fn mirror_into_membership(user: &mut Record, vault_id: u64) {
    let text = |user: &Record, key: &str| user.get(key).and_then(Value::as_str).map(str::to_owned);
    let active = user
        .get("active__v")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let profile = text(user, "security_profile__v").unwrap_or_default();
    let license = text(user, "license_type__v").unwrap_or_default();
    set_membership(user, vault_membership(vault_id, active, &profile, &license));
}

fn set_membership(user: &mut Record, entry: Value) {
    let list = memberships(user);
    match list.iter_mut().find(|m| m.get("id") == entry.get("id")) {
        Some(existing) => *existing = entry,
        None => list.push(entry),
    }
}

fn deactivate_memberships(user: &mut Record) {
    user.insert("active__v".into(), Value::Bool(false));
    for membership in memberships(user) {
        membership["active_vault_membership__v"] = Value::Bool(false);
    }
}

// ---------------------------------------------------------------- bulk

fn update_users(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let rows = match bulk_rows(request) {
        Ok(rows) => rows,
        Err(reply) => return reply,
    };
    let counts = id_counts(&rows);
    let results: Vec<Value> = rows
        .into_iter()
        .map(|row| bulk_row(state, config, row, &counts))
        .collect();
    Reply::vault_success(json!({ "data": results }))
}

fn bulk_rows(request: &ApiRequest) -> Result<Vec<Value>, Reply> {
    if !request.media_type_is("application/json") {
        return Err(Reply::vault_failure(
            "INVALID_DATA",
            format!(
                "Content-Type [{}] is not supported by the simulator; send application/json",
                request.content_type().unwrap_or("")
            ),
        ));
    }
    let rows = match request.json() {
        Ok(Value::Array(rows)) => rows,
        _ => {
            return Err(Reply::vault_failure(
                "INVALID_DATA",
                "Request body must be a JSON array of users",
            ))
        }
    };
    if rows.len() > MAX_BULK_ROWS {
        return Err(Reply::vault_failure(
            "INVALID_DATA",
            format!(
                "The maximum batch size is {MAX_BULK_ROWS}; got {}",
                rows.len()
            ),
        ));
    }
    Ok(rows)
}

fn row_id(row: &Value) -> Option<u64> {
    match row.get("id")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn id_counts(rows: &[Value]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for id in rows.iter().filter_map(row_id) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn bulk_row(
    state: &mut State,
    config: &SimulatorConfig,
    row: Value,
    counts: &HashMap<u64, usize>,
) -> Value {
    let id_text = row.get("id").map(value_text).unwrap_or_default();
    match bulk_row_update(state, config, row, counts) {
        Ok(()) => json!({ "responseStatus": "SUCCESS", "id": id_text }),
        Err((error_type, message)) => json!({
            "responseStatus": "FAILURE",
            "id": id_text,
            "errors": [{ "type": error_type, "message": message }],
        }),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type RowError = (&'static str, String);

fn bulk_row_update(
    state: &mut State,
    config: &SimulatorConfig,
    row: Value,
    counts: &HashMap<u64, usize>,
) -> Result<(), RowError> {
    let id = row_id(&row).ok_or(("PARAMETER_REQUIRED", "Missing or invalid [id]".to_owned()))?;
    if counts.get(&id).copied().unwrap_or(0) > 1 {
        return Err(("INVALID_DATA", format!("Duplicate id [{id}] in batch")));
    }
    let Value::Object(fields) = row else {
        return Err(("INVALID_DATA", "Row must be a JSON object".to_owned()));
    };
    let fields = bulk_fields(fields)?;
    let user = state
        .vault_users
        .get_mut(&id)
        .ok_or(("INVALID_DATA", format!("Invalid user id [{id}]")))?;
    apply_user_fields(user, fields, config.vault_id);
    Ok(())
}

fn bulk_fields(row: Map<String, Value>) -> Result<Vec<(String, Value)>, RowError> {
    let mut fields = Vec::new();
    for (name, value) in row.into_iter().filter(|(k, _)| k != "id") {
        if name.starts_with("security_profile") || !EDITABLE_FIELDS.contains(&name.as_str()) {
            return Err((
                "ATTRIBUTE_NOT_SUPPORTED",
                format!("Attribute [{name}] is not supported by this endpoint"),
            ));
        }
        let value = normalize(&name, value).map_err(|m| ("INVALID_DATA", m))?;
        fields.push((name, value));
    }
    Ok(fields)
}

// ---------------------------------------------------------------- membership

fn update_membership(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
    raw_id: &str,
    raw_vault: &str,
) -> Reply {
    let pairs = match form_fields(request, &MEMBERSHIP_FIELDS) {
        Ok(pairs) => pairs,
        Err(reply) => return reply,
    };
    let Some(vault_id) = raw_vault.parse::<u64>().ok() else {
        return Reply::vault_failure("INVALID_DATA", format!("Invalid vault id [{raw_vault}]"));
    };
    let membership = match membership_from(&pairs, vault_id) {
        Ok(membership) => membership,
        Err(message) => return Reply::vault_failure("INVALID_DATA", message),
    };
    let Some(user) = parse_user_id(raw_id).and_then(|id| state.vault_users.get_mut(&id)) else {
        return user_not_found(raw_id);
    };
    if vault_id == config.vault_id {
        mirror_onto_user(user, &membership);
    }
    set_membership(user, membership);
    Reply::vault_success(json!({}))
}

/// Builds the membership entry; omitted fields take Vault's defaults.
fn membership_from(pairs: &[(String, String)], vault_id: u64) -> Result<Value, String> {
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let active = match get("active__v") {
        None => true,
        Some(raw) => parse_bool(&Value::String(raw.to_owned()))
            .ok_or_else(|| format!("Invalid value for [active__v]: [{raw}]"))?,
    };
    let profile = get("security_profile__v").unwrap_or("document_user__v");
    let license = get("license_type__v").unwrap_or("full__v");
    Ok(vault_membership(vault_id, active, profile, license))
}

fn mirror_onto_user(user: &mut Record, membership: &Value) {
    let pairs = [
        ("active__v", "active_vault_membership__v"),
        (
            "security_profile__v",
            "security_profile_vault_membership__v",
        ),
        ("license_type__v", "license_type_vault_membership__v"),
    ];
    for (user_key, membership_key) in pairs {
        if let Some(value) = membership.get(membership_key) {
            user.insert(user_key.to_owned(), value.clone());
        }
    }
}
