//! Errors of the state store, built so that logging one can never leak a database password.
//!
//! Connection failures are the only errors that could carry the URL, so [`StoreError::Connect`]
//! holds text only: the URL with its password replaced by `***`, and the driver's message with
//! every form of the password scrubbed out. Neither `Display` nor `Debug` can reach the
//! original.

use super::Outcome;

/// What went wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported state store URL scheme {scheme:?}: expected sqlite: or postgres:")]
    UnsupportedUrl { scheme: String },

    /// The database could not be opened or reached.
    #[error("cannot open the {backend} state store at {url}: {reason}")]
    Connect {
        backend: &'static str,
        /// The URL with any password replaced by `***`.
        url: String,
        /// The driver's message, passwords scrubbed.
        reason: String,
    },

    /// Applying the shipped migrations failed.
    #[error("migrating the {backend} state store failed: {source}")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed.
    #[error("state store {op} failed: {source}")]
    Query {
        /// What the store was doing, e.g. `record_applied`.
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// Sequences are stored as signed 64-bit integers.
    #[error("sequence {0} is larger than the state store can hold ({max})", max = i64::MAX)]
    SequenceOutOfRange(u64),

    /// The call does not record this outcome (e.g. `applied` through `record_outcome`).
    #[error("outcome {outcome} cannot be recorded by {call}")]
    InvalidOutcome {
        outcome: Outcome,
        call: &'static str,
    },

    /// An outcome name not known to this version (from `Outcome::from_str` or a stored row).
    #[error("unknown outcome {0:?}")]
    UnknownOutcome(String),

    /// A write waiting for the group commit was dropped by the caller writing it (that
    /// caller was cancelled, e.g. at shutdown); its transaction rolled back.
    #[error("state store write abandoned before it was committed")]
    Abandoned,

    /// A stored row could not be read back (bad JSON, time out of range).
    #[error("state store row is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the store itself failed (unreachable, full, read-only, I/O error, or a
    /// schema that refuses every write): something that heals, so the worker waits for it.
    /// The rest is about one record — its data refused (PostgreSQL class 22, SQLite
    /// "too big"/"mismatch"), a row that cannot be read back — and waiting would not help.
    pub fn is_outage(&self) -> bool {
        match self {
            StoreError::Connect { .. } | StoreError::Abandoned => true,
            StoreError::Query { source, .. } => is_outage(source),
            _ => false,
        }
    }

    pub(super) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }
}

fn is_outage(error: &sqlx::Error) -> bool {
    use sqlx::Error::*;
    match error {
        Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL SQLSTATE: 22xxx is a data exception (this value, this row).
            // SQLite primary result codes: 18 TOOBIG, 20 MISMATCH, 25 RANGE.
            let about_the_data = if code.len() == 5 {
                code.starts_with("22")
            } else {
                let primary = code.parse::<i64>().map_or(0, |c| c & 0xff);
                matches!(primary, 18 | 20 | 25)
            };
            !about_the_data
        }
        ColumnDecode { .. }
        | Decode(_)
        | ColumnNotFound(_)
        | ColumnIndexOutOfBounds { .. }
        | TypeNotFound { .. }
        | Encode(_)
        | InvalidArgument(_) => false,
        _ => true,
    }
}

/// A URL made safe to show, and the secrets to scrub from any text that came with it.
pub(super) struct Redacted {
    pub url: String,
    secrets: Vec<String>,
}

impl Redacted {
    /// Replaces every secret of the URL in `text` with `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// Hides the password of `url` (user-info part and any `password=` query parameter).
pub(super) fn redact(url: &str) -> Redacted {
    let mut secrets = Vec::new();
    let mut out = url.to_owned();

    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &url[rest_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                let password = &userinfo[colon + 1..];
                if !password.is_empty() {
                    secrets.push(password.to_owned());
                    out = format!(
                        "{}{}:***{}",
                        &url[..rest_start],
                        &userinfo[..colon],
                        &url[rest_start + at..]
                    );
                }
            }
        }
    }

    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let mut parts = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("password") && !value.is_empty() => {
                    secrets.push(value.to_owned());
                    parts.push(format!("{key}=***"));
                }
                _ => parts.push(pair.to_owned()),
            }
        }
        out = format!("{head}{}", parts.join("&"));
    }

    // The driver may quote the password decoded; scrub that form too. Longest first, so a
    // secret that contains another is replaced whole.
    let decoded: Vec<String> = secrets
        .iter()
        .map(|s| percent_decode(s))
        .filter(|d| !secrets.contains(d))
        .collect();
    secrets.extend(decoded);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    Redacted { url: out, secrets }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
