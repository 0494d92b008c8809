//! A SCIM 2.0 service provider's `/Users` (RFC 7643 core User schema, RFC 7644 protocol),
//! under `/api/scim/v2`, with bearer tokens, `application/scim+json` and RFC 7644 §3.12
//! error bodies:
//! - `POST /Users` (`create`, RFC 7644 §3.3): 201 with the resource and `Location`; a
//!   taken `userName` is a 409 `uniqueness`.
//! - `GET /Users/{id}`, and `GET /Users?filter=…&startIndex=…&count=…` (`list`): filters
//!   of `attrPath eq value` terms joined by `and`, compared as RFC 7643 declares the
//!   attribute (`userName`, `emails.value` … `caseExact: false`; `externalId` exact); a
//!   ListResponse paged by `startIndex` (1-based) and `count` (default 100, at most 1000),
//!   in id order.
//! - `PATCH /Users/{id}` (`patch`) with a `PatchOp` (`add`, `replace`, `remove`; paths
//!   `attr` or `attr.subAttr`; an unknown attribute is `invalidPath`).
//!
//! Every resource carries `meta` (`resourceType`, an absolute `location`, and for created
//! users `created` / `lastModified`). Nothing else of SCIM is answered (a 405 with an
//! error body).

mod create;
mod list;
mod patch;

use axum::http::{header, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::{Record, State};
use super::SimulatorConfig;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Attributes of the core User schema the simulator keeps (RFC 7643 §4.1), with their
/// sub-attributes where complex.
const ATTRIBUTES: [(&str, &[&str]); 14] = [
    ("userName", &[]),
    ("externalId", &[]),
    (
        "name",
        &["formatted", "familyName", "givenName", "middleName"],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("emails", &["value", "type", "primary"]),
    ("phoneNumbers", &["value", "type", "primary"]),
    ("roles", &["value", "display", "type", "primary"]),
];

/// An RFC 7644 §3.12 error.
pub(crate) fn error(
    status: StatusCode,
    scim_type: Option<&str>,
    detail: impl Into<String>,
) -> Reply {
    let mut body = json!({"schemas": [ERROR_SCHEMA], "status": status.as_u16().to_string(),
                          "detail": detail.into()});
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    scim(status, body)
}

pub(super) fn scim(status: StatusCode, body: Value) -> Reply {
    Reply::json(status, body).with_header(header::CONTENT_TYPE, "application/scim+json")
}

/// Every request under `/api/scim/v2`.
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let authorized = request.header(header::AUTHORIZATION).is_some_and(|value| {
        config
            .scim_tokens
            .iter()
            .any(|t| value == format!("Bearer {t}"))
    });
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or invalid bearer token",
        );
    }
    let rest: Vec<&str> = request
        .segments
        .iter()
        .skip(2)
        .map(String::as_str)
        .collect();
    match (rest.as_slice(), &request.method) {
        (["Users"], &Method::GET) => list::list(state, request),
        (["Users"], &Method::POST) => create::create(state, request),
        (["Users", id], &Method::GET) => match state.scim_users.get(*id) {
            Some(user) => scim(StatusCode::OK, resource(user, request)),
            None => not_found(id),
        },
        (["Users", id], &Method::PATCH) => patch::patch(state, request, id),
        (["Users", ..], _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{} is not supported on {}", request.method, request.path),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no resource at {}", request.path),
        ),
    }
}

pub(super) fn not_found(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        None,
        format!("Resource {id} not found"),
    )
}

/// The absolute URI of user `id` (`meta.location`, the `Location` of a create).
fn location(request: &ApiRequest, id: &str) -> String {
    let host = request.header(header::HOST).unwrap_or("localhost");
    format!("http://{host}/api/scim/v2/Users/{id}")
}

/// The stored user with its `schemas` and `meta` (RFC 7643 §3.1): stored timestamps, if
/// any, plus `resourceType` and `location`.
fn resource(user: &Record, request: &ApiRequest) -> Value {
    let mut out = user.clone();
    out.insert("schemas".into(), json!([USER_SCHEMA]));
    let id = out
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut meta = match out.remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.insert("resourceType".into(), json!("User"));
    meta.insert("location".into(), json!(location(request, &id)));
    out.insert("meta".into(), Value::Object(meta));
    Value::Object(out)
}

/// Now as an RFC 3339 UTC timestamp (`meta.created`, `meta.lastModified`).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `name` → its entry of [`ATTRIBUTES`], case-insensitively (RFC 7643 §2.1).
pub(super) fn known(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    ATTRIBUTES
        .iter()
        .copied()
        .find(|(attr, _)| attr.eq_ignore_ascii_case(name))
}

/// An attribute and, for a complex one, a sub-attribute: canonical names.
pub(super) type AttrPath = (&'static str, Option<&'static str>);

/// `attr` or `attr.sub`, checked against the schema: the canonical names.
pub(super) fn parse_path(path: &str) -> Result<AttrPath, String> {
    let (attr, sub) = match path.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (path, None),
    };
    let (attr, subs) =
        known(attr).ok_or_else(|| format!("no attribute {attr:?} in the User schema"))?;
    let sub = match sub {
        None => None,
        Some(sub) => Some(
            subs.iter()
                .copied()
                .find(|s| s.eq_ignore_ascii_case(sub))
                .ok_or_else(|| format!("no sub-attribute {sub:?} of {attr}"))?,
        ),
    };
    Ok((attr, sub))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(19_723 * 86_400 + 3_723), "2024-01-01T01:02:03Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
