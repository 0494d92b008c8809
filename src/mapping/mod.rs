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
use crate::targets::{registry, TargetKind};
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Lookup tables: table name → key → value (any JSON value).
pub type Tables = BTreeMap<String, BTreeMap<String, Value>>;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema, Default)]
pub struct MappingConfig {
    /// Constants available to expressions as `vars.NAME` (an org id, a default profile…).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Lookup tables, used as `lookup('table', key)` or `tables.table[key]`.
    #[serde(default)]
    pub tables: Tables,
    /// `[mapping.<target>]`, one per target that is mapped (an unknown name is refused
    /// when the mapping is checked).
    #[serde(flatten)]
    pub targets: BTreeMap<String, TargetMapping>,
}

impl MappingConfig {
    pub fn for_target(&self, kind: TargetKind) -> Option<&TargetMapping> {
        self.targets.get(kind.as_str())
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
    /// The expression can never work, whatever the event (an unknown function, filter or
    /// lookup table): a configuration error, which `check-config` refuses. Otherwise it is
    /// about this event's data (a lookup miss without a default).
    pub in_config: bool,
}

/// Whether a minijinja error says the expression itself is wrong, not the event.
fn is_config_error(error: &minijinja::Error) -> bool {
    use minijinja::ErrorKind::*;
    match error.kind() {
        UnknownFilter | UnknownFunction | UnknownTest | UnknownMethod | SyntaxError
        | TooManyArguments | MissingArgument => true,
        InvalidOperation => error
            .detail()
            .is_some_and(|d| d.starts_with(functions::NO_SUCH_TABLE)),
        _ => false,
    }
}

/// The shipped example events (`examples/events/`), one per action: `check-config`
/// evaluates every mapping expression against them.
pub const EXAMPLE_EVENTS: [(&str, &str); 3] = [
    (
        "examples/events/joiner.json",
        include_str!("../../examples/events/joiner.json"),
    ),
    (
        "examples/events/mover.json",
        include_str!("../../examples/events/mover.json"),
    ),
    (
        "examples/events/leaver.json",
        include_str!("../../examples/events/leaver.json"),
    ),
];

/// What evaluating the mapping against sample events found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Expressions that cannot work for any event: the configuration is wrong.
    pub errors: Vec<String>,
    /// Failures about the sample's data (e.g. its department is not in a table): every
    /// such real event would be dead-lettered, worth a look, but not a wrong config.
    pub warnings: Vec<String>,
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
        let mut first_error = None;
        let fields = self.eval(kind, event, |e| {
            first_error = Some(e);
            false
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(fields),
        }
    }

    /// Evaluates the target's fields for `event`, handing each failure to `failed`, which
    /// says whether to go on with the next field.
    fn eval(
        &self,
        kind: TargetKind,
        event: &HrEvent,
        mut failed: impl FnMut(MappingError) -> bool,
    ) -> Option<Map<String, Value>> {
        let mapping = self.config.for_target(kind)?;
        if mapping.for_action(event.action).is_empty() {
            return None;
        }
        let ctx = context::build(event, &self.vars, &self.tables);
        self.compiled.with_dependent(|_, compiled| {
            let mut fields = Map::new();
            for (field, expression) in compiled.get(&(kind, event.action)).into_iter().flatten() {
                let error = |detail: String, in_config: bool| MappingError {
                    target: kind.as_str(),
                    action: event.action.as_str(),
                    field: field.clone(),
                    detail,
                    in_config,
                };
                let value = match expression.eval(&ctx) {
                    Ok(value) => value,
                    Err(e) if failed(error(e.to_string(), is_config_error(&e))) => continue,
                    Err(_) => break,
                };
                if value.is_undefined() {
                    continue;
                }
                match serde_json::to_value(&value) {
                    Ok(json) => {
                        fields.insert(field.clone(), json);
                    }
                    Err(e) => {
                        if !failed(error(e.to_string(), false)) {
                            break;
                        }
                    }
                }
            }
            Some(fields)
        })
    }

    /// Evaluates every target's mapping against `events` (at least one per action, so
    /// every expression runs), for `check-config`; every failing field is reported.
    pub fn evaluate(&self, events: &[(&str, HrEvent)]) -> Evaluation {
        let mut found = Evaluation::default();
        for (source, event) in events {
            for kind in registry::kinds() {
                self.eval(kind, event, |e| {
                    let line = format!("{e} (evaluated against {source})");
                    if e.in_config {
                        found.errors.push(line);
                    } else {
                        found.warnings.push(line);
                    }
                    true
                });
            }
        }
        found
    }
}

/// Every field a mapping may not write, each naming its key.
fn check(config: &MappingConfig) -> Vec<String> {
    let mut errors = Vec::new();
    for name in config.targets.keys() {
        if TargetKind::named(name).is_none() {
            errors.push(format!(
                "mapping.{name}: no such target (hrsync knows {}; and vars, tables)",
                registry::names()
            ));
        }
    }
    for kind in registry::kinds() {
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
    for kind in registry::kinds() {
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
