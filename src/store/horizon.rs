//! PostgreSQL: the highest event sequence number below which no event can still appear.
//!
//! Event streams read `events` after a cursor. On SQLite one writer commits in sequence
//! order, so a cursor never passes an event that is yet to come. On PostgreSQL writers run at
//! once: a transaction may take sequence number 10, another 11 and commit first; a stream that
//! read 11 moved its cursor past 10, which then committed unseen (an agent on the other
//! replica never saw that ticket). Streams therefore read no further than the horizon.
//!
//! Each event's number is taken after its transaction has an id (`smartreply_next_event_seq`,
//! migration 0005), so a transaction holding a number is listed in `pg_stat_activity` with its
//! id until it ends. One task per replica reads, in one statement, the sequence's last value
//! `L` and the ids of this database's running writers. Every number up to `L` belongs to a
//! writer that had ended by then or is running when the *next* round reads the writers
//! (a later statement); once all of those have ended, every number up to `L` is committed or
//! never will be, and `L` becomes the horizon. Rounds follow each other quickly while the
//! horizon is behind, and slowly while nothing is written.

use sqlx::{AnyPool, Row};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::watch;

/// Pause between rounds while the horizon is behind the sequence (bounds an event's delay).
const CATCHING_UP: Duration = Duration::from_millis(10);
/// Pause between rounds while nothing is pending (how soon another replica's events are seen).
const IDLE: Duration = Duration::from_millis(200);
/// Candidates kept while a long transaction holds the horizon back; dropping the oldest only
/// delays the horizon, never lets it pass an event.
const MAX_CANDIDATES: usize = 64;

/// The highest event number taken so far (0 before the first).
macro_rules! taken_sql {
    () => {
        "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM events_seq_seq"
    };
}
#[cfg(test)]
pub(super) const TAKEN_SQL: &str = taken_sql!();

/// The highest number taken and this database's running writers, read in one statement.
const ROUND_SQL: &str = concat!(
    "SELECT (",
    taken_sql!(),
    ") AS taken, COALESCE((SELECT string_agg(backend_xid::text, ',') FROM pg_stat_activity ",
    "WHERE datname = current_database() AND backend_xid IS NOT NULL), '') AS running"
);

/// A sequence value that becomes the horizon once `blockers` (writers running at the round
/// after it was read) have all ended; `None` until that round.
struct Candidate {
    taken: i64,
    blockers: Option<HashSet<u32>>,
}

/// Starts the task; the receiver holds `None` until the first horizon is known.
pub(super) fn start(pool: AnyPool) -> watch::Receiver<Option<i64>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut candidates = VecDeque::new();
        while !tx.is_closed() {
            let pause = match round(&pool).await {
                Ok((taken, running)) => {
                    let horizon = advance(&mut candidates, taken, running);
                    if let Some(h) = horizon {
                        tx.send_if_modified(|current| {
                            let newer = current.is_none_or(|c| h > c);
                            if newer {
                                *current = Some(h);
                            }
                            newer
                        });
                    }
                    if *tx.borrow() == Some(taken) { IDLE } else { CATCHING_UP }
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the event horizon failed; retrying");
                    IDLE
                }
            };
            tokio::time::sleep(pause).await;
        }
    });
    rx
}

async fn round(pool: &AnyPool) -> Result<(i64, HashSet<u32>), sqlx::Error> {
    let row = sqlx::query(ROUND_SQL).fetch_one(pool).await?;
    let taken: i64 = row.try_get("taken")?;
    let running: String = row.try_get("running")?;
    let running = running.split(',').filter(|s| !s.is_empty()).map(|s| s.parse::<u32>()).collect::<Result<_, _>>();
    Ok((taken, running.map_err(|e| sqlx::Error::Decode(Box::new(e)))?))
}

/// One round's reading applied to the candidates; returns the newest value that became safe.
fn advance(candidates: &mut VecDeque<Candidate>, taken: i64, running: HashSet<u32>) -> Option<i64> {
    for candidate in candidates.iter_mut() {
        match &mut candidate.blockers {
            Some(blockers) => blockers.retain(|x| running.contains(x)),
            None => candidate.blockers = Some(running.clone()),
        }
    }
    // Values only grow, so the newest cleared candidate makes every one before it safe too
    // (an older one may still wait on a writer that holds no number up to the newer value).
    let safe = candidates.iter().rposition(|c| c.blockers.as_ref().is_some_and(HashSet::is_empty)).map(|i| {
        let taken = candidates[i].taken;
        candidates.drain(..=i);
        taken
    });
    candidates.push_back(Candidate { taken, blockers: None });
    if candidates.len() > MAX_CANDIDATES {
        candidates.pop_front();
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::{Candidate, advance};
    use std::collections::{HashSet, VecDeque};

    fn set(ids: &[u32]) -> HashSet<u32> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_value_is_safe_only_after_the_writers_running_at_the_next_round_end() {
        let mut c: VecDeque<Candidate> = VecDeque::new();
        // Round 1 reads 10 with writer 7 running; its blockers are read in round 2.
        assert_eq!(advance(&mut c, 10, set(&[7])), None);
        assert_eq!(advance(&mut c, 12, set(&[7, 8])), None, "7 and 8 may hold numbers up to 10");
        assert_eq!(advance(&mut c, 12, set(&[8])), None, "8 still runs");
        assert_eq!(advance(&mut c, 12, set(&[9])), Some(12), "7 and 8 ended, and none ran after 12 was read");
    }

    #[test]
    fn with_no_writers_the_value_read_becomes_safe_at_the_next_round() {
        let mut c: VecDeque<Candidate> = VecDeque::new();
        assert_eq!(advance(&mut c, 5, set(&[])), None);
        assert_eq!(advance(&mut c, 5, set(&[])), Some(5));
        assert_eq!(advance(&mut c, 5, set(&[])), Some(5));
    }

    #[test]
    fn a_long_writer_holds_the_horizon_however_many_rounds_pass() {
        let mut c: VecDeque<Candidate> = VecDeque::new();
        assert_eq!(advance(&mut c, 1, set(&[])), None);
        assert_eq!(advance(&mut c, 1, set(&[])), Some(1));
        for taken in 2..200 {
            assert_eq!(advance(&mut c, taken, set(&[42])), None, "42 may hold any number above 1");
        }
        assert!(c.len() <= super::MAX_CANDIDATES);
        assert_eq!(advance(&mut c, 200, set(&[])), Some(199), "42 ended; 200 waits for the next round");
    }
}

#[cfg(test)]
mod on_postgres {
    use crate::store::testing::{drop_postgres, fresh_postgres};
    use sqlx::{Connection, PgConnection};
    use std::time::Duration;

    async fn insert_event(conn: &mut PgConnection, payload: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO events (shop, kind, conversation_id, payload, created_at) VALUES ('demo', 'message', 'c-1', $1, 0) RETURNING seq",
        )
        .bind(payload)
        .fetch_one(conn)
        .await
        .unwrap()
    }

    /// Two writers: the first takes the lower number and commits last. Read in between, the
    /// second's event must not be handed out, or a stream's cursor passes the first's for good.
    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_no_stream_reads_past_an_event_still_being_committed() {
        let (store, url) = fresh_postgres().await;
        store.events_settled().await;
        let mut slow = PgConnection::connect(&url).await.unwrap();
        let mut fast = PgConnection::connect(&url).await.unwrap();
        let mut open = slow.begin().await.unwrap();
        let first = insert_event(&mut open, "slow").await;
        let second = insert_event(&mut fast, "fast").await;
        assert!(first < second);
        // Many rounds of the horizon task pass while the first writer is still open.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let early = store.events_after("demo", None, 0).await.unwrap();
        assert!(
            early.iter().all(|e| e.seq < first),
            "read past an uncommitted event: {:?}",
            early.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
        assert!(store.last_event("demo").await.unwrap() < first, "a new stream would start past it");
        open.commit().await.unwrap();
        store.events_settled().await;
        let late: Vec<String> = store.events_after("demo", None, 0).await.unwrap().into_iter().map(|e| e.payload).collect();
        assert_eq!(late, ["slow", "fast"], "both, in number order, once the first committed");
        drop(store);
        drop_postgres(&url).await;
    }
}
