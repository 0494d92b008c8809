//! Typed configuration with layered sources: the shipped TOML file, then environment
//! variables (`HRSYNC_` prefix, `__` between levels, e.g. `HRSYNC_RABBITMQ__PREFETCH=64`),
//! then secrets resolved from files or the environment.
//!
//! Unknown keys and bad values are rejected at start-up with a message naming the key, so a
//! typo in a Kubernetes ConfigMap fails the rollout instead of silently using a default.

pub mod reference;

pub use crate::secret::{Secret, SecretSource};
pub use crate::tls::TlsConfig;

pub use crate::apply::config::{BreakerConfig, GuardConfig, RetryConfig, ScheduleConfig};
pub use crate::http::HttpConfig;
pub use crate::source::config::{RabbitMqConfig, WorkerConfig};
pub use crate::store::config::StoreConfig;
pub use crate::telemetry::{LogConfig, LogFormat};

use crate::mapping::MappingConfig;
use crate::targets::{registry, TargetConfig};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The configuration file used when neither `--config` nor `HRSYNC_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/hrsync.toml";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
    pub rabbitmq: RabbitMqConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub breaker: BreakerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub guard: GuardConfig,
    #[serde(default)]
    pub reconcile: crate::reconcile::ReconcileConfig,
    /// One section per target, each read and checked by its own plugin
    /// (`targets::registry`).
    #[schemars(schema_with = "registry::config_schema")]
    pub targets: BTreeMap<String, serde_json::Value>,
    pub mapping: MappingConfig,
}

/// A configuration that could not be loaded. Each line names where the value came from
/// (the file, or the environment variable), the key, and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Load(Vec<String>),
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// `source: key: reason` for each error figment collected.
fn describe_load_error(error: figment::Error) -> Vec<String> {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match &e.metadata {
                Some(meta) => match &meta.source {
                    Some(figment::Source::File(path)) => path.display().to_string(),
                    _ if meta.name.contains("environment") => format!(
                        "environment variable HRSYNC_{}",
                        e.path.join("__").to_uppercase()
                    ),
                    _ => meta.name.to_string(),
                },
                None => "configuration".to_string(),
            };
            if key.is_empty() {
                format!("{source}: {}", e.kind)
            } else {
                format!("{source}: {key}: {}", e.kind)
            }
        })
        .collect()
}

impl Config {
    /// Loads the file at `path`, applies `HRSYNC_*` overrides, and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed("HRSYNC_").split("__").ignore(&["config"]));
        Self::from_figment(figment).map_err(|e| match e {
            ConfigError::Invalid(errors) => ConfigError::Invalid(
                errors
                    .into_iter()
                    .map(|line| format!("{}: {line}", path.display()))
                    .collect(),
            ),
            other => other,
        })
    }

    /// Parses TOML text alone (tests and tools).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    /// The section of target `C`, read (`None` when the configuration has none).
    pub fn target<C: TargetConfig>(&self) -> Option<C> {
        let section = self.targets.get(C::NAME)?;
        serde_json::from_value(section.clone()).ok()
    }

    /// Changes the section of target `C` (tests and tools build configurations this way).
    pub fn edit_target<C: TargetConfig>(&mut self, change: impl FnOnce(&mut C)) {
        let mut config = self
            .target::<C>()
            .unwrap_or_else(|| panic!("no valid [targets.{}] to edit", C::NAME));
        change(&mut config);
        let section = serde_json::to_value(&config).expect("target configuration serialises");
        self.targets.insert(C::NAME.to_string(), section);
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(describe_load_error(e)))?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// Checks what types alone cannot: URLs, names, limits, mapping expressions and allow-lists.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.log.validate(&mut errors);
        self.worker.validate(&mut errors);
        self.rabbitmq.validate(&self.worker, &mut errors);
        self.retry.validate(&mut errors);
        self.schedule.validate(&mut errors);
        self.guard.validate(&mut errors);
        self.reconcile.validate(&mut errors);
        self.store.validate(&mut errors);
        registry::check(&self.targets, &mut errors);
        if let Err(mapping_errors) = crate::mapping::Mapper::new(&self.mapping) {
            errors.extend(mapping_errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests;
