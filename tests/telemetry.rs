//! What an operator's tooling gets from a worker process: a log of flat JSON lines (every
//! line parses; `event_id` and `employee_id` at the top level, never nested under `span`;
//! no colour codes when the log is not a terminal) — and `run --once`, which drains what
//! is queued and exits 0 (for CronJobs and migrations).

use hrsync_testkit::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_json_log_is_flat_with_the_event_and_employee_ids_at_the_top_level() {
    let h = Harness::builder().without_worker().start().await;
    let worker = h.spawn_worker("log").await;
    let event = mover();
    h.publish(&event).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_process_idle(&worker, Duration::from_secs(30)).await;
    let log_path = worker.log.clone();
    h.stop_process(worker).await;

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains('\u{1b}'), "no ANSI escape codes in a file");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "no {key}: {line}");
        }
        assert!(
            line.get("span").is_none() && line.get("fields").is_none(),
            "{line}"
        );
    }
    let about_the_event: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event_id"] == event["id"])
        .collect();
    assert!(
        !about_the_event.is_empty(),
        "lines carry event_id at the top level:\n{log}"
    );
    for line in about_the_event {
        assert_eq!(line["employee_id"], event["subject"], "{line}");
    }
}

#[tokio::test]
async fn run_once_drains_what_is_queued_and_exits_0() {
    let h = Harness::builder().without_worker().start().await;
    let events: Vec<Value> = (0..20).map(|i| staff_mover(i, 2)).collect();
    h.publish_all(&events).await;
    let mut command = h.hrsync_command(&["run", "--once"]);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // Everything queued was applied before it exited, and nothing is left.
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), 20);
    assert_eq!(h.pending().await, 0);
}
