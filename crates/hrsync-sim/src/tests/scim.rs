//! SCIM: creating users (RFC 7644 §3.3) and the filters a client looks an account up by.

use reqwest::Method;

use super::*;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

async fn post_user(h: &Harness, content_type: &str, user: &Value) -> Response {
    h.scim(Method::POST, "/Users")
        .header("Content-Type", content_type)
        .body(user.to_string())
        .send()
        .await
        .unwrap()
}

async fn filter(h: &Harness, filter: &str) -> Vec<String> {
    let query = serde_urlencoded::to_string([("filter", filter)]).unwrap();
    let response = h
        .scim(Method::GET, &format!("/Users?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn nora() -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": "Nora.Lind@verteo.example",
           "externalId": "HR-77", "name": {"givenName": "Nora", "familyName": "Lind"},
           "emails": [{"value": "Nora.Lind@verteo.example", "type": "work", "primary": true}],
           "id": "ignored", "meta": {"resourceType": "Group"}})
}

#[tokio::test]
async fn post_creates_a_user_with_location_and_meta() {
    let h = start().await;
    let response = post_user(&h, "application/scim+json", &nora()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["id"], "u25021", "the provider's id, not the body's");
    assert_eq!(created["active"], true, "default");
    assert_eq!(created["schemas"], json!([USER_SCHEMA]));
    let meta = &created["meta"];
    assert_eq!(meta["resourceType"], "User");
    assert_eq!(meta["location"], location);
    assert!(location.starts_with("http://") && location.ends_with("/api/scim/v2/Users/u25021"));
    assert_eq!(meta["created"], meta["lastModified"]);
    assert!(meta["created"].as_str().unwrap().ends_with('Z'));

    let read: Value = h
        .scim(Method::GET, "/Users/u25021")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["externalId"], "HR-77");
    assert_eq!(read["meta"]["created"], meta["created"]);

    let json_too =
        json!({"schemas": [USER_SCHEMA], "UserName": "plain@verteo.example", "active": false});
    let response = post_user(&h, "application/json", &json_too).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        (created["userName"].clone(), created["active"].clone()),
        (json!("plain@verteo.example"), json!(false))
    );
}

#[tokio::test]
async fn post_refuses_taken_or_missing_user_names_and_bad_bodies() {
    let h = start().await;
    let taken = json!({"schemas": [USER_SCHEMA], "userName": "USER25001@verteo.EXAMPLE"});
    let response = post_user(&h, "application/scim+json", &taken).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "uniqueness");
    assert_eq!(error["status"], "409");

    let cases = [
        (
            json!({"schemas": [USER_SCHEMA], "displayName": "x"}),
            "invalidValue",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": ""}),
            "invalidValue",
        ),
        (json!({"userName": "x@y.z"}), "invalidSyntax"),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x@y.z", "shoeSize": 44}),
            "invalidValue",
        ),
        (json!([{"schemas": [USER_SCHEMA]}]), "invalidSyntax"),
    ];
    for (body, scim_type) in cases {
        let response = post_user(&h, "application/scim+json", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], scim_type, "{body}");
    }
    let form = post_user(&h, "application/x-www-form-urlencoded", &nora()).await;
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        h.sim_get("/_sim/users").await["scim"]
            .as_object()
            .unwrap()
            .len(),
        20
    );
}

#[tokio::test]
async fn filters_by_external_id_exactly_and_emails_ignoring_case() {
    let h = start().await;
    post_user(&h, "application/scim+json", &nora()).await;
    assert_eq!(filter(&h, r#"externalId eq "HR-77""#).await, ["u25021"]);
    assert!(
        filter(&h, r#"externalId eq "hr-77""#).await.is_empty(),
        "caseExact"
    );
    assert_eq!(
        filter(&h, r#"emails.value eq "nora.lind@VERTEO.example""#).await,
        ["u25021"]
    );
    assert_eq!(
        filter(&h, r#"userName eq "NORA.LIND@verteo.example""#).await,
        ["u25021"]
    );
    assert_eq!(
        filter(&h, r#"emails.value eq "user25002@verteo.example""#).await,
        ["u25002"]
    );
}
