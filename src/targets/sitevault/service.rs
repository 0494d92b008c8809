//! The SiteVault client: sends only the blocks that differ from what hrsync last applied
//! (SiteVault documents no way to read a person back), with the shared Vault session.

use super::request_builder::{answered_person_id, changed_body, create_person, edit_person};
use crate::secret::Secret;
use crate::targets::vault::VaultConfig;
use crate::targets::vault::{find_records, vql};
use crate::targets::veeva_session::VeevaSession;
use crate::targets::{
    ids_of, Applied, Change, Creation, Found, ListedAccount, Listing, LookupHints, MatchFields,
    PreparedRequest, Target, TargetError, TargetKind,
};
use async_trait::async_trait;
use serde_json::Value;

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

    /// A SiteVault leaver removes the org and site access (Edit User, `org_no_access__v`);
    /// `person__sys` has no status for that, so the listing cannot show it.
    fn listing_shows_access(&self) -> bool {
        false
    }

    fn access_removed(&self, applied: &serde_json::Map<String, Value>) -> bool {
        applied
            .get("assignments")
            .and_then(|a| a.pointer("/org_assignment/system_role_id"))
            .and_then(Value::as_str)
            == Some("org_no_access__v")
    }

    /// VQL over `person__sys`, following `next_page` (POST) until the last page.
    async fn list_accounts(
        &self,
        reference: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Listing, TargetError> {
        let mut listing = Listing::default();
        let mut request = list_persons(self.api_version())?;
        loop {
            let answer = self.session.send(request, reference).await?;
            listing.calls += 1;
            let rows = answer
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| TargetError::transient("bad_response", "query: no data"))?;
            listing
                .accounts
                .extend(rows.iter().filter_map(listed_person));
            progress(listing.accounts.len());
            match answer
                .pointer("/responseDetails/next_page")
                .and_then(Value::as_str)
            {
                Some(next) => request = next_page(self.api_version(), next)?,
                None => return Ok(listing),
            }
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

/// The first page of every person: `SELECT … FROM person__sys PAGESIZE 1000`.
fn list_persons(api_version: &str) -> Result<PreparedRequest, TargetError> {
    vql(
        api_version,
        "SELECT id, email__sys, federated_id__sys, status__v FROM person__sys PAGESIZE 1000",
    )
}

/// `next_page` is followed with POST (provisioning-facts.md §1d); only a query path of
/// this Vault is followed, never another host.
fn next_page(api_version: &str, next: &str) -> Result<PreparedRequest, TargetError> {
    let prefix = format!("/api/{api_version}/query/");
    let token = next.strip_prefix(&prefix).unwrap_or_default();
    if token.is_empty() || token.contains(['/', '?', '#', '%', ' ']) || token.contains("..") {
        return Err(TargetError::transient(
            "bad_response",
            "query: next_page is not a query page of this Vault",
        ));
    }
    Ok(PreparedRequest {
        method: http::Method::POST,
        path: next.to_string(),
        content_type: "application/x-www-form-urlencoded",
        body: String::new(),
    })
}

/// A `person__sys` row as a listed account.
fn listed_person(row: &Value) -> Option<ListedAccount> {
    let text = |field: &str| row.get(field).and_then(Value::as_str).map(str::to_string);
    Some(ListedAccount {
        id: text("id")?,
        username: None,
        email: text("email__sys"),
        federated_id: text("federated_id__sys"),
        active: text("status__v").as_deref() != Some("inactive__v"),
        fields: Default::default(),
    })
}
