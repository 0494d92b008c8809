//! Every target hrsync can drive — one line each. The rest of hrsync (configuration,
//! mapping, events, worker, metrics, store) learns the targets from here.

use super::plugin::{Plugin, TargetKind, TargetPlugin};
use super::Target;
use crate::event::AccountKey;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

static PLUGINS: &[&dyn TargetPlugin] = &[
    &Plugin::<super::vault::VaultConfig>::NEW,
    &Plugin::<super::sitevault::SiteVaultConfig>::NEW,
    &Plugin::<super::superoffice::SuperOfficeConfig>::NEW,
    &Plugin::<super::scim::ScimConfig>::NEW,
];

/// The registered targets, in registry order.
pub fn kinds() -> impl Iterator<Item = TargetKind> {
    PLUGINS.iter().map(|plugin| TargetKind(*plugin))
}

/// The registered target names, for messages.
pub fn names() -> String {
    kinds()
        .map(TargetKind::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where events link each target's accounts.
pub fn account_keys() -> &'static [AccountKey] {
    static KEYS: OnceLock<Vec<AccountKey>> = OnceLock::new();
    KEYS.get_or_init(|| PLUGINS.iter().map(|p| p.account()).collect())
}

/// Checks `[targets.*]`: known names, and each section by its own plugin.
pub fn check(targets: &BTreeMap<String, Value>, errors: &mut Vec<String>) {
    for (name, section) in targets {
        let prefix = format!("targets.{name}");
        match TargetKind::named(name) {
            Some(kind) => {
                if let Err(found) = kind.plugin().check(section, &prefix) {
                    errors.extend(found);
                }
            }
            None => errors.push(format!(
                "{prefix}: no such target (hrsync knows {})",
                names()
            )),
        }
    }
}

/// The clients of the enabled targets, secrets resolved; registry order.
pub fn build(targets: &BTreeMap<String, Value>) -> anyhow::Result<Vec<Arc<dyn Target>>> {
    let mut built = Vec::new();
    for kind in kinds() {
        let Some(section) = targets.get(kind.as_str()) else {
            continue;
        };
        let prefix = format!("targets.{kind}");
        if let Some(target) = kind.plugin().build(section, &prefix)? {
            built.push(target);
        }
    }
    Ok(built)
}

/// The JSON Schema of `[targets]`: each registered target's section, optional.
pub fn config_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let properties: serde_json::Map<String, Value> = PLUGINS
        .iter()
        .map(|p| (p.name().to_string(), p.schema(generator).to_value()))
        .collect();
    schemars::json_schema!({
        "type": "object",
        "description": "One section per target to keep in step; see each target's keys.",
        "properties": properties,
        "additionalProperties": false,
    })
}
