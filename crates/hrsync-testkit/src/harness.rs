//! [`Harness`]: one test's world — its own exchange, queues and store, a simulator in this
//! process, and (unless the test runs worker processes) a worker in this process. Built by
//! [`Harness::builder`]; `stop` deletes what it made, so tests run side by side.

use std::time::Duration;

use hrsync::config::Config;
use hrsync::source::{self, publish, topology};
use hrsync::worker::Worker;
use hrsync_sim::{self as simulator, Simulator, SimulatorConfig};
use lapin::options::QueueDeleteOptions;
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::process::workspace_root;
use crate::sim::SimClient;
use crate::store::{self, StoreKind};
use crate::{
    eventually, eventually_every, ScimConfig, SiteVaultConfig, SuperOfficeConfig, VaultConfig, WAIT,
};

/// The shipped configuration (`config/hrsync.toml`), parsed.
pub fn shipped_config() -> Config {
    let path = workspace_root().join("config/hrsync.toml");
    let text = std::fs::read_to_string(&path).expect("the shipped configuration");
    Config::from_toml(&text).expect("shipped config is valid")
}

/// A change a test makes to the worker's configuration.
type Adjust<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// How a [`Harness`] is made: which store, what simulator, which configuration changes,
/// whether a worker runs in this process.
pub struct HarnessBuilder<'a> {
    store: StoreKind,
    simulator: SimulatorConfig,
    adjust: Vec<Adjust<'a>>,
    with_worker: bool,
}

impl<'a> HarnessBuilder<'a> {
    /// The state store (SQLite unless told).
    pub fn store(mut self, kind: StoreKind) -> Self {
        self.store = kind;
        self
    }

    /// The simulator's settings (its defaults unless told).
    pub fn simulator(mut self, config: SimulatorConfig) -> Self {
        self.simulator = config;
        self
    }

    /// A change to the worker's configuration, applied after the harness pointed it at
    /// its own queues, store and simulator; several apply in order.
    pub fn config(mut self, adjust: impl FnOnce(&mut Config) + 'a) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    /// `shards` consistent-hash shard queues ([`Harness::spawn_worker`] processes consume them).
    pub fn shards(self, shards: u16) -> Self {
        self.config(move |c| c.rabbitmq.shards = shards)
    }

    /// Broker topology, simulator and store, but no worker in this process: for tests that
    /// run the real binary ([`Harness::spawn_worker`]) or none at all.
    pub fn without_worker(mut self) -> Self {
        self.with_worker = false;
        self
    }

    pub async fn start(self) -> Harness {
        Harness::setup(self).await
    }
}

pub struct Harness {
    /// The worker's configuration: the shipped one pointed at this harness.
    pub config: Config,
    /// The simulator's control plane.
    pub sim: SimClient,
    /// The simulator's base URL, as the targets are configured with it.
    pub sim_url: String,
    pub worker: Option<Worker>,
    pub connection: Connection,
    /// A publisher-confirms channel on [`Harness::connection`].
    pub channel: Channel,
    pub http: reqwest::Client,
    pub store_kind: StoreKind,
    /// This harness's name: prefix of its queues and exchanges, its store's schema/folder.
    pub unique: String,
    sim_stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    pub fn builder<'a>() -> HarnessBuilder<'a> {
        HarnessBuilder {
            store: StoreKind::Sqlite,
            simulator: SimulatorConfig::default(),
            adjust: Vec::new(),
            with_worker: true,
        }
    }

    /// `Harness::builder().start()`: SQLite, the default simulator, an in-process worker.
    pub async fn start() -> Harness {
        Self::builder().start().await
    }

    async fn setup(built: HarnessBuilder<'_>) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_url = format!("http://{}", sim_listener.local_addr().unwrap());
        let sim = Simulator::new(SimulatorConfig {
            vault_url: format!("{sim_url}/api"),
            ..built.simulator
        });
        let (sim_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(simulator::serve(sim_listener, sim, async move {
            let _ = stopped.await;
        }));

        let unique = format!("test-{}", uuid::Uuid::new_v4().simple());
        let mut config = shipped_config();
        point_at_this_harness(&mut config, &unique, &sim_url);
        config.store.url = store::fresh(built.store, &unique).await;
        for adjust in built.adjust {
            adjust(&mut config);
        }

        let password = config.rabbitmq.password.resolve().unwrap();
        let connection = source::connect(&config.rabbitmq, &password, "hrsync-test")
            .await
            .expect("RabbitMQ on 127.0.0.1:5672");
        let channel = publish::confirm_channel(&connection).await.unwrap();
        topology::declare(&connection, &config.rabbitmq, &config.retry.all_delays())
            .await
            .unwrap();

        let worker = if built.with_worker {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            Some(Worker::start(config.clone(), listener).await.unwrap())
        } else {
            None
        };
        let harness = Harness {
            config,
            sim: SimClient::new(sim_url.clone()),
            sim_url,
            worker,
            connection,
            channel,
            http: reqwest::Client::new(),
            store_kind: built.store,
            unique,
            sim_stop,
        };
        if harness.worker.is_some() {
            harness.wait_until_consuming().await;
        }
        harness
    }

    pub fn worker(&self) -> &Worker {
        self.worker.as_ref().expect("worker running")
    }

    pub async fn wait_until_consuming(&self) {
        eventually(WAIT, "the worker consuming", || async {
            if self.worker().health.is_consuming() {
                Ok(())
            } else {
                Err("not consuming".to_string())
            }
        })
        .await
    }

    // --- publishing ------------------------------------------------------------------------

    pub async fn publish(&self, event: &Value) {
        publish::publish_event(
            &self.channel,
            &self.config.rabbitmq,
            event.to_string().as_bytes(),
        )
        .await
        .unwrap();
    }

    /// Publishes many events, pipelined: all sent, then all confirms awaited (a quorum
    /// queue confirms after its log is synced, so one-by-one would be slow).
    pub async fn publish_all(&self, events: &[Value]) {
        for event in events {
            let body = event.to_string();
            let properties = BasicProperties::default()
                .with_content_type("application/cloudevents+json".into())
                .with_delivery_mode(2);
            let _pending = self
                .channel
                .basic_publish(
                    self.config.rabbitmq.exchange.as_str().into(),
                    event["type"].as_str().unwrap().into(),
                    Default::default(),
                    body.as_bytes(),
                    properties,
                )
                .await
                .unwrap();
        }
        let returned = self.channel.wait_for_confirms().await.unwrap();
        assert!(returned.is_empty());
    }

    pub async fn publish_raw(&self, routing_key: &str, body: &[u8], properties: BasicProperties) {
        publish::publish_raw(
            &self.channel,
            &self.config.rabbitmq,
            routing_key,
            body,
            properties,
        )
        .await
        .unwrap();
    }

    // --- the in-process worker -------------------------------------------------------------

    /// Waits until `name{labels}` reaches `at_least` in the worker's metrics; on timeout
    /// the failure shows the event and target outcomes so far.
    pub async fn wait_metric(&self, name: &str, labels: &str, at_least: f64, within: Duration) {
        let what = format!("{name}{{{labels}}} reaching {at_least}");
        eventually(within, &what, || async {
            let text = self.metrics_text().await;
            let value = metric(&text, name, labels);
            if value >= at_least {
                return Ok(());
            }
            let outcomes: Vec<&str> = text
                .lines()
                .filter(|l| {
                    (l.starts_with("hrsync_events_total")
                        || l.starts_with("hrsync_target_outcomes_total")
                        || l.starts_with("hrsync_deferrals_total"))
                        && !l.ends_with(" 0")
                })
                .collect();
            Err(format!("{value}; {outcomes:#?}"))
        })
        .await
    }

    /// Waits until the work queue is empty and nothing is in flight.
    pub async fn wait_idle(&self) {
        self.wait_idle_within(WAIT).await
    }

    /// [`Harness::wait_idle`], for longer than [`WAIT`]; idle in two looks 100 ms apart.
    pub async fn wait_idle_within(&self, within: Duration) {
        let idle_before = std::cell::Cell::new(false);
        eventually_every(
            Duration::from_millis(100),
            within,
            "the worker idle",
            || async {
                let depth = self.queue_depth(&self.config.rabbitmq.queue).await;
                let in_flight = self.worker().metrics.in_flight.get();
                let idle = depth == 0 && in_flight == 0;
                let was_idle = idle_before.replace(idle);
                if idle && was_idle {
                    Ok(())
                } else {
                    Err(format!("queue depth {depth}, in flight {in_flight}"))
                }
            },
        )
        .await
    }

    /// `/readyz` of the in-process worker: whether it is ready, and its JSON body.
    pub async fn readyz(&self) -> (bool, Value) {
        let url = format!("http://{}/readyz", self.worker().http_addr);
        let response = self.http.get(url).send().await.unwrap();
        let ready = response.status().is_success();
        (ready, response.json().await.unwrap())
    }

    /// Waits up to `within` until `/readyz` says `ready`; returns its body.
    pub async fn wait_ready(&self, ready: bool, within: Duration) -> Value {
        let what = format!("/readyz {}", if ready { "ready" } else { "unready" });
        eventually(within, &what, || async {
            let (now, body) = self.readyz().await;
            if now == ready {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        })
        .await
    }

    pub async fn metrics_text(&self) -> String {
        let url = format!("http://{}/metrics", self.worker().http_addr);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the worker and the simulator and deletes this test's queues, exchanges and
    /// store.
    pub async fn stop(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
        let rabbit = &self.config.rabbitmq;
        let mut queues = vec![rabbit.queue.clone(), rabbit.dead_letter_queue.clone()];
        queues.extend((0..rabbit.shards).map(|index| topology::shard_queue(rabbit, index)));
        queues.extend(
            self.config
                .retry
                .all_delays()
                .into_iter()
                .map(|delay| topology::retry_queue(rabbit, delay)),
        );
        for queue in queues {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let mut exchanges = vec![rabbit.exchange.clone(), rabbit.dead_letter_exchange.clone()];
        if rabbit.shards > 0 {
            exchanges.push(topology::shard_exchange(rabbit));
        }
        for exchange in exchanges {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await;
        }
        let _ = self.connection.close(200, "test done".into()).await;
        let _ = self.sim_stop.send(());
        store::drop(self.store_kind, &self.unique).await;
    }
}

/// This harness's names and simulator in place of the shipped ones, and delays short
/// enough for tests (deferral 1 s, park 1 s, retries 20–200 ms).
fn point_at_this_harness(config: &mut Config, unique: &str, sim_url: &str) {
    if let Ok(url) = std::env::var("HRSYNC_TEST_AMQP_URL") {
        config.rabbitmq.url = url;
    }
    config.rabbitmq.exchange = format!("{unique}.hr");
    config.rabbitmq.queue = format!("{unique}.events");
    config.rabbitmq.dead_letter_exchange = format!("{unique}.dlx");
    config.rabbitmq.dead_letter_queue = format!("{unique}.dlq");
    config.rabbitmq.reconnect_max_delay = Duration::from_secs(1);
    config.rabbitmq.connection_name = format!("{unique}-worker");
    config.retry.deferral_delays = vec![Duration::from_secs(1).into()];
    config.retry.park_delay = Duration::from_secs(1);
    config.schedule.poll_interval = Duration::from_millis(200);
    config.retry.initial_delay = Duration::from_millis(20);
    config.retry.max_delay = Duration::from_millis(200);
    config.retry.budget = Duration::from_secs(10);
    config.worker.shutdown_grace = Duration::from_secs(5);
    config.edit_target(|v: &mut VaultConfig| v.base_url = sim_url.to_string());
    config.edit_target(|v: &mut SiteVaultConfig| v.0.base_url = sim_url.to_string());
    config.edit_target(|so: &mut SuperOfficeConfig| {
        so.base_url = sim_url.to_string();
        so.rate_limit_per_second = 1000;
    });
    config.edit_target(|s: &mut ScimConfig| s.base_url = format!("{sim_url}/api/scim/v2"));
}

/// A sample's value in Prometheus text, by name and exact label set (`a="x",b="y"`); 0
/// when absent.
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let needle = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&needle))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}
