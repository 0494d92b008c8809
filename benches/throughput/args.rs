//! The bench's flags (clap). Sizes that `--quick` shrinks are `Option`s on the command
//! line and concrete in [`Args`], so a flag given by hand wins over `--quick`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "throughput",
    about = "hrsync throughput benchmark: figures against a real RabbitMQ, floors measured in the same run",
    after_help = "Environment: HRSYNC_BIN (the worker binary; default: the one built beside the bench)."
)]
struct Cli {
    /// Every size ~10x smaller (smoke run).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run, e.g. 1,2,3 (3 needs 2; the ratios to the floors in 3 and 4 need 1).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3, 4, 5, 6, 7])]
    only: Vec<u32>,
    /// (1) Messages published then consumed [20000].
    #[arg(long)]
    raw_messages: Option<usize>,
    /// (1) Consumer prefetch.
    #[arg(long, default_value_t = 256)]
    raw_prefetch: u16,
    /// (1) Message size.
    #[arg(long, default_value_t = 1024)]
    raw_body_bytes: usize,
    /// (1) Floor (b): reqwest GET + PUT pairs against the simulator [10000].
    #[arg(long)]
    floor_pairs: Option<usize>,
    /// (2,3) Mover events [3000].
    #[arg(long)]
    e2e_events: Option<usize>,
    /// (2,3) Employees they are spread over [300].
    #[arg(long)]
    e2e_employees: Option<usize>,
    /// worker.concurrency for (2,3,4-plain,5).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// rabbitmq.prefetch for (2,3,4-plain,5).
    #[arg(long, default_value_t = 256)]
    prefetch: u16,
    /// (4) Mover backlog [10000].
    #[arg(long)]
    vault_events: Option<usize>,
    /// (4) Employees [1000].
    #[arg(long)]
    vault_employees: Option<usize>,
    /// (4, bulk; 5, bulk run) worker.concurrency.
    #[arg(long, default_value_t = 1000)]
    bulk_concurrency: usize,
    /// (4, bulk; 5, bulk run) rabbitmq.prefetch.
    #[arg(long, default_value_t = 2000)]
    bulk_prefetch: u16,
    /// (4, bulk) targets.vault.bulk.max_rows.
    #[arg(long, default_value_t = 500)]
    bulk_max_rows: usize,
    /// (4, bulk) targets.vault.bulk.max_wait.
    #[arg(long, default_value = "2s")]
    bulk_max_wait: String,
    /// (5) Backlog [100000].
    #[arg(long)]
    rss_events: Option<usize>,
    /// (5) Employees [1000].
    #[arg(long)]
    rss_employees: Option<usize>,
    /// (5) Longest sampling time in seconds [30].
    #[arg(long)]
    rss_seconds: Option<f64>,
    /// (6) Events [1000].
    #[arg(long)]
    lat_events: Option<usize>,
    /// (6) Employees [500].
    #[arg(long)]
    lat_employees: Option<usize>,
    /// (6) worker.concurrency (prefetch = 8x).
    #[arg(long, default_value_t = 32)]
    lat_concurrency: usize,
    /// (6) Simulator latency on every request, ms.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// (7) People in the reconciliation snapshot, and accounts per target [2000].
    #[arg(long)]
    recon_people: Option<usize>,
    /// Give up on a scenario after this many seconds [300].
    #[arg(long)]
    scenario_timeout: Option<f64>,
    /// The worker's log.level.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// perf record -g the worker during (2) into FILE.
    #[arg(long, value_name = "FILE")]
    perf: Option<PathBuf>,
    /// Keep the worker logs (temp dir).
    #[arg(long)]
    keep: bool,
    /// Passed by `cargo bench` to benches without the test harness.
    #[arg(long, hide = true)]
    bench: bool,
    /// A `cargo bench -- NAME` filter: ignored.
    #[arg(hide = true)]
    filter: Vec<String>,
}

/// The settings of one run, `--quick` applied.
#[derive(Debug, Clone)]
pub struct Args {
    pub quick: bool,
    pub only: Vec<u32>,
    pub raw_messages: usize,
    pub raw_prefetch: u16,
    pub raw_body_bytes: usize,
    pub floor_pairs: usize,
    pub e2e_events: usize,
    pub e2e_employees: usize,
    pub concurrency: usize,
    pub prefetch: u16,
    pub vault_events: usize,
    pub vault_employees: usize,
    pub bulk_concurrency: usize,
    pub bulk_prefetch: u16,
    pub bulk_max_rows: usize,
    pub bulk_max_wait: String,
    pub rss_events: usize,
    pub rss_employees: usize,
    pub rss_seconds: f64,
    pub lat_events: usize,
    pub lat_employees: usize,
    pub lat_concurrency: usize,
    pub latency_ms: u64,
    pub recon_people: usize,
    pub scenario_timeout: Duration,
    pub log_level: String,
    pub perf: Option<PathBuf>,
    pub keep: bool,
}

impl Args {
    /// Parses the command line; exits with clap's message on a bad flag.
    pub fn parse() -> Result<Args> {
        let cli = Cli::parse();
        let quick = cli.quick;
        let size = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full })
        };
        let args = Args {
            quick,
            only: cli.only,
            raw_messages: size(cli.raw_messages, 20_000, 2_000),
            raw_prefetch: cli.raw_prefetch,
            raw_body_bytes: cli.raw_body_bytes,
            floor_pairs: size(cli.floor_pairs, 10_000, 1_000),
            e2e_events: size(cli.e2e_events, 3_000, 300),
            e2e_employees: size(cli.e2e_employees, 300, 100),
            concurrency: cli.concurrency,
            prefetch: cli.prefetch,
            vault_events: size(cli.vault_events, 10_000, 1_000),
            vault_employees: size(cli.vault_employees, 1_000, 500),
            bulk_concurrency: cli.bulk_concurrency,
            bulk_prefetch: cli.bulk_prefetch,
            bulk_max_rows: cli.bulk_max_rows,
            bulk_max_wait: cli.bulk_max_wait,
            rss_events: size(cli.rss_events, 100_000, 10_000),
            rss_employees: size(cli.rss_employees, 1_000, 500),
            rss_seconds: cli.rss_seconds.unwrap_or(if quick { 5.0 } else { 30.0 }),
            lat_events: size(cli.lat_events, 1_000, 200),
            lat_employees: size(cli.lat_employees, 500, 100),
            lat_concurrency: cli.lat_concurrency,
            latency_ms: cli.latency_ms,
            recon_people: size(cli.recon_people, 2_000, 500),
            scenario_timeout: Duration::from_secs_f64(cli.scenario_timeout.unwrap_or(if quick {
                120.0
            } else {
                300.0
            })),
            log_level: cli.log_level,
            perf: cli.perf,
            keep: cli.keep,
        };
        for (name, employees) in [
            ("e2e-employees", args.e2e_employees),
            ("vault-employees", args.vault_employees),
            ("rss-employees", args.rss_employees),
            ("lat-employees", args.lat_employees),
        ] {
            if employees == 0 {
                bail!("--{name} must be at least 1");
            }
        }
        Ok(args)
    }

    pub fn runs(&self, scenario: u32) -> bool {
        self.only.contains(&scenario)
    }
}
