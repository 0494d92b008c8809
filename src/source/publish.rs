//! Publishing HR events to the exchange — what the HR system does. Used by
//! `hrsync publish FILE…` (to try the worker by hand) and by the tests. Waits for publisher
//! confirms so "published" means the broker has it.

use crate::source::config::RabbitMqConfig;
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
) -> Result<(), PublishError> {
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2);
    publish_raw(channel, config, &routing_key_for(body), body, properties).await
}

/// Why a publish did not end with the broker holding the message.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker refused the publish: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker nacked the publish")]
    Nacked,
    #[error("the message was unroutable (is the queue bound?)")]
    Unroutable,
    #[error("the broker did not confirm the publish within {}s", BROKER_ANSWER_TIMEOUT.as_secs())]
    Unconfirmed,
}

/// How long hrsync waits for the broker to take an ack or a nack, or to confirm a
/// publish. They take milliseconds; but lapin can leave one unanswered for good when the
/// connection dies at the moment it is sent (seen in the broker-cut resilience test: one
/// ack in a few thousand), and the wait held that employee's lane — every later message
/// of the employee — until a restart. Past this the message counts as not settled: it
/// is redelivered after the reconnect, and the state store makes the repeat harmless.
pub const BROKER_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Publishes `body` as mandatory and waits for the broker's confirm: `Ok` means a queue
/// has it. The one way hrsync publishes, whether an event, a dead letter or a retry.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirmed = tokio::time::timeout(BROKER_ANSWER_TIMEOUT, async {
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                body,
                properties,
            )
            .await?
            .await
    })
    .await;
    let confirm = confirmed.map_err(|_| PublishError::Unconfirmed)??;
    if confirm.is_nack() {
        return Err(PublishError::Nacked);
    }
    if confirm.take_message().is_some() {
        return Err(PublishError::Unroutable);
    }
    Ok(())
}

/// Publishes any body with the given properties to the work exchange (binary mode, bad
/// input in tests, releases, replays).
pub async fn publish_raw(
    channel: &Channel,
    config: &RabbitMqConfig,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    publish_confirmed(channel, &config.exchange, routing_key, body, properties).await
}

/// Publishes straight to hrsync's own work queue (the default exchange routes by queue
/// name): releases and replays are hrsync's business, and every other system bound to the
/// HR exchange (directory, payroll, badge access) must not receive those events again.
pub async fn publish_to_work_queue(
    channel: &Channel,
    config: &RabbitMqConfig,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    publish_confirmed(channel, "", &config.queue, body, properties).await
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
