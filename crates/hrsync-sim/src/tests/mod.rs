//! End-to-end tests of the simulator over real HTTP (127.0.0.1:0, reqwest), one behaviour
//! per test: the things hrsync's clients rely on and the control plane tests rely on.
//! This file is the harness; the tests are grouped by target (`vault`, `sitevault`,
//! `superoffice`, `scim`), by account creation (`*_create`, `vql`), by reconciliation's
//! paginated listings of every account (`listing`) and by control plane (`control`,
//! `after_commit`).

mod after_commit;
mod control;
mod listing;
mod scim;
mod sitevault;
mod sitevault_create;
mod superoffice;
mod superoffice_create;
mod vault;
mod vault_create;
mod vql;

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{serve, FaultSpec, Simulator, SimulatorConfig};

const V: &str = "v24.1";
const SO_AUTH: &str = "Basic aHJzeW5jOnNpbXVsYXRvci1wYXNzd29yZA==";
const SCIM_AUTH: &str = "Bearer simulator-scim-token";

struct Harness {
    base: String,
    client: Client,
    _stop: oneshot::Sender<()>,
}

async fn start_with(config: SimulatorConfig) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let sim = Simulator::new(config);
    tokio::spawn(serve(listener, sim, async {
        let _ = stopped.await;
    }));
    Harness {
        base,
        client: Client::new(),
        _stop: stop,
    }
}

async fn start() -> Harness {
    start_with(SimulatorConfig {
        seed_users: 20,
        ..SimulatorConfig::default()
    })
    .await
}

async fn body(response: Response) -> Value {
    response.json().await.unwrap()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self) -> String {
        let response = self
            .client
            .post(self.url(&format!("/api/{V}/auth")))
            .form(&[
                ("username", "hrsync@verteo.example"),
                ("password", "simulator-password"),
            ])
            .send()
            .await
            .unwrap();
        let body = body(response).await;
        assert_eq!(body["responseStatus"], "SUCCESS", "{body}");
        body["sessionId"].as_str().unwrap().to_owned()
    }

    async fn vault_form(&self, session: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .put(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    async fn vault_json(&self, session: &str, path: &str, json: &Value) -> Value {
        let response = self
            .client
            .put(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", format!("Bearer {session}"))
            .json(json)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    async fn vault_get(&self, session: &str, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .send()
            .await
            .unwrap();
        body(response).await
    }

    async fn sim_get(&self, path: &str) -> Value {
        body(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    async fn fault(&self, fault: Value) {
        let response = self
            .client
            .post(self.url("/_sim/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{fault}");
    }

    fn so(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/api/v1{path}")))
            .header("Authorization", SO_AUTH)
    }

    /// A typed fault, posted as the testkit posts it (so its serde shape is tested too).
    async fn fault_spec(&self, spec: &FaultSpec) {
        self.fault(serde_json::to_value(spec).unwrap()).await;
    }

    async fn vault_post_form(&self, session: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    async fn vault_post_json(&self, session: &str, path: &str, json: &Value) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/api/{V}{path}")))
            .header("Authorization", session)
            .json(json)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// `POST /api/{v}/query` with `q`.
    async fn vql(&self, session: &str, q: &str) -> Value {
        self.vault_post_form(session, "/query", &[("q", q)]).await
    }

    fn scim(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/api/scim/v2{path}")))
            .header("Authorization", SCIM_AUTH)
    }
}
