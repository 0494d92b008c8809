//! The one way the store writes: a [`Writer`] holds a pooled connection for one transaction
//! and closes that connection, instead of handing it back to the pool, after any error.
//!
//! Why not sqlx's `Transaction`: when SQLite fails a statement or a `COMMIT` (disk full,
//! read-only file, I/O error) it may already have rolled the transaction back itself, and
//! sqlx then returns the connection to the pool believing a transaction is still open; every
//! later `BEGIN` on it failed with "attempted to call begin_with at non-zero transaction
//! depth" until the process restarted. A connection opened while the file was read-only
//! also stays read-only for its whole life. Both are cured the same way: a connection that
//! saw a failure is never used again, and the pool opens a fresh one for the next write —
//! which works as soon as the file is writable again. `BEGIN`/`COMMIT` are plain
//! statements here, so no transaction bookkeeping can go stale.
//!
//! Every failure also tells the store's [`StoreHealth`](super::health::StoreHealth); only
//! the probe and a recorded event clear it (a commit that wrote nothing proves nothing).

use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{pool::PoolConnection, Any, AnyConnection, Executor};

use super::{health::StoreHealth, Backend, Store, StoreError};

/// A write transaction. Dropped without [`Writer::commit`] — an error, or a caller that was
/// cancelled — it closes its connection, and SQLite or PostgreSQL roll the transaction back.
pub(crate) struct Writer {
    conn: PoolConnection<Any>,
    op: &'static str,
    committed: bool,
    /// False for an in-memory database, which dies with its connection.
    discard_on_failure: bool,
    backend: Backend,
    health: Arc<StoreHealth>,
}

impl Store {
    /// Takes the writer connection and opens a transaction on it. On SQLite it starts with
    /// `BEGIN IMMEDIATE`, so the write lock is taken up front (waiting out the busy timeout)
    /// instead of failing later on a lock upgrade.
    pub(crate) async fn begin_write(&self, op: &'static str) -> Result<Writer, StoreError> {
        let conn = self.pool.acquire().await.map_err(|source| {
            let error = StoreError::Query { op, source };
            self.health.failed(&error);
            error
        })?;
        let mut writer = Writer {
            conn,
            op,
            committed: false,
            discard_on_failure: !self.in_memory,
            backend: self.backend,
            health: self.health.clone(),
        };
        if self.in_memory {
            // Whatever an earlier failed or cancelled write left open on the one
            // connection; "no transaction is active" is the usual answer.
            let _ = writer.conn.execute("ROLLBACK").await;
        }
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let started = writer.conn.execute(begin).await;
        started.map_err(|e| writer.fail(e))?;
        Ok(writer)
    }
}

impl Store {
    /// Runs one statement in a transaction of its own; the rows it touched.
    pub(crate) async fn write_one<'q>(
        &self,
        op: &'static str,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write(op).await?;
        let done = query.execute(tx.conn()).await;
        let touched = done.map_err(|e| tx.fail(e))?.rows_affected();
        tx.commit().await?;
        Ok(touched)
    }

    /// Runs one statement with `RETURNING` in a transaction of its own; the rows returned.
    pub(crate) async fn write_returning<'q>(
        &self,
        op: &'static str,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut tx = self.begin_write(op).await?;
        let done = query.fetch_all(tx.conn()).await;
        let rows = done.map_err(|e| tx.fail(e))?;
        tx.commit().await?;
        Ok(rows)
    }
}

impl Writer {
    /// The connection to run this transaction's statements on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// The database this transaction runs on.
    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Turns a failed statement into the store's error; the connection will not be reused.
    pub(crate) fn fail(&mut self, source: sqlx::Error) -> StoreError {
        if self.discard_on_failure {
            self.conn.close_on_drop();
        }
        let error = StoreError::Query {
            op: self.op,
            source,
        };
        self.health.failed(&error);
        error
    }

    /// Commits; the connection goes back to the pool only if that worked.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let done = self.conn.execute("COMMIT").await;
        done.map_err(|e| self.fail(e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.committed && self.discard_on_failure {
            // Whatever state the transaction is in, a closed connection ends it.
            self.conn.close_on_drop();
        }
    }
}
