//! Logging set-up, in one place: JSON lines by default (for log shippers), text for humans.
//! Event handling runs inside a span carrying `event_id` and `employee_id`, so every line
//! about an event can be found by either id. Names, e-mails and secrets are never logged.
//!
//! # The JSON line
//!
//! One flat object a line, so a log shipper indexes every key without unnesting:
//! `timestamp` (RFC 3339, UTC), `level` (`INFO`…), `target` (the Rust module), `message`,
//! the event's own fields, and the fields of the span it happened in — `event_id`,
//! `employee_id` on everything about an event — at the top level, never nested under
//! `span`. Text output has colours only on a terminal.

pub mod traces;

use serde::Deserialize;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Libraries whose debug and trace output carries protocol frames or connection set-up
/// verbatim — the AMQP `connection.start-ok` frame holds the broker password, HTTP/2 and
/// TLS frames the `Authorization` headers. They never log below `info`, whatever
/// `RUST_LOG` asks for: no secret at any log level.
const FRAME_LOGGERS: [&str; 9] = [
    "lapin",
    "amq_protocol",
    "amq_protocol_types",
    "amq_protocol_tcp",
    "amq_protocol_uri",
    "pinky_swear",
    "h2",
    "hyper",
    "rustls",
];

/// The cap the frame loggers are held to (the AMQP, HTTP/2 and TLS libraries).
pub fn frame_logger_cap() -> Targets {
    FRAME_LOGGERS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, name| t.with_target(*name, LevelFilter::INFO),
    )
}

/// What [`init`] installed that must outlive the worker: the trace exporter, flushed when
/// this is dropped.
#[must_use = "dropping it stops the trace export"]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes the spans not yet exported (off the runtime's threads: the exporter's
    /// calls run on them).
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.traces.take() {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the configured level (but not the
/// cap on the frame loggers). Traces go to `log.otlp_endpoint` when it is set.
pub fn init(config: &LogConfig) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.and(frame_logger_cap());
    let layer = match config.format {
        LogFormat::Json => {
            let mut json = json_subscriber::JsonLayer::stderr();
            json.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
                .with_level("level")
                .with_target("target")
                .with_flattened_event()
                // The current span's fields, serialised once when the span records them
                // (hrsync's one span, `event`, carries the ids): cheaper per line than
                // merging the whole span list anew.
                .with_top_level_flattened_current_span();
            json.with_filter(filter).boxed()
        }
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
    };
    let provider = config.otlp_endpoint.as_deref().and_then(|endpoint| {
        traces::provider(endpoint)
            .inspect_err(|why| eprintln!("traces are not exported: {why}"))
            .ok()
    });
    // hrsync's own spans only (not the libraries'), at info and above.
    let traces = provider.as_ref().map(|provider| {
        traces::layer(provider).with_filter(
            Targets::new()
                .with_target("hrsync", LevelFilter::INFO)
                .with_default(LevelFilter::OFF),
        )
    });
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(traces)
        .try_init();
    Telemetry { traces: provider }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` lines (for log shippers) or `text` (for humans).
    pub format: LogFormat,
    /// A tracing filter directive; `RUST_LOG` overrides it.
    pub level: String,
    /// Export OpenTelemetry traces (one per HR event, continuing a CloudEvents
    /// `traceparent`) to this OTLP/HTTP traces URL, e.g.
    /// `http://otel-collector:4318/v1/traces`. Off when unset.
    pub otlp_endpoint: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
            otlp_endpoint: None,
        }
    }
}

impl LogConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        if let Err(why) = check_log_level(&self.level) {
            errors.push(format!("log.level: {why}"));
        }
        if let Some(url) = &self.otlp_endpoint {
            crate::targets::http_client::validate_base_url("log.otlp_endpoint", url, errors);
        }
    }
}

/// A `log.level` must say something: each comma-separated directive is a level or
/// `target=level`. A bare word that is no level (`inof`) would be read as "everything of
/// target inof, nothing else" and silently switch all logging off.
fn check_log_level(level: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    if level.trim().is_empty() {
        return Err(format!("empty; use one of {}", LEVELS.join(", ")));
    }
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.rsplit_once('=') {
            Some((target, lvl)) if !target.is_empty() && is_level(lvl) => {}
            Some(_) => {
                return Err(format!(
                    "{directive:?}: expected target=level with a level of {}",
                    LEVELS.join(", ")
                ))
            }
            None if is_level(directive) => {}
            None => {
                return Err(format!(
                    "{directive:?} is no level ({}); write target=level to set one library's level",
                    LEVELS.join(", ")
                ))
            }
        }
    }
    tracing_subscriber::EnvFilter::try_new(level)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
