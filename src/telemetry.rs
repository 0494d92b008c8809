//! Logging set-up, in one place: JSON lines by default (for log shippers), text for humans.
//! Event handling runs inside a span carrying `event_id` and `employee_id`, so every line
//! about an event can be found by either id. Names, e-mails and secrets are never logged.

use crate::config::{LogConfig, LogFormat};
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

/// Installs the global subscriber. `RUST_LOG` overrides the configured level (but not the
/// cap on the frame loggers).
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.and(frame_logger_cap());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match config.format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
