//! How a target failure is classified, because that decides its fate: retried, dead-lettered
//! at once, or reported as a configuration problem that must not be retried in a loop.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Might succeed later: connection trouble, timeouts, 5xx, 429, rate limits, races.
    Transient,
    /// Will fail the same way again: bad data, unknown user, 400/404.
    Permanent,
    /// The target is misconfigured (credentials rejected, wrong Vault): retrying risks
    /// an account lock-out and cannot help until an operator acts.
    Config,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Config => "config",
        }
    }
}

/// The short, stable code of a failure: a metric label and dead-letter header. The codes
/// hrsync itself steers by are variants, so a typo cannot silently change what happens;
/// everything a target says (`INVALID_DATA`, `http_503`, `timeout`, …) is carried as
/// [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Refused by hrsync's own circuit breaker: the target looks down; parked, no round used.
    CircuitOpen,
    /// A mapping expression failed for the event: dead letter `mapping`.
    Mapping,
    /// No known account in the target: dead letter `unlinked` for a leaver.
    Unlinked,
    /// The state store failed: the event waits or is deferred.
    Store,
    /// An id that cannot be used in a URL: dead letter `invalid_id`.
    InvalidId,
    /// Several accounts match the person: never guessed; dead letter `ambiguous_match`.
    Ambiguous,
    /// What the target (or the transport) said.
    Other(String),
}

impl ErrorCode {
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::CircuitOpen => "circuit_open",
            ErrorCode::Mapping => "mapping",
            ErrorCode::Unlinked => "unlinked",
            ErrorCode::Store => "store",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::Ambiguous => "ambiguous_match",
            ErrorCode::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        match code {
            "circuit_open" => ErrorCode::CircuitOpen,
            "mapping" => ErrorCode::Mapping,
            "unlinked" => ErrorCode::Unlinked,
            "store" => ErrorCode::Store,
            "invalid_id" => ErrorCode::InvalidId,
            "ambiguous_match" => ErrorCode::Ambiguous,
            other => ErrorCode::Other(other.to_string()),
        }
    }
}

impl From<String> for ErrorCode {
    fn from(code: String) -> Self {
        ErrorCode::from(code.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed target operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub class: ErrorClass,
    pub code: ErrorCode,
    /// Human-readable detail, free of secrets and personal data.
    pub detail: String,
    /// How long the target asked us to wait (`Retry-After`, rate-limit windows).
    pub retry_after: Option<Duration>,
}

impl TargetError {
    pub fn new(class: ErrorClass, code: impl Into<ErrorCode>, detail: impl Into<String>) -> Self {
        TargetError {
            class,
            code: code.into(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn transient(code: impl Into<ErrorCode>, detail: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, code, detail)
    }

    pub fn permanent(code: impl Into<ErrorCode>, detail: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, code, detail)
    }

    pub fn config(code: impl Into<ErrorCode>, detail: impl Into<String>) -> Self {
        Self::new(ErrorClass::Config, code, detail)
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }

    /// Classifies a non-success HTTP status the same way for every target.
    pub fn from_status(status: reqwest::StatusCode, detail: impl Into<String>) -> Self {
        let code = format!("http_{}", status.as_u16());
        match status.as_u16() {
            401 | 403 | 421 => Self::config(code, detail),
            408 | 425 | 429 | 500..=599 => Self::transient(code, detail),
            _ => Self::permanent(code, detail),
        }
    }

    /// Classifies a transport failure (no HTTP answer).
    pub fn from_transport(err: &reqwest::Error) -> Self {
        let code = if err.is_timeout() {
            "timeout"
        } else if err.is_connect() {
            "connect"
        } else {
            "transport"
        };
        // A certificate the target refuses, or one that does not chain to a trusted CA,
        // needs an operator (targets.*.tls), not retries.
        if let Some(why) = crate::tls::is_certificate_error(err) {
            return Self::config("tls_certificate", format!("TLS: {why}"));
        }
        // reqwest's Display includes the URL, which carries only ids, never secrets.
        Self::transient(code, err.to_string())
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.class.as_str(), self.code, self.detail)
    }
}

impl std::error::Error for TargetError {}
