//! SuperOffice user creation: person, default carrier, save; the owner-company rule, the
//! uniqueness checks, and the Online restriction of the User agent.

use reqwest::Method;

use super::*;

async fn so_json(h: &Harness, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = h.so(method, path).json(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn so_get(h: &Harness, path: &str) -> (StatusCode, Value) {
    let response = h.so(Method::GET, path).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates a person on `contact`; returns its id.
async fn person(h: &Harness, email: &str, contact: i64) -> i64 {
    let entity = json!({"Firstname": "Nora", "Lastname": "Lind", "Title": "CRA",
                        "Emails": [{"Value": email}], "Contact": {"ContactId": contact}});
    let (status, saved) = so_json(h, Method::POST, "/Person", &entity).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    saved["PersonId"].as_i64().unwrap()
}

/// The default carrier for `person_id`, filled in with a user name and initials.
async fn carrier(h: &Harness, person_id: i64, user_name: &str, initials: &str) -> Value {
    let path = format!("/User/Default?userType=InternalAssociate&personId={person_id}");
    let (status, mut user) = so_get(h, &path).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["UserName"] = json!(user_name);
    user["Name"] = json!(initials);
    user
}

#[tokio::test]
async fn person_then_default_then_save_makes_a_full_user() {
    let h = start().await;
    let (status, saved) = so_json(
        &h,
        Method::POST,
        "/Person",
        &json!({"firstname": "Nora", "LASTNAME": "Lind", "Emails": [{"Value": "nora@verteo.example"}],
                "Contact": {"ContactId": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["PersonId"], 5021);
    assert_eq!(saved["Contact"]["ContactId"], 1);
    assert_eq!(saved["Emails"][0]["Value"], "nora@verteo.example");
    assert_eq!(saved["FullName"], "Nora Lind");
    assert!(saved["_Links"]["Self"]
        .as_str()
        .unwrap()
        .ends_with("/api/v1/Person/5021"));
    let (_, read) = so_get(&h, "/Person/5021").await;
    assert_eq!(
        (read["Firstname"].clone(), read["IsAssociate"].clone()),
        (json!("Nora"), json!(false))
    );

    let (_, default) = so_get(&h, "/User/Default?userType=InternalAssociate&personId=5021").await;
    assert_eq!(default["AssociateId"], 0);
    assert_eq!(
        (default["Name"].clone(), default["UserName"].clone()),
        (json!(""), json!(""))
    );
    assert_eq!(default["Type"], "InternalAssociate");
    assert_eq!(default["Deleted"], false);
    assert_eq!(default["Person"]["PersonId"], 5021);
    assert_eq!(default["Person"]["Email"], "nora@verteo.example");
    assert_eq!(default["Person"]["ContactId"], 1);
    let seeded = h.sim_get("/_sim/users/superoffice/981").await;
    assert_eq!(default["Role"], seeded["Role"]);
    assert_eq!(default["UserGroup"], seeded["UserGroup"]);
    assert_eq!(default["LicenseOwners"], seeded["LicenseOwners"]);

    let mut user = default;
    user["UserName"] = json!("nora@verteo.example");
    user["Name"] = json!("NL");
    let (status, created) = so_json(&h, Method::POST, "/User", &user).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["AssociateId"], 1001);
    assert_eq!(created["Person"]["AssociateId"], 1001);
    assert!(created["_Links"]["Self"]
        .as_str()
        .unwrap()
        .ends_with("/api/v1/User/1001"));

    let (status, by_id) = so_get(&h, "/User/1001").await;
    assert_eq!(
        (status, by_id["Name"].clone()),
        (StatusCode::OK, json!("NL"))
    );
    let (_, by_name) = so_get(&h, "/User/NORA@verteo.example").await;
    assert_eq!(by_name["AssociateId"], 1001);
    let (_, found) = so_get(
        &h,
        "/User?$select=associateDbId&$filter=personEmail eq 'Nora@Verteo.example'",
    )
    .await;
    assert_eq!(found["value"], json!([{"associateDbId": 1001}]));
    let (_, found) = so_get(
        &h,
        "/User?$select=associateDbId&$filter=userName eq 'nora@verteo.example'",
    )
    .await;
    assert_eq!(found["value"], json!([{"associateDbId": 1001}]));
    let (_, read) = so_get(&h, "/Person/5021").await;
    assert_eq!(read["IsAssociate"], true);

    let patched = h
        .so(Method::PATCH, "/User/1001")
        .header("Content-Type", "application/json-patch+json")
        .body(json!([{"op": "replace", "path": "/NickName", "value": "nora"}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let (status, _) = so_json(
        &h,
        Method::POST,
        "/Agents/User/MakeRetired",
        &json!({"AssociateId": 1001, "Retired": true}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.sim_get("/_sim/users/superoffice/1001").await["Deleted"],
        true
    );

    let log = h.sim_get("/_sim/requests?target=superoffice").await;
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == "/api/v1/Person"));
}

#[tokio::test]
async fn a_person_needs_a_contact() {
    let h = start().await;
    for entity in [
        json!({"Firstname": "No", "Lastname": "Contact"}),
        json!({"Firstname": "No", "Contact": {"ContactId": 0}}),
        json!({"Firstname": "No", "Contact": null}),
    ] {
        let (status, error) = so_json(&h, Method::POST, "/Person", &entity).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{entity}");
        assert_eq!(error["Error"], true);
    }
    let (status, error) = so_get(&h, "/Person/77").await;
    assert_eq!(
        (status, error["ErrorType"].clone()),
        (StatusCode::NOT_FOUND, json!("SoNotFoundException"))
    );
}

#[tokio::test]
async fn default_user_needs_a_known_person_of_an_owner_company() {
    let h = start_with(SimulatorConfig {
        seed_users: 2,
        superoffice_owner_contacts: vec![1, 7],
        ..SimulatorConfig::default()
    })
    .await;
    let (status, error) = so_get(&h, "/User/Default?userType=InternalAssociate&personId=999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["ErrorType"], "SoNotFoundException");

    let outsider = person(&h, "out@partner.example", 42).await;
    let path = format!("/User/Default?userType=InternalAssociate&personId={outsider}");
    let (status, error) = so_get(&h, &path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = error["ErrorMessage"].as_str().unwrap();
    assert!(
        message.contains("Our companies") && message.contains("owner company"),
        "{message}"
    );

    let second_owner = person(&h, "in@verteo.example", 7).await;
    let path = format!("/User/Default?userType=InternalAssociate&personId={second_owner}");
    assert_eq!(so_get(&h, &path).await.0, StatusCode::OK);
    let (status, system) = so_get(&h, "/User/Default?userType=SystemAssociate").await;
    assert_eq!(
        (status, system["Person"].clone()),
        (StatusCode::OK, Value::Null)
    );
    assert_eq!(
        so_get(&h, "/User/Default?userType=InternalAssociate")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn save_checks_names_and_the_person() {
    let h = start().await;
    let p = person(&h, "nora@verteo.example", 1).await;
    let good = carrier(&h, p, "nora@verteo.example", "NL").await;
    let with = |key: &str, value: Value| {
        let mut user = good.clone();
        user[key] = value;
        user
    };
    let refused = [
        (with("UserName", json!("")), "UserName is required"),
        (
            with("UserName", json!("USER25001@verteo.example")),
            "already in use",
        ),
        (with("Name", Value::Null), "is required"),
        (with("Name", json!("u981")), "already in use"),
        (with("AssociateId", json!(981)), "AssociateId must be 0"),
        (
            with("Person", json!({"PersonId": 4242})),
            "Person 4242 does not exist",
        ),
        (
            with("Person", json!({"PersonId": 5001})),
            "already user 981",
        ),
        (with("Person", Value::Null), "Person.PersonId is required"),
    ];
    for (user, expected) in refused {
        let (status, error) = so_json(&h, Method::POST, "/User", &user).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}");
        let message = error["ErrorMessage"].as_str().unwrap();
        assert!(message.contains(expected), "{message} / {expected}");
    }
    assert_eq!(
        h.sim_get("/_sim/users").await["superoffice"]
            .as_object()
            .unwrap()
            .len(),
        20
    );

    assert_eq!(
        so_json(&h, Method::POST, "/User", &good).await.0,
        StatusCode::OK
    );
    let (status, error) = so_json(
        &h,
        Method::POST,
        "/User",
        &with("UserName", json!("other@x.y")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "one user per person: {error}"
    );
}

#[tokio::test]
async fn online_restriction_forbids_user_management_only() {
    let h = start_with(SimulatorConfig {
        seed_users: 2,
        superoffice_user_agent_allowed: false,
        ..SimulatorConfig::default()
    })
    .await;
    let forbidden = json!({
        "Error": true, "ErrorType": "SoAccessDeniedException",
        "ErrorMessage": "The User agent is not available in Online by default. User management is not allowed for partner apps.",
        "ErrorSource": "SuperOffice.Simulator"});
    let p = person(&h, "nora@verteo.example", 1).await;
    let default = so_get(
        &h,
        &format!("/User/Default?userType=InternalAssociate&personId={p}"),
    )
    .await;
    assert_eq!(default, (StatusCode::FORBIDDEN, forbidden.clone()));
    let save = so_json(
        &h,
        Method::POST,
        "/User",
        &json!({"UserName": "n", "Name": "N"}),
    )
    .await;
    assert_eq!(save, (StatusCode::FORBIDDEN, forbidden.clone()));
    let retire = so_json(
        &h,
        Method::POST,
        "/Agents/User/MakeRetired",
        &json!({"AssociateId": 981, "Retired": true}),
    )
    .await;
    assert_eq!(retire, (StatusCode::FORBIDDEN, forbidden));
    assert_eq!(
        h.sim_get("/_sim/users/superoffice/981").await["Deleted"],
        false
    );

    assert_eq!(so_get(&h, "/User/981").await.0, StatusCode::OK);
    let patched = h
        .so(Method::PATCH, "/User/981")
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"NickName": "ana"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(
        so_get(&h, "/User?$filter=userName eq 'user25001@verteo.example'")
            .await
            .0,
        StatusCode::OK
    );
}
