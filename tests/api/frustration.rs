//! Anger carried by an answerable question (issue 25): the bot knows the answer, but a
//! customer fed up with the service gets a person, told why ("frustrated"), with the answer
//! already in the agent's draft.

use crate::helpers::*;
use serde_json::Value;

async fn ticket(app: &TestApp, answer: &Value) -> Value {
    let id = answer["ticket_id"].as_str().unwrap_or_else(|| panic!("a ticket is opened: {answer}"));
    json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}")).await, 200).await
}

/// Asserts `answer` escalated the message as frustrated with `fact` in the draft.
async fn frustrated_with_the_answer_drafted(app: &TestApp, answer: &Value, fact: &str, what: &str) {
    assert_eq!(answer["decision"], "escalated", "{what}: {answer}");
    let t = ticket(app, answer).await;
    assert_eq!(t["reason"], "frustrated", "{what}: {t}");
    assert_ne!(t["priority"], "normal", "{what}: a frustrated customer is not a routine ticket: {t}");
    let draft = t["draft"]["text"].as_str().unwrap_or_else(|| panic!("{what}: a draft: {t}"));
    assert!(draft.contains(fact), "{what}: the draft carries the answer: {draft}");
}

#[tokio::test]
async fn anger_carried_by_an_answerable_question_goes_to_a_person_with_the_answer_drafted() {
    let app = spawn_app().await;
    for (c, calm, angry) in [
        ("zh", "满多少包邮", "问了多少次了，满多少包邮啊？？"),
        ("en", "do you offer free shipping?", "I've been waiting for an answer for days. Do you offer free shipping or not??"),
    ] {
        // The calm question is answered with the fact the angry one's draft must carry.
        let answered = app.send(&format!("{c}-calm"), &format!("{c}-calm"), calm).await;
        assert_eq!(answered["decision"], "answered", "{calm}: {answered}");
        assert!(answered["reply"]["text"].as_str().unwrap().contains("59"), "{answered}");
        let angry_answer = app.send(&format!("{c}-angry"), &format!("{c}-angry"), angry).await;
        frustrated_with_the_answer_drafted(&app, &angry_answer, "59", angry).await;
    }
    app.finish().await;
}

#[tokio::test]
async fn a_question_answered_then_asked_again_angrily_on_the_third_turn_is_escalated_with_the_answer() {
    let app = spawn_app().await;
    for (c, turns) in [
        ("again-zh", ["满多少包邮", "你们家的东西是正品吗", "都问了几遍了，到底满多少包邮？？"]),
        (
            "again-en",
            ["do you offer free shipping?", "are your products genuine?", "how many times do I have to ask: is shipping free or not?!"],
        ),
    ] {
        for (n, text) in turns[..2].iter().enumerate() {
            let answer = app.send(&format!("{c}-{n}"), c, text).await;
            assert_eq!(answer["decision"], "answered", "{text}: {answer}");
        }
        let third = app.send(&format!("{c}-2"), c, turns[2]).await;
        frustrated_with_the_answer_drafted(&app, &third, "59", turns[2]).await;
    }
    app.finish().await;
}
