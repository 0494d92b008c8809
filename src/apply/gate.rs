//! The gate before applying: changes that must not be applied *now*.
//!
//! - **Effective dating**: a change whose `data.effective_date` lies in the future is held
//!   as *scheduled* and applied when it falls due (leavers at the end of their last day,
//!   joiners a configurable number of days early, movers on the day; local time in the
//!   configured zone). Today or past: now.
//! - **Newest sequence wins**: any event for an employee supersedes that employee's
//!   pending scheduled changes with a lower sequence — HR sends the full record each time,
//!   so a cancelled termination (a mover with a higher sequence) cancels the pending leaver.
//!   A termination that still stands comes again in HR's newer record.
//! - **Mass-deprovision guard**: past its allowance of leavers per rolling window (or while
//!   earlier staged ones wait for an operator), a leaver is held as *staged* for
//!   `hrsync staged release|discard`. Joiners and movers keep flowing.
//! - **Creation guard**: the same for accounts hrsync would create — decided later, when a
//!   target's search has found no account ([`Gate::admit_creation`]), because only then is
//!   it known that an account would be created; the event is staged the same way.
//!
//! A held message is stored durably before its RabbitMQ message is acked. When released it
//! goes back to the work queue as it was held, and passes the gates it already passed only
//! because the store says so: its hold of that kind is marked released (or claimed for
//! release right now), for this event id, employee, sequence, action and body. Nothing in the message itself — no header a
//! publisher could set — can let an event skip effective dating or the guard.

use crate::apply::config::{GuardConfig, ScheduleConfig};
use crate::event::{Action, HrEvent};
use crate::store::{
    Admission, CreationLimits, GuardLimits, HeldFacts, HeldKind, HeldMessage, HeldStatus, Store,
    StoreError,
};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use time::OffsetDateTime;

/// Which gate an event already passed, as proven by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Released {
    No,
    /// Due: skip effective dating (the guard still applies).
    Scheduled,
    /// An operator released it: skip the guard too.
    Staged,
}

impl Released {
    /// The store's released holds that are this very event; a staged release outranks a
    /// scheduled one (an event is staged only after it was due).
    fn proven(facts: &HeldFacts, event: &HrEvent) -> Released {
        let this_event = |m: &&HeldMessage| is_hold_of(m, event);
        let kinds: Vec<HeldKind> = facts
            .released
            .iter()
            .filter(this_event)
            .map(|m| m.kind)
            .collect();
        if kinds.contains(&HeldKind::Staged) {
            Released::Staged
        } else if kinds.contains(&HeldKind::Scheduled) {
            Released::Scheduled
        } else {
            Released::No
        }
    }
}

/// Whether `held` is the hold of exactly this event: the same id alone is not enough, a
/// publisher can reuse an id with other content.
fn is_hold_of(held: &HeldMessage, event: &HrEvent) -> bool {
    held.event_id == event.id
        && held.employee_id == event.employee_id()
        && held.sequence == event.sequence
        && held.action == event.action.as_str()
        && serde_json::from_str::<serde_json::Value>(&held.body)
            .is_ok_and(|body| body == event.to_structured_json())
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply now; `released_by_operator`: an operator released this very event from
    /// staging (proven by the store), so the guards let it through.
    Proceed {
        released_by_operator: bool,
    },
    Scheduled {
        due: OffsetDateTime,
    },
    Staged {
        allowed: u64,
    },
}

pub struct Gate {
    schedule: ScheduleConfig,
    guard: GuardConfig,
    zone: TimeZone,
}

impl Gate {
    pub fn new(schedule: ScheduleConfig, guard: GuardConfig) -> Result<Gate, String> {
        let zone =
            TimeZone::get(&schedule.timezone).map_err(|e| format!("schedule.timezone: {e}"))?;
        Ok(Gate {
            schedule,
            guard,
            zone,
        })
    }

    /// Decides for `event`, holding it in the store if it must wait.
    /// `facts`: what the store knows of held messages for this event, read with the
    /// targets' states before the gate ([`Store::event_state`]).
    pub async fn decide(
        &self,
        store: &Store,
        event: &HrEvent,
        facts: &HeldFacts,
        now: Timestamp,
    ) -> Result<Decision, StoreError> {
        if facts.supersedable > 0 {
            let superseded = store
                .supersede_scheduled(event.employee_id(), event.sequence)
                .await?;
            tracing::info!(
                superseded,
                "newer event supersedes pending scheduled changes"
            );
        }
        let released = Released::proven(facts, event);
        if released == Released::No {
            if let Some(due) = self.due_time(event, now) {
                store.hold(&held(event, HeldKind::Scheduled, due)).await?;
                return Ok(Decision::Scheduled { due });
            }
        }
        if self.guard.enabled && event.action == Action::Leaver && released != Released::Staged {
            let admission = store
                .admit_deprovision(&event.id, event.employee_id(), self.limits())
                .await?;
            if let Admission::Staged { allowed } = admission {
                let now = OffsetDateTime::now_utc();
                store.hold(&held(event, HeldKind::Staged, now)).await?;
                return Ok(Decision::Staged { allowed });
            }
        }
        Ok(Decision::Proceed {
            released_by_operator: released == Released::Staged,
        })
    }

    /// The creation guard for creating `target`'s account for `event`: admitted, or staged
    /// — the event held in the store for an operator before its message is acked.
    pub async fn admit_creation(
        &self,
        store: &Store,
        event: &HrEvent,
        target: &str,
    ) -> Result<Admission, StoreError> {
        let creation = &self.guard.creation;
        if !creation.enabled {
            return Ok(Admission::Admitted);
        }
        let limits = CreationLimits {
            window: time::Duration::try_from(creation.window).unwrap_or(time::Duration::DAY),
            max_per_window: creation.max_per_window,
        };
        let admission = store
            .admit_creation(&event.id, event.employee_id(), target, limits)
            .await?;
        if let Admission::Staged { .. } = admission {
            let now = OffsetDateTime::now_utc();
            store.hold(&held(event, HeldKind::Staged, now)).await?;
        }
        Ok(admission)
    }

    fn limits(&self) -> GuardLimits {
        GuardLimits {
            window: time::Duration::try_from(self.guard.window).unwrap_or(time::Duration::DAY),
            max_absolute: self.guard.max_absolute,
            max_percent: self.guard.max_percent,
            floor: self.guard.floor,
        }
    }

    /// When a future-dated event falls due, or `None` if it is due now.
    pub fn due_time(&self, event: &HrEvent, now: Timestamp) -> Option<OffsetDateTime> {
        let effective: Date = event.effective_date()?.parse().ok()?;
        let today = now.to_zoned_datetime(self.zone.clone()).date();
        if effective <= today {
            return None;
        }
        let (day, at) = match event.action {
            Action::Leaver => (effective, &self.schedule.leaver_time),
            Action::Mover => (effective, &self.schedule.mover_time),
            Action::Joiner => (
                effective
                    .checked_sub(i64::from(self.schedule.joiner_days_early).days())
                    .ok()?,
                &self.schedule.joiner_time,
            ),
        };
        let time: Time = at.parse().ok()?;
        let due = day
            .to_datetime(time)
            .to_zoned_datetime(self.zone.clone())
            .ok()?
            .timestamp();
        if due <= now {
            return None;
        }
        OffsetDateTime::from_unix_timestamp_nanos(due.as_nanosecond()).ok()
    }
}

fn held(event: &HrEvent, kind: HeldKind, due_at: OffsetDateTime) -> HeldMessage {
    HeldMessage {
        event_id: event.id.clone(),
        kind,
        employee_id: event.employee_id().to_string(),
        sequence: event.sequence,
        action: event.action.as_str().to_string(),
        due_at,
        body: event.to_structured_json().to_string(),
        status: HeldStatus::Pending,
        decided_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Accounts;
    use serde_json::json;

    fn event(action: Action, effective: &str) -> HrEvent {
        HrEvent {
            id: "e".into(),
            source: "urn:hr".into(),
            action,
            subject: "E1".into(),
            time: OffsetDateTime::UNIX_EPOCH,
            sequence: 1,
            data: json!({"employee_id": "E1", "effective_date": effective}),
            accounts: Accounts::default(),
        }
    }

    fn gate(zone: &str) -> Gate {
        Gate::new(
            ScheduleConfig {
                timezone: zone.into(),
                ..ScheduleConfig::default()
            },
            GuardConfig::default(),
        )
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_future_leaver_is_due_at_the_end_of_its_last_day_in_the_hr_time_zone() {
        let due = gate("Europe/Lisbon")
            .due_time(
                &event(Action::Leaver, "2027-03-31"),
                at("2026-11-26T10:00:00Z"),
            )
            .unwrap();
        // Lisbon is on summer time (UTC+1) on 31 March 2027.
        assert_eq!(due.to_string(), "2027-03-31 22:59:00.0 +00:00:00");
    }

    #[test]
    fn a_joiner_is_due_days_early_and_a_mover_on_the_day() {
        let g = gate("UTC");
        let now = at("2026-11-26T10:00:00Z");
        let joiner = g
            .due_time(&event(Action::Joiner, "2026-12-01"), now)
            .unwrap();
        assert_eq!(joiner.to_string(), "2026-11-30 6:00:00.0 +00:00:00");
        let mover = g
            .due_time(&event(Action::Mover, "2026-12-01"), now)
            .unwrap();
        assert_eq!(mover.to_string(), "2026-12-01 0:00:00.0 +00:00:00");
    }

    #[test]
    fn today_and_past_dates_are_due_now() {
        let g = gate("UTC");
        let now = at("2026-11-26T10:00:00Z");
        assert_eq!(g.due_time(&event(Action::Leaver, "2026-11-26"), now), None);
        assert_eq!(g.due_time(&event(Action::Leaver, "2020-01-01"), now), None);
        // A joiner starting tomorrow with one day's lead: due today at 06:00, already past.
        assert_eq!(g.due_time(&event(Action::Joiner, "2026-11-27"), now), None);
    }

    #[test]
    fn an_event_without_an_effective_date_is_due_now() {
        let mut e = event(Action::Mover, "x");
        e.data = json!({"employee_id": "E1"});
        assert_eq!(gate("UTC").due_time(&e, at("2026-11-26T10:00:00Z")), None);
    }

    fn released_hold(event: &HrEvent, kind: HeldKind) -> HeldMessage {
        HeldMessage {
            status: HeldStatus::Released,
            ..held(event, kind, OffsetDateTime::UNIX_EPOCH)
        }
    }

    #[test]
    fn only_a_released_hold_of_this_very_event_lets_it_pass_a_gate() {
        let event = event(Action::Leaver, "2099-01-01");
        let facts = |held: Vec<HeldMessage>| HeldFacts {
            released: held,
            supersedable: 0,
        };
        assert_eq!(Released::proven(&facts(vec![]), &event), Released::No);
        assert_eq!(
            Released::proven(
                &facts(vec![released_hold(&event, HeldKind::Scheduled)]),
                &event
            ),
            Released::Scheduled
        );
        assert_eq!(
            Released::proven(
                &facts(vec![
                    released_hold(&event, HeldKind::Scheduled),
                    released_hold(&event, HeldKind::Staged)
                ]),
                &event
            ),
            Released::Staged
        );
        // The same id with other content (here: another effective date) proves nothing.
        let mut forged = event.clone();
        forged.data["effective_date"] = json!("2099-12-31");
        let hold = released_hold(&event, HeldKind::Staged);
        assert_eq!(
            Released::proven(&facts(vec![hold.clone()]), &forged),
            Released::No
        );
        let mut later = event.clone();
        later.sequence = 2;
        assert_eq!(Released::proven(&facts(vec![hold]), &later), Released::No);
    }
}
