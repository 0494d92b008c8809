//! [`SimClient`]: the typed client of the simulator's `/_sim` control plane — queue faults,
//! read the request log, read, list, find and seed accounts, read call counters.
//!
//! Accounts a create call made have ids only the simulator chose, so tests find them by
//! what they sent ([`SimClient::find_users`]) rather than by id.
//!
//! Reconciliation tests shape what a target lists: [`SimClient::clear_users`] empties a
//! target ("the target answers 0 accounts"), [`SimClient::set_user_field`] changes one
//! field of a stored account (drift), [`SimClient::seed`] adds or replaces a whole one.
//!
//! Faults are [`hrsync_sim::FaultSpec`] values, the very type the simulator deserialises,
//! so a test cannot post a fault the simulator would not understand. The request log stays
//! JSON (`seq`, `target`, `method`, `path`, `query`, `headers`, `body`, `status`): tests
//! assert on the wire as it arrived, and JSON is what a request on the wire is.

use std::time::Duration;

use hrsync_sim::{FaultSpec, SimulatorConfig};
use serde_json::{json, Map, Value};

use crate::{eventually, WAIT};

/// A client of one simulator's control plane.
#[derive(Clone)]
pub struct SimClient {
    /// The simulator's base URL (`http://127.0.0.1:port`).
    pub url: String,
    http: reqwest::Client,
}

impl SimClient {
    pub fn new(url: String) -> Self {
        Self {
            url,
            http: reqwest::Client::new(),
        }
    }

    /// `GET {url}{path}` as JSON.
    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Queues a fault; panics if the simulator refuses it.
    pub async fn fault(&self, fault: FaultSpec) {
        let response = self
            .http
            .post(format!("{}/_sim/faults", self.url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "fault {fault:?} not accepted: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Removes every queued fault.
    pub async fn clear_faults(&self) {
        let status = self
            .http
            .delete(format!("{}/_sim/faults", self.url))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "clearing faults: {status}");
    }

    /// Ends every Vault session, as an expiry on Vault's side would.
    pub async fn expire_vault_sessions(&self) {
        let status = self
            .http
            .post(format!("{}/_sim/vault/expire-sessions", self.url))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }

    /// Requests the simulator received for `target`, auth calls included, in arrival order.
    pub async fn requests(&self, target: &str) -> Vec<Value> {
        match self.get(&format!("/_sim/requests?target={target}")).await {
            Value::Array(requests) => requests,
            other => panic!("the request log is no list: {other}"),
        }
    }

    /// Requests for `target` with this method, auth excluded.
    pub async fn writes(&self, target: &str, method: &str) -> Vec<Value> {
        self.requests(target)
            .await
            .into_iter()
            .filter(|r| {
                r["method"] == method && !r["path"].as_str().unwrap_or("").ends_with("/auth")
            })
            .collect()
    }

    /// Waits until at least `n` such requests arrived; returns them all.
    pub async fn wait_for_writes(&self, target: &str, method: &str, n: usize) -> Vec<Value> {
        let what = format!("{n} {method} request(s) to {target}");
        eventually(WAIT, &what, || async {
            let found = self.writes(target, method).await;
            if found.len() >= n {
                Ok(found)
            } else {
                Err(format!("{} so far: {found:#?}", found.len()))
            }
        })
        .await
    }

    /// One account as the simulator holds it (an `error` body when there is none).
    pub async fn user(&self, target: &str, id: &str) -> Value {
        self.get(&format!("/_sim/users/{target}/{id}")).await
    }

    /// Every account of `target` (`vault`, `sitevault`, `superoffice`, `scim`) as the
    /// simulator holds it, in id order (`GET /_sim/users/{target}`).
    pub async fn users(&self, target: &str) -> Vec<Value> {
        match self.get(&format!("/_sim/users/{target}")).await {
            Value::Array(users) => users,
            other => panic!("no account list for {target}: {other}"),
        }
    }

    /// The accounts of `target` whose top-level `field` equals `value`, ignoring case
    /// (a number or boolean compares as its text), e.g.
    /// `find_users("vault", "user_email__v", "ana@verteo.example")`,
    /// `find_users("sitevault", "email", …)`, `find_users("superoffice", "UserName", …)`,
    /// `find_users("scim", "userName", …)`.
    pub async fn find_users(&self, target: &str, field: &str, value: &str) -> Vec<Value> {
        self.users(target)
            .await
            .into_iter()
            .filter(|user| field_equals(&user[field], value))
            .collect()
    }

    /// Replaces (or creates) one account.
    pub async fn seed(&self, target: &str, id: &str, record: Value) {
        let status = self
            .http
            .put(format!("{}/_sim/users/{target}/{id}", self.url))
            .json(&record)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "seeding {target}/{id}: {status}");
    }

    /// Removes every account of `target` (`DELETE /_sim/users/{target}`), so its listings
    /// answer none; SuperOffice keeps its persons (they are not accounts). Panics if the
    /// simulator refuses (an unknown target).
    pub async fn clear_users(&self, target: &str) {
        let status = self
            .http
            .delete(format!("{}/_sim/users/{target}", self.url))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "clearing {target} accounts: {status}");
    }

    /// Sets one field of a stored account to `value` and stores the account back (reads
    /// `GET /_sim/users/{target}/{id}`, writes the whole record with
    /// `PUT /_sim/users/{target}/{id}`), e.g. to seed drift:
    /// `set_user_field("vault", "25001", "user_title__v", json!("Auditor"))`. `field` is a
    /// top-level key as the simulator stores it (`user_title__v`, `first_name`, `UserName`,
    /// `title`) or a dotted path into nested objects (`Person.Title`, `name.givenName`);
    /// missing objects on the way are created. Panics if there is no such account.
    pub async fn set_user_field(&self, target: &str, id: &str, field: &str, value: Value) {
        let response = self
            .http
            .get(format!("{}/_sim/users/{target}/{id}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_success(), "no {target} account {id}: {status}");
        let mut record: Value = response.json().await.unwrap();
        set_path(&mut record, field, value);
        self.seed(target, id, record).await;
    }

    /// The contract example's SiteVault person (`V0B000000001001`) with `org_role` and
    /// `sites` as `(site_usn, system_role_id)`.
    pub async fn seed_person(&self, org_role: &str, sites: &[(&str, &str)]) {
        let site_assignments: Vec<Value> = sites
            .iter()
            .map(|(usn, role)| json!({"site_usn": usn, "system_role_id": role}))
            .collect();
        self.seed(
            "sitevault",
            "V0B000000001001",
            json!({
                "id": "V0B000000001001", "username": "ana.silva@verteo.example",
                "email": "ana.silva@verteo.example", "is_investigator": false,
                "record_status": "active__v",
                "assignments": {
                    "org_assignment": {"org_id": "V42000000001001", "system_role_id": org_role},
                    "site_assignments": site_assignments
                }
            }),
        )
        .await;
    }

    /// Vault and SiteVault logins so far.
    pub async fn auth_calls(&self) -> u64 {
        self.get("/_sim/stats").await["auth_calls"]
            .as_u64()
            .expect("stats carry auth_calls")
    }

    /// Waits until the simulator answers its health check.
    pub async fn wait_healthy(&self, within: Duration) {
        eventually(within, "the simulator answering /_sim/health", || async {
            match self
                .http
                .get(format!("{}/_sim/health", self.url))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }
}

/// A simulator whose Vault burst limit (2,000 calls per 5 minutes by default, as Vault's
/// historical one) does not slow load tests down.
pub fn roomy_simulator() -> SimulatorConfig {
    SimulatorConfig {
        burst_limit: 10_000_000,
        ..SimulatorConfig::default()
    }
}

/// Sets `record[a][b]…[last]` for the dotted `path`, turning whatever is on the way and
/// not an object into one.
fn set_path(record: &mut Value, path: &str, value: Value) {
    let (parents, last): (Vec<&str>, &str) = match path.rsplit_once('.') {
        Some((parents, last)) => (parents.split('.').collect(), last),
        None => (Vec::new(), path),
    };
    let mut node = record;
    for part in parents {
        node = object_of(node).entry(part).or_insert(Value::Null);
    }
    object_of(node).insert(last.to_owned(), value);
}

fn object_of(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut().expect("just made an object")
}

/// Whether a field's value is `value` as text, ignoring case (null and objects never are).
fn field_equals(field: &Value, value: &str) -> bool {
    let text = match field {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    text.to_lowercase() == value.to_lowercase()
}

/// Form pairs of a logged request.
pub fn form(request: &Value) -> Vec<(String, String)> {
    serde_urlencoded::from_str(request["body"].as_str().unwrap()).unwrap()
}

/// The logged request's JSON body.
pub fn body_json(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().unwrap()).unwrap()
}
