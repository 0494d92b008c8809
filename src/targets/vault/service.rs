//! The Vault client: reads the user, then writes only what differs, with the shared Vault
//! session.

use super::bulk::Batcher;
use super::request_builder::{
    changed_fields, create_user, find_user, list_users, retrieve_user, update_membership,
    update_user, LISTED_FIELDS,
};
use super::{VaultConfig, MEMBERSHIP_PREFIX};
use crate::event::Action;
use crate::secret::Secret;
use crate::targets::veeva_session::VeevaSession;
use crate::targets::{
    ids_of, Applied, Change, Creation, Found, ListedAccount, Listing, LookupHints, MatchFields,
    PreparedRequest, Target, TargetError, TargetKind,
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::Arc;

pub struct VaultTarget {
    session: Arc<VeevaSession>,
    bulk: Option<Batcher>,
}

impl VaultTarget {
    /// The client; with `bulk.enabled`, also its batcher task (so call within a runtime).
    pub fn new(config: VaultConfig, password: Secret) -> Result<Self, String> {
        let bulk = config.bulk.clone();
        let session = Arc::new(VeevaSession::new(config, password, "targets.vault")?);
        let bulk = bulk.enabled.then(|| Batcher::spawn(session.clone(), bulk));
        Ok(VaultTarget { session, bulk })
    }

    /// A mover or leaver through the bulk batcher: diffed against what hrsync last
    /// applied, sent as one row of the next bulk call.
    async fn apply_in_bulk(
        &self,
        batcher: &Batcher,
        change: &Change,
    ) -> Result<Applied, TargetError> {
        let user_id = crate::targets::id::numeric("accounts.vault.user_id", &change.account_id)?;
        let previous = change.previous.clone().unwrap_or_default();
        let changed = changed_fields(&previous, &change.fields)?;
        if changed.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let mut row = changed.clone();
        let id: u64 = user_id.parse().map_err(|_| {
            TargetError::permanent("invalid_id", "accounts.vault.user_id: out of range")
        })?;
        row.insert("id".into(), Value::from(id));
        batcher.submit(row).await?;
        Ok(Applied::Changed(changed.keys().cloned().collect()))
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
        TargetKind::named(<super::VaultConfig as crate::targets::TargetConfig>::NAME)
            .expect("registered")
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        // Bulk rows are diffed against what hrsync last applied, without a read, so they
        // cannot see a disabled user. A joiner or mover may be re-activating one (it is
        // the employee's whole state, even when an older joiner was skipped as stale): in
        // bulk only when hrsync itself last left the user active; a user it never wrote,
        // or last disabled, is read first.
        let last_left_active = change
            .previous
            .as_ref()
            .and_then(|p| p.get("domain_active__v"))
            == Some(&Value::Bool(true));
        let bulk_eligible = match change.action {
            Action::Leaver => true,
            Action::Mover => last_left_active,
            Action::Joiner => false,
        } && !change
            .fields
            .keys()
            .any(|k| k.starts_with(MEMBERSHIP_PREFIX));
        if let Some(batcher) = self.bulk.as_ref().filter(|_| bulk_eligible) {
            return self.apply_in_bulk(batcher, change).await;
        }
        let current = self.current(change).await?;
        let (user_fields, membership) = split_membership(&change.fields);
        let changed = changed_fields(&current, &user_fields)?;
        let mut done: Vec<String> = changed.keys().cloned().collect();
        if !changed.is_empty() {
            let request = update_user(self.api_version(), change, &changed)?;
            self.session.send(request, &change.event_id).await?;
        }
        let disabled = current.get("domain_active__v") == Some(&Value::Bool(false));
        // Any active employee's record (joiner or mover) re-activates a disabled user:
        // the newest record wins, whichever action it carries.
        if change.action.is_active() && disabled {
            let pick = |field: &str| {
                membership
                    .get(field)
                    .or_else(|| current.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        TargetError::permanent(
                            "membership",
                            format!("rehire: no {field} mapped (vault_membership.{field}) or on the user"),
                        )
                    })
            };
            let request = update_membership(
                self.api_version(),
                change,
                self.session.config().vault_id,
                &pick("security_profile__v")?,
                &pick("license_type__v")?,
            )?;
            self.session.send(request, &change.event_id).await?;
            done.push("vault_membership".into());
        }
        Ok(if done.is_empty() {
            Applied::Unchanged
        } else {
            Applied::Changed(done)
        })
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        let (user_fields, _) = split_membership(&change.fields);
        Ok(vec![
            retrieve_user(self.api_version(), change)?,
            update_user(self.api_version(), change, &user_fields)?,
        ])
    }

    fn config_problem(&self) -> Option<String> {
        self.session.config_problem()
    }

    /// By `federated_id__v` (the create block sets it to the HR employee id), then
    /// `user_name__v`: the fields Vault keeps unique, through VQL.
    async fn find_accounts(
        &self,
        hints: &LookupHints,
        event_id: &str,
    ) -> Result<Found, TargetError> {
        let keys = [
            ("federated_id__v", &hints.federated_id),
            ("user_name__v", &hints.username),
        ];
        for (key, value) in keys {
            let Some(value) = value else { continue };
            let answer = self
                .session
                .send(find_user(self.api_version(), key, value)?, event_id)
                .await?;
            let ids = ids_of(answer.get("data"), "id");
            if !ids.is_empty() {
                return Ok(Found { key, ids });
            }
        }
        Ok(Found::default())
    }

    fn match_fields(&self) -> MatchFields {
        MatchFields {
            federated_id: Some("federated_id__v"),
            username: Some("user_name__v"),
            email: None,
        }
    }

    /// Create Single User (the legacy Users API the seeds document; see the README for
    /// why not `user__sys`); the answer's `id` is the new user.
    async fn create(&self, creation: &Creation) -> Result<String, TargetError> {
        let request = create_user(self.api_version(), &creation.fields)?;
        let answer = self.session.send(request, &creation.event_id).await?;
        let id = match answer.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => {
                return Err(TargetError::transient(
                    "bad_response",
                    "create user: no id in the answer",
                ))
            }
        };
        crate::targets::id::numeric("the created Vault user id", &id)?;
        Ok(id)
    }

    fn describe_create(&self, creation: &Creation) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![create_user(self.api_version(), &creation.fields)?])
    }

    /// VQL over `users`, a page of 1,000 at a time by `PAGEOFFSET`, until `total`.
    async fn list_accounts(
        &self,
        reference: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Listing, TargetError> {
        let mut listing = Listing::default();
        loop {
            let offset = listing.accounts.len();
            let answer = self
                .session
                .send(list_users(self.api_version(), offset)?, reference)
                .await?;
            listing.calls += 1;
            let rows = answer
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| TargetError::transient("bad_response", "query: no data"))?;
            listing.accounts.extend(rows.iter().filter_map(listed_user));
            progress(listing.accounts.len());
            let total = answer
                .pointer("/responseDetails/total")
                .and_then(Value::as_u64)
                .ok_or_else(|| TargetError::transient("bad_response", "query: no total"))?;
            if rows.is_empty() || listing.accounts.len() as u64 >= total {
                if (listing.accounts.len() as u64) < total {
                    return Err(TargetError::transient(
                        "incomplete_listing",
                        format!("read {} of {total} users", listing.accounts.len()),
                    ));
                }
                return Ok(listing);
            }
        }
    }

    fn rate_limit_remaining(&self) -> Option<i64> {
        self.session.burst_remaining()
    }
}

/// A `users` row as a listed account.
fn listed_user(row: &Value) -> Option<ListedAccount> {
    let text = |field: &str| row.get(field).and_then(Value::as_str).map(str::to_string);
    let id = match row.get("id")? {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let fields = LISTED_FIELDS
        .iter()
        .filter_map(|f| Some((f.to_string(), row.get(*f)?.clone())))
        .collect();
    Some(ListedAccount {
        id,
        username: text("user_name__v"),
        email: text("user_email__v"),
        federated_id: text("federated_id__v"),
        active: row.get("domain_active__v") != Some(&Value::Bool(false)),
        fields,
    })
}

/// The user's own fields, and the membership fields (prefix removed) for a rehire.
fn split_membership(fields: &Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    let mut user = Map::new();
    let mut membership = Map::new();
    for (field, value) in fields {
        match field.strip_prefix(MEMBERSHIP_PREFIX) {
            Some(name) => {
                membership.insert(name.to_string(), value.clone());
            }
            None => {
                user.insert(field.clone(), value.clone());
            }
        }
    }
    (user, membership)
}
