//! The knowledge loop for leads (`docs/knowledge-loop.md`): gaps mined from the queue, a
//! proposal's replayed effect, approval into the knowledge base, rejection.

use super::auth::agents_shop;
use super::error::Query;
use super::{ApiError, AppState};
use crate::app::Agent;
use crate::app::gaps::{self, GapError, Period, ProposedEntry, TemplateChange};
use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/gaps", get(report))
        .route("/v1/gaps/replay", post(replay))
        .route("/v1/gaps/approve", post(approve))
        .route("/v1/gaps/templates/approve", post(approve_template))
        .route("/v1/gaps/reject", post(reject))
}

/// Days mined when the request does not say.
const DEFAULT_DAYS: u32 = 30;

#[derive(Deserialize)]
struct GapQuery {
    shop: String,
    days: Option<u32>,
}

fn period(days: Option<u32>) -> Result<Period, ApiError> {
    match days.unwrap_or(DEFAULT_DAYS) {
        d @ 1..=365 => Ok(Period::last_days(d)),
        _ => Err(ApiError::BadRequest("days must be between 1 and 365".into())),
    }
}

async fn report(State(state): State<AppState>, agent: Agent, Query(q): Query<GapQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    Ok(Json(serde_json::to_value(gaps::report_for(&state, &agent, shop, period(q.days)?).await?)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    shop: String,
    #[serde(default)]
    days: Option<u32>,
    entry: ProposedEntry,
}

async fn replay(State(state): State<AppState>, agent: Agent, body: Body) -> Result<Json<Value>, ApiError> {
    let b: ReplayBody = super::error::parse_json(&super::messages::read_body(&state, body).await?)?;
    let shop = agents_shop(&state, &agent, &b.shop)?;
    Ok(Json(serde_json::to_value(gaps::replay(&state, &agent, shop, period(b.days)?, b.entry).await?)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    shop: String,
    entry: ProposedEntry,
    #[serde(default)]
    message_ids: Vec<String>,
}

async fn approve(State(state): State<AppState>, agent: Agent, body: Body) -> Result<Json<Value>, ApiError> {
    let b: ApproveBody = super::error::parse_json(&super::messages::read_body(&state, body).await?)?;
    let shop = agents_shop(&state, &agent, &b.shop)?;
    Ok(Json(serde_json::to_value(gaps::approve_entry(&state, &agent, shop, b.entry, b.message_ids).await?)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    shop: String,
    intent: String,
    sentiment: String,
    lang: String,
    current: String,
    proposed: String,
    #[serde(default)]
    ticket_ids: Vec<String>,
}

async fn approve_template(State(state): State<AppState>, agent: Agent, body: Body) -> Result<Json<Value>, ApiError> {
    let b: TemplateBody = super::error::parse_json(&super::messages::read_body(&state, body).await?)?;
    let shop = agents_shop(&state, &agent, &b.shop)?;
    let change = TemplateChange {
        intent: b.intent,
        sentiment: b.sentiment,
        lang: b.lang,
        current: b.current,
        proposed: b.proposed,
        ticket_ids: b.ticket_ids,
    };
    Ok(Json(serde_json::to_value(gaps::approve_template(&state, &agent, shop, change).await?)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    shop: String,
    /// The topic's or template proposal's id.
    id: String,
    /// Its message ids (a topic) or ticket ids (a template change).
    evidence: Vec<String>,
}

async fn reject(State(state): State<AppState>, agent: Agent, body: Body) -> Result<Json<Value>, ApiError> {
    let b: RejectBody = super::error::parse_json(&super::messages::read_body(&state, body).await?)?;
    let shop = agents_shop(&state, &agent, &b.shop)?;
    gaps::reject(&state, &agent, shop, b.id.clone(), b.evidence).await?;
    Ok(Json(json!({ "id": b.id, "status": "rejected" })))
}

/// The knowledge loop's failures, mapped to the contract once.
impl From<GapError> for ApiError {
    fn from(e: GapError) -> Self {
        match e {
            GapError::Forbidden(message) => ApiError::Forbidden(message),
            GapError::Invalid(message) => ApiError::BadRequest(message),
            e @ GapError::KnowledgeBase(_) => {
                let message = e.to_string();
                let GapError::KnowledgeBase(problems) = e else { unreachable!("matched above") };
                ApiError::Unprocessable { code: "invalid_entry", message, fields: [("knowledge_base", problems.join("\n"))].into() }
            }
            GapError::Conflict(message) => ApiError::Conflict(message),
            GapError::Files(message) => ApiError::Internal(message),
            GapError::Store(e) => ApiError::Store(e),
        }
    }
}
