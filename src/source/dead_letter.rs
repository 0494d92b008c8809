//! Publishing dead letters. A dead letter is the original message — body and properties
//! untouched, so it can be replayed after a fix — plus `x-hrsync-*` headers naming the
//! reason, the target, the error and the attempts. Each publish waits for the broker's
//! confirm (and is mandatory, so an unroutable dead letter is a failure, not a silent loss):
//! only then may the original be acked.

use crate::apply::DeadLetter;
use crate::event::HrEvent;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, LongString};
use lapin::{BasicProperties, Channel};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A unique id per dead letter, for `hrsync dlq show ID`.
pub const ID: &str = "x-hrsync-dead-letter-id";
pub const REASON: &str = "x-hrsync-reason";
pub const TARGET: &str = "x-hrsync-target";
pub const ERROR_CODE: &str = "x-hrsync-error-code";
pub const ERROR: &str = "x-hrsync-error";
pub const ATTEMPTS: &str = "x-hrsync-attempts";
pub const DEAD_LETTERED_AT: &str = "x-hrsync-dead-lettered-at";
pub const ORIGINAL_EXCHANGE: &str = "x-hrsync-original-exchange";
pub const ORIGINAL_ROUTING_KEY: &str = "x-hrsync-original-routing-key";
/// The decoded event's id and employee, for `dlq replay` to reopen the failed target in
/// the store (absent for a message that is no valid event).
pub const EVENT_ID: &str = "x-hrsync-event-id";
pub const EMPLOYEE_ID: &str = "x-hrsync-employee-id";

/// Longest error detail carried in a header (headers share the frame with the body).
const MAX_DETAIL: usize = 1000;

pub use super::publish::PublishError;

/// Publishes one dead letter for `delivery` and waits for the confirm.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    delivery: &Delivery,
    event: Option<&HrEvent>,
    letter: &DeadLetter,
) -> Result<(), PublishError> {
    let properties = dead_letter_properties(delivery, event, letter);
    let routing_key = format!("{}.{}", letter.target_label(), letter.reason.as_str());
    super::publish::publish_confirmed(channel, exchange, &routing_key, &delivery.data, properties)
        .await
}

fn dead_letter_properties(
    delivery: &Delivery,
    event: Option<&HrEvent>,
    letter: &DeadLetter,
) -> BasicProperties {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    // Ours to set: a publisher's own copy of these headers must not name another event.
    let mut inner = headers.inner().clone();
    inner.remove(EVENT_ID);
    inner.remove(EMPLOYEE_ID);
    headers = inner.into();
    if let Some(event) = event {
        for (name, value) in [(EVENT_ID, &event.id), (EMPLOYEE_ID, &event.subject)] {
            headers.insert(
                name.into(),
                AMQPValue::LongString(LongString::from(value.as_str())),
            );
        }
    }
    let detail: String = letter.detail.chars().take(MAX_DETAIL).collect();
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    for (name, value) in [
        (ID, uuid::Uuid::new_v4().to_string()),
        (REASON, letter.reason.as_str().to_string()),
        (TARGET, letter.target_label().to_string()),
        (ERROR_CODE, letter.code.clone()),
        (ERROR, detail),
        (DEAD_LETTERED_AT, now),
        (ORIGINAL_EXCHANGE, delivery.exchange.as_str().to_string()),
        (
            ORIGINAL_ROUTING_KEY,
            delivery.routing_key.as_str().to_string(),
        ),
    ] {
        headers.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
    }
    headers.insert(
        ATTEMPTS.into(),
        AMQPValue::LongLongInt(letter.attempts as i64),
    );
    delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2)
}
