//! Tests of the state store, each behavioural one run against both backends, so SQLite and
//! PostgreSQL cannot drift apart.
//!
//! Every test works in a world of its own and so tests run in parallel: a SQLite test gets a
//! fresh file in a fresh temporary folder, a PostgreSQL test a fresh schema (reached through
//! `options=-c search_path=…`) in the database named by `HRSYNC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped at the end even when the test fails.
//! Set `HRSYNC_TEST_POSTGRES_URL=skip` to run the SQLite half only.

use std::{future::Future, panic::AssertUnwindSafe, path::PathBuf, time::Duration};

use futures_util::FutureExt;
use serde_json::{json, Map, Value};
use sqlx::{Connection, Executor};

use super::*;

/// The single-target forms of `Store::record_event` the store's tests are written in.
impl Store {
    /// Records an applied (or found-unchanged) change in one transaction: the processed
    /// event, the new last-applied state and an audit entry.
    ///
    /// Only a `sequence` higher than the stored one may replace the state: otherwise nothing
    /// is written and `Ok(false)` comes back (the caller treats the event as stale). This
    /// holds under concurrent calls from several replicas, since the check is part of the
    /// upsert itself. `outcome` must be [`Outcome::Applied`] or [`Outcome::Unchanged`].
    #[allow(clippy::too_many_arguments)] // the signature the worker codes against
    pub async fn record_applied(
        &self,
        employee_id: &str,
        target: &str,
        event_id: &str,
        sequence: u64,
        fields: &Map<String, Value>,
        fields_changed: &[String],
        outcome: Outcome,
    ) -> Result<bool, StoreError> {
        let lost = self
            .record_event(&EventRecord {
                event_id: event_id.into(),
                source: Default::default(),
                employee_id: employee_id.into(),
                links: Vec::new(),
                targets: vec![TargetRecord::Applied {
                    target: target.into(),
                    sequence,
                    fields: fields.clone(),
                    changed: fields_changed.to_vec(),
                    outcome,
                }],
            })
            .await?;
        Ok(lost.is_empty())
    }

    /// Records a non-applied outcome for the event and target.
    ///
    /// [`Outcome::Duplicate`] writes nothing (the first outcome stands); `Stale`,
    /// `DeadLettered` and `Unlinked` are recorded (never over an `applied`/`unchanged` one),
    /// and `DeadLettered` also gets an audit entry. `Applied`/`Unchanged` belong to
    /// [`Store::record_applied`] and are refused here.
    pub async fn record_outcome(
        &self,
        employee_id: &str,
        target: &str,
        event_id: &str,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.record_event(&EventRecord {
            event_id: event_id.into(),
            source: Default::default(),
            employee_id: employee_id.into(),
            links: Vec::new(),
            targets: vec![TargetRecord::NotApplied {
                target: target.into(),
                outcome,
            }],
        })
        .await?;
        Ok(())
    }
}

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// What a test body gets: an open store and the URL to open the same database again.
#[derive(Clone)]
struct Ctx {
    store: Store,
    url: String,
    kind: Kind,
}

enum Teardown {
    Folder(PathBuf),
    Schema { admin_url: String, schema: String },
}

fn postgres_base_url() -> Option<String> {
    match std::env::var("HRSYNC_TEST_POSTGRES_URL") {
        Ok(url) if url == "skip" => None,
        Ok(url) if !url.is_empty() => Some(url),
        _ => Some(DEFAULT_POSTGRES_URL.to_owned()),
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn setup(kind: Kind) -> Option<(Ctx, Teardown)> {
    let (url, teardown) = match kind {
        Kind::Sqlite => {
            let folder = std::env::temp_dir().join(format!("hrsync-store-{}", unique()));
            let url = format!("sqlite://{}/state/hrsync.db", folder.display());
            (url, Teardown::Folder(folder))
        }
        Kind::Postgres => {
            let Some(admin_url) = postgres_base_url() else {
                eprintln!("HRSYNC_TEST_POSTGRES_URL=skip: PostgreSQL half skipped");
                return None;
            };
            sqlx::any::install_default_drivers();
            let schema = format!("t_{}", unique());
            let mut admin = sqlx::AnyConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL for tests unreachable ({e}); start it or set HRSYNC_TEST_POSTGRES_URL"));
            admin
                .execute(format!("CREATE SCHEMA {schema}").as_str())
                .await
                .expect("create test schema");
            admin.close().await.ok();
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
            (url, Teardown::Schema { admin_url, schema })
        }
    };
    let store = Store::connect(&url).await.expect("connect test store");
    Some((Ctx { store, url, kind }, teardown))
}

async fn teardown(ctx: Ctx, teardown: Teardown) {
    ctx.store.close().await;
    match teardown {
        Teardown::Folder(folder) => {
            std::fs::remove_dir_all(folder).ok();
        }
        Teardown::Schema { admin_url, schema } => {
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                admin
                    .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                    .await
                    .ok();
                admin.close().await.ok();
            }
        }
    }
}

/// Runs `body` against a fresh store of `kind`, then cleans up, re-raising a failure.
async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((ctx, cleanup)) = setup(kind).await else {
        return;
    };
    let result = AssertUnwindSafe(body(ctx.clone())).catch_unwind().await;
    teardown(ctx, cleanup).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `both_backends! { async fn name(ctx) { … } }` makes `name::sqlite` and `name::postgres`.
macro_rules! both_backends {
    ($(async fn $name:ident($ctx:ident) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn body($ctx: Ctx) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Kind::Sqlite, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Kind::Postgres, body).await;
            }
        }
    )*};
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Moves a processed-event row back in time, as if recorded `age` ago.
async fn backdate(store: &Store, event_id: &str, age: time::Duration) {
    let micros = i64::try_from(age.whole_microseconds()).expect("age fits");
    sqlx::query("UPDATE processed_events SET at_us = at_us - $1 WHERE event_id = $2")
        .bind(micros)
        .bind(event_id)
        .execute(&store.pool)
        .await
        .expect("backdate");
}

both_backends! {
    async fn connect_twice_is_idempotent(ctx) {
        let expected = match ctx.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        };
        assert_eq!(ctx.store.backend(), expected);
        ctx.store.link_account("e1", "vault", "V-1").await.unwrap();

        let again = Store::connect(&ctx.url).await.expect("second connect");
        let third = Store::connect(&ctx.url).await.expect("third connect");
        assert_eq!(again.backend(), expected);
        assert_eq!(third.account("e1", "vault").await.unwrap().as_deref(), Some("V-1"));
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&third.pool)
            .await
            .unwrap();
        let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .count() as i64;
        assert_eq!(migrations, shipped, "each shipped migration ran once");
        again.close().await;
        third.close().await;
    }

    async fn outcomes_are_recorded_per_event_and_target(ctx) {
        let s = &ctx.store;
        assert_eq!(s.outcome_of("ev-1", "vault").await.unwrap(), None);

        s.record_outcome("e1", "vault", "ev-1", Outcome::Stale).await.unwrap();
        s.record_outcome("e1", "sitevault", "ev-1", Outcome::Unlinked).await.unwrap();
        s.record_outcome("e1", "superoffice", "ev-1", Outcome::DeadLettered).await.unwrap();
        assert_eq!(s.outcome_of("ev-1", "vault").await.unwrap(), Some(Outcome::Stale));
        assert_eq!(s.outcome_of("ev-1", "sitevault").await.unwrap(), Some(Outcome::Unlinked));
        assert_eq!(
            s.outcome_of("ev-1", "superoffice").await.unwrap(),
            Some(Outcome::DeadLettered)
        );

        // Duplicate is never recorded: neither for a new event nor over the first outcome.
        s.record_outcome("e1", "vault", "ev-2", Outcome::Duplicate).await.unwrap();
        assert_eq!(s.outcome_of("ev-2", "vault").await.unwrap(), None);
        s.record_outcome("e1", "vault", "ev-1", Outcome::Duplicate).await.unwrap();
        assert_eq!(s.outcome_of("ev-1", "vault").await.unwrap(), Some(Outcome::Stale));

        // Applied outcomes go through record_applied only.
        for outcome in [Outcome::Applied, Outcome::Unchanged] {
            let err = s.record_outcome("e1", "vault", "ev-3", outcome).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidOutcome { .. }), "{err}");
        }

        // An applied record is not overwritten by a later non-applied one.
        let f = fields(json!({"email": "a@example.com"}));
        assert!(s
            .record_applied("e1", "vault", "ev-4", 4, &f, &names(&["email"]), Outcome::Applied)
            .await
            .unwrap());
        s.record_outcome("e1", "vault", "ev-4", Outcome::DeadLettered).await.unwrap();
        assert_eq!(s.outcome_of("ev-4", "vault").await.unwrap(), Some(Outcome::Applied));

        // Only DeadLettered (and applied changes) reach the audit log.
        let audit = s.audit(Some("e1"), 100).await.unwrap();
        let outcomes: Vec<Outcome> = audit.iter().map(|a| a.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::DeadLettered, Outcome::Applied, Outcome::DeadLettered]
        );
        assert!(audit[2].fields_changed.is_empty());
        assert_eq!(audit[2].values_digest, "");
        assert_eq!(audit[2].target, "superoffice");
    }

    async fn record_applied_keeps_the_highest_sequence(ctx) {
        let s = &ctx.store;
        let v5 = fields(json!({"email": "new@example.com", "sites": ["S1", "S2"]}));
        assert!(s
            .record_applied("e1", "sitevault", "ev-5", 5, &v5, &names(&["email", "sites"]), Outcome::Applied)
            .await
            .unwrap());
        let expected = AppliedState {
            sequence: 5,
            digest: digest(&v5),
            fields: v5.clone(),
            event_id: "ev-5".to_owned(),
        };
        assert_eq!(s.last_applied("e1", "sitevault").await.unwrap(), Some(expected.clone()));
        assert_eq!(s.outcome_of("ev-5", "sitevault").await.unwrap(), Some(Outcome::Applied));

        let old = fields(json!({"email": "old@example.com"}));
        for (event, seq) in [("ev-5b", 5), ("ev-3", 3), ("ev-0", 0)] {
            let applied = s
                .record_applied("e1", "sitevault", event, seq, &old, &names(&["email"]), Outcome::Applied)
                .await
                .unwrap();
            assert!(!applied, "sequence {seq} must not replace 5");
            assert_eq!(s.outcome_of(event, "sitevault").await.unwrap(), None, "nothing written");
        }
        assert_eq!(s.last_applied("e1", "sitevault").await.unwrap(), Some(expected));
        assert_eq!(s.audit(Some("e1"), 100).await.unwrap().len(), 1);

        // Unchanged still advances the sequence; other targets and employees are separate.
        assert!(s
            .record_applied("e1", "sitevault", "ev-6", 6, &v5, &[], Outcome::Unchanged)
            .await
            .unwrap());
        let state = s.last_applied("e1", "sitevault").await.unwrap().unwrap();
        assert_eq!((state.sequence, state.event_id.as_str()), (6, "ev-6"));
        assert_eq!(s.outcome_of("ev-6", "sitevault").await.unwrap(), Some(Outcome::Unchanged));
        assert_eq!(s.last_applied("e1", "vault").await.unwrap(), None);
        assert_eq!(s.last_applied("e2", "sitevault").await.unwrap(), None);
        assert!(s
            .record_applied("e1", "vault", "ev-1", 1, &old, &names(&["email"]), Outcome::Applied)
            .await
            .unwrap());

        // Out-of-range input is refused, not truncated.
        let err = s
            .record_applied("e1", "vault", "ev-x", u64::MAX, &old, &[], Outcome::Applied)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::SequenceOutOfRange(u64::MAX)), "{err}");
        let err = s
            .record_applied("e1", "vault", "ev-x", 9, &old, &[], Outcome::Stale)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidOutcome { .. }), "{err}");
    }

    async fn one_event_records_every_target_together_and_a_lost_race_only_for_its_target(ctx) {
        let s = &ctx.store;
        // Another replica already applied sequence 9 in SuperOffice.
        let newer = fields(json!({"title": "Director"}));
        assert!(s
            .record_applied("e1", "superoffice", "ev-9", 9, &newer, &names(&["title"]), Outcome::Applied)
            .await
            .unwrap());

        let vault = fields(json!({"title__sys": "Lead"}));
        let superoffice = fields(json!({"title": "Lead"}));
        let changed = names(&["title"]);
        let lost = s
            .record_event(&EventRecord {
                event_id: "ev-5".into(),
                source: Default::default(),
                employee_id: "e1".into(),
                links: vec![("vault".into(), "V-1".into()), ("sitevault".into(), "SV-1".into())],
                targets: vec![
                    TargetRecord::Applied { target: "vault".into(), sequence: 5, fields: vault.clone(), changed: changed.clone(), outcome: Outcome::Applied },
                    TargetRecord::Applied { target: "superoffice".into(), sequence: 5, fields: superoffice.clone(), changed: changed.clone(), outcome: Outcome::Applied },
                    TargetRecord::NotApplied { target: "sitevault".into(), outcome: Outcome::DeadLettered },
                ],
            })
            .await
            .unwrap();
        assert_eq!(lost, vec!["superoffice"], "only the target with a newer sequence lost");

        let states = s.target_states("ev-5", "e1", &["vault", "sitevault", "superoffice", "none"]).await.unwrap();
        assert_eq!(states[0].outcome, Some(Outcome::Applied));
        assert_eq!(states[0].account.as_deref(), Some("V-1"));
        assert_eq!(states[0].last.as_ref().map(|l| (l.sequence, l.fields.clone())), Some((5, vault)));
        assert_eq!(states[1].outcome, Some(Outcome::DeadLettered));
        assert_eq!(states[1].account.as_deref(), Some("SV-1"));
        assert_eq!(states[1].last, None);
        assert_eq!(states[2].outcome, None, "the lost target records nothing for ev-5");
        assert_eq!(states[2].last.as_ref().map(|l| l.event_id.as_str()), Some("ev-9"));
        assert_eq!(states[3], TargetState::default());

        let audit = s.audit(Some("e1"), 10).await.unwrap();
        let mut audited: Vec<(&str, &str, Outcome)> = audit
            .iter()
            .map(|a| (a.event_id.as_str(), a.target.as_str(), a.outcome))
            .collect();
        audited.sort_by_key(|(event, target, _)| (*event, *target));
        assert_eq!(
            audited,
            vec![
                ("ev-5", "sitevault", Outcome::DeadLettered),
                ("ev-5", "vault", Outcome::Applied),
                ("ev-9", "superoffice", Outcome::Applied),
            ]
        );

        // A refused outcome refuses the whole event: nothing of it is written.
        let err = s
            .record_event(&EventRecord {
                event_id: "ev-6".into(),
                source: Default::default(),
                employee_id: "e1".into(),
                links: vec![("vault".into(), "V-2".into())],
                targets: vec![TargetRecord::NotApplied { target: "vault".into(), outcome: Outcome::Applied }],
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidOutcome { .. }), "{err}");
        assert_eq!(s.account("e1", "vault").await.unwrap().as_deref(), Some("V-1"));
    }

    async fn events_recorded_at_once_each_get_their_own_outcome_and_actor(ctx) {
        // On SQLite these share transactions (group commit); the answers must not mix.
        let worker = ctx.store.clone();
        let operator = ctx.store.with_actor("alice");
        let values = fields(json!({"title": "Lead"}));
        let changed = names(&["title"]);
        let writes = (0..40u64).map(|i| {
            let store = if i % 4 == 0 { operator.clone() } else { worker.clone() };
            let values = values.clone();
            let changed = changed.clone();
            async move {
                let employee = format!("e{}", i % 20);
                let event = format!("ev-{i}");
                // Two events per employee: the later sequence wins, the other loses.
                let sequence = 100 - i;
                store
                    .record_event(&EventRecord {
                        event_id: event,
                        source: Default::default(),
                        employee_id: employee,
                        links: vec![("vault".into(), "V-1".into())],
                        targets: vec![TargetRecord::Applied {
                            target: "vault".into(),
                            sequence,
                            fields: values,
                            changed,
                            outcome: Outcome::Applied,
                        }],
                    })
                    .await
                    .map(|lost| (i, lost))
            }
        });
        let results = futures_util::future::join_all(writes).await;
        for result in results {
            let (i, lost) = result.expect("every write answered");
            let state = ctx.store.last_applied(&format!("e{}", i % 20), "vault").await.unwrap().unwrap();
            let won = state.event_id == format!("ev-{i}");
            assert_eq!(lost.is_empty(), won, "event {i}: answer matches what was stored");
        }
        for employee in 0..20 {
            // Sequences 100-i: the lower i (higher sequence) of each pair wins.
            let state = ctx.store.last_applied(&format!("e{employee}"), "vault").await.unwrap().unwrap();
            assert_eq!(state.event_id, format!("ev-{employee}"));
        }
        let audit = ctx.store.audit(None, 100).await.unwrap();
        assert_eq!(audit.len(), 20, "one audit entry per winning event");
        for entry in audit {
            let i: u64 = entry.event_id.trim_start_matches("ev-").parse().unwrap();
            let expected = if i % 4 == 0 { "alice" } else { "worker" };
            assert_eq!(entry.actor, expected, "{}", entry.event_id);
        }
    }

    async fn concurrent_record_applied_highest_sequence_wins(ctx) {
        // 20 writers, sequences in a scrambled order, all for one employee × target.
        let mut sequences: Vec<u64> = (1..=20).collect();
        sequences.sort_by_key(|n| (n * 7) % 20);
        let mut tasks = Vec::new();
        for seq in sequences {
            let store = if seq % 2 == 0 {
                ctx.store.clone()
            } else {
                ctx.store.with_actor("ops-replica")
            };
            tasks.push(tokio::spawn(async move {
                let f = fields(json!({"title": format!("title {seq}")}));
                let applied = store
                    .record_applied("e1", "superoffice", &format!("ev-{seq}"), seq, &f, &names(&["title"]), Outcome::Applied)
                    .await
                    .expect("record_applied under race");
                (seq, applied)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (seq, applied) = task.await.unwrap();
            if applied {
                winners.push(seq);
            }
        }
        assert!(winners.contains(&20), "the highest sequence always applies: {winners:?}");

        let state = ctx.store.last_applied("e1", "superoffice").await.unwrap().unwrap();
        assert_eq!(state.sequence, 20);
        assert_eq!(state.event_id, "ev-20");
        assert_eq!(state.fields, fields(json!({"title": "title 20"})));
        assert_eq!(state.digest, digest(&state.fields));

        // Exactly the winners left a processed row and an audit entry.
        let audit = ctx.store.audit(Some("e1"), 100).await.unwrap();
        assert_eq!(audit.len(), winners.len());
        for seq in 1..=20u64 {
            let outcome = ctx.store.outcome_of(&format!("ev-{seq}"), "superoffice").await.unwrap();
            assert_eq!(outcome.is_some(), winners.contains(&seq), "ev-{seq}");
        }
    }

    async fn only_a_recorded_correction_may_reassert_the_applied_sequence(ctx) {
        let s = &ctx.store;
        let hr = fields(json!({"title": "CRA"}));
        let hand_fixed = fields(json!({"title": "CRA", "note": "re-asserted"}));
        assert!(s.record_applied("e1", "vault", "ev-5", 5, &hr, &names(&["title"]), Outcome::Applied).await.unwrap());
        // The same sequence without a row: stale, nothing replaced.
        assert!(!s.record_applied("e1", "vault", "look-alike", 5, &hand_fixed, &names(&["note"]), Outcome::Applied).await.unwrap());
        let correction = Correction {
            event_id: "reconcile-1".into(),
            employee_id: "e1".into(),
            sequence: 5,
            data_digest: "d".into(),
            targets: vec!["vault".into()],
        };
        s.record_corrections(std::slice::from_ref(&correction)).await.unwrap();
        s.record_corrections(&[correction]).await.unwrap(); // again: nothing doubled
        let states = s.target_states("reconcile-1", "e1", &["vault", "sitevault"]).await.unwrap();
        assert_eq!(states[0].correction, Some(CorrectionProof { sequence: 5, data_digest: "d".into() }));
        assert_eq!(states[1].correction, None, "only the targets it corrects");
        // With its row: re-asserted at 5, and audited as reconcile's.
        let lost = s
            .record_event(&EventRecord {
                event_id: "reconcile-1".into(),
                employee_id: "e1".into(),
                links: Vec::new(),
                targets: vec![TargetRecord::Applied { target: "vault".into(), sequence: 5, fields: hand_fixed.clone(), changed: names(&["note"]), outcome: Outcome::Applied }],
                source: EventSource::Reconcile,
            })
            .await
            .unwrap();
        assert!(lost.is_empty());
        let last = s.last_applied("e1", "vault").await.unwrap().unwrap();
        assert_eq!((last.sequence, last.event_id.as_str()), (5, "reconcile-1"));
        let audit = s.audit(Some("e1"), 10).await.unwrap();
        assert_eq!((audit[0].event_id.as_str(), audit[0].source.as_str()), ("reconcile-1", "reconcile"));
        assert_eq!(audit[1].source, "hr");
        // Never below: a correction row at 4 does not take the state back.
        s.record_corrections(&[Correction { event_id: "reconcile-2".into(), employee_id: "e1".into(), sequence: 4, data_digest: "d".into(), targets: vec!["vault".into()] }]).await.unwrap();
        assert!(!s.record_applied("e1", "vault", "reconcile-2", 4, &hr, &names(&["note"]), Outcome::Applied).await.unwrap());
        assert_eq!(s.applied_sequences().await.unwrap().get("e1"), Some(&5));
    }

    async fn account_links_upsert(ctx) {
        let s = &ctx.store;
        assert_eq!(s.account("e1", "vault").await.unwrap(), None);
        s.link_account("e1", "vault", "V-100").await.unwrap();
        s.link_account("e1", "superoffice", "SO-7").await.unwrap();
        s.link_account("e2", "vault", "V-200").await.unwrap();
        assert_eq!(s.account("e1", "vault").await.unwrap().as_deref(), Some("V-100"));

        s.link_account("e1", "vault", "V-101").await.unwrap();
        assert_eq!(s.account("e1", "vault").await.unwrap().as_deref(), Some("V-101"));
        assert_eq!(
            s.accounts("e1").await.unwrap(),
            vec![
                ("superoffice".to_owned(), "SO-7".to_owned()),
                ("vault".to_owned(), "V-101".to_owned())
            ]
        );
        assert_eq!(s.account("e2", "vault").await.unwrap().as_deref(), Some("V-200"));
        assert!(s.accounts("nobody").await.unwrap().is_empty());
    }

    async fn audit_is_newest_first_and_holds_no_values(ctx) {
        let s = &ctx.store;
        let secret_values = ["alice.secret@example.com", "+41 79 555 12 34", "Alice Smithson"];
        let f1 = fields(json!({"email": secret_values[0], "phone": secret_values[1]}));
        let f2 = fields(json!({"email": secret_values[0], "phone": secret_values[1], "name": secret_values[2]}));
        assert!(s.record_applied("alice", "vault", "ev-1", 1, &f1, &names(&["email", "phone"]), Outcome::Applied).await.unwrap());
        let operator = s.with_actor("ops-jane");
        assert_eq!(operator.actor(), "ops-jane");
        assert!(operator.record_applied("alice", "vault", "ev-2", 2, &f2, &names(&["name"]), Outcome::Applied).await.unwrap());
        assert!(s.record_applied("bob", "vault", "ev-3", 1, &f1, &names(&["email"]), Outcome::Applied).await.unwrap());
        s.record_outcome("alice", "sitevault", "ev-4", Outcome::DeadLettered).await.unwrap();

        let all = s.audit(None, 10).await.unwrap();
        let events: Vec<&str> = all.iter().map(|a| a.event_id.as_str()).collect();
        assert_eq!(events, ["ev-4", "ev-3", "ev-2", "ev-1"]);
        assert!(all.windows(2).all(|w| w[0].at >= w[1].at));
        assert_eq!(s.audit(None, 2).await.unwrap().len(), 2);
        assert!(s.audit(None, 0).await.unwrap().is_empty());

        let alice = s.audit(Some("alice"), 10).await.unwrap();
        assert_eq!(alice.len(), 3);
        let second = &alice[1];
        assert_eq!(second.event_id, "ev-2");
        assert_eq!(second.employee_id, "alice");
        assert_eq!(second.target, "vault");
        assert_eq!(second.fields_changed, names(&["name"]));
        assert_eq!(second.values_digest, digest(&f2));
        assert_eq!(second.outcome, Outcome::Applied);
        assert_eq!(second.actor, "ops-jane");
        assert_eq!(alice[2].actor, WORKER_ACTOR);
        let age = time::OffsetDateTime::now_utc() - second.at;
        assert!(age >= time::Duration::ZERO && age < time::Duration::minutes(5), "{age}");

        // Neither the entries nor the raw table hold a value.
        let shown = format!("{all:?}");
        let raw: Vec<String> = sqlx::query_scalar(
            "SELECT event_id || employee_id || target || fields_changed || values_digest || outcome || actor FROM audit_log",
        )
        .fetch_all(&s.pool)
        .await
        .unwrap();
        let raw = raw.join("\n");
        for value in secret_values {
            assert!(!shown.contains(value), "audit entry shows {value}");
            assert!(!raw.contains(value), "audit table holds {value}");
        }
    }

    async fn audit_log_is_append_only(ctx) {
        let s = &ctx.store;
        s.record_outcome("e1", "vault", "ev-1", Outcome::DeadLettered).await.unwrap();
        let update = sqlx::query("UPDATE audit_log SET actor = 'mallory'").execute(&s.pool).await;
        assert!(update.is_err(), "update must be refused");
        let delete = sqlx::query("DELETE FROM audit_log").execute(&s.pool).await;
        assert!(delete.is_err(), "delete must be refused");
        assert_eq!(s.audit(None, 10).await.unwrap()[0].actor, WORKER_ACTOR);
    }

    async fn prune_removes_only_old_processed_rows(ctx) {
        let s = &ctx.store;
        let f = fields(json!({"email": "x@example.com"}));
        assert!(s.record_applied("e1", "vault", "old-applied", 1, &f, &names(&["email"]), Outcome::Applied).await.unwrap());
        s.record_outcome("e1", "vault", "old-stale", Outcome::Stale).await.unwrap();
        s.record_outcome("e1", "sitevault", "old-dead", Outcome::DeadLettered).await.unwrap();
        assert!(s.record_applied("e1", "vault", "new-applied", 2, &f, &[], Outcome::Unchanged).await.unwrap());
        s.record_outcome("e1", "vault", "new-unlinked", Outcome::Unlinked).await.unwrap();
        s.link_account("e1", "vault", "V-1").await.unwrap();
        for old in ["old-applied", "old-stale", "old-dead"] {
            backdate(s, old, time::Duration::days(10)).await;
        }
        backdate(s, "new-unlinked", time::Duration::days(2)).await;

        let correction = |id: &str| Correction {
            event_id: id.into(),
            employee_id: "e1".into(),
            sequence: 2,
            data_digest: "d".into(),
            targets: vec!["vault".into()],
        };
        s.record_corrections(&[correction("old-correction"), correction("new-correction")]).await.unwrap();
        sqlx::query("UPDATE reconcile_corrections SET created_at_us = created_at_us - 864000000000 WHERE event_id = 'old-correction'")
            .execute(&s.pool)
            .await
            .unwrap();

        assert_eq!(s.prune(time::Duration::days(7)).await.unwrap(), 4, "3 processed rows, 1 correction");
        let proof = |id: &'static str| async move {
            s.target_states(id, "e1", &["vault"]).await.unwrap()[0].correction.clone()
        };
        assert_eq!(proof("old-correction").await, None);
        assert!(proof("new-correction").await.is_some());
        for old in ["old-applied", "old-stale"] {
            assert_eq!(s.outcome_of(old, "vault").await.unwrap(), None, "{old}");
        }
        assert_eq!(s.outcome_of("old-dead", "sitevault").await.unwrap(), None);
        assert_eq!(s.outcome_of("new-applied", "vault").await.unwrap(), Some(Outcome::Unchanged));
        assert_eq!(s.outcome_of("new-unlinked", "vault").await.unwrap(), Some(Outcome::Unlinked));
        assert_eq!(s.prune(time::Duration::days(7)).await.unwrap(), 0);

        // Audit, last-applied state and links survive.
        assert_eq!(s.audit(Some("e1"), 10).await.unwrap().len(), 3);
        assert_eq!(s.last_applied("e1", "vault").await.unwrap().unwrap().sequence, 2);
        assert_eq!(s.account("e1", "vault").await.unwrap().as_deref(), Some("V-1"));
    }

    async fn the_one_event_read_knows_what_the_gate_knows(ctx) {
        let s = &ctx.store;
        let hold = |event_id: &str, kind: HeldKind, employee: &str, sequence: u64| HeldMessage {
            event_id: event_id.into(),
            kind,
            employee_id: employee.into(),
            sequence,
            action: "leaver".into(),
            due_at: time::OffsetDateTime::now_utc() + time::Duration::days(3),
            body: "{}".into(),
            status: HeldStatus::Pending,
            decided_by: None,
        };
        for held in [
            hold("sched-1", HeldKind::Scheduled, "e1", 1),
            hold("sched-2", HeldKind::Scheduled, "e1", 2),
            hold("sched-3", HeldKind::Scheduled, "e1", 3),
            hold("other", HeldKind::Scheduled, "e2", 1),
            hold("staged-4", HeldKind::Staged, "e1", 4),
        ] {
            s.hold(&held).await.unwrap();
        }
        let targets = ["vault", "superoffice"];
        let read = s.event_state("ev-3", "e1", 3, &targets).await.unwrap();
        assert_eq!(read.held.supersedable, 2, "e1's pending scheduled holds below sequence 3");
        assert!(read.held.released.is_empty());
        assert_eq!(read.targets, vec![TargetState::default(); 2]);

        // Released (or being released): the holds themselves come with the read, as
        // `held_facts` gives them.
        assert!(s.claim_held("staged-4", HeldKind::Staged, time::Duration::minutes(5)).await.unwrap());
        s.mark_held("sched-3", HeldKind::Scheduled, HeldStatus::Released).await.unwrap();
        for (event_id, sequence) in [("staged-4", 4), ("sched-3", 3)] {
            let read = s.event_state(event_id, "e1", sequence, &targets).await.unwrap();
            let facts = s.held_facts(event_id, "e1", sequence).await.unwrap();
            let kinds = |held: &[HeldMessage]| held.iter().map(|m| (m.event_id.clone(), m.kind)).collect::<Vec<_>>();
            assert_eq!(kinds(&read.held.released), vec![(event_id.to_string(), if sequence == 4 { HeldKind::Staged } else { HeldKind::Scheduled })]);
            assert_eq!(kinds(&read.held.released), kinds(&facts.released));
            assert_eq!(read.held.supersedable, facts.supersedable);
        }
        assert_eq!(s.event_state("staged-4", "e1", 4, &targets).await.unwrap().held.supersedable, 2, "sched-1 and sched-2 are still pending");

        // The target states are the same as `target_states` reads them.
        s.record_event(&EventRecord {
            event_id: "ev-5".into(),
            source: Default::default(),
            employee_id: "e1".into(),
            links: vec![("vault".into(), "V-1".into())],
            targets: vec![TargetRecord::Applied { target: "vault".into(), sequence: 5, fields: fields(json!({"title__sys": "Lead"})), changed: names(&["title__sys"]), outcome: Outcome::Applied }],
        })
        .await
        .unwrap();
        let read = s.event_state("ev-5", "e1", 5, &targets).await.unwrap();
        assert_eq!(read.targets, s.target_states("ev-5", "e1", &targets).await.unwrap());
        assert_eq!(read.targets[0].account.as_deref(), Some("V-1"));
        assert_eq!(read.targets[0].outcome, Some(Outcome::Applied));
        assert!(s.event_state("ev-9", "e1", 9, &[]).await.unwrap().targets.is_empty());
    }

    async fn replicas_claiming_due_messages_each_get_different_ones(ctx) {
        let s = &ctx.store;
        let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
        for i in 0..40 {
            s.hold(&HeldMessage {
                event_id: format!("ev-{i}"),
                kind: HeldKind::Scheduled,
                employee_id: format!("E{i}"),
                sequence: 1,
                action: "leaver".into(),
                due_at: past,
                body: "{}".into(),
                status: HeldStatus::Pending,
                decided_by: None,
            })
            .await
            .unwrap();
        }
        // Four "replicas" (own connections) claim at once.
        let mut replicas = Vec::new();
        for _ in 0..4 {
            replicas.push(Store::connect(&ctx.url).await.unwrap());
        }
        let claims = futures_util::future::join_all(
            replicas.iter().map(|r| r.claim_due(15, time::Duration::minutes(1))),
        )
        .await;
        let mut ids: Vec<String> = claims
            .into_iter()
            .flat_map(|c| c.unwrap())
            .map(|m| m.event_id)
            .collect();
        let claimed = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), claimed, "no message claimed twice");
        assert_eq!(claimed, 40);
        assert!(s.claim_due(15, time::Duration::minutes(1)).await.unwrap().is_empty(), "leased");
        for r in replicas {
            r.close().await;
        }
    }
}

#[test]
fn digest_is_stable_regardless_of_key_order() {
    let a = fields(json!({"a": 1, "b": {"c": [2, {"d": null, "e": "x"}]}}));
    let mut b = Map::new();
    b.insert("b".into(), json!({"c": [2, {"e": "x", "d": null}]}));
    b.insert("a".into(), json!(1));
    assert_eq!(digest(&a), digest(&b));
    // SHA-256 of the canonical text {"a":1,"b":{"c":[2,{"d":null,"e":"x"}]}}.
    assert_eq!(
        digest(&a),
        "10ce63f8421e705c9b2c065381ac8b984e9151f7b3422b601faaa4b864c3385d"
    );
    assert_eq!(
        digest(&Map::new()),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );

    // Values, array order and types all count.
    let c = fields(json!({"a": 1, "b": {"c": [{"d": null, "e": "x"}, 2]}}));
    let d = fields(json!({"a": "1", "b": {"c": [2, {"d": null, "e": "x"}]}}));
    assert_ne!(digest(&a), digest(&c));
    assert_ne!(digest(&a), digest(&d));
}

#[test]
fn outcome_names_round_trip() {
    for outcome in Outcome::ALL {
        assert_eq!(outcome.as_str().parse::<Outcome>().unwrap(), outcome);
        assert_eq!(outcome.to_string(), outcome.as_str());
    }
    assert_eq!(Outcome::DeadLettered.as_str(), "dead_lettered");
    assert!(matches!(
        "nope".parse::<Outcome>(),
        Err(StoreError::UnknownOutcome(_))
    ));
}

fn assert_hides(err: &StoreError, secret: &str) {
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains(secret), "password leaked: {shown}");
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        assert!(
            !format!("{inner} / {inner:?}").contains(secret),
            "password leaked by source"
        );
        source = inner.source();
    }
}

#[tokio::test]
async fn errors_from_bad_postgres_urls_hide_the_password() {
    let secret = "Sup3rS3cretPw";
    // Unparsable (port out of range).
    let err = Store::connect(&format!("postgres://hrsync:{secret}@127.0.0.1:99999/test"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("hrsync:***@"), "{err}");
    assert_hides(&err, secret);

    // Nothing listening (connect with a short deadline instead of the default).
    let err = connect::connect(
        &format!("postgres://hrsync:{secret}@127.0.0.1:1/test?password={secret}x"),
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    assert_hides(&err, secret);

    // Percent-encoded password, server reached (when it is) but the role is unknown.
    if let Some(base) = postgres_base_url() {
        let host = base.split('@').nth(1).unwrap_or("127.0.0.1:5432/test");
        let err = Store::connect(&format!(
            "postgres://no_such_role_{}:{secret}%21@{host}",
            unique()
        ))
        .await
        .unwrap_err();
        assert!(matches!(err, StoreError::Connect { .. }), "{err}");
        assert_hides(&err, secret);
    }

    // Unknown scheme: only the scheme is echoed.
    let err = Store::connect(&format!("mysql://root:{secret}@localhost/db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
    assert_hides(&err, secret);
}

#[tokio::test]
async fn sqlite_file_and_folder_are_created() {
    let folder = std::env::temp_dir().join(format!("hrsync-store-{}", unique()));
    let file = folder.join("deep/er/state.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    assert!(file.exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    store.close().await;
    std::fs::remove_dir_all(folder).ok();

    let memory = Store::connect("sqlite::memory:").await.unwrap();
    memory.link_account("e1", "vault", "V-1").await.unwrap();
    assert_eq!(
        memory.account("e1", "vault").await.unwrap().as_deref(),
        Some("V-1")
    );
}

#[tokio::test]
async fn target_state_reads_outcome_account_and_last_state_at_once() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(
        store.target_state("ev", "E1", "vault").await.unwrap(),
        TargetState::default()
    );
    store.link_account("E1", "vault", "25001").await.unwrap();
    let f = fields(json!({"user_title__v": "CRA"}));
    store
        .record_applied(
            "E1",
            "vault",
            "ev",
            3,
            &f,
            &names(&["user_title__v"]),
            Outcome::Applied,
        )
        .await
        .unwrap();
    let state = store.target_state("ev", "E1", "vault").await.unwrap();
    assert_eq!(state.outcome, Some(Outcome::Applied));
    assert_eq!(state.account.as_deref(), Some("25001"));
    let last = state.last.unwrap();
    assert_eq!(
        (last.sequence, last.fields, last.event_id.as_str()),
        (3, f, "ev")
    );
    let other = store
        .target_state("other", "E1", "sitevault")
        .await
        .unwrap();
    assert_eq!(other, TargetState::default());
}
