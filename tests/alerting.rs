//! The shipped alert rules in a real Prometheus: Debian's `prometheus` (`.ci/run` installs
//! the package) loads `deploy/prometheus/rules/hrsync.rules.yml` and scrapes an in-process
//! worker the way a shared Prometheus does — scrape job `hrsync` (the rules select
//! `job="hrsync"`), a `namespace` label on the target (what the Prometheus Operator adds).
//! One message that is no HR event is dead-lettered, and `HrsyncDeadLetters` must fire with
//! the installation's `namespace` and `job`, so that one Prometheus and Alertmanager can
//! tell installations apart; `HrsyncDeadLetterQueueNotEmpty` fires while the letter waits
//! and resolves once it is taken.
//!
//! Skipped, with the reason printed, where no `prometheus` binary is installed — except in
//! CI (`CI` set), where a missing binary fails the test.

use hrsync_testkit::*;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RULES: &str = "deploy/prometheus/rules/hrsync.rules.yml";
/// The scrape target's namespace label, as the Prometheus Operator would set it.
const NAMESPACE: &str = "hrsync-test";
/// How long Prometheus may take to raise or drop an alert here: scrapes and rule
/// evaluations every second, so seconds normally.
const ALERT_WAIT: Duration = Duration::from_secs(60);

/// The `prometheus` binary: on PATH, or where Debian's package installs it.
fn prometheus_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("prometheus"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/bin/prometheus");
        debian.is_file().then_some(debian)
    })
}

/// The shipped rules with the `for:` of `alerts` set to 0s, so the test need not wait out
/// their pending time (HrsyncDeadLetters has none; HrsyncDeadLetterQueueNotEmpty waits an
/// hour). Only those `for:` lines change: every `expr` is the shipped one, byte for byte.
fn rules_firing_at_once(shipped: &str, alerts: &[&str]) -> String {
    let mut current: Option<&str> = None;
    let mut lines = Vec::new();
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            current = Some(name.trim());
        }
        if trimmed.starts_with("for:") && current.is_some_and(|name| alerts.contains(&name)) {
            let indent = &line[..line.len() - trimmed.len()];
            lines.push(format!("{indent}for: 0s"));
        } else {
            lines.push(line.to_string());
        }
    }
    let rewritten = lines.join("\n") + "\n";
    for (before, after) in shipped.lines().zip(rewritten.lines()) {
        assert!(
            before == after
                || (before.trim_start().starts_with("for:") && after.ends_with("for: 0s")),
            "only `for:` lines may differ from the shipped rules: {before:?} became {after:?}"
        );
    }
    rewritten
}

/// A Prometheus process, killed (and its folder removed) however the test ends.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Prometheus {
    /// Starts `binary` on a free loopback port with `config`, and waits until it is ready.
    /// A port taken between choosing and binding it is chosen again.
    async fn start(binary: &Path, dir: PathBuf, config: &str, http: &reqwest::Client) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log_file = dir.join("prometheus.log");
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = File::create(&log_file).unwrap();
            let child = Command::new(binary)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut prometheus = Prometheus {
                child,
                dir: dir.clone(),
                url: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = prometheus.child.try_wait().unwrap() {
                    eprintln!(
                        "prometheus exited ({status}), trying another port:\n{}",
                        prometheus.log()
                    );
                    break;
                }
                let ready = http
                    .get(format!("{}/-/ready", prometheus.url))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    return prometheus;
                }
                assert!(
                    Instant::now() < deadline,
                    "prometheus not ready within 30s:\n{}",
                    prometheus.log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        panic!(
            "prometheus did not start:\n{}",
            std::fs::read_to_string(&log_file).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `data` of a GET on Prometheus' HTTP API.
    async fn api(&self, http: &reqwest::Client, path: &str) -> Result<Value, String> {
        let response = http
            .get(format!("{}{path}", self.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"].clone())
    }

    /// The firing alerts named `alertname`, as /api/v1/alerts lists them.
    async fn firing(&self, http: &reqwest::Client, alertname: &str) -> Result<Vec<Value>, String> {
        let data = self.api(http, "/api/v1/alerts").await?;
        Ok(data["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
            .collect())
    }

    /// What Prometheus knows, for a failure message: its alerts, the scrape target's
    /// health, and the series the alerts read.
    async fn state(&self, http: &reqwest::Client) -> String {
        let mut state = String::new();
        for path in [
            "/api/v1/alerts",
            "/api/v1/targets?state=active",
            "/api/v1/query?query=hrsync_dead_letters_total",
            "/api/v1/query?query=hrsync_dead_letter_queue_messages",
        ] {
            let found = self.api(http, path).await;
            state.push_str(&format!("\n{path}: {found:?}"));
        }
        state
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until `alertname` fires; returns its firing instances.
async fn wait_firing(
    prometheus: &Prometheus,
    http: &reqwest::Client,
    alertname: &str,
) -> Vec<Value> {
    let what = format!("{alertname} firing in Prometheus");
    let deadline = Instant::now() + ALERT_WAIT;
    loop {
        match prometheus.firing(http, alertname).await {
            Ok(alerts) if !alerts.is_empty() => return alerts,
            _ if Instant::now() >= deadline => {
                panic!(
                    "{what}: not within {ALERT_WAIT:?}; Prometheus saw:{}\nits log:\n{}",
                    prometheus.state(http).await,
                    prometheus.log()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test]
async fn a_dead_letter_fires_hrsync_dead_letters_with_namespace_and_job_in_a_real_prometheus() {
    let Some(binary) = prometheus_binary() else {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!(
                "no prometheus binary on PATH or at /usr/bin/prometheus: in CI it must be there \
                 (.ci/run installs Debian's prometheus package)"
            );
        }
        eprintln!(
            "SKIPPED: no prometheus binary on PATH or at /usr/bin/prometheus \
             (apt-get install prometheus, or run .ci/run)"
        );
        return;
    };

    let h = Harness::start().await;
    let dir = std::env::temp_dir().join(format!("{}-prometheus", h.unique));
    std::fs::create_dir_all(&dir).unwrap();

    // The shipped rules; for the test only, HrsyncDeadLetters and
    // HrsyncDeadLetterQueueNotEmpty fire without a pending time (`for: 0s`) — their
    // expressions are the shipped ones.
    let shipped = std::fs::read_to_string(workspace_root().join(RULES)).unwrap();
    let rules = dir.join("hrsync.rules.yml");
    std::fs::write(
        &rules,
        rules_firing_at_once(
            &shipped,
            &["HrsyncDeadLetters", "HrsyncDeadLetterQueueNotEmpty"],
        ),
    )
    .unwrap();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "{rules}"
scrape_configs:
  - job_name: hrsync
    static_configs:
      - targets: ["{worker}"]
        labels:
          namespace: {NAMESPACE}
"#,
        rules = rules.display(),
        worker = h.worker().http_addr,
    );
    let prometheus = Prometheus::start(&binary, dir, &config, &h.http).await;

    // A message that is no HR event: dead-lettered (reason invalid_event, no target).
    h.publish_raw("hr.employee.joiner", b"not json", Default::default())
        .await;
    h.wait_metric(
        "hrsync_dead_letters_total",
        r#"reason="invalid_event",target="none""#,
        1.0,
        WAIT,
    )
    .await;

    let alerts = wait_firing(&prometheus, &h.http, "HrsyncDeadLetters").await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert for one target/reason: {alerts:#?}"
    );
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["namespace"], NAMESPACE, "{labels}");
    assert_eq!(labels["job"], "hrsync", "{labels}");
    assert_eq!(labels["target"], "none", "{labels}");
    assert_eq!(labels["reason"], "invalid_event", "{labels}");
    assert_eq!(labels["severity"], "warning", "{labels}");
    assert!(
        alerts[0]["annotations"]["description"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("namespace {NAMESPACE}")),
        "{alerts:#?}"
    );

    // The letter waits in the dead-letter queue (the worker reads its depth every
    // schedule.poll_interval); taken off, the alert goes.
    let waiting = wait_firing(&prometheus, &h.http, "HrsyncDeadLetterQueueNotEmpty").await;
    assert_eq!(waiting[0]["labels"]["namespace"], NAMESPACE, "{waiting:#?}");
    assert_eq!(waiting[0]["labels"]["job"], "hrsync", "{waiting:#?}");
    let letters = h.dead_letters(1).await;
    assert_eq!(letters[0].header("x-hrsync-reason"), "invalid_event");
    eventually_every(
        Duration::from_millis(500),
        ALERT_WAIT,
        "HrsyncDeadLetterQueueNotEmpty resolved once the queue is empty",
        || async {
            match prometheus
                .firing(&h.http, "HrsyncDeadLetterQueueNotEmpty")
                .await
            {
                Ok(alerts) if alerts.is_empty() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    drop(prometheus);
    h.stop().await;
}
