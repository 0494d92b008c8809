//! End-to-end tests of the simulator over real HTTP (127.0.0.1:0, reqwest), one behaviour
//! per test: the things hrsync's clients rely on and the control plane tests rely on.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{serve, Simulator, SimulatorConfig};

const V: &str = "v24.1";
const SO_AUTH: &str = "Basic aHJzeW5jOnNpbXVsYXRvci1wYXNzd29yZA==";

struct Harness {
    base: String,
    client: Client,
    _stop: oneshot::Sender<()>,
}

async fn start_with(config: SimulatorConfig) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let sim = Simulator::new(config);
    tokio::spawn(serve(listener, sim, async {
        let _ = stopped.await;
    }));
    Harness {
        base,
        client: Client::new(),
        _stop: stop,
    }
}

async fn start() -> Harness {
    start_with(SimulatorConfig {
        seed_users: 20,
        ..SimulatorConfig::default()
    })
    .await
}

async fn body(response: Response) -> Value {
    response.json().await.unwrap()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self) -> String {
        let response = self
            .client
            .post(self.url(&format!("/api/{V}/auth")))
            .form(&[
                ("username", "hrsync@verteo.example"),
                ("password", "simulator-password"),
            ])
            .send()
            .await
            .unwrap();
        let body = body(response).await;
        assert_eq!(body["responseStatus"], "SUCCESS", "{body}");
        body["sessionId"].as_str().unwrap().to_owned()
    }

    async fn vault_form(&self, session: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .put(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    async fn vault_json(&self, session: &str, path: &str, json: &Value) -> Value {
        let response = self
            .client
            .put(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", format!("Bearer {session}"))
            .json(json)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    async fn vault_get(&self, session: &str, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .send()
            .await
            .unwrap();
        body(response).await
    }

    async fn sim_get(&self, path: &str) -> Value {
        body(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    async fn fault(&self, fault: Value) {
        let response = self
            .client
            .post(self.url("/_sim/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{fault}");
    }

    fn so(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/api/v1{path}")))
            .header("Authorization", SO_AUTH)
    }
}

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

#[tokio::test]
async fn superoffice_put_replaces_the_whole_entity() {
    let h = start().await;
    let user = body(
        h.so(reqwest::Method::GET, "/User/981")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(user["Person"]["Firstname"], "Ana");
    assert!(user["_Links"]["Self"]
        .as_str()
        .unwrap()
        .ends_with("/api/v1/User/981"));

    let response = h
        .so(reqwest::Method::PUT, "/User/981")
        .json(&json!({"AssociateId": 981, "Name": "AS", "UserName": "ana", "TableRight": {"Mask": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let saved = body(response).await;
    assert_eq!(saved["Name"], "AS");
    assert_eq!(saved["Role"], Value::Null);
    assert_eq!(saved["UserGroup"], Value::Null);
    assert_eq!(saved["Person"], Value::Null);
    assert_eq!(saved["LicenseOwners"], json!([]));
    assert_eq!(saved["Rank"], 0);
    assert_eq!(saved["Type"], "Unknown");
    let stored = h.sim_get("/_sim/users/superoffice/981").await;
    assert!(stored.get("TableRight").is_none());
    assert_eq!(stored["Person"], Value::Null);

    let empty = h
        .so(reqwest::Method::PUT, "/User/981")
        .header("Content-Type", "application/json; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body(empty).await["ErrorMessage"],
        "Entity to save is not in request body"
    );
}

#[tokio::test]
async fn superoffice_requires_authorization_and_known_ids() {
    let h = start().await;
    let response = h
        .client
        .get(h.url("/api/v1/User/981"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(response).await["Error"], true);
    let missing = h.so(reqwest::Method::GET, "/User/5").send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(missing).await["ErrorType"], "SoNotFoundException");
}

async fn so_patch(h: &Harness, ops: Value) -> Response {
    h.so(reqwest::Method::PATCH, "/User/982")
        .header("Content-Type", "application/json-patch+json")
        .body(ops.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn superoffice_patch_is_case_insensitive_and_409s_on_failed_test() {
    let h = start().await;
    let failed = so_patch(
        &h,
        json!([
            {"op": "replace", "path": "person/firstname", "value": "Zed"},
            {"op": "test", "path": "/Deleted", "value": true}
        ]),
    )
    .await;
    assert_eq!(failed.status(), StatusCode::CONFLICT);
    let stored = h.sim_get("/_sim/users/superoffice/982").await;
    assert_eq!(stored["Person"]["Firstname"], "Bruno", "nothing applied");

    let ok = so_patch(
        &h,
        json!([
            {"op": "test", "path": "/deleted", "value": false},
            {"op": "replace", "path": "Person/Firstname", "value": "Zed"}
        ]),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let saved = body(ok).await;
    assert_eq!(saved["Person"]["Firstname"], "Zed");
    assert_eq!(saved["Role"]["Value"], "User", "PATCH keeps other fields");
}

#[tokio::test]
async fn superoffice_make_retired_drops_licences() {
    let h = start().await;
    let response = h
        .so(reqwest::Method::POST, "/Agents/User/MakeRetired")
        .json(&json!({"AssociateId": 983, "Retired": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let user = h.sim_get("/_sim/users/superoffice/983").await;
    assert_eq!(user["Deleted"], true);
    assert_eq!(user["IsPersonRetired"], true);
    assert_eq!(user["Person"]["Retired"], 1);
    let licence = &user["LicenseOwners"][0]["RestrictedModuleLicenses"][0];
    assert_eq!(licence["Assigned"], false);
}

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

#[tokio::test]
async fn unknown_vault_resources_are_malformed_urls() {
    let h = start().await;
    let s = h.login().await;
    let reply = h.vault_get(&s, "/objects/widgets/1").await;
    assert_eq!(reply["errors"][0]["type"], "MALFORMED_URL");
}
