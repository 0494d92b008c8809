//! A Vault API session shared by the Vault and SiteVault clients: one login reused for all
//! calls (auth calls have their own, smaller rate limit), one re-login when Vault reports
//! `INVALID_SESSION_ID`, and no login loop after Vault rejects the credentials — repeated
//! failed logins lock the integration account.
//!
//! It also parses Vault's answers: HTTP 200 with `responseStatus: FAILURE` is a failure,
//! classified by `errors[].type` as in `vault-facts.md`.

use super::http_client::{self, Answer};
use super::vault::VaultConfig;
use super::{ErrorClass, PreparedRequest, TargetError};
use crate::secret::Secret;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a Vault `errors[].type` should be treated.
pub fn classify(error_type: &str) -> ErrorClass {
    match error_type {
        "API_LIMIT_EXCEEDED"
        | "RACE_CONDITION"
        | "OPERATION_IN_PROGRESS"
        | "UNEXPECTED_ERROR"
        | "CONFIGURATION_MODE_ENABLED"
        | "INVALID_SESSION_ID" => ErrorClass::Transient,
        "USERNAME_OR_PASSWORD_INCORRECT"
        | "USER_LOCKED_OUT"
        | "PASSWORD_CHANGE_REQUIRED"
        | "NO_PASSWORD_PROVIDED" => ErrorClass::Config,
        _ => ErrorClass::Permanent,
    }
}

/// One Vault connection: base URL, credentials, the cached session.
pub struct VeevaSession {
    /// The target's name in metrics (`vault`, `sitevault`).
    label: String,
    config: VaultConfig,
    password: Secret,
    http: Client,
    session: tokio::sync::Mutex<Option<String>>,
    /// Set when Vault rejected the credentials: when, and why.
    locked: Mutex<Option<(Instant, String)>>,
    /// `X-VaultAPI-BurstLimitRemaining` from the latest answer (-1 before any).
    burst_remaining: AtomicI64,
}

impl VeevaSession {
    /// `prefix` names the configuration section in errors (`targets.vault`).
    pub fn new(config: VaultConfig, password: Secret, prefix: &str) -> Result<Self, String> {
        let http = http_client::client(config.timeout, &config.tls, &format!("{prefix}.tls"))?;
        Ok(VeevaSession {
            label: prefix
                .strip_prefix("targets.")
                .unwrap_or(prefix)
                .to_string(),
            config,
            password,
            http,
            session: tokio::sync::Mutex::new(None),
            locked: Mutex::new(None),
            burst_remaining: AtomicI64::new(-1),
        })
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// `/api/{version}` + `rest`.
    pub fn api_path(&self, rest: &str) -> String {
        format!("/api/{}{rest}", self.config.api_version)
    }

    /// The latest burst-limit headroom Vault reported, if any.
    pub fn burst_remaining(&self) -> Option<i64> {
        let value = self.burst_remaining.load(Ordering::Relaxed);
        (value >= 0).then_some(value)
    }

    /// Why this Vault cannot be used right now, if its credentials were rejected.
    pub fn config_problem(&self) -> Option<String> {
        let locked = self.locked.lock().expect("lock poisoned");
        locked
            .as_ref()
            .filter(|(since, _)| since.elapsed() < self.config.login_cooldown)
            .map(|(_, why)| why.clone())
    }

    /// Sends one API call with the session, re-logging in once if the session expired.
    /// `build` adds method-specific parts (body, content type) to the prepared builder.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        reference_id: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Value, TargetError> {
        let mut relogged = false;
        loop {
            self.pace().await;
            let session_id = self.session_id().await?;
            let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
            let request = self
                .http
                .request(method.clone(), url)
                .header("Authorization", &session_id)
                .header("Accept", "application/json")
                .header("X-VaultAPI-ClientID", &self.config.client_id)
                .header("X-VaultAPI-ReferenceID", reference_id);
            let answer = http_client::send(&self.label, build(request)).await?;
            self.note_headers(&answer);
            match parse_answer(&answer) {
                Err(e) if e.code.as_str() == "INVALID_SESSION_ID" && !relogged => {
                    tracing::info!(target_api = "vault", "session expired; logging in again");
                    self.forget(&session_id).await;
                    relogged = true;
                }
                other => return other,
            }
        }
    }

    /// Sends a prepared request (its body and content type) with the session.
    pub async fn send(
        &self,
        request: PreparedRequest,
        reference_id: &str,
    ) -> Result<Value, TargetError> {
        let PreparedRequest {
            method,
            path,
            content_type,
            body,
        } = request;
        self.call(method, &path, reference_id, |builder| {
            builder
                .header("Content-Type", content_type)
                .body(body.clone())
        })
        .await
    }

    /// Slows down while Vault's burst headroom is below the reserve.
    async fn pace(&self) {
        let Some(remaining) = self.burst_remaining() else {
            return;
        };
        if remaining < i64::from(self.config.burst_reserve) {
            tracing::debug!(
                target_api = "vault",
                remaining,
                "burst limit close; slowing down"
            );
            tokio::time::sleep(self.config.burst_pause).await;
        }
    }

    async fn session_id(&self) -> Result<String, TargetError> {
        let mut session = self.session.lock().await;
        if let Some(id) = session.as_ref() {
            return Ok(id.clone());
        }
        let id = self.login().await?;
        *session = Some(id.clone());
        Ok(id)
    }

    async fn forget(&self, stale: &str) {
        let mut session = self.session.lock().await;
        if session.as_deref() == Some(stale) {
            *session = None;
        }
    }

    async fn login(&self) -> Result<String, TargetError> {
        if let Some(why) = self.config_problem() {
            return Err(TargetError::config("login_suspended", why));
        }
        let url = format!(
            "{}{}",
            self.config.base_url.trim_end_matches('/'),
            self.api_path("/auth")
        );
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.password.expose()),
        ];
        let request = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .header("X-VaultAPI-ClientID", &self.config.client_id)
            .form(&form);
        let answer = http_client::send(&self.label, request).await?;
        self.note_headers(&answer);
        let body = parse_answer(&answer).inspect_err(|e| {
            if e.class == ErrorClass::Config {
                self.suspend_logins(format!("Vault rejected the login: {}", e.code));
            }
        })?;
        self.check_vault(&body)?;
        body.get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| TargetError::transient("bad_auth_response", "no sessionId in answer"))
    }

    /// Refuses a session for another Vault than the configured one.
    fn check_vault(&self, body: &Value) -> Result<(), TargetError> {
        let got = body.get("vaultId").and_then(Value::as_u64);
        if got == Some(self.config.vault_id) {
            return Ok(());
        }
        let why = format!(
            "login returned a session for Vault {}, not the configured vault_id {}",
            got.map_or("(none)".to_string(), |id| id.to_string()),
            self.config.vault_id
        );
        self.suspend_logins(why.clone());
        Err(TargetError::config("wrong_vault", why))
    }

    fn suspend_logins(&self, why: String) {
        tracing::error!(
            target_api = "vault",
            base_url = %self.config.base_url,
            reason = %why,
            cooldown_secs = self.config.login_cooldown.as_secs(),
            "credentials or Vault rejected; no further logins until the cooldown ends"
        );
        *self.locked.lock().expect("lock poisoned") = Some((Instant::now(), why));
    }

    fn note_headers(&self, answer: &Answer) {
        if let Some(remaining) = answer
            .header("X-VaultAPI-BurstLimitRemaining")
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.burst_remaining.store(remaining, Ordering::Relaxed);
        }
    }
}

/// Reads a Vault answer: non-2xx by status, then `responseStatus` and `errors[].type`.
pub fn parse_answer(answer: &Answer) -> Result<Value, TargetError> {
    if !answer.status.is_success() {
        return Err(answer.status_error());
    }
    let body: Value = serde_json::from_str(&answer.body)
        .map_err(|e| TargetError::transient("bad_response", format!("answer is not JSON: {e}")))?;
    match body.get("responseStatus").and_then(Value::as_str) {
        Some("SUCCESS") | Some("WARNING") => Ok(body),
        Some(status) => Err(failure(status, &body, answer)),
        None => Err(TargetError::transient(
            "bad_response",
            "answer has no responseStatus",
        )),
    }
}

/// The `type` (or `default_type`) and `message` of the first of `errors` in a Vault
/// answer, or in one row of a bulk answer.
pub fn first_error<'a>(body: &'a Value, default_type: &'a str) -> (&'a str, &'a str) {
    let first = body.pointer("/errors/0");
    let text = |key: &str| first.and_then(|e| e.get(key)).and_then(Value::as_str);
    (
        text("type").unwrap_or(default_type),
        text("message").unwrap_or(""),
    )
}

fn failure(status: &str, body: &Value, answer: &Answer) -> TargetError {
    let default_type = if status == "EXCEPTION" {
        "UNEXPECTED_ERROR"
    } else {
        "UNKNOWN_FAILURE"
    };
    let (error_type, message) = first_error(body, default_type);
    let wait = if error_type == "API_LIMIT_EXCEEDED" {
        answer.retry_after().or(Some(Duration::from_secs(60)))
    } else {
        answer.retry_after()
    };
    TargetError::new(
        classify(error_type),
        error_type,
        format!("{status}: {message}"),
    )
    .with_retry_after(wait)
}
