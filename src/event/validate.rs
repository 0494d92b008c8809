//! The contract's rules for one event (events.md), applied to the CloudEvents attributes
//! whichever mode they arrived in, so structured and binary mode cannot drift apart. Every
//! failure names the JSON path and the rule broken, because a rejected event ends up in a
//! dead-letter queue where someone must see at a glance what HR has to fix.

use email_address::{EmailAddress, Options};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::envelope::{AccountKey, Accounts, Action, HrEvent};

/// Longest accepted CloudEvents `id`.
const MAX_ID_CHARS: usize = 256;
/// Longest accepted employee id (`subject`, `data.employee_id`, `data.person.manager_id`).
const MAX_EMPLOYEE_ID_CHARS: usize = 64;

/// Why a message was rejected: `field` is the JSON path (`data.person.email`, `body`,
/// `sequence`…), `rule` says what it broke. The ids are filled in whenever they could be read
/// before the failure, for logs and dead letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidEvent {
    /// JSON path of the offending value, or `body` / `content_type` for the message itself.
    pub field: String,
    /// The rule broken, in words.
    pub rule: String,
    /// The event's `id`, if it could be read.
    pub event_id: Option<String>,
    /// The employee id (`subject`, else `data.employee_id`), if it could be read.
    pub employee_id: Option<String>,
}

/// The ids read from a message so far, stamped on every error raised after reading them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadIds {
    pub(crate) event_id: Option<String>,
    pub(crate) employee_id: Option<String>,
}

impl ReadIds {
    /// Reads `id` and `subject` (else `data.employee_id`) from the attributes, best effort:
    /// only non-empty strings, cut to a length fit for a log line.
    pub(crate) fn from_attributes(attributes: &Map<String, Value>) -> Self {
        let data_employee_id = attributes
            .get("data")
            .and_then(|data| data.get("employee_id"));
        ReadIds {
            event_id: readable(attributes.get("id")),
            employee_id: readable(attributes.get("subject")).or_else(|| readable(data_employee_id)),
        }
    }

    /// An [`InvalidEvent`] for `field` breaking `rule`, carrying these ids.
    pub(crate) fn fail(&self, field: impl Into<String>, rule: impl Into<String>) -> InvalidEvent {
        InvalidEvent {
            field: field.into(),
            rule: rule.into(),
            event_id: self.event_id.clone(),
            employee_id: self.employee_id.clone(),
        }
    }
}

fn readable(value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?;
    (!text.is_empty()).then(|| text.chars().take(MAX_ID_CHARS).collect())
}

/// Validates the CloudEvents attributes (with `data` among them) of one event and builds the
/// typed event.
pub(crate) fn validate(
    attributes: &Map<String, Value>,
    ids: &ReadIds,
    account_keys: &[AccountKey],
) -> Result<HrEvent, InvalidEvent> {
    let ids = &ReadIds::from_attributes(attributes).or(ids);
    let check = Checker { ids, account_keys };

    let specversion = check.required_str(attributes, "specversion", "specversion")?;
    if specversion != "1.0" {
        return Err(ids.fail(
            "specversion",
            format!("must be \"1.0\" (got {specversion:?})"),
        ));
    }
    let id = check.non_empty_str(attributes, "id", "id")?;
    if id.chars().count() > MAX_ID_CHARS {
        return Err(ids.fail("id", format!("longer than {MAX_ID_CHARS} characters")));
    }
    if id.chars().any(char::is_control) {
        // Ids are keys in the state store (PostgreSQL refuses NUL in text) and in logs.
        return Err(ids.fail("id", "must not contain control characters"));
    }
    let source = check.non_empty_str(attributes, "source", "source")?;
    let event_type = check.required_str(attributes, "type", "type")?;
    let action = Action::from_event_type(event_type)
        .ok_or_else(|| ids.fail("type", format!("unknown event type {event_type:?}")))?;
    let subject = check.non_empty_str(attributes, "subject", "subject")?;
    check.employee_id("subject", subject)?;
    let time_text = check.required_str(attributes, "time", "time")?;
    let time = OffsetDateTime::parse(time_text, &Rfc3339).map_err(|e| {
        ids.fail(
            "time",
            format!("not an RFC 3339 time like 2026-11-22T09:15:00Z ({e})"),
        )
    })?;
    let sequence = check.sequence(attributes.get("sequence"))?;
    if let Some(content_type) = attributes.get("datacontenttype") {
        let content_type = content_type
            .as_str()
            .ok_or_else(|| ids.fail("datacontenttype", "must be a string"))?;
        if media_type(content_type) != "application/json" {
            return Err(ids.fail(
                "datacontenttype",
                format!("must be application/json (got {content_type:?})"),
            ));
        }
    }

    let data = match attributes.get("data") {
        Some(Value::Object(data)) => data,
        Some(_) => return Err(ids.fail("data", "must be a JSON object")),
        None if attributes.contains_key("data_base64") => {
            return Err(ids.fail(
                "data",
                "required (data_base64 is not supported: send data as JSON)",
            ))
        }
        None => return Err(ids.fail("data", "required")),
    };
    let accounts = check.data(data, action, subject)?;

    Ok(HrEvent {
        id: id.to_owned(),
        source: source.to_owned(),
        action,
        subject: subject.to_owned(),
        time,
        sequence,
        data: Value::Object(data.clone()),
        accounts,
    })
}

impl ReadIds {
    fn or(self, earlier: &ReadIds) -> ReadIds {
        ReadIds {
            event_id: self.event_id.or_else(|| earlier.event_id.clone()),
            employee_id: self.employee_id.or_else(|| earlier.employee_id.clone()),
        }
    }
}

/// The media type of a content type, lowercase, without parameters
/// (`Application/JSON; charset=utf-8` → `application/json`).
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether `text` is an e-mail address as hrsync accepts them: a bare address (no display
/// name), a domain name with a dot, no IP literal.
pub(crate) fn is_email(text: &str) -> bool {
    let options = Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    EmailAddress::parse_with_options(text, options).is_ok()
}

/// Why `text` is not acceptable as an employee id, if it is not: ids end up in URLs, file
/// names and log lines, so they must be short, printable and free of path syntax.
pub(crate) fn employee_id_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("must not be empty".into());
    }
    if text.chars().count() > MAX_EMPLOYEE_ID_CHARS {
        return Some(format!("longer than {MAX_EMPLOYEE_ID_CHARS} characters"));
    }
    if text.chars().any(char::is_whitespace) {
        return Some("must not contain whitespace".into());
    }
    if text.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    if let Some(bad) = text.chars().find(|c| matches!(c, '/' | '?' | '#')) {
        return Some(format!("must not contain {:?}", bad.to_string()));
    }
    if text.contains("..") {
        return Some("must not contain \"..\"".into());
    }
    None
}

/// The rules, each raising an error that carries the ids read so far.
pub(super) struct Checker<'a> {
    pub(super) ids: &'a ReadIds,
    /// Where each target's account id is read from.
    pub(super) account_keys: &'a [AccountKey],
}

/// Person fields the contract names; all person fields must be strings.
const PERSON_REQUIRED: [&str; 3] = ["first_name", "last_name", "email"];

impl Checker<'_> {
    fn required_str<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v str, InvalidEvent> {
        match object.get(key) {
            None => Err(self.ids.fail(path, "required")),
            Some(value) => self.string(value, path),
        }
    }

    fn non_empty_str<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v str, InvalidEvent> {
        let text = self.required_str(object, key, path)?;
        if text.trim().is_empty() {
            return Err(self.ids.fail(path, "must not be empty"));
        }
        Ok(text)
    }

    pub(super) fn string<'v>(&self, value: &'v Value, path: &str) -> Result<&'v str, InvalidEvent> {
        value
            .as_str()
            .ok_or_else(|| self.ids.fail(path, "must be a string"))
    }

    fn employee_id(&self, path: &str, text: &str) -> Result<(), InvalidEvent> {
        match employee_id_problem(text) {
            Some(rule) => Err(self
                .ids
                .fail(path, format!("not a valid employee id: {rule}"))),
            None => Ok(()),
        }
    }

    /// `sequence`: an integer ≥ 1, as a JSON integer or a decimal string (CloudEvents
    /// extension attributes often travel as strings, AMQP headers in particular), at most
    /// 2^63 − 1: the state store keeps it as a signed 64-bit integer, and an event it could
    /// not record must be refused here, before any target is changed.
    fn sequence(&self, value: Option<&Value>) -> Result<u64, InvalidEvent> {
        let fail = |rule: String| Err(self.ids.fail("sequence", rule));
        let sequence = self.sequence_value(value)?;
        if i64::try_from(sequence).is_err() {
            return fail(format!("must be at most {} (got {sequence})", i64::MAX));
        }
        Ok(sequence)
    }

    fn sequence_value(&self, value: Option<&Value>) -> Result<u64, InvalidEvent> {
        let fail = |rule: String| Err(self.ids.fail("sequence", rule));
        match value {
            None => fail("required".into()),
            Some(Value::Number(number)) => match (number.as_u64(), number.as_i64()) {
                (Some(0), _) => fail("must be ≥ 1 (got 0)".into()),
                (Some(n), _) => Ok(n),
                (None, Some(negative)) => fail(format!("must be ≥ 1 (got {negative})")),
                (None, None) => fail(format!("must be a whole number ≥ 1 (got {number})")),
            },
            Some(Value::String(text)) => {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return fail(format!(
                        "must be an integer ≥ 1 or a string of decimal digits (got {text:?})"
                    ));
                }
                match text.parse::<u64>() {
                    Ok(0) => fail(format!("must be ≥ 1 (got {text:?})")),
                    Ok(n) => Ok(n),
                    Err(_) => fail(format!("too large for a 64-bit integer (got {text:?})")),
                }
            }
            Some(_) => fail("must be an integer ≥ 1 or a string of decimal digits".into()),
        }
    }

    /// The `data` object; returns the linked accounts.
    fn data(
        &self,
        data: &Map<String, Value>,
        action: Action,
        subject: &str,
    ) -> Result<Accounts, InvalidEvent> {
        let employee_id = self.required_str(data, "employee_id", "data.employee_id")?;
        if employee_id != subject {
            return Err(self.ids.fail("data.employee_id", "must equal subject"));
        }

        if let Some(date) = data.get("effective_date") {
            let date = self.string(date, "data.effective_date")?;
            if !is_iso_date(date) {
                return Err(self.ids.fail(
                    "data.effective_date",
                    format!("not a YYYY-MM-DD date (got {date:?})"),
                ));
            }
        }

        match data.get("person") {
            Some(Value::Object(person)) => self.person(person)?,
            Some(_) => return Err(self.ids.fail("data.person", "must be a JSON object")),
            None if action == Action::Leaver => {}
            None => {
                return Err(self
                    .ids
                    .fail("data.person", format!("required for a {action} event")))
            }
        }

        for key in ["roles", "sites"] {
            if let Some(list) = data.get(key) {
                self.string_list(list, &format!("data.{key}"))?;
            }
        }

        match data.get("accounts") {
            None => Ok(Accounts::default()),
            Some(Value::Object(accounts)) => self.accounts(accounts),
            Some(_) => Err(self.ids.fail("data.accounts", "must be a JSON object")),
        }
    }

    fn person(&self, person: &Map<String, Value>) -> Result<(), InvalidEvent> {
        for key in PERSON_REQUIRED {
            self.non_empty_str(person, key, &format!("data.person.{key}"))?;
        }
        for (key, value) in person {
            let path = format!("data.person.{key}");
            let text = self.string(value, &path)?;
            match key.as_str() {
                "email" | "username" if !is_email(text) => {
                    return Err(self.ids.fail(path, "not an e-mail address"));
                }
                "manager_id" => self.employee_id(&path, text)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn string_list(&self, list: &Value, path: &str) -> Result<(), InvalidEvent> {
        let items = list
            .as_array()
            .ok_or_else(|| self.ids.fail(path, "must be an array"))?;
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            if self.string(item, &item_path)?.trim().is_empty() {
                return Err(self.ids.fail(item_path, "must not be empty"));
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DD`, exactly, and a real calendar date.
fn is_iso_date(text: &str) -> bool {
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shape_ok
        && time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
}
