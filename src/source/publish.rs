//! Publishing HR events to the exchange — what the HR system does. Used by
//! `hrsync publish FILE…` (to try the worker by hand) and by the tests. Waits for publisher
//! confirms so "published" means the broker has it.

use crate::config::RabbitMqConfig;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

/// Opens a confirm-mode channel for publishing.
pub async fn confirm_channel(connection: &lapin::Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// The routing key for an event body: its `type` when it has one, else `hr.employee.unknown`
/// (bad messages must still reach the queue, to be dead-lettered with a reason).
pub fn routing_key_for(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| !t.is_empty() && t.len() <= 255)
        .unwrap_or_else(|| "hr.employee.unknown".into())
}

/// Publishes a structured-mode CloudEvent body (persistent) and waits for the confirm.
pub async fn publish_event(
    channel: &Channel,
    config: &RabbitMqConfig,
    body: &[u8],
) -> Result<(), lapin::Error> {
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2);
    publish_raw(channel, config, &routing_key_for(body), body, properties).await
}

/// Publishes any body with the given properties (binary mode, bad input in tests).
pub async fn publish_raw(
    channel: &Channel,
    config: &RabbitMqConfig,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), lapin::Error> {
    let confirm = channel
        .basic_publish(
            config.exchange.as_str().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(lapin::Error::from(std::io::Error::other(
            "broker nacked the publish",
        )));
    }
    Ok(())
}

/// Binary-mode properties: CloudEvents attributes as `cloudEvents:` headers.
pub fn binary_mode_properties(attributes: &[(&str, &str)]) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in attributes {
        headers.insert(
            format!("cloudEvents:{name}").into(),
            lapin::types::AMQPValue::LongString((*value).into()),
        );
    }
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_headers(headers)
        .with_delivery_mode(2)
}
