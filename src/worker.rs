//! Wires the worker together from a validated configuration: secrets, target clients,
//! mapping, metrics, the HTTP endpoints and the consumer — and runs until shutdown.
//! Tests call [`Worker::start`] in-process with their own config and listener.

use crate::apply::Applier;
use crate::config::Config;
use crate::http::{self, Health};
use crate::mapping::Mapper;
use crate::metrics::Metrics;
use crate::source::consumer::Consumer;
use crate::target::sitevault::SiteVaultTarget;
use crate::target::superoffice::SuperOfficeTarget;
use crate::target::vault::VaultTarget;
use crate::target::Target;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running worker.
pub struct Worker {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    consumer: JoinHandle<()>,
    server: JoinHandle<()>,
}

/// Builds the target clients the configuration enables, resolving their secrets.
pub fn build_targets(config: &Config) -> anyhow::Result<Vec<Arc<dyn Target>>> {
    let mut targets: Vec<Arc<dyn Target>> = Vec::new();
    if let Some(vault) = config.targets.vault.as_ref().filter(|c| c.enabled) {
        let password = vault
            .password
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("targets.vault.password")?;
        targets.push(Arc::new(VaultTarget::new(vault.clone(), password)));
    }
    if let Some(sitevault) = config.targets.sitevault.as_ref().filter(|c| c.enabled) {
        let password = sitevault
            .password
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("targets.sitevault.password")?;
        targets.push(Arc::new(SiteVaultTarget::new(sitevault.clone(), password)));
    }
    if let Some(superoffice) = config.targets.superoffice.as_ref().filter(|c| c.enabled) {
        let authorization = superoffice
            .auth
            .header_value()
            .map_err(anyhow::Error::msg)
            .context("targets.superoffice.auth")?;
        let app_token = superoffice
            .app_token
            .as_ref()
            .map(|t| t.resolve())
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("targets.superoffice.app_token")?;
        targets.push(Arc::new(SuperOfficeTarget::new(
            superoffice,
            authorization,
            app_token,
        )));
    }
    Ok(targets)
}

/// Builds the applier (mapping + targets + retry policy) for a configuration.
pub fn build_applier(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Applier> {
    let mapper = Mapper::new(&config.mapping)
        .map_err(|errors| anyhow::anyhow!("invalid mapping:\n  {}", errors.join("\n  ")))?;
    Ok(Applier::new(
        build_targets(config)?,
        mapper,
        config.retry.clone(),
        metrics,
    ))
}

impl Worker {
    /// Starts the HTTP endpoints on `listener` and the consumer.
    pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Worker> {
        let metrics = Arc::new(Metrics::new());
        let applier = Arc::new(build_applier(&config, metrics.clone())?);
        let health = Arc::new(Health::new(applier.targets().to_vec()));
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
        let consumer = Consumer {
            rabbitmq: config.rabbitmq.clone(),
            worker: config.worker.clone(),
            password,
            applier,
            metrics: metrics.clone(),
            health: health.clone(),
        };
        let consumer_stop = shutdown.clone();
        let consumer = tokio::spawn(async move { consumer.run(consumer_stop).await });
        tracing::info!(http = %http_addr, "hrsync worker started");
        Ok(Worker {
            metrics,
            health,
            http_addr,
            shutdown,
            consumer,
            server,
        })
    }

    /// Stops taking messages, lets in-flight ones finish within the grace period, closes.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.consumer.await;
        let _ = self.server.await;
        tracing::info!("hrsync worker stopped");
    }
}
