//! Fault injection: the queue filled by `POST /_sim/faults` and consulted before every API
//! request, so tests can provoke HTTP errors, Vault FAILURE bodies, latency and burst-limit
//! delays without touching handler code.
//!
//! Matching: latency faults that match all add their delay and let the request go on; the
//! first matching status/status_for/failure/after_commit fault (queue order) decides the
//! answer. Vault auth is only affected by faults posted with `"include_auth": true`.
//!
//! `after_commit` exists because the worst failure of a create call is the one where the
//! target did the work and the client never heard: the request is handled (the account
//! exists) and only then is the answer replaced by an error status, or held back for
//! `delay_ms` so that a client with a shorter timeout gives up. A client that simply
//! retries a create after such a fault makes a duplicate; the fault lets tests prove it
//! looks the account up first.

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::Target;
use super::reply::{vault_failure_body, Reply};

/// Which API a fault applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultTarget {
    Vault,
    Sitevault,
    Superoffice,
    Scim,
    #[default]
    Any,
}

impl FaultTarget {
    fn matches(self, target: Target) -> bool {
        match self {
            FaultTarget::Any => true,
            FaultTarget::Vault => target == Target::Vault,
            FaultTarget::Sitevault => target == Target::SiteVault,
            FaultTarget::Superoffice => target == Target::SuperOffice,
            FaultTarget::Scim => target == Target::Scim,
        }
    }
}

/// The body of `POST /_sim/faults`; built in tests with [`FaultSpec::status`] and friends,
/// so a misspelt fault is a compile error rather than a 400 mid-test.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FaultSpec {
    #[serde(default)]
    pub target: FaultTarget,
    #[serde(default)]
    pub include_auth: bool,
    /// Only requests with this HTTP method (e.g. `"PATCH"`); any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path ends with this (e.g. `"/objects/users"`, case-insensitive);
    /// any path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Let this many matching requests through untouched before the fault starts (e.g.
    /// the first page of a listing answers, the second fails).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after: u32,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// The fault kinds; see the module doc.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    Status {
        status: u16,
        #[serde(default)]
        times: Option<u32>,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    StatusFor {
        status: u16,
        duration_ms: u64,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    Failure {
        failure_type: String,
        #[serde(default)]
        times: Option<u32>,
    },
    Latency {
        latency_ms: u64,
        #[serde(default)]
        times: Option<u32>,
    },
    /// Handle the request, then answer `status` instead of the real reply and/or send the
    /// reply only after `delay_ms`.
    AfterCommit {
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        delay_ms: Option<u64>,
        #[serde(default)]
        times: Option<u32>,
    },
    Burst {
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        remaining: Option<u32>,
        #[serde(default)]
        delay_ms: Option<u64>,
    },
}

impl FaultSpec {
    fn of(target: FaultTarget, kind: FaultKind) -> Self {
        Self {
            target,
            include_auth: false,
            method: None,
            path: None,
            after: 0,
            kind,
        }
    }

    /// Answer `target`'s requests with HTTP `status` (once; see [`FaultSpec::times`]).
    pub fn status(target: FaultTarget, status: u16) -> Self {
        Self::of(
            target,
            FaultKind::Status {
                status,
                times: Some(1),
                retry_after_secs: None,
            },
        )
    }

    /// Answer with `status` for `duration_ms` from now.
    pub fn status_for(target: FaultTarget, status: u16, duration_ms: u64) -> Self {
        Self::of(
            target,
            FaultKind::StatusFor {
                status,
                duration_ms,
                retry_after_secs: None,
            },
        )
    }

    /// A Vault-style `responseStatus: FAILURE` body of `failure_type` (once).
    pub fn failure(target: FaultTarget, failure_type: &str) -> Self {
        Self::of(
            target,
            FaultKind::Failure {
                failure_type: failure_type.to_string(),
                times: Some(1),
            },
        )
    }

    /// Delay every matching request by `latency_ms`, for good.
    pub fn latency(target: FaultTarget, latency_ms: u64) -> Self {
        Self::of(
            target,
            FaultKind::Latency {
                latency_ms,
                times: None,
            },
        )
    }

    /// Handle the request (the state changes), then answer HTTP `status` in the target's
    /// error shape instead of the real reply (once; see [`FaultSpec::times`]).
    pub fn after_commit_status(target: FaultTarget, status: u16) -> Self {
        Self::of(
            target,
            FaultKind::AfterCommit {
                status: Some(status),
                delay_ms: None,
                times: Some(1),
            },
        )
    }

    /// Handle the request (the state changes), then hold the real reply back for
    /// `delay_ms`: a client with a shorter timeout loses the answer after the commit (once).
    pub fn after_commit_delay(target: FaultTarget, delay_ms: u64) -> Self {
        Self::of(
            target,
            FaultKind::AfterCommit {
                status: None,
                delay_ms: Some(delay_ms),
                times: Some(1),
            },
        )
    }

    /// Set Vault's burst window: its limit, what remains of it, and the delay past it.
    pub fn burst(limit: u32, remaining: u32, delay_ms: u64) -> Self {
        Self::of(
            FaultTarget::Vault,
            FaultKind::Burst {
                limit: Some(limit),
                remaining: Some(remaining),
                delay_ms: Some(delay_ms),
            },
        )
    }

    /// Match `n` requests (`u32::MAX`: practically for good).
    pub fn times(mut self, n: u32) -> Self {
        match &mut self.kind {
            FaultKind::Status { times, .. }
            | FaultKind::Failure { times, .. }
            | FaultKind::Latency { times, .. }
            | FaultKind::AfterCommit { times, .. } => *times = Some(n),
            FaultKind::StatusFor { .. } | FaultKind::Burst { .. } => {}
        }
        self
    }

    /// Only requests with this HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }

    /// Let the first `n` matching requests through before the fault starts.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }

    /// Only requests whose path ends with `suffix` (case-insensitive): one call of a
    /// multi-call flow, e.g. SuperOffice's `POST /api/v1/User` but not `POST …/Person`.
    pub fn path(mut self, suffix: &str) -> Self {
        self.path = Some(suffix.to_string());
        self
    }

    /// Send `Retry-After: secs` with the status.
    pub fn retry_after(mut self, secs: u64) -> Self {
        if let FaultKind::Status {
            retry_after_secs, ..
        }
        | FaultKind::StatusFor {
            retry_after_secs, ..
        } = &mut self.kind
        {
            *retry_after_secs = Some(secs);
        }
        self
    }

    /// Let the fault hit Vault's auth calls too.
    pub fn including_auth(mut self) -> Self {
        self.include_auth = true;
        self
    }
}

/// What a matching fault does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultOutcome {
    Status {
        status: StatusCode,
        retry_after_secs: Option<u64>,
    },
    Failure {
        failure_type: String,
    },
}

/// What an `after_commit` fault does once the request has been handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AfterCommit {
    /// Replace the reply by this status (in the target's error shape).
    pub status: Option<StatusCode>,
    /// Hold the reply back this long before sending it.
    pub delay: Option<Duration>,
}

/// What one queued fault does to a request it matches.
#[derive(Debug, Clone)]
enum Effect {
    Latency(Duration),
    Answer(FaultOutcome),
    AfterCommit(AfterCommit),
}

/// How long a queued fault stays active.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    Times(u32),
    Until(Instant),
    Forever,
}

#[derive(Debug, Clone)]
struct QueuedFault {
    spec: FaultSpec,
    lifetime: Lifetime,
    effect: Effect,
    /// Matching requests still to let through (`FaultSpec::after`).
    pass: u32,
}

impl QueuedFault {
    fn is_live(&self, now: Instant) -> bool {
        match self.lifetime {
            Lifetime::Times(n) => n > 0,
            Lifetime::Until(end) => now < end,
            Lifetime::Forever => true,
        }
    }

    fn applies_to(&self, target: Target, is_auth: bool, method: &str, path: &str) -> bool {
        self.spec.target.matches(target)
            && (!is_auth || self.spec.include_auth)
            && self
                .spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.spec.path.as_deref().is_none_or(|suffix| {
                path.to_ascii_lowercase()
                    .ends_with(&suffix.to_ascii_lowercase())
            })
    }

    fn consume(&mut self) {
        if let Lifetime::Times(n) = &mut self.lifetime {
            *n = n.saturating_sub(1);
        }
    }
}

/// The effect of the queue on one request: at most one of `outcome` and `after_commit`.
#[derive(Debug, Default)]
pub(crate) struct FaultHit {
    pub latency: Option<Duration>,
    /// Answer this instead of handling the request.
    pub outcome: Option<FaultOutcome>,
    /// Handle the request, then do this to the reply.
    pub after_commit: Option<AfterCommit>,
}

impl FaultHit {
    fn answered(&self) -> bool {
        self.outcome.is_some() || self.after_commit.is_some()
    }
}

/// The queue of active faults.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    faults: Vec<QueuedFault>,
}

impl FaultQueue {
    /// Queues a request-affecting fault (not `burst`, which the caller applies directly).
    pub fn push(&mut self, spec: FaultSpec, now: Instant) -> Result<(), String> {
        let queued = queued_fault(spec, now)?;
        self.faults.push(queued);
        Ok(())
    }

    /// Removes every fault; returns how many there were.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.faults).len()
    }

    /// The live faults, as posted.
    pub fn specs(&self, now: Instant) -> Vec<FaultSpec> {
        self.faults
            .iter()
            .filter(|f| f.is_live(now))
            .map(|f| f.spec.clone())
            .collect()
    }

    /// Applies the queue to one request, consuming counted faults.
    pub fn take(
        &mut self,
        target: Target,
        is_auth: bool,
        method: &str,
        path: &str,
        now: Instant,
    ) -> FaultHit {
        self.faults.retain(|f| f.is_live(now));
        let mut hit = FaultHit::default();
        for fault in &mut self.faults {
            if !fault.applies_to(target, is_auth, method, path) {
                continue;
            }
            if fault.pass > 0 {
                fault.pass -= 1;
                continue;
            }
            match &fault.effect {
                Effect::Latency(latency) => {
                    hit.latency = Some(hit.latency.unwrap_or_default() + *latency);
                }
                _ if hit.answered() => continue,
                Effect::Answer(outcome) => hit.outcome = Some(outcome.clone()),
                Effect::AfterCommit(after) => hit.after_commit = Some(*after),
            }
            fault.consume();
        }
        hit
    }
}

fn status_code(status: u16) -> Result<StatusCode, String> {
    StatusCode::from_u16(status).map_err(|_| format!("invalid HTTP status {status}"))
}

fn queued_fault(spec: FaultSpec, now: Instant) -> Result<QueuedFault, String> {
    let lifetime = lifetime(&spec.kind, now)?;
    let effect = effect(&spec.kind)?;
    Ok(QueuedFault {
        pass: spec.after,
        spec,
        lifetime,
        effect,
    })
}

/// Counted faults default to once; latency without `times` lasts until cleared.
fn lifetime(kind: &FaultKind, now: Instant) -> Result<Lifetime, String> {
    match kind {
        FaultKind::Status { times, .. }
        | FaultKind::Failure { times, .. }
        | FaultKind::AfterCommit { times, .. } => Ok(Lifetime::Times(times.unwrap_or(1))),
        FaultKind::StatusFor { duration_ms, .. } => {
            Ok(Lifetime::Until(now + Duration::from_millis(*duration_ms)))
        }
        FaultKind::Latency { times, .. } => Ok(times.map_or(Lifetime::Forever, Lifetime::Times)),
        FaultKind::Burst { .. } => Err("burst faults are not queued".into()),
    }
}

fn effect(kind: &FaultKind) -> Result<Effect, String> {
    match kind {
        FaultKind::Status {
            status,
            retry_after_secs,
            ..
        }
        | FaultKind::StatusFor {
            status,
            retry_after_secs,
            ..
        } => {
            let outcome = FaultOutcome::Status {
                status: status_code(*status)?,
                retry_after_secs: *retry_after_secs,
            };
            Ok(Effect::Answer(outcome))
        }
        FaultKind::Failure { failure_type, .. } => {
            let failure_type = failure_type.clone();
            Ok(Effect::Answer(FaultOutcome::Failure { failure_type }))
        }
        FaultKind::Latency { latency_ms, .. } => {
            Ok(Effect::Latency(Duration::from_millis(*latency_ms)))
        }
        FaultKind::AfterCommit {
            status, delay_ms, ..
        } => {
            if status.is_none() && delay_ms.is_none() {
                return Err("an after_commit fault needs status or delay_ms".into());
            }
            Ok(Effect::AfterCommit(AfterCommit {
                status: status.map(status_code).transpose()?,
                delay: delay_ms.map(Duration::from_millis),
            }))
        }
        FaultKind::Burst { .. } => Err("burst faults are not queued".into()),
    }
}

/// The response a fault produces, shaped like the target API's own errors.
pub(crate) fn fault_reply(target: Target, outcome: &FaultOutcome) -> Reply {
    match outcome {
        FaultOutcome::Status {
            status,
            retry_after_secs,
        } => {
            let reply = status_reply(target, *status);
            match retry_after_secs {
                Some(secs) => reply.with_header(header::RETRY_AFTER, secs.to_string()),
                None => reply,
            }
        }
        FaultOutcome::Failure { failure_type } => failure_reply(target, failure_type),
    }
}

fn status_reply(target: Target, status: StatusCode) -> Reply {
    let message = format!("Simulated HTTP {status}");
    if target == Target::SuperOffice {
        return Reply::so_error(status, "SimulatedFault", message);
    }
    if target == Target::Scim {
        return super::scim::error(status, None, message);
    }
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        vault_failure_body("API_LIMIT_EXCEEDED", message)
    } else {
        let mut body = vault_failure_body("UNEXPECTED_ERROR", message);
        body["responseStatus"] = json!("EXCEPTION");
        body
    };
    Reply::json(status, body)
}

fn failure_reply(target: Target, failure_type: &str) -> Reply {
    let message = format!("Simulated {failure_type}");
    if target == Target::Scim {
        return super::scim::error(StatusCode::BAD_REQUEST, Some("invalidValue"), message);
    }
    if target == Target::SuperOffice {
        Reply::so_error(StatusCode::BAD_REQUEST, failure_type, message)
    } else {
        Reply::vault_failure(failure_type, message)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
