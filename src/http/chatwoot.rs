//! `POST /v1/shops/{shop}/chatwoot`: the shop's Chatwoot agent bot receives every event here.
//! Signed (`X-Chatwoot-Signature`, `X-Chatwoot-Timestamp`, the bot's secret), deduplicated on
//! `X-Chatwoot-Delivery`, stored, answered 200 at once; the work happens afterwards
//! (`app::chatwoot`). `GET /v1/chatwoot/outbox`: the calls back to Chatwoot.

use super::auth::agents_shop;
use super::error::{Path, Query};
use super::{ApiError, AppState, find_shop};
use crate::app::Agent;
use crate::app::Payload;
use crate::app::chatwoot::{self, Accepted};
use crate::domain::DeliveryStatus;
use crate::ingest::signature;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Chatwoot's headers (lower case, as axum reads them).
const TIMESTAMP_HEADER: &str = "x-chatwoot-timestamp";
const SIGNATURE_HEADER: &str = "x-chatwoot-signature";
const DELIVERY_HEADER: &str = "x-chatwoot-delivery";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/shops/{shop}/chatwoot", post(event)).route("/v1/chatwoot/outbox", get(outbox))
}

async fn event(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    let runtime = find_shop(&state, &shop)?;
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
    let answer = match chatwoot::accept(&state, runtime, settings, &payload, header(DELIVERY_HEADER), &bytes).await? {
        Accepted::Ignored(reason) => json!({ "status": "ignored", "reason": reason }),
        Accepted::Stored(delivery) => json!({ "status": "accepted", "delivery": delivery }),
        Accepted::Duplicate(delivery) => json!({ "status": "duplicate", "delivery": delivery }),
    };
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct OutboxQuery {
    shop: String,
    status: Option<String>,
}

async fn outbox(State(state): State<AppState>, agent: Agent, Query(q): Query<OutboxQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => {
            Some(DeliveryStatus::parse(s).ok_or_else(|| ApiError::BadRequest("status must be pending, delivered or failed".into()))?)
        }
    };
    Ok(Json(json!({ "calls": crate::app::views::chatwoot_calls(&state, shop, status).await? })))
}
