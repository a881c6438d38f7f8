//! The Chatwoot agent bot: events in Chatwoot's format in, calls to a local server playing
//! Chatwoot's API out.

use crate::chatwoot_payloads::*;
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const FAQ: &str = "满多少包邮呀？";
const ANGRY: &str = "快递一个星期了还没到，你们到底还发不发货！！！再不处理我就投诉";

async fn chatwoot_app(max_attempts: u32) -> (TestApp, FakeChatwoot) {
    let chatwoot = FakeChatwoot::start().await;
    let opts = Options { chatwoot_url: Some(chatwoot.url.clone()), max_attempts, ..Options::default() };
    (spawn_app_with(Database::fresh().await, opts).await, chatwoot)
}

/// Waits until Chatwoot got at least `n` calls and none is left pending in the outbox.
async fn settled(app: &TestApp, chatwoot: &FakeChatwoot, n: usize) -> Vec<ChatwootCall> {
    let calls = chatwoot.wait_for(n, WAIT).await;
    assert!(calls.len() >= n, "Chatwoot got {} calls, expected {n}: {calls:?}", calls.len());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app.chatwoot_outbox("pending").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "calls stay pending");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    chatwoot.calls()
}

async fn stats(app: &TestApp) -> serde_json::Value {
    app.agent_get(ALICE, "/v1/stats?shop=demo").await.json().await.unwrap()
}

fn messages_path(conversation: u64) -> String {
    format!("/api/v1/accounts/{CHATWOOT_ACCOUNT}/conversations/{conversation}/messages")
}

#[tokio::test]
async fn a_faq_question_in_a_pending_conversation_gets_exactly_one_bot_reply() {
    let (app, chatwoot) = chatwoot_app(3).await;
    let answer = app.chatwoot_event(&customer_message(101, 7, "pending", FAQ), "d-1").await;
    assert_eq!(answer["status"], "accepted");
    let calls = settled(&app, &chatwoot, 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!((call.method.as_str(), call.path.as_str()), ("POST", messages_path(7).as_str()));
    assert_eq!(call.token.as_deref(), Some(CHATWOOT_BOT_TOKEN));
    assert_eq!(call.body["message_type"], "outgoing");
    assert_eq!(call.body["private"], false);
    assert!(call.body["content"].as_str().unwrap().contains("59"), "{:?}", call.body);
    // Stored like any webhook message: one message, answered, in conversation chatwoot-7.
    let s = stats(&app).await;
    assert_eq!((s["messages"].as_i64(), s["answered"].as_i64()), (Some(1), Some(1)));
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn an_angry_message_gets_an_acknowledgement_a_private_note_with_the_draft_and_a_hand_off_in_that_order() {
    let (app, chatwoot) = chatwoot_app(3).await;
    app.chatwoot_event(&customer_message(201, 8, "pending", ANGRY), "d-2").await;
    let calls = settled(&app, &chatwoot, 3).await;
    assert_eq!(calls.len(), 3, "{calls:?}");
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    let ticket = &queue["tickets"][0];
    assert_eq!(ticket["conversation_id"], "chatwoot-8");
    let draft = ticket["draft"]["text"].as_str().unwrap();

    let (ack, note, handoff) = (&calls[0], &calls[1], &calls[2]);
    assert_eq!(ack.path, messages_path(8));
    assert_eq!((ack.body["private"].as_bool(), ack.body["message_type"].as_str()), (Some(false), Some("outgoing")));
    assert!(!ack.body["content"].as_str().unwrap().is_empty());
    assert_eq!(note.path, messages_path(8));
    assert_eq!(note.body["private"], true, "the draft is a private note");
    let note_text = note.body["content"].as_str().unwrap();
    assert!(note_text.contains(draft), "{note_text}");
    assert!(
        note_text.contains(ticket["reason"].as_str().unwrap()) && note_text.contains(ticket["intent"].as_str().unwrap()),
        "{note_text}"
    );
    assert_eq!(handoff.path, format!("/api/v1/accounts/{CHATWOOT_ACCOUNT}/conversations/8/toggle_status"));
    assert_eq!(handoff.body, json!({"status": "open"}));
    assert!(calls.iter().all(|c| c.token.as_deref() == Some(CHATWOOT_BOT_TOKEN)));
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn outgoing_private_bot_and_open_conversation_messages_are_ignored() {
    let (app, chatwoot) = chatwoot_app(3).await;
    let ignored = [
        ("the bot's own reply", message_created(301, 9, "pending", "outgoing", false, bot(), "亲，订单满 ¥59 包邮")),
        ("an agent's private note", message_created(302, 9, "open", "outgoing", true, agent(), "这个客户要退款")),
        ("a private incoming note", message_created(303, 9, "pending", "incoming", true, contact(), FAQ)),
        ("a customer in an open conversation", customer_message(304, 9, "open", FAQ)),
        ("an activity", message_created(305, 9, "pending", "activity", false, json!(null), "Conversation was marked resolved")),
        ("another inbox", {
            let mut m = customer_message(306, 10, "pending", FAQ);
            m["inbox"]["id"] = json!(99);
            m
        }),
        ("a message update", {
            let mut m = customer_message(307, 9, "pending", FAQ);
            m["event"] = json!("message_updated");
            m
        }),
    ];
    for (i, (what, payload)) in ignored.iter().enumerate() {
        let answer = app.chatwoot_event(payload, &format!("ignored-{i}")).await;
        assert_eq!(answer["status"], "ignored", "{what}: {answer}");
        assert!(answer["reason"].as_str().is_some_and(|r| !r.is_empty()), "{what}");
    }
    // A real question afterwards is answered: the only call Chatwoot ever gets.
    app.chatwoot_event(&customer_message(308, 11, "pending", FAQ), "real").await;
    let calls = settled(&app, &chatwoot, 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, messages_path(11));
    assert_eq!(stats(&app).await["messages"], 1, "ignored events are not stored as messages");
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_events_are_refused_with_a_clear_error() {
    let (app, chatwoot) = chatwoot_app(3).await;
    let body = customer_message(401, 12, "pending", FAQ).to_string();
    let refusals = [
        (app.post_chatwoot(&body, now(), None, "s-1").await, "X-Chatwoot-Timestamp"),
        (app.post_chatwoot(&body, now(), Some("not-the-bot-secret"), "s-2").await, "signature does not match"),
        (app.post_chatwoot(&body, now() - 301, Some(CHATWOOT_SECRET), "s-3").await, "300 seconds"),
    ];
    for (response, expected) in refusals {
        assert_eq!(response.status(), 401);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unauthorized");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let malformed = app.post_chatwoot("{not json", now(), Some(CHATWOOT_SECRET), "s-4").await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<serde_json::Value>().await.unwrap()["error"]["code"], "bad_request");
    // The rival shop has no Chatwoot bot: 404, in the contract's error shape.
    let rival = app.client.post(format!("{}/v1/shops/rival/chatwoot", app.address)).body(body.clone()).send().await.unwrap();
    assert_eq!(rival.status(), 404);
    assert_eq!(rival.json::<serde_json::Value>().await.unwrap()["error"]["code"], "not_found");
    // Nothing refused was stored or answered; a signed retry of the same event is.
    app.chatwoot_event(&customer_message(401, 12, "pending", FAQ), "s-5").await;
    assert_eq!(settled(&app, &chatwoot, 1).await.len(), 1);
    assert_eq!(stats(&app).await["messages"], 1);
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn a_repeated_delivery_does_nothing_twice() {
    let (app, chatwoot) = chatwoot_app(3).await;
    let event = customer_message(501, 13, "pending", FAQ);
    assert_eq!(app.chatwoot_event(&event, "same-delivery").await["status"], "accepted");
    assert_eq!(app.chatwoot_event(&event, "same-delivery").await["status"], "duplicate");
    settled(&app, &chatwoot, 1).await;
    assert_eq!(app.chatwoot_event(&event, "same-delivery").await["status"], "duplicate");
    // The same message under a new delivery id (a re-sent webhook) is not answered again.
    assert_eq!(app.chatwoot_event(&event, "another-delivery").await["status"], "accepted");
    // A later question of the same conversation is worked off after it (events of a
    // conversation are taken in order): once its reply arrives, the repeat was handled.
    app.chatwoot_event(&customer_message(502, 13, "pending", "退款多久到账"), "later").await;
    let calls = settled(&app, &chatwoot, 2).await;
    assert_eq!(calls.len(), 2, "one reply per message: {calls:?}");
    assert_ne!(calls[0].body["content"], calls[1].body["content"]);
    assert_eq!(stats(&app).await["messages"], 2);
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn while_chatwoot_is_down_the_reply_waits_and_is_delivered_once_it_is_back() {
    let (app, chatwoot) = chatwoot_app(1000).await;
    chatwoot.set_status(503);
    app.chatwoot_event(&customer_message(601, 14, "pending", FAQ), "down-1").await;
    // Failed attempts are visible: pending, with the error and the attempts counted.
    let pending = wait_for_outbox(&app, "pending", |c| c["attempts"].as_i64() >= Some(2)).await;
    assert!(pending["last_error"].as_str().unwrap().contains("503"), "{pending}");
    chatwoot.set_status(200);
    let delivered = wait_for_outbox(&app, "delivered", |_| true).await;
    assert_eq!(delivered["action"], "reply");
    let calls = chatwoot.calls();
    assert!(calls.len() >= 3, "two failed attempts and the delivery: {calls:?}");
    assert!(calls.iter().all(|c| c.path == messages_path(14) && c.body == calls[0].body), "retries resend the same reply");
    app.finish().await;
    chatwoot.stop();
}

async fn wait_for_outbox(app: &TestApp, status: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(call) = app.chatwoot_outbox(status).await.into_iter().find(&ok) {
            return call;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {status} call in time");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn after_a_hand_off_the_bot_stays_silent_learns_from_the_agents_reply_and_resumes_after_resolution() {
    let (app, chatwoot) = chatwoot_app(3).await;
    app.chatwoot_event(&customer_message(701, 15, "pending", ANGRY), "h-1").await;
    settled(&app, &chatwoot, 3).await;
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    let ticket_id = queue["tickets"][0]["id"].as_str().unwrap().to_string();
    let draft = queue["tickets"][0]["draft"]["text"].as_str().unwrap().to_string();

    // Humans own the conversation now (Chatwoot shows it open): the customer is not answered.
    assert_eq!(app.chatwoot_event(&customer_message(702, 15, "open", FAQ), "h-2").await["status"], "ignored");
    // The agent sends the draft from Chatwoot: recorded as an accepted draft.
    app.chatwoot_event(&message_created(703, 15, "open", "outgoing", false, agent(), &draft), "h-3").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = stats(&app).await;
        if s["drafts"]["accepted"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "draft outcome not recorded: {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ticket: serde_json::Value = app.agent_get(ALICE, &format!("/v1/tickets/{ticket_id}")).await.json().await.unwrap();
    let last = ticket["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["role"].as_str(), last["author"].as_str()), (Some("agent"), Some("Alice Wang")));

    // Resolved in Chatwoot: the ticket closes and the bot answers the next pending question.
    app.chatwoot_event(&conversation_resolved(15), "h-4").await;
    app.chatwoot_event(&customer_message(704, 15, "pending", FAQ), "h-5").await;
    let calls = settled(&app, &chatwoot, 4).await;
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[3].body["private"], false);
    assert!(calls[3].body["content"].as_str().unwrap().contains("59"));
    let ticket: serde_json::Value = app.agent_get(ALICE, &format!("/v1/tickets/{ticket_id}")).await.json().await.unwrap();
    assert_eq!(ticket["status"], "resolved");
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn a_conversation_handed_back_to_the_bot_without_resolving_is_answered_again() {
    let (app, chatwoot) = chatwoot_app(3).await;
    app.chatwoot_event(&customer_message(801, 16, "pending", ANGRY), "b-1").await;
    settled(&app, &chatwoot, 3).await;
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    let ticket_id = queue["tickets"][0]["id"].as_str().unwrap().to_string();

    // The agent sets the conversation back to pending (the bot's) without resolving it.
    let handed = app.chatwoot_event(&conversation_status_changed(16, "open", "pending"), "b-2").await;
    assert_eq!(handed["status"], "accepted", "{handed}");
    app.chatwoot_event(&customer_message(802, 16, "pending", FAQ), "b-3").await;
    let calls = settled(&app, &chatwoot, 4).await;
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!((calls[3].path.as_str(), &calls[3].body["private"]), (messages_path(16).as_str(), &json!(false)));
    assert!(calls[3].body["content"].as_str().unwrap().contains("59"), "the bot answers: {:?}", calls[3].body);
    let ticket: serde_json::Value = app.agent_get(ALICE, &format!("/v1/tickets/{ticket_id}")).await.json().await.unwrap();
    assert_eq!(ticket["status"], "resolved", "the human's turn is over");

    // The bot's own hand-off (status to open) is no hand-back.
    let opened = app.chatwoot_event(&conversation_status_changed(16, "pending", "open"), "b-4").await;
    assert_eq!(opened["status"], "ignored", "{opened}");
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn the_sync_command_makes_the_quick_phrases_chatwoot_canned_responses() {
    let chatwoot = FakeChatwoot::start().await;
    chatwoot.canned.lock().unwrap().extend([
        json!({"id": 1, "account_id": 1, "short_code": "sorry", "content": "old text"}),
        json!({"id": 2, "account_id": 1, "short_code": "hello", "content": "the team's own"}),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smartreply.toml");
    std::fs::write(
        &config,
        format!(
            "[[shops]]\nid = \"demo\"\nknowledge_base = \"knowledge-base/demo\"\nwebhook_secret = \"{DEMO_SECRET}\"\n\
             [shops.chatwoot]\nbase_url = \"{}\"\naccount_id = {CHATWOOT_ACCOUNT}\nbot_token = \"{CHATWOOT_BOT_TOKEN}\"\n\
             webhook_secret = \"{CHATWOOT_SECRET}\"\nadmin_token = \"{CHATWOOT_ADMIN_TOKEN}\"\n",
            chatwoot.url
        ),
    )
    .unwrap();
    let run = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_smartreply"))
                .args(["chatwoot", "sync-canned", "--shop", "demo", "--config"])
                .arg(config)
                .output()
                .unwrap()
        })
    };
    let out = run(config.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("updated: sorry\n"), "{stdout}");
    let phrases = smartreply::knowledge::KnowledgeBase::load(std::path::Path::new("knowledge-base/demo")).unwrap().quick_phrases;
    let canned = chatwoot.canned.lock().unwrap().clone();
    assert_eq!(canned.len(), 2 * phrases.len() + 1, "every phrase in both languages, plus the team's own");
    for p in &phrases {
        assert!(canned.iter().any(|c| c["short_code"] == p.key.as_str() && c["content"] == p.zh.trim()), "{}", p.key);
        assert!(canned.iter().any(|c| c["short_code"] == format!("{}-en", p.key) && c["content"] == p.en.trim()), "{}-en", p.key);
    }
    assert!(canned.iter().any(|c| c["short_code"] == "hello" && c["content"] == "the team's own"));
    assert!(chatwoot.calls().iter().all(|c| c.token.as_deref() == Some(CHATWOOT_ADMIN_TOKEN)));
    // A second run changes nothing.
    let calls_before = chatwoot.calls().len();
    let again = run(config).await.unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("created: \n") && stdout.contains("updated: \n"), "{stdout}");
    assert_eq!(chatwoot.calls().len(), calls_before + 1, "only the listing");
    chatwoot.stop();
}

#[tokio::test]
async fn a_message_arriving_before_the_hand_off_lands_joins_the_ticket_without_a_second_acknowledgement() {
    let (app, chatwoot) = chatwoot_app(3).await;
    // Chatwoot is slow to take the calls: the customer writes again while the conversation
    // is still pending.
    chatwoot.set_status(503);
    app.chatwoot_event(&customer_message(801, 16, "pending", ANGRY), "j-1").await;
    app.chatwoot_event(&customer_message(802, 16, "pending", FAQ), "j-2").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let ticket = loop {
        let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
        if let Some(id) = queue["tickets"][0]["id"].as_str() {
            let t: serde_json::Value = app.agent_get(ALICE, &format!("/v1/tickets/{id}")).await.json().await.unwrap();
            if t["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "customer").count() == 2 {
                break t;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the second message did not join the ticket");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(ticket["conversation_id"], "chatwoot-16");
    chatwoot.set_status(200);
    let calls = settled(&app, &chatwoot, 3).await;
    let delivered: Vec<_> = app.chatwoot_outbox("delivered").await.into_iter().map(|c| c["action"].as_str().unwrap().to_string()).collect();
    assert_eq!(delivered.len(), 3, "acknowledgement, note and hand-off only: {delivered:?}");
    for action in ["acknowledgement", "note", "handoff"] {
        assert!(delivered.iter().any(|a| a == action), "{action} missing: {delivered:?}");
    }
    // In order even through retries: the last successful call is the hand-off.
    let successful_paths: Vec<&str> = calls.iter().rev().take(1).map(|c| c.path.as_str()).collect();
    assert!(successful_paths[0].ends_with("/toggle_status"), "{successful_paths:?}");
    app.finish().await;
    chatwoot.stop();
}

#[tokio::test]
async fn an_agents_console_reply_to_a_chatwoot_conversation_is_posted_to_chatwoot_not_to_the_callback() {
    let chatwoot = FakeChatwoot::start().await;
    let receiver = Receiver::start(200, 0).await;
    let opts = Options { chatwoot_url: Some(chatwoot.url.clone()), callback_url: Some(receiver.url.clone()), ..Options::default() };
    let app = spawn_app_with(Database::fresh().await, opts).await;
    app.chatwoot_event(&customer_message(901, 17, "pending", ANGRY), "c-1").await;
    settled(&app, &chatwoot, 3).await;
    let queue: serde_json::Value = app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await.json().await.unwrap();
    let ticket_id = queue["tickets"][0]["id"].as_str().unwrap().to_string();
    let text = "抱歉让您久等了，快递已催促，今天内给您回复物流进展。";
    let reply = app.agent_post(ALICE, &format!("/v1/tickets/{ticket_id}/reply"), json!({"text": text, "draft": "edited"})).await;
    assert_eq!(reply.status(), 200);
    let reply: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(reply["delivery"]["via"], "chatwoot");
    let calls = settled(&app, &chatwoot, 4).await;
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[3].path, messages_path(17));
    assert_eq!((calls[3].body["content"].as_str(), calls[3].body["private"].as_bool()), (Some(text), Some(false)));
    // Nothing was queued for the storefront's callback (checked in the outbox, not only at the
    // receiver, so a delivery still on its way would show).
    let callbacks: serde_json::Value = app.agent_get(ALICE, "/v1/outbox?shop=demo").await.json().await.unwrap();
    assert_eq!(callbacks["deliveries"].as_array().unwrap().len(), 0, "{callbacks}");
    assert!(receiver.received.lock().unwrap().is_empty(), "the storefront callback does not get Chatwoot conversations");
    assert_eq!(stats(&app).await["drafts"]["edited"], 1);
    app.finish().await;
    chatwoot.stop();
    receiver.stop();
}
