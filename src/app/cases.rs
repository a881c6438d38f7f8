//! After-sales cases (售后单): the ticket's case as drafted by the router, the agent's edits,
//! the submission that refuses a case with a required field missing and otherwise sends the
//! signed `case` event to the shop, and the shop's list of cases (also as CSV).

use super::tickets::visible;
use super::{Agent, AppState, Shop};
use crate::aftersales::CaseFields;
pub(crate) use crate::store::CaseRow;
use crate::store::{CaseOf, CaseSaved, CaseSubmitted, StoreError, TicketRow};
use std::collections::BTreeMap;

/// Why a case action was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaseError {
    /// No such ticket (for this agent), or it has no case.
    #[error("{0}")]
    NotFound(String),
    /// The case was submitted: it no longer changes.
    #[error("the case is already submitted")]
    AlreadySubmitted,
    /// Fields are missing or wrong: field → message.
    #[error("the case is incomplete: {}", .0.keys().cloned().collect::<Vec<_>>().join(", "))]
    Invalid(BTreeMap<&'static str, String>),
    /// Storage failed (or is overloaded).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::tickets::TicketError> for CaseError {
    fn from(e: super::tickets::TicketError) -> Self {
        match e {
            super::tickets::TicketError::Store(e) => CaseError::Store(e),
            other => CaseError::NotFound(other.to_string()),
        }
    }
}

fn case_of(ticket: &TicketRow) -> CaseOf {
    CaseOf {
        ticket_id: ticket.id.clone(),
        shop: ticket.shop.clone(),
        conversation_id: ticket.conversation_id.clone(),
        customer_id: ticket.customer_id.clone(),
    }
}

/// The ticket's case.
pub(crate) async fn get(app: &AppState, agent: &Agent, ticket_id: &str) -> Result<CaseRow, CaseError> {
    let ticket = visible(app, agent, ticket_id).await?;
    app.store().case_of_ticket(&ticket.id).await?.ok_or_else(|| CaseError::NotFound(format!("ticket {ticket_id:?} has no case")))
}

/// Creates or updates the ticket's draft case. The shop is the ticket's; the evidence the
/// router asked for stays asked for (the store never overwrites it).
pub(crate) async fn save(app: &AppState, agent: &Agent, ticket_id: &str, mut fields: CaseFields) -> Result<CaseRow, CaseError> {
    let ticket = visible(app, agent, ticket_id).await?;
    let too_long = fields.too_long();
    if !too_long.is_empty() {
        return Err(CaseError::Invalid(too_long));
    }
    let trim = |v: &mut Option<String>| *v = v.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    for v in [
        &mut fields.order_number,
        &mut fields.items,
        &mut fields.refund_amount,
        &mut fields.tracking_number,
        &mut fields.evidence,
        &mut fields.note,
    ] {
        trim(v);
    }
    match app.store().save_case(case_of(&ticket), fields, &agent.name).await? {
        CaseSaved::Saved(row) => {
            app.events().notify_waiters();
            Ok(*row)
        }
        CaseSaved::AlreadySubmitted => Err(CaseError::AlreadySubmitted),
    }
}

/// Submits the ticket's case: refused with field-level errors while a required field is
/// missing; otherwise the `case` event goes to the shop's callback (when it has one).
pub(crate) async fn submit(app: &AppState, agent: &Agent, ticket_id: &str) -> Result<CaseRow, CaseError> {
    let ticket = visible(app, agent, ticket_id).await?;
    let shop = app.shop(&ticket.shop).ok_or_else(|| CaseError::NotFound(format!("no ticket {ticket_id:?}")))?;
    let payload = shop.settings.callback_url.is_some().then(crate::deliver::case_payload);
    match app.store().submit_case(case_of(&ticket), &agent.name, payload).await? {
        CaseSubmitted::Submitted(row) => {
            let case_type = row.fields.case_type.map_or("", |t| t.as_str());
            metrics::counter!("smartreply_cases_total", "shop" => row.shop.clone(), "type" => case_type).increment(1);
            app.events().notify_waiters();
            app.outbox_wake().notify_one();
            Ok(*row)
        }
        CaseSubmitted::Incomplete(missing) => Err(CaseError::Invalid(missing)),
        CaseSubmitted::NoCase => Err(CaseError::NotFound(format!("ticket {ticket_id:?} has no case"))),
        CaseSubmitted::AlreadySubmitted => Err(CaseError::AlreadySubmitted),
    }
}

/// The shop's cases created from `from` to `to` (days in the shop's time zone, both included),
/// newest first.
pub(crate) async fn list(
    app: &AppState,
    shop: &Shop,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    status: Option<crate::domain::CaseStatus>,
) -> Result<Vec<CaseRow>, CaseError> {
    let tz = jiff::tz::TimeZone::get(&shop.settings.time_zone).map_err(|e| CaseError::NotFound(e.to_string()))?;
    let day_start = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).unwrap_or(0);
    let from = from.map_or(0, day_start);
    let to = to.and_then(|d| d.tomorrow().ok()).map_or(i64::MAX, day_start);
    Ok(app.store().cases(shop.id(), from, to, status).await?)
}

/// The cases as CSV.
pub(crate) fn cases_csv(cases: &[CaseRow]) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    super::csv::csv(
        [
            "case_id",
            "shop",
            "ticket_id",
            "status",
            "type",
            "reason",
            "responsibility",
            "order_number",
            "items",
            "refund_amount",
            "tracking_number",
            "evidence",
            "note",
            "drafted_by",
            "submitted_by",
            "created_at",
            "submitted_at",
        ],
        cases.iter().map(|c| {
            let f = &c.fields;
            [
                c.id.clone(),
                c.shop.clone(),
                c.ticket_id.clone(),
                c.status.as_str().into(),
                f.case_type.map_or(String::new(), |t| t.as_str().into()),
                f.reason.map_or(String::new(), |r| r.as_str().into()),
                f.responsibility.map_or(String::new(), |r| r.as_str().into()),
                text(&f.order_number),
                text(&f.items),
                text(&f.refund_amount),
                text(&f.tracking_number),
                text(&f.evidence),
                text(&f.note),
                c.drafted_by.clone(),
                text(&c.submitted_by),
                c.created_at.clone(),
                text(&c.submitted_at),
            ]
        }),
    )
}
