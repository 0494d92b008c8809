//! Group commit for SQLite: events recorded while the writer is busy share its next
//! transaction.
//!
//! Why: SQLite has one writer, so under load the worker's events queue for it anyway, each
//! paying for its own `BEGIN IMMEDIATE`, `COMMIT` and WAL append. Here the first caller to
//! take the writer's seat writes everything queued so far in one transaction and answers
//! every caller; the others find their answer waiting when they get the seat. Nothing waits
//! for a timer, so a lone event is written at once.
//!
//! One event's failure must not fail the others: if the shared transaction fails, it is
//! rolled back and every queued event is written again on its own.

use std::sync::Mutex;

use tokio::sync::oneshot;

use std::sync::Arc;

use super::{event_record::OP, queries::now_us, EventRecord, Store, StoreError};

type Answer = Result<Vec<String>, StoreError>;

struct Job {
    record: EventRecord,
    /// Who the audit entries name: the submitting handle's actor (the caller that writes
    /// the batch may hold another handle).
    actor: Arc<str>,
    answer: oneshot::Sender<Answer>,
}

/// The queue of events waiting for the writer, and the writer's seat.
#[derive(Default)]
pub(super) struct GroupCommit {
    waiting: Mutex<Vec<Job>>,
    seat: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// Queues `record` and returns once it is written, by this caller or another.
    pub(super) async fn submit(
        &self,
        store: &Store,
        record: EventRecord,
        actor: Arc<str>,
    ) -> Answer {
        let (answer, mut answered) = oneshot::channel();
        self.queue().push(Job {
            record,
            actor,
            answer,
        });
        let _seat = self.seat.lock().await;
        match answered.try_recv() {
            Ok(answer) => return answer,
            // Taken by a caller that was cancelled mid-write; its transaction rolled back.
            Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Abandoned),
            // Still queued: this caller writes the batch, its own record included.
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let jobs = std::mem::take(&mut *self.queue());
        write_batch(store, jobs).await;
        answered.await.unwrap_or(Err(StoreError::Abandoned))
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        // A panic while holding this lock cannot leave the Vec half-changed.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn write_batch(store: &Store, jobs: Vec<Job>) {
    match write_together(store, &jobs).await {
        Ok(answers) => {
            for (job, answer) in jobs.into_iter().zip(answers) {
                let _ = job.answer.send(Ok(answer));
            }
        }
        Err(e) if jobs.len() == 1 => {
            let job = jobs.into_iter().next().expect("one job");
            let _ = job.answer.send(Err(e));
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                events = jobs.len(),
                "group commit failed; writing each event on its own"
            );
            for job in jobs {
                let answer = write_together(store, std::slice::from_ref(&job))
                    .await
                    .map(|mut answers| answers.pop().unwrap_or_default());
                let _ = job.answer.send(answer);
            }
        }
    }
}

/// Writes `jobs` in one transaction, each with its own actor; the answers in order.
async fn write_together(store: &Store, jobs: &[Job]) -> Result<Vec<Vec<String>>, StoreError> {
    let mut tx = store.begin_write(OP).await?;
    let records: Vec<(&EventRecord, &str)> =
        jobs.iter().map(|job| (&job.record, &*job.actor)).collect();
    // On an error, dropping the transaction closes its connection, which rolls it back.
    let answers = store.write_events(&mut tx, &records, now_us()).await?;
    tx.commit().await?;
    Ok(answers)
}
