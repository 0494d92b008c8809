//! The consume loop: connect, declare, consume with manual acks, and for each delivery
//! decode → apply → settle (delayed retry and dead letters, each confirmed) → ack. Broker
//! trouble — a closed connection, a consumer cancelled by the server, a consumer timeout —
//! ends the session and a new one starts after a backoff; unacked deliveries come back by
//! themselves and the state store makes them harmless. On shutdown it stops taking
//! messages, lets in-flight ones finish within the grace period, and closes; anything
//! unfinished returns to the queue.
//!
//! Concurrency: up to `worker.concurrency` employees are worked on at once. Each employee
//! has a lane: a message for an employee already in flight waits in that lane and runs
//! after it, so one employee's messages never overlap and keep their delivery order,
//! while other employees' messages flow past.

use super::lanes::Lanes;
use super::reconnect::{config_problem, Reconnect};
use super::topology;
use crate::apply::config::RetryConfig;
use crate::apply::Applier;
use crate::event::{HrEvent, InvalidEvent};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::source::config::{RabbitMqConfig, WorkerConfig};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything a consumer session needs; cheap to clone into tasks.
#[derive(Clone)]
pub struct Consumer {
    pub rabbitmq: RabbitMqConfig,
    pub worker: WorkerConfig,
    pub retry: RetryConfig,
    pub password: Secret,
    pub connection_name: String,
    pub applier: Arc<Applier>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

/// One delivery, decoded.
struct Job {
    delivery: Delivery,
    decoded: Result<HrEvent, InvalidEvent>,
}

impl Consumer {
    /// Consumes until `shutdown` is cancelled, reconnecting after broker trouble.
    ///
    /// The slots and lanes outlive sessions: a message still being applied when its
    /// connection died keeps its employee's lane, so the redelivered copy (and everything
    /// after it) waits for it instead of racing it.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut backoff = Reconnect::new(self.rabbitmq.reconnect_max_delay);
        let slots = Arc::new(Semaphore::new(self.worker.concurrency));
        let lanes = Lanes::<Job>::default();
        while !shutdown.is_cancelled() {
            let mut consuming_since = None;
            match self
                .session(&shutdown, &slots, &lanes, &mut consuming_since)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    self.set_consuming(false);
                    let healthy = consuming_since
                        .is_some_and(|since: Instant| since.elapsed() >= Reconnect::HEALTHY);
                    let mut delay = backoff.after_session(healthy);
                    if let Some(why) = config_problem(&e) {
                        // Retrying fast changes nothing: an operator must act. Try seldom,
                        // and say so where operators look.
                        delay = self.rabbitmq.reconnect_max_delay;
                        if self.health.broker_problem().as_deref() != Some(why.as_str()) {
                            tracing::error!(problem = %why, retry_in_ms = delay.as_millis() as u64, "RabbitMQ cannot be used until its configuration is fixed");
                        }
                        self.health.set_broker_problem(Some(why));
                        self.metrics.broker_config_problem.set(1);
                    }
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ session ended; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.set_consuming(false);
    }

    fn set_consuming(&self, on: bool) {
        self.health.set_consuming(on);
        self.metrics.consuming.set(i64::from(on));
    }

    /// One connection's life. `Ok` only after a clean shutdown.
    async fn session(
        &self,
        shutdown: &CancellationToken,
        slots: &Arc<Semaphore>,
        lanes: &Lanes<Job>,
        consuming_since: &mut Option<Instant>,
    ) -> Result<(), lapin::Error> {
        let connection =
            super::connect(&self.rabbitmq, &self.password, &self.connection_name).await?;
        let consume_channel = connection.create_channel().await?;
        topology::declare(&connection, &self.rabbitmq, &self.retry.all_delays()).await?;
        let publish_channel = connection.create_channel().await?;
        publish_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        consume_channel
            .basic_qos(self.rabbitmq.prefetch, BasicQosOptions::default())
            .await?;
        let mut tags = Vec::new();
        let mut streams = Vec::new();
        for queue in shuffled(topology::work_queues(&self.rabbitmq)) {
            if self.rabbitmq.shards > 0 {
                // The first subscriber of a shard is its active consumer: replicas that
                // start together spread the shards between them by this random stagger.
                let stagger = rand::random_range(0..250);
                tokio::time::sleep(Duration::from_millis(stagger)).await;
            }
            let consumer = consume_channel
                .basic_consume(
                    queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            tags.push(consumer.tag());
            streams.push(consumer);
        }
        let mut deliveries = futures_util::stream::select_all(streams);
        let router_stop = shutdown.child_token();
        let mut router = None;
        if self.rabbitmq.shards > 0 {
            let channels = (
                connection.create_channel().await?,
                connection.create_channel().await?,
            );
            let config = self.rabbitmq.clone();
            let max_body = self.worker.max_body_bytes;
            let stop = router_stop.clone();
            router = Some(tokio::spawn(async move {
                super::router::run(channels.0, channels.1, config, max_body, stop).await
            }));
        }
        self.set_consuming(true);
        *consuming_since = Some(Instant::now());
        self.health.set_broker_problem(None);
        self.metrics.broker_config_problem.set(0);
        tracing::info!(queue = %self.rabbitmq.queue, prefetch = self.rabbitmq.prefetch, "consuming");

        let result = loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                routed = async { router.as_mut().expect("guarded").await }, if router.is_some() => {
                    router = None;
                    match routed {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => break Err(e),
                        Err(e) => break Err(lapin::Error::from(std::io::Error::other(e.to_string()))),
                    }
                }
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
            self.metrics.in_flight.inc();
            let decoded = self.decode(&delivery);
            let lane = decoded.as_ref().ok().map(|event| event.subject.clone());
            let job = Job { delivery, decoded };
            let job = match &lane {
                Some(employee) => match lanes.join(employee, job) {
                    Some(job) => job,
                    None => continue, // queued behind the employee's message in flight
                },
                None => job,
            };
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let task = self.clone();
            let channel = publish_channel.clone();
            let lanes = lanes.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                task.run_lane(job, lane, &lanes, &channel, slot, &shutdown)
                    .await;
            });
        };
        self.set_consuming(false);
        router_stop.cancel();
        if result.is_ok() {
            self.drain(&consume_channel, &tags, slots).await;
        }
        close(&connection).await;
        result
    }

    fn decode(&self, delivery: &Delivery) -> Result<HrEvent, InvalidEvent> {
        super::decode(delivery, self.worker.max_body_bytes)
    }

    /// Handles `job`, then whatever queued up behind it in the same employee's lane.
    async fn run_lane(
        &self,
        mut job: Job,
        lane: Option<String>,
        lanes: &Lanes<Job>,
        channel: &Channel,
        _slot: OwnedSemaphorePermit,
        shutdown: &CancellationToken,
    ) {
        loop {
            self.handle(job, channel, shutdown).await;
            match lane.as_deref().and_then(|employee| lanes.next(employee)) {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    /// Applies (or rejects) one message and settles it with the broker.
    async fn handle(&self, job: Job, channel: &Channel, shutdown: &CancellationToken) {
        let (event_id, employee_id) = match &job.decoded {
            Ok(event) => (Some(event.id.clone()), Some(event.subject.clone())),
            Err(e) => (e.event_id.clone(), e.employee_id.clone()),
        };
        let span = tracing::info_span!(
            "event",
            event_id = event_id.as_deref().unwrap_or("-"),
            employee_id = employee_id.as_deref().unwrap_or("-")
        );
        crate::telemetry::traces::continue_trace(&span, &job.delivery);
        async {
            // Nothing in the message's headers decides anything here: whether an event
            // already passed a gate is the store's to say (see `apply::gate`).
            let verdict = match &job.decoded {
                Ok(event) => self.applier.handle(event, shutdown).await,
                Err(invalid) => {
                    tracing::warn!(field = %invalid.field, rule = %invalid.rule, "invalid event");
                    self.applier.reject(invalid)
                }
            };
            let event = job.decoded.as_ref().ok();
            self.settle(&job.delivery, event, &verdict, channel, shutdown)
                .await;
        }
        .instrument(span)
        .await;
        // Counted from delivery (including time waiting in a lane) to settlement.
        self.metrics.in_flight.dec();
    }

    /// Stops new deliveries and waits (up to the grace period) for in-flight messages.
    async fn drain(
        &self,
        channel: &Channel,
        tags: &[lapin::types::ShortString],
        slots: &Arc<Semaphore>,
    ) {
        for tag in tags {
            if let Err(e) = channel
                .basic_cancel(tag.clone(), BasicCancelOptions::default())
                .await
            {
                tracing::warn!(error = %e, "could not cancel the consumer");
            }
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

fn shuffled(mut queues: Vec<String>) -> Vec<String> {
    use rand::seq::SliceRandom;
    queues.shuffle(&mut rand::rng());
    queues
}

async fn close(connection: &Connection) {
    if connection.status().connected() {
        let _ = connection.close(200, "hrsync shutting down".into()).await;
    }
}
