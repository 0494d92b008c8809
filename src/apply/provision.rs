//! An account for a person no account is linked for in a target: searched for first — the
//! classic way to duplicate accounts is a create whose answer was lost, retried — then,
//! for an active employee whose mapping has a `create` block, created.
//!
//! - exactly one match: linked, and the change applies to it;
//! - several: dead letter `ambiguous_match` naming the candidates (never one picked);
//! - none: created, within the creation guard ([`super::gate::Gate::admit_creation`]), or
//!   reported unlinked (joiners, movers) / dead-lettered `unlinked` (leavers).
//!
//! Idempotent under every failure, because the search runs on the values the create
//! writes ([`crate::targets::match_hints`]): a retry after a timeout or a 5xx searches again
//! before it creates, and so does a redelivery after a crash between the create and the
//! store's record of the link — each finds the account the lost attempt made.

use super::prepare::unlinked;
use super::record::store_deferral;
use super::{Applier, DeadLetter, DeadLetterReason, TargetOutcome};
use crate::event::{Action, HrEvent};
use crate::store::Admission;
use crate::targets::{
    match_hints, Creation, ErrorCode, Found, LookupHints, Target, TargetError, TargetKind,
};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};

/// What matching found for the target.
pub(super) enum Provisioned {
    /// The account to apply the change to; `created`: the fields it was just created with
    /// (what hrsync last wrote there, for targets that diff against it).
    Account {
        id: String,
        created: Option<Map<String, Value>>,
    },
    /// What stands for the change instead.
    Outcome(TargetOutcome),
}

impl Applier {
    /// Finds — or creates — the account of `event`'s employee in `target`.
    /// `released_by_operator`: an operator released this event from staging.
    pub(super) async fn provision(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        released_by_operator: bool,
    ) -> Provisioned {
        let kind = target.kind();
        let creation = match self.creation_for(kind, event) {
            Ok(creation) => creation,
            Err(outcome) => return Provisioned::Outcome(outcome),
        };
        let hints = match_hints(target, &event.data, creation.as_ref());
        if hints.is_empty() {
            // Nothing to search by, so nothing may be created either: a create that could
            // not be found again would be repeated by the next retry.
            self.count_leaver(kind, event, "unresolved");
            return Provisioned::Outcome(unlinked(kind, event.action));
        }
        let found = match self
            .guarded(target, || target.find_accounts(&hints, &event.id))
            .await
        {
            Ok(found) => found,
            Err(outcome) => {
                self.count_match(kind, "failed");
                self.count_leaver(kind, event, "lookup_failed");
                return Provisioned::Outcome(outcome);
            }
        };
        match found.ids.as_slice() {
            [one] => {
                self.count_match(kind, "one");
                self.count_leaver(kind, event, "resolved");
                tracing::info!(
                    target_api = kind.as_str(),
                    key = found.key,
                    "account matched; linking it"
                );
                Provisioned::Account {
                    id: one.clone(),
                    created: None,
                }
            }
            [] => {
                self.count_match(kind, "none");
                self.count_leaver(kind, event, "unresolved");
                match creation {
                    Some(creation) => {
                        self.create(target, event, creation, &hints, released_by_operator)
                            .await
                    }
                    None => Provisioned::Outcome(unlinked(kind, event.action)),
                }
            }
            _ => {
                self.count_match(kind, "several");
                self.count_leaver(kind, event, "lookup_failed");
                Provisioned::Outcome(TargetOutcome::Failed(DeadLetter::for_target(
                    kind,
                    DeadLetterReason::AmbiguousMatch,
                    &ambiguous(kind, &found),
                    0,
                )))
            }
        }
    }

    /// The account to create, or the mapping failure's dead letter.
    fn creation_for(
        &self,
        kind: TargetKind,
        event: &HrEvent,
    ) -> Result<Option<Creation>, TargetOutcome> {
        self.mapper.creation(kind, event).map_err(|e| {
            TargetOutcome::Failed(DeadLetter::for_target(
                kind,
                DeadLetterReason::Mapping,
                &TargetError::permanent(ErrorCode::Mapping, e.to_string()),
                0,
            ))
        })
    }

    /// Creates the account within the creation guard; every retry searches first.
    async fn create(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        creation: Creation,
        hints: &LookupHints,
        released_by_operator: bool,
    ) -> Provisioned {
        let kind = target.kind();
        if !released_by_operator {
            match self
                .gate
                .admit_creation(&self.store, event, kind.as_str())
                .await
            {
                Ok(Admission::Admitted) => {}
                Ok(Admission::Staged { allowed }) => {
                    tracing::error!(
                        target_api = kind.as_str(),
                        allowed_per_window = allowed,
                        "creation guard tripped: joiners that need an account are staged until an operator runs `hrsync staged release` or `hrsync staged discard`"
                    );
                    return Provisioned::Outcome(TargetOutcome::Staged);
                }
                Err(e) => {
                    self.metrics.store_errors.with_label_values(&["gate"]).inc();
                    return Provisioned::Outcome(store_deferral(kind, &e));
                }
            }
        }
        let first_attempt = AtomicBool::new(true);
        let created = self
            .guarded(target, || async {
                if !first_attempt.swap(false, Ordering::Relaxed) {
                    // The attempt before may have created the account and lost the answer.
                    let found = target.find_accounts(hints, &event.id).await?;
                    match found.ids.as_slice() {
                        [one] => return Ok(one.clone()),
                        [] => {}
                        _ => return Err(ambiguous(kind, &found)),
                    }
                }
                target.create(&creation).await
            })
            .await;
        match created {
            Ok(id) => {
                self.metrics
                    .accounts_created
                    .with_label_values(&[kind.as_str()])
                    .inc();
                tracing::info!(target_api = kind.as_str(), account = %id, "account created");
                Provisioned::Account {
                    id,
                    created: Some(creation.fields),
                }
            }
            Err(outcome) => Provisioned::Outcome(outcome),
        }
    }

    fn count_match(&self, kind: TargetKind, result: &str) {
        self.metrics
            .account_matches
            .with_label_values(&[kind.as_str(), result])
            .inc();
    }

    /// The older per-leaver counter (`hrsync_unlinked_leavers_total`), kept for dashboards.
    fn count_leaver(&self, kind: TargetKind, event: &HrEvent, resolution: &str) {
        if event.action == Action::Leaver {
            self.metrics
                .unlinked
                .with_label_values(&[kind.as_str(), resolution])
                .inc();
        }
    }
}

/// Several accounts match: the error naming them, for the dead letter.
fn ambiguous(kind: TargetKind, found: &Found) -> TargetError {
    TargetError::permanent(
        ErrorCode::Ambiguous,
        format!(
            "{} {kind} accounts match by {}: {}",
            found.ids.len(),
            found.key,
            found.ids.join(", ")
        ),
    )
}
