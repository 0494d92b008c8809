//! User-facing settings of a SCIM 2.0 service provider, and the plugin that builds its
//! client.

use crate::event::IdShape;
use crate::secret::SecretSource;
use crate::targets::http_client::validate_base_url;
use crate::targets::{Target, TargetConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// Set to false to leave this target alone.
    #[serde(default = "ScimConfig::default_enabled")]
    pub enabled: bool,
    /// The SCIM base URL, e.g. `https://app.example.com/scim/v2`; requests go to
    /// `{base_url}/Users…`.
    pub base_url: String,
    /// The bearer token the service provider issued (a secret).
    pub token: SecretSource,
    #[schemars(with = "String")]
    #[serde(default = "ScimConfig::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// TLS: a private CA to trust, a client certificate for mutual TLS.
    #[serde(default)]
    pub tls: crate::tls::TlsConfig,
}

impl ScimConfig {
    fn default_enabled() -> bool {
        true
    }
    fn default_timeout() -> Duration {
        Duration::from_secs(30)
    }
}

impl TargetConfig for ScimConfig {
    const NAME: &'static str = "scim";
    /// `data.accounts.scim.id`: the resource id the service provider assigned.
    const ACCOUNT: (&'static str, IdShape) = ("id", IdShape::Text);
    const DEFAULT_ALLOWED_FIELDS: &'static [&'static str] = super::DEFAULT_ALLOWED_FIELDS;
    const PRIVILEGED_FIELDS: &'static [&'static str] = super::PRIVILEGED_FIELDS;
    /// A new User takes the attributes a mapping may write.
    const CREATE_FIELDS: &'static [&'static str] = super::DEFAULT_ALLOWED_FIELDS;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        validate_base_url(&format!("{prefix}.base_url"), &self.base_url, errors);
        if self.timeout.is_zero() {
            errors.push(format!("{prefix}.timeout: must be above zero"));
        }
        self.tls.validate(&format!("{prefix}.tls"), errors);
    }

    fn build(&self) -> anyhow::Result<Arc<dyn Target>> {
        use anyhow::Context;
        let token = self
            .token
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("targets.scim.token")?;
        Ok(Arc::new(
            super::ScimTarget::new(self, token).map_err(anyhow::Error::msg)?,
        ))
    }
}
