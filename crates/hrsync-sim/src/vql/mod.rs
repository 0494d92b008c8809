//! `POST /api/{v}/query` (VQL, form field `q`): the lookups hrsync makes before it creates
//! an account (`SELECT id FROM <object> WHERE <field> = '<literal>'`) and the paginated
//! listings reconciliation reads every account with
//! (`SELECT id, … FROM <object> PAGESIZE n [PAGEOFFSET m]`), in the subset `parse`
//! describes; `POST /api/{v}/query/{token}` follows a `next_page` / `previous_page` link.
//!
//! Objects (`fields`): `users`, the legacy Vault users — lookups by `user_name__v` or
//! `user_email__v` (case-insensitive, as Vault compares user names and e-mails) or
//! `federated_id__v` (exact); `person__sys`, the SiteVault persons — by `email__sys`
//! (case-insensitive) or `federated_id__sys` (exact). A `person__sys` query is SiteVault's
//! business, so the dispatcher logs, counts and faults it as `sitevault`
//! ([`is_person_query`]); so is every link follow-up, since only `person__sys` pages carry
//! links.
//!
//! The answer has Vault's query shape: `responseDetails {pagesize, pageoffset, size, total}`
//! and `data`, rows of exactly the selected fields in id order (user ids as numbers,
//! person ids as strings `V0B…`). `PAGESIZE` defaults to 1000 and is capped there ("Default
//! page size is 1000"); `PAGESIZE 0` answers only the count. From v23.1 a `PAGEOFFSET` of
//! 10,000 or more is refused (`page`). `person__sys` pages add `next_page` while rows
//! remain and `previous_page` after the first; `users` pages never do (`page`), as the
//! documents warn. Every error is a FAILURE body: `INVALID_DATA` for a query the subset
//! does not take or a token it did not issue.

mod fields;
mod page;
mod parse;

use axum::http::Method;

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::State;
use fields::Object;
use parse::{parse, queried_object};

/// True for `POST /api/{v}/query` whose `q` selects from `person__sys`, and for every
/// `POST /api/{v}/query/{token}` (only `person__sys` answers carry links).
pub(crate) fn is_person_query(request: &ApiRequest) -> bool {
    if request.method != Method::POST || request.segment(1) != "query" {
        return false;
    }
    match request.segments.len() {
        2 => query_text(request).is_some_and(|q| queried_object(&q) == Some("person__sys")),
        3 => true,
        _ => false,
    }
}

/// Answers `POST /api/{v}/query` (session already checked by the caller).
pub(crate) fn query(state: &State, request: &ApiRequest) -> Reply {
    let Ok(pairs) = request.form_pairs() else {
        return Reply::vault_failure("MALFORMED_URL", "the query must be form-encoded as q=…");
    };
    let Some((_, q)) = pairs.iter().find(|(k, _)| k == "q") else {
        return Reply::vault_failure("PARAMETER_REQUIRED", "Missing required parameter [q]");
    };
    let query = match parse(q) {
        Ok(query) => query,
        Err(why) => return unsupported(q, &why),
    };
    let version = request.segment(0);
    let offset = query.page_offset.unwrap_or(0);
    if offset >= page::MANUAL_OFFSET_LIMIT && page::limits_manual_paging(version) {
        return Reply::vault_failure(
            "INVALID_DATA",
            "Manually paginating more than 10,000 records is not supported",
        );
    }
    page::answer(state, version, q, &query, offset)
}

/// Answers `POST /api/{v}/query/{token}`: the page a `next_page` / `previous_page` named.
pub(crate) fn follow(state: &State, request: &ApiRequest, token: &str) -> Reply {
    let page = page::decode(token).and_then(|(offset, q)| {
        let query = parse(&q).ok().filter(|q| q.object == Object::Persons)?;
        Some((offset, q, query))
    });
    match page {
        Some((offset, q, query)) => page::answer(state, request.segment(0), &q, &query, offset),
        None => Reply::vault_failure(
            "INVALID_DATA",
            format!("Invalid query page [{token}]: not a next_page or previous_page of this Vault"),
        ),
    }
}

fn query_text(request: &ApiRequest) -> Option<String> {
    let pairs = request.form_pairs().ok()?;
    pairs.into_iter().find(|(k, _)| k == "q").map(|(_, q)| q)
}

fn unsupported(q: &str, why: &str) -> Reply {
    Reply::vault_failure("INVALID_DATA", format!("unsupported query: {q} ({why})"))
}
