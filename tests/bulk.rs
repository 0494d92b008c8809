//! Vault bulk updates: a backlog of movers goes out in calls of up to 500 rows; a row Vault
//! refuses fails only its own event; one employee's changes stay in order. Bulk rows are
//! diffed against the state hrsync last recorded, so each test first brings its employees
//! in step (a user hrsync never wrote is read first: it may be a disabled one to
//! re-activate, which a bulk row cannot see).

use hrsync::config::Config;
use hrsync_testkit::*;
use serde_json::json;
use std::time::Duration;

fn bulk_vault_only(c: &mut Config) {
    c.edit_target(|vault: &mut VaultConfig| {
        vault.bulk.enabled = true;
        vault.bulk.max_wait = Duration::from_secs(3);
    });
    c.edit_target(|s: &mut SiteVaultConfig| s.0.enabled = false);
    c.edit_target(|s: &mut SuperOfficeConfig| s.enabled = false);
    c.worker.concurrency = 1200;
    c.rabbitmq.prefetch = 1200;
}

fn big_simulator() -> SimulatorConfig {
    SimulatorConfig {
        seed_users: 1300,
        ..roomy_simulator()
    }
}

/// One round of single-call movers (sequence 1) for employees `0..n`, so each has a
/// recorded state; returns once applied.
async fn bring_in_step(h: &Harness, n: usize) {
    let movers: Vec<_> = (0..n).map(|i| staff_mover(i, 1)).collect();
    h.publish_all(&movers).await;
    h.wait_idle_within(Duration::from_secs(120)).await;
    assert!(
        bulk_calls(h).await.is_empty(),
        "first writes are single calls"
    );
}

/// The bulk calls the simulator received, and their row counts.
async fn bulk_calls(h: &Harness) -> Vec<usize> {
    h.sim
        .writes("vault", "PUT")
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/objects/users"))
        .map(|r| body_json(&r).as_array().unwrap().len())
        .collect()
}

#[tokio::test]
async fn a_backlog_of_1200_vault_updates_takes_at_most_three_calls() {
    let h = Harness::builder()
        .simulator(big_simulator())
        .config(bulk_vault_only)
        .start()
        .await;
    bring_in_step(&h, 1200).await;
    let movers: Vec<_> = (0..1200).map(|i| staff_mover(i, 2)).collect();
    h.publish_all(&movers).await;
    h.wait_idle_within(Duration::from_secs(120)).await;
    let calls = bulk_calls(&h).await;
    assert!(calls.len() <= 3, "bulk calls and their rows: {calls:?}");
    assert_eq!(calls.iter().sum::<usize>(), 1200);
    assert!(calls.iter().all(|rows| *rows <= 500));
    for i in [0, 599, 1199] {
        let (vault, _, _) = account_ids(i);
        assert_eq!(
            h.sim.user("vault", &vault).await["user_title__v"],
            "Title 2"
        );
    }
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_row_vault_refuses_dead_letters_only_its_own_event() {
    let h = Harness::builder()
        .simulator(big_simulator())
        .config(bulk_vault_only)
        .start()
        .await;
    bring_in_step(&h, 20).await;
    let mut events: Vec<_> = (0..20).map(|i| staff_mover(i, 2)).collect();
    // No such Vault user: this row comes back FAILURE inside a successful bulk call.
    events[7]["data"]["accounts"]["vault"]["user_id"] = json!("99999999");
    h.publish_all(&events).await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-target"), "vault");
    assert_eq!(letters[0].header("x-hrsync-reason"), "rejected");
    assert_eq!(letters[0].body, events[7].to_string().into_bytes());
    h.wait_idle().await;
    assert_eq!(bulk_calls(&h).await.iter().sum::<usize>(), 20);
    for i in (0..20).filter(|i| *i != 7) {
        let (vault, _, _) = account_ids(i);
        assert_eq!(
            h.sim.user("vault", &vault).await["user_title__v"],
            "Title 2",
            "user {vault}"
        );
    }
    assert!(
        h.dead_letters_now().await.is_empty(),
        "only one dead letter"
    );
    h.stop().await;
}

#[tokio::test]
async fn two_changes_of_one_employee_in_the_backlog_apply_in_order() {
    let h = Harness::builder()
        .simulator(big_simulator())
        .config(bulk_vault_only)
        .start()
        .await;
    bring_in_step(&h, 50).await;
    let mut events: Vec<_> = (0..50).map(|i| staff_mover(i, 2)).collect();
    events.push(staff_mover(3, 3));
    h.publish_all(&events).await;
    h.wait_idle_within(Duration::from_secs(60)).await;
    let rows_for_user: Vec<String> = h
        .sim
        .writes("vault", "PUT")
        .await
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/objects/users"))
        .flat_map(|r| body_json(r).as_array().unwrap().clone())
        .filter(|row| row["id"] == 25004)
        .map(|row| row["user_title__v"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        rows_for_user,
        ["Title 2", "Title 3"],
        "one row per batch, in sequence order"
    );
    assert_eq!(
        h.sim.user("vault", "25004").await["user_title__v"],
        "Title 3"
    );
    h.stop().await;
}
