//! The outbox: agent replies waiting to be delivered to the shop. Rows are leased when a
//! worker takes them, so replicas sharing PostgreSQL never deliver the same row at the same
//! time; a worker that dies only delays delivery until the lease expires (at-least-once).

use super::{Store, StoreError, Tx, opt_text, parsed};
use crate::domain::DeliveryStatus;
use serde::Serialize;
use sqlx::Row;

/// A delivery taken by a worker.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// Row id.
    pub id: String,
    /// Shop (whose secret signs it and whose callback receives it).
    pub shop: String,
    /// The exact JSON body.
    pub payload: String,
    /// Attempts so far, including this one.
    pub attempts: i64,
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeliveryRow {
    /// Row id.
    pub id: String,
    /// Ticket.
    pub ticket_id: Option<String>,
    /// The reply's message id.
    pub message_id: String,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Next attempt, RFC 3339 (pending rows).
    pub next_attempt_at: String,
}

/// Where a queued reply belongs: its shop, ticket and conversation.
pub(super) struct ReplyOf<'a> {
    pub(super) shop: &'a str,
    pub(super) ticket_id: &'a str,
    pub(super) conversation_id: &'a str,
}

/// Queues one reply's payload for delivery, in the transaction that records the reply.
pub(super) async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    of: ReplyOf<'_>,
    message_id: &str,
    payload: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, shop, ticket_id, conversation_id, message_id, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(id)
    .bind(of.shop)
    .bind(of.ticket_id)
    .bind(of.conversation_id)
    .bind(message_id)
    .bind(payload)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Takes the next due delivery, leasing it for `lease_ms`.
    pub(crate) async fn claim_delivery(&self, now: i64, lease_ms: i64) -> Result<Option<Delivery>, StoreError> {
        // The lease condition is repeated outside the subquery so that PostgreSQL re-checks it
        // on the row it locks: of two replicas racing for one row, only one updates it.
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 WHERE id = (\
                        SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                        ORDER BY next_attempt_at LIMIT 1) \
                     AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2) RETURNING id, shop, payload, attempts",
                )
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                Ok(Tx::Commit(match row {
                    Some(r) => Some(Delivery { id: r.try_get("id")?, shop: r.try_get("shop")?, payload: r.try_get("payload")?, attempts: r.try_get("attempts")? }),
                    None => None,
                }))
            })
        })
        .await
    }

    /// The receiver took it.
    pub(crate) async fn delivered(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE outbox SET status = 'delivered', delivered_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2",
                )
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// Try again at `next_attempt_at`, or give up (`failed`) when `give_up`.
    pub(crate) async fn delivery_failed(&self, id: &str, error: &str, next_attempt_at: i64, give_up: bool) -> Result<(), StoreError> {
        let (id, error) = (id.to_string(), error.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE outbox SET status = $1, last_error = $2, next_attempt_at = $3, lease_until = NULL WHERE id = $4")
                    .bind(if give_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending }.as_str())
                    .bind(&error)
                    .bind(next_attempt_at)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// Deliveries of a shop, newest first.
    pub(crate) async fn deliveries(&self, shop: &str, status: Option<DeliveryStatus>) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, message_id, status, attempts, last_error, next_attempt_at FROM outbox \
             WHERE shop = $1 AND ($2 = '' OR status = $2) ORDER BY created_at DESC LIMIT 200",
        )
        .bind(shop)
        .bind(status.map_or("", DeliveryStatus::as_str))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    id: r.try_get("id")?,
                    ticket_id: opt_text(r, "ticket_id")?,
                    message_id: r.try_get("message_id")?,
                    status: parsed(r, "status", DeliveryStatus::parse)?,
                    attempts: r.try_get("attempts")?,
                    last_error: opt_text(r, "last_error")?,
                    next_attempt_at: super::events::rfc3339(r.try_get("next_attempt_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Age of the oldest pending delivery (ms), for the outbox-lag metric.
    pub(crate) async fn outbox_lag_ms(&self, now: i64) -> Result<i64, StoreError> {
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'").fetch_one(self.pool()).await?;
        Ok(oldest.map(|t| now - t).unwrap_or(0))
    }
}
