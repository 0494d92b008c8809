//! Veeva SiteVault user admin: `PUT /api/{v}/app/sitevault/useradmin/persons/{personId}`
//! (Edit User, JSON, one person per call) with Vault session auth and Vault FAILURE bodies.
//! Replace semantics per block: the org assignment with the sent `org_id` replaces the stored
//! one, each site assignment replaces the stored one for its USN (others are kept), each
//! study assignment replaces the one with its `id`; an add-on not repeated is gone.
//!
//! Veeva documents no call that reads a person back, so the simulator answers a `GET` on
//! that path as the real API answers an unsupported method (tests read the stored person
//! through the `/_sim` control plane instead).
//! Simulator choice: a person belongs to one organization; an `org_id` other than the
//! stored one is refused with INVALID_DATA.

use axum::http::Method;
use serde_json::{json, Map, Value};

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::{Record, State};
use super::vault::authorize;
use super::SimulatorConfig;

const ORG_ROLES: [&str; 4] = [
    "org_admin__v",
    "org_full__v",
    "org_external__v",
    "org_no_access__v",
];
const ORG_ROLES_WITH_ADDONS: [&str; 2] = ["org_admin__v", "org_full__v"];
const ORG_ADDONS: [&str; 1] = ["org_patients__v"];
const SITE_ROLES: [&str; 5] = [
    "regulatory__v",
    "study_team__v",
    "site_viewer__v",
    "external__v",
    "no_access__v",
];
const SITE_ROLES_WITH_ADDONS: [&str; 2] = ["regulatory__v", "study_team__v"];
const SITE_ADDONS: [&str; 3] = ["site_budgets__v", "site_patients__v", "site_profiles__v"];

/// Every SiteVault request (session-checked like Vault).
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    if let Err(reply) = authorize(state, config, request) {
        return reply;
    }
    let rest: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    match (rest.as_slice(), &request.method) {
        (["app", "sitevault", "useradmin", "persons", id], &Method::PUT) => {
            edit_person(state, request, id)
        }
        (["app", "sitevault", "useradmin", "persons", _], method) => Reply::vault_failure(
            "METHOD_NOT_SUPPORTED",
            format!("Method {method} is not supported for {}", request.path),
        ),
        _ => Reply::vault_failure(
            "MALFORMED_URL",
            format!("The resource [{}] does not exist", request.path),
        ),
    }
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::vault_failure("INVALID_DATA", message)
}

fn unknown_person(id: &str) -> Reply {
    invalid(format!("Invalid personId [{id}]"))
}

/// A validated edit request.
struct Edit {
    is_investigator: bool,
    username: Option<String>,
    org: Option<Value>,
    sites: Vec<Value>,
    studies: Vec<Value>,
}

fn edit_person(state: &mut State, request: &ApiRequest, id: &str) -> Reply {
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
    if !request.media_type_is("application/json") {
        return Err(format!(
            "Content-Type [{}] is not supported; expected application/json",
            request.content_type().unwrap_or("")
        ));
    }
    let body = match request.json() {
        Ok(Value::Object(body)) => body,
        _ => return Err("Request body must be a JSON object".into()),
    };
    let is_investigator = match body.get("is_investigator") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("Field [is_investigator] must be true or false".into()),
        None => return Err("Missing required field [is_investigator]".into()),
    };
    let username = optional_string(&body, "username", "username")?;
    let assignments = match body.get("assignments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => return Err("Field [assignments] must be an object".into()),
    };
    Ok(Edit {
        is_investigator,
        username,
        org: parse_org(&assignments)?,
        sites: parse_sites(&assignments)?,
        studies: parse_studies(&assignments)?,
    })
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(format!("Field [{path}] must be a non-empty string")),
    }
}

fn required_string(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, String> {
    optional_string(obj, key, path)?.ok_or_else(|| format!("Missing required field [{path}]"))
}

fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("Field [{path}] must be an object"))
}

fn parse_role(obj: &Map<String, Value>, path: &str, roles: &[&str]) -> Result<String, String> {
    let field = format!("{path}.system_role_id");
    let role = required_string(obj, "system_role_id", &field)?;
    if roles.contains(&role.as_str()) {
        Ok(role)
    } else {
        Err(format!("Invalid value [{role}] for field [{field}]"))
    }
}

/// Validates `addons`; `None` when absent or empty.
fn parse_addons(
    obj: &Map<String, Value>,
    path: &str,
    role: &str,
    roles_with_addons: &[&str],
    addons: &[&str],
) -> Result<Option<Value>, String> {
    let field = format!("{path}.addons");
    let list = match obj.get("addons") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) if list.is_empty() => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(format!("Field [{field}] must be an array")),
    };
    if !roles_with_addons.contains(&role) {
        return Err(format!("Field [{field}] is not allowed for role [{role}]"));
    }
    for addon in list {
        if !addon.as_str().is_some_and(|a| addons.contains(&a)) {
            return Err(format!("Invalid value {addon} for field [{field}]"));
        }
    }
    Ok(Some(Value::Array(list.clone())))
}

fn parse_org(assignments: &Map<String, Value>) -> Result<Option<Value>, String> {
    let path = "assignments.org_assignment";
    let org = match assignments.get("org_assignment") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => as_object(value, path)?,
    };
    let org_id = required_string(org, "org_id", &format!("{path}.org_id"))?;
    let role = parse_role(org, path, &ORG_ROLES)?;
    let addons = parse_addons(org, path, &role, &ORG_ROLES_WITH_ADDONS, &ORG_ADDONS)?;
    let mut out = json!({ "org_id": org_id, "system_role_id": role });
    if let Some(addons) = addons {
        out["addons"] = addons;
    }
    Ok(Some(out))
}

fn parse_sites(assignments: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let list = match assignments.get("site_assignments") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("Field [assignments.site_assignments] must be an array".into()),
    };
    let mut sites: Vec<Value> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let site = parse_site(item, &format!("assignments.site_assignments[{i}]"))?;
        if sites.iter().any(|s| s["site_usn"] == site["site_usn"]) {
            return Err(format!(
                "Duplicate site [{}] in assignments.site_assignments",
                site["site_usn"]
            ));
        }
        sites.push(site);
    }
    Ok(sites)
}

/// One site assignment; the USN may be sent as `site_usn` or `site_USN`.
fn parse_site(item: &Value, path: &str) -> Result<Value, String> {
    let site = as_object(item, path)?;
    let usn_key = if site.contains_key("site_USN") {
        "site_USN"
    } else {
        "site_usn"
    };
    let usn = required_string(site, usn_key, &format!("{path}.site_usn"))?;
    let role = parse_role(site, path, &SITE_ROLES)?;
    let addons = parse_addons(site, path, &role, &SITE_ROLES_WITH_ADDONS, &SITE_ADDONS)?;
    let mut out = json!({ "site_usn": usn, "system_role_id": role });
    if let Some(addons) = addons {
        out["addons"] = addons;
    }
    Ok(out)
}

fn parse_studies(assignments: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let list = match assignments.get("study_assignments") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("Field [assignments.study_assignments] must be an array".into()),
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("assignments.study_assignments[{i}]");
            let study = as_object(item, &path)?;
            let id = required_string(study, "id", &format!("{path}.id"))?;
            let role = required_string(study, "study_role", &format!("{path}.study_role"))?;
            Ok(json!({ "id": id, "study_role": role }))
        })
        .collect()
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
fn replace_by_key(assignments: &mut Value, list: &str, key: &str, incoming: Vec<Value>) {
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
