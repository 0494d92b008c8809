//! The effect of exactly once over an at-least-once broker: duplicates send nothing, stale
//! events never overwrite newer ones, one employee's events apply in order while many are
//! in flight. The simulator's request log is the truth. The store-dependent tests run
//! against SQLite and PostgreSQL.

use hrsync_testkit::*;
use serde_json::json;

#[tokio::test]
async fn the_same_event_published_five_times_sends_one_request_per_target() {
    for store in BOTH_STORES {
        let h = Harness::builder().store(store).start().await;
        h.sim.seed_person("org_no_access__v", &[]).await;
        let event = mover();
        for _ in 0..5 {
            h.publish(&event).await;
        }
        h.sim.wait_for_writes("vault", "PUT", 1).await;
        h.wait_idle().await;
        assert_eq!(h.sim.writes("vault", "PUT").await.len(), 1, "{store:?}");
        assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), 1, "{store:?}");
        assert_eq!(
            h.sim.writes("superoffice", "PATCH").await.len(),
            1,
            "{store:?}"
        );
        // Duplicates are recognised before any call: one read per target, not five.
        assert_eq!(h.sim.writes("vault", "GET").await.len(), 1, "{store:?}");
        let metrics = h.metrics_text().await;
        assert_eq!(
            metric(
                &metrics,
                "hrsync_target_outcomes_total",
                r#"outcome="duplicate",target="vault""#
            ),
            4.0
        );
        assert!(h.dead_letters_now().await.is_empty());
        h.stop().await;
    }
}

#[tokio::test]
async fn a_mover_arriving_after_a_newer_leaver_is_stale_and_the_leaver_state_stays() {
    for store in BOTH_STORES {
        let h = Harness::builder().store(store).start().await;
        let mut late_mover = mover();
        late_mover["sequence"] = json!(7);
        late_mover["data"]["person"]["title"] = json!("Should never arrive");
        h.publish(&leaver()).await; // sequence 9
        h.sim.wait_for_writes("vault", "PUT", 1).await;
        h.publish(&late_mover).await;
        h.wait_idle().await;

        assert_eq!(
            h.sim.user("vault", "25001").await["domain_active__v"],
            false,
            "{store:?}"
        );
        assert_eq!(
            h.sim.user("superoffice", "981").await["Deleted"],
            true,
            "{store:?}"
        );
        assert_ne!(
            h.sim.user("vault", "25001").await["user_title__v"],
            "Should never arrive"
        );
        assert_eq!(
            h.sim.writes("vault", "PUT").await.len(),
            1,
            "{store:?}: nothing sent for the stale mover"
        );
        let metrics = h.metrics_text().await;
        for target in ["vault", "sitevault", "superoffice"] {
            let labels = format!(r#"outcome="stale",target="{target}""#);
            assert_eq!(
                metric(&metrics, "hrsync_target_outcomes_total", &labels),
                1.0,
                "{store:?} {target}"
            );
        }
        assert_eq!(
            metric(
                &metrics,
                "hrsync_events_total",
                r#"outcome="stale",type="mover""#
            ),
            1.0
        );
        h.stop().await;
    }
}

#[tokio::test]
async fn a_thousand_events_over_a_hundred_employees_apply_in_order_and_once() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| c.worker.concurrency = 16)
        .start()
        .await;
    let (employees, events_each) = (100, 10);
    // Interleaved as a busy HR feed would be: every employee's 1st change, then every 2nd…
    let events: Vec<_> = (1..=events_each)
        .flat_map(|sequence| (0..employees).map(move |i| staff_mover(i, sequence)))
        .collect();
    h.publish_all(&events).await;
    h.sim
        .wait_for_titles(employees, events_each, std::time::Duration::from_secs(180))
        .await;
    h.wait_idle().await;
    h.sim
        .assert_applied_exactly_once_in_order(employees, events_each)
        .await;
    assert!(h.dead_letters_now().await.is_empty());
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(
            &metrics,
            "hrsync_target_outcomes_total",
            r#"outcome="applied",target="vault""#
        ),
        (employees as u64 * events_each) as f64
    );
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_without_ids_reaches_the_accounts_learned_from_earlier_events() {
    let h = Harness::start().await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    let mut bare_leaver = leaver();
    bare_leaver["data"]
        .as_object_mut()
        .unwrap()
        .remove("accounts");
    h.publish(&bare_leaver).await;
    h.wait_idle().await;
    assert_eq!(
        h.sim.user("vault", "25001").await["domain_active__v"],
        false
    );
    assert_eq!(h.sim.user("superoffice", "981").await["Deleted"], true);
    assert!(
        h.dead_letters_now().await.is_empty(),
        "no account was unlinked"
    );
    h.stop().await;
}

#[tokio::test]
async fn the_audit_log_records_each_applied_change_without_values() {
    let h = Harness::start().await;
    let event = mover();
    h.publish(&event).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_idle().await;
    let store = h.worker().applier.store();
    let entries = store.audit(Some("E100234"), 10).await.unwrap();
    let vault = entries
        .iter()
        .find(|e| e.target == "vault")
        .expect("a vault entry");
    assert_eq!(vault.event_id, event["id"].as_str().unwrap());
    assert!(vault.fields_changed.contains(&"user_title__v".to_string()));
    let text = format!("{entries:?}");
    assert!(
        !text.contains("Senior Clinical Research Associate"),
        "values are not in the audit log"
    );
    h.stop().await;
}
