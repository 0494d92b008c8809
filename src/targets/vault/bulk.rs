//! Coalescing Vault user updates into bulk calls. Changes are submitted one by one (each
//! from its own event, which waits for its answer); a batcher task collects what arrives
//! within `max_wait`, up to `max_rows`, sends one `PUT /objects/users`, and hands each
//! event the result of its own row. A FAILURE row fails that event alone.
//!
//! Vault fails rows that repeat an id within one batch, so a second change for the same
//! user starts a new batch; per-employee lanes upstream keep one employee's changes in
//! order anyway.

use super::config::BulkConfig;
use super::request_builder::update_users;
use crate::targets::veeva_session::{classify, first_error, VeevaSession};
use crate::targets::TargetError;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

struct Job {
    row: Map<String, Value>,
    reply: oneshot::Sender<Result<(), TargetError>>,
}

/// The handle events submit rows through.
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the batcher task; it ends when the handle is dropped.
    pub fn spawn(session: Arc<VeevaSession>, config: BulkConfig) -> Batcher {
        let (jobs, queue) = mpsc::channel(config.max_rows * 4);
        tokio::spawn(run(queue, session, config));
        Batcher { jobs }
    }

    /// Sends `row` (with its `id`) in the next bulk call and waits for its own result.
    pub async fn submit(&self, row: Map<String, Value>) -> Result<(), TargetError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { row, reply })
            .await
            .map_err(|_| TargetError::transient("bulk_stopped", "the bulk batcher stopped"))?;
        answer
            .await
            .map_err(|_| TargetError::transient("bulk_stopped", "the bulk batcher stopped"))?
    }
}

async fn run(mut queue: mpsc::Receiver<Job>, session: Arc<VeevaSession>, config: BulkConfig) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let deadline = Instant::now() + config.max_wait;
        // The ids in the batch so far: a repeated one starts the next batch. A set, not a
        // scan of the batch — that was quadratic in `max_rows`.
        let mut ids = HashSet::with_capacity(config.max_rows);
        ids.insert(row_id(&first));
        let mut batch = vec![first];
        while batch.len() < config.max_rows {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(job)) if !ids.insert(row_id(&job)) => {
                    carried = Some(job);
                    break;
                }
                Ok(Some(job)) => batch.push(job),
                Ok(None) | Err(_) => break,
            }
        }
        send(&session, batch).await;
    }
}

/// The row's `id` (the user it updates) as a key.
fn row_id(job: &Job) -> Option<String> {
    job.row.get("id").map(|id| match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

async fn send(session: &VeevaSession, batch: Vec<Job>) {
    let (rows, replies): (Vec<Map<String, Value>>, Vec<_>) =
        batch.into_iter().map(|j| (j.row, j.reply)).unzip();
    let reference = format!("bulk-{}", uuid::Uuid::new_v4());
    let answer = match update_users(&session.config().api_version, &rows) {
        Ok(request) => session.send(request, &reference).await,
        Err(e) => Err(e),
    };
    tracing::info!(
        target_api = "vault",
        rows = rows.len(),
        ok = answer.is_ok(),
        "bulk update sent"
    );
    let results = match answer {
        Ok(body) => row_results(&body, rows.len()),
        Err(e) => vec![Err(e); rows.len()],
    };
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

/// Each row's own result, in input order; a malformed answer fails them all (transient).
fn row_results(body: &Value, expected: usize) -> Vec<Result<(), TargetError>> {
    let Some(rows) = body
        .get("data")
        .and_then(Value::as_array)
        .filter(|r| r.len() == expected)
    else {
        let error = TargetError::transient(
            "bad_response",
            "bulk answer does not have one result per row",
        );
        return vec![Err(error); expected];
    };
    rows.iter()
        .map(
            |row| match row.get("responseStatus").and_then(Value::as_str) {
                Some("SUCCESS") | Some("WARNING") => Ok(()),
                _ => {
                    let (kind, message) = first_error(row, "UNKNOWN_FAILURE");
                    Err(TargetError::new(
                        classify(kind),
                        kind,
                        format!("bulk row FAILURE: {message}"),
                    ))
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_row_gets_its_own_result() {
        let body = json!({"responseStatus": "SUCCESS", "data": [
            {"responseStatus": "SUCCESS", "id": "1"},
            {"responseStatus": "FAILURE", "id": "2", "errors": [{"type": "INVALID_DATA", "message": "bad"}]},
            {"responseStatus": "FAILURE", "id": "3", "errors": [{"type": "RACE_CONDITION", "message": "again"}]}
        ]});
        let results = row_results(&body, 3);
        assert!(results[0].is_ok());
        assert_eq!(
            results[1].as_ref().unwrap_err().code.as_str(),
            "INVALID_DATA"
        );
        assert!(!results[1].as_ref().unwrap_err().is_transient());
        assert!(results[2].as_ref().unwrap_err().is_transient());
    }

    #[test]
    fn a_short_answer_fails_every_row_for_a_retry() {
        let results = row_results(&json!({"data": []}), 2);
        assert!(results
            .iter()
            .all(|r| r.as_ref().is_err_and(TargetError::is_transient)));
    }
}
