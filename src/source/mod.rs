//! The RabbitMQ side of the worker.
//!
//! - [`topology`]: declares exchanges and queues idempotently at every (re)connect.
//! - [`consumer`]: consumes with manual acks, hands events to [`crate::apply`], executes
//!   the verdict, reconnects after broker trouble, drains on shutdown.
//! - [`dead_letter`]: publishes dead letters with publisher confirms; a message is acked
//!   only once its dead letters are confirmed.
//! - [`delayed_retry`]: parks a message in a delayed-retry queue (TTL, then back to the work
//!   queue), counting rounds in a header.
//! - [`headers`]: AMQP header tables as JSON, for the event decoder and tools.
//! - [`publish`]: publishing events, for the `hrsync publish` command and tests.
//! - [`router`]: with shards, moves work-queue messages to the employee's shard queue.
//! - [`release`]: republishing held messages — due scheduled changes, released staged ones.

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod delayed_retry;
pub mod headers;
mod lanes;
pub mod publish;
mod reconnect;
pub mod release;
pub mod router;
mod settle;
pub mod topology;

use crate::event::{self, Envelope, HrEvent, InvalidEvent};
use crate::secret::Secret;
use crate::source::config::RabbitMqConfig;
use lapin::message::Delivery;
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{Connect, Connection, ConnectionProperties};

/// Resolves the configured password and connects (for the operator commands).
pub async fn connect_configured(config: &RabbitMqConfig, name: &str) -> anyhow::Result<Connection> {
    use anyhow::Context;
    let password = config
        .password
        .resolve()
        .map_err(anyhow::Error::msg)
        .context("rabbitmq.password")?;
    connect(config, &password, name)
        .await
        .context("cannot connect to RabbitMQ")
}

/// Opens a connection with the configured credentials. The error never shows the password.
pub async fn connect(
    config: &RabbitMqConfig,
    password: &Secret,
    name: &str,
) -> Result<Connection, lapin::Error> {
    let mut uri: AMQPUri = config
        .url
        .parse()
        .map_err(|e: String| lapin::Error::from(std::io::Error::other(e)))?;
    uri.authority.userinfo = AMQPUserInfo {
        username: config.username.clone(),
        password: password.expose().to_string(),
    };
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let tls = config
        .tls
        .load("rabbitmq.tls")
        .map_err(|errors| lapin::Error::from(std::io::Error::other(errors.join("; "))))?;
    uri.connect_with_config(
        properties,
        tls.for_amqp(),
        lapin::runtime::default_runtime()?,
    )
    .await
}

/// Decodes a delivery as an HR event, reading its content type and headers as the
/// envelope (the consumer and the shard router read messages the same way).
pub fn decode(delivery: &Delivery, max_body_bytes: usize) -> Result<HrEvent, InvalidEvent> {
    let header_map = headers::to_json_map(delivery.properties.headers().as_ref());
    let envelope = Envelope {
        content_type: delivery
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str()),
        headers: &header_map,
    };
    event::decode(
        &delivery.data,
        &envelope,
        max_body_bytes,
        crate::targets::registry::account_keys(),
    )
}
