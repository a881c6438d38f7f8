//! In-process pipeline benchmark: the full `route()` of a message against the cost of
//! normalising it (the baseline measured in the same run, so the ratio survives noisy
//! machines). Messages are those of the shared development set and the held-out set.
//!
//! Run: `cargo bench --bench pipeline`. Needs `knowledge-base/demo` and `models/`.

use criterion::{criterion_group, criterion_main, Criterion};
use smartreply::decide::ConversationContext;
use smartreply::engine::{Engine, ShopSource};
use smartreply::understand::normalize::normalize;
use std::hint::black_box;
use std::path::Path;

fn messages() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["../shared/eval/dev.jsonl", "tests/data/holdout.jsonl"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && let Some(t) = v["text"].as_str()
                {
                    out.push(t.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        out = vec!["退款多久到账".into(), "Which courier do you use?".into(), "快递五天了还没到！！！".into()];
    }
    out
}

fn pipeline(c: &mut Criterion) {
    let engine = Engine::load(
        &[ShopSource { id: "demo".into(), knowledge_base: "knowledge-base/demo".into() }],
        Path::new("models"),
    )
    .expect("demo shop loads");
    let shop = engine.shop("demo").expect("demo shop");
    let texts = messages();
    let ctx = ConversationContext { agents_online: true, ..Default::default() };

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("baseline_normalize_all", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(normalize(black_box(t)));
            }
        })
    });
    group.bench_function("route_all", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(shop.route(black_box(t), &ctx));
            }
        })
    });
    group.finish();

    c.bench_function("engine_load_demo_shop", |b| {
        b.iter(|| {
            Engine::load(
                &[ShopSource { id: "demo".into(), knowledge_base: "knowledge-base/demo".into() }],
                Path::new("models"),
            )
            .expect("loads")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = pipeline
}
criterion_main!(benches);
