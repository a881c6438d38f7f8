//! What an agent does with a ticket: claim it, reply (recording what became of the draft and
//! queueing delivery to the shop or to Chatwoot), resolve it. A ticket of a shop the agent does
//! not work for does not exist for that agent.

use super::{Agent, AppState};
use crate::domain::{DeliveryStatus, DraftOutcome, ReplyOutcome, TicketStatus};
use crate::store::{MessageRow, ReplyPlan, StoreError, SurveyRow, TicketRow};

/// Why an agent's action on a ticket was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TicketError {
    /// No such ticket, or not one of the agent's shops.
    #[error("no ticket {0:?}")]
    NotFound(String),
    /// The ticket is resolved: nothing more can be done with it.
    #[error("the ticket is already resolved")]
    AlreadyResolved,
    /// The request is malformed (empty or too long text).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed (or is overloaded).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A ticket the agent may see.
pub(crate) async fn visible(app: &AppState, agent: &Agent, id: &str) -> Result<TicketRow, TicketError> {
    match app.store().ticket(id).await? {
        Some(ticket) if agent.works_for(&ticket.shop) => Ok(ticket),
        _ => Err(TicketError::NotFound(id.to_string())),
    }
}

/// A ticket with its whole conversation and, once resolved, its survey.
pub(crate) async fn with_conversation(
    app: &AppState,
    agent: &Agent,
    id: &str,
) -> Result<(TicketRow, Vec<MessageRow>, Option<SurveyRow>), TicketError> {
    let ticket = visible(app, agent, id).await?;
    let messages = app.store().conversation(&ticket.shop, &ticket.conversation_id).await?;
    let survey = app.store().survey_of_ticket(&ticket.id).await?;
    Ok((ticket, messages, survey))
}

/// The agent takes the ticket; the ticket as it is now.
pub(crate) async fn claim(app: &AppState, agent: &Agent, id: &str) -> Result<TicketRow, TicketError> {
    visible(app, agent, id).await?;
    if !app.store().claim(id, &agent.name).await? {
        return Err(TicketError::AlreadyResolved);
    }
    app.events().notify_waiters();
    visible(app, agent, id).await
}

/// The agent closes the ticket; the ticket as it is now.
pub(crate) async fn resolve(app: &AppState, agent: &Agent, id: &str) -> Result<TicketRow, TicketError> {
    let ticket = visible(app, agent, id).await?;
    let shop = app.shop(&ticket.shop).ok_or_else(|| TicketError::NotFound(id.to_string()))?;
    let survey = super::quality::survey_plan(shop, &ticket);
    let queued = survey.as_ref().is_some_and(|s| s.callback_payload.is_some());
    if !app.store().resolve(id, &agent.name, survey).await? {
        return Err(TicketError::AlreadyResolved);
    }
    app.events().notify_waiters();
    if queued {
        app.outbox_wake().notify_one();
    }
    visible(app, agent, id).await
}

/// The agent hands the ticket to the second line with a note; the ticket as it is now.
pub(crate) async fn transfer(app: &AppState, agent: &Agent, id: &str, note: &str) -> Result<TicketRow, TicketError> {
    visible(app, agent, id).await?;
    let chars = note.chars().count();
    if note.trim().is_empty() || chars > MAX_NOTE_CHARS {
        return Err(TicketError::Invalid(format!("note must have 1 to {MAX_NOTE_CHARS} characters")));
    }
    if !app.store().transfer(id, &agent.name, note.trim()).await? {
        return Err(TicketError::AlreadyResolved);
    }
    app.events().notify_waiters();
    visible(app, agent, id).await
}

/// Longest transfer note.
pub(crate) const MAX_NOTE_CHARS: usize = 2000;

/// An agent's reply to the customer.
#[derive(Debug, Clone)]
pub(crate) struct ReplyRequest {
    /// What the customer receives.
    pub text: String,
    /// What the agent did with the suggested draft.
    pub draft: DraftOutcome,
    /// Close the ticket with this reply.
    pub resolve: bool,
}

/// Where a reply goes out: the shop's callback (outbox) or the Chatwoot conversation.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Delivery {
    /// The outbox row or the Chatwoot call.
    pub id: String,
    /// Pending when queued.
    pub status: DeliveryStatus,
    /// `chatwoot` when the reply goes through the Chatwoot agent bot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
}

/// A reply recorded and queued.
#[derive(Debug, Clone)]
pub(crate) struct ReplySent {
    /// The agent's message as stored.
    pub message: MessageRow,
    /// The customer message it answers.
    pub in_reply_to: Option<String>,
    /// How it reaches the customer, when it has to travel.
    pub delivery: Option<Delivery>,
    /// The ticket after the reply.
    pub ticket: TicketRow,
}

/// Records the agent's reply and what became of the draft, and queues its delivery: to the
/// shop's callback, or for a Chatwoot conversation through the agent bot.
pub(crate) async fn reply(app: &AppState, agent: &Agent, id: &str, request: ReplyRequest) -> Result<ReplySent, TicketError> {
    let ticket = visible(app, agent, id).await?;
    let chars = request.text.chars().count();
    if request.text.trim().is_empty() || chars > crate::ingest::MAX_TEXT_CHARS {
        return Err(TicketError::Invalid(format!("text must have 1 to {} characters", crate::ingest::MAX_TEXT_CHARS)));
    }
    if ticket.status == TicketStatus::Resolved {
        return Err(TicketError::AlreadyResolved);
    }
    let shop = app.shop(&ticket.shop).ok_or_else(|| TicketError::NotFound(id.to_string()))?;
    // A Chatwoot conversation's customer is in Chatwoot, not behind the shop's callback.
    let chatwoot = crate::chatwoot::display_id(&ticket.conversation_id).filter(|_| shop.settings.chatwoot.is_some());
    let outbox = (shop.settings.callback_url.is_some() && chatwoot.is_none())
        .then(|| crate::deliver::reply_payload(&ticket.shop, &ticket.conversation_id, &request.text, &agent.name));
    let outcome = ReplyOutcome::Draft(request.draft);
    let plan = ReplyPlan {
        text: request.text.clone(),
        outcome,
        resolve: request.resolve,
        survey: request.resolve.then(|| super::quality::survey_plan(shop, &ticket)).flatten(),
        outbox,
        sample_rate: shop.settings.inspection_sample_rate,
    };
    let sent = app.store().reply(&ticket, &agent.name, plan).await?;
    let mut delivery = sent.outbox_id.as_ref().map(|id| Delivery { id: id.clone(), status: DeliveryStatus::Pending, via: None });
    if let Some(display_id) = chatwoot {
        let call = crate::chatwoot::calls::agent_reply_call(&ticket.shop, &sent.message.id, display_id, &request.text);
        app.store().chatwoot_enqueue(&ticket.shop, std::slice::from_ref(&call)).await?;
        app.chatwoot_wake().calls.notify_one();
        delivery = Some(Delivery { id: call.id, status: DeliveryStatus::Pending, via: Some("chatwoot") });
    }
    metrics::counter!("smartreply_drafts_total", "outcome" => outcome.as_str()).increment(1);
    app.events().notify_waiters();
    if sent.outbox_id.is_some() || request.resolve {
        // The reply, or the survey the resolution opened, waits in the outbox.
        app.outbox_wake().notify_one();
    }
    Ok(ReplySent { message: sent.message, in_reply_to: sent.in_reply_to, delivery, ticket: visible(app, agent, id).await? })
}
