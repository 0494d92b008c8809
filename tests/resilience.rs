//! Surviving what production does to a worker: broker connections cut, the process killed
//! with SIGKILL, a rolling restart's SIGTERM, a target down for a while. Every scenario
//! ends with each change applied exactly once and in order (simulator log) and nothing
//! dead-lettered.

use hrsync_testkit::*;
use std::time::{Duration, Instant};

fn staff_feed(employees: usize, events_each: u64) -> Vec<serde_json::Value> {
    (1..=events_each)
        .flat_map(|sequence| (0..employees).map(move |i| staff_mover(i, sequence)))
        .collect()
}

#[tokio::test]
async fn broker_connections_closed_three_times_during_2000_events_lose_and_double_nothing() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| c.worker.concurrency = 16)
        .start()
        .await;
    let (employees, events_each) = (200, 10);
    h.publish_all(&staff_feed(employees, events_each)).await;
    let applied = || {
        h.worker()
            .metrics
            .target_outcomes
            .with_label_values(&["vault", "applied"])
            .get()
    };
    let mut closed = 0;
    for threshold in [400, 900, 1400] {
        let deadline = Instant::now() + Duration::from_secs(120);
        while applied() < threshold {
            assert!(Instant::now() < deadline, "stuck at {} applied", applied());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        closed += h.force_close_worker_connections();
        h.wait_until_consuming().await;
    }
    assert!(closed >= 3, "closed {closed} connections");
    h.wait_idle_within(Duration::from_secs(240)).await;
    h.sim
        .assert_applied_exactly_once_in_order(employees, events_each)
        .await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_worker_killed_with_sigkill_and_restarted_applies_2000_events_exactly_once() {
    let h = Harness::builder()
        .store(StoreKind::Sqlite)
        .simulator(roomy_simulator())
        .without_worker()
        .start()
        .await;
    let (employees, events_each) = (200, 10);
    h.publish_all(&staff_feed(employees, events_each)).await;
    let mut first = h.spawn_worker("first").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.process_applied(&first, "vault").await < 500.0 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap(); // SIGKILL, mid-batch
    first.child.wait().unwrap();
    let second = h.spawn_worker("second").await;
    h.wait_process_idle(&second, Duration::from_secs(240)).await;
    h.sim
        .assert_applied_exactly_once_in_order(employees, events_each)
        .await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop_process(second).await;
    h.stop().await;
}

#[tokio::test]
async fn sigterm_with_events_in_flight_exits_0_and_the_restart_loses_and_doubles_nothing() {
    let h = Harness::builder()
        .store(StoreKind::Postgres)
        .simulator(roomy_simulator())
        .without_worker()
        .start()
        .await;
    let (employees, events_each) = (30, 10);
    // Slow targets, so that messages are in flight when SIGTERM arrives.
    h.sim.fault(Fault::latency(FaultTarget::Vault, 100)).await;
    h.publish_all(&staff_feed(employees, events_each)).await;
    let mut first = h.spawn_worker("first").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.process_applied(&first, "vault").await < 40.0 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight = h
        .process_metric(&first, "hrsync_events_in_flight", "")
        .await;
    assert!(in_flight > 0.0, "the test needs messages in flight");
    let sigterm = std::process::Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigterm.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "worker did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "log: {}",
        std::fs::read_to_string(&first.log).unwrap_or_default()
    );

    h.sim.clear_faults().await;
    let second = h.spawn_worker("second").await;
    h.wait_process_idle(&second, Duration::from_secs(120)).await;
    h.sim
        .assert_applied_exactly_once_in_order(employees, events_each)
        .await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop_process(second).await;
    h.stop().await;
}

#[tokio::test]
async fn a_target_down_for_20_seconds_parks_its_work_and_nothing_is_dead_lettered() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| {
            c.retry.max_attempts = 2;
            c.retry.max_deferrals = 2;
            c.breaker.threshold = 3;
            c.breaker.open_for = Duration::from_secs(2);
        })
        .start()
        .await;
    h.sim
        .fault(Fault::status_for(FaultTarget::Vault, 503, 20000))
        .await;
    let employees = 20;
    h.publish_all(&staff_feed(employees, 1)).await;
    // The other targets keep flowing while Vault is down.
    h.sim
        .wait_for_writes("superoffice", "PATCH", employees)
        .await;
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(&metrics, "hrsync_breaker_open", r#"target="vault""#),
        1.0
    );
    let ready: serde_json::Value = h
        .http
        .get(format!("http://{}/readyz", h.worker().http_addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        ready["breakers_not_closed"]["vault"],
        serde_json::Value::Null,
        "{ready}"
    );

    h.sim
        .wait_for_titles(employees, 1, Duration::from_secs(90))
        .await;
    h.wait_idle().await;
    h.sim
        .assert_applied_exactly_once_in_order(employees, 1)
        .await;
    assert!(
        h.dead_letters_now().await.is_empty(),
        "parked work is not burnt into the dead-letter queue"
    );
    let metrics = h.metrics_text().await;
    assert!(
        metric(
            &metrics,
            "hrsync_breaker_transitions_total",
            r#"state="open",target="vault""#
        ) >= 1.0
    );
    assert!(
        metric(
            &metrics,
            "hrsync_breaker_transitions_total",
            r#"state="closed",target="vault""#
        ) >= 1.0
    );
    assert_eq!(
        metric(&metrics, "hrsync_breaker_open", r#"target="vault""#),
        0.0
    );
    assert!(metric(&metrics, "hrsync_deferrals_total", r#"kind="parked""#) >= 1.0);
    h.stop().await;
}

#[tokio::test]
async fn three_sharded_workers_share_3000_events_and_survive_losing_one() {
    let h = Harness::builder()
        .store(StoreKind::Postgres)
        .simulator(roomy_simulator())
        .shards(4)
        .without_worker()
        .start()
        .await;
    let (employees, events_each) = (300, 10);
    let mut workers = vec![
        h.spawn_worker("a").await,
        h.spawn_worker("b").await,
        h.spawn_worker("c").await,
    ];
    h.publish_all(&staff_feed(employees, events_each)).await;
    // Kill one replica mid-run; its shards (and perhaps the router) move to the others.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut applied = 0.0;
        for w in &workers {
            applied += h.process_applied(w, "vault").await;
        }
        if applied >= 900.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress ({applied} applied)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut victim = workers.remove(0);
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    for w in &workers {
        h.wait_process_idle(w, Duration::from_secs(240)).await;
    }
    h.sim
        .assert_applied_exactly_once_in_order(employees, events_each)
        .await;
    assert!(h.dead_letters_now().await.is_empty());
    // The killed replica's shards moved: the survivors finished what it left.
    let mut survivors = 0.0;
    for w in &workers {
        survivors += h.process_applied(w, "vault").await;
    }
    assert!(survivors > 0.0);
    for w in workers {
        h.stop_process(w).await;
    }
    h.stop().await;
}
