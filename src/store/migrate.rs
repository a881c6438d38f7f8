//! A small migration runner: numbered SQL files per backend, applied in order inside a
//! transaction and recorded in `schema_migrations`. On PostgreSQL an advisory lock keeps
//! replicas that start together from applying the same migration twice.

use super::{Backend, StoreError};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_chatwoot.sql")),
    (3, include_str!("../../migrations/sqlite/0003_aftersales.sql")),
    (4, include_str!("../../migrations/sqlite/0004_conversation_events.sql")),
    (5, include_str!("../../migrations/sqlite/0005_resolution_clock.sql")),
    (6, include_str!("../../migrations/sqlite/0006_kb_proposals.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_chatwoot.sql")),
    (3, include_str!("../../migrations/postgres/0003_aftersales.sql")),
    (4, include_str!("../../migrations/postgres/0004_conversation_events.sql")),
    (5, include_str!("../../migrations/postgres/0005_event_order.sql")),
    (6, include_str!("../../migrations/postgres/0006_resolution_clock.sql")),
    (7, include_str!("../../migrations/postgres/0007_kb_proposals.sql")),
];

/// Arbitrary constant naming smartreply's migration lock.
const LOCK_KEY: i64 = 0x5eed_5e11;

pub(super) async fn run(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    let migrations = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => {
            sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_KEY).execute(&mut *conn).await?;
            POSTGRES
        }
    };
    let result = apply(conn, migrations).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *conn).await?;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
    use sqlx::{Connection, Row};
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    for (version, sql) in migrations {
        if applied.contains(version) {
            continue;
        }
        let mut tx = conn.begin().await?;
        for statement in sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.lines().all(|l| l.trim_start().starts_with("--") || l.trim().is_empty()))
        {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string())).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(super::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "database migration applied");
    }
    Ok(())
}
