//! Veeva Vault users: `PUT /api/{version}/objects/users/{id}`, form-urlencoded, with a
//! Vault session (see [`crate::targets::veeva_session`]).
//!
//! A rehire (a joiner whose user is disabled at domain level) also needs its Vault
//! membership re-activated: re-enabling the domain user does not do it. That call
//! (`PUT …/vault_membership/{vault_id}`) falls back to defaults for omitted fields, so all
//! three are always sent: `active__v`, and `security_profile__v` / `license_type__v` from
//! the mapping (`vault_membership.*`, privileged) or else as the user has them now.

mod bulk;
mod config;
mod request_builder;
mod service;

pub use config::{BulkConfig, VaultConfig};
pub use request_builder::{
    changed_fields, find_records, form_value, retrieve_user, update_membership, update_user, vql,
};
pub use service::VaultTarget;

/// Ordinary profile fields a mapping may write without further configuration.
pub const DEFAULT_ALLOWED_FIELDS: &[&str] = &[
    "user_name__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_email__v",
    "user_timezone__v",
    "user_locale__v",
    "user_language__v",
    "user_title__v",
    "alias__v",
    "company__v",
    "office_phone__v",
    "mobile_phone__v",
    "site__v",
    "federated_id__v",
    "active__v",
    "domain_active__v",
];

/// Fields Create Single User takes (its required eight among them) besides the privileged
/// `security_policy_id__v`, `security_profile__v` and `license_type__v`; not
/// `domain_active__v`/`active__v`, which Vault sets on create.
pub const CREATE_FIELDS: &[&str] = &[
    "user_name__v",
    "user_first_name__v",
    "user_last_name__v",
    "user_email__v",
    "user_timezone__v",
    "user_locale__v",
    "user_language__v",
    "user_title__v",
    "alias__v",
    "company__v",
    "office_phone__v",
    "mobile_phone__v",
    "site__v",
    "federated_id__v",
];

/// Fields that grant rights in Vault; only written when named in `privileged_fields`.
pub const PRIVILEGED_FIELDS: &[&str] = &[
    "is_domain_admin__v",
    "security_profile__v",
    "license_type__v",
    "security_policy_id__v",
    "vault_membership.security_profile__v",
    "vault_membership.license_type__v",
];

/// Mapped fields with this prefix describe the Vault membership restored on a rehire.
pub const MEMBERSHIP_PREFIX: &str = "vault_membership.";
