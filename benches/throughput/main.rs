//! hrsync throughput benchmark (`cargo bench --bench throughput`, `-- --quick` for a smoke
//! run, `-- --help` for every flag). See BENCHMARKS.md for what it measures and the figures.
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (the shipped config's broker). Each scenario runs on the
//! test kit's harness: its own exchange, queues and store, the target simulator in this
//! process, the worker as a child process (`hrsync run`, the release build, configured by
//! `HRSYNC_*` variables over the shipped configuration), so its CPU time and RSS are its
//! own. Every wait is bounded.
//!
//! One file per scenario:
//! 1. `raw_ceiling` — raw lapin ceiling: messages/s through a quorum queue, ack each;
//!    floor (a), the bench's CPU per message consumed and acked. `http_floor` — floor (b),
//!    a bare reqwest client thread's CPU per GET + form PUT pair against the simulator.
//!    (2,3,4) report the worker's CPU per event ÷ these floors, measured in the same run.
//! 2. `end_to_end` — hrsync end to end with a zero-latency simulator, ratio to (1);
//! 3. (same file) CPU time per event, the worker's and the whole machine's.
//! 4. `vault_calls` — Vault API calls for a backlog of movers, bulk mode and not.
//! 5. `rss` — worker RSS while a large backlog waits in the queue.
//! 6. `latency` — events/s with latency on every request against the ideal.
//! 7. `reconcile` — an N-person snapshot against N accounts in three targets: wall time,
//!    calls per target.
//! 8. `reorg_calls` — calls per changed account for a reorg of movers in every target, and
//!    the wall time the targets' documented rate limits imply.

mod args;
mod end_to_end;
mod http_floor;
mod latency;
mod machine;
mod raw_ceiling;
mod reconcile;
mod reorg_calls;
mod report;
mod rss;
mod scenario;
mod vault_calls;

use args::Args;
use report::Report;

#[tokio::main]
async fn main() {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let machine = machine::machine_facts();
    machine::clock_ticks_per_second();
    println!(
        "hrsync throughput benchmark{}",
        if args.quick { " (--quick)" } else { "" }
    );
    println!(
        "machine: {} cores ({}), kernel {}, RabbitMQ {}, {}",
        machine.nproc, machine.cpu, machine.kernel, machine.rabbitmq, machine.date
    );
    println!(
        "worker binary: {}",
        hrsync_testkit::process::worker_binary().display()
    );
    let bulk = vault_calls::vault_bulk_available();
    println!(
        "vault bulk mode (targets.vault.bulk.enabled): {}",
        if bulk {
            "available"
        } else {
            "not available in this build"
        }
    );
    println!();

    let mut report = Report::new(machine);
    if args.runs(1) {
        raw_ceiling::run(&args, &mut report).await;
        http_floor::run(&args, &mut report).await;
    }
    if args.runs(2) || args.runs(3) {
        end_to_end::run(&args, &mut report).await;
    }
    if args.runs(4) {
        vault_calls::run(&args, &mut report, bulk).await;
    }
    if args.runs(5) {
        rss::run(&args, &mut report).await;
    }
    if args.runs(6) {
        latency::run(&args, &mut report).await;
    }
    if args.runs(7) {
        reconcile::run(&args, &mut report).await;
    }
    if args.runs(8) {
        reorg_calls::run(&args, &mut report).await;
    }
    println!();
    report.table.print();
    if report.failures > 0 {
        std::process::exit(1);
    }
}
