//! Inbound messages: answers, escalations, idempotency and the contract's refusals.

use crate::helpers::*;

#[tokio::test]
async fn a_faq_question_is_answered_at_once() {
    let app = spawn_app().await;
    let answer = app.send("m-1", "c-1", "满多少包邮呀？").await;
    assert_eq!(answer["decision"], "answered");
    assert_eq!(answer["reply"]["kind"], "answer");
    assert!(answer["reply"]["text"].as_str().unwrap().contains("59"), "{answer}");
    assert_eq!(answer["faq_id"], "shipping-fee");
    assert!(answer["ticket_id"].is_null());
    assert_eq!(answer["message_id"], "m-1");
    assert_eq!(answer["conversation_id"], "c-1");
    assert!(answer["intent"]["confidence"].as_f64().unwrap() > 0.5);
    app.finish().await;
}

#[tokio::test]
async fn the_first_words_of_a_chat_and_a_dispatch_question_are_answered_over_http() {
    let app = spawn_app().await;
    for (i, text) in ["在吗", "hi there"].iter().enumerate() {
        let answer = app.send(&format!("g-{i}"), &format!("cg-{i}"), text).await;
        assert_eq!(answer["decision"], "answered", "{text}: {answer}");
        assert_eq!(answer["faq_id"], "greeting", "{text}: {answer}");
    }
    let answer = app.send("d-1", "cd-1", "你们一般多久发货？").await;
    assert_eq!(answer["faq_id"], "ship-when", "{answer}");
    assert!(answer["reply"]["text"].as_str().unwrap().contains("16:00"), "{answer}");
    app.finish().await;
}

#[tokio::test]
async fn an_angry_message_is_escalated_with_a_ticket_a_draft_and_an_acknowledgement() {
    let app = spawn_app().await;
    let answer = app.send("m-1", "c-1", "快递一个星期了还没到，你们到底还发不发货！！！再不处理我就投诉").await;
    assert_eq!(answer["decision"], "escalated");
    assert_eq!(answer["reply"]["kind"], "acknowledgement");
    assert_eq!(answer["sentiment"]["label"], "negative");
    let ticket_id = answer["ticket_id"].as_str().expect("a ticket").to_string();
    let ticket: serde_json::Value = app.agent_get(ALICE, &format!("/v1/tickets/{ticket_id}")).await.json().await.unwrap();
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["priority"], "urgent");
    assert!(!ticket["draft"]["text"].as_str().unwrap().is_empty());
    assert!(ticket["due_at"].as_str().is_some());
    let roles: Vec<&str> = ticket["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["customer", "bot"]);
    app.finish().await;
}

#[tokio::test]
async fn a_repeated_message_id_gets_the_identical_answer_and_creates_nothing() {
    let app = spawn_app().await;
    let body =
        serde_json::json!({ "message_id": "dup-1", "conversation_id": "c-9", "customer_id": "u", "text": "我要投诉你们客服" }).to_string();
    let first = app.post_signed("demo", DEMO_SECRET, now(), &body).await.text().await.unwrap();
    let second = app.post_signed("demo", DEMO_SECRET, now(), &body).await.text().await.unwrap();
    assert_eq!(first, second);
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    assert_eq!(queue["tickets"].as_array().unwrap().len(), 1);
    let stats: serde_json::Value = app.agent_get(ALICE, "/v1/stats?shop=demo").await.json().await.unwrap();
    assert_eq!(stats["messages"], 1);
    app.finish().await;
}

#[tokio::test]
async fn a_later_message_joins_the_open_ticket_instead_of_being_answered() {
    let app = spawn_app().await;
    let first = app.send("m-1", "c-1", "转人工").await;
    let second = app.send("m-2", "c-1", "满多少包邮").await;
    assert_eq!(second["decision"], "escalated");
    assert_eq!(second["ticket_id"], first["ticket_id"]);
    app.finish().await;
}

#[tokio::test]
async fn the_same_answer_is_not_sent_twice_in_a_conversation() {
    let app = spawn_app().await;
    let first = app.send("m-1", "c-1", "退款多久到账").await;
    assert_eq!(first["decision"], "answered");
    let again = app.send("m-2", "c-1", "退款到底多久到账").await;
    assert_eq!(again["decision"], "escalated");
    let ticket: serde_json::Value =
        app.agent_get(ALICE, &format!("/v1/tickets/{}", again["ticket_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(ticket["reason"], "repeat_question");
    app.finish().await;
}

#[tokio::test]
async fn bad_signatures_and_stale_timestamps_are_refused_with_401() {
    let app = spawn_app().await;
    let body = r#"{"message_id":"m","conversation_id":"c","customer_id":"u","text":"hi"}"#;
    let wrong_key = app.post_signed("demo", RIVAL_SECRET, now(), body).await;
    assert_eq!(wrong_key.status(), 401);
    let error: serde_json::Value = wrong_key.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");
    assert_eq!(app.post_signed("demo", DEMO_SECRET, now() - 301, body).await.status(), 401);
    let unsigned = app.client.post(format!("{}/v1/shops/demo/messages", app.address)).body(body).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    app.finish().await;
}

#[tokio::test]
async fn malformed_json_and_bad_fields_are_400_in_the_contract_format() {
    let app = spawn_app().await;
    let response = app.post_signed("demo", DEMO_SECRET, now(), "{not json").await;
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "bad_request");
    assert!(error["error"]["message"].as_str().unwrap().contains("JSON"));
    let empty = r#"{"message_id":"m","conversation_id":"c","customer_id":"u","text":""}"#;
    assert_eq!(app.post_signed("demo", DEMO_SECRET, now(), empty).await.status(), 400);
    let long = serde_json::json!({"message_id":"m","conversation_id":"c","customer_id":"u","text":"字".repeat(4001)}).to_string();
    assert_eq!(app.post_signed("demo", DEMO_SECRET, now(), &long).await.status(), 400);
    app.finish().await;
}

#[tokio::test]
async fn an_oversize_body_is_413_and_an_unknown_shop_404() {
    let app = spawn_app().await;
    let huge = "x".repeat(200 * 1024);
    let response = app.post_signed("demo", DEMO_SECRET, now(), &huge).await;
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large");
    let body = r#"{"message_id":"m","conversation_id":"c","customer_id":"u","text":"hi"}"#;
    assert_eq!(app.post_signed("nope", DEMO_SECRET, now(), body).await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn a_flooding_customer_is_rate_limited_with_retry_after() {
    let app = spawn_app_with(Database::fresh().await, Options { customer_per_minute: 3, ..Options::default() }).await;
    for i in 0..3 {
        let body =
            serde_json::json!({"message_id": format!("r-{i}"), "conversation_id": "c", "customer_id": "flood", "text": "在吗"}).to_string();
        assert_eq!(app.post_signed("demo", DEMO_SECRET, now(), &body).await.status(), 200);
    }
    let body = r#"{"message_id":"r-3","conversation_id":"c","customer_id":"flood","text":"在吗"}"#;
    let limited = app.post_signed("demo", DEMO_SECRET, now(), body).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1);
    // A retry of an already answered message is not a new message: it is never limited.
    let replay = r#"{"message_id":"r-0","conversation_id":"c","customer_id":"flood","text":"在吗"}"#;
    assert_eq!(app.post_signed("demo", DEMO_SECRET, now(), replay).await.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    app.send("m-1", "c-1", "hello").await;
    let get = |p: &str| app.client.get(format!("{}{p}", app.address)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: serde_json::Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("smartreply_decisions_total"), "{metrics}");
    assert!(metrics.contains("smartreply_http_requests_total"));
    let doc: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/v1/shops/{shop}/messages"].is_object());
    app.finish().await;
}

/// What an agent's stream shows of a conversation: its message events' payloads and the
/// stream's ids, in stream order, read until `tickets` ticket events have come.
async fn agent_stream_from_start(app: &TestApp, tickets: usize) -> (Vec<serde_json::Value>, Vec<(i64, String)>) {
    let mut stream = app.client.get(format!("{}/v1/events?shop=demo&after=0", app.address)).bearer_auth(ALICE).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen.matches("event: ticket").count() < tickets {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("events within 10 s").unwrap().expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (mut messages, mut ids) = (Vec::new(), Vec::new());
    for block in seen.split("\n\n") {
        let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name).map(str::trim).map(String::from));
        let (Some(id), Some(kind)) = (field("id:"), field("event:")) else { continue };
        ids.push((id.parse().unwrap(), kind.clone()));
        if kind == "message" {
            messages.push(serde_json::from_str(&field("data:").unwrap()).unwrap());
        }
    }
    (messages, ids)
}

#[tokio::test]
async fn a_messages_events_come_in_order_and_carry_the_stored_sequence_numbers() {
    let app = spawn_app().await;
    // A new ticket, then a stronger message that joins and re-scores it (on PostgreSQL the
    // first is one statement, the second a transaction after a locked read).
    let first = app.send("o-1", "c-ord", "转人工，我要跟真人说").await;
    let ticket = first["ticket_id"].as_str().unwrap().to_string();
    let second = app.send("o-2", "c-ord", "你们太坑了，我要投诉，马上给我退款！！！").await;
    assert_eq!(second["ticket_id"], ticket.as_str(), "{second}");

    let (messages, ids) = agent_stream_from_start(&app, 2).await;
    let kinds: Vec<&str> = ids.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["message", "message", "ticket", "message", "message", "ticket"], "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0].0 < w[1].0), "stream ids increase: {ids:?}");
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["customer", "bot", "customer", "bot"]);

    // The payloads carry the sequence numbers the messages were stored with.
    let stored = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{ticket}")).await, 200).await;
    assert!(stored["rescored_at"].is_string(), "the complaint re-scored the ticket: {stored}");
    assert_eq!(stored["last_message"], "你们太坑了，我要投诉，马上给我退款！！！");
    let stored: Vec<(i64, String)> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m["id"].as_str().unwrap().to_string()))
        .collect();
    let streamed: Vec<(i64, String)> =
        messages.iter().map(|m| (m["seq"].as_i64().unwrap(), m["id"].as_str().unwrap().to_string())).collect();
    assert_eq!(streamed, stored);
    assert!(streamed.windows(2).all(|w| w[0].0 < w[1].0), "{streamed:?}");
    app.finish().await;
}
