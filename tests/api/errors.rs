//! The error contract, walked kind by kind: every answer that is not a success — a refused
//! extractor, an unknown route, a wrong method, a missing query field, a body too large, a
//! request that runs too long — is `{"error": {"code", "message"}}` with its status.

use crate::helpers::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts a response is the contract's JSON error with `status` and `code`; its headers.
async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> reqwest::header::HeaderMap {
    let headers = response.headers().clone();
    assert_eq!(response.status(), status, "{:?}", response.text().await);
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.unwrap();
    assert!(content_type.starts_with("application/json"), "{status} {code}: content-type {content_type:?}, body {text:?}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {code}: {e}: {text:?}"));
    assert_eq!(body["error"]["code"], code, "{text}");
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {text}"));
    assert!(!message.is_empty(), "{text}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only the error: {text}");
    headers
}

#[tokio::test]
async fn every_kind_of_error_answers_the_json_error_shape() {
    let app = spawn_app().await;
    let url = |path: &str| format!("{}{path}", app.address);

    // A query without its required field (the Query extractor's rejection).
    assert_error(app.agent_get(ALICE, "/v1/stats").await, 400, "bad_request").await;
    // A query field of the wrong type.
    assert_error(app.agent_get(ALICE, "/v1/stats/timeseries?shop=demo&hours=many").await, 400, "bad_request").await;
    // A path parameter that does not decode (the Path extractor's rejection).
    assert_error(app.agent_get(ALICE, "/v1/tickets/%FF").await, 400, "bad_request").await;
    // A malformed JSON body.
    let malformed = app.client.post(url("/v1/widget/demo/messages")).header("content-type", "application/json").body("{").send().await;
    assert_error(malformed.unwrap(), 400, "bad_request").await;
    // No token, an unknown token.
    assert_error(app.client.get(url("/v1/tickets?shop=demo")).send().await.unwrap(), 401, "unauthorized").await;
    assert_error(app.agent_get("nobody", "/v1/tickets?shop=demo").await, 401, "unauthorized").await;
    // An unknown route, an unknown shop, an unknown page asset.
    assert_error(app.client.get(url("/no/such/route")).send().await.unwrap(), 404, "not_found").await;
    assert_error(app.post_signed("nope", DEMO_SECRET, now(), "{}").await, 404, "not_found").await;
    assert_error(app.client.get(url("/assets/nope.js")).send().await.unwrap(), 404, "not_found").await;
    // A method the path does not answer: 405 that still names the allowed methods.
    let headers = assert_error(app.client.delete(url("/healthz")).send().await.unwrap(), 405, "method_not_allowed").await;
    assert!(headers.get("allow").is_some_and(|v| v.to_str().unwrap().contains("GET")), "{headers:?}");
    // A body declared larger than the limit.
    let huge = "x".repeat(smartreply::config::LimitSettings::default().max_body_bytes + 1);
    let too_large = app.client.post(url("/v1/shops/demo/messages")).header("content-type", "application/json").body(huge).send().await;
    assert_error(too_large.unwrap(), 413, "payload_too_large").await;
    app.finish().await;
}

#[tokio::test]
async fn a_request_that_runs_past_the_timeout_answers_408_in_the_json_shape() {
    let app = spawn_app_with(
        Database::fresh().await,
        Options {
            tune: |s| {
                s.limits.request_timeout_ms = 300;
            },
            ..Options::default()
        },
    )
    .await;
    // A body announced but never finished: the handler waits on it until the timeout ends it.
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let head =
        "POST /v1/shops/demo/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"message_id\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if n == 0 || text.contains("}}") {
                return text.into_owned();
            }
        }
    })
    .await
    .expect("the server answered within 10 s");
    assert!(answered.starts_with("HTTP/1.1 408"), "{answered}");
    assert!(answered.to_ascii_lowercase().contains("content-type: application/json"), "{answered}");
    let body = answered.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answered}"));
    assert_eq!(body["error"]["code"], "timeout", "{answered}");
    app.finish().await;
}

#[tokio::test]
async fn oversize_or_too_many_headers_answer_431_in_the_json_shape() {
    let app = spawn_app().await;
    let url = format!("{}/healthz", app.address);
    let limit = smartreply::config::LimitSettings::default().max_header_bytes;
    // Ordinary requests with a few KB of cookies pass.
    let r = app.client.get(&url).header("cookie", "c".repeat(8 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Just over the limit, far over it (200 KB was accepted), a megabyte: refused with the
    // error, also on a kept-alive connection that just answered.
    for size in [limit + 1, 200 * 1024, 1024 * 1024] {
        let r = app.client.get(&url).header("x-big", "b".repeat(size)).send().await.unwrap();
        assert_error(r, 431, "headers_too_large").await;
    }
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..300 {
        many.insert(reqwest::header::HeaderName::try_from(format!("x-h-{i}")).unwrap(), reqwest::header::HeaderValue::from_static("1"));
    }
    assert_error(app.client.get(&url).headers(many).send().await.unwrap(), 431, "headers_too_large").await;
    // A request the parser rejects outright gets the JSON shape too, then the close.
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await.expect("closed").unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 400 ") && raw.contains("content-type: application/json"), "{raw}");
    assert!(raw.ends_with(r#"{"error":{"code":"bad_request","message":"malformed HTTP request"}}"#), "{raw}");
    // And the service is unharmed.
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);
    app.finish().await;
}
