//! The SiteVault client: sends only the blocks that differ from what hrsync last applied
//! (SiteVault documents no way to read a person back), with the shared Vault session.

use super::request_builder::{changed_body, edit_person};
use crate::secret::Secret;
use crate::targets::vault::VaultConfig;
use crate::targets::veeva_session::VeevaSession;
use crate::targets::{Applied, Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;

pub struct SiteVaultTarget {
    session: VeevaSession,
}

impl SiteVaultTarget {
    pub fn new(config: VaultConfig, password: Secret) -> Result<Self, String> {
        Ok(SiteVaultTarget {
            session: VeevaSession::new(config, password, "targets.sitevault")?,
        })
    }

    fn api_version(&self) -> &str {
        &self.session.config().api_version
    }
}

#[async_trait]
impl Target for SiteVaultTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::named(<super::SiteVaultConfig as crate::targets::TargetConfig>::NAME)
            .expect("registered")
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        let Some((body, changed)) = changed_body(change.previous.as_ref(), &change.fields) else {
            return Ok(Applied::Unchanged);
        };
        let request = edit_person(self.api_version(), change, &body)?;
        self.session.send(request, &change.event_id).await?;
        Ok(Applied::Changed(changed))
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        // As the first write for the person: the whole mapped state.
        let body = changed_body(None, &change.fields)
            .map(|(body, _)| body)
            .unwrap_or_default();
        Ok(vec![edit_person(self.api_version(), change, &body)?])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }

    fn rate_limit_remaining(&self) -> Option<i64> {
        self.session.burst_remaining()
    }
}
