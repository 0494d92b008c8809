//! `reconcile --apply`: corrective events into the normal pipeline, so that dedupe,
//! ordering, effective dating and both guards (deprovision, creation) apply to them as to
//! anything HR sends.
//!
//! One event per person who is not in sync somewhere: a mover with the snapshot's record
//! while employed (the worker matches an unlinked account, creates a missing one under the
//! creation guard, and writes drifted fields), a leaver once they left (under the
//! deprovision guard). Ambiguous accounts and orphans are reported, never corrected: which
//! account is the person's, and whether an account nobody in HR owns may be disabled, are
//! an operator's decisions.
//!
//! Ordering: HR's `sequence` is the record version. A correction is published at the
//! snapshot record's `sequence` when it has one, else at the highest the store has applied
//! for the person (1 when none). A snapshot older than what was applied is skipped — newer
//! HR data is never overwritten by an older snapshot. At the applied sequence itself an
//! event would be stale, so `reconcile --apply` first writes a row per correction and
//! target to the store (`reconcile_corrections`); the worker lets an event re-assert the
//! applied sequence only where such a row exists for its id, sequence and `data` (see
//! `apply::correction`). The `x-hrsync-source=reconcile` header is provenance for people
//! reading the queue; the worker never looks at it, and the audit log records the source
//! the store proves.
//!
//! Corrections go straight to hrsync's work queue, as replays and releases do: systems
//! bound to the HR exchange must not receive them.

use super::{snapshot::HrRecord, TargetReport};
use crate::apply::data_digest;
use crate::config::Config;
use crate::event::Action;
use crate::source::{self, publish};
use crate::store::{Correction, Store};
use anyhow::Context;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// The header naming a correction's origin (provenance only, see the module doc).
pub const SOURCE_HEADER: &str = "x-hrsync-source";
/// The header naming the reconcile run a correction belongs to.
pub const RUN_HEADER: &str = "x-hrsync-reconcile-run";

/// The statuses a correction fixes.
const CORRECTED: [&str; 4] = ["drift", "missing", "unlinked", "should_be_disabled"];

/// One published (or, on a dry run, planned) correction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub employee_id: String,
    pub event_id: String,
    /// `mover` or `leaver`.
    pub action: &'static str,
    pub sequence: u64,
    /// The targets it corrects (the event reaches every target; the others find nothing
    /// to change).
    pub targets: Vec<String>,
    #[serde(skip)]
    event: Value,
}

/// A person not in sync who gets no correction, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub employee_id: String,
    pub reason: String,
}

/// What `--apply` did (or would do).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Corrections {
    /// False on a dry run: `planned` lists what `--apply` would publish.
    pub published: bool,
    pub planned: Vec<Planned>,
    pub skipped: Vec<Skipped>,
}

/// The corrections for `records`, from each target's statuses; `applied`: per employee,
/// the highest sequence the store applied anywhere.
pub fn plan(
    records: &[HrRecord],
    targets: &[TargetReport],
    applied: &HashMap<String, u64>,
) -> Corrections {
    let mut needs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut ambiguous: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for target in targets {
        for person in &target.result.people {
            let status = person.status.as_str();
            if CORRECTED.contains(&status) {
                needs
                    .entry(&person.employee_id)
                    .or_default()
                    .push(target.result.target.clone());
            } else if status == "ambiguous" {
                ambiguous
                    .entry(&person.employee_id)
                    .or_default()
                    .push(target.result.target.clone());
            }
        }
    }
    let mut corrections = Corrections::default();
    for (employee, targets) in &ambiguous {
        corrections.skipped.push(Skipped {
            employee_id: employee.to_string(),
            reason: format!(
                "several accounts match in {}: link the right one by hand (an event naming it in `accounts`)",
                targets.join(", ")
            ),
        });
    }
    let by_id: HashMap<&str, &HrRecord> = records
        .iter()
        .map(|r| (r.employee_id.as_str(), r))
        .collect();
    for (employee, targets) in needs {
        let Some(record) = by_id.get(employee) else {
            continue;
        };
        let last = applied.get(employee).copied();
        let sequence = match (record.sequence, last) {
            (Some(snapshot), Some(last)) if snapshot < last => {
                corrections.skipped.push(Skipped {
                    employee_id: employee.to_string(),
                    reason: format!(
                        "the snapshot's record (sequence {snapshot}) is older than what was applied (sequence {last}): newer HR data is not overwritten"
                    ),
                });
                continue;
            }
            (Some(snapshot), _) => snapshot,
            (None, Some(last)) => last,
            (None, None) => 1,
        };
        let action = if record.active {
            Action::Mover
        } else {
            Action::Leaver
        };
        let event_id = format!("reconcile-{}", uuid::Uuid::new_v4());
        let event = json!({
            "specversion": "1.0",
            "id": event_id,
            "source": "urn:hrsync:reconcile",
            "type": action.event_type(),
            "subject": employee,
            "time": now_rfc3339(),
            "sequence": sequence,
            "datacontenttype": "application/json",
            "data": record.data,
        });
        corrections.planned.push(Planned {
            employee_id: employee.to_string(),
            event_id,
            action: action.as_str(),
            sequence,
            targets,
            event,
        });
    }
    corrections
}

/// Records every planned correction in the store, then publishes each with publisher
/// confirms. A failure part way leaves the rows of unpublished corrections behind, which
/// prove nothing without their events.
pub async fn publish(
    config: &Config,
    store: &Store,
    corrections: &mut Corrections,
    run: &str,
    progress: &dyn Fn(usize),
) -> anyhow::Result<()> {
    let rows: Vec<Correction> = corrections
        .planned
        .iter()
        .map(|p| Correction {
            event_id: p.event_id.clone(),
            employee_id: p.employee_id.clone(),
            sequence: p.sequence,
            data_digest: data_digest(&p.event["data"]),
            targets: p.targets.clone(),
        })
        .collect();
    store
        .record_corrections(&rows)
        .await
        .context("cannot record the corrections in the state store; nothing was published")?;
    let connection = source::connect_configured(&config.rabbitmq, "hrsync-reconcile").await?;
    let channel = publish::confirm_channel(&connection).await?;
    let mut headers = FieldTable::default();
    headers.insert(
        SOURCE_HEADER.into(),
        AMQPValue::LongString("reconcile".into()),
    );
    headers.insert(RUN_HEADER.into(), AMQPValue::LongString(run.into()));
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2)
        .with_headers(headers);
    for (done, planned) in corrections.planned.iter().enumerate() {
        let body = serde_json::to_vec(&planned.event).expect("an event serialises");
        publish::publish_to_work_queue(&channel, &config.rabbitmq, &body, properties.clone())
            .await
            .with_context(|| {
                format!(
                    "publishing the correction for {} failed after {done} of {} were published",
                    planned.employee_id,
                    corrections.planned.len()
                )
            })?;
        progress(done + 1);
    }
    let _ = connection.close(200, "corrections published".into()).await;
    corrections.published = true;
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now formats")
}
