//! In-process pipeline benchmark, every figure against baselines measured in the same run so
//! the ratios survive noisy machines:
//! - `normalize_all`: only normalising the messages (the floor);
//! - `route_all_lexical`: the whole router without the sentence encoder;
//! - `encoder_all_uncached`: one uncached forward pass of the encoder, message by message
//!   (criterion's median per iteration ÷ the number of messages is the per-message median);
//! - `encoder_all_batched_8`: the same messages eight to a forward pass, as concurrent
//!   messages share passes in the service;
//! - `route_all`: the whole router with the encoder, cache cleared between iterations.
//!
//! Messages are those of the development set (our copy in `tests/data/`) and our first held-out set. Run:
//! `cargo bench --bench pipeline` (single-threaded: the per-message figures are on one core;
//! `-- encoder` for the encoder alone). The encoder runs the best matrix kernel of the CPU;
//! `SMARTREPLY_ENCODER_KERNEL=avx512vnni` (or `avxvnni`, `avx2`, `portable`) measures another on the same
//! machine. Needs `knowledge-base/demo` and `models/`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use smartreply::decide::ConversationContext;
use smartreply::engine::{ENCODER_MODEL_FILE, Engine, ShopSource};
use smartreply::understand::encoder::{Encoder, Kind};
use smartreply::understand::normalize::normalize;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn messages() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["tests/data/dev.jsonl", "tests/data/holdout.jsonl"] {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("evaluation line");
            out.push(v["text"].as_str().expect("text").to_string());
        }
    }
    out
}

fn demo() -> Vec<ShopSource> {
    vec![ShopSource { id: "demo".into(), knowledge_base: "knowledge-base/demo".into() }]
}

fn pipeline(c: &mut Criterion) {
    let started = Instant::now();
    let engine = Engine::load(&demo(), Path::new("models")).expect("demo shop loads");
    eprintln!("loading the demo shop with the encoder: {:.1} s", started.elapsed().as_secs_f32());
    let started = Instant::now();
    let lexical = Engine::load_with(&demo(), Path::new("models"), false).expect("demo shop loads");
    eprintln!("loading the demo shop without it: {:.1} s", started.elapsed().as_secs_f32());
    let shop = engine.shop("demo").expect("demo shop");
    let lexical_shop = lexical.shop("demo").expect("demo shop");
    let encoder = Encoder::shared(&Path::new("models").join(ENCODER_MODEL_FILE)).expect("encoder");
    let texts = messages();
    let normalized: Vec<String> = texts.iter().map(|t| normalize(t).text).collect();
    let ctx = ConversationContext { agents_online: true, ..Default::default() };
    eprintln!("encoder kernel: {}", encoder.kernel().name());

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("normalize_all", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(normalize(black_box(t)));
            }
        })
    });
    group.bench_function("route_all_lexical", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(lexical_shop.route(black_box(t), &ctx));
            }
        })
    });
    group.bench_function("encoder_all_uncached", |b| {
        b.iter(|| {
            for t in &normalized {
                black_box(encoder.embed_uncached(Kind::Query, black_box(t)));
            }
        })
    });
    group.bench_function("encoder_all_batched_8", |b| {
        b.iter(|| {
            for batch in normalized.chunks(8) {
                let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
                black_box(encoder.compute_many(Kind::Query, black_box(&batch)));
            }
        })
    });
    group.bench_function("route_all", |b| {
        b.iter_batched(
            || encoder.clear_cache(),
            |()| {
                for t in &texts {
                    black_box(shop.route(black_box(t), &ctx));
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!("{} messages per iteration", texts.len());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = pipeline
}
criterion_main!(benches);
