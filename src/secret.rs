//! Secrets in configuration: read from a file (Kubernetes secret mounts) or an environment
//! variable, never required inline, and never printed.
//!
//! A secret is written in the config as `{ file = "/run/secrets/x" }`, `{ env = "VAR" }`,
//! or — for local development only — a plain string. Environment overrides such as
//! `HRSYNC_TARGETS__VAULT__PASSWORD=…` arrive as the plain-string form. The value is
//! resolved once at start-up so a missing file is a start-up error, not a failure at the
//! first request.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// Where a secret comes from, as written in the configuration.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "serde_json::Value")]
pub enum SecretSource {
    /// `{ file = "/path" }`: the file's content, without a trailing newline.
    File { file: PathBuf },
    /// `{ env = "NAME" }`: the variable's value.
    Env { env: String },
    /// A literal value (development, or injected through an environment override).
    Inline(String),
}

/// Environment overrides are parsed like TOML values, so an all-digit password arrives as a
/// number: it is taken back as text. (Write secrets as files or `{ env = "VAR" }` to avoid
/// any parsing.)
impl TryFrom<serde_json::Value> for SecretSource {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        use serde_json::Value;
        let forms = "expected { file = \"/path\" }, { env = \"VAR\" } or a string";
        match value {
            Value::String(text) => Ok(SecretSource::Inline(text)),
            Value::Number(number) => Ok(SecretSource::Inline(number.to_string())),
            Value::Bool(flag) => Ok(SecretSource::Inline(flag.to_string())),
            // An `{ env = … }` override merged onto the file's `{ file = … }` gives both
            // keys: the environment, applied last, wins.
            Value::Object(map) => match (map.get("env"), map.get("file")) {
                (Some(Value::String(name)), _) => Ok(SecretSource::Env { env: name.clone() }),
                (None, Some(Value::String(path))) if map.len() == 1 => {
                    Ok(SecretSource::File { file: path.into() })
                }
                _ => Err(forms.into()),
            },
            other => Err(format!("{forms}, got {other}")),
        }
    }
}

/// Written back the way it was read (configuration tools; never logged: Debug redacts).
impl serde::Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            SecretSource::File { file } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("file", file)?;
                map.end()
            }
            SecretSource::Env { env } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("env", env)?;
                map.end()
            }
            SecretSource::Inline(value) => serializer.serialize_str(value),
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File { file } => write!(f, "file:{}", file.display()),
            SecretSource::Env { env } => write!(f, "env:{env}"),
            SecretSource::Inline(_) => f.write_str("inline:[redacted]"),
        }
    }
}

impl SecretSource {
    /// Reads the secret. The error names where it looked, never the value.
    pub fn resolve(&self) -> Result<Secret, String> {
        let value = match self {
            SecretSource::File { file } => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read secret file {}: {e}", file.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            SecretSource::Env { env } => {
                std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))?
            }
            SecretSource::Inline(value) => value.clone(),
        };
        if value.is_empty() {
            return Err(format!("secret from {self:?} is empty"));
        }
        Ok(Secret(SecretString::from(value)))
    }
}

/// A resolved secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value, for building an auth header or a login form. Keep the result out of logs.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = SecretSource::Inline("hunter2".into()).resolve().unwrap();
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert!(!format!("{:?}", SecretSource::Inline("hunter2".into())).contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newline() {
        let path = std::env::temp_dir().join(format!("hrsync-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretSource::File { file: path.clone() }.resolve().unwrap();
        assert_eq!(secret.expose(), "s3cret");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_missing_env_secret_names_the_variable() {
        let err = SecretSource::Env {
            env: "HRSYNC_TEST_SURELY_UNSET".into(),
        }
        .resolve()
        .unwrap_err();
        assert!(err.contains("HRSYNC_TEST_SURELY_UNSET"), "{err}");
    }
}
