//! Sending a message to wait in a delayed-retry queue: the original body and properties,
//! with the round counted in our own header (`x-hrsync-deferrals`) — never a requeue loop.
//! Confirmed before the original is acked.

use super::publish::{publish_confirmed, PublishError};
use super::topology::retry_queue;
use crate::source::config::RabbitMqConfig;
use lapin::message::Delivery;
use lapin::types::AMQPValue;
use lapin::Channel;
use std::time::Duration;

/// How many delayed-retry rounds a message has been through.
pub const DEFERRALS: &str = "x-hrsync-deferrals";

/// The round count carried by `delivery` (0 for a first delivery).
pub fn rounds(delivery: &Delivery) -> u32 {
    super::headers::text(delivery.properties.headers().as_ref(), DEFERRALS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Publishes `delivery` to the retry queue for `delay`, marked as round `round`.
pub async fn defer(
    channel: &Channel,
    config: &RabbitMqConfig,
    delivery: &Delivery,
    delay: Duration,
    round: u32,
) -> Result<(), PublishError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(DEFERRALS.into(), AMQPValue::LongLongInt(i64::from(round)));
    let properties = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    // The default exchange routes by queue name.
    let queue = retry_queue(config, delay);
    publish_confirmed(channel, "", &queue, &delivery.data, properties).await
}
