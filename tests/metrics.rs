//! What the worker tells Prometheus about itself: its build, its process, every HTTP call
//! it made to a target (counted against the simulator's own request log), the depth of
//! the dead-letter queue — and only label pairs that can happen.
//!
//! One test in its own binary: the API-call counter is process-wide (the target clients
//! exist before any worker's registry), so no other test may call targets meanwhile.

use hrsync_testkit::*;
use std::time::Duration;

/// The sum over every series of `name` whose labels contain `label`.
fn sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn the_worker_exports_its_build_its_process_every_api_call_and_the_dead_letter_queue() {
    let h = Harness::builder()
        .config(|c| c.schedule.poll_interval = Duration::from_millis(100))
        .start()
        .await;
    h.publish(&mover()).await;
    h.publish(&leaver()).await;
    h.publish_raw("hr.employee.joiner", b"not json", Default::default())
        .await;
    h.wait_idle().await;
    // The broker's count of the dead-letter queue, read by the worker.
    h.wait_metric("hrsync_dead_letter_queue_messages", "", 1.0, WAIT)
        .await;
    let text = h.metrics_text().await;

    let build = format!(
        r#"revision="{}",version="{}""#,
        hrsync::metrics::REVISION,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(metric(&text, "hrsync_build_info", &build), 1.0, "{text}");
    assert_ne!(hrsync::metrics::REVISION, "", "a revision, or `unknown`");
    assert!(metric(&text, "process_resident_memory_bytes", "") > 1e6);
    assert!(metric(&text, "process_open_fds", "") > 3.0);
    assert!(text.contains("process_cpu_seconds_total "));

    // One count per HTTP request, logins and reads included: the simulator saw each.
    // (It serves Vault and SiteVault on one address and logs both logins under `vault`,
    // so the two are compared together.)
    let mut seen_all = 0.0;
    for target in ["vault", "sitevault", "superoffice"] {
        let seen = h.sim.requests(target).await.len() as f64;
        let counted = sum(
            &text,
            "hrsync_target_api_calls_total",
            &format!(r#"target="{target}""#),
        );
        assert!(seen > 0.0 && counted > 0.0, "{target} was called");
        if target == "superoffice" {
            assert_eq!(
                counted, seen,
                "{target}: calls counted vs requests received"
            );
        }
        seen_all += seen;
    }
    assert_eq!(
        sum(&text, "hrsync_target_api_calls_total", "target="),
        seen_all,
        "every call counted once"
    );
    assert!(
        metric(
            &text,
            "hrsync_target_requests_total",
            r#"status="success",target="vault""#
        ) < sum(&text, "hrsync_target_api_calls_total", r#"target="vault""#),
        "operations are not calls: a Vault update is a read and a write"
    );

    // No series for what cannot happen.
    for impossible in [
        r#"hrsync_events_total{outcome="applied",type="invalid"}"#,
        r#"hrsync_events_total{outcome="invalid",type="mover"}"#,
        r#"hrsync_events_total{outcome="parked",type="mover"}"#,
        r#"hrsync_target_outcomes_total{outcome="invalid",target="vault"}"#,
        r#"hrsync_target_outcomes_total{outcome="scheduled",target="vault"}"#,
        r#"hrsync_dead_letters_total{reason="invalid_event",target="vault"}"#,
    ] {
        assert!(!text.contains(impossible), "{impossible} is pre-created");
    }
    // Taken off the queue (a replay, a purge): the gauge follows.
    h.dead_letters(1).await;
    eventually(WAIT, "the gauge back at 0", || async {
        let text = h.metrics_text().await;
        match metric(&text, "hrsync_dead_letter_queue_messages", "") {
            0.0 => Ok(()),
            n => Err(format!("{n}")),
        }
    })
    .await;
    h.stop().await;
}
