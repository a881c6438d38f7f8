//! Connections kept out of sqlx's pool for the statements every inbound message runs (the read
//! before routing, and PostgreSQL's one-statement write).
//!
//! sqlx pings every connection it takes back into its pool, to resynchronise one whose
//! statement was abandoned halfway: a round trip to the database per statement (to
//! PostgreSQL's process, or SQLite's worker thread), 8 % of a PostgreSQL replica's CPU under
//! load on top of the statements themselves. A lane is only put back when its statement
//! finished (or the database answered it with an error, after which the protocol is in step
//! again); a lane dropped halfway closes its connection instead, which is what the ping was
//! guarding against. A lane left idle for a while is checked before use, as the pool's are.
//!
//! On PostgreSQL a lane's prepared statements keep one generic plan each. Left to choose,
//! PostgreSQL planned the read and the grouped write for their values again and again under
//! load: `bind`, where that planning happens, was 37 % of its time on them (0.36 ms per
//! grouped write, 0.08 ms per read); one generic plan took two replicas from ~1,900 to ~2,700
//! messages/s at 64 clients. Neither plan depends on the values: the read's generic plan is tested
//! to stay inside the conversation, and the grouped write reads its rows from `jsonb`, whose
//! length no plan knows.

use super::{StoreError, needs_ping};
use sqlx::{AnyConnection, AnyPool, Connection};
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

/// At most `size` connections, each taken from the pool once and then kept.
pub(super) struct Lanes {
    /// Idle connections, most recently used last (taken first: it is the one surely alive).
    idle: Mutex<Vec<(AnyConnection, Instant)>>,
    permits: Semaphore,
}

/// One connection in use; [`Lane::done`] puts it back.
pub(super) struct Lane<'a> {
    conn: Option<AnyConnection>,
    lanes: &'a Lanes,
    _permit: SemaphorePermit<'a>,
}

impl Lanes {
    pub(super) fn new(size: usize) -> Lanes {
        Lanes { idle: Mutex::new(Vec::with_capacity(size)), permits: Semaphore::new(size) }
    }

    /// A connection: an idle lane's, or a new one ([`open`]).
    pub(super) async fn get<'a>(&'a self, pool: &AnyPool) -> Result<Lane<'a>, StoreError> {
        let permit = self.permits.acquire().await.expect("the lanes' semaphore is never closed");
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some((mut conn, since)) if needs_ping(since.elapsed()) => match conn.ping().await {
                Ok(()) => conn,
                Err(error) => {
                    tracing::info!(%error, "an idle connection was closed; opening another");
                    open(pool).await?
                }
            },
            Some((conn, _)) => conn,
            None => open(pool).await?,
        };
        Ok(Lane { conn: Some(conn), lanes: self, _permit: permit })
    }
}

/// A new lane's connection, detached from `pool` (which opens a replacement for its own
/// callers).
async fn open(pool: &AnyPool) -> Result<AnyConnection, StoreError> {
    let mut conn = pool.acquire().await?.detach();
    if conn.backend_name() == "PostgreSQL" {
        sqlx::raw_sql("SET plan_cache_mode = force_generic_plan").execute(&mut conn).await?;
    }
    Ok(conn)
}

impl Lane<'_> {
    /// The connection.
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a lane holds its connection until it is done")
    }

    /// Puts the connection back after `outcome` of its statement: kept when the statement
    /// finished or the database refused it, closed after any other failure.
    pub(super) fn done<T>(mut self, outcome: &Result<T, sqlx::Error>) {
        if matches!(outcome, Ok(_) | Err(sqlx::Error::Database(_)))
            && let Some(conn) = self.conn.take()
        {
            self.lanes.idle.lock().unwrap_or_else(|e| e.into_inner()).push((conn, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lanes;

    fn idle(lanes: &Lanes) -> usize {
        lanes.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_lane_is_kept_only_after_its_statement_finished_or_was_refused() {
        let (store, _dir) = crate::store::testing::fresh_sqlite(16).await;
        let lanes = Lanes::new(2);
        let mut lane = lanes.get(store.pool()).await.unwrap();
        let ok = sqlx::query("SELECT 1").execute(lane.conn()).await.map(|_| ());
        lane.done(&ok);
        assert_eq!(idle(&lanes), 1, "finished: kept");

        let mut lane = lanes.get(store.pool()).await.unwrap();
        assert_eq!(idle(&lanes), 0, "the idle connection was taken, not a new one opened");
        let refused = sqlx::query("SELECT * FROM no_such_table").execute(lane.conn()).await.map(|_| ());
        assert!(matches!(refused, Err(sqlx::Error::Database(_))));
        lane.done(&refused);
        assert_eq!(idle(&lanes), 1, "refused by the database: in step, kept");

        let lane = lanes.get(store.pool()).await.unwrap();
        lane.done(&Err::<(), _>(sqlx::Error::Io(std::io::Error::other("connection reset"))));
        assert_eq!(idle(&lanes), 0, "broken: closed");

        // Abandoned halfway (a cancelled request): never handed out again.
        drop(lanes.get(store.pool()).await.unwrap());
        assert_eq!(idle(&lanes), 0);
        let mut lane = lanes.get(store.pool()).await.unwrap();
        let ok = sqlx::query("SELECT 1").execute(lane.conn()).await.map(|_| ());
        assert!(ok.is_ok(), "a new connection replaces it");
    }
}
