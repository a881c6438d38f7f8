//! The HTTP API. Each resource owns its routes; [`router`] merges them with the console pages
//! and the cross-cutting layers (body limit, timeout, tracing, panic catching).

mod auth;
mod cases;
mod chatwoot;
mod error;
mod events;
mod gaps;
mod messages;
mod ops;
mod quality;
mod tickets;
mod widget;

pub(crate) use error::ApiError;
pub(crate) use ops::metrics_handle as ops_metrics_handle;

use crate::app::{AppState, Shop};
use axum::Router;
use std::time::Duration;

/// A configured shop, or the contract's 404: the one answer to a missing shop everywhere.
fn find_shop<'a>(state: &'a AppState, id: &str) -> Result<&'a Shop, ApiError> {
    state.shop(id).ok_or_else(|| ApiError::no_shop(id))
}

/// The whole HTTP application.
pub(crate) fn router(state: AppState) -> Router {
    use tower_http::catch_panic::CatchPanicLayer;
    let demo = state
        .settings()
        .shops
        .iter()
        .find(|s| s.id == "demo")
        .or_else(|| state.settings().shops.first())
        .map(|s| crate::console::DemoShop {
            shop: s.id.clone(),
            widget_key: s.widget_key.clone().unwrap_or_else(|| crate::console::DEV_WIDGET_KEY.into()),
        })
        .unwrap_or_default();
    let timeout = Duration::from_millis(state.settings().limits.request_timeout_ms);
    let max_body = state.settings().limits.max_body_bytes;
    let cors_state = state.clone();
    let api = Router::new()
        .merge(messages::routes())
        .merge(tickets::routes())
        .merge(cases::routes())
        .merge(quality::routes())
        .merge(widget::routes())
        .merge(ops::routes())
        .merge(chatwoot::routes())
        .merge(gaps::routes())
        // Event streams are long-lived: they are outside the request timeout.
        .layer(axum::middleware::from_fn_with_state(timeout, error::request_timeout))
        .merge(events::routes())
        .with_state(state);
    api.merge(crate::console::routes(demo))
        .fallback(error::no_route)
        // Last among the routes: it applies to the routes added before it.
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(max_body, refuse_declared_oversize))
        // Outside the other layers so that their refusals carry CORS headers too.
        .layer(axum::middleware::from_fn_with_state(cors_state, widget::cors_on_every_response))
        // Every error answer leaves in the contract's JSON shape, whoever produced it.
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(CatchPanicLayer::custom(error::panicked))
}

/// What answers while the service loads its models: 503 with `Retry-After` and the JSON error
/// `starting` for every request, `/healthz` and `/readyz` included (not ready yet).
pub(crate) fn starting() -> Router {
    Router::new().fallback(error::starting)
}

/// A body declared larger than the limit is refused before a byte of it is read: the client
/// learns at once instead of waiting for a timeout.
async fn refuse_declared_oversize(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared =
        request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::TooLarge(limit).into_response();
    }
    next.run(request).await
}
