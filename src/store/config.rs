//! The state store's settings (`[store]`) and their validation.

use crate::secret::SecretSource;
use serde::Deserialize;
use std::time::Duration;

/// The state store: SQLite for one replica, PostgreSQL when several share it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/hrsync.db` or `postgres://user@host/db` (a password belongs in
    /// `password`, not here).
    pub url: String,
    /// The PostgreSQL password (a secret), if the server needs one.
    pub password: Option<SecretSource>,
    /// How long processed event ids are remembered for dedupe.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often processed event ids past the retention are deleted.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://data/hrsync.db".into(),
            password: None,
            retention: Duration::from_secs(30 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

impl StoreConfig {
    pub fn validate(&self, errors: &mut Vec<String>) {
        let url = &self.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            errors.push("store.url: must start with sqlite: or postgres://".into());
        } else if url.starts_with("postgres")
            && url
                .split('@')
                .next()
                .is_some_and(|userinfo| userinfo.matches(':').count() > 1)
        {
            errors.push("store.url: must not contain a password; use store.password".into());
        }
    }
}
