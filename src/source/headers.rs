//! AMQP header tables as JSON values, so the event decoder (binary-mode CloudEvents) and
//! the tools read headers without knowing AMQP's type zoo. A native AMQP timestamp becomes
//! RFC 3339 text: the CloudEvents AMQP binding carries `time` either as a string or as an
//! AMQP timestamp, and a receiver must accept both.

use lapin::types::{AMQPValue, FieldTable};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn to_json_map(table: Option<&FieldTable>) -> BTreeMap<String, Value> {
    table
        .map(|table| {
            table
                .inner()
                .iter()
                .map(|(key, value)| (key.as_str().to_string(), to_json(value)))
                .collect()
        })
        .unwrap_or_default()
}

pub fn to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => json!(d.value),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(to_json).collect())
        }
        AMQPValue::Timestamp(t) => timestamp(*t),
        AMQPValue::FieldTable(table) => json!(to_json_map(Some(table))),
        AMQPValue::ByteArray(bytes) => json!(String::from_utf8_lossy(bytes.as_slice())),
        AMQPValue::Void => Value::Null,
    }
}

/// AMQP 0-9-1 timestamps are seconds since the Unix epoch.
fn timestamp(seconds: u64) -> Value {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or_else(|| json!(seconds), Value::String)
}

/// Reads a header as text (the dead-letter tools and tests use it).
pub fn text(table: Option<&FieldTable>, name: &str) -> Option<String> {
    match to_json(table?.inner().get(name)?) {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_native_amqp_timestamp_reads_as_rfc_3339_text() {
        let mut table = FieldTable::default();
        table.insert(
            "cloudEvents:time".into(),
            AMQPValue::Timestamp(1_795_338_900),
        );
        let map = to_json_map(Some(&table));
        assert_eq!(map["cloudEvents:time"], json!("2026-11-22T09:15:00Z"));
    }
}
