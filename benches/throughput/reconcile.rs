//! (7) Reconciliation: an HR snapshot of N people (all linked, all in sync) against N
//! accounts in each of Vault, SiteVault and SuperOffice — wall time, accounts read and API
//! calls per target (one call per page of 1,000, the documented maximum), through the
//! clients' own rate limits.

use std::time::Instant;

use anyhow::{Context, Result};
use hrsync::reconcile::{self, Options};
use hrsync_testkit::*;
use serde_json::json;

use crate::args::Args;
use crate::report::{verdict, Report};

/// Runs (7).
pub async fn run(args: &Args, report: &mut Report) {
    println!(
        "(7) reconcile: {} people x 3 targets ...",
        args.recon_people
    );
    match reconcile_run(args.recon_people).await {
        Ok(r) => {
            report.table.row(
                "7",
                "reconcile wall time",
                format!("{:.2}", r.seconds),
                "s",
                format!(
                    "{} people x 3 targets, {} not in sync; {}",
                    r.people, r.not_in_sync, r.per_target
                ),
            );
            report.table.row(
                "7",
                "reconcile calls per page",
                format!("{:.2}", r.calls_per_page),
                "calls",
                format!(
                    "pages of 1,000 accounts; target <= 1: {}",
                    verdict(r.calls_per_page <= 1.0)
                ),
            );
        }
        Err(e) => report.fail(7, e),
    }
}

struct ReconcileResult {
    people: usize,
    seconds: f64,
    not_in_sync: usize,
    per_target: String,
    calls_per_page: f64,
}

async fn reconcile_run(people: usize) -> Result<ReconcileResult> {
    let h = Harness::builder()
        .simulator(SimulatorConfig {
            seed_users: people,
            ..roomy_simulator()
        })
        .without_worker()
        .start()
        .await;
    let store = hrsync::worker::open_store(&h.config).await?;
    let vault = h.sim.users("vault").await;
    let mut lines = Vec::with_capacity(people);
    for (i, user) in vault.iter().enumerate().take(people) {
        let employee = format!("E{}", 200000 + i);
        let (v, s, o) = account_ids(i);
        for (target, id) in [("vault", &v), ("sitevault", &s), ("superoffice", &o)] {
            store.link_account(&employee, target, id).await?;
        }
        let email = user["user_email__v"].clone();
        lines.push(
            json!({"employee_id": employee, "person": {
                "first_name": user["user_first_name__v"], "last_name": user["user_last_name__v"],
                "email": email, "username": email, "title": user["user_title__v"],
                "department": "Clinical Operations"}, "roles": ["cra"], "sites": []})
            .to_string(),
        );
    }
    let snapshot = std::env::temp_dir().join(format!("{}-bench-snapshot.jsonl", h.unique));
    std::fs::write(&snapshot, lines.join("\n"))?;
    let started = Instant::now();
    let report = reconcile::run(&h.config, &Options::dry_run(snapshot.clone()))
        .await
        .context("reconcile")?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&snapshot);
    let not_in_sync: usize = report
        .targets
        .iter()
        .map(|t| {
            t.result
                .people
                .iter()
                .filter(|p| p.status.as_str() != "in_sync")
                .count()
                + t.result.orphans.len()
        })
        .sum();
    let pages: usize = report.targets.iter().map(|t| t.listed.div_ceil(1000)).sum();
    let calls: usize = report.targets.iter().map(|t| t.calls).sum();
    let per_target = report
        .targets
        .iter()
        .map(|t| {
            format!(
                "{}: {} accounts in {} calls",
                t.result.target, t.listed, t.calls
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    h.stop().await;
    Ok(ReconcileResult {
        people,
        seconds,
        not_in_sync,
        per_target,
        calls_per_page: calls as f64 / pages.max(1) as f64,
    })
}
