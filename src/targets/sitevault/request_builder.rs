//! Change → SiteVault requests. The mapped fields are the Edit User body's top-level keys
//! (`is_investigator`, `assignments`, …).
//!
//! SiteVault documents no call that reads a person back, so changes are diffed against
//! what hrsync last applied (the state store), as Vault bulk mode does; the first write
//! for a person sends the whole mapped state. SiteVault replaces each org/site block it
//! receives — and removes the add-ons a sent block omits — so a block whose mapped content
//! is unchanged is not sent, a block that is sent carries exactly the mapped add-ons, and
//! a site applied before but no longer listed is sent as `no_access__v`, so a mover or
//! leaver really loses it. Empty `addons` lists are left out ("do not include if not
//! applicable", Edit User).

use crate::targets::{id, Change, PreparedRequest, TargetError};
use serde_json::{json, Map, Value};

const NO_ACCESS: &str = "no_access__v";

fn person_path(api_version: &str, change: &Change) -> Result<String, TargetError> {
    let person_id = id::alphanumeric("accounts.sitevault.person_id", &change.account_id)?;
    Ok(format!(
        "/api/{api_version}/app/sitevault/useradmin/persons/{person_id}"
    ))
}

/// `POST …/useradmin/persons` (Create User): a JSON array of the one person, the create
/// block's dotted fields (`user.email`) nested.
pub fn create_person(api_version: &str, fields: &Map<String, Value>) -> PreparedRequest {
    let mut person = Value::Object(Map::new());
    for (path, value) in fields {
        let value = if path == "assignments" {
            assignments_as_sent(value)
        } else {
            value.clone()
        };
        crate::targets::set_dotted(&mut person, path, value);
    }
    PreparedRequest {
        method: http::Method::POST,
        path: format!("/api/{api_version}/app/sitevault/useradmin/persons"),
        content_type: "application/json",
        body: json!([person]).to_string(),
    }
}

/// The `person_id` of a Create (array) or Edit (object) User answer's `data.response`.
pub fn answered_person_id(answer: &Value) -> Option<&str> {
    let response = answer.pointer("/data/response")?;
    let first = match response {
        Value::Array(items) => items.first()?,
        other => other,
    };
    first.get("person_id").and_then(Value::as_str)
}

/// `PUT …/persons/{personId}` with `body`.
pub fn edit_person(
    api_version: &str,
    change: &Change,
    body: &Map<String, Value>,
) -> Result<PreparedRequest, TargetError> {
    let body = serde_json::to_string(body)
        .map_err(|e| TargetError::permanent("encoding", e.to_string()))?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: person_path(api_version, change)?,
        content_type: "application/json",
        body,
    })
}

/// The Edit User body that brings the person from `previous` (what hrsync last applied,
/// `None` before the first write) to `mapped`, or `None` when nothing differs. Returns the
/// body and the names of what changed (`org_assignment`, `site:US-NC-0002`, …).
pub fn changed_body(
    previous: Option<&Map<String, Value>>,
    mapped: &Map<String, Value>,
) -> Option<(Map<String, Value>, Vec<String>)> {
    let known = previous.is_some();
    let previous = previous.cloned().map(Value::Object);
    let current = previous.as_ref().unwrap_or(&Value::Null);
    let mut body = Map::new();
    let mut changed = Vec::new();
    for (field, value) in mapped {
        if field == "assignments" {
            continue;
        }
        if current.get(field) != Some(value) {
            changed.push(field.clone());
        }
        body.insert(field.clone(), value.clone());
    }
    if let Some(wanted) = mapped.get("assignments") {
        let assignments =
            changed_assignments(current.get("assignments"), known, wanted, &mut changed);
        if !assignments.is_empty() {
            body.insert("assignments".into(), Value::Object(assignments));
        }
    }
    (!changed.is_empty()).then_some((body, changed))
}

/// Assignments as sent on create: every block without an empty `addons` list.
fn assignments_as_sent(assignments: &Value) -> Value {
    let mut assignments = assignments.clone();
    if let Some(org) = assignments.get_mut("org_assignment") {
        *org = as_sent(org);
    }
    if let Some(Value::Array(sites)) = assignments.get_mut("site_assignments") {
        for site in sites {
            *site = as_sent(site);
        }
    }
    assignments
}

/// A block as sent: without an empty `addons` list.
fn as_sent(block: &Value) -> Value {
    let mut block = block.clone();
    if let Some(map) = block.as_object_mut() {
        if map
            .get("addons")
            .is_some_and(|a| a.is_null() || a.as_array().is_some_and(Vec::is_empty))
        {
            map.shift_remove("addons");
        }
    }
    block
}

/// `known`: whether `current` is what hrsync applied before, or nothing is known yet (then
/// even a `no_access__v` block is sent: the person may hold that site from before hrsync).
fn changed_assignments(
    current: Option<&Value>,
    known: bool,
    wanted: &Value,
    changed: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(org) = wanted.get("org_assignment") {
        let held = current.and_then(|c| c.get("org_assignment"));
        if !same_block(held, org) {
            changed.push("org_assignment".into());
            out.insert("org_assignment".into(), as_sent(org));
        }
    }
    let Some(wanted_sites) = wanted.get("site_assignments").and_then(Value::as_array) else {
        return out;
    };
    let held_sites: Vec<&Value> = current
        .and_then(|c| c.get("site_assignments"))
        .and_then(Value::as_array)
        .map(|sites| sites.iter().collect())
        .unwrap_or_default();
    let mut sites = Vec::new();
    for site in wanted_sites {
        let held = held_sites.iter().copied().find(|h| usn(h) == usn(site));
        let already_none = known && held.is_none() && role(site) == Some(NO_ACCESS);
        if !already_none && !same_block(held, site) {
            changed.push(format!("site:{}", usn(site).unwrap_or("?")));
            sites.push(as_sent(site));
        }
    }
    for held in held_sites {
        let still_listed = wanted_sites.iter().any(|w| usn(w) == usn(held));
        if !still_listed && role(held) != Some(NO_ACCESS) {
            let site_usn = usn(held).unwrap_or_default();
            changed.push(format!("site:{site_usn}"));
            sites.push(json!({"site_usn": site_usn, "system_role_id": NO_ACCESS}));
        }
    }
    if !sites.is_empty() {
        out.insert("site_assignments".into(), Value::Array(sites));
    }
    out
}

fn usn(block: &Value) -> Option<&str> {
    block
        .get("site_usn")
        .or_else(|| block.get("site_USN"))
        .and_then(Value::as_str)
}

fn role(block: &Value) -> Option<&str> {
    block.get("system_role_id").and_then(Value::as_str)
}

/// Two blocks grant the same access: same role, same add-ons (absent = none, in any order).
fn same_block(held: Option<&Value>, wanted: &Value) -> bool {
    let Some(held) = held else { return false };
    let addons = |v: &Value| {
        let mut list: Vec<String> = v
            .get("addons")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default();
        list.sort();
        list
    };
    role(held) == role(wanted)
        && held.get("org_id").or(wanted.get("org_id")) == wanted.get("org_id")
        && addons(held) == addons(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// What hrsync last applied for the person.
    fn person() -> Map<String, Value> {
        mapped(json!({"is_investigator": false, "assignments": {
        "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v", "addons": ["org_patients__v"]},
        "site_assignments": [
            {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_budgets__v"]},
            {"site_usn": "US-2", "system_role_id": "study_team__v"}
        ]}}))
    }

    #[test]
    fn a_new_person_is_an_array_of_one_with_nested_user_fields() {
        let fields = mapped(json!({"user.email": "a@b", "user.username": "a@b",
                                   "is_investigator": false}));
        let request = create_person("v25.2", &fields);
        assert_eq!(request.path, "/api/v25.2/app/sitevault/useradmin/persons");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!([{"user": {"email": "a@b", "username": "a@b"}, "is_investigator": false}])
        );
        let created = json!({"data": {"response": [{"person_id": "V0B000000009001"}]}});
        assert_eq!(answered_person_id(&created), Some("V0B000000009001"));
        let edited = json!({"data": {"response": {"person_id": "V0B000000009002"}}});
        assert_eq!(answered_person_id(&edited), Some("V0B000000009002"));
    }

    #[test]
    fn nothing_differs_nothing_is_sent() {
        let same = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v", "addons": ["org_patients__v"]},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_budgets__v"]},
                {"site_usn": "US-2", "system_role_id": "study_team__v", "addons": []}]}}));
        assert_eq!(changed_body(Some(&person()), &same), None);
    }

    #[test]
    fn a_site_no_longer_held_is_set_to_no_access() {
        let moved = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v", "addons": ["org_patients__v"]},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_budgets__v"]},
                {"site_usn": "US-3", "system_role_id": "regulatory__v", "addons": []}]}}));
        let (body, changed) = changed_body(Some(&person()), &moved).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"is_investigator": false, "assignments": {"site_assignments": [
                {"site_usn": "US-3", "system_role_id": "regulatory__v"},
                {"site_usn": "US-2", "system_role_id": "no_access__v"}]}})
        );
        assert_eq!(changed, ["site:US-3", "site:US-2"]);
    }

    #[test]
    fn a_leaver_loses_the_org_and_every_held_site() {
        let leaver = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_no_access__v"},
            "site_assignments": []}}));
        let (body, _) = changed_body(Some(&person()), &leaver).unwrap();
        assert_eq!(
            body["assignments"],
            json!({"org_assignment": {"org_id": "V42", "system_role_id": "org_no_access__v"},
                   "site_assignments": [
                       {"site_usn": "US-1", "system_role_id": "no_access__v"},
                       {"site_usn": "US-2", "system_role_id": "no_access__v"}]})
        );
    }

    #[test]
    fn the_first_write_sends_the_whole_mapped_state() {
        let joiner = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v", "addons": []},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_patients__v"]}]}}));
        let (body, _) = changed_body(None, &joiner).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"is_investigator": false, "assignments": {
                "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v"},
                "site_assignments": [
                    {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_patients__v"]}]}})
        );
    }

    #[test]
    fn a_block_is_sent_with_exactly_its_mapped_add_ons_and_only_when_they_change() {
        // The roles now map one more site add-on; the org block stays as it was.
        let more = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v", "addons": ["org_patients__v"]},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_patients__v", "site_budgets__v"]},
                {"site_usn": "US-2", "system_role_id": "study_team__v"}]}}));
        let (body, changed) = changed_body(Some(&person()), &more).unwrap();
        assert_eq!(changed, ["site:US-1"]);
        assert_eq!(
            body["assignments"],
            json!({"site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v", "addons": ["site_patients__v", "site_budgets__v"]}]})
        );
    }

    #[test]
    fn a_first_write_removing_access_sends_every_mapped_block() {
        let leaver = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_no_access__v", "addons": []},
            "site_assignments": [{"site_usn": "US-1", "system_role_id": "no_access__v", "addons": []}]}}));
        let (body, _) = changed_body(None, &leaver).unwrap();
        assert_eq!(
            body["assignments"]["site_assignments"],
            json!([{"site_usn": "US-1", "system_role_id": "no_access__v"}])
        );
    }
}
