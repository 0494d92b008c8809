//! The SiteVault client: reads the person, sends only the blocks that differ, with the
//! shared Vault session.

use super::request_builder::{changed_body, edit_person, retrieve_person};
use super::SiteVaultConfig;
use crate::config::Secret;
use crate::target::veeva_session::VeevaSession;
use crate::target::{Applied, Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;
use serde_json::Value;

pub struct SiteVaultTarget {
    session: VeevaSession,
}

impl SiteVaultTarget {
    pub fn new(config: SiteVaultConfig, password: Secret) -> Self {
        SiteVaultTarget {
            session: VeevaSession::new(config, password),
        }
    }

    fn api_version(&self) -> &str {
        &self.session.config().api_version
    }
}

#[async_trait]
impl Target for SiteVaultTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::SiteVault
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        let answer = self
            .session
            .send(
                retrieve_person(self.api_version(), change)?,
                &change.event_id,
            )
            .await?;
        let current = answer.get("data").cloned().unwrap_or(Value::Null);
        let Some((body, changed)) = changed_body(&current, &change.fields) else {
            return Ok(Applied::Unchanged);
        };
        let request = edit_person(self.api_version(), change, &body)?;
        self.session.send(request, &change.event_id).await?;
        Ok(Applied::Changed(changed))
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![
            retrieve_person(self.api_version(), change)?,
            edit_person(self.api_version(), change, &change.fields)?,
        ])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }

    fn rate_limit_remaining(&self) -> Option<i64> {
        self.session.burst_remaining()
    }
}
