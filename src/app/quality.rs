//! Satisfaction, inspection and the scorecard: the survey a resolution opens, ratings from the
//! widget and from signed storefronts, 👍/👎 on bot answers, inspectors' scores, and the
//! weighted scorecard of a day or a week.

use super::{Agent, AppState, Shop};
use crate::config::Role;
use crate::quality::{Checklist, Period, ScoreRow, Scorecard};
use crate::store::{InspectionRow, RateOutcome, StoreError, SurveyPlan, TicketRow};

/// Why a rating, a vote or a score was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QualityError {
    /// No such survey, answer or inspection item (for this caller).
    #[error("{0}")]
    NotFound(String),
    /// The survey was rated before.
    #[error("this survey is already rated")]
    AlreadyRated,
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks the role.
    #[error("{0}")]
    Forbidden(String),
    /// Storage failed (or is overloaded).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest survey comment or inspection note, in characters.
pub(crate) const MAX_COMMENT_CHARS: usize = 1000;

/// The survey a resolution of `ticket` opens: the widget's prompt and, for a shop whose
/// replies travel to its callback, the `survey` event. None for a Chatwoot conversation:
/// Chatwoot asks for its own rating, and no widget or callback would show ours.
pub(crate) fn survey_plan(shop: &Shop, ticket: &TicketRow) -> Option<SurveyPlan> {
    if crate::chatwoot::display_id(&ticket.conversation_id).is_some() && shop.settings.chatwoot.is_some() {
        return None;
    }
    let id = format!("survey-{}", uuid::Uuid::now_v7());
    let prompt = serde_json::json!({ "zh": "请为本次服务打分（1–5 星）", "en": "How did we do? Rate us from 1 to 5 stars." });
    let callback_payload = shop
        .settings
        .callback_url
        .is_some()
        .then(|| crate::deliver::survey_payload(&ticket.shop, &id, &ticket.conversation_id, &ticket.id, &prompt));
    let widget_payload =
        serde_json::json!({ "survey_id": id, "ticket_id": ticket.id, "scale": { "min": 1, "max": 5 }, "prompt": prompt }).to_string();
    Some(SurveyPlan { id, widget_payload, callback_payload })
}

fn checked_comment(comment: Option<String>) -> Result<Option<String>, QualityError> {
    let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(QualityError::Invalid(format!("comment: at most {MAX_COMMENT_CHARS} characters")));
    }
    Ok(comment)
}

/// Records a rating of 1 to 5 stars. `conversation` limits it to that conversation's survey
/// (a widget visitor rates only their own).
pub(crate) async fn rate(
    app: &AppState,
    shop: &Shop,
    survey_id: &str,
    conversation: Option<&str>,
    rating: i64,
    comment: Option<String>,
) -> Result<(), QualityError> {
    if !(1..=5).contains(&rating) {
        return Err(QualityError::Invalid("rating must be 1 to 5".into()));
    }
    let comment = checked_comment(comment)?;
    match app.store().rate_survey(shop.id(), survey_id, conversation, rating, comment).await? {
        RateOutcome::Stored => {
            let stars = rating.to_string();
            metrics::counter!("smartreply_survey_ratings_total", "shop" => shop.id().to_string(), "rating" => stars).increment(1);
            app.events().notify_waiters();
            Ok(())
        }
        RateOutcome::NotFound => Err(QualityError::NotFound(format!("no survey {survey_id:?}"))),
        RateOutcome::Duplicate => Err(QualityError::AlreadyRated),
    }
}

/// 👍/👎 on a bot answer of the shop (of `conversation` when given).
pub(crate) async fn answer_feedback(
    app: &AppState,
    shop: &Shop,
    message_id: &str,
    conversation: Option<&str>,
    helpful: bool,
) -> Result<(), QualityError> {
    if !app.store().answer_feedback(shop.id(), message_id, conversation, helpful).await? {
        return Err(QualityError::NotFound(format!("no bot answer {message_id:?}")));
    }
    metrics::counter!("smartreply_answer_feedback_total", "shop" => shop.id().to_string(), "helpful" => helpful.to_string()).increment(1);
    Ok(())
}

/// The inspection sample of a shop; `scored` picks scored or pending items.
pub(crate) async fn inspections(app: &AppState, shop: &Shop, scored: Option<bool>) -> Result<Vec<InspectionRow>, QualityError> {
    Ok(app.store().inspections(shop.id(), scored).await?)
}

/// An inspector scores an item of one of their shops.
pub(crate) async fn score(
    app: &AppState,
    agent: &Agent,
    id: &str,
    checklist: Checklist,
    note: Option<String>,
) -> Result<InspectionRow, QualityError> {
    if !agent.is(Role::Inspector) {
        return Err(QualityError::Forbidden("only inspectors score inspections".into()));
    }
    let note = checked_comment(note)?;
    for shop in &agent.shops {
        if let Some(row) = app.store().score_inspection(shop, id, &agent.name, checklist, note.clone()).await? {
            let passed = checklist.passed().to_string();
            metrics::counter!("smartreply_inspections_total", "shop" => shop.clone(), "passed" => passed).increment(1);
            return Ok(row);
        }
    }
    Err(QualityError::NotFound(format!("no inspection {id:?}")))
}

/// The scorecard of the day or week containing `date` (the shop's today by default), in the
/// shop's time zone, with the shop's weights.
pub(crate) async fn scorecard(
    app: &AppState,
    shop: &Shop,
    period: Period,
    date: Option<jiff::civil::Date>,
) -> Result<(jiff::civil::Date, Scorecard), QualityError> {
    let tz = jiff::tz::TimeZone::get(&shop.settings.time_zone).map_err(|e| QualityError::Invalid(e.to_string()))?;
    let date = date.unwrap_or_else(|| jiff::Timestamp::now().to_zoned(tz.clone()).date());
    let (start, from, to) = crate::quality::period_bounds(period, date, &tz).map_err(|e| QualityError::Invalid(e.to_string()))?;
    let facts = app.store().score_facts(shop.id(), from, to).await?;
    Ok((start, crate::quality::scorecard(&facts, shop.settings.scorecard)))
}

/// The scorecard as CSV: one line per agent, then the team's.
pub(crate) fn scorecard_csv(start: jiff::civil::Date, card: &Scorecard) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let ms = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    let line = |r: &ScoreRow| {
        [
            start.to_string(),
            r.agent.clone(),
            r.tickets.to_string(),
            r.resolved.to_string(),
            opt(r.resolution_rate),
            ms(r.first_response_ms.p50),
            ms(r.first_response_ms.p90),
            r.ratings.to_string(),
            opt(r.csat),
            r.inspected.to_string(),
            opt(r.compliance),
            r.sla_breaches.to_string(),
            opt(r.speed),
            opt(r.draft_acceptance),
            r.score.map_or(String::new(), |s| format!("{s:.1}")),
        ]
    };
    super::csv::csv(
        [
            "period_start",
            "agent",
            "tickets",
            "resolved",
            "resolution_rate",
            "first_response_ms_p50",
            "first_response_ms_p90",
            "ratings",
            "csat",
            "inspected",
            "compliance",
            "sla_breaches",
            "speed",
            "draft_acceptance",
            "score",
        ],
        card.agents.iter().chain(std::iter::once(&card.team)).map(line),
    )
}
