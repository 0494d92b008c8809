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
        "username": "nia.new@verteo.example", "title": "CRA", "department": "Sales",
        "timezone": "Europe/Lisbon", "locale": "pt_PT", "language": "en"}});
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
    let report = reconcile::run(&h.config, &Options::dry_run(snapshot))
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
    let error = reconcile::run(&h.config, &Options::dry_run(snapshot).applied())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("superoffice answered 0 accounts"), "{error}");
    assert_eq!(
        h.queue_depth(&h.config.rabbitmq.queue).await,
        0,
        "--apply published nothing"
    );
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
    let error = reconcile::run(&h.config, &Options::dry_run(snapshot))
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
    let options = Options::dry_run(snapshot);
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
    // A dry run: the corrections --apply would publish, none published.
    assert_eq!(report["corrections"]["published"], false);
    assert_eq!(
        report["corrections"]["planned"].as_array().unwrap().len(),
        5
    );
    assert_eq!(h.queue_depth(&h.config.rabbitmq.queue).await, 0);
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

/// The snapshot line of `employee` as an HR event of `kind` at `sequence`.
fn event_from_snapshot(
    snapshot: &std::path::Path,
    employee: &str,
    kind: &str,
    sequence: u64,
) -> Value {
    let text = std::fs::read_to_string(snapshot).unwrap();
    let data: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|d| d["employee_id"] == employee)
        .unwrap();
    json!({"specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": format!("hr.employee.{kind}"), "subject": employee,
        "time": "2026-11-22T09:15:00Z", "sequence": sequence, "data": data})
}

#[tokio::test]
async fn apply_corrects_every_status_through_the_worker_and_a_second_run_is_all_in_sync() {
    let (h, snapshot) = seeded_world_with(true).await;
    // Person 1's record was applied by HR at sequence 3, then the title edited by hand
    // again: the correction must re-assert sequence 3, where an ordinary event is stale.
    let original_title =
        event_from_snapshot(&snapshot, &employee(1), "mover", 1)["data"]["person"]["title"].clone();
    h.sim
        .set_user_field("vault", "25002", "user_title__v", original_title.clone())
        .await;
    h.publish(&event_from_snapshot(&snapshot, &employee(1), "mover", 3))
        .await;
    h.wait_idle().await;
    h.sim
        .set_user_field("vault", "25002", "user_title__v", json!("Edited by hand"))
        .await;
    let puts_before = h.sim.writes("vault", "PUT").await.len();

    let report = reconcile::run(&h.config, &Options::dry_run(snapshot.clone()).applied())
        .await
        .unwrap();
    let corrections = &report.corrections;
    assert!(corrections.published);
    let planned: BTreeMap<&str, (&str, u64, Vec<String>)> = corrections
        .planned
        .iter()
        .map(|p| {
            (
                p.employee_id.as_str(),
                (p.action, p.sequence, p.targets.clone()),
            )
        })
        .collect();
    let all = || {
        vec![
            "vault".to_string(),
            "sitevault".into(),
            "superoffice".into(),
        ]
    };
    assert_eq!(
        planned,
        BTreeMap::from([
            ("E200001", ("mover", 3, vec!["vault".to_string()])),
            ("E200002", ("leaver", 1, all())),
            ("E200004", ("mover", 1, all())),
            ("E200005", ("mover", 1, vec!["vault".to_string()])),
            ("E999999", ("mover", 1, all())),
        ]),
        "one correction per person not in sync, at the applied sequence"
    );
    h.wait_idle().await;

    // Every fix went through the worker: the hand edits are undone, the leaver disabled,
    // the unlinked person linked, the newcomer created — and nothing dead-lettered.
    assert_eq!(
        h.sim.user("vault", "25002").await["user_title__v"],
        original_title
    );
    assert_eq!(
        h.sim.user("vault", "25006").await["domain_active__v"],
        json!(true)
    );
    assert_eq!(
        h.sim.user("vault", "25003").await["domain_active__v"],
        json!(false)
    );
    assert_eq!(
        h.sim
            .find_users("vault", "user_name__v", "nia.new@verteo.example")
            .await
            .len(),
        1
    );
    assert!(h.dead_letters_now().await.is_empty(), "no dead letters");
    let store = h.worker().applier.store().clone();
    let audit = store.audit(Some(&employee(1)), 10).await.unwrap();
    let corrected = audit
        .iter()
        .find(|a| a.target == "vault" && a.source == "reconcile")
        .expect("the correction is in the audit log as reconcile's");
    assert_eq!(corrected.fields_changed, ["user_title__v"]);
    assert_eq!(corrected.event_id, corrections.planned[0].event_id);
    // Vault: person 1's title, person 5's activation (with its membership), person 2's
    // deactivation — each once — and the newcomer's account; nobody else was written.
    let puts = h.sim.writes("vault", "PUT").await;
    let newcomer = h
        .sim
        .find_users("vault", "user_name__v", "nia.new@verteo.example")
        .await[0]["id"]
        .to_string();
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    for put in &puts[puts_before..] {
        let path = put["path"].as_str().unwrap();
        let user = path.split("/objects/users/").nth(1).unwrap();
        let user = user.split('/').next().unwrap().to_string();
        *written.entry(user).or_default() += 1;
    }
    assert_eq!(
        written,
        BTreeMap::from([
            ("25002".to_string(), 1),
            ("25003".to_string(), 1),
            ("25006".to_string(), 2),
            (newcomer, 1),
        ]),
        "{:#?}",
        &puts[puts_before..]
    );

    let again = reconcile::run(&h.config, &Options::dry_run(snapshot.clone()).applied())
        .await
        .unwrap();
    for target in ["vault", "sitevault", "superoffice"] {
        assert_eq!(
            counts(&again, target),
            expect(&[("in_sync", PEOPLE), ("orphan", 1)]),
            "{target}: every person in sync; the orphan is reported, never touched"
        );
    }
    assert!(again.corrections.planned.is_empty());
    h.wait_idle().await;
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), puts.len());
    h.stop().await;
}

#[tokio::test]
async fn a_look_alike_correction_without_its_row_in_the_store_stays_stale() {
    let (h, snapshot) = seeded_world_with(true).await;
    h.publish(&event_from_snapshot(&snapshot, &employee(7), "mover", 4))
        .await;
    h.wait_idle().await;
    h.sim
        .set_user_field("vault", "25008", "user_title__v", json!("Edited by hand"))
        .await;
    // Everything a publisher can set: reconcile's header, source and an id like its own —
    // at the applied sequence, so only the store's row could let it through.
    let mut forged = event_from_snapshot(&snapshot, &employee(7), "mover", 4);
    forged["id"] = json!(format!("reconcile-{}", uuid::Uuid::new_v4()));
    forged["source"] = json!("urn:hrsync:reconcile");
    forged["data"]["person"]["title"] = json!("Chief Everything Officer");
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(
        "x-hrsync-source".into(),
        lapin::types::AMQPValue::LongString("reconcile".into()),
    );
    let properties = lapin::BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_headers(headers);
    h.publish_raw(
        "hr.employee.mover",
        forged.to_string().as_bytes(),
        properties,
    )
    .await;
    h.wait_metric(
        "hrsync_target_outcomes_total",
        r#"outcome="stale",target="vault""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    assert_eq!(
        h.sim.user("vault", "25008").await["user_title__v"],
        "Edited by hand",
        "a header never lifts the stale guard"
    );
    h.stop().await;
}

#[tokio::test]
async fn apply_publishes_leavers_that_the_mass_deprovision_guard_stages() {
    let (h, snapshot) = seeded_world_with(true).await;
    // 80 people left at once: more than the guard's 50 a window.
    let text = std::fs::read_to_string(&snapshot).unwrap();
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut data: Value = serde_json::from_str(line).unwrap();
            if (100..180).contains(&i) {
                data["status"] = json!("left");
            }
            data.to_string()
        })
        .collect();
    std::fs::write(&snapshot, lines.join("\n")).unwrap();
    let report = reconcile::run(&h.config, &Options::dry_run(snapshot).applied())
        .await
        .unwrap();
    let leavers = report
        .corrections
        .planned
        .iter()
        .filter(|p| p.action == "leaver")
        .count();
    assert_eq!(leavers, 81, "the 80 and person 2");
    let store = h.worker().applier.store().clone();
    eventually(WAIT, "leavers staged", || async {
        let staged = store.staged_leavers().await.unwrap();
        if staged == 31 {
            Ok(())
        } else {
            Err(format!("{staged} staged"))
        }
    })
    .await;
    h.wait_idle().await;
    let disabled = h
        .sim
        .users("vault")
        .await
        .iter()
        .filter(|u| u["domain_active__v"] == json!(false))
        .count();
    // Person 5 was disabled by hand and is re-enabled; 50 leavers got through.
    assert_eq!(disabled, 50, "the guard let 50 through and staged the rest");
    h.stop().await;
}
