//! Update Vault Membership: `PUT …/objects/users/{id}/vault_membership/{vault_id}` (form);
//! omitted fields fall back to Vault's defaults (`true`, `document_user__v`, `full__v`).

use serde_json::{json, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::seed::vault_membership;
use super::super::state::{Record, State};
use super::super::SimulatorConfig;
use super::users::{
    form_fields, parse_bool, parse_user_id, set_membership, user_not_found, MEMBERSHIP_FIELDS,
};

pub(super) fn update_membership(
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
