//! hrsync throughput benchmark (`cargo bench --bench throughput`, `-- --quick` for a smoke
//! run, `-- --help` for every flag). See BENCHMARKS.md for what it measures and the figures.
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (the shipped config's broker). The target simulator
//! runs in this process; the worker runs as a child process (`hrsync run`) with a
//! generated config, so its CPU time and RSS are its own. Every scenario uses its own
//! exchange/queue names and deletes them afterwards; every wait is bounded.
//!
//! Scenarios:
//! 1. raw lapin ceiling: publish N 1 KiB messages to a quorum queue, consume with prefetch
//!    P and ack each; messages/s.
//! 2. hrsync end to end with a zero-latency simulator (movers, every one a real write):
//!    events/s from first consume to queue empty and nothing in flight, ratio to (1).
//! 3. hrsync CPU time per event, from the worker's /proc/<pid>/stat during (2).
//! 4. Vault API calls (auth included) for a backlog of movers, Vault target only; with
//!    `targets.vault.bulk` when this build has it, and without.
//! 5. Worker RSS while a large backlog waits in the queue.
//! 6. Latency-bound efficiency: every simulator request delayed, events/s against the
//!    ideal C / (latency × sequential requests per event).

#[allow(dead_code)] // the bench uses the movers only
#[path = "../tests/common/staff.rs"]
mod staff;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use hrsync::config::Config;
use hrsync::simulator::{self, Simulator, SimulatorConfig};
use hrsync::source;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::{json, Value};
use staff::staff_mover;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

// ------------------------------------------------------------------------------ arguments

/// RSS at a progress point: (events handled at least, Some((RSS MiB, seconds in, …))).
type Checkpoint = (usize, Option<(f64, f64, f64)>);

#[derive(Debug, Clone)]
struct Args {
    quick: bool,
    only: Vec<u32>,
    raw_messages: usize,
    raw_prefetch: u16,
    raw_body_bytes: usize,
    e2e_events: usize,
    e2e_employees: usize,
    concurrency: usize,
    prefetch: u16,
    vault_events: usize,
    vault_employees: usize,
    bulk_concurrency: usize,
    bulk_prefetch: u16,
    bulk_max_rows: usize,
    bulk_max_wait: String,
    rss_events: usize,
    rss_employees: usize,
    rss_seconds: f64,
    lat_events: usize,
    lat_employees: usize,
    lat_concurrency: usize,
    latency_ms: u64,
    scenario_timeout: Duration,
    log_level: String,
    perf: Option<PathBuf>,
    keep: bool,
}

const HELP: &str = "\
hrsync throughput benchmark
  --quick                 every size ~10x smaller (smoke run)
  --only LIST             scenarios to run, e.g. 1,2,3 (default all: 1-6; 3 needs 2)
  --raw-messages N        (1) messages published then consumed       [20000]
  --raw-prefetch N        (1) consumer prefetch                        [256]
  --raw-body-bytes N      (1) message size                             [1024]
  --e2e-events N          (2,3) mover events                           [3000]
  --e2e-employees N       (2,3) employees they are spread over         [300]
  --concurrency N         worker.concurrency for (2,3,4-plain,5)       [32]
  --prefetch N            rabbitmq.prefetch for (2,3,4-plain,5)        [256]
  --vault-events N        (4) mover backlog                            [10000]
  --vault-employees N     (4) employees                                [1000]
  --bulk-concurrency N    (4, bulk) worker.concurrency                 [1000]
  --bulk-prefetch N       (4, bulk) rabbitmq.prefetch                  [2000]
  --bulk-max-rows N       (4, bulk) targets.vault.bulk.max_rows        [500]
  --bulk-max-wait D       (4, bulk) targets.vault.bulk.max_wait        [2s]
  --rss-events N          (5) backlog                                  [100000]
  --rss-employees N       (5) employees                                [1000]
  --rss-seconds S         (5) longest sampling time                    [30]
  --lat-events N          (6) events                                   [1000]
  --lat-employees N       (6) employees                                [500]
  --lat-concurrency N     (6) worker.concurrency (prefetch = 8x)       [32]
  --latency-ms N          (6) simulator latency on every request       [100]
  --scenario-timeout S    give up on a scenario after S seconds        [300]
  --log-level L           the worker's log.level                       [info]
  --perf FILE             perf record -g the worker during (2) into FILE
  --keep                  keep the worker configs and logs (temp dir)
Environment: HRSYNC_BIN (worker binary), HRSYNC_ROOT (crate root holding config/).";

impl Args {
    fn parse() -> Result<Args> {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        let mut flags: BTreeMap<String, String> = BTreeMap::new();
        let mut quick = false;
        let mut keep = false;
        let mut i = 0;
        while i < raw.len() {
            let arg = raw[i].as_str();
            match arg {
                // `cargo bench` passes --bench to harness-less benches.
                "--bench" => {}
                "--quick" => quick = true,
                "--keep" => keep = true,
                "-h" | "--help" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                _ if arg.starts_with("--") => {
                    let (name, value) = match arg.split_once('=') {
                        Some((n, v)) => (n.to_string(), v.to_string()),
                        None => {
                            i += 1;
                            let v = raw
                                .get(i)
                                .ok_or_else(|| anyhow!("{arg} needs a value"))?
                                .clone();
                            (arg.to_string(), v)
                        }
                    };
                    flags.insert(name.trim_start_matches("--").to_string(), value);
                }
                // A filter argument (`cargo bench -- NAME`): ignored.
                _ => {}
            }
            i += 1;
        }
        let s = |full: usize, small: usize| if quick { small } else { full };
        let mut args = Args {
            quick,
            only: vec![1, 2, 3, 4, 5, 6],
            raw_messages: s(20_000, 2_000),
            raw_prefetch: 256,
            raw_body_bytes: 1024,
            e2e_events: s(3_000, 300),
            e2e_employees: s(300, 100),
            concurrency: 32,
            prefetch: 256,
            vault_events: s(10_000, 1_000),
            vault_employees: s(1_000, 500),
            bulk_concurrency: 1000,
            bulk_prefetch: 2000,
            bulk_max_rows: 500,
            bulk_max_wait: "2s".into(),
            rss_events: s(100_000, 10_000),
            rss_employees: s(1_000, 500),
            rss_seconds: if quick { 5.0 } else { 30.0 },
            lat_events: s(1_000, 200),
            lat_employees: s(500, 100),
            lat_concurrency: 32,
            latency_ms: 100,
            scenario_timeout: Duration::from_secs(if quick { 120 } else { 300 }),
            log_level: "info".into(),
            perf: None,
            keep,
        };
        for (name, value) in flags {
            let n = || -> Result<usize> {
                value
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("--{name}: not a number: {value}"))
            };
            match name.as_str() {
                "only" => {
                    args.only = value
                        .split(',')
                        .map(|p| p.trim().parse())
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("--only: not a list of numbers: {value}"))?
                }
                "raw-messages" => args.raw_messages = n()?,
                "raw-prefetch" => args.raw_prefetch = n()?.try_into()?,
                "raw-body-bytes" => args.raw_body_bytes = n()?,
                "e2e-events" => args.e2e_events = n()?,
                "e2e-employees" => args.e2e_employees = n()?,
                "concurrency" => args.concurrency = n()?,
                "prefetch" => args.prefetch = n()?.try_into()?,
                "vault-events" => args.vault_events = n()?,
                "vault-employees" => args.vault_employees = n()?,
                "bulk-concurrency" => args.bulk_concurrency = n()?,
                "bulk-prefetch" => args.bulk_prefetch = n()?.try_into()?,
                "bulk-max-rows" => args.bulk_max_rows = n()?,
                "bulk-max-wait" => args.bulk_max_wait = value.clone(),
                "rss-events" => args.rss_events = n()?,
                "rss-employees" => args.rss_employees = n()?,
                "rss-seconds" => args.rss_seconds = value.parse()?,
                "lat-events" => args.lat_events = n()?,
                "lat-employees" => args.lat_employees = n()?,
                "lat-concurrency" => args.lat_concurrency = n()?,
                "latency-ms" => args.latency_ms = n()? as u64,
                "scenario-timeout" => {
                    args.scenario_timeout = Duration::from_secs_f64(value.parse()?)
                }
                "log-level" => args.log_level = value.clone(),
                "perf" => args.perf = Some(PathBuf::from(value.clone())),
                other => bail!("unknown flag --{other}; see --help"),
            }
        }
        for (name, v) in [
            ("e2e-employees", args.e2e_employees),
            ("vault-employees", args.vault_employees),
            ("rss-employees", args.rss_employees),
            ("lat-employees", args.lat_employees),
        ] {
            if v == 0 {
                bail!("--{name} must be at least 1");
            }
        }
        Ok(args)
    }

    fn runs(&self, scenario: u32) -> bool {
        self.only.contains(&scenario)
    }
}

// ------------------------------------------------------------------------------ environment

/// Where `config/hrsync.toml` and `config/dev-secrets/` are.
fn crate_root() -> PathBuf {
    std::env::var_os("HRSYNC_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn worker_bin() -> PathBuf {
    std::env::var_os("HRSYNC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hrsync")))
}

fn shipped_config_text() -> Result<String> {
    let path = crate_root().join("config/hrsync.toml");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Runs a command with a time limit; its trimmed stdout, or None.
fn command_output(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    use std::io::Read;
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let out = out.trim().to_string();
    (!out.is_empty()).then_some(out)
}

struct Machine {
    nproc: usize,
    cpu: String,
    rabbitmq: String,
    date: String,
    kernel: String,
}

fn machine_facts() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_string();
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        rabbitmq: command_output("rabbitmqctl", &["version"], Duration::from_secs(20))
            .and_then(|v| v.lines().last().map(str::to_string))
            .unwrap_or_else(|| "unknown (rabbitmqctl unavailable)".into()),
        date: command_output(
            "date",
            &["-u", "+%Y-%m-%d %H:%M UTC"],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| "unknown".into()),
        kernel: command_output("uname", &["-r"], Duration::from_secs(5))
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// Whether this build of hrsync has the Vault bulk mode (`targets.vault.bulk.enabled`).
fn vault_bulk_available() -> bool {
    hrsync::config::reference::markdown().contains("targets.vault.bulk.enabled")
}

// ------------------------------------------------------------------------------ events

/// Event `j` of a stream spread round-robin over `employees`: every employee's events are
/// in sequence order, and neighbouring events belong to different employees.
fn mover_stream(events: usize, employees: usize) -> impl Iterator<Item = Value> {
    mover_stream_from(events, employees, 1)
}

/// [`mover_stream`] with sequences starting at `first` (after a warm-up round).
fn mover_stream_from(events: usize, employees: usize, first: u64) -> impl Iterator<Item = Value> {
    (0..events).map(move |j| staff_mover(j % employees, (j / employees) as u64 + first))
}

// ------------------------------------------------------------------------------ RabbitMQ

fn base_config() -> Result<Config> {
    Config::from_toml(&shipped_config_text()?).map_err(|e| anyhow!("shipped config: {e}"))
}

async fn connect(config: &Config, name: &str) -> Result<Connection> {
    let password = config
        .rabbitmq
        .password
        .resolve()
        .map_err(|e| anyhow!("rabbitmq.password: {e}"))?;
    tokio::time::timeout(
        Duration::from_secs(20),
        source::connect(&config.rabbitmq, &password, name),
    )
    .await
    .context("connecting to RabbitMQ timed out")?
    .context("cannot connect to RabbitMQ")
}

async fn queue_depth(channel: &Channel, queue: &str) -> Result<u32> {
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(declared.message_count())
}

/// Publishes bodies pipelined, waiting for confirms every `batch`.
async fn publish_pipelined(
    channel: &Channel,
    exchange: &str,
    items: impl Iterator<Item = (String, Vec<u8>)>,
    properties: BasicProperties,
) -> Result<usize> {
    const BATCH: usize = 2000;
    let mut sent = 0;
    for (routing_key, body) in items {
        let _confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties.clone(),
            )
            .await?;
        sent += 1;
        if sent % BATCH == 0 {
            confirm_all(channel).await?;
        }
    }
    confirm_all(channel).await?;
    Ok(sent)
}

async fn confirm_all(channel: &Channel) -> Result<()> {
    let returned = tokio::time::timeout(Duration::from_secs(60), channel.wait_for_confirms())
        .await
        .context("publisher confirms timed out")??;
    if !returned.is_empty() {
        bail!("{} messages were returned unroutable", returned.len());
    }
    Ok(())
}

// ------------------------------------------------------------------------------ (1) raw lapin

struct RawResult {
    publish_per_s: f64,
    consume_per_s: f64,
    consumed: usize,
}

async fn raw_ceiling(args: &Args) -> Result<RawResult> {
    let config = base_config()?;
    let publisher = connect(&config, "hrsync-bench-raw-publish").await?;
    let consumer_conn = connect(&config, "hrsync-bench-raw-consume").await?;
    let channel = publisher.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let mut arguments = FieldTable::default();
    arguments.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    let outcome = async {
        let body = vec![b'x'; args.raw_body_bytes];
        let n = args.raw_messages;
        let started = Instant::now();
        publish_pipelined(
            &channel,
            "",
            (0..n).map(|_| (queue.clone(), body.clone())),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?;
        let publish_per_s = n as f64 / started.elapsed().as_secs_f64();

        let consume_channel = consumer_conn.create_channel().await?;
        consume_channel
            .basic_qos(args.raw_prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = consume_channel
            .basic_consume(
                queue.as_str().into(),
                "hrsync-bench-raw".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let deadline = Instant::now() + args.scenario_timeout;
        let mut first: Option<Instant> = None;
        let mut consumed = 0;
        while consumed < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let delivery = match tokio::time::timeout(left, deliveries.next()).await {
                Err(_) => bail!("raw consume timed out after {consumed} of {n}"),
                Ok(None) => bail!("raw consumer cancelled after {consumed} of {n}"),
                Ok(Some(d)) => d?,
            };
            first.get_or_insert_with(Instant::now);
            delivery.ack(BasicAckOptions::default()).await?;
            consumed += 1;
        }
        let elapsed = first.map_or(Duration::ZERO, |f| f.elapsed());
        let _ = consume_channel.close(200, "done".into()).await;
        Ok(RawResult {
            publish_per_s,
            consume_per_s: consumed as f64 / elapsed.as_secs_f64().max(1e-9),
            consumed,
        })
    }
    .await;
    if let Ok(cleanup) = publisher.create_channel().await {
        let _ = cleanup
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = publisher.close(200, "bench done".into()).await;
    let _ = consumer_conn.close(200, "bench done".into()).await;
    outcome
}

// ------------------------------------------------------------------------------ scenarios

/// Sets `a.b.c = value` in a TOML table, creating tables on the way.
fn set(root: &mut toml::Table, path: &str, value: impl Into<toml::Value>) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("non-empty path");
    let mut table = root;
    for part in parts {
        table = table
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a table on the path");
    }
    table.insert(last.to_string(), value.into());
}

/// One simulator, one set of broker names, one store; the worker runs as a child process.
struct Scenario {
    unique: String,
    dir: PathBuf,
    sim_url: String,
    sim_stop: Option<tokio::sync::oneshot::Sender<()>>,
    log_clearer: tokio::task::JoinHandle<()>,
    config: Config,
    config_text: String,
    http_port: u16,
    connection: Connection,
    channel: Channel,
    http: reqwest::Client,
    keep: bool,
}

struct WorkerProcess {
    child: Child,
    pid: u32,
    http: String,
    log: PathBuf,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Scenario {
    async fn new(
        name: &str,
        args: &Args,
        seed_users: usize,
        adjust: impl FnOnce(&mut toml::Table),
    ) -> Result<Scenario> {
        let sim_listener = TcpListener::bind("127.0.0.1:0").await?;
        let sim_url = format!("http://{}", sim_listener.local_addr()?);
        let sim = Simulator::new(SimulatorConfig {
            vault_url: format!("{sim_url}/api"),
            burst_limit: 10_000_000,
            seed_users: seed_users.max(300),
            ..SimulatorConfig::default()
        });
        let (sim_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(simulator::serve(sim_listener, sim, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        // The simulator logs every request; keep that log short so the bench's own memory
        // stays small on long runs (the stats counters are kept separately).
        let log_clearer = {
            let http = http.clone();
            let url = format!("{sim_url}/_sim/requests");
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = http.delete(&url).send().await;
                }
            })
        };

        let unique = format!(
            "bench-{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let dir = std::env::temp_dir().join(&unique);
        std::fs::create_dir_all(&dir)?;
        let http_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut table: toml::Table = shipped_config_text()?.parse()?;
        set(&mut table, "worker.concurrency", args.concurrency as i64);
        set(&mut table, "worker.shutdown_grace", "10s");
        set(&mut table, "http.listen", format!("127.0.0.1:{http_port}"));
        set(&mut table, "log.level", args.log_level.as_str());
        set(&mut table, "rabbitmq.exchange", format!("{unique}.hr"));
        set(&mut table, "rabbitmq.queue", format!("{unique}.events"));
        set(
            &mut table,
            "rabbitmq.dead_letter_exchange",
            format!("{unique}.dlx"),
        );
        set(
            &mut table,
            "rabbitmq.dead_letter_queue",
            format!("{unique}.dlq"),
        );
        set(
            &mut table,
            "rabbitmq.connection_name",
            format!("{unique}-worker"),
        );
        set(&mut table, "rabbitmq.prefetch", i64::from(args.prefetch));
        set(&mut table, "rabbitmq.reconnect_max_delay", "1s");
        set(&mut table, "retry.deferral_delays", vec!["5s"]);
        set(&mut table, "retry.park_delay", "5s");
        set(
            &mut table,
            "store.url",
            format!("sqlite://{}/hrsync.db", dir.display()),
        );
        for target in ["vault", "sitevault", "superoffice"] {
            set(
                &mut table,
                &format!("targets.{target}.base_url"),
                sim_url.as_str(),
            );
        }
        set(
            &mut table,
            "targets.superoffice.rate_limit_per_second",
            100_000,
        );
        adjust(&mut table);
        let config_text = toml::to_string(&table)?;
        let config = Config::from_toml(&config_text)
            .map_err(|e| anyhow!("generated config is invalid: {e}"))?;
        std::fs::write(dir.join("hrsync.toml"), &config_text)?;

        let connection = connect(&config, &format!("{unique}-bench")).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        source::topology::declare(&connection, &config.rabbitmq, &config.retry.all_delays())
            .await
            .context("declaring the topology")?;
        Ok(Scenario {
            unique,
            dir,
            sim_url,
            sim_stop: Some(sim_stop),
            log_clearer,
            config,
            config_text,
            http_port,
            connection,
            channel,
            http,
            keep: args.keep,
        })
    }

    async fn publish(&self, events: impl Iterator<Item = Value>) -> Result<(usize, Duration)> {
        let started = Instant::now();
        let properties = BasicProperties::default()
            .with_content_type("application/cloudevents+json".into())
            .with_delivery_mode(2);
        let sent = publish_pipelined(
            &self.channel,
            &self.config.rabbitmq.exchange,
            events.map(|e| {
                let key = e["type"]
                    .as_str()
                    .unwrap_or("hr.employee.unknown")
                    .to_string();
                (key, e.to_string().into_bytes())
            }),
            properties,
        )
        .await?;
        Ok((sent, started.elapsed()))
    }

    async fn depth(&self) -> Result<u32> {
        queue_depth(&self.channel, &self.config.rabbitmq.queue).await
    }

    /// Messages in the delayed-retry queues.
    async fn retry_depth(&self) -> Result<u32> {
        let mut total = 0;
        for delay in self.config.retry.all_delays() {
            let queue = source::topology::retry_queue(&self.config.rabbitmq, delay);
            total += queue_depth(&self.channel, &queue).await?;
        }
        Ok(total)
    }

    async fn fault(&self, fault: Value) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/_sim/faults", self.sim_url))
            .json(&fault)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("fault not accepted: {}", response.status());
        }
        Ok(())
    }

    async fn sim_stats(&self) -> Result<Value> {
        Ok(self
            .http
            .get(format!("{}/_sim/stats", self.sim_url))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Starts `hrsync run` with this scenario's config and waits until it is ready.
    async fn spawn_worker(&self) -> Result<WorkerProcess> {
        let config_path = self.dir.join("hrsync.toml");
        let log = self.dir.join("worker.log");
        let bin = worker_bin();
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config_path)
            .arg("run")
            .current_dir(crate_root())
            .env_remove("HRSYNC_CONFIG")
            // The bench's own settings: the worker would read HRSYNC_* as configuration.
            .env_remove("HRSYNC_BIN")
            .env_remove("HRSYNC_ROOT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let mut process = WorkerProcess {
            child,
            pid,
            http: format!("http://127.0.0.1:{}", self.http_port),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", process.http))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(process);
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                bail!(
                    "worker exited ({status}) before it was ready; log:\n{}",
                    tail(&process.log)
                );
            }
            if Instant::now() > deadline {
                bail!("worker never became ready; log:\n{}", tail(&process.log));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self, process: &WorkerProcess) -> Result<Metrics> {
        let text = self
            .http
            .get(format!("{}/metrics", process.http))
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .text()
            .await?;
        Ok(Metrics::parse(&text))
    }

    /// Waits until `events` were handled, the work queue is empty and the worker holds
    /// nothing; returns when that was first seen.
    async fn wait_done(
        &self,
        process: &mut WorkerProcess,
        events: usize,
        within: Duration,
    ) -> Result<Instant> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                bail!("worker exited ({status}); log:\n{}", tail(&process.log));
            }
            // The queue depth is cheap to ask; the metrics only once it is empty.
            if self.depth().await? == 0 {
                let now = Instant::now();
                let m = self.metrics(process).await?;
                if m.in_flight == 0.0
                    && m.events_total() >= events as f64
                    && self.retry_depth().await? == 0
                {
                    return Ok(now);
                }
            }
            if Instant::now() > deadline {
                let m = self.metrics(process).await.unwrap_or_default();
                bail!(
                    "not done within {within:?}: depth {}, in flight {}, handled {} of {events}",
                    self.depth().await.unwrap_or(0),
                    m.in_flight,
                    m.events_total()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes `events`, starts the worker and waits until it handled them all; the
    /// time counts from the worker being ready.
    async fn drain(
        &self,
        events: impl Iterator<Item = Value>,
        within: Duration,
    ) -> Result<Drained> {
        let (sent, _) = self.publish(events).await?;
        let mut worker = self.spawn_worker().await?;
        let t0 = Instant::now();
        let t1 = self.wait_done(&mut worker, sent, within).await?;
        let metrics = self.metrics(&worker).await?;
        self.stop_worker(worker).await;
        Ok(Drained {
            sent,
            seconds: (t1 - t0).as_secs_f64(),
            metrics,
        })
    }

    /// SIGTERM, then SIGKILL after 20 s.
    async fn stop_worker(&self, mut process: WorkerProcess) {
        let _ = Command::new("kill")
            .args(["-TERM", &process.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(None) = process.child.try_wait() {
            if Instant::now() > deadline {
                let _ = process.child.kill();
                let _ = process.child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes every queue and exchange this scenario declared, stops the simulator.
    async fn cleanup(mut self) {
        let rabbit = &self.config.rabbitmq;
        if let Ok(channel) = self.connection.create_channel().await {
            let mut queues = vec![rabbit.queue.clone(), rabbit.dead_letter_queue.clone()];
            for delay in self.config.retry.all_delays() {
                queues.push(source::topology::retry_queue(rabbit, delay));
            }
            for queue in queues {
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for exchange in [&rabbit.exchange, &rabbit.dead_letter_exchange] {
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), Default::default())
                    .await;
            }
        }
        let _ = self.connection.close(200, "bench done".into()).await;
        self.log_clearer.abort();
        if let Some(stop) = self.sim_stop.take() {
            let _ = stop.send(());
        }
        if self.keep {
            println!("  (kept {} for {})", self.dir.display(), self.unique);
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let _ = &self.config_text;
    }
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// What [`Scenario::drain`] saw.
struct Drained {
    sent: usize,
    seconds: f64,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct Metrics {
    in_flight: f64,
    /// `hrsync_events_total` by outcome.
    events: BTreeMap<String, f64>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("hrsync_events_in_flight ") {
                m.in_flight = v.trim().parse().unwrap_or(0.0);
            } else if let Some(rest) = line.strip_prefix("hrsync_events_total{") {
                let Some((labels, value)) = rest.split_once("} ") else {
                    continue;
                };
                let outcome = labels
                    .split(',')
                    .find_map(|l| l.strip_prefix("outcome=\""))
                    .map(|o| o.trim_end_matches('"').to_string())
                    .unwrap_or_default();
                let value: f64 = value.trim().parse().unwrap_or(0.0);
                *m.events.entry(outcome).or_default() += value;
            }
        }
        m
    }

    fn events_total(&self) -> f64 {
        self.events.values().sum()
    }

    /// Outcomes with a count, e.g. `applied=3000`.
    fn outcomes(&self) -> String {
        self.events
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let hz = command_output("getconf", &["CLK_TCK"], Duration::from_secs(5))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(100.0);
    Ok(ticks / hz)
}

/// The local RabbitMQ node's process (the oldest `beam.smp`), to account its CPU time.
fn broker_pid() -> Option<u32> {
    command_output("pgrep", &["-o", "beam.smp"], Duration::from_secs(5))?
        .parse()
        .ok()
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs a scenario body with a timeout and always cleans up.
async fn run_scenario<T>(
    scenario: Scenario,
    timeout: Duration,
    body: impl AsyncFnOnce(&Scenario) -> Result<T>,
) -> Result<T> {
    let result = match tokio::time::timeout(timeout, body(&scenario)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!("scenario timed out after {timeout:?}")),
    };
    scenario.cleanup().await;
    result
}

// ------------------------------------------------------------------------------ (2) + (3)

struct E2eResult {
    events: usize,
    seconds: f64,
    per_s: f64,
    cpu_us_per_event: f64,
    /// The bench process (the in-process simulator, mostly) per event.
    sim_cpu_us_per_event: f64,
    /// RabbitMQ's `beam.smp` per event, when its process can be found.
    broker_cpu_us_per_event: Option<f64>,
    outcomes: String,
    publish_per_s: f64,
    perf: Option<String>,
}

async fn end_to_end(args: &Args) -> Result<E2eResult> {
    let scenario = Scenario::new("e2e", args, args.e2e_employees, |_| {}).await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        let (sent, took) = s
            .publish(mover_stream(args.e2e_events, args.e2e_employees))
            .await?;
        let mut worker = s.spawn_worker().await?;
        let broker = broker_pid();
        let t0 = Instant::now();
        let cpu0 = cpu_seconds(worker.pid)?;
        let sim0 = cpu_seconds(std::process::id())?;
        let broker0 = broker.and_then(|pid| cpu_seconds(pid).ok());
        let mut perf = match &args.perf {
            Some(file) => Some(
                Command::new("perf")
                    .args(["record", "-F", "999", "-g", "-o"])
                    .arg(file)
                    .args(["-p", &worker.pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting perf")?,
            ),
            None => None,
        };
        let t1 = s
            .wait_done(&mut worker, sent, args.scenario_timeout)
            .await?;
        let cpu1 = cpu_seconds(worker.pid)?;
        let sim1 = cpu_seconds(std::process::id())?;
        let broker1 = broker.and_then(|pid| cpu_seconds(pid).ok());
        let perf_note = if let Some(child) = perf.as_mut() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while let Ok(None) = child.try_wait() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.wait();
            args.perf.as_ref().map(|p| p.display().to_string())
        } else {
            None
        };
        let metrics = s.metrics(&worker).await?;
        s.stop_worker(worker).await;
        let seconds = (t1 - t0).as_secs_f64();
        Ok(E2eResult {
            events: sent,
            seconds,
            per_s: sent as f64 / seconds,
            cpu_us_per_event: (cpu1 - cpu0) * 1e6 / sent as f64,
            sim_cpu_us_per_event: (sim1 - sim0) * 1e6 / sent as f64,
            broker_cpu_us_per_event: broker0
                .zip(broker1)
                .map(|(b0, b1)| (b1 - b0) * 1e6 / sent as f64),
            outcomes: metrics.outcomes(),
            publish_per_s: sent as f64 / took.as_secs_f64(),
            perf: perf_note,
        })
    })
    .await
}

// ------------------------------------------------------------------------------ (4)

struct VaultCalls {
    mode: String,
    events: usize,
    vault_requests: u64,
    auth_calls: u64,
    seconds: f64,
    outcomes: String,
}

async fn vault_calls(args: &Args, bulk: bool) -> Result<VaultCalls> {
    let scenario = Scenario::new(
        if bulk { "vault-bulk" } else { "vault" },
        args,
        args.vault_employees,
        |t| {
            set(t, "targets.sitevault.enabled", false);
            set(t, "targets.superoffice.enabled", false);
            if bulk {
                set(t, "worker.concurrency", args.bulk_concurrency as i64);
                set(t, "rabbitmq.prefetch", i64::from(args.bulk_prefetch));
                set(t, "targets.vault.bulk.enabled", true);
                set(t, "targets.vault.bulk.max_rows", args.bulk_max_rows as i64);
                set(
                    t,
                    "targets.vault.bulk.max_wait",
                    args.bulk_max_wait.as_str(),
                );
            }
        },
    )
    .await?;
    let mode = if bulk {
        format!(
            "bulk (max_rows {}, max_wait {}), concurrency {}, prefetch {}",
            args.bulk_max_rows, args.bulk_max_wait, args.bulk_concurrency, args.bulk_prefetch
        )
    } else {
        format!(
            "one user per call, concurrency {}, prefetch {}",
            args.concurrency, args.prefetch
        )
    };
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        // A reorg moves employees hrsync already keeps in step: one round first, so each
        // has a recorded state. (Bulk rows are diffed against it; a user hrsync never
        // wrote is read first, as it may be a disabled one to re-activate.)
        s.drain(
            mover_stream(args.vault_employees, args.vault_employees),
            args.scenario_timeout,
        )
        .await?;
        let before = s.sim_stats().await?;
        let Drained {
            sent,
            seconds,
            metrics,
        } = s
            .drain(
                mover_stream_from(args.vault_events, args.vault_employees, 2),
                args.scenario_timeout,
            )
            .await?;
        let stats = s.sim_stats().await?;
        let count = |stats: &Value, pointer: &str| {
            stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
        };
        Ok(VaultCalls {
            mode,
            events: sent,
            vault_requests: count(&stats, "/requests/vault") - count(&before, "/requests/vault"),
            auth_calls: count(&stats, "/auth_calls") - count(&before, "/auth_calls"),
            seconds,
            outcomes: metrics.outcomes(),
        })
    })
    .await
}

// ------------------------------------------------------------------------------ (5)

struct RssResult {
    events: usize,
    idle_mib: f64,
    peak_mib: f64,
    /// (events handled at least, RSS MiB when first seen, seconds in)
    checkpoints: Vec<Checkpoint>,
    handled: f64,
    seconds: f64,
    samples: usize,
}

async fn rss_under_backlog(args: &Args, backlog: usize) -> Result<RssResult> {
    let scenario = Scenario::new("rss", args, args.rss_employees, |_| {}).await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        let (sent, _) = s.publish(mover_stream(backlog, args.rss_employees)).await?;
        let mut worker = s.spawn_worker().await?;
        let idle_mib = rss_mib(worker.pid).unwrap_or(0.0);
        let t0 = Instant::now();
        let limit = Duration::from_secs_f64(args.rss_seconds);
        let marks = [sent / 10, sent / 2, sent];
        let mut checkpoints: Vec<Checkpoint> = marks.iter().map(|m| (*m, None)).collect();
        let mut peak: f64 = idle_mib;
        let mut handled = 0.0;
        let mut samples = 0;
        while t0.elapsed() < limit {
            if let Ok(Some(status)) = worker.child.try_wait() {
                bail!("worker exited ({status}); log:\n{}", tail(&worker.log));
            }
            let Some(rss) = rss_mib(worker.pid) else {
                break;
            };
            samples += 1;
            peak = peak.max(rss);
            handled = s
                .metrics(&worker)
                .await
                .map_or(handled, |m| m.events_total());
            for (mark, seen) in checkpoints.iter_mut() {
                if seen.is_none() && handled >= *mark as f64 {
                    *seen = Some((rss, handled, t0.elapsed().as_secs_f64()));
                }
            }
            if handled >= sent as f64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seconds = t0.elapsed().as_secs_f64();
        s.stop_worker(worker).await;
        Ok(RssResult {
            events: sent,
            idle_mib,
            peak_mib: peak,
            checkpoints,
            handled,
            seconds,
            samples,
        })
    })
    .await
}

// ------------------------------------------------------------------------------ (6)

struct LatencyResult {
    events: usize,
    concurrency: usize,
    per_s: f64,
    /// Non-auth requests per event, by target.
    per_event: BTreeMap<String, f64>,
    ideal_per_s: f64,
    efficiency: f64,
    outcomes: String,
}

async fn latency_bound(args: &Args) -> Result<LatencyResult> {
    let c = args.lat_concurrency;
    let prefetch = (c * 8).clamp(c, u16::MAX as usize) as i64;
    let scenario = Scenario::new("latency", args, args.lat_employees, |t| {
        set(t, "worker.concurrency", c as i64);
        set(t, "rabbitmq.prefetch", prefetch);
    })
    .await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        s.fault(json!({"target": "any", "kind": "latency", "latency_ms": args.latency_ms}))
            .await?;
        let Drained {
            sent,
            seconds,
            metrics,
        } = s
            .drain(
                mover_stream(args.lat_events, args.lat_employees),
                args.scenario_timeout,
            )
            .await?;
        let stats = s.sim_stats().await?;
        let per_s = sent as f64 / seconds;
        let mut per_event = BTreeMap::new();
        if let Some(requests) = stats["requests"].as_object() {
            for (target, count) in requests {
                per_event.insert(target.clone(), count.as_f64().unwrap_or(0.0) / sent as f64);
            }
        }
        // Each event: a read then a write per target, targets in parallel → 2 sequential
        // requests on the critical path, each `latency`.
        let critical = 2.0 * args.latency_ms as f64 / 1000.0;
        let ideal_per_s = c as f64 / critical;
        Ok(LatencyResult {
            events: sent,
            concurrency: c,
            per_s,
            per_event,
            ideal_per_s,
            efficiency: per_s / ideal_per_s,
            outcomes: metrics.outcomes(),
        })
    })
    .await
}

// ------------------------------------------------------------------------------ report

struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn row(&mut self, id: &str, what: &str, value: String, unit: &str, notes: String) {
        self.rows
            .push([id.into(), what.into(), value, unit.into(), notes]);
    }

    fn print(&self) {
        let header = ["#", "measure", "value", "unit", "notes / target"];
        let mut widths = header.map(str::len);
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths[4] = widths[4].min(90);
        let line = |cells: [&str; 5]| {
            println!(
                "| {:<w0$} | {:<w1$} | {:>w2$} | {:<w3$} | {:<w4$} |",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            )
        };
        line(header);
        println!(
            "|{}|{}|{}|{}|{}|",
            "-".repeat(widths[0] + 2),
            "-".repeat(widths[1] + 2),
            "-".repeat(widths[2] + 2),
            "-".repeat(widths[3] + 2),
            "-".repeat(widths[4] + 2)
        );
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "NOT MET"
    }
}

#[tokio::main]
async fn main() {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = std::env::set_current_dir(crate_root()) {
        eprintln!("error: cannot enter {}: {e}", crate_root().display());
        std::process::exit(2);
    }
    let machine = machine_facts();
    println!(
        "hrsync throughput benchmark{}",
        if args.quick { " (--quick)" } else { "" }
    );
    println!(
        "machine: {} cores ({}), kernel {}, RabbitMQ {}, {}",
        machine.nproc, machine.cpu, machine.kernel, machine.rabbitmq, machine.date
    );
    println!("worker binary: {}", worker_bin().display());
    let bulk = vault_bulk_available();
    println!(
        "vault bulk mode (targets.vault.bulk.enabled): {}",
        if bulk {
            "available"
        } else {
            "not available in this build"
        }
    );
    println!();

    let mut table = Table { rows: Vec::new() };
    let mut failures = 0;
    let mut fail = |n: u32, e: anyhow::Error, table: &mut Table| {
        eprintln!("scenario {n} failed: {e:#}");
        table.row(
            &n.to_string(),
            "FAILED",
            "-".into(),
            "-",
            format!("{e:#}").lines().next().unwrap_or("").into(),
        );
        failures += 1;
    };

    let mut raw_rate = None;
    if args.runs(1) {
        println!(
            "(1) raw lapin ceiling: {} x {} B ...",
            args.raw_messages, args.raw_body_bytes
        );
        match raw_ceiling(&args).await {
            Ok(r) => {
                raw_rate = Some(r.consume_per_s);
                table.row(
                    "1",
                    "raw lapin consume+ack, quorum queue",
                    format!("{:.0}", r.consume_per_s),
                    "msg/s",
                    format!(
                        "{} msgs of {} B, prefetch {}, ack each; publish (pipelined, confirms) {:.0} msg/s",
                        r.consumed, args.raw_body_bytes, args.raw_prefetch, r.publish_per_s
                    ),
                );
            }
            Err(e) => fail(1, e, &mut table),
        }
    }

    if args.runs(2) || args.runs(3) {
        println!(
            "(2,3) end to end: {} movers over {} employees ...",
            args.e2e_events, args.e2e_employees
        );
        match end_to_end(&args).await {
            Ok(r) => {
                table.row(
                    "2",
                    "hrsync end to end, zero-latency sim",
                    format!("{:.0}", r.per_s),
                    "events/s",
                    format!(
                        "{} movers / {:.2} s, 3 targets, concurrency {}, prefetch {}; outcomes {}",
                        r.events, r.seconds, args.concurrency, args.prefetch, r.outcomes
                    ),
                );
                if let Some(raw) = raw_rate {
                    let ratio = r.per_s / raw;
                    table.row(
                        "2",
                        "ratio (2) / (1)",
                        format!("{ratio:.3}"),
                        "-",
                        format!("target >= 0.5: {}", verdict(ratio >= 0.5)),
                    );
                }
                table.row(
                    "3",
                    "hrsync CPU time per event",
                    format!("{:.0}", r.cpu_us_per_event),
                    "us/event",
                    "worker process utime+stime (/proc/<pid>/stat) over (2)".into(),
                );
                let others = r.sim_cpu_us_per_event + r.broker_cpu_us_per_event.unwrap_or(0.0);
                let total = r.cpu_us_per_event + others;
                table.row(
                    "3",
                    "CPU per event, whole machine",
                    format!("{total:.0}"),
                    "us/event",
                    format!(
                        "worker {:.0} + simulator (bench process) {:.0} + RabbitMQ {}; {} cores => at most {:.0} events/s on this machine",
                        r.cpu_us_per_event,
                        r.sim_cpu_us_per_event,
                        r.broker_cpu_us_per_event
                            .map_or_else(|| "unknown".to_string(), |b| format!("{b:.0}")),
                        machine.nproc,
                        machine.nproc as f64 * 1e6 / total
                    ),
                );
                if let Some(perf) = r.perf {
                    println!("    perf data: {perf} (perf report -i {perf})");
                }
                let _ = r.publish_per_s;
            }
            Err(e) => fail(2, e, &mut table),
        }
    }

    if args.runs(4) {
        let mut runs = vec![false];
        if bulk {
            runs.insert(0, true);
        }
        for with_bulk in runs {
            println!(
                "(4) Vault calls for {} movers over {} employees{} ...",
                args.vault_events,
                args.vault_employees,
                if with_bulk { ", bulk" } else { "" }
            );
            match vault_calls(&args, with_bulk).await {
                Ok(r) => {
                    let met = r.vault_requests <= 25;
                    table.row(
                        "4",
                        if with_bulk {
                            "Vault API calls, backlog, bulk on"
                        } else {
                            "Vault API calls, backlog, bulk off"
                        },
                        r.vault_requests.to_string(),
                        "calls",
                        format!(
                            "{} movers in {:.1} s ({:.0} events/s{}), {} auth; {}; outcomes {}; target <= 25: {}{}",
                            r.events,
                            r.seconds,
                            r.events as f64 / r.seconds,
                            raw_rate.map_or_else(String::new, |raw| format!(
                                ", {:.2} of (1)",
                                r.events as f64 / r.seconds / raw
                            )),
                            r.auth_calls,
                            r.mode,
                            r.outcomes,
                            verdict(met),
                            if bulk {
                                ""
                            } else {
                                " (bulk mode not available in this build)"
                            }
                        ),
                    );
                }
                Err(e) => fail(4, e, &mut table),
            }
        }
    }

    if args.runs(5) {
        // The same sampling window with a backlog 10x smaller and the full one: RSS that
        // follows the backlog would show here, whatever the worker gets through.
        let mut peaks = Vec::new();
        for backlog in [args.rss_events / 10, args.rss_events] {
            println!(
                "(5) RSS with {backlog} events waiting (sampling up to {} s) ...",
                args.rss_seconds
            );
            match rss_under_backlog(&args, backlog).await {
                Ok(r) => {
                    let mut marks: Vec<String> = Vec::new();
                    for (mark, seen) in &r.checkpoints {
                        marks.push(match seen {
                            Some((rss, _, t)) => format!("{mark}: {rss:.1} MiB @{t:.0}s"),
                            None => format!("{mark}: not reached"),
                        });
                    }
                    peaks.push((r.events, r.peak_mib));
                    table.row(
                        "5",
                        "worker peak RSS, backlog waiting",
                        format!("{:.1}", r.peak_mib),
                        "MiB",
                        format!(
                            "{} queued; ready {:.1} MiB; handled {:.0} in {:.1} s ({} samples); {}; target <= 64 MiB: {}",
                            r.events,
                            r.idle_mib,
                            r.handled,
                            r.seconds,
                            r.samples,
                            marks.join(", "),
                            verdict(r.peak_mib <= 64.0)
                        ),
                    );
                }
                Err(e) => fail(5, e, &mut table),
            }
        }
        if let [(small, small_peak), (large, large_peak)] = peaks[..] {
            let growth = large_peak / small_peak;
            table.row(
                "5",
                "RSS growth with 10x the backlog",
                format!("{growth:.2}"),
                "x",
                format!(
                    "peak {large_peak:.1} MiB with {large} queued / {small_peak:.1} MiB with {small} queued; flat (<= 1.25x): {}",
                    verdict(growth <= 1.25)
                ),
            );
        }
    }

    if args.runs(6) {
        println!(
            "(6) latency-bound: {} events, concurrency {}, {} ms per request ...",
            args.lat_events, args.lat_concurrency, args.latency_ms
        );
        match latency_bound(&args).await {
            Ok(r) => {
                table.row(
                    "6",
                    "events/s with latency on every request",
                    format!("{:.1}", r.per_s),
                    "events/s",
                    format!(
                        "{} events, concurrency {}, {} ms/request; outcomes {}",
                        r.events, r.concurrency, args.latency_ms, r.outcomes
                    ),
                );
                let per_event = r
                    .per_event
                    .iter()
                    .map(|(t, n)| format!("{t} {n:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                table.row(
                    "6",
                    "latency efficiency",
                    format!("{:.3}", r.efficiency),
                    "-",
                    format!(
                        "ideal = C / (2 x {} ms) = {:.1} events/s (read then write per target, targets in parallel); requests/event seen: {per_event}; target >= 0.9: {}",
                        args.latency_ms,
                        r.ideal_per_s,
                        verdict(r.efficiency >= 0.9)
                    ),
                );
            }
            Err(e) => fail(6, e, &mut table),
        }
    }

    println!();
    table.print();
    if failures > 0 {
        std::process::exit(1);
    }
}
