//! SuperOffice: reading, replacing, patching and retiring users.

use super::*;

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
