//! User-facing settings of a Veeva Vault connection, shared by Vault and SiteVault (a
//! SiteVault is a Vault with the SiteVault application), and their validation.

use crate::event::IdShape;
use crate::secret::SecretSource;
use crate::targets::http_client::validate_base_url;
use crate::targets::Target;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Set to false to leave this target alone.
    #[serde(default = "VaultConfig::default_enabled")]
    pub enabled: bool,
    /// `https://myvault.veevavault.com` (no `/api` suffix).
    pub base_url: String,
    /// Vault API version used in request paths, e.g. `v24.1`.
    #[serde(default = "VaultConfig::default_api_version")]
    pub api_version: String,
    /// The integration user's login name.
    pub username: String,
    /// The integration user's password (a secret).
    pub password: SecretSource,
    /// The Vault this worker must act on. Vault can answer a login with a session for
    /// another of the user's Vaults; such a session is refused.
    pub vault_id: u64,
    /// Sent as `X-VaultAPI-ClientID` so Vault's API usage logs name hrsync.
    #[serde(default = "VaultConfig::default_client_id")]
    pub client_id: String,
    /// Per-request timeout.
    #[schemars(with = "String")]
    #[serde(default = "VaultConfig::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// After Vault rejects the credentials, no login is tried again for this long
    /// (repeated failed logins lock the account).
    #[schemars(with = "String")]
    #[serde(
        default = "VaultConfig::default_login_cooldown",
        with = "humantime_serde"
    )]
    pub login_cooldown: Duration,
    /// When Vault reports fewer calls than this left in its burst window, hrsync slows
    /// down (`burst_pause` before each call) instead of running into the limit, where
    /// Vault delays every response for the rest of the window.
    #[serde(default = "VaultConfig::default_burst_reserve")]
    pub burst_reserve: u32,
    #[schemars(with = "String")]
    #[serde(default = "VaultConfig::default_burst_pause", with = "humantime_serde")]
    pub burst_pause: Duration,
    /// Coalescing movers and leavers into bulk updates (Vault only).
    #[serde(default)]
    pub bulk: BulkConfig,
    /// TLS: a private CA to trust, a client certificate for mutual TLS.
    #[serde(default)]
    pub tls: crate::tls::TlsConfig,
}

/// Vault bulk updates: movers and leavers waiting at the same time go out as one
/// `PUT /api/{version}/objects/users` (at most 500 rows), instead of one call each — a
/// 10,000-person reorganisation takes 20 calls, not 10,000. In bulk mode a change is
/// diffed against what hrsync last applied (the state store) rather than a fresh read,
/// since a read per user would cost the calls bulk saves.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    pub enabled: bool,
    /// Rows per call (Vault allows at most 500).
    pub max_rows: usize,
    /// How long the first change of a batch waits for others to join it.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            enabled: false,
            max_rows: 500,
            max_wait: Duration::from_millis(200),
        }
    }
}

impl crate::targets::TargetConfig for VaultConfig {
    const NAME: &'static str = "vault";
    const ACCOUNT: (&'static str, IdShape) = ("user_id", IdShape::Numeric);
    const DEFAULT_ALLOWED_FIELDS: &'static [&'static str] = super::DEFAULT_ALLOWED_FIELDS;
    const PRIVILEGED_FIELDS: &'static [&'static str] = super::PRIVILEGED_FIELDS;
    const CREATE_FIELDS: &'static [&'static str] = super::CREATE_FIELDS;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        VaultConfig::validate(self, prefix, errors);
    }

    fn build(&self) -> anyhow::Result<Arc<dyn Target>> {
        let password = self.resolve_password("targets.vault")?;
        Ok(Arc::new(
            super::VaultTarget::new(self.clone(), password).map_err(anyhow::Error::msg)?,
        ))
    }
}

impl VaultConfig {
    /// The integration user's password, resolved (a start-up error names `prefix`).
    pub fn resolve_password(&self, prefix: &str) -> anyhow::Result<crate::secret::Secret> {
        use anyhow::Context;
        self.password
            .resolve()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{prefix}.password"))
    }

    fn default_enabled() -> bool {
        true
    }
    fn default_api_version() -> String {
        "v24.1".into()
    }
    fn default_client_id() -> String {
        "hrsync".into()
    }
    fn default_timeout() -> Duration {
        Duration::from_secs(30)
    }
    fn default_burst_reserve() -> u32 {
        100
    }
    fn default_burst_pause() -> Duration {
        Duration::from_millis(500)
    }
    fn default_login_cooldown() -> Duration {
        Duration::from_secs(15 * 60)
    }

    /// Records every problem under `prefix` (e.g. `targets.vault`).
    pub fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        validate_base_url(&format!("{prefix}.base_url"), &self.base_url, errors);
        self.tls.validate(&format!("{prefix}.tls"), errors);
        if !is_api_version(&self.api_version) {
            errors.push(format!(
                "{prefix}.api_version: must look like v24.1, got {:?}",
                self.api_version
            ));
        }
        if self.username.trim().is_empty() {
            errors.push(format!("{prefix}.username: must not be empty"));
        }
        let client_id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 100
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !client_id_ok {
            errors.push(format!(
                "{prefix}.client_id: 1-100 letters, digits, '.', '_' or '-'"
            ));
        }
        if self.timeout.is_zero() {
            errors.push(format!("{prefix}.timeout: must be above zero"));
        }
        if !(1..=500).contains(&self.bulk.max_rows) {
            errors.push(format!(
                "{prefix}.bulk.max_rows: must be 1-500 (Vault's limit)"
            ));
        }
    }
}

fn is_api_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let major_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let minor_ok = parts
        .next()
        .is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    major_ok && minor_ok && parts.next().is_none()
}
