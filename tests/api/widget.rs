//! The public widget channel: keys, origins, visitor tokens, and the shared pipeline.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_shopper_gets_an_answer_through_the_widget_and_a_retry_is_idempotent() {
    let app = spawn_app().await;
    let (id, token) = app.visitor().await;
    let send = || {
        app.client
            .post(format!("{}/v1/widget/demo/messages", app.address))
            .header("X-Widget-Key", WIDGET_KEY)
            .header("Origin", "http://shop.example")
            .bearer_auth(&token)
            .json(&json!({"visitor_id": id, "client_message_id": "1", "text": "是正品吗"}))
            .send()
    };
    let response = send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://shop.example");
    let first = response.text().await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(answer["decision"], "answered");
    assert_eq!(send().await.unwrap().text().await.unwrap(), first);
    let history = app.widget_history(&id, &token).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
    app.finish().await;
}

#[tokio::test]
async fn the_widget_refuses_foreign_origins_wrong_keys_and_forged_visitors() {
    let app = spawn_app().await;
    let (id, _) = app.visitor().await;
    let post = |origin: &str, key: &str, token: &str| {
        app.client
            .post(format!("{}/v1/widget/demo/messages", app.address))
            .header("X-Widget-Key", key)
            .header("Origin", origin)
            .bearer_auth(token)
            .json(&json!({"visitor_id": id, "client_message_id": "1", "text": "hi"}))
            .send()
    };
    assert_eq!(post("http://evil.example", WIDGET_KEY, "x").await.unwrap().status(), 403);
    assert_eq!(post("http://shop.example", "pk_wrong", "x").await.unwrap().status(), 401);
    assert_eq!(post("http://shop.example", WIDGET_KEY, "forged-token").await.unwrap().status(), 401);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/widget/demo/messages", app.address))
        .header("Origin", "http://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("x-widget-key"));
    app.finish().await;
}
