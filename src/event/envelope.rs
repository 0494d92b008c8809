//! The typed shapes of an HR change event, kept apart from decoding so that the sync code
//! (which only ever sees a validated [`HrEvent`]) does not depend on the wire format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest message body accepted by default; bigger ones are rejected before parsing so a
/// runaway publisher cannot make the worker allocate without bound.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What happened to the employee, from the CloudEvents `type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `hr.employee.joiner`: a new hire; accounts are created or re-activated.
    Joiner,
    /// `hr.employee.mover`: a change to a current employee's record.
    Mover,
    /// `hr.employee.leaver`: the employee left; accounts are deactivated.
    Leaver,
}

impl Action {
    /// Every action, in lifecycle order.
    pub const ALL: [Action; 3] = [Action::Joiner, Action::Mover, Action::Leaver];

    /// Short lowercase name (`"joiner"`), as used in config, logs and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Joiner => "joiner",
            Action::Mover => "mover",
            Action::Leaver => "leaver",
        }
    }

    /// Whether the employee is active after this event (joiner, mover): their accounts must
    /// be active, whatever state an older, skipped event would have left them in.
    pub fn is_active(&self) -> bool {
        *self != Action::Leaver
    }

    /// The CloudEvents `type` that carries this action (`"hr.employee.joiner"`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Action::Joiner => "hr.employee.joiner",
            Action::Mover => "hr.employee.mover",
            Action::Leaver => "hr.employee.leaver",
        }
    }

    /// The action for a CloudEvents `type`, or `None` for any other type.
    pub fn from_event_type(event_type: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.event_type() == event_type)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated HR change event: the CloudEvents attributes hrsync relies on, typed, plus
/// the whole `data` object for the mappings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HrEvent {
    /// CloudEvents `id`: the idempotency key.
    pub id: String,
    /// CloudEvents `source`: the HR system, e.g. `urn:hr:workday`.
    pub source: String,
    /// From CloudEvents `type`.
    pub action: Action,
    /// CloudEvents `subject`: the employee id (equal to `data.employee_id`), the ordering key.
    pub subject: String,
    /// CloudEvents `time`: when the change was recorded in HR.
    pub time: time::OffsetDateTime,
    /// CloudEvents extension `sequence`: the HR record version, ≥ 1, increasing per employee.
    pub sequence: u64,
    /// The whole validated `data` object, unknown extra fields kept (mappings use them).
    pub data: serde_json::Value,
    /// The target accounts named in `data.accounts`, as text.
    pub accounts: Accounts,
}

impl HrEvent {
    /// The employee this event is about (the `subject`).
    pub fn employee_id(&self) -> &str {
        &self.subject
    }

    /// The CloudEvents `type` of this event (`"hr.employee.mover"`).
    /// The event as a structured-mode CloudEvent, as held messages are stored and
    /// republished (whatever mode it arrived in).
    pub fn to_structured_json(&self) -> serde_json::Value {
        serde_json::json!({
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.event_type(),
            "subject": self.subject,
            "time": self.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "sequence": self.sequence,
            "datacontenttype": "application/json",
            "data": self.data,
        })
    }

    /// `data.effective_date`, if the event has one.
    pub fn effective_date(&self) -> Option<&str> {
        self.data
            .get("effective_date")
            .and_then(serde_json::Value::as_str)
    }

    pub fn event_type(&self) -> &'static str {
        self.action.event_type()
    }
}

/// Existing target accounts the event links the employee to (`data.accounts`), by target
/// name: `data.accounts.<target>.<field>` for each target's [`AccountKey`]. Ids are text
/// whatever their JSON type, because they end up in URLs.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Accounts(pub std::collections::BTreeMap<String, String>);

impl Accounts {
    /// The account id the event gives for `target`.
    pub fn get(&self, target: &str) -> Option<&str> {
        self.0.get(target).map(String::as_str)
    }
}

/// Where an event links a target's account, and what its id looks like: each target says
/// (`targets::TargetPlugin::account`), and the decoder checks what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountKey {
    /// The target's name, the key under `data.accounts`.
    pub target: &'static str,
    /// The id's field inside it (`user_id`, `person_id`, …).
    pub field: &'static str,
    pub shape: IdShape,
}

/// What an account id must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdShape {
    /// A positive integer, or a string of digits that is not all zeros.
    Numeric,
    /// Non-empty text without control characters.
    Text,
}

/// Attributes delivered beside the body (AMQP message properties and headers), already
/// converted to JSON values by the RabbitMQ source.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// The AMQP `content-type` property, if any.
    pub content_type: Option<&'a str>,
    /// AMQP headers (application properties) by name.
    pub headers: &'a BTreeMap<String, serde_json::Value>,
}
