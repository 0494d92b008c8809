//! What a mapping expression can see: the event's data at the top level (`person`, `roles`,
//! `sites`, `accounts`, extra fields), the envelope under `event`, plus `vars` and `tables`.

use super::MappingConfig;
use crate::event::HrEvent;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

pub fn build(event: &HrEvent, config: &MappingConfig) -> Value {
    let mut ctx = match &event.data {
        Value::Object(data) => data.clone(),
        _ => Default::default(),
    };
    for list in ["roles", "sites"] {
        ctx.entry(list).or_insert_with(|| json!([]));
    }
    ctx.insert("action".into(), json!(event.action.as_str()));
    ctx.insert(
        "event".into(),
        json!({
            "id": event.id,
            "source": event.source,
            "type": event.event_type(),
            "subject": event.subject,
            "time": event.time.format(&Rfc3339).unwrap_or_default(),
            "sequence": event.sequence,
        }),
    );
    ctx.insert("vars".into(), json!(config.vars));
    ctx.insert("tables".into(), json!(config.tables));
    Value::Object(ctx)
}
