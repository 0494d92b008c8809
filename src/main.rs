//! The `hrsync` command: the worker, the target simulator, and the operator tools, in one
//! binary so a container image carries everything.

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, Parser, Subcommand};
use hrsync::config::{Config, DEFAULT_CONFIG_PATH};
use hrsync::ops::output::{self, note};
use hrsync::ops::{audit, dlq, dry_run, held, online};
use hrsync::source::{self, publish};
use hrsync::store::{HeldFilter, HeldKind};
use hrsync::worker::Worker;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;

/// The day this binary was built, `YYYY-MM-DD` (build.rs).
const BUILD_DATE: &str = include_str!(concat!(env!("OUT_DIR"), "/build-date"));

/// `hrsync --version`: the version, the git commit and the day it was built (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GIT_REVISION"),
    ", built ",
    include_str!(concat!(env!("OUT_DIR"), "/build-date")),
    ")"
);

const EXIT_CODES: &str = "\
Exit codes: 0 done; 1 a runtime error (cannot connect, not found, a failed check, not \
ready); 2 a usage error (a wrong command, option or value). `hrsync reconcile` differs: 1 \
drift found, 2 an error or an aborted run.";

#[derive(Parser)]
#[command(
    name = "hrsync",
    version = VERSION,
    about = "Keeps Vault, SiteVault, SuperOffice and SCIM 2.0 users in step with HR events from RabbitMQ",
    after_help = EXIT_CODES
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
        /// Drain what is queued, then exit 0 (CronJobs, migrations). Messages waiting in
        /// the delayed-retry queues and changes scheduled for later stay for the next run.
        #[arg(long)]
        once: bool,
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
    /// Load and validate the configuration and its secrets, then exit; with --online, also
    /// log in to the broker, the state store and each enabled target.
    CheckConfig {
        /// Also check against the real services: broker login and its exchanges and queues
        /// (passive: nothing is created), the store and its migrations (read-only), and each
        /// enabled target's login. One line per check; exit 1 if any failed.
        #[arg(long, overrides_with = "no_online")]
        online: bool,
        /// Only the offline check (the default).
        #[arg(long)]
        no_online: bool,
    },
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
    /// The audit log of the state store: who changed what, when (field names, never values).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Exit 0 when the worker's /readyz answers ready, 1 otherwise, with one line on
    /// stderr (for the distroless image, which has no curl).
    Healthcheck {
        /// The readiness URL (default: /readyz on the configured http.listen, through
        /// loopback when it listens on every address).
        #[arg(long)]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        timeout: u64,
    },
    /// Print a shell completion script, generated from these definitions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from these definitions.
    Man {
        /// Write a page per command (hrsync.1, hrsync-dlq.1, …) into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `-o table|json` of the list and show commands.
#[derive(Clone, Copy, Default, clap::ValueEnum)]
enum Format {
    /// Columns for a terminal.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

fn target_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(dlq::target_names())
}

fn reason_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(dlq::reasons())
}

/// Which dead letters a command takes.
#[derive(clap::Args)]
struct LetterFilter {
    /// Only dead letters of this target (`none`: of no target, e.g. invalid events).
    #[arg(long, value_parser = target_parser())]
    target: Option<String>,
    /// Only dead letters with this reason.
    #[arg(long, value_parser = reason_parser())]
    reason: Option<String>,
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
        #[command(flatten)]
        filter: LetterFilter,
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// Show one dead letter (by dead-letter id or event id): its headers and body; with
    /// `-o json`, one JSON document.
    Show {
        id: String,
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// Write dead letters as JSON lines (one letter a line: headers and body), leaving them
    /// in the queue: keep them before any purge.
    Export {
        /// Write here instead of stdout (replaced once the export is complete).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        #[command(flatten)]
        filter: LetterFilter,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Move dead letters back to the work queue, keeping their event ids; their failed
    /// targets are opened to the event again (recorded in the audit log with --actor).
    Replay {
        #[command(flatten)]
        filter: LetterFilter,
        /// Only this dead letter (its dead-letter id or event id).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        /// List what would be replayed; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output of --dry-run.
        #[arg(short = 'o', long, value_enum, default_value_t, requires = "dry_run")]
        output: Format,
        /// Who replays, for the audit log (defaults to $USER).
        #[arg(long, env = "USER", required_unless_present = "dry_run")]
        actor: Option<String>,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// List pending scheduled changes, earliest first.
    List(Listing),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List audit entries, newest first.
    List {
        /// Only this employee.
        #[arg(long)]
        employee: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
}

/// A list of held messages.
#[derive(clap::Args)]
struct Listing {
    #[command(flatten)]
    selection: Selection,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Subcommand)]
enum StagedCommand {
    /// List staged deprovisioning.
    List(Listing),
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

/// An operator's decision on staged operations; something must narrow it, or --all.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("decided")
        .required(true)
        .multiple(true)
        .args(["employee", "since", "until", "action", "all"])
))]
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
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Usage errors exit 2 (clap's own), runtime errors 1, a closed stdout 0, quietly.
    let cli = Cli::parse();
    let code = match dispatch(cli).await {
        Ok(()) => 0,
        Err(e) if output::is_broken_pipe(&e) => 0,
        Err(e) => {
            note(&format!("hrsync: {e:#}"));
            1
        }
    };
    std::process::exit(code);
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run {
        with_simulator: None,
        once: false,
    }) {
        Command::Run {
            with_simulator,
            once,
        } => run(&cli.config, with_simulator, once).await,
        Command::Simulator { listen } => embedded_simulator::run(listen).await,
        Command::Publish { files } => publish_files(&cli.config, &files).await,
        Command::CheckConfig { online, .. } => check_config(&cli.config, online).await,
        Command::ConfigReference => Ok(output::print(&hrsync::config::reference::markdown())?),
        Command::DryRun { event } => dry_run(&cli.config, &event),
        Command::Dlq { command } => dlq(&cli.config, command).await,
        Command::Schedule {
            command: ScheduleCommand::List(listing),
        } => list_held(&cli.config, HeldKind::Scheduled, &listing).await,
        Command::Staged { command } => staged(&cli.config, command).await,
        Command::Audit { command } => audit(&cli.config, command).await,
        Command::Healthcheck { url, timeout } => healthcheck(&cli.config, url, timeout).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hrsync", &mut script);
            Ok(output::print(&String::from_utf8_lossy(&script))?)
        }
        Command::Man { dir } => man(dir.as_deref()),
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
            // Its documented exception: 1 means drift, so an error or an abort is 2.
            match reconcile(&cli.config, options, output, exit_zero_on_drift).await {
                Err(e) if !output::is_broken_pipe(&e) => {
                    note(&format!("hrsync: {e:#}"));
                    std::process::exit(2);
                }
                other => other,
            }
        }
    }
}

/// Exits 1 when drift was found (0 in sync); errors exit 2 (see `dispatch`).
async fn reconcile(
    path: &Path,
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
    output::print(&text)?;
    if report.found_drift() && !exit_zero_on_drift {
        std::process::exit(1);
    }
    Ok(())
}

fn dry_run(path: &Path, event: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let body = std::fs::read(event).with_context(|| format!("cannot read {}", event.display()))?;
    output::print(&dry_run::render(&dry_run::plan(&config, &body)?))?;
    Ok(())
}

fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let command = Cli::command();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write the man pages to {}", dir.display()))?;
        return Ok(());
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .date(BUILD_DATE)
        .source(format!("hrsync {VERSION}"))
        .render(&mut page)?;
    Ok(output::print(&String::from_utf8_lossy(&page))?)
}

async fn dlq(path: &Path, command: DlqCommand) -> anyhow::Result<()> {
    let config = load(path)?;
    match command {
        DlqCommand::List {
            limit,
            filter,
            output,
        } => {
            let selection = dlq::Selection {
                target: filter.target,
                reason: filter.reason,
                limit: Some(limit),
                ..Default::default()
            };
            let letters = dlq::select(&config, &selection).await?;
            print_letters(&letters, output, "shown")?;
        }
        DlqCommand::Show { id, output } => {
            let letter = dlq::show(&config, &id)
                .await?
                .with_context(|| format!("no dead letter {id}"))?;
            match output {
                Format::Json => output::print_json(&letter.document_json())?,
                Format::Table => {
                    output::println(&serde_json::to_string_pretty(&letter.headers)?)?;
                    output::println(&String::from_utf8_lossy(&letter.body))?;
                }
            }
        }
        DlqCommand::Export {
            file,
            filter,
            limit,
        } => {
            let selection = dlq::Selection {
                target: filter.target,
                reason: filter.reason,
                limit,
                ..Default::default()
            };
            export(&config, &selection, file.as_deref()).await?;
        }
        DlqCommand::Replay {
            filter,
            id,
            limit,
            dry_run,
            output,
            actor,
        } => {
            let selection = dlq::Selection {
                target: filter.target,
                reason: filter.reason,
                id: id.clone(),
                limit,
            };
            if dry_run {
                let letters = dlq::select(&config, &selection).await?;
                if let (Some(id), true) = (&id, letters.is_empty()) {
                    anyhow::bail!("no dead letter {id}");
                }
                print_letters(&letters, output, "would be replayed; nothing moved")?;
                return Ok(());
            }
            let actor = actor.context("--actor is required (or $USER)")?;
            let store = hrsync::worker::open_store(&config)
                .await?
                .with_actor(&actor);
            let done = dlq::replay(&config, &store, &selection, |c| {
                note(&format!(
                    "replayed {}, left {} not selected",
                    c.replayed, c.skipped
                ))
            })
            .await?;
            if let (Some(id), 0) = (&id, done.replayed) {
                anyhow::bail!(
                    "no dead letter {id} replayed ({} left in the queue)",
                    done.skipped
                );
            }
            output::println(&format!(
                "replayed {} dead letter(s); {} not selected stay in the queue",
                done.replayed, done.skipped
            ))?;
        }
    }
    Ok(())
}

fn print_letters(letters: &[dlq::Letter], format: Format, what: &str) -> anyhow::Result<()> {
    match format {
        Format::Json => output::print_json(&serde_json::Value::Array(
            letters.iter().map(dlq::Letter::summary_json).collect(),
        ))?,
        Format::Table => output::println(&format!(
            "{}{} dead letter(s) {what}",
            dlq::table(letters),
            letters.len()
        ))?,
    }
    Ok(())
}

/// `dlq export`: JSON lines to stdout, or to `file` (written beside it, then renamed, so
/// the file is only ever a complete export).
async fn export(
    config: &Config,
    selection: &dlq::Selection,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let partial = file.map(|f| {
        let mut name = f.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    });
    let mut sink: Box<dyn std::io::Write> = match &partial {
        Some(partial) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let written = dlq::peek(config, selection, |letter| {
        let line = serde_json::to_string(&letter.document_json())?;
        writeln!(sink, "{line}")?;
        Ok(())
    })
    .await;
    let written = written.and_then(|n| {
        sink.flush()?;
        drop(sink);
        Ok(n)
    });
    let written = match (written, &partial, file) {
        (Ok(n), Some(partial), Some(file)) => {
            std::fs::rename(partial, file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            n
        }
        (Ok(n), _, _) => n,
        (Err(e), partial, _) => {
            if let Some(partial) = partial {
                let _ = std::fs::remove_file(partial);
            }
            return Err(e);
        }
    };
    let to = file.map_or("stdout".to_string(), |f| f.display().to_string());
    note(&format!(
        "exported {written} dead letter(s) to {to}; they stay in the queue"
    ));
    Ok(())
}

async fn list_held(path: &Path, kind: HeldKind, listing: &Listing) -> anyhow::Result<()> {
    let config = load(path)?;
    let store = hrsync::ops::store::open_read_only(&config).await?;
    let held = store
        .pending_held(kind, &listing.selection.filter())
        .await?;
    store.close().await;
    match listing.output {
        Format::Json => output::print_json(&held::json(&held))?,
        Format::Table => {
            let when = if kind == HeldKind::Scheduled {
                "DUE"
            } else {
                "STAGED AT"
            };
            output::println(&held::table(&held, when))?;
        }
    }
    Ok(())
}

async fn staged(path: &Path, command: StagedCommand) -> anyhow::Result<()> {
    let (decision, release) = match command {
        StagedCommand::List(listing) => return list_held(path, HeldKind::Staged, &listing).await,
        StagedCommand::Release(decision) => (decision, true),
        StagedCommand::Discard(decision) => (decision, false),
    };
    let config = load(path)?;
    let store = hrsync::worker::open_store(&config).await?;
    let filter = decision.selection.filter();
    let counts = if release {
        held::release_staged(&config, &store, &filter, &decision.actor).await?
    } else {
        held::discard_staged(&store, &filter, &decision.actor).await?
    };
    let verb = if release { "released" } else { "discarded" };
    output::println(&format!(
        "{verb} {} staged operation(s) as {}; {} already decided by someone else",
        counts.decided, decision.actor, counts.skipped
    ))?;
    Ok(())
}

async fn audit(path: &Path, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List {
        employee,
        limit,
        output,
    } = command;
    let config = load(path)?;
    let store = hrsync::ops::store::open_read_only(&config).await?;
    let entries = store.audit(employee.as_deref(), i64::from(limit)).await?;
    store.close().await;
    match output {
        Format::Json => output::print_json(&audit::json(&entries))?,
        Format::Table => output::println(&audit::table(&entries))?,
    }
    Ok(())
}

async fn healthcheck(path: &Path, url: Option<String>, timeout: u64) -> anyhow::Result<()> {
    let url = match url {
        Some(url) => url,
        None => hrsync::ops::health::readyz_url(load(path)?.http.listen),
    };
    match hrsync::ops::health::probe(&url, std::time::Duration::from_secs(timeout)).await {
        Ok(line) => {
            note(&format!("hrsync: {line}"));
            Ok(())
        }
        Err(line) => Err(anyhow::anyhow!(line)),
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

async fn run(path: &Path, with_simulator: Option<SocketAddr>, once: bool) -> anyhow::Result<()> {
    let config = load(path)?;
    let telemetry = hrsync::telemetry::init(&config.log);
    if let Some(addr) = with_simulator {
        embedded_simulator::start(addr).await?;
    }
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
    let worker = Worker::start(config, listener).await?;
    if once {
        tokio::select! {
            drained = worker.drained() => {
                drained?;
                tracing::info!("queue drained; stopping (--once)");
            }
            _ = shutdown_signal() => tracing::info!("shutdown requested"),
        }
    } else {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
    }
    worker.stop().await;
    telemetry.shutdown().await;
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
        let _telemetry = hrsync::telemetry::init(&Default::default());
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

async fn publish_files(path: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
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
        output::println(&format!(
            "published {} to exchange {}",
            file.display(),
            config.rabbitmq.exchange
        ))?;
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}

async fn check_config(path: &Path, online: bool) -> anyhow::Result<()> {
    let config = load(path)?;
    let checked = hrsync::ops::check::check(&config)?;
    for warning in &checked.warnings {
        note(&format!("warning: {warning}"));
    }
    output::println(&format!("{}: configuration is valid", path.display()))?;
    if !online {
        return Ok(());
    }
    let checks = online::check(&config).await;
    for check in &checks {
        output::println(&check.to_string())?;
    }
    let failed = checks
        .iter()
        .filter(|c| c.status == online::Status::Failed)
        .count();
    anyhow::ensure!(failed == 0, "{failed} online check(s) failed");
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
