//! Under load: agents reply while customers keep writing, on SQLite and PostgreSQL alike, and
//! no request fails with a 5xx ("database is locked" used to reach agents here).

use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const INBOUND_CLIENTS: usize = 6;
const MESSAGES_EACH: usize = 30;
const TICKETS: usize = 8;
const REPLIES_EACH: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_reply_during_inbound_load_and_no_request_fails() {
    let receiver = Receiver::start(200, 0).await;
    let app = spawn_app_with(Database::fresh().await, Options { callback_url: Some(receiver.url.clone()), ..Options::default() }).await;
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let answer = app.send(&format!("t-{i}"), &format!("tc-{i}"), "转人工，我要跟真人说").await;
        tickets.push(answer["ticket_id"].as_str().expect("escalated").to_string());
    }

    let inbound = (0..INBOUND_CLIENTS).map(|client| {
        let app = &app;
        async move {
            let mut statuses = Vec::new();
            for n in 0..MESSAGES_EACH {
                let text = ["满多少包邮", "退款多久到账", "我的快递到哪了", "这个有优惠券吗"][n % 4];
                let body = json!({
                    "message_id": format!("load-{client}-{n}"),
                    "conversation_id": format!("lc-{client}-{}", n % 4),
                    "customer_id": format!("lu-{client}"),
                    "text": text,
                })
                .to_string();
                statuses.push(app.post_signed("demo", DEMO_SECRET, now(), &body).await.status().as_u16());
            }
            statuses
        }
    });
    let replies = tickets.iter().map(|id| {
        let app = &app;
        async move {
            let mut statuses = Vec::new();
            for n in 0..REPLIES_EACH {
                let path = format!("/v1/tickets/{id}/reply");
                let body = json!({"text": format!("您好，第{n}次回复"), "draft": "edited"});
                statuses.push(app.agent_post(ALICE, &path, body).await.status().as_u16());
            }
            statuses
        }
    });
    let claims = tickets.iter().map(|id| {
        let app = &app;
        async move { vec![app.agent_post(ALICE, &format!("/v1/tickets/{id}/claim"), json!({})).await.status().as_u16()] }
    });
    let (inbound, replies, claims) = tokio::join!(join_all(inbound), join_all(replies), join_all(claims));

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for s in inbound.iter().chain(&replies).chain(&claims).flatten() {
        *by_status.entry(*s).or_default() += 1;
    }
    let total = INBOUND_CLIENTS * MESSAGES_EACH + TICKETS * REPLIES_EACH + TICKETS;
    assert_eq!(by_status.get(&200), Some(&total), "every request succeeds: {by_status:?}");

    let stats: serde_json::Value = app.agent_get(ALICE, "/v1/stats?shop=demo").await.json().await.unwrap();
    assert_eq!(stats["messages"], TICKETS + INBOUND_CLIENTS * MESSAGES_EACH);
    assert_eq!(stats["drafts"]["edited"], TICKETS * REPLIES_EACH);
    let got = receiver.wait_for(TICKETS * REPLIES_EACH, Duration::from_secs(30)).await;
    assert_eq!(got.len(), TICKETS * REPLIES_EACH, "every reply is delivered");
    app.finish().await;
    receiver.stop();
}

/// `smartreply loadgen`'s engine against the service at a URL: signed unique messages from an
/// evaluation file, an uncounted warm-up, then `/healthz`; every message sent is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_load_generator_measures_a_running_service_and_every_message_is_stored_once() {
    let tune: fn(&mut smartreply::config::Settings) = |s| {
        s.limits.shop_per_minute = 1_000_000;
        s.limits.customer_per_minute = 1_000_000;
    };
    let app = spawn_app_with(Database::fresh().await, Options { tune, ..Options::default() }).await;
    let (texts, _) = smartreply::loadgen::texts(Some(std::path::Path::new("tests/data/dev.jsonl"))).expect("the dev set");
    let opts = smartreply::loadgen::LoadOptions {
        urls: vec![app.address.clone()],
        secret: DEMO_SECRET.into(),
        shop: "demo".into(),
        concurrency: 4,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(500),
        data: None,
        progress: false,
        replay: false,
    };
    let report = smartreply::loadgen::run(&opts, texts).await.unwrap();
    let (warmup, messages, healthz) = (&report.warmup, &report.messages, &report.healthz);
    assert!(warmup.requests > 0 && messages.requests > 0 && healthz.requests > 0, "{report:?}");
    assert!(messages.errors.is_empty() && warmup.errors.is_empty() && healthz.errors.is_empty(), "{report:?}");
    assert!(messages.per_second > 0.0 && messages.p50_ms <= messages.p95_ms && messages.p95_ms <= messages.p99_ms, "{report:?}");
    let stats: serde_json::Value = app.agent_get(ALICE, "/v1/stats?shop=demo").await.json().await.unwrap();
    assert_eq!(stats["messages"], warmup.requests + messages.requests, "ids are unique across phases: {report:?}");
    app.finish().await;
}
