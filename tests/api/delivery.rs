//! Agent replies delivered to the shop's callback: signed, retried, surviving restarts.

use crate::helpers::*;
use serde_json::json;
use smartreply::ingest::signature::verify;
use std::time::Duration;

async fn escalate_and_reply(app: &TestApp) -> String {
    let answer = app.send("m-1", "c-1", "收到的是错的颜色，我买的是02号").await;
    let id = answer["ticket_id"].as_str().unwrap().to_string();
    let reply =
        app.agent_post(ALICE, &format!("/v1/tickets/{id}/reply"), json!({"text": "抱歉，马上为您补发02号", "draft": "accepted"})).await;
    assert_eq!(reply.status(), 200);
    id
}

/// The pending deliveries once one of them has been attempted (and failed) at least once;
/// fails after 10 s.
async fn pending_after_a_failed_attempt(app: &TestApp) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: serde_json::Value = app.agent_get(ALICE, "/v1/outbox?shop=demo&status=pending").await.json().await.unwrap();
        let rows = v["deliveries"].as_array().cloned().unwrap_or_default();
        if rows.iter().any(|r| r["attempts"].as_i64().unwrap_or(0) >= 1) {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "no failed delivery attempt within 10 s: {rows:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn an_agent_reply_reaches_the_callback_signed_with_the_shop_secret() {
    let receiver = Receiver::start(200, 0).await;
    let app = spawn_app_with(Database::fresh().await, Options { callback_url: Some(receiver.url.clone()), ..Options::default() }).await;
    escalate_and_reply(&app).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "delivered once");
    let r = &got[0];
    let header = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
    assert_eq!(verify(DEMO_SECRET, header("x-smartreply-timestamp"), header("x-smartreply-signature"), &r.body, now()), Ok(()));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["event"], "reply");
    assert_eq!(body["shop"], "demo");
    assert_eq!(body["conversation_id"], "c-1");
    assert_eq!(body["in_reply_to"], "m-1");
    assert_eq!(body["text"], "抱歉，马上为您补发02号");
    assert_eq!(body["author"], json!({"type": "agent", "name": "alice"}));
    assert!(body["message_id"].as_str().unwrap().starts_with("agent-"));
    assert!(body["sent_at"].as_str().is_some());
    assert_eq!(app.wait_for_outbox("delivered", 1).await.len(), 1);
    app.finish().await;
    receiver.stop();
}

#[tokio::test]
async fn a_reply_is_delivered_after_a_restart_while_the_receiver_was_down() {
    let port = free_port().await;
    let callback = format!("http://127.0.0.1:{port}/replies");
    let opts = || Options { callback_url: Some(callback.clone()), max_attempts: 1000, ..Options::default() };
    let app = spawn_app_with(Database::fresh().await, opts()).await;
    escalate_and_reply(&app).await;
    // The receiver is down: the first attempts fail and the row stays pending.
    let pending = pending_after_a_failed_attempt(&app).await;
    assert_eq!(pending.len(), 1);
    let db = app.stop().await;

    let receiver = Receiver::start(200, port).await;
    let app = spawn_app_with(db, opts()).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the outbox survived the restart");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["in_reply_to"], "m-1");
    app.finish().await;
    receiver.stop();
}

#[tokio::test]
async fn an_undeliverable_reply_ends_failed_and_visible() {
    let receiver = Receiver::start(500, 0).await;
    let app = spawn_app_with(
        Database::fresh().await,
        Options { callback_url: Some(receiver.url.clone()), max_attempts: 2, ..Options::default() },
    )
    .await;
    escalate_and_reply(&app).await;
    let failed = app.wait_for_outbox("failed", 1).await;
    assert_eq!(failed.len(), 1, "the reply ended failed");
    let row = &failed[0];
    assert_eq!(row["status"], "failed");
    assert_eq!(row["attempts"], 2);
    assert!(row["last_error"].as_str().unwrap().contains("500"));
    assert_eq!(receiver.received.lock().unwrap().len(), 2);
    app.finish().await;
    receiver.stop();
}
