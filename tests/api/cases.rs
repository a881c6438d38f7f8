//! After-sales cases: drafted by the router from the conversation, completed by the agent,
//! refused while a required field is missing, delivered signed to the shop, listed and
//! exported per shop.

use crate::helpers::*;
use serde_json::{Value, json};
use smartreply::ingest::signature::verify;
use std::time::Duration;

const MISSING: &str = "订单号 4102938475610293 少发了一瓶精华";

async fn ticket_for(app: &TestApp, conversation: &str, text: &str) -> String {
    let answer = app.send(&format!("{conversation}-1"), conversation, text).await;
    answer["ticket_id"].as_str().expect("escalated").to_string()
}

#[tokio::test]
async fn a_missing_item_drafts_a_reshipment_case_with_the_order_number_from_the_chat() {
    let app = spawn_app().await;
    let id = ticket_for(&app, "c-1", MISSING).await;
    let case = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}/case")).await, 200).await;
    assert_eq!(case["shop"], "demo");
    assert_eq!(case["ticket_id"], id.as_str());
    assert_eq!(case["status"], "draft");
    assert_eq!(case["type"], "reshipment");
    assert_eq!(case["reason"], "missing_item");
    assert_eq!(case["responsibility"], "warehouse");
    assert_eq!(case["order_number"], "4102938475610293");
    assert_eq!(case["evidence_requested"], json!(["photo"]));
    assert_eq!(case["drafted_by"], "router");
    assert!(case["items"].is_null());
    // Another shop's agent does not see it; a question drafts no case.
    assert_eq!(app.agent_get(MALLORY, &format!("/v1/tickets/{id}/case")).await.status(), 404);
    let question = ticket_for(&app, "c-2", "转人工").await;
    assert_eq!(app.agent_get(ALICE, &format!("/v1/tickets/{question}/case")).await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn wrong_items_damage_and_stalled_parcels_draft_their_own_case_types() {
    let app = spawn_app().await;
    let cases = [
        ("c-1", "你们发错货了，我买的是02号色，收到的是05号", "exchange", "wrong_item"),
        ("c-2", "瓶子碎了，漏了一地", "reshipment", "damaged"),
        ("c-3", "直播间说好的赠品没收到", "reshipment", "livestream_gift_missing"),
    ];
    for (conversation, text, case_type, reason) in cases {
        let id = ticket_for(&app, conversation, text).await;
        let case = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{id}/case")).await, 200).await;
        assert_eq!((case["type"].as_str(), case["reason"].as_str()), (Some(case_type), Some(reason)), "{text}");
    }
    app.finish().await;
}

#[tokio::test]
async fn the_submission_is_refused_field_by_field_then_reaches_the_shop_signed() {
    let receiver = Receiver::start(200, 0).await;
    let app = spawn_app_with(Database::fresh().await, Options { callback_url: Some(receiver.url.clone()), ..Options::default() }).await;
    let id = ticket_for(&app, "c-1", MISSING).await;
    let refused = json_of(app.agent_post(ALICE, &format!("/v1/tickets/{id}/case/submit"), json!({})).await, 422).await;
    assert_eq!(refused["error"]["code"], "invalid_case");
    assert_eq!(
        refused["error"]["fields"],
        json!({"items": "required for reshipment", "evidence": "required: photo requested"}),
        "exactly the missing fields"
    );
    let fields = json!({
        "type": "reshipment", "reason": "missing_item", "responsibility": "warehouse", "order_number": "4102938475610293",
        "items": "玻尿酸精华 30ml ×1", "evidence": "顾客已发开箱照片", "note": null
    });
    let saved = json_of(app.agent_put(ALICE, &format!("/v1/tickets/{id}/case"), fields).await, 200).await;
    assert_eq!(saved["items"], "玻尿酸精华 30ml ×1");
    assert_eq!(saved["evidence_requested"], json!(["photo"]), "what the router asked for stays asked for");
    let submitted = json_of(app.agent_post(ALICE, &format!("/v1/tickets/{id}/case/submit"), json!({})).await, 200).await;
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["submitted_by"], "alice");

    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the case event, once");
    let r = &got[0];
    let header = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
    assert_eq!(verify(DEMO_SECRET, header("x-smartreply-timestamp"), header("x-smartreply-signature"), &r.body, now()), Ok(()));
    let event: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(event["event"], "case");
    assert_eq!(event["version"], 1);
    assert_eq!(event["message_id"], submitted["id"]);
    assert_eq!(event["shop"], "demo");
    assert_eq!(event["ticket_id"], id.as_str());
    assert_eq!(event["conversation_id"], "c-1");
    assert_eq!(event["customer_id"], "cust-c-1");
    assert_eq!(event["type"], "reshipment");
    assert_eq!(event["order_number"], "4102938475610293");
    assert_eq!(event["items"], "玻尿酸精华 30ml ×1");
    assert_eq!(event["submitted_by"], "alice");

    // Submitted is final.
    assert_eq!(app.agent_post(ALICE, &format!("/v1/tickets/{id}/case/submit"), json!({})).await.status(), 409);
    assert_eq!(app.agent_put(ALICE, &format!("/v1/tickets/{id}/case"), json!({"items": "x"})).await.status(), 409);
    receiver.stop();
    app.finish().await;
}

#[tokio::test]
async fn every_case_type_requires_its_own_fields() {
    let app = spawn_app().await;
    let expected: &[(&str, &[&str])] = &[
        ("reshipment", &["items"]),
        ("exchange", &["items"]),
        ("return_refund", &["items", "refund_amount"]),
        ("refund_only", &["refund_amount"]),
        ("recall_resend", &["tracking_number"]),
        ("goodwill", &["items"]),
    ];
    for (i, (case_type, required)) in expected.iter().enumerate() {
        let id = ticket_for(&app, &format!("c-{i}"), "转人工").await;
        let path = format!("/v1/tickets/{id}/case");
        // Nothing but the type: the common fields are missing too.
        json_of(app.agent_put(ALICE, &path, json!({"type": case_type})).await, 200).await;
        let refused = json_of(app.agent_post(ALICE, &format!("{path}/submit"), json!({})).await, 422).await;
        let mut missing: Vec<&str> = refused["error"]["fields"].as_object().unwrap().keys().map(String::as_str).collect();
        missing.sort_unstable();
        let mut want: Vec<&str> = ["order_number", "reason", "responsibility"].iter().chain(required.iter()).copied().collect();
        want.sort_unstable();
        assert_eq!(missing, want, "{case_type}");
        let mut full = json!({"type": case_type, "reason": "other", "responsibility": "shop", "order_number": "4102938475610293"});
        for field in *required {
            full[*field] = json!(match *field {
                "refund_amount" => "59.00",
                "tracking_number" => "SF1234567890123",
                _ => "精华 ×1",
            });
        }
        json_of(app.agent_put(ALICE, &path, full).await, 200).await;
        let submitted = json_of(app.agent_post(ALICE, &format!("{path}/submit"), json!({})).await, 200).await;
        assert_eq!(submitted["type"], *case_type);
    }
    app.finish().await;
}

#[tokio::test]
async fn an_empty_case_is_refused_naming_every_common_field_and_the_rule_is_served() {
    let app = spawn_app().await;
    let id = ticket_for(&app, "c-1", "转人工").await;
    let path = format!("/v1/tickets/{id}/case");
    json_of(app.agent_put(ALICE, &path, json!({})).await, 200).await;
    let refused = json_of(app.agent_post(ALICE, &format!("{path}/submit"), json!({})).await, 422).await;
    let fields = &refused["error"]["fields"];
    assert_eq!(
        fields,
        &json!({"type": "required", "reason": "required", "responsibility": "required", "order_number": "required"}),
        "one submit names them all"
    );

    let rule = json_of(app.agent_get(ALICE, "/v1/cases/requirements").await, 200).await;
    assert_eq!(rule["always"], json!(["type", "reason", "responsibility", "order_number"]));
    assert_eq!(rule["by_type"]["return_refund"], json!(["items", "refund_amount"]));
    assert_eq!(rule["by_type"]["recall_resend"], json!(["tracking_number"]));
    assert_eq!(rule["by_type"].as_object().unwrap().len(), 6);
    assert_eq!(rule["when_evidence_requested"], json!(["evidence"]));
    assert_eq!(app.client.get(format!("{}/v1/cases/requirements", app.address)).send().await.unwrap().status(), 401);
    app.finish().await;
}

#[tokio::test]
async fn wrong_values_are_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let id = ticket_for(&app, "c-1", MISSING).await;
    let path = format!("/v1/tickets/{id}/case");
    let refused = json_of(app.agent_put(ALICE, &path, json!({"type": "refund", "responsibility": "nobody"})).await, 422).await;
    let fields = &refused["error"]["fields"];
    assert!(fields["type"].as_str().unwrap().contains("reshipment"), "{fields}");
    assert!(fields["responsibility"].as_str().unwrap().contains("warehouse"), "{fields}");
    assert_eq!(app.agent_put(ALICE, &path, json!({"shop": "rival"})).await.status(), 400, "the shop is never chosen by hand");
    let long = "x".repeat(501);
    let refused = json_of(app.agent_put(ALICE, &path, json!({"type": "reshipment", "items": long})).await, 422).await;
    assert_eq!(refused["error"]["fields"]["items"], "at most 500 characters");
    let case = json_of(app.agent_get(ALICE, &path).await, 200).await;
    assert_eq!(case["type"], "reshipment");
    assert!(case["items"].is_null());
    app.finish().await;
}

#[tokio::test]
async fn cases_are_listed_and_exported_per_shop_and_period() {
    let app = spawn_app().await;
    let id = ticket_for(&app, "c-1", MISSING).await;
    ticket_for(&app, "c-2", "瓶子碎了，漏了一地").await;
    let list = json_of(app.agent_get(ALICE, "/v1/cases?shop=demo").await, 200).await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 2);
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date();
    let period = format!("/v1/cases?shop=demo&from={today}&to={today}&status=draft");
    assert_eq!(json_of(app.agent_get(ALICE, &period).await, 200).await["cases"].as_array().unwrap().len(), 2);
    let tomorrow = today.tomorrow().unwrap();
    let later = json_of(app.agent_get(ALICE, &format!("/v1/cases?shop=demo&from={tomorrow}")).await, 200).await;
    assert!(later["cases"].as_array().unwrap().is_empty());
    assert_eq!(app.agent_get(ALICE, "/v1/cases?shop=demo&from=yesterday").await.status(), 400);
    assert_eq!(app.agent_get(MALLORY, "/v1/cases?shop=demo").await.status(), 404);

    let export = app.agent_get(ALICE, "/v1/cases/export?shop=demo").await;
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = export.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("case_id,shop,ticket_id,status,type,reason"), "{}", lines[0]);
    assert_eq!(lines.len(), 3);
    let row = lines.iter().find(|l| l.contains(&id)).expect("the first case's row");
    assert!(row.contains(",draft,reshipment,missing_item,warehouse,4102938475610293,"), "{row}");
    app.finish().await;
}

#[tokio::test]
async fn a_case_submitted_twice_at_once_is_submitted_and_delivered_once() {
    let receiver = Receiver::start(200, 0).await;
    let app = spawn_app_with(Database::fresh().await, Options { callback_url: Some(receiver.url.clone()), ..Options::default() }).await;
    let id = ticket_for(&app, "c-1", MISSING).await;
    let fields = json!({"type": "reshipment", "reason": "missing_item", "responsibility": "warehouse",
        "order_number": "4102938475610293", "items": "精华 ×1", "evidence": "照片"});
    json_of(app.agent_put(ALICE, &format!("/v1/tickets/{id}/case"), fields).await, 200).await;
    let path = format!("/v1/tickets/{id}/case/submit");
    let submits = (0..8).map(|_| app.agent_post(ALICE, &path, json!({})));
    let mut statuses: Vec<u16> = futures_util::future::join_all(submits).await.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received.lock().unwrap().len(), 1, "one case event: {got:?}");
    receiver.stop();
    app.finish().await;
}
