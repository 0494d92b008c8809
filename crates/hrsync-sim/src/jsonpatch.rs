//! JSON Patch (RFC 6902: add, replace, remove, test) and JSON Merge Patch (RFC 7396) the way
//! SuperOffice applies them: property names match case-insensitively and the leading slash
//! of a path is optional. A patch is all-or-nothing: it is applied to a copy.

use serde_json::{Map, Value};

/// Why a patch was not applied.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// Malformed patch or a path that does not resolve (HTTP 400).
    Invalid(String),
    /// A `test` op did not match (HTTP 409).
    TestFailed(String),
}

fn invalid(message: impl Into<String>) -> PatchError {
    PatchError::Invalid(message.into())
}

/// Applies a JSON Patch document (an array of ops) to `doc`, all or nothing.
pub(crate) fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| invalid("A JSON Patch document must be an array of operations"))?;
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, op).map_err(|e| prefix(i, e))?;
    }
    *doc = work;
    Ok(())
}

fn prefix(i: usize, error: PatchError) -> PatchError {
    match error {
        PatchError::Invalid(m) => PatchError::Invalid(format!("operation {i}: {m}")),
        PatchError::TestFailed(m) => PatchError::TestFailed(format!("operation {i}: {m}")),
    }
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), PatchError> {
    let op = op
        .as_object()
        .ok_or_else(|| invalid("an operation must be an object"))?;
    let name = string_member(op, "op")?.to_ascii_lowercase();
    let path = tokens(string_member(op, "path")?);
    let value = || {
        member(op, "value")
            .cloned()
            .ok_or_else(|| invalid("missing value"))
    };
    match name.as_str() {
        "add" => add(doc, &path, value()?),
        "replace" => replace(doc, &path, value()?),
        "remove" => remove(doc, &path),
        "test" => test(doc, &path, &value()?),
        "move" | "copy" => Err(invalid(format!("op '{name}' is not supported"))),
        other => Err(invalid(format!("unknown op '{other}'"))),
    }
}

/// A member of an op object, name matched case-insensitively.
fn member<'a>(op: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    op.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn string_member<'a>(op: &'a Map<String, Value>, name: &str) -> Result<&'a str, PatchError> {
    member(op, name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("missing '{name}'")))
}

/// Splits a path into unescaped tokens; the leading slash is optional.
fn tokens(path: &str) -> Vec<String> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The stored key matching `token`: exact first, then case-insensitive.
pub(crate) fn find_key(map: &Map<String, Value>, token: &str) -> Option<String> {
    if map.contains_key(token) {
        return Some(token.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(token)).cloned()
}

fn index(list: &[Value], token: &str, allow_end: bool) -> Result<usize, PatchError> {
    let i: usize = token
        .parse()
        .map_err(|_| invalid(format!("'{token}' is not an array index")))?;
    let limit = if allow_end {
        list.len()
    } else {
        list.len().saturating_sub(1)
    };
    if i > limit || (!allow_end && list.is_empty()) {
        return Err(invalid(format!("index {i} is out of range")));
    }
    Ok(i)
}

fn resolve_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, PatchError> {
    let mut current = doc;
    for token in path {
        current = match current {
            Value::Object(map) => {
                let key = find_key(map, token)
                    .ok_or_else(|| invalid(format!("path segment '{token}' not found")))?;
                map.get_mut(&key).expect("key was just found")
            }
            Value::Array(list) => {
                let i = index(list, token, false)?;
                &mut list[i]
            }
            _ => return Err(invalid(format!("cannot descend into '{token}'"))),
        };
    }
    Ok(current)
}

fn split_last(path: &[String]) -> Option<(&[String], &str)> {
    path.split_last()
        .map(|(last, parent)| (parent, last.as_str()))
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), PatchError> {
    let Some((parent, last)) = split_last(path) else {
        *doc = value;
        return Ok(());
    };
    match resolve_mut(doc, parent)? {
        Value::Object(map) => {
            let key = find_key(map, last).unwrap_or_else(|| last.to_owned());
            map.insert(key, value);
        }
        Value::Array(list) if last == "-" => list.push(value),
        Value::Array(list) => {
            let i = index(list, last, true)?;
            list.insert(i, value);
        }
        _ => return Err(invalid(format!("cannot add '{last}' to a non-container"))),
    }
    Ok(())
}

fn replace(doc: &mut Value, path: &[String], value: Value) -> Result<(), PatchError> {
    *resolve_mut(doc, path)? = value;
    Ok(())
}

fn remove(doc: &mut Value, path: &[String]) -> Result<(), PatchError> {
    let (parent, last) = split_last(path).ok_or_else(|| invalid("cannot remove the root"))?;
    match resolve_mut(doc, parent)? {
        Value::Object(map) => {
            let key = find_key(map, last)
                .ok_or_else(|| invalid(format!("path segment '{last}' not found")))?;
            map.shift_remove(&key);
        }
        Value::Array(list) => {
            let i = index(list, last, false)?;
            list.remove(i);
        }
        _ => {
            return Err(invalid(format!(
                "cannot remove '{last}' from a non-container"
            )))
        }
    }
    Ok(())
}

fn test(doc: &mut Value, path: &[String], expected: &Value) -> Result<(), PatchError> {
    let actual = resolve_mut(doc, path)
        .map_err(|_| PatchError::TestFailed(format!("path /{} not found", path.join("/"))))?;
    if actual == expected {
        Ok(())
    } else {
        Err(PatchError::TestFailed(format!(
            "value at /{} is {actual}, expected {expected}",
            path.join("/")
        )))
    }
}

/// Applies a JSON Merge Patch, keys matched case-insensitively.
pub(crate) fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (name, value) in patch {
        let key = find_key(map, name).unwrap_or_else(|| name.clone());
        if value.is_null() {
            map.shift_remove(&key);
        } else {
            apply_merge_patch(map.entry(key).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_case_insensitive_and_slash_optional() {
        let mut doc = json!({"Person": {"Firstname": "Ana"}, "Deleted": false});
        let patch = json!([
            {"op": "replace", "path": "person/firstname", "value": "Bea"},
            {"op": "replace", "path": "/DELETED", "value": true}
        ]);
        apply_json_patch(&mut doc, &patch).unwrap();
        assert_eq!(
            doc,
            json!({"Person": {"Firstname": "Bea"}, "Deleted": true})
        );
    }

    #[test]
    fn failing_test_applies_nothing() {
        let mut doc = json!({"Name": "A", "Rank": 1});
        let patch = json!([
            {"op": "replace", "path": "/Name", "value": "B"},
            {"op": "test", "path": "/Rank", "value": 2}
        ]);
        let err = apply_json_patch(&mut doc, &patch).unwrap_err();
        assert!(matches!(err, PatchError::TestFailed(_)));
        assert_eq!(doc, json!({"Name": "A", "Rank": 1}));
    }

    #[test]
    fn add_and_remove_in_arrays() {
        let mut doc = json!({"OtherGroups": [1, 3]});
        let patch = json!([
            {"op": "add", "path": "/OtherGroups/1", "value": 2},
            {"op": "add", "path": "/OtherGroups/-", "value": 4},
            {"op": "remove", "path": "/OtherGroups/0"}
        ]);
        apply_json_patch(&mut doc, &patch).unwrap();
        assert_eq!(doc, json!({"OtherGroups": [2, 3, 4]}));
    }

    #[test]
    fn merge_patch_removes_nulls() {
        let mut doc = json!({"Name": "A", "Person": {"Title": "x", "Email": "e"}});
        apply_merge_patch(&mut doc, &json!({"name": null, "person": {"title": "y"}}));
        assert_eq!(doc, json!({"Person": {"Title": "y", "Email": "e"}}));
    }
}
