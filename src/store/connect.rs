//! Opening a store: which backend a URL names, how each backend's pool is tuned, and the
//! migrations shipped for it.
//!
//! SQLite is one file used by one replica: WAL so readers never wait on the writer, a busy
//! timeout so concurrent writers queue instead of failing, foreign keys on, one writer connection
//! (writes are serialised by SQLite anyway) and two read-only connections for the per-event
//! read, which then never waits behind another event's commit. PostgreSQL is shared by replicas: a modest pool
//! per replica keeps the server's connection count in check.

use std::{collections::BTreeMap, path::Path, time::Duration};

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::{Migrate, Migrator},
    AnyPool, Executor, Row,
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

/// Read-only connections of an operator's look at an existing store (`open_existing`).
const READ_ONLY_CONNECTIONS: u32 = 2;

impl Store {
    /// Opens an existing store for reading only: never creates the database (a SQLite file
    /// or its folder), never migrates it, and refuses a database that holds no hrsync
    /// schema — what a command that only reads must do, so a mistyped `store.url` is an
    /// error instead of a new, empty store. Writes through this handle fail (SQLite
    /// `mode=ro` and `query_only`; PostgreSQL read-only transactions). Whether the schema
    /// is this version's: [`Store::migration_problems`].
    pub async fn open_existing(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let redacted = redact(url);
        let refused = |reason: String| StoreError::Connect {
            backend: backend.as_str(),
            url: redacted.url.clone(),
            reason,
        };
        let connect_error = |e: sqlx::Error| refused(redacted.scrub(&e.to_string()));
        let options = AnyPoolOptions::new()
            .max_connections(READ_ONLY_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        let pool = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_existing(url).map_err(refused)?;
                options
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            let pragmas = format!(
                                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 PRAGMA query_only = ON;"
                            );
                            conn.execute(pragmas.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(connect_error)?
            }
            Backend::Postgres => options
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                            .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .map_err(connect_error)?,
        };
        if !has_migrations_table(&pool, backend)
            .await
            .map_err(connect_error)?
        {
            pool.close().await;
            return Err(refused(
                "the database holds no hrsync state store (no migrations table): a worker \
                 creates it at its first start, and a read-only command does not"
                    .to_owned(),
            ));
        }
        Ok(Store {
            pool: pool.clone(),
            readers: pool,
            group: None,
            backend,
            actor: WORKER_ACTOR.into(),
            health: Default::default(),
            in_memory: false,
        })
    }

    /// How this store's schema differs from the migrations this version ships: each
    /// migration not applied, applied with other content, failed part-way, or unknown to
    /// this version (a newer hrsync migrated it). Empty when the schema is this version's.
    /// Reads only (sqlx's `_sqlx_migrations` table).
    pub async fn migration_problems(&self) -> Result<Vec<String>, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let migrate_error = |source| StoreError::Migrate {
            backend: self.backend.as_str(),
            source,
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::query("migration_problems"))?;
        let dirty = conn.dirty_version().await.map_err(migrate_error)?;
        let applied: BTreeMap<i64, Vec<u8>> = conn
            .list_applied_migrations()
            .await
            .map_err(migrate_error)?
            .into_iter()
            .map(|m| (m.version, m.checksum.into_owned()))
            .collect();
        let mut problems = Vec::new();
        if let Some(version) = dirty {
            problems.push(format!(
                "migration {version} failed part-way; the store needs a look"
            ));
        }
        let mut known = Vec::new();
        for migration in migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
        {
            known.push(migration.version);
            match applied.get(&migration.version) {
                None => problems.push(format!(
                    "migration {} ({}) is not applied (a worker of this version applies it \
                     at start)",
                    migration.version, migration.description
                )),
                Some(checksum) if *checksum != *migration.checksum => problems.push(format!(
                    "migration {} ({}) was applied with other content",
                    migration.version, migration.description
                )),
                Some(_) => {}
            }
        }
        for version in applied.keys().filter(|v| !known.contains(v)) {
            problems.push(format!(
                "migration {version} is applied but unknown to this version (a newer hrsync \
                 migrated the store)"
            ));
        }
        Ok(problems)
    }

    /// How many migrations this version ships for the store's backend.
    pub fn shipped_migrations(&self) -> usize {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .count()
    }
}

/// Whether sqlx's migrations table exists (where the connection looks for tables).
async fn has_migrations_table(pool: &AnyPool, backend: Backend) -> Result<bool, sqlx::Error> {
    let query = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_name = '_sqlx_migrations' \
             AND table_schema = ANY (current_schemas(false))"
        }
    };
    let row = sqlx::query(query).fetch_one(pool).await?;
    let count: i64 = row.try_get("n")?;
    Ok(count > 0)
}

/// The URL that opens an existing SQLite file read-only (`mode=ro` in place of any other
/// mode), or why there is nothing to open. Creates nothing.
fn sqlite_url_existing(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return Err("an in-memory store holds nothing for another process to read".to_owned());
    }
    if path.is_empty() {
        return Err("the URL names no database file".to_owned());
    }
    if !Path::new(path).is_file() {
        return Err(format!(
            "no database file {path}: a worker creates it at its first start, and a \
             read-only command does not (is store.url right?)"
        ));
    }
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push("mode=ro");
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}
