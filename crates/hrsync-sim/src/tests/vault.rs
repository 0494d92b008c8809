//! Vault: auth, sessions, headers and the update calls.

use super::*;

#[tokio::test]
async fn auth_then_form_put_keeps_ampersand_and_equals_in_one_field() {
    let h = start().await;
    let session = h.login().await;
    let form = [("user_title__v", "R&D = Lead"), ("company__v", "A&B=C")];
    let reply = h.vault_form(&session, "/objects/users/25001", &form).await;
    assert_eq!(reply, json!({"responseStatus": "SUCCESS", "id": 25001}));

    let user = h.vault_get(&session, "/objects/users/25001").await;
    let user = &user["users"][0]["user"];
    assert_eq!(user["user_title__v"], "R&D = Lead");
    assert_eq!(user["company__v"], "A&B=C");
    assert_eq!(
        user["user_first_name__v"], "Ana",
        "partial update keeps other fields"
    );

    let log = h.sim_get("/_sim/requests?target=vault").await;
    let put = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == "PUT")
        .unwrap();
    assert_eq!(
        put["form"],
        json!([["user_title__v", "R&D = Lead"], ["company__v", "A&B=C"]])
    );
    assert_eq!(put["status"], 200);
    assert_eq!(put["headers"]["authorization"], session);
}

#[tokio::test]
async fn vault_responses_carry_vault_headers() {
    let h = start().await;
    let session = h.login().await;
    let response = h
        .client
        .get(h.url(&format!("/api/{V}/objects/users/25002")))
        .header("Authorization", &session)
        .send()
        .await
        .unwrap();
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-vaultapi-status"), "SUCCESS");
    assert_eq!(header("x-vaultapi-burstlimit"), "2000");
    assert_eq!(header("x-vaultapi-burstlimitremaining"), "1999");
    assert_eq!(header("x-vaultapi-vaultid"), "1776");
    assert_eq!(header("x-vaultapi-userid"), "12021");
    assert!(!header("x-vaultapi-executionid").is_empty());
}

#[tokio::test]
async fn wrong_credentials_fail_with_http_200_and_are_counted() {
    let h = start().await;
    let response = h
        .client
        .post(h.url(&format!("/api/{V}/auth")))
        .form(&[("username", "hrsync@verteo.example"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let reply = body(response).await;
    assert_eq!(reply["responseStatus"], "FAILURE");
    assert_eq!(reply["errors"][0]["type"], "USERNAME_OR_PASSWORD_INCORRECT");
    assert_eq!(reply["errorType"], "AUTHENTICATION_FAILED");
    h.login().await;
    let stats = h.sim_get("/_sim/stats").await;
    assert_eq!(stats["auth_calls"], 2);
    assert_eq!(stats["requests"]["vault"], 2);
}

#[tokio::test]
async fn auth_reports_the_other_vault_when_configured() {
    let h = start_with(SimulatorConfig {
        seed_users: 1,
        other_vault_id: Some(9999),
        ..SimulatorConfig::default()
    })
    .await;
    let response = h
        .client
        .post(h.url(&format!("/api/{V}/auth")))
        .form(&[
            ("username", "hrsync@verteo.example"),
            ("password", "simulator-password"),
        ])
        .send()
        .await
        .unwrap();
    let reply = body(response).await;
    assert_eq!(reply["vaultId"], 9999);
    assert_eq!(reply["vaultIds"][0]["id"], 9999);
}

#[tokio::test]
async fn form_put_with_json_content_type_fails() {
    let h = start().await;
    let session = h.login().await;
    let reply = h
        .vault_json(
            &session,
            "/objects/users/25001",
            &json!({"user_title__v": "x"}),
        )
        .await;
    assert_eq!(reply["responseStatus"], "FAILURE");
    assert_eq!(reply["errors"][0]["type"], "INVALID_DATA");
    assert!(reply["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Content-Type"));
}

#[tokio::test]
async fn form_put_validates_names_duplicates_ids_and_null() {
    let h = start().await;
    let s = h.login().await;
    let path = "/objects/users/25001";
    let unknown = h.vault_form(&s, path, &[("User_Title__v", "x")]).await;
    assert_eq!(unknown["errors"][0]["type"], "ATTRIBUTE_NOT_SUPPORTED");
    let dup = h
        .vault_form(&s, path, &[("alias__v", "a"), ("alias__v", "b")])
        .await;
    assert_eq!(dup["errors"][0]["type"], "INVALID_DATA");
    let missing = h
        .vault_form(&s, "/objects/users/1", &[("alias__v", "a")])
        .await;
    assert_eq!(missing["errors"][0]["type"], "INVALID_DATA");
    let bad_bool = h.vault_form(&s, path, &[("active__v", "yes")]).await;
    assert_eq!(bad_bool["errors"][0]["type"], "INVALID_DATA");

    h.vault_form(&s, path, &[("alias__v", "Skipper")]).await;
    let cleared = h.vault_form(&s, path, &[("alias__v", "null")]).await;
    assert_eq!(cleared["responseStatus"], "SUCCESS");
    let user = h.sim_get("/_sim/users/vault/25001").await;
    assert_eq!(user["alias__v"], Value::Null);
}

#[tokio::test]
async fn domain_disable_deactivates_and_membership_put_uses_defaults() {
    let h = start().await;
    let s = h.login().await;
    h.vault_form(&s, "/objects/users/25003", &[("domain_active__v", "false")])
        .await;
    h.vault_form(&s, "/objects/users/25003", &[("domain_active__v", "true")])
        .await;
    let user = h.sim_get("/_sim/users/vault/25003").await;
    assert_eq!(user["domain_active__v"], true);
    assert_eq!(user["active__v"], false, "re-enable does not reactivate");

    let path = "/objects/users/25003/vault_membership/1776";
    let reply = h.vault_form(&s, path, &[("active__v", "true")]).await;
    assert_eq!(reply["responseStatus"], "SUCCESS");
    let user = h.sim_get("/_sim/users/vault/25003").await;
    assert_eq!(user["active__v"], true);
    let membership = &user["vault_membership"][0];
    assert_eq!(
        membership["security_profile_vault_membership__v"],
        "document_user__v"
    );
    assert_eq!(membership["license_type_vault_membership__v"], "full__v");

    h.vault_form(&s, path, &[("security_profile__v", "system_admin__v")])
        .await;
    h.vault_form(&s, path, &[("active__v", "true")]).await;
    let user = h.sim_get("/_sim/users/vault/25003").await;
    assert_eq!(
        user["security_profile__v"], "document_user__v",
        "omitted → default"
    );
}

#[tokio::test]
async fn bulk_update_reports_rows_in_order() {
    let h = start().await;
    let s = h.login().await;
    let rows = json!([
        {"id": 25001, "user_title__v": "One"},
        {"id": "25002", "security_profile__v": "system_admin__v"},
        {"id": 25003, "alias__v": "x"},
        {"id": 25003, "alias__v": "y"},
        {"id": 1, "alias__v": "z"},
    ]);
    let reply = h.vault_json(&s, "/objects/users", &rows).await;
    assert_eq!(reply["responseStatus"], "SUCCESS");
    let statuses: Vec<&str> = reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["responseStatus"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["SUCCESS", "FAILURE", "FAILURE", "FAILURE", "FAILURE"]
    );
    assert_eq!(reply["data"][1]["id"], "25002");
    assert_eq!(
        reply["data"][1]["errors"][0]["type"],
        "ATTRIBUTE_NOT_SUPPORTED"
    );
    let user = h.sim_get("/_sim/users/vault/25001").await;
    assert_eq!(user["user_title__v"], "One");

    let too_many: Vec<Value> = (0..501).map(|i| json!({"id": 25001 + i})).collect();
    let reply = h.vault_json(&s, "/objects/users", &json!(too_many)).await;
    assert_eq!(reply["responseStatus"], "FAILURE");
}

#[tokio::test]
async fn expired_sessions_get_invalid_session_id() {
    let h = start().await;
    let s = h.login().await;
    let ok = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(ok["responseStatus"], "SUCCESS");
    let response = h
        .client
        .post(h.url("/_sim/vault/expire-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(response).await["expired"], 1);
    let reply = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(reply["responseStatus"], "FAILURE");
    assert_eq!(reply["errors"][0]["type"], "INVALID_SESSION_ID");
    let fresh = h.login().await;
    let ok = h.vault_get(&fresh, "/objects/users/25001").await;
    assert_eq!(ok["responseStatus"], "SUCCESS");
}

#[tokio::test]
async fn sessions_expire_after_idle_ttl() {
    let h = start_with(SimulatorConfig {
        seed_users: 1,
        session_ttl: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await;
    let s = h.login().await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let reply = h.vault_get(&s, "/objects/users/25001").await;
    assert_eq!(reply["errors"][0]["type"], "INVALID_SESSION_ID");
}

#[tokio::test]
async fn unknown_vault_resources_are_malformed_urls() {
    let h = start().await;
    let s = h.login().await;
    let reply = h.vault_get(&s, "/objects/widgets/1").await;
    assert_eq!(reply["errors"][0]["type"], "MALFORMED_URL");
}
