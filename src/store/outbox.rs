//! The reply outbox: agent replies (and survey events) waiting to be delivered to the shop.
//! It is one of `queue.rs`'s leased queues ([`queue::REPLIES`]): replicas sharing PostgreSQL
//! never deliver the same row at the same time, and a worker that dies only delays delivery
//! until the lease expires (at-least-once).

use super::queue::{self, Key, Leased, Queue};
use super::{Store, StoreError, opt_text, parsed};
use crate::domain::DeliveryStatus;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

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

impl Leased for Delivery {
    fn queue() -> &'static Queue {
        &queue::REPLIES
    }

    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Delivery { id: r.try_get("id")?, shop: r.try_get("shop")?, payload: r.try_get("payload")?, attempts: r.try_get("attempts")? })
    }

    fn key(&self) -> Key {
        Key::Id(self.id.clone())
    }
}

impl Store {
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
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE status = $1")
            .bind(DeliveryStatus::Pending.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(oldest.map(|t| now - t).unwrap_or(0))
    }
}
