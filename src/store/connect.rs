//! Opening a store: which backend a URL names, how each backend's pool is tuned, and the
//! migrations shipped for it.
//!
//! SQLite is one file used by one replica: WAL so readers never wait on the writer, a busy
//! timeout so concurrent writers queue instead of failing, foreign keys on, one writer connection
//! (writes are serialised by SQLite anyway) and two read-only connections for the per-event
//! read, which then never waits behind another event's commit. PostgreSQL is shared by replicas: a modest pool
//! per replica keeps the server's connection count in check.

use std::{path::Path, time::Duration};

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::Migrator,
    Executor,
};

use super::{
    error::{redact, StoreError},
    Backend, Store, WORKER_ACTOR,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long `connect` (and any later query) waits for a connection.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;
/// One connection: SQLite allows one writer at a time, and writers that contend for the
/// lock wait in SQLite's busy handler, which sleeps in steps of up to 100 ms. Queueing in
/// the pool instead keeps every statement's wait as short as the statement before it.
const SQLITE_MAX_CONNECTIONS: u32 = 1;
const POSTGRES_MAX_CONNECTIONS: u32 = 8;
/// Read-only connections beside the SQLite writer: in WAL mode readers never wait for it,
/// so an event's first read does not queue behind other events' commits.
const SQLITE_READERS: u32 = 2;

pub(super) async fn connect(url: &str, acquire_timeout: Duration) -> Result<Store, StoreError> {
    install_default_drivers();
    let backend = backend_of(url)?;
    let redacted = redact(url);
    let connect_error = |e: sqlx::Error| StoreError::Connect {
        backend: backend.as_str(),
        url: redacted.url.clone(),
        reason: redacted.scrub(&e.to_string()),
    };

    let mut sqlite_file = None;
    let mut in_memory_db = false;
    let pool = match backend {
        Backend::Sqlite => {
            let (url, in_memory) = sqlite_url(url).map_err(|reason| StoreError::Connect {
                backend: backend.as_str(),
                url: redacted.url.clone(),
                reason,
            })?;
            let options = AnyPoolOptions::new()
                .acquire_timeout(acquire_timeout)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                        );
                        conn.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                });
            in_memory_db = in_memory;
            let options = if in_memory {
                // A shared in-memory database lives as long as one connection to it does.
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                sqlite_file = Some(url.clone());
                options.max_connections(SQLITE_MAX_CONNECTIONS)
            };
            // A local file cannot "hang up": the ping sqlx sends on every acquire by default
            // would only add a hand-off to the database thread per query.
            let options = options.test_before_acquire(false);
            options.connect(&url).await.map_err(connect_error)?
        }
        Backend::Postgres => AnyPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(acquire_timeout)
            .connect(url)
            .await
            .map_err(connect_error)?,
    };

    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator
        .run(&pool)
        .await
        .map_err(|source| StoreError::Migrate {
            backend: backend.as_str(),
            source,
        })?;

    // Opened after the migrations, so readers find the schema in place.
    let readers = match sqlite_file {
        Some(url) => AnyPoolOptions::new()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    let pragmas = format!(
                        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA query_only = ON;"
                    );
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(connect_error)?,
        None => pool.clone(),
    };

    Ok(Store {
        pool,
        readers,
        group: (backend == Backend::Sqlite).then(Default::default),
        backend,
        actor: WORKER_ACTOR.into(),
        health: Default::default(),
        in_memory: in_memory_db,
    })
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(StoreError::UnsupportedUrl {
            // Only the scheme: the rest may hold a password.
            scheme: scheme.chars().take(32).collect(),
        }),
    }
}

/// Makes a file URL create its database (and folder) if missing; returns the URL to open and
/// whether the database lives in memory.
fn sqlite_url(url: &str) -> Result<(String, bool), String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    if in_memory {
        return Ok((url.to_owned(), true));
    }
    if path.is_empty() {
        return Err("the URL names no database file".to_owned());
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create folder {}: {e}", parent.display()))?;
        }
    }
    let url = if query.split('&').any(|p| p.starts_with("mode=")) {
        url.to_owned()
    } else if query.is_empty() {
        format!("{}?mode=rwc", url.trim_end_matches('?'))
    } else {
        format!("{url}&mode=rwc")
    };
    Ok((url, false))
}
