//! The `hrsync` command: the worker, the target simulator, and the operator tools, in one
//! binary so a container image carries everything.

use anyhow::Context;
use clap::{Parser, Subcommand};
use hrsync::config::{Config, DEFAULT_CONFIG_PATH};
use hrsync::ops::{dlq, dry_run, held};
use hrsync::source::{self, publish};
use hrsync::store::{HeldFilter, HeldKind};
use hrsync::worker::Worker;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "hrsync",
    version,
    about = "Keeps Vault, SiteVault, SuperOffice and SCIM 2.0 users in step with HR events from RabbitMQ"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, env = "HRSYNC_CONFIG", default_value = DEFAULT_CONFIG_PATH, global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker (the default).
    Run {
        /// Also start the target simulator in this process, on this address (for trying
        /// hrsync locally with the shipped configuration, which points there).
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8099")]
        with_simulator: Option<SocketAddr>,
    },
    /// Run the target simulator (Vault, SiteVault, SuperOffice, SCIM 2.0) alone.
    Simulator {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: SocketAddr,
    },
    /// Publish HR event files (structured CloudEvents JSON) to the configured exchange.
    Publish {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Load and validate the configuration and its secrets, then exit.
    CheckConfig,
    /// Print the configuration reference (Markdown), generated from the config structs.
    ConfigReference,
    /// Print, per target, the requests the worker would send for an event; send nothing.
    DryRun {
        /// A structured CloudEvent JSON file.
        event: PathBuf,
    },
    /// Dead letters: what failed, why, for which target; replay after a fix.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Future-dated changes waiting to fall due.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Compare an HR snapshot with every account of every target and report drift
    /// (read only). Exit 0 in sync, 1 drift found, 2 error.
    Reconcile {
        /// Current HR records: JSON lines (one event `data` a line) or CSV (`.csv`).
        #[arg(long)]
        snapshot: PathBuf,
        /// Output: a table for people, or JSON / CSV for scripts.
        #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Table)]
        output: ReportFormat,
        /// Exit 0 when drift is found (scheduled runs: drift is reported through the
        /// worker's metrics and alerts, and the Job should fail only on errors).
        #[arg(long)]
        exit_zero_on_drift: bool,
        /// Publish corrective events into the worker's queue (a dry run otherwise): movers
        /// for drift, missing and unlinked accounts, leavers for people who left, under the
        /// same dedupe, ordering and guards as HR's events. Orphans and ambiguous matches
        /// are only reported.
        #[arg(long)]
        apply: bool,
        /// Who corrects, for the state store (defaults to $USER, else `reconcile`).
        #[arg(long, env = "USER", default_value = "reconcile")]
        actor: String,
    },
    /// Operations held back by the mass-deprovision guard or the creation guard.
    Staged {
        #[command(subcommand)]
        command: StagedCommand,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters (they stay in the queue).
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter: its headers and body.
    Show { id: String },
    /// Move dead letters back to the work queue, keeping their event ids; their failed
    /// targets are opened to the event again (recorded in the audit log with --actor).
    Replay {
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        /// Who replays, for the audit log (defaults to $USER).
        #[arg(long, env = "USER")]
        actor: String,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// List pending scheduled changes, earliest first.
    List(Selection),
}

#[derive(Subcommand)]
enum StagedCommand {
    /// List staged deprovisioning.
    List(Selection),
    /// Apply staged deprovisioning (republished to the work queue; recorded with --actor).
    Release(Decision),
    /// Drop staged deprovisioning without applying it (recorded with --actor).
    Discard(Decision),
}

#[derive(clap::Args)]
struct Selection {
    /// Only this employee.
    #[arg(long)]
    employee: Option<String>,
    /// Only held at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    since: Option<time::OffsetDateTime>,
    /// Only held at or before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    until: Option<time::OffsetDateTime>,
    /// Only this action: `joiner` and `mover` are held by the creation guard, `leaver` by
    /// the mass-deprovision guard (or scheduled).
    #[arg(long, value_parser = ["joiner", "mover", "leaver"])]
    action: Option<String>,
}

#[derive(clap::Args)]
struct Decision {
    #[command(flatten)]
    selection: Selection,
    /// Every staged operation (required when no --employee, --since, --until or --action
    /// narrows it).
    #[arg(long)]
    all: bool,
    /// Who decides, for the audit log (defaults to $USER).
    #[arg(long, env = "USER")]
    actor: String,
}

fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

impl Selection {
    fn filter(&self) -> HeldFilter {
        HeldFilter {
            employee_id: self.employee.clone(),
            since: self.since,
            until: self.until,
            action: self.action.clone(),
        }
    }

    fn is_narrowed(&self) -> bool {
        self.employee.is_some()
            || self.since.is_some()
            || self.until.is_some()
            || self.action.is_some()
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli).await {
        eprintln!("hrsync: {e:#}");
        std::process::exit(2);
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run {
        with_simulator: None,
    }) {
        Command::Run { with_simulator } => run(&cli.config, with_simulator).await,
        Command::Simulator { listen } => embedded_simulator::run(listen).await,
        Command::Publish { files } => publish_files(&cli.config, &files).await,
        Command::CheckConfig => check_config(&cli.config),
        Command::ConfigReference => {
            print!("{}", hrsync::config::reference::markdown());
            Ok(())
        }
        Command::DryRun { event } => dry_run(&cli.config, &event),
        Command::Dlq { command } => dlq(&cli.config, command).await,
        Command::Schedule {
            command: ScheduleCommand::List(selection),
        } => list_held(&cli.config, HeldKind::Scheduled, &selection).await,
        Command::Staged { command } => staged(&cli.config, command).await,
        Command::Reconcile {
            snapshot,
            output,
            exit_zero_on_drift,
            apply,
            actor,
        } => {
            let options = hrsync::reconcile::Options {
                snapshot,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                apply,
                actor,
            };
            reconcile(&cli.config, options, output, exit_zero_on_drift).await
        }
    }
}

/// Exits 1 when drift was found (0 in sync); errors exit 2 through `main`.
async fn reconcile(
    path: &std::path::Path,
    options: hrsync::reconcile::Options,
    output: ReportFormat,
    exit_zero_on_drift: bool,
) -> anyhow::Result<()> {
    let config = load(path)?;
    let report = hrsync::reconcile::run(&config, &options).await?;
    let text = match output {
        ReportFormat::Table => hrsync::reconcile::report::table(&report),
        ReportFormat::Json => hrsync::reconcile::report::json(&report) + "\n",
        ReportFormat::Csv => hrsync::reconcile::report::csv(&report)?,
    };
    print!("{text}");
    std::io::Write::flush(&mut std::io::stdout())?;
    if report.found_drift() && !exit_zero_on_drift {
        std::process::exit(1);
    }
    Ok(())
}

fn dry_run(path: &std::path::Path, event: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let body = std::fs::read(event).with_context(|| format!("cannot read {}", event.display()))?;
    print!("{}", dry_run::render(&dry_run::plan(&config, &body)?));
    Ok(())
}

async fn dlq(path: &std::path::Path, command: DlqCommand) -> anyhow::Result<()> {
    let config = load(path)?;
    match command {
        DlqCommand::List { limit } => {
            let letters = dlq::list(&config, limit).await?;
            println!(
                "{:<38} {:<12} {:<18} {:<26} ERROR",
                "ID", "TARGET", "REASON", "DEAD-LETTERED AT"
            );
            for l in &letters {
                println!(
                    "{:<38} {:<12} {:<18} {:<26} {}",
                    l.id, l.target, l.reason, l.dead_lettered_at, l.error
                );
            }
            println!("{} dead letter(s) shown", letters.len());
        }
        DlqCommand::Show { id } => {
            let letter = dlq::show(&config, &id)
                .await?
                .with_context(|| format!("no dead letter {id}"))?;
            println!("{}", serde_json::to_string_pretty(&letter.headers)?);
            println!("{}", String::from_utf8_lossy(&letter.body));
        }
        DlqCommand::Replay {
            target,
            reason,
            limit,
            actor,
        } => {
            let store = hrsync::worker::open_store(&config)
                .await?
                .with_actor(&actor);
            let selection = dlq::Selection {
                target,
                reason,
                limit,
            };
            let done = dlq::replay(&config, &store, &selection, |c| {
                eprintln!("replayed {}, left {} not selected", c.replayed, c.skipped)
            })
            .await?;
            println!(
                "replayed {} dead letter(s); {} not selected stay in the queue",
                done.replayed, done.skipped
            );
        }
    }
    Ok(())
}

async fn list_held(
    path: &std::path::Path,
    kind: HeldKind,
    selection: &Selection,
) -> anyhow::Result<()> {
    let config = load(path)?;
    let store = hrsync::worker::open_store(&config).await?;
    let held = store.pending_held(kind, &selection.filter()).await?;
    let when = if kind == HeldKind::Scheduled {
        "DUE"
    } else {
        "STAGED AT"
    };
    println!("{}", held::table(&held, when));
    Ok(())
}

async fn staged(path: &std::path::Path, command: StagedCommand) -> anyhow::Result<()> {
    let (decision, release) = match command {
        StagedCommand::List(selection) => {
            return list_held(path, HeldKind::Staged, &selection).await
        }
        StagedCommand::Release(decision) => (decision, true),
        StagedCommand::Discard(decision) => (decision, false),
    };
    anyhow::ensure!(
        decision.all || decision.selection.is_narrowed(),
        "name what to decide on: --employee, --since/--until, --action, or --all"
    );
    let config = load(path)?;
    let store = hrsync::worker::open_store(&config).await?;
    let filter = decision.selection.filter();
    let counts = if release {
        held::release_staged(&config, &store, &filter, &decision.actor).await?
    } else {
        held::discard_staged(&store, &filter, &decision.actor).await?
    };
    let verb = if release { "released" } else { "discarded" };
    println!(
        "{verb} {} staged operation(s) as {}; {} already decided by someone else",
        counts.decided, decision.actor, counts.skipped
    );
    Ok(())
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

async fn run(path: &std::path::Path, with_simulator: Option<SocketAddr>) -> anyhow::Result<()> {
    let config = load(path)?;
    hrsync::telemetry::init(&config.log);
    if let Some(addr) = with_simulator {
        embedded_simulator::start(addr).await?;
    }
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
    let worker = Worker::start(config, listener).await?;
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    worker.stop().await;
    Ok(())
}

/// The target simulator in this process, from the `hrsync-sim` crate behind the default
/// feature `simulator`; a build without it says so instead of failing to compile.
#[cfg(feature = "simulator")]
mod embedded_simulator {
    use super::*;
    use hrsync::simulator::{self, Simulator, SimulatorConfig};

    /// Starts the simulator beside the worker (`run --with-simulator`).
    pub async fn start(addr: SocketAddr) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("simulator cannot listen on {addr}"))?;
        tracing::info!(%addr, "target simulator started");
        let sim = Simulator::new(SimulatorConfig::for_address(addr));
        tokio::spawn(simulator::serve(listener, sim, std::future::pending()));
        Ok(())
    }

    /// Runs the simulator alone until a shutdown signal (`hrsync simulator`).
    pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
        hrsync::telemetry::init(&Default::default());
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, "target simulator listening");
        let sim = Simulator::new(SimulatorConfig::for_address(listen));
        simulator::serve(listener, sim, async { shutdown_signal().await }).await?;
        Ok(())
    }
}

#[cfg(not(feature = "simulator"))]
mod embedded_simulator {
    use std::net::SocketAddr;

    const MISSING: &str = "this hrsync was built without the simulator (feature `simulator`); \
                           run the hrsync-sim binary instead";

    pub async fn start(_: SocketAddr) -> anyhow::Result<()> {
        anyhow::bail!(MISSING)
    }

    pub async fn run(_: SocketAddr) -> anyhow::Result<()> {
        anyhow::bail!(MISSING)
    }
}

async fn publish_files(path: &std::path::Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let config = load(path)?;
    let connection = source::connect_configured(&config.rabbitmq, "hrsync-publish").await?;
    let channel = publish::confirm_channel(&connection).await?;
    source::topology::declare(&connection, &config.rabbitmq, &config.retry.all_delays()).await?;
    for file in files {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        publish::publish_event(&channel, &config.rabbitmq, &body)
            .await
            .with_context(|| format!("cannot publish {}", file.display()))?;
        println!(
            "published {} to exchange {}",
            file.display(),
            config.rabbitmq.exchange
        );
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}

fn check_config(path: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let checked = hrsync::ops::check::check(&config)?;
    for warning in &checked.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}: configuration is valid", path.display());
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
