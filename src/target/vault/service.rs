//! The Vault client: reads the user, then writes only what differs, with the shared Vault
//! session.

use super::request_builder::{changed_fields, retrieve_user, update_user};
use super::VaultConfig;
use crate::config::Secret;
use crate::target::veeva_session::VeevaSession;
use crate::target::{Applied, Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;
use serde_json::{Map, Value};

pub struct VaultTarget {
    session: VeevaSession,
}

impl VaultTarget {
    pub fn new(config: VaultConfig, password: Secret) -> Self {
        VaultTarget {
            session: VeevaSession::new(config, password),
        }
    }

    fn api_version(&self) -> &str {
        &self.session.config().api_version
    }

    async fn current(&self, change: &Change) -> Result<Map<String, Value>, TargetError> {
        let answer = self
            .session
            .send(retrieve_user(self.api_version(), change)?, &change.event_id)
            .await?;
        answer
            .pointer("/users/0/user")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| {
                TargetError::transient("bad_response", "retrieve user: no users[0].user")
            })
    }
}

#[async_trait]
impl Target for VaultTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Vault
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        let current = self.current(change).await?;
        let changed = changed_fields(&current, &change.fields)?;
        if changed.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let request = update_user(self.api_version(), change, &changed)?;
        self.session.send(request, &change.event_id).await?;
        Ok(Applied::Changed(changed.keys().cloned().collect()))
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![
            retrieve_user(self.api_version(), change)?,
            update_user(self.api_version(), change, &change.fields)?,
        ])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }

    fn rate_limit_remaining(&self) -> Option<i64> {
        self.session.burst_remaining()
    }
}
