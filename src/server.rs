//! Start-up and graceful shutdown. `main` calls [`run`]; tests call [`build_state`] and
//! [`serve`] with a listener bound to port 0 and a shutdown future of their own.

use crate::config::{Settings, DEV_AGENT_TOKEN, DEV_WEBHOOK_SECRET};
use crate::engine::{Engine, ShopSource};
use crate::http::{self, AppState};
use crate::store::Store;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Loads the shops' knowledge bases and models (on a blocking thread: training takes CPU) and
/// connects the store.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let sources: Vec<ShopSource> = settings
        .shops
        .iter()
        .map(|s| ShopSource { id: s.id.clone(), knowledge_base: s.knowledge_base.clone() })
        .collect();
    let models = settings.models_dir.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::load(&sources, &models)).await??;
    build_state_with_engine(settings, Arc::new(engine)).await
}

/// Like [`build_state`] with an engine already loaded (tests share one across apps).
pub async fn build_state_with_engine(settings: Settings, engine: Arc<Engine>) -> anyhow::Result<AppState> {
    let store = Store::connect(settings.database_url.expose()).await?;
    AppState::new(settings, engine, store, http::ops_metrics_handle())
}

/// Serves on `listener` until `shutdown` completes: in-flight requests finish, the delivery
/// worker stops after its current attempt.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let worker = tokio::spawn(crate::deliver::run(state.clone(), worker_stop));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let chatwoot_events = tokio::spawn(crate::chatwoot::process::run(state.clone(), stopped(stop_rx.clone())));
    let chatwoot_calls = tokio::spawn(crate::deliver::chatwoot::run(state.clone(), stopped(stop_rx.clone())));
    let pruner = {
        let state = state.clone();
        let mut rx = stop_rx;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = rx.wait_for(|stop| *stop) => break,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {
                        let (a, b) = state.limiters();
                        a.prune();
                        b.prune();
                    }
                }
            }
        })
    };
    let app = http::router(state.clone());
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        closing.begin_shutdown();
    };
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = chatwoot_events.await;
    let _ = chatwoot_calls.await;
    let _ = pruner.await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn"));
    let json = std::env::var("SMARTREPLY_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colour codes only for a terminal: piped or collected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// `smartreply serve`.
pub fn run(config: Option<&Path>) -> anyhow::Result<()> {
    init_tracing();
    let (settings, dev_defaults) = Settings::load(config)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), listen = %settings.listen, shops = settings.shops.len(), "smartreply starting; loading knowledge bases and models");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&settings.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let addr = listener.local_addr()?;
        eprintln!("loading knowledge bases and models...");
        let banner = banner(&settings, addr, dev_defaults);
        let state = build_state(settings).await?;
        eprintln!("{banner}");
        serve(listener, state, shutdown_signal()).await
    })
}

fn banner(settings: &Settings, addr: std::net::SocketAddr, dev_defaults: bool) -> String {
    let mut out = format!(
        "smartreply is listening on http://{addr}\n  agent console:    http://{addr}/console\n  demo storefront:  http://{addr}/demo\n  API description:  http://{addr}/openapi.json\n  database:         {}\n",
        if settings.database_url.expose().starts_with("sqlite") { settings.database_url.expose() } else { "postgres (url hidden)" }
    );
    for shop in &settings.shops {
        out.push_str(&format!("  shop {:?}: POST http://{addr}/v1/shops/{}/messages\n", shop.id, shop.id));
    }
    if dev_defaults {
        out.push_str(&format!(
            "\n  !! DEVELOPMENT DEFAULTS — not for production !!\n  demo webhook secret: {DEV_WEBHOOK_SECRET}\n  demo agent token:    {DEV_AGENT_TOKEN}\n  demo widget key:     {}\n  Configure real secrets with --config FILE (see README).\n",
            crate::config::DEV_WIDGET_KEY
        ));
    }
    out
}
