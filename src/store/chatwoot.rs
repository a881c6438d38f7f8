//! The Chatwoot agent bot's two queues. `chatwoot_events`: events accepted from Chatwoot,
//! stored before the 200 and worked off afterwards. `chatwoot_outbox`: calls to Chatwoot's API
//! (replies, private notes, hand-offs), retried with backoff, delivered in order within a
//! conversation (an acknowledgement before the note, the note before the hand-off). Both
//! lease their rows like the reply outbox, so replicas never take the same row at once.

use super::{Store, StoreError, now_ms, opt_text, parsed};
use crate::domain::{ChatwootAction, DeliveryStatus};
use serde::Serialize;
use sqlx::Row;

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
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) ON CONFLICT (shop, delivery_id) DO NOTHING RETURNING seq",
        )
        .bind(shop)
        .bind(delivery_id)
        .bind(kind)
        .bind(conversation_id)
        .bind(payload)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(inserted.is_some())
    }

    /// Takes the oldest due event whose conversation has no older event still pending.
    pub(crate) async fn chatwoot_event_claim(&self, now: i64, lease_ms: i64) -> Result<Option<PendingEvent>, StoreError> {
        let row = sqlx::query(
            "UPDATE chatwoot_events SET lease_until = $1, attempts = attempts + 1 WHERE seq = (\
                SELECT e.seq FROM chatwoot_events e WHERE e.status = 'pending' AND (e.lease_until IS NULL OR e.lease_until < $2) \
                AND NOT EXISTS (SELECT 1 FROM chatwoot_events p WHERE p.shop = e.shop AND p.conversation_id = e.conversation_id AND p.status = 'pending' AND p.seq < e.seq) \
                ORDER BY e.seq LIMIT 1) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2) RETURNING seq, shop, payload, attempts",
        )
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(PendingEvent {
                seq: r.try_get("seq")?,
                shop: r.try_get("shop")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            }),
            None => None,
        })
    }

    /// The event is worked off: its calls are queued and it is marked done, together.
    pub(crate) async fn chatwoot_event_done(&self, seq: i64, shop: &str, calls: &[NewCall]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        insert_calls(&mut tx, shop, calls, now).await?;
        sqlx::query("UPDATE chatwoot_events SET status = 'done', processed_at = $1, lease_until = NULL, last_error = NULL WHERE seq = $2")
            .bind(now)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues calls outside an event (an agent's console reply to a Chatwoot conversation).
    pub(crate) async fn chatwoot_enqueue(&self, shop: &str, calls: &[NewCall]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_calls(&mut tx, shop, calls, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Working the event off failed: retry after `retry_at`, or give up (`failed`).
    pub(crate) async fn chatwoot_event_failed(&self, seq: i64, error: &str, retry_at: i64, give_up: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE chatwoot_events SET status = $1, last_error = $2, lease_until = $3 WHERE seq = $4")
            .bind(if give_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending }.as_str())
            .bind(error)
            .bind(retry_at)
            .bind(seq)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes the next due call whose conversation has no older call still pending, so a
    /// conversation's calls reach Chatwoot in the order they were queued.
    pub(crate) async fn chatwoot_call_claim(&self, now: i64, lease_ms: i64) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query(
            "UPDATE chatwoot_outbox SET lease_until = $1, attempts = attempts + 1 WHERE seq = (\
                SELECT o.seq FROM chatwoot_outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $2 AND (o.lease_until IS NULL OR o.lease_until < $2) \
                AND NOT EXISTS (SELECT 1 FROM chatwoot_outbox p WHERE p.shop = o.shop AND p.conversation_id = o.conversation_id AND p.status = 'pending' AND p.seq < o.seq) \
                ORDER BY o.seq LIMIT 1) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2) RETURNING id, shop, action, path, body, attempts",
        )
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(Call {
                id: r.try_get("id")?,
                shop: r.try_get("shop")?,
                action: parsed(&r, "action", ChatwootAction::parse)?,
                path: r.try_get("path")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
            }),
            None => None,
        })
    }

    /// Chatwoot took the call.
    pub(crate) async fn chatwoot_call_delivered(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE chatwoot_outbox SET status = 'delivered', delivered_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Try again at `next_attempt_at`, or give up (`failed`, visible in the API).
    pub(crate) async fn chatwoot_call_failed(&self, id: &str, error: &str, next_attempt_at: i64, give_up: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE chatwoot_outbox SET status = $1, last_error = $2, next_attempt_at = $3, lease_until = NULL WHERE id = $4")
            .bind(if give_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending }.as_str())
            .bind(error)
            .bind(next_attempt_at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
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
async fn insert_calls(tx: &mut sqlx::Transaction<'_, sqlx::Any>, shop: &str, calls: &[NewCall], now: i64) -> Result<(), sqlx::Error> {
    for call in calls {
        sqlx::query(
            "INSERT INTO chatwoot_outbox (id, shop, conversation_id, action, path, body, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&call.id)
        .bind(shop)
        .bind(&call.conversation_id)
        .bind(call.action.as_str())
        .bind(&call.path)
        .bind(&call.body)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
