//! Change → SuperOffice requests.
//!
//! SuperOffice's PUT replaces the whole entity, so hrsync does not PUT: it reads the user and
//! sends a JSON Patch that first `test`s each field it changes against the value it read,
//! then replaces it. A concurrent edit makes the `test` fail (409) instead of being
//! overwritten; the caller re-reads and tries again. Fields the mapping does not own are
//! never in the request, so they cannot be wiped.

use crate::targets::{id, PreparedRequest, TargetError};
use serde_json::{json, Map, Value};

pub const JSON_PATCH: &str = "application/json-patch+json";

fn user_path(account_id: &str) -> Result<String, TargetError> {
    let associate_id = id::numeric("accounts.superoffice.associate_id", account_id)?;
    Ok(format!("/api/v1/User/{associate_id}"))
}

pub fn get_user(account_id: &str) -> Result<PreparedRequest, TargetError> {
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: user_path(account_id)?,
        content_type: "application/json",
        body: String::new(),
    })
}

/// `POST /api/v1/Agents/User/MakeRetired`: retire (also removes all licences) or un-retire.
pub fn make_retired(account_id: &str, retired: bool) -> Result<PreparedRequest, TargetError> {
    let associate_id = id::numeric("accounts.superoffice.associate_id", account_id)?;
    let associate_id: i64 = associate_id.parse().map_err(|_| {
        TargetError::permanent(
            "invalid_id",
            "accounts.superoffice.associate_id: out of range",
        )
    })?;
    Ok(PreparedRequest {
        method: http::Method::POST,
        path: "/api/v1/Agents/User/MakeRetired".into(),
        content_type: "application/json",
        body: json!({"AssociateId": associate_id, "Retired": retired}).to_string(),
    })
}

/// `GET /api/v1/User/{userName}`: a user by login name (one path segment, percent-encoded).
pub fn get_user_by_name(user_name: &str) -> Result<PreparedRequest, TargetError> {
    let mut url = reqwest::Url::parse("http://target/api/v1/User/").expect("static URL");
    url.path_segments_mut()
        .map_err(|_| TargetError::permanent("invalid_id", "cannot build the user path"))?
        .pop_if_empty()
        .push(user_name);
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: url.path().to_string(),
        content_type: "application/json",
        body: String::new(),
    })
}

/// The AllUsers archive columns a user search reads back (superoffice-facts.md).
pub const SEARCH_COLUMNS: &str = "associateDbId,userName,personEmail,isActive";

/// `GET /api/v1/User?$select=…&$filter=column eq 'value'`: users whose archive `column`
/// equals `value` (an OData string literal, single quotes doubled).
pub fn find_users(column: &str, value: &str) -> Result<PreparedRequest, TargetError> {
    if value.chars().any(char::is_control) {
        return Err(TargetError::permanent(
            "invalid_id",
            format!("{column}: control characters cannot be searched for"),
        ));
    }
    let mut url = reqwest::Url::parse("http://target/api/v1/User").expect("static URL");
    let literal = value.replace('\'', "''");
    url.query_pairs_mut()
        .append_pair("$select", SEARCH_COLUMNS)
        .append_pair("$filter", &format!("{column} eq '{literal}'"));
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: format!("{}?{}", url.path(), url.query().unwrap_or_default()),
        content_type: "application/json",
        body: String::new(),
    })
}

/// `POST /api/v1/Person`: the person a new user needs, under the owner company
/// `contact_id`, from the create block's `Person.*` fields (`Person.Email` becomes the
/// first of `Emails`).
pub fn create_person(fields: &Map<String, Value>, contact_id: i64) -> PreparedRequest {
    let mut person = json!({"Contact": {"ContactId": contact_id}});
    for (path, value) in fields {
        match path.strip_prefix("Person.") {
            Some("Email") => person["Emails"] = json!([{"Value": value}]),
            Some(field) => crate::targets::set_dotted(&mut person, field, value.clone()),
            None => {}
        }
    }
    PreparedRequest {
        method: http::Method::POST,
        path: "/api/v1/Person".into(),
        content_type: "application/json",
        body: person.to_string(),
    }
}

/// `GET /api/v1/User/Default?userType=InternalAssociate&personId=N`: SuperOffice's
/// pre-filled user carrier for the person.
pub fn default_user(person_id: i64) -> PreparedRequest {
    PreparedRequest {
        method: http::Method::GET,
        path: format!("/api/v1/User/Default?userType=InternalAssociate&personId={person_id}"),
        content_type: "application/json",
        body: String::new(),
    }
}

/// `POST /api/v1/User` (SaveUser): the default carrier with the create block's user fields
/// (everything but `Person.*`, which went into the person) set on it.
pub fn save_user(mut carrier: Value, fields: &Map<String, Value>) -> PreparedRequest {
    for (path, value) in fields {
        if !path.starts_with("Person.") {
            crate::targets::set_dotted(&mut carrier, path, value.clone());
        }
    }
    PreparedRequest {
        method: http::Method::POST,
        path: "/api/v1/User".into(),
        content_type: "application/json",
        body: carrier.to_string(),
    }
}

/// The largest archive page asked for.
pub const ARCHIVE_PAGE: usize = 1000;

/// `GET /api/v1/User?$select=…&$top=…&$skip=0&$orderby=associateDbId`: the first page of
/// every user in the AllUsers archive; later pages come from `odata.nextLink`.
pub fn list_users() -> PreparedRequest {
    let mut url = reqwest::Url::parse("http://target/api/v1/User").expect("static URL");
    url.query_pairs_mut()
        .append_pair(
            "$select",
            "associateDbId,userName,personEmail,personId,isActive",
        )
        .append_pair("$top", &ARCHIVE_PAGE.to_string())
        .append_pair("$skip", "0")
        .append_pair("$orderby", "associateDbId");
    PreparedRequest {
        method: http::Method::GET,
        path: format!("{}?{}", url.path(), url.query().unwrap_or_default()),
        content_type: "application/json",
        body: String::new(),
    }
}

/// The request for an `odata.nextLink`: only the archive of this tenant is followed
/// (a path, or a URL under `base_url`), never another host.
pub fn next_link(base_url: &str, link: &str) -> Result<PreparedRequest, TargetError> {
    let path = link.strip_prefix(base_url).unwrap_or(link);
    if !path.to_ascii_lowercase().starts_with("/api/v1/user?") || path.contains("..") {
        return Err(TargetError::transient(
            "bad_response",
            "User archive: odata.nextLink is not a page of this archive",
        ));
    }
    Ok(PreparedRequest {
        method: http::Method::GET,
        path: path.to_string(),
        content_type: "application/json",
        body: String::new(),
    })
}

/// `PATCH /api/v1/User/{id}` with a JSON Patch document.
pub fn patch_user(account_id: &str, ops: &[Value]) -> Result<PreparedRequest, TargetError> {
    Ok(PreparedRequest {
        method: http::Method::PATCH,
        path: user_path(account_id)?,
        content_type: JSON_PATCH,
        body: Value::Array(ops.to_vec()).to_string(),
    })
}

/// A change as one PATCH without reading the user first, from what hrsync last applied
/// (`previous`): per changed field, a `test` op for each value hrsync last wrote there
/// (each leaf of an object: the user holds more than was mapped, e.g. a `Role`'s
/// `Tooltip`) and a `replace`; first a `test` that the user is not retired. SuperOffice
/// refuses the whole patch with 409 when a test fails — the user was changed since — and
/// only then must it be read. Empty when nothing changed, or when a changed field was never
/// written by hrsync (its shape in the user is unknown: read first).
pub fn tested_patch(
    previous: &Map<String, Value>,
    mapped: &Map<String, Value>,
) -> (Vec<Value>, Vec<String>) {
    let mut ops = vec![json!({"op": "test", "path": "/Deleted", "value": false})];
    let mut changed = Vec::new();
    for (path, wanted) in mapped {
        let held = match previous.get(path) {
            Some(held) if held == wanted => continue,
            Some(held) => held,
            None => return (Vec::new(), Vec::new()),
        };
        let pointer: String = path
            .split('.')
            .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
            .collect();
        tests_of(&pointer, held, &mut ops);
        ops.push(json!({"op": "replace", "path": pointer, "value": wanted}));
        changed.push(path.clone());
    }
    if changed.is_empty() {
        return (Vec::new(), Vec::new());
    }
    (ops, changed)
}

/// `test` ops for every leaf of `held` under `pointer`.
fn tests_of(pointer: &str, held: &Value, ops: &mut Vec<Value>) {
    match held {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, value) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                tests_of(&format!("{pointer}/{key}"), value, ops);
            }
        }
        _ => ops.push(json!({"op": "test", "path": pointer, "value": held})),
    }
}

/// The mapped fields (dotted paths such as `Person.Firstname`) whose value differs from
/// the entity's, as `test` + `replace` (or `add`) operations, with the changed paths.
pub fn patch_ops(current: &Value, mapped: &Map<String, Value>) -> (Vec<Value>, Vec<String>) {
    let mut ops = Vec::new();
    let mut changed = Vec::new();
    for (path, wanted) in mapped {
        let segments: Vec<&str> = path.split('.').collect();
        if value_at(current, &segments) == Some(wanted) {
            continue;
        }
        changed.push(path.clone());
        ops.extend(ops_for(current, &segments, wanted));
    }
    (ops, changed)
}

fn value_at<'a>(entity: &'a Value, segments: &[&str]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(entity, |node, segment| node.get(*segment))
}

fn ops_for(current: &Value, segments: &[&str], wanted: &Value) -> Vec<Value> {
    let mut node = current;
    for (i, segment) in segments.iter().enumerate() {
        let pointer = format!("/{}", segments[..=i].join("/"));
        let last = i + 1 == segments.len();
        match node.get(*segment) {
            None => {
                return vec![
                    json!({"op": "add", "path": pointer, "value": nest(&segments[i + 1..], wanted)}),
                ]
            }
            Some(held) if last || !held.is_object() => {
                return vec![
                    json!({"op": "test", "path": pointer, "value": held}),
                    json!({"op": "replace", "path": pointer, "value": nest(&segments[i + 1..], wanted)}),
                ]
            }
            Some(held) => node = held,
        }
    }
    Vec::new()
}

/// `wanted` inside objects named by `rest` (`["Email"]`, v → `{"Email": v}`).
fn nest(rest: &[&str], wanted: &Value) -> Value {
    rest.iter()
        .rev()
        .fold(wanted.clone(), |inner, key| json!({ *key: inner }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_against_what_hrsync_last_applied_is_one_tested_patch() {
        let previous: Map<String, Value> = serde_json::from_value(json!({
            "Person.Title": "CRA",
            "Role": {"Id": 2, "Value": "User"},
            "UserName": "ana@x",
            "Deleted": false,
        }))
        .unwrap();
        let mut mapped = previous.clone();
        mapped.insert("Person.Title".into(), json!("Lead CRA"));
        mapped.insert("Role".into(), json!({"Id": 3, "Value": "Admin"}));
        let (ops, changed) = tested_patch(&previous, &mapped);
        assert_eq!(changed, ["Person.Title", "Role"]);
        assert_eq!(
            Value::Array(ops),
            json!([
                {"op": "test", "path": "/Deleted", "value": false},
                {"op": "test", "path": "/Person/Title", "value": "CRA"},
                {"op": "replace", "path": "/Person/Title", "value": "Lead CRA"},
                {"op": "test", "path": "/Role/Id", "value": 2},
                {"op": "test", "path": "/Role/Value", "value": "User"},
                {"op": "replace", "path": "/Role", "value": {"Id": 3, "Value": "Admin"}},
            ])
        );
        // Nothing changed, or a field hrsync never wrote: no patch (read first).
        assert!(tested_patch(&previous, &previous).0.is_empty());
        let mut new_field = previous.clone();
        new_field.insert("UserGroup".into(), json!({"Id": 1}));
        assert!(tested_patch(&previous, &new_field).0.is_empty());
    }

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn changed_fields_are_tested_then_replaced_and_others_left_out() {
        let current = json!({"AssociateId": 981, "Deleted": false,
            "Person": {"Firstname": "Old", "Lastname": "Silva"}, "Role": {"Id": 4}});
        let (ops, changed) = patch_ops(
            &current,
            &fields(
                json!({"Person.Firstname": "Ana", "Person.Lastname": "Silva", "Deleted": true}),
            ),
        );
        assert_eq!(changed, ["Person.Firstname", "Deleted"]);
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/Person/Firstname", "value": "Old"}),
                json!({"op": "replace", "path": "/Person/Firstname", "value": "Ana"}),
                json!({"op": "test", "path": "/Deleted", "value": false}),
                json!({"op": "replace", "path": "/Deleted", "value": true}),
            ]
        );
    }

    #[test]
    fn a_null_parent_is_tested_and_replaced_by_an_object() {
        let (ops, _) = patch_ops(
            &json!({"Person": null}),
            &fields(json!({"Person.Email": "a@b.example"})),
        );
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/Person", "value": null}),
                json!({"op": "replace", "path": "/Person", "value": {"Email": "a@b.example"}}),
            ]
        );
    }

    #[test]
    fn a_new_user_is_a_person_under_the_owner_company_then_the_filled_default_carrier() {
        let mapped = fields(json!({
            "Person.Firstname": "Ana", "Person.Lastname": "Silva",
            "Person.Email": "ana@verteo.example", "UserName": "ana", "Name": "ASI",
            "UserGroup": {"Id": 3}
        }));
        let person: Value = serde_json::from_str(&create_person(&mapped, 7).body).unwrap();
        assert_eq!(
            person,
            json!({"Contact": {"ContactId": 7}, "Firstname": "Ana", "Lastname": "Silva",
                   "Emails": [{"Value": "ana@verteo.example"}]})
        );
        assert_eq!(
            default_user(42).path,
            "/api/v1/User/Default?userType=InternalAssociate&personId=42"
        );
        let carrier = json!({"AssociateId": 0, "UserName": "", "Person": {"PersonId": 42}});
        let saved: Value = serde_json::from_str(&save_user(carrier, &mapped).body).unwrap();
        assert_eq!(saved["UserName"], "ana");
        assert_eq!(saved["Name"], "ASI");
        assert_eq!(saved["UserGroup"], json!({"Id": 3}));
        assert_eq!(
            saved["Person"],
            json!({"PersonId": 42}),
            "the person is not rewritten"
        );
    }

    #[test]
    fn only_next_links_into_this_tenants_user_archive_are_followed() {
        let base = "https://sod.superoffice.com/Cust1";
        let page = next_link(base, "/api/v1/User?$skip=1000&$top=1000").unwrap();
        assert_eq!(page.path, "/api/v1/User?$skip=1000&$top=1000");
        let absolute = next_link(base, &format!("{base}/api/v1/User?$skip=1000")).unwrap();
        assert_eq!(absolute.path, "/api/v1/User?$skip=1000");
        for elsewhere in [
            "https://evil.example/api/v1/User?$skip=1000",
            "/api/v1/Contact?$skip=1",
            "/api/v1/User/../Agents/User/MakeRetired?x",
        ] {
            assert!(next_link(base, elsewhere).is_err(), "{elsewhere}");
        }
        assert!(
            list_users().path.contains("%24top=1000") || list_users().path.contains("$top=1000")
        );
    }

    #[test]
    fn nothing_differs_no_ops() {
        let (ops, changed) =
            patch_ops(&json!({"Deleted": true}), &fields(json!({"Deleted": true})));
        assert!(ops.is_empty() && changed.is_empty());
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        assert_eq!(
            get_user("981/../1").unwrap_err().code.as_str(),
            "invalid_id"
        );
    }
}
