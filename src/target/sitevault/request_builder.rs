//! Change → SiteVault requests. The mapped fields are the Edit User body's top-level keys
//! (`is_investigator`, `assignments`, …).
//!
//! SiteVault replaces each org/site block it receives, so only blocks that differ from the
//! person's current ones are sent — and a site the person holds but the new assignment no
//! longer lists is sent as `no_access__v`, so a mover or leaver really loses it.

use crate::target::{id, Change, PreparedRequest, TargetError};
use serde_json::{json, Map, Value};

const NO_ACCESS: &str = "no_access__v";

fn person_path(api_version: &str, change: &Change) -> Result<String, TargetError> {
    let person_id = id::alphanumeric("accounts.sitevault.person_id", &change.account_id)?;
    Ok(format!(
        "/api/{api_version}/app/sitevault/useradmin/persons/{person_id}"
    ))
}

/// `GET …/persons/{personId}`: the person's current assignments.
pub fn retrieve_person(api_version: &str, change: &Change) -> Result<PreparedRequest, TargetError> {
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: person_path(api_version, change)?,
        content_type: "application/json",
        body: String::new(),
    })
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

/// The Edit User body that brings `current` to `mapped`, or `None` when nothing differs.
/// Returns the body and the names of what changed (`org_assignment`, `site:US-NC-0002`, …).
pub fn changed_body(
    current: &Value,
    mapped: &Map<String, Value>,
) -> Option<(Map<String, Value>, Vec<String>)> {
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
        let assignments = changed_assignments(current.get("assignments"), wanted, &mut changed);
        if !assignments.is_empty() {
            body.insert("assignments".into(), Value::Object(assignments));
        }
    }
    (!changed.is_empty()).then_some((body, changed))
}

fn changed_assignments(
    current: Option<&Value>,
    wanted: &Value,
    changed: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(org) = wanted.get("org_assignment") {
        let held = current.and_then(|c| c.get("org_assignment"));
        if !same_block(held, org) {
            changed.push("org_assignment".into());
            out.insert("org_assignment".into(), org.clone());
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
        let already_none = held.is_none() && role(site) == Some(NO_ACCESS);
        if !already_none && !same_block(held, site) {
            changed.push(format!("site:{}", usn(site).unwrap_or("?")));
            sites.push(site.clone());
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

/// Two blocks grant the same access: same role, same add-ons (absent = none).
fn same_block(held: Option<&Value>, wanted: &Value) -> bool {
    let Some(held) = held else { return false };
    let addons = |v: &Value| v.get("addons").cloned().unwrap_or_else(|| json!([]));
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

    fn person() -> Value {
        json!({"is_investigator": false, "assignments": {
        "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v"},
        "site_assignments": [
            {"site_usn": "US-1", "system_role_id": "study_team__v"},
            {"site_usn": "US-2", "system_role_id": "study_team__v"}
        ]}})
    }

    #[test]
    fn nothing_differs_nothing_is_sent() {
        let same = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v"},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v"},
                {"site_usn": "US-2", "system_role_id": "study_team__v"}]}}));
        assert_eq!(changed_body(&person(), &same), None);
    }

    #[test]
    fn a_site_no_longer_held_is_set_to_no_access() {
        let moved = mapped(json!({"is_investigator": false, "assignments": {
            "org_assignment": {"org_id": "V42", "system_role_id": "org_full__v"},
            "site_assignments": [
                {"site_usn": "US-1", "system_role_id": "study_team__v"},
                {"site_usn": "US-3", "system_role_id": "regulatory__v"}]}}));
        let (body, changed) = changed_body(&person(), &moved).unwrap();
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
        let (body, _) = changed_body(&person(), &leaver).unwrap();
        assert_eq!(
            body["assignments"],
            json!({"org_assignment": {"org_id": "V42", "system_role_id": "org_no_access__v"},
                   "site_assignments": [
                       {"site_usn": "US-1", "system_role_id": "no_access__v"},
                       {"site_usn": "US-2", "system_role_id": "no_access__v"}]})
        );
    }
}
