//! Create Single User: `POST /api/{v}/objects/users`, form-urlencoded, answered
//! `{"responseStatus":"SUCCESS","id":"<id>"}` (the shape of VAPIL's `UserResponse`; the id
//! is a string there, unlike Update User's number).
//!
//! Required: the eight fields of [`REQUIRED_ON_CREATE`] (a missing or empty one is
//! `PARAMETER_REQUIRED`). Optional: what Update User accepts except `domain_active__v`
//! ("not on create"); `security_profile__v` defaults to `document_user__v` and
//! `license_type__v` to `full__v`. A user name taken by any user (case-insensitive) is
//! `INVALID_DATA`, a federated id taken (exact) is `FEDERATED_ID_ALREADY_EXISTS`.
//!
//! `?domain=true` adds the user to the domain only: no Vault membership, no profile, no
//! licence, `active__v` false (it mirrors the membership of the configured Vault, which
//! there is none of); a profile or licence sent with it is ignored, as Vault ignores what
//! a domain user does not get. Otherwise the user gets an active membership of the
//! configured Vault. New users are `domain_active__v` true and get the next numeric id.
//!
//! Simulator choice: only form bodies. Vault also takes `multipart/form-data` here; the
//! simulator refuses it as Update User refuses other content types, and answers a JSON or
//! CSV body (Create Multiple Users) with `OPERATION_NOT_ALLOWED`.

use serde_json::{json, Value};

use super::super::api::{ApiRequest, VAULT_API_USER_ID};
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::super::SimulatorConfig;
use super::users::{form_fields, mirror_into_membership, normalize_all, EDITABLE_FIELDS};

/// The fields Create Single User requires, in the order a missing one is reported.
const REQUIRED_ON_CREATE: [&str; 8] = [
    "user_name__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_email__v",
    "user_timezone__v",
    "user_locale__v",
    "security_policy_id__v",
    "user_language__v",
];

/// Fields only Update User accepts.
const NOT_ON_CREATE: [&str; 1] = ["domain_active__v"];

pub(super) fn create_user(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
) -> Reply {
    if !request.is_form() && (request.is_json() || request.media_type_is("text/csv")) {
        return Reply::vault_failure(
            "OPERATION_NOT_ALLOWED",
            "Create Multiple Users is not simulated",
        );
    }
    let allowed: Vec<&str> = EDITABLE_FIELDS
        .into_iter()
        .filter(|f| !NOT_ON_CREATE.contains(f))
        .collect();
    let fields = match form_fields(request, &allowed)
        .and_then(check_required)
        .and_then(normalize_all)
    {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_unique(state, &fields) {
        return reply;
    }
    let id = next_id(state);
    let user = new_user(id, fields, domain_only(request), config.vault_id);
    state.vault_users.insert(id, user);
    Reply::vault_success(json!({ "id": id.to_string() }))
}

/// Every required field present and neither empty nor `null`.
fn check_required(pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, Reply> {
    let given = |name: &str| {
        pairs
            .iter()
            .any(|(k, v)| k == name && !v.trim().is_empty() && v != "null")
    };
    match REQUIRED_ON_CREATE.into_iter().find(|name| !given(name)) {
        Some(missing) => Err(Reply::vault_failure(
            "PARAMETER_REQUIRED",
            format!("Missing required parameter [{missing}]"),
        )),
        None => Ok(pairs),
    }
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_str())
}

fn check_unique(state: &State, fields: &[(String, Value)]) -> Result<(), Reply> {
    let stored =
        |user: &Record, key: &str| user.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(name) = field(fields, "user_name__v") {
        let wanted = name.to_lowercase();
        let taken = state
            .vault_users
            .values()
            .any(|user| stored(user, "user_name__v").is_some_and(|n| n.to_lowercase() == wanted));
        if taken {
            return Err(Reply::vault_failure(
                "INVALID_DATA",
                format!("user_name__v [{name}] already exists"),
            ));
        }
    }
    if let Some(federated) = field(fields, "federated_id__v") {
        let taken = state
            .vault_users
            .values()
            .any(|user| stored(user, "federated_id__v").as_deref() == Some(federated));
        if taken {
            return Err(Reply::vault_failure(
                "FEDERATED_ID_ALREADY_EXISTS",
                format!("federated_id__v [{federated}] already exists"),
            ));
        }
    }
    Ok(())
}

/// Higher than every stored user and than the API user itself.
fn next_id(state: &State) -> u64 {
    let highest = state.vault_users.keys().max().copied().unwrap_or(0);
    highest.max(VAULT_API_USER_ID) + 1
}

fn domain_only(request: &ApiRequest) -> bool {
    request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| k == "domain" && v.eq_ignore_ascii_case("true"))
}

/// The stored record: sent fields (nulls dropped), then the defaults the module doc lists.
fn new_user(id: u64, fields: Vec<(String, Value)>, domain: bool, vault_id: u64) -> Record {
    let mut user = Record::new();
    user.insert("id".into(), json!(id));
    for (name, value) in fields.into_iter().filter(|(_, v)| !v.is_null()) {
        user.insert(name, value);
    }
    user.insert("domain_active__v".into(), json!(true));
    user.entry("is_domain_admin__v").or_insert(json!(false));
    if domain {
        user.remove("security_profile__v");
        user.remove("license_type__v");
        user.insert("active__v".into(), json!(false));
        user.insert("vault_membership".into(), json!([]));
    } else {
        user.entry("active__v").or_insert(json!(true));
        user.entry("security_profile__v")
            .or_insert(json!("document_user__v"));
        user.entry("license_type__v").or_insert(json!("full__v"));
        mirror_into_membership(&mut user, vault_id);
    }
    user
}
