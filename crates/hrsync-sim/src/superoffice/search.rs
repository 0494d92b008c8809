//! The user search and listing: `GET /api/v1/User?$select=…&$filter=…&$orderby=…&$top=…
//! &$skip=…` over the AllUsers archive (v1User_GetAll), answered
//! `{"odata.metadata", "odata.nextLink"?, "value": [rows]}`.
//!
//! Columns `associateDbId`, `userName`, `personEmail`, `personId`, `isActive` (false once
//! the associate is deleted or its person retired, as MakeRetired leaves it); names match
//! case-insensitively and rows use the archive's spelling, with exactly the selected
//! columns (all five without `$select`). `$filter`: `eq` terms joined by `and`, strings
//! compared ignoring case. `$orderby`: `column [asc|desc]`, comma-separated; rows are in
//! `associateDbId` order otherwise and among equals. `$top` defaults to 200; more than 1000
//! is a 400 (a simulator bound; the docs give none). `$skip` defaults to 0. Query
//! parameter names ignore case (`$orderBy` as the docs spell it).
//!
//! `odata.nextLink` is present only while rows remain: the request's own path and query
//! with `$skip` advanced by `$top`, a relative reference the client resolves against its
//! base URL. Unknown columns and malformed values are 400s in SuperOffice's error body.

use std::cmp::Ordering;

use axum::http::{header, StatusCode};
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::bad_request;

/// The AllUsers columns the simulator answers, as the archive spells them.
const COLUMNS: [&str; 5] = [
    "associateDbId",
    "userName",
    "personEmail",
    "personId",
    "isActive",
];
const DEFAULT_TOP: usize = 200;
const MAX_TOP: usize = 1000;

/// The archive's spelling of `column`, matched ignoring case.
fn canonical(column: &str) -> Result<&'static str, Reply> {
    let column = column.trim();
    COLUMNS
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(column))
        .ok_or_else(|| bad_request(format!("unknown column {column:?} in the AllUsers archive")))
}

/// One archive column of user `id`.
fn column_value(id: i64, user: &Record, column: &str) -> Value {
    let person_field = |name: &str| {
        user.get("Person")
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    match column {
        "associateDbId" => json!(id),
        "userName" => user.get("UserName").cloned().unwrap_or(Value::Null),
        "personEmail" => person_field("Email"),
        "personId" => person_field("PersonId"),
        "isActive" => json!(is_active(user)),
        _ => Value::Null,
    }
}

/// Neither the associate deleted nor its person retired (`Person.Retired` 1).
fn is_active(user: &Record) -> bool {
    let truthy = |v: Option<&Value>| match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => false,
    };
    let person_retired = user.get("Person").and_then(|p| p.get("Retired"));
    !(truthy(user.get("Deleted")) || truthy(user.get("IsPersonRetired")) || truthy(person_retired))
}

/// A parsed search: what to select, keep, sort by, and which slice.
struct Search {
    select: Vec<&'static str>,
    terms: Vec<(&'static str, Value)>,
    /// Columns to sort by, `true` for descending.
    order: Vec<(&'static str, bool)>,
    top: usize,
    skip: usize,
}

/// The request's query parameters, decoded, in order.
fn params(request: &ApiRequest) -> Vec<(String, String)> {
    request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Search {
    fn from_params(params: &[(String, String)]) -> Result<Self, Reply> {
        let select = match param(params, "$select") {
            Some(list) => list.split(',').map(canonical).collect::<Result<_, _>>()?,
            None => COLUMNS.to_vec(),
        };
        let terms = match param(params, "$filter") {
            Some(filter) => parse_filter(filter)
                .map_err(|why| bad_request(format!("$filter: {why}")))?
                .into_iter()
                .map(|(column, value)| Ok((canonical(&column)?, value)))
                .collect::<Result<_, Reply>>()?,
            None => Vec::new(),
        };
        let order = match param(params, "$orderby") {
            Some(list) => parse_order(list)?,
            None => Vec::new(),
        };
        let top = count(params, "$top", DEFAULT_TOP)?;
        if top > MAX_TOP {
            return Err(bad_request(format!(
                "$top: at most {MAX_TOP} rows per request, got {top}"
            )));
        }
        let skip = count(params, "$skip", 0)?;
        Ok(Self {
            select,
            terms,
            order,
            top,
            skip,
        })
    }

    fn matches(&self, id: i64, user: &Record) -> bool {
        self.terms.iter().all(
            |(column, wanted)| match (&column_value(id, user, column), wanted) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            },
        )
    }

    /// Sorts rows (already in id order) by the `$orderby` columns; ties keep id order.
    fn sort(&self, rows: &mut [(i64, &Record)]) {
        rows.sort_by(|(a_id, a), (b_id, b)| {
            self.order
                .iter()
                .map(|(column, descending)| {
                    let order = compare(
                        &column_value(*a_id, a, column),
                        &column_value(*b_id, b, column),
                    );
                    if *descending {
                        order.reverse()
                    } else {
                        order
                    }
                })
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }

    fn row(&self, id: i64, user: &Record) -> Value {
        let row: Map<String, Value> = self
            .select
            .iter()
            .map(|c| ((*c).to_owned(), column_value(id, user, c)))
            .collect();
        Value::Object(row)
    }
}

/// A non-negative whole-number parameter, `default` when absent.
fn count(params: &[(String, String)], name: &str, default: usize) -> Result<usize, Reply> {
    match param(params, name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| bad_request(format!("{name}: not a non-negative number: {raw:?}"))),
    }
}

/// `column [asc|desc]`, comma-separated.
fn parse_order(list: &str) -> Result<Vec<(&'static str, bool)>, Reply> {
    list.split(',')
        .map(|item| {
            let mut words = item.split_whitespace();
            let column = canonical(words.next().unwrap_or(""))?;
            let descending = match words.next() {
                None => false,
                Some(dir) if dir.eq_ignore_ascii_case("asc") => false,
                Some(dir) if dir.eq_ignore_ascii_case("desc") => true,
                Some(other) => {
                    return Err(bad_request(format!("$orderby: bad direction {other:?}")))
                }
            };
            match words.next() {
                None => Ok((column, descending)),
                Some(extra) => Err(bad_request(format!("$orderby: unexpected {extra:?}"))),
            }
        })
        .collect()
}

/// Archive order: strings ignoring case, numbers by value; `null` first.
fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        _ => 4,
    };
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `column eq 'text'` / `column eq 123` / `column eq true`, joined by ` and `.
fn parse_filter(filter: &str) -> Result<Vec<(String, Value)>, String> {
    let mut terms = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (column, after) = rest
            .split_once(" eq ")
            .ok_or_else(|| format!("expected `column eq value` in {rest:?}"))?;
        let (value, tail) = filter_value(after.trim_start())?;
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

/// The literal at the start of `text` and what follows it.
fn filter_value(text: &str) -> Result<(Value, &str), String> {
    if let Some(quoted) = text.strip_prefix('\'') {
        // An OData string literal: '' is one quote.
        let mut value = String::new();
        let mut chars = quoted.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' if chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                    value.push('\'');
                    chars.next();
                }
                '\'' => return Ok((Value::String(value), &quoted[i + 1..])),
                c => value.push(c),
            }
        }
        return Err("unterminated string literal".into());
    }
    let (word, tail) = text.split_once(' ').unwrap_or((text, ""));
    let value = match word {
        "true" => json!(true),
        "false" => json!(false),
        number => json!(number
            .parse::<i64>()
            .map_err(|_| format!("not a literal: {number:?}"))?),
    };
    Ok((value, tail))
}

pub(super) fn search_users(state: &State, request: &ApiRequest) -> Reply {
    let params = params(request);
    let search = match Search::from_params(&params) {
        Ok(search) => search,
        Err(reply) => return reply,
    };
    let mut rows: Vec<(i64, &Record)> = state
        .superoffice_users
        .iter()
        .filter(|(id, user)| search.matches(**id, user))
        .map(|(id, user)| (*id, user))
        .collect();
    search.sort(&mut rows);
    let value: Vec<Value> = rows
        .iter()
        .skip(search.skip)
        .take(search.top)
        .map(|(id, user)| search.row(*id, user))
        .collect();
    let host = request.header(header::HOST).unwrap_or("localhost");
    let mut body = Map::new();
    body.insert(
        "odata.metadata".into(),
        json!(format!("http://{host}/api/v1/archive$metadata")),
    );
    let next = search.skip.saturating_add(search.top);
    if search.top > 0 && next < rows.len() {
        body.insert(
            "odata.nextLink".into(),
            json!(next_link(request, &params, next)),
        );
    }
    body.insert("value".into(), Value::Array(value));
    Reply::json(StatusCode::OK, Value::Object(body))
}

/// The request's path and query with `$skip` set to `skip` (added last if it was absent).
fn next_link(request: &ApiRequest, params: &[(String, String)], skip: usize) -> String {
    let mut pairs: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| {
            let value = if k.eq_ignore_ascii_case("$skip") {
                skip.to_string()
            } else {
                v.clone()
            };
            (k.as_str(), value)
        })
        .collect();
    if param(params, "$skip").is_none() {
        pairs.push(("$skip", skip.to_string()));
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{}?{}", request.path, query.join("&"))
}

/// Percent-encodes what a query component cannot carry as is (spaces as `%20`), keeping
/// the characters OData parameters are written with (`$`, `,`, `'`, `(`, `)`, `:`, `/`).
fn encode(text: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~$,'()*:@/".contains(&b);
    text.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_a_query_component_cannot_carry() {
        assert_eq!(
            encode("userName eq 'a+b&c=d#é'"),
            "userName%20eq%20'a%2Bb%26c%3Dd%23%C3%A9'"
        );
        assert_eq!(encode("$select"), "$select");
    }

    #[test]
    fn parses_filters_and_orders() {
        let terms = parse_filter("userName eq 'O''Neil' and isActive eq true").unwrap();
        assert_eq!(
            terms,
            [
                ("userName".to_owned(), json!("O'Neil")),
                ("isActive".to_owned(), json!(true))
            ]
        );
        assert!(parse_filter("userName eq 'x").is_err());
        assert_eq!(
            parse_order("USERNAME desc, associateDbId").ok(),
            Some(vec![("userName", true), ("associateDbId", false)])
        );
        assert!(parse_order("userName sideways").is_err());
        assert!(parse_order("shoeSize").is_err());
    }
}
