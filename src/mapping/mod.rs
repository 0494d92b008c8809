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
mod rules;

use rules::{check, compile};

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
    /// The fields of a new account, for an active employee no account matches (see
    /// `crate::apply` — matched first, then created). Empty: hrsync never creates accounts
    /// in this target, it only reports them unlinked.
    #[serde(default)]
    pub create: BTreeMap<String, String>,
}

/// A block of a target's mapping: one per action, and `create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    Action(Action),
    Create,
}

impl Block {
    pub const ALL: [Block; 4] = [
        Block::Action(Action::Joiner),
        Block::Action(Action::Mover),
        Block::Action(Action::Leaver),
        Block::Create,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Block::Action(action) => action.as_str(),
            Block::Create => "create",
        }
    }
}

impl TargetMapping {
    pub fn for_action(&self, action: Action) -> &BTreeMap<String, String> {
        self.block(Block::Action(action))
    }

    pub fn block(&self, block: Block) -> &BTreeMap<String, String> {
        match block {
            Block::Action(Action::Joiner) => &self.joiner,
            Block::Action(Action::Mover) => &self.mover,
            Block::Action(Action::Leaver) => &self.leaver,
            Block::Create => &self.create,
        }
    }
}

/// An expression failed on a particular event (a lookup miss with no default, a type error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping.{target}.{block}.{field}: {detail}")]
pub struct MappingError {
    pub target: &'static str,
    /// `joiner`, `mover`, `leaver` or `create`.
    pub block: &'static str,
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

/// An event as mapping expressions see it ([`Mapper::context`]); the same event's only.
pub struct EventContext(minijinja::Value);

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
type Expressions<'env> = HashMap<(TargetKind, Block), Vec<(String, Expression<'env, 'static>)>>;

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
        self.has_block(kind, Block::Action(action))
    }

    /// Whether the target has a `create` block: accounts may be created there.
    pub fn creates(&self, kind: TargetKind) -> bool {
        self.has_block(kind, Block::Create)
    }

    fn has_block(&self, kind: TargetKind, block: Block) -> bool {
        self.config
            .for_target(kind)
            .is_some_and(|m| !m.block(block).is_empty())
    }

    /// The field values `event` sets in the target, or `None` when nothing is mapped.
    pub fn map(
        &self,
        kind: TargetKind,
        event: &HrEvent,
    ) -> Result<Option<Map<String, Value>>, MappingError> {
        self.map_block(kind, Block::Action(event.action), event, None)
    }

    /// What `event`'s expressions see, built once for all the targets it goes to (building
    /// it converts the event's data to minijinja values: once per event, not per target).
    pub fn context(&self, event: &HrEvent) -> EventContext {
        EventContext(context::build(event, &self.vars, &self.tables))
    }

    /// [`Mapper::map`] with the event's context already built by [`Mapper::context`].
    pub fn map_in(
        &self,
        kind: TargetKind,
        event: &HrEvent,
        context: &EventContext,
    ) -> Result<Option<Map<String, Value>>, MappingError> {
        self.map_block(kind, Block::Action(event.action), event, Some(context))
    }

    /// The fields of a new account for `event`'s employee, or `None` without a `create`
    /// block.
    pub fn map_create(
        &self,
        kind: TargetKind,
        event: &HrEvent,
    ) -> Result<Option<Map<String, Value>>, MappingError> {
        self.map_block(kind, Block::Create, event, None)
    }

    /// The account to create for `event`'s employee in the target: an active employee's
    /// record through the `create` block; `None` for leavers and targets without one.
    pub fn creation(
        &self,
        kind: TargetKind,
        event: &HrEvent,
    ) -> Result<Option<crate::targets::Creation>, MappingError> {
        if !event.action.is_active() {
            return Ok(None);
        }
        Ok(self
            .map_create(kind, event)?
            .map(|fields| crate::targets::Creation {
                event_id: event.id.clone(),
                employee_id: event.employee_id().to_string(),
                fields,
            }))
    }

    fn map_block(
        &self,
        kind: TargetKind,
        block: Block,
        event: &HrEvent,
        context: Option<&EventContext>,
    ) -> Result<Option<Map<String, Value>>, MappingError> {
        let mut first_error = None;
        let fields = self.eval(kind, block, event, context, |e| {
            first_error = Some(e);
            false
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(fields),
        }
    }

    /// Evaluates the target's fields for `event` (in `context` when it is built already),
    /// handing each failure to `failed`, which says whether to go on with the next field.
    fn eval(
        &self,
        kind: TargetKind,
        block: Block,
        event: &HrEvent,
        context: Option<&EventContext>,
        mut failed: impl FnMut(MappingError) -> bool,
    ) -> Option<Map<String, Value>> {
        let mapping = self.config.for_target(kind)?;
        if mapping.block(block).is_empty() {
            return None;
        }
        let built;
        let ctx = match context {
            Some(EventContext(ctx)) => ctx,
            None => {
                built = context::build(event, &self.vars, &self.tables);
                &built
            }
        };
        self.compiled.with_dependent(|_, compiled| {
            let mut fields = Map::new();
            for (field, expression) in compiled.get(&(kind, block)).into_iter().flatten() {
                let error = |detail: String, in_config: bool| MappingError {
                    target: kind.as_str(),
                    block: block.as_str(),
                    field: field.clone(),
                    detail,
                    in_config,
                };
                let value = match expression.eval(ctx) {
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
                // Accounts are created for active employees only.
                let create = event.action.is_active().then_some(Block::Create);
                for block in std::iter::once(Block::Action(event.action)).chain(create) {
                    self.eval(kind, block, event, None, |e| {
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
        }
        found
    }
}

#[cfg(test)]
mod tests;
