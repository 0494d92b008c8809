//! (4) Vault API calls (auth included) for a backlog of movers, Vault the only target:
//! with `targets.vault.bulk` when this build has it, and without. Also the worker's CPU
//! per event (`/proc/<pid>/stat`) over the backlog, ÷ the floor of (1): (a) + (b) — a read
//! and a write per event — with single calls, (a) alone in bulk mode.

use anyhow::Result;
use serde_json::Value;

use crate::args::Args;
use crate::report::{verdict, Report};
use crate::scenario::{bulk_env, mover_stream, mover_stream_from, run_scenario, Drained, Scenario};

/// Runs (4), bulk first when `bulk` (this build has the mode).
pub async fn run(args: &Args, report: &mut Report, bulk: bool) {
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
        let r = match vault_calls(args, with_bulk).await {
            Ok(r) => r,
            Err(e) => {
                report.fail(4, e);
                continue;
            }
        };
        let met = r.vault_requests <= 25;
        let mode = if with_bulk { "bulk on" } else { "bulk off" };
        report.table.row(
            "4",
            &format!("Vault API calls, backlog, {mode}"),
            r.vault_requests.to_string(),
            "calls",
            format!(
                "{} movers in {:.1} s ({:.0} events/s{}), {} auth; {}; outcomes {}; target <= 25: {}{}",
                r.events,
                r.seconds,
                r.events as f64 / r.seconds,
                report.raw_rate.map_or_else(String::new, |raw| format!(
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
        report.table.row(
            "4",
            &format!("worker CPU per Vault event, {mode}"),
            format!("{:.0}", r.cpu_us_per_event),
            "us/event",
            format!(
                "worker process utime+stime (/proc/<pid>/stat) over the {} movers above",
                r.events
            ),
        );
        if with_bulk {
            report.floor_ratio(
                "4",
                "worker CPU / floor, Vault bulk",
                r.cpu_us_per_event,
                0,
                2.0,
            );
        } else {
            report.floor_ratio(
                "4",
                "worker CPU / floor, Vault single calls",
                r.cpu_us_per_event,
                1,
                1.5,
            );
        }
    }
}

/// Whether this build of hrsync has the Vault bulk mode (`targets.vault.bulk.enabled`).
pub fn vault_bulk_available() -> bool {
    hrsync::config::reference::markdown().contains("targets.vault.bulk.enabled")
}

struct VaultCalls {
    mode: String,
    events: usize,
    vault_requests: u64,
    auth_calls: u64,
    seconds: f64,
    outcomes: String,
    /// The worker's CPU time per event over the measured backlog, µs.
    cpu_us_per_event: f64,
}

async fn vault_calls(args: &Args, bulk: bool) -> Result<VaultCalls> {
    let mut env = vec![
        ("TARGETS__SITEVAULT__ENABLED", "false".to_string()),
        ("TARGETS__SUPEROFFICE__ENABLED", "false".to_string()),
    ];
    if bulk {
        env.extend(bulk_env(args));
    }
    let scenario = Scenario::new(args, args.vault_employees, &env).await?;
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
        let before = s.sim_stats().await;
        let (
            Drained {
                sent,
                seconds,
                metrics,
            },
            worker_cpu,
        ) = s
            .drain_with_cpu(
                mover_stream_from(args.vault_events, args.vault_employees, 2),
                args.scenario_timeout,
            )
            .await?;
        let stats = s.sim_stats().await;
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
            cpu_us_per_event: worker_cpu * 1e6 / sent.max(1) as f64,
        })
    })
    .await
}
