//! Leavers: `POST /api/v1/Agents/User/MakeRetired {"AssociateId": n, "Retired": bool}` →
//! 204. Retiring removes every licence and sets person.retired and associate.deleted.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::api::ApiRequest;
use super::super::jsonpatch::find_key;
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::{bad_request, not_found, unsupported_media};

pub(super) fn make_retired(state: &mut State, request: &ApiRequest) -> Reply {
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
