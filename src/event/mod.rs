//! Event intake: one RabbitMQ message in, one validated [`HrEvent`] out, or an
//! [`InvalidEvent`] naming the field and the rule, so that everything downstream works on
//! typed, trusted data and bad messages can be dead-lettered with a readable reason.
//!
//! The contract is `shared/reference/events.md` (CloudEvents 1.0, structured or AMQP binary
//! mode); `schema/hr-event.schema.json` describes the structured-mode envelope for
//! publishers.

mod accounts;
mod decode;
mod envelope;
mod validate;

#[cfg(test)]
mod tests;

pub use decode::decode;
pub use envelope::{AccountKey, Accounts, Action, Envelope, HrEvent, IdShape, MAX_BODY_BYTES};
pub use validate::InvalidEvent;
