//! After-sales cases (`docs/aftersales.md`): a ticket's case, the agent's edits and the
//! submission; a shop's cases as JSON and CSV.

use super::auth::agents_shop;
use super::error::{Path, Query};
use super::{ApiError, AppState};
use crate::aftersales::{ALWAYS_REQUIRED, CaseFields, CaseReason, CaseType, Responsibility};
use crate::app::Agent;
use crate::app::cases;
use crate::domain::CaseStatus;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tickets/{id}/case", get(get_case).put(save_case))
        .route("/v1/tickets/{id}/case/submit", post(submit_case))
        .route("/v1/cases", get(list))
        .route("/v1/cases/requirements", get(requirements))
        .route("/v1/cases/export", get(export))
}

async fn get_case(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(serde_json::to_value(cases::get(&state, &agent, &id).await?)?))
}

/// The form's fields as sent: every value a string (or null), checked one by one so that each
/// wrong value is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBody {
    #[serde(rename = "type")]
    case_type: Option<String>,
    reason: Option<String>,
    responsibility: Option<String>,
    order_number: Option<String>,
    items: Option<String>,
    refund_amount: Option<String>,
    tracking_number: Option<String>,
    evidence: Option<String>,
    note: Option<String>,
}

impl CaseBody {
    fn fields(self) -> Result<CaseFields, ApiError> {
        let mut wrong = BTreeMap::new();
        fn pick<T: Copy>(
            wrong: &mut BTreeMap<&'static str, String>,
            field: &'static str,
            value: Option<String>,
            parse: fn(&str) -> Option<T>,
            all: &[T],
            name: fn(T) -> &'static str,
        ) -> Option<T> {
            let value = value.filter(|v| !v.trim().is_empty())?;
            let parsed = parse(value.trim());
            if parsed.is_none() {
                wrong.insert(field, format!("one of {}", all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")));
            }
            parsed
        }
        let fields = CaseFields {
            case_type: pick(&mut wrong, "type", self.case_type, CaseType::parse, CaseType::ALL, CaseType::as_str),
            reason: pick(&mut wrong, "reason", self.reason, CaseReason::parse, CaseReason::ALL, CaseReason::as_str),
            responsibility: pick(
                &mut wrong,
                "responsibility",
                self.responsibility,
                Responsibility::parse,
                Responsibility::ALL,
                Responsibility::as_str,
            ),
            order_number: self.order_number,
            items: self.items,
            refund_amount: self.refund_amount,
            tracking_number: self.tracking_number,
            evidence_requested: Vec::new(),
            evidence: self.evidence,
            note: self.note,
        };
        if wrong.is_empty() { Ok(fields) } else { Err(cases::CaseError::Invalid(wrong).into()) }
    }
}

async fn save_case(State(state): State<AppState>, agent: Agent, Path(id): Path<String>, body: Body) -> Result<Json<Value>, ApiError> {
    let bytes = super::messages::read_body(&state, body).await?;
    let fields = super::error::parse_json::<CaseBody>(&bytes)?.fields()?;
    Ok(Json(serde_json::to_value(cases::save(&state, &agent, &id, fields).await?)?))
}

async fn submit_case(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(serde_json::to_value(cases::submit(&state, &agent, &id).await?)?))
}

/// Which fields a case needs, from the rule submission checks, so that forms mark them
/// without keeping a copy of it.
async fn requirements(_agent: Agent) -> Json<Value> {
    let by_type: serde_json::Map<String, Value> =
        CaseType::ALL.iter().map(|t| (t.as_str().to_string(), json!(t.required_fields()))).collect();
    Json(json!({
        "always": ALWAYS_REQUIRED,
        "by_type": by_type,
        "when_evidence_requested": ["evidence"],
    }))
}

#[derive(Deserialize)]
struct ListQuery {
    shop: String,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl ListQuery {
    fn status(&self) -> Result<Option<CaseStatus>, ApiError> {
        match self.status.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => CaseStatus::parse(s).map(Some).ok_or_else(|| ApiError::BadRequest(format!("status {s:?}: use draft or submitted"))),
        }
    }
}

/// A `YYYY-MM-DD` query value.
pub(super) fn date(name: &str, value: Option<&str>) -> Result<Option<jiff::civil::Date>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<jiff::civil::Date>().map_err(|_| ApiError::BadRequest(format!("{name} {v:?}: use YYYY-MM-DD"))))
        .transpose()
}

async fn list_of(state: &AppState, agent: &Agent, q: &ListQuery) -> Result<Vec<cases::CaseRow>, ApiError> {
    let shop = agents_shop(state, agent, &q.shop)?;
    let (from, to) = (date("from", q.from.as_deref())?, date("to", q.to.as_deref())?);
    Ok(cases::list(state, shop, from, to, q.status()?).await?)
}

async fn list(State(state): State<AppState>, agent: Agent, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "cases": list_of(&state, &agent, &q).await? })))
}

async fn export(State(state): State<AppState>, agent: Agent, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let rows = list_of(&state, &agent, &q).await?;
    Ok(csv_response(&format!("cases-{}.csv", q.shop), cases::cases_csv(&rows)))
}

/// A CSV download.
pub(super) fn csv_response(file_name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        body,
    )
        .into_response()
}
