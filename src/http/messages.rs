//! `POST /v1/shops/{shop}/messages`: a storefront's signed customer message, received through
//! [`crate::app::inbound::receive`] and answered — an automatic answer or an escalation with an
//! immediate acknowledgement.

use super::error::Path;
use super::{ApiError, AppState, find_shop};
use crate::app::answer::Received;
use crate::app::inbound;
use crate::app::{Budget, Shop};
use crate::ingest::InboundBody;
use crate::ingest::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/shops/{shop}/messages", post(inbound))
}

/// Reads a body up to the configured limit; larger bodies are the contract's 413.
pub(super) async fn read_body(state: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let limit = state.settings().limits.max_body_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge(limit))
}

/// The shop and the body of a storefront's call, the body checked against the shop's webhook
/// signature: every signed path of a shop goes through this.
pub(super) async fn signed_body<'a>(
    state: &'a AppState,
    shop: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(&'a Shop, axum::body::Bytes), ApiError> {
    let shop = find_shop(state, shop)?;
    let bytes = read_body(state, body).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secret = shop.settings.webhook_secret.expose();
    signature::verify(secret, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &bytes, jiff::Timestamp::now().as_second())?;
    Ok((shop, bytes))
}

async fn inbound(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (shop, bytes) = signed_body(&state, &shop, &headers, body).await?;
    let mut message = super::error::parse_json::<InboundBody>(&bytes)?.parse()?;
    message.channel.get_or_insert_with(|| "webhook".into());
    Ok(json_response(inbound::receive(&state, shop, message, Budget::Webhook).await?))
}

/// The contract's answer as a response (bytes identical on replay: the stored answer read back
/// serialises to the same text).
pub(super) fn json_response(received: Received) -> Response {
    match serde_json::to_vec(received.answer()) {
        Ok(body) => (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::Internal(format!("answer does not serialise: {e}")).into_response(),
    }
}
