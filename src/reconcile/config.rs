//! `[reconcile]`: what reconciliation leaves out.

use regex::Regex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Accounts whose user name or e-mail matches this regular expression are never
    /// orphans: system, integration and service users no HR record owns.
    pub exclude_accounts: Option<String>,
    /// A target that lists fewer accounts than this share of its last successful run's
    /// (0.5: half) aborts the run: a broken read must never look like mass leaving.
    pub min_share: f64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            exclude_accounts: Some(r"^(hrsync|system|integration|svc)[._@-]".into()),
            min_share: 0.5,
        }
    }
}

impl ReconcileConfig {
    pub fn exclude_pattern(&self) -> anyhow::Result<Option<Regex>> {
        self.exclude_accounts
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("reconcile.exclude_accounts: {e}"))
    }

    pub fn validate(&self, errors: &mut Vec<String>) {
        if let Err(e) = self.exclude_pattern() {
            errors.push(e.to_string());
        }
        if !(0.0..=1.0).contains(&self.min_share) {
            errors.push("reconcile.min_share: must be between 0 and 1".into());
        }
    }
}
