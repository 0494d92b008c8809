//! Ids from events end up in URL paths. Anything that could change the path (`/`, `..`,
//! `?`, `#`, `%`, whitespace) is rejected before a request is built, so an event can never
//! address a different resource than the one its id names.

use super::TargetError;

/// A digits-only id (Vault user ids, SuperOffice associate ids).
pub fn numeric(field: &str, id: &str) -> Result<String, TargetError> {
    if !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(invalid(field, "must be digits only"))
    }
}

/// A Vault record id such as `V0B000000001001`: ASCII letters and digits.
pub fn alphanumeric(field: &str, id: &str) -> Result<String, TargetError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id.to_string())
    } else {
        Err(invalid(field, "must be ASCII letters and digits only"))
    }
}

/// An opaque resource id such as a SCIM `id` (often a UUID): ASCII letters, digits, `-`
/// and `_` — nothing that could leave its path segment.
pub fn path_segment(field: &str, id: &str) -> Result<String, TargetError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !id.is_empty() && id.len() <= 128 && id.bytes().all(allowed) {
        Ok(id.to_string())
    } else {
        Err(invalid(
            field,
            "must be ASCII letters, digits, - and _ only",
        ))
    }
}

fn invalid(field: &str, rule: &str) -> TargetError {
    TargetError::permanent("invalid_id", format!("{field}: {rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_changing_ids_are_rejected() {
        for bad in [
            "",
            "25001/../1",
            "..",
            "1?x=1",
            "1#a",
            "1 2",
            "12%2F3",
            "-1",
            "١٢",
        ] {
            assert!(numeric("accounts.vault.user_id", bad).is_err(), "{bad:?}");
        }
        for bad in ["V0B/1", "V0B..1", "V0B 1", "V0B?1", "V0B#1"] {
            assert!(
                alphanumeric("accounts.sitevault.person_id", bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ordinary_ids_pass() {
        assert_eq!(numeric("f", "25001").unwrap(), "25001");
        assert_eq!(
            alphanumeric("f", "V0B000000001001").unwrap(),
            "V0B000000001001"
        );
    }

    #[test]
    fn the_error_names_the_field() {
        let err = numeric("accounts.vault.user_id", "../admin").unwrap_err();
        assert_eq!(err.code.as_str(), "invalid_id");
        assert!(err.detail.starts_with("accounts.vault.user_id:"));
    }
}
