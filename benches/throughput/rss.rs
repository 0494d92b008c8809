//! (5) Worker RSS while a backlog waits in the queue — a tenth of it and all of it, over
//! the same sampling window: memory that follows the backlog would show as growth.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::args::Args;
use crate::machine::rss_mib;
use crate::report::{verdict, Report};
use crate::scenario::{bulk_env, mover_stream, run_scenario, tail, Scenario};

/// RSS at a progress point: (events handled at least, Some((RSS MiB, handled, seconds in))).
type Checkpoint = (usize, Option<(f64, f64, f64)>);

/// Runs (5).
pub async fn run(args: &Args, report: &mut Report) {
    // The same sampling window with a backlog 10x smaller and the full one: RSS that
    // follows the backlog would show here, whatever the worker gets through.
    // Then the full backlog once more in Vault bulk mode, whose concurrency (1,000) and
    // prefetch (2,000) put the most messages in memory at once.
    let mut peaks = Vec::new();
    for (backlog, bulk) in [
        (args.rss_events / 10, false),
        (args.rss_events, false),
        (args.rss_events, true),
    ] {
        let mode = if bulk {
            format!(
                ", Vault bulk mode, concurrency {}, prefetch {}",
                args.bulk_concurrency, args.bulk_prefetch
            )
        } else {
            format!(
                ", concurrency {}, prefetch {}",
                args.concurrency, args.prefetch
            )
        };
        println!(
            "(5) RSS with {backlog} events waiting{mode} (sampling up to {} s) ...",
            args.rss_seconds
        );
        let env = if bulk { bulk_env(args) } else { Vec::new() };
        match rss_under_backlog(args, backlog, &env).await {
            Ok(r) => {
                let mut marks: Vec<String> = Vec::new();
                for (mark, seen) in &r.checkpoints {
                    marks.push(match seen {
                        Some((rss, _, t)) => format!("{mark}: {rss:.1} MiB @{t:.0}s"),
                        None => format!("{mark}: not reached"),
                    });
                }
                if !bulk {
                    peaks.push((r.events, r.peak_mib));
                }
                report.table.row(
                    "5",
                    if bulk {
                        "worker peak RSS, backlog, bulk mode"
                    } else {
                        "worker peak RSS, backlog waiting"
                    },
                    format!("{:.1}", r.peak_mib),
                    "MiB",
                    format!(
                        "{} queued{mode}; ready {:.1} MiB; handled {:.0} in {:.1} s ({} samples); {}; target <= 64 MiB: {}",
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
            Err(e) => report.fail(5, e),
        }
    }
    if let [(small, small_peak), (large, large_peak)] = peaks[..] {
        let growth = large_peak / small_peak;
        report.table.row(
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

async fn rss_under_backlog(
    args: &Args,
    backlog: usize,
    env: &[(&str, String)],
) -> Result<RssResult> {
    let scenario = Scenario::new(args, args.rss_employees, env).await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        let (sent, _) = s.publish(mover_stream(backlog, args.rss_employees)).await?;
        let mut worker = s.spawn_worker().await?;
        let idle_mib = rss_mib(worker.child.id()).unwrap_or(0.0);
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
            let Some(rss) = rss_mib(worker.child.id()) else {
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
        s.h.stop_process(worker).await;
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
