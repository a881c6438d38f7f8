//! The Chatwoot agent bot's two queues. `chatwoot_events`: events accepted from Chatwoot,
//! stored before the 200 and worked off afterwards. `chatwoot_outbox`: calls to Chatwoot's API
//! (replies, private notes, hand-offs), retried with backoff, delivered in order within a
//! conversation (an acknowledgement before the note, the note before the hand-off). Both are
//! leased queues of `queue.rs` ([`queue::CHATWOOT_EVENTS`], [`queue::CHATWOOT_CALLS`]), like the
//! reply outbox, so replicas never take the same row at once.

use super::queue::{self, Key, Leased, Queue};
use super::{Store, StoreError, Tx, now_ms, opt_text, parsed};
use crate::domain::{ChatwootAction, DeliveryStatus, EventStatus};
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

/// An accepted event waiting to be worked off.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    /// Row.
    pub seq: i64,
    /// Shop.
    pub shop: String,
    /// The work, JSON (`chatwoot::event::Work`).
    pub payload: String,
    /// Attempts so far, including this one.
    pub attempts: i64,
}

/// A call to queue: `POST {account api}/{path}` with `body`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewCall {
    /// Deterministic id, so working an event off twice queues each call once.
    pub id: String,
    /// smartreply's conversation id (calls of one conversation go out in order).
    pub conversation_id: String,
    /// What the call does.
    pub action: ChatwootAction,
    /// Below the account's API root, e.g. `conversations/7/messages`.
    pub path: String,
    /// JSON body.
    pub body: String,
}

/// A call taken by the worker.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Row id.
    pub id: String,
    /// Shop (whose Chatwoot settings address and authorise it).
    pub shop: String,
    /// What the call does.
    pub action: ChatwootAction,
    /// Below the account's API root.
    pub path: String,
    /// JSON body.
    pub body: String,
    /// Attempts so far, including this one.
    pub attempts: i64,
}

/// A call as `GET /v1/chatwoot/outbox` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallRow {
    /// Row id.
    pub id: String,
    /// smartreply's conversation id.
    pub conversation_id: String,
    /// What the call does.
    pub action: ChatwootAction,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Next attempt, RFC 3339.
    pub next_attempt_at: String,
}

impl Leased for PendingEvent {
    fn queue() -> &'static Queue {
        &queue::CHATWOOT_EVENTS
    }

    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PendingEvent {
            seq: r.try_get("seq")?,
            shop: r.try_get("shop")?,
            payload: r.try_get("payload")?,
            attempts: r.try_get("attempts")?,
        })
    }

    fn key(&self) -> Key {
        Key::Seq(self.seq)
    }
}

impl Leased for Call {
    fn queue() -> &'static Queue {
        &queue::CHATWOOT_CALLS
    }

    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Call {
            id: r.try_get("id")?,
            shop: r.try_get("shop")?,
            action: parsed(r, "action", ChatwootAction::parse)?,
            path: r.try_get("path")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
        })
    }

    fn key(&self) -> Key {
        Key::Id(self.id.clone())
    }
}

impl Store {
    /// Stores an accepted event. False when this delivery was stored before (Chatwoot retried).
    pub(crate) async fn chatwoot_event_insert(
        &self,
        shop: &str,
        delivery_id: &str,
        kind: &str,
        conversation_id: &str,
        payload: &str,
    ) -> Result<bool, StoreError> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO chatwoot_events (shop, delivery_id, kind, conversation_id, payload, status, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (shop, delivery_id) DO NOTHING RETURNING seq",
        )
        .bind(shop)
        .bind(delivery_id)
        .bind(kind)
        .bind(conversation_id)
        .bind(payload)
        .bind(EventStatus::Pending.as_str())
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(inserted.is_some())
    }

    /// The event is worked off: its calls are queued and it is marked done, together.
    pub(crate) async fn chatwoot_event_done(&self, event: &PendingEvent, calls: Vec<NewCall>) -> Result<(), StoreError> {
        let (key, shop) = (event.key(), event.shop.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                insert_calls(tx, &shop, &calls, now).await?;
                queue::CHATWOOT_EVENTS.done(tx, key, now).await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// Queues calls outside an event (an agent's console reply to a Chatwoot conversation).
    pub(crate) async fn chatwoot_enqueue(&self, shop: &str, calls: Vec<NewCall>) -> Result<(), StoreError> {
        let shop = shop.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                insert_calls(tx, &shop, &calls, now_ms()).await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// Calls of a shop, newest first.
    pub(crate) async fn chatwoot_calls(&self, shop: &str, status: Option<DeliveryStatus>) -> Result<Vec<CallRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, action, status, attempts, last_error, next_attempt_at FROM chatwoot_outbox \
             WHERE shop = $1 AND ($2 = '' OR status = $2) ORDER BY seq DESC LIMIT 200",
        )
        .bind(shop)
        .bind(status.map_or("", DeliveryStatus::as_str))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallRow {
                    id: r.try_get("id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    action: parsed(r, "action", ChatwootAction::parse)?,
                    status: parsed(r, "status", DeliveryStatus::parse)?,
                    attempts: r.try_get("attempts")?,
                    last_error: opt_text(r, "last_error")?,
                    next_attempt_at: super::events::rfc3339(r.try_get("next_attempt_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The customer message that opened a ticket (its first one).
    pub(crate) async fn ticket_opening_message(&self, ticket_id: &str) -> Result<Option<String>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT message_id FROM messages WHERE ticket_id = $1 AND role = 'customer' ORDER BY seq LIMIT 1")
                .bind(ticket_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(id)
    }
}

/// Queues calls; a call id already queued is left as it is (working an event off twice).
async fn insert_calls(tx: &mut AnyConnection, shop: &str, calls: &[NewCall], now: i64) -> Result<(), sqlx::Error> {
    for call in calls {
        sqlx::query(
            "INSERT INTO chatwoot_outbox (id, shop, conversation_id, action, path, body, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&call.id)
        .bind(shop)
        .bind(&call.conversation_id)
        .bind(call.action.as_str())
        .bind(&call.path)
        .bind(&call.body)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
