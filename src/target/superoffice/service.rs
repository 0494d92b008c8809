//! The SuperOffice client: auth header, client-side rate limit (SuperOffice asks for at
//! most 10 calls/s and may stop apps that exceed it), read → JSON Patch with `test` ops,
//! re-read and retry on 409.

use super::request_builder::{get_user, get_user_by_name, make_retired, patch_ops, patch_user};
use super::{LeaverMode, SuperOfficeConfig};
use crate::config::Secret;
use crate::event::Action;
use crate::target::http_client::{self, Answer};
use crate::target::{
    Applied, Change, LookupHints, PreparedRequest, Target, TargetError, TargetKind,
};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::num::NonZeroU32;

/// Read-patch rounds before a conflicting concurrent editor is reported as transient.
const CONFLICT_ROUNDS: usize = 3;

pub struct SuperOfficeTarget {
    base_url: String,
    authorization: Secret,
    app_token: Option<Secret>,
    http: Client,
    limiter: DefaultDirectRateLimiter,
    leaver: LeaverMode,
}

impl SuperOfficeTarget {
    pub fn new(
        config: &SuperOfficeConfig,
        authorization: Secret,
        app_token: Option<Secret>,
    ) -> Self {
        let per_second = NonZeroU32::new(config.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        SuperOfficeTarget {
            base_url: config.base_url.trim_end_matches('/').to_string(),
            authorization,
            app_token,
            http: http_client::client(config.timeout),
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            leaver: config.leaver,
        }
    }

    /// Sends one call; the event id goes along as `X-Correlation-Id` for tracing.
    async fn send(&self, request: PreparedRequest, event_id: &str) -> Result<Answer, TargetError> {
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
        http_client::send(builder).await
    }

    /// Retires or un-retires through the MakeRetired agent.
    async fn set_retired(&self, change: &Change, retired: bool) -> Result<(), TargetError> {
        let answer = self
            .send(make_retired(&change.account_id, retired)?, &change.event_id)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.status_error())
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
        TargetKind::SuperOffice
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
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

    /// By user name, then by e-mail (SuperOffice user names are often the e-mail).
    async fn lookup(
        &self,
        hints: &LookupHints,
        event_id: &str,
    ) -> Result<Option<String>, TargetError> {
        for name in [&hints.username, &hints.email].into_iter().flatten() {
            let answer = self.send(get_user_by_name(name)?, event_id).await?;
            if answer.status == StatusCode::NOT_FOUND {
                continue;
            }
            if !answer.status.is_success() {
                return Err(answer.status_error());
            }
            let user: Value = serde_json::from_str(&answer.body).map_err(|e| {
                TargetError::transient("bad_response", format!("User is not JSON: {e}"))
            })?;
            if let Some(id) = user.get("AssociateId").and_then(Value::as_i64) {
                return Ok(Some(id.to_string()));
            }
        }
        Ok(None)
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
