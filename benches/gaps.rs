//! Gap mining over 10,000 escalations (issue 26): how long grouping them by meaning takes, and
//! what embedding them costs.
//!
//! - `cluster_10k`: [`smartreply::learn::gaps::cluster`] over 10,000 unit vectors of real
//!   sentence embeddings: 2,000 escalation-like messages written for this benchmark (40 topics
//!   the demo knowledge base lacks, Chinese and English, each message with its own details)
//!   embedded by the encoder, each then repeated five times with a small random perturbation
//!   (what customers asking the same thing in their own words look like to the encoder);
//! - `calibrate_threshold_demo`: the grouping threshold from the demo shop's FAQ phrasings.
//!
//! Printed once before the benchmarks: the encoder's time for the 2,000 new texts on every core
//! (gap mining embeds each escalated message once; the service's embedding cache and the
//! router's own pass over a message are not reused). Run: `cargo bench --bench gaps`. Needs
//! `models/` and `knowledge-base/demo`.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use smartreply::engine::{ENCODER_MODEL_FILE, Engine, ShopSource};
use smartreply::learn::gaps::{DEFAULT_THRESHOLD, calibrate_threshold, cluster};
use smartreply::understand::encoder::{Encoder, Kind};
use smartreply::understand::normalize::normalize;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Questions about things the demo shop's knowledge base does not cover.
const TOPICS: &[&str] = &[
    "你们有实体店吗",
    "会员积分怎么用",
    "有粉丝群吗",
    "可以刻字定制吗",
    "能开增值税专票吗",
    "可以分期付款吗",
    "支持花呗吗",
    "孕妇能用这个面霜吗",
    "这个精华适合油皮吗",
    "男士可以用吗",
    "有没有试用装",
    "可以批发吗",
    "能寄到海外仓吗",
    "可以帮我包成礼物吗",
    "有中文说明书吗",
    "这个茶叶是今年的新茶吗",
    "保健品一天吃几粒",
    "可以和别的店一起发货吗",
    "能指定送货时间吗",
    "可以放快递柜吗",
    "do you have a physical store",
    "how do loyalty points work",
    "is there a fan group",
    "can you engrave a name on it",
    "can I pay in installments",
    "is this cream safe during pregnancy",
    "is this serum good for oily skin",
    "can men use this product",
    "do you have trial sizes",
    "do you sell wholesale",
    "can I choose a delivery time slot",
    "can it go to a parcel locker",
    "is the tea from this year's harvest",
    "how many capsules a day",
    "do you offer gift wrapping",
    "is there an english manual",
    "can you ship with my other order",
    "do you price match other shops",
    "can I reserve an item before launch",
    "do you have a student discount",
];

const OPENERS_ZH: &[&str] = &["", "你好，", "亲，", "请问", "想问下，", "在吗，"];
const CLOSERS_ZH: &[&str] = &["", "？", "呀", "谢谢", "急", "～"];
const OPENERS_EN: &[&str] = &["", "hi, ", "hello, ", "quick question: ", "hey "];
const CLOSERS_EN: &[&str] = &["", "?", " thanks", " please", "??"];

/// 2,000 distinct messages: each topic fifty times with an opener, a closer and a detail of its own.
fn messages() -> Vec<String> {
    let mut out = Vec::new();
    for (t, topic) in TOPICS.iter().enumerate() {
        let zh = topic.chars().any(|c| c > '\u{2e80}');
        for i in 0..50 {
            let detail = 100 + t * 50 + i;
            out.push(if zh {
                format!("{}{}{} 我是第{detail}号客户", OPENERS_ZH[i % OPENERS_ZH.len()], topic, CLOSERS_ZH[i / 6 % CLOSERS_ZH.len()])
            } else {
                format!("{}{}{} (customer {detail})", OPENERS_EN[i % OPENERS_EN.len()], topic, CLOSERS_EN[i / 5 % CLOSERS_EN.len()])
            });
        }
    }
    out
}

/// Ten thousand unit vectors: each embedding five times, nudged by a little noise.
fn ten_thousand(embeddings: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(26);
    let mut out = Vec::with_capacity(embeddings.len() * 5);
    for copy in 0..5 {
        for e in embeddings {
            let mut v: Vec<f32> = e.iter().map(|x| if copy == 0 { *x } else { x + rng.random_range(-0.01f32..0.01) }).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            out.push(v);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let encoder = Encoder::load(&Path::new("models").join(ENCODER_MODEL_FILE)).expect("encoder loads");
    let texts: Vec<String> = messages().iter().map(|m| normalize(m).text).collect();
    let started = Instant::now();
    let embedded: Vec<Vec<f32>> = encoder.embed_all(Kind::Query, &texts).iter().map(|e| e.to_vec()).collect();
    let seconds = started.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "embedding {} new escalations: {seconds:.1} s on {threads} thread(s) ({:.1} ms each; 10,000 would take {:.0} s)",
        texts.len(),
        seconds * 1000.0 / texts.len() as f64,
        seconds * 10_000.0 / texts.len() as f64
    );
    let vectors = ten_thousand(&embedded);
    let refs: Vec<&[f32]> = vectors.iter().map(|v| &v[..]).collect();
    let engine = Engine::load(&[ShopSource { id: "demo".into(), knowledge_base: "knowledge-base/demo".into() }], Path::new("models"))
        .expect("demo shop loads");
    let shop = engine.shop("demo").expect("demo");
    let phrasings = shop.phrasing_embeddings();
    let threshold = calibrate_threshold(&phrasings);
    let topics = cluster(&refs, threshold);
    println!(
        "threshold {threshold:.3} (default {DEFAULT_THRESHOLD}); {} vectors → {} groups, {} of 2+ messages",
        refs.len(),
        topics.len(),
        topics.iter().filter(|t| t.len() >= 2).count()
    );
    let mut group = c.benchmark_group("gaps");
    group.sample_size(10);
    group.bench_function("cluster_10k", |b| b.iter(|| black_box(cluster(black_box(&refs), threshold))));
    group.bench_function("calibrate_threshold_demo", |b| b.iter(|| black_box(calibrate_threshold(black_box(&phrasings)))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
