//! What an agent does with a ticket: claim it, reply (recording what became of the draft and
//! queueing delivery to the shop or to Chatwoot), resolve it. A ticket of a shop the agent does
//! not work for does not exist for that agent.

use super::{Agent, AppState};
use crate::domain::{DeliveryStatus, DraftOutcome, ReplyOutcome, TicketStatus};
use crate::store::{MessageRow, OutboxBody, ReplyPlan, StoreError, SurveyPlan, SurveyRow, TicketRow};

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

/// Who acts on a ticket, and through which channel: the one thing in which an agent's action
/// differs between the console and Chatwoot.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Channel<'a> {
    /// An agent in the console: sees only the tickets of its shops; its replies are delivered
    /// to the customer (the shop's callback, or the Chatwoot conversation).
    Console(&'a Agent),
    /// An agent working in Chatwoot, as the agent bot hears of it: the reply already reached
    /// the customer there, and Chatwoot asks for its own satisfaction rating.
    Chatwoot {
        /// The name recorded with the action.
        actor: &'a str,
    },
}

impl Channel<'_> {
    /// The name recorded with the action.
    fn actor(&self) -> &str {
        match self {
            Channel::Console(agent) => &agent.name,
            Channel::Chatwoot { actor } => actor,
        }
    }
}

/// A ticket the channel may act on: the console's agent only on its shops' tickets.
pub(crate) async fn find(app: &AppState, channel: Channel<'_>, id: &str) -> Result<TicketRow, TicketError> {
    match channel {
        Channel::Console(agent) => visible(app, agent, id).await,
        Channel::Chatwoot { .. } => app.store().ticket(id).await?.ok_or_else(|| TicketError::NotFound(id.to_string())),
    }
}

/// The unresolved ticket of a conversation, if any.
pub(crate) async fn open_in_conversation(app: &AppState, shop: &str, conversation_id: &str) -> Result<Option<String>, TicketError> {
    Ok(app.store().conversation_state(shop, conversation_id).await?.open_ticket_id)
}

/// The ticket is closed; the ticket as it is now. A console resolution opens the shop's
/// satisfaction survey.
pub(crate) async fn resolve(app: &AppState, channel: Channel<'_>, id: &str) -> Result<TicketRow, TicketError> {
    let ticket = find(app, channel, id).await?;
    let survey = match channel {
        Channel::Console(_) => {
            let shop = app.shop(&ticket.shop).ok_or_else(|| TicketError::NotFound(id.to_string()))?;
            super::quality::survey_plan(shop, &ticket)
        }
        Channel::Chatwoot { .. } => None,
    };
    let queued = survey.as_ref().is_some_and(|s| s.callback_payload.is_some());
    if !app.store().resolve(id, channel.actor(), survey).await? {
        return Err(TicketError::AlreadyResolved);
    }
    app.events().notify_waiters();
    if queued {
        app.outbox_wake().notify_one();
    }
    find(app, channel, id).await
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
    /// What the agent did with the suggested draft; none for a reply written outside the
    /// console, whose use of the draft is judged from its text.
    pub draft: Option<DraftOutcome>,
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

/// How a reply travels and what it sets off, by channel.
struct Route {
    /// The signed body for the shop's callback.
    outbox: Option<OutboxBody>,
    /// The Chatwoot conversation a console reply is posted into.
    chatwoot: Option<u64>,
    /// The survey a resolving reply opens.
    survey: Option<SurveyPlan>,
    /// The share of replies put in the inspection sample.
    sample_rate: f64,
}

/// Records the agent's reply and what became of the draft; a console reply is also queued for
/// delivery: to the shop's callback, or for a Chatwoot conversation through the agent bot.
pub(crate) async fn reply(app: &AppState, channel: Channel<'_>, id: &str, request: ReplyRequest) -> Result<ReplySent, TicketError> {
    let ticket = find(app, channel, id).await?;
    if let Channel::Console(_) = channel {
        let chars = request.text.chars().count();
        if request.text.trim().is_empty() || chars > crate::ingest::MAX_TEXT_CHARS {
            return Err(TicketError::Invalid(format!("text must have 1 to {} characters", crate::ingest::MAX_TEXT_CHARS)));
        }
    }
    if ticket.status == TicketStatus::Resolved {
        return Err(TicketError::AlreadyResolved);
    }
    let route = route(app, channel, &ticket, &request)?;
    let outcome = outcome(&ticket, &request);
    let plan = ReplyPlan {
        text: request.text.clone(),
        outcome,
        resolve: request.resolve,
        survey: route.survey,
        outbox: route.outbox,
        sample_rate: route.sample_rate,
    };
    let sent = app.store().reply(&ticket, channel.actor(), plan).await?;
    let mut delivery = sent.outbox_id.as_ref().map(|id| Delivery { id: id.clone(), status: DeliveryStatus::Pending, via: None });
    if let Some(display_id) = route.chatwoot {
        let call = super::chatwoot::agent_reply_call(&ticket.shop, &sent.message.id, display_id, &request.text);
        app.store().chatwoot_enqueue(&ticket.shop, vec![call.clone()]).await?;
        app.chatwoot_wake().calls.notify_one();
        delivery = Some(Delivery { id: call.id, status: DeliveryStatus::Pending, via: Some("chatwoot") });
    }
    metrics::counter!("smartreply_drafts_total", "outcome" => outcome.as_str()).increment(1);
    app.events().notify_waiters();
    if sent.outbox_id.is_some() || request.resolve {
        // The reply, or the survey the resolution opened, waits in the outbox.
        app.outbox_wake().notify_one();
    }
    Ok(ReplySent { message: sent.message, in_reply_to: sent.in_reply_to, delivery, ticket: find(app, channel, id).await? })
}

/// A console reply travels to the customer (a Chatwoot conversation's customer is in Chatwoot,
/// not behind the shop's callback) and may open the survey and be inspected; a reply made in
/// Chatwoot has arrived already.
fn route(app: &AppState, channel: Channel<'_>, ticket: &TicketRow, request: &ReplyRequest) -> Result<Route, TicketError> {
    let Channel::Console(agent) = channel else { return Ok(Route { outbox: None, chatwoot: None, survey: None, sample_rate: 0.0 }) };
    let shop = app.shop(&ticket.shop).ok_or_else(|| TicketError::NotFound(ticket.id.clone()))?;
    let chatwoot = crate::chatwoot::display_id(&ticket.conversation_id).filter(|_| shop.settings.chatwoot.is_some());
    let outbox = (shop.settings.callback_url.is_some() && chatwoot.is_none())
        .then(|| crate::deliver::reply_payload(&ticket.shop, &ticket.conversation_id, &request.text, &agent.name));
    Ok(Route {
        outbox,
        chatwoot,
        survey: request.resolve.then(|| super::quality::survey_plan(shop, ticket)).flatten(),
        sample_rate: shop.settings.inspection_sample_rate,
    })
}

/// What the reply records about the draft: the agent's word, or for a reply written elsewhere
/// the draft's fate judged from the text — only the first human answer can have used it; later
/// ones are follow-ups that do not skew the draft figures.
fn outcome(ticket: &TicketRow, request: &ReplyRequest) -> ReplyOutcome {
    match request.draft {
        Some(draft) => ReplyOutcome::Draft(draft),
        None if ticket.first_response_at.is_none() => {
            ReplyOutcome::Draft(crate::learn::draft_outcome(ticket.draft["text"].as_str().unwrap_or_default(), &request.text))
        }
        None => ReplyOutcome::Followup,
    }
}
