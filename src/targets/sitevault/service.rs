//! The SiteVault client: sends only the blocks that differ from what hrsync last applied
//! (SiteVault documents no way to read a person back), with the shared Vault session.

use super::request_builder::{answered_person_id, changed_body, create_person, edit_person};
use crate::secret::Secret;
use crate::targets::vault::find_records;
use crate::targets::vault::VaultConfig;
use crate::targets::veeva_session::VeevaSession;
use crate::targets::{
    ids_of, Applied, Change, Creation, Found, LookupHints, MatchFields, PreparedRequest, Target,
    TargetError, TargetKind,
};
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

    /// Through VQL on `person__sys` (SiteVault is a Vault; its people are `person__sys`
    /// records): by `federated_id__sys`, then `email__sys`. The field names follow Vault's
    /// `__sys` naming of `user__sys`; see the README for what was inferred.
    async fn find_accounts(
        &self,
        hints: &LookupHints,
        event_id: &str,
    ) -> Result<Found, TargetError> {
        let keys = [
            ("federated_id__sys", &hints.federated_id),
            ("email__sys", &hints.email),
        ];
        for (key, value) in keys {
            let Some(value) = value else { continue };
            let request = find_records(self.api_version(), "person__sys", key, value)?;
            let answer = self.session.send(request, event_id).await?;
            let ids = ids_of(answer.get("data"), "id");
            if !ids.is_empty() {
                return Ok(Found { key, ids });
            }
        }
        Ok(Found::default())
    }

    fn match_fields(&self) -> MatchFields {
        MatchFields {
            federated_id: Some("federated_id"),
            username: Some("user.username"),
            email: Some("user.email"),
        }
    }

    async fn create(&self, creation: &Creation) -> Result<String, TargetError> {
        let request = create_person(self.api_version(), &creation.fields);
        let answer = self.session.send(request, &creation.event_id).await?;
        let id = answered_person_id(&answer).ok_or_else(|| {
            TargetError::transient("bad_response", "create user: no person_id in the answer")
        })?;
        crate::targets::id::alphanumeric("the created SiteVault person id", id)?;
        Ok(id.to_string())
    }

    fn describe_create(&self, creation: &Creation) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![create_person(self.api_version(), &creation.fields)])
    }

    fn rate_limit_remaining(&self) -> Option<i64> {
        self.session.burst_remaining()
    }
}
