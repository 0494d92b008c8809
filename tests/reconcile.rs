//! `hrsync reconcile`: a 2,000-person HR snapshot against targets seeded with known drift —
//! every status counted exactly, each target read in pages of the documented size (one
//! call a page), and a target answering no accounts aborts instead of reporting everyone
//! missing.

use hrsync::reconcile::{self, Options, Report};
use hrsync_testkit::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const PEOPLE: usize = 2000;

fn employee(i: usize) -> String {
    format!("E{}", 200000 + i)
}

/// The HR record of seeded person `i`, as the simulator's Vault user 25001 + i has it.
fn record(i: usize, vault_user: &Value) -> Value {
    let email = vault_user["user_email__v"].as_str().unwrap();
    json!({
        "employee_id": employee(i),
        "person": {
            "first_name": vault_user["user_first_name__v"],
            "last_name": vault_user["user_last_name__v"],
            "email": email,
            "username": email,
            "title": vault_user["user_title__v"],
            "department": "Clinical Operations",
        },
        "roles": ["cra"],
        "sites": [],
    })
}

/// A world of 2,000 seeded people, all linked, with this drift seeded:
/// - person 1: title changed by hand in Vault → `drift` there;
/// - person 2: left HR, accounts still active → `should_be_disabled` everywhere;
/// - person 3: not in the snapshot → `orphan` in every target;
/// - person 4: in HR, never linked → `unlinked` everywhere (found by user name / e-mail);
/// - person 5: Vault user disabled by hand → `drift` (active) in Vault;
/// - a new hire E999999 no target knows → `missing` everywhere.
async fn seeded_world() -> (Harness, PathBuf) {
    seeded_world_with(false).await
}

/// As [`seeded_world`]; `worker`: with a running worker (polling the store every 100 ms).
async fn seeded_world_with(worker: bool) -> (Harness, PathBuf) {
    let mut builder = Harness::builder()
        .simulator(SimulatorConfig {
            seed_users: PEOPLE,
            ..roomy_simulator()
        })
        .config(|c| c.schedule.poll_interval = std::time::Duration::from_millis(100));
    if !worker {
        builder = builder.without_worker();
    }
    let h = builder.start().await;
    let store = hrsync::worker::open_store(&h.config).await.unwrap();
    let vault: BTreeMap<String, Value> = h
        .sim
        .users("vault")
        .await
        .into_iter()
        .map(|u| (u["id"].to_string().trim_matches('"').to_string(), u))
        .collect();
    let mut lines = Vec::new();
    for i in 0..PEOPLE {
        let (v, s, o) = account_ids(i);
        if i != 4 {
            for (target, id) in [("vault", &v), ("sitevault", &s), ("superoffice", &o)] {
                store.link_account(&employee(i), target, id).await.unwrap();
            }
        }
        if i == 3 {
            continue;
        }
        let mut line = record(i, &vault[&v]);
        if i == 2 {
            line["status"] = json!("left");
        }
        lines.push(line.to_string());
    }
    let newcomer = json!({"employee_id": "E999999", "person": {
        "first_name": "Nia", "last_name": "New", "email": "nia.new@verteo.example",
        "username": "nia.new@verteo.example", "title": "CRA", "department": "Sales"}});
    lines.push(newcomer.to_string());
    h.sim
        .set_user_field("vault", "25002", "user_title__v", json!("Edited by hand"))
        .await;
    h.sim
        .set_user_field("vault", "25006", "domain_active__v", json!(false))
        .await;
    let path = std::env::temp_dir().join(format!("{}-snapshot.jsonl", h.unique));
    std::fs::write(&path, lines.join("\n")).unwrap();
    (h, path)
}

fn counts(report: &Report, target: &str) -> BTreeMap<&'static str, usize> {
    let t = report
        .targets
        .iter()
        .find(|t| t.result.target == target)
        .unwrap();
    reconcile::classify::STATUSES
        .iter()
        .map(|s| (*s, t.result.count(s)))
        .collect()
}

fn expect(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    let mut all: BTreeMap<&'static str, usize> = reconcile::classify::STATUSES
        .iter()
        .map(|s| (*s, 0))
        .collect();
    all.extend(pairs.iter().copied());
    all
}

#[tokio::test]
async fn a_2000_person_snapshot_counts_every_status_exactly_in_pages_of_the_documented_size() {
    let (h, snapshot) = seeded_world().await;
    let report = reconcile::run(
        &h.config,
        &Options {
            snapshot,
            progress: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(report.people, PEOPLE); // 2,000 − the orphan + the newcomer
    let people = PEOPLE;
    assert_eq!(
        counts(&report, "vault"),
        expect(&[
            ("in_sync", people - 5),
            ("drift", 2),
            ("missing", 1),
            ("unlinked", 1),
            ("should_be_disabled", 1),
            ("orphan", 1),
        ])
    );
    for target in ["sitevault", "superoffice"] {
        assert_eq!(
            counts(&report, target),
            expect(&[
                ("in_sync", people - 3),
                ("missing", 1),
                ("unlinked", 1),
                ("should_be_disabled", 1),
                ("orphan", 1),
            ]),
            "{target}"
        );
    }
    let vault = &report.targets[0];
    let drift = vault
        .result
        .people
        .iter()
        .find(|p| p.employee_id == employee(1))
        .unwrap();
    let json = serde_json::to_value(drift).unwrap();
    assert_eq!(json["status"], "drift");
    assert_eq!(json["diffs"][0]["field"], "user_title__v");
    assert_eq!(json["diffs"][0]["target"], "Edited by hand");
    assert_eq!(vault.result.orphans, ["25004"]);
    assert!(report.found_drift());

    // One call per page of the documented maximum: 1,000 Vault users per VQL page,
    // 1,000 SiteVault persons per page, 1,000 SuperOffice archive rows per call.
    for t in &report.targets {
        assert_eq!(t.listed, PEOPLE, "{}", t.result.target);
        assert_eq!(t.calls, 2, "{}: {} calls", t.result.target, t.calls);
    }
    for (target, method) in [
        ("vault", "PUT"),
        ("sitevault", "PUT"),
        ("superoffice", "PATCH"),
    ] {
        assert!(
            h.sim.writes(target, method).await.is_empty(),
            "reconcile changes nothing in {target}"
        );
    }

    // The same report for scripts.
    let csv = reconcile::report::csv(&report).unwrap();
    assert!(csv.contains("E200001,vault,drift,25002,user_title__v"));
    assert!(csv.contains(",vault,orphan,25004"));
    let table = reconcile::report::table(&report);
    assert!(table.contains("E999999"), "{table}");
    h.stop().await;
}

#[tokio::test]
async fn a_target_answering_no_accounts_aborts_the_run() {
    let (h, snapshot) = seeded_world().await;
    h.sim.clear_users("superoffice").await;
    let error = reconcile::run(
        &h.config,
        &Options {
            snapshot,
            progress: false,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("superoffice answered 0 accounts"), "{error}");
    h.stop().await;
}

#[tokio::test]
async fn a_read_failing_part_way_aborts_the_run() {
    let (h, snapshot) = seeded_world().await;
    // The second SiteVault page fails for good: the run must not report the second half.
    h.sim
        .fault(
            Fault::status(FaultTarget::Sitevault, 500)
                .times(u32::MAX)
                .after(1),
        )
        .await;
    let error = reconcile::run(
        &h.config,
        &Options {
            snapshot,
            progress: false,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("reading the sitevault accounts failed"),
        "{error}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_read_far_below_the_last_run_aborts_and_the_worker_exports_the_last_success() {
    let (h, snapshot) = seeded_world_with(true).await;
    let options = Options {
        snapshot,
        progress: false,
    };
    reconcile::run(&h.config, &options).await.unwrap();
    let store = h.worker().applier.store().clone();
    // The worker exports the recorded run (each target's part as it is recorded).
    h.wait_metric(
        "hrsync_reconcile_accounts",
        r#"status="drift",target="vault""#,
        2.0,
        WAIT,
    )
    .await;
    h.wait_metric(
        "hrsync_reconcile_accounts",
        r#"status="orphan",target="superoffice""#,
        1.0,
        WAIT,
    )
    .await;
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(
            &metrics,
            "hrsync_reconcile_accounts",
            r#"status="orphan",target="superoffice""#
        ),
        1.0
    );
    assert!(
        metric(
            &metrics,
            "hrsync_reconcile_last_success_timestamp_seconds",
            ""
        ) > 1.7e9
    );

    // Pretend the last run read 5,000 Vault users: 2,000 now is below half of that.
    store
        .record_reconcile("vault", 5000, &Default::default())
        .await
        .unwrap();
    let error = reconcile::run(&h.config, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("fewer than reconcile.min_share"), "{error}");
    h.stop().await;
}

#[tokio::test]
async fn the_command_prints_json_for_scripts_and_exits_1_on_drift_and_2_on_an_abort() {
    let (h, snapshot) = seeded_world().await;
    let snapshot = snapshot.to_str().unwrap().to_string();
    // Off the runtime's thread: the simulator the command calls runs on it.
    let run = |extra: &[&str]| {
        let mut args = vec!["reconcile", "--snapshot", snapshot.as_str()];
        args.extend_from_slice(extra);
        let mut command = h.hrsync_command(&args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let drift = run(&["-o", "json"]).await.unwrap();
    assert_eq!(
        drift.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&drift.stderr)
    );
    let report: Value = serde_json::from_slice(&drift.stdout).unwrap();
    assert_eq!(report["people"], PEOPLE);
    assert_eq!(report["targets"][0]["target"], "vault");
    assert_eq!(report["targets"][0]["orphans"], json!(["25004"]));
    let scheduled = run(&["-o", "csv", "--exit-zero-on-drift"]).await.unwrap();
    assert_eq!(scheduled.status.code(), Some(0));
    let csv = String::from_utf8(scheduled.stdout).unwrap();
    assert!(csv.starts_with("employee_id,target,status,account,field,hr_value,target_value\n"));

    h.sim.clear_users("sitevault").await;
    let aborted = run(&[]).await.unwrap();
    assert_eq!(aborted.status.code(), Some(2));
    assert!(aborted.stdout.is_empty(), "nothing reported");
    let stderr = String::from_utf8_lossy(&aborted.stderr);
    assert!(stderr.contains("sitevault answered 0 accounts"), "{stderr}");
    h.stop().await;
}
