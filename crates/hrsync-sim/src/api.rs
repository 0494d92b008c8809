//! The single entry point for all `/api/...` traffic: buffers the request, tells which
//! target it is for, logs it, applies queued faults, dispatches to the target's handler and
//! adds the Vault-family response headers (burst counters, execution id, delays).
//!
//! Dispatch is by hand on path segments rather than by axum routes because Vault's
//! `/api/{version}/...` and SuperOffice's `/api/v1/...` overlap. The target is told after
//! the body is read: a VQL query on `person__sys` goes to Vault's `/query` but asks about
//! SiteVault persons, so it is logged, counted and faulted as `sitevault` — and so is a
//! `POST /query/{token}` follow-up, since only `person__sys` pages link to one.

use std::time::{Duration, Instant};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::faults::{self, AfterCommit, FaultOutcome};
use super::reply::Reply;
use super::state::BurstReading;
use super::{scim, sitevault, superoffice, vault, vql, Simulator};

/// Largest request body the simulator reads (Vault allows far more; hrsync sends little).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// The Vault API user id reported by auth and in `X-VaultAPI-UserId`.
pub(crate) const VAULT_API_USER_ID: u64 = 12021;

/// Which simulated API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Vault,
    SiteVault,
    SuperOffice,
    Scim,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Vault => "vault",
            Target::SiteVault => "sitevault",
            Target::SuperOffice => "superoffice",
            Target::Scim => "scim",
        }
    }

    /// Vault and SiteVault share sessions, burst limits and headers.
    pub fn is_vault_family(self) -> bool {
        matches!(self, Target::Vault | Target::SiteVault)
    }
}

/// A fully buffered API request.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// Path segments after `/api/`.
    pub segments: Vec<String>,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    async fn capture(request: Request) -> Result<Self, Reply> {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, MAX_BODY).await.map_err(|_| {
            Reply::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::String("request body too large".into()),
            )
        })?;
        let path = parts.uri.path().to_owned();
        Ok(Self {
            method: parts.method,
            segments: api_segments(&path),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            path,
            body,
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The raw `Content-Type` value.
    pub fn content_type(&self) -> Option<&str> {
        self.header(header::CONTENT_TYPE)
    }

    /// The media type without parameters, lower-cased (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        let raw = self.content_type()?;
        let media = raw.split(';').next().unwrap_or_default();
        Some(media.trim().to_ascii_lowercase())
    }

    /// True if the media type is exactly `expected`.
    pub fn media_type_is(&self, expected: &str) -> bool {
        self.media_type().as_deref() == Some(expected)
    }

    pub fn is_form(&self) -> bool {
        self.media_type_is("application/x-www-form-urlencoded")
    }

    /// Any JSON flavour (`application/json`, `…+json`, `text/json`).
    pub fn is_json(&self) -> bool {
        self.media_type()
            .is_some_and(|m| m == "application/json" || m == "text/json" || m.ends_with("+json"))
    }

    /// The body decoded as form pairs, in order, duplicates kept.
    pub fn form_pairs(&self) -> Result<Vec<(String, String)>, serde_urlencoded::de::Error> {
        serde_urlencoded::from_bytes(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.body)
    }

    /// Segment `i` after `/api/`, or "".
    pub fn segment(&self, i: usize) -> &str {
        self.segments.get(i).map_or("", String::as_str)
    }
}

fn api_segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The target of a request: by path, except that a VQL query on `person__sys` (or a
/// follow-up of its pages) is SiteVault's.
pub(crate) fn classify(request: &ApiRequest) -> Target {
    match classify_path(&request.segments) {
        Target::Vault if vql::is_person_query(request) => Target::SiteVault,
        target => target,
    }
}

/// SuperOffice lives under `/api/v1/User…`, `/api/v1/Person…` and `/api/v1/Agents…`
/// (case-insensitive); SCIM under `/api/scim/v2/`; SiteVault under
/// `/api/{v}/app/sitevault/`; the rest is Vault.
fn classify_path(segments: &[String]) -> Target {
    let at = |i: usize| segments.get(i).map_or("", String::as_str);
    let so_root = ["user", "person", "agents"]
        .iter()
        .any(|root| at(1).eq_ignore_ascii_case(root));
    if at(0) == "v1" && so_root {
        Target::SuperOffice
    } else if at(0) == "scim" && at(1) == "v2" {
        Target::Scim
    } else if at(1) == "app" && at(2) == "sitevault" {
        Target::SiteVault
    } else {
        Target::Vault
    }
}

/// axum handler for `/api/{*rest}`.
pub(crate) async fn entry(State(sim): State<Simulator>, request: Request) -> Response {
    let request = match ApiRequest::capture(request).await {
        Ok(request) => request,
        Err(reply) => return reply.into_response(),
    };
    let target = classify(&request);
    let is_auth = target == Target::Vault && vault::is_auth_path(&request);
    let seq = sim.begin_request(target, is_auth, &request);
    let reply = sim.respond(target, is_auth, &request).await;
    sim.lock().log.finish(seq, reply.status.as_u16());
    reply.into_response()
}

impl Simulator {
    fn begin_request(&self, target: Target, is_auth: bool, request: &ApiRequest) -> u64 {
        let mut state = self.lock();
        *state.stats.requests.entry(target.as_str()).or_insert(0) += 1;
        if is_auth {
            state.stats.auth_calls += 1;
        }
        state.log.begin(target, request)
    }

    async fn respond(&self, target: Target, is_auth: bool, request: &ApiRequest) -> Reply {
        let hit = self.lock().faults.take(
            target,
            is_auth,
            request.method.as_str(),
            &request.path,
            Instant::now(),
        );
        sleep_if_any(hit.latency).await;
        let reply = match (hit.outcome, hit.after_commit) {
            (Some(outcome), _) => faults::fault_reply(target, &outcome),
            (None, Some(after)) => self.handle_after_commit(target, request, after).await,
            (None, None) => self.handle(target, request),
        };
        if !target.is_vault_family() {
            return reply;
        }
        let reading = self.burst_reading(is_auth);
        sleep_if_any(reading.delay).await;
        self.with_vault_headers(reply, reading)
    }

    /// An `after_commit` fault: the request is handled (its changes stay), then the reply
    /// is held back and/or replaced by the fault's status.
    async fn handle_after_commit(
        &self,
        target: Target,
        request: &ApiRequest,
        after: AfterCommit,
    ) -> Reply {
        let reply = self.handle(target, request);
        sleep_if_any(after.delay).await;
        match after.status {
            Some(status) => {
                let outcome = FaultOutcome::Status {
                    status,
                    retry_after_secs: None,
                };
                faults::fault_reply(target, &outcome)
            }
            None => reply,
        }
    }

    fn handle(&self, target: Target, request: &ApiRequest) -> Reply {
        let config = self.config();
        let mut state = self.lock();
        match target {
            Target::Vault => vault::handle(&mut state, config, request),
            Target::SiteVault => sitevault::handle(&mut state, config, request),
            Target::Scim => scim::handle(&mut state, config, request),
            Target::SuperOffice => superoffice::handle(&mut state, config, request),
        }
    }

    fn burst_reading(&self, is_auth: bool) -> BurstReading {
        let mut state = self.lock();
        let now = Instant::now();
        if is_auth {
            state.burst.peek(now)
        } else {
            state.burst.count(now)
        }
    }

    fn with_vault_headers(&self, reply: Reply, reading: BurstReading) -> Reply {
        let config = self.config();
        let vault_id = config.other_vault_id.unwrap_or(config.vault_id);
        let status = reply.response_status().map(str::to_owned);
        let mut reply = reply
            .with_header(vault_header("burstlimit"), reading.limit.to_string())
            .with_header(
                vault_header("burstlimitremaining"),
                reading.remaining.to_string(),
            )
            .with_header(vault_header("vaultid"), vault_id.to_string())
            .with_header(vault_header("userid"), VAULT_API_USER_ID.to_string())
            .with_header(
                vault_header("executionid"),
                uuid::Uuid::new_v4().to_string(),
            );
        if let Some(status) = status {
            reply = reply.with_header(vault_header("status"), status);
        }
        if let Some(delay) = reading.delay {
            reply = reply.with_header(vault_header("responsedelay"), delay.as_millis().to_string());
        }
        reply
    }
}

/// `X-VaultAPI-…` header names (HTTP/1 sends them lower-cased anyway).
fn vault_header(suffix: &str) -> HeaderName {
    HeaderName::try_from(format!("x-vaultapi-{suffix}")).expect("static header name is valid")
}

async fn sleep_if_any(delay: Option<Duration>) {
    if let Some(delay) = delay.filter(|d| !d.is_zero()) {
        tokio::time::sleep(delay).await;
    }
}
