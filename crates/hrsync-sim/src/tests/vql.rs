//! VQL lookups: `users` and `person__sys`, how each field compares, the escapes, the
//! answer's shape, and that a `person__sys` query counts as SiteVault traffic.

use super::*;

fn ids(reply: &serde_json::Value) -> Vec<serde_json::Value> {
    reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].clone())
        .collect()
}

#[tokio::test]
async fn users_by_name_and_email_ignore_case_federated_id_is_exact() {
    let h = start().await;
    let s = h.login().await;
    let reply = h
        .vql(
            &s,
            "SELECT id FROM users WHERE user_name__v = 'USER25002@verteo.example'",
        )
        .await;
    assert_eq!(
        reply,
        json!({"responseStatus": "SUCCESS",
               "responseDetails": {"pagesize": 1000, "pageoffset": 0, "size": 1, "total": 1},
               "data": [{"id": 25002}]})
    );
    let by_email = h
        .vql(
            &s,
            "select id from users where user_email__v = 'user25003@VERTEO.example'",
        )
        .await;
    assert_eq!(ids(&by_email), [json!(25003)]);

    h.vault_form(&s, "/objects/users/25004", &[("federated_id__v", "Fed-4")])
        .await;
    let exact = h
        .vql(&s, "SELECT id FROM users WHERE federated_id__v = 'Fed-4'")
        .await;
    assert_eq!(ids(&exact), [json!(25004)]);
    let other_case = h
        .vql(&s, "SELECT id FROM users WHERE federated_id__v = 'FED-4'")
        .await;
    assert_eq!(other_case["responseDetails"]["total"], 0);
    assert_eq!(other_case["data"], json!([]));
}

#[tokio::test]
async fn literals_unescape_quotes_and_backslashes() {
    let h = start().await;
    let s = h.login().await;
    h.client
        .put(h.url("/_sim/users/vault/30000"))
        .json(&json!({"user_name__v": r"o'neil\ops@verteo.example"}))
        .send()
        .await
        .unwrap();
    let reply = h
        .vql(
            &s,
            r"SELECT id FROM users WHERE user_name__v = 'O\'Neil\\Ops@verteo.example'",
        )
        .await;
    assert_eq!(ids(&reply), [json!(30000)]);
}

#[tokio::test]
async fn person_sys_queries_answer_from_sitevault_and_count_as_sitevault() {
    let h = start().await;
    let s = h.login().await;
    h.client
        .put(h.url("/_sim/users/sitevault/V0B000000009000"))
        .json(&json!({"email": "fed@verteo.example", "federated_id": "F-9", "record_status": "active__v"}))
        .send()
        .await
        .unwrap();
    h.client
        .delete(h.url("/_sim/requests"))
        .send()
        .await
        .unwrap();

    let by_email = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE email__sys = 'User25001@Verteo.example'",
        )
        .await;
    assert_eq!(by_email["data"], json!([{"id": "V0B000000001001"}]));
    assert_eq!(by_email["responseDetails"]["pagesize"], 1000);
    let by_federated = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE federated_id__sys = 'F-9'",
        )
        .await;
    assert_eq!(ids(&by_federated), [json!("V0B000000009000")]);
    let wrong_case = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE federated_id__sys = 'f-9'",
        )
        .await;
    assert_eq!(wrong_case["data"], json!([]));

    assert_eq!(
        h.sim_get("/_sim/requests?target=sitevault")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(h.sim_get("/_sim/requests?target=vault").await, json!([]));
    let stats = h.sim_get("/_sim/stats").await;
    assert_eq!(stats["requests"]["sitevault"], 3);

    h.vql(&s, "SELECT id FROM users WHERE user_name__v = 'x@y.z'")
        .await;
    let vault_log = h.sim_get("/_sim/requests?target=vault").await;
    assert_eq!(
        vault_log.as_array().unwrap().len(),
        1,
        "a users query stays Vault's"
    );
}

#[tokio::test]
async fn sitevault_faults_hit_person_queries_only() {
    let h = start().await;
    let s = h.login().await;
    h.fault(json!({"target": "sitevault", "kind": "failure", "failure_type": "RACE_CONDITION"}))
        .await;
    let users = h
        .vql(
            &s,
            "SELECT id FROM users WHERE user_name__v = 'user25001@verteo.example'",
        )
        .await;
    assert_eq!(users["responseStatus"], "SUCCESS");
    let persons = h
        .vql(
            &s,
            "SELECT id FROM person__sys WHERE email__sys = 'user25001@verteo.example'",
        )
        .await;
    assert_eq!(persons["errors"][0]["type"], "RACE_CONDITION");
}

#[tokio::test]
async fn unsupported_queries_fail_as_before() {
    let h = start().await;
    let s = h.login().await;
    for q in [
        "SELECT id FROM users WHERE alias__v = 'a'",
        "SELECT id FROM person__sys WHERE name__v = 'a'",
        "SELECT id FROM users WHERE user_name__v = 'a' AND active__v = true",
    ] {
        let reply = h.vql(&s, q).await;
        assert_eq!(reply["errors"][0]["type"], "INVALID_DATA", "{q}");
    }
    let no_q = h.vault_post_form(&s, "/query", &[("query", "x")]).await;
    assert_eq!(no_q["errors"][0]["type"], "PARAMETER_REQUIRED");
}
