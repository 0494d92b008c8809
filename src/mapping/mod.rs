//! Declarative mapping: which target fields an event sets, as minijinja expressions over
//! the event, plus lookup tables and constants — all in configuration, so identity teams
//! change the mapping without a release.
//!
//! Each target has an allow-list of fields a mapping may write. Privileged fields
//! (`is_domain_admin__v`, `security_profile__v`, …) pass only when the configuration names
//! them in `privileged_fields`: an HR feed must never grant admin rights by accident.
//!
//! Evaluation rules: an expression that yields *undefined* (e.g. `person.title` on a leaver
//! that carries no person) leaves the field out; one that yields `none` sends `null`, which
//! clears the field in the target.

mod context;
mod functions;

use crate::event::{Action, HrEvent};
use crate::target::TargetKind;
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Lookup tables: table name → key → value (any JSON value).
pub type Tables = BTreeMap<String, BTreeMap<String, Value>>;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Constants available to expressions as `vars.NAME` (an org id, a default profile…).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Lookup tables, used as `lookup('table', key)` or `tables.table[key]`.
    #[serde(default)]
    pub tables: Tables,
    pub vault: Option<TargetMapping>,
    pub sitevault: Option<TargetMapping>,
    pub superoffice: Option<TargetMapping>,
}

impl MappingConfig {
    pub fn for_target(&self, kind: TargetKind) -> Option<&TargetMapping> {
        match kind {
            TargetKind::Vault => self.vault.as_ref(),
            TargetKind::SiteVault => self.sitevault.as_ref(),
            TargetKind::SuperOffice => self.superoffice.as_ref(),
        }
    }
}

/// One target's mapping: field → expression, per action.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TargetMapping {
    /// Fields this mapping may write; defaults to the target's ordinary profile fields.
    pub allowed_fields: Option<Vec<String>>,
    /// Privileged fields this mapping is explicitly allowed to write.
    #[serde(default)]
    pub privileged_fields: Vec<String>,
    #[serde(default)]
    pub joiner: BTreeMap<String, String>,
    #[serde(default)]
    pub mover: BTreeMap<String, String>,
    #[serde(default)]
    pub leaver: BTreeMap<String, String>,
}

impl TargetMapping {
    pub fn for_action(&self, action: Action) -> &BTreeMap<String, String> {
        match action {
            Action::Joiner => &self.joiner,
            Action::Mover => &self.mover,
            Action::Leaver => &self.leaver,
        }
    }
}

/// An expression failed on a particular event (a lookup miss with no default, a type error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping.{target}.{action}.{field}: {detail}")]
pub struct MappingError {
    pub target: &'static str,
    pub action: &'static str,
    pub field: String,
    pub detail: String,
}

/// Evaluates the configured mapping for events. Built once at start-up; validation
/// compiles every expression so syntax errors stop the start, not a message.
pub struct Mapper {
    compiled: Compiled,
    config: MappingConfig,
    /// `config.vars` and `config.tables` as minijinja values, converted once.
    vars: minijinja::Value,
    tables: minijinja::Value,
}

/// Every configured expression, compiled, by target and action, in field order.
type Expressions<'env> = HashMap<(TargetKind, Action), Vec<(String, Expression<'env, 'static>)>>;

self_cell::self_cell!(
    /// The environment and the expressions compiled against it once, at start-up: they
    /// borrow the environment, and compiling per event cost more than evaluating.
    struct Compiled {
        owner: Environment<'static>,
        #[not_covariant]
        dependent: Expressions,
    }
);

impl Mapper {
    /// Compiles and checks the mapping; errors name the key.
    pub fn new(config: &MappingConfig) -> Result<Mapper, Vec<String>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        functions::register(&mut env, Arc::new(config.tables.clone()));
        let mut errors = check(config);
        match Compiled::try_new(env, |env| compile(env, config)) {
            Ok(compiled) if errors.is_empty() => Ok(Mapper {
                compiled,
                config: config.clone(),
                vars: minijinja::Value::from_serialize(&config.vars),
                tables: minijinja::Value::from_serialize(&config.tables),
            }),
            Ok(_) => Err(errors),
            Err(compile_errors) => {
                errors.extend(compile_errors);
                Err(errors)
            }
        }
    }

    /// Whether the configuration maps anything for this target and action.
    pub fn maps(&self, kind: TargetKind, action: Action) -> bool {
        self.config
            .for_target(kind)
            .is_some_and(|m| !m.for_action(action).is_empty())
    }

    /// The field values `event` sets in the target, or `None` when nothing is mapped.
    pub fn map(
        &self,
        kind: TargetKind,
        event: &HrEvent,
    ) -> Result<Option<Map<String, Value>>, MappingError> {
        let Some(mapping) = self.config.for_target(kind) else {
            return Ok(None);
        };
        if mapping.for_action(event.action).is_empty() {
            return Ok(None);
        }
        let ctx = context::build(event, &self.vars, &self.tables);
        self.compiled.with_dependent(|_, compiled| {
            let mut fields = Map::new();
            for (field, expression) in compiled.get(&(kind, event.action)).into_iter().flatten() {
                let error = |detail: String| MappingError {
                    target: kind.as_str(),
                    action: event.action.as_str(),
                    field: field.clone(),
                    detail,
                };
                let value = expression.eval(&ctx).map_err(|e| error(e.to_string()))?;
                if value.is_undefined() {
                    continue;
                }
                let json = serde_json::to_value(&value).map_err(|e| error(e.to_string()))?;
                fields.insert(field.clone(), json);
            }
            Ok(Some(fields))
        })
    }
}

/// Every field a mapping may not write, each naming its key.
fn check(config: &MappingConfig) -> Vec<String> {
    let mut errors = Vec::new();
    for kind in TargetKind::ALL {
        let Some(mapping) = config.for_target(kind) else {
            continue;
        };
        let allowed = allowed_fields(kind, mapping);
        for field in &mapping.privileged_fields {
            if !kind.privileged_fields().contains(&field.as_str()) {
                errors.push(format!(
                    "mapping.{kind}.privileged_fields: {field:?} is not a privileged field of {kind}"
                ));
            }
        }
        for action in Action::ALL {
            for field in mapping.for_action(action).keys() {
                let key = format!("mapping.{kind}.{}.{field}", action.as_str());
                if let Err(rule) = field_permitted(kind, mapping, &allowed, field) {
                    errors.push(format!("{key}: {rule}"));
                }
            }
        }
    }
    errors
}

/// Compiles every expression against `env`; errors name the key.
fn compile<'env>(
    env: &'env Environment<'static>,
    config: &MappingConfig,
) -> Result<Expressions<'env>, Vec<String>> {
    let mut compiled = HashMap::new();
    let mut errors = Vec::new();
    for kind in TargetKind::ALL {
        let Some(mapping) = config.for_target(kind) else {
            continue;
        };
        for action in Action::ALL {
            let mut fields = Vec::new();
            for (field, expression) in mapping.for_action(action) {
                match env.compile_expression_owned(expression.clone()) {
                    Ok(expr) => fields.push((field.clone(), expr)),
                    Err(e) => errors.push(format!(
                        "mapping.{kind}.{}.{field}: expression does not compile: {e}",
                        action.as_str()
                    )),
                }
            }
            compiled.insert((kind, action), fields);
        }
    }
    if errors.is_empty() {
        Ok(compiled)
    } else {
        Err(errors)
    }
}

fn allowed_fields(kind: TargetKind, mapping: &TargetMapping) -> Vec<String> {
    match &mapping.allowed_fields {
        Some(list) => list.clone(),
        None => kind
            .default_allowed_fields()
            .iter()
            .map(|f| f.to_string())
            .collect(),
    }
}

fn field_permitted(
    kind: TargetKind,
    mapping: &TargetMapping,
    allowed: &[String],
    field: &str,
) -> Result<(), String> {
    if kind.privileged_fields().contains(&field) {
        if mapping.privileged_fields.iter().any(|f| f == field) {
            return Ok(());
        }
        return Err(format!(
            "{field:?} is privileged; list it in mapping.{kind}.privileged_fields to allow it"
        ));
    }
    if allowed.iter().any(|f| f == field) {
        Ok(())
    } else {
        Err(format!(
            "{field:?} is not in the allow-list (mapping.{kind}.allowed_fields)"
        ))
    }
}

#[cfg(test)]
mod tests;
