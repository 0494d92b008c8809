//! Staff events over the simulator's seeded accounts: person `i` has Vault user
//! `25001 + i`, SiteVault person `V0B…{1001 + i}` and SuperOffice associate `981 + i`.
//! Shared by the integration tests (`common`) and the throughput bench (`#[path]`).

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
