//! The agent API: queues scoped to shops, claim, reply with draft outcomes, resolve, stats.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_ticket_is_in_its_shops_queue_and_invisible_to_another_shops_agent() {
    let app = spawn_app().await;
    let answer = app.send("m-1", "c-1", "少发了一瓶精华").await;
    let id = answer["ticket_id"].as_str().unwrap();
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    assert_eq!(queue["tickets"][0]["id"], id);
    assert_eq!(queue["tickets"][0]["reason"], "needs_human_action");
    assert_eq!(app.agent_get(MALLORY, &format!("/v1/tickets/{id}")).await.status(), 404);
    assert_eq!(app.agent_get(MALLORY, "/v1/tickets?shop=demo").await.status(), 404);
    assert_eq!(app.agent_post(MALLORY, &format!("/v1/tickets/{id}/claim"), json!({})).await.status(), 404);
    let rival: serde_json::Value = app.agent_get(MALLORY, "/v1/tickets?shop=rival").await.json().await.unwrap();
    assert!(rival["tickets"].as_array().unwrap().is_empty());
    assert_eq!(app.agent_get("not-a-token", "/v1/tickets?shop=demo").await.status(), 401);
    app.finish().await;
}

#[tokio::test]
async fn the_queue_puts_the_most_urgent_first() {
    let app = spawn_app().await;
    app.send("m-1", "c-1", "转人工").await;
    app.send("m-2", "c-2", "再不退款我就去12315投诉你们，骗子").await;
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo").await.json().await.unwrap();
    let priorities: Vec<&str> = queue["tickets"].as_array().unwrap().iter().map(|t| t["priority"].as_str().unwrap()).collect();
    assert_eq!(priorities, vec!["urgent", "normal"]);
    app.finish().await;
}

#[tokio::test]
async fn an_agent_claims_replies_and_resolves_and_the_stats_count_it() {
    let app = spawn_app().await;
    let answer = app.send("m-1", "c-1", "瓶子碎了，漏了一地").await;
    app.send("m-2", "c-2", "满多少包邮").await;
    let id = answer["ticket_id"].as_str().unwrap();
    let claimed: serde_json::Value = app.agent_post(ALICE, &format!("/v1/tickets/{id}/claim"), json!({})).await.json().await.unwrap();
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["claimed_by"], "alice");
    let bad = app.agent_post(ALICE, &format!("/v1/tickets/{id}/reply"), json!({"text": "hi", "draft": "maybe"})).await;
    assert_eq!(bad.status(), 400);
    let reply = app
        .agent_post(
            ALICE,
            &format!("/v1/tickets/{id}/reply"),
            json!({"text": "非常抱歉，马上为您补发", "draft": "edited", "resolve": true}),
        )
        .await;
    assert_eq!(reply.status(), 200);
    let reply: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(reply["ticket"]["status"], "resolved");
    assert_eq!(reply["in_reply_to"], "m-1");
    assert_eq!(app.agent_post(ALICE, &format!("/v1/tickets/{id}/resolve"), json!({})).await.status(), 409);
    let stats: serde_json::Value = app.agent_get(ALICE, "/v1/stats?shop=demo").await.json().await.unwrap();
    assert_eq!(stats["messages"], 2);
    assert_eq!(stats["answered"], 1);
    assert_eq!(stats["escalated"], 1);
    assert_eq!(stats["auto_answer_rate"], 0.5);
    assert_eq!(stats["drafts"]["edited"], 1);
    assert_eq!(stats["open_tickets"], 0);
    assert!(stats["first_response_ms"]["p50"].as_i64().is_some());
    let series: serde_json::Value = app.agent_get(ALICE, "/v1/stats/timeseries?shop=demo&hours=3").await.json().await.unwrap();
    let buckets = series["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets[2]["messages"], 2);
    let drafts: serde_json::Value = app.agent_get(ALICE, "/v1/stats/drafts?shop=demo").await.json().await.unwrap();
    assert_eq!(drafts["intents"][0]["edited"], 1);
    app.finish().await;
}

#[tokio::test]
async fn quick_phrases_and_identity_are_served_to_agents() {
    let app = spawn_app().await;
    let me: serde_json::Value = app.agent_get(ALICE, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["name"], "alice");
    let phrases: serde_json::Value = app.agent_get(ALICE, "/v1/shops/demo/quick-phrases").await.json().await.unwrap();
    assert!(phrases["phrases"].as_array().unwrap().iter().any(|p| p["key"] == "sorry"));
    assert_eq!(app.agent_get(MALLORY, "/v1/shops/demo/quick-phrases").await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn the_agent_event_stream_announces_a_new_ticket() {
    let app = spawn_app().await;
    let mut stream = app.client.get(format!("{}/v1/events?shop=demo", app.address)).bearer_auth(ALICE).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let answer = app.send("m-1", "c-1", "转人工，我要跟真人说").await;
    let id = answer["ticket_id"].as_str().unwrap().to_string();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("event: ticket") || !seen.contains(&id) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("event within 10 s")
            .unwrap()
            .unwrap_or_else(|| panic!("stream ended; got {seen:?}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    app.finish().await;
}
