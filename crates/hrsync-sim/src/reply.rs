//! The simulator's response value: handlers build a `Reply` (status, JSON body, extra
//! headers) so the dispatcher can still inspect it (e.g. mirror `responseStatus` into
//! `X-VaultAPI-Status`) before it becomes an HTTP response. Also holds the error-body
//! builders for both API families.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// What a handler answers, before the common headers are added.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(HeaderName, String)>,
}

impl Reply {
    /// A JSON reply with the given status.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// An empty reply (e.g. 204).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header; invalid values are dropped when the response is built.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Vault: HTTP 200 with `responseStatus: SUCCESS` merged into `fields`.
    pub fn vault_success(fields: Value) -> Self {
        let mut body = json!({ "responseStatus": "SUCCESS" });
        if let (Some(target), Value::Object(extra)) = (body.as_object_mut(), fields) {
            target.extend(extra);
        }
        Self::json(StatusCode::OK, body)
    }

    /// Vault: HTTP 200 with a FAILURE body carrying one error.
    pub fn vault_failure(error_type: &str, message: impl Into<String>) -> Self {
        Self::json(StatusCode::OK, vault_failure_body(error_type, message))
    }

    /// SuperOffice: the documented error body with an HTTP status.
    pub fn so_error(status: StatusCode, error_type: &str, message: impl Into<String>) -> Self {
        let body = json!({
            "Error": true,
            "ErrorType": error_type,
            "ErrorMessage": message.into(),
            "ErrorSource": "SuperOffice.Simulator",
        });
        Self::json(status, body)
    }

    /// The body's `responseStatus`, if it has one (Vault family).
    pub fn response_status(&self) -> Option<&str> {
        self.body.as_ref()?.get("responseStatus")?.as_str()
    }
}

/// `{"responseStatus":"FAILURE","errors":[{"type":…,"message":…}]}`.
pub(crate) fn vault_failure_body(error_type: &str, message: impl Into<String>) -> Value {
    json!({
        "responseStatus": "FAILURE",
        "errors": [{ "type": error_type, "message": message.into() }],
    })
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => {
                let mut r = (self.status, body.to_string()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                r
            }
            None => self.status.into_response(),
        };
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
