//! The Vault client: sends built requests with the shared Vault session.

use super::request_builder::update_user;
use super::VaultConfig;
use crate::config::Secret;
use crate::target::veeva_session::VeevaSession;
use crate::target::{Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;

pub struct VaultTarget {
    session: VeevaSession,
}

impl VaultTarget {
    pub fn new(config: VaultConfig, password: Secret) -> Self {
        VaultTarget {
            session: VeevaSession::new(config, password),
        }
    }
}

#[async_trait]
impl Target for VaultTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Vault
    }

    async fn apply(&self, change: &Change) -> Result<(), TargetError> {
        let request = update_user(&self.session.config().api_version, change)?;
        self.session.send(request, &change.event_id).await.map(drop)
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![update_user(
            &self.session.config().api_version,
            change,
        )?])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }
}
