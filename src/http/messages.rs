//! `POST /v1/shops/{shop}/messages`: a storefront's signed customer message, received through
//! [`crate::app::inbound::receive`] and answered — an automatic answer or an escalation with an
//! immediate acknowledgement.

use super::error::Path;
use super::{ApiError, AppState, find_shop};
use crate::app::inbound::{self, StoredAnswer};
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

/// A stored JSON answer as a response (bytes identical on replay).
pub(super) fn json_response(answer: StoredAnswer) -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], answer.0).into_response()
}
