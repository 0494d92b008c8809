//! Settling one message with the broker, as its verdict says: to the delayed-retry queue
//! (confirmed), its dead letters (confirmed, then recorded as settling their targets), then
//! the ack — or, if any publish is not confirmed, back to the queue, never lost.

use super::consumer::Consumer;
use super::publish::BROKER_ANSWER_TIMEOUT;
use super::{dead_letter, delayed_retry};
use crate::apply::{DeadLetter, Verdict};
use crate::event::HrEvent;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Channel;
use tokio_util::sync::CancellationToken;

impl Consumer {
    /// Defers (confirmed) what can be tried later, dead-letters (confirmed) what cannot be
    /// applied, records that the dead-lettered targets are settled, then acks. If any
    /// publish is not confirmed the message is returned to the queue instead: never lost,
    /// and the store makes the repeat harmless.
    pub(super) async fn settle(
        &self,
        delivery: &Delivery,
        event: Option<&HrEvent>,
        verdict: &Verdict,
        channel: &Channel,
        shutdown: &CancellationToken,
    ) {
        if verdict.returned {
            return requeue(delivery, "stopped while waiting for the state store").await;
        }
        let mut letters = verdict.dead_letters.clone();
        if !verdict.deferred.is_empty() {
            match self.defer(delivery, verdict, channel).await {
                Ok(None) => {}
                Ok(Some(exhausted)) => letters.extend(exhausted),
                Err(e) => return requeue(delivery, &e.to_string()).await,
            }
        }
        for (published, letter) in letters.iter().enumerate() {
            if let Err(e) = dead_letter::publish(
                channel,
                &self.rabbitmq.dead_letter_exchange,
                delivery,
                event,
                letter,
            )
            .await
            {
                // The letters already confirmed stand: record them, so the redelivery
                // does not dead-letter those targets a second time.
                if let Some(event) = event {
                    self.applier
                        .record_dead_letters(event, &letters[..published], shutdown)
                        .await;
                }
                return requeue(delivery, &e.to_string()).await;
            }
            self.metrics
                .dead_letters
                .with_label_values(&[letter.target_label(), letter.reason.as_str()])
                .inc();
            tracing::warn!(target_api = letter.target_label(), reason = letter.reason.as_str(), code = %letter.code.as_str(), "dead-lettered");
        }
        if let Some(event) = event {
            // Confirmed, so recorded: a later round of this event does not dead-letter
            // these targets again. On shutdown the letters stand and the ack still goes.
            self.applier
                .record_dead_letters(event, &letters, shutdown)
                .await;
        }
        let acked = tokio::time::timeout(
            BROKER_ANSWER_TIMEOUT,
            delivery.ack(BasicAckOptions::default()),
        )
        .await;
        match acked.unwrap_or_else(|_| Err(unanswered("ack"))) {
            Ok(_) => tracing::info!(
                outcome = verdict.outcome(),
                targets = %verdict.targets_summary(),
                "message settled"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "ack failed; the broker will redeliver after reconnect")
            }
        }
    }

    /// Sends the message to the delayed-retry queue, or — past `max_deferrals` rounds —
    /// returns the dead letters for the deferred targets.
    async fn defer(
        &self,
        delivery: &Delivery,
        verdict: &Verdict,
        channel: &Channel,
    ) -> Result<Option<Vec<DeadLetter>>, dead_letter::PublishError> {
        let round = delayed_retry::rounds(delivery);
        let parked_only = verdict.deferred.iter().all(|d| d.parked);
        let next = if parked_only { round } else { round + 1 };
        if next > self.retry.max_deferrals {
            return Ok(Some(
                verdict
                    .deferred
                    .iter()
                    .map(|d| DeadLetter::exhausted(d, round))
                    .collect(),
            ));
        }
        let (delay, kind) = if parked_only {
            (self.retry.park_delay, "parked")
        } else {
            (self.retry.deferral_delay(next), "deferred")
        };
        delayed_retry::defer(channel, &self.rabbitmq, delivery, delay, next).await?;
        self.metrics.deferrals.with_label_values(&[kind]).inc();
        tracing::info!(
            round = next,
            delay_secs = delay.as_secs_f64(),
            kind,
            "message waits in the delayed-retry queue"
        );
        Ok(None)
    }
}

pub(super) async fn requeue(delivery: &Delivery, why: &str) {
    tracing::warn!(error = %why, "returning the message to the queue");
    let options = BasicNackOptions {
        requeue: true,
        multiple: false,
    };
    let nacked = tokio::time::timeout(BROKER_ANSWER_TIMEOUT, delivery.nack(options)).await;
    if let Err(e) = nacked.unwrap_or_else(|_| Err(unanswered("nack"))) {
        tracing::warn!(error = %e, "nack failed; the broker will redeliver after reconnect");
    }
}

/// An ack or nack the broker did not take within [`BROKER_ANSWER_TIMEOUT`], as an error.
fn unanswered(what: &str) -> lapin::Error {
    lapin::Error::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "{what} not taken by the broker within {}s",
            BROKER_ANSWER_TIMEOUT.as_secs()
        ),
    ))
}
