//! The `events` table: what live streams read. Every change a stream shows (a message, a
//! ticket's change, a survey) writes an event row in the transaction that makes it; readers
//! take events after a cursor and never past the event horizon (`horizon.rs`).

use super::batch::{Param, Statement, params};
use super::{Store, StoreError, opt_text};
use sqlx::{AnyConnection, Row};

/// What an event in the `events` table announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A message was added to a conversation (payload: the message).
    Message,
    /// A ticket changed (payload empty: readers load its current state).
    Ticket,
    /// A resolved ticket's survey opened (payload: what the widget shows).
    Survey,
}

impl EventKind {
    /// The name stored in the `kind` column.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Ticket => "ticket",
            EventKind::Survey => "survey",
        }
    }

    /// Parses a stored name.
    pub(crate) fn parse(s: &str) -> Option<EventKind> {
        match s {
            "message" => Some(EventKind::Message),
            "ticket" => Some(EventKind::Ticket),
            "survey" => Some(EventKind::Survey),
            _ => None,
        }
    }
}

/// One stored event, as live streams read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEvent {
    /// Sequence number: the stream's event id (resuming starts after it).
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// The ticket concerned, if any.
    pub ticket_id: Option<String>,
    /// JSON payload.
    pub payload: String,
}

/// RFC 3339 from Unix milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

pub(crate) async fn insert_event(
    tx: &mut AnyConnection,
    shop: &str,
    kind: EventKind,
    conversation_id: &str,
    ticket_id: Option<&str>,
    payload: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    event_statement(shop, kind, conversation_id, ticket_id, payload, now).execute(tx).await.map(|_| ())
}

/// An event row, for live streams (see [`insert_event`]).
pub(super) fn event_statement(
    shop: &str,
    kind: EventKind,
    conversation_id: &str,
    ticket_id: Option<&str>,
    payload: impl Into<Param>,
    now: i64,
) -> Statement {
    Statement {
        sql: "INSERT INTO events (shop, kind, conversation_id, ticket_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params: params![shop, kind.as_str(), conversation_id, ticket_id, payload.into(), now],
    }
}

/// One conversation's events between a cursor and the horizon (a widget's stream), by
/// `events_conversation_seq`. The horizon is `+seq`: as an index range SQLite would take it
/// with `shop` on `events_shop_seq` and walk the shop's events instead.
pub(super) const CONVERSATION_EVENTS_SQL: &str = "SELECT seq, kind, ticket_id, payload FROM events \
     WHERE shop = $1 AND conversation_id = $2 AND seq > $3 AND +seq <= $4 ORDER BY seq LIMIT 200";

impl Store {
    /// Events of a shop (optionally of one conversation) after a sequence number, oldest first,
    /// none past the horizon (see [`Store::event_horizon`]).
    pub(crate) async fn events_after(&self, shop: &str, conversation_id: Option<&str>, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(upto) = self.event_horizon() else { return Ok(Vec::new()) };
        let rows =
            match conversation_id {
                Some(c) => sqlx::query(CONVERSATION_EVENTS_SQL).bind(shop).bind(c).bind(after).bind(upto).fetch_all(self.pool()).await?,
                None => sqlx::query(
                    "SELECT seq, kind, ticket_id, payload FROM events WHERE shop = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT 200",
                )
                .bind(shop)
                .bind(after)
                .bind(upto)
                .fetch_all(self.pool())
                .await?,
            };
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(StoredEvent {
                    seq: r.try_get("seq")?,
                    kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?}")))?,
                    ticket_id: opt_text(r, "ticket_id")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect()
    }

    /// The newest event sequence number of a shop, no further than the horizon (streams start
    /// there; an event still being committed below a newer one is then still sent).
    pub(crate) async fn last_event(&self, shop: &str) -> Result<i64, StoreError> {
        let upto = self.settled_horizon().await;
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE shop = $1").bind(shop).fetch_one(self.pool()).await?;
        Ok(seq.unwrap_or(0).min(upto))
    }

    /// The highest event number below which no event can still appear: every number on
    /// SQLite, whose one writer commits in order; on PostgreSQL what `horizon.rs` last found,
    /// `None` until its first reading.
    pub(crate) fn event_horizon(&self) -> Option<i64> {
        match &self.horizon {
            None => Some(i64::MAX),
            Some(rx) => *rx.borrow(),
        }
    }

    /// The horizon once it is known (PostgreSQL's first reading takes two rounds).
    async fn settled_horizon(&self) -> i64 {
        let Some(rx) = &self.horizon else { return i64::MAX };
        let mut rx = rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(h) => h.unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Resolves when the horizon moves (never on SQLite, where it does not): streams wake on
    /// it to read events another writer committed.
    pub(crate) async fn event_horizon_moved(&self) {
        match &self.horizon {
            None => std::future::pending().await,
            Some(rx) => {
                let mut rx = rx.clone();
                rx.borrow_and_update();
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Waits until every event committed so far is within the horizon (tests read events
    /// right after writing them).
    #[cfg(test)]
    pub(crate) async fn events_settled(&self) {
        let Some(rx) = &self.horizon else { return };
        let taken: i64 = sqlx::query_scalar(super::horizon::TAKEN_SQL).fetch_one(self.pool()).await.unwrap();
        let mut rx = rx.clone();
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.wait_for(|h| h.is_some_and(|h| h >= taken)))
            .await
            .expect("the event horizon catches up")
            .unwrap();
    }
}
