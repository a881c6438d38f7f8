//! The single SQLite writer with group commit.
//!
//! SQLite allows one writer at a time; with a pool of writers they queue on the file lock
//! through SQLite's sleep-and-retry busy handler, and past its timeout the caller gets
//! "database is locked". Instead every write of the service (inbound messages, agent replies,
//! claims, outbox updates) is a job sent to one task that owns the only writing connection.
//! The task takes every job waiting in its queue, runs each inside a savepoint of one
//! `BEGIN IMMEDIATE` transaction, commits once (one fsync for the whole batch) and only then
//! answers the callers. A job that fails rolls back to its savepoint and leaves the rest of the
//! batch intact. A job that keeps itself all-or-nothing (its changes go in one call that opens
//! and closes its own savepoint, as the inbound message's do) runs without the writer's
//! savepoint, which saves a call to SQLite's worker thread per job. The queue is bounded: when
//! it is full the caller gets [`StoreError::Overloaded`] at once (HTTP 503 with `Retry-After`)
//! instead of waiting without limit. Readers keep their own pool: in WAL mode they never wait for the writer.

use super::StoreError;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::AnyConnection;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed by one transaction: bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 512;

/// What a write job decided about its own changes.
pub(crate) enum Tx<R> {
    /// Keep the changes; the caller gets the value once they are durable.
    Commit(R),
    /// Undo the changes (e.g. a lost race detected by a constraint); the caller gets the value.
    Rollback(R),
}

/// What running a job left for the writer: whether to keep its savepoint, and how to answer
/// its caller once the batch's fate is known (`Some(error)` when the commit failed).
struct Done {
    keep: bool,
    reply: Answer,
}

/// Answers a caller, given the batch's commit error if any.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

type Run = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Done> + Send>;

struct Job {
    run: Run,
    /// The job leaves either all of its changes or none, by itself: it needs no savepoint.
    all_or_nothing: bool,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Spawns the writer on `conn` (the only connection that writes) with room for `capacity`
    /// waiting jobs.
    pub(crate) fn start(conn: AnyConnection, capacity: usize) -> Writer {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(conn, rx));
        Writer { queue }
    }

    /// Jobs waiting in the queue.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Runs `f` in the writer's transaction and returns its value once committed.
    pub(crate) async fn submit<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Tx<R>, StoreError>> + Send + 'static,
    {
        self.enqueue(f, false).await
    }

    /// [`Writer::submit`] for a job that leaves all of its changes or none by itself, whatever
    /// it returns (a [`Tx::Rollback`] or an error must already have undone them).
    pub(crate) async fn submit_all_or_nothing<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Tx<R>, StoreError>> + Send + 'static,
    {
        self.enqueue(f, true).await
    }

    async fn enqueue<R, F>(&self, f: F, all_or_nothing: bool) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Tx<R>, StoreError>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let run: Run = Box::new(move |conn| {
            Box::pin(async move {
                match f(conn).await {
                    Ok(Tx::Commit(value)) => Done {
                        keep: true,
                        reply: Box::new(move |failed| {
                            let _ = tx.send(match failed {
                                None => Ok(value),
                                Some(e) => Err(StoreError::NotCommitted(e.to_string())),
                            });
                        }),
                    },
                    Ok(Tx::Rollback(value)) => Done {
                        keep: false,
                        reply: Box::new(move |_| {
                            let _ = tx.send(Ok(value));
                        }),
                    },
                    Err(e) => Done {
                        keep: false,
                        reply: Box::new(move |_| {
                            let _ = tx.send(Err(e));
                        }),
                    },
                }
            })
        });
        self.queue.try_send(Job { run, all_or_nothing }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::NotCommitted("the writer has stopped".into()),
        })?;
        // A dropped sender means the job never ran to completion (its batch was abandoned).
        rx.await.map_err(|_| StoreError::NotCommitted("the write was abandoned with its batch".into()))?
    }
}

async fn exec(conn: &mut AnyConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(&mut *conn).await.map(|_| ())
}

async fn run(mut conn: AnyConnection, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("smartreply_write_batch_size").record(batch.len() as f64);
        let (done, result) = run_batch(&mut conn, batch.drain(..)).await;
        let error = result.err().map(|e| {
            tracing::error!(error = %e, jobs = done.len(), "write batch failed and was rolled back");
            e.to_string()
        });
        for d in done {
            (d.reply)(error.as_deref());
        }
    }
    tracing::info!("store writer stopped");
}

/// Runs one batch; returns the jobs that ran (to be answered) and the transaction's outcome.
/// Jobs that never ran are dropped, which answers their callers with an error.
///
/// Each call to the connection is a round trip to sqlx's SQLite worker thread (two context
/// switches), so the savepoint bookkeeping between jobs travels in one multi-statement call
/// (closing one job's savepoint and opening the next's), and none at all between jobs that
/// need no savepoint.
async fn run_batch(conn: &mut AnyConnection, jobs: impl Iterator<Item = Job>) -> (Vec<Done>, Result<(), sqlx::Error>) {
    let mut done = Vec::new();
    let mut jobs = jobs.peekable();
    let opening = if jobs.peek().is_some_and(|j| !j.all_or_nothing) { "BEGIN IMMEDIATE; SAVEPOINT job" } else { "BEGIN IMMEDIATE" };
    if let Err(e) = exec(conn, opening).await {
        let _ = exec(conn, "ROLLBACK").await;
        return (done, Err(e));
    }
    let result: Result<(), sqlx::Error> = async {
        while let Some(job) = jobs.next() {
            let keep = match AssertUnwindSafe((job.run)(conn)).catch_unwind().await {
                Ok(d) => {
                    let keep = d.keep;
                    done.push(d);
                    keep
                }
                // Without a savepoint of its own there is no knowing what it left: the batch
                // is rolled back and every caller told.
                Err(_) if job.all_or_nothing => {
                    return Err(sqlx::Error::Protocol("a write job panicked; its batch is rolled back".into()));
                }
                Err(_) => {
                    // The panicking job's caller sees its answer channel dropped.
                    tracing::error!("a write job panicked; its changes are rolled back");
                    false
                }
            };
            let next = jobs.peek().map(|j| !j.all_or_nothing);
            if let Some(sql) = between_jobs(!job.all_or_nothing, keep, next) {
                exec(conn, sql).await?;
            }
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = exec(conn, "ROLLBACK").await;
    }
    (done, result)
}

/// The statements after a job: closing its savepoint if it had one (keeping or undoing its
/// changes), then opening the next job's if it needs one, or committing the batch after the
/// last (`next` is `None`); `None` when there is nothing to send.
fn between_jobs(had_savepoint: bool, keep: bool, next: Option<bool>) -> Option<&'static str> {
    Some(match (had_savepoint, keep, next) {
        (false, _, Some(false)) => return None,
        (false, _, Some(true)) => "SAVEPOINT job",
        (false, _, None) => "COMMIT",
        (true, true, Some(false)) => "RELEASE job",
        (true, true, Some(true)) => "RELEASE job; SAVEPOINT job",
        (true, true, None) => "RELEASE job; COMMIT",
        (true, false, Some(false)) => "ROLLBACK TO job; RELEASE job",
        (true, false, Some(true)) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
        (true, false, None) => "ROLLBACK TO job; RELEASE job; COMMIT",
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreError, Tx};
    use std::time::Duration;
    use tokio::sync::oneshot;

    async fn sqlite(queue: usize) -> (Store, tempfile::TempDir) {
        let (store, dir) = super::super::testing::fresh_sqlite(queue).await;
        store
            .write(|c| {
                Box::pin(async move {
                    sqlx::raw_sql("CREATE TABLE scratch (n BIGINT PRIMARY KEY)").execute(&mut *c).await?;
                    Ok(Tx::Commit(()))
                })
            })
            .await
            .unwrap();
        (store, dir)
    }

    /// Occupies the writer until the returned sender fires.
    async fn hold_writer(store: &Store) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), StoreError>>) {
        let (release, released) = oneshot::channel::<()>();
        let (started_tx, started) = oneshot::channel::<()>();
        let s = store.clone();
        let held = tokio::spawn(async move {
            s.write(move |_| {
                Box::pin(async move {
                    let _ = started_tx.send(());
                    let _ = released.await;
                    Ok(Tx::Commit(()))
                })
            })
            .await
        });
        started.await.unwrap();
        (release, held)
    }

    fn insert(store: &Store, n: i64, then_fail: bool) -> tokio::task::JoinHandle<Result<i64, StoreError>> {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(move |c| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO scratch (n) VALUES ($1)").bind(n).execute(&mut *c).await?;
                    if then_fail {
                        return Err(StoreError::Corrupt("this job fails after writing".into()));
                    }
                    Ok(Tx::Commit(n))
                })
            })
            .await
        })
    }

    /// An all-or-nothing job: its own savepoint around inserting `rows`, undone on error.
    fn insert_all(store: &Store, rows: &'static [i64]) -> tokio::task::JoinHandle<Result<usize, StoreError>> {
        let s = store.clone();
        tokio::spawn(async move {
            s.write_all_or_nothing(move |c| {
                Box::pin(async move {
                    sqlx::raw_sql("SAVEPOINT mine").execute(&mut *c).await?;
                    for n in rows {
                        if let Err(e) = sqlx::query("INSERT INTO scratch (n) VALUES ($1)").bind(n).execute(&mut *c).await {
                            sqlx::raw_sql("ROLLBACK TO mine; RELEASE mine").execute(&mut *c).await?;
                            return Err(e.into());
                        }
                    }
                    sqlx::raw_sql("RELEASE mine").execute(&mut *c).await?;
                    Ok(Tx::Commit(rows.len()))
                })
            })
            .await
        })
    }

    async fn wait_until_queued(store: &Store, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while store.writer.as_ref().unwrap().queued() < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("jobs reach the queue");
    }

    #[tokio::test]
    async fn a_full_write_queue_refuses_at_once_and_queued_writes_still_commit() {
        let (store, _dir) = sqlite(2).await;
        let (release, held) = hold_writer(&store).await;
        let queued = [insert(&store, 1, false), insert(&store, 2, false)];
        wait_until_queued(&store, 2).await;
        let refused = tokio::time::timeout(Duration::from_secs(1), insert(&store, 3, false)).await.expect("refused at once").unwrap();
        assert!(matches!(refused, Err(StoreError::Overloaded)), "{refused:?}");
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scratch").fetch_one(store.pool()).await.unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn one_failing_write_leaves_the_rest_of_its_batch_committed() {
        let (store, _dir) = sqlite(16).await;
        let (release, held) = hold_writer(&store).await;
        let jobs = [insert(&store, 1, false), insert(&store, 2, true), insert(&store, 3, false), insert(&store, 1, false)];
        wait_until_queued(&store, 4).await;
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        let [a, b, c, d] = jobs;
        assert_eq!(a.await.unwrap().unwrap(), 1);
        assert!(matches!(b.await.unwrap(), Err(StoreError::Corrupt(_))));
        assert_eq!(c.await.unwrap().unwrap(), 3);
        assert!(matches!(d.await.unwrap(), Err(StoreError::Database(e)) if e.as_database_error().is_some_and(|d| d.is_unique_violation())));
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM scratch ORDER BY n").fetch_all(store.pool()).await.unwrap();
        assert_eq!(rows, vec![1, 3], "the failed job's row is rolled back, its batch-mates' rows are kept");
    }

    #[tokio::test]
    async fn jobs_that_keep_themselves_all_or_nothing_share_a_batch_with_savepointed_ones() {
        let (store, _dir) = sqlite(16).await;
        let (release, held) = hold_writer(&store).await;
        let (a, b) = (insert_all(&store, &[10, 11]), insert_all(&store, &[12, 10]));
        let (c, d, e) = (insert(&store, 13, false), insert_all(&store, &[14]), insert(&store, 15, true));
        let f = insert_all(&store, &[16]);
        wait_until_queued(&store, 6).await;
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(a.await.unwrap().unwrap(), 2);
        assert!(matches!(b.await.unwrap(), Err(StoreError::Database(_))), "12 is undone with the failing 10");
        assert_eq!(c.await.unwrap().unwrap(), 13);
        assert_eq!(d.await.unwrap().unwrap(), 1);
        assert!(matches!(e.await.unwrap(), Err(StoreError::Corrupt(_))));
        assert_eq!(f.await.unwrap().unwrap(), 1);
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM scratch ORDER BY n").fetch_all(store.pool()).await.unwrap();
        assert_eq!(rows, vec![10, 11, 13, 14, 16]);
    }

    #[test]
    fn between_jobs_sends_nothing_between_two_jobs_without_savepoints() {
        use super::between_jobs;
        assert_eq!(between_jobs(false, true, Some(false)), None);
        assert_eq!(between_jobs(false, false, None), Some("COMMIT"));
        assert_eq!(between_jobs(true, false, Some(false)), Some("ROLLBACK TO job; RELEASE job"));
        assert_eq!(between_jobs(true, true, Some(true)), Some("RELEASE job; SAVEPOINT job"));
    }
}
