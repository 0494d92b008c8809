//! Releasing held messages back into the work queue: due scheduled changes (by the
//! worker, periodically) and staged deprovisioning (by an operator). A released message is
//! the event as a structured CloudEvent, published to the work exchange with publisher
//! confirms and `x-hrsync-released`, and marked released only after the broker confirmed
//! it — a crash in between publishes it again, which the dedupe makes harmless.

use super::publish;
use crate::apply::gate::RELEASED;
use crate::config::{RabbitMqConfig, ScheduleConfig, Secret};
use crate::metrics::Metrics;
use crate::store::{HeldKind, HeldMessage, HeldStatus, Store};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Publishes one held message to the work exchange, marked with the gate it passed.
pub async fn publish_held(
    channel: &Channel,
    config: &RabbitMqConfig,
    message: &HeldMessage,
) -> Result<(), publish::PublishError> {
    let mut headers = FieldTable::default();
    headers.insert(
        RELEASED.into(),
        AMQPValue::LongString(LongString::from(message.kind.as_str())),
    );
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_message_id(message.event_id.as_str().into())
        .with_delivery_mode(2)
        .with_headers(headers);
    let body = message.body.as_bytes();
    publish::publish_raw(
        channel,
        config,
        &publish::routing_key_for(body),
        body,
        properties,
    )
    .await
}

/// Releases due scheduled messages every `poll_interval` until shutdown, and keeps the
/// held-message gauges current.
pub async fn release_due_forever(
    rabbitmq: RabbitMqConfig,
    password: Secret,
    schedule: ScheduleConfig,
    store: Store,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut channel: Option<(lapin::Connection, Channel)> = None;
    loop {
        if let Err(e) = release_due(&rabbitmq, &password, &store, &mut channel).await {
            tracing::warn!(error = %e, "releasing due scheduled changes failed; will try again");
            channel = None;
        }
        update_gauges(&store, &metrics).await;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(schedule.poll_interval) => {}
        }
    }
    if let Some((connection, _)) = channel {
        let _ = connection.close(200, "hrsync shutting down".into()).await;
    }
}

async fn release_due(
    rabbitmq: &RabbitMqConfig,
    password: &Secret,
    store: &Store,
    channel: &mut Option<(lapin::Connection, Channel)>,
) -> anyhow::Result<()> {
    loop {
        let due = store.claim_due(100, time::Duration::minutes(2)).await?;
        if due.is_empty() {
            return Ok(());
        }
        if channel.is_none() {
            let name = format!("{}-scheduler", rabbitmq.connection_name);
            let connection = super::connect(rabbitmq, password, &name).await?;
            let confirm = publish::confirm_channel(&connection).await?;
            *channel = Some((connection, confirm));
        }
        let (_, confirm) = channel.as_ref().expect("opened above");
        for message in &due {
            publish_held(confirm, rabbitmq, message).await?;
            store
                .mark_held(&message.event_id, HeldKind::Scheduled, HeldStatus::Released)
                .await?;
            tracing::info!(event_id = %message.event_id, employee_id = %message.employee_id, action = %message.action, "scheduled change is due; released");
        }
    }
}

async fn update_gauges(store: &Store, metrics: &Metrics) {
    if let Ok((count, next)) = store.held_summary(HeldKind::Scheduled).await {
        metrics.scheduled_pending.set(count as i64);
        metrics
            .scheduled_next_due
            .set(next.map_or(0, |t| t.unix_timestamp()));
    }
    if let Ok((count, _)) = store.held_summary(HeldKind::Staged).await {
        metrics.staged_operations.set(count as i64);
        metrics.deprovision_guard_tripped.set(i64::from(count > 0));
    }
}
