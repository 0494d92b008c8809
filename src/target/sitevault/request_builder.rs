//! Change → SiteVault Edit User request: the mapped fields are the JSON body's top-level
//! keys (`is_investigator`, `assignments`, …).

use crate::target::{id, Change, PreparedRequest, TargetError};
use serde_json::Value;

pub fn edit_person(api_version: &str, change: &Change) -> Result<PreparedRequest, TargetError> {
    let person_id = id::alphanumeric("accounts.sitevault.person_id", &change.account_id)?;
    let body = serde_json::to_string(&Value::Object(change.fields.clone()))
        .map_err(|e| TargetError::permanent("encoding", e.to_string()))?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: format!("/api/{api_version}/app/sitevault/useradmin/persons/{person_id}"),
        content_type: "application/json",
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;
    use serde_json::json;

    #[test]
    fn the_body_is_the_mapped_fields_as_json() {
        let change = Change {
            event_id: "e".into(),
            employee_id: "E1".into(),
            action: Action::Leaver,
            account_id: "V0B000000001001".into(),
            fields: json!({"is_investigator": false, "assignments": {"org_assignment":
                {"org_id": "V42000000001001", "system_role_id": "org_no_access__v"}}})
            .as_object()
            .unwrap()
            .clone(),
        };
        let request = edit_person("v24.2", &change).unwrap();
        assert_eq!(
            request.path,
            "/api/v24.2/app/sitevault/useradmin/persons/V0B000000001001"
        );
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body["assignments"]["org_assignment"]["system_role_id"],
            "org_no_access__v"
        );
    }
}
