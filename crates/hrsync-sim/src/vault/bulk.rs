//! Update Multiple Users: a JSON array of ≤ 500 rows, per-row results in input order, the
//! outer `responseStatus` SUCCESS even when rows fail; `security_profile__v` is refused.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::State;
use super::super::SimulatorConfig;
use super::users::{apply_user_fields, normalize, EDITABLE_FIELDS};

const MAX_BULK_ROWS: usize = 500;

pub(super) fn update_users(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
) -> Reply {
    let rows = match bulk_rows(request) {
        Ok(rows) => rows,
        Err(reply) => return reply,
    };
    let counts = id_counts(&rows);
    let results: Vec<Value> = rows
        .into_iter()
        .map(|row| bulk_row(state, config, row, &counts))
        .collect();
    Reply::vault_success(json!({ "data": results }))
}

fn bulk_rows(request: &ApiRequest) -> Result<Vec<Value>, Reply> {
    if !request.media_type_is("application/json") {
        return Err(Reply::vault_failure(
            "INVALID_DATA",
            format!(
                "Content-Type [{}] is not supported by the simulator; send application/json",
                request.content_type().unwrap_or("")
            ),
        ));
    }
    let rows = match request.json() {
        Ok(Value::Array(rows)) => rows,
        _ => {
            return Err(Reply::vault_failure(
                "INVALID_DATA",
                "Request body must be a JSON array of users",
            ))
        }
    };
    if rows.len() > MAX_BULK_ROWS {
        return Err(Reply::vault_failure(
            "INVALID_DATA",
            format!(
                "The maximum batch size is {MAX_BULK_ROWS}; got {}",
                rows.len()
            ),
        ));
    }
    Ok(rows)
}

fn row_id(row: &Value) -> Option<u64> {
    match row.get("id")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn id_counts(rows: &[Value]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for id in rows.iter().filter_map(row_id) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn bulk_row(
    state: &mut State,
    config: &SimulatorConfig,
    row: Value,
    counts: &HashMap<u64, usize>,
) -> Value {
    let id_text = row.get("id").map(value_text).unwrap_or_default();
    match bulk_row_update(state, config, row, counts) {
        Ok(()) => json!({ "responseStatus": "SUCCESS", "id": id_text }),
        Err((error_type, message)) => json!({
            "responseStatus": "FAILURE",
            "id": id_text,
            "errors": [{ "type": error_type, "message": message }],
        }),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type RowError = (&'static str, String);

fn bulk_row_update(
    state: &mut State,
    config: &SimulatorConfig,
    row: Value,
    counts: &HashMap<u64, usize>,
) -> Result<(), RowError> {
    let id = row_id(&row).ok_or(("PARAMETER_REQUIRED", "Missing or invalid [id]".to_owned()))?;
    if counts.get(&id).copied().unwrap_or(0) > 1 {
        return Err(("INVALID_DATA", format!("Duplicate id [{id}] in batch")));
    }
    let Value::Object(fields) = row else {
        return Err(("INVALID_DATA", "Row must be a JSON object".to_owned()));
    };
    let fields = bulk_fields(fields)?;
    let user = state
        .vault_users
        .get_mut(&id)
        .ok_or(("INVALID_DATA", format!("Invalid user id [{id}]")))?;
    apply_user_fields(user, fields, config.vault_id);
    Ok(())
}

fn bulk_fields(row: Map<String, Value>) -> Result<Vec<(String, Value)>, RowError> {
    let mut fields = Vec::new();
    for (name, value) in row.into_iter().filter(|(k, _)| k != "id") {
        if name.starts_with("security_profile") || !EDITABLE_FIELDS.contains(&name.as_str()) {
            return Err((
                "ATTRIBUTE_NOT_SUPPORTED",
                format!("Attribute [{name}] is not supported by this endpoint"),
            ));
        }
        let value = normalize(&name, value).map_err(|m| ("INVALID_DATA", m))?;
        fields.push((name, value));
    }
    Ok(fields)
}
