//! The consumer's settings: how many messages at once (`[worker]`) and the broker
//! connection and topology (`[rabbitmq]`), with their validation.

use crate::secret::SecretSource;
use crate::tls::TlsConfig;
use serde::Deserialize;
use std::time::Duration;

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

impl WorkerConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        if self.concurrency == 0 {
            errors.push("worker.concurrency: must be at least 1".into());
        }
    }
}

impl RabbitMqConfig {
    pub fn validate(&self, worker: &WorkerConfig, errors: &mut Vec<String>) {
        match self.url.parse::<lapin::uri::AMQPUri>() {
            Err(e) => errors.push(format!("rabbitmq.url: not an AMQP URL ({e})")),
            Ok(_) if self.url.contains('@') => errors.push(
                "rabbitmq.url: must not contain credentials; use rabbitmq.username and rabbitmq.password".into(),
            ),
            Ok(_) => {}
        }
        if self.prefetch == 0 {
            errors.push("rabbitmq.prefetch: must be at least 1".into());
        }
        self.tls.validate("rabbitmq.tls", errors);
        if usize::from(self.prefetch) < worker.concurrency {
            errors.push(format!(
                "rabbitmq.prefetch: {} is below worker.concurrency {}; workers would idle",
                self.prefetch, worker.concurrency
            ));
        }
        for (key, name) in [
            ("rabbitmq.exchange", &self.exchange),
            ("rabbitmq.queue", &self.queue),
            ("rabbitmq.dead_letter_exchange", &self.dead_letter_exchange),
            ("rabbitmq.dead_letter_queue", &self.dead_letter_queue),
        ] {
            if name.is_empty() || name.len() > 255 || name.starts_with("amq.") {
                errors.push(format!(
                    "{key}: must be 1-255 bytes and not start with \"amq.\""
                ));
            }
        }
        if self.binding_keys.is_empty() {
            errors.push("rabbitmq.binding_keys: must name at least one routing key".into());
        }
    }
}
