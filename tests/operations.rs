//! The operator's tools and the monitoring contract: `dlq list/replay` and `dry-run` on the
//! real broker and simulator, and every metric the dashboard and alert rules use is one a
//! running worker actually exports.

use hrsync::ops::dlq;
use hrsync_testkit::*;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn dead_letters_are_listed_without_being_taken_and_replayed_after_a_fix() {
    let h = Harness::start().await;
    // Vault refuses the first change: its part is dead-lettered, the others apply.
    h.sim
        .fault(Fault::failure(FaultTarget::Vault, "INVALID_DATA"))
        .await;
    let event = mover();
    h.publish(&event).await;
    h.wait_idle().await;
    h.sim.wait_for_writes("sitevault", "PUT", 1).await;

    let letters = dlq::list(&h.config, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].target, "vault");
    assert_eq!(letters[0].reason, "rejected");
    assert_eq!(letters[0].event_id.as_deref(), event["id"].as_str());
    assert_eq!(
        dlq::list(&h.config, 10).await.unwrap().len(),
        1,
        "listing leaves them in the queue"
    );
    let shown = dlq::show(&h.config, &letters[0].id).await.unwrap().unwrap();
    assert_eq!(shown.body, event.to_string().into_bytes());

    // "The fix" is that the simulator no longer refuses; replay only the Vault dead letters.
    let mut reports = 0;
    let operator = h.worker().applier.store().with_actor("alice");
    let done = dlq::replay(
        &h.config,
        &operator,
        &dlq::Selection {
            target: Some("vault".into()),
            ..Default::default()
        },
        |_| reports += 1,
    )
    .await
    .unwrap();
    assert_eq!(
        done,
        dlq::Replayed {
            replayed: 1,
            skipped: 0
        }
    );
    assert!(reports >= 1, "progress is reported");
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_idle().await;
    assert!(dlq::list(&h.config, 10).await.unwrap().is_empty());
    // The event id was kept: targets that had applied it see a duplicate.
    assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), 1);
    assert_eq!(h.sim.writes("superoffice", "PATCH").await.len(), 1);
    // Who reopened the Vault part is in the audit log.
    let audit = h
        .worker()
        .applier
        .store()
        .audit(Some("E100234"), 20)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.outcome.as_str() == "replayed" && a.actor == "alice" && a.target == "vault"),
        "{audit:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_replay_can_select_by_reason_and_leaves_the_rest() {
    let h = Harness::start().await;
    h.publish_raw("hr.employee.mover", b"not json", Default::default())
        .await;
    let mut no_account = leaver();
    no_account["data"]
        .as_object_mut()
        .unwrap()
        .remove("accounts");
    no_account["subject"] = json!("E555");
    no_account["data"]["employee_id"] = json!("E555");
    h.publish(&no_account).await;
    h.wait_idle().await;
    let reasons: BTreeSet<String> = dlq::list(&h.config, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.reason)
        .collect();
    assert!(
        reasons.contains("invalid_event") && reasons.contains("unlinked"),
        "{reasons:?}"
    );
    let done = dlq::replay(
        &h.config,
        h.worker().applier.store(),
        &dlq::Selection {
            reason: Some("invalid_event".into()),
            ..Default::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.replayed, 1);
    assert!(done.skipped >= 1);
    // The bad message comes back as a dead letter again; the unlinked ones stayed.
    h.wait_idle().await;
    let after = dlq::list(&h.config, 10).await.unwrap();
    assert!(after.iter().any(|l| l.reason == "unlinked"));
    assert!(after.iter().any(|l| l.reason == "invalid_event"));
    h.stop().await;
}

#[tokio::test]
async fn dry_run_prints_the_exact_requests_and_sends_nothing() {
    let h = Harness::builder()
        .store(StoreKind::Sqlite)
        .without_worker()
        .start()
        .await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["dry-run", "examples/events/joiner.json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HRSYNC_TARGETS__VAULT__BASE_URL", &h.sim_url)
        .env("HRSYNC_TARGETS__SITEVAULT__BASE_URL", &h.sim_url)
        .env("HRSYNC_TARGETS__SUPEROFFICE__BASE_URL", &h.sim_url)
        .env_remove("HRSYNC_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "[vault] send",
        "PUT /api/v24.1/objects/users/25001",
        "user_title__v=Clinical+Research+Associate",
        "domain_active__v=true",
        "PUT /api/v24.2/app/sitevault/useradmin/persons/V0B000000001001",
        r#""site_assignments":[{"site_usn":"US-NC-0002","system_role_id":"study_team__v"}]"#,
        "PATCH /api/v1/User/981",
        r#"{"op":"add","path":"/Person/Firstname","value":"Ana"}"#,
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        h.sim.requests("vault").await.is_empty(),
        "a dry run sends nothing"
    );
    assert!(h.sim.requests("superoffice").await.is_empty());
    h.stop().await;
}

/// Metric names in PromQL text: identifiers starting with `prefix`.
fn metric_names(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
        if boundary && text[text.char_indices().nth(i).unwrap().0..].starts_with(prefix) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            names.insert(bytes[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    names
}

#[tokio::test]
async fn every_metric_in_the_dashboard_and_alert_rules_is_exported_by_a_running_worker() {
    let h = Harness::builder()
        .config(|c| c.schedule.poll_interval = std::time::Duration::from_millis(100))
        .start()
        .await;
    // Something of everything: a retry, a dead letter, an applied change, a reconciliation.
    h.sim.fault(Fault::status(FaultTarget::Vault, 503)).await;
    h.publish(&mover()).await;
    h.publish_raw("hr.employee.mover", b"not json", Default::default())
        .await;
    h.wait_idle().await;
    let snapshot = std::env::temp_dir().join(format!("{}-snapshot.jsonl", h.unique));
    let person = mover()["data"].clone();
    std::fs::write(&snapshot, person.to_string()).unwrap();
    let options = hrsync::reconcile::Options::dry_run(snapshot);
    hrsync::reconcile::run(&h.config, &options).await.unwrap();
    h.wait_metric(
        "hrsync_reconcile_accounts",
        r#"status="in_sync",target="vault""#,
        1.0,
        WAIT,
    )
    .await;
    let scraped: BTreeSet<String> = h
        .metrics_text()
        .await
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let rabbitmq_exported: BTreeSet<String> = [
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_queue_consumers",
    ]
    .map(String::from)
    .into();
    for file in [
        "deploy/grafana/dashboards/hrsync.json",
        "deploy/prometheus/rules/hrsync.rules.yml",
        "deploy/kubernetes/base/prometheusrule.yaml",
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let used = metric_names(&text, "hrsync_");
        assert!(!used.is_empty(), "{file} uses no hrsync metric?");
        for name in &used {
            assert!(
                scraped.contains(name),
                "{file} uses {name}, which the worker does not export"
            );
        }
        for name in metric_names(&text, "rabbitmq_") {
            assert!(
                rabbitmq_exported.contains(&name),
                "{file} uses {name}, not one of RabbitMQ's exporter metrics we rely on"
            );
        }
    }
    h.stop().await;
}
