use super::*;

const SHIPPED: &str = "config/hrsync.toml";

fn shipped_text() -> String {
    std::fs::read_to_string(SHIPPED).unwrap()
}

#[test]
fn the_shipped_configuration_loads_and_validates() {
    let config = Config::from_toml(&shipped_text()).unwrap();
    assert_eq!(config.rabbitmq.queue, "hrsync.events");
    assert_eq!(
        config
            .target::<crate::targets::vault::VaultConfig>()
            .unwrap()
            .vault_id,
        1776
    );
    assert!(config.rabbitmq.password.resolve().is_ok());
}

#[test]
fn an_unknown_key_is_rejected_and_named() {
    let text = shipped_text().replace("prefetch = 32", "prefetch = 32\nprefech = 3");
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("prefech"), "{err}");
}

#[test]
fn a_bad_value_names_its_key() {
    let text = shipped_text().replace("prefetch = 32", "prefetch = \"many\"");
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("rabbitmq.prefetch"), "{err}");
}

#[test]
fn semantic_problems_are_all_reported_with_their_keys() {
    let text = shipped_text()
        .replace("concurrency = 8", "concurrency = 0")
        .replace("api_version = \"v24.1\"", "api_version = \"24\"")
        .replace(
            "url = \"amqp://127.0.0.1:5672/%2f\"",
            "url = \"amqp://u:p@127.0.0.1:5672/%2f\"",
        );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    for key in [
        "worker.concurrency",
        "targets.vault.api_version",
        "rabbitmq.url",
    ] {
        assert!(err.contains(key), "{key} missing from {err}");
    }
    assert!(!err.contains("u:p@"), "credentials leaked into {err}");
}

#[test]
fn a_privileged_field_needs_explicit_permission() {
    let text = shipped_text().replace(
        "domain_active__v = \"true\"",
        "domain_active__v = \"true\"\nis_domain_admin__v = \"true\"",
    );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(
        err.contains("mapping.vault.joiner.is_domain_admin__v") && err.contains("privileged"),
        "{err}"
    );
    let allowed = text.replace(
        "[mapping.vault]\nprivileged_fields = [\"security_policy_id__v\"]",
        "[mapping.vault]\nprivileged_fields = [\"security_policy_id__v\", \"is_domain_admin__v\"]",
    );
    assert!(Config::from_toml(&allowed).is_ok());
}

#[test]
fn a_field_outside_the_allow_list_is_rejected() {
    let text = shipped_text().replace(
        "[mapping.vault.leaver]\n",
        "[mapping.vault.leaver]\nfavourite_colour__c = \"'blue'\"\n",
    );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(
        err.contains("mapping.vault.leaver.favourite_colour__c"),
        "{err}"
    );
}

#[test]
fn a_broken_expression_is_caught_at_start_up() {
    let text = shipped_text().replace(
        "user_title__v = \"person.title\"",
        "user_title__v = \"person.title +\"",
    );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(
        err.contains("user_title__v: expression does not compile"),
        "{err}"
    );
}

#[test]
fn environment_variables_override_the_file() {
    // Only this test calls `Config::load`, the one entry point that reads the environment.
    let path = std::env::temp_dir().join(format!("hrsync-env-test-{}.toml", std::process::id()));
    let text = shipped_text().replace(
        "config/dev-secrets",
        &format!("{}/config/dev-secrets", env!("CARGO_MANIFEST_DIR")),
    );
    std::fs::write(&path, text).unwrap();
    std::env::set_var("HRSYNC_RABBITMQ__PREFETCH", "64");
    std::env::set_var("HRSYNC_TARGETS__VAULT__PASSWORD", "from-env");
    let config = Config::load(&path).unwrap();
    std::env::remove_var("HRSYNC_RABBITMQ__PREFETCH");
    std::env::remove_var("HRSYNC_TARGETS__VAULT__PASSWORD");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(config.rabbitmq.prefetch, 64);
    let secret = config
        .target::<crate::targets::vault::VaultConfig>()
        .unwrap()
        .password
        .resolve()
        .unwrap();
    assert_eq!(secret.expose(), "from-env");
}

#[test]
fn the_configuration_reference_matches_the_config_structs() {
    let documented = std::fs::read_to_string("docs/configuration.md").unwrap();
    assert!(
        documented == reference::markdown(),
        "docs/configuration.md drifted from the config structs; regenerate it with \
         `cargo run -- config-reference > docs/configuration.md`"
    );
}

#[test]
fn every_key_of_the_shipped_configuration_is_in_the_reference() {
    let documented = reference::markdown();
    let shipped: toml::Table = std::fs::read_to_string(SHIPPED).unwrap().parse().unwrap();
    fn keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                // Mapping tables and secrets are documented as a whole.
                toml::Value::Table(inner)
                    if !key.starts_with("mapping")
                        && !inner.contains_key("file")
                        && key != "targets.superoffice.auth" =>
                {
                    keys(inner, &key, out)
                }
                _ => out.push(key),
            }
        }
    }
    let mut all = Vec::new();
    keys(&shipped, "", &mut all);
    for key in all.iter().filter(|k| !k.starts_with("mapping")) {
        assert!(
            documented.contains(&format!("`{key}`")),
            "{key} is not in the configuration reference"
        );
    }
}

#[test]
fn secrets_from_environment_overrides_survive_toml_parsing() {
    use figment::providers::Serialized;
    let digits: SecretSource = Figment::new()
        .merge(Serialized::default("s", 12345))
        .extract_inner("s")
        .unwrap();
    assert_eq!(digits.resolve().unwrap().expose(), "12345");
    // `{ env = "X" }` given by an override lands on top of the file's `{ file = … }`.
    let merged: SecretSource = Figment::new()
        .merge(Serialized::default(
            "s",
            serde_json::json!({"file": "/run/x"}),
        ))
        .merge(Serialized::default(
            "s",
            serde_json::json!({"env": "HRSYNC_TEST_SECRET_VAR"}),
        ))
        .extract_inner("s")
        .unwrap();
    assert!(matches!(merged, SecretSource::Env { ref env } if env == "HRSYNC_TEST_SECRET_VAR"));
}

#[test]
fn a_log_level_that_would_silence_all_logging_is_refused() {
    for bad in ["inof", "info,lapin=loud", "=debug", ""] {
        let text = shipped_text().replace("level = \"info\"", &format!("level = {bad:?}"));
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("log.level"), "{bad:?}: {err}");
    }
    for good in [
        "info",
        "WARN",
        "info,hrsync=debug",
        "hrsync::apply=trace,warn",
    ] {
        let text = shipped_text().replace("level = \"info\"", &format!("level = {good:?}"));
        assert!(Config::from_toml(&text).is_ok(), "{good:?}");
    }
}

#[test]
fn tls_files_are_read_and_checked_at_start_naming_the_key() {
    let with = |tls: &str| {
        shipped_text().replace(
            "reconnect_max_delay = \"30s\"",
            &format!("reconnect_max_delay = \"30s\"\ntls = {tls}"),
        )
    };
    let missing = Config::from_toml(&with(r#"{ ca_file = "/nonexistent/ca.pem" }"#))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("rabbitmq.tls.ca_file: cannot read"),
        "{missing}"
    );
    let not_pem = Config::from_toml(&with(r#"{ ca_file = "Cargo.toml" }"#))
        .unwrap_err()
        .to_string();
    assert!(not_pem.contains("rabbitmq.tls.ca_file"), "{not_pem}");
    let half = Config::from_toml(&with(r#"{ cert_file = "Cargo.toml" }"#))
        .unwrap_err()
        .to_string();
    assert!(
        half.contains("rabbitmq.tls.key_file: needed with cert_file"),
        "{half}"
    );
}
