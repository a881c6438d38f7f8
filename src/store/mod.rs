//! Durable storage on SQLite (embedded default) or PostgreSQL (several replicas), chosen by the
//! URL scheme at start-up.
//!
//! One `Store` over sqlx's `AnyPool` serves both: every query is written in the SQL subset
//! both accept (`$n` placeholders, `ON CONFLICT DO NOTHING`, `RETURNING`, integers for time
//! and flags, JSON as text), so there is one copy of each query rather than one per backend.
//! What differs — column types — lives in each backend's migrations (`migrations/sqlite`,
//! `migrations/postgres`), applied at start-up.
//!
//! Writes go through [`Store::write`]: on SQLite a single writer task commits waiting writes
//! in groups (`writer.rs`), so no write ever meets "database is locked"; on PostgreSQL each
//! write is a transaction on the pool, except inbound messages, which a committer task per
//! replica writes in groups of one statement each (`committer.rs`).

mod agent;
mod batch;
mod cases;
pub(crate) mod chatwoot;
mod committer;
mod events;
pub(crate) mod gaps;
mod horizon;
mod inbound;
mod lanes;
mod messages;
mod migrate;
pub(crate) mod outbox;
mod quality;
pub(crate) mod queue;
mod rescore;
mod tickets;
mod writer;

pub(crate) use agent::{OutboxBody, ReplyPlan};
pub(crate) use cases::{CaseOf, CasePayload, CaseRow, CaseSaved, CaseSubmitted};
pub(crate) use events::{EventKind, StoredEvent, rfc3339};
pub(crate) use inbound::{InboundRecord, Recorded};
pub(crate) use messages::MessageRow;
pub(crate) use quality::{InspectionRow, RateOutcome, SurveyPlan, SurveyRow};
pub(crate) use rescore::{Reading, Rescore, TicketPlan};
pub(crate) use tickets::{Stats, TicketRow, TimeBucket};
pub(crate) use writer::Tx;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use std::str::FromStr;
use std::time::Duration;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Embedded file database.
    Sqlite,
    /// Server database, shared by replicas.
    Postgres,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database refused or failed a query.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL or its folder is unusable.
    #[error("database url: {0}")]
    Url(String),
    /// Stored JSON could not be read back.
    #[error("stored data: {0}")]
    Corrupt(String),
    /// The writer's queue is full: the caller should retry shortly (HTTP 503).
    #[error("the store is busy; retry shortly")]
    Overloaded,
    /// The write's batch could not be committed; nothing of it was stored.
    #[error("write not committed: {0}")]
    NotCommitted(String),
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;";

/// The store: a cheap-to-clone pool handle.
#[derive(Clone)]
pub(crate) struct Store {
    /// Reads (both backends) and writes (PostgreSQL).
    pool: AnyPool,
    /// SQLite only: the one task that writes.
    writer: Option<writer::Writer>,
    /// Connections for the statements of every inbound message, outside the pool.
    lanes: std::sync::Arc<lanes::Lanes>,
    /// PostgreSQL only: group commit of inbound messages.
    committer: Option<committer::Committer>,
    /// PostgreSQL only: how far event streams may read (`horizon.rs`); `None` until known.
    horizon: Option<tokio::sync::watch::Receiver<Option<i64>>>,
}

/// How long a pooled connection may sit unused before it is checked on its way out of the
/// pool: one that was just used is alive, and checking every one cost a round trip per
/// statement (a ping before each acquire was 11 % of a PostgreSQL replica's CPU under load);
/// one left idle may have been closed by a database restart or a dropped link, and a failed
/// check opens a new connection instead of failing the caller's statement.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Whether a connection idle for `idle_for` is checked before it is handed out.
fn needs_ping(idle_for: Duration) -> bool {
    idle_for >= PING_AFTER_IDLE
}

/// Current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Store {
    /// Connects and applies pending migrations, with the SQLite writer's queue bounded at
    /// `write_queue` jobs. For SQLite the file's folder is created and the database runs in WAL
    /// mode with full fsync, so a committed answer survives a crash.
    pub(crate) async fn connect_with_queue(url: &str, write_queue: usize) -> Result<Store, StoreError> {
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
        let size = if backend == Backend::Sqlite { 4 } else { 10 };
        let options =
            AnyPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(10)).test_before_acquire(false).before_acquire(
                |conn, meta| {
                    Box::pin(async move {
                        if needs_ping(meta.idle_for) {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                },
            );
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let writer = match backend {
            Backend::Sqlite => {
                let mut conn = AnyConnection::connect(&url).await?;
                sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut conn).await?;
                migrate::run(&mut conn, backend).await?;
                Some(writer::Writer::start(conn, write_queue))
            }
            Backend::Postgres => {
                migrate::run(&mut *pool.acquire().await?, backend).await?;
                None
            }
        };
        let lanes = std::sync::Arc::new(lanes::Lanes::new(size as usize));
        let (committer, horizon) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                (Some(committer::Committer::start(pool.clone(), lanes.clone(), write_queue)), Some(horizon::start(pool.clone())))
            }
        };
        Ok(Store { pool, writer, lanes, committer, horizon })
    }

    /// Runs `f` in a transaction and returns its value once it is committed: on SQLite
    /// through the single writer (grouped with other writes), on PostgreSQL on the pool.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Tx<R>, StoreError>> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.submit(f).await;
        }
        let mut tx = self.pool.begin().await?;
        match f(&mut tx).await? {
            Tx::Commit(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Tx::Rollback(value) => {
                tx.rollback().await?;
                Ok(value)
            }
        }
    }

    /// [`Store::write`] for a job that leaves all of its changes or none by itself whatever
    /// it returns (on SQLite it then needs no savepoint of the writer's).
    pub(crate) async fn write_all_or_nothing<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Tx<R>, StoreError>> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.submit_all_or_nothing(f).await,
            None => self.write(f).await,
        }
    }

    /// The pool, for the queries of this module's files.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Cheap liveness query for `/readyz`.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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

/// A column holding one of an enum's wire names; anything else is a decode error.
pub(crate) fn parsed<T>(row: &AnyRow, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    let value: String = row.try_get(column)?;
    parse(&value).ok_or_else(|| unknown(column, &value))
}

/// The decode error for a column holding a name no enum knows.
pub(crate) fn unknown(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column} {value:?} is not a known value").into())
}

/// Reads an optional text column.
pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fresh databases for the store's own tests. The PostgreSQL ones are ignored unless run
    //! with `--include-ignored` (as `.ci/run` does) and then fail without
    //! `SMARTREPLY_TEST_POSTGRES_URL`.
    use super::Store;
    use sqlx::Connection;

    /// A migrated store on a new SQLite file with room for `queue` waiting writes; the folder
    /// lives as long as the returned guard.
    pub(crate) async fn fresh_sqlite(queue: usize) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect_with_queue(&format!("sqlite://{}/store.db", dir.path().display()), queue).await.unwrap();
        (store, dir)
    }

    /// A migrated store on a new database, and that database's URL.
    pub(crate) async fn fresh_postgres() -> (Store, String) {
        let admin = std::env::var("SMARTREPLY_TEST_POSTGRES_URL").expect("this test needs PostgreSQL: set SMARTREPLY_TEST_POSTGRES_URL");
        let name = format!("smartreply_unit_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        (Store::connect_with_queue(&url, crate::config::DEFAULT_WRITE_QUEUE).await.unwrap(), url)
    }

    /// Drops a database [`fresh_postgres`] made.
    pub(crate) async fn drop_postgres(url: &str) {
        let admin = std::env::var("SMARTREPLY_TEST_POSTGRES_URL").unwrap();
        let name = url.rsplit_once('/').map_or(url, |(_, n)| n);
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::{PING_AFTER_IDLE, needs_ping};
    use std::time::Duration;

    #[test]
    fn only_connections_left_idle_are_checked() {
        assert!(!needs_ping(Duration::ZERO), "a connection handed straight back is not pinged");
        assert!(!needs_ping(PING_AFTER_IDLE - Duration::from_millis(1)));
        assert!(needs_ping(PING_AFTER_IDLE));
        assert!(needs_ping(Duration::from_secs(3600)));
    }

    /// A database restart closes every pooled connection while they sit idle; the next caller
    /// still gets an answer, from a new connection.
    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_connections_closed_while_idle_are_replaced() {
        use sqlx::Connection;
        let (store, url) = super::testing::fresh_postgres().await;
        let before: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(store.pool()).await.unwrap();
        // The inbound path's own connections too.
        store.inbound_state("demo", Some("m-1"), "c-1").await.unwrap();
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let closed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert!(closed >= 1, "the pool's connections were closed");
        tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(200)).await;
        let after: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(store.pool()).await.expect("answered on a new connection");
        assert_ne!(before, after);
        store.inbound_state("demo", Some("m-1"), "c-1").await.expect("the inbound read answered on a new connection");
        drop(admin);
        drop(store);
        super::testing::drop_postgres(&url).await;
    }
}
