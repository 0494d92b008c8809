//! The decision for one event in one target, from what the store knows — no I/O here, so
//! every rule is a unit test: the event is done there already (applied, found unchanged,
//! stale, or dead-lettered: its letter stands for it), it is older than what was applied
//! (stale), the account must be matched first (nobody linked one: search the target, and
//! for an active employee create it when none is found), or it applies.

use crate::store::{Outcome, TargetState};

/// What to do with an event in one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// This event id was already settled for the target.
    Duplicate,
    /// A higher or equal sequence was applied for the employee (a higher one only, for a
    /// proven reconcile correction): skipped, recorded.
    Stale,
    /// No account known: search the target for the person's (and create one for an
    /// active employee where the mapping has a `create` block), then apply.
    Match,
    Apply,
}

/// The step for an event with `sequence`, given the target's `state`; `corrects`: the store
/// proves the event a reconcile correction here, which may re-assert the sequence already
/// applied; `account_known`: the event or the store names the account; `mapped`: the
/// mapping sets something in the target for this event's action (nothing to do otherwise,
/// so nothing to search for).
pub(super) fn decide(
    state: &TargetState,
    sequence: u64,
    corrects: bool,
    account_known: bool,
    mapped: bool,
) -> Step {
    if matches!(
        state.outcome,
        Some(Outcome::Applied | Outcome::Unchanged | Outcome::Stale | Outcome::DeadLettered)
    ) {
        return Step::Duplicate;
    }
    if state
        .last
        .as_ref()
        .is_some_and(|last| last.sequence > sequence || (last.sequence == sequence && !corrects))
    {
        return Step::Stale;
    }
    if !account_known && mapped {
        return Step::Match;
    }
    Step::Apply
}

/// The account link to record: the event's account when it is new or changed (most events
/// repeat the link the store has).
pub(super) fn new_link(known: Option<&str>, in_event: Option<&str>) -> Option<String> {
    in_event
        .filter(|account| known != Some(*account))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AppliedState;

    fn applied_at(sequence: u64) -> TargetState {
        TargetState {
            last: Some(AppliedState {
                sequence,
                digest: String::new(),
                fields: Default::default(),
                event_id: "earlier".into(),
            }),
            ..TargetState::default()
        }
    }

    #[test]
    fn an_event_settled_in_the_target_is_a_duplicate_whatever_came_after() {
        for outcome in [
            Outcome::Applied,
            Outcome::Unchanged,
            Outcome::Stale,
            Outcome::DeadLettered,
        ] {
            let state = TargetState {
                outcome: Some(outcome),
                ..applied_at(9)
            };
            assert_eq!(
                decide(&state, 3, false, true, false),
                Step::Duplicate,
                "{outcome}"
            );
        }
        // Unlinked is not settled: a later link lets the same event through.
        let unlinked = TargetState {
            outcome: Some(Outcome::Unlinked),
            ..TargetState::default()
        };
        assert_eq!(decide(&unlinked, 1, false, true, false), Step::Apply);
    }

    #[test]
    fn an_older_or_equal_sequence_is_stale_a_newer_one_applies() {
        assert_eq!(decide(&applied_at(5), 4, false, true, false), Step::Stale);
        assert_eq!(decide(&applied_at(5), 5, false, true, false), Step::Stale);
        assert_eq!(decide(&applied_at(5), 6, false, true, false), Step::Apply);
        assert_eq!(
            decide(&TargetState::default(), 1, false, true, false),
            Step::Apply
        );
    }

    #[test]
    fn a_proven_correction_may_reassert_the_applied_sequence_never_go_below_it() {
        assert_eq!(decide(&applied_at(5), 5, true, true, false), Step::Apply);
        assert_eq!(decide(&applied_at(5), 4, true, true, false), Step::Stale);
        assert_eq!(decide(&applied_at(5), 6, true, true, false), Step::Apply);
        // Once settled it is a duplicate like any event.
        let settled = TargetState {
            outcome: Some(Outcome::Applied),
            ..applied_at(5)
        };
        assert_eq!(decide(&settled, 5, true, true, false), Step::Duplicate);
    }

    #[test]
    fn only_a_mapped_event_without_a_known_account_is_matched() {
        let nothing = TargetState::default();
        assert_eq!(decide(&nothing, 1, false, false, true), Step::Match);
        assert_eq!(decide(&nothing, 1, false, true, true), Step::Apply);
        // Nothing mapped for the action: nothing to search for (reported not mapped).
        assert_eq!(decide(&nothing, 1, false, false, false), Step::Apply);
        // Stale before matching: an old event costs no search and creates nothing.
        assert_eq!(decide(&applied_at(7), 3, false, false, true), Step::Stale);
        // A duplicate neither.
        let settled = TargetState {
            outcome: Some(Outcome::Applied),
            ..TargetState::default()
        };
        assert_eq!(decide(&settled, 1, false, false, true), Step::Duplicate);
    }

    #[test]
    fn a_link_is_recorded_only_when_new_or_changed() {
        assert_eq!(new_link(None, Some("25001")).as_deref(), Some("25001"));
        assert_eq!(new_link(Some("25001"), Some("25001")), None);
        assert_eq!(
            new_link(Some("25001"), Some("25002")).as_deref(),
            Some("25002")
        );
        assert_eq!(new_link(Some("25001"), None), None);
    }
}
