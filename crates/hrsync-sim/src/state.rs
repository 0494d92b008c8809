//! Everything the simulator remembers between requests: the user stores (and SuperOffice's
//! persons, which its users are made from), Vault
//! sessions, the Vault burst counters, the fault queue, the request log and call counts.
//! Kept behind one mutex in `Simulator`; nothing here awaits.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use super::api::{ApiRequest, Target};
use super::faults::FaultQueue;
use super::seed;
use super::SimulatorConfig;

/// A JSON object, the stored form of every user record.
pub(crate) type Record = Map<String, Value>;

/// The simulator's whole mutable state.
pub(crate) struct State {
    pub vault_users: BTreeMap<u64, Record>,
    pub sitevault_persons: BTreeMap<String, Record>,
    pub superoffice_users: BTreeMap<i64, Record>,
    /// SuperOffice `PersonEntity` records by `PersonId`.
    pub superoffice_persons: BTreeMap<i64, Record>,
    pub scim_users: BTreeMap<String, Record>,
    pub sessions: HashMap<String, Instant>,
    pub burst: Burst,
    pub faults: FaultQueue,
    pub log: RequestLog,
    pub stats: Stats,
}

impl State {
    /// Fresh state with `config.seed_users` users per target.
    pub fn new(config: &SimulatorConfig) -> Self {
        Self {
            vault_users: seed::vault_users(config),
            sitevault_persons: seed::sitevault_persons(config.seed_users),
            superoffice_users: seed::superoffice_users(config.seed_users),
            superoffice_persons: seed::superoffice_persons(config.seed_users),
            scim_users: seed::scim_users(config.seed_users),
            sessions: HashMap::new(),
            burst: Burst::new(config.burst_limit, config.burst_window),
            faults: FaultQueue::default(),
            log: RequestLog::default(),
            stats: Stats::default(),
        }
    }
}

/// Call counters reported by `GET /_sim/stats`.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    pub auth_calls: u64,
    pub requests: BTreeMap<&'static str, u64>,
}

impl Default for Stats {
    /// Every target listed, at zero.
    fn default() -> Self {
        let requests = [
            Target::Vault,
            Target::SiteVault,
            Target::SuperOffice,
            Target::Scim,
        ]
        .into_iter()
        .map(|t| (t.as_str(), 0))
        .collect();
        Self {
            auth_calls: 0,
            requests,
        }
    }
}

/// Vault's fixed-window burst limit: past the limit responses are delayed, not refused.
#[derive(Debug)]
pub(crate) struct Burst {
    pub limit: u32,
    used: u32,
    window: Duration,
    window_start: Instant,
    pub delay: Duration,
}

/// What one counted call sees: the header values and the delay to apply, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BurstReading {
    pub limit: u32,
    pub remaining: u32,
    pub delay: Option<Duration>,
}

impl Burst {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            used: 0,
            window,
            window_start: Instant::now(),
            delay: Duration::from_millis(500),
        }
    }

    fn roll_window(&mut self, now: Instant) {
        if now.duration_since(self.window_start) >= self.window {
            self.window_start = now;
            self.used = 0;
        }
    }

    /// Counts one call; a call made once nothing remained is delayed.
    pub fn count(&mut self, now: Instant) -> BurstReading {
        self.roll_window(now);
        let exhausted = self.used >= self.limit;
        self.used = self.used.saturating_add(1);
        BurstReading {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            delay: exhausted.then_some(self.delay),
        }
    }

    /// Reads the counters without counting (auth calls have their own limit).
    pub fn peek(&mut self, now: Instant) -> BurstReading {
        self.roll_window(now);
        BurstReading {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            delay: None,
        }
    }

    /// Fault knob: sets limit, remaining and delay, starting a new window now.
    pub fn set(&mut self, limit: Option<u32>, remaining: Option<u32>, delay: Option<Duration>) {
        self.limit = limit.unwrap_or(self.limit);
        let remaining = remaining.unwrap_or(self.limit).min(self.limit);
        self.used = self.limit - remaining;
        self.window_start = Instant::now();
        self.delay = delay.unwrap_or(self.delay);
    }
}

/// One logged API request, in the shape `GET /_sim/requests` returns.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    pub seq: u64,
    pub target: &'static str,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Map<String, Value>,
    pub content_type: Option<String>,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Vec<(String, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    pub status: Option<u16>,
}

/// Arrival-ordered log of API requests (not `/_sim` calls).
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    next_seq: u64,
    records: Vec<RequestRecord>,
}

impl RequestLog {
    /// Records a request on arrival; its status is filled in by `finish`.
    pub fn begin(&mut self, target: Target, request: &ApiRequest) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.records.push(record_of(seq, target, request));
        seq
    }

    /// Stores the final HTTP status of request `seq` (if still logged).
    pub fn finish(&mut self, seq: u64, status: u16) {
        if let Some(record) = self.records.iter_mut().rev().find(|r| r.seq == seq) {
            record.status = Some(status);
        }
    }

    /// Logged requests, optionally only those of one target.
    pub fn list(&self, target: Option<&str>) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|r| target.is_none_or(|t| r.target == t))
            .cloned()
            .collect()
    }

    /// Empties the log; returns how many records were dropped.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.records).len()
    }
}

fn record_of(seq: u64, target: Target, request: &ApiRequest) -> RequestRecord {
    RequestRecord {
        seq,
        target: target.as_str(),
        method: request.method.to_string(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers: headers_json(request),
        content_type: request.content_type().map(str::to_owned),
        body: String::from_utf8_lossy(&request.body).into_owned(),
        form: request.form_pairs().ok().filter(|_| request.is_form()),
        json: request.is_json().then(|| request.json().ok()).flatten(),
        status: None,
    }
}

fn headers_json(request: &ApiRequest) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in &request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    out
}
