//! Tickets follow the conversation: a later message re-scores the open ticket as strongly as
//! the same message would score a new one, and its deadline only ever moves in.

use crate::helpers::*;

async fn ticket(app: &TestApp, id: &str) -> serde_json::Value {
    app.agent_get(ALICE, &format!("/v1/tickets/{id}")).await.json().await.unwrap()
}

fn due(t: &serde_json::Value) -> jiff::Timestamp {
    t["due_at"].as_str().unwrap().parse().unwrap()
}

/// The ticket the same text opens in a conversation of its own.
async fn alone(app: &TestApp, text: &str) -> serde_json::Value {
    let answer = app.send("alone-1", "alone", text).await;
    ticket(app, answer["ticket_id"].as_str().expect("the text alone escalates")).await
}

#[tokio::test]
async fn a_later_threat_makes_an_open_ticket_urgent_with_its_reason_and_an_earlier_deadline() {
    let app = spawn_app().await;
    let first = app.send("m-1", "c-1", "转人工").await;
    let id = first["ticket_id"].as_str().unwrap().to_string();
    let before = ticket(&app, &id).await;
    assert_eq!((before["priority"].as_str(), before["reason"].as_str()), (Some("normal"), Some("human_requested")));
    assert!(before["rescored_at"].is_null());

    let later = app.send("m-2", "c-1", "我要打12315投诉你们").await;
    assert_eq!(later["ticket_id"], id.as_str(), "the message joins the open ticket");
    let after = ticket(&app, &id).await;
    let fresh = alone(&app, "我要打12315投诉你们").await;
    assert_eq!(after["priority"], "urgent");
    assert_eq!(after["priority"], fresh["priority"], "as urgent as the same text in a new conversation");
    assert_eq!(after["reason"], fresh["reason"]);
    assert_ne!(after["reason"], "human_requested");
    assert!(due(&after) < due(&before), "the deadline moved in: {} → {}", before["due_at"], after["due_at"]);
    assert!(after["rescored_at"].is_string());
    assert_eq!(after["draft"], fresh["draft"], "the draft answers the message that re-scored it");
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo").await.json().await.unwrap();
    assert_eq!(queue["tickets"][0]["id"], id.as_str(), "an urgent ticket heads the queue");
    app.finish().await;
}

#[tokio::test]
async fn an_english_demand_in_capitals_raises_an_open_ticket_like_a_new_one() {
    let app = spawn_app().await;
    let id = app.send("m-1", "c-1", "can I talk to a person please").await["ticket_id"].as_str().unwrap().to_string();
    let before = ticket(&app, &id).await;
    assert_eq!(before["priority"], "normal");
    app.send("m-2", "c-1", "refund NOW!!! this is ridiculous").await;
    let after = ticket(&app, &id).await;
    let fresh = alone(&app, "refund NOW!!! this is ridiculous").await;
    assert_ne!(fresh["priority"], "normal", "the text alone is not a normal ticket: {fresh}");
    assert_eq!((&after["priority"], &after["reason"]), (&fresh["priority"], &fresh["reason"]));
    assert!(due(&after) <= due(&before));
    app.finish().await;
}

#[tokio::test]
async fn a_calmer_message_changes_nothing() {
    let app = spawn_app().await;
    let id = app.send("m-1", "c-1", "再不退款我就去12315投诉你们，骗子").await["ticket_id"].as_str().unwrap().to_string();
    let before = ticket(&app, &id).await;
    assert_eq!(before["priority"], "urgent");
    app.send("m-2", "c-1", "转人工").await;
    app.send("m-3", "c-1", "好的谢谢").await;
    let after = ticket(&app, &id).await;
    for field in ["priority", "reason", "due_at", "rescored_at", "draft"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_stronger_reason_never_pushes_the_deadline_out() {
    let app = spawn_app().await;
    // Urgent from the start (15 minutes), then a complaint, whose own deadline is 24 hours.
    let id = app.send("m-1", "c-1", "气死我了，太垃圾了，马上给我处理！！！").await["ticket_id"].as_str().unwrap().to_string();
    let before = ticket(&app, &id).await;
    app.send("m-2", "c-1", "我要投诉你们的客服，态度太差了").await;
    let after = ticket(&app, &id).await;
    assert!(due(&after) <= due(&before), "{} → {}", before["due_at"], after["due_at"]);
    let rank = |p: &serde_json::Value| ["urgent", "high", "normal"].iter().position(|x| p == x).unwrap();
    assert!(rank(&after["priority"]) <= rank(&before["priority"]), "priority never drops");
    app.finish().await;
}

/// Minutes from the ticket's creation to a deadline field.
fn minutes_to(t: &serde_json::Value, field: &str) -> i64 {
    let created: jiff::Timestamp = t["created_at"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = t[field].as_str().unwrap_or_else(|| panic!("{field} in {t}")).parse().unwrap();
    (due - created).total(jiff::Unit::Minute).unwrap().round() as i64
}

#[tokio::test]
async fn a_complaint_has_two_clocks_the_same_whether_it_opens_the_ticket_or_joins_it() {
    let app = spawn_app().await;
    const COMPLAINT: &str = "我要投诉！！！你们客服态度太差了，我要打12315";
    let first = app.send("m-1", "c-1", COMPLAINT).await;
    let opened = ticket(&app, first["ticket_id"].as_str().unwrap()).await;
    assert_eq!((opened["reason"].as_str(), opened["priority"].as_str()), (Some("complaint"), Some("urgent")), "{opened}");
    // First human response by priority (urgent: 15 minutes), not the day a complaint may take.
    assert_eq!(minutes_to(&opened, "first_response_due_at"), 15, "{opened}");
    assert_eq!(opened["due_at"], opened["first_response_due_at"]);
    assert_eq!(minutes_to(&opened, "resolution_due_at"), 24 * 60, "{opened}");
    assert_eq!(opened["resolution_breached"], false);

    // The same complaint after a request for a person: the same two clocks.
    let id = app.send("m-2", "c-2", "转人工").await["ticket_id"].as_str().unwrap().to_string();
    assert!(ticket(&app, &id).await["resolution_due_at"].is_null(), "no settlement promise before the complaint");
    app.send("m-3", "c-2", COMPLAINT).await;
    let joined = ticket(&app, &id).await;
    let due = |t: &serde_json::Value, f: &str| t[f].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let now = jiff::Timestamp::now();
    assert!((due(&joined, "first_response_due_at") - now).total(jiff::Unit::Minute).unwrap() <= 15.0, "{joined}");
    let settle = (due(&joined, "resolution_due_at") - now).total(jiff::Unit::Hour).unwrap();
    assert!((23.9..=24.0).contains(&settle), "{joined}");
    app.finish().await;
}
