//! An HR event published to RabbitMQ ends as the right HTTP requests at the simulator —
//! for each target and each action — or as a dead letter with its reason.

use hrsync_testkit::*;
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

fn assert_superoffice_patch(request: &Value) {
    assert_eq!(request["method"], "PATCH");
    assert_eq!(request["path"], "/api/v1/User/981");
    assert!(header(request, "content-type").starts_with("application/json-patch+json"));
    // hrsync:simulator-password
    assert_eq!(
        header(request, "authorization"),
        "Basic aHJzeW5jOnNpbXVsYXRvci1wYXNzd29yZA=="
    );
}

/// JSON Patch `replace`/`add` ops as path → value.
fn replaced(ops: &Value) -> serde_json::Map<String, Value> {
    ops_of(ops, &["replace", "add"])
}

/// JSON Patch `test` ops as path → value.
fn tested(ops: &Value) -> serde_json::Map<String, Value> {
    ops_of(ops, &["test"])
}

fn ops_of(ops: &Value, kinds: &[&str]) -> serde_json::Map<String, Value> {
    ops.as_array()
        .unwrap()
        .iter()
        .filter(|op| kinds.contains(&op["op"].as_str().unwrap()))
        .map(|op| {
            (
                op["path"].as_str().unwrap().to_string(),
                op["value"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_joiner_updates_all_three_targets_as_their_documents_describe() {
    let h = Harness::start().await;
    // A pre-provisioned, inactive account: the joiner must fill and enable it.
    h.sim
        .seed(
            "vault",
            "25001",
            json!({"id": 25001, "user_name__v": "ana.silva@verteo.example", "active__v": false,
               "domain_active__v": false, "security_profile__v": "document_user__v",
               "license_type__v": "full__v", "is_domain_admin__v": false}),
        )
        .await;
    h.sim.seed_person("org_no_access__v", &[]).await;
    let mut so_before = h.sim.user("superoffice", "981").await;
    so_before["Person"]["Firstname"] = json!("Anna");
    so_before["Person"]["Email"] = json!("a.silva@old.example");
    h.sim.seed("superoffice", "981", so_before.clone()).await;
    let event = joiner();
    h.publish(&event).await;

    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
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

    let sitevault = h.sim.wait_for_writes("sitevault", "PUT", 1).await;
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

    let patches = h.sim.wait_for_writes("superoffice", "PATCH", 1).await;
    assert_superoffice_patch(&patches[0]);
    let gets = h.sim.writes("superoffice", "GET").await;
    assert_eq!(gets.len(), 1, "one GET before the PATCH");
    assert!(
        h.sim.writes("superoffice", "PUT").await.is_empty(),
        "never a full-replacement PUT"
    );
    let ops = body_json(&patches[0]);
    let set = replaced(&ops);
    assert_eq!(set["/Person/Firstname"], "Ana");
    assert_eq!(set["/Person/Email"], "ana.silva@verteo.example");
    assert_eq!(set["/UserGroup"]["Id"], 3);
    // Each replaced field is guarded by a test of the value that was read.
    assert_eq!(
        tested(&ops)["/Person/Firstname"],
        so_before["Person"]["Firstname"]
    );
    assert!(
        !set.contains_key("/LicenseOwners"),
        "fields the mapping does not own are not sent"
    );
    h.wait_idle().await;
    let so_after = h.sim.user("superoffice", "981").await;
    assert_eq!(so_after["LicenseOwners"], so_before["LicenseOwners"]);
    assert_eq!(
        so_after["Person"]["PersonId"],
        so_before["Person"]["PersonId"]
    );
    assert_eq!(so_after["Person"]["Firstname"], "Ana");

    let vault_user = h.sim.user("vault", "25001").await;
    assert_eq!(vault_user["user_title__v"], "Clinical Research Associate");
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_mover_sends_the_new_profile_and_recomputed_assignments() {
    let h = Harness::start().await;
    // The joiner hrsync applied before: a CRA at two sites.
    let mut joiner = joiner();
    joiner["data"]["sites"] = json!(["US-NC-0002", "US-TX-0001"]);
    h.publish(&joiner).await;
    h.sim.wait_for_writes("sitevault", "PUT", 1).await;
    h.wait_idle().await;
    let event = mover();
    h.publish(&event).await;

    let vault = h.sim.wait_for_writes("vault", "PUT", 2).await;
    assert_vault_call(&vault[1], "/api/v24.1/objects/users/25001", &event);
    let fields = form(&vault[1]);
    assert!(fields.contains(&(
        "user_title__v".into(),
        "Senior Clinical Research Associate".into()
    )));
    assert!(
        !fields.iter().any(|(k, _)| k == "domain_active__v"),
        "the user is active already: the mover asserts it, nothing to write"
    );

    // Assignments recomputed against what hrsync applied (SiteVault has no read): the
    // unchanged org block is not re-sent, the new site is added with the role's add-ons,
    // and the site no longer held is set to no_access__v.
    let sitevault = h.sim.wait_for_writes("sitevault", "PUT", 2).await;
    assert_eq!(
        body_json(&sitevault[1]),
        json!({"is_investigator": false, "assignments": {"site_assignments": [
            {"site_usn": "US-NC-0002", "system_role_id": "regulatory__v", "addons": ["site_profiles__v"]},
            {"site_usn": "US-CA-0007", "system_role_id": "regulatory__v", "addons": ["site_profiles__v"]},
            {"site_usn": "US-TX-0001", "system_role_id": "no_access__v"}
        ]}})
    );
    assert!(
        h.sim
            .requests("sitevault")
            .await
            .iter()
            .all(|r| r["method"] != "GET"),
        "no undocumented read of the person"
    );

    let patches = h.sim.wait_for_writes("superoffice", "PATCH", 2).await;
    assert_superoffice_patch(&patches[1]);
    let set = replaced(&body_json(&patches[1]));
    assert_eq!(set["/Person/Title"], "Senior Clinical Research Associate");
    assert_eq!(set["/UserGroup"]["Value"], "Regulatory Affairs");
    h.stop().await;
}

#[tokio::test]
async fn sitevault_add_ons_come_from_the_mapping_and_survive_movers_with_the_same_roles() {
    let h = Harness::start().await;
    let mut joiner = joiner();
    joiner["data"]["roles"] = json!(["site_admin"]);
    h.publish(&joiner).await;
    let first = h.sim.wait_for_writes("sitevault", "PUT", 1).await;
    // The first write is the whole mapped state, add-ons included.
    assert_eq!(
        body_json(&first[0])["assignments"],
        json!({
            "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_admin__v",
                               "addons": ["org_patients__v"]},
            "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "regulatory__v",
                                  "addons": ["site_budgets__v", "site_profiles__v"]}]
        })
    );
    h.wait_idle().await;
    // Two movers with the same roles (a new title, then a new department): SiteVault's
    // blocks are unchanged, so nothing is sent and the add-ons stay.
    for (sequence, title) in [(2, "Site Lead"), (3, "Senior Site Lead")] {
        let mut mover = joiner.clone();
        mover["id"] = json!(new_id());
        mover["type"] = json!("hr.employee.mover");
        mover["sequence"] = json!(sequence);
        mover["data"]["person"]["title"] = json!(title);
        h.publish(&mover).await;
    }
    h.sim.wait_for_writes("vault", "PUT", 3).await;
    h.wait_idle().await;
    assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), 1);
    let person = h.sim.user("sitevault", "V0B000000001001").await;
    assert_eq!(
        person["assignments"]["org_assignment"]["addons"],
        json!(["org_patients__v"])
    );
    let site = person["assignments"]["site_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site_usn"] == "US-NC-0002")
        .unwrap()
        .clone();
    assert_eq!(
        site["addons"],
        json!(["site_budgets__v", "site_profiles__v"])
    );
    // A change of role sends the block with exactly the new role's add-ons.
    let mut mover = joiner.clone();
    mover["id"] = json!(new_id());
    mover["type"] = json!("hr.employee.mover");
    mover["sequence"] = json!(4);
    mover["data"]["roles"] = json!(["study_coordinator"]);
    h.publish(&mover).await;
    let writes = h.sim.wait_for_writes("sitevault", "PUT", 2).await;
    assert_eq!(
        body_json(&writes[1])["assignments"],
        json!({
            "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_full__v",
                               "addons": ["org_patients__v"]},
            "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "study_team__v",
                                  "addons": ["site_patients__v"]}]
        })
    );
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_loses_access_everywhere() {
    let h = Harness::start().await;
    h.sim
        .seed_person("org_full__v", &[("US-NC-0002", "study_team__v")])
        .await;
    let so_before = h.sim.user("superoffice", "981").await;
    let event = leaver();
    h.publish(&event).await;

    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
    assert_vault_call(&vault[0], "/api/v24.1/objects/users/25001", &event);
    assert_eq!(
        form(&vault[0]),
        vec![("domain_active__v".to_string(), "false".to_string())]
    );

    // Seed 002's example body, exactly.
    let sitevault = h.sim.wait_for_writes("sitevault", "PUT", 1).await;
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

    // SuperOffice: retired through the MakeRetired agent, which also drops the licences.
    let posts = h.sim.wait_for_writes("superoffice", "POST", 1).await;
    assert_eq!(posts[0]["path"], "/api/v1/Agents/User/MakeRetired");
    assert_eq!(
        body_json(&posts[0]),
        json!({"AssociateId": 981, "Retired": true})
    );
    assert!(h.sim.writes("superoffice", "PATCH").await.is_empty());

    h.wait_idle().await;
    assert_eq!(
        h.sim.user("vault", "25001").await["domain_active__v"],
        false
    );
    let so_after = h.sim.user("superoffice", "981").await;
    assert_eq!(so_after["Deleted"], true);
    assert_eq!(so_after["IsPersonRetired"], true);
    assert!(
        !so_after["LicenseOwners"]
            .to_string()
            .contains("\"Assigned\":true"),
        "retiring removed the licences"
    );
    assert_eq!(
        so_after["Person"]["Firstname"], so_before["Person"]["Firstname"],
        "leaver keeps the profile"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_title_full_of_form_syntax_arrives_as_one_field() {
    let h = Harness::start().await;
    let mut event = mover();
    event["data"]["person"]["title"] = json!("R&D&is_domain_admin__v=true");
    h.publish(&event).await;
    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
    let fields = form(&vault[0]);
    assert!(fields.contains(&("user_title__v".into(), "R&D&is_domain_admin__v=true".into())));
    assert!(!fields.iter().any(|(k, _)| k == "is_domain_admin__v"));
    h.wait_idle().await;
    let user = h.sim.user("vault", "25001").await;
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
        .sim
        .requests("sitevault")
        .await
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("persons")));
    // The other targets were still updated.
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), 1);
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
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), 1);
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
    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
    assert_eq!(vault[0]["headers"]["x-vaultapi-referenceid"], id.as_str());
    h.stop().await;
}

#[tokio::test]
async fn a_binary_mode_event_with_a_native_amqp_timestamp_for_time_is_applied() {
    use lapin::types::{AMQPValue, FieldTable};
    let h = Harness::start().await;
    let event = mover();
    let id = new_id();
    let mut headers = FieldTable::default();
    for (name, value) in [
        ("specversion", "1.0"),
        ("id", id.as_str()),
        ("source", "urn:hr:workday"),
        ("type", "hr.employee.mover"),
        ("subject", "E100234"),
    ] {
        headers.insert(
            format!("cloudEvents:{name}").into(),
            AMQPValue::LongString(value.into()),
        );
    }
    // 2026-11-22T09:15:00Z as AMQP's own timestamp type, and the sequence as an integer.
    headers.insert(
        "cloudEvents:time".into(),
        AMQPValue::Timestamp(1_795_338_900),
    );
    headers.insert("cloudEvents:sequence".into(), AMQPValue::LongLongInt(5));
    let properties = lapin::BasicProperties::default()
        .with_content_type("application/json".into())
        .with_headers(headers)
        .with_delivery_mode(2);
    h.publish_raw(
        "hr.employee.mover",
        event["data"].to_string().as_bytes(),
        properties,
    )
    .await;
    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
    assert_eq!(vault[0]["headers"]["x-vaultapi-referenceid"], id.as_str());
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}
