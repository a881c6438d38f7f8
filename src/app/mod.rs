//! The application layer: the state every use case works on, one [`Shop`] per configured
//! shop, and the use cases themselves as plain async functions that own their orchestration —
//! [`inbound::receive`] (a customer message through the pipeline into the store), the widget's
//! message ([`inbound::receive_from_widget`]), and an agent's [`tickets::claim`],
//! [`tickets::reply`] and [`tickets::resolve`]. Each has its own error enum; the HTTP layer maps
//! them to the contract's errors once (`http/error.rs`). Handlers extract, call one of these,
//! and map the result.

pub(crate) mod answer;
pub(crate) mod cases;
pub(crate) mod chatwoot;
pub(crate) mod csv;
pub(crate) mod delivery;
pub(crate) mod drain;
pub mod gaps;
pub(crate) mod inbound;
pub(crate) mod knowledge;
pub(crate) mod quality;
pub(crate) mod tickets;
pub(crate) mod views;
pub(crate) mod widget;

// The values the HTTP layer serialises and the storage error it maps, named through the
// application layer so `http` depends on `app` alone.
pub(crate) use crate::chatwoot::Payload;
pub(crate) use crate::store::{EventKind, StoreError, StoredEvent, TicketRow};

use crate::config::{Settings, ShopSettings};
use crate::engine::{Engine, ShopEngine};
use crate::ingest::rate_limit::RateLimiter;
use crate::sla::AgentHours;
use crate::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// One configured shop, everything about it in one place: its settings, its parsed agent
/// hours and its loaded engine (knowledge base, models, index).
pub(crate) struct Shop {
    /// As configured.
    pub(crate) settings: ShopSettings,
    /// When agents work (acknowledgements and SLA deadlines depend on it).
    pub(crate) hours: AgentHours,
    /// Every shop's pipeline: this one's is looked up per use, so a reloaded knowledge base
    /// takes effect with the next message.
    engines: Arc<Engine>,
}

impl Shop {
    /// The shop's id.
    pub(crate) fn id(&self) -> &str {
        &self.settings.id
    }

    /// The pipeline over the shop's knowledge base as loaded now.
    pub(crate) fn engine(&self) -> Arc<ShopEngine> {
        // `AppState::new` checked that every configured shop is loaded; reloads only replace.
        self.engines.shop(self.id()).expect("a configured shop stays loaded")
    }
}

/// The calling agent, as authenticated by the HTTP layer.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// Recorded with every action.
    pub(crate) name: String,
    /// The shops the agent works for; anything of another shop does not exist for it.
    pub(crate) shops: Vec<String>,
    /// What the agent may do besides answering tickets.
    pub(crate) roles: Vec<crate::config::Role>,
}

impl Agent {
    /// Whether the agent works for `shop`.
    pub(crate) fn works_for(&self, shop: &str) -> bool {
        self.shops.iter().any(|s| s == shop)
    }

    /// Whether the agent has a role.
    pub(crate) fn is(&self, role: crate::config::Role) -> bool {
        self.roles.contains(&role)
    }
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
    shops: HashMap<String, Shop>,
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
    /// Rendered by `/metrics`.
    metrics: PrometheusHandle,
    /// Wakes the Chatwoot agent bot's workers.
    chatwoot: crate::chatwoot::Wake,
}

impl AppState {
    /// Builds the state. Fails when a shop's hours do not parse (validated settings never do)
    /// or the engine has not loaded a configured shop.
    pub(crate) fn new(settings: Settings, engine: Arc<Engine>, store: Store, metrics: PrometheusHandle) -> anyhow::Result<AppState> {
        let mut shops = HashMap::new();
        for s in &settings.shops {
            let hours = AgentHours::parse(&s.agent_hours, &s.time_zone).map_err(|e| anyhow::anyhow!("shop {}: {e}", s.id))?;
            engine.shop(&s.id).ok_or_else(|| anyhow::anyhow!("shop {}: its knowledge base is not loaded", s.id))?;
            shops.insert(s.id.clone(), Shop { settings: s.clone(), hours, engines: Arc::clone(&engine) });
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

    /// The validated settings the service started with.
    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Durable storage.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Every shop's loaded pipeline.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// A configured shop: the one lookup every caller uses, so a missing shop is the same
    /// answer everywhere.
    pub(crate) fn shop(&self, id: &str) -> Option<&Shop> {
        self.inner.shops.get(id)
    }

    /// Streams wait on this.
    pub(crate) fn events(&self) -> &Notify {
        &self.inner.events
    }

    /// The delivery worker waits on this.
    pub(crate) fn outbox_wake(&self) -> &Notify {
        &self.inner.outbox
    }

    /// The Chatwoot workers wait on this.
    pub(crate) fn chatwoot_wake(&self) -> &crate::chatwoot::Wake {
        &self.inner.chatwoot
    }

    /// Tells long-lived streams to end (graceful shutdown).
    pub(crate) fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// The Prometheus registry `/metrics` renders.
    pub(crate) fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// Every rate limiter (pruned together).
    pub(crate) fn limiters(&self) -> [&RateLimiter; 5] {
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
pub(crate) enum Budget {
    /// Signed by the shop (webhook, help-desk platforms).
    Webhook,
    /// The anonymous public widget.
    Widget,
}
