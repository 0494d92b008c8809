//! Turns one RabbitMQ message into CloudEvents attributes, in either mode the contract
//! allows: structured (the whole envelope in a JSON body) or the AMQP binding's binary mode
//! (attributes in headers, the body is `data`), so that publishers may differ without the
//! rules in `validate` caring how an attribute arrived.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::envelope::{AccountKey, Envelope, HrEvent};
use super::validate::{media_type, validate, InvalidEvent, ReadIds};

/// Content type of a structured-mode CloudEvent in JSON.
const STRUCTURED: &str = "application/cloudevents+json";
/// Content type of a plain JSON body (binary-mode `data`, or an envelope sent untagged).
const JSON: &str = "application/json";

/// Header prefixes that carry CloudEvents attributes in binary mode, matched without regard
/// to case: the AMQP binding's `cloudEvents:`, its JMS-friendly `cloudEvents_`, and the
/// HTTP/Kafka-style `ce-` / `ce_` that some publishers use on AMQP too. When one attribute
/// comes under several prefixes the values must agree.
const HEADER_PREFIXES: [&str; 4] = ["cloudEvents:", "cloudEvents_", "ce-", "ce_"];

/// Decodes and validates one message into an [`HrEvent`].
///
/// Structured mode is used when the content type is `application/cloudevents+json`, or when
/// there is no content type (or `application/json`) and no CloudEvents headers; binary mode
/// when a `cloudEvents:specversion` (or `cloudEvents_`, `ce-`, `ce_`) header is present.
/// Bodies over `max_body_bytes` (normally [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES)) are
/// refused unread.
pub fn decode(
    body: &[u8],
    envelope: &Envelope<'_>,
    max_body_bytes: usize,
    accounts: &[AccountKey],
) -> Result<HrEvent, InvalidEvent> {
    let media_type = envelope.content_type.map(media_type);
    let structured = media_type.as_deref() == Some(STRUCTURED);

    if !structured {
        if let Some(mut attributes) = binary_attributes(envelope.headers)? {
            let ids = ReadIds::from_attributes(&attributes);
            if let Some(other) = media_type.as_deref().filter(|m| *m != JSON) {
                return Err(ids.fail(
                    "content_type",
                    format!("must be {JSON} for a binary-mode event (got {other:?})"),
                ));
            }
            let data = parse_body(body, max_body_bytes, &ids)?;
            attributes.insert("data".into(), Value::Object(data));
            return validate(&attributes, &ids, accounts);
        }
        if let Some(other) = media_type.as_deref().filter(|m| *m != JSON) {
            return Err(ReadIds::default().fail(
                "content_type",
                format!(
                    "unsupported content type {other:?} (expected {STRUCTURED}, \
                     or {JSON} with cloudEvents: headers)"
                ),
            ));
        }
    }

    let ids = ReadIds::default();
    let attributes = parse_body(body, max_body_bytes, &ids)?;
    if !structured && !attributes.contains_key("specversion") {
        return Err(ReadIds::from_attributes(&attributes).fail(
            "specversion",
            "required (neither in the body nor in a cloudEvents:specversion header)",
        ));
    }
    validate(&attributes, &ids, accounts)
}

/// The body as a JSON object, checked for size, UTF-8 and syntax in that order.
fn parse_body(
    body: &[u8],
    max_body_bytes: usize,
    ids: &ReadIds,
) -> Result<Map<String, Value>, InvalidEvent> {
    if body.len() > max_body_bytes {
        return Err(ids.fail("body", format!("larger than {max_body_bytes} bytes")));
    }
    let text = std::str::from_utf8(body).map_err(|_| ids.fail("body", "not valid UTF-8"))?;
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ids.fail("body", "not a JSON object")),
        Err(e) => Err(ids.fail("body", format!("not JSON ({e})"))),
    }
}

/// The CloudEvents attributes carried in headers, by lowercase attribute name, or `None`
/// when no header carries `specversion` (the message is not in binary mode).
fn binary_attributes(
    headers: &BTreeMap<String, Value>,
) -> Result<Option<Map<String, Value>>, InvalidEvent> {
    let mut attributes = Map::new();
    let mut came_from: BTreeMap<String, &str> = BTreeMap::new();
    for (header, value) in headers {
        let Some(name) = attribute_name(header) else {
            continue;
        };
        if let Some(earlier) = came_from.get(&name) {
            if attributes.get(&name) != Some(value) {
                let ids = ReadIds::from_attributes(&attributes);
                return Err(ids.fail(
                    name,
                    format!("conflicting values in headers {earlier:?} and {header:?}"),
                ));
            }
            continue;
        }
        came_from.insert(name.clone(), header);
        attributes.insert(name, value.clone());
    }
    Ok(attributes.contains_key("specversion").then_some(attributes))
}

/// `cloudEvents:sequence` → `sequence`; `None` for headers that are not CloudEvents attributes.
fn attribute_name(header: &str) -> Option<String> {
    HEADER_PREFIXES.iter().find_map(|prefix| {
        let head = header.get(..prefix.len())?;
        let name = &header[prefix.len()..];
        (head.eq_ignore_ascii_case(prefix) && !name.is_empty()).then(|| name.to_ascii_lowercase())
    })
}
