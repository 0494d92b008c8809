//! `hrsync dlq list | show | replay`: what is dead-lettered, why, for which target — and,
//! after a fix, moving dead letters back to the work queue.
//!
//! Listing peeks: messages are fetched unacknowledged and return to the queue when the
//! channel closes. That changes nothing only because the dead-letter queue is a classic
//! queue (see `source::topology`): returned messages keep their place and no delivery is
//! counted. A dead-letter queue of another kind (a quorum queue from an earlier version)
//! is refused rather than reordered.
//!
//! Replay first reopens the failed target for the event in the state store (a dead-lettered
//! target is otherwise settled for that event, so a message coming round again cannot
//! dead-letter it twice), then republishes the dead letter's original body and properties
//! straight to the work queue — never to the HR exchange, whose other subscribers must not
//! get the event again — with its `x-hrsync-*` headers removed, and acks it only after the
//! broker confirmed the copy. Event ids are kept, so targets that already applied the event
//! see a duplicate and only the failed part is tried again.

use crate::config::Config;
use crate::source::topology::{self, DeadLetterQueue};
use crate::source::{self, dead_letter, headers, publish};
use crate::store::Store;
use anyhow::Context;
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

/// One dead letter as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    /// `x-hrsync-dead-letter-id`, or the event id for messages the broker dead-lettered.
    pub id: String,
    pub event_id: Option<String>,
    /// The employee (the event's `subject`), when the body or headers name one.
    pub employee_id: Option<String>,
    pub target: String,
    pub reason: String,
    pub error: String,
    pub dead_lettered_at: String,
    pub headers: BTreeMap<String, Value>,
    pub body: Vec<u8>,
}

impl Letter {
    fn from_message(message: &BasicGetMessage) -> Letter {
        let delivery = &message.delivery;
        let headers = headers::to_json_map(delivery.properties.headers().as_ref());
        let text = |name: &str| match headers.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        // What hrsync itself recorded of the decoded event; for older letters and the
        // broker's own, the envelope as the decoder reads it (structured body, or binary
        // mode's attribute headers under any of their prefixes).
        let structured = delivery
            .properties
            .content_type()
            .as_ref()
            .is_some_and(|c| {
                c.as_str()
                    .to_ascii_lowercase()
                    .starts_with("application/cloudevents+json")
            });
        let body = structured
            .then(|| serde_json::from_slice::<Value>(&delivery.data).ok())
            .flatten();
        let attribute = |name: &str| {
            body.as_ref()
                .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_string))
                .or_else(|| {
                    ["cloudEvents:", "cloudEvents_", "ce-", "ce_"]
                        .iter()
                        .find_map(|prefix| text(&format!("{prefix}{name}")))
                })
        };
        let event_id = text(dead_letter::EVENT_ID).or_else(|| attribute("id"));
        let employee_id = text(dead_letter::EMPLOYEE_ID).or_else(|| attribute("subject"));
        Letter {
            id: text(dead_letter::ID)
                .or_else(|| event_id.clone())
                .unwrap_or_else(|| "-".into()),
            event_id,
            employee_id,
            // A message the broker dead-lettered (delivery limit) has none of our headers.
            target: text(dead_letter::TARGET).unwrap_or_else(|| "-".into()),
            reason: text(dead_letter::REASON).unwrap_or_else(|| "broker_delivery_limit".into()),
            error: text(dead_letter::ERROR).unwrap_or_default(),
            dead_lettered_at: text(dead_letter::DEAD_LETTERED_AT).unwrap_or_default(),
            headers,
            body: delivery.data.clone(),
        }
    }
}

/// Which dead letters a replay takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub target: Option<String>,
    pub reason: Option<String>,
    pub limit: Option<usize>,
}

impl Selection {
    fn matches(&self, letter: &Letter) -> bool {
        self.target.as_deref().is_none_or(|t| t == letter.target)
            && self.reason.as_deref().is_none_or(|r| r == letter.reason)
    }
}

/// Connects, and makes sure that reading the dead-letter queue changes nothing.
async fn open(config: &Config, name: &str) -> anyhow::Result<(Connection, Channel)> {
    let connection = source::connect_configured(&config.rabbitmq, name).await?;
    let kind = topology::declare_dead_letter_queue(&connection, &config.rabbitmq)
        .await
        .context("cannot read the dead-letter queue")?;
    if kind == DeadLetterQueue::Other {
        let _ = connection.close(200, "refused".into()).await;
        anyhow::bail!(
            "the dead-letter queue {} is not the classic queue hrsync declares (a quorum queue \
             from an earlier version?): looking at it would reorder it and count a delivery per \
             look, which RabbitMQ 4 turns into lost dead letters; move its messages to a classic \
             queue first (docs/runbook.md, \"Dead-letter queue of an earlier version\")",
            config.rabbitmq.dead_letter_queue
        );
    }
    let channel = publish::confirm_channel(&connection).await?;
    Ok((connection, channel))
}

/// Up to `limit` dead letters, oldest first, left in the queue.
pub async fn list(config: &Config, limit: usize) -> anyhow::Result<Vec<Letter>> {
    let (connection, channel) = open(config, "hrsync-dlq-list").await?;
    let mut letters = Vec::new();
    while letters.len() < limit {
        let Some(message) = get(&channel, config).await? else {
            break;
        };
        letters.push(Letter::from_message(&message));
    }
    // Closing returns every fetched, unacknowledged message to the queue.
    let _ = connection.close(200, "peek done".into()).await;
    Ok(letters)
}

/// The dead letter with this id (see [`Letter::id`]).
pub async fn show(config: &Config, id: &str) -> anyhow::Result<Option<Letter>> {
    Ok(list(config, usize::MAX)
        .await?
        .into_iter()
        .find(|l| l.id == id || l.event_id.as_deref() == Some(id)))
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: usize,
    /// Looked at but not selected; left in the dead-letter queue.
    pub skipped: usize,
}

/// Moves the selected dead letters back to the work queue, reopening their targets in
/// `store` (whose actor the audit log names). `progress` is called now and then with the
/// counts so far (a replay of 50,000 takes a while).
pub async fn replay(
    config: &Config,
    store: &Store,
    selection: &Selection,
    mut progress: impl FnMut(&Replayed),
) -> anyhow::Result<Replayed> {
    let (connection, channel) = open(config, "hrsync-dlq-replay").await?;
    // Only what is there now: a replayed message that fails again must not come round
    // in the same run.
    let present = channel
        .queue_declare(
            config.rabbitmq.dead_letter_queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .context("cannot read the dead-letter queue")?
        .message_count() as usize;
    let mut counts = Replayed::default();
    let mut last_report = Instant::now();
    while counts.replayed + counts.skipped < present
        && selection.limit.is_none_or(|n| counts.replayed < n)
    {
        let Some(message) = get(&channel, config).await? else {
            break;
        };
        let letter = Letter::from_message(&message);
        if !selection.matches(&letter) {
            // Held unacknowledged until the end, so it is not fetched again.
            counts.skipped += 1;
            continue;
        }
        if let Some(target) = target_of(&letter) {
            let Some(event_id) = &letter.event_id else {
                // Replayed without reopening, the worker would take the target as settled
                // and the letter would be gone: it stays for someone to look at.
                tracing::warn!(
                    dead_letter = %letter.id,
                    target_api = target,
                    "dead letter names a target but no event id; left in the queue"
                );
                counts.skipped += 1;
                continue;
            };
            store
                .reopen_dead_lettered(
                    event_id,
                    letter.employee_id.as_deref().unwrap_or("-"),
                    target,
                )
                .await
                .context("cannot reopen the dead-lettered target in the state store")?;
        }
        republish(&channel, config, &message).await?;
        message
            .delivery
            .ack(BasicAckOptions::default())
            .await
            .context("ack of the replayed dead letter")?;
        counts.replayed += 1;
        if last_report.elapsed().as_secs() >= 1 {
            progress(&counts);
            last_report = Instant::now();
        }
    }
    progress(&counts);
    let _ = connection.close(200, "replay done".into()).await;
    Ok(counts)
}

async fn get(channel: &Channel, config: &Config) -> anyhow::Result<Option<BasicGetMessage>> {
    channel
        .basic_get(
            config.rabbitmq.dead_letter_queue.as_str().into(),
            BasicGetOptions { no_ack: false },
        )
        .await
        .context("cannot read the dead-letter queue")
}

/// The target a dead letter failed in (none for an invalid event or the broker's own).
fn target_of(letter: &Letter) -> Option<&str> {
    Some(letter.target.as_str()).filter(|t| !matches!(*t, "-" | "none"))
}

/// The original message, without hrsync's dead-letter and retry headers, to the work queue.
async fn republish(
    channel: &Channel,
    config: &Config,
    message: &BasicGetMessage,
) -> anyhow::Result<()> {
    let delivery = &message.delivery;
    let mut table = delivery.properties.headers().clone().unwrap_or_default();
    let kept: BTreeMap<_, _> = table
        .inner()
        .iter()
        .filter(|(k, _)| {
            !k.as_str().starts_with("x-hrsync-")
                && !k.as_str().starts_with("x-death")
                && k.as_str() != "x-first-death-exchange"
                && k.as_str() != "x-first-death-queue"
                && k.as_str() != "x-first-death-reason"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    table = kept.into();
    let properties: BasicProperties = delivery.properties.clone().with_headers(table);
    publish::publish_to_work_queue(channel, &config.rabbitmq, &delivery.data, properties)
        .await
        .context("cannot republish the dead letter")
}
