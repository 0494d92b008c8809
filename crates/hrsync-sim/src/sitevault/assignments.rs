//! What Create User and Edit User share (Veeva: "Both Create and Edit accept the same
//! JSON"): the checks of the `assignments` blocks, each error naming the field by its path,
//! and the small JSON readers both bodies need. The two calls differ only in the roles they
//! accept: the no-access roles remove access, so they exist for Edit only.

use serde_json::{json, Map, Value};

/// The system roles a call accepts.
pub(super) struct Roles {
    org: &'static [&'static str],
    site: &'static [&'static str],
}

/// Create User: the roles of the 26.1 reference, `…cant_login__v` for staff without a login.
pub(super) const CREATE_ROLES: Roles = Roles {
    org: &[
        "org_admin__v",
        "org_full__v",
        "org_external__v",
        "org_cant_login__v",
    ],
    site: &[
        "regulatory__v",
        "study_team__v",
        "site_viewer__v",
        "external__v",
        "site_cant_login__v",
    ],
};

/// Edit User: the create roles plus `org_no_access__v` / `no_access__v` (removal).
pub(super) const EDIT_ROLES: Roles = Roles {
    org: &[
        "org_admin__v",
        "org_full__v",
        "org_external__v",
        "org_cant_login__v",
        "org_no_access__v",
    ],
    site: &[
        "regulatory__v",
        "study_team__v",
        "site_viewer__v",
        "external__v",
        "site_cant_login__v",
        "no_access__v",
    ],
};

const ORG_ROLES_WITH_ADDONS: [&str; 2] = ["org_admin__v", "org_full__v"];
const ORG_ADDONS: [&str; 1] = ["org_patients__v"];
const SITE_ROLES_WITH_ADDONS: [&str; 2] = ["regulatory__v", "study_team__v"];
const SITE_ADDONS: [&str; 3] = ["site_budgets__v", "site_patients__v", "site_profiles__v"];

/// The validated blocks of `assignments`.
pub(super) struct Assignments {
    pub org: Option<Value>,
    pub sites: Vec<Value>,
    pub studies: Vec<Value>,
}

/// Reads `body.assignments` (absent or null: nothing assigned).
pub(super) fn parse_assignments(
    body: &Map<String, Value>,
    roles: &Roles,
) -> Result<Assignments, String> {
    let assignments = match body.get("assignments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => return Err("Field [assignments] must be an object".into()),
    };
    Ok(Assignments {
        org: parse_org(&assignments, roles.org)?,
        sites: parse_sites(&assignments, roles.site)?,
        studies: parse_studies(&assignments)?,
    })
}

/// `is_investigator`, which both calls require.
pub(super) fn required_bool(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("Field [{key}] must be true or false")),
        None => Err(format!("Missing required field [{key}]")),
    }
}

pub(super) fn optional_string(
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

pub(super) fn required_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, String> {
    optional_string(obj, key, path)?.ok_or_else(|| format!("Missing required field [{path}]"))
}

pub(super) fn as_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, String> {
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

fn parse_org(assignments: &Map<String, Value>, roles: &[&str]) -> Result<Option<Value>, String> {
    let path = "assignments.org_assignment";
    let org = match assignments.get("org_assignment") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => as_object(value, path)?,
    };
    let org_id = required_string(org, "org_id", &format!("{path}.org_id"))?;
    let role = parse_role(org, path, roles)?;
    let addons = parse_addons(org, path, &role, &ORG_ROLES_WITH_ADDONS, &ORG_ADDONS)?;
    let mut out = json!({ "org_id": org_id, "system_role_id": role });
    if let Some(addons) = addons {
        out["addons"] = addons;
    }
    Ok(Some(out))
}

fn parse_sites(assignments: &Map<String, Value>, roles: &[&str]) -> Result<Vec<Value>, String> {
    let list = match assignments.get("site_assignments") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("Field [assignments.site_assignments] must be an array".into()),
    };
    let mut sites: Vec<Value> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let site = parse_site(item, &format!("assignments.site_assignments[{i}]"), roles)?;
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
fn parse_site(item: &Value, path: &str, roles: &[&str]) -> Result<Value, String> {
    let site = as_object(item, path)?;
    let usn_key = if site.contains_key("site_USN") {
        "site_USN"
    } else {
        "site_usn"
    };
    let usn = required_string(site, usn_key, &format!("{path}.site_usn"))?;
    let role = parse_role(site, path, roles)?;
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
