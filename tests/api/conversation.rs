//! The conversation a shopper really has (issue 24): small talk said twice is answered, not
//! handed over; fragments of one turn are one turn; a later message re-reads the open ticket;
//! an angry report drafts the same after-sales case as a calm one.

use crate::helpers::*;
use serde_json::Value;

async fn ticket(app: &TestApp, id: &str) -> Value {
    json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}")).await, 200).await
}

/// Sends `text` as the next message of `conversation` (ids numbered by `n`).
async fn say(app: &TestApp, conversation: &str, n: usize, text: &str) -> Value {
    app.send(&format!("{conversation}-{n}"), conversation, text).await
}

/// Asserts the bot answered `answer` itself (no hand-off) and returns its reply text.
fn answered(answer: &Value, what: &str) -> String {
    assert_eq!(answer["decision"], "answered", "{what}: {answer}");
    assert!(answer["ticket_id"].is_null(), "{what}: no ticket: {answer}");
    answer["reply"]["text"].as_str().unwrap().to_string()
}

/// One language's version of the story.
struct Story {
    conversation: &'static str,
    greetings: [&'static str; 2],
    questions: [(&'static str, &'static str); 2],
    report: &'static str,
    order: &'static str,
    lang: &'static str,
}

const ZH: Story = Story {
    conversation: "story-zh",
    greetings: ["在吗", "你好"],
    questions: [("你们家的东西是正品吗", "genuine"), ("满多少包邮", "shipping")],
    report: "订单 4102938475610293 里少了一支防晒，你们怎么搞的！！太离谱了，赶紧给我补发！",
    order: "4102938475610293",
    lang: "zh",
};

const EN: Story = Story {
    conversation: "story-en",
    greetings: ["hi", "hi there"],
    questions: [("are your products genuine?", "genuine"), ("when will my order be dispatched?", "ship")],
    report: "Order 4102938475610293 arrived with the sunscreen MISSING!!! This is unacceptable, send it now!",
    order: "4102938475610293",
    lang: "en",
};

/// Greet twice, two pre-sales questions answered, then the angry missing-item report with an
/// order number: an urgent ticket that reads the report, with a reshipment case for the order.
async fn the_story(story: &Story) {
    let app = spawn_app().await;
    let c = story.conversation;
    let first = answered(&say(&app, c, 1, story.greetings[0]).await, "first greeting");
    let second = answered(&say(&app, c, 2, story.greetings[1]).await, "second greeting");
    assert_ne!(first, second, "a greeting said again is answered differently, not with the same canned text");
    for (n, (question, faq)) in story.questions.iter().enumerate() {
        let answer = say(&app, c, 3 + n, question).await;
        answered(&answer, question);
        assert!(answer["faq_id"].as_str().unwrap().contains(faq), "{question}: {answer}");
    }
    let report = say(&app, c, 5, story.report).await;
    assert_eq!(report["decision"], "escalated", "{report}");
    let reply = report["reply"]["text"].as_str().unwrap();
    assert!(!reply.contains('～') && !reply.contains("马上"), "no playful promise to an angry customer: {reply}");
    let id = report["ticket_id"].as_str().expect("the report opens a ticket");
    let t = ticket(&app, id).await;
    assert_eq!(t["priority"], "urgent", "{t}");
    assert_eq!(t["intent"], "missing_or_wrong_item", "{t}");
    assert_eq!(t["sentiment"], "negative", "{t}");
    assert!(t["sentiment_score"].as_f64().unwrap() < 0.0, "{t}");
    assert_eq!(t["lang"], story.lang, "{t}");
    assert_eq!(t["extracted"]["order_numbers"][0], story.order, "{t}");
    let case = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}/case")).await, 200).await;
    assert_eq!((case["type"].as_str(), case["reason"].as_str()), (Some("reshipment"), Some("missing_item")), "{case}");
    assert_eq!(case["order_number"], story.order, "{case}");
    app.finish().await;
}

#[tokio::test]
async fn the_shoppers_story_in_chinese_ends_in_an_urgent_ticket_with_a_reshipment_case() {
    the_story(&ZH).await;
}

#[tokio::test]
async fn the_shoppers_story_in_english_ends_in_an_urgent_ticket_with_a_reshipment_case() {
    the_story(&EN).await;
}

#[tokio::test]
async fn a_shopper_who_greets_twice_still_gets_every_later_answer_the_bot_has() {
    let app = spawn_app().await;
    for (c, hello, again, question) in [
        ("g-zh", "在吗", "在吗", "你们家的东西是正品吗"),
        ("g-en", "hi there", "hi", "are your products genuine?"),
        ("g-mix", "在吗", "hi there", "满多少包邮"),
    ] {
        answered(&say(&app, c, 1, hello).await, hello);
        answered(&say(&app, c, 2, again).await, again);
        // Thanks said again, and "ok" (the same closing move), are small talk too, up to
        // MAX_SMALL_TALK_ANSWERS times.
        for (n, text) in ["谢谢", "谢谢", "ok", "hi"].iter().enumerate() {
            answered(&say(&app, c, 3 + n, text).await, text);
        }
        let answer = say(&app, c, 9, question).await;
        answered(&answer, question);
        // The same question in a fresh conversation gets the same answer.
        let fresh = say(&app, &format!("{c}-fresh"), 1, question).await;
        assert_eq!(answer["reply"], fresh["reply"], "{question}");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_real_question_asked_again_is_still_a_repeat_and_small_talk_without_end_is_too() {
    let app = spawn_app().await;
    answered(&say(&app, "r-1", 1, "满多少包邮").await, "first time");
    let again = say(&app, "r-1", 2, "满多少包邮").await;
    assert_eq!(again["decision"], "escalated", "{again}");
    assert_eq!(ticket(&app, again["ticket_id"].as_str().unwrap()).await["reason"], "repeat_question");
    for n in 1..=3 {
        answered(&say(&app, "r-2", n, "在吗").await, "在吗");
    }
    let circles = say(&app, "r-2", 4, "在吗").await;
    assert_eq!(circles["decision"], "escalated", "a fourth hello is a customer going round in circles: {circles}");
    app.finish().await;
}

#[tokio::test]
async fn a_burst_of_fragments_is_one_turn_the_question_gets_its_answer() {
    let app = spawn_app().await;
    for (c, fragments, question) in
        [("f-zh", ["在吗", "我想问一下"], "满多少包邮"), ("f-en", ["hello", "I have a question"], "do you offer free shipping?")]
    {
        // Sent at once, as a shopper types them.
        let (a, b) = tokio::join!(say(&app, c, 1, fragments[0]), async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            say(&app, c, 2, fragments[1]).await
        });
        answered(&a, fragments[0]);
        answered(&b, fragments[1]);
        let answer = say(&app, c, 3, question).await;
        assert!(answered(&answer, question).contains("59"), "{answer}");
    }
    app.finish().await;
}

#[tokio::test]
async fn after_a_spurious_repeat_the_bot_answers_again_until_an_agent_takes_the_ticket() {
    let app = spawn_app().await;
    answered(&say(&app, "s-1", 1, "满多少包邮").await, "first time");
    let repeat = say(&app, "s-1", 2, "满多少包邮").await;
    let id = repeat["ticket_id"].as_str().expect("a repeat question opens a ticket").to_string();
    // The ticket waits for no one yet: the bot answers what it can ...
    let genuine = say(&app, "s-1", 3, "你们家的东西是正品吗").await;
    answered(&genuine, "a new question while the repeat waits");
    // ... and what it cannot joins the ticket, which reads it.
    let report = say(&app, "s-1", 4, "订单 4102938475610293 里少了一支防晒，怎么回事").await;
    assert_eq!(report["ticket_id"], id.as_str(), "{report}");
    assert_eq!(ticket(&app, &id).await["intent"], "missing_or_wrong_item");
    // Once an agent has taken it, the conversation is theirs.
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{id}/claim"), serde_json::json!({})).await, 200).await;
    let later = say(&app, "s-1", 5, "支持花呗吗").await;
    assert_eq!((later["decision"].as_str(), later["ticket_id"].as_str()), (Some("escalated"), Some(id.as_str())), "{later}");
    app.finish().await;
}

#[tokio::test]
async fn a_later_message_re_reads_the_open_ticket() {
    let app = spawn_app().await;
    let first = say(&app, "t-1", 1, "转人工").await;
    let id = first["ticket_id"].as_str().unwrap().to_string();
    let before = ticket(&app, &id).await;
    assert_eq!(before["intent"], "human_agent");
    let report = say(&app, "t-1", 2, ZH.report).await;
    assert_eq!(report["ticket_id"], id.as_str());
    let after = ticket(&app, &id).await;
    assert_eq!(after["priority"], "urgent", "{after}");
    assert_eq!(after["intent"], "missing_or_wrong_item", "{after}");
    assert_eq!(after["sentiment"], "negative", "{after}");
    assert_eq!(after["lang"], "zh");
    assert_eq!(after["extracted"]["order_numbers"][0], ZH.order, "{after}");
    let draft = after["draft"]["text"].as_str().unwrap();
    assert!(!draft.contains("订单号"), "the draft does not ask for the order number just given: {draft}");
    let case = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}/case")).await, 200).await;
    assert_eq!((case["type"].as_str(), case["order_number"].as_str()), (Some("reshipment"), Some(ZH.order)), "{case}");

    // A calm order number given afterwards completes nothing twice and hides nothing.
    say(&app, "t-1", 3, "好的").await;
    let unchanged = ticket(&app, &id).await;
    assert_eq!((&unchanged["intent"], &unchanged["priority"]), (&after["intent"], &after["priority"]));
    app.finish().await;
}

#[tokio::test]
async fn an_angry_missing_item_report_drafts_the_case_a_calm_one_does() {
    let app = spawn_app().await;
    for (c, text) in [
        ("calm", "订单 4102938475610293 少发了一支防晒，麻烦看一下"),
        ("angry", "订单 4102938475610293 少发了一支防晒！！！你们怎么搞的，垃圾"),
        ("angry-en", "order 4102938475610293 came with an item MISSING, this is ridiculous!!!"),
    ] {
        let answer = say(&app, c, 1, text).await;
        let id = answer["ticket_id"].as_str().expect("escalated");
        let case = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}/case")).await, 200).await;
        assert_eq!(
            (case["type"].as_str(), case["reason"].as_str(), case["order_number"].as_str()),
            (Some("reshipment"), Some("missing_item"), Some("4102938475610293")),
            "{text}: {case}"
        );
    }
    app.finish().await;
}
