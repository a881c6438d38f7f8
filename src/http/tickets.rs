//! The agent API: the queue, one ticket with its conversation, claim, reply (recording what
//! happened to the draft, and queueing delivery to the shop), resolve; stats; quick phrases.

use super::auth::agents_shop;
use super::error::{Path, Query};
use super::{ApiError, AppState};
use crate::app::Agent;
use crate::app::tickets::{self, Channel, ReplyRequest};
use crate::app::{TicketRow, views};
use crate::domain::{DeliveryStatus, DraftOutcome, TicketStatus, TicketTier};
use axum::body::Body;
use axum::extract::State;
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
        .route("/v1/tickets/{id}/transfer", post(transfer))
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
    tier: Option<String>,
}

async fn me(agent: Agent) -> Json<Value> {
    Json(json!({ "name": agent.name, "shops": agent.shops, "roles": agent.roles }))
}

async fn queue(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let status = q.status.as_deref().unwrap_or("open");
    let status =
        TicketStatus::parse(status).ok_or_else(|| ApiError::BadRequest(format!("status {status:?}: use open, claimed or resolved")))?;
    let tier = match q.tier.as_deref() {
        None | Some("") => None,
        Some(t) => Some(TicketTier::parse(t).ok_or_else(|| ApiError::BadRequest(format!("tier {t:?}: use first or second")))?),
    };
    let tickets = views::queue(&state, shop, status, tier).await?;
    Ok(Json(json!({ "tickets": tickets })))
}

async fn ticket(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let (ticket, messages, survey) = tickets::with_conversation(&state, &agent, &id).await?;
    let mut value = serde_json::to_value(&ticket)?;
    value["messages"] = serde_json::to_value(messages)?;
    value["survey"] = serde_json::to_value(survey)?;
    Ok(Json(value))
}

async fn claim(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<TicketRow>, ApiError> {
    Ok(Json(tickets::claim(&state, &agent, &id).await?))
}

async fn resolve(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<TicketRow>, ApiError> {
    Ok(Json(tickets::resolve(&state, Channel::Console(&agent), &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    note: String,
}

async fn transfer(State(state): State<AppState>, agent: Agent, Path(id): Path<String>, body: Body) -> Result<Json<TicketRow>, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let body: TransferBody = super::error::parse_json(&bytes)?;
    Ok(Json(tickets::transfer(&state, &agent, &id, &body.note).await?))
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
    let bytes = super::messages::read_body(&state, body).await?;
    let body: ReplyBody = super::error::parse_json(&bytes)?;
    let draft =
        DraftOutcome::parse(&body.draft).ok_or_else(|| ApiError::BadRequest("draft must be accepted, edited or rejected".into()))?;
    let sent =
        tickets::reply(&state, Channel::Console(&agent), &id, ReplyRequest { text: body.text, draft: Some(draft), resolve: body.resolve })
            .await?;
    Ok(Json(json!({
        "message": sent.message,
        "in_reply_to": sent.in_reply_to,
        "delivery": sent.delivery,
        "ticket": sent.ticket,
    })))
}

async fn stats(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let mut stats = serde_json::to_value(views::stats(&state, shop).await?)?;
    // Additive: the outcome measures of the knowledge loop (docs/knowledge-loop.md).
    stats["outcomes"] = serde_json::to_value(views::outcomes(&state, shop).await?)?;
    Ok(Json(stats))
}

async fn timeseries(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=24 * 31).contains(&hours) {
        return Err(ApiError::BadRequest("hours must be between 1 and 744".into()));
    }
    Ok(Json(json!({ "buckets": views::timeseries(&state, shop, hours).await? })))
}

async fn drafts(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    Ok(Json(views::draft_report(&state, shop).await?))
}

async fn quick_phrases(State(state): State<AppState>, agent: Agent, Path(shop): Path<String>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &shop)?;
    Ok(Json(json!({ "phrases": shop.engine().quick_phrases() })))
}

async fn outbox(State(state): State<AppState>, agent: Agent, Query(q): Query<ShopQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => {
            Some(DeliveryStatus::parse(s).ok_or_else(|| ApiError::BadRequest("status must be pending, delivered or failed".into()))?)
        }
    };
    Ok(Json(json!({ "deliveries": views::deliveries(&state, shop, status).await? })))
}
