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
    for line in &about_the_event {
        assert_eq!(line["employee_id"], event["subject"], "{line}");
    }
    // At info, one line says what became of the message in every target.
    let settled: Vec<&&Value> = about_the_event
        .iter()
        .filter(|l| l["message"] == "message settled")
        .collect();
    assert_eq!(settled.len(), 1, "one settled line:\n{log}");
    let targets = settled[0]["targets"].as_str().unwrap_or_default();
    assert!(
        targets.split(' ').any(|t| t == "vault=applied"),
        "every target's outcome on the settled line: {}",
        settled[0]
    );
    assert!(
        !about_the_event
            .iter()
            .any(|l| l["message"] == "target handled"),
        "no line per target at info:\n{log}"
    );
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

/// An OTLP/HTTP receiver that keeps every body posted to it.
async fn otlp_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body.to_vec());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

#[tokio::test]
async fn traces_continue_the_cloudevents_traceparent() {
    let h = Harness::builder().without_worker().start().await;
    let (url, bodies) = otlp_receiver().await;
    let worker = h
        .spawn_worker_with_env("traces", &[("HRSYNC_LOG__OTLP_ENDPOINT", url.as_str())])
        .await;
    // The publisher's trace (W3C Trace Context, the CloudEvents Distributed Tracing
    // extension's attribute).
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut event = mover();
    event["traceparent"] = serde_json::json!(format!("00-{trace_id}-00f067aa0ba902b7-01"));
    h.publish(&event).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_process_idle(&worker, Duration::from_secs(30)).await;
    h.stop_process(worker).await; // flushes the batch

    // The exported spans (protobuf) carry the publisher's trace id as 16 raw bytes.
    let raw: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let bodies = bodies.lock().unwrap();
    assert!(!bodies.is_empty(), "spans were exported");
    assert!(
        bodies
            .iter()
            .any(|b| b.windows(16).any(|w| w == raw.as_slice())),
        "the event's span continues the publisher's trace"
    );
    assert!(
        bodies.iter().any(|b| b.windows(5).any(|w| w == b"event")),
        "the event span is exported"
    );
}
