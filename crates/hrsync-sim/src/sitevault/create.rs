//! Create User: `POST …/useradmin/persons`, a JSON array of exactly one element
//! ("Bulk creation of users is not supported"), answered with `data.response` as an
//! ARRAY (Edit answers an object).
//!
//! The element: `user {email, username, first_name, last_name, security_policy_id,
//! person_type, language}` (`email` required; `username` required unless the policy is
//! `VeevaID`; `person_type` `staff__v` or `external__v`; `language` defaults to `en`),
//! `is_investigator` (required, and false for external users), `federated_id`, and
//! `assignments` with a REQUIRED `org_assignment` (create roles only, see `assignments`).
//! Study assignments go in `assignments.study_assignments`, where Edit reads them ("Both
//! Create and Edit accept the same JSON"); a top-level `study_assignments` is refused so a
//! misplaced block is not silently dropped.
//!
//! An active person with the same e-mail (case-insensitive) is `INVALID_DATA`; an inactive
//! one (`record_status` `inactive__v`) is re-activated under its `person_id`, with the new
//! user fields and exactly the new assignments. Otherwise the person gets the next
//! `V0B` + 12 digits id. The stored person is what Edit User, `/_sim/users/sitevault/{id}`
//! and `SELECT id FROM person__sys` (`email__sys` ← `email`, `federated_id__sys` ←
//! `federated_id`) see.

use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::seed::FIRST_PERSON_NUMBER;
use super::super::state::{Record, State};
use super::assignments::{
    as_object, optional_string, parse_assignments, required_bool, required_string, Assignments,
    CREATE_ROLES,
};
use super::{invalid, require_json};

const PERSON_TYPES: [&str; 2] = ["staff__v", "external__v"];
const ID_PREFIX: &str = "V0B";

/// A validated Create User element.
struct NewPerson {
    /// `user.*` fields to store, in order, as (stored key, value).
    user: Vec<(&'static str, String)>,
    email: String,
    is_investigator: bool,
    federated_id: Option<String>,
    assignments: Assignments,
}

pub(super) fn create_person(state: &mut State, request: &ApiRequest) -> Reply {
    let new = match parse_create(request) {
        Ok(new) => new,
        Err(message) => return invalid(message),
    };
    let id = match same_email(state, &new.email) {
        Some((_, true)) => {
            return invalid(format!("a person with email {} already exists", new.email))
        }
        Some((id, false)) => id,
        None => next_person_id(state),
    };
    let stored = state.sitevault_persons.remove(&id).unwrap_or_default();
    let person = person_record(&id, stored, new);
    let reply = create_response(&person, &id);
    state.sitevault_persons.insert(id, person);
    reply
}

fn parse_create(request: &ApiRequest) -> Result<NewPerson, String> {
    require_json(request)?;
    let one = "Request body must be a JSON array with one user";
    let element = match request.json() {
        Ok(Value::Array(items)) if items.len() > 1 => {
            return Err("Bulk creation of users is not supported".into())
        }
        Ok(Value::Array(mut items)) if items.len() == 1 => items.remove(0),
        _ => return Err(one.into()),
    };
    let body = as_object(&element, "[0]")?;
    let user = match body.get("user") {
        Some(user) => as_object(user, "user")?,
        None => return Err("Missing required field [user]".into()),
    };
    let is_investigator = required_bool(body, "is_investigator")?;
    let fields = parse_user(user)?;
    let external = fields
        .iter()
        .any(|(k, v)| *k == "person_type" && v == "external__v");
    if external && is_investigator {
        return Err("Field [is_investigator] must be false for external users".into());
    }
    Ok(NewPerson {
        email: required_string(user, "email", "user.email")?,
        user: fields,
        is_investigator,
        federated_id: optional_string(body, "federated_id", "federated_id")?,
        assignments: parse_create_assignments(body)?,
    })
}

/// The `user` object's fields, checked, with the `language` default.
fn parse_user(user: &Map<String, Value>) -> Result<Vec<(&'static str, String)>, String> {
    let email = required_string(user, "email", "user.email")?;
    if !email.contains('@') {
        return Err(format!("Invalid value [{email}] for field [user.email]"));
    }
    let policy = optional_string(user, "security_policy_id", "user.security_policy_id")?;
    let username = optional_string(user, "username", "user.username")?;
    if username.is_none() && policy.as_deref() != Some("VeevaID") {
        return Err("Missing required field [user.username]".into());
    }
    let person_type = optional_string(user, "person_type", "user.person_type")?;
    if let Some(kind) = person_type.as_deref().filter(|k| !PERSON_TYPES.contains(k)) {
        return Err(format!(
            "Invalid value [{kind}] for field [user.person_type]"
        ));
    }
    let language = optional_string(user, "language", "user.language")?;
    let mut fields = vec![("email", email)];
    let optional = [
        ("username", username),
        (
            "first_name",
            optional_string(user, "first_name", "user.first_name")?,
        ),
        (
            "last_name",
            optional_string(user, "last_name", "user.last_name")?,
        ),
        ("security_policy_id", policy),
        ("person_type", person_type),
        (
            "language",
            Some(language.unwrap_or_else(|| "en".to_owned())),
        ),
    ];
    fields.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    Ok(fields)
}

fn parse_create_assignments(body: &Map<String, Value>) -> Result<Assignments, String> {
    if body.contains_key("study_assignments") {
        return Err(
            "Field [study_assignments] is not supported here; send [assignments.study_assignments]"
                .into(),
        );
    }
    if body.get("assignments").is_none_or(Value::is_null) {
        return Err("Missing required field [assignments]".into());
    }
    let assignments = parse_assignments(body, &CREATE_ROLES)?;
    if assignments.org.is_none() {
        return Err("Missing required field [assignments.org_assignment]".into());
    }
    Ok(assignments)
}

/// The person with this e-mail (case-insensitive) and whether they are active; an active
/// one wins over inactive ones.
fn same_email(state: &State, email: &str) -> Option<(String, bool)> {
    let wanted = email.to_lowercase();
    let mut found: Option<(String, bool)> = None;
    for (id, person) in &state.sitevault_persons {
        let stored = person.get("email").and_then(Value::as_str).unwrap_or("");
        if stored.to_lowercase() != wanted {
            continue;
        }
        let active = person.get("record_status").and_then(Value::as_str) != Some("inactive__v");
        if active || found.is_none() {
            found = Some((id.clone(), active));
        }
        if active {
            break;
        }
    }
    found
}

/// `V0B` + 12 digits, one past the highest such id (the first seeded number if none).
fn next_person_id(state: &State) -> String {
    let highest = state
        .sitevault_persons
        .keys()
        .filter_map(|id| id.strip_prefix(ID_PREFIX)?.parse::<u64>().ok())
        .max();
    let next = highest.map_or(FIRST_PERSON_NUMBER, |n| n + 1);
    format!("{ID_PREFIX}{next:012}")
}

/// The stored person: `stored` (empty for a new one) overwritten by what was sent, with
/// exactly the sent assignments.
fn person_record(id: &str, mut person: Record, new: NewPerson) -> Record {
    person.insert("person_id".into(), json!(id));
    for (key, value) in new.user {
        person.insert(key.into(), json!(value));
    }
    if let Some(federated_id) = new.federated_id {
        person.insert("federated_id".into(), json!(federated_id));
    }
    person.insert("record_status".into(), json!("active__v"));
    person.insert("is_investigator".into(), json!(new.is_investigator));
    let Assignments {
        org,
        sites,
        studies,
    } = new.assignments;
    person.insert(
        "assignments".into(),
        json!({ "org_assignment": org, "site_assignments": sites, "study_assignments": studies }),
    );
    person
}

fn create_response(person: &Record, id: &str) -> Reply {
    let field = |key: &str| person.get(key).cloned().unwrap_or(Value::Null);
    Reply::vault_success(json!({
        "data": {
            "response": [{
                "status": "Success",
                "email": field("email"),
                "person_id": id,
                "record_status": field("record_status"),
            }]
        }
    }))
}
