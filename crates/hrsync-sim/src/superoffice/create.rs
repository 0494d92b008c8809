//! Creating users, SuperOffice's way: a person first (`POST /Person`), then
//! `GET /User/Default?userType=…&personId=…` for a pre-filled User carrier, then
//! `POST /User` to save it (200 `UserWithLinks` with the new `AssociateId`).
//!
//! The default carrier: `AssociateId` 0, empty `Name` and `UserName`, the requested
//! `Type` (`Unknown` when absent), the person as the carrier's `Person`, and the role,
//! user group and licences seeded users have. "System and Anonymous users can be created
//! without an existing person and permits person id to be 0"; every other type needs one.
//! An unknown person is a 404; a person not registered on one of "Our companies"
//! (`SimulatorConfig::superoffice_owner_contacts`) is a 400, as the admin client refuses
//! such a person.
//!
//! Saving checks what SuperOffice keeps unique: `UserName` (the login) and `Name` (the
//! initials / user id) are required and unique, ignoring case; `Person.PersonId` must be
//! a person (on an owner company) that is not already a user. The stored `Person` is made
//! from the person record, so the archive's `personEmail` is the person's first e-mail.
//!
//! Simulator choice: POST saves new users only; a non-zero `AssociateId` is a 400 (PUT
//! `/User/{id}` saves an existing one).

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::api::ApiRequest;
use super::super::jsonpatch::find_key;
use super::super::reply::Reply;
use super::super::seed::{license_owner, user_group, user_role, FIRST_ASSOCIATE};
use super::super::state::{Record, State};
use super::super::SimulatorConfig;
use super::person::{contact_id, person_in_user, person_not_found};
use super::user::{build_user, store_and_reply, user_type};
use super::{bad_request, entity_body, is_entity_json, unsupported_media, with_rights};

/// User types that need no person.
const PERSONLESS_TYPES: [&str; 2] = ["AnonymousAssociate", "SystemAssociate"];

pub(super) fn default_user(state: &State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    let (kind, person_id) = match default_params(request) {
        Ok(params) => params,
        Err(message) => return bad_request(message),
    };
    let person = if person_id == 0 {
        if !PERSONLESS_TYPES.contains(&kind.as_str()) {
            return bad_request(format!(
                "A {kind} user needs a person: personId is required"
            ));
        }
        Value::Null
    } else {
        let Some(person) = state.superoffice_persons.get(&person_id) else {
            return person_not_found(&person_id.to_string());
        };
        if let Err(message) = check_owner(config, person_id, person) {
            return bad_request(message);
        }
        person_in_user(person, 0)
    };
    let Ok(mut carrier) = build_user(0, &serde_json::Map::new(), false) else {
        return bad_request("the empty carrier did not build");
    };
    for (key, value) in [
        ("Name", json!("")),
        ("UserName", json!("")),
        ("Type", json!(kind)),
        ("Person", person),
        ("Role", user_role()),
        ("UserGroup", user_group()),
        ("LicenseOwners", json!([license_owner()])),
    ] {
        carrier.insert(key.into(), value);
    }
    Reply::json(StatusCode::OK, Value::Object(with_rights(&carrier)))
}

/// `userType` (name or number, default `Unknown`) and `personId` (default 0).
fn default_params(request: &ApiRequest) -> Result<(String, i64), String> {
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
    let kind = match param("userType") {
        None => "Unknown".to_owned(),
        Some(raw) => {
            let value = raw.parse::<u64>().map_or_else(|_| json!(raw), |n| json!(n));
            user_type(&value)
                .and_then(|t| t.as_str().map(str::to_owned))
                .ok_or_else(|| format!("Invalid userType {raw:?}"))?
        }
    };
    let person_id = match param("personId") {
        None => 0,
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| format!("Invalid personId {raw:?}"))?,
    };
    Ok((kind, person_id))
}

fn check_owner(config: &SimulatorConfig, person_id: i64, person: &Record) -> Result<(), String> {
    let contact = contact_id(person).unwrap_or(0);
    if config.superoffice_owner_contacts.contains(&contact) {
        Ok(())
    } else {
        Err(format!(
            "Person {person_id} belongs to contact {contact}, which is not one of Our companies: \
             a user's person must belong to an owner company"
        ))
    }
}

pub(super) fn post_user(
    state: &mut State,
    config: &SimulatorConfig,
    request: &ApiRequest,
) -> Reply {
    if !is_entity_json(request) {
        return unsupported_media(request, "application/json");
    }
    let body = match entity_body(request, "User") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let associate = find_key(&body, "AssociateId").and_then(|k| body.get(&k).cloned());
    if !matches!(&associate, None | Some(Value::Null))
        && associate.as_ref().and_then(Value::as_i64) != Some(0)
    {
        return bad_request(
            "POST /User saves a new user: AssociateId must be 0 (PUT /User/{id} saves an existing one)",
        );
    }
    let id = next_associate_id(state);
    let saved = build_user(id, &body, false).and_then(|mut user| {
        check_unique(state, &user, "UserName", "UserName")?;
        check_unique(state, &user, "Name", "Name (the user's initials)")?;
        if let Some(person) = user_person(state, config, &user)? {
            user.insert("Person".into(), person_in_user(&person, id));
        }
        Ok(user)
    });
    match saved {
        Ok(user) => store_and_reply(state, request, id, user),
        Err(message) => bad_request(message),
    }
}

fn next_associate_id(state: &State) -> i64 {
    let highest = state.superoffice_users.keys().max().copied();
    highest.map_or(FIRST_ASSOCIATE, |n| n + 1)
}

/// `key` is a non-empty string no other user has (ignoring case).
fn check_unique(state: &State, user: &Record, key: &str, label: &str) -> Result<(), String> {
    let value = user.get(key).and_then(Value::as_str).unwrap_or_default();
    if value.trim().is_empty() {
        return Err(format!("{label} is required"));
    }
    let wanted = value.to_lowercase();
    let taken = state.superoffice_users.values().any(|other| {
        other
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|v| v.to_lowercase() == wanted)
    });
    if taken {
        return Err(format!("{label} '{value}' is already in use"));
    }
    Ok(())
}

/// The person record the new user is made from (`None` for a personless type without one).
fn user_person(
    state: &State,
    config: &SimulatorConfig,
    user: &Record,
) -> Result<Option<Record>, String> {
    let kind = user
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let person_id = user
        .get("Person")
        .and_then(|p| find_key(p.as_object()?, "PersonId").and_then(|k| p.get(&k)?.as_i64()))
        .unwrap_or(0);
    if person_id == 0 {
        if PERSONLESS_TYPES.contains(&kind) {
            return Ok(None);
        }
        return Err(format!("Person.PersonId is required for a {kind} user"));
    }
    let person = state
        .superoffice_persons
        .get(&person_id)
        .ok_or_else(|| format!("Person {person_id} does not exist"))?;
    check_owner(config, person_id, person)?;
    let existing = state.superoffice_users.iter().find(|(_, other)| {
        other
            .get("Person")
            .and_then(|p| p.get("PersonId"))
            .and_then(Value::as_i64)
            == Some(person_id)
    });
    if let Some((associate, _)) = existing {
        return Err(format!(
            "Person {person_id} is already user {associate}: a person can have one user"
        ));
    }
    Ok(Some(person.clone()))
}
