//! The Chatwoot agent bot's worker: works stored Chatwoot events off, oldest first and one
//! conversation's events in order.
//!
//! A customer message goes through the same inbound use case as webhook and widget messages
//! ([`crate::app::inbound::receive`]: routing, idempotency, one transaction for message,
//! decision, reply and ticket). What the bot then says in Chatwoot is queued in the same
//! transaction that marks the event done, with ids derived from the message, so an event
//! worked off twice (a crash in between) queues each call once.

use super::answer::Received;
use super::drain::{Queue, drain};
use super::inbound::{ReceiveError, receive};
use super::tickets::{self, Channel, ReplyRequest, TicketError, open_in_conversation};
use super::{AppState, Budget, Shop, TicketRow};
use crate::chatwoot::calls::outgoing;
use crate::chatwoot::event::{Work, conversation_id, message_id};
use crate::chatwoot::{Payload, classify};
use crate::config::{ChatwootSettings, DeliverySettings};
use crate::domain::ChatwootAction;
use crate::ingest::InboundMessage;
use crate::store::chatwoot::{NewCall, PendingEvent};
use crate::store::queue::Failure;
use crate::store::{StoreError, now_ms};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;

/// Why an event was not worked off (recorded with the event, which is retried).
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkError {
    /// The stored event does not read back (a bug, or an upgrade's leftovers).
    #[error("stored event is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// The shop was removed from the configuration since the event was accepted.
    #[error("the shop is no longer configured")]
    ShopGone,
    /// The customer's message was not received.
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    /// The agent's action on the ticket failed.
    #[error(transparent)]
    Ticket(#[from] TicketError),
}

/// Runs until `shutdown` completes; an event being worked off finishes first.
pub(crate) async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let settings = state.settings().delivery.clone();
    // Routing takes milliseconds; the lease only matters when a replica dies mid-event.
    let queue = Queue {
        name: "chatwoot event",
        lease_ms: 60_000,
        poll: Duration::from_millis(settings.poll_interval_ms),
        wake: &state.chatwoot_wake().events,
    };
    let (state_ref, settings_ref) = (&state, &settings);
    let claim = move |now, lease| state_ref.store().claim_next::<PendingEvent>(now, lease);
    let work = move |event| work_off(state_ref, settings_ref, event);
    drain(queue, shutdown, claim, work).await;
}

async fn work_off(state: &AppState, settings: &DeliverySettings, event: PendingEvent) {
    let result = match serde_json::from_str::<Work>(&event.payload) {
        Ok(work) => calls_for(state, &event.shop, &work).await,
        Err(e) => Err(WorkError::from(e)),
    };
    let outcome = match result {
        Ok(calls) => {
            let queued = !calls.is_empty();
            let done = state.store().chatwoot_event_done(&event, calls).await;
            if queued && done.is_ok() {
                state.chatwoot_wake().calls.notify_one();
            }
            metrics::counter!("smartreply_chatwoot_events_processed_total", "outcome" => "done").increment(1);
            done
        }
        Err(error) => {
            let give_up = event.attempts >= i64::from(settings.max_attempts);
            let retry_at = now_ms() + crate::deliver::backoff(settings, event.attempts as u32).as_millis() as i64;
            metrics::counter!("smartreply_chatwoot_events_processed_total", "outcome" => if give_up { "failed" } else { "retry" })
                .increment(1);
            tracing::warn!(shop = %event.shop, seq = event.seq, attempts = event.attempts, %error, give_up, "chatwoot event not worked off");
            state.store().settle_failed(&event, Failure { error: &error.to_string(), retry_at, give_up }).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(seq = event.seq, error = %e, "could not record a chatwoot event's outcome; its lease expires and it is retried");
    }
}

/// What one event means for smartreply's records and for Chatwoot: the calls to queue.
async fn calls_for(state: &AppState, shop: &str, work: &Work) -> Result<Vec<NewCall>, WorkError> {
    match work {
        Work::CustomerMessage { message_id: id, conversation, contact, text } => {
            let message = InboundMessage {
                message_id: message_id(*id),
                conversation_id: conversation_id(*conversation),
                customer_id: contact.map(|c| format!("chatwoot-contact-{c}")).unwrap_or_else(|| conversation_id(*conversation)),
                text: text.clone(),
                channel: Some("chatwoot".into()),
            };
            let configured = state.shop(shop).ok_or(WorkError::ShopGone)?;
            let received = receive(state, configured, message, Budget::Webhook).await?;
            bot_calls(state, shop, *conversation, &received).await
        }
        Work::AgentReply { conversation, agent, text } => {
            let Some(ticket_id) = open_in_conversation(state, shop, &conversation_id(*conversation)).await? else { return Ok(Vec::new()) };
            let request = ReplyRequest { text: text.clone(), draft: None, resolve: false };
            tickets::reply(state, Channel::Chatwoot { actor: agent }, &ticket_id, request).await?;
            Ok(Vec::new())
        }
        // Both end the human's turn: the ticket closes and the next customer message is the
        // bot's again (an open ticket would route it to people who handed it back).
        Work::Resolved { conversation } | Work::HandedBack { conversation } => {
            if let Some(ticket_id) = open_in_conversation(state, shop, &conversation_id(*conversation)).await? {
                match tickets::resolve(state, Channel::Chatwoot { actor: "chatwoot" }, &ticket_id).await {
                    Ok(_) | Err(TicketError::AlreadyResolved) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Vec::new())
        }
    }
}

/// What the bot says in Chatwoot about a received message: the answer; or for a message that
/// opened a ticket the acknowledgement, a private note for the agents and the hand-off. A
/// message joining a ticket that is already with humans gets nothing: the bot stays out of
/// their conversation.
async fn bot_calls(state: &AppState, shop: &str, conversation: u64, received: &Received) -> Result<Vec<NewCall>, WorkError> {
    let answer = received.answer();
    let reply = answer.reply.text.as_str();
    let call = |action: ChatwootAction, path: String, body: Value| NewCall {
        id: format!("{shop}:{}:{action}", answer.message_id),
        conversation_id: answer.conversation_id.clone(),
        action,
        path,
        body: body.to_string(),
    };
    let messages = format!("conversations/{conversation}/messages");
    match received {
        Received::Answered(_) => Ok(vec![call(ChatwootAction::Reply, messages, outgoing(reply, false))]),
        Received::Escalated { opened: false, .. } => Ok(Vec::new()),
        Received::Escalated { ticket_id, opened: true, .. } => {
            let ticket = tickets::find(state, Channel::Chatwoot { actor: "chatwoot" }, ticket_id).await?;
            Ok(vec![
                call(ChatwootAction::Acknowledgement, messages.clone(), outgoing(reply, false)),
                call(ChatwootAction::Note, messages, outgoing(&handoff_note(&ticket), true)),
                call(ChatwootAction::Handoff, format!("conversations/{conversation}/toggle_status"), json!({ "status": "open" })),
            ])
        }
    }
}

/// The private note that hands a conversation to Chatwoot's agents.
fn handoff_note(ticket: &TicketRow) -> String {
    format!(
        "smartreply handed this conversation to you.\nReason: {} · Intent: {} · Priority: {} · Sentiment: {}\n\nSuggested reply (draft):\n{}",
        ticket.reason,
        ticket.intent,
        ticket.priority.as_str(),
        ticket.sentiment.as_str(),
        ticket.draft["text"].as_str().unwrap_or_default()
    )
}

/// The call posting an agent's console reply into its Chatwoot conversation (through the bot:
/// Chatwoot shows the bot as its sender).
pub(crate) fn agent_reply_call(shop: &str, message_id: &str, display_id: u64, text: &str) -> NewCall {
    NewCall {
        id: format!("{shop}:{message_id}:agent_reply"),
        conversation_id: conversation_id(display_id),
        action: ChatwootAction::AgentReply,
        path: format!("conversations/{display_id}/messages"),
        body: outgoing(text, false).to_string(),
    }
}

/// What became of an event Chatwoot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Stored, to be worked off (the delivery id it is known by).
    Stored(String),
    /// Chatwoot sent it before (same delivery id, or the same body).
    Duplicate(String),
    /// Nothing for the bot to do, and why.
    Ignored(&'static str),
}

/// Accepts one verified agent-bot event: decides from the payload alone whether it asks
/// anything of the bot, and stores it (deduplicated on Chatwoot's delivery id, else on the
/// body) for the worker. Chatwoot gets its answer once the event is stored.
pub(crate) async fn accept(
    app: &AppState,
    shop: &Shop,
    settings: &ChatwootSettings,
    payload: &Payload,
    delivery: Option<&str>,
    body: &[u8],
) -> Result<Accepted, StoreError> {
    let event = payload.event.clone().unwrap_or_default();
    let work = match classify(payload, settings) {
        Ok(work) => work,
        Err(reason) => {
            metrics::counter!("smartreply_chatwoot_events_total", "outcome" => "ignored").increment(1);
            tracing::debug!(shop = %shop.id(), event = %bounded(&event), reason, "chatwoot event ignored");
            return Ok(Accepted::Ignored(reason));
        }
    };
    // Chatwoot keeps the delivery id across its retries; without one, identical bodies are
    // the same event.
    let delivery = match delivery.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => bounded(d),
        None => format!("body-{}", hex::encode(&Sha256::digest(body)[..16])),
    };
    let stored = serde_json::to_string(&work).map_err(|e| StoreError::Corrupt(format!("work does not serialise: {e}")))?;
    let conversation = conversation_id(work.conversation());
    let fresh = app.store().chatwoot_event_insert(shop.id(), &delivery, work.kind(), &conversation, &stored).await?;
    let status = if fresh { "accepted" } else { "duplicate" };
    metrics::counter!("smartreply_chatwoot_events_total", "outcome" => status).increment(1);
    tracing::info!(shop = %shop.id(), %delivery, event = %bounded(&event), work = work.kind(), conversation = work.conversation(), status, "chatwoot event");
    if fresh {
        app.chatwoot_wake().events.notify_one();
        Ok(Accepted::Stored(delivery))
    } else {
        Ok(Accepted::Duplicate(delivery))
    }
}

/// Header and event names are the sender's: bounded before they reach logs or the database.
fn bounded(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}
