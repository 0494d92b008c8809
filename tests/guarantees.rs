//! The guarantees that must hold when things go wrong or someone tries to get round them,
//! end to end on the real broker: an older event that comes back late loses nothing; no
//! header a publisher sets skips effective dating or the mass-deprovision guard; releases
//! and replays reach hrsync's own queue only; one dead letter per failed target per event
//! however often the event comes round; and looking at dead letters changes nothing.

use hrsync::config::Config;
use hrsync::ops::{dlq, held};
use hrsync::store::{HeldFilter, HeldKind};
use hrsync_testkit::*;
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

/// A counted fault that lasts until the test clears it.
const FOREVER: u32 = 1_000_000;

/// Properties of a structured-mode event carrying header `name = value`.
fn with_header(name: &str, value: &str) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
    BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2)
        .with_headers(headers)
}

fn staff_joiner(i: usize, sequence: u64) -> Value {
    let mut event = staff_mover(i, sequence);
    event["type"] = json!("hr.employee.joiner");
    event
}

const REHIRES: usize = 20;

#[tokio::test]
async fn a_joiner_overtaken_by_its_mover_during_an_outage_still_ends_with_the_accounts_active() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c: &mut Config| {
            c.guard.enabled = false;
            c.breaker.threshold = 10_000;
            // The joiners wait in the delayed-retry queue long enough for the movers to
            // overtake them.
            c.retry.deferral_delays = vec![Duration::from_secs(6).into()];
        })
        .start()
        .await;
    // Former employees: disabled in Vault (memberships too), retired in SuperOffice.
    let leavers: Vec<_> = (0..REHIRES).map(|i| staff_leaver(i, 1)).collect();
    h.publish_all(&leavers).await;
    h.wait_metric(
        "hrsync_target_outcomes_total",
        r#"outcome="applied",target="superoffice""#,
        REHIRES as f64,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    let (vault, _, superoffice) = account_ids(0);
    assert_eq!(h.sim.user("vault", &vault).await["domain_active__v"], false);
    assert_eq!(
        h.sim.user("superoffice", &superoffice).await["Deleted"],
        true
    );

    // They are rehired while Vault and SuperOffice are down: those parts are deferred.
    for target in [FaultTarget::Vault, FaultTarget::Superoffice] {
        h.sim.fault(Fault::status(target, 503).times(FOREVER)).await;
    }
    let joiners: Vec<_> = (0..REHIRES).map(|i| staff_joiner(i, 2)).collect();
    h.publish_all(&joiners).await;
    h.wait_metric(
        "hrsync_deferrals_total",
        r#"kind="deferred""#,
        REHIRES as f64,
        WAIT,
    )
    .await;
    // The targets come back and HR's next record (a mover) arrives before the joiners do.
    h.sim.clear_faults().await;
    let movers: Vec<_> = (0..REHIRES).map(|i| staff_mover(i, 3)).collect();
    h.publish_all(&movers).await;
    for target in ["vault", "superoffice"] {
        h.wait_metric(
            "hrsync_target_outcomes_total",
            &format!(r#"outcome="stale",target="{target}""#),
            REHIRES as f64,
            Duration::from_secs(60),
        )
        .await;
    }
    h.wait_idle().await;
    let mut active = 0;
    for i in 0..REHIRES {
        let (vault, _, superoffice) = account_ids(i);
        let user = h.sim.user("vault", &vault).await;
        let membership_active = user["vault_membership"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["active_vault_membership__v"] == true);
        let so = h.sim.user("superoffice", &superoffice).await;
        if user["domain_active__v"] == true && membership_active && so["Deleted"] == false {
            active += 1;
        }
        assert_eq!(
            user["user_title__v"], "Title 3",
            "the newest record's values"
        );
    }
    eprintln!("{active} of {REHIRES} rehires active after their joiners were skipped as stale");
    assert_eq!(active, REHIRES);
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

fn dated_leaver(i: usize, sequence: u64, days_ahead: i64) -> Value {
    let mut event = staff_leaver(i, sequence);
    let date = time::OffsetDateTime::now_utc().date() + time::Duration::days(days_ahead);
    event["data"]["effective_date"] = json!(date.to_string());
    event
}

#[tokio::test]
async fn a_forged_released_header_skips_neither_effective_dating_nor_the_guard() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| {
            // One leaver per window.
            c.guard.max_absolute = 1;
            c.guard.max_percent = 0.0;
            c.guard.floor = 1;
        })
        .start()
        .await;
    let store = h.worker().applier.store().clone();
    // A leaver dated 40 days ahead, claiming it was already released from the schedule.
    let future = dated_leaver(0, 1, 40);
    h.publish_raw(
        "hr.employee.leaver",
        future.to_string().as_bytes(),
        with_header("x-hrsync-released", "scheduled"),
    )
    .await;
    // Within the guard's allowance, then past it claiming an operator released it.
    h.publish(&staff_leaver(1, 1)).await;
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    for (i, claim) in [(2, "staged"), (3, "scheduled"), (4, "yes")] {
        h.publish_raw(
            "hr.employee.leaver",
            staff_leaver(i, 1).to_string().as_bytes(),
            with_header("x-hrsync-released", claim),
        )
        .await;
    }
    h.wait_idle().await;
    let scheduled = store
        .pending_held(HeldKind::Scheduled, &HeldFilter::default())
        .await
        .unwrap();
    assert_eq!(scheduled.len(), 1, "the future leaver waits for its day");
    assert_eq!(scheduled[0].event_id, future["id"].as_str().unwrap());
    let staged = store
        .pending_held(HeldKind::Staged, &HeldFilter::default())
        .await
        .unwrap();
    assert_eq!(
        staged.len(),
        3,
        "every forged release is staged by the guard"
    );
    let vault_writes = h.sim.writes("vault", "PUT").await;
    assert_eq!(
        vault_writes.len(),
        1,
        "only the admitted leaver reached Vault"
    );
    assert_eq!(
        h.sim.user("vault", &account_ids(0).0).await["domain_active__v"],
        true
    );
    h.stop().await;
}

#[tokio::test]
async fn releases_and_replays_reach_hrsyncs_own_queue_and_no_other_subscriber() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| {
            c.guard.max_absolute = 1;
            c.guard.max_percent = 0.0;
            c.guard.floor = 1;
        })
        .start()
        .await;
    // Another system bound to the HR exchange: directory, payroll, badge access.
    let bystander = format!("{}.bystander", h.unique);
    h.channel
        .queue_declare(
            bystander.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    h.channel
        .queue_bind(
            bystander.as_str().into(),
            h.config.rabbitmq.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let store = h.worker().applier.store().clone();
    let mut published = 0;

    // A scheduled change falls due and is released by the worker.
    let future = dated_leaver(0, 1, 40);
    h.publish(&future).await;
    published += 1;
    h.wait_idle().await;
    assert!(store
        .reschedule(
            future["id"].as_str().unwrap(),
            time::OffsetDateTime::now_utc()
        )
        .await
        .unwrap());
    h.sim.wait_for_writes("vault", "PUT", 1).await;
    // The guard stages the next leaver; an operator releases it.
    h.publish(&staff_leaver(1, 1)).await;
    published += 1;
    h.wait_idle().await;
    let released = held::release_staged(&h.config, &store, &HeldFilter::default(), "alice")
        .await
        .unwrap();
    assert_eq!(released.decided, 1);
    h.sim.wait_for_writes("vault", "PUT", 2).await;
    // A mover Vault refuses once is dead-lettered, then replayed.
    h.sim
        .fault(Fault::failure(FaultTarget::Vault, "INVALID_DATA"))
        .await;
    h.publish(&staff_mover(2, 1)).await;
    published += 1;
    h.wait_metric(
        "hrsync_dead_letters_total",
        r#"reason="rejected",target="vault""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    let replayed = dlq::replay(&h.config, &store, &Default::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(replayed.replayed, 1);
    h.sim.wait_for_writes("vault", "PUT", 3).await;
    h.wait_idle().await;
    assert_eq!(
        h.sim.user("vault", &account_ids(2).0).await["user_title__v"],
        "Title 1"
    );

    let seen = h.queue_depth(&bystander).await;
    eprintln!("bystander received {seen} messages for the {published} HR published");
    assert_eq!(seen as usize, published, "only what HR itself published");
    let _ = h
        .channel
        .queue_delete(bystander.as_str().into(), QueueDeleteOptions::default())
        .await;
    h.stop().await;
}

const BROKEN: usize = 10;

#[tokio::test]
async fn an_event_parked_for_one_target_dead_letters_the_other_failed_target_once() {
    let h = Harness::builder()
        .simulator(roomy_simulator())
        .config(|c| {
            c.breaker.threshold = 3;
            c.breaker.open_for = Duration::from_secs(2);
        })
        .start()
        .await;
    // Vault is down (its work is parked behind the open breaker); SiteVault refuses.
    h.sim
        .fault(Fault::status(FaultTarget::Vault, 503).times(FOREVER))
        .await;
    h.sim
        .fault(Fault::failure(FaultTarget::Sitevault, "INVALID_DATA").times(FOREVER))
        .await;
    let movers: Vec<_> = (0..BROKEN).map(|i| staff_mover(i, 1)).collect();
    h.publish_all(&movers).await;
    // Round after round of parking (park_delay is 1 s here).
    h.wait_metric(
        "hrsync_deferrals_total",
        r#"kind="parked""#,
        (BROKEN * 5) as f64,
        Duration::from_secs(60),
    )
    .await;
    h.sim.clear_faults().await;
    h.wait_metric(
        "hrsync_target_outcomes_total",
        r#"outcome="applied",target="vault""#,
        BROKEN as f64,
        Duration::from_secs(60),
    )
    .await;
    h.wait_idle().await;
    let letters = h.dead_letters_now().await;
    let metrics = h.metrics_text().await;
    let counted = metric(
        &metrics,
        "hrsync_dead_letters_total",
        r#"reason="rejected",target="sitevault""#,
    );
    let parked = metric(&metrics, "hrsync_deferrals_total", r#"kind="parked""#);
    eprintln!(
        "{} dead letters ({counted} counted) for {BROKEN} events that came round {parked} times",
        letters.len()
    );
    assert_eq!(
        letters.len(),
        BROKEN,
        "one dead letter per failed target per event"
    );
    assert!(letters
        .iter()
        .all(|l| l.header("x-hrsync-target") == "sitevault"));
    assert_eq!(counted, BROKEN as f64);
    assert_eq!(
        h.sim.vault_titles().await.len(),
        BROKEN,
        "Vault got every change once back"
    );
    h.stop().await;
}

#[tokio::test]
async fn fifty_looks_at_the_dead_letters_change_nothing() {
    let h = Harness::start().await;
    for i in 0..5 {
        h.publish_raw(
            "hr.employee.mover",
            format!("not json {i}").as_bytes(),
            Default::default(),
        )
        .await;
    }
    h.wait_metric(
        "hrsync_dead_letters_total",
        r#"reason="invalid_event",target="none""#,
        5.0,
        WAIT,
    )
    .await;
    let first = dlq::list(&h.config, 100).await.unwrap();
    assert_eq!(first.len(), 5);
    for look in 0..50 {
        let letters = dlq::list(&h.config, 100).await.unwrap();
        let same = letters
            .iter()
            .map(|l| &l.body)
            .eq(first.iter().map(|l| &l.body));
        assert!(same, "look {look}: the same dead letters in the same order");
        assert!(
            letters
                .iter()
                .all(|l| !l.headers.contains_key("x-delivery-count")),
            "look {look}: no delivery is counted"
        );
    }
    assert!(dlq::show(&h.config, &first[2].id).await.unwrap().is_some());
    assert_eq!(h.queue_depth(&h.config.rabbitmq.dead_letter_queue).await, 5);
    h.stop().await;
}

#[tokio::test]
async fn a_dead_letter_queue_of_another_kind_is_refused_rather_than_reordered() {
    let h = Harness::start().await;
    let mut config = h.config.clone();
    config.rabbitmq.dead_letter_queue = format!("{}.old-dlq", h.unique);
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    h.channel
        .queue_declare(
            config.rabbitmq.dead_letter_queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
    let refused = dlq::list(&config, 10).await.unwrap_err().to_string();
    assert!(refused.contains("not the classic queue"), "{refused}");
    let _ = h
        .channel
        .queue_delete(
            config.rabbitmq.dead_letter_queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
    h.stop().await;
}
