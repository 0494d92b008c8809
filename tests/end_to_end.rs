//! An HR event published to RabbitMQ ends as the right HTTP requests at the simulator —
//! for each target and each action — or as a dead letter with its reason.

mod common;

use common::*;
use serde_json::{json, Value};

fn header<'a>(request: &'a Value, name: &str) -> &'a str {
    request["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {request:#}"))
}

fn assert_vault_call(request: &Value, path: &str, event: &Value) {
    assert_eq!(request["method"], "PUT");
    assert_eq!(request["path"], path);
    let auth = header(request, "authorization");
    assert!(
        !auth.is_empty() && !auth.starts_with("Basic"),
        "Vault takes the session id: {auth}"
    );
    assert_eq!(header(request, "x-vaultapi-clientid"), "verteo-hrsync");
    assert_eq!(
        header(request, "x-vaultapi-referenceid"),
        event["id"].as_str().unwrap()
    );
    assert_eq!(request["status"], 200);
}

fn assert_superoffice_put(request: &Value) {
    assert_eq!(request["method"], "PUT");
    assert_eq!(request["path"], "/api/v1/User/981");
    assert!(header(request, "content-type").starts_with("application/json"));
    // hrsync:simulator-password
    assert_eq!(
        header(request, "authorization"),
        "Basic aHJzeW5jOnNpbXVsYXRvci1wYXNzd29yZA=="
    );
}

#[tokio::test]
async fn a_joiner_updates_all_three_targets_as_their_documents_describe() {
    let h = Harness::start().await;
    let so_before = h.user("superoffice", "981").await;
    let event = joiner();
    h.publish(&event).await;

    let vault = h.wait_for_writes("vault", "PUT", 1).await;
    assert_vault_call(&vault[0], "/api/v24.1/objects/users/25001", &event);
    assert!(header(&vault[0], "content-type").starts_with("application/x-www-form-urlencoded"));
    let fields = form(&vault[0]);
    for expected in [
        ("user_first_name__v", "Ana"),
        ("user_last_name__v", "Silva"),
        ("user_email__v", "ana.silva@verteo.example"),
        ("user_title__v", "Clinical Research Associate"),
        ("company__v", "VeevaPharm"),
        ("user_timezone__v", "Europe/Lisbon"),
        ("domain_active__v", "true"),
    ] {
        assert!(
            fields.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} not in {fields:?}"
        );
    }

    let sitevault = h.wait_for_writes("sitevault", "PUT", 1).await;
    assert_vault_call(
        &sitevault[0],
        "/api/v24.2/app/sitevault/useradmin/persons/V0B000000001001",
        &event,
    );
    assert!(header(&sitevault[0], "content-type").starts_with("application/json"));
    assert_eq!(
        body_json(&sitevault[0]),
        json!({
            "assignments": {
                "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_full__v"},
                "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "study_team__v"}]
            },
            "is_investigator": false
        })
    );

    let puts = h.wait_for_writes("superoffice", "PUT", 1).await;
    assert_superoffice_put(&puts[0]);
    let gets = h.writes("superoffice", "GET").await;
    assert_eq!(gets.len(), 1, "one GET before the PUT");
    let entity = body_json(&puts[0]);
    assert_eq!(entity["Person"]["Firstname"], "Ana");
    assert_eq!(entity["Person"]["Email"], "ana.silva@verteo.example");
    assert_eq!(entity["UserGroup"]["Id"], 3);
    assert_eq!(entity["Deleted"], false);
    // Full-replacement PUT: everything the mapping does not own is sent back as it was.
    assert_eq!(entity["LicenseOwners"], so_before["LicenseOwners"]);
    assert_eq!(
        entity["Person"]["PersonId"],
        so_before["Person"]["PersonId"]
    );
    assert!(entity.get("_Links").is_none() && entity.get("TableRight").is_none());

    let vault_user = h.user("vault", "25001").await;
    assert_eq!(vault_user["user_title__v"], "Clinical Research Associate");
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_mover_sends_the_new_profile_and_recomputed_assignments() {
    let h = Harness::start().await;
    let event = mover();
    h.publish(&event).await;

    let vault = h.wait_for_writes("vault", "PUT", 1).await;
    assert_vault_call(&vault[0], "/api/v24.1/objects/users/25001", &event);
    let fields = form(&vault[0]);
    assert!(fields.contains(&(
        "user_title__v".into(),
        "Senior Clinical Research Associate".into()
    )));
    assert!(
        !fields.iter().any(|(k, _)| k == "domain_active__v"),
        "a mover does not touch activation"
    );

    let sitevault = h.wait_for_writes("sitevault", "PUT", 1).await;
    let body = body_json(&sitevault[0]);
    assert_eq!(
        body["assignments"]["org_assignment"]["system_role_id"],
        "org_full__v"
    );
    assert_eq!(
        body["assignments"]["site_assignments"],
        json!([
            {"site_usn": "US-NC-0002", "system_role_id": "regulatory__v"},
            {"site_usn": "US-CA-0007", "system_role_id": "regulatory__v"}
        ])
    );

    let puts = h.wait_for_writes("superoffice", "PUT", 1).await;
    assert_superoffice_put(&puts[0]);
    let entity = body_json(&puts[0]);
    assert_eq!(
        entity["Person"]["Title"],
        "Senior Clinical Research Associate"
    );
    assert_eq!(entity["UserGroup"]["Value"], "Regulatory Affairs");
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_loses_access_everywhere() {
    let h = Harness::start().await;
    let so_before = h.user("superoffice", "981").await;
    let event = leaver();
    h.publish(&event).await;

    let vault = h.wait_for_writes("vault", "PUT", 1).await;
    assert_vault_call(&vault[0], "/api/v24.1/objects/users/25001", &event);
    assert_eq!(
        form(&vault[0]),
        vec![("domain_active__v".to_string(), "false".to_string())]
    );

    // Seed 002's example body, exactly.
    let sitevault = h.wait_for_writes("sitevault", "PUT", 1).await;
    assert_eq!(
        body_json(&sitevault[0]),
        json!({
            "is_investigator": false,
            "assignments": {
                "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_no_access__v"},
                "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "no_access__v"}]
            }
        })
    );

    let puts = h.wait_for_writes("superoffice", "PUT", 1).await;
    assert_superoffice_put(&puts[0]);
    let entity = body_json(&puts[0]);
    assert_eq!(entity["Deleted"], true);
    assert_eq!(
        entity["Person"]["Firstname"], so_before["Person"]["Firstname"],
        "leaver keeps the profile"
    );

    h.wait_idle().await;
    assert_eq!(h.user("vault", "25001").await["domain_active__v"], false);
    assert_eq!(h.user("superoffice", "981").await["Deleted"], true);
    h.stop().await;
}

#[tokio::test]
async fn a_title_full_of_form_syntax_arrives_as_one_field() {
    let h = Harness::start().await;
    let mut event = mover();
    event["data"]["person"]["title"] = json!("R&D&is_domain_admin__v=true");
    h.publish(&event).await;
    let vault = h.wait_for_writes("vault", "PUT", 1).await;
    let fields = form(&vault[0]);
    assert!(fields.contains(&("user_title__v".into(), "R&D&is_domain_admin__v=true".into())));
    assert!(!fields.iter().any(|(k, _)| k == "is_domain_admin__v"));
    h.wait_idle().await;
    let user = h.user("vault", "25001").await;
    assert_eq!(user["user_title__v"], "R&D&is_domain_admin__v=true");
    assert_eq!(user["is_domain_admin__v"], false);
    h.stop().await;
}

#[tokio::test]
async fn a_path_traversal_id_is_dead_lettered_and_never_sent() {
    let h = Harness::start().await;
    let mut event = leaver();
    event["data"]["accounts"]["sitevault"]["person_id"] = json!("V0B000000001001/../../auth");
    h.publish(&event).await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "invalid_id");
    assert_eq!(letters[0].header("x-hrsync-target"), "sitevault");
    assert!(letters[0]
        .header("x-hrsync-error")
        .starts_with("accounts.sitevault.person_id:"));
    assert_eq!(
        letters[0].body,
        event.to_string().into_bytes(),
        "the original body is kept"
    );
    h.wait_idle().await;
    assert!(h
        .requests("sitevault")
        .await
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("persons")));
    // The other targets were still updated.
    assert_eq!(h.writes("vault", "PUT").await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_without_an_account_in_a_target_is_dead_lettered_as_unlinked() {
    let h = Harness::start().await;
    let mut event = leaver();
    event["data"]["accounts"]
        .as_object_mut()
        .unwrap()
        .remove("superoffice");
    h.publish(&event).await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "unlinked");
    assert_eq!(letters[0].header("x-hrsync-target"), "superoffice");
    h.wait_idle().await;
    assert_eq!(h.writes("vault", "PUT").await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_binary_mode_event_is_applied() {
    let h = Harness::start().await;
    let event = mover();
    let id = new_id();
    let properties = hrsync::source::publish::binary_mode_properties(&[
        ("specversion", "1.0"),
        ("id", &id),
        ("source", "urn:hr:workday"),
        ("type", "hr.employee.mover"),
        ("subject", "E100234"),
        ("time", "2026-11-22T09:15:00Z"),
        ("sequence", "5"),
    ]);
    h.publish_raw(
        "hr.employee.mover",
        event["data"].to_string().as_bytes(),
        properties,
    )
    .await;
    let vault = h.wait_for_writes("vault", "PUT", 1).await;
    assert_eq!(vault[0]["headers"]["x-vaultapi-referenceid"], id.as_str());
    h.stop().await;
}
