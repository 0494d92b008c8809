//! Change → SCIM requests (RFC 7644), pure and testable; reused by dry runs.

use crate::targets::{id, PreparedRequest, TargetError};
use serde_json::{json, Map, Value};

/// The SCIM media type (RFC 7644 §8.1), for bodies and `Accept`.
pub const SCIM_JSON: &str = "application/scim+json";

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user_path(account_id: &str) -> Result<String, TargetError> {
    let id = id::path_segment("accounts.scim.id", account_id)?;
    Ok(format!("/Users/{id}"))
}

/// `GET /Users/{id}` (RFC 7644 §3.4.1).
pub fn get_user(account_id: &str) -> Result<PreparedRequest, TargetError> {
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: user_path(account_id)?,
        content_type: SCIM_JSON,
        body: String::new(),
    })
}

/// `GET /Users?filter=<attribute> eq "<value>"` (RFC 7644 §3.4.2.2): the value as a JSON
/// string literal, so quotes and backslashes in it are escaped.
pub fn find_users(attribute: &str, value: &str) -> Result<PreparedRequest, TargetError> {
    if value.chars().any(char::is_control) {
        return Err(TargetError::permanent(
            "invalid_id",
            format!("{attribute}: control characters cannot be searched for"),
        ));
    }
    let mut url = reqwest::Url::parse("http://target/Users").expect("static URL");
    let literal = Value::String(value.to_string()).to_string();
    url.query_pairs_mut()
        .append_pair("filter", &format!("{attribute} eq {literal}"));
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: format!("{}?{}", url.path(), url.query().unwrap_or_default()),
        content_type: SCIM_JSON,
        body: String::new(),
    })
}

/// `POST /Users` (RFC 7644 §3.3): a User resource of the mapped attributes, dotted names
/// (`name.givenName`) as sub-attributes.
pub fn create_user(fields: &Map<String, Value>) -> PreparedRequest {
    let mut body = json!({"schemas": [USER_SCHEMA]});
    for (path, value) in fields {
        crate::targets::set_dotted(&mut body, path, value.clone());
    }
    PreparedRequest {
        method: http::Method::POST,
        path: "/Users".into(),
        content_type: SCIM_JSON,
        body: body.to_string(),
    }
}

/// Users asked for per listing page.
pub const LIST_PAGE: usize = 1000;

/// `GET /Users?startIndex=…&count=…` (RFC 7644 §3.4.2.4; `start_index` is 1-based).
pub fn list_users(start_index: usize) -> PreparedRequest {
    PreparedRequest {
        method: http::Method::GET,
        path: format!("/Users?startIndex={start_index}&count={LIST_PAGE}"),
        content_type: SCIM_JSON,
        body: String::new(),
    }
}

/// `PATCH /Users/{id}` with a `PatchOp` of `operations` (RFC 7644 §3.5.2).
pub fn patch_user(account_id: &str, operations: &[Value]) -> Result<PreparedRequest, TargetError> {
    let body = json!({"schemas": [PATCH_OP], "Operations": operations});
    Ok(PreparedRequest {
        method: http::Method::PATCH,
        path: user_path(account_id)?,
        content_type: SCIM_JSON,
        body: body.to_string(),
    })
}

/// A `replace` operation for every mapped attribute whose value differs from `current`
/// (the resource as read), and the names of those attributes.
pub fn patch_ops(current: &Value, mapped: &Map<String, Value>) -> (Vec<Value>, Vec<String>) {
    let mut ops = Vec::new();
    let mut changed = Vec::new();
    for (path, wanted) in mapped {
        let held = path
            .split('.')
            .try_fold(current, |node, segment| attribute(node, segment));
        if held != Some(wanted) {
            ops.push(json!({"op": "replace", "path": path, "value": wanted}));
            changed.push(path.clone());
        }
    }
    (ops, changed)
}

/// Attribute names are case-insensitive (RFC 7643 §2.1).
fn attribute<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attributes_that_differ_are_replaced_sub_attributes_by_their_path() {
        let current = json!({"id": "2819c223", "userName": "ana@x.example",
            "name": {"givenName": "Ana", "familyName": "Silva"}, "active": true, "title": "CRA"});
        let mapped: Map<String, Value> = serde_json::from_value(json!({
            "userName": "ana@x.example", "name.givenName": "Ana", "name.familyName": "Costa",
            "title": "Lead CRA", "active": true
        }))
        .unwrap();
        let (ops, changed) = patch_ops(&current, &mapped);
        assert_eq!(changed, ["name.familyName", "title"]);
        assert_eq!(
            ops,
            [
                json!({"op": "replace", "path": "name.familyName", "value": "Costa"}),
                json!({"op": "replace", "path": "title", "value": "Lead CRA"})
            ]
        );
        let same: Map<String, Value> =
            serde_json::from_value(json!({"USERNAME": "ana@x.example"})).unwrap();
        assert!(
            patch_ops(&current, &same).0.is_empty(),
            "names are case-insensitive"
        );
    }

    #[test]
    fn a_created_user_nests_sub_attributes_under_the_core_schema() {
        let fields =
            json!({"userName": "ana", "name.givenName": "Ana", "name.familyName": "Silva"});
        let request = create_user(fields.as_object().unwrap());
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, "/Users");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"schemas": [USER_SCHEMA], "userName": "ana",
                   "name": {"givenName": "Ana", "familyName": "Silva"}})
        );
    }

    #[test]
    fn a_filter_value_is_a_json_string_literal_and_ids_are_checked() {
        let request = find_users("userName", "o\"neil\\x@example.com").unwrap();
        let query = request.path.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        assert_eq!(
            pairs,
            [(
                "filter".to_string(),
                r#"userName eq "o\"neil\\x@example.com""#.to_string()
            )]
        );
        assert_eq!(get_user("a/../b").unwrap_err().code.as_str(), "invalid_id");
        let patch = patch_user(
            "2819c223",
            &[json!({"op": "replace", "path": "active", "value": false})],
        )
        .unwrap();
        assert_eq!(patch.path, "/Users/2819c223");
        assert_eq!(
            serde_json::from_str::<Value>(&patch.body).unwrap(),
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})
        );
    }
}
