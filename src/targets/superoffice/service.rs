//! The SuperOffice client: auth header, client-side rate limit (SuperOffice asks for at
//! most 10 calls/s and may stop apps that exceed it), read → JSON Patch with `test` ops,
//! re-read and retry on 409.

use super::request_builder::{
    find_users, get_user, get_user_by_name, list_users, make_retired, next_link, patch_ops,
    patch_user, tested_patch,
};
use super::{LeaverMode, SuperOfficeConfig};
use crate::event::Action;
use crate::secret::Secret;
use crate::targets::http_client::{self, Answer};
use crate::targets::{
    ids_of, Applied, Change, Creation, Found, ListedAccount, Listing, LookupHints, MatchFields,
    PreparedRequest, Target, TargetError, TargetKind,
};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `per_second` calls in any one second, bursts included: one call every
/// 1/`per_second` s and no burst allowance. (A quota of `per_second` with a burst of as
/// many lets a full burst at the end of one second meet the refill of the next: up to
/// twice the limit in one calendar second, and SuperOffice may stop an app for that.)
fn call_quota(per_second: NonZeroU32) -> Quota {
    let spacing = Duration::from_secs(1) / per_second.get();
    Quota::with_period(spacing)
        .expect("a positive period")
        .allow_burst(NonZeroU32::MIN)
}

/// Read-patch rounds before a conflicting concurrent editor is reported as transient.
const CONFLICT_ROUNDS: usize = 3;

pub struct SuperOfficeTarget {
    base_url: String,
    authorization: Secret,
    app_token: Option<Secret>,
    http: Client,
    limiter: DefaultDirectRateLimiter,
    leaver: LeaverMode,
    pub(super) owner_contact_id: Option<i64>,
    /// Persons created for a new user whose save has not succeeded yet, by employee: a
    /// retry reuses the person instead of creating another. (Only in memory: after a
    /// crash between the two calls, the person stays without a user — no access, no
    /// licence — for reconciliation to report.)
    pub(super) pending_persons: Mutex<std::collections::HashMap<String, i64>>,
    /// Since when SuperOffice refuses the User agent: for `login_cooldown` no further
    /// person is created for a user that could not be saved, and `/readyz` says why.
    pub(super) user_agent_refused: Mutex<Option<Instant>>,
    pub(super) login_cooldown: Duration,
    /// Since when and why calls are suspended after the credentials were rejected.
    suspended: Mutex<Option<(Instant, String)>>,
}

impl SuperOfficeTarget {
    pub fn new(
        config: &SuperOfficeConfig,
        authorization: Secret,
        app_token: Option<Secret>,
    ) -> Result<Self, String> {
        let per_second = NonZeroU32::new(config.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        Ok(SuperOfficeTarget {
            base_url: config.base_url.trim_end_matches('/').to_string(),
            authorization,
            app_token,
            http: http_client::client(config.timeout, &config.tls, "targets.superoffice.tls")?,
            limiter: RateLimiter::direct(call_quota(per_second)),
            leaver: config.leaver,
            owner_contact_id: config.owner_contact_id,
            pending_persons: Mutex::default(),
            user_agent_refused: Mutex::default(),
            login_cooldown: config.login_cooldown,
            suspended: Mutex::new(None),
        })
    }

    /// Why calls are suspended, while the cooldown after a rejection runs.
    fn suspension(&self) -> Option<String> {
        self.suspended
            .lock()
            .expect("lock poisoned")
            .as_ref()
            .filter(|(since, _)| since.elapsed() < self.login_cooldown)
            .map(|(_, why)| why.clone())
    }

    fn suspend(&self, why: String) {
        tracing::error!(
            target_api = "superoffice",
            base_url = %self.base_url,
            reason = %why,
            cooldown_secs = self.login_cooldown.as_secs(),
            "SuperOffice rejected the credentials; no further calls until the cooldown ends"
        );
        *self.suspended.lock().expect("lock poisoned") = Some((Instant::now(), why));
    }

    /// Sends one call; the event id goes along as `X-Correlation-Id` for tracing.
    pub(super) async fn send(
        &self,
        request: PreparedRequest,
        event_id: &str,
    ) -> Result<Answer, TargetError> {
        let answer = self.transmit(request, event_id).await?;
        self.credentials_accepted(answer)
    }

    pub(super) async fn transmit(
        &self,
        request: PreparedRequest,
        event_id: &str,
    ) -> Result<Answer, TargetError> {
        if let Some(why) = self.suspension() {
            return Err(TargetError::config("calls_suspended", why));
        }
        self.limiter.until_ready().await;
        let mut builder = self
            .http
            .request(
                request.method.clone(),
                format!("{}{}", self.base_url, request.path),
            )
            .header("Authorization", self.authorization.expose())
            .header("Accept", "application/json")
            .header("X-Correlation-Id", event_id);
        if let Some(token) = &self.app_token {
            builder = builder.header("SO-AppToken", token.expose());
        }
        if !request.body.is_empty() {
            builder = builder
                .header("Content-Type", request.content_type)
                .body(request.body);
        }
        http_client::send("superoffice", builder).await
    }

    /// 401, 403 and 421 mean the credentials or the tenant are wrong: calls are suspended
    /// for the cooldown (a retry loop would lock the integration user out).
    pub(super) fn credentials_accepted(&self, answer: Answer) -> Result<Answer, TargetError> {
        if matches!(answer.status.as_u16(), 401 | 403 | 421) {
            let why = format!(
                "SuperOffice answered HTTP {} ({}): check targets.superoffice.auth, app_token and base_url",
                answer.status.as_u16(),
                answer.status.canonical_reason().unwrap_or("refused"),
            );
            self.suspend(why.clone());
            return Err(TargetError::config(
                format!("http_{}", answer.status.as_u16()),
                why,
            ));
        }
        Ok(answer)
    }

    /// Retires or un-retires through the MakeRetired agent.
    async fn set_retired(&self, change: &Change, retired: bool) -> Result<(), TargetError> {
        // MakeRetired is a User-agent call: SuperOffice Online may refuse it to apps.
        let answer = self
            .send_to_user_agent(make_retired(&change.account_id, retired)?, &change.event_id)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.status_error())
        }
    }

    /// A mover's change in one call (SuperOffice allows 10 a second and has no bulk call):
    /// a PATCH whose `test` ops check the values hrsync last applied ([`tested_patch`]).
    /// `None` when that cannot be done — not a mover, hrsync did not last leave the user
    /// active, nothing changed (then the read re-asserts the whole state), a field hrsync
    /// never wrote — or when SuperOffice answered 409 because the user changed since:
    /// then the user is read and patched as usual.
    async fn patch_without_reading(&self, change: &Change) -> Result<Option<Applied>, TargetError> {
        let Some(previous) = change.previous.as_ref() else {
            return Ok(None);
        };
        if change.action != Action::Mover || previous.get("Deleted") != Some(&Value::Bool(false)) {
            return Ok(None);
        }
        let (ops, changed) = tested_patch(previous, &change.fields);
        if ops.is_empty() {
            return Ok(None);
        }
        let answer = self
            .send(patch_user(&change.account_id, &ops)?, &change.event_id)
            .await?;
        match answer.status {
            status if status.is_success() => Ok(Some(Applied::Changed(changed))),
            StatusCode::CONFLICT => {
                tracing::info!(
                    target_api = "superoffice",
                    "user changed since hrsync last wrote it; reading it"
                );
                Ok(None)
            }
            _ => Err(answer.status_error()),
        }
    }

    async fn read(&self, change: &Change) -> Result<Value, TargetError> {
        let answer = self
            .send(get_user(&change.account_id)?, &change.event_id)
            .await?;
        if !answer.status.is_success() {
            return Err(answer.status_error());
        }
        serde_json::from_str(&answer.body)
            .map_err(|e| TargetError::transient("bad_response", format!("User is not JSON: {e}")))
    }
}

#[async_trait]
impl Target for SuperOfficeTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::named(<super::SuperOfficeConfig as crate::targets::TargetConfig>::NAME)
            .expect("registered")
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        if let Some(applied) = self.patch_without_reading(change).await? {
            return Ok(applied);
        }
        let mut done = Vec::new();
        let first = self.read(change).await?;
        let current = &first;
        let retired = current.get("Deleted") == Some(&Value::Bool(true));
        let mut fields = change.fields.clone();
        if change.action == Action::Leaver && self.leaver == LeaverMode::MakeRetired {
            // MakeRetired sets Deleted and removes the licences; the flag is not patched.
            fields.remove("Deleted");
            if !retired || current.get("IsPersonRetired") != Some(&Value::Bool(true)) {
                self.set_retired(change, true).await?;
                done.push("MakeRetired".to_string());
            }
        } else if change.action.is_active() && retired {
            // An active employee (a rehire, or a mover whose joiner was skipped as stale):
            // un-retire first (licences are not restored by SuperOffice).
            self.set_retired(change, false).await?;
            done.push("MakeRetired(false)".to_string());
        }
        // The first read still holds unless MakeRetired changed the user since.
        let mut fresh = done.is_empty().then_some(first.clone());
        for _ in 0..CONFLICT_ROUNDS {
            let current = match fresh.take() {
                Some(current) => current,
                None => self.read(change).await?,
            };
            let (ops, changed) = patch_ops(&current, &fields);
            if ops.is_empty() {
                return Ok(if done.is_empty() {
                    Applied::Unchanged
                } else {
                    Applied::Changed(done)
                });
            }
            let answer = self
                .send(patch_user(&change.account_id, &ops)?, &change.event_id)
                .await?;
            match answer.status {
                status if status.is_success() => {
                    done.extend(changed);
                    return Ok(Applied::Changed(done));
                }
                StatusCode::CONFLICT => {
                    tracing::info!(
                        target_api = "superoffice",
                        "user changed since read; reading again"
                    );
                }
                _ => return Err(answer.status_error()),
            }
        }
        Err(TargetError::transient(
            "conflict",
            format!("the user kept changing during {CONFLICT_ROUNDS} read-patch rounds"),
        ))
    }

    /// By user name (`GET /api/v1/User/{userName}`), then by e-mail through the documented
    /// search over the AllUsers archive (`$filter=personEmail eq '…'`).
    async fn find_accounts(
        &self,
        hints: &LookupHints,
        event_id: &str,
    ) -> Result<Found, TargetError> {
        if let Some(name) = &hints.username {
            let answer = self.send(get_user_by_name(name)?, event_id).await?;
            if answer.status.is_success() {
                let user: Value = serde_json::from_str(&answer.body).map_err(|e| {
                    TargetError::transient("bad_response", format!("User is not JSON: {e}"))
                })?;
                if let Some(id) = user.get("AssociateId").and_then(Value::as_i64) {
                    return Ok(Found {
                        key: "UserName",
                        ids: vec![id.to_string()],
                    });
                }
            } else if answer.status != StatusCode::NOT_FOUND {
                return Err(answer.status_error());
            }
        }
        let Some(email) = &hints.email else {
            return Ok(Found::default());
        };
        let answer = self
            .send(find_users("personEmail", email)?, event_id)
            .await?;
        if !answer.status.is_success() {
            return Err(answer.status_error());
        }
        let found: Value = serde_json::from_str(&answer.body).map_err(|e| {
            TargetError::transient("bad_response", format!("User search is not JSON: {e}"))
        })?;
        Ok(Found {
            key: "personEmail",
            ids: ids_of(found.get("value"), "associateDbId"),
        })
    }

    fn match_fields(&self) -> MatchFields {
        MatchFields {
            federated_id: None,
            username: Some("UserName"),
            email: Some("Person.Email"),
        }
    }

    async fn create(&self, creation: &Creation) -> Result<String, TargetError> {
        self.create_user(creation).await
    }

    /// The AllUsers archive, 1,000 rows a call, following `odata.nextLink` (within the
    /// client's rate limit, like every call).
    async fn list_accounts(
        &self,
        reference: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Listing, TargetError> {
        let mut listing = Listing::default();
        let mut request = list_users();
        loop {
            let answer = self.send(request, reference).await?;
            listing.calls += 1;
            if !answer.status.is_success() {
                return Err(answer.status_error());
            }
            let page: Value = serde_json::from_str(&answer.body).map_err(|e| {
                TargetError::transient("bad_response", format!("User archive is not JSON: {e}"))
            })?;
            let rows = page
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| TargetError::transient("bad_response", "User archive: no value"))?;
            listing.accounts.extend(rows.iter().filter_map(listed_user));
            progress(listing.accounts.len());
            match page.get("odata.nextLink").and_then(Value::as_str) {
                Some(link) if !rows.is_empty() => request = next_link(&self.base_url, link)?,
                _ => return Ok(listing),
            }
        }
    }

    fn config_problem(&self) -> Option<String> {
        self.suspension().or_else(|| self.user_agent_problem())
    }

    fn describe_create(&self, creation: &Creation) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(self.describe_creation(creation))
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        let mut fields = change.fields.clone();
        let mut requests = vec![get_user(&change.account_id)?];
        if change.action == Action::Leaver && self.leaver == LeaverMode::MakeRetired {
            fields.remove("Deleted");
            requests.push(make_retired(&change.account_id, true)?);
        }
        // Against an entity that has the parent objects but none of the mapped values.
        let mut skeleton = serde_json::Map::new();
        for path in fields.keys() {
            let parents: Vec<&str> = path.split('.').collect();
            let mut node = &mut skeleton;
            for parent in &parents[..parents.len() - 1] {
                node = node
                    .entry(parent.to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .expect("inserted as an object");
            }
        }
        let (ops, _) = patch_ops(&Value::Object(skeleton), &fields);
        if !ops.is_empty() {
            requests.push(patch_user(&change.account_id, &ops)?);
        }
        Ok(requests)
    }
}

/// An AllUsers archive row as a listed account.
fn listed_user(row: &Value) -> Option<ListedAccount> {
    let text = |field: &str| row.get(field).and_then(Value::as_str).map(str::to_string);
    let id = match row.get("associateDbId")? {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let mut fields = serde_json::Map::new();
    if let Some(name) = row.get("userName") {
        fields.insert("UserName".into(), name.clone());
    }
    Some(ListedAccount {
        id,
        username: text("userName"),
        email: text("personEmail"),
        federated_id: None,
        active: row.get("isActive") != Some(&Value::Bool(false)),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::call_quota;
    use governor::clock::FakeRelativeClock;
    use governor::RateLimiter;
    use std::num::NonZeroU32;
    use std::time::Duration;

    #[test]
    fn never_more_than_the_limit_in_any_one_second_even_in_bursts() {
        let clock = FakeRelativeClock::default();
        let limiter =
            RateLimiter::direct_with_clock(call_quota(NonZeroU32::new(10).unwrap()), clock.clone());
        // A caller trying every millisecond for five seconds: bursts all the way.
        let mut allowed = Vec::new();
        for ms in 0..5_000u64 {
            if limiter.check().is_ok() {
                allowed.push(ms);
            }
            clock.advance(Duration::from_millis(1));
        }
        let most_in_a_second = allowed
            .iter()
            .map(|start| {
                allowed
                    .iter()
                    .filter(|t| **t >= *start && **t < start + 1000)
                    .count()
            })
            .max()
            .unwrap();
        assert_eq!(most_in_a_second, 10, "{allowed:?}");
        assert!(allowed.len() >= 49, "still 10 a second: {}", allowed.len());
    }
}
