//! Durable storage on SQLite (embedded default) or PostgreSQL (several replicas), chosen by the
//! URL scheme at start-up.
//!
//! One `Store` over sqlx's `AnyPool` serves both: every query is written in the SQL subset
//! both accept (`$n` placeholders, `ON CONFLICT DO NOTHING`, `RETURNING`, integers for time
//! and flags, JSON as text), so there is one copy of each query rather than one per backend.
//! What differs — column types — lives in each backend's migrations (`migrations/sqlite`,
//! `migrations/postgres`), applied at start-up.

pub mod chatwoot;
mod messages;
mod migrate;
pub mod outbox;
mod tickets;

pub use messages::{rfc3339, InboundRecord, MessageRow, Recorded, TicketPlan};
pub use tickets::{AgentReply, DraftCounts, Stats, TicketRow, TimeBucket};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded file database.
    Sqlite,
    /// Server database, shared by replicas.
    Postgres,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL or its folder is unusable.
    #[error("database url: {0}")]
    Url(String),
    /// Stored JSON could not be read back.
    #[error("stored data: {0}")]
    Corrupt(String),
}

/// The store: a cheap-to-clone pool handle.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Store {
    /// Connects and applies pending migrations. For SQLite the file's folder is created and
    /// the database runs in WAL mode with full fsync, so a committed answer survives a crash.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url("use sqlite://PATH or postgres://...".into()));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10));
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let store = Store { pool, backend };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for the queries of this module's files.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Cheap liveness query for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (tests restart the service on the same database).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://./data/x.db` → an sqlx URL that creates the file, after creating its folder.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Url("an in-memory SQLite database would lose everything on restart".into()));
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
    }
    let _ = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{path}")).map_err(|e| StoreError::Url(e.to_string()))?;
    Ok(format!("sqlite://{path}?mode=rwc"))
}

/// Reads an optional text column.
pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)
}
