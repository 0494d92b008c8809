//! `hrsync dlq list | show | export | replay`: what is dead-lettered, why, for which
//! target — kept as JSON lines before anything is purged — and, after a fix, moving dead
//! letters back to the work queue (or, with `--dry-run`, only saying which would move).
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

use crate::apply::DeadLetterReason;
use crate::config::Config;
use crate::source::topology::{self, DeadLetterQueue};
use crate::source::{self, dead_letter, headers, publish};
use crate::store::Store;
use anyhow::Context;
use base64::Engine as _;
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

/// The reason of a message the broker itself dead-lettered (its delivery limit): it
/// carries none of hrsync's headers.
pub const BROKER_DELIVERY_LIMIT: &str = "broker_delivery_limit";

/// The target named by dead letters that belong to no target (an invalid event).
pub const NO_TARGET: &str = "none";

/// Every reason a dead letter can give, for `--reason` (clap lists them on a wrong one).
pub fn reasons() -> Vec<&'static str> {
    DeadLetterReason::ALL
        .into_iter()
        .map(DeadLetterReason::as_str)
        .chain([BROKER_DELIVERY_LIMIT])
        .collect()
}

/// Every target a dead letter can name, for `--target`: the registered targets, and
/// `none` for letters of no target (invalid events).
pub fn target_names() -> Vec<&'static str> {
    crate::targets::registry::kinds()
        .map(crate::targets::TargetKind::as_str)
        .chain([NO_TARGET])
        .collect()
}

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
    /// The message's content type, as published.
    pub content_type: Option<String>,
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
            reason: text(dead_letter::REASON).unwrap_or_else(|| BROKER_DELIVERY_LIMIT.into()),
            error: text(dead_letter::ERROR).unwrap_or_default(),
            dead_lettered_at: text(dead_letter::DEAD_LETTERED_AT).unwrap_or_default(),
            content_type: delivery
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str().to_string()),
            headers,
            body: delivery.data.clone(),
        }
    }
}

impl Letter {
    /// Whether this letter is the one `id` names: its dead-letter id or its event id.
    pub fn is(&self, id: &str) -> bool {
        self.id == id || self.event_id.as_deref() == Some(id)
    }

    /// What a list shows of it, as JSON: everything but the headers and the body.
    pub fn summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "event_id": self.event_id,
            "employee_id": self.employee_id,
            "target": self.target,
            "reason": self.reason,
            "error": self.error,
            "dead_lettered_at": self.dead_lettered_at,
        })
    }

    /// All of it, as one JSON document (`dlq show -o json`, one line of `dlq export`): the
    /// summary, the content type, the headers, and the body as text (`body`), or, when it
    /// is not UTF-8, as base64 (`body_base64`) — byte for byte either way.
    pub fn document_json(&self) -> Value {
        let mut document = self.summary_json();
        let object = document.as_object_mut().expect("an object");
        object.insert("content_type".into(), json!(self.content_type));
        object.insert("headers".into(), json!(self.headers));
        match std::str::from_utf8(&self.body) {
            Ok(text) => object.insert("body".into(), json!(text)),
            Err(_) => object.insert(
                "body_base64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(&self.body)),
            ),
        };
        document
    }
}

/// A table of dead letters, one a line, for a terminal.
pub fn table(letters: &[Letter]) -> String {
    let mut out = format!(
        "{:<38} {:<12} {:<18} {:<26} ERROR\n",
        "ID", "TARGET", "REASON", "DEAD-LETTERED AT"
    );
    for l in letters {
        let _ = writeln!(
            out,
            "{:<38} {:<12} {:<18} {:<26} {}",
            l.id, l.target, l.reason, l.dead_lettered_at, l.error
        );
    }
    out
}

/// Which dead letters a replay (or an export, or a list) takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub target: Option<String>,
    pub reason: Option<String>,
    /// Only the letter with this dead-letter id or event id.
    pub id: Option<String>,
    pub limit: Option<usize>,
}

impl Selection {
    pub fn matches(&self, letter: &Letter) -> bool {
        self.target.as_deref().is_none_or(|t| t == letter.target)
            && self.reason.as_deref().is_none_or(|r| r == letter.reason)
            && self.id.as_deref().is_none_or(|id| letter.is(id))
    }

    /// Whether `taken` letters are all this selection can take.
    fn is_full(&self, taken: usize) -> bool {
        self.limit.is_some_and(|n| taken >= n) || (self.id.is_some() && taken >= 1)
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
    let selection = Selection {
        limit: Some(limit),
        ..Default::default()
    };
    select(config, &selection).await
}

/// The dead letters `selection` takes, oldest first, left in the queue: what `dlq list`
/// shows and what `dlq replay --dry-run` would move.
pub async fn select(config: &Config, selection: &Selection) -> anyhow::Result<Vec<Letter>> {
    let mut letters = Vec::new();
    peek(config, selection, |letter| {
        letters.push(letter);
        Ok(())
    })
    .await?;
    Ok(letters)
}

/// Hands each dead letter `selection` takes to `each`, oldest first, and leaves them all
/// in the queue (`dlq export` writes them out one by one this way). Stops at the first
/// error of `each`.
pub async fn peek(
    config: &Config,
    selection: &Selection,
    mut each: impl FnMut(Letter) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let (connection, channel) = open(config, "hrsync-dlq-peek").await?;
    let mut taken = 0;
    let mut outcome = Ok(());
    while !selection.is_full(taken) {
        let message = match get(&channel, config).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        let letter = Letter::from_message(&message);
        if !selection.matches(&letter) {
            continue;
        }
        taken += 1;
        if let Err(e) = each(letter) {
            outcome = Err(e);
            break;
        }
    }
    // Closing returns every fetched, unacknowledged message to the queue.
    let _ = connection.close(200, "peek done".into()).await;
    outcome.map(|()| taken)
}

/// The dead letter with this id (see [`Letter::id`]).
pub async fn show(config: &Config, id: &str) -> anyhow::Result<Option<Letter>> {
    let selection = Selection {
        id: Some(id.to_string()),
        ..Default::default()
    };
    Ok(select(config, &selection).await?.into_iter().next())
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
    while counts.replayed + counts.skipped < present && !selection.is_full(counts.replayed) {
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
