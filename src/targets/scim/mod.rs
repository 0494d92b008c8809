//! A generic SCIM 2.0 service provider's Users (RFC 7643 core schema, RFC 7644 protocol):
//! `GET /Users/{id}`, then `PATCH /Users/{id}` with a `PatchOp` of `replace` operations
//! for the attributes that differ (`active = false` for a leaver), bearer token auth, and
//! lookups with `GET /Users?filter=userName eq "…"` (then `emails.value`). Many SaaS
//! applications speak SCIM, so this target reaches them without code of their own.
//!
//! Mapped fields are attribute paths of the User resource: `userName`, `externalId`,
//! `displayName`, `name.givenName`, `title`, `emails` (the whole multi-valued attribute),
//! `active`, …; a dotted path is an attribute and its sub-attribute (RFC 7644 §3.5.2).

mod config;
mod request_builder;
mod service;

pub use config::ScimConfig;
pub use request_builder::{find_users, get_user, patch_ops, patch_user, SCIM_JSON};
pub use service::ScimTarget;

/// User attributes a mapping may write by default (RFC 7643 §4.1).
pub const DEFAULT_ALLOWED_FIELDS: &[&str] = &[
    "userName",
    "externalId",
    "displayName",
    "nickName",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "name.formatted",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "emails",
    "phoneNumbers",
    "active",
];

/// Attributes that grant rights in the application: written only when the mapping names
/// them in `privileged_fields`.
pub const PRIVILEGED_FIELDS: &[&str] = &["roles", "entitlements", "x509Certificates"];
