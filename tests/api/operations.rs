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

/// `smartreply ARGS` from `folder` with `env`: exit status, stdout, stderr.
async fn smartreply(args: &[&str], folder: &std::path::Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_smartreply"));
    command.args(args).current_dir(folder).env_remove("SMARTREPLY_MODELS_DIR").envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn version_run_elsewhere_says_where_it_looked_and_fails() {
    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, out, err) = smartreply(&["--version"], elsewhere.path(), &[]).await;
    assert!(!ok, "models missing is a failure: {out}");
    // Where it looked, absolute: the folder it was run from.
    assert!(out.contains(&format!("sentiment model: unavailable ({}", elsewhere.path().display())), "{out}");
    assert!(out.contains("sentiment-v1.json"), "{out}");
    assert!(out.contains("sentence encoder: unavailable ("), "{out}");
    assert!(err.contains("missing") && err.contains("--config"), "{err}");
}

#[tokio::test]
async fn version_resolves_paths_like_serve_from_any_folder() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let elsewhere = tempfile::tempdir().unwrap();
    // Serve's own overrides: a configuration file and SMARTREPLY_MODELS_DIR.
    let config = elsewhere.path().join("smartreply.toml");
    let kb = repo.join("knowledge-base/demo");
    std::fs::write(
        &config,
        format!("[[shops]]\nid = \"demo\"\nknowledge_base = {:?}\nwebhook_secret = \"long-enough-secret\"\n", kb.display().to_string()),
    )
    .unwrap();
    let models = repo.join("models");
    let env = [("SMARTREPLY_MODELS_DIR", models.to_str().unwrap())];
    let (ok, out, err) = smartreply(&["--version", "--config", config.to_str().unwrap()], elsewhere.path(), &env).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("({})", models.join("sentiment-v1.json").display())), "{out}");
    assert!(out.contains("intent model, shop demo: logreg+e5-kb"), "{out}");
    // Models found, knowledge base not: still a failure.
    let (ok, out, _) = smartreply(&["--version"], elsewhere.path(), &env).await;
    assert!(!ok && out.contains("intent model, shop demo: unavailable"), "{out}");
}

#[tokio::test]
async fn eval_checks_its_file_before_loading_models() {
    let dir = tempfile::tempdir().unwrap();
    // No models at all: an error about the file proves it was checked first.
    let no_models = [("SMARTREPLY_MODELS_DIR", "/nonexistent/models")];
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing = dir.path().join("missing.jsonl");
    let empty = dir.path().join("empty.jsonl");
    let malformed = dir.path().join("malformed.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    std::fs::write(&malformed, "{\"id\": \"x\"\n").unwrap();
    for (file, says) in [
        (&missing, format!("cannot read {}", missing.display())),
        (&empty, "no evaluation cases".into()),
        (&malformed, format!("{}:1:", malformed.display())),
    ] {
        let started = std::time::Instant::now();
        let (ok, out, err) = smartreply(&["eval", "--data", file.to_str().unwrap()], repo, &no_models).await;
        assert!(!ok, "{out}");
        assert!(err.contains(&says) && !err.contains("/nonexistent/models"), "{says}: {err}");
        assert!(started.elapsed() < Duration::from_secs(10), "answered at once");
    }
}

#[tokio::test]
async fn serve_refuses_the_network_with_the_development_secrets_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smartreply"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SMARTREPLY_LISTEN", "0.0.0.0:0")
        .env("SMARTREPLY_DATABASE_URL", format!("sqlite://{}/dev.db", dir.path().display()))
        .env_remove("SMARTREPLY_ALLOW_DEV_SECRETS_ON_NETWORK")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Refused before anything loads: it exits at once (a service that started is killed).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("serve listened on 0.0.0.0 with the development secrets: {stderr}"));
    assert!(!status.success(), "{stderr}");
    for named in ["0.0.0.0:0", "--allow-dev-secrets-on-network", "SMARTREPLY_ALLOW_DEV_SECRETS_ON_NETWORK", "shop demo: webhook_secret"] {
        assert!(stderr.contains(named), "{named} not named: {stderr}");
    }
    assert!(!stderr.contains(smartreply::config::DEV_AGENT_TOKEN), "never prints the secret: {stderr}");
}

#[tokio::test]
async fn while_models_load_every_request_gets_503_at_once_then_the_service_answers() {
    let db = Database::fresh().await;
    let settings = settings(&db, &Options::default());
    let limits = settings.limits.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The models "load" until the test lets them.
    let load = async move {
        let _ = loaded_rx.await;
        smartreply::server::build_state_with_engine(settings, shared_engine().await).await
    };
    let server = tokio::spawn(smartreply::server::serve_while_loading(listener, limits, load, async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let body = r#"{"message_id":"m-start","conversation_id":"c-start","customer_id":"u-1","text":"满多少包邮呀？"}"#;
    let webhook = || {
        let ts = now();
        client
            .post(format!("{base}/v1/shops/demo/messages"))
            .header("content-type", "application/json")
            .header("X-Smartreply-Timestamp", ts.to_string())
            .header("X-Smartreply-Signature", smartreply::ingest::signature::sign(DEMO_SECRET, ts, body.as_bytes()))
            .body(body)
            .send()
    };
    let started = std::time::Instant::now();
    let refused = webhook().await.expect("answered, not held");
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once: {:?}", started.elapsed());
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let error = json_of(refused, 503).await;
    assert_eq!(error["error"]["code"], "starting", "{error}");
    for probe in ["/healthz", "/readyz", "/console"] {
        let r = client.get(format!("{base}{probe}")).send().await.unwrap();
        assert_eq!(json_of(r, 503).await["error"]["code"], "starting", "{probe}");
    }
    loaded_tx.send(()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status()).ok() != Some(reqwest::StatusCode::OK) {
        assert!(std::time::Instant::now() < deadline, "the service did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The same client and message: answered now (nothing was stored while starting).
    let answered = json_of(webhook().await.unwrap(), 200).await;
    assert_eq!(answered["decision"], "answered", "{answered}");
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    db.drop_database().await;
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
