//! (2) hrsync end to end with a zero-latency simulator — movers, every one a real write
//! in three targets: events/s from the worker being ready to every queue empty and nothing
//! in flight, and its ratio to (1). (3) CPU time per event: the worker's from
//! `/proc/<pid>/stat` during (2), and the whole machine's (simulator, RabbitMQ); the
//! worker's ÷ the floor of an event at three targets, (a) + 3 × (b) of (1).

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::args::Args;
use crate::machine::{broker_pid, cpu_seconds};
use crate::report::{verdict, Report};
use crate::scenario::{interrupt, mover_stream, run_scenario, Scenario};

/// Runs (2) and (3).
pub async fn run(args: &Args, report: &mut Report) {
    println!(
        "(2,3) end to end: {} movers over {} employees ...",
        args.e2e_events, args.e2e_employees
    );
    match end_to_end(args).await {
        Ok(r) => {
            report.table.row(
                "2",
                "hrsync end to end, zero-latency sim",
                format!("{:.0}", r.per_s),
                "events/s",
                format!(
                    "{} movers / {:.2} s, 3 targets, concurrency {}, prefetch {}; outcomes {}",
                    r.events, r.seconds, args.concurrency, args.prefetch, r.outcomes
                ),
            );
            if let Some(raw) = report.raw_rate {
                let ratio = r.per_s / raw;
                report.table.row(
                    "2",
                    "ratio (2) / (1)",
                    format!("{ratio:.3}"),
                    "-",
                    format!("target >= 0.5: {}", verdict(ratio >= 0.5)),
                );
            }
            report.table.row(
                "3",
                "hrsync CPU time per event",
                format!("{:.0}", r.cpu_us_per_event),
                "us/event",
                "worker process utime+stime (/proc/<pid>/stat) over (2)".into(),
            );
            report.floor_ratio(
                "3",
                "worker CPU / floor, 3 targets",
                r.cpu_us_per_event,
                3,
                1.5,
            );
            let others = r.sim_cpu_us_per_event + r.broker_cpu_us_per_event.unwrap_or(0.0);
            let total = r.cpu_us_per_event + others;
            report.table.row(
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
                    report.machine.nproc,
                    report.machine.nproc as f64 * 1e6 / total
                ),
            );
            if let Some(perf) = r.perf {
                println!("    perf data: {perf} (perf report -i {perf})");
            }
            let _ = r.publish_per_s;
        }
        Err(e) => report.fail(2, e),
    }
}

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
    let scenario = Scenario::new(args, args.e2e_employees, &[]).await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        let (sent, took) = s
            .publish(mover_stream(args.e2e_events, args.e2e_employees))
            .await?;
        let mut worker = s.spawn_worker().await?;
        let broker = broker_pid();
        let t0 = Instant::now();
        let cpu0 = cpu_seconds(worker.child.id())?;
        let sim0 = cpu_seconds(std::process::id())?;
        let broker0 = broker.and_then(|pid| cpu_seconds(pid).ok());
        let mut perf = match &args.perf {
            Some(file) => Some(
                Command::new("perf")
                    .args(["record", "-F", "999", "-g", "-o"])
                    .arg(file)
                    .args(["-p", &worker.child.id().to_string()])
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
        let cpu1 = cpu_seconds(worker.child.id())?;
        let sim1 = cpu_seconds(std::process::id())?;
        let broker1 = broker.and_then(|pid| cpu_seconds(pid).ok());
        let perf_note = match perf.as_mut() {
            Some(child) => {
                interrupt(child).await;
                args.perf.as_ref().map(|p| p.display().to_string())
            }
            None => None,
        };
        let metrics = s.metrics(&worker).await?;
        s.h.stop_process(worker).await;
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
