//! Group commit of inbound messages on PostgreSQL.
//!
//! Each inbound message was one statement and one transaction of its own; under load the
//! statement around the rows (round trip, executor start-up per clause, commit and WAL flush)
//! was most of PostgreSQL's CPU, and PostgreSQL shares the machine with the replicas. Messages
//! waiting to be written now queue here; one task per replica takes what is waiting (at most
//! [`MAX_GROUP`], one message per conversation, so that no statement changes a row twice) and
//! writes it as one statement (`batch/grouped.rs`) while the next group gathers. One task, as
//! SQLite's writer: replicas add parallel writers, and on two cores more writers per replica
//! made groups smaller and the service slower (two replicas at 64 clients: 2,834 messages/s
//! with one writer each, 2,518 with two, 2,427 with four). A caller is answered once its
//! group committed. When a group fails — a repeated message id, a race for a conversation's ticket,
//! a value the grouped form cannot carry — its messages are written one by one, each as before,
//! and each caller gets its own outcome. A full queue answers at once with
//! [`StoreError::Overloaded`] (503 with `Retry-After`), as SQLite's writer does.

use super::StoreError;
use super::batch::Batch;
use super::lanes::Lanes;
use sqlx::AnyPool;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most messages in one statement: bounds the statement's size and the first caller's wait.
pub(super) const MAX_GROUP: usize = 64;

/// Builds a message's batch; `true` asks for the one-message form (with `RETURNING`), `false`
/// for the form that groups.
type Build = Box<dyn Fn(bool) -> Batch + Send + Sync>;

struct Job {
    /// Shop and conversation: one per group.
    conversation: (String, String),
    build: Build,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Handle to the writing task; cheap to clone.
#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::Sender<Job>,
    #[cfg(test)]
    counts: Arc<Counts>,
}

/// What the task did (for tests; `smartreply_store_group_size` tells operators).
#[derive(Default)]
pub(super) struct Counts {
    /// Statements that committed a group of two or more messages.
    pub(super) groups: AtomicU64,
    /// Messages committed in those groups.
    pub(super) grouped: AtomicU64,
    /// Messages written one by one (alone in the queue, or after their group failed).
    pub(super) single: AtomicU64,
}

/// The queue, with messages held back because their conversation already had one in the
/// group being taken.
struct Queue {
    rx: mpsc::Receiver<Job>,
    held: VecDeque<Job>,
}

impl Committer {
    /// Starts the task, writing on connections of `lanes`, with room for `capacity` waiting
    /// messages.
    pub(super) fn start(pool: AnyPool, lanes: Arc<Lanes>, capacity: usize) -> Committer {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let counts = Arc::new(Counts::default());
        tokio::spawn(work(Queue { rx, held: VecDeque::new() }, pool, lanes, counts.clone()));
        Committer {
            queue,
            #[cfg(test)]
            counts,
        }
    }

    /// Writes the message `build` describes, grouped with others waiting; returns once it is
    /// committed. A database error is the message's own (its write was tried alone).
    pub(super) async fn commit(&self, shop: &str, conversation: &str, build: Build) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { conversation: (shop.to_string(), conversation.to_string()), build, reply };
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::NotCommitted("the committer has stopped".into()),
        })?;
        answer.await.map_err(|_| StoreError::NotCommitted("the write was abandoned with its group".into()))?
    }

    #[cfg(test)]
    pub(super) fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl Queue {
    /// The next group: held messages first, then what is waiting, one per conversation.
    async fn next_group(&mut self) -> Option<Vec<Job>> {
        let first = match self.held.pop_front() {
            Some(job) => job,
            None => self.rx.recv().await?,
        };
        let mut seen = HashSet::from([first.conversation.clone()]);
        let mut group = vec![first];
        let mut held = VecDeque::new();
        let mut take = |job: Job, group: &mut Vec<Job>| {
            if group.len() < MAX_GROUP && seen.insert(job.conversation.clone()) {
                group.push(job);
            } else {
                held.push_back(job);
            }
        };
        while let Some(job) = self.held.pop_front() {
            take(job, &mut group);
        }
        while group.len() < MAX_GROUP {
            match self.rx.try_recv() {
                Ok(job) => take(job, &mut group),
                Err(_) => break,
            }
        }
        self.held = held;
        Some(group)
    }
}

async fn work(mut queue: Queue, pool: AnyPool, lanes: Arc<Lanes>, counts: Arc<Counts>) {
    loop {
        let Some(group) = queue.next_group().await else { return };
        metrics::histogram!("smartreply_store_group_size").record(group.len() as f64);
        if group.len() > 1 {
            match write_group(&group, &pool, &lanes).await {
                Ok(true) => {
                    counts.groups.fetch_add(1, Ordering::Relaxed);
                    counts.grouped.fetch_add(group.len() as u64, Ordering::Relaxed);
                    for job in group {
                        let _ = job.reply.send(Ok(()));
                    }
                    continue;
                }
                Ok(false) => {}
                Err(error) => tracing::debug!(%error, messages = group.len(), "a group was refused; writing its messages one by one"),
            }
        }
        for job in group {
            counts.single.fetch_add(1, Ordering::Relaxed);
            let outcome = write_one(&job, &pool, &lanes).await;
            let _ = job.reply.send(outcome);
        }
    }
}

/// The group as one statement; `Ok(false)` when it cannot be one (nothing was written).
async fn write_group(group: &[Job], pool: &AnyPool, lanes: &Lanes) -> Result<bool, StoreError> {
    let batches = group.iter().map(|job| (job.build)(false)).collect();
    let mut lane = lanes.get(pool).await?;
    let outcome = Batch::execute_grouped(batches, lane.conn()).await;
    lane.done(&outcome);
    Ok(outcome?)
}

async fn write_one(job: &Job, pool: &AnyPool, lanes: &Lanes) -> Result<(), StoreError> {
    let mut lane = lanes.get(pool).await?;
    let outcome = (job.build)(true).execute_as_one(lane.conn()).await;
    lane.done(&outcome);
    Ok(outcome?)
}
