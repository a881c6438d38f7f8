//! The leased queue every outbox is (the reply outbox, the Chatwoot outbox, the Chatwoot
//! events), written once. A worker claims the next due row, which leases it and counts the
//! attempt; it then settles the row: worked off, to be retried at a time the worker chose, or
//! given up. A lease that runs out (the worker died) makes the row claimable again, so a crash
//! only delays work (at-least-once), and two claimers never hold one row at the same time.
//!
//! The SQL is one text for both backends. The claim re-checks the lease outside its subquery so
//! that PostgreSQL re-checks it on the row it locks: of two replicas racing for one row, only
//! one updates it (the other finds nothing this time). On SQLite the single writer orders them.
//! The statuses come from `domain`; the claim's `pending` filter is written into the text, as
//! the constant the table's index is searched by.

use super::{Store, StoreError, Tx};
use crate::domain::{DeliveryStatus, EventStatus};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

/// How one table serves as a leased queue. Its rows have `status`, `attempts`, `lease_until`
/// and `last_error` columns.
pub(crate) struct Queue {
    /// The table.
    table: &'static str,
    /// The column a claimed row is settled by.
    key: &'static str,
    /// Due rows are taken in this column's order.
    order: &'static str,
    /// When set, a row waits while an older row of its conversation (`shop`,
    /// `conversation_id`, ordered by `seq`) is still pending, so a conversation's work goes out
    /// in the order it was queued.
    in_conversation_order: bool,
    /// When a row's next attempt falls due. `None`: the queue has no such column and a retry
    /// waits out the lease instead (the row is left leased until then).
    due: Option<&'static str>,
    /// The status of a row waiting for an attempt.
    pending: &'static str,
    /// The status a worked-off row takes.
    done: &'static str,
    /// The status of a row given up.
    failed: &'static str,
    /// The column stamped when a row is worked off.
    done_at: &'static str,
    /// The columns a claim returns.
    returning: &'static str,
}

/// The reply outbox: agent replies and survey events for the shop's callback, oldest due first.
pub(crate) static REPLIES: Queue = Queue {
    table: "outbox",
    key: "id",
    order: "next_attempt_at",
    in_conversation_order: false,
    due: Some("next_attempt_at"),
    pending: DeliveryStatus::Pending.as_str(),
    done: DeliveryStatus::Delivered.as_str(),
    failed: DeliveryStatus::Failed.as_str(),
    done_at: "delivered_at",
    returning: "id, shop, payload, attempts",
};

/// Calls to Chatwoot's API, in order within a conversation.
pub(crate) static CHATWOOT_CALLS: Queue = Queue {
    table: "chatwoot_outbox",
    key: "id",
    order: "seq",
    in_conversation_order: true,
    due: Some("next_attempt_at"),
    pending: DeliveryStatus::Pending.as_str(),
    done: DeliveryStatus::Delivered.as_str(),
    failed: DeliveryStatus::Failed.as_str(),
    done_at: "delivered_at",
    returning: "id, shop, action, path, body, attempts",
};

/// Events accepted from Chatwoot, worked off in order within a conversation.
pub(crate) static CHATWOOT_EVENTS: Queue = Queue {
    table: "chatwoot_events",
    key: "seq",
    order: "seq",
    in_conversation_order: true,
    due: None,
    pending: EventStatus::Pending.as_str(),
    done: EventStatus::Done.as_str(),
    failed: EventStatus::Failed.as_str(),
    done_at: "processed_at",
    returning: "seq, shop, payload, attempts",
};

/// Where a queued reply belongs: its shop, ticket and conversation.
pub(super) struct ReplyOf<'a> {
    pub(super) shop: &'a str,
    pub(super) ticket_id: &'a str,
    pub(super) conversation_id: &'a str,
}

/// Queues a payload for the shop's callback ([`REPLIES`]), in the transaction that records
/// what it tells (an agent reply, a survey, a submitted case).
pub(super) async fn enqueue_reply(
    tx: &mut AnyConnection,
    id: &str,
    of: ReplyOf<'_>,
    message_id: &str,
    payload: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, shop, ticket_id, conversation_id, message_id, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
    )
    .bind(id)
    .bind(of.shop)
    .bind(of.ticket_id)
    .bind(of.conversation_id)
    .bind(message_id)
    .bind(payload)
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Which row of a queue: its key column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    /// A text id (`outbox.id`, `chatwoot_outbox.id`).
    Id(String),
    /// A sequence number (`chatwoot_events.seq`).
    Seq(i64),
}

/// A row type that a queue's claim returns.
pub(crate) trait Leased: Sized + Send + 'static {
    /// The queue it is taken from.
    fn queue() -> &'static Queue;
    /// Reads the claim's `returning` columns.
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error>;
    /// The row's key, to settle it by.
    fn key(&self) -> Key;
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_key(query: Query<'_>, key: Key) -> Query<'_> {
    match key {
        Key::Id(id) => query.bind(id),
        Key::Seq(seq) => query.bind(seq),
    }
}

impl Queue {
    /// `UPDATE … RETURNING` that leases the next due row until `$1` at time `$2`.
    fn claim_sql(&self) -> String {
        let Queue { table, key, order, .. } = self;
        let pending = self.pending;
        let due = self.due.map(|column| format!(" AND q.{column} <= $2")).unwrap_or_default();
        let in_order = if self.in_conversation_order {
            format!(
                " AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.shop = q.shop AND p.conversation_id = q.conversation_id \
                 AND p.status = '{pending}' AND p.seq < q.seq)"
            )
        } else {
            String::new()
        };
        format!(
            "UPDATE {table} SET lease_until = $1, attempts = attempts + 1 WHERE {key} = (\
             SELECT q.{key} FROM {table} q WHERE q.status = '{pending}'{due} AND (q.lease_until IS NULL OR q.lease_until < $2){in_order} \
             ORDER BY q.{order} LIMIT 1) AND status = '{pending}' AND (lease_until IS NULL OR lease_until < $2) RETURNING {}",
            self.returning
        )
    }

    /// Marks the row worked off at `now`.
    pub(super) async fn done(&self, conn: &mut AnyConnection, key: Key, now: i64) -> Result<(), sqlx::Error> {
        let sql = format!(
            "UPDATE {} SET status = $1, {} = $2, lease_until = NULL, last_error = NULL WHERE {} = $3",
            self.table, self.done_at, self.key
        );
        bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(self.done).bind(now), key).execute(conn).await?;
        Ok(())
    }

    /// Records a failed attempt: due again at `retry_at`, or given up (`failed`) when the
    /// worker says so (`retry_at` is kept then too).
    pub(super) async fn failed(&self, conn: &mut AnyConnection, key: Key, failure: Failure<'_>) -> Result<(), sqlx::Error> {
        let retry = match self.due {
            Some(column) => format!("{column} = $3, lease_until = NULL"),
            None => "lease_until = $3".to_string(),
        };
        let sql = format!("UPDATE {} SET status = $1, last_error = $2, {retry} WHERE {} = $4", self.table, self.key);
        let status = if failure.give_up { self.failed } else { self.pending };
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(status).bind(failure.error.to_string()).bind(failure.retry_at);
        bind_key(query, key).execute(conn).await?;
        Ok(())
    }
}

/// A failed attempt as its worker judged it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    /// What went wrong, kept as the row's `last_error`.
    pub error: &'a str,
    /// When to try again.
    pub retry_at: i64,
    /// The worker's retry budget is spent: the row is failed for good.
    pub give_up: bool,
}

impl Store {
    /// Takes `T`'s queue's next due row, leasing it until `now + lease_ms`.
    pub(crate) async fn claim_next<T: Leased>(&self, now: i64, lease_ms: i64) -> Result<Option<T>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(sqlx::AssertSqlSafe(T::queue().claim_sql()))
                    .bind(now + lease_ms)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                Ok(Tx::Commit(row.as_ref().map(T::from_row).transpose()?))
            })
        })
        .await
    }

    /// The claimed row is worked off.
    pub(crate) async fn settle_done<T: Leased>(&self, row: &T, now: i64) -> Result<(), StoreError> {
        let key = row.key();
        self.write(move |tx| {
            Box::pin(async move {
                T::queue().done(tx, key, now).await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// The claimed row's attempt failed: retried or given up, as `failure` says.
    pub(crate) async fn settle_failed<T: Leased>(&self, row: &T, failure: Failure<'_>) -> Result<(), StoreError> {
        let (key, error) = (row.key(), failure.error.to_string());
        let (retry_at, give_up) = (failure.retry_at, failure.give_up);
        self.write(move |tx| {
            Box::pin(async move {
                T::queue().failed(tx, key, Failure { error: &error, retry_at, give_up }).await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    //! The queue on real tables: the reply outbox for claim, lease, back-off and give-up, the
    //! Chatwoot tables for conversation order and retries that wait out the lease.
    use super::Failure;
    use super::{ReplyOf, enqueue_reply};
    use crate::domain::{ChatwootAction, DeliveryStatus};
    use crate::store::chatwoot::{Call, NewCall, PendingEvent};
    use crate::store::outbox::Delivery;
    use crate::store::testing::{drop_postgres, fresh_postgres, fresh_sqlite};
    use crate::store::{Store, Tx, now_ms};
    use std::collections::BTreeSet;

    /// Queues a reply due at `at`.
    async fn reply(store: &Store, id: &str, at: i64) {
        let id = id.to_string();
        store
            .write(move |tx| {
                Box::pin(async move {
                    let of = ReplyOf { shop: "demo", ticket_id: "t-1", conversation_id: "c-1" };
                    enqueue_reply(tx, &id, of, &format!("m-{id}"), "{}", at).await?;
                    Ok(Tx::Commit(()))
                })
            })
            .await
            .unwrap();
    }

    async fn claim(store: &Store, now: i64, lease_ms: i64) -> Option<Delivery> {
        store.claim_next::<Delivery>(now, lease_ms).await.unwrap()
    }

    fn retry(retry_at: i64, give_up: bool) -> Failure<'static> {
        Failure { error: "HTTP 503", retry_at, give_up }
    }

    async fn claim_lease_back_off_and_give_up(store: &Store) {
        reply(store, "r1", 1_000).await;
        reply(store, "r2", 2_000).await;
        assert!(claim(store, 999, 100).await.is_none(), "nothing is due before its time");
        let first = claim(store, 1_500, 100).await.expect("the due row");
        assert_eq!((first.id.as_str(), first.attempts), ("r1", 1));
        assert!(claim(store, 1_550, 100).await.is_none(), "r1 is leased, r2 not due");
        let again = claim(store, 1_601, 100).await.expect("a lease that ran out frees the row");
        assert_eq!((again.id.as_str(), again.attempts), ("r1", 2), "every claim counts an attempt");
        store.settle_failed(&again, retry(5_000, false)).await.unwrap();
        let second = claim(store, 2_000, 100).await.expect("r2 falls due");
        assert_eq!(second.id, "r2");
        store.settle_done(&second, 2_010).await.unwrap();
        assert!(claim(store, 4_999, 100).await.is_none(), "r1 backs off until 5000, r2 is delivered");
        let third = claim(store, 5_000, 100).await.expect("r1 after its back-off");
        assert_eq!((third.id.as_str(), third.attempts), ("r1", 3));
        store.settle_failed(&third, retry(9_000, true)).await.unwrap();
        assert!(claim(store, 1_000_000, 100).await.is_none(), "a row given up is never claimed again");
        let rows = store.deliveries("demo", None).await.unwrap();
        let state: Vec<_> = rows.iter().map(|r| (r.id.as_str(), r.status, r.attempts, r.last_error.as_deref())).collect();
        assert_eq!(
            state,
            [("r2", DeliveryStatus::Delivered, 1, None), ("r1", DeliveryStatus::Failed, 3, Some("HTTP 503"))],
            "newest first"
        );
    }

    /// Many claimers at once over a few rows: each row is taken by one of them, and once all
    /// are leased nobody gets one.
    async fn two_claimers_never_take_one_row(store: &Store) {
        let ids: BTreeSet<String> = (0..6).map(|i| format!("r{i}")).collect();
        for id in &ids {
            reply(store, id, 1_000).await;
        }
        let mut taken = Vec::new();
        while taken.len() < ids.len() {
            let claimers: Vec<_> = (0..12)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { store.claim_next::<Delivery>(2_000, 60_000).await.unwrap() })
                })
                .collect();
            let before = taken.len();
            for claimer in claimers {
                taken.extend(claimer.await.unwrap().map(|d| d.id));
            }
            assert!(taken.len() > before, "a round of claimers takes at least one row");
        }
        let distinct: BTreeSet<String> = taken.iter().cloned().collect();
        assert_eq!(distinct.len(), taken.len(), "a row was claimed twice: {taken:?}");
        assert_eq!(distinct, ids);
        assert!(claim(store, 2_000, 60_000).await.is_none(), "every row is leased");
    }

    fn call(id: &str, conversation: &str) -> NewCall {
        NewCall {
            id: id.into(),
            conversation_id: conversation.into(),
            action: ChatwootAction::Reply,
            path: "conversations/1/messages".into(),
            body: "{}".into(),
        }
    }

    async fn conversations_keep_their_order(store: &Store) {
        let calls = vec![call("a1", "c-a"), call("a2", "c-a"), call("b1", "c-b")];
        store.chatwoot_enqueue("demo", calls).await.unwrap();
        let now = now_ms() + 1_000;
        let take = move || async move { store.claim_next::<Call>(now, 60_000).await.unwrap() };
        let first = take().await.expect("the oldest call");
        assert_eq!(first.id, "a1");
        assert_eq!(take().await.map(|c| c.id).as_deref(), Some("b1"), "a2 waits for a1, b1 does not");
        assert!(take().await.is_none());
        store.settle_done(&first, now).await.unwrap();
        assert_eq!(take().await.map(|c| c.id).as_deref(), Some("a2"), "a1 delivered, a2 is next");
    }

    async fn a_failed_event_waits_out_its_retry(store: &Store) {
        for delivery in ["d1", "d2"] {
            assert!(store.chatwoot_event_insert("demo", delivery, "message", "c-1", "{}").await.unwrap());
        }
        let now = now_ms() + 1_000;
        let take = move |at: i64| async move { store.claim_next::<PendingEvent>(at, 60_000).await.unwrap() };
        let first = take(now).await.expect("the oldest event");
        store.settle_failed(&first, retry(now + 5_000, false)).await.unwrap();
        assert!(take(now + 4_999).await.is_none(), "the first waits for its retry, the second for the first");
        let again = take(now + 5_001).await.expect("the retry falls due");
        assert_eq!((again.seq, again.attempts), (first.seq, 2));
        store.chatwoot_event_done(&again, vec![call("from-d1", "c-1")]).await.unwrap();
        let second = take(now + 5_001).await.expect("the next event of the conversation");
        assert!(second.seq > first.seq);
        let call = store.claim_next::<Call>(now + 5_001, 60_000).await.unwrap().expect("the done event's call was queued with it");
        assert_eq!(call.id, "from-d1");
    }

    #[tokio::test]
    async fn on_sqlite_a_row_is_leased_retried_after_its_back_off_and_given_up() {
        let (store, _dir) = fresh_sqlite(64).await;
        claim_lease_back_off_and_give_up(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_sqlite_two_claimers_never_take_one_row() {
        let (store, _dir) = fresh_sqlite(64).await;
        two_claimers_never_take_one_row(&store).await;
    }

    #[tokio::test]
    async fn on_sqlite_chatwoot_queues_keep_conversation_order_and_retry_times() {
        let (store, _dir) = fresh_sqlite(64).await;
        conversations_keep_their_order(&store).await;
        a_failed_event_waits_out_its_retry(&store).await;
    }

    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_a_row_is_leased_retried_after_its_back_off_and_given_up() {
        let (store, url) = fresh_postgres().await;
        claim_lease_back_off_and_give_up(&store).await;
        drop(store);
        drop_postgres(&url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_two_claimers_never_take_one_row() {
        let (store, url) = fresh_postgres().await;
        two_claimers_never_take_one_row(&store).await;
        drop(store);
        drop_postgres(&url).await;
    }

    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_chatwoot_queues_keep_conversation_order_and_retry_times() {
        let (store, url) = fresh_postgres().await;
        conversations_keep_their_order(&store).await;
        a_failed_event_waits_out_its_retry(&store).await;
        drop(store);
        drop_postgres(&url).await;
    }
}
