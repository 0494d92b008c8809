//! (6) Latency-bound efficiency: every simulator request delayed; events/s against the
//! ideal C / (latency × sequential requests per event).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::args::Args;
use crate::report::{verdict, Report};
use crate::scenario::{mover_stream, run_scenario, Drained, Scenario};

/// Runs (6).
pub async fn run(args: &Args, report: &mut Report) {
    println!(
        "(6) latency-bound: {} events, concurrency {}, {} ms per request ...",
        args.lat_events, args.lat_concurrency, args.latency_ms
    );
    match latency_bound(args).await {
        Ok(r) => {
            report.table.row(
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
            report.table.row(
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
        Err(e) => report.fail(6, e),
    }
}

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
    let env = [
        ("WORKER__CONCURRENCY", c.to_string()),
        ("RABBITMQ__PREFETCH", prefetch.to_string()),
    ];
    let scenario = Scenario::new(args, args.lat_employees, &env).await?;
    run_scenario(scenario, args.scenario_timeout, async |s: &Scenario| {
        s.slow_targets(args.latency_ms).await;
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
        let stats = s.sim_stats().await;
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
