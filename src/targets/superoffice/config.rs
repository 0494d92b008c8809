//! User-facing settings of the SuperOffice connection and their validation.

use crate::secret::{Secret, SecretSource};
use crate::targets::http_client::validate_base_url;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuperOfficeConfig {
    /// Set to false to leave this target alone.
    #[serde(default = "SuperOfficeConfig::default_enabled")]
    pub enabled: bool,
    /// The tenant's WebAPI root, e.g. `https://online.superoffice.com/Cust12345`;
    /// requests go to `{base_url}/api/v1/…`.
    pub base_url: String,
    pub auth: SuperOfficeAuth,
    /// `SO-AppToken` (the app's client secret), needed by SuperOffice Online.
    pub app_token: Option<SecretSource>,
    /// SuperOffice asks apps to stay under 10 calls per second.
    #[serde(default = "SuperOfficeConfig::default_rate_limit")]
    pub rate_limit_per_second: u32,
    #[schemars(with = "String")]
    #[serde(
        default = "SuperOfficeConfig::default_timeout",
        with = "humantime_serde"
    )]
    pub timeout: Duration,
    /// How a leaver is retired: `make_retired` (`POST Agents/User/MakeRetired`, which also
    /// removes licences) or `deleted_flag` (`Deleted = true` by the mapping).
    #[serde(default)]
    pub leaver: LeaverMode,
    /// After SuperOffice rejects the credentials (401, 403, or 421 for the wrong tenant),
    /// no call is made for this long: a retry loop would lock the integration user out.
    /// The events wait meanwhile (parked), and apply once the credentials work.
    #[schemars(with = "String")]
    #[serde(
        default = "SuperOfficeConfig::default_login_cooldown",
        with = "humantime_serde"
    )]
    pub login_cooldown: Duration,
    /// TLS: a private CA to trust, a client certificate for mutual TLS.
    #[serde(default)]
    pub tls: crate::tls::TlsConfig,
    /// The owner company ("Our companies") new users' persons are created under; needed
    /// only when `[mapping.superoffice.create]` is set. SuperOffice requires a user's
    /// person to belong to one.
    #[serde(default)]
    pub owner_contact_id: Option<i64>,
}

/// How SuperOffice leavers are retired.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum LeaverMode {
    #[default]
    MakeRetired,
    DeletedFlag,
}

/// How hrsync authenticates to SuperOffice.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "scheme", rename_all = "lowercase", deny_unknown_fields)]
pub enum SuperOfficeAuth {
    /// Onsite installations.
    Basic {
        username: String,
        password: SecretSource,
    },
    /// SuperOffice Online access token.
    Bearer { token: SecretSource },
    /// A system-user ticket (`SOTicket 7T:…`).
    Soticket { ticket: SecretSource },
}

impl SuperOfficeAuth {
    /// The `Authorization` header value.
    pub fn header_value(&self) -> Result<Secret, String> {
        use base64::Engine as _;
        Ok(match self {
            SuperOfficeAuth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.resolve()?.expose());
                Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            SuperOfficeAuth::Bearer { token } => {
                Secret::new(format!("Bearer {}", token.resolve()?.expose()))
            }
            SuperOfficeAuth::Soticket { ticket } => {
                Secret::new(format!("SOTicket {}", ticket.resolve()?.expose()))
            }
        })
    }
}

impl crate::targets::TargetConfig for SuperOfficeConfig {
    const NAME: &'static str = "superoffice";
    const ACCOUNT: (&'static str, crate::event::IdShape) =
        ("associate_id", crate::event::IdShape::Numeric);
    const DEFAULT_ALLOWED_FIELDS: &'static [&'static str] = super::DEFAULT_ALLOWED_FIELDS;
    const PRIVILEGED_FIELDS: &'static [&'static str] = super::PRIVILEGED_FIELDS;
    const CREATE_FIELDS: &'static [&'static str] = super::CREATE_FIELDS;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        SuperOfficeConfig::validate(self, prefix, errors);
    }

    fn build(&self) -> anyhow::Result<std::sync::Arc<dyn crate::targets::Target>> {
        use anyhow::Context;
        let authorization = self
            .auth
            .header_value()
            .map_err(anyhow::Error::msg)
            .context("targets.superoffice.auth")?;
        let app_token = self
            .app_token
            .as_ref()
            .map(|t| t.resolve())
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("targets.superoffice.app_token")?;
        Ok(std::sync::Arc::new(
            super::SuperOfficeTarget::new(self, authorization, app_token)
                .map_err(anyhow::Error::msg)?,
        ))
    }
}

impl SuperOfficeConfig {
    fn default_enabled() -> bool {
        true
    }
    fn default_rate_limit() -> u32 {
        10
    }
    fn default_timeout() -> Duration {
        Duration::from_secs(30)
    }
    fn default_login_cooldown() -> Duration {
        Duration::from_secs(15 * 60)
    }

    pub fn validate(&self, prefix: &str, errors: &mut Vec<String>) {
        validate_base_url(&format!("{prefix}.base_url"), &self.base_url, errors);
        self.tls.validate(&format!("{prefix}.tls"), errors);
        if self.rate_limit_per_second == 0 {
            errors.push(format!(
                "{prefix}.rate_limit_per_second: must be at least 1"
            ));
        }
        if let SuperOfficeAuth::Basic { username, .. } = &self.auth {
            if username.is_empty() || username.contains(':') {
                errors.push(format!(
                    "{prefix}.auth.username: must be non-empty and contain no ':'"
                ));
            }
        }
        if self.timeout.is_zero() {
            errors.push(format!("{prefix}.timeout: must be above zero"));
        }
    }
}
