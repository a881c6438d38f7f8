//! The test harness's own housekeeping on PostgreSQL.

use crate::helpers::{create_database, drop_database_named, sweep_stale_databases};

/// A database an earlier, panicked run left behind is dropped; one made a moment ago (a test
/// still running) is kept.
#[tokio::test]
#[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
async fn test_databases_left_by_earlier_runs_are_swept() {
    use sqlx::Connection;
    let admin = std::env::var("SMARTREPLY_TEST_POSTGRES_URL").expect("this test needs PostgreSQL: set SMARTREPLY_TEST_POSTGRES_URL");
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL reachable");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let named = |ms: u64, tail: &str| format!("smartreply_unit_{ms:012x}{tail}");
    let stale = named(now_ms - 2 * 3600 * 1000, "7000800000000000000a");
    let recent = named(now_ms - 60 * 1000, "7000800000000000000b");
    for name in [&stale, &recent] {
        create_database(&mut conn, name).await.unwrap();
    }
    sweep_stale_databases(&mut conn).await;
    let left: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = ANY($1)")
        .bind(vec![stale.clone(), recent.clone()])
        .fetch_all(&mut conn)
        .await
        .unwrap();
    drop_database_named(&mut conn, &recent).await.unwrap();
    assert_eq!(left, vec![recent], "the stale database is dropped, the recent one kept");
}
