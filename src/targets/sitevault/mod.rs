//! Veeva SiteVault people: `PUT /api/{version}/app/sitevault/useradmin/persons/{personId}`
//! with a JSON body (seed 002). One person per call; SiteVault has no bulk edit.
//!
//! SiteVault replaces each org/site block it receives, so the mapping sends whole blocks:
//! a leaver gets `org_no_access__v` for the org and `no_access__v` for every site.

mod request_builder;
mod service;

pub use request_builder::{changed_body, edit_person};
pub use service::SiteVaultTarget;

/// A SiteVault is a Vault with the SiteVault application: same connection settings.
pub type SiteVaultConfig = crate::targets::vault::VaultConfig;

/// Top-level body fields of Edit User a mapping may write.
pub const DEFAULT_ALLOWED_FIELDS: &[&str] = &["is_investigator", "assignments", "username"];

/// SiteVault grants rights through role ids inside `assignments`, which the allow-list
/// cannot see field by field; none of its top-level fields is privileged on its own.
pub const PRIVILEGED_FIELDS: &[&str] = &[];
