//! The real `hrsync` binary as a child process, for what only a process shows: SIGKILL and
//! SIGTERM mid-batch, several workers on shard queues, the log a real run writes.
//!
//! A process runs the *shipped* `config/hrsync.toml` unchanged; the harness's names,
//! store, simulator and short test delays reach it as `HRSYNC_*` environment variables —
//! the same overrides an operator uses in a Kubernetes manifest, so these tests also prove
//! that path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::metric;
use crate::{eventually, eventually_every, Harness, WAIT};

/// The workspace's root folder: the shipped configuration, secrets and examples live here,
/// and worker processes run here.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The `hrsync` binary: `HRSYNC_BIN`, or the one Cargo built beside the running test (a
/// test binary lives in `target/<profile>/deps/`, the binaries one level up).
pub fn worker_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HRSYNC_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the running test's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary in target/<profile>/deps");
    let binary = profile.join(format!("hrsync{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} not built: run the tests with cargo, or set HRSYNC_BIN",
        binary.display()
    );
    binary
}

/// A worker process running the real binary with this harness's names. Killed when
/// dropped: a test that panics must not leave a consumer behind that skews the next run.
pub struct WorkerProcess {
    pub child: Child,
    /// Its `/metrics` and `/readyz` base URL.
    pub http: String,
    /// Its stderr (the log).
    pub log: PathBuf,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Harness {
    /// The `HRSYNC_*` overrides that give a process this harness's configuration — its
    /// names, store, simulator and delays, builder changes included — serving `/metrics`
    /// on `http_port` (0: any). Concurrency 16 and a 10 s shutdown grace give the SIGKILL
    /// and SIGTERM tests messages in flight and time to finish them.
    pub fn worker_env(&self, http_port: u16) -> Vec<(String, String)> {
        let config = &self.config;
        let rabbit = &config.rabbitmq;
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let deferrals: Vec<String> = config
            .retry
            .deferral_delays
            .iter()
            .map(|d| ms(**d))
            .collect();
        let superoffice_rate = config
            .target::<crate::SuperOfficeConfig>()
            .expect("a [targets.superoffice] section")
            .rate_limit_per_second;
        let env: Vec<(&str, String)> = vec![
            ("RABBITMQ__URL", rabbit.url.clone()),
            ("RABBITMQ__EXCHANGE", rabbit.exchange.clone()),
            ("RABBITMQ__QUEUE", rabbit.queue.clone()),
            (
                "RABBITMQ__DEAD_LETTER_EXCHANGE",
                rabbit.dead_letter_exchange.clone(),
            ),
            (
                "RABBITMQ__DEAD_LETTER_QUEUE",
                rabbit.dead_letter_queue.clone(),
            ),
            ("RABBITMQ__CONNECTION_NAME", rabbit.connection_name.clone()),
            ("RABBITMQ__SHARDS", rabbit.shards.to_string()),
            (
                "RABBITMQ__RECONNECT_MAX_DELAY",
                ms(rabbit.reconnect_max_delay),
            ),
            ("STORE__URL", config.store.url.clone()),
            ("HTTP__LISTEN", format!("127.0.0.1:{http_port}")),
            ("WORKER__CONCURRENCY", "16".into()),
            ("WORKER__SHUTDOWN_GRACE", "10s".into()),
            ("RETRY__INITIAL_DELAY", ms(config.retry.initial_delay)),
            ("RETRY__MAX_DELAY", ms(config.retry.max_delay)),
            (
                "RETRY__DEFERRAL_DELAYS",
                format!("[{}]", deferrals.join(", ")),
            ),
            ("RETRY__PARK_DELAY", ms(config.retry.park_delay)),
            ("SCHEDULE__POLL_INTERVAL", ms(config.schedule.poll_interval)),
            ("TARGETS__VAULT__BASE_URL", self.sim_url.clone()),
            ("TARGETS__SITEVAULT__BASE_URL", self.sim_url.clone()),
            ("TARGETS__SUPEROFFICE__BASE_URL", self.sim_url.clone()),
            (
                "TARGETS__SUPEROFFICE__RATE_LIMIT_PER_SECOND",
                superoffice_rate.to_string(),
            ),
            (
                "TARGETS__SCIM__BASE_URL",
                format!("{}/api/scim/v2", self.sim_url),
            ),
        ];
        env.into_iter()
            .map(|(key, value)| (format!("HRSYNC_{key}"), value))
            .collect()
    }

    /// `hrsync --config <shipped> run` in the workspace root with [`Harness::worker_env`] and
    /// no other `HRSYNC_*` variable of the test's environment.
    pub fn worker_command(&self, http_port: u16) -> Command {
        let mut command = self.hrsync_command(&["run"]);
        command.envs(self.worker_env(http_port));
        command
    }

    /// `hrsync --config <shipped> ARGS…` (any subcommand) configured for this harness like
    /// its worker processes.
    pub fn hrsync_command(&self, args: &[&str]) -> Command {
        let root = workspace_root();
        let mut command = Command::new(worker_binary());
        command
            .args([
                "--config".as_ref(),
                root.join("config/hrsync.toml").as_os_str(),
            ])
            .args(args)
            .current_dir(&root);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HRSYNC_") {
                command.env_remove(key);
            }
        }
        command.envs(self.worker_env(0));
        command
    }

    /// Starts `hrsync run` as a child process and waits until it is ready.
    pub async fn spawn_worker(&self, name: &str) -> WorkerProcess {
        self.spawn_worker_with_env(name, &[]).await
    }

    /// [`Harness::spawn_worker`] with extra environment variables (more `HRSYNC_*`
    /// overrides, `RUST_LOG`); they win over the harness's.
    pub async fn spawn_worker_with_env(&self, name: &str, env: &[(&str, &str)]) -> WorkerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("{}-proc", self.unique));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = self
            .worker_command(port)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let process = WorkerProcess {
            child,
            http: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready = format!("worker process {name} ready");
        eventually(WAIT, &ready, || async {
            match self
                .http
                .get(format!("{}/readyz", process.http))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                _ => Err(std::fs::read_to_string(&process.log).unwrap_or_default()),
            }
        })
        .await;
        process
    }

    /// A sample of a worker process's `/metrics` (0 when it does not answer).
    pub async fn process_metric(&self, process: &WorkerProcess, name: &str, labels: &str) -> f64 {
        match self
            .http
            .get(format!("{}/metrics", process.http))
            .send()
            .await
        {
            Ok(response) => metric(&response.text().await.unwrap_or_default(), name, labels),
            Err(_) => 0.0,
        }
    }

    /// Changes the process applied to `target` so far.
    pub async fn process_applied(&self, process: &WorkerProcess, target: &str) -> f64 {
        let labels = format!(r#"outcome="applied",target="{target}""#);
        self.process_metric(process, "hrsync_target_outcomes_total", &labels)
            .await
    }

    /// Waits until every queue is empty and the process holds no message, three looks in
    /// a row 200 ms apart.
    pub async fn wait_process_idle(&self, process: &WorkerProcess, within: Duration) {
        let quiet = std::cell::Cell::new(0);
        let every = Duration::from_millis(200);
        eventually_every(every, within, "worker process idle", || async {
            let depth = self.pending().await;
            let held = self
                .process_metric(process, "hrsync_events_in_flight", "")
                .await;
            let idle = depth == 0 && held == 0.0;
            quiet.set(if idle { quiet.get() + 1 } else { 0 });
            if quiet.get() >= 3 {
                Ok(())
            } else {
                Err(format!("depth {depth}, held {held}"))
            }
        })
        .await
    }

    /// Stops a worker process with SIGTERM and waits for it (SIGKILL after [`WAIT`]).
    pub async fn stop_process(&self, mut process: WorkerProcess) {
        let _ = Command::new("kill")
            .args(["-TERM", &process.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + WAIT;
        while process.child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // One that ignored SIGTERM is killed as `process` drops here.
    }
}
