//! Test harness: a real RabbitMQ (127.0.0.1:5672, or `HRSYNC_TEST_AMQP_URL`), the target
//! simulator and the worker, all in this process. Every harness uses its own exchange and
//! queue names, so tests run in parallel, and deletes its queues when it stops. Assertions
//! read what arrived at the simulator (`/_sim/requests`) and what landed in the
//! dead-letter queue — not what the worker believes it did.
#![allow(dead_code)]

mod staff;

use hrsync::config::Config;
use hrsync::simulator::{self, Simulator, SimulatorConfig};
use hrsync::source::{self, headers, publish};
pub use hrsync::targets::scim::ScimConfig;
pub use hrsync::targets::sitevault::SiteVaultConfig;
pub use hrsync::targets::superoffice::SuperOfficeConfig;
pub use hrsync::targets::vault::VaultConfig;
use hrsync::worker::Worker;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub const WAIT: Duration = Duration::from_secs(20);

/// Which state store a harness's worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

pub const BOTH_STORES: [StoreKind; 2] = [StoreKind::Sqlite, StoreKind::Postgres];

fn postgres_url() -> String {
    std::env::var("HRSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh store location: a SQLite file in a new folder, or a new PostgreSQL schema.
async fn fresh_store(kind: StoreKind, unique: &str) -> String {
    match kind {
        StoreKind::Sqlite => format!(
            "sqlite://{}/{unique}/hrsync.db",
            std::env::temp_dir().display()
        ),
        StoreKind::Postgres => {
            use sqlx::{Connection, Executor};
            let mut admin = sqlx::PgConnection::connect(&postgres_url())
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            admin
                .execute(format!("CREATE SCHEMA \"{unique}\"").as_str())
                .await
                .unwrap();
            let _ = admin.close().await;
            format!("{}?options=-c%20search_path%3D{unique}", postgres_url())
        }
    }
}

async fn drop_store(kind: StoreKind, unique: &str) {
    match kind {
        StoreKind::Sqlite => {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(unique));
        }
        StoreKind::Postgres => {
            use sqlx::{Connection, Executor};
            if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_url()).await {
                let _ = admin
                    .execute(format!("DROP SCHEMA \"{unique}\" CASCADE").as_str())
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}

pub struct Harness {
    pub config: Config,
    pub sim_url: String,
    pub worker: Option<Worker>,
    pub connection: Connection,
    pub channel: Channel,
    pub http: reqwest::Client,
    pub store_kind: StoreKind,
    pub unique: String,
    sim_stop: tokio::sync::oneshot::Sender<()>,
}

/// A dead letter as read back from the dead-letter queue.
#[derive(Debug)]
pub struct Letter {
    pub headers: BTreeMap<String, Value>,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl Letter {
    pub fn header(&self, name: &str) -> String {
        match self.headers.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => panic!("dead letter has no header {name}: {:?}", self.headers),
        }
    }
}

pub fn shipped_config() -> Config {
    let text =
        std::fs::read_to_string("config/hrsync.toml").expect("run tests from the crate root");
    Config::from_toml(&text).expect("shipped config is valid")
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}, SimulatorConfig::default()).await
    }

    /// Starts a simulator and a worker whose config `adjust` may change.
    pub async fn start_with(
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
    ) -> Harness {
        Self::start_on(StoreKind::Sqlite, adjust, sim_config).await
    }

    /// The same, with the state store of `kind`.
    pub async fn start_on(
        store_kind: StoreKind,
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
    ) -> Harness {
        Self::setup(store_kind, adjust, sim_config, true).await
    }

    /// Broker topology, simulator and store, but no worker: for tests that run the worker
    /// as a separate process ([`Harness::spawn_worker`]).
    pub async fn start_without_worker(
        store_kind: StoreKind,
        sim_config: SimulatorConfig,
    ) -> Harness {
        Self::setup(store_kind, |_| {}, sim_config, false).await
    }

    /// The same, with `shards` shard queues for the worker processes.
    pub async fn start_sharded(
        store_kind: StoreKind,
        sim_config: SimulatorConfig,
        shards: u16,
    ) -> Harness {
        Self::setup(
            store_kind,
            |c| c.rabbitmq.shards = shards,
            sim_config,
            false,
        )
        .await
    }

    async fn setup(
        store_kind: StoreKind,
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
        with_worker: bool,
    ) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_addr = sim_listener.local_addr().unwrap();
        let sim_url = format!("http://{sim_addr}");
        let sim = Simulator::new(SimulatorConfig {
            vault_url: format!("{sim_url}/api"),
            ..sim_config
        });
        let (sim_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(simulator::serve(sim_listener, sim, async move {
            let _ = stopped.await;
        }));

        let mut config = shipped_config();
        let unique = format!("test-{}", uuid::Uuid::new_v4().simple());
        if let Ok(url) = std::env::var("HRSYNC_TEST_AMQP_URL") {
            config.rabbitmq.url = url;
        }
        config.rabbitmq.exchange = format!("{unique}.hr");
        config.rabbitmq.queue = format!("{unique}.events");
        config.rabbitmq.dead_letter_exchange = format!("{unique}.dlx");
        config.rabbitmq.dead_letter_queue = format!("{unique}.dlq");
        config.rabbitmq.reconnect_max_delay = Duration::from_secs(1);
        config.rabbitmq.connection_name = format!("{unique}-worker");
        config.store.url = fresh_store(store_kind, &unique).await;
        config.retry.deferral_delays = vec![Duration::from_secs(1).into()];
        config.retry.park_delay = Duration::from_secs(1);
        config.schedule.poll_interval = Duration::from_millis(200);
        config.retry.initial_delay = Duration::from_millis(20);
        config.retry.max_delay = Duration::from_millis(200);
        config.retry.budget = Duration::from_secs(10);
        config.worker.shutdown_grace = Duration::from_secs(5);
        config.edit_target(|v: &mut VaultConfig| v.base_url = sim_url.clone());
        config.edit_target(|v: &mut SiteVaultConfig| v.0.base_url = sim_url.clone());
        config.edit_target(|so: &mut SuperOfficeConfig| {
            so.base_url = sim_url.clone();
            so.rate_limit_per_second = 1000;
        });
        config.edit_target(|s: &mut ScimConfig| s.base_url = format!("{sim_url}/api/scim/v2"));
        adjust(&mut config);

        let password = config.rabbitmq.password.resolve().unwrap();
        let connection = source::connect(&config.rabbitmq, &password, "hrsync-test")
            .await
            .expect("RabbitMQ on 127.0.0.1:5672");
        let channel = publish::confirm_channel(&connection).await.unwrap();
        source::topology::declare(&connection, &config.rabbitmq, &config.retry.all_delays())
            .await
            .unwrap();

        let worker = if with_worker {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            Some(Worker::start(config.clone(), listener).await.unwrap())
        } else {
            None
        };
        let harness = Harness {
            config,
            sim_url,
            worker,
            connection,
            channel,
            http: reqwest::Client::new(),
            store_kind,
            unique,
            sim_stop,
        };
        if with_worker {
            harness.wait_until_consuming().await;
        }
        harness
    }

    pub fn worker(&self) -> &Worker {
        self.worker.as_ref().expect("worker running")
    }

    pub async fn wait_until_consuming(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.worker().health.is_consuming() {
            assert!(Instant::now() < deadline, "worker never started consuming");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

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

    // --- the simulator -------------------------------------------------------------------

    pub async fn sim_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sim_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn fault(&self, fault: Value) {
        let status = self
            .http
            .post(format!("{}/_sim/faults", self.sim_url))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "fault not accepted: {status}");
    }

    /// Waits until `name{labels}` reaches `at_least` in the worker's metrics; on timeout
    /// the failure shows the event and target outcomes so far.
    pub async fn wait_metric(&self, name: &str, labels: &str, at_least: f64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let text = self.metrics_text().await;
            let value = metric(&text, name, labels);
            if value >= at_least {
                return;
            }
            if Instant::now() > deadline {
                let outcomes: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        (l.starts_with("hrsync_events_total")
                            || l.starts_with("hrsync_target_outcomes_total")
                            || l.starts_with("hrsync_deferrals_total"))
                            && !l.ends_with(" 0")
                    })
                    .collect();
                panic!("{name}{{{labels}}} stayed at {value}, wanted {at_least}; {outcomes:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn expire_vault_sessions(&self) {
        let status = self
            .http
            .post(format!("{}/_sim/vault/expire-sessions", self.sim_url))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }

    /// Requests the simulator received for `target`, auth calls included.
    pub async fn requests(&self, target: &str) -> Vec<Value> {
        self.sim_get(&format!("/_sim/requests?target={target}"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// Requests for `target` with this method, auth excluded.
    pub async fn writes(&self, target: &str, method: &str) -> Vec<Value> {
        self.requests(target)
            .await
            .into_iter()
            .filter(|r| {
                r["method"] == method && !r["path"].as_str().unwrap_or("").ends_with("/auth")
            })
            .collect()
    }

    /// Waits until at least `n` such requests arrived.
    pub async fn wait_for_writes(&self, target: &str, method: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.writes(target, method).await;
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} {method} requests to {target}, got {}: {found:#?}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn user(&self, target: &str, id: &str) -> Value {
        self.sim_get(&format!("/_sim/users/{target}/{id}")).await
    }

    /// Replaces (or creates) one account in the simulator.
    pub async fn seed(&self, target: &str, id: &str, record: Value) {
        let url = format!("{}/_sim/users/{target}/{id}", self.sim_url);
        let status = self
            .http
            .put(url)
            .json(&record)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "seeding {target}/{id}: {status}");
    }

    /// A SiteVault person of the seeded organisation holding `sites` with `role`.
    pub async fn seed_person(&self, org_role: &str, sites: &[(&str, &str)]) {
        let site_assignments: Vec<Value> = sites
            .iter()
            .map(|(usn, role)| json!({"site_usn": usn, "system_role_id": role}))
            .collect();
        self.seed(
            "sitevault",
            "V0B000000001001",
            json!({
                "id": "V0B000000001001", "username": "ana.silva@verteo.example",
                "email": "ana.silva@verteo.example", "is_investigator": false,
                "record_status": "active__v",
                "assignments": {
                    "org_assignment": {"org_id": "V42000000001001", "system_role_id": org_role},
                    "site_assignments": site_assignments
                }
            }),
        )
        .await;
    }

    pub async fn auth_calls(&self) -> u64 {
        self.sim_get("/_sim/stats").await["auth_calls"]
            .as_u64()
            .unwrap()
    }

    // --- RabbitMQ --------------------------------------------------------------------------

    /// Takes up to `n` dead letters, waiting for them up to [`WAIT`].
    pub async fn dead_letters(&self, n: usize) -> Vec<Letter> {
        let deadline = Instant::now() + WAIT;
        let mut letters = Vec::new();
        while letters.len() < n {
            match self
                .channel
                .basic_get(
                    self.config.rabbitmq.dead_letter_queue.as_str().into(),
                    BasicGetOptions::default(),
                )
                .await
                .unwrap()
            {
                Some(message) => {
                    let delivery = message.delivery;
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                    letters.push(Letter {
                        headers: headers::to_json_map(delivery.properties.headers().as_ref()),
                        body: delivery.data.clone(),
                        properties: delivery.properties.clone(),
                    });
                }
                None => {
                    assert!(
                        Instant::now() < deadline,
                        "expected {n} dead letters, got {}: {letters:#?}",
                        letters.len()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        letters
    }

    /// Dead letters already in the queue, without waiting.
    pub async fn dead_letters_now(&self) -> Vec<Letter> {
        let mut letters = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(
                self.config.rabbitmq.dead_letter_queue.as_str().into(),
                BasicGetOptions::default(),
            )
            .await
            .unwrap()
        {
            let delivery = message.delivery;
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            letters.push(Letter {
                headers: headers::to_json_map(delivery.properties.headers().as_ref()),
                body: delivery.data.clone(),
                properties: delivery.properties.clone(),
            });
        }
        letters
    }

    /// Messages now in a queue (ready, not unacked).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let declared = self
            .channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        declared.message_count()
    }

    /// Messages waiting in the work queue, the shard queues and the delayed-retry queues.
    pub async fn pending(&self) -> u32 {
        let mut total = self.queue_depth(&self.config.rabbitmq.queue).await;
        for index in 0..self.config.rabbitmq.shards {
            let queue = hrsync::source::topology::shard_queue(&self.config.rabbitmq, index);
            total += self.queue_depth(&queue).await;
        }
        for delay in self.config.retry.all_delays() {
            let queue = hrsync::source::topology::retry_queue(&self.config.rabbitmq, delay);
            total += self.queue_depth(&queue).await;
        }
        total
    }

    /// Waits until the work and retry queues are empty and nothing is in flight.
    pub async fn wait_idle(&self) {
        self.wait_idle_within(WAIT).await
    }

    pub async fn wait_idle_within(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let depth = self.queue_depth(&self.config.rabbitmq.queue).await;
            if depth == 0 && self.worker().metrics.in_flight.get() == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if self.queue_depth(&self.config.rabbitmq.queue).await == 0
                    && self.worker().metrics.in_flight.get() == 0
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "worker never became idle (queue depth {depth})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        let deadline = Instant::now() + within;
        loop {
            let (now, body) = self.readyz().await;
            if now == ready {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never became {}: {body}",
                if ready { "ready" } else { "unready" }
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    /// Stops the worker and the simulator and deletes this test's queues and exchanges.
    pub async fn stop(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
        let rabbit = &self.config.rabbitmq;
        for queue in [&rabbit.queue, &rabbit.dead_letter_queue] {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [&rabbit.exchange, &rabbit.dead_letter_exchange] {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await;
        }
        for index in 0..rabbit.shards {
            let queue = hrsync::source::topology::shard_queue(rabbit, index);
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        if rabbit.shards > 0 {
            let exchange = hrsync::source::topology::shard_exchange(rabbit);
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await;
        }
        for delay in self.config.retry.all_delays() {
            let queue = hrsync::source::topology::retry_queue(rabbit, delay);
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "test done".into()).await;
        let _ = self.sim_stop.send(());
        drop_store(self.store_kind, &self.unique).await;
    }
}

// --- the worker as a separate process --------------------------------------------------------

/// A worker process running the real binary with this harness's names.
pub struct WorkerProcess {
    pub child: std::process::Child,
    pub http: String,
    pub log: std::path::PathBuf,
}

/// A test that panics must not leave its worker running: an orphan keeps consuming from
/// queues another run may reuse, and skews that run's counts.
impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Harness {
    /// The shipped configuration, pointed at this harness's queues, simulator and store.
    pub fn process_config(&self, http_port: u16) -> String {
        let rabbit = &self.config.rabbitmq;
        let text = std::fs::read_to_string("config/hrsync.toml").unwrap();
        let mut replaced = text
            .replace(
                "exchange = \"hr.events\"",
                &format!("exchange = \"{}\"", rabbit.exchange),
            )
            .replace(
                "queue = \"hrsync.events\"",
                &format!("queue = \"{}\"", rabbit.queue),
            )
            .replace(
                "dead_letter_exchange = \"hrsync.dead-letter\"",
                &format!("dead_letter_exchange = \"{}\"", rabbit.dead_letter_exchange),
            )
            .replace(
                "dead_letter_queue = \"hrsync.dead-letter\"",
                &format!("dead_letter_queue = \"{}\"", rabbit.dead_letter_queue),
            )
            .replace(
                "prefetch = 32",
                &format!(
                    "prefetch = 32\nconnection_name = \"{}\"\nshards = {}",
                    rabbit.connection_name, rabbit.shards
                ),
            )
            .replace(
                "reconnect_max_delay = \"30s\"",
                "reconnect_max_delay = \"1s\"",
            )
            .replace(
                "base_url = \"http://127.0.0.1:8099\"",
                &format!("base_url = \"{}\"", self.sim_url),
            )
            .replace(
                "url = \"sqlite://data/hrsync.db\"",
                &format!("url = \"{}\"", self.config.store.url),
            )
            .replace(
                "listen = \"127.0.0.1:9464\"",
                &format!("listen = \"127.0.0.1:{http_port}\""),
            )
            .replace("shutdown_grace = \"25s\"", "shutdown_grace = \"10s\"")
            .replace("initial_delay = \"200ms\"", "initial_delay = \"20ms\"")
            .replace("max_delay = \"10s\"", "max_delay = \"200ms\"")
            .replace(
                "deferral_delays = [\"30s\", \"2m\", \"10m\", \"30m\"]",
                "deferral_delays = [\"1s\"]",
            )
            .replace("park_delay = \"1m\"", "park_delay = \"1s\"")
            .replace("poll_interval = \"30s\"", "poll_interval = \"200ms\"")
            .replace("rate_limit_per_second = 10", "rate_limit_per_second = 1000")
            .replace("concurrency = 8", "concurrency = 16");
        if let Ok(url) = std::env::var("HRSYNC_TEST_AMQP_URL") {
            replaced = replaced.replace(
                "url = \"amqp://127.0.0.1:5672/%2f\"",
                &format!("url = \"{url}\""),
            );
        }
        replaced
    }

    /// Starts `hrsync run` as a child process and waits until it consumes.
    pub async fn spawn_worker(&self, name: &str) -> WorkerProcess {
        self.spawn_worker_with_env(name, &[]).await
    }

    /// [`Harness::spawn_worker`] with extra environment variables (`HRSYNC_*` overrides,
    /// `RUST_LOG`).
    pub async fn spawn_worker_with_env(&self, name: &str, env: &[(&str, &str)]) -> WorkerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("{}-proc", self.unique));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, self.process_config(port)).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
            .args(["--config", config.to_str().unwrap(), "run"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("HRSYNC_CONFIG")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let process = WorkerProcess {
            child,
            http: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", process.http))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            assert!(
                Instant::now() < deadline,
                "worker process never became ready; log: {}",
                std::fs::read_to_string(&process.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A sample of a worker process's `/metrics`.
    pub async fn process_metric(&self, process: &WorkerProcess, name: &str, labels: &str) -> f64 {
        match self
            .http
            .get(format!("{}/metrics", process.http))
            .send()
            .await
        {
            Ok(response) => metric(&response.text().await.unwrap_or_default(), name, labels),
            Err(_) => 0.0,
        }
    }

    /// Changes the process applied to `target` so far.
    pub async fn process_applied(&self, process: &WorkerProcess, target: &str) -> f64 {
        let labels = format!(r#"outcome="applied",target="{target}""#);
        self.process_metric(process, "hrsync_target_outcomes_total", &labels)
            .await
    }

    /// Waits until the work queue is empty and the process holds no message.
    pub async fn wait_process_idle(&self, process: &WorkerProcess, within: Duration) {
        let deadline = Instant::now() + within;
        let mut quiet = 0;
        while quiet < 3 {
            let depth = self.pending().await;
            let held = self
                .process_metric(process, "hrsync_events_in_flight", "")
                .await;
            quiet = if depth == 0 && held == 0.0 {
                quiet + 1
            } else {
                0
            };
            assert!(
                Instant::now() < deadline,
                "worker process never became idle (depth {depth}, held {held})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops a worker process with SIGTERM and waits for it.
    pub async fn stop_process(&self, mut process: WorkerProcess) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &process.child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while process.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = process.child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes this harness's worker connections from the broker side, as a broker restart
    /// or a network cut would. Returns how many were closed.
    pub fn force_close_worker_connections(&self) -> usize {
        let listing = std::process::Command::new("rabbitmqctl")
            .args([
                "list_connections",
                "-q",
                "--no-table-headers",
                "pid",
                "client_properties",
            ])
            .output()
            .expect("rabbitmqctl");
        let text = String::from_utf8_lossy(&listing.stdout);
        let mut closed = 0;
        for line in text
            .lines()
            .filter(|l| l.contains(&self.config.rabbitmq.connection_name))
        {
            let pid = line.split_whitespace().next().unwrap();
            let status = std::process::Command::new("rabbitmqctl")
                .args(["close_connection", pid, "test: forced close"])
                .output()
                .expect("rabbitmqctl");
            if status.status.success() {
                closed += 1;
            }
        }
        closed
    }

    /// Vault PUTs that succeeded (or were cut off by a killed worker), as user id → titles
    /// in arrival order; see [`settled_titles`].
    pub async fn vault_titles(&self) -> BTreeMap<String, Vec<String>> {
        let writes = self.writes("vault", "PUT").await;
        settled_titles(titles_by_account(&writes, |request| {
            form(request)
                .into_iter()
                .find(|(k, _)| k == "user_title__v")
                .map(|(_, title)| title)
        }))
    }

    /// SuperOffice PATCHes likewise, as associate id → titles in arrival order.
    pub async fn superoffice_titles(&self) -> BTreeMap<String, Vec<String>> {
        let writes = self.writes("superoffice", "PATCH").await;
        settled_titles(titles_by_account(&writes, |request| {
            body_json(request)
                .as_array()?
                .iter()
                .find(|op| op["op"] == "replace" && op["path"] == "/Person/Title")
                .and_then(|op| op["value"].as_str())
                .map(str::to_string)
        }))
    }

    /// Asserts that every one of `employees` got titles 1..=`events_each`, each once, in
    /// order, in Vault and SuperOffice.
    pub async fn assert_applied_exactly_once_in_order(&self, employees: usize, events_each: u64) {
        let expected: Vec<String> = (1..=events_each).map(|n| format!("Title {n}")).collect();
        let vault = self.vault_titles().await;
        let superoffice = self.superoffice_titles().await;
        for i in 0..employees {
            let (vault_id, _, associate) = account_ids(i);
            assert_eq!(
                vault.get(&vault_id),
                Some(&expected),
                "Vault user {vault_id}"
            );
            assert_eq!(
                superoffice.get(&associate),
                Some(&expected),
                "SuperOffice user {associate}"
            );
        }
    }

    /// Waits until every employee's last title arrived at Vault and SuperOffice.
    pub async fn wait_for_titles(&self, employees: usize, last: u64, within: Duration) {
        let deadline = Instant::now() + within;
        let want = format!("Title {last}");
        loop {
            let vault = self.vault_titles().await;
            let superoffice = self.superoffice_titles().await;
            let done = (0..employees)
                .filter(|i| {
                    let (v, _, s) = account_ids(*i);
                    vault.get(&v).and_then(|t| t.last()) == Some(&want)
                        && superoffice.get(&s).and_then(|t| t.last()) == Some(&want)
                })
                .count();
            if done == employees {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {done} of {employees} employees reached {want}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A simulator whose Vault burst limit (2,000 calls per 5 minutes by default, as Vault's
/// historical one) does not slow load tests down.
pub fn roomy_simulator() -> SimulatorConfig {
    SimulatorConfig {
        burst_limit: 10_000_000,
        ..SimulatorConfig::default()
    }
}

/// `(title, cut_off)` per account (the last path segment) from logged writes that
/// succeeded or have no status (cut off by a killed worker); failed ones are left out.
fn titles_by_account(
    writes: &[Value],
    title_of: impl Fn(&Value) -> Option<String>,
) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut titles: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for request in writes {
        let cut_off = request["status"].is_null();
        if request["status"] != 200 && !cut_off {
            continue;
        }
        let id = request["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        if let Some(title) = title_of(request) {
            titles
                .entry(id.to_string())
                .or_default()
                .push((title, cut_off));
        }
    }
    titles
}

/// Titles per account from logged writes `(title, cut_off)`. A write with no status was cut
/// off by a killed worker: it may or may not have taken effect, so when the restarted
/// worker sent the same title again, the two count as one delivery of that change.
fn settled_titles(log: BTreeMap<String, Vec<(String, bool)>>) -> BTreeMap<String, Vec<String>> {
    log.into_iter()
        .map(|(id, writes)| {
            let mut titles: Vec<String> = Vec::new();
            let mut previous_cut_off = false;
            for (title, cut_off) in writes {
                if previous_cut_off && titles.last() == Some(&title) {
                    previous_cut_off = cut_off;
                    continue;
                }
                titles.push(title);
                previous_cut_off = cut_off;
            }
            (id, titles)
        })
        .collect()
}

// --- events ---------------------------------------------------------------------------------

pub use staff::*;

/// A joiner like the contract's example, for employee `E100234` and its three accounts.
pub fn joiner() -> Value {
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.joiner", "subject": "E100234", "time": "2026-11-22T09:15:00Z",
        "sequence": 1, "datacontenttype": "application/json",
        "data": {
            "employee_id": "E100234", "effective_date": "2026-11-02",
            "person": {
                "first_name": "Ana", "last_name": "Silva", "email": "ana.silva@verteo.example",
                "username": "ana.silva@verteo.example", "title": "Clinical Research Associate",
                "department": "Clinical Operations", "company": "VeevaPharm",
                "timezone": "Europe/Lisbon", "locale": "pt_PT", "language": "en"
            },
            "roles": ["cra"], "sites": ["US-NC-0002"],
            "accounts": {
                "vault": {"user_id": 25001},
                "sitevault": {"person_id": "V0B000000001001"},
                "superoffice": {"associate_id": 981}
            }
        }
    })
}

pub fn mover() -> Value {
    let mut event = joiner();
    event["type"] = json!("hr.employee.mover");
    event["sequence"] = json!(4);
    event["data"]["person"]["title"] = json!("Senior Clinical Research Associate");
    event["data"]["person"]["department"] = json!("Regulatory Affairs");
    event["data"]["roles"] = json!(["regulatory"]);
    event["data"]["sites"] = json!(["US-NC-0002", "US-CA-0007"]);
    event
}

pub fn leaver() -> Value {
    json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.leaver", "subject": "E100234", "time": "2027-03-31T17:00:00Z",
        "sequence": 9,
        "data": {
            "employee_id": "E100234", "effective_date": "2026-11-20",
            "sites": ["US-NC-0002"],
            "accounts": {
                "vault": {"user_id": 25001},
                "sitevault": {"person_id": "V0B000000001001"},
                "superoffice": {"associate_id": 981}
            }
        }
    })
}

/// Form pairs of a recorded request.
pub fn form(request: &Value) -> Vec<(String, String)> {
    serde_urlencoded::from_str(request["body"].as_str().unwrap()).unwrap()
}

/// The recorded request's JSON body.
pub fn body_json(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().unwrap()).unwrap()
}

/// A counter's value in Prometheus text, by name and exact label set (`a="x",b="y"`).
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

/// Runs `rabbitmqctl` quietly; whether it succeeded (false where there is none).
pub fn rabbitmqctl(args: &[&str]) -> bool {
    std::process::Command::new("rabbitmqctl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
