use super::*;
use crate::config::Config;
use crate::event::{decode, Envelope};
use serde_json::json;
use std::collections::BTreeMap;

fn mapper() -> Mapper {
    let text = std::fs::read_to_string("config/hrsync.toml").unwrap();
    Mapper::new(&Config::from_toml(&text).unwrap().mapping).unwrap()
}

fn event(file: &str) -> HrEvent {
    let body = std::fs::read(format!("examples/events/{file}")).unwrap();
    let headers = BTreeMap::new();
    let envelope = Envelope {
        content_type: Some("application/cloudevents+json"),
        headers: &headers,
    };
    decode(&body, &envelope, 1 << 20, registry::account_keys()).unwrap()
}

fn kind(name: &str) -> TargetKind {
    TargetKind::named(name).unwrap()
}

#[test]
fn a_joiner_sets_the_vault_profile_and_activates_the_user() {
    let fields = mapper()
        .map(kind("vault"), &event("joiner.json"))
        .unwrap()
        .unwrap();
    assert_eq!(fields["user_first_name__v"], "Ana");
    assert_eq!(fields["user_title__v"], "Clinical Research Associate");
    assert_eq!(fields["user_timezone__v"], "Europe/Lisbon");
    assert_eq!(fields["domain_active__v"], true);
    assert!(
        !fields.contains_key("alias__v"),
        "undefined values are left out"
    );
}

#[test]
fn a_leaver_only_deactivates_in_vault() {
    let fields = mapper()
        .map(kind("vault"), &event("leaver.json"))
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(fields), json!({"domain_active__v": false}));
}

#[test]
fn a_joiner_gets_sitevault_assignments_from_roles_and_sites() {
    let fields = mapper()
        .map(kind("sitevault"), &event("joiner.json"))
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(fields),
        json!({
            "assignments": {
                // A CRA has no add-ons in the shipped tables: the lists say so (and are left
                // out of what is sent).
                "org_assignment": {"org_id": "V42000000001001", "system_role_id": "org_full__v", "addons": []},
                "site_assignments": [{"site_usn": "US-NC-0002", "system_role_id": "study_team__v", "addons": []}]
            },
            "is_investigator": false
        })
    );
}

#[test]
fn a_superoffice_joiner_gets_group_from_department_and_is_not_deleted() {
    let fields = mapper()
        .map(kind("superoffice"), &event("joiner.json"))
        .unwrap()
        .unwrap();
    assert_eq!(
        fields["UserGroup"],
        json!({"Id": 3, "Value": "Clinical Operations"})
    );
    assert_eq!(fields["Role"], json!({"Id": 2, "Value": "User"}));
    assert_eq!(fields["Person.Firstname"], "Ana");
    assert_eq!(fields["Deleted"], false);
}

#[test]
fn a_department_missing_from_the_table_is_a_mapping_error_naming_the_field() {
    let mut joiner = event("joiner.json");
    joiner.data["person"]["department"] = json!("Astrology");
    let err = mapper().map(kind("superoffice"), &joiner).unwrap_err();
    assert_eq!(err.field, "UserGroup");
    assert!(
        err.to_string()
            .starts_with("mapping.superoffice.joiner.UserGroup:"),
        "{err}"
    );
    assert!(err.detail.contains("Astrology"), "{err}");
}

#[test]
fn the_create_block_gives_a_new_vault_user_its_required_fields_and_the_employee_id() {
    let mapper = mapper();
    assert!(mapper.creates(kind("vault")));
    let fields = mapper
        .map_create(kind("vault"), &event("joiner.json"))
        .unwrap()
        .unwrap();
    for required in [
        "user_name__v",
        "user_first_name__v",
        "user_last_name__v",
        "user_email__v",
        "user_timezone__v",
        "user_locale__v",
        "security_policy_id__v",
        "user_language__v",
    ] {
        assert!(
            fields.contains_key(required),
            "{required} missing: {fields:?}"
        );
    }
    assert_eq!(fields["federated_id__v"], "E100234");
    assert!(!fields.contains_key("domain_active__v"), "not on create");
}

fn with_vault_create(lines: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string("config/hrsync.toml").unwrap();
    let text = text.replace(
        "[mapping.vault.create]\n",
        &format!("[mapping.vault.create]\n{lines}\n"),
    );
    Config::from_toml(&text).map_err(|e| e.to_string())
}

#[test]
fn a_create_block_may_set_privileged_fields_only_where_named_and_only_creation_fields() {
    let err = with_vault_create("security_profile__v = \"'system_admin__v'\"").unwrap_err();
    assert!(
        err.contains("mapping.vault.create.security_profile__v") && err.contains("privileged"),
        "{err}"
    );
    // Vault activates new users itself: the flag is not a creation field.
    let err = with_vault_create("domain_active__v = \"true\"").unwrap_err();
    assert!(
        err.contains("mapping.vault.create.domain_active__v")
            && err.contains("not a field vault accounts are created with"),
        "{err}"
    );
}
