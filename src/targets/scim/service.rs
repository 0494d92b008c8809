//! The SCIM client: bearer token, reads the user, PATCHes the attributes that differ.

use super::request_builder::{
    create_user, find_users, get_user, list_users, patch_ops, patch_user, SCIM_JSON,
};
use super::ScimConfig;
use crate::secret::Secret;
use crate::targets::http_client::{self, Answer};
use crate::targets::{
    ids_of, Applied, Change, Creation, Found, ListedAccount, Listing, LookupHints, MatchFields,
    PreparedRequest, Target, TargetConfig, TargetError, TargetKind,
};
use async_trait::async_trait;
use reqwest::{Client, StatusCode};
use serde_json::Value;

pub struct ScimTarget {
    kind: TargetKind,
    base_url: String,
    /// `Bearer <token>`.
    authorization: Secret,
    http: Client,
}

impl ScimTarget {
    pub fn new(config: &ScimConfig, token: Secret) -> Result<Self, String> {
        Ok(ScimTarget {
            kind: TargetKind::named(ScimConfig::NAME).expect("scim is registered"),
            base_url: config.base_url.trim_end_matches('/').to_string(),
            authorization: Secret::new(format!("Bearer {}", token.expose())),
            http: http_client::client(config.timeout, &config.tls, "targets.scim.tls")?,
        })
    }

    /// Sends one request; the event id goes along as `X-Request-Id` for tracing.
    async fn send(&self, request: PreparedRequest, event_id: &str) -> Result<Answer, TargetError> {
        let mut builder = self
            .http
            .request(
                request.method.clone(),
                format!("{}{}", self.base_url, request.path),
            )
            .header("Authorization", self.authorization.expose())
            .header("Accept", SCIM_JSON)
            .header("X-Request-Id", event_id);
        if !request.body.is_empty() {
            builder = builder
                .header("Content-Type", request.content_type)
                .body(request.body);
        }
        let answer = http_client::send(self.kind.as_str(), builder).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(scim_error(&answer))
        }
    }

    async fn read(&self, change: &Change) -> Result<Value, TargetError> {
        let answer = self
            .send(get_user(&change.account_id)?, &change.event_id)
            .await?;
        json(&answer)
    }
}

/// A SCIM error (RFC 7644 §3.12) classified by status; its `detail` and `scimType` kept.
fn scim_error(answer: &Answer) -> TargetError {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("");
    let scim_type = body.get("scimType").and_then(Value::as_str);
    let error = TargetError::from_status(
        answer.status,
        format!(
            "HTTP {}{}: {}",
            answer.status.as_u16(),
            scim_type.map_or(String::new(), |t| format!(" ({t})")),
            detail.chars().take(300).collect::<String>()
        ),
    );
    error.with_retry_after(answer.retry_after())
}

fn json(answer: &Answer) -> Result<Value, TargetError> {
    serde_json::from_str(&answer.body)
        .map_err(|e| TargetError::transient("bad_response", format!("not SCIM JSON: {e}")))
}

#[async_trait]
impl Target for ScimTarget {
    fn kind(&self) -> TargetKind {
        self.kind
    }

    async fn apply(&self, change: &Change) -> Result<Applied, TargetError> {
        let current = self.read(change).await?;
        let (ops, changed) = patch_ops(&current, &change.fields);
        if ops.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let answer = self
            .send(patch_user(&change.account_id, &ops)?, &change.event_id)
            .await?;
        // 200 with the resource or 204 without (RFC 7644 §3.5.2) are both success.
        debug_assert!(answer.status == StatusCode::OK || answer.status.is_success());
        Ok(Applied::Changed(changed))
    }

    /// By `externalId` (the create block sets it to the HR employee id), then `userName`,
    /// then e-mail (`emails.value`): the attributes SCIM keeps unique or nearly so.
    async fn find_accounts(
        &self,
        hints: &LookupHints,
        event_id: &str,
    ) -> Result<Found, TargetError> {
        let keys = [
            ("externalId", &hints.federated_id),
            ("userName", &hints.username),
            ("emails.value", &hints.email),
        ];
        for (key, value) in keys {
            let Some(value) = value else { continue };
            let answer = self.send(find_users(key, value)?, event_id).await?;
            let ids = ids_of(json(&answer)?.get("Resources"), "id");
            if !ids.is_empty() {
                return Ok(Found { key, ids });
            }
        }
        Ok(Found::default())
    }

    fn match_fields(&self) -> MatchFields {
        MatchFields {
            federated_id: Some("externalId"),
            username: Some("userName"),
            email: Some("emails"),
        }
    }

    /// `POST /Users`; the created resource's `id` is the account.
    async fn create(&self, creation: &Creation) -> Result<String, TargetError> {
        let answer = self
            .send(create_user(&creation.fields), &creation.event_id)
            .await?;
        let created = json(&answer)?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| TargetError::transient("bad_response", "created User has no id"))?;
        crate::targets::id::path_segment("the created SCIM id", id)?;
        Ok(id.to_string())
    }

    fn describe_create(&self, creation: &Creation) -> Result<Vec<PreparedRequest>, TargetError> {
        Ok(vec![create_user(&creation.fields)])
    }

    /// `GET /Users` page by page (`startIndex`, `count`) until `totalResults`.
    async fn list_accounts(
        &self,
        reference: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Listing, TargetError> {
        let mut listing = Listing::default();
        loop {
            let answer = self
                .send(list_users(listing.accounts.len() + 1), reference)
                .await?;
            listing.calls += 1;
            let page = json(&answer)?;
            let rows = page
                .get("Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            listing.accounts.extend(rows.iter().filter_map(listed_user));
            progress(listing.accounts.len());
            let total = page
                .get("totalResults")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    TargetError::transient("bad_response", "ListResponse: no totalResults")
                })?;
            if listing.accounts.len() as u64 >= total {
                return Ok(listing);
            }
            if rows.is_empty() {
                return Err(TargetError::transient(
                    "incomplete_listing",
                    format!("read {} of {total} users", listing.accounts.len()),
                ));
            }
        }
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        let (ops, _) = patch_ops(&Value::Null, &change.fields);
        Ok(vec![
            get_user(&change.account_id)?,
            patch_user(&change.account_id, &ops)?,
        ])
    }
}

/// A SCIM User resource as a listed account.
fn listed_user(user: &Value) -> Option<ListedAccount> {
    let text = |field: &str| user.get(field).and_then(Value::as_str).map(str::to_string);
    let email = user
        .pointer("/emails/0/value")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut fields = serde_json::Map::new();
    for field in ["userName", "externalId", "title", "displayName"] {
        if let Some(value) = user.get(field) {
            fields.insert(field.into(), value.clone());
        }
    }
    Some(ListedAccount {
        id: text("id")?,
        username: text("userName"),
        email,
        federated_id: text("externalId"),
        active: user.get("active") != Some(&Value::Bool(false)),
        fields,
    })
}
