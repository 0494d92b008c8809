//! The operator CLI as a script sees it, through the real binary: `-o json` that parses,
//! exit codes (1 runtime, 2 usage; `reconcile`'s own), a closed stdout that ends quietly,
//! checked `--target`/`--reason` values, `dlq replay --dry-run`/`--id`, `dlq export`,
//! `audit list`, read-only commands that never create a store, `check-config --online`,
//! completions and the man page, `--version`, and `healthcheck`.
//!
//! Commands run off the runtime's thread (`spawn_blocking`): the simulator they call runs
//! on it.

use hrsync_testkit::*;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs `hrsync ARGS…` for this harness with `env` on top of its variables.
async fn hrsync(h: &Harness, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = h.hrsync_command(args);
    command.envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing what the command said when it differs.
fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

/// A harness whose dead-letter queue holds `n` invalid events, with its worker stopped (so
/// replayed letters stay in the work queue, where a test can count them).
async fn dead_lettered(n: usize) -> Harness {
    let mut h = Harness::start().await;
    for _ in 0..n {
        h.publish_raw("hr.employee.joiner", b"not json", Default::default())
            .await;
    }
    let dlq = h.config.rabbitmq.dead_letter_queue.clone();
    eventually(WAIT, "the dead letters", || async {
        match h.queue_depth(&dlq).await as usize {
            depth if depth == n => Ok(()),
            depth => Err(format!("{depth} in the dead-letter queue")),
        }
    })
    .await;
    h.worker.take().unwrap().stop().await;
    h
}

async fn dlq_depth(h: &Harness) -> u32 {
    h.queue_depth(&h.config.rabbitmq.dead_letter_queue).await
}

#[tokio::test]
async fn dead_letters_list_and_show_as_json_or_tables_and_stay_in_the_queue() {
    let h = dead_lettered(3).await;

    let listed = hrsync(&h, &["dlq", "list", "-o", "json"], &[]).await;
    assert_exit(&listed, 0, "dlq list -o json");
    let letters = json(&listed);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 3, "{letters:?}");
    for letter in letters {
        assert_eq!(letter["reason"], "invalid_event");
        assert_eq!(letter["target"], "none");
        assert!(letter["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let id = letters[0]["id"].as_str().unwrap().to_string();

    let table = hrsync(&h, &["dlq", "list"], &[]).await;
    assert_exit(&table, 0, "dlq list");
    let text = stdout(&table);
    assert!(text.starts_with("ID "), "{text}");
    assert!(
        text.contains(&id) && text.contains("3 dead letter(s) shown"),
        "{text}"
    );

    let filtered = hrsync(
        &h,
        &["dlq", "list", "--reason", "mapping", "-o", "json"],
        &[],
    )
    .await;
    assert_exit(&filtered, 0, "dlq list --reason mapping");
    assert_eq!(json(&filtered), serde_json::json!([]));

    // One JSON document: the whole of stdout parses as one value.
    let shown = hrsync(&h, &["dlq", "show", &id, "-o", "json"], &[]).await;
    assert_exit(&shown, 0, "dlq show -o json");
    let letter = json(&shown);
    assert_eq!(letter["id"], id.as_str());
    assert_eq!(letter["body"], "not json");
    assert_eq!(letter["reason"], "invalid_event");
    assert_eq!(letter["headers"]["x-hrsync-reason"], "invalid_event");

    let shown = hrsync(&h, &["dlq", "show", &id], &[]).await;
    assert_exit(&shown, 0, "dlq show");
    assert!(stdout(&shown).contains("not json"), "{}", stdout(&shown));

    let missing = hrsync(&h, &["dlq", "show", "no-such-letter", "-o", "json"], &[]).await;
    assert_exit(&missing, 1, "dlq show of a letter that is not there");
    assert!(stderr(&missing).contains("no dead letter no-such-letter"));
    assert!(missing.stdout.is_empty());

    assert_eq!(dlq_depth(&h).await, 3, "looking took nothing");
    h.stop().await;
}

#[tokio::test]
async fn replay_dry_run_moves_nothing_and_replay_id_moves_only_that_letter() {
    let h = dead_lettered(3).await;
    let work_queue = h.config.rabbitmq.queue.clone();

    let planned = hrsync(&h, &["dlq", "replay", "--dry-run", "-o", "json"], &[]).await;
    assert_exit(&planned, 0, "dlq replay --dry-run");
    let planned = json(&planned);
    assert_eq!(planned.as_array().unwrap().len(), 3, "{planned}");
    assert_eq!(dlq_depth(&h).await, 3, "a dry run moves nothing");
    assert_eq!(h.queue_depth(&work_queue).await, 0);

    let id = planned[1]["id"].as_str().unwrap().to_string();
    let one = hrsync(&h, &["dlq", "replay", "--dry-run", "--id", &id], &[]).await;
    assert_exit(&one, 0, "dlq replay --dry-run --id");
    let text = stdout(&one);
    assert!(text.contains(&id), "{text}");
    assert!(
        text.contains("1 dead letter(s) would be replayed"),
        "{text}"
    );
    assert_eq!(dlq_depth(&h).await, 3);

    let replayed = hrsync(&h, &["dlq", "replay", "--id", &id, "--actor", "alice"], &[]).await;
    assert_exit(&replayed, 0, "dlq replay --id");
    assert!(stdout(&replayed).contains("replayed 1 dead letter(s)"));
    assert_eq!(dlq_depth(&h).await, 2, "only that letter left");
    assert_eq!(
        h.queue_depth(&work_queue).await,
        1,
        "and went to the work queue"
    );
    let left = json(&hrsync(&h, &["dlq", "list", "-o", "json"], &[]).await);
    let left: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&id.as_str()), "{left:?}");

    let missing = hrsync(
        &h,
        &[
            "dlq",
            "replay",
            "--id",
            "no-such-letter",
            "--actor",
            "alice",
        ],
        &[],
    )
    .await;
    assert_exit(&missing, 1, "dlq replay --id of a letter that is not there");
    assert!(stderr(&missing).contains("no-such-letter"));
    assert_eq!(dlq_depth(&h).await, 2);
    h.stop().await;
}

#[tokio::test]
async fn export_writes_one_json_line_per_dead_letter_and_leaves_them() {
    let h = dead_lettered(3).await;

    let exported = hrsync(&h, &["dlq", "export"], &[]).await;
    assert_exit(&exported, 0, "dlq export");
    let text = stdout(&exported);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for letter in &lines {
        assert_eq!(letter["body"], "not json");
        assert_eq!(letter["headers"]["x-hrsync-reason"], "invalid_event");
        assert!(letter["headers"]["x-hrsync-dead-letter-id"].is_string());
    }
    assert!(stderr(&exported).contains("exported 3 dead letter(s) to stdout"));
    assert_eq!(dlq_depth(&h).await, 3, "exporting took nothing");

    let dir = std::env::temp_dir().join(format!("{}-export", h.unique));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dead-letters.jsonl");
    let exported = hrsync(
        &h,
        &["dlq", "export", "--file", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_exit(&exported, 0, "dlq export --file");
    assert!(exported.stdout.is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, text, "the same lines as on stdout");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no partial file left"
    );
    assert_eq!(dlq_depth(&h).await, 3);

    let limited = hrsync(&h, &["dlq", "export", "--limit", "1"], &[]).await;
    assert_exit(&limited, 0, "dlq export --limit 1");
    assert_eq!(stdout(&limited).lines().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
    h.stop().await;
}

/// Spawns `hrsync ARGS…` with its stdout a pipe whose read end is closed at once, before
/// the command writes; returns its exit code and stderr.
async fn with_closed_stdout(h: &Harness, args: &[&str]) -> (Option<i32>, String) {
    let mut command = h.hrsync_command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap().code(), stderr)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_closed_stdout_ends_the_command_quietly() {
    let h = dead_lettered(2).await;
    for args in [
        &["dlq", "list"][..],
        &["dlq", "list", "-o", "json"],
        &["dlq", "export"],
        &["dlq", "replay", "--dry-run"],
        &["config-reference"],
        &["completions", "bash"],
        &["man"],
    ] {
        let (code, stderr) = with_closed_stdout(&h, args).await;
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    assert_eq!(dlq_depth(&h).await, 2);
    h.stop().await;
}

#[tokio::test]
async fn usage_errors_exit_2_and_name_the_valid_values() {
    let h = Harness::builder().without_worker().start().await;
    let wrong_target = hrsync(
        &h,
        &["dlq", "replay", "--target", "vualt", "--actor", "alice"],
        &[],
    )
    .await;
    assert_exit(&wrong_target, 2, "--target vualt");
    let said = stderr(&wrong_target);
    for valid in ["vault", "sitevault", "superoffice", "scim"] {
        assert!(said.contains(valid), "{said}");
    }

    let wrong_reason = hrsync(&h, &["dlq", "list", "--reason", "rejectd"], &[]).await;
    assert_exit(&wrong_reason, 2, "--reason rejectd");
    let said = stderr(&wrong_reason);
    for valid in [
        "invalid_event",
        "mapping",
        "rejected",
        "retries_exhausted",
        "target_config",
        "unlinked",
        "ambiguous_match",
    ] {
        assert!(said.contains(valid), "{said}");
    }

    for args in [
        &["dlq", "list", "-o", "yaml"][..],
        &["dlq", "frobnicate"],
        &["audit", "list", "--limit", "many"],
        &["schedule", "list", "--since", "yesterday"],
        &["completions", "tcsh"],
        // Nothing says which staged operations: --employee, --since, --until, --action or --all.
        &["staged", "release", "--actor", "alice"],
    ] {
        let output = hrsync(&h, args, &[]).await;
        assert_exit(&output, 2, &format!("{args:?}"));
    }
    h.stop().await;
}

#[tokio::test]
async fn runtime_errors_exit_1_and_reconcile_keeps_its_own_codes() {
    let h = Harness::builder().without_worker().start().await;
    let no_broker = hrsync(
        &h,
        &["dlq", "list"],
        &[("HRSYNC_RABBITMQ__URL", "amqp://127.0.0.1:1/%2f")],
    )
    .await;
    assert_exit(&no_broker, 1, "dlq list without a broker");
    assert!(stderr(&no_broker).contains("cannot connect to RabbitMQ"));

    let mut command = Command::new(hrsync_testkit::process::worker_binary());
    command.args(["--config", "/nonexistent/hrsync.toml", "dlq", "list"]);
    let no_config = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_exit(&no_config, 1, "a configuration file that is not there");

    let no_event = hrsync(&h, &["dry-run", "/nonexistent/event.json"], &[]).await;
    assert_exit(&no_event, 1, "dry-run of a file that is not there");

    // `reconcile` documents 1 for drift, so its errors are 2.
    let no_snapshot = hrsync(&h, &["reconcile", "--snapshot", "/nonexistent.jsonl"], &[]).await;
    assert_exit(&no_snapshot, 2, "reconcile without its snapshot");
    h.stop().await;
}

#[tokio::test]
async fn audit_list_reads_the_audit_log_as_a_table_or_json_on_either_store() {
    for kind in BOTH_STORES {
        let h = Harness::builder().store(kind).start().await;
        h.publish(&mover()).await;
        h.wait_idle().await;
        let entries = eventually(WAIT, "audit entries of E100234", || async {
            let listed = hrsync(
                &h,
                &["audit", "list", "--employee", "E100234", "-o", "json"],
                &[],
            )
            .await;
            if listed.status.code() != Some(0) {
                return Err(stderr(&listed));
            }
            let entries = json(&listed);
            let targets: Vec<&str> = entries
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["target"].as_str())
                .collect();
            if ["vault", "sitevault", "superoffice"]
                .iter()
                .all(|t| targets.contains(t))
            {
                Ok(entries.clone())
            } else {
                Err(entries.to_string())
            }
        })
        .await;
        for entry in entries.as_array().unwrap() {
            assert_eq!(entry["employee_id"], "E100234", "{kind:?}");
            assert_eq!(entry["actor"], "worker");
            assert_eq!(entry["source"], "hr");
            assert!(entry["event_id"].is_string() && entry["values_digest"].is_string());
            assert!(entry["fields_changed"].is_array());
            assert!(
                time::OffsetDateTime::parse(
                    entry["at"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339
                )
                .is_ok(),
                "{entry}"
            );
        }
        let vault = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["target"] == "vault")
            .unwrap();
        assert_eq!(vault["outcome"], "applied", "{kind:?}: {entries}");

        let one = hrsync(
            &h,
            &[
                "audit",
                "list",
                "--employee",
                "E100234",
                "--limit",
                "1",
                "-o",
                "json",
            ],
            &[],
        )
        .await;
        assert_eq!(json(&one).as_array().unwrap().len(), 1);
        let nobody = hrsync(
            &h,
            &["audit", "list", "--employee", "E999", "-o", "json"],
            &[],
        )
        .await;
        assert_eq!(json(&nobody), serde_json::json!([]));
        let table = hrsync(&h, &["audit", "list", "--employee", "E100234"], &[]).await;
        assert_exit(&table, 0, "audit list");
        let text = stdout(&table);
        assert!(text.starts_with("AT "), "{text}");
        assert!(
            text.contains("E100234") && text.contains("applied"),
            "{text}"
        );
        h.stop().await;
    }
}

#[tokio::test]
async fn schedule_and_staged_lists_print_json() {
    let h = Harness::start().await;
    for args in [
        &["schedule", "list", "-o", "json"][..],
        &["staged", "list", "-o", "json"],
        &["staged", "list", "--action", "leaver", "-o", "json"],
    ] {
        let listed = hrsync(&h, args, &[]).await;
        assert_exit(&listed, 0, &format!("{args:?}"));
        assert_eq!(json(&listed), serde_json::json!([]), "{args:?}");
    }
    let table = hrsync(&h, &["schedule", "list"], &[]).await;
    assert_exit(&table, 0, "schedule list");
    assert!(stdout(&table).contains("0 pending"));
    h.stop().await;
}

/// A store URL in a folder that does not exist, and that folder.
fn missing_store(h: &Harness) -> (String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("{}-missing", h.unique));
    let url = format!("sqlite://{}/hrsync.db", dir.display());
    (url, dir)
}

#[tokio::test]
async fn read_only_commands_refuse_a_missing_store_and_create_nothing() {
    let h = Harness::builder().without_worker().start().await;
    let (url, dir) = missing_store(&h);
    let env = [("HRSYNC_STORE__URL", url.as_str())];
    for args in [
        &["schedule", "list"][..],
        &["schedule", "list", "-o", "json"],
        &["staged", "list"],
        &["audit", "list", "--employee", "E100234"],
        &["audit", "list", "-o", "json"],
    ] {
        let output = hrsync(&h, args, &env).await;
        assert_exit(&output, 1, &format!("{args:?} with a missing store"));
        let said = stderr(&output);
        assert!(said.contains("no database file"), "{args:?}: {said}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    // The dead-letter commands read the broker only: they work, and create no store either.
    for args in [
        &["dlq", "list"][..],
        &["dlq", "export"],
        &["dlq", "replay", "--dry-run"],
    ] {
        let output = hrsync(&h, args, &env).await;
        assert_exit(&output, 0, &format!("{args:?}"));
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    let online = hrsync(&h, &["check-config", "--online"], &env).await;
    assert_exit(&online, 1, "check-config --online with a missing store");
    assert!(
        stdout(&online).lines().any(|l| l.starts_with("FAILED")
            && l.contains("store:")
            && l.contains("no database file")),
        "{}",
        stdout(&online)
    );
    assert!(!dir.exists(), "check-config created {}", dir.display());
    h.stop().await;
}

#[tokio::test]
async fn a_postgres_database_without_the_store_is_refused_and_left_alone() {
    let h = Harness::builder()
        .store(StoreKind::Postgres)
        .without_worker()
        .start()
        .await;
    let output = hrsync(&h, &["audit", "list", "-o", "json"], &[]).await;
    assert_exit(&output, 1, "audit list on an empty schema");
    assert!(
        stderr(&output).contains("holds no hrsync state store"),
        "{}",
        stderr(&output)
    );
    // Nothing was migrated into the schema.
    let pool = sqlx::PgPool::connect(&h.config.store.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&h.unique)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(tables, 0);
    h.stop().await;
}

#[tokio::test]
async fn check_config_online_logs_in_everywhere_and_names_what_failed_without_secrets() {
    let h = Harness::start().await;
    let checked = hrsync(&h, &["check-config", "--online"], &[]).await;
    assert_exit(&checked, 0, "check-config --online");
    let text = stdout(&checked);
    let rabbit = &h.config.rabbitmq;
    for expected in [
        "ok          broker: logged in to ".to_string(),
        format!("ok          broker: exchange {} exists", rabbit.exchange),
        format!("ok          broker: queue {} exists", rabbit.queue),
        format!(
            "ok          broker: queue {} exists",
            rabbit.dead_letter_queue
        ),
        "ok          store: opened the sqlite state store (read-only)".to_string(),
        "ok          store: migrations: all ".to_string(),
        "ok          target vault: credentials accepted".to_string(),
        "ok          target sitevault: credentials accepted".to_string(),
        "ok          target superoffice: credentials accepted".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&expected)),
            "{expected}:\n{text}"
        );
    }
    assert!(!text.contains("FAILED"), "{text}");

    let wrong = "Wr0ng-Vault-Passw0rd";
    let missing_queue = format!("{}.not-there", h.unique);
    let failed = hrsync(
        &h,
        &["check-config", "--online"],
        &[
            ("HRSYNC_TARGETS__VAULT__PASSWORD", wrong),
            ("HRSYNC_RABBITMQ__QUEUE", &missing_queue),
        ],
    )
    .await;
    assert_exit(&failed, 1, "check-config --online with a wrong password");
    let text = stdout(&failed);
    let line = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    assert!(line("FAILED      target vault:"), "{text}");
    assert!(line("ok          target sitevault:"), "{text}");
    assert!(
        line(&format!("FAILED      broker: queue {missing_queue}:")),
        "{text}"
    );
    assert!(stderr(&failed).contains("2 online check(s) failed"));
    for output in [&checked, &failed] {
        let all = format!("{}{}", stdout(output), stderr(output));
        for secret in [wrong, "simulator-password"] {
            assert!(!all.contains(secret), "a secret printed:\n{all}");
        }
    }

    // Offline (the default, or --no-online): no broker needed.
    let offline = [("HRSYNC_RABBITMQ__URL", "amqp://127.0.0.1:1/%2f")];
    for args in [
        &["check-config"][..],
        &["check-config", "--no-online"],
        &["check-config", "--online", "--no-online"],
    ] {
        let output = hrsync(&h, args, &offline).await;
        assert_exit(&output, 0, &format!("{args:?}"));
        assert!(!stdout(&output).contains("broker:"), "{args:?}");
    }
    h.stop().await;
}

#[tokio::test]
async fn completions_and_the_man_page_come_from_the_command_definitions() {
    let h = Harness::builder().without_worker().start().await;
    for shell in ["bash", "zsh", "fish"] {
        let output = hrsync(&h, &["completions", shell], &[]).await;
        assert_exit(&output, 0, shell);
        let script = stdout(&output);
        for word in ["hrsync", "dlq", "replay", "--dry-run", "healthcheck"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    let man = hrsync(&h, &["man"], &[]).await;
    assert_exit(&man, 0, "man");
    let page = stdout(&man);
    assert!(page.contains(".TH hrsync 1"), "{page}");
    assert!(
        page.contains("check\\-config") || page.contains("check-config"),
        "{page}"
    );
    assert!(page.contains(env!("GIT_REVISION")), "{page}");

    let dir = std::env::temp_dir().join(format!("{}-man", h.unique));
    let pages = hrsync(&h, &["man", "--dir", dir.to_str().unwrap()], &[]).await;
    assert_exit(&pages, 0, "man --dir");
    for name in [
        "hrsync.1",
        "hrsync-dlq.1",
        "hrsync-dlq-replay.1",
        "hrsync-audit-list.1",
    ] {
        assert!(dir.join(name).exists(), "{name} in {}", dir.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    h.stop().await;
}

#[tokio::test]
async fn version_names_the_commit_and_the_build_date() {
    let h = Harness::builder().without_worker().start().await;
    let output = hrsync(&h, &["--version"], &[]).await;
    assert_exit(&output, 0, "--version");
    let text = stdout(&output);
    let commit = env!("GIT_REVISION");
    let prefix = format!(
        "hrsync {} (commit {commit}, built ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.starts_with(&prefix), "{text}");
    let date = text[prefix.len()..].trim_end().trim_end_matches(')');
    assert!(
        time::Date::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]")
        )
        .is_ok(),
        "{text}"
    );
    // Built from a checkout with git, the commit is a real one of this repository.
    let root = workspace_root();
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(&root).output();
    if root.join(".git").exists() && git(&["--version"]).is_ok() {
        assert_ne!(commit, "unknown");
        let exists = git(&["cat-file", "-e", &format!("{commit}^{{commit}}")]).unwrap();
        assert!(exists.status.success(), "{commit} is no commit here");
    }
    h.stop().await;
}

#[tokio::test]
async fn healthcheck_exits_0_when_the_worker_is_ready_and_1_otherwise() {
    let h = Harness::start().await;
    h.wait_ready(true, WAIT).await;
    let addr = h.worker().http_addr.to_string();
    let url = format!("http://{addr}/readyz");

    let given = hrsync(&h, &["healthcheck", "--url", &url], &[]).await;
    assert_exit(&given, 0, "healthcheck --url");
    let from_config = hrsync(&h, &["healthcheck"], &[("HRSYNC_HTTP__LISTEN", &addr)]).await;
    assert_exit(&from_config, 0, "healthcheck on http.listen");
    let from_any = hrsync(
        &h,
        &["healthcheck"],
        &[(
            "HRSYNC_HTTP__LISTEN",
            &format!("0.0.0.0:{}", h.worker().http_addr.port()),
        )],
    )
    .await;
    assert_exit(&from_any, 0, "healthcheck on 0.0.0.0, through loopback");
    for output in [&given, &from_config, &from_any] {
        assert!(output.stdout.is_empty());
        assert_eq!(stderr(output).lines().count(), 1, "{}", stderr(output));
        assert!(stderr(output).contains("ready"));
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = format!("http://127.0.0.1:{port}/readyz");
    let not_found = format!("{}/_sim/no-such-page", h.sim_url);
    for url in [unreachable, not_found] {
        let output = hrsync(&h, &["healthcheck", "--url", &url, "--timeout", "2"], &[]).await;
        assert_exit(&output, 1, &url);
        assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
        assert!(stderr(&output).contains("not ready"), "{}", stderr(&output));
    }
    h.stop().await;
}
