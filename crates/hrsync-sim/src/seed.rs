//! Deterministic seed data: user `i` (0-based) is the same person in all three targets —
//! Vault user `25001 + i`, SiteVault person `V0B` + 12 digits of `1001 + i`, SuperOffice
//! associate `981 + i` (its person `5001 + i`, registered on the owner company, contact
//! 1) — with the same name and e-mail `user{25001+i}@verteo.example`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::state::Record;
use super::SimulatorConfig;

pub(crate) const FIRST_VAULT_USER: u64 = 25001;
pub(crate) const FIRST_ASSOCIATE: i64 = 981;
/// The SuperOffice person of the first seeded associate.
pub(crate) const FIRST_SO_PERSON: i64 = 5001;
/// The SuperOffice company ("Our companies") seeded persons are registered on.
pub(crate) const OWNER_CONTACT: i64 = 1;
pub(crate) const FIRST_PERSON_NUMBER: u64 = 1001;
/// The organization every seeded SiteVault person belongs to.
pub(crate) const SEED_ORG_ID: &str = "V42000000001001";

const FIRST_NAMES: [&str; 10] = [
    "Ana", "Bruno", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
];
const LAST_NAMES: [&str; 10] = [
    "Silva", "Meyer", "Rossi", "Novak", "Dubois", "Haddad", "Larsen", "Costa", "Berg", "Moreau",
];
const TITLES: [&str; 4] = [
    "Clinical Research Associate",
    "Study Coordinator",
    "Regulatory Specialist",
    "Account Manager",
];

/// The shared identity of seeded person `i`.
struct Person {
    first: &'static str,
    last: &'static str,
    title: &'static str,
    email: String,
}

fn person(i: usize) -> Person {
    Person {
        first: FIRST_NAMES[i % FIRST_NAMES.len()],
        last: LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()],
        title: TITLES[i % TITLES.len()],
        email: format!("user{}@verteo.example", FIRST_VAULT_USER + i as u64),
    }
}

fn object(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => Record::new(),
    }
}

/// Vault users `25001..25001+n`.
pub(crate) fn vault_users(config: &SimulatorConfig) -> BTreeMap<u64, Record> {
    (0..config.seed_users)
        .map(|i| {
            let id = FIRST_VAULT_USER + i as u64;
            (id, vault_user(id, &person(i), config.vault_id))
        })
        .collect()
}

fn vault_user(id: u64, p: &Person, vault_id: u64) -> Record {
    object(json!({
        "id": id,
        "user_name__v": p.email,
        "user_first_name__v": p.first,
        "user_last_name__v": p.last,
        "user_email__v": p.email,
        "user_title__v": p.title,
        "company__v": "Verteo",
        "user_timezone__v": "Europe/Lisbon",
        "user_locale__v": "en_US",
        "user_language__v": "en",
        "active__v": true,
        "domain_active__v": true,
        "security_profile__v": "document_user__v",
        "license_type__v": "full__v",
        "is_domain_admin__v": false,
        "vault_membership": [vault_membership(vault_id, true, "document_user__v", "full__v")],
    }))
}

/// One entry of a Vault user's `vault_membership` list.
pub(crate) fn vault_membership(vault_id: u64, active: bool, profile: &str, license: &str) -> Value {
    json!({
        "id": vault_id,
        "active_vault_membership__v": active,
        "security_profile_vault_membership__v": profile,
        "license_type_vault_membership__v": license,
    })
}

/// SiteVault persons `V0B000000001001…`.
pub(crate) fn sitevault_persons(n: usize) -> BTreeMap<String, Record> {
    (0..n)
        .map(|i| {
            let id = format!("V0B{:012}", FIRST_PERSON_NUMBER + i as u64);
            let record = sitevault_person(&id, &person(i));
            (id, record)
        })
        .collect()
}

fn sitevault_person(id: &str, p: &Person) -> Record {
    object(json!({
        "person_id": id,
        "username": p.email,
        "email": p.email,
        "first_name": p.first,
        "last_name": p.last,
        "record_status": "active__v",
        "is_investigator": false,
        "assignments": {
            "org_assignment": { "org_id": SEED_ORG_ID, "system_role_id": "org_full__v" },
            "site_assignments": [],
            "study_assignments": [],
        },
    }))
}

/// SuperOffice associates `981..981+n`.
pub(crate) fn superoffice_users(n: usize) -> BTreeMap<i64, Record> {
    (0..n)
        .map(|i| {
            let id = FIRST_ASSOCIATE + i as i64;
            (id, superoffice_user(id, i, &person(i)))
        })
        .collect()
}

fn superoffice_user(id: i64, i: usize, p: &Person) -> Record {
    let full_name = format!("{} {}", p.first, p.last);
    object(json!({
        "AssociateId": id,
        "Name": format!("U{id}"),
        "Rank": i + 1,
        "Tooltip": full_name,
        "LicenseOwners": [license_owner()],
        "Role": user_role(),
        "UserGroup": user_group(),
        "OtherGroups": [],
        "Person": {
            "PersonId": FIRST_SO_PERSON + i as i64,
            "Firstname": p.first,
            "Lastname": p.last,
            "Title": p.title,
            "Email": p.email,
            "FullName": full_name,
            "ContactId": OWNER_CONTACT,
            "Retired": 0,
            "AssociateId": id,
        },
        "Deleted": false,
        "Lastlogin": "2025-01-06T08:00:00",
        "Lastlogout": "2025-01-06T17:00:00",
        "EjUserId": 0,
        "RequestSignature": null,
        "Type": "InternalAssociate",
        "IsPersonRetired": false,
        "IsOnTravel": false,
        "Credentials": [],
        "UserName": p.email,
        "TicketCategories": [],
        "NickName": format!("user{id}"),
        "WaitingForApproval": false,
        "ExtraFields": {},
        "CustomFields": {},
        "PostSaveCommands": [],
    }))
}

/// SuperOffice persons `5001..5001+n`, the persons of the seeded associates.
pub(crate) fn superoffice_persons(n: usize) -> BTreeMap<i64, Record> {
    (0..n)
        .map(|i| {
            let id = FIRST_SO_PERSON + i as i64;
            let p = person(i);
            let entity = object(json!({
                "PersonId": id,
                "Firstname": p.first,
                "MiddleName": "",
                "Lastname": p.last,
                "Title": p.title,
                "FullName": format!("{} {}", p.first, p.last),
                "Emails": [{ "Value": p.email, "StrippedValue": p.email, "Description": "" }],
                "Contact": { "ContactId": OWNER_CONTACT, "Name": "Verteo" },
                "Retired": false,
            }));
            (id, entity)
        })
        .collect()
}

/// The role seeded users have, and `GET /User/Default` proposes.
pub(crate) fn user_role() -> Value {
    json!({ "Id": 1, "Value": "User", "Tooltip": "Standard user role" })
}

/// The main user group seeded users have, and `GET /User/Default` proposes.
pub(crate) fn user_group() -> Value {
    json!({ "Value": "Sales", "Tooltip": "Sales", "Id": 2, "Rank": 2, "Deleted": false })
}

/// The licences seeded users have, and `GET /User/Default` proposes.
pub(crate) fn license_owner() -> Value {
    json!({
        "Name": "SuperOffice",
        "Description": "SuperOffice CRM licenses",
        "RestrictedModuleLicenses": [{
            "ModuleLicenseId": 1,
            "Name": "superoffice.crm.user",
            "Description": "SuperOffice CRM user",
            "Assigned": true,
            "CanAssign": true,
            "Free": 50,
            "InUse": 950,
            "Total": 1000,
            "IsHidden": false,
            "Tooltip": "CRM user licence",
        }],
        "UnrestrictedModuleLicenses": [],
    })
}

/// SCIM users `u25001..` (id = `u` + the Vault user id of the same person).
pub(crate) fn scim_users(n: usize) -> BTreeMap<String, Record> {
    (0..n)
        .map(|i| {
            let p = person(i);
            let id = format!("u{}", FIRST_VAULT_USER + i as u64);
            let user = object(json!({
                "id": id,
                "userName": p.email,
                "name": {"givenName": p.first, "familyName": p.last},
                "displayName": format!("{} {}", p.first, p.last),
                "title": p.title,
                "emails": [{"value": p.email, "type": "work", "primary": true}],
                "active": true,
            }));
            (id, user)
        })
        .collect()
}
