//! What an event asks of one target: the mapped fields and the account they go to — from
//! the event, the store's link, or what `provision` matched or created — or the outcome
//! that stands in for the change (nothing mapped, unlinked, a mapping failure to
//! dead-letter).

use super::{Applier, DeadLetter, DeadLetterReason, TargetOutcome};
use crate::event::{Action, HrEvent};
use crate::mapping::EventContext;
use crate::targets::{Change, ErrorClass, ErrorCode, Target, TargetError, TargetKind};

impl Applier {
    /// The change `event` makes in `target` given the accounts known so far, or the
    /// outcome that stands in for it. `context`: the event's mapping context
    /// ([`crate::mapping::Mapper::context`]), built once for all its targets.
    pub fn change_for(
        &self,
        target: &dyn Target,
        event: &HrEvent,
        context: &EventContext,
        known_account: Option<String>,
    ) -> Result<Change, TargetOutcome> {
        let kind = target.kind();
        let fields = match self.mapper.map_in(kind, event, context) {
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
}

/// A target with a mapping but no linked account. Removing access must not fail silently,
/// so a leaver is dead-lettered for someone to look at; joiners and movers are counted.
pub(super) fn unlinked(kind: TargetKind, action: Action) -> TargetOutcome {
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
