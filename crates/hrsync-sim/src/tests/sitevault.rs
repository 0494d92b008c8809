//! SiteVault Edit User.

use super::*;

const PERSON: &str = "/app/sitevault/useradmin/persons/V0B000000001001";

#[tokio::test]
async fn sitevault_replaces_per_block() {
    let h = start().await;
    let s = h.login().await;
    let first = json!({
        "is_investigator": false,
        "assignments": {
            "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_full__v", "addons": ["org_patients__v"]},
            "site_assignments": [
                {"site_usn": "US-NC-0001", "system_role_id": "regulatory__v", "addons": ["site_budgets__v"]},
                {"site_USN": "US-NC-0002", "system_role_id": "study_team__v"}
            ]
        }
    });
    let reply = h.vault_json(&s, PERSON, &first).await;
    assert_eq!(
        reply,
        json!({"responseStatus": "SUCCESS", "data": {"response": {
            "status": "Success", "email": "user25001@verteo.example",
            "username": "user25001@verteo.example", "person_id": "V0B000000001001",
            "record_status": "active__v"}}})
    );
    let second = json!({
        "is_investigator": true,
        "assignments": {
            "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_no_access__v"},
            "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "no_access__v"}]
        }
    });
    h.vault_json(&s, PERSON, &second).await;

    // Veeva documents no read of a person: the API refuses it, the control plane shows it.
    let refused = h.vault_get(&s, PERSON).await;
    assert_eq!(refused["responseStatus"], "FAILURE");
    assert_eq!(refused["errors"][0]["type"], "METHOD_NOT_SUPPORTED");
    let person = h.sim_get("/_sim/users/sitevault/V0B000000001001").await;
    let a = &person["assignments"];
    assert_eq!(person["is_investigator"], true);
    assert_eq!(
        a["org_assignment"],
        json!({"org_id": "V42000000001001", "system_role_id": "org_no_access__v"}),
        "add-on not repeated is removed"
    );
    assert_eq!(
        a["site_assignments"],
        json!([
            {"site_usn": "US-NC-0001", "system_role_id": "regulatory__v", "addons": ["site_budgets__v"]},
            {"site_usn": "US-NC-0002", "system_role_id": "no_access__v"}
        ])
    );
}

#[tokio::test]
async fn sitevault_rejects_invalid_bodies_naming_the_field() {
    let h = start().await;
    let s = h.login().await;
    let bad_role = json!({"is_investigator": false, "assignments": {"site_assignments": [
        {"site_usn": "US-NC-0001", "system_role_id": "owner__v"}]}});
    let reply = h.vault_json(&s, PERSON, &bad_role).await;
    assert_eq!(reply["errors"][0]["type"], "INVALID_DATA");
    let message = reply["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("assignments.site_assignments[0].system_role_id"),
        "{message}"
    );

    let unknown = h
        .vault_json(
            &s,
            "/app/sitevault/useradmin/persons/V0B999999999999",
            &json!({"is_investigator": false}),
        )
        .await;
    assert_eq!(unknown["errors"][0]["type"], "INVALID_DATA");

    let form = h
        .vault_form(&s, PERSON, &[("is_investigator", "false")])
        .await;
    assert_eq!(form["errors"][0]["type"], "INVALID_DATA");
}
