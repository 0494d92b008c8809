//! Keeps the published JSON Schema, the example events and the decoder in agreement: every
//! `examples/events/*.json` must validate against `schema/hr-event.schema.json` and decode
//! with `hrsync::event::decode`, and events broken in the ways the contract forbids
//! must be refused by both, so a publisher testing against the schema sees what hrsync sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hrsync::event::{decode, Action, Envelope, MAX_BODY_BYTES};
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    let schema = read_json(&root().join("schema/hr-event.schema.json"));
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/events"))
        .expect("examples/events exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn schema_errors(validator: &jsonschema::Validator, event: &Value) -> Vec<String> {
    validator
        .iter_errors(event)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn decode_structured(event: &Value) -> Result<hrsync::event::HrEvent, String> {
    let headers = BTreeMap::new();
    let envelope = Envelope {
        content_type: Some("application/cloudevents+json"),
        headers: &headers,
    };
    let body = serde_json::to_vec(event).unwrap();
    decode(
        &body,
        &envelope,
        MAX_BODY_BYTES,
        hrsync::targets::registry::account_keys(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn every_example_event_matches_the_schema_and_decodes() {
    let validator = validator();
    let files = example_files();
    assert!(
        files.len() >= 3,
        "expected joiner, mover and leaver examples, found {files:?}"
    );

    for path in files {
        let event = read_json(&path);
        let errors = schema_errors(&validator, &event);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());

        let decoded =
            decode_structured(&event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(decoded.event_type(), event["type"], "{}", path.display());
        assert_eq!(decoded.data, event["data"], "{}", path.display());
    }
}

#[test]
fn there_is_an_example_of_each_action() {
    let actions: Vec<Action> = example_files()
        .iter()
        .map(|path| decode_structured(&read_json(path)).unwrap().action)
        .collect();
    for action in [Action::Joiner, Action::Mover, Action::Leaver] {
        assert!(actions.contains(&action), "no {action:?} example");
    }
}

/// The joiner example with the value at JSON pointer `at` replaced (`None` removes it).
fn joiner_with(at: &str, value: Option<Value>) -> Value {
    let mut event = read_json(&root().join("examples/events/joiner.json"));
    let (parent, key) = at.rsplit_once('/').unwrap();
    let parent = event.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(value) => parent.insert(key.to_owned(), value),
        None => parent.remove(key),
    };
    event
}

#[test]
fn schema_and_decoder_refuse_the_same_broken_events() {
    let validator = validator();
    let broken = [
        ("/specversion", Some(json!("0.3"))),
        ("/id", None),
        ("/id", Some(json!(""))),
        ("/type", Some(json!("hr.employee.promoted"))),
        ("/subject", None),
        ("/subject", Some(json!("E1/../admin"))),
        ("/subject", Some(json!("E1..2"))),
        ("/subject", Some(json!("E 1"))),
        ("/time", Some(json!("22/11/2026 09:15"))),
        ("/sequence", None),
        ("/sequence", Some(json!(0))),
        ("/sequence", Some(json!(-1))),
        ("/sequence", Some(json!(1.5))),
        ("/sequence", Some(json!("0"))),
        ("/sequence", Some(json!("x1"))),
        ("/datacontenttype", Some(json!("text/xml"))),
        ("/data", None),
        ("/data/employee_id", None),
        ("/data/effective_date", Some(json!("2026-13-01"))),
        ("/data/person", None),
        ("/data/person/first_name", Some(json!(""))),
        ("/data/person/email", Some(json!("ana.silva@"))),
        ("/data/person/username", Some(json!("ana.silva"))),
        ("/data/person/title", Some(json!(7))),
        ("/data/roles", Some(json!("cra"))),
        ("/data/roles", Some(json!(["cra", 3]))),
        ("/data/sites", Some(json!([""]))),
        ("/data/accounts/vault/user_id", Some(json!(0))),
        ("/data/accounts/vault/user_id", Some(json!("25a"))),
        ("/data/accounts/sitevault/person_id", Some(json!(1001))),
        ("/data/accounts/superoffice", Some(json!({}))),
    ];
    for (at, value) in broken {
        let event = joiner_with(at, value.clone());
        assert!(
            !validator.is_valid(&event),
            "schema accepts {at} = {value:?}"
        );
        assert!(
            decode_structured(&event).is_err(),
            "decoder accepts {at} = {value:?}"
        );
    }
}

#[test]
fn schema_and_decoder_accept_the_same_variations() {
    let validator = validator();
    let fine = [
        ("/sequence", Some(json!("17"))),
        ("/datacontenttype", None),
        (
            "/datacontenttype",
            Some(json!("application/json; charset=utf-8")),
        ),
        ("/data/effective_date", None),
        ("/data/person/username", None),
        ("/data/person/manager_id", Some(json!("E100001"))),
        ("/data/person/cost_center", Some(json!("CC-42"))),
        ("/data/contract", Some(json!({"fte": 0.8}))),
        ("/data/accounts/vault/user_id", Some(json!("25001"))),
        ("/data/accounts", None),
        ("/data/roles", Some(json!([]))),
        ("/time", Some(json!("2026-11-22T10:15:00.250+01:00"))),
    ];
    for (at, value) in fine {
        let event = joiner_with(at, value.clone());
        let errors = schema_errors(&validator, &event);
        assert!(
            errors.is_empty(),
            "schema refuses {at} = {value:?}: {errors:#?}"
        );
        if let Err(e) = decode_structured(&event) {
            panic!("decoder refuses {at} = {value:?}: {e}");
        }
    }
}

#[test]
fn a_leaver_may_omit_the_person_in_both() {
    let validator = validator();
    let leaver = read_json(&root().join("examples/events/leaver.json"));
    assert!(leaver["data"].get("person").is_none());
    assert!(validator.is_valid(&leaver));
    assert!(decode_structured(&leaver).is_ok());
}
