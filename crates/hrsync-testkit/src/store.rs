//! A fresh state store per harness: a SQLite file in a new folder, or a new PostgreSQL
//! schema in the `test` database (`HRSYNC_TEST_POSTGRES_URL` to point elsewhere).

use sqlx::{Connection, Executor};

/// Which state store a harness's worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// Both stores, for tests that must hold on each.
pub const BOTH_STORES: [StoreKind; 2] = [StoreKind::Sqlite, StoreKind::Postgres];

/// The PostgreSQL the tests use.
pub fn postgres_url() -> String {
    std::env::var("HRSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A new store location named after `unique`; its URL.
pub(crate) async fn fresh(kind: StoreKind, unique: &str) -> String {
    match kind {
        StoreKind::Sqlite => format!(
            "sqlite://{}/{unique}/hrsync.db",
            std::env::temp_dir().display()
        ),
        StoreKind::Postgres => {
            let mut admin = sqlx::PgConnection::connect(&postgres_url())
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            admin
                .execute(format!("CREATE SCHEMA \"{unique}\"").as_str())
                .await
                .unwrap();
            let _ = admin.close().await;
            format!("{}?options=-c%20search_path%3D{unique}", postgres_url())
        }
    }
}

/// Removes what [`fresh`] made.
pub(crate) async fn drop(kind: StoreKind, unique: &str) {
    match kind {
        StoreKind::Sqlite => {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(unique));
        }
        StoreKind::Postgres => {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_url()).await {
                let _ = admin
                    .execute(format!("DROP SCHEMA \"{unique}\" CASCADE").as_str())
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}
