//! `hrsync schedule list` and `hrsync staged list | release | discard`: what is held back,
//! and an operator's decision on deprovisioning the mass-deprovision guard staged. Every
//! decision goes to the audit log with the operator's name.

use crate::config::Config;
use crate::source::{self, publish, release};
use crate::store::{HeldFilter, HeldKind, HeldMessage, Store};
use std::fmt::Write as _;
use time::format_description::well_known::Rfc3339;

/// A table of held messages, one per line, for a terminal.
pub fn table(messages: &[HeldMessage], when: &str) -> String {
    let mut out = format!(
        "{:<38} {:<12} {:<7} {:>8}  {}\n",
        "EVENT ID", "EMPLOYEE", "ACTION", "SEQUENCE", when
    );
    for m in messages {
        let at = m.due_at.format(&Rfc3339).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<38} {:<12} {:<7} {:>8}  {at}",
            m.event_id, m.employee_id, m.action, m.sequence
        );
    }
    let _ = write!(out, "{} pending", messages.len());
    out
}

/// Held messages as a JSON array (for scripts; the event bodies are left out, as in
/// the table).
pub fn json(messages: &[HeldMessage]) -> serde_json::Value {
    messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "event_id": m.event_id,
                "kind": m.kind.as_str(),
                "employee_id": m.employee_id,
                "action": m.action,
                "sequence": m.sequence,
                "due_at": m.due_at.format(&Rfc3339).unwrap_or_default(),
                "status": m.status.as_str(),
                "decided_by": m.decided_by,
            })
        })
        .collect()
}

/// How long a staged message claimed for release counts as released before the release
/// is recorded (the publish in between takes milliseconds).
const RELEASE_LEASE: time::Duration = time::Duration::minutes(10);

/// Counts of an operator decision.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decided {
    pub decided: usize,
    /// Already decided by someone else meanwhile.
    pub skipped: usize,
}

/// Releases the staged messages matching `filter`: each is claimed, republished to the work
/// queue (confirmed) and then marked released in the audit log under `actor`.
pub async fn release_staged(
    config: &Config,
    store: &Store,
    filter: &HeldFilter,
    actor: &str,
) -> anyhow::Result<Decided> {
    let store = store.with_actor(actor);
    let staged = store.pending_held(HeldKind::Staged, filter).await?;
    if staged.is_empty() {
        return Ok(Decided::default());
    }
    let connection = source::connect_configured(&config.rabbitmq, "hrsync-staged-release").await?;
    let channel = publish::confirm_channel(&connection).await?;
    let mut counts = Decided::default();
    for message in &staged {
        // Marked releasing first: the copy may be consumed before the release is recorded,
        // and the gate lets it pass the guard only on the store's word.
        if !store
            .claim_held(&message.event_id, HeldKind::Staged, RELEASE_LEASE)
            .await?
        {
            counts.skipped += 1;
            continue;
        }
        if let Err(e) = release::publish_held(&channel, &config.rabbitmq, message).await {
            // Not out: pending again, for the next `staged release`.
            let _ = store
                .unclaim_held(&message.event_id, HeldKind::Staged)
                .await;
            return Err(e.into());
        }
        if store.decide_staged(message, true).await? {
            counts.decided += 1;
        } else {
            counts.skipped += 1;
        }
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(counts)
}

/// Discards the staged messages matching `filter`: never applied, recorded under `actor`.
pub async fn discard_staged(
    store: &Store,
    filter: &HeldFilter,
    actor: &str,
) -> anyhow::Result<Decided> {
    let store = store.with_actor(actor);
    let mut counts = Decided::default();
    for message in store.pending_held(HeldKind::Staged, filter).await? {
        if store.decide_staged(&message, false).await? {
            counts.decided += 1;
        } else {
            counts.skipped += 1;
        }
    }
    Ok(counts)
}
