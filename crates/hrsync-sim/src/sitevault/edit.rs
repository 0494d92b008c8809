//! Edit User: `PUT …/useradmin/persons/{personId}`, replace semantics per block (see the
//! module doc of `sitevault`), answered with `data.response` as an object.

use serde_json::{json, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::assignments::{
    optional_string, parse_assignments, required_bool, Assignments, EDIT_ROLES,
};
use super::{invalid, require_json, unknown_person};

/// A validated edit request.
struct Edit {
    is_investigator: bool,
    username: Option<String>,
    org: Option<Value>,
    sites: Vec<Value>,
    studies: Vec<Value>,
}

pub(super) fn edit_person(state: &mut State, request: &ApiRequest, id: &str) -> Reply {
    let edit = match parse_edit(request) {
        Ok(edit) => edit,
        Err(message) => return invalid(message),
    };
    let Some(person) = state.sitevault_persons.get_mut(id) else {
        return unknown_person(id);
    };
    if let Err(message) = check_org_id(person, edit.org.as_ref()) {
        return invalid(message);
    }
    apply_edit(person, edit);
    edit_response(person, id)
}

fn parse_edit(request: &ApiRequest) -> Result<Edit, String> {
    require_json(request)?;
    let body = match request.json() {
        Ok(Value::Object(body)) => body,
        _ => return Err("Request body must be a JSON object".into()),
    };
    let is_investigator = required_bool(&body, "is_investigator")?;
    let username = optional_string(&body, "username", "username")?;
    let Assignments {
        org,
        sites,
        studies,
    } = parse_assignments(&body, &EDIT_ROLES)?;
    Ok(Edit {
        is_investigator,
        username,
        org,
        sites,
        studies,
    })
}

fn check_org_id(person: &Record, org: Option<&Value>) -> Result<(), String> {
    let (Some(org), Some(stored)) = (org, person.get("assignments").map(|a| &a["org_assignment"]))
    else {
        return Ok(());
    };
    if stored.is_null() || stored["org_id"] == org["org_id"] {
        Ok(())
    } else {
        Err(format!(
            "Invalid value {} for field [assignments.org_assignment.org_id]: the person belongs to organization {}",
            org["org_id"], stored["org_id"]
        ))
    }
}

fn apply_edit(person: &mut Record, edit: Edit) {
    person.insert("is_investigator".into(), Value::Bool(edit.is_investigator));
    if let Some(username) = edit.username {
        person.insert("username".into(), Value::String(username));
    }
    let assignments = person.entry("assignments").or_insert_with(|| json!({}));
    if let Some(org) = edit.org {
        assignments["org_assignment"] = org;
    }
    replace_by_key(assignments, "site_assignments", "site_usn", edit.sites);
    replace_by_key(assignments, "study_assignments", "id", edit.studies);
}

/// Replaces items of `assignments[list]` whose `key` matches an incoming item; appends new ones.
pub(super) fn replace_by_key(assignments: &mut Value, list: &str, key: &str, incoming: Vec<Value>) {
    if !assignments[list].is_array() {
        assignments[list] = json!([]);
    }
    let Some(stored) = assignments[list].as_array_mut() else {
        return;
    };
    for item in incoming {
        match stored.iter_mut().find(|s| s[key] == item[key]) {
            Some(existing) => *existing = item,
            None => stored.push(item),
        }
    }
}

fn edit_response(person: &Record, id: &str) -> Reply {
    let field = |key: &str| person.get(key).cloned().unwrap_or(Value::Null);
    Reply::vault_success(json!({
        "data": {
            "response": {
                "status": "Success",
                "email": field("email"),
                "username": field("username"),
                "person_id": id,
                "record_status": field("record_status"),
            }
        }
    }))
}
