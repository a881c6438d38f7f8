//! `spawn_app()`: the real service on a random loopback port with a fresh database (SQLite in
//! a temp folder, or a new PostgreSQL database when `SMARTREPLY_TEST_POSTGRES_URL` is set),
//! plus typed request helpers and a local callback receiver.

use axum::body::Bytes;
use axum::http::HeaderMap;
use smartreply::config::{
    AgentSettings, ChatwootSettings, DeliverySettings, KnowledgeSettings, LimitSettings, Role, Secret, Settings, ShopSettings,
};
use smartreply::engine::{Engine, LoadOptions, ShopSource};
use smartreply::ingest::signature::sign;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub const DEMO_SECRET: &str = "demo-secret-for-tests";
pub const RIVAL_SECRET: &str = "rival-secret-for-tests";
pub const ALICE: &str = "alice-token-demo";
pub const MALLORY: &str = "mallory-token-rival";
/// An agent of the demo shop who is also a quality inspector.
pub const INES: &str = "ines-token-demo";
pub const WIDGET_KEY: &str = "pk_test_demo";
/// The demo shop's Chatwoot agent bot.
pub const CHATWOOT_SECRET: &str = "chatwoot-bot-secret-for-tests";
pub const CHATWOOT_BOT_TOKEN: &str = "chatwoot-bot-token";
pub const CHATWOOT_ADMIN_TOKEN: &str = "chatwoot-admin-token";
pub const CHATWOOT_ACCOUNT: u64 = 1;
pub const CHATWOOT_INBOX: u64 = 2;

/// One engine for the whole test binary: training it is the slow part of start-up.
static ENGINE: LazyLock<Arc<Engine>> = LazyLock::new(|| {
    let sources = ["demo", "rival"].map(|id| ShopSource { id: id.into(), knowledge_base: "knowledge-base/demo".into() });
    // Embeddings cached between runs in cargo's scratch folder: the knowledge base is embedded
    // once, not at every run of every test binary.
    let options = LoadOptions { cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("embeddings")), ..LoadOptions::default() };
    Arc::new(Engine::load_with_options(&sources, Path::new("models"), &options).expect("engine loads"))
});

/// The engine the apps of this test binary share (loaded on first use).
pub async fn shared_engine() -> Arc<Engine> {
    tokio::task::spawn_blocking(|| ENGINE.clone()).await.unwrap()
}

/// Where the test database lives.
#[derive(Clone)]
pub struct Database {
    pub url: String,
    /// PostgreSQL: the database to drop afterwards.
    pg_admin: Option<(String, String)>,
    /// SQLite: keeps the folder alive.
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Database {
    pub async fn fresh() -> Database {
        match std::env::var("SMARTREPLY_TEST_POSTGRES_URL") {
            Ok(admin) if !admin.is_empty() => {
                use sqlx::Connection;
                // Version 7: the name carries its creation time, for `sweep_stale_databases`.
                let name = format!("smartreply_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL reachable");
                static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
                SWEPT.get_or_init(|| sweep_stale_databases(&mut conn)).await;
                create_database(&mut conn, &name).await.unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Database { url: format!("{base}/{name}"), pg_admin: Some((admin.clone(), name)), _dir: None }
            }
            _ => {
                static NOTICE: std::sync::Once = std::sync::Once::new();
                NOTICE.call_once(|| {
                    eprintln!(
                        "NOTE: SMARTREPLY_TEST_POSTGRES_URL is not set: API tests run on SQLite; the PostgreSQL-only tests are ignored"
                    )
                });
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/test.db", dir.path().display());
                Database { url, pg_admin: None, _dir: Some(Arc::new(dir)) }
            }
        }
    }

    pub async fn drop_database(&self) {
        if let Some((admin, name)) = &self.pg_admin {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
                let _ = drop_database_named(&mut conn, name).await;
            }
        }
    }
}

/// Drops the test databases (these tests' and the store's unit tests') made over an hour ago:
/// a test that panics never reaches its `drop_database`, and without this its database stays
/// on the machine. Names end in a version-7 UUID whose first 48 bits are the creation time in
/// milliseconds, so no test still running loses its database.
pub async fn sweep_stale_databases(conn: &mut sqlx::PgConnection) {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname ~ '^smartreply_(test|unit)_[0-9a-f]{32}$' \
         AND ('x' || substr(datname, length(datname) - 31, 12))::bit(48)::bigint < extract(epoch FROM now()) * 1000 - 3600000",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list the test databases");
    for name in &stale {
        drop_database_named(conn, name).await.unwrap();
    }
    if !stale.is_empty() {
        eprintln!("NOTE: dropped {} test database(s) left by earlier runs", stale.len());
    }
}

/// Creates the database `name` (a name these helpers made, never customer text).
pub async fn create_database(conn: &mut sqlx::PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(conn).await.map(|_| ())
}

/// Drops the database `name`, closing its connections (a name these helpers made).
pub async fn drop_database_named(conn: &mut sqlx::PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(conn).await.map(|_| ())
}

pub struct Options {
    pub callback_url: Option<String>,
    pub customer_per_minute: u32,
    pub max_attempts: u32,
    pub agents_always_online: bool,
    /// The demo shop is a Chatwoot agent bot talking to this base URL.
    pub chatwoot_url: Option<String>,
    /// Last word on the settings (limits of one test).
    pub tune: fn(&mut Settings),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            callback_url: None,
            customer_per_minute: 1000,
            max_attempts: 3,
            agents_always_online: true,
            chatwoot_url: None,
            tune: |_| {},
        }
    }
}

pub fn settings(db: &Database, opts: &Options) -> Settings {
    let shop = |id: &str, secret: &str| ShopSettings {
        id: id.into(),
        knowledge_base: "knowledge-base/demo".into(),
        webhook_secret: Secret::new(secret),
        callback_url: opts.callback_url.clone(),
        agent_hours: if opts.agents_always_online { "00:00-24:00".into() } else { "09:00-23:00".into() },
        time_zone: "Asia/Shanghai".into(),
        widget_key: Some(WIDGET_KEY.into()),
        widget_origins: vec!["http://shop.example".into()],
        first_response_minutes: None,
        chatwoot: opts.chatwoot_url.clone().filter(|_| id == "demo").map(|base_url| ChatwootSettings {
            base_url,
            account_id: CHATWOOT_ACCOUNT,
            bot_token: Secret::new(CHATWOOT_BOT_TOKEN),
            webhook_secret: Secret::new(CHATWOOT_SECRET),
            inboxes: vec![CHATWOOT_INBOX],
            admin_token: Some(Secret::new(CHATWOOT_ADMIN_TOKEN)),
        }),
        // Nothing sampled unless a test asks (`tune`), so samples are exactly what a test made.
        inspection_sample_rate: 0.0,
        scorecard: Default::default(),
    };
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: Secret::new(db.url.clone()),
        models_dir: "models".into(),
        shops: vec![shop("demo", DEMO_SECRET), shop("rival", RIVAL_SECRET)],
        agents: vec![
            AgentSettings { name: "alice".into(), token: Secret::new(ALICE), shops: vec!["demo".into()], roles: vec![Role::Agent] },
            AgentSettings {
                name: "ines".into(),
                token: Secret::new(INES),
                shops: vec!["demo".into()],
                roles: vec![Role::Agent, Role::Inspector],
            },
            AgentSettings { name: "mallory".into(), token: Secret::new(MALLORY), shops: vec!["rival".into()], roles: vec![Role::Agent] },
        ],
        delivery: DeliverySettings {
            timeout_ms: 2_000,
            max_attempts: opts.max_attempts,
            backoff_base_ms: 50,
            backoff_cap_ms: 200,
            poll_interval_ms: 50,
            ..DeliverySettings::default()
        },
        limits: LimitSettings { customer_per_minute: opts.customer_per_minute, ..LimitSettings::default() },
        // The engine is loaded once per test binary (above), not by the app.
        knowledge: KnowledgeSettings { cache_dir: PathBuf::new(), reload_seconds: 0 },
    };
    (opts.tune)(&mut settings);
    settings
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Database,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Database::fresh().await, Options::default()).await
}

pub async fn spawn_app_with(db: Database, opts: Options) -> TestApp {
    let settings = settings(&db, &opts);
    let engine = tokio::task::spawn_blocking(|| ENGINE.clone()).await.unwrap();
    spawn_app_on(db, settings, engine).await
}

/// The service with settings and an engine of the test's own (a knowledge base it may change).
pub async fn spawn_app_on(db: Database, settings: Settings, engine: Arc<Engine>) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = smartreply::server::build_state_with_engine(settings, engine).await.expect("state builds");
    // Bound before the server starts: no sleeping until it is up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(smartreply::server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    TestApp { address, client: reqwest::Client::new(), db, stop: Some(tx), server: Some(server) }
}

impl TestApp {
    /// Stops the service (graceful) and waits for it, keeping the database.
    pub async fn stop(mut self) -> Database {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.db.clone()
    }

    /// Stops the service and drops its database.
    pub async fn finish(self) {
        let db = self.stop().await;
        db.drop_database().await;
    }

    pub async fn post_signed(&self, shop: &str, secret: &str, ts: i64, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/shops/{shop}/messages", self.address))
            .header("content-type", "application/json")
            .header("X-Smartreply-Timestamp", ts.to_string())
            .header("X-Smartreply-Signature", sign(secret, ts, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// A signed customer message to the demo shop; the JSON answer.
    pub async fn send(&self, message_id: &str, conversation_id: &str, text: &str) -> serde_json::Value {
        let body = serde_json::json!({
            "message_id": message_id, "conversation_id": conversation_id, "customer_id": format!("cust-{conversation_id}"), "text": text
        })
        .to_string();
        let response = self.post_signed("demo", DEMO_SECRET, now(), &body).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    /// A Chatwoot agent-bot event for the demo shop, signed like Chatwoot signs it.
    pub async fn post_chatwoot(&self, body: &str, ts: i64, secret: Option<&str>, delivery: &str) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/v1/shops/demo/chatwoot", self.address))
            .header("content-type", "application/json")
            .header("X-Chatwoot-Delivery", delivery);
        if let Some(secret) = secret {
            request =
                request.header("X-Chatwoot-Timestamp", ts.to_string()).header("X-Chatwoot-Signature", sign(secret, ts, body.as_bytes()));
        }
        request.body(body.to_string()).send().await.unwrap()
    }

    /// Sends a correctly signed event and checks Chatwoot gets its 200; the JSON answer.
    pub async fn chatwoot_event(&self, body: &serde_json::Value, delivery: &str) -> serde_json::Value {
        let response = self.post_chatwoot(&body.to_string(), now(), Some(CHATWOOT_SECRET), delivery).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    /// The Chatwoot outbox of the demo shop.
    pub async fn chatwoot_outbox(&self, status: &str) -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            self.agent_get(ALICE, &format!("/v1/chatwoot/outbox?shop=demo&status={status}")).await.json().await.unwrap();
        v["calls"].as_array().unwrap().clone()
    }

    pub async fn agent_get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).bearer_auth(token).send().await.unwrap()
    }

    /// Waits (bounded) until `/v1/outbox?shop=demo&status={status}` lists `n` rows: the worker
    /// records an outcome only after the receiver answered, so a test that saw the request
    /// arrive must wait for the row too.
    pub async fn wait_for_outbox(&self, status: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows: serde_json::Value =
                self.agent_get(ALICE, &format!("/v1/outbox?shop=demo&status={status}")).await.json().await.unwrap();
            let rows = rows["deliveries"].as_array().cloned().unwrap_or_default();
            if rows.len() >= n || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn agent_put(&self, token: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.put(format!("{}{path}", self.address)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    /// A signed POST of a storefront to any of the shop's signed paths.
    pub async fn post_signed_to(&self, path: &str, secret: &str, body: &serde_json::Value) -> reqwest::Response {
        let body = body.to_string();
        let ts = now();
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .header("X-Smartreply-Timestamp", ts.to_string())
            .header("X-Smartreply-Signature", sign(secret, ts, body.as_bytes()))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn agent_post(&self, token: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.address)).bearer_auth(token).json(&body).send().await.unwrap()
    }
}

/// The JSON body of a response that must have `status` (the body is shown when it has not).
pub async fn json_of(response: reqwest::Response, status: u16) -> serde_json::Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

impl TestApp {
    /// A new widget visitor of the demo shop: its id and token.
    pub async fn visitor(&self) -> (String, String) {
        let v = json_of(
            self.client
                .post(format!("{}/v1/widget/demo/visitors", self.address))
                .header("X-Widget-Key", WIDGET_KEY)
                .header("Origin", "http://shop.example")
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        (v["visitor_id"].as_str().unwrap().into(), v["visitor_token"].as_str().unwrap().into())
    }

    /// A widget call of the demo shop (`path` below `/v1/widget/demo/`) from the shop's page.
    pub async fn widget_post(&self, token: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/widget/demo/{path}", self.address))
            .header("X-Widget-Key", WIDGET_KEY)
            .header("Origin", "http://shop.example")
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A widget visitor's conversation.
    pub async fn widget_history(&self, visitor: &str, token: &str) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}/v1/widget/demo/messages?visitor_id={visitor}", self.address))
            .header("X-Widget-Key", WIDGET_KEY)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        json_of(response, 200).await
    }
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A request the callback receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A local HTTP server standing in for the shop's callback endpoint.
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts a receiver answering `status` to every request, on `port` (0 = any).
    pub async fn start(status: u16, port: u16) -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = received.clone();
        let app = axum::Router::new().route(
            "/replies",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(Received { headers, body });
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}/replies", listener.local_addr().unwrap());
        let tx = serve_until_stopped(listener, app);
        Receiver { url, received, stop: Some(tx) }
    }

    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A port that was free a moment ago (for a receiver that starts later).
pub async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

/// A call the fake Chatwoot received.
#[derive(Clone, Debug)]
pub struct ChatwootCall {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub body: serde_json::Value,
}

/// A local HTTP server playing Chatwoot's API: records every call, answers `status` (settable,
/// to play Chatwoot being down), and keeps canned responses for the sync command.
pub struct FakeChatwoot {
    pub url: String,
    pub calls: Arc<Mutex<Vec<ChatwootCall>>>,
    pub status: Arc<std::sync::atomic::AtomicU16>,
    pub canned: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeChatwoot {
    pub async fn start() -> FakeChatwoot {
        use axum::extract::{Request, State};
        use std::sync::atomic::{AtomicU16, Ordering};
        type Shared = (Arc<Mutex<Vec<ChatwootCall>>>, Arc<AtomicU16>, Arc<Mutex<Vec<serde_json::Value>>>);
        let shared: Shared = (Arc::default(), Arc::new(AtomicU16::new(200)), Arc::new(Mutex::new(Vec::new())));
        async fn handle(State((calls, status, canned)): State<Shared>, request: Request) -> axum::response::Response {
            use axum::response::IntoResponse;
            let method = request.method().to_string();
            let path = request.uri().path().to_string();
            let token = request.headers().get("api_access_token").and_then(|v| v.to_str().ok()).map(String::from);
            let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            calls.lock().unwrap().push(ChatwootCall { method: method.clone(), path: path.clone(), token, body: body.clone() });
            let code = axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
            if !code.is_success() {
                return (code, "chatwoot is down").into_response();
            }
            // Canned responses, as Chatwoot's CannedResponsesController keeps them.
            if path.ends_with("/canned_responses") || path.contains("/canned_responses/") {
                let mut list = canned.lock().unwrap();
                let fields = &body["canned_response"];
                match method.as_str() {
                    "GET" => return axum::Json(serde_json::Value::Array(list.clone())).into_response(),
                    "POST" => {
                        let item = serde_json::json!({"id": list.len() as u64 + 1, "account_id": 1, "short_code": fields["short_code"], "content": fields["content"]});
                        list.push(item.clone());
                        return axum::Json(item).into_response();
                    }
                    "PATCH" => {
                        let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
                        let item = list.iter_mut().find(|c| c["id"] == id).unwrap();
                        item["short_code"] = fields["short_code"].clone();
                        item["content"] = fields["content"].clone();
                        return axum::Json(item.clone()).into_response();
                    }
                    _ => {}
                }
            }
            axum::Json(serde_json::json!({"id": 1})).into_response()
        }
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tx = serve_until_stopped(listener, app);
        FakeChatwoot { url, calls: shared.0, status: shared.1, canned: shared.2, stop: Some(tx) }
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<ChatwootCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` calls arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ChatwootCall> {
        wait_until(within, || {
            let calls = self.calls();
            (calls.len() >= n).then_some(calls)
        })
        .await
        .unwrap_or_else(|| self.calls())
    }

    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `check` every 25 ms until it gives a value or `within` passes.
pub async fn wait_until<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Serves `app` on `listener` in the background until the returned sender is sent or dropped.
fn serve_until_stopped(listener: TcpListener, app: axum::Router) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    tx
}
