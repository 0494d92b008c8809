//! The router for sharded consumption: reads the work queue (single active consumer, so
//! arrival order is kept) and republishes each message to the consistent-hash exchange
//! with the employee id in a header, which picks the employee's shard queue. Each message
//! is acked after the broker confirmed its copy; publishes go out in delivery order, so one
//! employee's events reach their shard in the order they arrived.

use super::publish::publish_confirmed;
use super::topology::{shard_exchange, EMPLOYEE_HEADER};
use crate::source::config::RabbitMqConfig;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Channel;
use tokio_util::sync::CancellationToken;

/// Routes until shutdown or a broker error (the caller reconnects).
pub async fn run(
    consume: Channel,
    publish: Channel,
    config: RabbitMqConfig,
    max_body_bytes: usize,
    shutdown: CancellationToken,
) -> Result<(), lapin::Error> {
    consume
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut deliveries = consume
        .basic_consume(
            config.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let exchange = shard_exchange(&config);
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = deliveries.next() => match next {
                Some(delivery) => delivery?,
                None => return Err(lapin::Error::from(std::io::Error::other("router consumer was cancelled"))),
            },
        };
        let employee = employee_of(&delivery, max_body_bytes);
        let mut table = delivery.properties.headers().clone().unwrap_or_default();
        table.insert(
            EMPLOYEE_HEADER.into(),
            AMQPValue::LongString(LongString::from(employee)),
        );
        let properties = delivery.properties.clone().with_headers(table);
        let result = publish_confirmed(&publish, &exchange, "", &delivery.data, properties).await;
        match result {
            Ok(()) => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not route a message to its shard; returning it");
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await;
                return Err(lapin::Error::from(std::io::Error::other(e.to_string())));
            }
        }
    }
}

/// The employee a message is about; a message that is no valid event still needs a
/// shard (to be dead-lettered there with its reason): it hashes on what could be read.
fn employee_of(delivery: &lapin::message::Delivery, max_body_bytes: usize) -> String {
    match super::decode(delivery, max_body_bytes) {
        Ok(event) => event.subject,
        Err(invalid) => invalid.employee_id.unwrap_or_default(),
    }
}
