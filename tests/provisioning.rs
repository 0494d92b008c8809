//! Joiners get accounts: a person no account is linked for is searched for in each target
//! first, and created where none matches — exactly once, whatever fails on the way (a
//! lost answer after the target committed, a 5xx after commit, a kill -9 between the
//! create and the store's record, redeliveries). Several candidates are never guessed
//! between, and the creation guard stages a flood. The simulator's accounts and request
//! log are the truth.

use hrsync_testkit::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A joiner for a person none of the targets knows, without account ids.
fn new_joiner(n: usize) -> Value {
    let mut event = joiner();
    let employee = format!("E9{n:05}");
    event["subject"] = json!(employee);
    event["data"]["employee_id"] = json!(employee);
    let email = format!("nova.joiner{n}@verteo.example");
    event["data"]["person"]["first_name"] = json!("Nova");
    event["data"]["person"]["last_name"] = json!(format!("Joiner{n}"));
    event["data"]["person"]["email"] = json!(email);
    event["data"]["person"]["username"] = json!(email);
    event["data"]["person"]["title"] = json!("Study Coordinator");
    event["data"]["roles"] = json!(["study_coordinator"]);
    event["data"].as_object_mut().unwrap().remove("accounts");
    event
}

fn email(n: usize) -> String {
    format!("nova.joiner{n}@verteo.example")
}

/// The accounts of joiner `n` in every target, by the fields each target stores.
async fn accounts_of(h: &Harness, n: usize) -> [Vec<Value>; 3] {
    let email = email(n);
    [
        h.sim.find_users("vault", "user_name__v", &email).await,
        h.sim.find_users("sitevault", "email", &email).await,
        h.sim.find_users("superoffice", "UserName", &email).await,
    ]
}

async fn assert_one_account_each(h: &Harness, n: usize) -> [Value; 3] {
    let [vault, sitevault, superoffice] = accounts_of(h, n).await;
    assert_eq!(vault.len(), 1, "Vault users of joiner {n}: {vault:?}");
    assert_eq!(
        sitevault.len(),
        1,
        "SiteVault persons of joiner {n}: {sitevault:?}"
    );
    assert_eq!(
        superoffice.len(),
        1,
        "SuperOffice users of joiner {n}: {superoffice:?}"
    );
    [
        vault[0].clone(),
        sitevault[0].clone(),
        superoffice[0].clone(),
    ]
}

#[tokio::test]
async fn a_joiner_unknown_to_every_target_gets_one_account_each_linked_and_mapped() {
    for store in BOTH_STORES {
        let h = Harness::builder().store(store).start().await;
        h.publish(&new_joiner(1)).await;
        h.wait_metric(
            "hrsync_accounts_created_total",
            r#"target="superoffice""#,
            1.0,
            WAIT,
        )
        .await;
        h.wait_idle().await;
        let [vault, sitevault, superoffice] = assert_one_account_each(&h, 1).await;

        // Fields as mapped: the create block, then the joiner's own fields.
        assert_eq!(vault["user_first_name__v"], "Nova", "{store:?}");
        assert_eq!(vault["federated_id__v"], "E900001", "the HR employee id");
        assert_eq!(vault["user_title__v"], "Study Coordinator");
        assert_eq!(vault["domain_active__v"], true);
        assert_eq!(sitevault["federated_id"], "E900001");
        assert_eq!(
            sitevault["assignments"]["org_assignment"]["system_role_id"],
            "org_full__v"
        );
        assert_eq!(superoffice["Person"]["Firstname"], "Nova");
        assert_eq!(superoffice["UserGroup"]["Value"], "Clinical Operations");
        assert_eq!(superoffice["Name"], "E900001");

        // Exactly one create call per target (SuperOffice: person, default user, save).
        assert_eq!(
            h.sim
                .writes("vault", "POST")
                .await
                .iter()
                .filter(|r| r["path"].as_str().unwrap().ends_with("/objects/users"))
                .count(),
            1
        );
        let persons: Vec<Value> = h
            .sim
            .writes("sitevault", "POST")
            .await
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap().ends_with("/useradmin/persons"))
            .collect();
        assert_eq!(persons.len(), 1);
        assert!(
            body_json(&persons[0]).is_array(),
            "Create User takes an array"
        );
        let saves: Vec<Value> = h
            .sim
            .writes("superoffice", "POST")
            .await
            .into_iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("/api/v1/User")
            })
            .collect();
        assert_eq!(saves.len(), 1);

        // Linked: a mover without ids reaches the created accounts, and creates nothing.
        let mut mover = new_joiner(1);
        mover["id"] = json!(new_id());
        mover["type"] = json!("hr.employee.mover");
        mover["sequence"] = json!(2);
        mover["data"]["person"]["title"] = json!("Lead Study Coordinator");
        h.publish(&mover).await;
        h.wait_metric(
            "hrsync_target_outcomes_total",
            r#"outcome="applied",target="superoffice""#,
            2.0,
            WAIT,
        )
        .await;
        h.wait_idle().await;
        let [vault, _, superoffice] = assert_one_account_each(&h, 1).await;
        assert_eq!(vault["user_title__v"], "Lead Study Coordinator");
        assert_eq!(superoffice["Person"]["Title"], "Lead Study Coordinator");
        let metrics = h.metrics_text().await;
        for target in ["vault", "sitevault", "superoffice"] {
            assert_eq!(
                metric(
                    &metrics,
                    "hrsync_accounts_created_total",
                    &format!(r#"target="{target}""#)
                ),
                1.0,
                "{target}"
            );
            assert_eq!(
                metric(
                    &metrics,
                    "hrsync_account_matches_total",
                    &format!(r#"result="none",target="{target}""#)
                ),
                1.0,
                "{target}: searched once, before creating; the mover used the link"
            );
        }
        assert!(h.dead_letters_now().await.is_empty());
        h.stop().await;
    }
}

#[tokio::test]
async fn the_same_joiner_five_times_creates_one_account_per_target() {
    let h = Harness::start().await;
    // Five copies of one event, and five more of the same record under new ids.
    let event = new_joiner(2);
    for _ in 0..5 {
        h.publish(&event).await;
    }
    for _ in 0..5 {
        let mut again = event.clone();
        again["id"] = json!(new_id());
        h.publish(&again).await;
    }
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="superoffice""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    assert_one_account_each(&h, 2).await;
    let metrics = h.metrics_text().await;
    for target in ["vault", "sitevault", "superoffice"] {
        assert_eq!(
            metric(
                &metrics,
                "hrsync_accounts_created_total",
                &format!(r#"target="{target}""#)
            ),
            1.0
        );
    }
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_or_fails_after_commit_is_found_not_repeated() {
    let h = Harness::builder()
        .config(|c| {
            c.targets.get_mut("vault").unwrap()["timeout"] = json!("1s");
        })
        .start()
        .await;
    // Vault: the user is created, the answer never comes in time (the client times out).
    h.sim
        .fault(
            Fault::after_commit_delay(FaultTarget::Vault, 3000)
                .method("POST")
                .path("/objects/users"),
        )
        .await;
    // SiteVault: created, then answered 503.
    h.sim
        .fault(
            Fault::after_commit_status(FaultTarget::Sitevault, 503)
                .method("POST")
                .path("/useradmin/persons"),
        )
        .await;
    // SuperOffice: the user saved, then answered 500.
    h.sim
        .fault(
            Fault::after_commit_status(FaultTarget::Superoffice, 500)
                .method("POST")
                .path("/api/v1/User"),
        )
        .await;
    h.publish(&new_joiner(3)).await;
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="vault""#,
        1.0,
        Duration::from_secs(40),
    )
    .await;
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="sitevault""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="superoffice""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    assert_one_account_each(&h, 3).await;
    let metrics = h.metrics_text().await;
    for target in ["vault", "sitevault", "superoffice"] {
        // The retry searched again and found what the lost attempt created.
        assert!(
            metric(
                &metrics,
                "hrsync_retries_total",
                &format!(r#"target="{target}""#)
            ) >= 0.0
        );
        assert_eq!(
            metric(
                &metrics,
                "hrsync_accounts_created_total",
                &format!(r#"target="{target}""#)
            ),
            1.0
        );
    }
    let vault_creates = h
        .sim
        .writes("vault", "POST")
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/objects/users"))
        .count();
    assert_eq!(vault_creates, 1, "the create was not repeated");
    let sitevault_creates = h
        .sim
        .writes("sitevault", "POST")
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/useradmin/persons"))
        .count();
    assert_eq!(sitevault_creates, 1, "the create was not repeated");
    assert!(h.dead_letters_now().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_worker_killed_between_the_create_and_its_record_leaves_one_account() {
    let h = Harness::builder().without_worker().start().await;
    // The create commits in the target; its answer is held back, so the worker is killed
    // after the account exists and before the store has its link.
    h.sim
        .fault(
            Fault::after_commit_delay(FaultTarget::Vault, 20_000)
                .method("POST")
                .path("/objects/users"),
        )
        .await;
    h.publish(&new_joiner(4)).await;
    let mut first = h.spawn_worker("first").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while h
        .sim
        .find_users("vault", "user_name__v", &email(4))
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the create never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap(); // SIGKILL between the create and the record
    first.child.wait().unwrap();
    h.sim.clear_faults().await;

    let second = h.spawn_worker("second").await;
    h.wait_process_idle(&second, Duration::from_secs(60)).await;
    assert_one_account_each(&h, 4).await;
    assert_eq!(
        h.process_metric(
            &second,
            "hrsync_account_matches_total",
            r#"result="one",target="vault""#
        )
        .await,
        1.0,
        "the redelivered joiner found the account the killed worker created"
    );
    assert!(h.dead_letters_now().await.is_empty());
    h.stop_process(second).await;
    h.stop().await;
}

#[tokio::test]
async fn two_candidate_accounts_are_dead_lettered_as_ambiguous_and_nothing_is_created() {
    let h = Harness::start().await;
    // Two SuperOffice users carry the joiner's e-mail (neither has the user name).
    for (id, name) in [(7001, "nj5-a"), (7002, "nj5-b")] {
        let mut user = h.sim.user("superoffice", "981").await;
        user["AssociateId"] = json!(id);
        user["UserName"] = json!(name);
        user["Name"] = json!(format!("U{id}"));
        user["Person"]["Email"] = json!(email(5));
        user["Person"]["PersonId"] = json!(id + 10_000);
        user["Person"]["AssociateId"] = json!(id);
        h.sim.seed("superoffice", &id.to_string(), user).await;
    }
    h.publish(&new_joiner(5)).await;
    let letters = h.dead_letters(1).await;
    h.wait_idle().await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "ambiguous_match");
    assert_eq!(letters[0].header("x-hrsync-target"), "superoffice");
    let detail = letters[0].header("x-hrsync-error");
    assert!(
        detail.contains("7001") && detail.contains("7002"),
        "{detail}"
    );
    assert!(
        h.sim.writes("superoffice", "POST").await.is_empty(),
        "no person, no user created"
    );
    // The other targets are independent: their accounts were created.
    let [vault, sitevault, _] = accounts_of(&h, 5).await;
    assert_eq!((vault.len(), sitevault.len()), (1, 1));
    let metrics = h.metrics_text().await;
    assert_eq!(
        metric(
            &metrics,
            "hrsync_account_matches_total",
            r#"result="several",target="superoffice""#
        ),
        1.0
    );
    h.stop().await;
}

#[tokio::test]
async fn the_creation_guard_stages_the_joiner_past_its_allowance_until_released() {
    use hrsync::ops::held::release_staged;
    use hrsync::store::{HeldFilter, HeldKind};
    let h = Harness::builder()
        .config(|c| {
            c.guard.creation.max_per_window = 3;
            for off in ["sitevault", "superoffice"] {
                c.targets.get_mut(off).unwrap()["enabled"] = json!(false);
            }
        })
        .start()
        .await;
    for n in 10..14 {
        h.publish(&new_joiner(n)).await;
    }
    h.wait_metric(
        "hrsync_events_total",
        r#"outcome="staged",type="joiner""#,
        1.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    let mut created = 0;
    for n in 10..14 {
        created += h
            .sim
            .find_users("vault", "user_name__v", &email(n))
            .await
            .len();
    }
    assert_eq!(created, 3, "N = 3 created, the fourth staged");
    let store = h.worker().applier.store().clone();
    let staged = store
        .pending_held(HeldKind::Staged, &HeldFilter::default())
        .await
        .unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].action, "joiner");

    // Existing accounts keep flowing meanwhile.
    h.publish(&staff_mover(3, 5)).await;
    h.wait_idle().await;
    assert!(h.sim.vault_titles().await.contains_key("25004"));

    // Releasing the leavers decides nothing here; the joiners are told apart by action.
    let leavers = HeldFilter {
        action: Some("leaver".into()),
        ..HeldFilter::default()
    };
    let counts = release_staged(&h.config, &store, &leavers, "alice")
        .await
        .unwrap();
    assert_eq!(counts.decided, 0);
    let joiners = HeldFilter {
        action: Some("joiner".into()),
        ..HeldFilter::default()
    };
    let counts = release_staged(&h.config, &store, &joiners, "alice")
        .await
        .unwrap();
    assert_eq!(counts.decided, 1);
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="vault""#,
        4.0,
        WAIT,
    )
    .await;
    h.wait_idle().await;
    for n in 10..14 {
        assert_eq!(
            h.sim
                .find_users("vault", "user_name__v", &email(n))
                .await
                .len(),
            1,
            "joiner {n}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn where_superoffice_forbids_user_management_the_joiner_waits_with_a_clear_config_problem() {
    let h = Harness::builder()
        .simulator(SimulatorConfig {
            superoffice_user_agent_allowed: false,
            ..SimulatorConfig::default()
        })
        .start()
        .await;
    h.publish(&new_joiner(6)).await;
    h.wait_metric(
        "hrsync_accounts_created_total",
        r#"target="vault""#,
        1.0,
        WAIT,
    )
    .await;
    let body = h.wait_ready(false, WAIT).await;
    let text = body.to_string();
    assert!(text.contains("user_agent_not_allowed"), "{text}");
    assert!(text.contains("User agent"), "{text}");
    assert!(
        h.sim
            .find_users("superoffice", "UserName", &email(6))
            .await
            .is_empty(),
        "no SuperOffice user"
    );
    assert!(
        h.dead_letters_now().await.is_empty(),
        "waiting, not dead-lettered"
    );
    h.stop().await;
}
