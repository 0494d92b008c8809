//! SuperOffice allows 10 calls a second and has no bulk call, so calls per change are the
//! throughput: a mover whose user hrsync wrote before is one PATCH whose `test` ops check
//! what hrsync last applied — no read. When the user was changed since (by hand, or
//! retired), SuperOffice refuses the patch with 409, and only then is the user read and
//! patched from what it holds. The simulator's request log is the truth.

use hrsync_testkit::*;
use serde_json::{json, Value};

/// The SuperOffice requests of user 981 from the log, as `METHOD path`.
async fn calls(h: &Harness) -> Vec<String> {
    h.sim
        .requests("superoffice")
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

fn mover_with(sequence: u64, title: &str) -> Value {
    let mut event = mover();
    event["id"] = json!(new_id());
    event["sequence"] = json!(sequence);
    event["data"]["person"]["title"] = json!(title);
    event
}

#[tokio::test]
async fn a_mover_is_one_tested_patch_and_a_changed_user_is_read_first() {
    let h = Harness::start().await;
    h.publish(&joiner()).await;
    h.wait_idle().await;
    let after_joiner = calls(&h).await.len();

    // HR changes the title: one call, a PATCH testing the title hrsync last wrote.
    h.publish(&mover_with(4, "Lead CRA")).await;
    h.wait_idle().await;
    let mover_calls = calls(&h).await[after_joiner..].to_vec();
    assert_eq!(
        mover_calls,
        ["PATCH /api/v1/User/981"],
        "one call per changed user"
    );
    let patch = h.sim.writes("superoffice", "PATCH").await.pop().unwrap();
    let ops = body_json(&patch);
    assert!(
        ops.as_array().unwrap().contains(
            &json!({"op": "test", "path": "/Person/Title", "value": "Clinical Research Associate"})
        ),
        "{ops}"
    );
    assert_eq!(
        h.sim.user("superoffice", "981").await["Person"]["Title"],
        "Lead CRA"
    );

    // Someone edits the title by hand; the next mover's test fails (409), then the user is
    // read and patched from what it holds: HR's value wins, nothing is lost.
    h.sim
        .set_user_field(
            "superoffice",
            "981",
            "Person.Title",
            json!("Edited by hand"),
        )
        .await;
    let before = calls(&h).await.len();
    h.publish(&mover_with(5, "Principal CRA")).await;
    h.wait_idle().await;
    assert_eq!(
        calls(&h).await[before..],
        [
            "PATCH /api/v1/User/981",
            "GET /api/v1/User/981",
            "PATCH /api/v1/User/981"
        ]
    );
    assert_eq!(
        h.sim.user("superoffice", "981").await["Person"]["Title"],
        "Principal CRA"
    );

    // Retired by hand: the test on Deleted fails, and the read un-retires the employee.
    h.sim
        .set_user_field("superoffice", "981", "Deleted", json!(true))
        .await;
    h.publish(&mover_with(6, "Director")).await;
    h.wait_idle().await;
    let user = h.sim.user("superoffice", "981").await;
    assert_eq!(
        user["Deleted"], false,
        "an active employee's user is not retired"
    );
    assert_eq!(user["Person"]["Title"], "Director");
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}
