//! HR events as the contract (`docs/events.md`) describes them: the contract's example
//! employee (`E100234`, the simulator's seeded accounts 25001 / V0B…1001 / 981), and numbered
//! staff — person `i` has Vault user `25001 + i`, SiteVault person `V0B…{1001 + i}` and
//! SuperOffice associate `981 + i`.

use serde_json::{json, Value};

/// The simulator's seeded accounts of person `i`: Vault user, SiteVault person, SuperOffice associate.
pub fn account_ids(i: usize) -> (String, String, String) {
    (
        format!("{}", 25001 + i),
        format!("V0B{:012}", 1001 + i),
        format!("{}", 981 + i),
    )
}

/// A leaver for staff member `i`, with its three accounts.
pub fn staff_leaver(i: usize, sequence: u64) -> Value {
    let (vault, sitevault, superoffice) = account_ids(i);
    let employee = format!("E{}", 200000 + i);
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.leaver", "subject": employee, "time": "2026-11-22T09:15:00Z",
        "sequence": sequence,
        "data": {"employee_id": employee, "accounts": {
            "vault": {"user_id": vault},
            "sitevault": {"person_id": sitevault},
            "superoffice": {"associate_id": superoffice}
        }}
    })
}

/// A mover for staff member `i` whose title is `Title {sequence}`, so every event changes
/// something and the simulator log shows which event each write came from.
pub fn staff_mover(i: usize, sequence: u64) -> Value {
    let (vault, sitevault, superoffice) = account_ids(i);
    let employee = format!("E{}", 200000 + i);
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.mover", "subject": employee, "time": "2026-11-22T09:15:00Z",
        "sequence": sequence,
        "data": {
            "employee_id": employee,
            "person": {
                "first_name": "Test", "last_name": format!("Person{i}"),
                "email": format!("staff{i}@verteo.example"), "title": format!("Title {sequence}"),
                "department": "Clinical Operations"
            },
            "roles": ["cra"], "sites": ["US-NC-0002"],
            "accounts": {
                "vault": {"user_id": vault},
                "sitevault": {"person_id": sitevault},
                "superoffice": {"associate_id": superoffice}
            }
        }
    })
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A joiner like the contract's example, for employee `E100234` and its three accounts.
pub fn joiner() -> Value {
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.joiner", "subject": "E100234", "time": "2026-11-22T09:15:00Z",
        "sequence": 1, "datacontenttype": "application/json",
        "data": {
            "employee_id": "E100234", "effective_date": "2026-11-02",
            "person": {
                "first_name": "Ana", "last_name": "Silva", "email": "ana.silva@verteo.example",
                "username": "ana.silva@verteo.example", "title": "Clinical Research Associate",
                "department": "Clinical Operations", "company": "VeevaPharm",
                "timezone": "Europe/Lisbon", "locale": "pt_PT", "language": "en"
            },
            "roles": ["cra"], "sites": ["US-NC-0002"],
            "accounts": {
                "vault": {"user_id": 25001},
                "sitevault": {"person_id": "V0B000000001001"},
                "superoffice": {"associate_id": 981}
            }
        }
    })
}

pub fn mover() -> Value {
    let mut event = joiner();
    event["type"] = json!("hr.employee.mover");
    event["sequence"] = json!(4);
    event["data"]["person"]["title"] = json!("Senior Clinical Research Associate");
    event["data"]["person"]["department"] = json!("Regulatory Affairs");
    event["data"]["roles"] = json!(["regulatory"]);
    event["data"]["sites"] = json!(["US-NC-0002", "US-CA-0007"]);
    event
}

pub fn leaver() -> Value {
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.leaver", "subject": "E100234", "time": "2027-03-31T17:00:00Z",
        "sequence": 9,
        "data": {
            "employee_id": "E100234", "effective_date": "2026-11-20",
            "sites": ["US-NC-0002"],
            "accounts": {
                "vault": {"user_id": 25001},
                "sitevault": {"person_id": "V0B000000001001"},
                "superoffice": {"associate_id": 981}
            }
        }
    })
}
