//! The configuration reference, generated from the config structs themselves (their
//! JSON Schema, derived with schemars, doc comments included), so the documentation cannot
//! drift from the code: `docs/configuration.md` is this output, and a test compares them.
//! Regenerate with `hrsync config-reference > docs/configuration.md`.

use super::Config;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// One documented key.
struct Row {
    key: String,
    kind: String,
    default: String,
    description: String,
}

/// The reference as Markdown.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("schema serialises");
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    walk(&schema, "", &defs, &mut rows);
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the configuration structs by `hrsync config-reference`; a test fails \
         when this file and the code disagree. Every key can be set in the TOML file \
         (`config/hrsync.toml` is the documented default) or overridden by an environment \
         variable `HRSYNC_<KEY>` with `__` between levels, e.g. `HRSYNC_RABBITMQ__PREFETCH=64`. \
         Secrets take `{ file = \"…\" }`, `{ env = \"…\" }` or, for development, a string. \
         Durations are written like `30s`, `15m`, `24h`.\n\n\
         | key | type | default | meaning |\n|---|---|---|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            row.key, row.kind, row.default, row.description
        );
    }
    out
}

fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .rsplit('/')
            .next()
            .and_then(|name| defs.get(name))
            .map_or(schema, |target| resolve(target, defs)),
        None => schema,
    }
}

/// The object schema inside `schema`, looking through `Option` (`anyOf [T, null]`).
fn object_schema<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let schema = resolve(schema, defs);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    schema
        .get("anyOf")
        .and_then(Value::as_array)?
        .iter()
        .map(|s| resolve(s, defs))
        .find(|s| s.get("properties").is_some())
}

fn walk(schema: &Value, prefix: &str, defs: &Map<String, Value>, rows: &mut Vec<Row>) {
    let Some(object) = object_schema(schema, defs) else {
        return;
    };
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    // `[mapping.<target>]` and the like: a table of named sections of one shape.
    if let Some(each) = object
        .get("additionalProperties")
        .filter(|each| object_schema(each, defs).is_some())
    {
        let name = if prefix == "mapping" {
            "<target>"
        } else {
            "<name>"
        };
        walk(each, &format!("{prefix}.{name}"), defs, rows);
    }
    for (name, property) in properties {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let description = description(property, defs);
        if object_schema(property, defs).is_some() && !is_secret(property, defs) {
            walk(property, &key, defs, rows);
            continue;
        }
        rows.push(Row {
            kind: kind(property, defs),
            default: property
                .get("default")
                .filter(|d| !d.is_null())
                .map_or_else(|| "—".to_string(), |d| format!("`{d}`")),
            description,
            key: if is_map(property, defs) {
                format!("{key}.<name>")
            } else {
                key
            },
        });
    }
}

fn description(property: &Value, defs: &Map<String, Value>) -> String {
    property
        .get("description")
        .or_else(|| resolve(property, defs).get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace('\n', " ")
        .replace('|', "\\|")
}

/// A `SecretSource` (possibly optional), not a table that merely contains one.
fn is_secret(property: &Value, _defs: &Map<String, Value>) -> bool {
    let is_ref = |v: &Value| {
        v.get("$ref")
            .and_then(Value::as_str)
            .is_some_and(|r| r.ends_with("/SecretSource"))
    };
    is_ref(property)
        || property
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|variants| variants.iter().any(is_ref))
}

fn is_map(property: &Value, defs: &Map<String, Value>) -> bool {
    resolve(property, defs)
        .get("additionalProperties")
        .is_some()
}

fn kind(property: &Value, defs: &Map<String, Value>) -> String {
    if is_secret(property, defs) {
        return "secret".into();
    }
    let resolved = resolve(property, defs);
    if let Some(values) = resolved.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
            .collect();
        return names.join(" \\| ");
    }
    if let Some(variants) = resolved
        .get("oneOf")
        .or_else(|| resolved.get("anyOf"))
        .and_then(Value::as_array)
    {
        let names: Vec<String> = variants
            .iter()
            .map(|v| kind(v, defs))
            .filter(|k| k != "null")
            .collect();
        return names.join(" or ");
    }
    match resolved.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = resolved
                .get("items")
                .map_or("value".to_string(), |i| kind(i, defs));
            format!("list of {item}")
        }
        Some(Value::String(t)) if t == "object" => "table".into(),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "value".into(),
    }
}
