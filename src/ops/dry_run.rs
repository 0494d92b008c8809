//! `hrsync dry-run EVENT.json`: the exact requests the worker would send for an event,
//! per target, without sending anything — for support staff answering "what will this
//! change do?" (provision on demand). Reads that precede the writes are listed too; the
//! writes are shown as if every mapped field differed from the target's current value.

use crate::apply::gate::Gate;
use crate::config::Config;
use crate::event::{self, Envelope, HrEvent};
use crate::mapping::Mapper;
use crate::targets::{match_hints, Change, PreparedRequest, Target};
use crate::worker::build_targets;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What would happen in one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    pub target: &'static str,
    /// `send`, or why nothing would be sent.
    pub verdict: String,
    pub requests: Vec<PreparedRequest>,
}

/// What would happen for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub event: HrEvent,
    /// When a future-dated event would be applied instead of now.
    pub scheduled_for: Option<time::OffsetDateTime>,
    pub targets: Vec<TargetPlan>,
}

/// Plans `body` (a structured CloudEvent) against `config`'s mapping and targets.
pub fn plan(config: &Config, body: &[u8]) -> anyhow::Result<Plan> {
    let no_headers = BTreeMap::new();
    let envelope = Envelope {
        content_type: Some("application/cloudevents+json"),
        headers: &no_headers,
    };
    let event = event::decode(
        body,
        &envelope,
        config.worker.max_body_bytes,
        crate::targets::registry::account_keys(),
    )
    .map_err(|e| anyhow::anyhow!("not a valid HR event: {e}"))?;
    let mapper = Mapper::new(&config.mapping)
        .map_err(|errors| anyhow::anyhow!("invalid mapping:\n  {}", errors.join("\n  ")))?;
    let gate =
        Gate::new(config.schedule.clone(), config.guard.clone()).map_err(anyhow::Error::msg)?;
    let scheduled_for = gate.due_time(&event, jiff::Timestamp::now());
    let targets = build_targets(config)?
        .iter()
        .map(|target| plan_target(target.as_ref(), &mapper, &event))
        .collect();
    Ok(Plan {
        event,
        scheduled_for,
        targets,
    })
}

fn plan_target(target: &dyn Target, mapper: &Mapper, event: &HrEvent) -> TargetPlan {
    let kind = target.kind();
    let plan = |verdict: String, requests| TargetPlan {
        target: kind.as_str(),
        verdict,
        requests,
    };
    let fields = match mapper.map(kind, event) {
        Ok(Some(fields)) => fields,
        Ok(None) => return plan("nothing mapped for this action".into(), vec![]),
        Err(e) => return plan(format!("dead letter (mapping): {e}"), vec![]),
    };
    let Some(account_id) = kind.account_id(&event.accounts) else {
        return plan_match(target, mapper, event);
    };
    let change = Change {
        event_id: event.id.clone(),
        employee_id: event.subject.clone(),
        action: event.action,
        account_id: account_id.to_string(),
        fields,
        previous: None,
    };
    match target.describe(&change) {
        Ok(requests) => plan("send".into(), requests),
        Err(e) => plan(format!("dead letter: {e}"), vec![]),
    }
}

/// An event with no account id for the target: what the worker searches by, and what it
/// would create if the search found nothing (the search itself is not run).
fn plan_match(target: &dyn Target, mapper: &Mapper, event: &HrEvent) -> TargetPlan {
    let kind = target.kind();
    let creation = match mapper.creation(kind, event) {
        Ok(creation) => creation,
        Err(e) => {
            return TargetPlan {
                target: kind.as_str(),
                verdict: format!("dead letter (mapping): {e}"),
                requests: vec![],
            }
        }
    };
    let hints = match_hints(target, &event.data, creation.as_ref());
    let keys: Vec<String> = [
        ("federated id", &hints.federated_id),
        ("user name", &hints.username),
        ("e-mail", &hints.email),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(format!("{name} {:?}", value.as_ref()?)))
    .collect();
    let search = if keys.is_empty() {
        "nothing to search by".to_string()
    } else {
        format!(
            "searches by those of its match keys the event gives ({})",
            keys.join(", ")
        )
    };
    let (then, requests) = match &creation {
        Some(creation) if !keys.is_empty() => match target.describe_create(creation) {
            Ok(requests) => (
                "one match: linked and updated; several: dead letter ambiguous_match; none: created with".to_string(),
                requests,
            ),
            Err(e) => (format!("none found: dead letter: {e}"), vec![]),
        },
        _ if event.action == crate::event::Action::Leaver => (
            "one match: linked and updated; none: dead letter unlinked; several: dead letter ambiguous_match".into(),
            vec![],
        ),
        _ => (
            "one match: linked and updated; none: reported unlinked (no create block); several: dead letter ambiguous_match".into(),
            vec![],
        ),
    };
    TargetPlan {
        target: kind.as_str(),
        verdict: format!(
            "no account id in the event: the worker uses a linked account if it knows one, otherwise {search}; {then}"
        ),
        requests,
    }
}

/// The plan as text for a terminal.
pub fn render(plan: &Plan) -> String {
    let mut out = format!(
        "event {} ({} of {}, sequence {})\n",
        plan.event.id, plan.event.action, plan.event.subject, plan.event.sequence
    );
    if let Some(due) = plan.scheduled_for {
        let _ = writeln!(out, "future-dated: held until {due}, then:");
    }
    for target in &plan.targets {
        let _ = writeln!(out, "\n[{}] {}", target.target, target.verdict);
        for request in &target.requests {
            let _ = writeln!(out, "{} {}", request.method, request.path);
            if !request.body.is_empty() {
                let _ = writeln!(
                    out,
                    "Content-Type: {}\n{}",
                    request.content_type, request.body
                );
            }
        }
    }
    out
}
