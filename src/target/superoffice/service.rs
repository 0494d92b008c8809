//! The SuperOffice client: auth header, client-side rate limit (SuperOffice asks for at
//! most 10 calls/s and may stop apps that exceed it), GET-merge-PUT.

use super::request_builder::{get_user, merge_fields, put_user};
use super::SuperOfficeConfig;
use crate::config::Secret;
use crate::target::http_client::{self, Answer};
use crate::target::{Change, PreparedRequest, Target, TargetError, TargetKind};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Client;
use serde_json::Value;
use std::num::NonZeroU32;

pub struct SuperOfficeTarget {
    base_url: String,
    authorization: Secret,
    app_token: Option<Secret>,
    http: Client,
    limiter: DefaultDirectRateLimiter,
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
        }
    }

    async fn send(&self, request: PreparedRequest) -> Result<Answer, TargetError> {
        self.limiter.until_ready().await;
        let mut builder = self
            .http
            .request(
                request.method.clone(),
                format!("{}{}", self.base_url, request.path),
            )
            .header("Authorization", self.authorization.expose())
            .header("Accept", "application/json");
        if let Some(token) = &self.app_token {
            builder = builder.header("SO-AppToken", token.expose());
        }
        if !request.body.is_empty() {
            builder = builder
                .header("Content-Type", request.content_type)
                .body(request.body);
        }
        let answer = http_client::send(builder).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(answer.status_error())
        }
    }
}

#[async_trait]
impl Target for SuperOfficeTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::SuperOffice
    }

    async fn apply(&self, change: &Change) -> Result<(), TargetError> {
        let answer = self.send(get_user(&change.account_id)?).await?;
        let current: Value = serde_json::from_str(&answer.body).map_err(|e| {
            TargetError::transient("bad_response", format!("User is not JSON: {e}"))
        })?;
        let entity = merge_fields(current, &change.fields)?;
        self.send(put_user(&change.account_id, &entity)?).await?;
        Ok(())
    }

    fn describe(&self, change: &Change) -> Result<Vec<PreparedRequest>, TargetError> {
        let placeholder = merge_fields(Value::Null, &change.fields)?;
        Ok(vec![
            get_user(&change.account_id)?,
            put_user(&change.account_id, &placeholder)?,
        ])
    }
}
