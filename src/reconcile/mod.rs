//! `hrsync reconcile --snapshot FILE`: an HR snapshot against every account of every
//! target — the safety net beside the event stream (events lost upstream, accounts edited
//! by hand, an HR feed down for a week), in one table of each person across all targets.
//!
//! Each target's accounts are read with its documented paginated listing
//! (Vault VQL over `users` by `PAGEOFFSET`, SiteVault VQL over `person__sys` following
//! `next_page`, SuperOffice's AllUsers archive following `odata.nextLink`, SCIM `GET
//! /Users` by `startIndex`), within the clients' rate limits; then [`classify`] compares
//! them with what the worker's own mapping would write for each person.
//!
//! A failed read never looks like "everyone left": a target whose read fails part way,
//! that answers no accounts at all while HR has employees, or fewer than
//! `reconcile.min_share` of its last successful run's, aborts the run (exit 2) with
//! nothing reported as missing or orphaned. A successful run is recorded in the store per
//! target; the worker exports it (`hrsync_reconcile_*`).
//!
//! A dry run by default: the report lists the corrections `--apply` would publish. With
//! `--apply` they go into the normal pipeline ([`correct`]).
//!
//! - `snapshot`: reading the HR file (JSON lines or CSV);
//! - `classify`: the statuses, pure;
//! - `correct`: the corrective events and their proof in the store;
//! - `report`: table, JSON and CSV.

pub mod classify;
pub mod config;
pub mod correct;
pub mod report;
pub mod snapshot;

pub use config::ReconcileConfig;

use crate::config::Config;
use crate::event::{Accounts, Action, HrEvent};
use crate::mapping::Mapper;
use crate::targets::{match_hints, Target};
use classify::{classify, Person, TargetResult};
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// What to reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    pub snapshot: PathBuf,
    /// Show a progress bar per target (on a terminal).
    pub progress: bool,
    /// Publish the corrections (a dry run otherwise).
    pub apply: bool,
    /// Who runs it, for the corrections' rows in the store.
    pub actor: String,
}

impl Options {
    /// A dry run of `snapshot` without progress bars.
    pub fn dry_run(snapshot: PathBuf) -> Self {
        Options {
            snapshot,
            progress: false,
            apply: false,
            actor: "reconcile".into(),
        }
    }

    /// The same run, publishing its corrections.
    pub fn applied(self) -> Self {
        Options {
            apply: true,
            ..self
        }
    }
}

/// One target's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    #[serde(flatten)]
    pub result: TargetResult,
    /// Accounts the target listed.
    pub listed: usize,
    /// API calls the listing took.
    pub calls: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub snapshot: String,
    pub people: usize,
    pub targets: Vec<TargetReport>,
    /// What `--apply` published, or would publish.
    pub corrections: correct::Corrections,
}

impl Report {
    /// Anything other than `in_sync`, or an orphan, anywhere.
    pub fn found_drift(&self) -> bool {
        self.targets.iter().any(|t| {
            !t.result.orphans.is_empty()
                || t.result
                    .people
                    .iter()
                    .any(|p| p.status.as_str() != "in_sync")
        })
    }
}

/// Runs the comparison (see the module doc); `Err` is a run that must not be trusted.
pub async fn run(config: &Config, options: &Options) -> anyhow::Result<Report> {
    let records = snapshot::read(&options.snapshot)?;
    let mapper = Mapper::new(&config.mapping)
        .map_err(|errors| anyhow::anyhow!("invalid mapping:\n  {}", errors.join("\n  ")))?;
    let exclude = config.reconcile.exclude_pattern()?;
    let store = crate::worker::open_store(config)
        .await?
        .with_actor(&options.actor);
    let targets = crate::worker::build_targets(config)?;
    let bars = indicatif::MultiProgress::new();
    if !options.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let reference = format!("reconcile-{}", uuid::Uuid::new_v4());
    let listings = join_all(targets.iter().map(|target| {
        let bar = bars.add(indicatif::ProgressBar::new_spinner());
        bar.set_prefix(target.kind().as_str());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>12} {spinner} {pos} accounts read")
                .expect("static template"),
        );
        let reference = reference.clone();
        async move {
            let listed = target
                .list_accounts(&reference, &|n| bar.set_position(n as u64))
                .await;
            bar.finish();
            listed
        }
    }))
    .await;
    let active_people = records.iter().filter(|r| r.active).count();
    let last: HashMap<String, u64> = store
        .last_reconciles()
        .await?
        .into_iter()
        .map(|run| (run.target, run.listed))
        .collect();
    let mut reports = Vec::new();
    for (target, listing) in targets.iter().zip(listings) {
        let kind = target.kind();
        let listing = listing.map_err(|e| {
            anyhow::anyhow!(
                "reading the {kind} accounts failed ({}: {}); nothing is reported",
                e.code,
                e.detail
            )
        })?;
        if listing.accounts.is_empty() && active_people > 0 {
            anyhow::bail!(
                "{kind} answered 0 accounts while HR has {active_people} employees: refusing to report (a failed read must never look like everyone left)"
            );
        }
        if let Some(before) = last.get(kind.as_str()) {
            let floor = (*before as f64 * config.reconcile.min_share).ceil() as usize;
            if listing.accounts.len() < floor {
                anyhow::bail!(
                    "{kind} answered {} accounts, fewer than reconcile.min_share ({}) of the {before} of its last run: refusing to report",
                    listing.accounts.len(),
                    config.reconcile.min_share
                );
            }
        }
        let links: HashMap<String, String> =
            store.links_of(kind.as_str()).await?.into_iter().collect();
        let mut accounts = listing.accounts;
        if !target.listing_shows_access() {
            // What the listing cannot show, hrsync's own record of it: a linked account
            // whose access hrsync removed counts as disabled.
            let removed: std::collections::HashSet<&str> = store
                .applied_fields_of(kind.as_str())
                .await?
                .iter()
                .filter(|(_, fields)| target.access_removed(fields))
                .filter_map(|(employee, _)| links.get(employee).map(String::as_str))
                .collect();
            for account in &mut accounts {
                if removed.contains(account.id.as_str()) {
                    account.active = false;
                }
            }
        }
        let people: Vec<Person> = records
            .iter()
            .map(|record| person(target.as_ref(), &mapper, record))
            .collect();
        let result = classify(kind.as_str(), &people, &accounts, &links, exclude.as_ref());
        reports.push(TargetReport {
            result,
            listed: accounts.len(),
            calls: listing.calls,
        });
    }
    // Only a run that read every target completely is remembered.
    for target in &reports {
        let counts = classify::STATUSES
            .iter()
            .map(|s| (s.to_string(), target.result.count(s) as u64))
            .collect();
        store
            .record_reconcile(&target.result.target, target.listed as u64, &counts)
            .await?;
    }
    let applied = store.applied_sequences().await?;
    let mut corrections = correct::plan(&records, &reports, &applied);
    if options.apply && !corrections.planned.is_empty() {
        let bar = bars.add(indicatif::ProgressBar::new(corrections.planned.len() as u64));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>12} {bar:30} {pos}/{len} published")
                .expect("static template"),
        );
        bar.set_prefix("corrections");
        correct::publish(config, &store, &mut corrections, &reference, &|n| {
            bar.set_position(n as u64)
        })
        .await?;
        bar.finish();
    }
    Ok(Report {
        snapshot: options.snapshot.display().to_string(),
        people: records.len(),
        targets: reports,
        corrections,
    })
}

/// The person as the worker would see them: the current record as a mover (or a leaver
/// once they left), mapped for `target`, with the keys the worker searches by.
fn person(target: &dyn Target, mapper: &Mapper, record: &snapshot::HrRecord) -> Person {
    let kind = target.kind();
    let event = HrEvent {
        id: format!("reconcile-{}", record.employee_id),
        source: "urn:hrsync:reconcile".into(),
        action: if record.active {
            Action::Mover
        } else {
            Action::Leaver
        },
        subject: record.employee_id.clone(),
        time: time::OffsetDateTime::now_utc(),
        sequence: 1,
        data: record.data.clone(),
        accounts: Accounts::default(),
    };
    let creation = mapper.creation(kind, &event).ok().flatten();
    let hints = match_hints(target, &record.data, creation.as_ref());
    Person {
        employee_id: record.employee_id.clone(),
        active: record.active,
        desired: mapper.map(kind, &event).ok().flatten(),
        hints,
    }
}
