//! Change → Vault requests. Every value is form-encoded by `serde_urlencoded`, so a title
//! like `R&D&is_domain_admin__v=true` arrives as one `user_title__v` value and can never
//! smuggle in a second field.

use crate::targets::{id, Change, PreparedRequest, TargetError};
use serde_json::{Map, Value};

pub const FORM: &str = "application/x-www-form-urlencoded";

/// `GET /api/{version}/objects/users/{id}`: the user's current values.
pub fn retrieve_user(api_version: &str, change: &Change) -> Result<PreparedRequest, TargetError> {
    let user_id = id::numeric("accounts.vault.user_id", &change.account_id)?;
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: format!("/api/{api_version}/objects/users/{user_id}"),
        content_type: FORM,
        body: String::new(),
    })
}

/// `fields` as one form body, each value encoded on its own.
fn form_body(fields: &Map<String, Value>) -> Result<String, TargetError> {
    let pairs = fields
        .iter()
        .map(|(field, value)| Ok((field.as_str(), form_value(field, value)?)))
        .collect::<Result<Vec<_>, TargetError>>()?;
    serde_urlencoded::to_string(&pairs)
        .map_err(|e| TargetError::permanent("encoding", e.to_string()))
}

/// `PUT /api/{version}/objects/users/{id}` with `fields` as form pairs.
pub fn update_user(
    api_version: &str,
    change: &Change,
    fields: &Map<String, Value>,
) -> Result<PreparedRequest, TargetError> {
    let user_id = id::numeric("accounts.vault.user_id", &change.account_id)?;
    let body = form_body(fields)?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: format!("/api/{api_version}/objects/users/{user_id}"),
        content_type: FORM,
        body,
    })
}

/// `POST /api/{version}/objects/users` (Create Single User, form-encoded): a new user in
/// the domain with a membership of the Vault the session is for.
pub fn create_user(
    api_version: &str,
    fields: &Map<String, Value>,
) -> Result<PreparedRequest, TargetError> {
    let body = form_body(fields)?;
    Ok(PreparedRequest {
        method: http::Method::POST,
        path: format!("/api/{api_version}/objects/users"),
        content_type: FORM,
        body,
    })
}

/// The user fields reconciliation reads back (legacy names, as the mapping writes them).
pub const LISTED_FIELDS: &[&str] = &[
    "user_name__v",
    "user_email__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_title__v",
    "federated_id__v",
    "domain_active__v",
];

/// The largest VQL page (the default, which Vault may shrink for large rows).
pub const VQL_PAGE: usize = 1000;

/// `POST /api/{version}/query` with the VQL statement `q` (form field `q`).
pub fn vql(api_version: &str, q: &str) -> Result<PreparedRequest, TargetError> {
    let body = serde_urlencoded::to_string([("q", q)])
        .map_err(|e| TargetError::permanent("encoding", e.to_string()))?;
    Ok(PreparedRequest {
        method: http::Method::POST,
        path: format!("/api/{api_version}/query"),
        content_type: FORM,
        body,
    })
}

/// `POST /api/{version}/query`: one page of every user. The legacy `users` target answers
/// without `next_page`, so pages are asked for by `PAGEOFFSET` (valid below 10,000
/// records; larger domains need `user__sys`, see the README).
pub fn list_users(api_version: &str, offset: usize) -> Result<PreparedRequest, TargetError> {
    let q = format!(
        "SELECT id, {} FROM users PAGESIZE {VQL_PAGE} PAGEOFFSET {offset}",
        LISTED_FIELDS.join(", ")
    );
    vql(api_version, &q)
}

/// `POST /api/{version}/query` finding a user id by `field` (VQL, the value quoted with
/// `'` escaped so it stays one literal).
pub fn find_user(
    api_version: &str,
    field: &str,
    value: &str,
) -> Result<PreparedRequest, TargetError> {
    find_records(api_version, "users", field, value)
}

/// `POST /api/{version}/query`: `SELECT id FROM {object} WHERE {field} = '{value}'`, the
/// value one VQL literal (`'` and `\` escaped).
pub fn find_records(
    api_version: &str,
    object: &str,
    field: &str,
    value: &str,
) -> Result<PreparedRequest, TargetError> {
    if value.chars().any(char::is_control) {
        return Err(TargetError::permanent(
            "invalid_id",
            format!("{field}: control characters cannot be searched for"),
        ));
    }
    let literal = value.replace('\\', "\\\\").replace('\'', "\\'");
    let q = format!("SELECT id FROM {object} WHERE {field} = '{literal}'");
    vql(api_version, &q)
}

/// `PUT /api/{version}/objects/users/{id}/vault_membership/{vault_id}` with all three
/// membership fields (omitted ones would fall back to Vault's defaults).
pub fn update_membership(
    api_version: &str,
    change: &Change,
    vault_id: u64,
    security_profile: &str,
    license_type: &str,
) -> Result<PreparedRequest, TargetError> {
    let user_id = id::numeric("accounts.vault.user_id", &change.account_id)?;
    let body = serde_urlencoded::to_string([
        ("active__v", "true"),
        ("security_profile__v", security_profile),
        ("license_type__v", license_type),
    ])
    .map_err(|e| TargetError::permanent("encoding", e.to_string()))?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: format!("/api/{api_version}/objects/users/{user_id}/vault_membership/{vault_id}"),
        content_type: FORM,
        body,
    })
}

/// `PUT /api/{version}/objects/users` with up to 500 JSON rows, each with its `id`.
pub fn update_users(
    api_version: &str,
    rows: &[Map<String, Value>],
) -> Result<PreparedRequest, TargetError> {
    let body = serde_json::to_string(rows)
        .map_err(|e| TargetError::permanent("encoding", e.to_string()))?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: format!("/api/{api_version}/objects/users"),
        content_type: "application/json",
        body,
    })
}

/// The mapped fields whose form value differs from the user's current one (an absent
/// field counts as `null`).
pub fn changed_fields(
    current: &Map<String, Value>,
    mapped: &Map<String, Value>,
) -> Result<Map<String, Value>, TargetError> {
    let mut changed = Map::new();
    for (field, value) in mapped {
        let wanted = form_value(field, value)?;
        let has = current.get(field).unwrap_or(&Value::Null);
        if form_value(field, has).ok().as_deref() != Some(wanted.as_str()) {
            changed.insert(field.clone(), value.clone());
        }
    }
    Ok(changed)
}

/// A JSON value as Vault's form API expects it: text as is, booleans and numbers in their
/// JSON spelling, `null` to clear. Lists and objects have no form spelling.
pub fn form_value(field: &str, value: &Value) -> Result<String, TargetError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(_) | Value::Number(_) | Value::Null => Ok(value.to_string()),
        Value::Array(_) | Value::Object(_) => Err(TargetError::permanent(
            "invalid_field_value",
            format!("{field}: a Vault user field takes a single value, not a list or object"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;
    use serde_json::json;

    fn change(account_id: &str, fields: Value) -> Change {
        Change {
            event_id: "e1".into(),
            employee_id: "E1".into(),
            action: Action::Mover,
            account_id: account_id.into(),
            fields: fields.as_object().unwrap().clone(),
            previous: None,
        }
    }

    fn put(account_id: &str, fields: Value) -> Result<PreparedRequest, TargetError> {
        let change = change(account_id, fields);
        update_user("v24.1", &change, &change.fields)
    }

    #[test]
    fn a_title_full_of_form_syntax_stays_one_value() {
        let request = put(
            "25001",
            json!({"user_title__v": "R&D&is_domain_admin__v=true"}),
        )
        .unwrap();
        assert_eq!(request.path, "/api/v24.1/objects/users/25001");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&request.body).unwrap();
        assert_eq!(
            pairs,
            vec![("user_title__v".into(), "R&D&is_domain_admin__v=true".into())]
        );
    }

    #[test]
    fn booleans_and_nulls_use_their_json_spelling() {
        let request = put("7", json!({"domain_active__v": false, "alias__v": null})).unwrap();
        assert_eq!(request.body, "domain_active__v=false&alias__v=null");
    }

    #[test]
    fn a_path_traversal_id_builds_no_request() {
        assert_eq!(
            put("../../auth", json!({})).unwrap_err().code.as_str(),
            "invalid_id"
        );
    }

    #[test]
    fn only_differing_fields_are_changed() {
        let current = json!({"user_title__v": "CRA", "domain_active__v": true, "alias__v": null});
        let mapped = json!({"user_title__v": "CRA", "domain_active__v": "true",
                            "alias__v": null, "company__v": "VeevaPharm"});
        let changed =
            changed_fields(current.as_object().unwrap(), mapped.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(changed), json!({"company__v": "VeevaPharm"}));
    }
}
