//! The loop every leased queue's worker runs (the reply outbox, the Chatwoot outbox, the
//! Chatwoot events): take every due row it can claim, work each off, then sleep until woken,
//! the poll interval passes, or shutdown.

use crate::store::{StoreError, now_ms};
use std::future::Future;
use std::time::Duration;
use tokio::sync::Notify;

/// One queue as its worker sees it.
pub(crate) struct Queue<'a> {
    /// Named in logs (`reply outbox`, `chatwoot event`, ...).
    pub(crate) name: &'a str,
    /// How long a claimed row stays the worker's: longer than working one off takes, so a
    /// live worker never loses its row; a dead one's row is taken again after it.
    pub(crate) lease_ms: i64,
    /// How often to look without being woken (rows whose retry falls due).
    pub(crate) poll: Duration,
    /// Woken when a row is queued.
    pub(crate) wake: &'a Notify,
}

/// Runs until `shutdown` completes; a row being worked off finishes first.
pub(crate) async fn drain<T, C, W>(
    queue: Queue<'_>,
    shutdown: impl Future<Output = ()>,
    claim: impl Fn(i64, i64) -> C,
    work: impl Fn(T) -> W,
) where
    C: Future<Output = Result<Option<T>, StoreError>>,
    W: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        loop {
            match claim(now_ms(), queue.lease_ms).await {
                Ok(Some(row)) => work(row).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "{} read failed", queue.name);
                    break;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = queue.wake.notified() => {}
            _ = tokio::time::sleep(queue.poll) => {}
        }
    }
    tracing::info!("{} worker stopped", queue.name);
}
