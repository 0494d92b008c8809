//! What a mapping expression can see: the event's data at the top level (`person`, `roles`,
//! `sites`, `accounts`, extra fields), the envelope under `event`, plus `vars` and `tables`.

use crate::event::HrEvent;
use minijinja::Value;
use serde_json::json;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;

/// The context for one event. `vars` and `tables` come converted once, at start-up: minijinja
/// values are shared, not copied, so a large lookup table costs nothing per event.
pub fn build(event: &HrEvent, vars: &Value, tables: &Value) -> Value {
    let mut ctx: BTreeMap<String, Value> = match &event.data {
        serde_json::Value::Object(data) => data
            .iter()
            .map(|(key, value)| (key.clone(), Value::from_serialize(value)))
            .collect(),
        _ => BTreeMap::new(),
    };
    for list in ["roles", "sites"] {
        ctx.entry(list.into())
            .or_insert_with(|| Value::from(Vec::<Value>::new()));
    }
    ctx.insert("action".into(), Value::from(event.action.as_str()));
    ctx.insert(
        "event".into(),
        Value::from_serialize(json!({
            "id": event.id,
            "source": event.source,
            "type": event.event_type(),
            "subject": event.subject,
            "time": event.time.format(&Rfc3339).unwrap_or_default(),
            "sequence": event.sequence,
        })),
    );
    ctx.insert("vars".into(), vars.clone());
    ctx.insert("tables".into(), tables.clone());
    Value::from(ctx)
}
