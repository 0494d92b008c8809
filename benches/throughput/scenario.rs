//! One scenario's world, on the test kit's [`Harness`]: its own exchange, queues and
//! SQLite store, the simulator in this process (its request log cleared every second so
//! the bench's own memory stays small), and the worker as a child process running the
//! release binary with the shipped configuration and `HRSYNC_*` overrides, so its CPU time
//! and RSS are its own. Every wait is bounded; [`run_scenario`] always cleans up.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hrsync_testkit::{staff_mover, Fault, FaultTarget, Harness, SimulatorConfig, WorkerProcess};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};
use serde_json::Value;

use crate::args::Args;
use crate::machine::cpu_seconds;

pub struct Scenario {
    pub h: Harness,
    log_clearer: tokio::task::JoinHandle<()>,
    /// The worker's settings beyond the harness's (`HRSYNC_*` name, value).
    worker_env: Vec<(String, String)>,
    keep: bool,
}

impl Scenario {
    /// A scenario whose simulator seeds `seed_users` accounts per target and whose worker
    /// gets `worker_env` (e.g. `("TARGETS__SITEVAULT__ENABLED", "false")`) on top of the
    /// bench's concurrency, prefetch and log level.
    pub async fn new(
        args: &Args,
        seed_users: usize,
        worker_env: &[(&str, String)],
    ) -> Result<Scenario> {
        let h = Harness::builder()
            .simulator(SimulatorConfig {
                burst_limit: 10_000_000,
                seed_users: seed_users.max(300),
                ..SimulatorConfig::default()
            })
            .config(|c| {
                // Nothing is deferred in a healthy run; a slow round would show as a stall.
                c.retry.deferral_delays = vec![Duration::from_secs(5).into()];
                c.retry.park_delay = Duration::from_secs(5);
                c.edit_target(|so: &mut hrsync_testkit::SuperOfficeConfig| {
                    so.rate_limit_per_second = 100_000
                });
            })
            .without_worker()
            .start()
            .await;
        let log_clearer = {
            let http = h.http.clone();
            let url = format!("{}/_sim/requests", h.sim_url);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = http.delete(&url).send().await;
                }
            })
        };
        let mut env = vec![
            ("WORKER__CONCURRENCY", args.concurrency.to_string()),
            ("RABBITMQ__PREFETCH", args.prefetch.to_string()),
            ("LOG__LEVEL", args.log_level.clone()),
        ];
        env.extend(worker_env.iter().map(|(k, v)| (*k, v.clone())));
        Ok(Scenario {
            h,
            log_clearer,
            worker_env: env
                .into_iter()
                .map(|(k, v)| (format!("HRSYNC_{k}"), v))
                .collect(),
            keep: args.keep,
        })
    }

    /// Publishes `events` pipelined; how many and how long it took.
    pub async fn publish(&self, events: impl Iterator<Item = Value>) -> Result<(usize, Duration)> {
        let started = Instant::now();
        let properties = BasicProperties::default()
            .with_content_type("application/cloudevents+json".into())
            .with_delivery_mode(2);
        let sent = publish_pipelined(
            &self.h.channel,
            &self.h.config.rabbitmq.exchange,
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

    /// Every simulator request delayed by `ms`.
    pub async fn slow_targets(&self, ms: u64) {
        self.h.sim.fault(Fault::latency(FaultTarget::Any, ms)).await;
    }

    /// The simulator's call counters (`auth_calls`, `requests.<target>`).
    pub async fn sim_stats(&self) -> Value {
        self.h.sim.get("/_sim/stats").await
    }

    /// Starts `hrsync run` and waits until it is ready (60 s at most).
    pub async fn spawn_worker(&self) -> Result<WorkerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("{}-proc", self.h.unique));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("worker.log");
        let child = self
            .h
            .worker_command(port)
            .envs(self.worker_env.iter().cloned())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting the worker")?;
        let mut process = WorkerProcess {
            child,
            http: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .h
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

    pub async fn metrics(&self, process: &WorkerProcess) -> Result<Metrics> {
        let text = self
            .h
            .http
            .get(format!("{}/metrics", process.http))
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .text()
            .await?;
        Ok(Metrics::parse(&text))
    }

    /// Waits until `events` were handled, every queue is empty and the worker holds
    /// nothing; returns when that was first seen.
    pub async fn wait_done(
        &self,
        process: &mut WorkerProcess,
        events: usize,
        within: Duration,
    ) -> Result<Instant> {
        let deadline = Instant::now() + within;
        let queue = &self.h.config.rabbitmq.queue;
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                bail!("worker exited ({status}); log:\n{}", tail(&process.log));
            }
            // The queue depth is cheap to ask; the metrics and retry queues only once it
            // is empty.
            if self.h.queue_depth(queue).await == 0 {
                let now = Instant::now();
                let m = self.metrics(process).await?;
                if m.in_flight == 0.0
                    && m.events_total() >= events as f64
                    && self.h.pending().await == 0
                {
                    return Ok(now);
                }
            }
            if Instant::now() > deadline {
                let m = self.metrics(process).await.unwrap_or_default();
                bail!(
                    "not done within {within:?}: depth {}, in flight {}, handled {} of {events}",
                    self.h.queue_depth(queue).await,
                    m.in_flight,
                    m.events_total()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes `events`, starts the worker and waits until it handled them all; the
    /// time counts from the worker being ready.
    pub async fn drain(
        &self,
        events: impl Iterator<Item = Value>,
        within: Duration,
    ) -> Result<Drained> {
        Ok(self.drain_with_cpu(events, within).await?.0)
    }

    /// [`Scenario::drain`], and the worker's CPU time (utime+stime, seconds) from it being
    /// ready to every event handled.
    pub async fn drain_with_cpu(
        &self,
        events: impl Iterator<Item = Value>,
        within: Duration,
    ) -> Result<(Drained, f64)> {
        let (sent, _) = self.publish(events).await?;
        let mut worker = self.spawn_worker().await?;
        let t0 = Instant::now();
        let cpu0 = cpu_seconds(worker.child.id())?;
        let t1 = self.wait_done(&mut worker, sent, within).await?;
        let cpu1 = cpu_seconds(worker.child.id())?;
        let metrics = self.metrics(&worker).await?;
        self.h.stop_process(worker).await;
        let drained = Drained {
            sent,
            seconds: (t1 - t0).as_secs_f64(),
            metrics,
        };
        Ok((drained, cpu1 - cpu0))
    }

    /// Deletes the scenario's queues, exchanges and store, stops the simulator; the worker
    /// logs stay with `--keep`.
    async fn cleanup(self) {
        self.log_clearer.abort();
        let logs = std::env::temp_dir().join(format!("{}-proc", self.h.unique));
        if self.keep {
            println!("  (kept {})", logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&logs);
        }
        self.h.stop().await;
    }
}

/// SIGINT to a helper process (perf), then wait for it (60 s at most).
pub async fn interrupt(child: &mut std::process::Child) {
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
}

/// Event `j` of a stream spread round-robin over `employees`: every employee's events are
/// in sequence order, and neighbouring events belong to different employees.
pub fn mover_stream(events: usize, employees: usize) -> impl Iterator<Item = Value> {
    mover_stream_from(events, employees, 1)
}

/// The worker settings of Vault's bulk mode as the bench runs it (`--bulk-*` flags).
pub fn bulk_env(args: &Args) -> Vec<(&'static str, String)> {
    vec![
        ("WORKER__CONCURRENCY", args.bulk_concurrency.to_string()),
        ("RABBITMQ__PREFETCH", args.bulk_prefetch.to_string()),
        ("TARGETS__VAULT__BULK__ENABLED", "true".to_string()),
        (
            "TARGETS__VAULT__BULK__MAX_ROWS",
            args.bulk_max_rows.to_string(),
        ),
        ("TARGETS__VAULT__BULK__MAX_WAIT", args.bulk_max_wait.clone()),
    ]
}

/// [`mover_stream`] with sequences starting at `first` (after a warm-up round).
pub fn mover_stream_from(
    events: usize,
    employees: usize,
    first: u64,
) -> impl Iterator<Item = Value> {
    (0..events).map(move |j| staff_mover(j % employees, (j / employees) as u64 + first))
}

/// Runs a scenario body with a timeout and always cleans up.
pub async fn run_scenario<T>(
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

pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// What [`Scenario::drain`] saw.
pub struct Drained {
    pub sent: usize,
    pub seconds: f64,
    pub metrics: Metrics,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub in_flight: f64,
    /// `hrsync_events_total` by outcome.
    pub events: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
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

    pub fn events_total(&self) -> f64 {
        self.events.values().sum()
    }

    /// Outcomes with a count, e.g. `applied=3000`.
    pub fn outcomes(&self) -> String {
        self.events
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Publishes bodies pipelined, waiting for confirms every `batch`.
pub async fn publish_pipelined(
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

pub async fn confirm_all(channel: &Channel) -> Result<()> {
    let returned = tokio::time::timeout(Duration::from_secs(60), channel.wait_for_confirms())
        .await
        .context("publisher confirms timed out")??;
    if !returned.is_empty() {
        bail!("{} messages were returned unroutable", returned.len());
    }
    Ok(())
}
