//! Releasing held messages back into the work queue: due scheduled changes (by the
//! worker, periodically) and staged deprovisioning (by an operator). A released message is
//! the event as a structured CloudEvent, published straight to the work queue (never to the
//! HR exchange, whose other subscribers must not see it twice) with publisher confirms.
//! It carries no marker: the gate lets it through because the store holds its release.
//!
//! The proof must be there before the copy can arrive: a hold is marked *releasing* (with a
//! lease) before it is published, a releasing hold counts as released, and it is marked
//! released after the broker confirmed the copy. A crash in between leaves it releasing,
//! so it is published again once the lease runs out — the dedupe makes the repeat
//! harmless. The proof is the status, not the lease's time: clocks need not agree.

use super::publish;
use crate::apply::config::ScheduleConfig;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::source::config::RabbitMqConfig;
use crate::store::{HeldKind, HeldMessage, HeldStatus, Store};
use lapin::{BasicProperties, Channel};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Publishes one held message to the work queue.
pub async fn publish_held(
    channel: &Channel,
    config: &RabbitMqConfig,
    message: &HeldMessage,
) -> Result<(), publish::PublishError> {
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_message_id(message.event_id.as_str().into())
        .with_delivery_mode(2);
    publish::publish_to_work_queue(channel, config, message.body.as_bytes(), properties).await
}

/// Releases due scheduled messages every `poll_interval` until shutdown, and keeps the
/// held-message and reconciliation gauges current (for the configured `targets`).
pub async fn release_due_forever(
    rabbitmq: RabbitMqConfig,
    password: Secret,
    schedule: ScheduleConfig,
    store: Store,
    targets: Vec<String>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut channel: Option<(lapin::Connection, Channel)> = None;
    loop {
        if let Err(e) = release_due(&rabbitmq, &password, &store, &mut channel).await {
            tracing::warn!(error = %e, "releasing due scheduled changes failed; will try again");
            channel = None;
        }
        update_gauges(&store, &targets, &metrics).await;
        // Only while the consumer is connected: a broker that refuses hrsync (a bad
        // certificate, credentials) is left alone as the consumer's backoff says.
        let broker_usable = metrics.consuming.get() == 1;
        match dead_letter_depth(&rabbitmq, &password, &mut channel, broker_usable).await {
            Ok(depth) => metrics.dead_letter_queue_messages.set(i64::from(depth)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the dead-letter queue's depth; will try again");
                channel = None;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(schedule.poll_interval) => {}
        }
    }
    if let Some((connection, _)) = channel {
        let _ = connection.close(200, "hrsync shutting down".into()).await;
    }
}

/// The dead-letter queue's message count, as the broker answers a passive declare.
async fn dead_letter_depth(
    rabbitmq: &RabbitMqConfig,
    password: &Secret,
    channel: &mut Option<(lapin::Connection, Channel)>,
    broker_usable: bool,
) -> anyhow::Result<u32> {
    if !broker_usable && channel.is_none() {
        anyhow::bail!("not connected to the broker");
    }
    let (_, confirm) = open_channel(rabbitmq, password, channel).await?;
    let queue = confirm
        .queue_declare(
            rabbitmq.dead_letter_queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await?;
    Ok(queue.message_count())
}

/// The scheduler's confirm channel, opened on first use.
async fn open_channel<'a>(
    rabbitmq: &RabbitMqConfig,
    password: &Secret,
    channel: &'a mut Option<(lapin::Connection, Channel)>,
) -> anyhow::Result<&'a (lapin::Connection, Channel)> {
    if channel.is_none() {
        let name = format!("{}-scheduler", rabbitmq.connection_name);
        let connection = super::connect(rabbitmq, password, &name).await?;
        let confirm = publish::confirm_channel(&connection).await?;
        *channel = Some((connection, confirm));
    }
    Ok(channel.as_ref().expect("opened above"))
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
        let (_, confirm) = open_channel(rabbitmq, password, channel).await?;
        for message in &due {
            publish_held(confirm, rabbitmq, message).await?;
            store
                .mark_held(&message.event_id, HeldKind::Scheduled, HeldStatus::Released)
                .await?;
            tracing::info!(event_id = %message.event_id, employee_id = %message.employee_id, action = %message.action, "scheduled change is due; released");
        }
    }
}

async fn update_gauges(store: &Store, targets: &[String], metrics: &Metrics) {
    if let Ok((count, next)) = store.held_summary(HeldKind::Scheduled).await {
        metrics.scheduled_pending.set(count as i64);
        metrics
            .scheduled_next_due
            .set(next.map_or(0, |t| t.unix_timestamp()));
    }
    if let Ok((count, _)) = store.held_summary(HeldKind::Staged).await {
        metrics.staged_operations.set(count as i64);
    }
    if let Ok(leavers) = store.staged_leavers().await {
        metrics
            .deprovision_guard_tripped
            .set(i64::from(leavers > 0));
    }
    if let Ok(mut runs) = store.last_reconciles().await {
        // A target switched off since its last run would hold the oldest success back
        // forever: only configured targets count.
        runs.retain(|run| targets.contains(&run.target));
        for run in &runs {
            for (status, n) in &run.counts {
                metrics
                    .reconcile_accounts
                    .with_label_values(&[&run.target, status])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        let oldest = runs.iter().map(|r| r.finished_at.unix_timestamp()).min();
        metrics.reconcile_last_success.set(oldest.unwrap_or(0));
    }
}
