//! The agent API: the queue, one ticket with its conversation, claim, reply (recording what
//! happened to the draft, and queueing delivery to the shop), resolve; stats; quick phrases.

use super::{Agent, ApiError, AppState};
use crate::domain::{DraftOutcome, TicketStatus};
use crate::store::TicketRow;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/tickets", get(queue))
        .route("/v1/tickets/{id}", get(ticket))
        .route("/v1/tickets/{id}/claim", post(claim))
        .route("/v1/tickets/{id}/reply", post(reply))
        .route("/v1/tickets/{id}/resolve", post(resolve))
        .route("/v1/stats", get(stats))
        .route("/v1/stats/timeseries", get(timeseries))
        .route("/v1/stats/drafts", get(drafts))
        .route("/v1/shops/{shop}/quick-phrases", get(quick_phrases))
        .route("/v1/outbox", get(outbox))
}

#[derive(Deserialize)]
struct ShopQuery {
    shop: String,
    status: Option<String>,
    hours: Option<i64>,
}

async fn me(agent: Agent) -> Json<Value> {
    Json(json!({ "name": agent.name, "shops": agent.shops }))
}

async fn queue(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    let status = q.status.as_deref().unwrap_or("open");
    TicketStatus::parse(status).ok_or_else(|| ApiError::BadRequest(format!("status {status:?}: use open, claimed or resolved")))?;
    let tickets = state.store().tickets(&q.shop, status).await?;
    Ok(Json(json!({ "tickets": tickets })))
}

/// A ticket the agent may see, or 404 (also for another shop's ticket).
async fn visible_ticket(state: &AppState, agent: &Agent, id: &str) -> Result<TicketRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("no ticket {id:?}"));
    let ticket = state.store().ticket(id).await?.ok_or_else(not_found)?;
    agent.require_shop(&ticket.shop).map_err(|_| not_found())?;
    Ok(ticket)
}

async fn ticket(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let ticket = visible_ticket(&state, &agent, &id).await?;
    let messages = state.store().conversation(&ticket.shop, &ticket.conversation_id).await?;
    let mut value = serde_json::to_value(&ticket).map_err(|e| ApiError::Internal(e.to_string()))?;
    value["messages"] = serde_json::to_value(messages).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(value))
}

async fn claim(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    visible_ticket(&state, &agent, &id).await?;
    if !state.store().claim(&id, &agent.name).await? {
        return Err(ApiError::Conflict("the ticket is already resolved".into()));
    }
    state.events().notify_waiters();
    Ok(Json(serde_json::to_value(visible_ticket(&state, &agent, &id).await?).unwrap_or_default()))
}

async fn resolve(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    visible_ticket(&state, &agent, &id).await?;
    if !state.store().resolve(&id, &agent.name).await? {
        return Err(ApiError::Conflict("the ticket is already resolved".into()));
    }
    state.events().notify_waiters();
    Ok(Json(serde_json::to_value(visible_ticket(&state, &agent, &id).await?).unwrap_or_default()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: String,
    draft: String,
    #[serde(default)]
    resolve: bool,
}

async fn reply(State(state): State<AppState>, agent: Agent, Path(id): Path<String>, body: Body) -> Result<Json<Value>, ApiError> {
    let ticket = visible_ticket(&state, &agent, &id).await?;
    let bytes = super::messages::read_body(&state, body).await?;
    let body: ReplyBody = super::error::parse_json(&bytes)?;
    let outcome =
        DraftOutcome::parse(&body.draft).ok_or_else(|| ApiError::BadRequest("draft must be accepted, edited or rejected".into()))?;
    let chars = body.text.chars().count();
    if body.text.trim().is_empty() || chars > crate::ingest::MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!("text must have 1 to {} characters", crate::ingest::MAX_TEXT_CHARS)));
    }
    if ticket.status == "resolved" {
        return Err(ApiError::Conflict("the ticket is already resolved".into()));
    }
    let shop = state.shop(&ticket.shop)?;
    // A Chatwoot conversation's customer is in Chatwoot, not behind the shop's callback.
    let chatwoot = crate::chatwoot::display_id(&ticket.conversation_id).filter(|_| shop.settings.chatwoot.is_some());
    let outbox: Option<crate::store::OutboxBody> = (shop.settings.callback_url.is_some() && chatwoot.is_none()).then(|| {
        let (shop, conversation_id, text, agent_name) =
            (ticket.shop.clone(), ticket.conversation_id.clone(), body.text.clone(), agent.name.clone());
        Box::new(move |message_id: &str, in_reply_to: Option<&str>, now_ms: i64| {
            json!({
                "event": "reply",
                "shop": shop,
                "conversation_id": conversation_id,
                "message_id": message_id,
                "in_reply_to": in_reply_to,
                "text": text,
                "author": { "type": "agent", "name": agent_name },
                "sent_at": crate::store::rfc3339(now_ms),
            })
            .to_string()
        }) as crate::store::OutboxBody
    });
    let sent = state.store().reply(&ticket, &agent.name, &body.text, outcome.as_str(), body.resolve, outbox).await?;
    let mut delivery = sent.outbox_id.as_ref().map(|id| json!({ "id": id, "status": "pending" }));
    if let Some(display_id) = chatwoot {
        let call = crate::chatwoot::process::agent_reply_call(&ticket.shop, &sent.message.id, display_id, &body.text);
        state.store().chatwoot_enqueue(&ticket.shop, std::slice::from_ref(&call)).await?;
        state.chatwoot_wake().calls.notify_one();
        delivery = Some(json!({ "id": call.id, "status": "pending", "via": "chatwoot" }));
    }
    metrics::counter!("smartreply_drafts_total", "outcome" => outcome.as_str()).increment(1);
    state.events().notify_waiters();
    if sent.outbox_id.is_some() {
        state.outbox_wake().notify_one();
    }
    Ok(Json(json!({
        "message": sent.message,
        "in_reply_to": sent.in_reply_to,
        "delivery": delivery,
        "ticket": visible_ticket(&state, &agent, &id).await?,
    })))
}

async fn stats(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    Ok(Json(serde_json::to_value(state.store().stats(&q.shop).await?).unwrap_or_default()))
}

async fn timeseries(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=24 * 31).contains(&hours) {
        return Err(ApiError::BadRequest("hours must be between 1 and 744".into()));
    }
    Ok(Json(json!({ "buckets": state.store().timeseries(&q.shop, hours).await? })))
}

async fn drafts(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    Ok(Json(crate::learn::draft_report(state.store(), &q.shop).await?))
}

async fn quick_phrases(State(state): State<AppState>, agent: Agent, Path(shop): Path<String>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&shop)?;
    let engine = state.engine().shop(&shop).ok_or_else(|| ApiError::NotFound(format!("no shop {shop:?}")))?;
    Ok(Json(json!({ "phrases": engine.quick_phrases() })))
}

async fn outbox(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    agent.require_shop(&q.shop)?;
    state.shop(&q.shop)?;
    if let Some(s) = q.status.as_deref()
        && !matches!(s, "pending" | "delivered" | "failed")
    {
        return Err(ApiError::BadRequest("status must be pending, delivered or failed".into()));
    }
    Ok(Json(json!({ "deliveries": state.store().deliveries(&q.shop, q.status.as_deref()).await? })))
}
