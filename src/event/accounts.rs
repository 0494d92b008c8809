//! `data.accounts`: the account each target's plugin says an event may link
//! (`data.accounts.<target>.<field>`), read as text and checked for its shape.

use serde_json::{Map, Value};

use super::envelope::{Accounts, IdShape};
use super::validate::{Checker, InvalidEvent};

impl Checker<'_> {
    pub(super) fn accounts(&self, accounts: &Map<String, Value>) -> Result<Accounts, InvalidEvent> {
        let mut found = std::collections::BTreeMap::new();
        for key in self.account_keys {
            let read = match key.shape {
                IdShape::Numeric => Self::numeric_id,
                IdShape::Text => Self::text_id,
            };
            if let Some(id) = self.account(accounts, key.target, key.field, read)? {
                found.insert(key.target.to_string(), id);
            }
        }
        Ok(Accounts(found))
    }

    /// `data.accounts.<target>.<key>` as text, if the target is given.
    fn account(
        &self,
        accounts: &Map<String, Value>,
        target: &str,
        key: &str,
        read: fn(&Self, &Value, &str) -> Result<String, InvalidEvent>,
    ) -> Result<Option<String>, InvalidEvent> {
        let path = format!("data.accounts.{target}");
        let account = match accounts.get(target) {
            None => return Ok(None),
            Some(Value::Object(account)) => account,
            Some(_) => return Err(self.ids.fail(path, "must be a JSON object")),
        };
        let path = format!("{path}.{key}");
        match account.get(key) {
            None => Err(self.ids.fail(path, "required")),
            Some(value) => read(self, value, &path).map(Some),
        }
    }

    /// A positive integer, or a string of digits that is not all zeros.
    fn numeric_id(&self, value: &Value, path: &str) -> Result<String, InvalidEvent> {
        let text = match value {
            Value::Number(number) => number.as_u64().filter(|n| *n > 0).map(|n| n.to_string()),
            Value::String(text) => (text.bytes().all(|b| b.is_ascii_digit())
                && text.bytes().any(|b| b != b'0'))
            .then(|| text.clone()),
            _ => None,
        };
        text.ok_or_else(|| {
            self.ids.fail(
                path,
                format!("must be a positive integer or a string of digits (got {value})"),
            )
        })
    }

    fn text_id(&self, value: &Value, path: &str) -> Result<String, InvalidEvent> {
        let text = self.string(value, path)?;
        if text.trim().is_empty() {
            return Err(self.ids.fail(path, "must not be empty"));
        }
        if text.chars().any(char::is_control) {
            return Err(self.ids.fail(path, "must not contain control characters"));
        }
        Ok(text.to_owned())
    }
}
