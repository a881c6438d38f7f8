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
    let limits = state.settings().limits.clone();
    serve_while_loading(listener, limits, async move { Ok(state) }, shutdown).await
}

/// Like [`serve`], answering at once while `load` runs (the models take seconds to a minute):
/// every request gets 503 with `Retry-After` and the JSON error `starting`, so a webhook sent
/// during a restart is refused in milliseconds instead of held until its sender gives up. The
/// service's routes take over as soon as `load` is done; if it fails, the listener closes and
/// its error is returned.
pub async fn serve_while_loading(
    listener: TcpListener,
    limits: crate::config::LimitSettings,
    load: impl Future<Output = anyhow::Result<AppState>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let routes = Arc::new(std::sync::OnceLock::new());
    let (close_tx, close_rx) = tokio::sync::watch::channel(false);
    let closed = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let accepting = tokio::spawn(accept_loop(listener, routes.clone(), limits, closed(close_rx)));
    tokio::pin!(shutdown);
    let state = tokio::select! {
        _ = &mut shutdown => None,
        loaded = load => Some(loaded),
    };
    let state = match state {
        Some(Ok(state)) => state,
        stopped_or_failed => {
            let _ = close_tx.send(true);
            let _ = accepting.await;
            return stopped_or_failed.transpose().map(|_| ());
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(crate::app::delivery::run(state.clone(), closed(stop_rx.clone())));
    let chatwoot_events = tokio::spawn(crate::app::chatwoot::run(state.clone(), closed(stop_rx.clone())));
    let chatwoot_calls = tokio::spawn(crate::app::delivery::run_chatwoot(state.clone(), closed(stop_rx.clone())));
    let knowledge = tokio::spawn(crate::app::knowledge::watch(state.clone(), closed(stop_rx.clone())));
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
    let _ = routes.set(http::router(state.clone()));
    shutdown.await;
    state.begin_shutdown();
    let _ = close_tx.send(true);
    let _ = accepting.await;
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
/// the peer address as `ConnectInfo<SocketAddr>` (per-address limits). Headers are bounded in
/// size and count (hyper refuses more with 431, which [`Tracked`] sends as the JSON error).
/// Requests go to the service's routes once `routes` is set, to [`http::starting`] before.
async fn accept_loop(
    listener: TcpListener,
    routes: Arc<std::sync::OnceLock<axum::Router>>,
    limits: crate::config::LimitSettings,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use std::time::{Duration, Instant};
    let max = limits.max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
    let header_limits = Arc::new(HeaderLimits { bytes: limits.max_header_bytes.max(1024), fields: limits.max_headers.max(1) });
    let starting = http::starting();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms.max(1)))
        .keep_alive(true)
        .max_header_size(header_limits.bytes)
        .max_headers(header_limits.fields)
        // The read buffer: headers up to their limit plus the body bytes that arrive with them
        // (hyper's default grows to ~400 KB per connection).
        .max_buf_size((header_limits.bytes + 16 * 1024).max(64 * 1024));
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
        let (routes, starting) = (routes.clone(), starting.clone());
        let builder = builder.clone();
        let mut drain = drain_rx.clone();
        let header_limits = header_limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Activity::new();
            let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone(), header_limits, refusal: Refusal::None });
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                let app = routes.get().unwrap_or(&starting).clone();
                tower::ServiceExt::oneshot(app, request)
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

/// The header limits, for the text of the 431 answer.
struct HeaderLimits {
    bytes: usize,
    fields: usize,
}

/// Where a connection is in answering a request hyper could not parse.
enum Refusal {
    /// Nothing refused.
    None,
    /// The JSON answer, sent instead of hyper's empty one; `sent` bytes of it so far.
    Sending { answer: Vec<u8>, sent: usize },
    /// Answer sent and the write side shut: what the client still sends is read and dropped
    /// (up to `budget` bytes, until `until`), since closing a socket with unread data resets
    /// the connection and the client could lose the answer.
    Draining { budget: usize, until: std::pin::Pin<Box<tokio::time::Sleep>> },
    /// Finished.
    Closed,
}

/// A socket that records its activity, and sends hyper's automatic refusals of unparsable
/// requests (400, 414, 431: empty bodies) as the contract's JSON error.
struct Tracked {
    inner: tokio::net::TcpStream,
    activity: Activity,
    header_limits: Arc<HeaderLimits>,
    refusal: Refusal,
}

/// The contract's JSON error for hyper's automatic answer `head`, or `None` when `head` is not
/// one. hyper writes those (status line, `content-length: 0`, no content type) only when
/// parsing a request failed; every answer of the service has a content type and a body.
fn json_refusal(head: &[u8], limits: &HeaderLimits) -> Option<Vec<u8>> {
    let (status, code, message) = if head.starts_with(b"HTTP/1.1 431 ") {
        (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            format!("request headers are limited to {} bytes and {} fields", limits.bytes, limits.fields),
        )
    } else if head.starts_with(b"HTTP/1.1 414 ") {
        ("414 URI Too Long", "uri_too_long", "the request's URI is too long".to_string())
    } else if head.starts_with(b"HTTP/1.1 400 ") {
        ("400 Bad Request", "bad_request", "malformed HTTP request".to_string())
    } else {
        return None;
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let fields = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let empty = fields.contains("\r\ncontent-length: 0\r\n") || fields.ends_with("\r\ncontent-length: 0");
    if !empty || fields.contains("\r\ncontent-type:") {
        return None;
    }
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let answer =
        format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    Some(answer.into_bytes())
}

impl Tracked {
    /// Sends what is left of the refusal; ready once it is all written.
    fn poll_refusal(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::{Poll, ready};
        if let Refusal::Sending { answer, sent } = &mut self.refusal {
            while *sent < answer.len() {
                let n = ready!(tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.inner), cx, &answer[*sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                *sent += n;
                self.activity.touch();
            }
        }
        Poll::Ready(Ok(()))
    }

    /// hyper writes `bufs`: passed on, unless they are an automatic refusal (replaced by the
    /// JSON one) or come after one (dropped: hyper closes the connection next).
    fn poll_hyper_write(
        &mut self,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Option<std::task::Poll<std::io::Result<usize>>> {
        let total = bufs.iter().map(|b| b.len()).sum();
        if matches!(self.refusal, Refusal::None) {
            let first = bufs.iter().find(|b| !b.is_empty())?;
            self.refusal = Refusal::Sending { answer: json_refusal(first, &self.header_limits)?, sent: 0 };
        }
        // Taken as written; poll_flush and poll_shutdown finish sending the answer.
        if let std::task::Poll::Ready(Err(e)) = self.poll_refusal(cx) {
            return Some(std::task::Poll::Ready(Err(e)));
        }
        Some(std::task::Poll::Ready(Ok(total)))
    }
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
        if let Some(poll) = self.poll_hyper_write(cx, &[std::io::IoSlice::new(buf)]) {
            return poll;
        }
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_refusal(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::{Poll, ready};
        let this = self.get_mut();
        loop {
            match &mut this.refusal {
                Refusal::None | Refusal::Closed => return std::pin::Pin::new(&mut this.inner).poll_shutdown(cx),
                Refusal::Sending { .. } => {
                    ready!(this.poll_refusal(cx))?;
                    ready!(std::pin::Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    // A client sending a megabyte of headers gets that long to finish.
                    let until = Box::pin(tokio::time::sleep(std::time::Duration::from_secs(2)));
                    this.refusal = Refusal::Draining { budget: 4 << 20, until };
                }
                Refusal::Draining { budget, until } => {
                    if *budget == 0 || until.as_mut().poll(cx).is_ready() {
                        this.refusal = Refusal::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = tokio::io::ReadBuf::new(&mut scratch);
                    match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.inner), cx, &mut buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => *budget = budget.saturating_sub(buf.filled().len()),
                        // End of stream or an error: the client is done.
                        Poll::Ready(_) => this.refusal = Refusal::Closed,
                    }
                }
            }
        }
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Some(poll) = self.poll_hyper_write(cx, bufs) {
            return poll;
        }
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

/// `smartreply serve`; `allow_dev_secrets_on_network`: see
/// [`Settings::check_development_secrets`].
pub fn run(config: Option<&Path>, allow_dev_secrets_on_network: bool) -> anyhow::Result<()> {
    init_tracing();
    let (settings, dev_defaults) = Settings::load(config)?;
    settings.check_development_secrets(allow_dev_secrets_on_network)?;
    if allow_dev_secrets_on_network && !settings.development_secrets().is_empty() {
        tracing::warn!(listen = %settings.listen, "development secrets in force and allowed on the network: for a throwaway demo only");
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), listen = %settings.listen, shops = settings.shops.len(), "smartreply starting; loading knowledge bases and models");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener =
            TcpListener::bind(&settings.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let addr = listener.local_addr()?;
        eprintln!("loading knowledge bases and models (requests get 503 until then)...");
        let banner = banner(&settings, addr, dev_defaults);
        let limits = settings.limits.clone();
        let load = async move {
            let state = build_state(settings).await?;
            eprintln!("{banner}");
            Ok(state)
        };
        serve_while_loading(listener, limits, load, shutdown_signal()).await
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
            "\n  !! DEVELOPMENT DEFAULTS — not for production !!\n  demo webhook secret: {secret}\n  demo agent token:    {token}\n  demo widget key:     {widget_key}\n  Configure real secrets with --config FILE (docs/operations.md).\n"
        ));
    }
    out
}
