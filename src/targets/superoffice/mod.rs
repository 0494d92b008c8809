//! SuperOffice CRM users: `PUT /api/v1/User/{id}` with the JSON `User` entity (seed 004).
//!
//! SuperOffice's PUT replaces the whole entity — omitted fields come back empty and can
//! wipe Role, groups, licences or the Person link (`superoffice-facts.md`). So the client
//! reads the user and PATCHes only the fields the mapping owns, each guarded by a JSON
//! Patch `test` of the value it read (optimistic concurrency; 409 → read again).
//!
//! Leavers are retired with `POST /api/v1/Agents/User/MakeRetired` by default, which also
//! removes their licences; a joiner for a retired user (a rehire) is un-retired first.

mod config;
mod create;
mod request_builder;
mod service;

pub use config::{LeaverMode, SuperOfficeAuth, SuperOfficeConfig};
pub use request_builder::{get_user, make_retired, patch_ops, patch_user};
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
    "IsPersonRetired",
];

/// Fields a `create` block may set: the person's (`Person.*`, sent to `POST Person`) and
/// the user carrier's; `Role` and licences are privileged.
pub const CREATE_FIELDS: &[&str] = &[
    "Name",
    "UserName",
    "NickName",
    "Tooltip",
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
