//! `POST /v1/shops/{shop}/chatwoot`: the shop's Chatwoot agent bot receives every event here.
//! Signed (`X-Chatwoot-Signature`, `X-Chatwoot-Timestamp`, the bot's secret), deduplicated on
//! `X-Chatwoot-Delivery`, stored, answered 200 at once; the work happens afterwards
//! ([`crate::chatwoot::process`]). `GET /v1/chatwoot/outbox`: the calls back to Chatwoot.

use super::{Agent, ApiError, AppState};
use crate::chatwoot::{Payload, classify, conversation_id};
use crate::ingest::signature;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Chatwoot's headers (lower case, as axum reads them).
const TIMESTAMP_HEADER: &str = "x-chatwoot-timestamp";
const SIGNATURE_HEADER: &str = "x-chatwoot-signature";
const DELIVERY_HEADER: &str = "x-chatwoot-delivery";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/shops/{shop}/chatwoot", post(event)).route("/v1/chatwoot/outbox", get(outbox))
}

async fn event(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    let runtime = state.shop(&shop)?;
    let settings =
        runtime.settings.chatwoot.as_ref().ok_or_else(|| ApiError::NotFound(format!("shop {shop:?} has no Chatwoot agent bot")))?;
    let bytes = super::messages::read_body(&state, body).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify_named(
        settings.webhook_secret.expose(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &bytes,
        jiff::Timestamp::now().as_second(),
        ("X-Chatwoot-Timestamp", "X-Chatwoot-Signature"),
    )
    .map_err(|e| {
        ApiError::Unauthorized(format!("{e} (sign the agent bot in Chatwoot 4.13 or later with the secret configured for this shop)"))
    })?;
    let payload: Payload = super::error::parse_json(&bytes)?;
    let event = payload.event.clone().unwrap_or_default();
    let work = match classify(&payload, settings) {
        Ok(work) => work,
        Err(reason) => {
            metrics::counter!("smartreply_chatwoot_events_total", "outcome" => "ignored").increment(1);
            tracing::debug!(shop = %shop, event = %bounded(&event), reason, "chatwoot event ignored");
            return Ok(Json(json!({ "status": "ignored", "reason": reason })));
        }
    };
    // Chatwoot keeps the delivery id across its retries; without one, identical bodies are
    // the same event.
    let delivery = match header(DELIVERY_HEADER).map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => bounded(d),
        None => format!("body-{}", hex::encode(&Sha256::digest(&bytes)[..16])),
    };
    let stored = serde_json::to_string(&work).map_err(|e| ApiError::Internal(e.to_string()))?;
    let fresh = state.store().chatwoot_event_insert(&shop, &delivery, work.kind(), &conversation_id(work.conversation()), &stored).await?;
    let status = if fresh { "accepted" } else { "duplicate" };
    metrics::counter!("smartreply_chatwoot_events_total", "outcome" => status).increment(1);
    tracing::info!(shop = %shop, %delivery, event = %bounded(&event), work = work.kind(), conversation = work.conversation(), status, "chatwoot event");
    if fresh {
        state.chatwoot_wake().events.notify_one();
    }
    Ok(Json(json!({ "status": status, "delivery": delivery })))
}

/// Header and event names are the sender's: bounded before they reach logs or the database.
fn bounded(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[derive(Deserialize)]
struct OutboxQuery {
    shop: String,
    status: Option<String>,
}

async fn outbox(State(state): State<AppState>, agent: Agent, Query(q): Query<OutboxQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    if let Some(s) = q.status.as_deref()
        && !matches!(s, "pending" | "delivered" | "failed")
    {
        return Err(ApiError::BadRequest("status must be pending, delivered or failed".into()));
    }
    Ok(Json(json!({ "calls": state.store().chatwoot_calls(&q.shop, q.status.as_deref()).await? })))
}
