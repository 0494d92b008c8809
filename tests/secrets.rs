//! No secret at any log level: a worker process run with `RUST_LOG=trace` — every library's
//! most talkative output, the AMQP client's frame logging included, which used to print the
//! broker password from the `connection.start-ok` frame — handles a joiner, a mover and a
//! leaver against the simulator, and its whole log is searched for every secret it was
//! given, in every form one could leak in: raw, base64 (alone and as the `user:password`
//! of Basic auth), URL-encoded, as a list of byte values and as hex.

use base64::Engine;
use hrsync_testkit::*;

const RABBIT_PASSWORD: &str = "Rmq-S3cret/+:%@x";
const VAULT_PASSWORD: &str = "Vlt-S3cret&=+x?";
const SUPEROFFICE_PASSWORD: &str = "So-S3cret#&x";
const STORE_PASSWORD: &str = "Pg-S3cret@/x";

/// Every form of `secret` (and of `user:secret`) worth searching for.
fn forms(user: &str, secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url_encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let bytes = secret.bytes().map(|b| b.to_string()).collect::<Vec<_>>();
    vec![
        secret.to_string(),
        b64.encode(secret),
        b64.encode(format!("{user}:{secret}")),
        b64.encode(format!("\0{user}\0{secret}")),
        url_encoded.clone(),
        url_encoded.to_lowercase(),
        bytes.join(", "),
        bytes.join(","),
        secret.bytes().map(|b| format!("{b:02x}")).collect(),
    ]
}

#[tokio::test]
async fn a_worker_logging_at_trace_level_never_prints_a_secret() {
    if std::env::var("HRSYNC_TEST_AMQP_URL").is_ok() || !rabbitmqctl(&["status"]) {
        eprintln!("SKIPPED: no local rabbitmqctl to create a broker user with a known password");
        return;
    }
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("hrsync:{SUPEROFFICE_PASSWORD}"));
    let sim = SimulatorConfig {
        vault_password: VAULT_PASSWORD.into(),
        superoffice_authorization: vec![format!("Basic {basic}")],
        ..roomy_simulator()
    };
    let h = Harness::builder()
        .store(StoreKind::Postgres)
        .simulator(sim)
        .without_worker()
        .start()
        .await;
    let user = format!("{}-secrets", h.unique);
    assert!(rabbitmqctl(&["add_user", &user, RABBIT_PASSWORD]));
    assert!(rabbitmqctl(&["set_permissions", &user, ".*", ".*", ".*"]));

    let worker = h
        .spawn_worker_with_env(
            "trace",
            &[
                ("RUST_LOG", "trace"),
                ("HRSYNC_LOG__LEVEL", "trace"),
                ("HRSYNC_RABBITMQ__USERNAME", &user),
                ("HRSYNC_RABBITMQ__PASSWORD", RABBIT_PASSWORD),
                ("HRSYNC_TARGETS__VAULT__PASSWORD", VAULT_PASSWORD),
                ("HRSYNC_TARGETS__SITEVAULT__PASSWORD", VAULT_PASSWORD),
                (
                    "HRSYNC_TARGETS__SUPEROFFICE__AUTH__PASSWORD",
                    SUPEROFFICE_PASSWORD,
                ),
                ("HRSYNC_STORE__PASSWORD", STORE_PASSWORD),
            ],
        )
        .await;
    let mut leaver = leaver();
    leaver["sequence"] = serde_json::json!(20);
    h.publish_all(&[joiner(), mover(), leaver]).await;
    h.sim.wait_for_writes("superoffice", "POST", 1).await;
    h.wait_process_idle(&worker, std::time::Duration::from_secs(30))
        .await;
    let log_path = worker.log.clone();
    h.stop_process(worker).await;
    let _ = rabbitmqctl(&["delete_user", &user]);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines = log.lines().count();
    assert!(
        log.contains("\"level\":\"TRACE\"") && lines > 100,
        "the worker really logged at trace level ({lines} lines)"
    );
    let mut leaks = Vec::new();
    for (who, user, secret) in [
        ("rabbitmq", user.as_str(), RABBIT_PASSWORD),
        ("vault", "hrsync@verteo.example", VAULT_PASSWORD),
        ("superoffice", "hrsync", SUPEROFFICE_PASSWORD),
        ("store", "postgres", STORE_PASSWORD),
    ] {
        for form in forms(user, secret) {
            if let Some(line) = log.lines().find(|l| l.contains(&form)) {
                leaks.push(format!("{who} as {form:?}: {line}"));
            }
        }
    }
    eprintln!("searched {lines} log lines at trace level for 4 secrets in 9 forms each");
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
    h.stop().await;
}
