//! Unit tests of the event intake, one per rule of the contract (events.md), written to read
//! like usage: build a message, decode it, look at the event or at the field and rule that
//! rejected it.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::macros::datetime;

use super::*;

static NO_HEADERS: BTreeMap<String, Value> = BTreeMap::new();

/// Where the shipped targets' plugins say accounts are linked (`targets::registry`); the
/// event module itself knows no target.
const ACCOUNTS: &[AccountKey] = &[
    AccountKey {
        target: "vault",
        field: "user_id",
        shape: IdShape::Numeric,
    },
    AccountKey {
        target: "sitevault",
        field: "person_id",
        shape: IdShape::Text,
    },
    AccountKey {
        target: "superoffice",
        field: "associate_id",
        shape: IdShape::Numeric,
    },
];

/// The decoder with the shipped targets' account keys.
fn decode(
    body: &[u8],
    envelope: &Envelope<'_>,
    max_body_bytes: usize,
) -> Result<HrEvent, InvalidEvent> {
    super::decode(body, envelope, max_body_bytes, ACCOUNTS)
}

fn accounts(ids: &[(&str, &str)]) -> Accounts {
    Accounts(
        ids.iter()
            .map(|(t, id)| ((*t).to_string(), (*id).to_string()))
            .collect(),
    )
}

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// The contract's joiner example.
fn joiner() -> Value {
    json!({"specversion":"1.0","id":"5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01","source":"urn:hr:workday",
     "type":"hr.employee.joiner","subject":"E100234","time":"2026-11-22T09:15:00Z","sequence":1,
     "datacontenttype":"application/json",
     "data":{"employee_id":"E100234","effective_date":"2026-12-01",
      "person":{"first_name":"Ana","last_name":"Silva","email":"ana.silva@verteo.example",
       "username":"ana.silva@verteo.example","title":"Clinical Research Associate",
       "department":"Clinical Operations","company":"VeevaPharm","timezone":"Europe/Lisbon",
       "locale":"pt_PT","language":"en"},
      "roles":["cra"],"sites":["US-NC-0002"],
      "accounts":{"vault":{"user_id":25001},"sitevault":{"person_id":"V0B000000001001"},
       "superoffice":{"associate_id":981}}}})
}

/// A mover: the joiner's full record with a new title, manager and an extra site.
fn mover() -> Value {
    let mut event = joiner();
    event["type"] = json!("hr.employee.mover");
    event["id"] = json!("c3a1f0d2-6b9e-4f7a-8d21-0e4b5c6d7a02");
    event["sequence"] = json!(4);
    event["data"]["person"]["title"] = json!("Senior Clinical Research Associate");
    event["data"]["person"]["manager_id"] = json!("E100001");
    event["data"]["sites"] = json!(["US-NC-0002", "US-NC-0007"]);
    event
}

/// The contract's leaver example: ids only, no person.
fn leaver() -> Value {
    json!({"specversion":"1.0","id":"9d1e3b7a-8f44-4c1b-b1f0-7a5e0c2d9f33","source":"urn:hr:workday",
     "type":"hr.employee.leaver","subject":"E100234","time":"2027-03-31T17:00:00Z","sequence":9,
     "data":{"employee_id":"E100234","effective_date":"2027-03-31"}})
}

/// `event` with the value at JSON pointer `at` set to `value` (parents must exist).
fn with(mut event: Value, at: &str, value: Value) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    match event.pointer_mut(parent).expect("parent exists") {
        Value::Object(object) => {
            object.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
        other => panic!("cannot set {key} in {other}"),
    }
    event
}

/// `event` without the member at JSON pointer `at`.
fn without(mut event: Value, at: &str) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    event
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent object")
        .remove(key)
        .expect("member exists");
    event
}

fn structured(content_type: Option<&str>) -> Envelope<'_> {
    Envelope {
        content_type,
        headers: &NO_HEADERS,
    }
}

/// Decodes `event` sent in structured mode.
fn decode_event(event: &Value) -> Result<HrEvent, InvalidEvent> {
    let body = serde_json::to_vec(event).unwrap();
    decode(&body, &structured(Some(CLOUDEVENTS_JSON)), MAX_BODY_BYTES)
}

/// The error rejecting `event` (structured mode); panics if it is accepted.
fn rejection(event: Value) -> InvalidEvent {
    decode_event(&event).expect_err("the event should be rejected")
}

/// Asserts `event` is rejected on `field` with a rule containing `rule`.
#[track_caller]
fn assert_rejected(event: Value, field: &str, rule: &str) {
    let error = rejection(event);
    assert_eq!(error.field, field, "{error}");
    assert!(error.rule.contains(rule), "{error:?} should say {rule:?}");
}

// --- good events -----------------------------------------------------------------------

#[test]
fn the_contracts_joiner_decodes_into_a_typed_event() {
    let event = decode_event(&joiner()).unwrap();

    assert_eq!(event.id, "5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01");
    assert_eq!(event.source, "urn:hr:workday");
    assert_eq!(event.action, Action::Joiner);
    assert_eq!(event.event_type(), "hr.employee.joiner");
    assert_eq!(event.employee_id(), "E100234");
    assert_eq!(event.subject, "E100234");
    assert_eq!(event.time, datetime!(2026-11-22 09:15:00 UTC));
    assert_eq!(event.sequence, 1);
    assert_eq!(event.data, joiner()["data"]);
    assert_eq!(
        event.accounts,
        accounts(&[
            ("vault", "25001"),
            ("sitevault", "V0B000000001001"),
            ("superoffice", "981"),
        ])
    );
}

#[test]
fn a_mover_decodes() {
    let event = decode_event(&mover()).unwrap();
    assert_eq!(event.action, Action::Mover);
    assert_eq!(event.sequence, 4);
    assert_eq!(event.data["person"]["manager_id"], "E100001");
}

#[test]
fn a_leaver_needs_no_person_and_no_accounts() {
    let event = decode_event(&leaver()).unwrap();
    assert_eq!(event.action, Action::Leaver);
    assert_eq!(event.time, datetime!(2027-03-31 17:00:00 UTC));
    assert_eq!(event.sequence, 9);
    assert_eq!(event.accounts, Accounts::default());
}

#[test]
fn unknown_extra_fields_are_kept_for_the_mappings() {
    let event = with(joiner(), "/data/person/cost_center", json!("CC-42"));
    let event = with(
        event,
        "/data/contract",
        json!({"fte": 0.8, "type": "permanent"}),
    );
    let event = with(event, "/hrextension", json!("ignored but allowed"));

    let decoded = decode_event(&event).unwrap();

    assert_eq!(decoded.data["person"]["cost_center"], "CC-42");
    assert_eq!(decoded.data["contract"]["fte"], 0.8);
}

#[test]
fn structured_mode_is_recognised_by_content_type_with_parameters() {
    let body = serde_json::to_vec(&joiner()).unwrap();
    let envelope = structured(Some("Application/CloudEvents+JSON; charset=utf-8"));
    assert!(decode(&body, &envelope, MAX_BODY_BYTES).is_ok());
}

#[test]
fn structured_mode_is_recognised_by_specversion_in_a_plain_json_body() {
    let body = serde_json::to_vec(&joiner()).unwrap();
    for content_type in [None, Some("application/json")] {
        let event = decode(&body, &structured(content_type), MAX_BODY_BYTES).unwrap();
        assert_eq!(event.action, Action::Joiner, "{content_type:?}");
    }
}

#[test]
fn a_plain_json_body_without_specversion_is_not_an_event() {
    let body = serde_json::to_vec(&joiner()["data"]).unwrap();
    let error = decode(&body, &structured(Some("application/json")), MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.field, "specversion");
    assert!(error.rule.starts_with("required"), "{error}");
}

#[test]
fn other_content_types_are_refused() {
    let body = serde_json::to_vec(&joiner()).unwrap();
    let error = decode(&body, &structured(Some("text/plain")), MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.field, "content_type");
    assert!(error
        .rule
        .contains("unsupported content type \"text/plain\""));
}

// --- binary mode -----------------------------------------------------------------------

/// The joiner's attributes as AMQP headers named `{prefix}{attribute}`, sequence as a string.
fn binary_headers(prefix: &str) -> BTreeMap<String, Value> {
    let joiner = joiner();
    let mut headers = BTreeMap::new();
    for attribute in ["specversion", "id", "source", "type", "subject", "time"] {
        headers.insert(format!("{prefix}{attribute}"), joiner[attribute].clone());
    }
    headers.insert(format!("{prefix}sequence"), json!("3"));
    headers.insert("x-delivery-count".into(), json!(0));
    headers
}

#[test]
fn binary_mode_reads_attributes_from_cloudevents_headers_and_data_from_the_body() {
    let headers = binary_headers("cloudEvents:");
    let body = serde_json::to_vec(&joiner()["data"]).unwrap();
    let envelope = Envelope {
        content_type: Some("application/json"),
        headers: &headers,
    };

    let event = decode(&body, &envelope, MAX_BODY_BYTES).unwrap();

    assert_eq!(event.id, "5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01");
    assert_eq!(event.action, Action::Joiner);
    assert_eq!(event.employee_id(), "E100234");
    assert_eq!(event.sequence, 3);
    assert_eq!(event.data, joiner()["data"]);
    assert_eq!(event.accounts.get("vault"), Some("25001"));
}

#[test]
fn binary_mode_accepts_the_other_header_prefixes_and_integer_sequence() {
    for prefix in ["cloudEvents_", "ce-", "ce_", "CE-", "cloudevents:"] {
        let mut headers = binary_headers(prefix);
        headers.insert(format!("{prefix}sequence"), json!(5));
        let body = serde_json::to_vec(&joiner()["data"]).unwrap();
        let envelope = Envelope {
            content_type: None,
            headers: &headers,
        };
        let event = decode(&body, &envelope, MAX_BODY_BYTES)
            .unwrap_or_else(|e| panic!("prefix {prefix}: {e}"));
        assert_eq!(event.sequence, 5, "prefix {prefix}");
    }
}

#[test]
fn binary_mode_refuses_headers_that_disagree() {
    let mut headers = binary_headers("cloudEvents:");
    headers.insert("ce-id".into(), json!("another-id"));
    let body = serde_json::to_vec(&joiner()["data"]).unwrap();
    let envelope = Envelope {
        content_type: Some("application/json"),
        headers: &headers,
    };
    let error = decode(&body, &envelope, MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.field, "id");
    assert!(error.rule.contains("conflicting values"), "{error}");
}

#[test]
fn binary_mode_body_must_be_json() {
    let headers = binary_headers("cloudEvents:");
    let envelope = Envelope {
        content_type: Some("text/xml"),
        headers: &headers,
    };
    let error = decode(b"<person/>", &envelope, MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.field, "content_type");
    assert!(error.rule.contains("must be application/json"), "{error}");
}

#[test]
fn binary_mode_errors_carry_the_ids_from_the_headers() {
    let headers = binary_headers("cloudEvents:");
    let envelope = Envelope {
        content_type: Some("application/json"),
        headers: &headers,
    };
    let error = decode(b"{not json", &envelope, MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.field, "body");
    assert_eq!(
        error.event_id.as_deref(),
        Some("5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01")
    );
    assert_eq!(error.employee_id.as_deref(), Some("E100234"));
}

// --- the body --------------------------------------------------------------------------

#[test]
fn a_body_that_is_not_json_is_rejected() {
    let error = decode(
        b"hello",
        &structured(Some(CLOUDEVENTS_JSON)),
        MAX_BODY_BYTES,
    )
    .unwrap_err();
    assert_eq!(error.field, "body");
    assert!(error.rule.starts_with("not JSON ("), "{error}");
    assert_eq!((error.event_id, error.employee_id), (None, None));
}

#[test]
fn a_body_that_is_not_an_object_is_rejected() {
    let error = decode(b"[1,2]", &structured(None), MAX_BODY_BYTES).unwrap_err();
    assert_eq!(error.to_string(), "body: not a JSON object");
}

#[test]
fn a_body_that_is_not_utf8_is_rejected() {
    let error = decode(
        b"{\"id\":\"\xff\xfe\"}",
        &structured(Some(CLOUDEVENTS_JSON)),
        MAX_BODY_BYTES,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "body: not valid UTF-8");
}

#[test]
fn a_2_mib_body_is_rejected_before_parsing() {
    let mut event = joiner();
    event["data"]["padding"] = json!("x".repeat(2 * 1024 * 1024));
    let body = serde_json::to_vec(&event).unwrap();

    let error = decode(&body, &structured(Some(CLOUDEVENTS_JSON)), MAX_BODY_BYTES).unwrap_err();

    assert_eq!(error.field, "body");
    assert_eq!(error.rule, "larger than 1048576 bytes");
}

#[test]
fn the_body_limit_is_the_callers() {
    let body = serde_json::to_vec(&joiner()).unwrap();
    let envelope = structured(Some(CLOUDEVENTS_JSON));
    assert!(decode(&body, &envelope, body.len()).is_ok());
    let error = decode(&body, &envelope, body.len() - 1).unwrap_err();
    assert_eq!(error.rule, format!("larger than {} bytes", body.len() - 1));
}

// --- envelope attributes ---------------------------------------------------------------

#[test]
fn specversion_must_be_1_0() {
    assert_rejected(
        with(joiner(), "/specversion", json!("0.3")),
        "specversion",
        "must be \"1.0\" (got \"0.3\")",
    );
    assert_rejected(
        with(joiner(), "/specversion", json!(1.0)),
        "specversion",
        "must be a string",
    );
    assert_rejected(without(joiner(), "/specversion"), "specversion", "required");
}

#[test]
fn errors_after_the_ids_were_read_carry_them() {
    let error = rejection(with(joiner(), "/specversion", json!("0.3")));
    assert_eq!(
        error.event_id.as_deref(),
        Some("5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01")
    );
    assert_eq!(error.employee_id.as_deref(), Some("E100234"));
}

#[test]
fn id_is_required_non_empty_and_at_most_256_characters() {
    assert_rejected(without(joiner(), "/id"), "id", "required");
    assert_rejected(with(joiner(), "/id", json!("")), "id", "must not be empty");
    assert_rejected(with(joiner(), "/id", json!(42)), "id", "must be a string");
    assert_rejected(
        with(joiner(), "/id", json!("a".repeat(257))),
        "id",
        "longer than 256",
    );
    assert!(decode_event(&with(joiner(), "/id", json!("a".repeat(256)))).is_ok());
}

#[test]
fn source_is_required_and_non_empty() {
    assert_rejected(without(joiner(), "/source"), "source", "required");
    assert_rejected(
        with(joiner(), "/source", json!(" ")),
        "source",
        "must not be empty",
    );
}

#[test]
fn type_must_be_one_of_the_three() {
    let error = rejection(with(joiner(), "/type", json!("hr.employee.promoted")));
    assert_eq!(
        error.to_string(),
        "type: unknown event type \"hr.employee.promoted\""
    );
    assert_rejected(without(joiner(), "/type"), "type", "required");
}

#[test]
fn subject_is_a_required_employee_id() {
    assert_rejected(without(joiner(), "/subject"), "subject", "required");
    for (bad, rule) in [
        ("E1/../admin", "must not contain \"/\""),
        ("E1?x=1", "must not contain \"?\""),
        ("E1#x", "must not contain \"#\""),
        ("E1..2", "must not contain \"..\""),
        ("E 1", "whitespace"),
        ("E1\u{7}", "control characters"),
    ] {
        assert_rejected(with(joiner(), "/subject", json!(bad)), "subject", rule);
    }
    assert_rejected(
        with(joiner(), "/subject", json!("E".repeat(65))),
        "subject",
        "longer than 64",
    );
}

#[test]
fn time_must_be_rfc_3339() {
    assert_rejected(
        with(joiner(), "/time", json!("22/11/2026 09:15")),
        "time",
        "not an RFC 3339 time",
    );
    assert_rejected(without(joiner(), "/time"), "time", "required");
    let offset = with(joiner(), "/time", json!("2026-11-22T10:15:00.250+01:00"));
    assert_eq!(
        decode_event(&offset).unwrap().time,
        datetime!(2026-11-22 09:15:00.25 UTC)
    );
}

#[test]
fn sequence_is_required() {
    assert_rejected(without(joiner(), "/sequence"), "sequence", "required");
}

#[test]
fn sequence_must_be_at_least_1() {
    assert_rejected(
        with(joiner(), "/sequence", json!(0)),
        "sequence",
        "must be ≥ 1 (got 0)",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!(-3)),
        "sequence",
        "must be ≥ 1 (got -3)",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!("0")),
        "sequence",
        "must be ≥ 1",
    );
}

#[test]
fn sequence_must_be_a_whole_number_or_a_decimal_string() {
    assert_rejected(
        with(joiner(), "/sequence", json!(1.5)),
        "sequence",
        "whole number",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!("1.5")),
        "sequence",
        "decimal digits",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!("-1")),
        "sequence",
        "decimal digits",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!(true)),
        "sequence",
        "integer",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!("99999999999999999999")),
        "sequence",
        "too large",
    );
    // Beyond what the state store can record: refused before any target is changed.
    assert_rejected(
        with(joiner(), "/id", json!("abc\u{0}def")),
        "id",
        "control characters",
    );
    assert_rejected(
        with(
            joiner(),
            "/data/accounts/sitevault/person_id",
            json!("V0B\u{0}1"),
        ),
        "data.accounts.sitevault.person_id",
        "control characters",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!(9_223_372_036_854_775_808_u64)),
        "sequence",
        "at most 9223372036854775807",
    );
    assert_rejected(
        with(joiner(), "/sequence", json!("9223372036854775808")),
        "sequence",
        "at most",
    );
    let as_text = with(joiner(), "/sequence", json!("17"));
    assert_eq!(decode_event(&as_text).unwrap().sequence, 17);
}

#[test]
fn datacontenttype_if_present_must_be_json() {
    assert_rejected(
        with(joiner(), "/datacontenttype", json!("text/xml")),
        "datacontenttype",
        "must be application/json",
    );
    let with_charset = with(
        joiner(),
        "/datacontenttype",
        json!("application/json; charset=utf-8"),
    );
    assert!(decode_event(&with_charset).is_ok());
    assert!(decode_event(&without(joiner(), "/datacontenttype")).is_ok());
}

#[test]
fn data_is_a_required_object() {
    assert_rejected(without(joiner(), "/data"), "data", "required");
    assert_rejected(
        with(joiner(), "/data", json!("E100234")),
        "data",
        "must be a JSON object",
    );
    let base64 = with(without(joiner(), "/data"), "/data_base64", json!("e30="));
    assert_rejected(base64, "data", "data_base64 is not supported");
}

// --- data ------------------------------------------------------------------------------

#[test]
fn employee_id_is_required_and_must_equal_subject() {
    assert_rejected(
        without(joiner(), "/data/employee_id"),
        "data.employee_id",
        "required",
    );
    let error = rejection(with(joiner(), "/data/employee_id", json!("E999999")));
    assert_eq!(error.to_string(), "data.employee_id: must equal subject");
    assert_eq!(error.employee_id.as_deref(), Some("E100234"));
}

#[test]
fn effective_date_if_present_is_yyyy_mm_dd() {
    for bad in [
        "2026-13-01",
        "2026-02-30",
        "2026-1-1",
        "2026-12-01T00:00:00Z",
        "+2026-12-01",
    ] {
        assert_rejected(
            with(joiner(), "/data/effective_date", json!(bad)),
            "data.effective_date",
            "not a YYYY-MM-DD date",
        );
    }
    assert!(decode_event(&without(joiner(), "/data/effective_date")).is_ok());
}

#[test]
fn joiner_and_mover_need_a_person() {
    assert_rejected(
        without(joiner(), "/data/person"),
        "data.person",
        "required for a joiner event",
    );
    assert_rejected(
        without(mover(), "/data/person"),
        "data.person",
        "required for a mover event",
    );
    assert_rejected(
        with(joiner(), "/data/person", json!("Ana Silva")),
        "data.person",
        "must be a JSON object",
    );
}

#[test]
fn person_names_are_required_non_empty_strings() {
    assert_rejected(
        without(joiner(), "/data/person/first_name"),
        "data.person.first_name",
        "required",
    );
    assert_rejected(
        with(joiner(), "/data/person/last_name", json!("")),
        "data.person.last_name",
        "must not be empty",
    );
}

#[test]
fn email_must_be_an_email_address() {
    let error = rejection(with(joiner(), "/data/person/email", json!("ana.silva@")));
    assert_eq!(
        error.to_string(),
        "data.person.email: not an e-mail address"
    );
    assert_eq!(
        error.event_id.as_deref(),
        Some("5f0c6a52-1d7e-4c55-9a3e-2b7d2a1c0e01")
    );
    assert_eq!(error.employee_id.as_deref(), Some("E100234"));

    for bad in [
        "Ana Silva <ana.silva@verteo.example>",
        "ana@localhost",
        "ana silva@verteo.example",
    ] {
        assert_rejected(
            with(joiner(), "/data/person/email", json!(bad)),
            "data.person.email",
            "not an e-mail address",
        );
    }
    assert_rejected(
        without(joiner(), "/data/person/email"),
        "data.person.email",
        "required",
    );
}

#[test]
fn username_if_present_must_be_an_email_address() {
    assert_rejected(
        with(joiner(), "/data/person/username", json!("ana.silva")),
        "data.person.username",
        "not an e-mail address",
    );
    assert!(decode_event(&without(joiner(), "/data/person/username")).is_ok());
}

#[test]
fn other_person_fields_must_be_strings() {
    let error = rejection(with(joiner(), "/data/person/title", json!(7)));
    assert_eq!(error.to_string(), "data.person.title: must be a string");
    assert_rejected(
        with(joiner(), "/data/person/department", Value::Null),
        "data.person.department",
        "must be a string",
    );
}

#[test]
fn manager_id_if_present_is_an_employee_id() {
    assert_rejected(
        with(mover(), "/data/person/manager_id", json!("../E1")),
        "data.person.manager_id",
        "not a valid employee id",
    );
}

#[test]
fn a_leavers_person_if_present_follows_the_same_rules() {
    let person = joiner()["data"]["person"].clone();
    let event = with(leaver(), "/data/person", person);
    assert!(decode_event(&event).is_ok());
    assert_rejected(
        with(event, "/data/person/email", json!("nope")),
        "data.person.email",
        "not an e-mail address",
    );
}

#[test]
fn roles_and_sites_are_arrays_of_non_empty_strings() {
    assert_rejected(
        with(joiner(), "/data/roles", json!("cra")),
        "data.roles",
        "must be an array",
    );
    let error = rejection(with(joiner(), "/data/roles", json!(["cra", 3])));
    assert_eq!(error.to_string(), "data.roles[1]: must be a string");
    assert_rejected(
        with(joiner(), "/data/sites", json!([""])),
        "data.sites[0]",
        "must not be empty",
    );
    assert!(decode_event(&with(joiner(), "/data/roles", json!([]))).is_ok());
}

// --- data.accounts ---------------------------------------------------------------------

#[test]
fn numeric_account_ids_may_be_digit_strings_and_come_out_as_text() {
    let event = with(joiner(), "/data/accounts/vault/user_id", json!("25001"));
    let event = with(
        event,
        "/data/accounts/superoffice/associate_id",
        json!("0981"),
    );
    let linked = decode_event(&event).unwrap().accounts;
    assert_eq!(linked.get("vault"), Some("25001"));
    assert_eq!(linked.get("superoffice"), Some("0981"));
}

#[test]
fn numeric_account_ids_must_be_positive_integers() {
    for bad in [
        json!(0),
        json!(-5),
        json!(2.5),
        json!("25a"),
        json!(""),
        json!("000"),
        json!(true),
    ] {
        assert_rejected(
            with(joiner(), "/data/accounts/vault/user_id", bad.clone()),
            "data.accounts.vault.user_id",
            "must be a positive integer or a string of digits",
        );
        assert_rejected(
            with(joiner(), "/data/accounts/superoffice/associate_id", bad),
            "data.accounts.superoffice.associate_id",
            "must be a positive integer or a string of digits",
        );
    }
}

#[test]
fn sitevault_person_id_is_a_string() {
    assert_rejected(
        with(joiner(), "/data/accounts/sitevault/person_id", json!(1001)),
        "data.accounts.sitevault.person_id",
        "must be a string",
    );
}

#[test]
fn accounts_and_their_targets_are_objects_and_each_target_needs_its_id() {
    assert_rejected(
        with(joiner(), "/data/accounts", json!([])),
        "data.accounts",
        "must be a JSON object",
    );
    assert_rejected(
        with(joiner(), "/data/accounts/vault", json!(25001)),
        "data.accounts.vault",
        "must be a JSON object",
    );
    assert_rejected(
        with(joiner(), "/data/accounts/superoffice", json!({})),
        "data.accounts.superoffice.associate_id",
        "required",
    );
    let only_vault = with(joiner(), "/data/accounts", json!({"vault": {"user_id": 7}}));
    assert_eq!(
        decode_event(&only_vault).unwrap().accounts,
        accounts(&[("vault", "7")])
    );
}

// --- Action ----------------------------------------------------------------------------

#[test]
fn actions_name_themselves_and_their_event_types() {
    assert_eq!(Action::Joiner.as_str(), "joiner");
    assert_eq!(Action::Mover.event_type(), "hr.employee.mover");
    assert_eq!(
        Action::from_event_type("hr.employee.leaver"),
        Some(Action::Leaver)
    );
    assert_eq!(Action::from_event_type("leaver"), None);
    assert_eq!(
        serde_json::to_value(Action::Leaver).unwrap(),
        json!("leaver")
    );
    assert_eq!(
        serde_json::from_value::<Action>(json!("mover")).unwrap(),
        Action::Mover
    );
}
