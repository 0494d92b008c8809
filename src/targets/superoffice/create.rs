//! Creating a SuperOffice user (superoffice-facts.md, provisioning-facts.md §1c): a Person
//! under the owner company, SuperOffice's default user carrier for it, then the carrier
//! with the create block's fields saved. Every User-agent call may be refused by
//! SuperOffice Online, which is a configuration problem of its own, not a credentials one.

use super::request_builder::{create_person, default_user, save_user};
use super::service::SuperOfficeTarget;
use crate::targets::http_client::Answer;
use crate::targets::{Creation, ErrorClass, PreparedRequest, TargetError};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Instant;

impl SuperOfficeTarget {
    /// A person under the owner company, SuperOffice's default user for it, then the
    /// filled-in user saved (superoffice-facts.md, provisioning-facts.md §1c).
    pub(super) async fn create_user(&self, creation: &Creation) -> Result<String, TargetError> {
        let owner = self.owner_contact_id.ok_or_else(|| {
            TargetError::config(
                "owner_company",
                "targets.superoffice.owner_contact_id is not set: a new user's person must belong to an owner company",
            )
        })?;
        if self.user_agent_refused() {
            // No person for a user that could not be saved; retried after the cooldown.
            return Err(user_agent_not_allowed());
        }
        let event_id = &creation.event_id;
        let pending = self
            .pending_persons
            .lock()
            .expect("lock poisoned")
            .get(&creation.employee_id)
            .copied();
        let person_id = match pending {
            Some(person_id) => person_id,
            None => {
                let person = self
                    .send(create_person(&creation.fields, owner), event_id)
                    .await?;
                let person = success_json(&person, "create person")?;
                let person_id =
                    person
                        .get("PersonId")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| {
                            TargetError::transient("bad_response", "created Person has no PersonId")
                        })?;
                self.pending_persons
                    .lock()
                    .expect("lock poisoned")
                    .insert(creation.employee_id.clone(), person_id);
                person_id
            }
        };
        let carrier = self
            .send_to_user_agent(default_user(person_id), event_id)
            .await?;
        let carrier = success_json(&carrier, "default user")?;
        let saved = self
            .send_to_user_agent(save_user(carrier, &creation.fields), event_id)
            .await?;
        let saved = success_json(&saved, "save user")?;
        self.pending_persons
            .lock()
            .expect("lock poisoned")
            .remove(&creation.employee_id);
        saved
            .get("AssociateId")
            .and_then(Value::as_i64)
            .filter(|id| *id > 0)
            .map(|id| id.to_string())
            .ok_or_else(|| TargetError::transient("bad_response", "saved User has no AssociateId"))
    }

    /// The creating requests, for dry runs (the person id is not known yet: 0).
    pub(super) fn describe_creation(&self, creation: &Creation) -> Vec<PreparedRequest> {
        let owner = self.owner_contact_id.unwrap_or_default();
        vec![
            create_person(&creation.fields, owner),
            default_user(0),
            save_user(Value::Object(Default::default()), &creation.fields),
        ]
    }

    /// The User agent's refusal while its cooldown runs, for `/readyz`.
    pub(super) fn user_agent_problem(&self) -> Option<String> {
        self.user_agent_refused()
            .then(|| format!("user_agent_not_allowed: {USER_AGENT_NOT_ALLOWED}"))
    }

    /// Sends a call to the User agent (default user, save user, MakeRetired). SuperOffice Online does
    /// not offer that agent to apps by default: a 403 there says *user management* is not
    /// allowed, not that the credentials are wrong, so it does not suspend the other calls.
    pub(super) async fn send_to_user_agent(
        &self,
        request: PreparedRequest,
        event_id: &str,
    ) -> Result<Answer, TargetError> {
        let answer = self.transmit(request, event_id).await?;
        if answer.status == StatusCode::FORBIDDEN {
            *self.user_agent_refused.lock().expect("lock poisoned") = Some(Instant::now());
            return Err(user_agent_not_allowed());
        }
        *self.user_agent_refused.lock().expect("lock poisoned") = None;
        self.credentials_accepted(answer)
    }

    /// Whether the User agent was refused within the cooldown.
    pub(super) fn user_agent_refused(&self) -> bool {
        self.user_agent_refused
            .lock()
            .expect("lock poisoned")
            .is_some_and(|since| since.elapsed() < self.login_cooldown)
    }
}

fn user_agent_not_allowed() -> TargetError {
    TargetError::new(
        ErrorClass::Config,
        "user_agent_not_allowed",
        USER_AGENT_NOT_ALLOWED,
    )
}

pub(super) const USER_AGENT_NOT_ALLOWED: &str =
    "SuperOffice refuses user management (HTTP 403 from the \
     User agent; SuperOffice Online restricts it for apps): have the app granted the User agent, \
     or remove [mapping.superoffice.create]";

/// A successful answer's JSON body; anything else is the answer's status error.
fn success_json(answer: &Answer, what: &str) -> Result<Value, TargetError> {
    if !answer.status.is_success() {
        return Err(answer.status_error());
    }
    serde_json::from_str(&answer.body)
        .map_err(|e| TargetError::transient("bad_response", format!("{what}: not JSON: {e}")))
}
