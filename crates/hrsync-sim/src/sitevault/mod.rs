//! Veeva SiteVault user admin, with Vault session auth and Vault FAILURE bodies (Veeva
//! documents no other error shape):
//! - Create User, `POST /api/{v}/app/sitevault/useradmin/persons` (`create`): a JSON array
//!   of exactly one person; an inactive person with the same e-mail is re-activated.
//! - Edit User, `PUT …/useradmin/persons/{personId}` (`edit`), one person per call.
//!   Replace semantics per block: the org assignment with the sent `org_id` replaces the
//!   stored one, each site assignment replaces the stored one for its USN (others are
//!   kept), each study assignment replaces the one with its `id`; an add-on not repeated
//!   is gone.
//! - The `person__sys` VQL queries — lookups (`SELECT id FROM person__sys WHERE …`) and
//!   paginated listings (`SELECT id, email__sys, … FROM person__sys PAGESIZE n`) — and the
//!   `POST /api/{v}/query/{token}` follow-ups of their `next_page` / `previous_page`,
//!   answered by `crate::vql` and routed here because they are about SiteVault persons.
//!
//! Both calls validate `assignments` the same way (`assignments`), naming the bad field.
//! Veeva documents no call that reads a person back, so the simulator answers a `GET` on
//! that path as the real API answers an unsupported method (tests read the stored person
//! through the `/_sim` control plane instead).
//! Simulator choice: a person belongs to one organization; an edit with an `org_id` other
//! than the stored one is refused with INVALID_DATA.

mod assignments;
mod create;
mod edit;

use axum::http::Method;

use super::api::ApiRequest;
use super::reply::Reply;
use super::state::State;
use super::vault::authorize;
use super::{vql, SimulatorConfig};

/// Every SiteVault request (session-checked like Vault).
pub(crate) fn handle(state: &mut State, config: &SimulatorConfig, request: &ApiRequest) -> Reply {
    if let Err(reply) = authorize(state, config, request) {
        return reply;
    }
    let rest: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    match (rest.as_slice(), &request.method) {
        (["query"], &Method::POST) => vql::query(state, request),
        (["query", token], &Method::POST) => vql::follow(state, request, token),
        (["app", "sitevault", "useradmin", "persons"], &Method::POST) => {
            create::create_person(state, request)
        }
        (["app", "sitevault", "useradmin", "persons", id], &Method::PUT) => {
            edit::edit_person(state, request, id)
        }
        (["app", "sitevault", "useradmin", "persons", ..], method) => Reply::vault_failure(
            "METHOD_NOT_SUPPORTED",
            format!("Method {method} is not supported for {}", request.path),
        ),
        _ => Reply::vault_failure(
            "MALFORMED_URL",
            format!("The resource [{}] does not exist", request.path),
        ),
    }
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::vault_failure("INVALID_DATA", message)
}

fn unknown_person(id: &str) -> Reply {
    invalid(format!("Invalid personId [{id}]"))
}

/// The request must be `application/json`, as both calls document.
fn require_json(request: &ApiRequest) -> Result<(), String> {
    if request.media_type_is("application/json") {
        Ok(())
    } else {
        Err(format!(
            "Content-Type [{}] is not supported; expected application/json",
            request.content_type().unwrap_or("")
        ))
    }
}
