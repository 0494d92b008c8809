//! What makes a target a target: a plugin with a name, the place events link its accounts,
//! the fields a mapping may write, and a configuration that validates and *builds* the
//! client (in the spirit of Vector's `SinkConfig::build`). Adding a target is one folder
//! implementing [`TargetConfig`] and one line in [`super::registry`]; nothing else in
//! hrsync names a target.

use super::Target;
use crate::event::{AccountKey, Accounts, IdShape};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A target's configuration section (`[targets.<NAME>]`), which knows how to check and
/// build its client.
pub trait TargetConfig:
    DeserializeOwned + Serialize + schemars::JsonSchema + Send + Sync + 'static
{
    /// The name in configuration keys, metrics labels, dead-letter headers, the store, and
    /// under `data.accounts` in events.
    const NAME: &'static str;
    /// The field of `data.accounts.<NAME>` holding the account id, and its shape.
    const ACCOUNT: (&'static str, IdShape);
    /// Fields a mapping may write when its configuration lists no allow-list of its own.
    const DEFAULT_ALLOWED_FIELDS: &'static [&'static str];
    /// Fields that grant power: written only when the mapping names them in
    /// `privileged_fields`.
    const PRIVILEGED_FIELDS: &'static [&'static str];
    /// Fields a `create` block may set (privileged ones still need `privileged_fields`);
    /// empty: the target cannot create accounts.
    const CREATE_FIELDS: &'static [&'static str] = &[];

    /// `enabled = false` leaves the target alone.
    fn enabled(&self) -> bool;
    /// What types cannot say; every error names its key under `prefix`.
    fn validate(&self, prefix: &str, errors: &mut Vec<String>);
    /// The client, secrets resolved.
    fn build(&self) -> anyhow::Result<Arc<dyn Target>>;
}

/// A registered target type, whatever its configuration type (see [`Plugin`]).
pub trait TargetPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn account(&self) -> AccountKey;
    fn default_allowed_fields(&self) -> &'static [&'static str];
    fn privileged_fields(&self) -> &'static [&'static str];
    fn create_fields(&self) -> &'static [&'static str];
    /// The section's JSON Schema, for the configuration reference.
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Reads the section; errors name keys under `prefix`.
    fn check(&self, section: &Value, prefix: &str) -> Result<(), Vec<String>>;
    /// The client, or `None` when the section says `enabled = false`.
    fn build(&self, section: &Value, prefix: &str) -> anyhow::Result<Option<Arc<dyn Target>>>;
}

/// The [`TargetPlugin`] of a [`TargetConfig`] type: `Plugin::<VaultConfig>::NEW`.
pub struct Plugin<C>(PhantomData<fn() -> C>);

impl<C> Plugin<C> {
    pub const NEW: Plugin<C> = Plugin(PhantomData);
}

impl<C: TargetConfig> Plugin<C> {
    fn parse(section: &Value, prefix: &str) -> Result<C, Vec<String>> {
        serde_path_to_error::deserialize(section).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." {
                prefix.to_string()
            } else {
                format!("{prefix}.{path}")
            };
            vec![format!("{key}: {}", e.into_inner())]
        })
    }
}

impl<C: TargetConfig> TargetPlugin for Plugin<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn account(&self) -> AccountKey {
        AccountKey {
            target: C::NAME,
            field: C::ACCOUNT.0,
            shape: C::ACCOUNT.1,
        }
    }

    fn default_allowed_fields(&self) -> &'static [&'static str] {
        C::DEFAULT_ALLOWED_FIELDS
    }

    fn privileged_fields(&self) -> &'static [&'static str] {
        C::PRIVILEGED_FIELDS
    }

    fn create_fields(&self) -> &'static [&'static str] {
        C::CREATE_FIELDS
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<C>()
    }

    fn check(&self, section: &Value, prefix: &str) -> Result<(), Vec<String>> {
        let config = Self::parse(section, prefix)?;
        let mut errors = Vec::new();
        config.validate(prefix, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn build(&self, section: &Value, prefix: &str) -> anyhow::Result<Option<Arc<dyn Target>>> {
        let config = Self::parse(section, prefix).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
        if !config.enabled() {
            return Ok(None);
        }
        config.build().map(Some)
    }
}

/// A handle on a registered target: cheap to copy, compared by name.
#[derive(Clone, Copy)]
pub struct TargetKind(pub(super) &'static dyn TargetPlugin);

impl TargetKind {
    /// The name used in configuration keys, metrics labels and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        self.0.name()
    }

    /// The registered target called `name`.
    pub fn named(name: &str) -> Option<TargetKind> {
        super::registry::kinds().find(|k| k.as_str() == name)
    }

    /// The account id this target needs, as linked in the event.
    pub fn account_id(self, accounts: &Accounts) -> Option<&str> {
        accounts.get(self.as_str())
    }

    pub fn default_allowed_fields(self) -> &'static [&'static str] {
        self.0.default_allowed_fields()
    }

    pub fn privileged_fields(self) -> &'static [&'static str] {
        self.0.privileged_fields()
    }

    pub fn create_fields(self) -> &'static [&'static str] {
        self.0.create_fields()
    }

    pub fn plugin(self) -> &'static dyn TargetPlugin {
        self.0
    }
}

impl PartialEq for TargetKind {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TargetKind {}

impl std::hash::Hash for TargetKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for TargetKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TargetKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetKind({})", self.as_str())
    }
}
