//! What agents, widgets and operators read: the queue, statistics, deliveries, a visitor's
//! conversation, the rows behind the live event streams, readiness. Reads only; the shop is
//! already found (and, for agents, checked) by the caller.

use super::{AppState, Shop};
use crate::domain::{DeliveryStatus, TicketStatus, TicketTier};
use crate::store::chatwoot::CallRow;
use crate::store::outbox::DeliveryRow;
use crate::store::{MessageRow, Stats, StoreError, StoredEvent, TicketRow, TimeBucket};

/// A shop's tickets in one status (of one line, `first` or `second`, when given), most urgent
/// first.
pub(crate) async fn queue(
    app: &AppState,
    shop: &Shop,
    status: TicketStatus,
    tier: Option<TicketTier>,
) -> Result<Vec<TicketRow>, StoreError> {
    app.store().tickets(shop.id(), status, tier).await
}

/// The contract's `/v1/stats` figures.
pub(crate) async fn stats(app: &AppState, shop: &Shop) -> Result<Stats, StoreError> {
    app.store().stats(shop.id()).await
}

/// Automatic resolution, hand-off and reopen rates, satisfaction of bot answers and people's.
pub(crate) async fn outcomes(app: &AppState, shop: &Shop) -> Result<crate::store::gaps::Outcomes, StoreError> {
    app.store().outcomes(shop.id()).await
}

/// Hourly figures of the last `hours` hours.
pub(crate) async fn timeseries(app: &AppState, shop: &Shop, hours: i64) -> Result<Vec<TimeBucket>, StoreError> {
    app.store().timeseries(shop.id(), hours).await
}

/// What agents did with drafts, per intent.
pub(crate) async fn draft_report(app: &AppState, shop: &Shop) -> Result<serde_json::Value, StoreError> {
    Ok(crate::learn::draft_report(&app.store().draft_outcomes_by_intent(shop.id()).await?))
}

/// Deliveries of agent replies to the shop's callback, newest first.
pub(crate) async fn deliveries(app: &AppState, shop: &Shop, status: Option<DeliveryStatus>) -> Result<Vec<DeliveryRow>, StoreError> {
    app.store().deliveries(shop.id(), status).await
}

/// Calls to the shop's Chatwoot, newest first.
pub(crate) async fn chatwoot_calls(app: &AppState, shop: &Shop, status: Option<DeliveryStatus>) -> Result<Vec<CallRow>, StoreError> {
    app.store().chatwoot_calls(shop.id(), status).await
}

/// A widget visitor's conversation, oldest first.
pub(crate) async fn widget_history(app: &AppState, shop: &Shop, visitor_id: &str) -> Result<Vec<MessageRow>, StoreError> {
    app.store().conversation(shop.id(), &super::inbound::widget_conversation_id(visitor_id)).await
}

/// The newest event of a shop (a stream without a cursor starts there).
pub(crate) async fn last_event(app: &AppState, shop: &Shop) -> Result<i64, StoreError> {
    app.store().last_event(shop.id()).await
}

/// A shop's events after `after` (optionally of one conversation), oldest first.
pub(crate) async fn events_after(
    app: &AppState,
    shop: &str,
    conversation: Option<&str>,
    after: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    app.store().events_after(shop, conversation, after).await
}

/// A ticket as it is now (an event stream shows its current state).
pub(crate) async fn ticket_now(app: &AppState, id: &str) -> Result<Option<TicketRow>, StoreError> {
    app.store().ticket(id).await
}

/// Whether the service can take traffic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    /// The store answers.
    pub(crate) store: bool,
    /// Every configured shop has its pipeline loaded.
    pub(crate) shops_loaded: bool,
}

/// Checks the store and the shops.
pub(crate) async fn readiness(app: &AppState) -> Readiness {
    let store = app.store().ping().await.is_ok();
    let shops_loaded = app.settings().shops.iter().all(|s| app.engine().shop(&s.id).is_some());
    Readiness { store, shops_loaded }
}

/// Sets the gauges `/metrics` shows from the store (outbox lag, open tickets, SLA breaches).
pub(crate) async fn refresh_gauges(app: &AppState) {
    let now = crate::store::now_ms();
    if let Ok(lag) = app.store().outbox_lag_ms(now).await {
        metrics::gauge!("smartreply_outbox_lag_seconds").set(lag as f64 / 1000.0);
    }
    for shop in &app.settings().shops {
        if let Ok(stats) = app.store().stats(&shop.id).await {
            metrics::gauge!("smartreply_open_tickets", "shop" => shop.id.clone()).set(stats.open_tickets as f64);
            metrics::gauge!("smartreply_sla_breaches", "shop" => shop.id.clone()).set(stats.sla_breaches as f64);
            metrics::gauge!("smartreply_resolution_breaches", "shop" => shop.id.clone()).set(stats.resolution_breaches as f64);
        }
    }
}
