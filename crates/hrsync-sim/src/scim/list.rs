//! `GET /Users?filter=…&startIndex=…&count=…` (RFC 7644 §3.4.2): `attrPath eq value`
//! terms joined by `and`, string values compared as RFC 7643 declares the attribute.
//!
//! Paging (§3.4.2.4): users in id order; `startIndex` is 1-based, default 1, and "a value
//! less than 1 SHALL be interpreted as 1"; `count` defaults to 100, "a negative value
//! SHALL be interpreted as 0" (only `totalResults`), and more than [`MAX_COUNT`] is
//! clamped to it (the provider's maximum the RFC allows). The ListResponse carries
//! `totalResults` (all matches), `itemsPerPage` (this page's size), `startIndex` (as
//! interpreted) and `Resources`. A value that is no integer is a 400 `invalidValue`.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::api::ApiRequest;
use super::super::reply::Reply;
use super::super::state::{Record, State};
use super::{error, parse_path, resource, scim, AttrPath, LIST_SCHEMA};

/// Attributes RFC 7643 §4.1 declares `caseExact: true` (every other one ignores case).
const CASE_EXACT: [&str; 1] = ["externalId"];
/// Page size without `count`, and the largest one answered.
const DEFAULT_COUNT: i64 = 100;
const MAX_COUNT: i64 = 1000;

pub(super) fn list(state: &State, request: &ApiRequest) -> Reply {
    let params: Vec<(String, String)> = request
        .query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let terms = match param(&params, "filter").map(parse_filter).transpose() {
        Ok(terms) => terms.unwrap_or_default(),
        Err(why) => return error(StatusCode::BAD_REQUEST, Some("invalidFilter"), why),
    };
    let (start, count) = match page_bounds(&params) {
        Ok(bounds) => bounds,
        Err(reply) => return reply,
    };
    let matching: Vec<&Record> = state
        .scim_users
        .values()
        .filter(|user| {
            terms
                .iter()
                .all(|(path, wanted)| matches(user, path, wanted))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|user| resource(user, request))
        .collect();
    scim(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": matching.len(), "startIndex": start,
               "itemsPerPage": page.len(), "Resources": page}),
    )
}

/// A query parameter; names ignore case.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `startIndex` (at least 1) and `count` (0 ..= [`MAX_COUNT`]) as §3.4.2.4 interprets them.
fn page_bounds(params: &[(String, String)]) -> Result<(usize, usize), Reply> {
    let number = |name: &str, default: i64| match param(params, name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                format!("{name} must be an integer, got {raw:?}"),
            )
        }),
    };
    let start = number("startIndex", 1)?.max(1);
    let count = number("count", DEFAULT_COUNT)?.clamp(0, MAX_COUNT);
    Ok((
        usize::try_from(start).unwrap_or(usize::MAX),
        usize::try_from(count).unwrap_or(0),
    ))
}

/// Whether `user` has `wanted` at `path` (a multi-valued attribute matches if any value does).
fn matches(user: &Record, path: &AttrPath, wanted: &Value) -> bool {
    let (attr, sub) = *path;
    let case_exact = CASE_EXACT.contains(&attr);
    let equal = |got: &Value| match (got, wanted) {
        (Value::String(a), Value::String(b)) if !case_exact => a.to_lowercase() == b.to_lowercase(),
        (a, b) => a == b,
    };
    match (user.get(attr), sub) {
        (Some(Value::Array(values)), Some(sub)) => {
            values.iter().any(|v| v.get(sub).is_some_and(equal))
        }
        (Some(Value::Array(values)), None) => {
            values.iter().any(|v| v.get("value").is_some_and(equal))
        }
        (Some(value), Some(sub)) => value.get(sub).is_some_and(equal),
        (Some(value), None) => equal(value),
        (None, _) => false,
    }
}

/// `path eq "text"` / `path eq true|false|null|123`, joined by ` and ` (RFC 7644 §3.4.2.2).
fn parse_filter(filter: &str) -> Result<Vec<(AttrPath, Value)>, String> {
    let mut terms = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (path, after) = rest
            .split_once(' ')
            .ok_or_else(|| format!("expected `attrPath eq value` in {rest:?}"))?;
        let after = after.trim_start();
        let (op, after) = after.split_once(' ').unwrap_or((after, ""));
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!("only the eq operator is supported, got {op:?}"));
        }
        let after = after.trim_start();
        let (value, tail) = if after.starts_with('"') {
            // A JSON string literal: read it with a JSON parser, up to its closing quote.
            let mut stream = serde_json::Deserializer::from_str(after).into_iter::<Value>();
            let value = stream
                .next()
                .ok_or("missing value")?
                .map_err(|e| format!("bad string literal: {e}"))?;
            (value, &after[stream.byte_offset()..])
        } else {
            let (word, tail) = after.split_once(' ').unwrap_or((after, ""));
            let value: Value =
                serde_json::from_str(word).map_err(|_| format!("not a literal: {word:?}"))?;
            (value, tail)
        };
        terms.push((parse_path(path)?, value));
        let tail = tail.trim_start();
        rest = match tail.get(..4) {
            Some(and) if and.eq_ignore_ascii_case("and ") => tail[4..].trim_start(),
            _ if tail.is_empty() => "",
            _ => return Err(format!("expected `and` before {tail:?}")),
        };
    }
    Ok(terms)
}
