//! (1, floor (b)) Bare reqwest CPU per request pair against the in-process simulator: the
//! two calls of a diff-before-write Vault event — a keep-alive `GET
//! /api/{version}/objects/users/{id}` and a form-urlencoded `PUT` of `user_title__v` to
//! the same path — with a Vault session as hrsync sends it (`Authorization: {sessionId}`).
//!
//! Only the client's CPU counts: it runs on a thread of its own with a current-thread
//! tokio runtime (so hyper's connection task runs there too), and that thread's utime +
//! stime (`/proc/thread-self/stat`) is read before and after N pairs, after a warm-up. The
//! simulator answers on the bench's other runtime threads; its CPU is not in the figure.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hrsync_testkit::{SimulatorConfig, VaultConfig};
use serde_json::Value;

use crate::args::Args;
use crate::machine::{clock_ticks_per_second, thread_cpu_seconds};
use crate::report::Report;
use crate::scenario::{run_scenario, Scenario};

/// Seeded Vault users the pairs go round (`25001..`, the simulator's seed).
const USERS: usize = 300;
const FIRST_USER: usize = 25001;

/// Runs floor (b); its figure becomes `report.floor_pair_us`.
pub async fn run(args: &Args, report: &mut Report) {
    println!(
        "(1) floor (b): {} reqwest GET + form PUT pairs against the simulator ...",
        args.floor_pairs
    );
    match http_floor(args).await {
        Ok(r) => {
            report.floor_pair_us = Some(r.cpu_us_per_pair);
            report.table.row(
                "1",
                "floor (b): reqwest GET+PUT pair CPU",
                format!("{:.1}", r.cpu_us_per_pair),
                "us/pair",
                format!(
                    "client thread utime+stime (/proc/thread-self/stat), own current-thread runtime, one keep-alive connection; {} pairs (after {} warm-up) in {:.2} s",
                    r.pairs, r.warmup, r.seconds
                ),
            );
        }
        Err(e) => report.fail(1, e),
    }
}

struct FloorResult {
    pairs: usize,
    warmup: usize,
    seconds: f64,
    cpu_us_per_pair: f64,
}

/// What the client thread needs: where, who, how many.
struct Client {
    /// `{base_url}/api/{version}`.
    api: String,
    username: String,
    password: String,
    warmup: usize,
    pairs: usize,
    within: Duration,
}

async fn http_floor(args: &Args) -> Result<FloorResult> {
    let scenario = Scenario::new(args, USERS, &[]).await?;
    let vault: Option<VaultConfig> = scenario.h.config.target();
    let simulator = SimulatorConfig::default();
    let within = args.scenario_timeout;
    let client = vault.map(|vault| Client {
        api: format!(
            "{}/api/{}",
            vault.base_url.trim_end_matches('/'),
            vault.api_version
        ),
        username: simulator.vault_username,
        password: simulator.vault_password,
        warmup: (args.floor_pairs / 10).clamp(1, 500),
        pairs: args.floor_pairs.max(1),
        within,
    });
    run_scenario(scenario, within, async move |_: &Scenario| {
        let client = client.context("no [targets.vault] in the shipped configuration")?;
        // Read once here, not between the client's two readings (it runs `getconf`).
        clock_ticks_per_second();
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("bench-http-floor".into())
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("building the client runtime")
                    .and_then(|runtime| runtime.block_on(client.run()));
                let _ = done.send(outcome);
            })
            .context("starting the client thread")?;
        result.await.context("the client thread panicked")?
    })
    .await
}

impl Client {
    async fn run(self) -> Result<FloorResult> {
        let within = self.within;
        tokio::time::timeout(within, self.pairs_measured())
            .await
            .with_context(|| format!("floor (b) not done within {within:?}"))?
    }

    async fn pairs_measured(self) -> Result<FloorResult> {
        let http = reqwest::Client::new();
        let auth: Value = http
            .post(format!("{}/auth", self.api))
            .form(&[
                ("username", self.username.as_str()),
                ("password", self.password.as_str()),
            ])
            .send()
            .await?
            .json()
            .await?;
        let session = auth["sessionId"]
            .as_str()
            .with_context(|| format!("no session from the simulator's Vault auth: {auth}"))?
            .to_string();
        for i in 0..self.warmup {
            self.pair(&http, &session, i).await?;
        }
        let cpu0 = thread_cpu_seconds()?;
        let t0 = Instant::now();
        for i in 0..self.pairs {
            self.pair(&http, &session, self.warmup + i).await?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = thread_cpu_seconds()?;
        Ok(FloorResult {
            pairs: self.pairs,
            warmup: self.warmup,
            seconds,
            cpu_us_per_pair: (cpu1 - cpu0) * 1e6 / self.pairs as f64,
        })
    }

    /// One event's calls: read user `i`, then write its title. Each answer is read in
    /// full and checked for Vault's `SUCCESS` (a substring test, no JSON parse).
    async fn pair(&self, http: &reqwest::Client, session: &str, i: usize) -> Result<()> {
        let url = format!("{}/objects/users/{}", self.api, FIRST_USER + i % USERS);
        let read = http
            .get(&url)
            .header("Authorization", session)
            .header("Accept", "application/json")
            .send()
            .await?
            .text()
            .await?;
        let title = format!("Floor {i}");
        let write = http
            .put(&url)
            .header("Authorization", session)
            .header("Accept", "application/json")
            .form(&[("user_title__v", title.as_str())])
            .send()
            .await?
            .text()
            .await?;
        for (call, body) in [("GET", &read), ("PUT", &write)] {
            if !body.contains("SUCCESS") {
                bail!("{call} {url} failed: {body}");
            }
        }
        Ok(())
    }
}
