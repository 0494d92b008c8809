//! Persons: `POST /api/v1/Person` (a new `PersonEntity`, 200 `PersonEntityWithLinks`) and
//! `GET /api/v1/Person/{id}`. A user is made from a person, so creating one is the first
//! step of creating a SuperOffice user.
//!
//! Kept of the entity: `PersonId`, `Firstname`, `MiddleName`, `Lastname`, `Title`,
//! `FullName` (first and last name), `Emails` (`[{Value, StrippedValue, Description}]`),
//! `Contact` (`{ContactId, Name}`), `Retired`; `IsAssociate` is computed when read. Other
//! properties are ignored, as Json.NET ignores unknown ones. `Contact.ContactId` is
//! required (the "MandatoryContactOnPerson" default); the simulator keeps no companies, so
//! any positive contact id is accepted — whether it is an owner company matters only when
//! the person is made a user.
//!
//! Simulator choice: POST creates only; a non-zero `PersonId` in the body is a 400.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::super::api::ApiRequest;
use super::super::jsonpatch::find_key;
use super::super::reply::Reply;
use super::super::seed::FIRST_SO_PERSON;
use super::super::state::{Record, State};
use super::{bad_request, entity_body, entity_with_links, is_entity_json, unsupported_media};

pub(super) fn post_person(state: &mut State, request: &ApiRequest) -> Reply {
    if !is_entity_json(request) {
        return unsupported_media(request, "application/json");
    }
    let body = match entity_body(request, "PersonEntity") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let id = next_person_id(state);
    match new_person(id, &body) {
        Ok(person) => {
            let reply = Reply::json(StatusCode::OK, answer(state, &person, id, request));
            state.superoffice_persons.insert(id, person);
            reply
        }
        Err(message) => bad_request(message),
    }
}

pub(super) fn get_person(state: &State, request: &ApiRequest, raw_id: &str) -> Reply {
    let found = raw_id
        .parse::<i64>()
        .ok()
        .and_then(|id| Some((id, state.superoffice_persons.get(&id)?)));
    match found {
        Some((id, person)) => Reply::json(StatusCode::OK, answer(state, person, id, request)),
        None => person_not_found(raw_id),
    }
}

pub(super) fn person_not_found(raw_id: &str) -> Reply {
    Reply::so_error(
        StatusCode::NOT_FOUND,
        "SoNotFoundException",
        format!("Person {raw_id} not found"),
    )
}

/// The contact a person is registered on.
pub(super) fn contact_id(person: &Record) -> Option<i64> {
    person.get("Contact")?.get("ContactId")?.as_i64()
}

/// The person's first e-mail address, or "".
pub(super) fn first_email(person: &Record) -> String {
    person
        .get("Emails")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("Value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The `Person` of a User carrier for `person` (user `associate_id`, 0 if not saved yet).
pub(super) fn person_in_user(person: &Record, associate_id: i64) -> Value {
    let text = |key: &str| person.get(key).cloned().unwrap_or(json!(""));
    json!({
        "PersonId": person.get("PersonId").cloned().unwrap_or(json!(0)),
        "Firstname": text("Firstname"),
        "Lastname": text("Lastname"),
        "Title": text("Title"),
        "Email": first_email(person),
        "FullName": text("FullName"),
        "ContactId": contact_id(person).unwrap_or(0),
        "Retired": 0,
        "AssociateId": associate_id,
    })
}

fn next_person_id(state: &State) -> i64 {
    let highest = state.superoffice_persons.keys().max().copied();
    highest.map_or(FIRST_SO_PERSON, |n| n + 1)
}

fn answer(state: &State, person: &Record, id: i64, request: &ApiRequest) -> Value {
    let is_user = state.superoffice_users.values().any(|user| {
        user.get("Person")
            .and_then(|p| p.get("PersonId"))
            .and_then(Value::as_i64)
            == Some(id)
    });
    let mut person = person.clone();
    person.insert("IsAssociate".into(), json!(is_user));
    entity_with_links(&person, "Person", id, request)
}

/// A property of `body`, matched case-insensitively.
fn property<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    find_key(body, name).and_then(|k| body.get(&k))
}

fn text(body: &Map<String, Value>, name: &str) -> Result<String, String> {
    match property(body, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("Invalid value {other} for property '{name}'")),
    }
}

fn new_person(id: i64, body: &Map<String, Value>) -> Result<Record, String> {
    match property(body, "PersonId") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_i64() == Some(0) => {}
        Some(v) => {
            return Err(format!(
                "POST /Person creates a person; PersonId must be 0, got {v}"
            ))
        }
    }
    let contact = contact(body)?;
    let (first, last) = (text(body, "Firstname")?, text(body, "Lastname")?);
    let full_name = [first.as_str(), last.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let person = json!({
        "PersonId": id,
        "Firstname": first,
        "MiddleName": text(body, "MiddleName")?,
        "Lastname": last,
        "Title": text(body, "Title")?,
        "FullName": full_name,
        "Emails": emails(body)?,
        "Contact": contact,
        "Retired": false,
    });
    Ok(person.as_object().cloned().unwrap_or_default())
}

fn contact(body: &Map<String, Value>) -> Result<Value, String> {
    let required =
        || "Contact.ContactId is required: a person is registered on a company".to_owned();
    let contact = match property(body, "Contact") {
        Some(Value::Object(contact)) => contact,
        _ => return Err(required()),
    };
    let id = property(contact, "ContactId")
        .and_then(Value::as_i64)
        .filter(|id| *id > 0)
        .ok_or_else(required)?;
    let name = text(contact, "Name")?;
    Ok(json!({ "ContactId": id, "Name": name }))
}

fn emails(body: &Map<String, Value>) -> Result<Value, String> {
    let list = match property(body, "Emails") {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("Invalid value {other} for property 'Emails'")),
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let bad = || format!("Emails[{i}] must be an object with a string Value");
        let item = item.as_object().ok_or_else(bad)?;
        let value = match property(item, "Value") {
            Some(Value::String(v)) if !v.trim().is_empty() => v.clone(),
            _ => return Err(bad()),
        };
        let description = text(item, "Description")?;
        out.push(json!({ "Value": value, "StrippedValue": value, "Description": description }));
    }
    Ok(Value::Array(out))
}
