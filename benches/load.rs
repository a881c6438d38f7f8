//! Load generator against the real HTTP service: starts the service in-process on a loopback
//! port with a fresh SQLite database, sends signed customer messages (a mix of the shared
//! development set and our held-out set) from concurrent clients, and reports messages/s and
//! latency percentiles — next to the same figures for `GET /healthz` measured in the same run,
//! so the ratio survives a noisy machine. Every text is new (a customer's own order number or
//! name added, as `smartreply loadgen` does); `LOAD_REPLAY=1` sends the texts as they are, which
//! measures the encoder's cache.
//!
//! Run: `cargo bench --bench load` (env `LOAD_REQUESTS`, default 2000; `LOAD_CONCURRENCY`, 16).

use smartreply::config::Settings;
use smartreply::ingest::signature::sign;
use std::time::{Duration, Instant};

fn texts() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["tests/data/dev.jsonl", "tests/data/holdout.jsonl"] {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                out.push(v["text"].as_str().unwrap_or("hello").to_string());
            }
        }
    }
    if out.is_empty() {
        out.push("满多少包邮".into());
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

async fn run(n: usize, concurrency: usize, make: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static) -> Run {
    let make = std::sync::Arc::new(make);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match make(i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    Run { per_second: n as f64 / elapsed.as_secs_f64(), p50: percentile(&all, 0.5), p99: percentile(&all, 0.99), errors }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("LOAD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let replay = std::env::var("LOAD_REPLAY").is_ok_and(|v| v == "1");
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let (mut settings, _) = Settings::load(None).unwrap();
    settings.database_url = smartreply::config::Secret::new(format!("sqlite://{}/load.db", dir.path().display()));
    settings.limits.customer_per_minute = 1_000_000;
    settings.limits.shop_per_minute = 1_000_000;
    let secret = settings.shops[0].webhook_secret.expose().to_string();
    let state = smartreply::server::build_state(settings).await.expect("service starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(smartreply::server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();

    let health = {
        let (client, base) = (client.clone(), base.clone());
        run(n, concurrency, move |_| client.get(format!("{base}/healthz"))).await
    };
    let texts = std::sync::Arc::new(texts());
    let messages = {
        let (client, base) = (client.clone(), base.clone());
        run(n, concurrency, move |i| {
            let body = serde_json::json!({
                "message_id": format!("load-{i}"),
                "conversation_id": format!("conv-{}", i % 500),
                "customer_id": format!("cust-{}", i % 500),
                "text": if replay { texts[i % texts.len()].clone() } else { smartreply::loadgen::customer_text(&texts[i % texts.len()], &format!("load-{i}")) },
            })
            .to_string();
            let ts = jiff::Timestamp::now().as_second();
            client
                .post(format!("{base}/v1/shops/demo/messages"))
                .header("content-type", "application/json")
                .header("X-Smartreply-Timestamp", ts.to_string())
                .header("X-Smartreply-Signature", sign(&secret, ts, body.as_bytes()))
                .body(body)
        })
        .await
    };
    let _ = tx.send(());
    let _ = server.await;
    println!("{n} requests, {concurrency} concurrent clients, SQLite (synchronous=FULL), loopback");
    println!("{:<28} {:>10} {:>10} {:>10} {:>7}", "", "req/s", "p50 ms", "p99 ms", "errors");
    for (name, r) in [("GET /healthz (baseline)", &health), ("POST messages (routed+stored)", &messages)] {
        println!(
            "{name:<28} {:>10.0} {:>10.2} {:>10.2} {:>7}",
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.errors
        );
    }
    println!(
        "messages vs baseline: throughput x{:.3}, p50 x{:.1}, p99 x{:.1}",
        messages.per_second / health.per_second,
        messages.p50.as_secs_f64() / health.p50.as_secs_f64(),
        messages.p99.as_secs_f64() / health.p99.as_secs_f64()
    );
}
