//! Satisfaction, inspection and the scorecard (`docs/aftersales.md`): ratings and answer votes
//! from signed storefronts, the inspection sample and inspectors' scores, the scorecard as
//! JSON and CSV. The widget's ratings and votes are in `widget.rs`.

use super::auth::agents_shop;
use super::error::{Path, Query};
use super::{ApiError, AppState};
use crate::app::Agent;
use crate::app::quality;
use crate::quality::{Checklist, Period};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shops/{shop}/surveys/{id}", post(signed_rating))
        .route("/v1/shops/{shop}/answers/{message_id}/feedback", post(signed_feedback))
        .route("/v1/inspections", get(inspections))
        .route("/v1/inspections/{id}", post(score))
        .route("/v1/scorecard", get(scorecard))
        .route("/v1/scorecard/export", get(export))
}

/// A rating as the widget or the storefront sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RatingBody {
    pub(super) rating: i64,
    #[serde(default)]
    pub(super) comment: Option<String>,
}

/// A vote on a bot answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedbackBody {
    pub(super) helpful: bool,
}

async fn signed_rating(
    State(state): State<AppState>,
    Path((shop, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (shop, bytes) = super::messages::signed_body(&state, &shop, &headers, body).await?;
    let rating: RatingBody = super::error::parse_json(&bytes)?;
    quality::rate(&state, shop, &id, None, rating.rating, rating.comment).await?;
    Ok(Json(json!({ "survey_id": id, "rating": rating.rating })))
}

async fn signed_feedback(
    State(state): State<AppState>,
    Path((shop, message_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (shop, bytes) = super::messages::signed_body(&state, &shop, &headers, body).await?;
    let vote: FeedbackBody = super::error::parse_json(&bytes)?;
    quality::answer_feedback(&state, shop, &message_id, None, vote.helpful).await?;
    Ok(Json(json!({ "message_id": message_id, "helpful": vote.helpful })))
}

#[derive(Deserialize)]
struct InspectionQuery {
    shop: String,
    status: Option<String>,
}

async fn inspections(State(state): State<AppState>, agent: Agent, Query(q): Query<InspectionQuery>) -> Result<Json<Value>, ApiError> {
    let shop = agents_shop(&state, &agent, &q.shop)?;
    let scored = match q.status.as_deref() {
        None | Some("") => None,
        Some("pending") => Some(false),
        Some("scored") => Some(true),
        Some(s) => return Err(ApiError::BadRequest(format!("status {s:?}: use pending or scored"))),
    };
    Ok(Json(json!({ "inspections": quality::inspections(&state, shop, scored).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreBody {
    correct: bool,
    polite: bool,
    compliant: bool,
    no_blind_canned: bool,
    #[serde(default)]
    note: Option<String>,
}

async fn score(State(state): State<AppState>, agent: Agent, Path(id): Path<String>, body: Body) -> Result<Json<Value>, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let b: ScoreBody = super::error::parse_json(&bytes)?;
    let checklist = Checklist { correct: b.correct, polite: b.polite, compliant: b.compliant, no_blind_canned: b.no_blind_canned };
    Ok(Json(serde_json::to_value(quality::score(&state, &agent, &id, checklist, b.note).await?)?))
}

#[derive(Deserialize)]
struct ScorecardQuery {
    shop: String,
    period: Option<String>,
    date: Option<String>,
}

async fn scorecard_of(
    state: &AppState,
    agent: &Agent,
    q: &ScorecardQuery,
) -> Result<(Period, jiff::civil::Date, crate::quality::Scorecard), ApiError> {
    let shop = agents_shop(state, agent, &q.shop)?;
    let period = match q.period.as_deref() {
        None | Some("") | Some("day") => Period::Day,
        Some("week") => Period::Week,
        Some(p) => return Err(ApiError::BadRequest(format!("period {p:?}: use day or week"))),
    };
    let date = super::cases::date("date", q.date.as_deref())?;
    let (start, card) = quality::scorecard(state, shop, period, date).await?;
    Ok((period, start, card))
}

async fn scorecard(State(state): State<AppState>, agent: Agent, Query(q): Query<ScorecardQuery>) -> Result<Json<Value>, ApiError> {
    let (period, start, card) = scorecard_of(&state, &agent, &q).await?;
    let mut value = serde_json::to_value(&card)?;
    value["shop"] = json!(q.shop);
    value["period"] = json!({ "kind": period, "start": start.to_string() });
    Ok(Json(value))
}

async fn export(State(state): State<AppState>, agent: Agent, Query(q): Query<ScorecardQuery>) -> Result<Response, ApiError> {
    let (_, start, card) = scorecard_of(&state, &agent, &q).await?;
    let body = quality::scorecard_csv(start, &card);
    Ok(super::cases::csv_response(&format!("scorecard-{}-{start}.csv", q.shop), body))
}
