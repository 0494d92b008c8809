//! One page of a query's answer, and the `next_page` / `previous_page` links of
//! `person__sys` pages.
//!
//! A link is `/api/{v}/query/{token}`; the token is opaque to clients and is the hex of
//! `"{offset}:{q}"`, so following it re-runs the same query text at the page's offset
//! (live data, no server-side cursor to expire or leak). The `users` target gets no links:
//! "When querying … users, the response does not include the `next_page` or
//! `previous_page` URL … use `PAGEOFFSET`" (provisioning-facts.md §1d).

use serde_json::{json, Map};

use super::super::reply::Reply;
use super::super::state::State;
use super::fields::{self, Object};
use super::parse::Query;

/// Answers page `offset` of `query` (whose text is `q`), linking neighbours as `version`.
pub(super) fn answer(state: &State, version: &str, q: &str, query: &Query, offset: usize) -> Reply {
    let matching = query
        .object
        .records(state)
        .filter(|(_, record)| query.filter.as_ref().is_none_or(|f| f.matches(record)));
    let mut total = 0;
    let mut data = Vec::new();
    for (i, (id, record)) in matching.enumerate() {
        total += 1;
        if i >= offset && data.len() < query.page_size {
            data.push(fields::row(&query.columns, &id, record));
        }
    }
    let mut details = Map::new();
    details.insert("pagesize".into(), json!(query.page_size));
    details.insert("pageoffset".into(), json!(offset));
    details.insert("size".into(), json!(data.len()));
    details.insert("total".into(), json!(total));
    if query.object == Object::Persons && query.page_size > 0 {
        let link = |offset: usize| json!(format!("/api/{version}/query/{}", encode(offset, q)));
        if offset + query.page_size < total {
            details.insert("next_page".into(), link(offset + query.page_size));
        }
        if offset > 0 {
            details.insert(
                "previous_page".into(),
                link(offset.saturating_sub(query.page_size)),
            );
        }
    }
    Reply::vault_success(json!({ "responseDetails": details, "data": data }))
}

/// The token of the page at `offset` of query `q`.
fn encode(offset: usize, q: &str) -> String {
    format!("{offset}:{q}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The offset and query text of a token, if it is one this simulator issued.
pub(super) fn decode(token: &str) -> Option<(usize, String)> {
    if token.len() % 2 != 0 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (offset, q) = text.split_once(':')?;
    Some((offset.parse().ok()?, q.to_owned()))
}

/// The first `PAGEOFFSET` refused from v23.1 on: "In v23.1+ … Manually paginating more
/// than 10,000 records returns an error response."
pub(super) const MANUAL_OFFSET_LIMIT: usize = 10_000;

/// Whether API version `v` (`v24.1`) has the manual-pagination limit; an unreadable
/// version is taken as a current one.
pub(super) fn limits_manual_paging(version: &str) -> bool {
    let numbers = version.strip_prefix('v').and_then(|v| {
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
    });
    numbers.is_none_or(|version| version >= (23, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_what_was_not_issued() {
        let q = "SELECT id FROM person__sys WHERE email__sys = 'ä@b.c' PAGESIZE 2";
        let token = encode(1500, q);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode(&token), Some((1500, q.to_owned())));
        for bad in ["", "zz", "abc", "6869", &encode(0, "")[2..]] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_manual_limit_starts_at_v23_1() {
        assert!(limits_manual_paging("v23.1"));
        assert!(limits_manual_paging("v24.1"));
        assert!(limits_manual_paging("v100"));
        assert!(limits_manual_paging("latest"));
        assert!(!limits_manual_paging("v22.3"));
        assert!(!limits_manual_paging("v23.0"));
    }
}
