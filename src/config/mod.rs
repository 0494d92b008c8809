//! Typed configuration with layered sources: the shipped TOML file, then environment
//! variables (`HRSYNC_` prefix, `__` between levels, e.g. `HRSYNC_RABBITMQ__PREFETCH=64`),
//! then secrets resolved from files or the environment.
//!
//! Unknown keys and bad values are rejected at start-up with a message naming the key, so a
//! typo in a Kubernetes ConfigMap fails the rollout instead of silently using a default.

pub mod reference;

pub use crate::secret::{Secret, SecretSource};
pub use crate::tls::TlsConfig;

use crate::mapping::MappingConfig;
use crate::targets::{registry, TargetConfig};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file used when neither `--config` nor `HRSYNC_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/hrsync.toml";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
    pub rabbitmq: RabbitMqConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub breaker: BreakerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub guard: GuardConfig,
    /// One section per target, each read and checked by its own plugin
    /// (`targets::registry`).
    #[schemars(schema_with = "registry::config_schema")]
    pub targets: BTreeMap<String, serde_json::Value>,
    pub mapping: MappingConfig,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Messages handled at once. One employee's events are never handled concurrently.
    pub concurrency: usize,
    /// How long SIGTERM waits for in-flight messages before returning them to the queue.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Larger messages are dead-lettered unread.
    pub max_body_bytes: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 8,
            shutdown_grace: Duration::from_secs(25),
            max_body_bytes: crate::event::MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".parse().expect("valid default address"),
        }
    }
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
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// `amqp://host:port/vhost`, without credentials.
    pub url: String,
    #[serde(default = "RabbitMqConfig::default_username")]
    pub username: String,
    /// The broker password (a secret).
    pub password: SecretSource,
    /// The topic exchange HR publishes to.
    #[serde(default = "RabbitMqConfig::default_exchange")]
    pub exchange: String,
    /// Routing keys binding the work queue to the exchange.
    #[serde(default = "RabbitMqConfig::default_binding_keys")]
    pub binding_keys: Vec<String>,
    /// The durable quorum queue hrsync consumes.
    #[serde(default = "RabbitMqConfig::default_queue")]
    pub queue: String,
    /// Where dead letters are published (fanout), with the reason in headers.
    #[serde(default = "RabbitMqConfig::default_dead_letter_exchange")]
    pub dead_letter_exchange: String,
    /// The durable classic queue holding dead letters (`hrsync dlq list`).
    #[serde(default = "RabbitMqConfig::default_dead_letter_queue")]
    pub dead_letter_queue: String,
    /// Unacknowledged messages the broker hands over at once.
    #[serde(default = "RabbitMqConfig::default_prefetch")]
    pub prefetch: u16,
    /// Broker-side backstop: after this many deliveries of one message (e.g. a message
    /// that crashes the worker) the broker dead-letters it.
    #[serde(default = "RabbitMqConfig::default_delivery_limit")]
    pub delivery_limit: u32,
    /// Shard queues (0 = one work queue). With N shards, the work queue is consumed by
    /// one router at a time (single active consumer) that sends each message, by employee,
    /// through a consistent-hash exchange to one of N shard queues, each consumed by one
    /// replica at a time: any number of replicas share the work and one employee's events
    /// stay in order. Needs the `rabbitmq_consistent_hash_exchange` plugin and a shared
    /// (PostgreSQL) store. Changing it needs new queues (queue arguments differ).
    #[serde(default)]
    pub shards: u16,
    /// Shown in RabbitMQ's connection list (`rabbitmqctl list_connections client_properties`).
    #[serde(default = "RabbitMqConfig::default_connection_name")]
    pub connection_name: String,
    /// Longest pause between reconnection attempts.
    #[schemars(with = "String")]
    #[serde(
        default = "RabbitMqConfig::default_reconnect_max_delay",
        with = "humantime_serde"
    )]
    pub reconnect_max_delay: Duration,
    /// TLS for `amqps://` URLs: a private CA, a client certificate for mutual TLS.
    #[serde(default)]
    pub tls: TlsConfig,
}

impl RabbitMqConfig {
    fn default_username() -> String {
        "guest".into()
    }
    fn default_exchange() -> String {
        "hr.events".into()
    }
    fn default_binding_keys() -> Vec<String> {
        vec!["hr.employee.#".into()]
    }
    fn default_queue() -> String {
        "hrsync.events".into()
    }
    fn default_dead_letter_exchange() -> String {
        "hrsync.dead-letter".into()
    }
    fn default_dead_letter_queue() -> String {
        "hrsync.dead-letter".into()
    }
    fn default_connection_name() -> String {
        "hrsync-worker".into()
    }
    fn default_prefetch() -> u16 {
        32
    }
    fn default_delivery_limit() -> u32 {
        20
    }
    fn default_reconnect_max_delay() -> Duration {
        Duration::from_secs(30)
    }
}

/// Retries of transient target errors. First in process: exponential backoff with full
/// jitter, `Retry-After` honoured, bounded by attempts and by time. Past that budget the
/// message waits in a delayed-retry queue (freeing its consumer slot) and comes back;
/// after `max_deferrals` such rounds it is dead-lettered.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First in-process backoff (exponential, with full jitter).
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Longest in-process backoff.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// In-process attempts per target operation, the first included.
    pub max_attempts: usize,
    /// Time one operation may spend retrying in process before it is deferred.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub budget: Duration,
    /// Waits in the delayed-retry queue, by round; the last repeats.
    #[schemars(with = "Vec<String>")]
    pub deferral_delays: Vec<humantime_serde::Serde<Duration>>,
    /// Rounds through the delayed-retry queue before the message is dead-lettered.
    pub max_deferrals: u32,
    /// Wait for work parked because a target's circuit breaker is open (not counted as a round).
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub park_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_attempts: 5,
            budget: Duration::from_secs(30),
            deferral_delays: [30, 120, 600, 1800]
                .into_iter()
                .map(|s| Duration::from_secs(s).into())
                .collect(),
            max_deferrals: 12,
            park_delay: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// The delayed-retry wait for round `round` (1-based).
    pub fn deferral_delay(&self, round: u32) -> Duration {
        let index = (round.max(1) as usize - 1).min(self.deferral_delays.len().saturating_sub(1));
        self.deferral_delays
            .get(index)
            .map(|d| **d)
            .unwrap_or(Duration::from_secs(60))
    }

    /// Every distinct wait a retry queue is needed for.
    pub fn all_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = self.deferral_delays.iter().map(|d| **d).collect();
        delays.push(self.park_delay);
        delays.sort();
        delays.dedup();
        delays
    }
}

/// Per-target circuit breaker.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open before one probe is let through.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// Effective dating: when a future-dated change falls due, in the HR system's time zone.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// IANA time zone the effective dates are meant in, e.g. `Europe/Lisbon`.
    pub timezone: String,
    /// Local time on the effective day a leaver is applied (`23:59`: end of the last day).
    pub leaver_time: String,
    /// Local time a mover is applied on its effective day.
    pub mover_time: String,
    /// Joiners get access this many days before their first day …
    pub joiner_days_early: u32,
    /// … at this local time.
    pub joiner_time: String,
    /// How often due messages are looked for.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            timezone: "UTC".into(),
            leaver_time: "23:59".into(),
            mover_time: "00:00".into(),
            joiner_days_early: 1,
            joiner_time: "06:00".into(),
            poll_interval: Duration::from_secs(30),
        }
    }
}

/// The mass-deprovision guard: past this many leavers in a rolling window, deprovisioning
/// is staged for an operator instead of applied.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// On by default: an HR feed gone wrong must not lock out the company.
    pub enabled: bool,
    /// The rolling window leavers are counted in.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// At most this many leavers per window …
    pub max_absolute: u64,
    /// … or this percentage of known accounts, whichever is lower …
    pub max_percent: f64,
    /// … but never fewer than this (small directories).
    pub floor: u64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            enabled: true,
            window: Duration::from_secs(24 * 3600),
            max_absolute: 50,
            max_percent: 10.0,
            floor: 5,
        }
    }
}

/// The state store: SQLite for one replica, PostgreSQL when several share it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/hrsync.db` or `postgres://user@host/db` (a password belongs in
    /// `password`, not here).
    pub url: String,
    /// The PostgreSQL password (a secret), if the server needs one.
    pub password: Option<SecretSource>,
    /// How long processed event ids are remembered for dedupe.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often processed event ids past the retention are deleted.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://data/hrsync.db".into(),
            password: None,
            retention: Duration::from_secs(30 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

/// A configuration that could not be loaded. Each line names where the value came from
/// (the file, or the environment variable), the key, and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Load(Vec<String>),
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// `source: key: reason` for each error figment collected.
fn describe_load_error(error: figment::Error) -> Vec<String> {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match &e.metadata {
                Some(meta) => match &meta.source {
                    Some(figment::Source::File(path)) => path.display().to_string(),
                    _ if meta.name.contains("environment") => format!(
                        "environment variable HRSYNC_{}",
                        e.path.join("__").to_uppercase()
                    ),
                    _ => meta.name.to_string(),
                },
                None => "configuration".to_string(),
            };
            if key.is_empty() {
                format!("{source}: {}", e.kind)
            } else {
                format!("{source}: {key}: {}", e.kind)
            }
        })
        .collect()
}

impl Config {
    /// Loads the file at `path`, applies `HRSYNC_*` overrides, and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed("HRSYNC_").split("__").ignore(&["config"]));
        Self::from_figment(figment).map_err(|e| match e {
            ConfigError::Invalid(errors) => ConfigError::Invalid(
                errors
                    .into_iter()
                    .map(|line| format!("{}: {line}", path.display()))
                    .collect(),
            ),
            other => other,
        })
    }

    /// Parses TOML text alone (tests and tools).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    /// The section of target `C`, read (`None` when the configuration has none).
    pub fn target<C: TargetConfig>(&self) -> Option<C> {
        let section = self.targets.get(C::NAME)?;
        serde_json::from_value(section.clone()).ok()
    }

    /// Changes the section of target `C` (tests and tools build configurations this way).
    pub fn edit_target<C: TargetConfig>(&mut self, change: impl FnOnce(&mut C)) {
        let mut config = self
            .target::<C>()
            .unwrap_or_else(|| panic!("no valid [targets.{}] to edit", C::NAME));
        change(&mut config);
        let section = serde_json::to_value(&config).expect("target configuration serialises");
        self.targets.insert(C::NAME.to_string(), section);
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(describe_load_error(e)))?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// Checks what types alone cannot: URLs, names, limits, mapping expressions and allow-lists.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.validate_worker(&mut errors);
        self.validate_rabbitmq(&mut errors);
        registry::check(&self.targets, &mut errors);
        if let Err(mapping_errors) = crate::mapping::Mapper::new(&self.mapping) {
            errors.extend(mapping_errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validate_worker(&self, errors: &mut Vec<String>) {
        if let Err(why) = check_log_level(&self.log.level) {
            errors.push(format!("log.level: {why}"));
        }
        if self.worker.concurrency == 0 {
            errors.push("worker.concurrency: must be at least 1".into());
        }
        if self.retry.max_attempts == 0 {
            errors.push("retry.max_attempts: must be at least 1".into());
        }
        if self.retry.initial_delay > self.retry.max_delay {
            errors.push("retry.initial_delay: must not exceed retry.max_delay".into());
        }
        if self.retry.deferral_delays.is_empty() {
            errors.push("retry.deferral_delays: must list at least one wait".into());
        }
        if self.retry.all_delays().iter().any(|d| d.is_zero()) {
            errors.push("retry.deferral_delays: waits must be above zero".into());
        }
        self.validate_schedule(errors);
        if !(0.0..=100.0).contains(&self.guard.max_percent) {
            errors.push("guard.max_percent: must be between 0 and 100".into());
        }
        if self.guard.window.is_zero() {
            errors.push("guard.window: must be above zero".into());
        }
        let url = &self.store.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            errors.push("store.url: must start with sqlite: or postgres://".into());
        } else if url.starts_with("postgres")
            && url
                .split('@')
                .next()
                .is_some_and(|userinfo| userinfo.matches(':').count() > 1)
        {
            errors.push("store.url: must not contain a password; use store.password".into());
        }
    }

    fn validate_schedule(&self, errors: &mut Vec<String>) {
        let schedule = &self.schedule;
        if jiff::tz::TimeZone::get(&schedule.timezone).is_err() {
            errors.push(format!(
                "schedule.timezone: unknown time zone {:?}",
                schedule.timezone
            ));
        }
        for (key, value) in [
            ("schedule.leaver_time", &schedule.leaver_time),
            ("schedule.mover_time", &schedule.mover_time),
            ("schedule.joiner_time", &schedule.joiner_time),
        ] {
            if value.parse::<jiff::civil::Time>().is_err() {
                errors.push(format!(
                    "{key}: not a time of day like 23:59, got {value:?}"
                ));
            }
        }
        if schedule.poll_interval.is_zero() {
            errors.push("schedule.poll_interval: must be above zero".into());
        }
    }

    fn validate_rabbitmq(&self, errors: &mut Vec<String>) {
        let rabbit = &self.rabbitmq;
        match rabbit.url.parse::<lapin::uri::AMQPUri>() {
            Err(e) => errors.push(format!("rabbitmq.url: not an AMQP URL ({e})")),
            Ok(_) if rabbit.url.contains('@') => errors.push(
                "rabbitmq.url: must not contain credentials; use rabbitmq.username and rabbitmq.password".into(),
            ),
            Ok(_) => {}
        }
        if rabbit.prefetch == 0 {
            errors.push("rabbitmq.prefetch: must be at least 1".into());
        }
        rabbit.tls.validate("rabbitmq.tls", errors);
        if usize::from(rabbit.prefetch) < self.worker.concurrency {
            errors.push(format!(
                "rabbitmq.prefetch: {} is below worker.concurrency {}; workers would idle",
                rabbit.prefetch, self.worker.concurrency
            ));
        }
        for (key, name) in [
            ("rabbitmq.exchange", &rabbit.exchange),
            ("rabbitmq.queue", &rabbit.queue),
            (
                "rabbitmq.dead_letter_exchange",
                &rabbit.dead_letter_exchange,
            ),
            ("rabbitmq.dead_letter_queue", &rabbit.dead_letter_queue),
        ] {
            if name.is_empty() || name.len() > 255 || name.starts_with("amq.") {
                errors.push(format!(
                    "{key}: must be 1-255 bytes and not start with \"amq.\""
                ));
            }
        }
        if rabbit.binding_keys.is_empty() {
            errors.push("rabbitmq.binding_keys: must name at least one routing key".into());
        }
    }
}

#[cfg(test)]
mod tests;

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
