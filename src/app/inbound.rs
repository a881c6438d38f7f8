//! Receiving a customer message: dedupe on its id, rate limits, the conversation so far, the
//! pipeline's decision, the ticket it opens or joins (with its SLA deadline), one durable
//! commit of message, decision, ticket and answer, then metrics and a log line. Shared by the
//! webhook, the widget and the Chatwoot agent bot.

use super::answer::{Answer, AnswerIntent, AnswerReply, AnswerSentiment, Received};
use super::{AppState, Budget, Shop};
use crate::decide::{Action, ConversationContext, Decision, Standalone};
use crate::domain::{DecisionKind, EscalationReason, ReplyKind};
use crate::ingest::{InboundBody, InboundMessage, InvalidMessage};
use crate::sla::{self, Promises};
use crate::store::{InboundRecord, Reading, Recorded, Rescore, StoreError, TicketPlan};
use std::time::{Duration, Instant};

/// Why a message was not received.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiveError {
    /// The message itself is malformed (empty text, too long, ...).
    #[error(transparent)]
    Invalid(#[from] InvalidMessage),
    /// The shop's or the customer's rate limit; retry after the wait.
    #[error("too many messages; retry after {0:?}")]
    RateLimited(Duration),
    /// Storage failed (or is overloaded).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A decision would not serialise (a bug, never a silent empty record).
    #[error("serialisation failed: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Other messages of the conversation kept opening tickets while this one was stored.
    #[error("conversation kept changing while the message was stored")]
    ConversationKeptChanging,
}

/// Routes, stores and answers one message, drawing on `budget`'s per-shop rate limit; the
/// message's channel is recorded with it. A repeated message id returns the stored answer and
/// creates nothing.
pub(crate) async fn receive(app: &AppState, shop: &Shop, message: InboundMessage, budget: Budget) -> Result<Received, ReceiveError> {
    let started = Instant::now();
    let store = app.store();
    let id = shop.id();
    // A retry of a processed message costs no rate-limit token and creates nothing.
    let (stored, first_state) = store.inbound_state(id, Some(&message.message_id), &message.conversation_id).await?;
    if let Some(stored) = stored {
        metrics::counter!("smartreply_duplicate_messages_total").increment(1);
        return replayed(app, &stored).await;
    }
    app.shop_budget(budget).check(id).map_err(ReceiveError::RateLimited)?;
    app.customer_limiter().check(&format!("{id}/{}", message.customer_id)).map_err(ReceiveError::RateLimited)?;
    let mut first_state = Some(first_state);
    for _attempt in 0..2 {
        // The state read with the duplicate check, then (after a lost ticket race) again.
        let state = match first_state.take() {
            Some(state) => state,
            None => store.conversation_state(id, &message.conversation_id).await?,
        };
        let now = jiff::Timestamp::now();
        // A ticket no agent has taken up, opened for a reason the shop lets the bot answer
        // past (a spurious repeat): the message is routed as if the conversation were the
        // bot's, and joins the ticket only when it escalates.
        let waiting = state.untaken_reason.is_some_and(|r| shop.engine().knowledge().shop.bot_resumes_on(r));
        let open_ticket = state.open_ticket_id;
        let ctx = ConversationContext {
            answered_faq_ids: state.answered_faq_ids,
            open_ticket_id: if waiting { None } else { open_ticket.clone() },
            agents_online: shop.hours.is_open(now),
        };
        let route_started = Instant::now();
        let decision = shop.engine().route_off_executor(message.text.clone(), ctx.clone()).await;
        let latency_us = route_started.elapsed().as_micros() as i64;
        let ticket = ticket_plan(shop, &decision, open_ticket.as_deref(), now)?;
        let answer = answer(&message, &decision, ticket.as_ref().map(|t| t.id().to_string()));
        let received = received(answer.clone(), ticket.as_ref());
        let mut record = record(id, &message, &decision, ticket, answer.stored()?, latency_us)?;
        record.inspect_answer = crate::quality::sampled(&message.message_id, shop.settings.inspection_sample_rate);
        match store.record_inbound(&record).await? {
            Recorded::Stored => {
                app.events().notify_waiters();
                observe(&record, &message, &decision, latency_us, started);
                return Ok(received);
            }
            Recorded::Duplicate(stored) => return replayed(app, &stored).await,
            // Another message of this conversation opened a ticket meanwhile: join it.
            Recorded::TicketRace => continue,
        }
    }
    Err(ReceiveError::ConversationKeptChanging)
}

/// A message typed into the shop's chat widget by a visitor (already authorised): the same
/// pipeline, storage and idempotency, on the widget's own budget.
pub(crate) async fn receive_from_widget(
    app: &AppState,
    shop: &Shop,
    visitor_id: &str,
    client_message_id: &str,
    text: String,
) -> Result<Received, ReceiveError> {
    let body = InboundBody {
        message_id: format!("w-{visitor_id}-{client_message_id}"),
        conversation_id: widget_conversation_id(visitor_id),
        customer_id: format!("visitor:{visitor_id}"),
        text,
        channel: Some("widget".into()),
        sent_at: None,
        metadata: None,
    };
    receive(app, shop, body.parse()?, Budget::Widget).await
}

/// The conversation of a widget visitor.
pub(crate) fn widget_conversation_id(visitor_id: &str) -> String {
    format!("w-{visitor_id}")
}

/// The ticket an escalation opens or joins (none for an answer), with its SLA clocks.
fn ticket_plan(
    shop: &Shop,
    decision: &Decision,
    open_ticket: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Option<TicketPlan>, ReceiveError> {
    let Action::Escalate(e) = &decision.action else { return Ok(None) };
    let engine = shop.engine();
    let promises = Promises {
        first_response_minutes: shop.settings.first_response_minutes.unwrap_or(engine.first_response_minutes()),
        complaint_hours: engine.complaint_hours(),
    };
    // What the message says: a new ticket starts from it, a joined one may take it over.
    let reading = Reading {
        intent: decision.intent.name.clone(),
        intent_confidence: f64::from(decision.intent.confidence),
        sentiment: decision.sentiment.label,
        sentiment_score: f64::from(decision.sentiment.score),
        lang: decision.lang,
        faq_id: decision.retrieval.as_ref().map(|r| r.faq_id.clone()),
        extracted: serde_json::to_string(&decision.extracted)?,
    };
    if let Some(id) = open_ticket {
        // The message re-scores the ticket with its own judgement (the store keeps only what is
        // stronger, and moves the deadline only in). The candidate deadline is the first
        // response its priority calls for; a complaint also starts the ticket's settlement
        // clock when it has none.
        // Routed as the bot's conversation (a waiting ticket), its judgement is its own.
        let alone = match e.reason {
            EscalationReason::ConversationWithAgent => e.standalone,
            reason => Some(Standalone { reason, priority: e.priority }),
        };
        let rescore = alone.map(|alone| Rescore {
            priority: alone.priority,
            reason: alone.reason,
            due_at: sla::response_due(now, alone.priority, &shop.hours, promises).as_millisecond(),
            resolution_due_at: sla::resolution_due(now, alone.reason, promises).map(|t| t.as_millisecond()),
            draft: e.draft.clone(),
            reading,
        });
        return Ok(Some(TicketPlan::Join { id: id.to_string(), rescore }));
    }
    Ok(Some(TicketPlan::New {
        id: format!("t-{}", uuid::Uuid::now_v7()),
        priority: e.priority,
        reason: e.reason,
        reading,
        draft: e.draft.clone(),
        due_at: sla::response_due(now, e.priority, &shop.hours, promises).as_millisecond(),
        resolution_due_at: sla::resolution_due(now, e.reason, promises).map(|t| t.as_millisecond()),
    }))
}

/// Counts, times and logs a stored message.
fn observe(record: &InboundRecord, message: &InboundMessage, decision: &Decision, latency_us: i64, started: Instant) {
    let outcome = record.decision.as_str();
    let reason = record.reason.map_or("", |r| r.as_str());
    metrics::counter!("smartreply_decisions_total", "decision" => outcome, "reason" => reason).increment(1);
    metrics::histogram!("smartreply_pipeline_seconds").record(latency_us as f64 / 1e6);
    tracing::info!(
        shop = %record.shop,
        conversation = %message.conversation_id,
        decision = outcome,
        reason = record.reason.map_or("-", |r| r.as_str()),
        intent = %decision.intent.name,
        sentiment = decision.sentiment.label.as_str(),
        text = %crate::redact::customer_text(&message.text),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "message routed"
    );
}

/// The contract's answer to a message just routed.
fn answer(message: &InboundMessage, decision: &Decision, ticket_id: Option<String>) -> Answer {
    let (decided, kind) = kinds(decision);
    Answer {
        message_id: message.message_id.clone(),
        conversation_id: message.conversation_id.clone(),
        decision: decided,
        reply: AnswerReply { text: decision.reply_text().to_string(), kind },
        intent: AnswerIntent { name: decision.intent.name.clone(), confidence: (decision.intent.confidence * 1000.0).round() / 1000.0 },
        sentiment: AnswerSentiment { label: decision.sentiment.label, score: (decision.sentiment.score * 1000.0).round() / 1000.0 },
        faq_id: decision.answered_faq_id().map(String::from),
        ticket_id,
    }
}

/// What the decision was, and so what kind of reply the customer gets.
fn kinds(decision: &Decision) -> (DecisionKind, ReplyKind) {
    match &decision.action {
        Action::Answer { .. } => (DecisionKind::Answered, ReplyKind::Answer),
        Action::Escalate(_) => (DecisionKind::Escalated, ReplyKind::Acknowledgement),
    }
}

/// A message just stored: escalated with the ticket it opened or joined, or answered.
fn received(answer: Answer, ticket: Option<&TicketPlan>) -> Received {
    match ticket {
        Some(plan) => Received::Escalated { ticket_id: plan.id().to_string(), opened: matches!(plan, TicketPlan::New { .. }), answer },
        None => Received::Answered(answer),
    }
}

/// A message stored before (a repeated id): its stored answer, and for an escalation whether
/// it was this message that opened its ticket.
async fn replayed(app: &AppState, stored: &str) -> Result<Received, ReceiveError> {
    let answer = Answer::from_stored(stored)?;
    match (answer.decision, answer.ticket_id.clone()) {
        (DecisionKind::Escalated, Some(ticket_id)) => {
            let opener = app.store().ticket_opening_message(&ticket_id).await?;
            let opened = opener.as_deref() == Some(answer.message_id.as_str());
            Ok(Received::Escalated { answer, ticket_id, opened })
        }
        (DecisionKind::Escalated, None) => Err(StoreError::Corrupt("a stored escalation names no ticket".into()).into()),
        (DecisionKind::Answered, _) => Ok(Received::Answered(answer)),
    }
}

fn record(
    shop: &str,
    message: &InboundMessage,
    decision: &Decision,
    ticket: Option<TicketPlan>,
    response: String,
    latency_us: i64,
) -> Result<InboundRecord, serde_json::Error> {
    let (decided, reply_kind) = kinds(decision);
    let reason = match &decision.action {
        Action::Answer { .. } => None,
        Action::Escalate(e) => Some(e.reason),
    };
    Ok(InboundRecord {
        shop: shop.into(),
        message_id: message.message_id.clone(),
        conversation_id: message.conversation_id.clone(),
        customer_id: message.customer_id.clone(),
        text: message.text.clone(),
        channel: message.channel.clone(),
        reply_text: decision.reply_text().into(),
        reply_kind,
        decision: decided,
        reason,
        intent: decision.intent.name.clone(),
        intent_confidence: f64::from(decision.intent.confidence),
        sentiment: decision.sentiment.label,
        sentiment_score: f64::from(decision.sentiment.score),
        faq_id: decision.answered_faq_id().map(String::from),
        models: serde_json::to_string(&decision.models)?,
        detail: serde_json::to_string(decision)?,
        latency_us,
        ticket,
        response,
        case: decision.case.clone(),
        inspect_answer: false,
    })
}
