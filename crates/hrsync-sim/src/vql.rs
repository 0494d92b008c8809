//! `POST /api/{v}/query` (VQL, form field `q`), for the one shape hrsync uses to find an
//! account before it creates one: `SELECT id FROM <object> WHERE <field> = '<literal>'`.
//! A simulator subset of VQL: keywords in any case, one equality, `\'` and `\\` as the
//! only escapes in the literal.
//!
//! Objects and fields: `users` (the legacy Vault users) by `user_name__v` or
//! `user_email__v` (case-insensitive, as Vault compares user names and e-mails) or
//! `federated_id__v` (exact); `person__sys` (the SiteVault persons) by `email__sys`
//! (case-insensitive) or `federated_id__sys` (exact). A `person__sys` query is SiteVault's
//! business, so the dispatcher logs and counts it as `sitevault` ([`is_person_query`]).
//!
//! The answer has Vault's query shape with one page of everything that matched:
//! `responseDetails {pagesize: 1000, pageoffset: 0, size, total}` and `data [{id}]`, the
//! user ids as numbers (as before), the person ids as strings (`V0B…`).

use axum::http::Method;
use serde_json::{json, Value};

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::{Record, State};

/// VQL's default page size (the simulator never pages: nothing it holds is that big).
const PAGE_SIZE: usize = 1000;

/// What a query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Users,
    Persons,
}

/// A parsed query: the object, the stored key the field maps to, how it compares, the value.
#[derive(Debug)]
struct Query {
    object: Object,
    key: &'static str,
    case_insensitive: bool,
    value: String,
}

/// True for `POST /api/{v}/query` whose `q` selects from `person__sys`.
pub(crate) fn is_person_query(request: &ApiRequest) -> bool {
    request.method == Method::POST
        && request.segments.len() == 2
        && request.segment(1) == "query"
        && query_text(request).is_some_and(|q| queried_object(&q) == Some("person__sys"))
}

/// Answers a query (session already checked by the caller).
pub(crate) fn query(state: &State, request: &ApiRequest) -> Reply {
    let Ok(pairs) = request.form_pairs() else {
        return Reply::vault_failure("MALFORMED_URL", "the query must be form-encoded as q=…");
    };
    let Some((_, q)) = pairs.iter().find(|(k, _)| k == "q") else {
        return Reply::vault_failure("PARAMETER_REQUIRED", "Missing required parameter [q]");
    };
    match parse(q) {
        Ok(query) => answer(state, &query),
        Err(why) => Reply::vault_failure("INVALID_DATA", format!("unsupported query: {q} ({why})")),
    }
}

fn query_text(request: &ApiRequest) -> Option<String> {
    let pairs = request.form_pairs().ok()?;
    pairs.into_iter().find(|(k, _)| k == "q").map(|(_, q)| q)
}

/// The object after `SELECT id FROM`, if the query starts that way.
fn queried_object(q: &str) -> Option<&str> {
    let mut cursor = Cursor(q);
    cursor.keyword("SELECT").ok()?;
    cursor.word().filter(|w| *w == "id")?;
    cursor.keyword("FROM").ok()?;
    cursor.word()
}

fn parse(q: &str) -> Result<Query, String> {
    let mut cursor = Cursor(q);
    cursor.keyword("SELECT")?;
    if cursor.word() != Some("id") {
        return Err("only `SELECT id` is supported".into());
    }
    cursor.keyword("FROM")?;
    let object = match cursor.word() {
        Some("users") => Object::Users,
        Some("person__sys") => Object::Persons,
        other => return Err(format!("no queryable object {other:?}")),
    };
    cursor.keyword("WHERE")?;
    let field = cursor.word().ok_or("expected a field after WHERE")?;
    let (key, case_insensitive) = field_key(object, field)?;
    cursor.symbol('=')?;
    let value = cursor.literal()?;
    cursor.end()?;
    Ok(Query {
        object,
        key,
        case_insensitive,
        value,
    })
}

/// The stored key of `field` and whether it compares case-insensitively.
fn field_key(object: Object, field: &str) -> Result<(&'static str, bool), String> {
    Ok(match (object, field) {
        (Object::Users, "user_name__v") => ("user_name__v", true),
        (Object::Users, "user_email__v") => ("user_email__v", true),
        (Object::Users, "federated_id__v") => ("federated_id__v", false),
        (Object::Persons, "email__sys") => ("email", true),
        (Object::Persons, "federated_id__sys") => ("federated_id", false),
        _ => return Err(format!("field {field} is not supported in WHERE")),
    })
}

fn answer(state: &State, query: &Query) -> Reply {
    let ids: Vec<Value> = match query.object {
        Object::Users => state
            .vault_users
            .iter()
            .filter(|(_, user)| matches(user, query))
            .map(|(id, _)| json!(id))
            .collect(),
        Object::Persons => state
            .sitevault_persons
            .iter()
            .filter(|(_, person)| matches(person, query))
            .map(|(id, _)| json!(id))
            .collect(),
    };
    let data: Vec<Value> = ids.into_iter().map(|id| json!({ "id": id })).collect();
    Reply::vault_success(json!({
        "responseDetails": {
            "pagesize": PAGE_SIZE, "pageoffset": 0, "size": data.len(), "total": data.len(),
        },
        "data": data,
    }))
}

fn matches(record: &Record, query: &Query) -> bool {
    let Some(stored) = record.get(query.key).and_then(Value::as_str) else {
        return false;
    };
    if query.case_insensitive {
        stored.to_lowercase() == query.value.to_lowercase()
    } else {
        stored == query.value
    }
}

/// A left-to-right reader of the query text.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    /// The next identifier (letters, digits, `_`), after whitespace.
    fn word(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        self.0 = tail;
        (!word.is_empty()).then_some(word)
    }

    /// A keyword, in any case.
    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        match self.word() {
            Some(word) if word.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(format!("expected {keyword}, found {other:?}")),
        }
    }

    fn symbol(&mut self, symbol: char) -> Result<(), String> {
        let rest = self.0.trim_start();
        self.0 = rest
            .strip_prefix(symbol)
            .ok_or_else(|| format!("expected `{symbol}`"))?;
        Ok(())
    }

    /// A single-quoted string; `\'` is a quote and `\\` a backslash.
    fn literal(&mut self) -> Result<String, String> {
        self.symbol('\'')?;
        let mut value = String::new();
        let mut chars = self.0.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.0 = &self.0[i + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\'))) => value.push(escaped),
                    other => return Err(format!("unsupported escape \\{:?}", other.map(|o| o.1))),
                },
                c => value.push(c),
            }
        }
        Err("unterminated string literal".into())
    }

    fn end(&self) -> Result<(), String> {
        match self.0.trim() {
            "" => Ok(()),
            rest => Err(format!("unexpected {rest:?} after the condition")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_keywords_in_any_case() {
        let q = parse(r"select id from users where user_name__v = 'o\'brien\\x@a.b'").unwrap();
        assert_eq!(q.object, Object::Users);
        assert_eq!(q.key, "user_name__v");
        assert_eq!(q.value, r"o'brien\x@a.b");
        let q = parse("SELECT id FROM person__sys WHERE federated_id__sys='F-1'").unwrap();
        assert_eq!(
            (q.object, q.key, q.case_insensitive),
            (Object::Persons, "federated_id", false)
        );
    }

    #[test]
    fn refuses_what_it_does_not_simulate() {
        for q in [
            "SELECT id, user_name__v FROM users WHERE user_name__v = 'a'",
            "SELECT id FROM users WHERE alias__v = 'a'",
            "SELECT id FROM users WHERE user_name__v = 'a' AND user_email__v = 'b'",
            "SELECT id FROM users WHERE user_name__v = 'a",
            r"SELECT id FROM users WHERE user_name__v = 'a\n'",
            "SELECT id FROM documents WHERE name__v = 'a'",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        assert_eq!(
            queried_object("SELECT id FROM person__sys WHERE x"),
            Some("person__sys")
        );
    }
}
