//! Wires the worker together from a validated configuration: secrets, target clients,
//! mapping, metrics, the HTTP endpoints and the consumer — and runs until shutdown.
//! Tests call [`Worker::start`] in-process with their own config and listener.

use crate::apply::gate::Gate;
use crate::apply::{Applier, ApplierParts};
use crate::config::Config;
use crate::http::{self, Health};
use crate::mapping::Mapper;
use crate::metrics::Metrics;
use crate::source::consumer::Consumer;
use crate::store::Store;
use crate::targets::Target;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running worker.
pub struct Worker {
    pub metrics: Arc<Metrics>,
    pub applier: Arc<Applier>,
    pub health: Arc<Health>,
    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    pub http_addr: SocketAddr,
    /// The broker, for [`Worker::drained`].
    rabbitmq: crate::source::config::RabbitMqConfig,
    password: crate::secret::Secret,
    shutdown: CancellationToken,
    consumer: JoinHandle<()>,
    server: JoinHandle<()>,
    pruner: JoinHandle<()>,
    releaser: JoinHandle<()>,
    store_prober: JoinHandle<()>,
}

/// Forgets processed event ids older than the retention, every `prune_interval`.
async fn prune_forever(
    store: Store,
    config: crate::store::config::StoreConfig,
    shutdown: CancellationToken,
) {
    let retention = time::Duration::try_from(config.retention).unwrap_or(time::Duration::days(30));
    loop {
        match store.prune(retention).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "pruned processed-event records past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning the state store failed; will try again"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.prune_interval) => {}
        }
    }
}

/// Builds the target clients the configuration enables, resolving their secrets.
pub fn build_targets(config: &Config) -> anyhow::Result<Vec<Arc<dyn Target>>> {
    crate::targets::registry::build(&config.targets)
}

/// Opens the state store (running its migrations).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let mut url = config.store.url.clone();
    if let Some(password) = &config.store.password {
        let password = password
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("store.password")?;
        url = with_password(&url, password.expose())?;
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("store.url: cannot create {}", dir.display()))?;
        }
    }
    Store::connect(&url)
        .await
        .context("store.url: cannot open the state store")
}

/// Opens the state store for the worker and proves it can record: a worker must not
/// consume (and so change targets) with a store it cannot write to.
pub async fn open_writable_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store(config).await?;
    store.probe_write().await.with_context(|| {
        format!(
            "store.url: the {} state store cannot be written (read-only file or folder, \
             full disk, or no write permission); hrsync will not consume without it",
            store.backend()
        )
    })?;
    Ok(store)
}

/// `postgres://user@host/db` + password → the URL with the password set (percent-encoded).
fn with_password(url: &str, password: &str) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).context("store.url: not a URL")?;
    parsed
        .set_password(Some(password))
        .map_err(|_| anyhow::anyhow!("store.url: cannot carry a password"))?;
    Ok(parsed.into())
}

/// Builds the applier (mapping + targets + retry policy + store) for a configuration.
pub fn build_applier(
    config: &Config,
    store: Store,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Applier> {
    let mapper = Mapper::new(&config.mapping)
        .map_err(|errors| anyhow::anyhow!("invalid mapping:\n  {}", errors.join("\n  ")))?;
    let gate =
        Gate::new(config.schedule.clone(), config.guard.clone()).map_err(anyhow::Error::msg)?;
    Ok(Applier::new(ApplierParts {
        targets: build_targets(config)?,
        mapper,
        retry: config.retry.clone(),
        breaker: config.breaker.clone(),
        gate,
        store,
        metrics,
    }))
}

impl Worker {
    /// Starts the HTTP endpoints on `listener` and the consumer.
    pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Worker> {
        let metrics = Arc::new(Metrics::new());
        let store = open_writable_store(&config).await?;
        let applier = Arc::new(build_applier(&config, store.clone(), metrics.clone())?);
        let target_names: Vec<&str> = applier
            .targets()
            .iter()
            .map(|t| t.kind().as_str())
            .collect();
        metrics.initialize(&target_names);
        let health = Arc::new(Health::new(applier.clone()));
        let applier_handle = applier.clone();
        let password = config
            .rabbitmq
            .password
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("rabbitmq.password")?;
        let shutdown = CancellationToken::new();
        let http_addr = listener.local_addr()?;
        let router = http::router(health.clone(), metrics.clone());
        let server_stop = shutdown.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { server_stop.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP endpoint failed");
            }
        });
        let store_prober = {
            let store = store.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { store.probe_while_failing(shutdown).await })
        };
        let pruner = tokio::spawn(prune_forever(
            store.clone(),
            config.store.clone(),
            shutdown.clone(),
        ));
        let releaser = tokio::spawn(crate::source::release::release_due_forever(
            config.rabbitmq.clone(),
            password.clone(),
            config.schedule.clone(),
            store,
            target_names.iter().map(|t| t.to_string()).collect(),
            metrics.clone(),
            shutdown.clone(),
        ));
        let consumer = Consumer {
            rabbitmq: config.rabbitmq.clone(),
            worker: config.worker.clone(),
            retry: config.retry.clone(),
            connection_name: config.rabbitmq.connection_name.clone(),
            password: password.clone(),
            applier,
            metrics: metrics.clone(),
            health: health.clone(),
        };
        let consumer_stop = shutdown.clone();
        let consumer = tokio::spawn(async move { consumer.run(consumer_stop).await });
        tracing::info!(http = %http_addr, "hrsync worker started");
        Ok(Worker {
            metrics,
            applier: applier_handle,
            health,
            http_addr,
            rabbitmq: config.rabbitmq.clone(),
            password,
            shutdown,
            consumer,
            server,
            pruner,
            releaser,
            store_prober,
        })
    }

    /// Resolves once nothing is left to do now, for `hrsync run --once`: the worker is
    /// consuming, its work queue (and shard queues) hold no message and none is in
    /// flight — at two looks 250 ms apart, since a message on its way from the broker to
    /// an employee's lane shows in neither for a moment. Messages waiting in the
    /// delayed-retry queues and changes scheduled for a later day are not waited for:
    /// they are durable, and the next run (or the long-running worker) takes them.
    pub async fn drained(&self) -> anyhow::Result<()> {
        let name = format!("{}-drain", self.rabbitmq.connection_name);
        let connection = crate::source::connect(&self.rabbitmq, &self.password, &name).await?;
        let channel = connection.create_channel().await?;
        // With shards, also the work queue their router reads from.
        let mut queues = crate::source::topology::work_queues(&self.rabbitmq);
        if self.rabbitmq.shards > 0 {
            queues.push(self.rabbitmq.queue.clone());
        }
        let mut idle_before = false;
        loop {
            let mut depth = 0;
            for queue in &queues {
                depth += channel
                    .queue_declare(
                        queue.as_str().into(),
                        lapin::options::QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        Default::default(),
                    )
                    .await
                    .with_context(|| format!("cannot read the depth of {queue}"))?
                    .message_count();
            }
            let idle = depth == 0
                && self.metrics.in_flight.get() == 0
                && self.metrics.consuming.get() == 1;
            if idle && idle_before {
                let _ = connection.close(200, "drained".into()).await;
                return Ok(());
            }
            idle_before = idle;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Stops taking messages, lets in-flight ones finish within the grace period, closes.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.consumer.await;
        let _ = self.server.await;
        let _ = self.pruner.await;
        let _ = self.releaser.await;
        let _ = self.store_prober.await;
        tracing::info!("hrsync worker stopped");
    }
}
