//! Change → SuperOffice requests: read the user, merge the owned fields into the entity,
//! write the whole entity back.

use crate::target::{id, PreparedRequest, TargetError};
use serde_json::{Map, Value};

/// Read-only parts of `UserWithLinks` that are not part of the entity to save.
const READ_ONLY: &[&str] = &["TableRight", "FieldProperties", "_Links"];

pub fn get_user(account_id: &str) -> Result<PreparedRequest, TargetError> {
    let associate_id = id::numeric("accounts.superoffice.associate_id", account_id)?;
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: format!("/api/v1/User/{associate_id}"),
        content_type: "application/json",
        body: String::new(),
    })
}

pub fn put_user(account_id: &str, entity: &Value) -> Result<PreparedRequest, TargetError> {
    let associate_id = id::numeric("accounts.superoffice.associate_id", account_id)?;
    Ok(PreparedRequest {
        method: http::Method::PUT,
        path: format!("/api/v1/User/{associate_id}"),
        content_type: "application/json; charset=utf-8",
        body: entity.to_string(),
    })
}

/// The current entity with the mapped fields set (dotted paths reach into nested objects,
/// e.g. `Person.Firstname`) and the read-only parts removed. Everything else is kept as read,
/// so a full-replacement PUT changes only what the mapping owns.
pub fn merge_fields(mut current: Value, fields: &Map<String, Value>) -> Result<Value, TargetError> {
    strip_read_only(&mut current);
    for (path, value) in fields {
        set_path(&mut current, path, value.clone())?;
    }
    Ok(current)
}

fn strip_read_only(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in READ_ONLY {
                map.remove(*key);
            }
            map.values_mut().for_each(strip_read_only);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_read_only),
        _ => {}
    }
}

fn set_path(entity: &mut Value, path: &str, value: Value) -> Result<(), TargetError> {
    let mut node = entity;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(TargetError::permanent(
                "invalid_field_path",
                format!("{path}: {part} is inside a value that is not an object"),
            ));
        };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return Ok(());
        }
        node = map.entry(part.to_string()).or_insert(Value::Null);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_keeps_every_field_the_mapping_does_not_own() {
        let current = json!({
            "AssociateId": 981, "Name": "AS", "Deleted": false,
            "Role": {"Id": 4, "Value": "Sales"},
            "LicenseOwners": [{"Name": "SuperOffice", "TableRight": null}],
            "Person": {"PersonId": 12, "Firstname": "Old", "Lastname": "Name"},
            "TableRight": {"Mask": "FULL"}, "FieldProperties": {}, "_Links": {"Self": "x"}
        });
        let fields = json!({"Person.Firstname": "Ana", "Deleted": true});
        let merged = merge_fields(current, fields.as_object().unwrap()).unwrap();
        assert_eq!(
            merged,
            json!({
                "AssociateId": 981, "Name": "AS", "Deleted": true,
                "Role": {"Id": 4, "Value": "Sales"},
                "LicenseOwners": [{"Name": "SuperOffice"}],
                "Person": {"PersonId": 12, "Firstname": "Ana", "Lastname": "Name"}
            })
        );
    }

    #[test]
    fn a_null_parent_becomes_an_object() {
        let merged = merge_fields(
            json!({"Person": null}),
            json!({"Person.Email": "a@b.example"}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(merged, json!({"Person": {"Email": "a@b.example"}}));
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        assert_eq!(get_user("981/../1").unwrap_err().code, "invalid_id");
    }
}
