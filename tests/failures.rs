//! Bad input and target failures: each ends as the right dead letter or a successful
//! retry, and the worker keeps applying the messages behind them.

use hrsync_testkit::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::{json, Value};

fn structured() -> BasicProperties {
    BasicProperties::default().with_content_type("application/cloudevents+json".into())
}

#[tokio::test]
async fn bad_messages_are_dead_lettered_with_their_reason_and_the_next_good_one_is_applied() {
    let h = Harness::start().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut event = mover();
        f(&mut event);
        event.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{not json".to_vec(), "body"),
        (
            "wrong specversion",
            with(&|e| e["specversion"] = json!("0.3")),
            "specversion",
        ),
        (
            "unknown type",
            with(&|e| e["type"] = json!("hr.employee.promoted")),
            "type",
        ),
        (
            "missing id",
            with(&|e| {
                e.as_object_mut().unwrap().remove("id");
            }),
            "id",
        ),
        (
            "missing subject",
            with(&|e| {
                e.as_object_mut().unwrap().remove("subject");
            }),
            "subject",
        ),
        (
            "missing sequence",
            with(&|e| {
                e.as_object_mut().unwrap().remove("sequence");
            }),
            "sequence",
        ),
        (
            "subject is not the employee",
            with(&|e| e["subject"] = json!("E999")),
            "data.employee_id",
        ),
        (
            "bad e-mail",
            with(&|e| e["data"]["person"]["email"] = json!("ana at verteo")),
            "data.person.email",
        ),
        (
            "title not a string",
            with(&|e| e["data"]["person"]["title"] = json!(42)),
            "data.person.title",
        ),
        (
            "roles not a list",
            with(&|e| e["data"]["roles"] = json!("cra")),
            "data.roles",
        ),
        (
            "2 MiB body",
            {
                let mut big = mover();
                big["data"]["person"]["notes"] = json!("x".repeat(2 * 1024 * 1024));
                big.to_string().into_bytes()
            },
            "body",
        ),
        (
            "invalid UTF-8",
            b"{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\"}".to_vec(),
            "body",
        ),
    ];
    for (_, body, _) in &cases {
        h.publish_raw("hr.employee.mover", body, structured()).await;
    }
    let good = mover();
    h.publish(&good).await;

    let letters = h.dead_letters(cases.len()).await;
    for ((name, body, field), letter) in cases.iter().zip(&letters) {
        assert_eq!(letter.header("x-hrsync-reason"), "invalid_event", "{name}");
        assert_eq!(letter.header("x-hrsync-target"), "none", "{name}");
        assert_eq!(
            letter.header("x-hrsync-error-code"),
            *field,
            "{name}: {}",
            letter.header("x-hrsync-error")
        );
        assert!(
            letter
                .header("x-hrsync-error")
                .starts_with(&format!("{field}:")),
            "{name}"
        );
        assert_eq!(&letter.body, body, "{name}: original body kept");
        assert_eq!(
            letter
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str()),
            Some("application/cloudevents+json"),
            "{name}: properties kept"
        );
    }
    let vault = h.sim.wait_for_writes("vault", "PUT", 1).await;
    assert_eq!(vault[0]["headers"]["x-vaultapi-referenceid"], good["id"]);
    h.wait_idle().await;
    assert_eq!(
        h.sim.writes("vault", "PUT").await.len(),
        1,
        "only the good message reached a target"
    );
    h.stop().await;
}

#[tokio::test]
async fn two_503s_then_success_applies_once_without_a_dead_letter() {
    let h = Harness::start().await;
    h.sim
        .fault(Fault::status(FaultTarget::Vault, 503).times(2))
        .await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_idle().await;
    let calls: Vec<(Value, Value)> = h
        .sim
        .requests("vault")
        .await
        .into_iter()
        .filter(|r| !r["path"].as_str().unwrap().ends_with("/auth"))
        .map(|r| (r["method"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (json!("GET"), json!(503)),
            (json!("GET"), json!(503)),
            (json!("GET"), json!(200)),
            (json!("PUT"), json!(200))
        ]
    );
    assert!(h.dead_letters_now().await.is_empty());
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(
            &metrics,
            "hrsync_retries_total",
            r#"reason="http_503",target="vault""#
        ),
        2.0
    );
    h.stop().await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let h = Harness::start().await;
    h.sim
        .fault(Fault::status(FaultTarget::Superoffice, 429).retry_after(1))
        .await;
    let started = std::time::Instant::now();
    h.publish(&mover()).await;
    let gets = h.sim.wait_for_writes("superoffice", "GET", 2).await;
    assert_eq!(gets[0]["status"], 429);
    h.sim.wait_for_writes("superoffice", "PATCH", 1).await;
    // A lower bound only: the retry waited at least the second the target asked for.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn vault_invalid_data_is_dead_lettered_with_that_type_while_other_targets_apply() {
    let h = Harness::start().await;
    h.sim
        .fault(Fault::failure(FaultTarget::Vault, "INVALID_DATA"))
        .await;
    let event = mover();
    h.publish(&event).await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "rejected");
    assert_eq!(letters[0].header("x-hrsync-target"), "vault");
    assert_eq!(letters[0].header("x-hrsync-error-code"), "INVALID_DATA");
    assert_eq!(letters[0].header("x-hrsync-attempts"), "1");
    h.wait_idle().await;
    let vault_calls =
        h.sim.writes("vault", "GET").await.len() + h.sim.writes("vault", "PUT").await.len();
    assert_eq!(vault_calls, 1, "a permanent failure is not retried");
    assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), 1);
    assert_eq!(h.sim.writes("superoffice", "PATCH").await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn an_expired_vault_session_means_one_new_login_and_success() {
    let h = Harness::start().await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    h.wait_idle().await;
    let logins_before = h.sim.auth_calls().await;
    h.sim.expire_vault_sessions().await;
    let mut second = mover();
    second["sequence"] = json!(5);
    second["data"]["person"]["title"] = json!("Lead CRA");
    // A new site too, so SiteVault has something to write (and a session to renew).
    second["data"]["sites"] = json!(["US-NC-0002", "US-TX-0001", "US-CA-0007"]);
    h.publish(&second).await;
    let puts = h.sim.wait_for_writes("vault", "PUT", 2).await;
    assert_eq!(puts[1]["status"], 200);
    assert!(form(&puts[1]).contains(&("user_title__v".into(), "Lead CRA".into())));
    h.wait_idle().await;
    assert!(h.dead_letters_now().await.is_empty());
    // The first call with the expired session failed with INVALID_SESSION_ID; one new login
    // per Vault connection (Vault and SiteVault each hold a session), then success.
    assert_eq!(h.sim.auth_calls().await - logins_before, 2);
    h.stop().await;
}

#[tokio::test]
async fn a_session_for_the_wrong_vault_is_refused_and_never_retried_in_a_loop() {
    let sim = SimulatorConfig {
        other_vault_id: Some(4242),
        ..SimulatorConfig::default()
    };
    let h = Harness::builder().simulator(sim).start().await;
    h.publish(&mover()).await;
    let mut second = mover();
    second["sequence"] = json!(5);
    second["data"]["person"]["title"] = json!("Lead CRA");
    h.publish(&second).await;
    h.sim.wait_for_writes("superoffice", "PATCH", 2).await;
    // Several park rounds go by: the events wait for a fixed configuration, they are not
    // dead-lettered, and no further login is tried during the cooldown.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        h.sim.auth_calls().await,
        2,
        "one login per Vault connection"
    );
    assert!(h.sim.writes("vault", "PUT").await.is_empty());
    assert_eq!(
        h.sim.writes("superoffice", "PATCH").await.len(),
        2,
        "the other target keeps flowing"
    );
    let (ready, body) = h.readyz().await;
    assert!(!ready);
    assert!(
        body["target_problems"]["vault"]
            .as_str()
            .is_some_and(|why| why.contains("4242")),
        "{body}"
    );
    assert_eq!(
        metric(
            &h.metrics_text().await,
            "hrsync_target_config_problem",
            r#"target="vault""#
        ),
        1.0
    );
    assert!(
        metric(
            &h.metrics_text().await,
            "hrsync_deferrals_total",
            r#"kind="parked""#
        ) >= 2.0
    );
    assert!(
        h.dead_letters_now().await.is_empty(),
        "waiting, not dead-lettered"
    );
    h.stop().await;
}

#[tokio::test]
async fn transient_failures_wait_in_the_delayed_retry_queue_then_are_dead_lettered() {
    let h = Harness::builder()
        .config(|c| {
            c.retry.max_attempts = 2;
            c.retry.max_deferrals = 2;
            c.breaker.threshold = 1000;
        })
        .start()
        .await;
    h.sim
        .fault(Fault::status(FaultTarget::Sitevault, 502).times(1000))
        .await;
    h.publish(&mover()).await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "retries_exhausted");
    assert_eq!(letters[0].header("x-hrsync-target"), "sitevault");
    assert_eq!(letters[0].header("x-hrsync-error-code"), "http_502");
    assert_eq!(letters[0].header("x-hrsync-attempts"), "2");
    assert_eq!(
        letters[0].header("x-hrsync-deferrals"),
        "2",
        "rounds counted in our own header"
    );
    h.wait_idle().await;
    // 2 in-process attempts in each of 3 deliveries (the first and 2 delayed rounds).
    assert_eq!(h.sim.writes("sitevault", "PUT").await.len(), 6);
    // The other targets were applied once, on the first delivery, and not again.
    assert_eq!(h.sim.writes("vault", "PUT").await.len(), 1);
    assert_eq!(h.sim.writes("superoffice", "PATCH").await.len(), 1);
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(&metrics, "hrsync_deferrals_total", r#"kind="deferred""#),
        2.0
    );
    h.stop().await;
}

#[tokio::test]
async fn metrics_parse_and_count_what_happened() {
    let h = Harness::start().await;
    h.publish(&joiner()).await;
    h.publish(&mover()).await;
    h.publish_raw("hr.employee.mover", b"garbage", structured())
        .await;
    h.sim
        .fault(Fault::failure(FaultTarget::Vault, "INVALID_DATA"))
        .await;
    h.dead_letters(1).await;
    h.wait_idle().await;
    let text = h.metrics_text().await;

    // Every sample line has a metric name and a numeric value.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "unparsable sample {line}");
        // hrsync's own, and the process's (CPU, memory, file descriptors).
        assert!(
            line.starts_with("hrsync_") || line.starts_with("process_"),
            "unexpected metric {line}"
        );
    }
    let events = |labels: &str| metric(&text, "hrsync_events_total", labels);
    assert_eq!(events(r#"outcome="invalid",type="invalid""#), 1.0);
    assert_eq!(
        events(r#"outcome="applied",type="joiner""#)
            + events(r#"outcome="applied",type="mover""#)
            + events(r#"outcome="dead_lettered",type="joiner""#)
            + events(r#"outcome="dead_lettered",type="mover""#),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "hrsync_dead_letters_total",
            r#"reason="invalid_event",target="none""#
        ),
        1.0
    );
    assert_eq!(metric(&text, "hrsync_events_in_flight", ""), 0.0);
    assert_eq!(metric(&text, "hrsync_consuming", ""), 1.0);
    assert_eq!(
        metric(
            &text,
            "hrsync_target_requests_total",
            r#"status="success",target="superoffice""#
        ),
        2.0
    );
    assert!(
        metric(
            &text,
            "hrsync_target_apply_duration_seconds_count",
            r#"target="vault""#
        ) >= 2.0
    );
    h.stop().await;
}

#[tokio::test]
async fn a_message_with_custom_headers_keeps_them_in_its_dead_letter() {
    let h = Harness::start().await;
    let mut headers = FieldTable::default();
    headers.insert("x-trace".into(), AMQPValue::LongString("abc".into()));
    h.publish_raw(
        "hr.employee.mover",
        b"[]",
        structured().with_headers(headers),
    )
    .await;
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-trace"), "abc");
    assert_eq!(letters[0].header("x-hrsync-reason"), "invalid_event");
    h.stop().await;
}

#[tokio::test]
async fn a_superoffice_conflict_means_read_again_and_patch_again() {
    let h = Harness::start().await;
    h.sim
        .fault(Fault::status(FaultTarget::Superoffice, 409).method("PATCH"))
        .await;
    h.publish(&mover()).await;
    let patches = h.sim.wait_for_writes("superoffice", "PATCH", 2).await;
    assert_eq!(patches[0]["status"], 409);
    assert_eq!(patches[1]["status"], 200);
    h.wait_idle().await;
    assert_eq!(
        h.sim.writes("superoffice", "GET").await.len(),
        2,
        "re-read after the conflict"
    );
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn close_to_the_vault_burst_limit_the_worker_slows_down_and_reports_the_headroom() {
    let h = Harness::start().await;
    // 20 calls left in the window: below the default reserve of 100.
    h.sim.fault(Fault::burst(2000, 20, 0)).await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    let started = std::time::Instant::now();
    let mut second = mover();
    second["sequence"] = json!(5);
    second["data"]["person"]["title"] = json!("Lead CRA");
    h.publish(&second).await;
    h.sim.wait_for_writes("vault", "PUT", 2).await;
    // A lower bound only: the GET and the PUT each waited the 500 ms burst pause.
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000));
    h.wait_idle().await;
    let metrics = h.metrics_text().await;
    let remaining = metric(
        &metrics,
        "hrsync_vault_burst_remaining",
        r#"target="vault""#,
    );
    assert!(remaining > 0.0 && remaining < 20.0, "remaining {remaining}");
    h.stop().await;
}

#[tokio::test]
async fn rejected_superoffice_credentials_suspend_calls_and_the_events_wait_then_apply() {
    let h = Harness::builder()
        .config(|c| {
            c.edit_target(|so: &mut SuperOfficeConfig| {
                so.login_cooldown = std::time::Duration::from_secs(3)
            });
        })
        .start()
        .await;
    // SuperOffice refuses the credentials (until someone fixes them: here, once).
    h.sim
        .fault(Fault::status(FaultTarget::Superoffice, 401))
        .await;
    h.publish(&mover()).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (ready, body) = h.readyz().await;
    assert!(!ready, "{body}");
    assert!(
        body["target_problems"]["superoffice"]
            .as_str()
            .is_some_and(|why| why.contains("401")),
        "{body}"
    );
    assert_eq!(
        metric(
            &h.metrics_text().await,
            "hrsync_target_config_problem",
            r#"target="superoffice""#
        ),
        1.0
    );
    assert_eq!(
        h.sim.requests("superoffice").await.len(),
        1,
        "no call during the cooldown: no 401 loop that locks the user out"
    );
    // The cooldown ends, the credentials work: the waiting event applies.
    h.sim.wait_for_writes("superoffice", "PATCH", 1).await;
    h.wait_idle().await;
    assert!(
        h.dead_letters_now().await.is_empty(),
        "it waited, it was not dead-lettered"
    );
    assert_eq!(
        h.sim.writes("vault", "PUT").await.len(),
        1,
        "Vault was not called again"
    );
    h.wait_ready(true, std::time::Duration::from_secs(10)).await;
    h.stop().await;
}
