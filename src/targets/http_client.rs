//! The HTTP plumbing every target shares: one pooled client per target with its timeout,
//! and reading an answer into status, headers and text with transport errors classified.

use super::TargetError;
use crate::tls::TlsConfig;
use prometheus::{IntCounterVec, Opts};
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use std::sync::LazyLock;
use std::time::Duration;

/// Builds a client with a request timeout, an identifying user agent and the target's TLS
/// settings (checked when the configuration was validated).
pub fn client(timeout: Duration, tls: &TlsConfig, prefix: &str) -> Result<Client, String> {
    let files = tls.load(prefix).map_err(|errors| errors.join("; "))?;
    let builder = Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("hrsync/", env!("CARGO_PKG_VERSION")));
    files
        .for_http(builder)
        .map_err(|why| format!("{prefix}: {why}"))?
        .build()
        .map_err(|e| format!("{prefix}: cannot build the HTTP client: {e}"))
}

/// An HTTP answer read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// `Retry-After` in seconds, if the target sent one (HTTP dates are rare on APIs and
    /// treated as absent).
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A non-2xx status as a classified error carrying `Retry-After`; the body is cut short
    /// because error pages can be large.
    pub fn status_error(&self) -> TargetError {
        let snippet: String = self.body.chars().take(300).collect();
        TargetError::from_status(self.status, format!("HTTP {}: {snippet}", self.status))
            .with_retry_after(self.retry_after())
    }
}

/// Every HTTP request a target client sent, by `target` and the answer's `class` (`2xx`…
/// `5xx`, or `error` when none came) — logins, reads, pages and retries each count, where
/// `hrsync_target_requests_total` counts operations. Process-wide, like the `process_*`
/// metrics: the clients are built before any worker's registry, and every registry
/// exports this one counter.
pub fn api_calls() -> &'static IntCounterVec {
    static CALLS: LazyLock<IntCounterVec> = LazyLock::new(|| {
        IntCounterVec::new(
            Opts::new(
                "hrsync_target_api_calls_total",
                "HTTP requests sent to the target APIs, by target and answer class",
            ),
            &["target", "class"],
        )
        .expect("valid metric")
    });
    &CALLS
}

/// Sends a request for `target` and reads the whole answer, counting the call.
pub async fn send(target: &str, request: RequestBuilder) -> Result<Answer, TargetError> {
    let answer = read(request).await;
    let class = match &answer {
        Ok(answer) => match answer.status.as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
        Err(_) => "error",
    };
    api_calls().with_label_values(&[target, class]).inc();
    answer
}

async fn read(request: RequestBuilder) -> Result<Answer, TargetError> {
    let response = request
        .send()
        .await
        .map_err(|e| TargetError::from_transport(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .map_err(|e| TargetError::from_transport(&e))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A target's base URL must be absolute http(s).
pub fn validate_base_url(key: &str, url: &str, errors: &mut Vec<String>) {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        _ => errors.push(format!("{key}: not an absolute http(s) URL")),
    }
}
