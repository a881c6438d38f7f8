//! The public widget channel: what a shop's chat widget uses from the shopper's browser, which
//! must never hold the webhook secret. A public widget key per shop, an allowed-origins list
//! checked on every call (CORS), a visitor id issued here with a token the service can check
//! without storage (an HMAC under the shop's secret), and per-visitor rate limits. Messages go
//! through the same pipeline, storage and idempotency as webhook messages.

use super::auth::constant_time_eq;
use super::error::{Path, Query};
use super::{ApiError, AppState, find_shop};
use crate::app::inbound::{self, widget_conversation_id};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/widget/{shop}/visitors", post(new_visitor).options(preflight))
        .route("/v1/widget/{shop}/messages", post(send).get(history).options(preflight))
        .route("/v1/widget/{shop}/events", options(preflight))
        .route("/v1/widget/{shop}/config", get(widget_config).options(preflight))
        .route("/v1/widget/{shop}/surveys/{id}", post(rate).options(preflight_with_id))
        .route("/v1/widget/{shop}/answers/{message_id}/feedback", post(feedback).options(preflight_with_id))
}

/// The origin to echo in CORS headers, when the request came cross-origin from an allowed one.
pub(super) type Cors = Option<HeaderValue>;

/// Checks the origin, the widget key and (for visitor calls) the visitor token.
pub(super) fn authorize(state: &AppState, shop: &str, headers: &HeaderMap, visitor: Option<&str>) -> Result<Cors, ApiError> {
    let runtime = find_shop(state, shop)?;
    let cors = check_origin(state, shop, headers)?;
    let key = headers.get("x-widget-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    match &runtime.settings.widget_key {
        Some(expected) if constant_time_eq(expected, key) => {}
        Some(_) => return Err(ApiError::Unauthorized("unknown widget key".into())),
        None => return Err(ApiError::NotFound(format!("shop {shop:?} has no chat widget"))),
    }
    if let Some(visitor) = visitor {
        let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        let expected = crate::app::widget::visitor_token(runtime, visitor);
        if !constant_time_eq(&expected, token.trim()) {
            return Err(ApiError::Unauthorized("unknown visitor token".into()));
        }
    }
    Ok(cors)
}

/// Same-origin requests (the service's own `/demo` page) and listed origins pass.
fn check_origin(state: &AppState, shop: &str, headers: &HeaderMap) -> Result<Cors, ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(None) };
    let origin_str = origin.to_str().unwrap_or("");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let same_origin = origin_str.strip_prefix("http://").or_else(|| origin_str.strip_prefix("https://")) == Some(host);
    let listed = find_shop(state, shop)?.settings.widget_origins.iter().any(|o| o == origin_str);
    if same_origin || listed {
        Ok(Some(origin.clone()))
    } else {
        Err(ApiError::Forbidden(format!("origin {origin_str:?} is not allowed for this shop's widget")))
    }
}

/// Adds the CORS headers of an allowed cross-origin request.
pub(super) fn with_cors(mut response: Response, cors: Cors) -> Response {
    if let Some(origin) = cors {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// Adds CORS headers to every response of a widget path whose `Origin` the shop allows,
/// errors included (400, 401, 413, 429...), so the widget can read them and tell the shopper.
pub(super) async fn cors_on_every_response(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let shop = request.uri().path().strip_prefix("/v1/widget/").and_then(|rest| rest.split('/').next()).map(str::to_string);
    let cors = shop.and_then(|shop| check_origin(&state, &shop, request.headers()).ok().flatten());
    let response = next.run(request).await;
    match cors {
        Some(origin) if !response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) => with_cors(response, Some(origin)),
        _ => response,
    }
}

async fn preflight(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let cors = check_origin(&state, &shop, &headers)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, x-widget-key, authorization, last-event-id, accept"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Ok(with_cors(response, cors))
}

async fn preflight_with_id(
    state: State<AppState>,
    Path((shop, _)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    preflight(state, Path(shop), headers).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetRating {
    visitor_id: String,
    rating: i64,
    #[serde(default)]
    comment: Option<String>,
}

/// The visitor rates the survey of their own conversation.
async fn rate(
    State(state): State<AppState>,
    Path((shop, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let r: WidgetRating = super::error::parse_json(&bytes)?;
    let cors = authorize(&state, &shop, &headers, Some(&r.visitor_id))?;
    let conversation = widget_conversation_id(&r.visitor_id);
    crate::app::quality::rate(&state, find_shop(&state, &shop)?, &id, Some(&conversation), r.rating, r.comment).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "survey_id": id, "rating": r.rating }), cors))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetFeedback {
    visitor_id: String,
    helpful: bool,
}

/// 👍/👎 on a bot answer of the visitor's own conversation.
async fn feedback(
    State(state): State<AppState>,
    Path((shop, message_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let f: WidgetFeedback = super::error::parse_json(&bytes)?;
    let cors = authorize(&state, &shop, &headers, Some(&f.visitor_id))?;
    let conversation = widget_conversation_id(&f.visitor_id);
    crate::app::quality::answer_feedback(&state, find_shop(&state, &shop)?, &message_id, Some(&conversation), f.helpful).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "message_id": message_id, "helpful": f.helpful }), cors))
}

fn json(status: StatusCode, value: serde_json::Value, cors: Cors) -> Response {
    with_cors((status, axum::Json(value)).into_response(), cors)
}

async fn widget_config(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let cors = authorize(&state, &shop, &headers, None)?;
    let engine = find_shop(&state, &shop)?.engine();
    let info = &engine.knowledge().shop;
    Ok(json(StatusCode::OK, serde_json::json!({ "shop": shop, "name_zh": info.name_zh, "name_en": info.name_en }), cors))
}

async fn new_visitor(
    State(state): State<AppState>,
    Path(shop): Path<String>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cors = authorize(&state, &shop, &headers, None)?;
    // The peer address as the server saw it; a proxy in front makes every visitor one address,
    // which the per-address limit then treats as one client (set it accordingly).
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let visitor = crate::app::widget::new_visitor(&state, find_shop(&state, &shop)?, &address).map_err(ApiError::RateLimited)?;
    Ok(json(StatusCode::CREATED, serde_json::to_value(visitor)?, cors))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetMessage {
    visitor_id: String,
    client_message_id: String,
    text: String,
}

async fn send(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let m: WidgetMessage = super::error::parse_json(&bytes)?;
    let cors = authorize(&state, &shop, &headers, Some(&m.visitor_id))?;
    let shop = find_shop(&state, &shop)?;
    let answer = inbound::receive_from_widget(&state, shop, &m.visitor_id, &m.client_message_id, m.text).await?;
    Ok(with_cors(super::messages::json_response(answer), cors))
}

#[derive(Deserialize)]
struct HistoryQuery {
    visitor_id: String,
}

async fn history(
    State(state): State<AppState>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let cors = authorize(&state, &shop, &headers, Some(&q.visitor_id))?;
    let messages = crate::app::views::widget_history(&state, find_shop(&state, &shop)?, &q.visitor_id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "messages": messages }), cors))
}
