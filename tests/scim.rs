//! The fourth target, a generic SCIM 2.0 service provider (RFC 7643/7644), end to end:
//! an event published to RabbitMQ ends as `GET /Users/{id}` and a `PatchOp` of the
//! attributes that differ at the simulator's SCIM endpoint; a leaver sets `active=false`;
//! a leaver nobody linked is found with `filter=userName eq "…"`; and the simulator refuses
//! what RFC 7644 does not allow.

use hrsync_testkit::*;
use serde_json::{json, Value};

fn with_scim(c: &mut hrsync::config::Config) {
    c.edit_target(|s: &mut ScimConfig| s.enabled = true);
}

/// A joiner whose record differs from the seeded SCIM user u25001 (Ana Silva, Clinical
/// Research Associate) in name and title.
fn scim_joiner() -> Value {
    let mut event = joiner();
    event["data"]["accounts"]["scim"] = json!({"id": "u25001"});
    event["data"]["person"]["first_name"] = json!("Beatriz");
    event["data"]["person"]["title"] = json!("Study Coordinator");
    event
}

/// The PATCH requests the SCIM endpoint received, as (path, Operations).
async fn patches(h: &Harness) -> Vec<(String, Value)> {
    h.sim
        .writes("scim", "PATCH")
        .await
        .iter()
        .map(|r| {
            let body = body_json(r);
            assert_eq!(
                body["schemas"],
                json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"])
            );
            (
                r["path"].as_str().unwrap().to_string(),
                body["Operations"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_joiner_a_mover_and_a_leaver_reach_the_scim_users_as_patch_operations() {
    let h = Harness::builder().config(with_scim).start().await;
    let joiner = scim_joiner();
    h.publish(&joiner).await;
    h.sim.wait_for_writes("scim", "PATCH", 1).await;
    h.wait_idle().await;
    let requests = h.sim.requests("scim").await;
    let first = &requests[0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/api/scim/v2/Users/u25001");
    assert_eq!(
        first["headers"]["authorization"], "Bearer simulator-scim-token",
        "bearer token"
    );
    let (path, ops) = &patches(&h).await[0];
    assert_eq!(path, "/api/scim/v2/Users/u25001");
    let replaced: std::collections::BTreeMap<String, Value> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            assert_eq!(op["op"], "replace");
            (
                op["path"].as_str().unwrap().to_string(),
                op["value"].clone(),
            )
        })
        .collect();
    assert_eq!(replaced["userName"], "ana.silva@verteo.example");
    assert_eq!(replaced["name.givenName"], "Beatriz");
    assert_eq!(replaced["displayName"], "Beatriz Silva");
    assert_eq!(replaced["title"], "Study Coordinator");
    assert!(
        !replaced.contains_key("name.familyName"),
        "the family name is the seeded one: not sent"
    );
    assert_eq!(replaced["externalId"], "E100234");
    assert_eq!(
        replaced["emails"],
        json!([{"value": "ana.silva@verteo.example", "type": "work", "primary": true}])
    );
    assert!(
        !replaced.contains_key("active"),
        "already active: nothing to write"
    );
    let user = h.sim.user("scim", "u25001").await;
    assert_eq!(user["name"]["givenName"], "Beatriz");
    assert_eq!(
        user["name"]["familyName"], "Silva",
        "the other sub-attribute kept"
    );

    // The same record again as a mover: nothing differs, nothing is sent.
    let mut same = joiner.clone();
    same["id"] = json!(new_id());
    same["type"] = json!("hr.employee.mover");
    same["sequence"] = json!(2);
    h.publish(&same).await;
    // A mover with a new title: one replace.
    let mut mover = same.clone();
    mover["id"] = json!(new_id());
    mover["sequence"] = json!(3);
    mover["data"]["person"]["title"] = json!("Lead CRA");
    h.publish(&mover).await;
    h.sim.wait_for_writes("scim", "PATCH", 2).await;
    h.wait_idle().await;
    let all = patches(&h).await;
    assert_eq!(all.len(), 2, "the unchanged mover sent nothing");
    assert_eq!(
        all[1].1,
        json!([{"op": "replace", "path": "title", "value": "Lead CRA"}])
    );

    // The leaver: active = false.
    let mut leaver = leaver();
    leaver["data"]["accounts"]["scim"] = json!({"id": "u25001"});
    h.publish(&leaver).await;
    h.sim.wait_for_writes("scim", "PATCH", 3).await;
    h.wait_idle().await;
    assert_eq!(
        patches(&h).await[2].1,
        json!([{"op": "replace", "path": "active", "value": false}])
    );
    assert_eq!(h.sim.user("scim", "u25001").await["active"], false);
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_nobody_linked_is_found_by_user_name_with_a_scim_filter() {
    let h = Harness::builder().config(with_scim).start().await;
    // Seeded SCIM user u25003 has userName user25003@verteo.example.
    let leaver = json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.leaver", "subject": "E900003", "time": "2026-11-22T09:15:00Z",
        "sequence": 3,
        "data": {"employee_id": "E900003",
                 "person": {"first_name": "Carla", "last_name": "Silva",
                            "username": "user25003@verteo.example", "email": "user25003@verteo.example"}}
    });
    h.publish(&leaver).await;
    h.sim.wait_for_writes("scim", "PATCH", 1).await;
    h.wait_idle().await;
    let search = h
        .sim
        .requests("scim")
        .await
        .into_iter()
        .find(|r| r["path"] == "/api/scim/v2/Users")
        .expect("a search");
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(search["query"].as_str().unwrap()).unwrap();
    assert_eq!(
        params,
        [(
            "filter".to_string(),
            r#"userName eq "user25003@verteo.example""#.to_string()
        )]
    );
    assert_eq!(h.sim.user("scim", "u25003").await["active"], false);
    assert_eq!(
        h.worker()
            .applier
            .store()
            .account("E900003", "scim")
            .await
            .unwrap()
            .as_deref(),
        Some("u25003"),
        "linked for next time"
    );
    h.stop().await;
}

#[tokio::test]
async fn the_simulated_scim_endpoint_refuses_what_rfc_7644_does_not_allow() {
    let h = Harness::builder()
        .store(StoreKind::Sqlite)
        .without_worker()
        .start()
        .await;
    let url = |path: &str| format!("{}/api/scim/v2{path}", h.sim_url);
    let bearer = "Bearer simulator-scim-token";
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let (status, body) = send(h.http.get(url("/Users/u25001"))).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    let patch = |body: Value| {
        h.http
            .patch(url("/Users/u25001"))
            .header("Authorization", bearer)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
    };
    let (status, body) = send(patch(
        json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
    ))
    .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidSyntax"))
    );
    let (status, body) = send(patch(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "favouriteColour", "value": "x"}]
    })))
    .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidPath"))
    );
    let (status, body) = send(
        h.http
            .get(format!(
                "{}?{}",
                url("/Users"),
                serde_urlencoded::to_string([("filter", "userName co \"user\"")]).unwrap()
            ))
            .header("Authorization", bearer),
    )
    .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
    let (status, body) = send(
        h.http
            .get(format!(
                "{}?{}",
                url("/Users"),
                serde_urlencoded::to_string([(
                    "filter",
                    "emails.value eq \"USER25002@verteo.example\""
                )])
                .unwrap()
            ))
            .header("Authorization", bearer),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["totalResults"], 1,
        "e-mails compare case-insensitively"
    );
    assert_eq!(body["Resources"][0]["id"], "u25002");
    h.stop().await;
}

#[tokio::test]
async fn a_joiner_no_scim_user_matches_is_created_with_post_users_once() {
    let h = Harness::builder().config(with_scim).start().await;
    let mut joiner = joiner();
    joiner["subject"] = json!("E777001");
    joiner["data"]["employee_id"] = json!("E777001");
    joiner["data"]["person"]["username"] = json!("zoe.new@verteo.example");
    joiner["data"]["person"]["email"] = json!("zoe.new@verteo.example");
    joiner["data"]["person"]["first_name"] = json!("Zoe");
    joiner["data"]["accounts"]
        .as_object_mut()
        .unwrap()
        .remove("scim");
    // The first POST is committed and answered 502: the retry must find, not repeat it.
    h.sim
        .fault(
            Fault::after_commit_status(FaultTarget::Scim, 502)
                .method("POST")
                .path("/Users"),
        )
        .await;
    h.publish(&joiner).await;
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="scim""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    let posts = h.sim.writes("scim", "POST").await;
    assert_eq!(posts.len(), 1, "one POST /Users");
    let body = body_json(&posts[0]);
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert_eq!(body["externalId"], "E777001");
    assert_eq!(body["name"]["givenName"], "Zoe");
    let users = h
        .sim
        .find_users("scim", "userName", "zoe.new@verteo.example")
        .await;
    assert_eq!(users.len(), 1);
    // The search before the create was by externalId, the HR employee id.
    let searches: Vec<String> = h
        .sim
        .requests("scim")
        .await
        .iter()
        .filter(|r| r["method"] == "GET" && r["query"].is_string())
        .map(|r| r["query"].as_str().unwrap().to_string())
        .collect();
    assert!(
        searches[0].contains("externalId"),
        "first search: {searches:?}"
    );
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}
