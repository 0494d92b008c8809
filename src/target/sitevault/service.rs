//! The SiteVault client: the Vault session and answer parsing, SiteVault's endpoint.

use super::request_builder::edit_person;
use super::SiteVaultConfig;
use crate::config::Secret;
use crate::target::veeva_session::VeevaSession;
use crate::target::{Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;

pub struct SiteVaultTarget {
    session: VeevaSession,
}

impl SiteVaultTarget {
    pub fn new(config: SiteVaultConfig, password: Secret) -> Self {
        SiteVaultTarget {
            session: VeevaSession::new(config, password),
        }
    }
}

#[async_trait]
impl Target for SiteVaultTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::SiteVault
    }

    async fn apply(&self, change: &Change) -> Result<(), TargetError> {
        let request = edit_person(&self.session.config().api_version, change)?;
        self.session.send(request, &change.event_id).await.map(drop)
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![edit_person(
            &self.session.config().api_version,
            change,
        )?])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }
}
