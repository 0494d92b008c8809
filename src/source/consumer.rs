//! The consume loop: connect, declare, consume with manual acks, and for each delivery
//! decode → apply → dead-letter what failed (confirmed) → ack. Broker trouble ends a
//! session and starts a new one after a backoff; unacked deliveries come back by
//! themselves. On shutdown it stops taking messages, lets in-flight ones finish within the
//! grace period, and closes — anything unfinished returns to the queue.
//!
//! Concurrency: up to `worker.concurrency` messages at once, but never two of the same
//! employee, and one employee's messages start in delivery order.

use super::{dead_letter, headers, topology};
use crate::apply::{Applier, Verdict};
use crate::config::{RabbitMqConfig, Secret, WorkerConfig};
use crate::event::{self, Envelope, HrEvent, InvalidEvent};
use crate::http::Health;
use crate::metrics::Metrics;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything a consumer session needs; cheap to clone into tasks.
#[derive(Clone)]
pub struct Consumer {
    pub rabbitmq: RabbitMqConfig,
    pub worker: WorkerConfig,
    pub password: Secret,
    pub applier: Arc<Applier>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Consumer {
    /// Consumes until `shutdown` is cancelled, reconnecting after broker trouble.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(250);
        while !shutdown.is_cancelled() {
            match self.session(&shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    self.set_consuming(false);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ session ended; reconnecting");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(self.rabbitmq.reconnect_max_delay);
        }
        self.set_consuming(false);
    }

    fn set_consuming(&self, on: bool) {
        self.health.set_consuming(on);
        self.metrics.consuming.set(i64::from(on));
    }

    /// One connection's life. `Ok` only after a clean shutdown.
    async fn session(&self, shutdown: &CancellationToken) -> Result<(), lapin::Error> {
        let connection = super::connect(&self.rabbitmq, &self.password, "hrsync-worker").await?;
        let consume_channel = connection.create_channel().await?;
        topology::declare(&consume_channel, &self.rabbitmq).await?;
        let publish_channel = connection.create_channel().await?;
        publish_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        consume_channel
            .basic_qos(self.rabbitmq.prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = consume_channel
            .basic_consume(
                self.rabbitmq.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.set_consuming(true);
        tracing::info!(queue = %self.rabbitmq.queue, prefetch = self.rabbitmq.prefetch, "consuming");

        let slots = Arc::new(Semaphore::new(self.worker.concurrency));
        let order = EmployeeOrder::default();
        let result = loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = deliveries.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => break Err(e),
                None => {
                    break Err(lapin::Error::from(std::io::Error::other(
                        "consumer was cancelled by the broker",
                    )))
                }
            };
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let decoded = self.decode(&delivery);
            let turn = match &decoded {
                Ok(event) => Some(order.wait_turn(&event.subject).await),
                Err(_) => None,
            };
            let task = self.clone();
            let channel = publish_channel.clone();
            tokio::spawn(async move {
                task.handle(delivery, decoded, &channel, slot, turn).await;
            });
        };
        self.set_consuming(false);
        if result.is_ok() {
            self.drain(&consume_channel, &deliveries.tag(), &slots)
                .await;
        }
        close(&connection).await;
        result
    }

    fn decode(&self, delivery: &Delivery) -> Result<HrEvent, InvalidEvent> {
        let header_map = headers::to_json_map(delivery.properties.headers().as_ref());
        let envelope = Envelope {
            content_type: delivery
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str()),
            headers: &header_map,
        };
        event::decode(&delivery.data, &envelope, self.worker.max_body_bytes)
    }

    /// Applies (or rejects) one message and settles it with the broker.
    async fn handle(
        &self,
        delivery: Delivery,
        decoded: Result<HrEvent, InvalidEvent>,
        channel: &Channel,
        _slot: OwnedSemaphorePermit,
        _turn: Option<Turn>,
    ) {
        self.metrics.in_flight.inc();
        let (event_id, employee_id) = match &decoded {
            Ok(event) => (Some(event.id.clone()), Some(event.subject.clone())),
            Err(e) => (e.event_id.clone(), e.employee_id.clone()),
        };
        let span = tracing::info_span!(
            "event",
            event_id = event_id.as_deref().unwrap_or("-"),
            employee_id = employee_id.as_deref().unwrap_or("-")
        );
        async {
            let verdict = match &decoded {
                Ok(event) => self.applier.apply(event).await,
                Err(invalid) => {
                    tracing::warn!(field = %invalid.field, rule = %invalid.rule, "invalid event");
                    self.applier.reject(invalid)
                }
            };
            self.settle(&delivery, &verdict, channel).await;
        }
        .instrument(span)
        .await;
        self.metrics.in_flight.dec();
    }

    /// Publishes the verdict's dead letters (confirmed), then acks. If a dead letter
    /// cannot be confirmed the message is returned to the queue instead: never lost.
    async fn settle(&self, delivery: &Delivery, verdict: &Verdict, channel: &Channel) {
        for letter in &verdict.dead_letters {
            match dead_letter::publish(
                channel,
                &self.rabbitmq.dead_letter_exchange,
                delivery,
                letter,
            )
            .await
            {
                Ok(()) => {
                    self.metrics
                        .dead_letters
                        .with_label_values(&[letter.target_label(), letter.reason.as_str()])
                        .inc();
                    tracing::warn!(target_api = letter.target_label(), reason = letter.reason.as_str(), code = %letter.code, "dead-lettered");
                }
                Err(e) => {
                    tracing::error!(error = %e, "dead letter not confirmed; returning the message to the queue");
                    let requeue = BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    };
                    if let Err(e) = delivery.nack(requeue).await {
                        tracing::warn!(error = %e, "nack failed; the broker will redeliver after reconnect");
                    }
                    return;
                }
            }
        }
        match delivery.ack(BasicAckOptions::default()).await {
            Ok(_) => tracing::info!(outcome = verdict.outcome(), "message settled"),
            Err(e) => {
                tracing::warn!(error = %e, "ack failed; the broker will redeliver after reconnect")
            }
        }
    }

    /// Stops new deliveries and waits (up to the grace period) for in-flight messages.
    async fn drain(
        &self,
        channel: &Channel,
        tag: &lapin::types::ShortString,
        slots: &Arc<Semaphore>,
    ) {
        if let Err(e) = channel
            .basic_cancel(tag.clone(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(error = %e, "could not cancel the consumer");
        }
        let all = u32::try_from(self.worker.concurrency).unwrap_or(u32::MAX);
        let grace = self.worker.shutdown_grace;
        match tokio::time::timeout(grace, slots.acquire_many(all)).await {
            Ok(_) => tracing::info!("in-flight messages finished"),
            Err(_) => tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; unfinished messages return to the queue"
            ),
        }
    }
}

async fn close(connection: &Connection) {
    if connection.status().connected() {
        let _ = connection.close(200, "hrsync shutting down".into()).await;
    }
}

/// Per-employee ordering: a message starts only after the previous message of the same
/// employee has finished. The map holds one entry per employee with work in flight.
#[derive(Clone, Default)]
struct EmployeeOrder {
    lanes: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// Held while an employee's message is handled; frees the lane when dropped.
pub struct Turn {
    lanes: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    employee: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl EmployeeOrder {
    /// Waits until no other message of `employee` is in flight. Called from the consume
    /// loop in delivery order, so one employee's messages start in that order.
    async fn wait_turn(&self, employee: &str) -> Turn {
        let lane = {
            let mut lanes = self.lanes.lock().expect("lock poisoned");
            lanes
                .entry(employee.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(1)))
                .clone()
        };
        let permit = lane
            .acquire_owned()
            .await
            .expect("lane semaphores are never closed");
        Turn {
            lanes: self.lanes.clone(),
            employee: employee.to_string(),
            permit: Some(permit),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut lanes = self.lanes.lock().expect("lock poisoned");
        // Only the map still refers to an idle lane: forget it so the map stays small.
        if lanes
            .get(&self.employee)
            .is_some_and(|lane| Arc::strong_count(lane) == 1)
        {
            lanes.remove(&self.employee);
        }
    }
}
