//! The HTTP API. Each resource owns its routes; [`router`] merges them with the console pages
//! and the cross-cutting layers (body limit, timeout, tracing, panic catching).

mod auth;
mod chatwoot;
mod error;
mod events;
mod messages;
mod ops;
mod tickets;
mod widget;

pub use auth::Agent;
pub use error::ApiError;
pub use messages::MessageAnswer;
pub(crate) use messages::handle_message;
pub use ops::metrics_handle as ops_metrics_handle;

use crate::config::{Settings, ShopSettings};
use crate::engine::Engine;
use crate::ingest::rate_limit::RateLimiter;
use crate::sla::AgentHours;
use crate::store::Store;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A configured shop with its parsed hours.
pub struct ShopRuntime {
    /// Settings.
    pub settings: ShopSettings,
    /// Agent hours.
    pub hours: AgentHours,
}

/// Shared state: cheap handles, one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    engine: Arc<Engine>,
    store: Store,
    shops: HashMap<String, ShopRuntime>,
    /// Per-shop rate of signed webhook messages.
    shop_limiter: RateLimiter,
    /// Per-shop rate of widget messages: anonymous traffic has a budget of its own.
    widget_limiter: RateLimiter,
    /// Per-customer (webhook) and per-visitor (widget) message rate.
    customer_limiter: RateLimiter,
    /// New widget visitors per client address.
    visitor_address_limiter: RateLimiter,
    /// New widget visitors per shop.
    visitor_shop_limiter: RateLimiter,
    /// Woken after every commit that adds events, so streams answer at once.
    events: Notify,
    /// Woken when a reply is queued for delivery.
    outbox: Notify,
    /// Set when the server begins shutting down: event streams end so connections can close.
    closing: tokio::sync::watch::Sender<bool>,
    metrics: PrometheusHandle,
    /// Wakes the Chatwoot agent bot's workers.
    chatwoot: crate::chatwoot::Wake,
}

impl AppState {
    /// Builds the state. Fails when a shop's hours do not parse (validated settings never do).
    pub fn new(settings: Settings, engine: Arc<Engine>, store: Store, metrics: PrometheusHandle) -> anyhow::Result<AppState> {
        let mut shops = HashMap::new();
        for s in &settings.shops {
            let hours = AgentHours::parse(&s.agent_hours, &s.time_zone).map_err(|e| anyhow::anyhow!("shop {}: {e}", s.id))?;
            shops.insert(s.id.clone(), ShopRuntime { settings: s.clone(), hours });
        }
        Ok(AppState {
            inner: Arc::new(Inner {
                shop_limiter: RateLimiter::new(settings.limits.shop_per_minute),
                widget_limiter: RateLimiter::new(settings.limits.widget_per_minute),
                customer_limiter: RateLimiter::new(settings.limits.customer_per_minute),
                visitor_address_limiter: RateLimiter::new(settings.limits.visitors_per_address_per_minute),
                visitor_shop_limiter: RateLimiter::new(settings.limits.visitors_per_shop_per_minute),
                settings,
                engine,
                store,
                shops,
                events: Notify::new(),
                outbox: Notify::new(),
                closing: tokio::sync::watch::Sender::new(false),
                metrics,
                chatwoot: crate::chatwoot::Wake::default(),
            }),
        })
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// A configured shop, or 404.
    pub fn shop(&self, id: &str) -> Result<&ShopRuntime, ApiError> {
        self.inner.shops.get(id).ok_or_else(|| ApiError::NotFound(format!("no shop {id:?}")))
    }

    /// Streams wait on this.
    pub fn events(&self) -> &Notify {
        &self.inner.events
    }

    /// The delivery worker waits on this.
    pub fn outbox_wake(&self) -> &Notify {
        &self.inner.outbox
    }

    /// The Chatwoot workers wait on this.
    pub fn chatwoot_wake(&self) -> &crate::chatwoot::Wake {
        &self.inner.chatwoot
    }

    /// Tells long-lived streams to end (graceful shutdown).
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Prometheus registry.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// Every rate limiter (pruned together).
    pub fn limiters(&self) -> [&RateLimiter; 5] {
        let i = &self.inner;
        [&i.shop_limiter, &i.widget_limiter, &i.customer_limiter, &i.visitor_address_limiter, &i.visitor_shop_limiter]
    }

    /// The per-shop limiter of a channel's messages.
    pub(crate) fn shop_budget(&self, budget: Budget) -> &RateLimiter {
        match budget {
            Budget::Webhook => &self.inner.shop_limiter,
            Budget::Widget => &self.inner.widget_limiter,
        }
    }

    /// The per-customer (or per-visitor) message limiter.
    pub(crate) fn customer_limiter(&self) -> &RateLimiter {
        &self.inner.customer_limiter
    }

    /// The limiters of visitor creation: per client address, per shop.
    pub(crate) fn visitor_limiters(&self) -> (&RateLimiter, &RateLimiter) {
        (&self.inner.visitor_address_limiter, &self.inner.visitor_shop_limiter)
    }
}

/// Which per-shop budget a message draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Signed by the shop (webhook, help-desk platforms).
    Webhook,
    /// The anonymous public widget.
    Widget,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::timeout::TimeoutLayer;
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
        .merge(widget::routes())
        .merge(ops::routes())
        .merge(chatwoot::routes())
        // Event streams are long-lived: they are outside the request timeout.
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(events::routes())
        .with_state(state);
    api.merge(crate::console::routes(demo))
        .layer(axum::middleware::from_fn_with_state(max_body, refuse_declared_oversize))
        // Outside the other layers so that their refusals carry CORS headers too.
        .layer(axum::middleware::from_fn_with_state(cors_state, widget::cors_on_every_response))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(CatchPanicLayer::new())
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
