//! What operators meet first: the root page, metrics with help text, plain logs when piped,
//! and `--version` naming the models.

use crate::helpers::*;
use std::io::BufRead;
use std::time::Duration;

#[tokio::test]
async fn the_root_page_leads_to_the_console_the_demo_and_the_api_description() {
    let app = spawn_app().await;
    let response = app.client.get(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    for link in ["href=\"/console\"", "href=\"/demo\"", "href=\"/openapi.json\"", "href=\"/metrics\""] {
        assert!(html.contains(link), "{link} missing");
    }
    app.finish().await;
}

#[tokio::test]
async fn every_metric_has_a_help_line() {
    let app = spawn_app().await;
    // Traffic, so that counters, gauges and histograms all have samples.
    app.send("m-1", "c-1", "满多少包邮呀？").await;
    app.send("m-2", "c-2", "快递一个星期了还没到，你们到底还发不发货！！！再不处理我就投诉").await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    let typed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).collect();
    assert!(typed.contains(&"smartreply_decisions_total") && typed.contains(&"smartreply_http_requests_total"), "{text}");
    for metric in typed {
        assert!(text.lines().any(|l| l.starts_with(&format!("# HELP {metric} "))), "{metric} has no # HELP line");
    }
    app.finish().await;
}

#[tokio::test]
async fn version_names_the_sentiment_and_intent_models() {
    let out =
        tokio::task::spawn_blocking(|| std::process::Command::new(env!("CARGO_BIN_EXE_smartreply")).arg("--version").output().unwrap())
            .await
            .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("smartreply {}", env!("CARGO_PKG_VERSION"))), "{text}");
    let sentiment: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("models/sentiment-v1.json").unwrap()).unwrap();
    assert!(text.contains(&format!("sentiment model: {}", sentiment["version"].as_str().unwrap())), "{text}");
    assert!(text.contains("sentence encoder: e5-small-q4-zh-en-"), "{text}");
    assert!(text.contains("intent model, shop demo: logreg+e5-kb"), "{text}");
}

#[tokio::test]
async fn logs_carry_no_colour_codes_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/logs.db", dir.path().display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smartreply"))
        .arg("serve")
        .env("SMARTREPLY_LISTEN", "127.0.0.1:0")
        .env("SMARTREPLY_DATABASE_URL", db)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("SMARTREPLY_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Log lines until the start-up line (an INFO line with fields: on a terminal its level
    // and field names are coloured).
    let reader = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("smartreply starting") {
                break;
            }
        }
        seen
    });
    let logs = tokio::time::timeout(Duration::from_secs(60), reader).await;
    let _ = child.kill();
    let _ = child.wait();
    let logs = logs.expect("the service logged its start-up within 60 s").unwrap();
    // The listen address from SMARTREPLY_LISTEN shows the environment override applied.
    assert!(logs.contains("INFO") && logs.contains("127.0.0.1:0"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in piped logs: {logs:?}");
}
