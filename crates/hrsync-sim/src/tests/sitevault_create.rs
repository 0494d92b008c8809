//! SiteVault Create User: one person per call, the create-only rules, e-mail clashes and
//! re-activation, and that a created person is one Edit User and VQL find.

use super::*;

const PERSONS: &str = "/app/sitevault/useradmin/persons";

fn new_person(email: &str) -> Value {
    json!({
        "user": {
            "email": email, "username": email, "first_name": "Nora", "last_name": "Lind",
            "security_policy_id": "corporate__c", "person_type": "staff__v"
        },
        "is_investigator": true,
        "federated_id": "NL-7",
        "assignments": {
            "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_full__v",
                               "addons": ["org_patients__v"]},
            "site_assignments": [{"site_usn": "US-NC-0001", "system_role_id": "study_team__v"}],
            "study_assignments": [{"id": "S-1", "study_role": "research_nurse__v"}]
        }
    })
}

async fn create(h: &Harness, s: &str, body: Value) -> Value {
    h.vault_post_json(s, PERSONS, &body).await
}

/// Removes `key` from the object at JSON pointer `parent`.
fn remove(person: &mut Value, parent: &str, key: &str) {
    if let Some(object) = person.pointer_mut(parent).and_then(Value::as_object_mut) {
        object.remove(key);
    }
}

fn message(reply: &Value) -> &str {
    assert_eq!(reply["errors"][0]["type"], "INVALID_DATA", "{reply}");
    reply["errors"][0]["message"].as_str().unwrap()
}

#[tokio::test]
async fn created_person_is_stored_edited_and_found() {
    let h = start().await;
    let s = h.login().await;
    let reply = create(&h, &s, json!([new_person("nora.lind@verteo.example")])).await;
    assert_eq!(
        reply,
        json!({"responseStatus": "SUCCESS", "data": {"response": [{
            "status": "Success", "email": "nora.lind@verteo.example",
            "person_id": "V0B000000001021", "record_status": "active__v"}]}})
    );
    let person = h.sim_get("/_sim/users/sitevault/V0B000000001021").await;
    assert_eq!(person["username"], "nora.lind@verteo.example");
    assert_eq!(person["first_name"], "Nora");
    assert_eq!(person["person_type"], "staff__v");
    assert_eq!(person["language"], "en", "default language");
    assert_eq!(person["federated_id"], "NL-7");
    assert_eq!(person["is_investigator"], true);
    assert_eq!(person["assignments"]["study_assignments"][0]["id"], "S-1");
    assert_eq!(
        person["assignments"]["org_assignment"]["addons"],
        json!(["org_patients__v"])
    );

    let edit = json!({"is_investigator": false, "assignments": {"site_assignments": [
        {"site_usn": "US-NC-0001", "system_role_id": "no_access__v"}]}});
    let edited = h
        .vault_json(&s, &format!("{PERSONS}/V0B000000001021"), &edit)
        .await;
    assert_eq!(edited["data"]["response"]["person_id"], "V0B000000001021");

    let found = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE federated_id__sys = 'NL-7'",
        )
        .await;
    assert_eq!(found["data"], json!([{"id": "V0B000000001021"}]));
    let by_email = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE email__sys = 'NORA.LIND@verteo.example'",
        )
        .await;
    assert_eq!(by_email["data"], json!([{"id": "V0B000000001021"}]));
}

#[tokio::test]
async fn create_takes_exactly_one_person_in_an_array() {
    let h = start().await;
    let s = h.login().await;
    let two = json!([
        new_person("a@verteo.example"),
        new_person("b@verteo.example")
    ]);
    assert_eq!(
        message(&create(&h, &s, two).await),
        "Bulk creation of users is not supported"
    );
    message(&create(&h, &s, new_person("a@verteo.example")).await);
    message(&create(&h, &s, json!([])).await);
    let form = h.vault_post_form(&s, PERSONS, &[("user", "x")]).await;
    message(&form);
    assert_eq!(
        h.sim_get("/_sim/users").await["sitevault"]
            .as_object()
            .unwrap()
            .len(),
        20
    );
}

#[tokio::test]
async fn create_enforces_its_own_rules() {
    let h = start().await;
    let s = h.login().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut person = new_person("rules@verteo.example");
        edit(&mut person);
        json!([person])
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|p| remove(p, "/assignments", "org_assignment")),
            "[assignments.org_assignment]",
        ),
        (with(&|p| remove(p, "", "assignments")), "[assignments]"),
        (
            with(&|p| {
                p["assignments"]["org_assignment"]["system_role_id"] = json!("org_no_access__v")
            }),
            "assignments.org_assignment.system_role_id",
        ),
        (
            with(&|p| {
                p["assignments"]["site_assignments"][0]["system_role_id"] = json!("no_access__v")
            }),
            "assignments.site_assignments[0].system_role_id",
        ),
        (with(&|p| remove(p, "/user", "email")), "[user.email]"),
        (with(&|p| remove(p, "/user", "username")), "[user.username]"),
        (
            with(&|p| p["user"]["person_type"] = json!("contractor__v")),
            "[user.person_type]",
        ),
        (
            with(&|p| p["user"]["person_type"] = json!("external__v")),
            "[is_investigator]",
        ),
        (
            with(&|p| remove(p, "", "is_investigator")),
            "[is_investigator]",
        ),
        (
            with(&|p| p["study_assignments"] = json!([])),
            "[study_assignments]",
        ),
    ];
    for (body, field) in cases {
        let reply = create(&h, &s, body).await;
        assert!(message(&reply).contains(field), "{field}: {reply}");
    }

    let veeva_id = with(&|p| {
        remove(p, "/user", "username");
        p["user"]["security_policy_id"] = json!("VeevaID");
        p["assignments"]["org_assignment"] =
            json!({"org_id": "V42000000001001", "system_role_id": "org_cant_login__v"});
        p["assignments"]["site_assignments"] =
            json!([{"site_usn": "US-NC-0001", "system_role_id": "site_cant_login__v"}]);
    });
    let reply = create(&h, &s, veeva_id).await;
    assert_eq!(reply["responseStatus"], "SUCCESS", "{reply}");
}

#[tokio::test]
async fn an_active_email_is_refused_an_inactive_one_reactivated() {
    let h = start().await;
    let s = h.login().await;
    let taken = create(&h, &s, json!([new_person("User25001@Verteo.example")])).await;
    assert_eq!(
        message(&taken),
        "a person with email User25001@Verteo.example already exists"
    );

    h.client
        .put(h.url("/_sim/users/sitevault/V0B000000001002"))
        .json(&json!({"email": "user25002@verteo.example", "record_status": "inactive__v",
                      "first_name": "Bruno",
                      "assignments": {"org_assignment": {"org_id": "V42000000001001",
                                      "system_role_id": "org_no_access__v"},
                                      "site_assignments": [{"site_usn": "OLD", "system_role_id": "no_access__v"}]}}))
        .send()
        .await
        .unwrap();
    let mut again = new_person("user25002@verteo.example");
    remove(&mut again, "/user", "first_name");
    let reply = create(&h, &s, json!([again])).await;
    assert_eq!(reply["data"]["response"][0]["person_id"], "V0B000000001002");
    assert_eq!(reply["data"]["response"][0]["record_status"], "active__v");
    let person = h.sim_get("/_sim/users/sitevault/V0B000000001002").await;
    assert_eq!(person["record_status"], "active__v");
    assert_eq!(person["first_name"], "Bruno", "kept: not sent again");
    assert_eq!(
        person["assignments"]["site_assignments"],
        json!([{"site_usn": "US-NC-0001", "system_role_id": "study_team__v"}]),
        "exactly the new assignments"
    );
    assert_eq!(
        h.sim_get("/_sim/users").await["sitevault"]
            .as_object()
            .unwrap()
            .len(),
        20
    );
}

#[tokio::test]
async fn edit_accepts_the_cant_login_roles_too() {
    let h = start().await;
    let s = h.login().await;
    let edit = json!({"is_investigator": false, "assignments": {
        "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_cant_login__v"},
        "site_assignments": [{"site_usn": "US-NC-0003", "system_role_id": "site_cant_login__v"}]}});
    let reply = h
        .vault_json(&s, &format!("{PERSONS}/V0B000000001003"), &edit)
        .await;
    assert_eq!(reply["responseStatus"], "SUCCESS", "{reply}");
}
