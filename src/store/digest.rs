//! The stable digest of a field map, so "same values" means "same digest" whatever order the
//! mapping produced the keys in (serde_json keeps insertion order in this crate).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of the fields as canonical JSON: object keys sorted at every
/// depth, no whitespace, array order kept.
pub fn digest(fields: &Map<String, Value>) -> String {
    let mut canonical = String::new();
    write_object(&mut canonical, fields);
    let hash = Sha256::digest(canonical.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in hash {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    hex
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_scalar(out, &Value::String(key.clone()));
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => write_object(out, map),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut String, value: &Value) {
    // Serialising a scalar Value cannot fail; fall back to its Display (the same text).
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| value.to_string()));
}
