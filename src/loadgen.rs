//! `smartreply loadgen`: load against any running service. Concurrent clients send signed,
//! unique customer messages for a fixed time; then `GET /healthz` is measured the same way
//! (same clients, concurrency and time) in the same run, so the ratio between the two survives a
//! noisy machine. Several `--url`s are used in turn (replicas behind nothing but the load
//! generator). A warm-up comes first and is not counted.
//!
//! By default every text is new, as a shop's traffic is: an evaluation file's text with a
//! customer's own detail added (an order number, a name, a size; [`customer_text`]), so no
//! cache can serve it. `--replay` sends the file's texts as they are, which after the warm-up
//! measures the encoder's cache: report it beside the new-text figure, never alone.

use crate::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Base URLs of the service (one or more replicas), e.g. `http://127.0.0.1:8080`.
    pub urls: Vec<String>,
    /// The shop's webhook secret.
    pub secret: String,
    /// The shop id.
    pub shop: String,
    /// Concurrent clients (one connection each).
    pub concurrency: usize,
    /// Length of each phase.
    pub duration: Duration,
    /// Messages sent before the measured phases, not counted.
    pub warmup: Duration,
    /// Evaluation file (JSON lines with a `text` field).
    pub data: Option<PathBuf>,
    /// Print the progress line.
    pub progress: bool,
    /// Send the file's texts as they are (cache-friendly) instead of each with a customer's
    /// own detail added.
    pub replay: bool,
}

/// The figures of one phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Phase {
    /// Requests completed (any status).
    pub requests: usize,
    /// Successful requests per second.
    pub per_second: f64,
    /// Latency percentiles of all completed requests, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Failures by HTTP status (or `timeout`, `connect`, `io`).
    pub errors: BTreeMap<String, usize>,
}

/// Messages and `/healthz` of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The uncounted warm-up (messages).
    pub warmup: Phase,
    /// `POST /v1/shops/{shop}/messages`.
    pub messages: Phase,
    /// `GET /healthz`.
    pub healthz: Phase,
}

/// The texts of an evaluation file; without one, our copy of the development set
/// (`tests/data/dev.jsonl`) or our held-out set when present.
pub fn texts(data: Option<&Path>) -> anyhow::Result<(Vec<String>, PathBuf)> {
    let candidates: Vec<PathBuf> = match data {
        Some(p) => vec![p.to_path_buf()],
        None => vec!["tests/data/dev.jsonl".into(), "tests/data/holdout.jsonl".into()],
    };
    for path in candidates {
        let Ok(content) = std::fs::read_to_string(&path) else {
            if data.is_some() {
                anyhow::bail!("cannot read {}", path.display());
            }
            continue;
        };
        let texts: Vec<String> = content
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(String::from))
            .filter(|t| !t.trim().is_empty())
            .collect();
        anyhow::ensure!(!texts.is_empty(), "{} has no lines with a \"text\"", path.display());
        return Ok((texts, path));
    }
    anyhow::bail!("no evaluation file found: pass --data FILE (JSON lines with a \"text\" field)")
}

enum Outcome {
    Ok,
    Failed(String),
}

async fn phase<F, Fut>(opts: &LoadOptions, name: &str, duration: Duration, request: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send,
{
    let request = Arc::new(request);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::new();
    for worker in 0..opts.concurrency.max(1) {
        let (request, done) = (request.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            let mut n = 0;
            while Instant::now() < end {
                let t = Instant::now();
                let outcome = request(worker, n).await;
                latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if let Outcome::Failed(why) = outcome {
                    *errors.entry(why).or_default() += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let progress = opts.progress.then(|| {
        let (done, name) = (done.clone(), name.to_string());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = done.load(Ordering::Relaxed);
                eprint!("\r  {name}: {:>4.0} s  {now:>8} done  {:>7} /s   ", started.elapsed().as_secs_f64(), now - last);
                let _ = std::io::stderr().flush();
                last = now;
            }
        })
    });
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        if let Ok((l, e)) = w.await {
            latencies.extend(l);
            for (k, v) in e {
                *errors.entry(k).or_default() += v;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        f64::from(latencies[rank - 1]) / 1000.0
    };
    let failed: usize = errors.values().sum();
    Phase {
        requests: latencies.len(),
        per_second: (latencies.len() - failed) as f64 / elapsed,
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        errors,
    }
}

async fn classify(result: reqwest::Result<reqwest::Response>) -> Outcome {
    {
        match result {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Failed("io".into()),
            },
            Ok(r) => {
                let status = r.status().as_u16().to_string();
                let _ = r.bytes().await;
                Outcome::Failed(status)
            }
            Err(e) if e.is_timeout() => Outcome::Failed("timeout".into()),
            Err(e) if e.is_connect() => Outcome::Failed("connect".into()),
            Err(_) => Outcome::Failed("io".into()),
        }
    }
}

/// Runs both phases and returns the figures.
pub async fn run(opts: &LoadOptions, texts: Vec<String>) -> anyhow::Result<Report> {
    anyhow::ensure!(!opts.urls.is_empty(), "at least one --url");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(opts.concurrency.max(1)).timeout(Duration::from_secs(30)).build()?;
    let urls: Arc<Vec<String>> = Arc::new(opts.urls.iter().map(|u| u.trim_end_matches('/').to_string()).collect());
    let texts = Arc::new(texts);
    // Unique across runs, so a second run against the same database sends new messages.
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let run_id = Arc::new(run_id[run_id.len() - 10..].to_string());
    let replay = opts.replay;
    let messages = |phase_tag: &'static str| {
        let (client, urls, texts, run_id) = (client.clone(), urls.clone(), texts.clone(), run_id.clone());
        let (secret, shop) = (Arc::new(opts.secret.clone()), Arc::new(opts.shop.clone()));
        move |worker: usize, n: usize| {
            let id = format!("lg-{run_id}-{phase_tag}{worker}-{n}");
            let base = &texts[(worker * 7919 + n) % texts.len()];
            let text = if replay { base.clone() } else { customer_text(base, &id) };
            let body = serde_json::json!({
                "message_id": id,
                "conversation_id": id,
                "customer_id": id,
                "text": text,
            })
            .to_string();
            let ts = jiff::Timestamp::now().as_second();
            let url = format!("{}/v1/shops/{shop}/messages", urls[(worker + n) % urls.len()]);
            let send = client
                .post(url)
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, sign(&secret, ts, body.as_bytes()))
                .body(body)
                .send();
            async move { classify(send.await).await }
        }
    };
    let warmup = phase(opts, "warm-up", opts.warmup, messages("w")).await;
    let messages = phase(opts, "messages", opts.duration, messages("")).await;
    let healthz = {
        let (client, urls) = (client.clone(), urls.clone());
        phase(opts, "/healthz", opts.duration, move |worker, n| {
            let send = client.get(format!("{}/healthz", urls[(worker + n) % urls.len()])).send();
            async move { classify(send.await).await }
        })
        .await
    };
    Ok(Report { warmup, messages, healthz })
}

/// `text` as one customer writes it: with their own order number, name or detail added, so
/// that no two calls with different `seed`s give the same text. The detail is in the text's
/// language and changes neither its question nor its tone.
pub fn customer_text(text: &str, seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut hasher);
    let h = hasher.finish();
    // 19 digits, as a Taobao order number has: two seeds of a million share one by a chance
    // of 1 in 10¹³.
    let order = format!("{:019}", h % 10_000_000_000_000_000_000);
    const NAMES_ZH: [&str; 6] = ["王女士", "小李", "陈先生", "阿杰", "刘姐", "张同学"];
    const NAMES_EN: [&str; 6] = ["Anna", "Mr. Chen", "Priya", "Tom", "Lucía", "Kenji"];
    let chinese = text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let name = (h >> 8) as usize % NAMES_ZH.len();
    match (chinese, (h >> 16) % 3) {
        (true, 0) => format!("{text} 订单号{order}"),
        (true, 1) => format!("我是{}，{text}（订单{order}）", NAMES_ZH[name]),
        (true, _) => format!("{text} 单号 {order} 谢谢"),
        (false, 0) => format!("{text} (order #{order})"),
        (false, 1) => format!("Hi, {} here. {text} Order {order}.", NAMES_EN[name]),
        (false, _) => format!("{text} my order number is {order}"),
    }
}

/// The in-process router alone: messages per second over `threads` threads for `duration`
/// (the work itself, without HTTP or storage), on the texts as they are (`replay`) or with a
/// customer's detail added to each.
pub fn router_throughput(shop: &crate::engine::ShopEngine, texts: &[String], replay: bool, threads: usize, duration: Duration) -> f64 {
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads.max(1) {
            let done = &done;
            scope.spawn(move || {
                let ctx = crate::decide::ConversationContext { answered_faq_ids: Vec::new(), open_ticket_id: None, agents_online: true };
                let mut n = t;
                while started.elapsed() < duration {
                    let base = &texts[n % texts.len()];
                    let text = if replay { base.clone() } else { customer_text(base, &format!("router-{n}")) };
                    std::hint::black_box(shop.route(&text, &ctx));
                    n += threads;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The report as the command prints it.
pub fn print(opts: &LoadOptions, source: &Path, texts: usize, report: &Report, json: bool) {
    println!(
        "loadgen: {} target(s), {} concurrent clients, {:.0} s per phase after {:.0} s of warm-up ({} messages, not counted), {texts} texts from {}, {}",
        opts.urls.len(),
        opts.concurrency,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        report.warmup.requests,
        source.display(),
        if opts.replay { "replayed as they are (measures the cache)" } else { "each with a customer's own detail (every text new)" }
    );
    println!("{:<16} {:>9} {:>10} {:>8} {:>8} {:>8}  errors", "", "requests", "ok/s", "p50 ms", "p95 ms", "p99 ms");
    for (name, p) in [("POST messages", &report.messages), ("GET /healthz", &report.healthz)] {
        let errors = if p.errors.is_empty() {
            "0".to_string()
        } else {
            p.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
        };
        println!("{name:<16} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2}  {errors}", p.requests, p.per_second, p.p50_ms, p.p95_ms, p.p99_ms);
    }
    let (m, h) = (&report.messages, &report.healthz);
    if h.per_second > 0.0 && h.p99_ms > 0.0 {
        println!("messages / healthz: throughput x{:.3}, p99 x{:.1}", m.per_second / h.per_second, m.p99_ms / h.p99_ms);
    }
    if m.errors.contains_key("429") {
        println!("note: 429s are the service's rate limits; raise SMARTREPLY_LIMITS__SHOP_PER_MINUTE to measure capacity");
    }
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::customer_text;
    use std::collections::HashSet;

    #[test]
    fn every_customer_writes_the_question_their_own_way_in_its_language() {
        let texts = ["满多少包邮", "when will my order ship?"];
        let mut seen = HashSet::new();
        for seed in 0..2000 {
            for base in texts {
                let text = customer_text(base, &format!("lg-run-{}-{seed}", seed % 16));
                assert!(text.contains(base), "{text}");
                assert!(seen.insert(text.clone()), "a repeated text: {text}");
                let chinese_detail = text.replace(base, "").chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
                assert_eq!(chinese_detail, base == texts[0], "the detail is in the text's language: {text}");
            }
        }
    }
}
