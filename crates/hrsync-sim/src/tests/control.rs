//! The control plane: faults, the request log, `/_sim/users`, stats.

use super::*;

#[tokio::test]
async fn status_fault_applies_n_times_then_clears() {
    let h = start().await;
    h.fault(json!({"target": "superoffice", "kind": "status", "status": 429, "times": 2, "retry_after_secs": 3}))
        .await;
    for _ in 0..2 {
        let response = h
            .so(reqwest::Method::GET, "/User/981")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "3");
    }
    let response = h
        .so(reqwest::Method::GET, "/User/981")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    h.fault(json!({"target": "vault", "kind": "status", "status": 503, "times": 1}))
        .await;
    let s = h.login().await; // auth is not faulted by default
    let response = h
        .client
        .get(h.url(&format!("/api/{V}/objects/users/25001")))
        .header("Authorization", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ok = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(ok["responseStatus"], "SUCCESS");
}

#[tokio::test]
async fn failure_latency_and_clear_faults() {
    let h = start().await;
    let s = h.login().await;
    h.fault(json!({"target": "vault", "kind": "failure", "failure_type": "RACE_CONDITION"}))
        .await;
    h.fault(json!({"target": "any", "kind": "latency", "latency_ms": 1}))
        .await;
    let reply = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(reply["errors"][0]["type"], "RACE_CONDITION");
    let reply = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(reply["responseStatus"], "SUCCESS");
    assert_eq!(h.sim_get("/_sim/faults").await.as_array().unwrap().len(), 1);
    let cleared = h.client.delete(h.url("/_sim/faults")).send().await.unwrap();
    assert_eq!(body(cleared).await["cleared"], 1);
}

#[tokio::test]
async fn burst_knob_delays_once_nothing_remains() {
    let h = start().await;
    let s = h.login().await;
    h.fault(json!({"kind": "burst", "limit": 10, "remaining": 1, "delay_ms": 5}))
        .await;
    let get = || {
        h.client
            .get(h.url(&format!("/api/{V}/objects/users/25001")))
            .header("Authorization", &s)
            .send()
    };
    let first = get().await.unwrap();
    assert_eq!(first.headers()["x-vaultapi-burstlimitremaining"], "0");
    assert!(first.headers().get("x-vaultapi-responsedelay").is_none());
    let second = get().await.unwrap();
    assert_eq!(second.headers()["x-vaultapi-responsedelay"], "5");
    assert_eq!(second.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_log_filters_and_clears() {
    let h = start().await;
    let s = h.login().await;
    h.vault_get(&s, "/objects/users/25001").await;
    h.so(reqwest::Method::GET, "/User/981")
        .send()
        .await
        .unwrap();
    let all = h.sim_get("/_sim/requests").await;
    let targets: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["vault", "vault", "superoffice"]);
    assert_eq!(all[0]["path"], format!("/api/{V}/auth"));
    assert_eq!(all[0]["seq"], 1);
    let so = h.sim_get("/_sim/requests?target=superoffice").await;
    assert_eq!(so.as_array().unwrap().len(), 1);
    h.client
        .delete(h.url("/_sim/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.sim_get("/_sim/requests").await, json!([]));
}

#[tokio::test]
async fn sim_users_can_be_read_and_seeded() {
    let h = start().await;
    let all = h.sim_get("/_sim/users").await;
    assert_eq!(all["vault"].as_object().unwrap().len(), 20);
    assert_eq!(
        all["sitevault"]["V0B000000001001"]["person_id"],
        "V0B000000001001"
    );
    assert_eq!(all["superoffice"]["981"]["Type"], "InternalAssociate");
    let response = h
        .client
        .put(h.url("/_sim/users/superoffice/5000"))
        .json(&json!({"Name": "NEW"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let user = body(
        h.so(reqwest::Method::GET, "/User/5000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(user["Name"], "NEW");
    assert_eq!(user["AssociateId"], 5000);
    assert_eq!(h.sim_get("/_sim/health").await["status"], "ok");
}

#[tokio::test]
async fn status_for_lasts_a_period_and_auth_needs_include_auth() {
    let h = start().await;
    h.fault(json!({"target": "vault", "kind": "status_for", "status": 502, "duration_ms": 150}))
        .await;
    let s = h.login().await;
    let response = h
        .client
        .get(h.url(&format!("/api/{V}/objects/users/25001")))
        .header("Authorization", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(ok["responseStatus"], "SUCCESS");

    h.fault(json!({"target": "vault", "kind": "failure", "failure_type": "USER_LOCKED_OUT", "include_auth": true}))
        .await;
    let response = h
        .client
        .post(h.url(&format!("/api/{V}/auth")))
        .form(&[("username", "a"), ("password", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(body(response).await["errors"][0]["type"], "USER_LOCKED_OUT");
    let stats = h.sim_get("/_sim/stats").await;
    assert_eq!(stats["requests"]["sitevault"], 0);
}
