//! The broker topology hrsync relies on, declared at every (re)connect so a fresh broker,
//! a deleted queue or a new vhost heals itself. Declarations are idempotent as long as the
//! arguments do not change; a changed argument fails loudly with PRECONDITION_FAILED.
//!
//! - `exchange` (topic): where HR publishes; bound to the work queue by `binding_keys`.
//! - `queue` (quorum): the work queue. `x-delivery-limit` with at-least-once
//!   dead-lettering is the broker-side backstop for a message that crashes the worker
//!   before it can dead-letter the message itself.
//! - `dead_letter_exchange` (fanout) → `dead_letter_queue` (**classic**): everything that
//!   could not be applied, with the reason in headers. Classic on purpose: operators look at
//!   dead letters (`hrsync dlq list`) by fetching them unacknowledged and letting them go
//!   back, and only a classic queue puts them back where they were without counting a
//!   delivery. A quorum queue reorders returned messages and counts each look as a
//!   delivery; RabbitMQ 4 drops quorum messages past 20 deliveries by default, so dead
//!   letters would vanish after 20 looks. (A negative `x-delivery-limit`, 4.x's "unlimited",
//!   means "drop after one delivery" on 3.x, so that is no way out either.)
//! - with `shards = N`: `{exchange}.by-employee` (consistent-hash on the
//!   `x-hrsync-employee` header) → `{queue}.shard.{i}` (quorum, single active consumer).
//!   The work queue then has a single active consumer too: the router.
//! - `{queue}.retry.{N}s` (quorum, one per configured wait): the delayed-retry queues.
//!   A message waits there `x-message-ttl`, then the broker dead-letters it back to the
//!   work queue (at least once), so a struggling target does not hold consumer slots.

use crate::source::config::RabbitMqConfig;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};
use std::time::Duration;

/// The header the consistent-hash exchange hashes on: the employee id.
pub const EMPLOYEE_HEADER: &str = "x-hrsync-employee";

/// The consistent-hash exchange feeding the shard queues.
pub fn shard_exchange(config: &RabbitMqConfig) -> String {
    format!("{}.by-employee", config.exchange)
}

/// Shard queue `index`.
pub fn shard_queue(config: &RabbitMqConfig, index: u16) -> String {
    format!("{}.shard.{index}", config.queue)
}

/// The queues the worker applies events from: the work queue, or the shard queues.
pub fn work_queues(config: &RabbitMqConfig) -> Vec<String> {
    if config.shards == 0 {
        vec![config.queue.clone()]
    } else {
        (0..config.shards).map(|i| shard_queue(config, i)).collect()
    }
}

/// The delayed-retry queue for a wait of `delay`.
pub fn retry_queue(config: &RabbitMqConfig, delay: Duration) -> String {
    format!("{}.retry.{}s", config.queue, delay.as_secs_f64())
}

/// Declares everything, on channels of its own (a refused declaration closes its channel).
pub async fn declare(
    connection: &Connection,
    config: &RabbitMqConfig,
    retry_delays: &[Duration],
) -> Result<(), lapin::Error> {
    if let DeadLetterQueue::Other = declare_dead_letter_queue(connection, config).await? {
        tracing::error!(
            queue = %config.dead_letter_queue,
            "the dead-letter queue exists with other arguments (a quorum queue made by an earlier hrsync?); \
             dead letters still go there, but `hrsync dlq list` refuses to look at it, because looking \
             would reorder it and count deliveries; move its messages to a classic queue (docs/runbook.md)"
        );
    }
    let channel = connection.create_channel().await?;
    declare_on(&channel, config, retry_delays).await?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// What the dead-letter queue turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterQueue {
    /// A classic queue, as hrsync declares it: safe to look at.
    Classic,
    /// It exists with other arguments (e.g. a quorum queue): looking would change it.
    Other,
}

/// Declares the dead-letter queue as a classic queue; an existing queue with other
/// arguments is left alone and reported.
pub async fn declare_dead_letter_queue(
    connection: &Connection,
    config: &RabbitMqConfig,
) -> Result<DeadLetterQueue, lapin::Error> {
    let channel = connection.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-queue-type"), text("classic"));
    let declared = channel
        .queue_declare(
            config.dead_letter_queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await;
    match declared {
        Ok(_) => {
            let _ = channel.close(200, "declared".into()).await;
            Ok(DeadLetterQueue::Classic)
        }
        Err(e) if is_precondition_failed(&e) => Ok(DeadLetterQueue::Other),
        Err(e) => Err(e),
    }
}

fn is_precondition_failed(error: &lapin::Error) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(e)
        if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)))
}

async fn declare_on(
    channel: &Channel,
    config: &RabbitMqConfig,
    retry_delays: &[Duration],
) -> Result<(), lapin::Error> {
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            config.dead_letter_exchange.as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            config.dead_letter_queue.as_str().into(),
            config.dead_letter_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            config.queue.as_str().into(),
            durable_queue,
            intake_queue_arguments(config),
        )
        .await?;
    for delay in retry_delays {
        channel
            .queue_declare(
                retry_queue(config, *delay).as_str().into(),
                durable_queue,
                retry_queue_arguments(config, *delay),
            )
            .await?;
    }
    if config.shards > 0 {
        declare_shards(channel, config).await?;
    }
    for key in &config.binding_keys {
        channel
            .queue_bind(
                config.queue.as_str().into(),
                config.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// The consistent-hash exchange (hashing the employee header) and N shard queues with
/// single active consumer, each bound with weight 1.
async fn declare_shards(channel: &Channel, config: &RabbitMqConfig) -> Result<(), lapin::Error> {
    let mut args = FieldTable::default();
    args.insert("hash-header".into(), text(EMPLOYEE_HEADER));
    channel
        .exchange_declare(
            shard_exchange(config).as_str().into(),
            ExchangeKind::Custom("x-consistent-hash".into()),
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    for index in 0..config.shards {
        let queue = shard_queue(config, index);
        let mut args = work_queue_arguments(config);
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                shard_exchange(config).as_str().into(),
                "1".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn quorum_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-queue-type"), text("quorum"));
    args
}

/// The work queue; when sharded, only one router at a time reads it, so the routing keeps
/// the arrival order.
fn intake_queue_arguments(config: &RabbitMqConfig) -> FieldTable {
    let mut args = work_queue_arguments(config);
    if config.shards > 0 {
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    args
}

fn retry_queue_arguments(config: &RabbitMqConfig, delay: Duration) -> FieldTable {
    let mut args = quorum_arguments();
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(delay.as_millis().try_into().unwrap_or(i64::MAX)),
    );
    // Expired messages go back to the work queue through the default exchange.
    args.insert("x-dead-letter-exchange".into(), text(""));
    args.insert("x-dead-letter-routing-key".into(), text(&config.queue));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}

fn work_queue_arguments(config: &RabbitMqConfig) -> FieldTable {
    let mut args = quorum_arguments();
    args.insert(
        "x-dead-letter-exchange".into(),
        text(&config.dead_letter_exchange),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(config.delivery_limit)),
    );
    // At-least-once dead-lettering (RabbitMQ ≥ 3.10) requires reject-publish overflow.
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}
