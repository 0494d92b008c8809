//! SuperOffice CRM users: `PUT /api/v1/User/{id}` with the JSON `User` entity (seed 004).
//!
//! SuperOffice's PUT replaces the whole entity — omitted fields come back empty and can
//! wipe Role, groups, licences or the Person link (`superoffice-facts.md`). So the client
//! reads the user and PATCHes only the fields the mapping owns, each guarded by a JSON
//! Patch `test` of the value it read (optimistic concurrency; 409 → read again).

mod config;
mod request_builder;
mod service;

pub use config::{SuperOfficeAuth, SuperOfficeConfig};
pub use request_builder::{get_user, patch_ops, patch_user};
pub use service::SuperOfficeTarget;

/// Entity fields (dotted paths into `User`) a mapping may write by default.
pub const DEFAULT_ALLOWED_FIELDS: &[&str] = &[
    "Name",
    "UserName",
    "NickName",
    "Tooltip",
    "Deleted",
    "IsOnTravel",
    "UserGroup",
    "OtherGroups",
    "Person.Firstname",
    "Person.Lastname",
    "Person.MiddleName",
    "Person.Title",
    "Person.Email",
];

/// Fields that grant rights in SuperOffice.
pub const PRIVILEGED_FIELDS: &[&str] = &["Role", "LicenseOwners", "Credentials", "Type"];
