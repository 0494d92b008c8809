//! HR-flow safety: future-dated changes wait for their day, a newer record cancels a
//! pending termination, and a flood of leavers is staged for an operator instead of
//! locking out the company.

use hrsync::ops::held::{discard_staged, release_staged};
use hrsync::store::{HeldFilter, HeldKind};
use hrsync_testkit::*;
use serde_json::json;
use std::time::Duration;

fn future_leaver() -> serde_json::Value {
    let mut event = leaver();
    event["data"]["effective_date"] = json!("2099-03-31");
    event
}

#[tokio::test]
async fn a_future_leaver_waits_in_the_store_and_is_applied_when_due() {
    for store_kind in BOTH_STORES {
        let h = Harness::builder().store(store_kind).start().await;
        let event = future_leaver();
        h.publish(&event).await;
        h.wait_idle().await;
        let store = h.worker().applier.store().clone();
        let pending = store
            .pending_held(HeldKind::Scheduled, &HeldFilter::default())
            .await
            .unwrap();
        assert_eq!(pending.len(), 1, "{store_kind:?}");
        assert_eq!(
            pending[0].due_at.to_string(),
            "2099-03-31 23:59:00.0 +00:00:00"
        );
        assert!(
            h.sim.writes("vault", "PUT").await.is_empty(),
            "a future leaver is not applied now"
        );
        assert_eq!(h.sim.user("vault", "25001").await["domain_active__v"], true);

        // Its day comes (brought forward here): the worker releases and applies it.
        assert!(store
            .reschedule(
                event["id"].as_str().unwrap(),
                time::OffsetDateTime::now_utc()
            )
            .await
            .unwrap());
        h.sim.wait_for_writes("vault", "PUT", 1).await;
        h.wait_idle().await;
        assert_eq!(
            h.sim.user("vault", "25001").await["domain_active__v"],
            false,
            "{store_kind:?}"
        );
        assert!(store
            .pending_held(HeldKind::Scheduled, &HeldFilter::default())
            .await
            .unwrap()
            .is_empty());
        let metrics = h.metrics_text().await;
        assert_eq!(
            metric(
                &metrics,
                "hrsync_events_total",
                r#"outcome="scheduled",type="leaver""#
            ),
            1.0
        );
        h.stop().await;
    }
}

#[tokio::test]
async fn a_newer_record_without_the_leave_cancels_the_pending_termination() {
    let h = Harness::start().await;
    let termination = future_leaver(); // sequence 9
    h.publish(&termination).await;
    h.wait_idle().await;
    let mut cancelled = mover();
    cancelled["sequence"] = json!(10);
    h.publish(&cancelled).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_idle().await;
    let store = h.worker().applier.store().clone();
    assert!(store
        .pending_held(HeldKind::Scheduled, &HeldFilter::default())
        .await
        .unwrap()
        .is_empty());
    // Even if its time came, the superseded termination is gone.
    assert!(!store
        .reschedule(
            termination["id"].as_str().unwrap(),
            time::OffsetDateTime::now_utc()
        )
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.wait_idle().await;
    assert_eq!(h.sim.user("vault", "25001").await["domain_active__v"], true);
    h.stop().await;
}

/// 1,000 known accounts, 500 leavers at once; the guard allows 5 % of known accounts.
async fn flood_of_leavers() -> Harness {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| {
            c.guard.max_absolute = 500;
            c.guard.max_percent = 5.0;
            c.worker.concurrency = 16;
        })
        .start()
        .await;
    let store = h.worker().applier.store().clone();
    for i in 0..1000 {
        let (vault, _, _) = account_ids(i);
        store
            .link_account(&format!("E{}", 200000 + i), "vault", &vault)
            .await
            .unwrap();
    }
    let leavers: Vec<_> = (0..500).map(|i| staff_leaver(i, 2)).collect();
    h.publish_all(&leavers).await;
    h.wait_idle_within(Duration::from_secs(120)).await;
    h
}

#[tokio::test]
async fn past_the_threshold_leavers_are_staged_and_joiners_and_movers_keep_flowing() {
    let h = flood_of_leavers().await;
    assert_eq!(
        h.sim.writes("vault", "PUT").await.len(),
        50,
        "5 % of 1,000 known accounts"
    );
    let store = h.worker().applier.store().clone();
    let staged = store
        .pending_held(HeldKind::Staged, &HeldFilter::default())
        .await
        .unwrap();
    assert_eq!(staged.len(), 450);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let metrics = h.metrics_text().await;
    assert_eq!(metric(&metrics, "hrsync_staged_operations", ""), 450.0);
    assert_eq!(
        metric(&metrics, "hrsync_deprovision_guard_tripped", ""),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "hrsync_events_total",
            r#"outcome="staged",type="leaver""#
        ),
        450.0
    );

    // A mover still goes through while the guard holds the leavers.
    h.publish(&staff_mover(700, 5)).await;
    h.wait_idle().await;
    assert!(h.sim.vault_titles().await.contains_key("25701"));
    h.stop().await;
}

#[tokio::test]
async fn releasing_staged_leavers_applies_each_exactly_once_and_audits_the_operator() {
    let h = flood_of_leavers().await;
    let store = h.worker().applier.store().clone();
    let counts = release_staged(&h.config, &store, &HeldFilter::default(), "alice")
        .await
        .unwrap();
    assert_eq!(counts.decided, 450);
    h.wait_idle_within(Duration::from_secs(120)).await;
    let puts = h.sim.writes("vault", "PUT").await;
    assert_eq!(puts.len(), 500);
    let mut users: Vec<&str> = puts.iter().map(|r| r["path"].as_str().unwrap()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 500, "each leaver applied exactly once");
    let audit = store.audit(None, 5000).await.unwrap();
    let released = audit
        .iter()
        .filter(|e| e.target == "guard" && e.actor == "alice")
        .count();
    assert_eq!(released, 450);
    assert!(store
        .pending_held(HeldKind::Staged, &HeldFilter::default())
        .await
        .unwrap()
        .is_empty());
    h.stop().await;
}

#[tokio::test]
async fn discarding_staged_leavers_applies_none_of_them() {
    let h = flood_of_leavers().await;
    let store = h.worker().applier.store().clone();
    let counts = discard_staged(&store, &HeldFilter::default(), "bob")
        .await
        .unwrap();
    assert_eq!(counts.decided, 450);
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.wait_idle().await;
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), 50);
    let audit = store.audit(None, 5000).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.actor == "bob" && e.outcome.as_str() == "discarded")
            .count(),
        450
    );
    h.stop().await;
}

#[tokio::test]
async fn a_rehire_reactivates_the_vault_membership_and_un_retires_in_superoffice() {
    let h = Harness::start().await;
    h.publish(&leaver()).await; // sequence 9
    h.sim.wait_for_writes("superoffice", "POST", 1).await;
    h.wait_idle().await;
    let user = h.sim.user("vault", "25001").await;
    assert_eq!(user["domain_active__v"], false);

    let mut rehire = joiner();
    rehire["sequence"] = json!(10);
    h.publish(&rehire).await;
    let puts = h.sim.wait_for_writes("vault", "PUT", 3).await;
    let membership = puts.last().unwrap();
    assert_eq!(
        membership["path"],
        "/api/v24.1/objects/users/25001/vault_membership/1776"
    );
    let fields = form(membership);
    for expected in [
        ("active__v", "true"),
        ("security_profile__v", "document_user__v"),
        ("license_type__v", "full__v"),
    ] {
        assert!(
            fields.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {fields:?}"
        );
    }
    h.wait_idle().await;
    assert_eq!(h.sim.user("vault", "25001").await["domain_active__v"], true);
    let posts = h.sim.writes("superoffice", "POST").await;
    assert_eq!(
        body_json(posts.last().unwrap()),
        json!({"AssociateId": 981, "Retired": false})
    );
    assert_eq!(h.sim.user("superoffice", "981").await["Deleted"], false);
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_leaver_nobody_linked_is_found_in_every_target_and_an_unknown_one_dead_lettered() {
    let h = Harness::start().await;
    // Seeded person 2: Vault user 25003, SiteVault person …1003, SuperOffice associate 983,
    // never seen in an event.
    let leaver = |employee: &str, email: &str| {
        json!({
            "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
            "type": "hr.employee.leaver", "subject": employee, "time": "2026-11-22T09:15:00Z",
            "sequence": 3,
            "data": {"employee_id": employee,
                     "person": {"first_name": "Carla", "last_name": "Silva",
                                "username": email, "email": email}}
        })
    };
    h.publish(&leaver("E900003", "user25003@verteo.example"))
        .await;
    h.wait_metric(
        "hrsync_unlinked_leavers_total",
        r#"resolution="resolved",target="superoffice""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    assert_eq!(
        h.sim.user("vault", "25003").await["domain_active__v"],
        false,
        "found by user name"
    );
    assert_eq!(
        h.sim.user("superoffice", "983").await["Deleted"],
        true,
        "found by user name"
    );
    let sitevault_edits = h.sim.writes("sitevault", "PUT").await;
    assert_eq!(
        sitevault_edits.len(),
        1,
        "found by e-mail through VQL on person__sys"
    );
    assert!(h.dead_letters_now().await.is_empty());

    // A leaver nobody has an account for: dead-lettered `unlinked` in every target.
    h.publish(&leaver("E900999", "nobody.here@verteo.example"))
        .await;
    let letters = h.dead_letters(3).await;
    h.wait_idle().await;
    let mut targets: Vec<String> = letters
        .iter()
        .map(|l| {
            assert_eq!(l.header("x-hrsync-reason"), "unlinked");
            l.header("x-hrsync-target")
        })
        .collect();
    targets.sort();
    assert_eq!(targets, ["sitevault", "superoffice", "vault"]);
    let metrics = h.metrics_text().await;
    for target in ["vault", "sitevault", "superoffice"] {
        for resolution in ["resolved", "unresolved"] {
            assert_eq!(
                metric(
                    &metrics,
                    "hrsync_unlinked_leavers_total",
                    &format!(r#"resolution="{resolution}",target="{target}""#)
                ),
                1.0,
                "{target} {resolution}"
            );
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn a_superoffice_user_is_found_by_e_mail_through_the_documented_user_search() {
    let h = Harness::start().await;
    // Seeded associate 983 has user name and e-mail user25003@verteo.example; this leaver
    // carries a user name SuperOffice does not know, and that e-mail.
    let leaver = json!({
        "specversion": "1.0", "id": new_id(), "source": "urn:hr:workday",
        "type": "hr.employee.leaver", "subject": "E900004", "time": "2026-11-22T09:15:00Z",
        "sequence": 3,
        "data": {"employee_id": "E900004",
                 "person": {"first_name": "Carla", "last_name": "Silva",
                            "username": "carla.silva@other.example",
                            "email": "USER25003@verteo.example"}}
    });
    h.publish(&leaver).await;
    h.sim.wait_for_writes("superoffice", "POST", 1).await;
    h.wait_idle().await;
    assert_eq!(h.sim.user("superoffice", "983").await["Deleted"], true);
    let gets: Vec<String> = h
        .sim
        .requests("superoffice")
        .await
        .iter()
        .filter(|r| r["method"] == "GET")
        .map(|r| {
            let query = r["query"].as_str().unwrap_or_default();
            format!("{}?{query}", r["path"].as_str().unwrap())
        })
        .collect();
    assert!(
        gets.iter().any(
            |g| g.starts_with("/api/v1/User/carla.silva%40other.example")
                || g.starts_with("/api/v1/User/carla.silva@other.example")
        ),
        "by user name first: {gets:?}"
    );
    let search = gets
        .iter()
        .find(|g| g.starts_with("/api/v1/User?"))
        .unwrap_or_else(|| panic!("the e-mail goes through the user search: {gets:?}"));
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(search.split_once('?').unwrap().1).unwrap();
    assert!(params.contains(&(
        "$filter".into(),
        "personEmail eq 'USER25003@verteo.example'".into()
    )));
    assert!(
        !gets.iter().any(|g| g.contains("/User/USER25003")),
        "the e-mail is never used as a user name: {gets:?}"
    );
    assert_eq!(
        h.worker()
            .applier
            .store()
            .account("E900004", "superoffice")
            .await
            .unwrap()
            .as_deref(),
        Some("983")
    );
    h.stop().await;
}
