//! What an event asks of one target: the mapped fields and the account they go to — from
//! the event, the store's link, or, for a leaver nobody linked, a lookup in the target —
//! or the outcome that stands in for the change (nothing mapped, unlinked, a mapping
//! failure to dead-letter).

use super::{Applier, DeadLetter, DeadLetterReason, TargetOutcome};
use crate::event::{Action, HrEvent};
use crate::targets::{Change, ErrorClass, ErrorCode, LookupHints, Target, TargetError, TargetKind};

impl Applier {
    /// The change `event` makes in `target` given the accounts known so far, or the
    /// outcome that stands in for it. Used by the worker and by dry runs.
    pub fn change_for(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        known_account: Option<String>,
    ) -> Result<Change, TargetOutcome> {
        let kind = target.kind();
        let fields = match self.mapper.map(kind, event) {
            Ok(Some(fields)) => fields,
            Ok(None) => return Err(TargetOutcome::NotMapped),
            Err(e) => {
                return Err(TargetOutcome::Failed(DeadLetter::for_target(
                    kind,
                    DeadLetterReason::Mapping,
                    &TargetError::permanent(ErrorCode::Mapping, e.to_string()),
                    0,
                )))
            }
        };
        let account_id = kind
            .account_id(&event.accounts)
            .map(str::to_string)
            .or(known_account);
        let Some(account_id) = account_id else {
            return Err(unlinked(kind, event.action));
        };
        Ok(Change {
            event_id: event.id.clone(),
            employee_id: event.subject.clone(),
            action: event.action,
            account_id,
            fields,
            previous: None,
        })
    }

    /// A leaver with no known account in `target`: counted, logged, and looked up in the
    /// target where it supports that. A found account is linked for next time.
    pub(super) async fn resolve_unlinked(
        &self,
        target: &dyn Target,
        event: &HrEvent,
    ) -> Option<String> {
        let label = target.kind().as_str();
        let hints = LookupHints::from_data(&event.data);
        let found = if hints.is_empty() {
            Ok(None)
        } else {
            target.lookup(&hints, &event.id).await
        };
        let resolution = match &found {
            Ok(Some(_)) => "resolved",
            Ok(None) => "unresolved",
            Err(_) => "lookup_failed",
        };
        self.metrics
            .unlinked
            .with_label_values(&[label, resolution])
            .inc();
        tracing::warn!(
            target_api = label,
            resolution,
            "leaver has no linked account; looked it up"
        );
        found.ok().flatten()
    }
}

/// A target with a mapping but no linked account. Removing access must not fail silently,
/// so a leaver is dead-lettered for someone to look at; joiners and movers are counted.
fn unlinked(kind: TargetKind, action: Action) -> TargetOutcome {
    if action == Action::Leaver {
        TargetOutcome::Failed(DeadLetter::for_target(
            kind,
            DeadLetterReason::Unlinked,
            &TargetError::new(
                ErrorClass::Permanent,
                ErrorCode::Unlinked,
                format!("leaver has no known {kind} account"),
            ),
            0,
        ))
    } else {
        TargetOutcome::Unlinked
    }
}
