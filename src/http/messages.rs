//! `POST /v1/shops/{shop}/messages`: a storefront's signed customer message, routed, stored
//! and answered — an automatic answer or an escalation with an immediate acknowledgement.

use super::{ApiError, AppState, Budget};
use crate::decide::{Action, ConversationContext, Decision};
use crate::ingest::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::ingest::{InboundBody, InboundMessage};
use crate::sla::{self, Promises};
use crate::store::{InboundRecord, Recorded, TicketPlan};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/shops/{shop}/messages", post(inbound))
}

/// The answer to an inbound message (contract).
#[derive(Debug, Serialize)]
pub struct MessageAnswer {
    message_id: String,
    conversation_id: String,
    decision: &'static str,
    reply: Reply,
    intent: Intent,
    sentiment: Sentiment,
    faq_id: Option<String>,
    ticket_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Reply {
    text: String,
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Intent {
    name: String,
    confidence: f32,
}

#[derive(Debug, Serialize)]
struct Sentiment {
    label: &'static str,
    score: f32,
}

/// Reads a body up to the configured limit; larger bodies are the contract's 413.
pub(super) async fn read_body(state: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let limit = state.settings().limits.max_body_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge(limit))
}

async fn inbound(State(state): State<AppState>, Path(shop): Path<String>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let runtime = state.shop(&shop)?;
    let bytes = read_body(&state, body).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify(
        runtime.settings.webhook_secret.expose(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &bytes,
        jiff::Timestamp::now().as_second(),
    )
    .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let message = super::error::parse_json::<InboundBody>(&bytes)?.parse().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let channel = message.channel.clone().or_else(|| Some("webhook".into()));
    let json = handle_message(&state, &shop, message, channel).await?;
    Ok(json_response(json))
}

/// A stored JSON answer as a response (bytes identical on replay).
pub(super) fn json_response(json: String) -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// Routes, stores and answers one message signed by the shop (webhook budget).
/// Returns the JSON answer, identical for a repeated message id.
pub(crate) async fn handle_message(
    state: &AppState,
    shop: &str,
    message: InboundMessage,
    channel: Option<String>,
) -> Result<String, ApiError> {
    handle_message_within(state, shop, message, channel, Budget::Webhook).await
}

/// Routes, stores and answers one message, drawing on `budget`'s per-shop rate limit; shared
/// by the webhook and the widget channel.
pub(super) async fn handle_message_within(
    state: &AppState,
    shop: &str,
    message: InboundMessage,
    channel: Option<String>,
    budget: Budget,
) -> Result<String, ApiError> {
    let started = Instant::now();
    let store = state.store();
    // A retry of a processed message costs no rate-limit token and creates nothing.
    if let Some(stored) = store.find_response(shop, &message.message_id).await? {
        metrics::counter!("smartreply_duplicate_messages_total").increment(1);
        return Ok(stored);
    }
    state.shop_budget(budget).check(shop).map_err(ApiError::RateLimited)?;
    state.customer_limiter().check(&format!("{shop}/{}", message.customer_id)).map_err(ApiError::RateLimited)?;

    let runtime = state.shop(shop)?;
    let engine = state.engine().shop(shop).ok_or_else(|| ApiError::Unavailable(format!("shop {shop} is not loaded")))?;
    for _attempt in 0..2 {
        let (answered_faq_ids, open_ticket_id) = store.conversation_state(shop, &message.conversation_id).await?;
        let now = jiff::Timestamp::now();
        let ctx = ConversationContext { answered_faq_ids, open_ticket_id, agents_online: runtime.hours.is_open(now) };
        let route_started = Instant::now();
        let decision = Arc::clone(&engine).route_off_executor(message.text.clone(), ctx.clone()).await;
        let latency_us = route_started.elapsed().as_micros() as i64;

        let ticket = match &decision.action {
            Action::Answer { .. } => None,
            Action::Escalate(e) => Some(match &ctx.open_ticket_id {
                Some(id) => TicketPlan::Join { id: id.clone() },
                None => {
                    let promises = Promises {
                        first_response_minutes: runtime.settings.first_response_minutes.unwrap_or(engine.first_response_minutes()),
                        complaint_hours: engine.complaint_hours(),
                    };
                    TicketPlan::New {
                        id: format!("t-{}", uuid::Uuid::now_v7()),
                        priority: e.priority.as_str().into(),
                        priority_rank: e.priority.rank(),
                        reason: e.reason.as_str().into(),
                        intent: decision.intent.name.clone(),
                        intent_confidence: f64::from(decision.intent.confidence),
                        sentiment: decision.sentiment.label.as_str().into(),
                        sentiment_score: f64::from(decision.sentiment.score),
                        lang: decision.lang.code().into(),
                        faq_id: decision.retrieval.as_ref().map(|r| r.faq_id.clone()),
                        draft: e.draft.clone(),
                        extracted: serde_json::to_string(&decision.extracted).unwrap_or_else(|_| "{}".into()),
                        due_at: sla::due_at(now, e.priority, e.reason, &runtime.hours, promises).as_millisecond(),
                    }
                }
            }),
        };
        let answer = answer_json(&message, &decision, ticket.as_ref().map(|t| t.id().to_string()));
        let record = record(shop, &message, channel.clone(), &decision, ticket, answer.clone(), latency_us);
        match store.record_inbound(&record).await? {
            Recorded::Stored => {
                state.events().notify_waiters();
                let outcome = if record.decision == "answered" { "answered" } else { "escalated" };
                metrics::counter!("smartreply_decisions_total", "decision" => outcome, "reason" => record.reason.clone().unwrap_or_default())
                    .increment(1);
                metrics::histogram!("smartreply_pipeline_seconds").record(latency_us as f64 / 1e6);
                tracing::info!(
                    shop,
                    conversation = %message.conversation_id,
                    decision = outcome,
                    reason = record.reason.as_deref().unwrap_or("-"),
                    intent = %decision.intent.name,
                    sentiment = decision.sentiment.label.as_str(),
                    text = %crate::redact::customer_text(&message.text),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "message routed"
                );
                return Ok(answer);
            }
            Recorded::Duplicate(stored) => return Ok(stored),
            // Another message of this conversation opened a ticket meanwhile: join it.
            Recorded::TicketRace => continue,
        }
    }
    Err(ApiError::Internal("conversation kept changing while the message was stored".into()))
}

fn answer_json(message: &InboundMessage, decision: &Decision, ticket_id: Option<String>) -> String {
    let (decision_name, kind) = match &decision.action {
        Action::Answer { .. } => ("answered", "answer"),
        Action::Escalate(_) => ("escalated", "acknowledgement"),
    };
    serde_json::to_string(&MessageAnswer {
        message_id: message.message_id.clone(),
        conversation_id: message.conversation_id.clone(),
        decision: decision_name,
        reply: Reply { text: decision.reply_text().to_string(), kind },
        intent: Intent { name: decision.intent.name.clone(), confidence: (decision.intent.confidence * 1000.0).round() / 1000.0 },
        sentiment: Sentiment { label: decision.sentiment.label.as_str(), score: (decision.sentiment.score * 1000.0).round() / 1000.0 },
        faq_id: decision.answered_faq_id().map(String::from),
        ticket_id,
    })
    .expect("answer serialises")
}

fn record(
    shop: &str,
    message: &InboundMessage,
    channel: Option<String>,
    decision: &Decision,
    ticket: Option<TicketPlan>,
    response: String,
    latency_us: i64,
) -> InboundRecord {
    let (decision_name, reply_kind, reason) = match &decision.action {
        Action::Answer { .. } => ("answered", "answer", None),
        Action::Escalate(e) => ("escalated", "acknowledgement", Some(e.reason.as_str().to_string())),
    };
    InboundRecord {
        shop: shop.into(),
        message_id: message.message_id.clone(),
        conversation_id: message.conversation_id.clone(),
        customer_id: message.customer_id.clone(),
        text: message.text.clone(),
        channel,
        reply_text: decision.reply_text().into(),
        reply_kind,
        decision: decision_name,
        reason,
        intent: decision.intent.name.clone(),
        intent_confidence: f64::from(decision.intent.confidence),
        sentiment: decision.sentiment.label.as_str().into(),
        sentiment_score: f64::from(decision.sentiment.score),
        faq_id: decision.answered_faq_id().map(String::from),
        models: serde_json::to_string(&decision.models).unwrap_or_default(),
        detail: serde_json::to_string(decision).unwrap_or_default(),
        latency_us,
        ticket,
        response,
    }
}
