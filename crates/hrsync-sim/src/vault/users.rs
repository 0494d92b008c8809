//! Retrieve and Update Single User (form-urlencoded, partial) and what the other user
//! calls share: the field lists, form decoding, value normalisation and the membership
//! mirroring described in the module doc of `vault`.

use serde_json::{json, Value};

use super::super::api::{ApiRequest, VAULT_API_USER_ID};
use super::super::reply::Reply;
use super::super::seed::vault_membership;
use super::super::state::{Record, State};
use super::super::SimulatorConfig;

/// Fields the users API lets a client change (vault-facts.md); names are case-sensitive.
pub(crate) const EDITABLE_FIELDS: [&str; 20] = [
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
pub(super) const BOOLEAN_FIELDS: [&str; 3] =
    ["active__v", "domain_active__v", "is_domain_admin__v"];
/// Fields a user cannot be without; `null` is refused for them.
pub(super) const REQUIRED_FIELDS: [&str; 9] = [
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
pub(super) const MEMBERSHIP_FIELDS: [&str; 3] =
    ["active__v", "security_profile__v", "license_type__v"];

pub(super) fn parse_user_id(raw: &str) -> Option<u64> {
    if raw == "me" {
        return Some(VAULT_API_USER_ID);
    }
    raw.parse().ok()
}

pub(super) fn user_not_found(raw: &str) -> Reply {
    Reply::vault_failure("INVALID_DATA", format!("Invalid user id [{raw}]"))
}

/// Retrieve User: `GET /api/{v}/objects/users/{id}` (`me` is the API user).
pub(super) fn retrieve_user(state: &State, raw_id: &str) -> Reply {
    let user = parse_user_id(raw_id).and_then(|id| state.vault_users.get(&id));
    match user {
        Some(user) => Reply::vault_success(json!({ "users": [{ "user": user }] })),
        None => user_not_found(raw_id),
    }
}

pub(super) fn update_user(
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
pub(super) fn form_fields(
    request: &ApiRequest,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, Reply> {
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

pub(super) fn check_names<'a>(
    names: impl Iterator<Item = &'a str>,
    allowed: &[&str],
) -> Result<(), Reply> {
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

pub(super) fn normalize_all(pairs: Vec<(String, String)>) -> Result<Vec<(String, Value)>, Reply> {
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
pub(super) fn normalize(name: &str, value: Value) -> Result<Value, String> {
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

pub(super) fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Partial update plus the membership side effects described in the module doc.
pub(super) fn apply_user_fields(user: &mut Record, fields: Vec<(String, Value)>, vault_id: u64) {
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

pub(super) fn mirror_into_membership(user: &mut Record, vault_id: u64) {
    let text = |user: &Record, key: &str| user.get(key).and_then(Value::as_str).map(str::to_owned);
    let active = user
        .get("active__v")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let profile = text(user, "security_profile__v").unwrap_or_default();
    let license = text(user, "license_type__v").unwrap_or_default();
    set_membership(user, vault_membership(vault_id, active, &profile, &license));
}

pub(super) fn set_membership(user: &mut Record, entry: Value) {
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
