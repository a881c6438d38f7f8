//! Start-up and graceful shutdown. `main` calls [`run`]; tests call [`build_state`] and
//! [`serve`] with a listener bound to port 0 and a shutdown future of their own.

use crate::app::AppState;
use crate::config::{DEV_AGENT_TOKEN, DEV_WEBHOOK_SECRET, Settings};
use crate::engine::{Engine, LoadOptions, ShopSource};
use crate::http;
use crate::store::Store;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Loads the shops' knowledge bases and models (on a blocking thread: training takes CPU) and
/// connects the store.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let sources: Vec<ShopSource> =
        settings.shops.iter().map(|s| ShopSource { id: s.id.clone(), knowledge_base: s.knowledge_base.clone() }).collect();
    let models = settings.models_dir.clone();
    let options = LoadOptions { cache_dir: settings.knowledge.cache_dir().map(Path::to_path_buf), ..LoadOptions::default() };
    let engine = tokio::task::spawn_blocking(move || Engine::load_with_options(&sources, &models, &options)).await??;
    build_state_with_engine(settings, Arc::new(engine)).await
}

/// Like [`build_state`] with an engine already loaded (tests share one across apps).
pub async fn build_state_with_engine(settings: Settings, engine: Arc<Engine>) -> anyhow::Result<AppState> {
    let store = Store::connect_with_queue(settings.database_url.expose(), settings.limits.write_queue).await?;
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
    let worker = tokio::spawn(crate::app::delivery::run(state.clone(), worker_stop));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let chatwoot_events = tokio::spawn(crate::app::chatwoot::run(state.clone(), stopped(stop_rx.clone())));
    let chatwoot_calls = tokio::spawn(crate::app::delivery::run_chatwoot(state.clone(), stopped(stop_rx.clone())));
    let knowledge = tokio::spawn(crate::app::knowledge::watch(state.clone(), stopped(stop_rx.clone())));
    let pruner = {
        let state = state.clone();
        let mut rx = stop_rx;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = rx.wait_for(|stop| *stop) => break,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {
                        for limiter in state.limiters() {
                            limiter.prune();
                        }
                    }
                }
            }
        })
    };
    let app = http::router(state.clone());
    let limits = state.settings().limits.clone();
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        closing.begin_shutdown();
    };
    accept_loop(listener, app, &limits, shutdown).await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = chatwoot_events.await;
    let _ = chatwoot_calls.await;
    let _ = knowledge.await;
    let _ = pruner.await;
    Ok(())
}

/// Accepts connections until `shutdown`, then lets open ones finish.
///
/// Written out instead of `axum::serve` for three protections that one lacks: at most
/// `max_connections` open connections (more are closed at once, so file descriptors and
/// memory stay bounded and `/healthz` keeps answering), a header-read timeout (silent and
/// slow-header clients are closed; hyper applies it to kept-alive connections between requests
/// too), and an idle timeout on connections that neither read nor write. Every request carries
/// the peer address as `ConnectInfo<SocketAddr>` (per-address limits).
async fn accept_loop(listener: TcpListener, app: axum::Router, limits: &crate::config::LimitSettings, shutdown: impl Future<Output = ()>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use std::time::{Duration, Instant};
    let max = limits.max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms.max(1))).keep_alive(true);
    let idle = Duration::from_millis(limits.idle_timeout_ms.max(1));
    let mut last_refusal_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("smartreply_connections_refused_total").increment(1);
            if last_refusal_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(max_connections = max, "connection limit reached: closing new connections");
                last_refusal_log = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let mut drain = drain_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Activity::new();
            let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), request)
            });
            let conn = builder.serve_connection(io, service);
            tokio::pin!(conn);
            let draining = tokio::select! {
                _ = conn.as_mut() => false,
                _ = activity.idle_for(idle) => false,
                _ = drain.wait_for(|d| *d) => true,
            };
            if draining {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = activity.idle_for(idle) => {}
                }
            }
        });
    }
    // Stop accepting; let every connection finish its request, then wait for all of them.
    drop(listener);
    let _ = drain_tx.send(true);
    let _ = permits.acquire_many(max as u32).await;
}

/// When a connection last read or wrote a byte.
#[derive(Clone)]
struct Activity {
    started: std::time::Instant,
    last_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Activity { started: std::time::Instant::now(), last_ms: Arc::default() }
    }

    fn touch(&self) {
        self.last_ms.store(self.started.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Resolves once nothing was read or written for `idle`.
    async fn idle_for(&self, idle: std::time::Duration) {
        loop {
            let last = std::time::Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::Relaxed));
            let deadline = self.started + last + idle;
            if std::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A socket that records its activity.
struct Tracked {
    inner: tokio::net::TcpStream,
    activity: Activity,
}

impl tokio::io::AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl tokio::io::AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
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
        let listener =
            TcpListener::bind(&settings.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
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
        // What is in force: environment overrides replace the built-in development values.
        let shop = settings.shop("demo");
        let secret = shop.map(|s| s.webhook_secret.expose()).unwrap_or(DEV_WEBHOOK_SECRET);
        let widget_key = shop.and_then(|s| s.widget_key.as_deref()).unwrap_or(crate::config::DEV_WIDGET_KEY);
        let token =
            settings.agents.iter().find(|a| a.shops.iter().any(|s| s == "demo")).map(|a| a.token.expose()).unwrap_or(DEV_AGENT_TOKEN);
        out.push_str(&format!(
            "\n  !! DEVELOPMENT DEFAULTS — not for production !!\n  demo webhook secret: {secret}\n  demo agent token:    {token}\n  demo widget key:     {widget_key}\n  Configure real secrets with --config FILE (see README).\n"
        ));
    }
    out
}
