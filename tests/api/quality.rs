//! Satisfaction, inspection and the scorecard: a resolution opens a survey (the widget's
//! stream, the shop's signed `survey` event), ratings and 👍/👎 are stored once and feed the
//! inspection sample, inspectors score it, and the scorecard's arithmetic matches a
//! hand-computed example.

use crate::helpers::*;
use serde_json::{Value, json};
use smartreply::ingest::signature::verify;
use std::time::Duration;

async fn reply(app: &TestApp, id: &str, text: &str, draft: &str, resolve: bool) {
    let body = json!({"text": text, "draft": draft, "resolve": resolve});
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{id}/reply"), body).await, 200).await;
}

/// Reads the visitor's event stream from the start until `needle` appears (10 s at most).
async fn widget_stream_until(app: &TestApp, visitor: &str, token: &str, needle: &str) -> String {
    let mut stream = app
        .client
        .get(format!("{}/v1/widget/demo/events?visitor_id={visitor}", app.address))
        .header("X-Widget-Key", WIDGET_KEY)
        .header("Origin", "http://shop.example")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("event within 10 s").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_else(|| panic!("stream ended; got {seen:?}"))));
    }
    seen
}

fn survey_id_in(stream: &str) -> String {
    let data = stream.split("event: survey").nth(1).unwrap().lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    serde_json::from_str::<Value>(data).unwrap()["survey_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_resolved_ticket_asks_the_widget_shopper_to_rate_it_once() {
    let app = spawn_app().await;
    let (visitor_id, token) = app.visitor().await;
    let sent = json_of(
        app.widget_post(&token, "messages", json!({"visitor_id": visitor_id, "client_message_id": "1", "text": "少发了一瓶精华"})).await,
        200,
    )
    .await;
    let ticket = sent["ticket_id"].as_str().unwrap().to_string();
    reply(&app, &ticket, "抱歉，马上为您补发", "edited", true).await;
    let stream = widget_stream_until(&app, &visitor_id, &token, "event: survey").await;
    let survey = survey_id_in(&stream);

    // Another visitor cannot rate it; the shopper rates it once, 1 to 5.
    let (other, other_token) = app.visitor().await;
    assert_eq!(app.widget_post(&other_token, &format!("surveys/{survey}"), json!({"visitor_id": other, "rating": 5})).await.status(), 404);
    let path = format!("surveys/{survey}");
    assert_eq!(app.widget_post(&token, &path, json!({"visitor_id": visitor_id, "rating": 6})).await.status(), 400);
    let rated = app.widget_post(&token, &path, json!({"visitor_id": visitor_id, "rating": 2, "comment": "太慢了"})).await;
    assert_eq!(rated.status(), 200);
    assert_eq!(rated.headers()["access-control-allow-origin"], "http://shop.example");
    assert_eq!(app.widget_post(&token, &path, json!({"visitor_id": visitor_id, "rating": 5})).await.status(), 409);

    // Two stars put the agent's reply in the inspection sample, with the rating and its comment.
    let sample = json_of(app.agent_get(INES, "/v1/inspections?shop=demo&status=pending").await, 200).await;
    let items = sample["inspections"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{sample}");
    assert_eq!(items[0]["why"], "low_rating");
    assert_eq!(items[0]["rating"], 2);
    assert_eq!(items[0]["rating_comment"], "太慢了");
    assert_eq!(items[0]["agent"], "alice");
    assert_eq!(items[0]["text"], "抱歉，马上为您补发");
    assert_eq!(items[0]["customer_text"], "少发了一瓶精华");
    app.finish().await;
}

#[tokio::test]
async fn a_webhook_shop_gets_a_signed_survey_event_and_sends_the_rating_back_signed() {
    let receiver = Receiver::start(200, 0).await;
    let app = spawn_app_with(Database::fresh().await, Options { callback_url: Some(receiver.url.clone()), ..Options::default() }).await;
    let ticket = app.send("m-1", "c-1", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{ticket}/resolve"), json!({})).await, 200).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let header = |n: &str| got[0].headers.get(n).and_then(|v| v.to_str().ok());
    assert_eq!(verify(DEMO_SECRET, header("x-smartreply-timestamp"), header("x-smartreply-signature"), &got[0].body, now()), Ok(()));
    let event: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(event["event"], "survey");
    assert_eq!(event["version"], 1);
    assert_eq!(event["ticket_id"], ticket.as_str());
    assert_eq!(event["conversation_id"], "c-1");
    assert_eq!(event["scale"], json!({"min": 1, "max": 5}));
    let survey = event["survey_id"].as_str().unwrap();
    assert_eq!(event["message_id"], survey);

    let path = format!("/v1/shops/demo/surveys/{survey}");
    assert_eq!(app.post_signed_to(&path, RIVAL_SECRET, &json!({"rating": 4})).await.status(), 401);
    assert_eq!(app.post_signed_to(&format!("/v1/shops/rival/surveys/{survey}"), RIVAL_SECRET, &json!({"rating": 4})).await.status(), 404);
    json_of(app.post_signed_to(&path, DEMO_SECRET, &json!({"rating": 4})).await, 200).await;
    assert_eq!(app.post_signed_to(&path, DEMO_SECRET, &json!({"rating": 4})).await.status(), 409);
    // Four stars are not a low rating: nothing to inspect.
    let sample = json_of(app.agent_get(INES, "/v1/inspections?shop=demo").await, 200).await;
    assert!(sample["inspections"].as_array().unwrap().is_empty());
    receiver.stop();
    app.finish().await;
}

#[tokio::test]
async fn a_thumbs_down_puts_the_answer_in_the_sample_and_only_inspectors_score_it() {
    let app = spawn_app().await;
    let (visitor_id, token) = app.visitor().await;
    json_of(
        app.widget_post(&token, "messages", json!({"visitor_id": visitor_id, "client_message_id": "1", "text": "满多少包邮"})).await,
        200,
    )
    .await;
    let history = app.widget_history(&visitor_id, &token).await;
    let answer = history["messages"].as_array().unwrap().iter().find(|m| m["kind"] == "answer").expect("the bot answered");
    let path = format!("answers/{}/feedback", answer["id"].as_str().unwrap());
    let (other, other_token) = app.visitor().await;
    assert_eq!(app.widget_post(&other_token, &path, json!({"visitor_id": other, "helpful": false})).await.status(), 404);
    assert_eq!(app.widget_post(&token, &path, json!({"visitor_id": visitor_id, "helpful": false})).await.status(), 200);

    let sample = json_of(app.agent_get(INES, "/v1/inspections?shop=demo&status=pending").await, 200).await;
    let item = &sample["inspections"][0];
    assert_eq!(
        (item["why"].as_str(), item["author_type"].as_str(), item["helpful"].as_bool()),
        (Some("thumbs_down"), Some("bot"), Some(false))
    );
    assert_eq!(item["customer_text"], "满多少包邮");
    let id = item["id"].as_str().unwrap();
    let checklist = json!({"correct": true, "polite": true, "compliant": true, "no_blind_canned": false, "note": "答非所问"});
    assert_eq!(app.agent_post(ALICE, &format!("/v1/inspections/{id}"), checklist.clone()).await.status(), 403);
    assert_eq!(app.agent_post(INES, "/v1/inspections/insp-nope", checklist.clone()).await.status(), 404);
    assert_eq!(app.agent_post(INES, &format!("/v1/inspections/{id}"), json!({"correct": true})).await.status(), 400);
    let misspelt = json!({"correct": true, "polite": true, "compliant": true, "no_blind_canned": true, "notes": "x"});
    assert_eq!(app.agent_post(INES, &format!("/v1/inspections/{id}"), misspelt).await.status(), 400, "an unknown key is refused");
    let scored = json_of(app.agent_post(INES, &format!("/v1/inspections/{id}"), checklist).await, 200).await;
    assert_eq!(
        (scored["status"].as_str(), scored["passed"].as_bool(), scored["inspector"].as_str()),
        (Some("scored"), Some(false), Some("ines"))
    );
    let pending = json_of(app.agent_get(INES, "/v1/inspections?shop=demo&status=pending").await, 200).await;
    assert!(pending["inspections"].as_array().unwrap().is_empty());
    app.finish().await;
}

#[tokio::test]
async fn the_sample_rate_draws_bot_answers_and_agent_replies() {
    let app = spawn_app_with(
        Database::fresh().await,
        Options { tune: |s| s.shops.iter_mut().for_each(|shop| shop.inspection_sample_rate = 1.0), ..Options::default() },
    )
    .await;
    app.send("m-1", "c-1", "满多少包邮").await;
    let ticket = app.send("m-2", "c-2", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    reply(&app, &ticket, "您好，我来帮您", "edited", false).await;
    let sample = json_of(app.agent_get(INES, "/v1/inspections?shop=demo").await, 200).await;
    let mut kinds: Vec<(String, String)> = sample["inspections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["author_type"].as_str().unwrap().to_string(), i["why"].as_str().unwrap().to_string()))
        .collect();
    kinds.sort();
    assert_eq!(kinds, [("agent".to_string(), "sampled".to_string()), ("bot".to_string(), "sampled".to_string())]);
    app.finish().await;
}

#[tokio::test]
async fn a_ticket_moves_to_the_second_line_with_a_note() {
    let app = spawn_app().await;
    let ticket = app.send("m-1", "c-1", "再不退款我就去12315投诉你们，骗子").await["ticket_id"].as_str().unwrap().to_string();
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{ticket}/claim"), json!({})).await, 200).await;
    let path = format!("/v1/tickets/{ticket}/transfer");
    assert_eq!(app.agent_post(ALICE, &path, json!({"note": "  "})).await.status(), 400);
    assert_eq!(app.agent_post(MALLORY, &path, json!({"note": "x"})).await.status(), 404);
    let moved = json_of(app.agent_post(ALICE, &path, json!({"note": "顾客要求赔偿，需二线判断"})).await, 200).await;
    assert_eq!((moved["tier"].as_str(), moved["status"].as_str()), (Some("second"), Some("open")));
    assert!(moved["claimed_by"].is_null());
    assert_eq!(moved["transfer_note"], "顾客要求赔偿，需二线判断");
    let second = json_of(app.agent_get(ALICE, "/v1/tickets?shop=demo&tier=second").await, 200).await;
    assert_eq!(second["tickets"][0]["id"], ticket.as_str());
    let first = json_of(app.agent_get(ALICE, "/v1/tickets?shop=demo&tier=first").await, 200).await;
    assert!(first["tickets"].as_array().unwrap().is_empty());
    assert_eq!(app.agent_get(ALICE, "/v1/tickets?shop=demo&tier=third").await.status(), 400);
    app.finish().await;
}

#[tokio::test]
async fn the_scorecard_matches_a_hand_computed_example() {
    let app = spawn_app().await;
    // alice: T1 accepted + resolved, rated 5; T2 edited, left open; T3 rejected + resolved,
    // rated 2, and ines fails her reply on inspection.
    let t1 = app.send("m-1", "c-1", "少发了一瓶精华").await["ticket_id"].as_str().unwrap().to_string();
    let t2 = app.send("m-2", "c-2", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    let t3 = app.send("m-3", "c-3", "瓶子碎了，漏了一地").await["ticket_id"].as_str().unwrap().to_string();
    let d1 = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{t1}")).await, 200).await["draft"]["text"].as_str().unwrap().to_string();
    reply(&app, &t1, &d1, "accepted", true).await;
    reply(&app, &t2, "您好，请问有什么可以帮您？", "edited", false).await;
    reply(&app, &t3, "请提供照片", "rejected", true).await;
    // The surveys, as a webhook shop would rate them.
    let surveys = surveys_of(&app, &[&t1, &t3]).await;
    json_of(app.post_signed_to(&format!("/v1/shops/demo/surveys/{}", surveys[0]), DEMO_SECRET, &json!({"rating": 5})).await, 200).await;
    json_of(app.post_signed_to(&format!("/v1/shops/demo/surveys/{}", surveys[1]), DEMO_SECRET, &json!({"rating": 2})).await, 200).await;
    let sample = json_of(app.agent_get(INES, "/v1/inspections?shop=demo").await, 200).await;
    let item = sample["inspections"].as_array().unwrap().iter().find(|i| i["ticket_id"] == t3.as_str()).unwrap().clone();
    let fail = json!({"correct": true, "polite": false, "compliant": true, "no_blind_canned": true});
    json_of(app.agent_post(INES, &format!("/v1/inspections/{}", item["id"].as_str().unwrap()), fail).await, 200).await;

    let card = json_of(app.agent_get(ALICE, "/v1/scorecard?shop=demo&period=day").await, 200).await;
    assert_eq!(card["weights"], json!({"satisfaction": 40.0, "speed": 30.0, "resolution": 20.0, "compliance": 10.0}));
    let agents = card["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{card}");
    let alice = &agents[0];
    assert_eq!(alice["agent"], "alice");
    assert_eq!((alice["tickets"].as_i64(), alice["resolved"].as_i64()), (Some(3), Some(2)));
    assert_eq!((alice["ratings"].as_i64(), alice["csat"].as_f64()), (Some(2), Some(0.5)));
    assert_eq!((alice["inspected"].as_i64(), alice["compliance"].as_f64()), (Some(1), Some(0.0)));
    assert_eq!((alice["speed"].as_f64(), alice["sla_breaches"].as_i64()), (Some(1.0), Some(0)));
    assert_eq!(alice["drafts"], json!({"accepted": 1, "edited": 1, "rejected": 1}));
    // 40 × 0.5 + 30 × 1 + 20 × 2/3 + 10 × 0 = 63.3.
    assert_eq!(alice["score"].as_f64(), Some(63.3));
    assert!(alice["first_response_ms"]["p50"].as_i64().is_some());
    assert_eq!(card["team"]["score"].as_f64(), Some(63.3));
    assert_eq!(card["bot"]["answers"], 0);

    let csv = app.agent_get(ALICE, "/v1/scorecard/export?shop=demo&period=week").await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let alice_line = csv.lines().find(|l| l.contains(",alice,")).expect("alice's row");
    assert!(alice_line.ends_with(",63.3"), "{alice_line}");
    assert_eq!(app.agent_get(ALICE, "/v1/scorecard?shop=demo&period=month").await.status(), 400);
    assert_eq!(app.agent_get(MALLORY, "/v1/scorecard?shop=demo").await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn the_shops_weights_change_the_score() {
    let app = spawn_app_with(
        Database::fresh().await,
        Options {
            tune: |s| {
                for shop in &mut s.shops {
                    shop.scorecard = smartreply::quality::Weights { satisfaction: 1.0, speed: 0.0, resolution: 0.0, compliance: 0.0 };
                }
            },
            ..Options::default()
        },
    )
    .await;
    let t = app.send("m-1", "c-1", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    reply(&app, &t, "好的", "rejected", true).await;
    let survey = surveys_of(&app, &[&t]).await.remove(0);
    json_of(app.post_signed_to(&format!("/v1/shops/demo/surveys/{survey}"), DEMO_SECRET, &json!({"rating": 4})).await, 200).await;
    let card = json_of(app.agent_get(ALICE, "/v1/scorecard?shop=demo").await, 200).await;
    assert_eq!(card["agents"][0]["score"].as_f64(), Some(100.0), "satisfaction alone: 4 stars is satisfied");
    app.finish().await;
}

/// The survey ids of resolved tickets, as `GET /v1/tickets/{id}` shows them.
async fn surveys_of(app: &TestApp, tickets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tickets {
        let ticket = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{t}")).await, 200).await;
        out.push(ticket["survey"]["id"].as_str().unwrap_or_else(|| panic!("ticket {t} has a survey: {ticket}")).to_string());
    }
    out
}

#[tokio::test]
async fn a_survey_rated_at_once_from_two_places_keeps_one_rating_and_credits_the_resolver() {
    let app = spawn_app().await;
    let ticket = app.send("m-1", "c-1", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{ticket}/claim"), json!({})).await, 200).await;
    // Claimed by alice, resolved by ines: the rating is ines's.
    json_of(app.agent_post(INES, &format!("/v1/tickets/{ticket}/resolve"), json!({})).await, 200).await;
    let survey = surveys_of(&app, &[&ticket]).await.remove(0);
    let path = format!("/v1/shops/demo/surveys/{survey}");
    let bodies: Vec<Value> = (1..=5).map(|r| json!({"rating": r})).collect();
    let ratings = bodies.iter().map(|b| app.post_signed_to(&path, DEMO_SECRET, b));
    let mut statuses: Vec<u16> = futures_util::future::join_all(ratings).await.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409]);
    let detail = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{ticket}")).await, 200).await;
    assert_eq!(detail["survey"]["agent"], "ines");
    assert_eq!(detail["survey"]["answered_by"], "bot", "no person replied");
    app.finish().await;
}
