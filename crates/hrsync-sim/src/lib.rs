//! In-memory target simulator: one HTTP server that behaves like the parts of Veeva Vault,
//! Veeva SiteVault, SuperOffice CRM and a SCIM 2.0 service provider that hrsync calls, plus a `/_sim/` control plane
//! (fault injection, request log, user inspection). Integration tests and people trying
//! hrsync locally point all targets at it.
//!
//! Behaviour follows `shared/reference/seeds/*`, `vault-facts.md`, `superoffice-facts.md`
//! and section 1 of `provisioning-facts.md` (account creation); each file of this module
//! documents the part it simulates.
//!
//! # Layout
//! - `api`: the one entry point for `/api/…` — buffer, classify (after the body is read,
//!   so a `person__sys` query is SiteVault's), log, fault, dispatch, Vault headers.
//! - `vault/`: auth and sessions (`mod`), Create Single User (`create`), retrieve and
//!   update single user (`users`), update multiple users (`bulk`), Vault membership
//!   (`membership`).
//! - `vql/`: `POST /api/{v}/query` lookups and paginated listings on `users` and
//!   `person__sys` (the query subset in `parse`, the objects' fields in `fields`, pages
//!   and `next_page` tokens in `page`), `POST /api/{v}/query/{token}` follow-ups.
//! - `sitevault/`: Create User (`create`), Edit User (`edit`), the assignment checks both
//!   share (`assignments`).
//! - `superoffice/`: the User carrier, GET/PUT/PATCH (`user`), the AllUsers search
//!   (`search`), MakeRetired (`retire`), persons (`person`), Default + POST User
//!   (`create`), the Online restriction of the User agent (`mod`).
//! - `scim/`: create (`create`), list and filters (`list`), PatchOp (`patch`).
//! - `faults`: the fault queue, including `after_commit` (handle, then lose the answer).
//! - `inspect`: the `/_sim/` control plane. `state`, `seed`, `reply`, `jsonpatch`: what
//!   the handlers share.
//! - `tests/`: end-to-end tests over HTTP, one file per target and per creation flow.

mod api;
mod faults;
mod inspect;
mod jsonpatch;
mod reply;
mod scim;
mod seed;
mod sitevault;
mod state;
mod superoffice;
mod vault;
mod vql;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::any;
use axum::Router;

pub use faults::{FaultKind, FaultSpec, FaultTarget};
use state::State;

/// How the simulator is set up; every field has a local-friendly default.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Vault username accepted by `POST /api/{v}/auth`.
    pub vault_username: String,
    /// Vault password accepted by `POST /api/{v}/auth`.
    pub vault_password: String,
    /// The simulated Vault's id.
    pub vault_id: u64,
    /// What auth reports in `vaultIds[].url`.
    pub vault_url: String,
    /// If set, auth answers with a session for this other Vault (wrong-vault check).
    pub other_vault_id: Option<u64>,
    /// Idle lifetime of a Vault session (refreshed by every authorised call).
    pub session_ttl: Duration,
    /// Vault calls allowed per burst window before responses are delayed.
    pub burst_limit: u32,
    /// Length of the fixed burst window.
    pub burst_window: Duration,
    /// Accepted SuperOffice `Authorization` header values.
    pub superoffice_authorization: Vec<String>,
    /// Accepted SCIM bearer tokens.
    pub scim_tokens: Vec<String>,
    /// Number of seeded users per target.
    pub seed_users: usize,
    /// SuperOffice "Our companies": the contacts whose persons may become users
    /// (`GET /User/Default` and `POST /User` refuse a person of any other contact).
    pub superoffice_owner_contacts: Vec<i64>,
    /// Whether the SuperOffice User agent is available. `false` is SuperOffice Online's
    /// default for partner apps: creating users (`GET /User/Default`, `POST /User`) and
    /// every `POST /Agents/User/*` answer 403; reading and patching users stay allowed.
    pub superoffice_user_agent_allowed: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            vault_username: "hrsync@verteo.example".to_owned(),
            vault_password: "simulator-password".to_owned(),
            vault_id: 1776,
            vault_url: "http://127.0.0.1:8099/api".to_owned(),
            other_vault_id: None,
            session_ttl: Duration::from_secs(30 * 60),
            burst_limit: 2000,
            burst_window: Duration::from_secs(5 * 60),
            superoffice_authorization: vec!["Basic aHJzeW5jOnNpbXVsYXRvci1wYXNzd29yZA==".to_owned()],
            scim_tokens: vec!["simulator-scim-token".to_owned()],
            seed_users: 1000,
            superoffice_owner_contacts: vec![1],
            superoffice_user_agent_allowed: true,
        }
    }
}

impl SimulatorConfig {
    /// The defaults, for a simulator listening on `addr` (Vault's auth answer names it).
    pub fn for_address(addr: std::net::SocketAddr) -> Self {
        SimulatorConfig {
            vault_url: format!("http://{addr}/api"),
            ..SimulatorConfig::default()
        }
    }
}

/// A running simulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    config: Arc<SimulatorConfig>,
    state: Arc<Mutex<State>>,
}

impl Simulator {
    /// Builds a simulator with deterministic seed data.
    pub fn new(config: SimulatorConfig) -> Self {
        let state = State::new(&config);
        Self {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The HTTP routes: `/api/...` for the three targets, `/_sim/...` for control.
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/_sim", inspect::routes())
            .route("/api/{*rest}", any(api::entry))
            .with_state(self.clone())
    }

    pub(crate) fn config(&self) -> &SimulatorConfig {
        &self.config
    }

    /// Locks the state; a poisoned lock (a panicking handler) is recovered, not propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serve until the future resolves. Used by `hrsync simulator` and by tests (listener on 127.0.0.1:0).
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}
