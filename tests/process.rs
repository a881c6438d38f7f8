//! The real `smartreply serve` binary as a child process: environment overrides end to end,
//! logs that cannot be forged, and `kill -9` under load (acknowledged = found, nothing doubled,
//! the outbox delivered after the restart). On SQLite, and on PostgreSQL when
//! `SMARTREPLY_TEST_POSTGRES_URL` is set.

// Helpers are `pub` for the test modules of this binary, not for a library surface.
#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{Database, Receiver, free_port, now};
use serde_json::json;
use smartreply::config::{DEV_AGENT_TOKEN, DEV_WEBHOOK_SECRET};
use smartreply::ingest::signature::sign;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `smartreply serve`, its output going to a file.
struct Service {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Service {
    async fn start(port: u16, env: &[(&str, String)], log: PathBuf) -> Service {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_smartreply"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SMARTREPLY_LISTEN", format!("127.0.0.1:{port}"))
            .env("NO_COLOR", "1")
            .env_remove("SMARTREPLY_LOG_FORMAT")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let service = Service { child, base: format!("http://127.0.0.1:{port}"), log };
        service.wait_ready().await;
        service
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "the service did not become ready; log:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait: the graceful path.
    fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                self.kill9();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn post_signed(client: &reqwest::Client, base: &str, secret: &str, body: &str) -> reqwest::Result<reqwest::Response> {
    let ts = now();
    client
        .post(format!("{base}/v1/shops/demo/messages"))
        .header("content-type", "application/json")
        .header("X-Smartreply-Timestamp", ts.to_string())
        .header("X-Smartreply-Signature", sign(secret, ts, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
}

fn message(id: &str, customer: &str, text: &str) -> String {
    json!({"message_id": id, "conversation_id": format!("c-{id}"), "customer_id": customer, "text": text}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn environment_overrides_reach_the_running_service_and_its_banner() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().await;
    let dead_callback = format!("http://127.0.0.1:{}/replies", free_port().await);
    let db_path = dir.path().join("from-env.db");
    let env = [
        ("SMARTREPLY_DATABASE_URL", format!("sqlite://{}", db_path.display())),
        ("SMARTREPLY_LIMITS__CUSTOMER_PER_MINUTE", "2".into()),
        ("SMARTREPLY_LIMITS__MAX_BODY_BYTES", "2000".into()),
        ("SMARTREPLY_DELIVERY__MAX_ATTEMPTS", "1".into()),
        ("SMARTREPLY_DELIVERY__POLL_INTERVAL_MS", "100".into()),
        ("SMARTREPLY_SHOP_DEMO_WEBHOOK_SECRET", "env-secret-123".into()),
        ("SMARTREPLY_SHOP_DEMO_CALLBACK_URL", dead_callback),
        ("SMARTREPLY_AGENT_DEV_AGENT_TOKEN", "env-token-456".into()),
    ];
    let mut service = Service::start(port, &env, dir.path().join("service.log")).await;
    let base = service.base.clone();
    let client = reqwest::Client::new();

    assert!(db_path.exists(), "SMARTREPLY_DATABASE_URL chose the database file");
    let banner = service.output();
    assert!(banner.contains(&format!("http://127.0.0.1:{port}")), "SMARTREPLY_LISTEN: {banner}");
    assert!(banner.contains("env-secret-123") && banner.contains("env-token-456"), "the banner shows what is in force: {banner}");
    assert!(!banner.contains(DEV_WEBHOOK_SECRET) && !banner.contains(DEV_AGENT_TOKEN), "{banner}");

    let dev = post_signed(&client, &base, DEV_WEBHOOK_SECRET, &message("m-0", "u", "在吗")).await.unwrap();
    assert_eq!(dev.status(), 401, "the overridden secret replaces the dev one");
    let escalated: serde_json::Value =
        post_signed(&client, &base, "env-secret-123", &message("m-1", "u", "转人工")).await.unwrap().json().await.unwrap();
    assert_eq!(post_signed(&client, &base, "env-secret-123", &message("m-2", "u", "在吗")).await.unwrap().status(), 200);
    let limited = post_signed(&client, &base, "env-secret-123", &message("m-3", "u", "在吗")).await.unwrap();
    assert_eq!(limited.status(), 429, "SMARTREPLY_LIMITS__CUSTOMER_PER_MINUTE=2");
    let big = message("m-4", "v", &"字".repeat(1000));
    assert_eq!(post_signed(&client, &base, "env-secret-123", &big).await.unwrap().status(), 413, "SMARTREPLY_LIMITS__MAX_BODY_BYTES");

    let queue = |token: &'static str| client.get(format!("{base}/v1/tickets?shop=demo")).bearer_auth(token).send();
    assert_eq!(queue(DEV_AGENT_TOKEN).await.unwrap().status(), 401);
    assert_eq!(queue("env-token-456").await.unwrap().status(), 200, "SMARTREPLY_AGENT_<NAME>_TOKEN");
    let ticket = escalated["ticket_id"].as_str().unwrap();
    let reply = client
        .post(format!("{base}/v1/tickets/{ticket}/reply"))
        .bearer_auth("env-token-456")
        .json(&json!({"text": "您好", "draft": "accepted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply: serde_json::Value = reply.json().await.unwrap();
    assert!(reply["delivery"]["id"].is_string(), "SMARTREPLY_SHOP_DEMO_CALLBACK_URL gave the shop a callback");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows: serde_json::Value = client
            .get(format!("{base}/v1/outbox?shop=demo&status=failed"))
            .bearer_auth("env-token-456")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows["deliveries"].as_array().is_some_and(|r| r.len() == 1) {
            assert_eq!(rows["deliveries"][0]["attempts"], 1, "SMARTREPLY_DELIVERY__MAX_ATTEMPTS=1");
            break;
        }
        assert!(Instant::now() < deadline, "the delivery gives up after one attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.terminate();
}

#[test]
fn smartreply_models_dir_chooses_where_models_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-models");
    let out = Command::new(env!("CARGO_BIN_EXE_smartreply"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SMARTREPLY_LISTEN", "127.0.0.1:0")
        .env("SMARTREPLY_DATABASE_URL", format!("sqlite://{}/m.db", dir.path().display()))
        .env("SMARTREPLY_MODELS_DIR", &missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no models, no service");
    assert!(stderr.contains(&missing.display().to_string()), "the error names the overridden folder: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_text_cannot_forge_log_lines_or_leak_phone_numbers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().await;
    let env = [("SMARTREPLY_DATABASE_URL", format!("sqlite://{}/logs.db", dir.path().display()))];
    let mut service = Service::start(port, &env, dir.path().join("service.log")).await;
    let client = reqwest::Client::new();
    let forged =
        "电话 138 1234 5678 或 139-8765-4321 或 +86 137 1111 2222\n2026-11-25T10:00:00.000000Z ERROR smartreply::store: forged line\r\n";
    let r = post_signed(&client, &service.base, DEV_WEBHOOK_SECRET, &message("forge-1", "u", forged)).await.unwrap();
    assert_eq!(r.status(), 200);
    service.terminate();
    let log = service.output();
    assert!(log.contains("message routed"), "the message was logged: {log}");
    assert!(!log.lines().any(|l| l.starts_with("2026-11-25T10:00:00.000000Z")), "a forged line appeared:\n{log}");
    assert!(log.contains("\\n2026-11-25T10:00:00"), "the newline is escaped: {log}");
    for phone in ["138 1234 5678", "1234 5678", "139-8765-4321", "137 1111 2222"] {
        assert!(!log.contains(phone), "{phone} leaked:\n{log}");
    }
    assert!(log.contains("138****5678") && log.contains("139****4321") && log.contains("137****2222"), "{log}");
}

/// What the load saw acknowledged before the kill.
#[derive(Default)]
struct Acked {
    /// message id → the exact answer body.
    messages: HashMap<String, String>,
    /// Agent reply message ids.
    replies: HashSet<String>,
    sent: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged_doubles_nothing_and_delivers_after_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = Database::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let callback_port = free_port().await;
    let env = [
        ("SMARTREPLY_DATABASE_URL", db.url.clone()),
        ("SMARTREPLY_LIMITS__SHOP_PER_MINUTE", "100000000".into()),
        ("SMARTREPLY_LIMITS__CUSTOMER_PER_MINUTE", "100000000".into()),
        ("SMARTREPLY_SHOP_DEMO_CALLBACK_URL", format!("http://127.0.0.1:{callback_port}/replies")),
        ("SMARTREPLY_DELIVERY__POLL_INTERVAL_MS", "100".into()),
        ("SMARTREPLY_DELIVERY__BACKOFF_BASE_MS", "100".into()),
        ("SMARTREPLY_DELIVERY__BACKOFF_CAP_MS", "300".into()),
        ("SMARTREPLY_DELIVERY__MAX_ATTEMPTS", "10000".into()),
    ];
    let port = free_port().await;
    let mut service = Service::start(port, &env, dir.path().join("service.log")).await;
    let base = service.base.clone();
    let client = reqwest::Client::new();
    let mut tickets = Vec::new();
    for i in 0..4 {
        let a: serde_json::Value =
            post_signed(&client, &base, DEV_WEBHOOK_SECRET, &message(&format!("t-{i}"), &format!("tu-{i}"), "转人工"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        tickets.push(a["ticket_id"].as_str().unwrap().to_string());
    }

    // Load: 8 customers' clients and 2 agents, until the process dies under them.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let dead = Arc::new(AtomicBool::new(false));
    let texts = ["满多少包邮", "退款多久到账", "我的快递到哪了", "收到的是错的颜色", "这个有优惠券吗"];
    let mut load = Vec::new();
    for c in 0..8 {
        let (client, base, acked, dead) = (client.clone(), base.clone(), acked.clone(), dead.clone());
        load.push(tokio::spawn(async move {
            for n in 0.. {
                if dead.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("k-{c}-{n}");
                let body = message(&id, &format!("ku-{c}-{}", n % 7), texts[n % texts.len()]);
                acked.lock().unwrap().sent += 1;
                match post_signed(&client, &base, DEV_WEBHOOK_SECRET, &body).await {
                    Ok(r) if r.status() == 200 => {
                        let answer = r.text().await.unwrap_or_default();
                        if !answer.is_empty() {
                            acked.lock().unwrap().messages.insert(id, answer);
                        }
                    }
                    Ok(r) => assert!(dead.load(Ordering::Relaxed), "status {} before the kill", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    for a in 0..2 {
        let (client, base, acked, dead, tickets) = (client.clone(), base.clone(), acked.clone(), dead.clone(), tickets.clone());
        load.push(tokio::spawn(async move {
            for n in 0.. {
                if dead.load(Ordering::Relaxed) {
                    break;
                }
                let ticket = &tickets[(a + n) % tickets.len()];
                let sent = client
                    .post(format!("{base}/v1/tickets/{ticket}/reply"))
                    .bearer_auth(DEV_AGENT_TOKEN)
                    .json(&json!({"text": format!("回复 {a}-{n}"), "draft": "edited"}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        if let Ok(v) = r.json::<serde_json::Value>().await
                            && let Some(id) = v["message"]["id"].as_str()
                        {
                            acked.lock().unwrap().replies.insert(id.to_string());
                        }
                    }
                    Ok(r) => assert!(dead.load(Ordering::Relaxed), "reply status {} before the kill", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (m, r) = {
            let a = acked.lock().unwrap();
            (a.messages.len(), a.replies.len())
        };
        if m >= 300 && r >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "load made progress: {m} messages, {r} replies");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dead.store(true, Ordering::Relaxed);
    service.kill9();
    for task in load {
        task.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();

    // Restart on the same database with the shop's receiver up at last.
    let receiver = Receiver::start(200, callback_port).await;
    let port = free_port().await;
    let service = Service::start(port, &env, dir.path().join("service-2.log")).await;
    let base = service.base.clone();
    let stats = |base: String| {
        let client = client.clone();
        async move {
            let s: serde_json::Value =
                client.get(format!("{base}/v1/stats?shop=demo")).bearer_auth(DEV_AGENT_TOKEN).send().await.unwrap().json().await.unwrap();
            s["messages"].as_u64().unwrap() as usize
        }
    };
    let stored = stats(base.clone()).await;
    let acknowledged = acked.messages.len() + tickets.len();
    assert!(
        stored >= acknowledged && stored <= acked.sent + tickets.len(),
        "stored {stored}, acknowledged {acknowledged}, sent {}",
        acked.sent
    );
    for (id, answer) in &acked.messages {
        let (c, n) = id.trim_start_matches("k-").split_once('-').unwrap();
        let n: usize = n.parse().unwrap();
        let body = message(id, &format!("ku-{c}-{}", n % 7), texts[n % texts.len()]);
        let again = post_signed(&client, &base, DEV_WEBHOOK_SECRET, &body).await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(&again.text().await.unwrap(), answer, "{id}: the acknowledged answer is found, byte for byte");
    }
    assert_eq!(stats(base.clone()).await, stored, "replaying every acknowledged message created nothing: no duplicates");

    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let delivered: Vec<String> = receiver
            .received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter_map(|v| v["message_id"].as_str().map(String::from))
            .collect();
        let missing = acked.replies.iter().filter(|id| !delivered.contains(id)).count();
        if missing == 0 {
            break delivered;
        }
        assert!(Instant::now() < deadline, "{missing} acknowledged replies were not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let distinct: HashSet<&String> = delivered.iter().collect();
    assert_eq!(distinct.len(), delivered.len(), "no reply delivered twice");
    eprintln!(
        "crash test ({}): {} acknowledged messages found of {} sent, {} acknowledged replies delivered, {stored} stored",
        if db.url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" },
        acknowledged,
        acked.sent + tickets.len(),
        acked.replies.len()
    );
    drop(service);
    receiver.stop();
    db.drop_database().await;
}
