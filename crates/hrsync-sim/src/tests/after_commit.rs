//! `after_commit` faults: the request is handled (the account exists) and then the answer
//! is replaced by a status or held back; counted, method-filtered, auth excluded.

use std::time::Instant;

use reqwest::Method;

use super::*;
use crate::FaultTarget;

fn vault_user(name: &str) -> Vec<(&str, &str)> {
    vec![
        ("user_name__v", name),
        ("user_first_name__v", "Nora"),
        ("user_last_name__v", "Lind"),
        ("user_email__v", name),
        ("user_timezone__v", "Europe/Oslo"),
        ("user_locale__v", "nb_NO"),
        ("security_policy_id__v", "1234"),
        ("user_language__v", "en"),
    ]
}

async fn vault_create(h: &Harness, session: &str, name: &str) -> reqwest::Result<Response> {
    h.client
        .post(h.url(&format!("/api/{V}/objects/users")))
        .header("Authorization", session)
        .form(&vault_user(name))
        .send()
        .await
}

/// The stored Vault users named `name`.
async fn vault_named(h: &Harness, name: &str) -> Vec<Value> {
    let users = h.sim_get("/_sim/users").await;
    users["vault"]
        .as_object()
        .unwrap()
        .values()
        .filter(|u| u["user_name__v"] == name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn status_replaces_the_answer_of_a_committed_create_once() {
    let h = start().await;
    h.fault_spec(&FaultSpec::after_commit_status(FaultTarget::Vault, 503).method("POST"))
        .await;
    let s = h.login().await; // auth is excluded (and is a POST)
    let read = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(read["responseStatus"], "SUCCESS", "a GET does not match");

    let lost = vault_create(&h, &s, "lost@verteo.example").await.unwrap();
    assert_eq!(lost.status(), StatusCode::SERVICE_UNAVAILABLE);
    let reply: Value = lost.json().await.unwrap();
    assert_eq!(reply["responseStatus"], "EXCEPTION", "Vault's error shape");
    assert_eq!(
        vault_named(&h, "lost@verteo.example").await.len(),
        1,
        "committed"
    );

    let next = vault_create(&h, &s, "next@verteo.example").await.unwrap();
    assert_eq!(
        body(next).await["responseStatus"],
        "SUCCESS",
        "counted once"
    );
    assert_eq!(h.sim_get("/_sim/faults").await, json!([]));
}

#[tokio::test]
async fn status_keeps_each_targets_error_shape() {
    let h = start().await;
    h.fault_spec(&FaultSpec::after_commit_status(FaultTarget::Scim, 500))
        .await;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                      "userName": "scim.lost@verteo.example"});
    let response = h
        .scim(Method::POST, "/Users")
        .header("Content-Type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let scim = h.sim_get("/_sim/users").await["scim"].clone();
    assert!(scim
        .as_object()
        .unwrap()
        .values()
        .any(|u| u["userName"] == "scim.lost@verteo.example"));

    h.fault_spec(&FaultSpec::after_commit_status(
        FaultTarget::Superoffice,
        502,
    ))
    .await;
    let response = h
        .so(Method::POST, "/Person")
        .json(&json!({"Lastname": "Lost", "Contact": {"ContactId": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body(response).await["Error"], true);
    let person = h.so(Method::GET, "/Person/5021").send().await.unwrap();
    assert_eq!(
        body(person).await["Lastname"],
        "Lost",
        "the person was saved"
    );
}

#[tokio::test]
async fn delay_loses_the_answer_to_a_shorter_timeout_after_the_commit() {
    let h = start().await;
    let s = h.login().await;
    h.fault_spec(&FaultSpec::after_commit_delay(FaultTarget::Vault, 800).times(2))
        .await;
    let impatient = h
        .client
        .post(h.url(&format!("/api/{V}/objects/users")))
        .header("Authorization", &s)
        .timeout(Duration::from_millis(200))
        .form(&vault_user("timeout@verteo.example"))
        .send()
        .await;
    assert!(impatient.unwrap_err().is_timeout());
    assert_eq!(
        vault_named(&h, "timeout@verteo.example").await.len(),
        1,
        "committed"
    );

    let started = Instant::now();
    let patient = vault_create(&h, &s, "patient@verteo.example")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    let reply = body(patient).await;
    assert_eq!(reply["responseStatus"], "SUCCESS", "the real answer, late");

    let started = Instant::now();
    vault_create(&h, &s, "prompt@verteo.example").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "times(2) used up"
    );
}

#[tokio::test]
async fn after_commit_needs_an_effect_and_serialises_its_knobs() {
    let h = start().await;
    let refused = h
        .client
        .post(h.url("/_sim/faults"))
        .json(&json!({"target": "vault", "kind": "after_commit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let spec = FaultSpec::after_commit_status(FaultTarget::Sitevault, 504)
        .times(3)
        .method("POST");
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        json!({"target": "sitevault", "include_auth": false, "method": "POST",
               "kind": "after_commit", "status": 504, "delay_ms": null, "times": 3})
    );
    let delay = serde_json::to_value(FaultSpec::after_commit_delay(FaultTarget::Any, 50)).unwrap();
    assert_eq!(
        (delay["delay_ms"].clone(), delay["times"].clone()),
        (json!(50), json!(1))
    );
    h.fault_spec(&spec).await;
    assert_eq!(h.sim_get("/_sim/faults").await[0]["times"], 3);
}

#[tokio::test]
async fn a_path_filter_lets_other_paths_of_the_same_method_through() {
    let h = start().await;
    h.fault_spec(
        &FaultSpec::after_commit_status(FaultTarget::Vault, 503)
            .method("POST")
            .path("/objects/users"),
    )
    .await;
    let s = h.login().await;
    // Another POST (a VQL query) does not match and does not use the fault up.
    let query = h
        .client
        .post(h.url(&format!("/api/{V}/query")))
        .header("Authorization", &s)
        .form(&[("q", "SELECT id FROM users WHERE user_name__v = 'nobody'")])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::OK);
    let lost = vault_create(&h, &s, "path@verteo.example").await.unwrap();
    assert_eq!(lost.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(vault_named(&h, "path@verteo.example").await.len(), 1);
}

#[tokio::test]
async fn a_fault_after_n_lets_the_first_n_matching_requests_through() {
    let h = start().await;
    h.fault_spec(
        &FaultSpec::status(FaultTarget::Vault, 500)
            .times(5)
            .after(1)
            .method("GET"),
    )
    .await;
    let s = h.login().await;
    let first = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(first["responseStatus"], "SUCCESS", "the first one passes");
    let second = h
        .client
        .get(h.url(&format!("/api/{V}/objects/users/25001")))
        .header("Authorization", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
