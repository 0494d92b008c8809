//! What became of one message: per-target outcomes and the dead letters to publish.
//! The reason names are part of the operator interface (dead-letter headers, metrics,
//! runbook), so they are fixed strings here.

use crate::event::{HrEvent, InvalidEvent};
use crate::targets::{ErrorClass, ErrorCode, TargetError, TargetKind};

/// Why a message (or one target's part of it) was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// The message is not a valid HR event.
    InvalidEvent,
    /// A mapping expression failed on this event (e.g. a lookup with no entry).
    Mapping,
    /// An account id could not be used in a URL path.
    InvalidId,
    /// The target refused the change (permanent error).
    Rejected,
    /// Transient failures outlasted the retry budget.
    RetriesExhausted,
    /// The target is misconfigured (credentials, wrong Vault); nothing was retried.
    TargetConfig,
    /// A leaver for a target with no linked account.
    Unlinked,
    /// Several accounts in the target match the person: none is picked.
    AmbiguousMatch,
}

/// Fails to compile when a reason is added to [`DeadLetterReason`] but not to
/// [`DeadLetterReason::ALL`].
const _: () = {
    fn listed(reason: DeadLetterReason) {
        use DeadLetterReason::*;
        match reason {
            InvalidEvent | Mapping | InvalidId | Rejected | RetriesExhausted | TargetConfig
            | Unlinked | AmbiguousMatch => {}
        }
    }
    let _ = listed;
};

impl DeadLetterReason {
    /// Every reason, in the order operators see them listed.
    pub const ALL: [DeadLetterReason; 8] = {
        use DeadLetterReason::*;
        [
            InvalidEvent,
            Mapping,
            InvalidId,
            Rejected,
            RetriesExhausted,
            TargetConfig,
            Unlinked,
            AmbiguousMatch,
        ]
    };

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::InvalidEvent => "invalid_event",
            DeadLetterReason::Mapping => "mapping",
            DeadLetterReason::InvalidId => "invalid_id",
            DeadLetterReason::Rejected => "rejected",
            DeadLetterReason::RetriesExhausted => "retries_exhausted",
            DeadLetterReason::TargetConfig => "target_config",
            DeadLetterReason::Unlinked => "unlinked",
            DeadLetterReason::AmbiguousMatch => "ambiguous_match",
        }
    }

    pub fn for_error(error: &TargetError) -> Self {
        match error.class {
            ErrorClass::Transient => DeadLetterReason::RetriesExhausted,
            ErrorClass::Config => DeadLetterReason::TargetConfig,
            ErrorClass::Permanent => match error.code {
                ErrorCode::InvalidId => DeadLetterReason::InvalidId,
                ErrorCode::Mapping => DeadLetterReason::Mapping,
                ErrorCode::Unlinked => DeadLetterReason::Unlinked,
                ErrorCode::Ambiguous => DeadLetterReason::AmbiguousMatch,
                _ => DeadLetterReason::Rejected,
            },
        }
    }
}

/// One dead letter to publish: the original message plus these facts as headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub target: Option<TargetKind>,
    pub reason: DeadLetterReason,
    /// The error code (`INVALID_DATA`, `http_503`, the invalid field…).
    pub code: String,
    pub detail: String,
    pub attempts: usize,
}

impl DeadLetter {
    /// The dead letter for deferred work that ran out of delayed-retry rounds.
    pub fn exhausted(deferral: &Deferral, rounds: u32) -> Self {
        DeadLetter {
            target: Some(deferral.target),
            reason: DeadLetterReason::RetriesExhausted,
            code: deferral.code.clone(),
            detail: format!("{} (after {rounds} delayed retries)", deferral.detail),
            attempts: rounds as usize,
        }
    }

    pub fn for_target(
        target: TargetKind,
        reason: DeadLetterReason,
        error: &TargetError,
        attempts: usize,
    ) -> Self {
        DeadLetter {
            target: Some(target),
            reason,
            code: error.code.to_string(),
            detail: error.detail.clone(),
            attempts,
        }
    }

    pub fn invalid_event(error: &InvalidEvent) -> Self {
        DeadLetter {
            target: None,
            reason: DeadLetterReason::InvalidEvent,
            code: error.field.clone(),
            detail: error.to_string(),
            attempts: 0,
        }
    }

    pub fn target_label(&self) -> &'static str {
        self.target.map_or("none", TargetKind::as_str)
    }
}

/// A target's part of an event that could not be done now but may succeed later: the
/// message goes to the delayed-retry queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    pub target: TargetKind,
    /// The target's circuit breaker is open: the work waits without using up a round.
    pub parked: bool,
    pub code: String,
    pub detail: String,
}

/// One target's result for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOutcome {
    /// Written; the names of the fields (or blocks) that changed.
    Applied(Vec<String>),
    /// The target already had every mapped value; nothing was written.
    Unchanged,
    /// This event was already applied to this target (a redelivery or a re-publish).
    Duplicate,
    /// A newer sequence was already applied for this employee and target.
    Stale,
    /// The mapping sets nothing in this target for this action.
    NotMapped,
    /// No linked account (joiner or mover), none found and none to create: nothing sent,
    /// counted.
    Unlinked,
    /// The account would be created, but the creation guard's allowance is used up: the
    /// event is held as staged for an operator (`hrsync staged release|discard`).
    Staged,
    Deferred(Deferral),
    Failed(DeadLetter),
}

impl TargetOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetOutcome::Applied(_) => "applied",
            TargetOutcome::Unchanged => "unchanged",
            TargetOutcome::Duplicate => "duplicate",
            TargetOutcome::Stale => "stale",
            TargetOutcome::NotMapped => "not_mapped",
            TargetOutcome::Unlinked => "unlinked",
            TargetOutcome::Staged => "staged",
            TargetOutcome::Deferred(d) if d.parked => "parked",
            TargetOutcome::Deferred(_) => "deferred",
            TargetOutcome::Failed(_) => "dead_lettered",
        }
    }

    pub fn log(&self, target: TargetKind) {
        match self {
            TargetOutcome::Deferred(deferral) => tracing::warn!(
                target_api = target.as_str(),
                outcome = self.as_str(),
                code = %deferral.code,
                "target not updated yet; deferring"
            ),
            TargetOutcome::Failed(letter) => tracing::warn!(
                target_api = target.as_str(),
                outcome = self.as_str(),
                reason = letter.reason.as_str(),
                code = %letter.code,
                attempts = letter.attempts,
                "target not updated; dead-lettering"
            ),
            // The message's one info line carries every target's outcome (`targets`
            // on "message settled"): one line per event, not one per target.
            _ => tracing::debug!(
                target_api = target.as_str(),
                outcome = self.as_str(),
                "target handled"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    pub target: TargetKind,
    pub outcome: TargetOutcome,
}

/// The fate of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `joiner`, `mover`, `leaver`, or `invalid` for a message that is no HR event.
    pub event_type: &'static str,
    pub reports: Vec<TargetReport>,
    pub dead_letters: Vec<DeadLetter>,
    /// Targets to try again after a wait in the delayed-retry queue.
    pub deferred: Vec<Deferral>,
    /// Held back durably instead of applied: `scheduled` or `staged`.
    pub held: Option<&'static str>,
    /// Not handled: return the message to the queue as it is (shutdown while the state
    /// store could not record).
    pub returned: bool,
}

impl Verdict {
    pub fn from_reports(event: &HrEvent, reports: Vec<TargetReport>) -> Self {
        let dead_letters = reports
            .iter()
            .filter_map(|r| match &r.outcome {
                TargetOutcome::Failed(letter) => Some(letter.clone()),
                _ => None,
            })
            .collect();
        let deferred = reports
            .iter()
            .filter_map(|r| match &r.outcome {
                TargetOutcome::Deferred(deferral) => Some(deferral.clone()),
                _ => None,
            })
            .collect();
        Verdict {
            event_type: event.action.as_str(),
            reports,
            dead_letters,
            deferred,
            held: None,
            returned: false,
        }
    }

    pub fn invalid(error: &InvalidEvent) -> Self {
        Verdict {
            event_type: "invalid",
            reports: Vec::new(),
            dead_letters: vec![DeadLetter::invalid_event(error)],
            deferred: Vec::new(),
            held: None,
            returned: false,
        }
    }

    /// The verdict for an event held back in the store (`scheduled` or `staged`): ack.
    pub fn held(event: &HrEvent, kind: &'static str) -> Self {
        Verdict {
            event_type: event.action.as_str(),
            reports: Vec::new(),
            dead_letters: Vec::new(),
            deferred: Vec::new(),
            held: Some(kind),
            returned: false,
        }
    }

    /// The verdict for an event that was not handled and goes back to the queue.
    pub fn returned(event: &HrEvent) -> Self {
        Verdict {
            returned: true,
            ..Verdict::held(event, "returned")
        }
    }

    /// One word for the event as a whole: the worst of its targets' outcomes.
    /// Every target's outcome, for the message's log line: `vault=applied
    /// superoffice=unchanged` (empty for a message that reached no target).
    pub fn targets_summary(&self) -> String {
        let mut summary = String::new();
        for report in &self.reports {
            if !summary.is_empty() {
                summary.push(' ');
            }
            summary.push_str(report.target.as_str());
            summary.push('=');
            summary.push_str(report.outcome.as_str());
        }
        summary
    }

    pub fn outcome(&self) -> &'static str {
        let has = |o: &str| self.reports.iter().any(|r| r.outcome.as_str() == o);
        if let Some(kind) = self.held {
            kind
        } else if self.event_type == "invalid" {
            "invalid"
        } else if !self.dead_letters.is_empty() {
            "dead_lettered"
        } else if !self.deferred.is_empty() {
            "deferred"
        } else if has("staged") {
            "staged"
        } else if has("unlinked") {
            "unlinked"
        } else if has("applied") {
            "applied"
        } else if has("unchanged") {
            "unchanged"
        } else if has("stale") {
            "stale"
        } else if has("duplicate") {
            "duplicate"
        } else {
            "not_mapped"
        }
    }
}
