//! Veeva SiteVault people: `PUT /api/{version}/app/sitevault/useradmin/persons/{personId}`
//! with a JSON body (seed 002). One person per call; SiteVault has no bulk edit.
//!
//! SiteVault replaces each org/site block it receives, so the mapping sends whole blocks:
//! a leaver gets `org_no_access__v` for the org and `no_access__v` for every site.

mod request_builder;
mod service;

pub use request_builder::{answered_person_id, changed_body, create_person, edit_person};
pub use service::SiteVaultTarget;

/// A SiteVault is a Vault with the SiteVault application: the same connection settings.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct SiteVaultConfig(pub crate::targets::vault::VaultConfig);

impl crate::targets::TargetConfig for SiteVaultConfig {
    const NAME: &'static str = "sitevault";
    const ACCOUNT: (&'static str, crate::event::IdShape) =
        ("person_id", crate::event::IdShape::Text);
    const DEFAULT_ALLOWED_FIELDS: &'static [&'static str] = DEFAULT_ALLOWED_FIELDS;
    const PRIVILEGED_FIELDS: &'static [&'static str] = PRIVILEGED_FIELDS;
    const CREATE_FIELDS: &'static [&'static str] = CREATE_FIELDS;

    fn enabled(&self) -> bool {
        self.0.enabled
    }

    fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        self.0.validate(prefix, errors);
    }

    fn build(&self) -> anyhow::Result<std::sync::Arc<dyn crate::targets::Target>> {
        let password = self.0.resolve_password("targets.sitevault")?;
        Ok(std::sync::Arc::new(
            SiteVaultTarget::new(self.0.clone(), password).map_err(anyhow::Error::msg)?,
        ))
    }
}

/// Top-level body fields of Edit User a mapping may write.
pub const DEFAULT_ALLOWED_FIELDS: &[&str] = &["is_investigator", "assignments", "username"];

/// Create User body fields (dotted into `user`), provisioning-facts.md §1b; study
/// assignments go inside `assignments`, as Edit User reads them.
pub const CREATE_FIELDS: &[&str] = &[
    "user.email",
    "user.username",
    "user.first_name",
    "user.last_name",
    "user.security_policy_id",
    "user.person_type",
    "user.language",
    "is_investigator",
    "federated_id",
    "assignments",
];

/// SiteVault grants rights through role ids inside `assignments`, which the allow-list
/// cannot see field by field; none of its top-level fields is privileged on its own.
pub const PRIVILEGED_FIELDS: &[&str] = &[];
