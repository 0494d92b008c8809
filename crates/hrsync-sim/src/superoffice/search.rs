//! The user search: `GET /api/v1/User?$select=…&$filter=…` over the AllUsers archive,
//! answered `{"odata.metadata", "odata.nextLink", "value": [rows]}` (one page: the
//! simulator holds too few users to page). String comparisons ignore case.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::bad_request;

/// One AllUsers archive column of `user`, or `None` if there is no such column.
fn archive_column(id: i64, user: &Record, column: &str) -> Option<Value> {
    let person = user.get("Person");
    let person_field = |name: &str| {
        person
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    Some(match column.to_ascii_lowercase().as_str() {
        "associatedbid" => json!(id),
        "username" => user.get("UserName").cloned().unwrap_or(Value::Null),
        "personemail" => person_field("Email"),
        "personid" => person_field("PersonId"),
        "isactive" => json!(user.get("Deleted") != Some(&Value::Bool(true))),
        _ => return None,
    })
}

/// `column eq 'text'` / `column eq 123` / `column eq true`, joined by ` and `.
fn parse_filter(filter: &str) -> Result<Vec<(String, Value)>, String> {
    let mut terms = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (column, after) = rest
            .split_once(" eq ")
            .ok_or_else(|| format!("expected `column eq value` in {rest:?}"))?;
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('\'') {
            // An OData string literal: '' is one quote.
            let mut text = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        text.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    text.push(c);
                }
            }
            let end = end.ok_or("unterminated string literal")?;
            (Value::String(text), &quoted[end..])
        } else {
            let (word, tail) = after.split_once(' ').unwrap_or((after, ""));
            let value = match word {
                "true" => json!(true),
                "false" => json!(false),
                number => json!(number
                    .parse::<i64>()
                    .map_err(|_| format!("not a literal: {number:?}"))?),
            };
            (value, tail)
        };
        terms.push((column.trim().to_string(), value));
        let tail = tail.trim_start();
        rest = match tail.strip_prefix("and ") {
            Some(next) => next.trim_start(),
            None if tail.is_empty() => "",
            None => return Err(format!("expected `and` before {tail:?}")),
        };
    }
    Ok(terms)
}

pub(super) fn search_users(state: &State, request: &ApiRequest) -> Reply {
    let params: Vec<(String, String)> = request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let terms = match param("$filter").map(parse_filter).transpose() {
        Ok(terms) => terms.unwrap_or_default(),
        Err(why) => return bad_request(format!("$filter: {why}")),
    };
    const ALL: [&str; 5] = [
        "associateDbId",
        "userName",
        "personEmail",
        "personId",
        "isActive",
    ];
    let select: Vec<String> = match param("$select") {
        Some(list) => list.split(',').map(|c| c.trim().to_string()).collect(),
        None => ALL.iter().map(|c| c.to_string()).collect(),
    };
    for column in terms.iter().map(|(c, _)| c).chain(&select) {
        if archive_column(0, &Record::new(), column).is_none() {
            return bad_request(format!("unknown column {column:?} in the AllUsers archive"));
        }
    }
    let matches = |id: i64, user: &Record| {
        terms.iter().all(|(column, wanted)| {
            let got = archive_column(id, user, column).unwrap_or(Value::Null);
            match (&got, wanted) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            }
        })
    };
    let rows: Vec<Value> = state
        .superoffice_users
        .iter()
        .filter(|(id, user)| matches(**id, user))
        .map(|(id, user)| {
            let row: Map<String, Value> = select
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        archive_column(*id, user, c).unwrap_or(Value::Null),
                    )
                })
                .collect();
            Value::Object(row)
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        json!({"odata.metadata": "<archive>", "odata.nextLink": null, "value": rows}),
    )
}
