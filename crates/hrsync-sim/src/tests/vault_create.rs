//! Vault Create Single User: what is required and refused, the domain-only variant, and
//! that a created user is a user like the seeded ones for every other call.

use super::*;

const USERS: &str = "/objects/users";

/// The eight required fields for `name` (also the e-mail), plus `extra`.
fn user_form<'a>(name: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("user_name__v", name),
        ("user_first_name__v", "Nora"),
        ("user_last_name__v", "Lind"),
        ("user_email__v", name),
        ("user_timezone__v", "Europe/Oslo"),
        ("user_locale__v", "nb_NO"),
        ("security_policy_id__v", "1234"),
        ("user_language__v", "en"),
    ];
    form.extend_from_slice(extra);
    form
}

#[tokio::test]
async fn created_user_is_stored_like_seeded_ones() {
    let h = start().await;
    let s = h.login().await;
    let form = user_form(
        "nora.lind@verteo.example",
        &[("federated_id__v", "NL-1"), ("user_title__v", "CRA")],
    );
    let reply = h.vault_post_form(&s, USERS, &form).await;
    assert_eq!(reply, json!({"responseStatus": "SUCCESS", "id": "25021"}));

    let user = h.vault_get(&s, "/objects/users/25021").await;
    let user = &user["users"][0]["user"];
    assert_eq!(user["id"], 25021);
    assert_eq!(user["user_name__v"], "nora.lind@verteo.example");
    assert_eq!(user["security_policy_id__v"], "1234");
    assert_eq!(user["federated_id__v"], "NL-1");
    assert_eq!(user["user_title__v"], "CRA");
    assert_eq!(user["domain_active__v"], true);
    assert_eq!(user["active__v"], true);
    assert_eq!(user["security_profile__v"], "document_user__v", "default");
    assert_eq!(user["license_type__v"], "full__v", "default");
    assert_eq!(
        user["vault_membership"],
        json!([{"id": 1776, "active_vault_membership__v": true,
                "security_profile_vault_membership__v": "document_user__v",
                "license_type_vault_membership__v": "full__v"}])
    );

    let updated = h
        .vault_form(&s, "/objects/users/25021", &[("alias__v", "Nora")])
        .await;
    assert_eq!(updated["responseStatus"], "SUCCESS");
    let bulk = h
        .vault_json(&s, USERS, &json!([{"id": 25021, "company__v": "Verteo"}]))
        .await;
    assert_eq!(bulk["data"][0]["responseStatus"], "SUCCESS");
    let stored = h.sim_get("/_sim/users/vault/25021").await;
    assert_eq!(
        (&stored["alias__v"], &stored["company__v"]),
        (&json!("Nora"), &json!("Verteo"))
    );

    let next = h
        .vault_post_form(&s, USERS, &user_form("second@verteo.example", &[]))
        .await;
    assert_eq!(next["id"], "25022", "ids keep growing");
}

#[tokio::test]
async fn create_takes_profile_and_licence_and_refuses_update_only_fields() {
    let h = start().await;
    let s = h.login().await;
    let extra = [
        ("security_profile__v", "system_admin__v"),
        ("license_type__v", "read_only__v"),
    ];
    let reply = h
        .vault_post_form(&s, USERS, &user_form("admin@verteo.example", &extra))
        .await;
    let id = reply["id"].as_str().unwrap();
    let user = h.sim_get(&format!("/_sim/users/vault/{id}")).await;
    assert_eq!(
        user["vault_membership"][0]["security_profile_vault_membership__v"],
        "system_admin__v"
    );
    assert_eq!(user["license_type__v"], "read_only__v");

    let domain_active = user_form("x@verteo.example", &[("domain_active__v", "true")]);
    let refused = h.vault_post_form(&s, USERS, &domain_active).await;
    assert_eq!(refused["errors"][0]["type"], "ATTRIBUTE_NOT_SUPPORTED");
    let unknown = user_form("x@verteo.example", &[("nickname__v", "x")]);
    let refused = h.vault_post_form(&s, USERS, &unknown).await;
    assert_eq!(refused["errors"][0]["type"], "ATTRIBUTE_NOT_SUPPORTED");
    assert!(h
        .sim_get("/_sim/users/vault/25022")
        .await
        .get("error")
        .is_some());
}

#[tokio::test]
async fn create_names_each_missing_required_field() {
    let h = start().await;
    let s = h.login().await;
    let full = user_form("nora@verteo.example", &[]);
    for (missing, _) in &full {
        let form: Vec<_> = full.iter().filter(|(k, _)| k != missing).copied().collect();
        let reply = h.vault_post_form(&s, USERS, &form).await;
        assert_eq!(reply["responseStatus"], "FAILURE", "{missing}");
        assert_eq!(reply["errors"][0]["type"], "PARAMETER_REQUIRED");
        assert_eq!(
            reply["errors"][0]["message"],
            format!("Missing required parameter [{missing}]")
        );
    }
    let empty: Vec<_> = full
        .iter()
        .map(|&(k, v)| {
            if k == "user_last_name__v" {
                (k, "")
            } else {
                (k, v)
            }
        })
        .collect();
    let reply = h.vault_post_form(&s, USERS, &empty).await;
    assert_eq!(reply["errors"][0]["type"], "PARAMETER_REQUIRED");
    assert_eq!(
        h.sim_get("/_sim/users").await["vault"]
            .as_object()
            .unwrap()
            .len(),
        20
    );
}

#[tokio::test]
async fn create_refuses_taken_user_names_and_federated_ids() {
    let h = start().await;
    let s = h.login().await;
    let taken = user_form("USER25001@Verteo.Example", &[]);
    let reply = h.vault_post_form(&s, USERS, &taken).await;
    assert_eq!(reply["errors"][0]["type"], "INVALID_DATA");
    assert_eq!(
        reply["errors"][0]["message"],
        "user_name__v [USER25001@Verteo.Example] already exists"
    );

    let first = user_form("fed1@verteo.example", &[("federated_id__v", "FED-1")]);
    assert_eq!(
        h.vault_post_form(&s, USERS, &first).await["responseStatus"],
        "SUCCESS"
    );
    let second = user_form("fed2@verteo.example", &[("federated_id__v", "FED-1")]);
    let reply = h.vault_post_form(&s, USERS, &second).await;
    assert_eq!(reply["errors"][0]["type"], "FEDERATED_ID_ALREADY_EXISTS");
    assert_eq!(
        h.sim_get("/_sim/users").await["vault"]
            .as_object()
            .unwrap()
            .len(),
        21
    );
}

#[tokio::test]
async fn domain_true_creates_a_user_without_vault_membership() {
    let h = start().await;
    let s = h.login().await;
    let form = user_form(
        "domain.only@verteo.example",
        &[("security_profile__v", "system_admin__v")],
    );
    let reply = h
        .vault_post_form(&s, "/objects/users?domain=true", &form)
        .await;
    let user = h
        .sim_get(&format!(
            "/_sim/users/vault/{}",
            reply["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(user["vault_membership"], json!([]));
    assert_eq!(user["domain_active__v"], true);
    assert_eq!(user["active__v"], false, "no membership of this Vault");
    assert_eq!(
        user.get("security_profile__v"),
        None,
        "a domain user gets no profile"
    );
    assert_eq!(user.get("license_type__v"), None);
}

#[tokio::test]
async fn create_multiple_users_and_other_bodies_are_refused() {
    let h = start().await;
    let s = h.login().await;
    let json_body = h
        .vault_post_json(&s, USERS, &json!([{"user_name__v": "a@b.c"}]))
        .await;
    assert_eq!(json_body["errors"][0]["type"], "OPERATION_NOT_ALLOWED");
    assert_eq!(
        json_body["errors"][0]["message"],
        "Create Multiple Users is not simulated"
    );
    let csv = h
        .client
        .post(h.url(&format!("/api/{V}{USERS}")))
        .header("Authorization", &s)
        .header("Content-Type", "text/csv")
        .body("user_name__v\na@b.c\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(csv).await["errors"][0]["type"],
        "OPERATION_NOT_ALLOWED"
    );
    let plain = h
        .client
        .post(h.url(&format!("/api/{V}{USERS}")))
        .header("Authorization", &s)
        .header("Content-Type", "text/plain")
        .body("user_name__v=a@b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(body(plain).await["errors"][0]["type"], "INVALID_DATA");

    let no_session = h
        .client
        .post(h.url(&format!("/api/{V}{USERS}")))
        .form(&user_form("z@verteo.example", &[]))
        .send()
        .await
        .unwrap();
    let reply: Value = body(no_session).await;
    assert_eq!(reply["errors"][0]["type"], "INVALID_SESSION_ID");
}
