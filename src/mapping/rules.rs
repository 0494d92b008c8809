//! What a mapping may say, checked at start-up: every field within its target's allow-list
//! (privileged fields only where named, a `create` block only with the target's creation
//! fields), every expression compiled once.

use super::{Block, Expressions, MappingConfig, TargetMapping};
use crate::targets::{registry, TargetKind};
use minijinja::Environment;
use std::collections::HashMap;

/// Every field a mapping may not write, each naming its key.
pub(super) fn check(config: &MappingConfig) -> Vec<String> {
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
        let creatable = creatable_fields(kind);
        for block in Block::ALL {
            let allowed = if block == Block::Create {
                &creatable
            } else {
                &allowed
            };
            for field in mapping.block(block).keys() {
                let key = format!("mapping.{kind}.{}.{field}", block.as_str());
                if let Err(rule) = field_permitted(kind, mapping, allowed, field, block) {
                    errors.push(format!("{key}: {rule}"));
                }
            }
        }
    }
    errors
}

/// Compiles every expression against `env`; errors name the key.
pub(super) fn compile<'env>(
    env: &'env Environment<'static>,
    config: &MappingConfig,
) -> Result<Expressions<'env>, Vec<String>> {
    let mut compiled = HashMap::new();
    let mut errors = Vec::new();
    for kind in registry::kinds() {
        let Some(mapping) = config.for_target(kind) else {
            continue;
        };
        for block in Block::ALL {
            let mut fields = Vec::new();
            for (field, expression) in mapping.block(block) {
                match env.compile_expression_owned(expression.clone()) {
                    Ok(expr) => fields.push((field.clone(), expr)),
                    Err(e) => errors.push(format!(
                        "mapping.{kind}.{}.{field}: expression does not compile: {e}",
                        block.as_str()
                    )),
                }
            }
            compiled.insert((kind, block), fields);
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

/// The fields a `create` block may set: the target's creation fields, privileged ones
/// only where `privileged_fields` names them (checked by `field_permitted`).
fn creatable_fields(kind: TargetKind) -> Vec<String> {
    kind.create_fields().iter().map(|f| f.to_string()).collect()
}

fn field_permitted(
    kind: TargetKind,
    mapping: &TargetMapping,
    allowed: &[String],
    field: &str,
    block: Block,
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
    } else if block == Block::Create {
        Err(format!(
            "{field:?} is not a field {kind} accounts are created with (known: {})",
            kind.create_fields().join(", ")
        ))
    } else {
        Err(format!(
            "{field:?} is not in the allow-list (mapping.{kind}.allowed_fields)"
        ))
    }
}
