//! The worker's own HTTP endpoints, for Kubernetes probes and Prometheus:
//! `/metrics` (text exposition), `/healthz` (the process is alive and serving),
//! `/readyz` (connected to RabbitMQ and consuming, the state store records, and no target
//! is unusable because of its configuration — such a target needs an operator, and the
//! probe says which). A store that cannot record fails it with the reason: the worker then
//! applies nothing, and recovers by itself once the store does. A
//! target whose circuit breaker is open is shown on `/readyz` but does not fail it: the
//! worker still serves the other targets and parks that one's work.

use crate::apply::Applier;
use crate::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: std::net::SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".parse().expect("valid default address"),
        }
    }
}

/// Liveness and readiness facts shared between the consumer and the probes.
pub struct Health {
    consuming: AtomicBool,
    /// Why the broker cannot be used until an operator acts (a certificate it refuses or
    /// cannot verify, refused credentials).
    broker_problem: std::sync::Mutex<Option<String>>,
    applier: Arc<Applier>,
}

impl Health {
    pub fn new(applier: Arc<Applier>) -> Self {
        Health {
            consuming: AtomicBool::new(false),
            broker_problem: std::sync::Mutex::new(None),
            applier,
        }
    }

    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::Relaxed);
    }

    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    pub fn set_broker_problem(&self, problem: Option<String>) {
        *self.broker_problem.lock().expect("lock poisoned") = problem;
    }

    pub fn broker_problem(&self) -> Option<String> {
        self.broker_problem.lock().expect("lock poisoned").clone()
    }

    /// Why the state store cannot record now, if it cannot.
    pub fn store_problem(&self) -> Option<String> {
        self.applier.store().health().problem()
    }

    /// Targets that cannot be used until an operator fixes their configuration.
    pub fn target_problems(&self) -> Vec<(String, String)> {
        self.applier
            .targets()
            .iter()
            .filter_map(|t| {
                self.applier
                    .config_problem(t.as_ref())
                    .map(|why| (t.kind().to_string(), why))
            })
            .collect()
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

pub fn router(health: Arc<Health>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .with_state(AppState { health, metrics })
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let recording = state.health.store_problem().is_none();
    state.metrics.store_recording.set(i64::from(recording));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn readiness(State(state): State<AppState>) -> impl IntoResponse {
    let consuming = state.health.is_consuming();
    let problems = state.health.target_problems();
    let store = state.health.store_problem();
    let ready = consuming && problems.is_empty() && store.is_none();
    // (A broker problem means not consuming: it is shown, and `consuming` says the rest.)
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let targets: serde_json::Map<_, _> = problems
        .into_iter()
        .map(|(target, why)| (target, json!(why)))
        .collect();
    let breakers: serde_json::Map<_, _> = state
        .health
        .applier
        .breaker_states()
        .into_iter()
        .map(|(target, breaker)| (target.to_string(), json!(breaker.as_str())))
        .collect();
    (
        status,
        Json(json!({
            "ready": ready,
            "consuming": consuming,
            "broker_problem": state.health.broker_problem(),
            "store_problem": store,
            "target_problems": targets,
            "breakers_not_closed": breakers,
        })),
    )
}
