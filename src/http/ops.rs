//! Operations: `/healthz` (process up), `/readyz` (store reachable, shops loaded), `/metrics`
//! (Prometheus text), `/openapi.json`; and the middleware that counts and times requests.

use super::AppState;
use crate::app::views;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// The OpenAPI 3 description of every endpoint, maintained by hand beside the routes.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
}

/// The process-wide Prometheus recorder (installed once; tests start many apps per process).
pub(crate) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

/// `# HELP` text of every metric the service records (a test checks none is missing).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("smartreply_http_requests_total", "HTTP requests by matched route and status code");
    describe_counter!("smartreply_connections_refused_total", "Connections closed at once because the connection cap was reached");
    describe_histogram!("smartreply_write_batch_size", "Writes committed together in one SQLite transaction (group commit)");
    describe_histogram!("smartreply_store_group_size", "Inbound messages taken together for one PostgreSQL statement (group commit)");
    describe_histogram!("smartreply_encoder_batch_texts", "Messages embedded together in one forward pass of the sentence encoder");
    describe_counter!("smartreply_knowledge_reloads_total", "Knowledge bases reloaded after an edit, by shop");
    describe_histogram!("smartreply_request_duration_seconds", Unit::Seconds, "HTTP request duration by matched route");
    describe_counter!("smartreply_decisions_total", "Customer messages routed, by decision (answered, escalated) and escalation reason");
    describe_histogram!("smartreply_pipeline_seconds", Unit::Seconds, "Time the in-process pipeline took to route one message");
    describe_counter!("smartreply_duplicate_messages_total", "Repeated message ids answered from the store without routing again");
    describe_counter!(
        "smartreply_drafts_total",
        "Agent replies by what became of the suggested draft (accepted, edited, rejected, followup)"
    );
    describe_counter!("smartreply_deliveries_total", "Attempts to deliver agent replies to shops' callback URLs, by outcome");
    describe_gauge!("smartreply_outbox_lag_seconds", Unit::Seconds, "Age of the oldest reply waiting in the outbox");
    describe_gauge!("smartreply_open_tickets", "Unresolved tickets per shop");
    describe_gauge!("smartreply_sla_breaches", "Tickets past their first-response deadline per shop");
    describe_gauge!("smartreply_resolution_breaches", "Complaints past their settlement deadline (resolved late or still open) per shop");
    describe_counter!("smartreply_chatwoot_events_total", "Chatwoot agent-bot events received, by outcome (accepted, duplicate, ignored)");
    describe_counter!("smartreply_chatwoot_events_processed_total", "Stored Chatwoot events worked off, by outcome (done, retry, failed)");
    describe_counter!("smartreply_chatwoot_calls_total", "Calls to Chatwoot's API (reply, acknowledgement, note, handoff), by outcome");
    describe_counter!("smartreply_survey_ratings_total", "Customers' ratings of resolved tickets, by shop and stars (1-5)");
    describe_counter!(
        "smartreply_answer_feedback_total",
        "Votes on bot answers in the widget or from storefronts, by shop and helpful (true, false)"
    );
    describe_counter!("smartreply_inspections_total", "Inspection items scored by inspectors, by shop and passed (true, false)");
    describe_counter!("smartreply_cases_total", "After-sales cases submitted, by shop and type");
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let r = views::readiness(&state).await;
    let ready = r.store && r.shops_loaded;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": if r.store { "ok" } else { "unreachable" },
        "shops_loaded": r.shops_loaded,
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    views::refresh_gauges(&state).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics().render()).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Counts requests by route and status, and times them.
pub(super) async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("smartreply_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("smartreply_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;

    /// Every path routed in `src/http` and `src/console` is described in the OpenAPI document.
    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = doc["paths"].as_object().expect("paths");
        let mut sources = Vec::new();
        for dir in ["src/http", "src/console"] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "rs") {
                    sources.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        let mut routed = Vec::new();
        for src in &sources {
            for part in src.split(".route(").skip(1) {
                if let Some(rest) = part.trim_start().strip_prefix('"') {
                    routed.push(rest.split('"').next().unwrap().to_string());
                }
            }
        }
        assert!(routed.len() >= 20, "found only {routed:?}");
        for route in routed.iter().filter(|r| r.starts_with('/')) {
            assert!(paths.contains_key(route), "{route} is routed but missing from openapi.json");
        }
    }
}
